"""course_lib.texture.gatys : matrice de Gram, perte de texture, optimisation, synthèse, histogrammes."""

import numpy as np
import pytest
import torch
from skimage.exposure import match_histograms as skimage_match_histograms

import course_lib
from course_lib import data, features
from course_lib.texture import gatys


@pytest.fixture(scope="module")
def net():
    return features.vgg19(gatys.TEXTURE_LAYERS, weights="random", device="cpu")


def test_gram_matrix_matches_einsum_and_is_normalised():
    f = torch.randn(3, 5, 7, 6, dtype=torch.float64)
    expected = torch.einsum("bihw,bjhw->bij", f, f) / (7 * 6)
    torch.testing.assert_close(course_lib.texture.gatys.gram_matrix(f), expected)
    torch.testing.assert_close(gatys.gram_matrix(f[1]), expected[1])          # (N,H,W) -> (N,N)
    gram = gatys.gram_matrix(f)
    torch.testing.assert_close(gram, gram.transpose(1, 2))
    assert float(torch.linalg.eigvalsh(gram).min()) > -1e-10                 # semi-définie positive


def test_gram_matrix_forgets_where_things_are():
    """Permuter les positions ne change pas la matrice de Gram : elle ne garde que les co-occurrences."""
    f = torch.randn(1, 4, 8, 8, dtype=torch.float64)
    shuffled = f.flatten(2)[:, :, torch.randperm(64)].view(1, 4, 8, 8)
    torch.testing.assert_close(gatys.gram_matrix(shuffled), gatys.gram_matrix(f))
    # la même texture, deux fois plus grande, a la même matrice de Gram normalisée
    tiled = f.repeat(1, 1, 2, 2)
    torch.testing.assert_close(gatys.gram_matrix(tiled), gatys.gram_matrix(f))


def test_texture_loss_is_the_paper_formula():
    """E_l = 1/(4 N² M²) Σ (G - A)² avec les matrices de Gram NON normalisées de l'article (équation (4))."""
    generator = torch.Generator().manual_seed(0)
    ours, targets, paper = {}, {}, 0.0
    weights = {"a": 1.0, "b": 0.5}
    for name, (n, h, w) in {"a": (3, 6, 5), "b": (8, 4, 4)}.items():
        x = torch.randn(2, n, h, w, generator=generator, dtype=torch.float64)
        y = torch.randn(1, n, h + 2, w, generator=generator, dtype=torch.float64)
        ours[name] = x
        targets[name] = gatys.gram_matrix(y)
        m = h * w
        g = x.flatten(2) @ x.flatten(2).transpose(1, 2)                         # Σ_k F_ik F_jk
        a = targets[name] * m                                                    # la cible ramenée à M_l positions
        paper += weights[name] * float(((g - a) ** 2).sum() / (4 * n ** 2 * m ** 2))
    assert float(gatys.texture_loss(ours, targets, weights)) == pytest.approx(paper, rel=1e-12)


def test_texture_loss_gradient_is_equation_6_of_the_paper():
    """∂E_l/∂F_ik = 1/(N² M²) ((F^T)(G - A))_ki (Gatys et al. 2015, équation (6), avant la ReLU)."""
    n, h, w = 4, 5, 3
    m = h * w
    f = torch.randn(1, n, h, w, dtype=torch.float64, requires_grad=True)
    target = gatys.gram_matrix(torch.rand(1, n, 4, 4, dtype=torch.float64))
    gatys.texture_loss({"l": f}, {"l": target}).backward()
    flat = f.detach().flatten(2)[0]                                              # (N, M)
    g, a = flat @ flat.T, target[0] * m
    expected = ((g - a) @ flat / (n ** 2 * m ** 2)).view(1, n, h, w)
    torch.testing.assert_close(f.grad, expected)
    x = f.detach().requires_grad_()
    assert torch.autograd.gradcheck(lambda x: gatys.texture_loss({"l": x}, {"l": target}), (x,))


