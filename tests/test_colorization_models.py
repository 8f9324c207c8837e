"""Réseaux de colorisation : ECCV16 couche pour couche comme le portage officiel, poids, petit modèle."""

import dataclasses
import math

import pytest
import torch

from course_lib import colorization as C
from course_lib import data, grading


def eccv16_official_layout(q=313):
    """Noms et formes du state_dict de colorizers/eccv16.py (richzhang/colorization), recopiés à la main."""
    layout = []

    def conv(prefix, cout, cin, k=3):
        layout.extend([(f"{prefix}.weight", (cout, cin, k, k)), (f"{prefix}.bias", (cout,))])

    def bn(prefix, c):
        layout.extend([(f"{prefix}.weight", (c,)), (f"{prefix}.bias", (c,)), (f"{prefix}.running_mean", (c,)),
                       (f"{prefix}.running_var", (c,)), (f"{prefix}.num_batches_tracked", ())])

    conv("model1.0", 64, 1), conv("model1.2", 64, 64), bn("model1.4", 64)
    conv("model2.0", 128, 64), conv("model2.2", 128, 128), bn("model2.4", 128)
    conv("model3.0", 256, 128), conv("model3.2", 256, 256), conv("model3.4", 256, 256), bn("model3.6", 256)
    conv("model4.0", 512, 256), conv("model4.2", 512, 512), conv("model4.4", 512, 512), bn("model4.6", 512)
    for block in ("model5", "model6", "model7"):
        conv(f"{block}.0", 512, 512), conv(f"{block}.2", 512, 512), conv(f"{block}.4", 512, 512)
        bn(f"{block}.6", 512)
    layout.extend([("model8.0.weight", (512, 256, 4, 4)), ("model8.0.bias", (256,))])  # ConvTranspose2d
    conv("model8.2", 256, 256), conv("model8.4", 256, 256), conv("model8.6", q, 256, k=1)
    layout.append(("model_out.weight", (2, q, 1, 1)))
    return layout


def test_eccv16_state_dict_has_the_official_names_and_shapes():
    model = C.ECCV16()
    expected = eccv16_official_layout()
    assert [(k, tuple(v.shape)) for k, v in model.state_dict().items()] == expected
    learned = sum(math.prod(s) for name, s in expected if not name.split(".")[-1].startswith(("running",
                                                                                               "num_batches")))
    assert learned == 32_236_011
    assert sum(p.numel() for p in model.parameters()) == learned
    # architecture : dilatation 2 dans les blocs 5 et 6, sous-échantillonnages dans les blocs 1 à 3
    assert model.model5[0].dilation == (2, 2) and model.model6[4].padding == (2, 2)
    assert [model.model1[2].stride, model.model2[2].stride, model.model3[4].stride] == [(2, 2)] * 3


def test_eccv16_forward_is_the_mean_of_its_distribution_upsampled_by_four():
    torch.manual_seed(0)
    model = C.ECCV16(bins=C.ab_bins()).eval()
    assert not model.model_out.weight.requires_grad
    L = grading.random_tensor(1, (2, 1, 32, 40), 0, 100)
    with torch.no_grad():
        ab = model(L)
        probs = model.distribution(L)
        assert probs.shape == (2, 262, 8, 10)
        mean = torch.nn.functional.interpolate(C.annealed_mean(probs, 1.0), scale_factor=4, mode="bilinear")
        grading.assert_close(ab, mean, atol=1e-3)
        grading.assert_close(model.predict_ab(L, T=1.0), ab, atol=1e-3)
    grading.assert_close(model.bins, C.ab_bins(), atol=1e-4)
    with pytest.raises(ValueError, match="centres des cases"):
        _ = C.ECCV16().bins


def test_models_reject_rgb_images_and_bad_sizes_in_french():
    model = C.SmallColorizer(width=4)
    with pytest.raises(ValueError, match="canal L seul.*image RGB"):
        model(torch.rand(1, 3, 16, 16))
    with pytest.raises(ValueError, match="\\[0, 100\\]"):
        model(torch.full((1, 1, 16, 16), 255.0))
    with pytest.raises(ValueError, match="multiples de 4"):
        model(torch.full((1, 1, 18, 16), 50.0))
    with pytest.warns(UserWarning, match="\\[0, 1\\]"):
        model(torch.rand(1, 1, 16, 16))
    with pytest.raises(ValueError, match="« kind »"):
        C.SmallColorizer(kind="gan")


