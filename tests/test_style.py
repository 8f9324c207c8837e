"""course_lib.style : pertes de contenu et de style, transfert, couleur, tableau procédural."""

import pytest
import torch

import course_lib
from course_lib import data, features, style
from course_lib.images import resize
from course_lib.texture import gatys


@pytest.fixture(scope="module")
def net():
    return features.vgg19((style.CONTENT_LAYER, *style.STYLE_LAYERS), weights="random", device="cpu")


@pytest.fixture(scope="module")
def images():
    return data.photo("chelsea", size=40), style.procedural_painting(48, seed=1)


def test_default_layers_are_the_papers():
    assert style.CONTENT_LAYER == "relu4_2"
    assert style.STYLE_LAYERS == ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    assert gatys.TEXTURE_LAYERS == ("relu1_1", "pool1", "pool2", "pool3", "pool4")


def test_content_loss_is_equation_1_and_its_gradient_equation_2():
    f = torch.randn(2, 4, 5, 3, dtype=torch.float64, requires_grad=True)
    p = torch.randn(2, 4, 5, 3, dtype=torch.float64, requires_grad=True)
    loss = style.content_loss(f, p)
    assert float(loss.detach()) == pytest.approx(0.5 * float(((f - p) ** 2).sum().detach()), rel=1e-12)
    loss.backward()
    torch.testing.assert_close(f.grad, (f - p).detach())        # ∂L/∂F = F - P
    assert p.grad is None                                          # la cible est une constante


def test_style_loss_weights_layers_by_one_fifth_and_one_over_n_squared():
    generator = torch.Generator().manual_seed(2)
    feats, targets, expected = {}, {}, 0.0
    for k, n in enumerate((2, 3, 4, 5, 6)):
        x = torch.randn(1, n, 4, 4, generator=generator, dtype=torch.float64)
        a = gatys.gram_matrix(torch.randn(1, n, 6, 6, generator=generator, dtype=torch.float64))
        feats[f"l{k}"], targets[f"l{k}"] = x, a
        g = torch.einsum("bihw,bjhw->bij", x, x) / 16
        expected += 0.2 * float(((g - a) ** 2).sum()) / (4 * n ** 2)
    assert float(style.style_loss(feats, targets)) == pytest.approx(expected, rel=1e-12)


def test_style_loss_gradient_flows_to_the_features():
    x = torch.rand(1, 3, 4, 4, requires_grad=True)
    target = gatys.gram_matrix(torch.rand(1, 3, 4, 4))
    style.style_loss({"a": x}, {"a": target}).backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


def test_transfer_loss_computes_targets_once(net, images):
    content, painting = images
    calls = []

    class Counting(torch.nn.Module):
        layers = net.layers
        pretrained = net.pretrained

        def forward(self, batch, layers=None):
            calls.append(sorted(layers))
            return net(batch, layers)

    loss = style.StyleTransferLoss(Counting(), content[None], painting[None])
    assert len(calls) == 2
    total, parts = loss(content[None])
    assert len(calls) == 3 and float(parts["contenu"]) == 0.0
    assert loss.ratio == pytest.approx(style.BALANCE_RANDOM / (512 * 5 * 7))    # conv4_2 : 512 x 5 x 7
    assert float(total) == pytest.approx(float(parts["style"]))


def test_default_ratio_divides_the_balance_by_the_number_of_content_activations():
    assert style.default_ratio(torch.zeros(1, 512, 5, 7), 0.5) == pytest.approx(0.5 / (512 * 5 * 7))
    assert style.default_ratio(torch.zeros(512, 5, 7), 0.5) == pytest.approx(0.5 / (512 * 5 * 7))
    loss = style.StyleTransferLoss(_Frozen(pretrained=True), torch.rand(1, 3, 40, 40), torch.rand(1, 3, 40, 40),
                                   balance=0.2)
    assert loss.balance == 0.2 and loss.ratio == pytest.approx(0.2 / (4 * 5 * 5))


class _Frozen(torch.nn.Module):
    """Un extracteur minuscule : « relu4_2 » et les couches de style sont des moyennes locales 8x8."""

    layers = (style.CONTENT_LAYER, *style.STYLE_LAYERS)

    def __init__(self, pretrained):
        super().__init__()
        self.pretrained = pretrained

    def forward(self, images, layers=None):
        pooled = torch.nn.functional.avg_pool2d(torch.cat([images, images[:, :1]], 1), 8)
        return {name: pooled for name in (layers or self.layers)}


