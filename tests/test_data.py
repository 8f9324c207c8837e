import hashlib

import numpy as np
import pytest
import torch

from course_lib import data, images

# --------------------------------------------------------------------------- photos et textures

@pytest.mark.parametrize("name", sorted(data.PHOTOS))
def test_every_photo_loads_offline(name, no_network):
    image = data.photo(name, size=32)
    assert image.shape[0] == 3 and min(image.shape[1:]) == 32
    assert image.dtype == torch.float32 and 0 <= float(image.min()) and float(image.max()) <= 1


@pytest.mark.parametrize("name", sorted(data.TEXTURES))
def test_every_texture_loads_offline(name, no_network):
    image = data.texture(name)
    assert image.shape[0] in (1, 3) and min(image.shape[1:]) >= 64
    assert float(image.std()) > 0.02  # une vraie texture, pas un aplat


def test_photo_options_and_errors():
    assert data.photo("chelsea", gray=True).shape[0] == 1
    assert data.photo("camera").shape[0] == 3
    with pytest.raises(ValueError, match="« name »"):
        data.photo("lena")


# --------------------------------------------------------------------------- scènes procédurales

def test_synthetic_scenes_shape_range_and_determinism():
    scenes = data.synthetic_scenes(6, size=(24, 32), seed=3)
    assert scenes.shape == (6, 3, 24, 32) and scenes.dtype == torch.float32
    assert 0 <= float(scenes.min()) and float(scenes.max()) <= 1
    assert torch.equal(scenes, data.synthetic_scenes(6, size=(24, 32), seed=3))
    assert not torch.equal(scenes, data.synthetic_scenes(6, size=(24, 32), seed=4))


def test_scene_i_depends_only_on_seed_and_index():
    whole = data.synthetic_scenes(12, size=24, seed=1)
    part = data.synthetic_scenes(5, size=24, seed=1, start=7)
    assert torch.allclose(part, whole[7:], atol=1e-6)
    chunks = torch.cat(list(data.iter_synthetic_scenes(12, size=24, seed=1, chunk_size=5)))
    assert torch.allclose(chunks, whole, atol=1e-6)


def test_synthetic_scenes_are_varied():
    scenes, info = data.synthetic_scenes(200, size=16, seed=0, return_info=True)
    flat = scenes.flatten(1)
    distances = torch.cdist(flat, flat) + torch.eye(200) * 1e9
    assert float(distances.min()) > 0.05, "deux scènes identiques"
    assert {i["time_of_day"] for i in info} == set(data.TIMES_OF_DAY)
    assert any(i["water"] for i in info) and not all(i["water"] for i in info)
    assert len({i["n_mountains"] for i in info}) == 4
    assert len({i["ground"] for i in info}) >= 4


def test_time_of_day_keeps_geometry_and_changes_light():
    day, day_info = data.synthetic_scenes(8, size=32, seed=5, time_of_day="day", return_info=True)
    night, night_info = data.synthetic_scenes(8, size=32, seed=5, time_of_day="night", return_info=True)
    for a, b in zip(day_info, night_info):
        assert a["horizon"] == b["horizon"] and a["n_mountains"] == b["n_mountains"] and a["water"] == b["water"]
    assert float(night.mean()) < 0.5 * float(day.mean())
    dusk = data.synthetic_scenes(8, size=32, seed=5, time_of_day="dusk")
    lab = images.rgb_to_lab(dusk)
    assert float(lab[:, 2].mean()) > float(images.rgb_to_lab(day)[:, 2].mean())  # plus jaune-orangé


def test_synthetic_scenes_reject_bad_arguments():
    with pytest.raises(ValueError, match="« n »"):
        data.synthetic_scenes(0)
    with pytest.raises(ValueError, match="« time_of_day »"):
        data.synthetic_scenes(1, time_of_day="noon")
    with pytest.raises(ValueError, match="8 pixels"):
        data.synthetic_scenes(1, size=4)
    with pytest.raises(TypeError, match="« size »"):
        data.synthetic_scenes(1, size="grand")


# --------------------------------------------------------------------------- dossiers d'images

def test_image_folder_reading(tmp_path):
    for k in range(5):
        images.save_image(torch.rand(3, 20 + k, 30), tmp_path / f"img{k}.png")
    (tmp_path / "notes.txt").write_text("pas une image")
    (tmp_path / "nested").mkdir()
    images.save_image(torch.rand(3, 10, 10), tmp_path / "nested" / "deep.jpg")
    assert len(data.list_images(tmp_path)) == 6
    assert len(data.list_images(tmp_path, recursive=False)) == 5
    batches = list(data.iter_folder(tmp_path, size=16, batch_size=4))
    assert [b.shape[0] for b in batches] == [4, 2] and batches[0].shape[1:] == (3, 16, 16)
    assert data.load_folder(tmp_path, size=8, limit=3).shape == (3, 3, 8, 8)


def test_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="n'existe pas"):
        data.list_images(tmp_path / "absent")
    with pytest.raises(ValueError, match="aucune image"):
        data.load_folder(tmp_path)
    (tmp_path / "bad.png").write_bytes(b"abimee")
    images.save_image(torch.rand(3, 8, 8), tmp_path / "good.png")
    with pytest.warns(UserWarning, match="Image ignorée"):
        assert data.load_folder(tmp_path, size=8).shape == (1, 3, 8, 8)