def test_small_colorizer_shapes_for_both_losses():
    L = torch.full((3, 1, 24, 20), 60.0)
    classifier = C.SmallColorizer(width=8)
    assert classifier.logits(L).shape == (3, 262, 6, 5)
    assert classifier(L).shape == (3, 2, 24, 20) and classifier.predict_ab(L[0]).shape == (2, 24, 20)
    regressor = C.SmallColorizer(width=8, kind="regression")
    assert regressor.logits(L).shape == (3, 2, 6, 5) and regressor(L).shape == (3, 2, 24, 20)
    with pytest.raises(ValueError, match="régression"):
        _ = regressor.bins
    # les centres des cases voyagent avec le state_dict
    state = classifier.state_dict()
    assert torch.equal(state["bin_centres"], C.ab_bins())


# --------------------------------------------------------------------------- poids officiels

def grid_313():
    """313 centres : les 262 cases sRGB plus les 51 points de grille voisins les plus proches du gamut."""
    ours = C.ab_bins(dtype=torch.float64)
    a, b = torch.meshgrid(torch.arange(-120, 130, 10.0), torch.arange(-120, 130, 10.0), indexing="ij")
    candidates = torch.stack([a.flatten(), b.flatten()], 1).double()
    known = {tuple(c) for c in ours.tolist()}
    others = torch.stack([c for c in candidates if tuple(c.tolist()) not in known])
    nearest = torch.cdist(others, ours).min(dim=1).values.argsort()[:313 - len(ours)]
    centres = torch.cat([ours, others[nearest]])
    return centres[(centres[:, 0] * 1000 + centres[:, 1]).argsort()].float()


@pytest.fixture
def fake_official_weights(tmp_path, monkeypatch):
    """Des poids aléatoires au format officiel, rangés dans un cache torch.hub temporaire."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    torch.manual_seed(0)
    model = C.ECCV16(bins=grid_313())
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    path = folder / C.ECCV16_ASSET.filename
    torch.save(model.state_dict(), path)
    asset = dataclasses.replace(C.ECCV16_ASSET, sha256=data.sha256sum(path))
    monkeypatch.setitem(data.ASSETS, asset.name, asset)
    return model, path


def test_load_pretrained_reads_the_cache_and_takes_the_bins_from_the_weights(fake_official_weights):
    original, path = fake_official_weights
    loaded = C.load_pretrained()
    assert not loaded.training and not loaded.model_out.weight.requires_grad
    for (name, a), (_, b) in zip(original.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name
    assert loaded.bins.shape == (313, 2)
    grading.assert_close(loaded.bins, grid_313(), atol=1e-4)
    # même fichier donné par son chemin, ou par son dossier
    assert torch.equal(C.load_pretrained(path).model8[6].weight, original.model8[6].weight)
    assert C.load_pretrained(path.parent).bins.shape == (313, 2)


def test_load_pretrained_checks_the_bins_on_load(fake_official_weights, tmp_path, monkeypatch):
    original, path = fake_official_weights
    state = original.state_dict()
    state["model_out.weight"] = state["model_out.weight"] + 0.01      # centres hors de la grille
    bad = tmp_path / "bad.pth"
    torch.save(state, bad)
    monkeypatch.setitem(data.ASSETS, C.ECCV16_ASSET.name,
                        dataclasses.replace(C.ECCV16_ASSET, sha256=data.sha256sum(bad)))
    with pytest.raises(ValueError, match="grille de pas 10"):
        C.load_pretrained(bad)
    with pytest.raises(ValueError, match="ne couvrent pas le gamut"):
        shifted = grid_313() + torch.tensor([0.0, 30.0])                # distincts, sur la grille, mais décalés
        C.bins_from_weights((shifted / 110).T.reshape(2, 313, 1, 1))


def test_official_weights_are_registered_and_missing_weights_fall_back_with_a_french_warning(tmp_path,
                                                                                               monkeypatch):
    asset = data.ASSETS["colorization_eccv16"]
    assert asset.sha256 == "9b330a0b" and asset.torch_hub
    assert asset.url == "https://colorizers.s3.us-east-2.amazonaws.com/colorization_release_v2-9b330a0b.pth"
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(data.AssetUnavailableError, match="COURSE_OFFLINE"):
        C.load_pretrained()
    with pytest.warns(UserWarning, match="petit modèle"):
        assert C.try_load_pretrained() is None
    wrong = tmp_path / "hub" / "checkpoints" / asset.filename
    wrong.parent.mkdir(parents=True)
    wrong.write_bytes(b"pas des poids")
    with pytest.raises(data.AssetChecksumError):
        C.load_pretrained()