def test_default_balance_follows_the_features_in_use():
    assert style.BALANCE_IMAGENET == pytest.approx(20 * style.BALANCE_RANDOM)
    assert style.default_balance(_Frozen(pretrained=True)) == style.BALANCE_IMAGENET
    assert style.default_balance(_Frozen(pretrained=False)) == style.BALANCE_RANDOM
    assert style.default_balance(features.filter_bank(device="cpu")) == style.BALANCE_RANDOM
    assert style.default_balance(torch.nn.Identity()) == style.BALANCE_RANDOM    # sans attribut « pretrained »
    with pytest.raises(TypeError, match="« pretrained »"):
        style.default_balance(_Frozen(pretrained="oui"))
    content, painting = torch.rand(1, 3, 40, 40), torch.rand(1, 3, 40, 40)
    for pretrained, balance in ((True, style.BALANCE_IMAGENET), (False, style.BALANCE_RANDOM)):
        loss = style.StyleTransferLoss(_Frozen(pretrained), content, painting)
        assert loss.balance == balance and loss.ratio == pytest.approx(balance / (4 * 5 * 5))


@pytest.fixture
def imagenet_cache(tmp_path, monkeypatch):
    """Un faux fichier de poids ImageNet de VGG19 (au format de torchvision) dans un TORCH_HOME temporaire."""
    import dataclasses

    from torchvision.models.vgg import cfgs, make_layers

    torch.manual_seed(5)
    target = tmp_path / "torch" / "hub" / "checkpoints" / data.ASSETS["vgg19"].filename
    target.parent.mkdir(parents=True)
    torch.save({f"features.{k}": v for k, v in make_layers(cfgs["E"]).state_dict().items()}, target)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("COURSE_OFFLINE", "1")                       # aucun téléchargement
    monkeypatch.setitem(data.ASSETS, "vgg19", dataclasses.replace(data.ASSETS["vgg19"],
                                                                  sha256=data.sha256sum(target)))
    features.clear_cache()
    yield target
    features.clear_cache()


def test_transfer_uses_the_imagenet_balance_when_the_weights_are_in_the_cache(imagenet_cache, monkeypatch):
    content, painting = data.photo("chelsea", size=32), style.procedural_painting(32, seed=1)
    real = features.vgg19((style.CONTENT_LAYER, *style.STYLE_LAYERS), device="cpu")
    assert real.pretrained
    loss = style.StyleTransferLoss(real, content[None], painting[None])
    assert loss.balance == style.BALANCE_IMAGENET
    assert loss.ratio == pytest.approx(style.BALANCE_IMAGENET / loss.content_target[0].numel())
    # transfer() sans « net » charge ces poids et prend le même équilibre
    seen = []
    original = style.StyleTransferLoss.__init__

    def spy(self, *args, **kwargs):
        original(self, *args, **kwargs)
        seen.append((self.net.pretrained, self.balance))

    monkeypatch.setattr(style.StyleTransferLoss, "__init__", spy)
    style.transfer(content, painting, steps=1, progress=False)
    assert seen == [(True, style.BALANCE_IMAGENET)]
    # sans le fichier : repli aléatoire, avec son propre équilibre
    imagenet_cache.unlink()
    features.clear_cache()
    seen.clear()
    with pytest.warns(features.FeatureWarning, match="ALÉATOIRES"):
        style.transfer(content, painting, steps=1, progress=False)
    assert seen == [(False, style.BALANCE_RANDOM)]


def _losses(net, content, painting, image):
    loss = style.StyleTransferLoss(net, content[None], painting[None])
    with torch.no_grad():
        _, parts = loss(image[None])
    return float(parts["contenu"]), float(parts["style"])


def test_transfer_lowers_the_style_loss_and_keeps_the_content(net, images):
    content, painting = images
    course_lib.seed(0)
    result = style.transfer(content, painting, steps=12, net=net, progress=False)
    assert tuple(result.shape) == tuple(content.shape)
    assert float(result.min()) >= 0 and float(result.max()) <= 1
    _, style_before = _losses(net, content, painting, content)
    content_after, style_after = _losses(net, content, painting, result)
    content_noise, _ = _losses(net, content, painting, torch.rand_like(content))
    assert style_after < style_before / 1.5, (style_before, style_after)     # 12 itérations de L-BFGS
    assert content_after < content_noise / 5, (content_after, content_noise)
    # et plus de poids au contenu garde mieux le contenu
    course_lib.seed(0)
    faithful = style.transfer(content, painting, steps=12, net=net, progress=False,
                              balance=100 * style.BALANCE_RANDOM)
    assert _losses(net, content, painting, faithful)[0] < content_after


