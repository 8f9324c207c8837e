"""Vrais jeux de données (Places365, CIFAR-10) et disponibilité des ressources, sans réseau.

Les jeux sont de faux jeux de quelques images, rangés dans un cache temporaire au format qu'attend
torchvision, dont on substitue les empreintes MD5 le temps du test (``fake_datasets``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os

import fake_datasets as fake
import numpy as np
import pytest
import torch

from course_lib import data


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """Un cache du cours vide, un cache personnel vide et un TORCH_HOME vide ; pas de téléchargement."""
    monkeypatch.setenv("COURSE_DATA", str(tmp_path / "cours"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "perso"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    return tmp_path / "cours"


@pytest.fixture
def places_val(cache, monkeypatch):
    """Un faux Places365 (12 photos de validation, 9 d'entraînement) installé dans le cache du cours."""
    sums = fake.write_places365(cache / "places365", n_val=12, n_train=9, splits=("val", "train"))
    fake.patch_places365_checksums(monkeypatch, sums)
    return cache / "places365"


def pil_photo(path) -> torch.Tensor:
    """Décodage indépendant (Pillow) d'une photo, en (3,H,W) dans [0, 1]."""
    from PIL import Image

    with Image.open(path) as image:
        return torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)


# --------------------------------------------------------------------------- registre

def test_registry_uses_torchvision_own_addresses_and_checksums():
    from torchvision.datasets import CIFAR10, Places365

    devkit_name, devkit_md5 = Places365._DEVKIT_META["standard"]
    for name, split in (("places365-val", "val"), ("places365-train", "train-standard")):
        dataset = data.DATASETS[name]
        devkit, images = dataset.files
        assert (devkit.filename, devkit.md5, devkit.url) == (devkit_name, devkit_md5, Places365._BASE_URL + devkit_name)
        image_name, image_md5 = Places365._IMAGES_META[(split, True)]
        assert (images.filename, images.md5, images.url) == (image_name, image_md5, Places365._BASE_URL + image_name)
        assert dataset.split == split
    assert data.DATASETS["cifar10"].files[0].url == CIFAR10.url
    assert data.DATASETS["cifar10"].files[0].filename == CIFAR10.filename == data.ASSETS["cifar10"].filename
    assert not data.DATASETS["places365-train"].auto_download and data.DATASETS["places365-val"].auto_download


def test_images_folder_is_where_torchvision_looks(places_val):
    from torchvision.datasets import Places365

    for split, torchvision_split in (("val", "val"), ("train", "train-standard")):
        dataset = Places365(str(places_val), split=torchvision_split, small=True, download=False)
        assert data.places365_folder(split) == places_val / os.path.basename(dataset.images_dir)
        assert os.path.isfile(dataset.imgs[-1][0])


def test_resource_names_list_weights_then_datasets():
    names = data.resource_names()
    assert names[-3:] == ["cifar10", "places365-val", "places365-train"]
    assert {"vgg19", "resnet18-imagenet", "colorization_eccv16"} <= set(names[:-3])


# --------------------------------------------------------------------------- is_available

def test_nothing_is_available_in_an_empty_cache(cache, no_network):
    for name in data.resource_names():
        assert data.is_available(name) is False, name
    with pytest.raises(ValueError, match="« name »"):
        data.is_available("imagenet")
    with pytest.raises(TypeError, match="« name »"):
        data.is_available(365)


def test_weights_are_available_only_with_the_right_checksum(cache, monkeypatch, no_network):
    payload = b"poids VGG19 factices " * 500
    asset = dataclasses.replace(data.ASSETS["vgg19"], sha256=hashlib.sha256(payload).hexdigest()[:8])
    monkeypatch.setitem(data.ASSETS, "vgg19", asset)
    hub = data.cache_dir(asset)
    hub.mkdir(parents=True)
    (hub / asset.filename).write_bytes(payload)
    assert data.is_available("vgg19")
    (hub / asset.filename).write_bytes(payload[:-1] + b"!")  # même taille, contenu abîmé
    os.utime(hub / asset.filename, ns=(1, 1))
    assert not data.is_available("vgg19")