# --------------------------------------------------------------------------- ressources

@pytest.fixture
def asset(tmp_path, monkeypatch):
    """Une ressource de test, servie par une URL file:// (le vrai code de téléchargement, sans réseau)."""
    monkeypatch.setenv("COURSE_DATA", str(tmp_path / "cache"))
    served = tmp_path / "served" / "poids.bin"
    served.parent.mkdir()
    payload = b"poids du reseau " * 1000
    served.write_bytes(payload)
    digest = hashlib.sha256(payload).hexdigest()
    registered = data.register_asset(data.Asset(
        name="test-poids", filename="poids.bin", url=served.as_uri(), sha256=digest,
        description="poids de test", size_mb=0.02))
    yield registered, payload
    data.ASSETS.pop("test-poids", None)


def test_cached_asset_is_used_without_download(asset, no_network, monkeypatch):
    registered, payload = asset
    cached = data.cache_dir(registered) / registered.filename
    cached.parent.mkdir(parents=True)
    cached.write_bytes(payload)
    monkeypatch.setattr(data, "_download", lambda *a: pytest.fail("téléchargement inutile"))
    assert data.asset_path("test-poids") == cached


def test_corrupted_cached_asset_is_refused(asset):
    registered, _ = asset
    cached = data.cache_dir(registered) / registered.filename
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"fichier tronque")
    with pytest.raises(data.AssetChecksumError, match="corrompu"):
        data.asset_path("test-poids")


def test_absent_asset_offline_explains_how_to_provide_it(asset, no_network, monkeypatch):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    with pytest.raises(data.AssetUnavailableError) as info:
        data.asset_path("test-poids")
    message = str(info.value)
    assert "COURSE_OFFLINE" in message and "poids.bin" in message and "path=" in message


def test_download_false_is_explained(asset, no_network, monkeypatch):
    monkeypatch.setenv("COURSE_OFFLINE", "0")
    with pytest.raises(data.AssetUnavailableError, match="download=False"):
        data.asset_path("test-poids", download=False)


def test_download_verifies_checksum_and_fills_the_cache(asset, monkeypatch):
    registered, payload = asset
    monkeypatch.setenv("COURSE_OFFLINE", "0")
    path = data.asset_path("test-poids")
    assert path.read_bytes() == payload and path.parent == data.cache_dir(registered)


def test_download_with_wrong_checksum_leaves_nothing(asset, monkeypatch, tmp_path):
    registered, _ = asset
    data.register_asset(data.Asset(name="test-poids", filename="poids.bin", url=registered.url,
                                   sha256="0" * 64, description="poids de test"))
    with pytest.raises(data.AssetChecksumError):
        data.asset_path("test-poids", download=True)
    assert list(data.cache_dir(registered).glob("*")) == []


def test_failed_download_gives_french_instructions(asset, tmp_path):
    registered, _ = asset
    data.register_asset(data.Asset(name="test-poids", filename="poids.bin",
                                   url=(tmp_path / "nulle-part.bin").as_uri(), sha256="a" * 64,
                                   description="poids de test"))
    with pytest.raises(data.AssetUnavailableError, match="Impossible de télécharger"):
        data.asset_path("test-poids", download=True)


def test_user_file_is_checked_and_used(asset, tmp_path):
    registered, payload = asset
    mine = tmp_path / "mes_poids.bin"
    mine.write_bytes(payload)
    assert data.asset_path("test-poids", path=mine) == mine
    with pytest.raises(FileNotFoundError, match="n'existe pas"):
        data.asset_path("test-poids", path=tmp_path / "absent.bin")


def test_torch_hub_assets_live_in_torch_home(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    asset = data.Asset(name="x", filename="x.pth", url=None, sha256="abcdef12", description="x", torch_hub=True)
    assert data.cache_dir(asset) == tmp_path / "torch" / "hub" / "checkpoints"


def test_asset_registry_validates_its_entries():
    with pytest.raises(ValueError, match="hexadécimale"):
        data.Asset(name="x", filename="x", url=None, sha256="xyz", description="x")
    with pytest.raises(ValueError, match="« name »"):
        data.asset_path("inconnue")
    with pytest.raises(TypeError, match="Asset"):
        data.register_asset({"name": "x"})


def test_sha256sum_matches_hashlib(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(np.arange(10000).tobytes())
    assert data.sha256sum(path) == hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- petits jeux de données

def test_digits_are_offline_and_normalised(no_network):
    images_, labels = data.digits()
    assert images_.shape == (1797, 1, 8, 8) and labels.shape == (1797,)
    assert float(images_.max()) == 1.0 and float(images_.min()) == 0.0
    assert set(labels.tolist()) == set(range(10))


def test_random_patches_are_crops_of_the_image():
    image = torch.arange(3 * 20 * 30, dtype=torch.float32).view(3, 20, 30) / 2000
    patches = data.random_patches(image, n=50, size=7, seed=1)
    assert patches.shape == (50, 3, 7, 7)
    assert torch.equal(patches, data.random_patches(image, n=50, size=7, seed=1))
    for patch in patches[:5]:
        top, left = divmod(int(round(float(patch[0, 0, 0]) * 2000)), 30)
        assert torch.equal(patch, image[:, top:top + 7, left:left + 7])
    with pytest.raises(ValueError, match="plus grandes"):
        data.random_patches(image, n=2, size=25)