def test_texture_loss_through_the_network_passes_gradcheck(net):
    small = features.vgg19(["relu1_1", "pool1"], weights="random", device="cpu").double()
    sample = torch.rand(1, 3, 8, 8, dtype=torch.float64)
    loss = gatys.TextureLoss(small, sample, ["relu1_1", "pool1"])
    x = torch.rand(1, 3, 6, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(loss, (x,), eps=1e-6, atol=1e-5)


def test_targets_are_computed_once(net):
    calls = []

    class Counting(torch.nn.Module):
        layers = net.layers

        def forward(self, images, layers=None):
            calls.append(images.shape)
            return net(images, layers)

    loss = gatys.TextureLoss(Counting(), torch.rand(1, 3, 32, 32), gatys.TEXTURE_LAYERS)
    assert len(calls) == 1
    for _ in range(3):
        loss(torch.rand(1, 3, 32, 32))
    assert len(calls) == 4


def test_synthesis_lowers_the_texture_loss_at_ci_profile(net):
    """L-BFGS, 15 itérations, 48 x 48 : la perte de texture est divisée par au moins 50 (environ 260 mesuré)."""
    course_lib.seed(0)
    sample = data.texture("wood", size=48)
    result, history = gatys.synthesize_texture(sample, steps=15, net=net, progress=False, return_history=True)
    loss = gatys.TextureLoss(net, sample[None])
    course_lib.seed(0)
    start = torch.rand(1, 3, 48, 48)
    before, after = float(loss(start)), float(loss(result[None]))
    assert before == pytest.approx(history.losses[0], rel=1e-5)
    assert after < before / 50, (before, after)
    assert tuple(result.shape) == (3, 48, 48) and float(result.min()) >= 0 and float(result.max()) <= 1


def test_adam_also_lowers_the_loss_and_keeps_pixels_in_range(net):
    course_lib.seed(1)
    sample = data.texture("fur", size=32)
    result, history = gatys.synthesize_texture(sample, size=(40, 36), steps=12, method="adam", lr=0.05, net=net,
                                               progress=False, return_history=True, snapshot_every=4)
    assert tuple(result.shape) == (3, 40, 36)
    assert history.losses[-1] < history.losses[0] / 2
    assert [step for step, _ in history.snapshots] == [4, 8, 12]


def test_synthesis_is_reproducible_and_keeps_gray_samples_gray(net):
    sample = data.texture("brick", size=32)              # une texture en niveaux de gris (1, H, W)
    course_lib.seed(3)
    first = gatys.synthesize_texture(sample, steps=3, net=net, progress=False)
    course_lib.seed(3)
    second = gatys.synthesize_texture(sample, steps=3, net=net, progress=False)
    assert tuple(first.shape) == (1, 32, 32)
    torch.testing.assert_close(first, second)


def test_histogram_matching_option(net):
    sample = data.texture("cells", size=32)
    course_lib.seed(0)
    result = gatys.synthesize_texture(sample, steps=2, net=net, progress=False, histogram_matching=True)
    for c in range(3):
        torch.testing.assert_close(result[c].flatten().sort().values, sample[c].flatten().sort().values,
                                   atol=1e-6, rtol=0)


@pytest.mark.parametrize("quantized", [False, True])
def test_match_histograms_matches_scikit_image(quantized):
    generator = torch.Generator().manual_seed(4)
    image = torch.rand(2, 3, 17, 13, generator=generator) ** 2
    reference = torch.rand(2, 3, 11, 19, generator=generator)
    if quantized:                                      # des valeurs répétées : les égalités doivent rester égales
        image, reference = (image * 8).round() / 8, (reference * 5).round() / 5
    ours = gatys.match_histograms(image, reference)
    for b in range(2):
        expected = skimage_match_histograms(image[b].permute(1, 2, 0).double().numpy(),
                                            reference[b].permute(1, 2, 0).double().numpy(), channel_axis=-1)
        np.testing.assert_allclose(ours[b].permute(1, 2, 0).numpy(), expected, atol=1e-6)
    assert tuple(gatys.match_histograms(image[0], reference[:1]).shape) == (3, 17, 13)


def test_optimize_image_reaches_the_minimum_of_a_quadratic():
    target = torch.rand(1, 3, 8, 8)
    init = torch.rand(1, 3, 8, 8)
    for method, steps in (("lbfgs", 10), ("adam", 300)):
        result, history = gatys.optimize_image(lambda x: ((x - target) ** 2).sum(), init, steps, method=method,
                                               lr=None if method == "lbfgs" else 0.02, progress=False)
        torch.testing.assert_close(result, target, atol=2e-3, rtol=0)
        assert history.losses[-1] < history.losses[0]
    assert not init.requires_grad                                  # l'image de départ n'est pas modifiée


def test_optimize_image_can_be_interrupted():
    count = [0]

    def loss_fn(x):
        count[0] += 1
        if count[0] == 4:
            raise KeyboardInterrupt
        return (x ** 2).sum()

    with pytest.warns(UserWarning, match="interrompue"):
        result, history = gatys.optimize_image(loss_fn, torch.rand(1, 1, 4, 4), 10, method="adam", progress=False)
    assert history.interrupted and len(history.losses) == 3 and tuple(result.shape) == (1, 1, 4, 4)


def test_bad_arguments_give_french_errors(net):
    sample = torch.rand(3, 32, 32)
    with pytest.raises(ValueError, match="« sample »"):
        gatys.synthesize_texture(torch.rand(32, 32), steps=1, net=net)
    with pytest.raises(ValueError, match="doivent être dans"):
        gatys.synthesize_texture(sample * 2, steps=1, net=net)
    with pytest.raises(ValueError, match="au moins 16 pixels"):
        gatys.synthesize_texture(sample, size=8, steps=1, net=net)
    with pytest.raises(ValueError, match="« steps »"):
        gatys.synthesize_texture(sample, steps=-1, net=net)
    with pytest.raises(ValueError, match="Couche"):
        gatys.synthesize_texture(sample, steps=1, layers=["relu9_9"], net=net)
    with pytest.raises(ValueError, match="« method »"):
        gatys.synthesize_texture(sample, steps=1, method="sgd", net=net)
    with pytest.raises(ValueError, match="« init »"):
        gatys.synthesize_texture(sample, steps=1, init=torch.rand(1, 3, 20, 20), net=net)
    with pytest.raises(ValueError, match="« weights »"):
        gatys.texture_loss({"a": torch.rand(1, 2, 3, 3)}, {"a": torch.rand(2, 2)}, weights=[1.0, 2.0])
    with pytest.raises(ValueError, match="« features »"):
        gatys.gram_matrix(torch.rand(4, 4))
    with pytest.raises(ValueError, match="canaux"):
        gatys.match_histograms(torch.rand(3, 8, 8), torch.rand(1, 8, 8))