def test_weights_in_a_shared_course_cache_are_found(cache, monkeypatch, no_network):
    """Un cache préparé par « fetch --to DOSSIER » : les poids de torch.hub sont aussi cherchés dans COURSE_DATA."""
    payload = b"poids ResNet-18 factices"
    asset = dataclasses.replace(data.ASSETS["resnet18-imagenet"], sha256=hashlib.sha256(payload).hexdigest())
    monkeypatch.setitem(data.ASSETS, asset.name, asset)
    cache.mkdir()
    (cache / asset.filename).write_bytes(payload)
    assert data.is_available(asset.name)
    assert data.asset_path(asset.name) == cache / asset.filename


# --------------------------------------------------------------------------- Places365

def test_places365_validation_through_torchvision(places_val, no_network):
    from torchvision.datasets import Places365

    assert data.is_available("places365-val") and data.is_available("places365-train")
    dataset = data.places365("val")
    assert isinstance(dataset, Places365) and len(dataset) == 12
    assert dataset.classes == sorted(fake.CATEGORIES)
    image, label = dataset[4]
    assert image.size == (256, 256) and label == 4 % 3
    train = data.places365("train", transform=lambda im: im.size)
    assert len(train) == 9 and train[0] == ((256, 256), 0)
    assert data.places365_folder("val") == places_val / "val_256"
    assert data.places365_folder("train") == places_val / "data_256_standard"
    streamed = list(data.iter_folder(data.places365_folder("train"), size=32, batch_size=4))
    assert [len(b) for b in streamed] == [4, 4, 1]


def test_scene_photos_draws_real_photos_reproducibly(places_val, no_network):
    photos, source = data.scene_photos(5, size=256, seed=3)
    assert source == "Places365 (validation, 12 scènes)"
    assert photos.shape == (5, 3, 256, 256) and photos.dtype == torch.float32
    order = torch.randperm(12, generator=torch.Generator().manual_seed(3))[:5].tolist()
    names = fake.val_names(12)
    for photo, index in zip(photos, order):
        torch.testing.assert_close(photo, pil_photo(places_val / "val_256" / names[index]))
    again, _ = data.scene_photos(8, size=256, seed=3)
    torch.testing.assert_close(again[:5], photos)  # la permutation ne dépend que de la graine
    other, _ = data.scene_photos(5, size=256, seed=4)
    assert not torch.equal(other, photos)


def test_scene_photos_resize_split_and_limits(places_val, no_network):
    small, source = data.scene_photos(3, size=(48, 64), seed=0, split="train")
    assert source == "Places365 (entraînement, 9 scènes)"
    assert small.shape == (3, 3, 48, 64) and 0 <= float(small.min()) and float(small.max()) <= 1
    full, _ = data.scene_photos(3, size=256, seed=0, split="train")
    # une réduction ne change presque pas la couleur moyenne de chaque photo
    torch.testing.assert_close(small.mean((2, 3)), full[..., 32:224, :].mean((2, 3)), atol=0.02, rtol=0)
    with pytest.raises(ValueError, match="« n »"):
        data.scene_photos(13)
    with pytest.raises(ValueError, match="« split »"):
        data.scene_photos(2, split="test")
    with pytest.raises(TypeError, match="« size »"):
        data.scene_photos(2, size="grand")


def test_scene_photos_falls_back_to_procedural_scenes(cache, no_network):
    photos, source = data.scene_photos(4, size=32, seed=7)
    assert source == "paysages procéduraux : Places365 absent du cache, voir make data"
    torch.testing.assert_close(photos, data.synthetic_scenes(4, size=32, seed=7))


def test_incomplete_or_corrupt_places365_is_not_available(places_val, no_network):
    last = places_val / "val_256" / fake.val_names(12)[-1]
    last.unlink()  # extraction interrompue
    assert not data.is_available("places365-val") and data.is_available("places365-train")
    assert data.scene_photos(2, size=16)[1].startswith("paysages procéduraux")
    with pytest.raises(data.AssetUnavailableError, match="make data"):
        data.places365("val")
    (places_val / "val_256" / fake.val_names(12)[-1]).write_bytes(fake.photo_bytes(11))
    assert data.is_available("places365-val")
    with open(places_val / "places365_val.txt", "a") as listing:
        listing.write("Places365_val_00000099.jpg 0\n")  # la liste n'est plus celle de torchvision
    assert not data.is_available("places365-val")