def test_transfer_from_noise_with_adam_moves_towards_both_targets(net, images):
    content, painting = images
    course_lib.seed(1)
    result, history = style.transfer(content, painting, steps=10, init="noise", method="adam", lr=0.05, net=net,
                                     progress=False, return_history=True, snapshot_every=5)
    assert history.parts["style"][-1] < history.parts["style"][0]
    assert history.parts["contenu"][-1] < history.parts["contenu"][0]
    assert len(history.snapshots) == 2 and len(history.losses) == 10


def test_preserve_color_keeps_the_photo_chrominance(net, images):
    content, painting = images
    course_lib.seed(0)
    result = style.transfer(content, painting, steps=4, net=net, progress=False, preserve_color=True)
    chroma_result = style.rgb_to_yiq(result)[1:]
    chroma_content = style.rgb_to_yiq(content)[1:]
    chroma_painting = style.rgb_to_yiq(resize(painting, tuple(content.shape[-2:])))[1:]
    gap = float((chroma_result - chroma_content).abs().mean())
    assert gap < 0.01 < float((chroma_painting - chroma_content).abs().mean())


def test_coarse_to_fine_and_sizes(net, images):
    content, painting = images
    course_lib.seed(0)
    result, history = style.transfer(content[None], painting, size=32, scales=2, steps=3, net=net, progress=False,
                                     return_history=True)
    assert tuple(result.shape) == (1, 3, 32, 48)
    assert len(history.losses) >= 6


def test_yiq_round_trip_and_luminance_matching():
    rgb = torch.rand(2, 3, 5, 7, dtype=torch.float64)
    torch.testing.assert_close(style.yiq_to_rgb(style.rgb_to_yiq(rgb)), rgb)
    y = style.rgb_to_yiq(rgb)[:, 0]
    torch.testing.assert_close(y, 0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2])
    content = torch.rand(1, 3, 16, 16) * 0.3 + 0.4
    painting = torch.rand(1, 3, 12, 12)
    matched = style.match_luminance(painting, content)
    target = style.rgb_to_yiq(content)[:, 0]
    assert float(matched.mean()) == pytest.approx(float(target.mean()), abs=1e-4)
    assert float(matched.std()) == pytest.approx(float(target.std()), rel=1e-3)


def test_procedural_painting():
    painting = style.procedural_painting((40, 56), seed=3, palette="mer")
    assert tuple(painting.shape) == (3, 40, 56)
    assert float(painting.min()) >= 0 and float(painting.max()) <= 1
    torch.testing.assert_close(painting, style.procedural_painting((40, 56), seed=3, palette="mer"))
    assert float((painting - style.procedural_painting((40, 56), seed=4, palette="mer")).abs().mean()) > 0.02


def test_bad_arguments_give_french_errors(net, images):
    content, painting = images
    with pytest.raises(ValueError, match="« content »"):
        style.transfer(content[:1], painting, steps=1, net=net)
    with pytest.raises(ValueError, match="« ratio »"):
        style.transfer(content, painting, steps=1, ratio=-1.0, net=net)
    with pytest.raises(ValueError, match="« balance »"):
        style.transfer(content, painting, steps=1, balance=-1.0, net=net)
    with pytest.raises(ValueError, match="pas les deux"):
        style.transfer(content, painting, steps=1, ratio=1e-6, balance=0.1, net=net)
    with pytest.raises(ValueError, match="pas les deux"):
        style.StyleTransferLoss(net, content[None], painting[None], ratio=1e-6, balance=0.1)
    with pytest.raises(ValueError, match="« init »"):
        style.transfer(content, painting, steps=1, init="photo", net=net)
    with pytest.raises(ValueError, match="« scales »"):
        style.transfer(content, painting, steps=1, scales=3, size=32, net=net)
    with pytest.raises(ValueError, match="Couche inconnue"):
        style.transfer(content, painting, steps=1, content_layer="relu4_9", net=net)
    with pytest.raises(ValueError, match="« style »"):
        style.transfer(content[None].expand(2, -1, -1, -1), painting[None].expand(3, -1, -1, -1), steps=1, net=net)
    with pytest.raises(ValueError, match="mêmes dimensions"):
        style.content_loss(torch.rand(1, 2, 3, 3), torch.rand(1, 2, 4, 3))
    with pytest.raises(ValueError, match="« palette »"):
        style.procedural_painting(32, palette="pastel")
