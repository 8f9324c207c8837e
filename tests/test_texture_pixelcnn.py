"""PixelCNN : causalité des masques (par les gradients), vraisemblance, échantillonnage et complétion."""

import math

import pytest
import torch
import torch.nn.functional as F

import course_lib
from course_lib.texture import pixelcnn

#: Ce que le PixelCNN du profil « ci » doit atteindre sur les chiffres tenus à l'écart (bits par pixel).
CI_BITS_PER_DIM = 2.6


def earlier(height, width, i, j):
    """Masque (H, W) des pixels strictement avant (i, j) dans l'ordre de balayage."""
    index = torch.arange(height * width).reshape(height, width)
    return index < i * width + j


# --------------------------------------------------------------------------- masques

def test_causal_masks_of_type_a_and_b():
    a = pixelcnn.causal_mask(3, "A")
    b = pixelcnn.causal_mask(3, "B")
    assert torch.equal(a, torch.tensor([[1.0, 1, 1], [1, 0, 0], [0, 0, 0]]))
    assert torch.equal(b, torch.tensor([[1.0, 1, 1], [1, 1, 0], [0, 0, 0]]))
    five = pixelcnn.causal_mask(5, "A")
    assert five[:2].eq(1).all() and five[2, :2].eq(1).all() and five[2, 2:].eq(0).all() and five[3:].eq(0).all()
    assert torch.equal(pixelcnn.causal_mask(5, "B") - five, F.one_hot(torch.tensor(12), 25).float().reshape(5, 5))


@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_one_masked_convolution_sees_only_previous_pixels(mask_type):
    torch.manual_seed(0)
    conv = pixelcnn.MaskedConv2d(1, 4, 5, mask_type)
    with torch.no_grad():
        conv.weight.copy_(torch.rand_like(conv.weight) + 0.1)       # aucun poids nul par hasard
    height = width = 7
    for i, j in [(0, 0), (3, 3), (3, 0), (6, 6), (2, 5)]:
        x = torch.rand(1, 1, height, width, requires_grad=True)
        conv(x)[0, :, i, j].sum().backward()
        seen = x.grad[0, 0] != 0
        allowed = earlier(height, width, i, j)
        if mask_type == "B":
            allowed[i, j] = True
        assert not bool((seen & ~allowed).any()), f"({i},{j}) voit un pixel interdit"
        near = allowed & (torch.arange(height)[:, None] - i).abs().le(2) & (torch.arange(width)[None] - j).abs().le(2)
        assert torch.equal(seen, near), f"({i},{j}) ne voit pas toute sa fenêtre causale"


def test_pixelcnn_output_never_depends_on_the_pixel_itself_or_later_pixels():
    torch.manual_seed(1)
    model = pixelcnn.PixelCNN(channels=8, blocks=3, hidden=16)
    height, width = 6, 7
    x = torch.rand(1, 1, height, width, dtype=torch.float64)
    model = model.double()
    jacobian = torch.autograd.functional.jacobian(lambda inp: model(inp).sum(1), x)[0, :, :, 0, 0]  # (H,W,H,W)
    for i in range(height):
        for j in range(width):
            seen = jacobian[i, j] != 0
            assert not bool((seen & ~earlier(height, width, i, j)).any()), f"fuite causale en ({i},{j})"
            if j > 0:
                assert bool(seen[i, j - 1]), f"({i},{j}) ignore son voisin de gauche"
            if i > 0:
                assert bool(seen[i - 1, j]), f"({i},{j}) ignore son voisin du haut"