def test_absent_places365_says_how_to_get_it(cache, monkeypatch, no_network):
    with pytest.raises(data.AssetUnavailableError) as info:
        data.places365("val")
    message = str(info.value)
    assert "COURSE_OFFLINE=1" in message and "make data" in message and "places365-val" in message
    monkeypatch.setenv("COURSE_OFFLINE", "0")
    with pytest.raises(data.AssetUnavailableError) as info:  # 24 Go : jamais sans download=True
        data.places365("train")
    assert "trop gros" in str(info.value) and "make data DATA=places365-train" in str(info.value)
    with pytest.raises(data.AssetUnavailableError, match="download=False"):
        data.places365("val", download=False)
    with pytest.raises(data.AssetUnavailableError, match="places365_folder ne télécharge rien"):
        data.places365_folder("val")
    with pytest.raises(ValueError, match="« split »"):
        data.places365("train-standard")


def test_read_only_shared_cache_is_used_without_writing(cache, tmp_path, monkeypatch, no_network):
    """COURSE_DATA sur un serveur du laboratoire : lu, jamais écrit ; ce qui manque va dans le cache personnel."""
    sums = fake.write_places365(cache / "places365", splits=("val",))
    fake.patch_places365_checksums(monkeypatch, sums)
    archive, cifar_sums, contents = fake.cifar10_archive(tmp_path / "fabrique")
    (cache / archive.name).write_bytes(archive.read_bytes())  # l'archive seule, pas encore extraite
    fake.patch_cifar10(monkeypatch, data, archive, cifar_sums)

    def snapshot():
        return sorted((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in cache.rglob("*"))

    before = snapshot()
    for path in [cache, *cache.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    writable = data._writable  # root écrit partout : on simule aussi la lecture seule
    monkeypatch.setattr(data, "_writable", lambda folder: not folder.is_relative_to(cache) and writable(folder))
    try:
        assert data.is_available("places365-val") and data.is_available("cifar10")
        assert len(data.places365("val")) == 12 and data.scene_photos(2, size=16)[1].startswith("Places365")
        cifar = data.cifar10(train=False)
        assert len(cifar) == 4 and cifar.root == str(tmp_path / "perso" / "course_lib" / "cifar10")
        assert data.is_available("cifar10")
    finally:
        for path in [cache, *cache.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
    assert snapshot() == before


# --------------------------------------------------------------------------- CIFAR-10

def test_cifar10_through_torchvision_and_the_registry(cache, tmp_path, monkeypatch, no_network):
    from torchvision.datasets import CIFAR10

    from course_lib import nn

    archive, sums, contents = fake.cifar10_archive(tmp_path / "fabrique")
    fake.patch_cifar10(monkeypatch, data, archive, sums)
    assert not data.is_available("cifar10")
    with pytest.raises(data.AssetUnavailableError, match="make data"):
        data.cifar10()
    cache.mkdir()
    (cache / archive.name).write_bytes(archive.read_bytes())
    assert data.is_available("cifar10")  # l'archive suffit : extraite au premier usage
    train = data.cifar10(train=True, transform=lambda im: torch.from_numpy(np.array(im)))
    assert isinstance(train, CIFAR10) and len(train) == 20 and train.root == str(cache / "cifar10")
    image, label = train[0]
    first, labels = contents["data_batch_1"]
    assert torch.equal(image, torch.from_numpy(first[0].reshape(3, 32, 32).transpose(1, 2, 0)))
    assert label == labels[0]
    assert len(data.cifar10(train=False)) == 4
    (cache / archive.name).unlink()  # le dossier extrait suffit ensuite
    assert data.is_available("cifar10") and len(data.cifar10()) == 20
    (cache / archive.name).write_bytes(archive.read_bytes())
    images, _ = nn.cifar10("test")  # la version en tenseurs lit la même archive
    assert images.shape == (4, 3, 32, 32)
    with pytest.raises(TypeError, match="« train »"):
        data.cifar10(train="oui")
