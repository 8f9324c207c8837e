"""course_lib.features : VGG19 aux couches nommées, chargement des poids, repli aléatoire."""

import dataclasses
import warnings

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.vgg import cfgs, make_layers

from course_lib import data, features

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


@pytest.fixture
def random_net():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", features.FeatureWarning)
        return features.vgg19(weights="random", device="cpu")


@pytest.fixture
def torchvision_file(tmp_path, monkeypatch):
    """Un fichier de poids aléatoires au format de torchvision, dans un cache TORCH_HOME temporaire."""
    torch.manual_seed(123)
    reference = make_layers(cfgs["E"]).eval()
    home = tmp_path / "torch"
    target = home / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"
    target.parent.mkdir(parents=True)
    torch.save({f"features.{k}": v for k, v in reference.state_dict().items()}, target)
    monkeypatch.setenv("TORCH_HOME", str(home))
    # le vrai fichier a une autre empreinte : on inscrit celle du fichier factice
    monkeypatch.setitem(data.ASSETS, "vgg19", dataclasses.replace(data.ASSETS["vgg19"],
                                                                  sha256=data.sha256sum(target)))
    features.clear_cache()
    yield reference, target
    features.clear_cache()


def test_layer_names_follow_torchvision_vgg19():
    modules = list(make_layers(cfgs["E"]))
    assert len(features.VGG19_LAYERS) == len(modules) == 37
    kinds = {"conv": nn.Conv2d, "relu": nn.ReLU, "pool": nn.MaxPool2d}
    for name, module in zip(features.VGG19_LAYERS, modules):
        assert isinstance(module, kinds[name[:4]]), name
    assert features.VGG19_LAYERS[:5] == ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1")
    assert features.VGG19_LAYERS[28] == "conv5_1" and features.VGG19_LAYERS[-1] == "pool5"


def test_asset_is_registered_in_torchvision_cache():
    asset = data.ASSETS["vgg19"]
    assert asset.filename == "vgg19-dcbb9e9d.pth" and asset.torch_hub and asset.sha256 == "dcbb9e9d"
    assert asset.url.endswith("/vgg19-dcbb9e9d.pth")


def test_weights_load_from_torch_home_cache_and_match_torchvision(torchvision_file):
    reference, _ = torchvision_file
    with warnings.catch_warnings():
        warnings.simplefilter("error", features.FeatureWarning)
        net = features.vgg19(["relu2_1", "pool2", "relu5_1"], pooling="max", weights="imagenet", device="cpu")
    assert net.pretrained and "PRÉ-ENTRAÎNÉES" in net.description
    images = torch.rand(2, 3, 48, 40)
    out = net(images)
    normalized = (images - MEAN) / STD
    with torch.no_grad():
        for name in ("relu2_1", "pool2", "relu5_1"):
            expected = reference[:features.VGG19_LAYERS.index(name) + 1](normalized.clone())
            torch.testing.assert_close(out[name], expected, rtol=1e-4, atol=1e-5)


def test_weights_from_a_file_the_user_names(torchvision_file, tmp_path):
    reference, target = torchvision_file
    named = tmp_path / "mes_poids.pth"
    named.write_bytes(target.read_bytes())
    target.unlink()
    net = features.vgg19(["conv1_1"], path=named, device="cpu")
    assert net.pretrained
    torch.testing.assert_close(net.convs["conv1_1"].weight, reference[0].weight)
    with pytest.raises(FileNotFoundError, match="n'existe pas"):
        features.vgg19(path=tmp_path / "absent.pth")


def test_corrupt_or_foreign_files_are_refused(torchvision_file, tmp_path, monkeypatch):
    _, target = torchvision_file
    monkeypatch.setitem(data.ASSETS, "vgg19", dataclasses.replace(data.ASSETS["vgg19"], sha256="dcbb9e9d"))
    features.clear_cache()
    with pytest.raises(data.AssetChecksumError, match="empreinte"):
        features.vgg19(device="cpu")
    other = tmp_path / "autre.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 5, 5)}, other)
    monkeypatch.setitem(data.ASSETS, "vgg19", dataclasses.replace(data.ASSETS["vgg19"],
                                                                  sha256=data.sha256sum(other)))
    with pytest.raises(ValueError, match="n'est pas un VGG19 de torchvision"):
        features.vgg19(path=other)


def test_offline_fallback_warns_in_french(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "vide"))
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    features.clear_cache()
    with pytest.warns(features.FeatureWarning, match="ALÉATOIRES") as record:
        net = features.vgg19(["relu1_1"], device="cpu")
    assert "COURSE_OFFLINE" in str(record[0].message) and "vgg19-dcbb9e9d.pth" in str(record[0].message)
    assert not net.pretrained and "ALÉATOIRES" in net.description
    with pytest.raises(data.AssetUnavailableError, match="n'est pas dans le cache"):
        features.vgg19(weights="imagenet")