def test_cropping_the_rows_below_does_not_change_the_distribution():
    torch.manual_seed(2)
    model = pixelcnn.PixelCNN(channels=8, blocks=2, hidden=16).eval()
    images = torch.rand(3, 1, 8, 9)
    full = torch.softmax(model(images).double(), dim=1)
    for i, j in [(0, 0), (4, 2), (7, 8)]:
        torch.testing.assert_close(pixelcnn.pixel_distribution(model, images, i, j).double(), full[:, :, i, j],
                                   rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- vraisemblance

def uniform_model(probabilities=None):
    """Un PixelCNN dont la sortie est une loi fixe (uniforme par défaut) : la dernière couche n'a qu'un biais."""
    model = pixelcnn.PixelCNN(channels=4, blocks=1, hidden=4)
    last = model.head[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.zeros(256) if probabilities is None else probabilities.log())
    return model.eval()


def test_a_model_that_knows_nothing_costs_eight_bits_per_pixel():
    images = torch.rand(5, 1, 6, 6)
    assert pixelcnn.bits_per_dim(uniform_model(), images) == pytest.approx(8.0, abs=1e-5)


def test_bits_per_dim_is_the_mean_negative_log2_likelihood():
    torch.manual_seed(3)
    model = pixelcnn.PixelCNN(channels=8, blocks=2, hidden=16).eval()
    images = pixelcnn.dequantize(torch.randint(0, 256, (4, 1, 5, 6)))
    with torch.no_grad():
        logp = torch.log_softmax(model(images).double(), dim=1)
    target = (images * 255).round().long()
    expected = -logp.gather(1, target).mean() / math.log(2)
    assert pixelcnn.bits_per_dim(model, images, batch_size=3) == pytest.approx(float(expected), rel=1e-6)


def test_ci_pixelcnn_learns_the_digits():
    profile = course_lib.profile("ci")
    course_lib.seed(0)
    train, val = pixelcnn.digits_dataset(8)
    model = pixelcnn.default_model(profile)
    history = pixelcnn.fit(model, train, val, progress=False, **pixelcnn.default_training(profile))
    bits = pixelcnn.bits_per_dim(model, val)
    assert history["bits/dim/validation"][-1][1] == pytest.approx(bits, rel=1e-5)
    assert history["bits/dim/validation"][0][1] > bits
    assert bits < CI_BITS_PER_DIM, f"{bits:.3f} bits/dim sur les chiffres de validation"


def test_datasets_are_quantized_and_split_without_overlap():
    train, val = pixelcnn.digits_dataset(8)
    assert train.shape[1:] == (1, 8, 8) and train.shape[0] + val.shape[0] == 1797
    assert abs(val.shape[0] - 359) <= 1
    assert torch.equal(pixelcnn.dequantize(pixelcnn.quantize(train)), train)
    ids = torch.arange(50, dtype=torch.float32).view(50, 1, 1, 1)
    kept, held = pixelcnn.split(ids, 0.2, seed=3)
    assert held.shape[0] == 10 and sorted(kept.flatten().tolist() + held.flatten().tolist()) == list(range(50))
    patches, held_out = pixelcnn.texture_dataset("gravel", patch=12, n=100, texture_size=64)
    assert patches.shape == (80, 1, 12, 12) and held_out.shape == (20, 1, 12, 12)
    assert torch.equal(pixelcnn.dequantize(pixelcnn.quantize(patches)), patches)


# --------------------------------------------------------------------------- échantillonnage et complétion

def test_sampling_draws_from_the_network_output():
    probabilities = torch.zeros(256)
    probabilities[[10, 128, 200]] = torch.tensor([0.2, 0.5, 0.3])
    model = uniform_model(probabilities + 1e-12)
    images = pixelcnn.sample(model, 400, (2, 3), seed=0, progress=False)
    values = pixelcnn.quantize(images).flatten()
    counts = torch.bincount(values, minlength=256).double() / values.numel()
    assert set(values.unique().tolist()) <= {10, 128, 200}
    torch.testing.assert_close(counts[[10, 128, 200]], torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64),
                               atol=0.05, rtol=0)


def test_sample_is_reproducible_and_returns_the_distributions():
    torch.manual_seed(4)
    model = pixelcnn.PixelCNN(channels=8, blocks=2, hidden=16)
    images, probs = pixelcnn.sample(model, 3, (4, 5), seed=1, progress=False, return_probs=True)
    assert images.shape == (3, 1, 4, 5) and probs.shape == (3, 4, 5, 256)
    assert torch.equal(pixelcnn.dequantize(pixelcnn.quantize(images)), images)
    torch.testing.assert_close(probs.sum(-1), torch.ones(3, 4, 5))
    drawn = pixelcnn.quantize(images)[:, 0]
    assert bool((probs.gather(-1, drawn[..., None]) > 0).all())
    # La loi stockée en (i, j) est bien celle que donne le réseau sur les pixels déjà tirés.
    torch.testing.assert_close(probs[:, 2, 3], pixelcnn.pixel_distribution(model, images, 2, 3))
    assert torch.equal(images, pixelcnn.sample(model, 3, (4, 5), seed=1, progress=False))
    assert not torch.equal(images, pixelcnn.sample(model, 3, (4, 5), seed=2, progress=False))
    assert model.training                               # le mode du modèle est rétabli


def test_complete_samples_only_the_hidden_pixels():
    torch.manual_seed(5)
    model = pixelcnn.PixelCNN(channels=8, blocks=2, hidden=16)
    image = pixelcnn.dequantize(torch.randint(0, 256, (1, 6, 6)))
    mask = torch.zeros(6, 6, dtype=torch.bool)
    mask[3:, :] = True
    completions = pixelcnn.complete(model, image, mask, n=4, seed=0, progress=False)
    assert completions.shape == (4, 1, 6, 6)
    assert torch.equal(completions[:, :, ~mask], image[None, :, ~mask].expand(4, 1, -1))
    assert len({tuple(c.flatten().tolist()) for c in completions}) > 1
    batch = torch.stack([image, image.flip(-1)])
    out = pixelcnn.complete(model, batch, mask, n=2, seed=0, progress=False)
    assert out.shape == (4, 1, 6, 6)
    assert torch.equal(out[2:, :, ~mask], batch[1:, :, ~mask].expand(2, 1, -1))


def test_bad_arguments_raise_french_errors():
    with pytest.raises(ValueError, match="mask_type"):
        pixelcnn.causal_mask(3, "C")
    with pytest.raises(ValueError, match="impair"):
        pixelcnn.causal_mask(4, "A")
    model = pixelcnn.PixelCNN(channels=4, blocks=1, hidden=4)
    with pytest.raises(ValueError, match="1 canaux"):
        pixelcnn.bits_per_dim(model, torch.rand(2, 3, 8, 8))
    with pytest.raises(ValueError, match="ne cache aucun pixel"):
        pixelcnn.complete(model, torch.rand(1, 5, 5), torch.zeros(5, 5, dtype=torch.bool), progress=False)
    with pytest.raises(TypeError, match="PixelCNN"):
        pixelcnn.sample("modèle", 2, 4, progress=False)
    with pytest.raises(ValueError, match="strictement positif"):
        pixelcnn.sample(model, 0, 4, progress=False)