def test_random_fallback_is_reproducible_and_normalized_layer_by_layer():
    features.clear_cache()
    first = features.vgg19(["conv3_1"], weights="random", pooling="max", device="cpu")
    features.clear_cache()
    second = features.vgg19(["conv3_1"], weights="random", pooling="max", device="cpu")
    torch.testing.assert_close(first.convs["conv3_1"].weight, second.convs["conv3_1"].weight)
    # chaque canal, avant la ReLU, a une moyenne nulle et une variance unité sur les images de calibration
    images = features._calibration_images()
    out = first(images, ["conv3_1"]) if False else first.extract(images, {"conv3_1"})["conv3_1"]
    torch.testing.assert_close(out.mean(dim=(0, 2, 3)), torch.zeros(256), atol=1e-3, rtol=0)
    torch.testing.assert_close(out.std(dim=(0, 2, 3)), torch.ones(256), atol=1e-3, rtol=0)


def test_only_needed_layers_are_built_and_computed(random_net):
    net = features.vgg19(["relu2_1"], weights="random", device="cpu")
    assert list(net.convs) == ["conv1_1", "conv1_2", "conv2_1"]
    out = net(torch.rand(1, 3, 224, 224))
    assert list(out) == ["relu2_1"]
    assert tuple(out["relu2_1"].shape) == (1, 128, 112, 112)   # « (112 x 112) x 128 » du cours
    # une sous-liste de couches s'arrête plus tôt
    assert list(random_net(torch.rand(1, 3, 32, 32), ["pool1"])) == ["pool1"]


def test_conv_relu_and_pooling_are_what_their_names_say(random_net):
    images = torch.rand(2, 3, 32, 36)
    out = random_net(images, ["conv1_1", "relu1_1", "relu1_2", "pool1"])
    assert float(out["conv1_1"].min()) < 0
    torch.testing.assert_close(out["relu1_1"], out["conv1_1"].clamp_min(0))
    torch.testing.assert_close(out["pool1"], F.avg_pool2d(out["relu1_2"], 2))
    manual = F.relu(F.conv2d((images - MEAN) / STD, random_net.convs["conv1_1"].weight,
                             random_net.convs["conv1_1"].bias, padding=1))
    torch.testing.assert_close(out["relu1_1"], manual, rtol=1e-5, atol=1e-5)
    max_net = features.vgg19(["relu1_2", "pool1"], weights="random", pooling="max", device="cpu")
    out = max_net(images)
    torch.testing.assert_close(out["pool1"], F.max_pool2d(out["relu1_2"], 2))


def test_gray_images_are_repeated_on_three_channels(random_net):
    gray = torch.rand(1, 1, 20, 20)
    torch.testing.assert_close(random_net(gray, ["relu1_1"])["relu1_1"],
                               random_net(gray.expand(1, 3, 20, 20), ["relu1_1"])["relu1_1"])


def test_gradients_flow_to_the_image_but_not_to_the_weights(random_net):
    images = torch.rand(1, 3, 32, 32, requires_grad=True)
    random_net(images, ["relu3_1"])["relu3_1"].sum().backward()
    assert images.grad is not None and float(images.grad.abs().sum()) > 0
    assert all(p.grad is None and not p.requires_grad for p in random_net.parameters())


def test_filter_bank_features():
    bank = features.filter_bank(scales=3, orientations=4, device="cpu")
    out = bank(torch.rand(2, 3, 32, 32))
    assert list(out) == ["scale0", "scale1", "scale2"]
    assert tuple(out["scale0"].shape) == (2, 3 * 2 * 2 * 4 + 3, 32, 32)
    assert tuple(out["scale2"].shape[-2:]) == (8, 8)
    assert all(float(v.min()) >= 0 for v in out.values())
    # filtres de moyenne nulle : une image constante ne répond pas (hors couleur locale)
    flat = bank(torch.full((1, 1, 16, 16), 0.5), ["scale0"])["scale0"]
    assert float(flat[:, :-1].abs().max()) < 1e-5


def test_bad_arguments_give_french_errors(random_net):
    with pytest.raises(ValueError, match="couches de VGG19"):
        features.vgg19(["conv6_1"])
    with pytest.raises(ValueError, match="« pooling »"):
        features.vgg19(pooling="median")
    with pytest.raises(ValueError, match="« weights »"):
        features.vgg19(weights="coco")
    with pytest.raises(ValueError, match="« path »"):
        features.vgg19(weights="random", path="poids.pth")
    with pytest.raises(ValueError, match="canaux"):
        random_net(torch.rand(1, 2, 16, 16))
    with pytest.raises(TypeError, match="tenseur torch"):
        random_net([[0.5]])
    net = features.vgg19(["relu1_1"], weights="random", device="cpu")
    with pytest.raises(ValueError, match="celles de cet extracteur"):
        net(torch.rand(1, 3, 16, 16), ["relu2_1"])
