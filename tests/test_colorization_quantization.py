"""Quantification de l'espace ab (Zhang, Isola et Efros 2016), comparée à des références indépendantes.

Les références : scikit-image (rgb2lab), des calculs NumPy directs qui recopient les formules de
l'article (équations 2, 4 et 5), et des valeurs connues (bornes du gamut sRGB en Lab).
"""

import math

import numpy as np
import pytest
import skimage.color
import torch

from course_lib import colorization as C
from course_lib import grading

HALF_DIAGONAL = 5 * math.sqrt(2)


def cube_faces_numpy(n):
    """Les six faces du cube RGB, n x n points chacune, en NumPy (H, W, 3)."""
    t = np.linspace(0, 1, n)
    u, v = np.meshgrid(t, t, indexing="ij")
    faces = []
    for axis in range(3):
        others = [c for c in range(3) if c != axis]
        for value in (0.0, 1.0):
            face = np.empty((n, n, 3))
            face[..., axis] = value
            face[..., others[0]], face[..., others[1]] = u, v
            faces.append(face)
    return np.concatenate(faces, axis=0)


# --------------------------------------------------------------------------- les cases

def test_ab_bins_is_the_grid_of_cells_reached_by_srgb():
    bins = C.ab_bins()
    assert bins.shape == (262, 2) and bins.dtype == torch.float32
    assert 260 <= bins.shape[0] <= 313
    assert torch.equal(bins, torch.round(bins / 10) * 10), "les centres sont des multiples de 10"
    assert torch.unique(bins, dim=0).shape[0] == bins.shape[0]
    keys = bins[:, 0] * 1000 + bins[:, 1]
    assert torch.equal(keys, keys.sort().values), "triés par a puis par b"
    # Bornes connues du gamut sRGB en Lab (D65) : a* dans [-86.2, 98.2], b* dans [-107.9, 94.5].
    assert bins[:, 0].min() == -90 and bins[:, 0].max() == 100
    assert bins[:, 1].min() == -110 and bins[:, 1].max() == 90


def test_ab_bins_equals_the_cells_found_by_an_independent_sampling_with_skimage():
    lab = skimage.color.rgb2lab(cube_faces_numpy(301))       # autre échantillonnage, autre conversion
    cells = np.unique(np.floor(lab[..., 1:].reshape(-1, 2) / 10 + 0.5).astype(int), axis=0) * 10
    ours = C.ab_bins().numpy().astype(int)
    assert {tuple(c) for c in cells} == {tuple(c) for c in ours}


def test_every_srgb_colour_is_within_half_a_cell_diagonal_of_a_bin():
    bins = C.ab_bins(dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    colours = torch.rand(200_000, 3, generator=g, dtype=torch.float64)
    corners = torch.cartesian_prod(*[torch.tensor([0.0, 1.0], dtype=torch.float64)] * 3)
    colours = torch.cat([colours, corners]).T.reshape(1, 3, -1, 1)
    _, ab = C.split_lab(colours)
    ab = ab[0, :, :, 0].T
    distance = torch.cdist(ab, bins).min(dim=1).values
    assert float(distance.max()) <= HALF_DIAGONAL
    # règle des cases : le point de grille le plus proche de chaque couleur est une case
    nearest_grid = torch.round(ab / 10) * 10
    known = {tuple(c) for c in bins.to(torch.int64).tolist()}
    assert all(tuple(c) in known for c in nearest_grid.to(torch.int64).tolist())


def test_ab_bins_follows_the_device_and_dtype_and_is_not_shared():
    a = C.ab_bins(dtype=torch.float64)
    a[0] = 1e6
    assert float(C.ab_bins(dtype=torch.float64)[0, 0]) == -90


# --------------------------------------------------------------------------- encodage doux

def soft_encode_numpy(ab, bins, k=5, sigma=5.0):
    """L'encodage doux de l'article en NumPy : k plus proches voisins, noyau gaussien, somme 1."""
    b, _, h, w = ab.shape
    points = ab.transpose(0, 2, 3, 1).reshape(-1, 2)
    distances = np.sqrt(((points[:, None, :] - bins[None, :, :]) ** 2).sum(-1))
    out = np.zeros((points.shape[0], bins.shape[0]))
    for i, row in enumerate(distances):
        nearest = np.argsort(row, kind="stable")[:k]
        weights = np.exp(-row[nearest] ** 2 / (2 * sigma ** 2))
        out[i, nearest] = weights / weights.sum()
    return out.reshape(b, h, w, -1).transpose(0, 3, 1, 2)


def test_soft_encode_matches_a_numpy_transcription_of_the_paper():
    bins = C.ab_bins()
    _, ab = C.split_lab(grading.random_images(1, (2, 3, 9, 7)))
    for k, sigma in ((5, 5.0), (3, 8.0), (1, 5.0)):
        expected = soft_encode_numpy(ab.double().numpy(), bins.double().numpy(), k, sigma)
        grading.assert_close(C.soft_encode(ab, bins, k=k, sigma=sigma), torch.from_numpy(expected), atol=1e-5)


def test_soft_encode_sums_to_one_has_k_neighbours_and_recovers_ab_by_its_expectation():
    bins = C.ab_bins()
    _, ab = C.split_lab(torch.rand(2, 3, 40, 40, generator=torch.Generator().manual_seed(3)))
    z = C.soft_encode(ab, bins)
    assert z.shape == (2, 262, 40, 40)
    grading.assert_close(z.sum(dim=1), torch.ones(2, 40, 40), atol=1e-5)
    assert bool((z >= 0).all()) and bool(((z > 0).sum(dim=1) == 5).all())
    expectation = torch.einsum("bqhw,qc->bchw", z, bins)
    error = (expectation - ab).norm(dim=1)
    assert float(error.mean()) < 0.5 and float(error.max()) < HALF_DIAGONAL
    # au centre d'une case intérieure, l'espérance retombe exactement sur la couleur
    centre = torch.tensor([10.0, -20.0]).view(1, 2, 1, 1)
    zc = C.soft_encode(centre, bins)
    grading.assert_close(torch.einsum("bqhw,qc->bchw", zc, bins), centre, atol=1e-4)
    assert math.isclose(float(zc.max()), 1 / (1 + 4 * math.exp(-2)), rel_tol=1e-5)


def test_soft_encode_keeps_an_unbatched_shape_and_far_colours_stay_finite():
    bins = C.ab_bins()
    z = C.soft_encode(torch.full((2, 3, 4), 127.0), bins)
    assert z.shape == (262, 3, 4) and bool(torch.isfinite(z).all())
    grading.assert_close(z.sum(dim=0), torch.ones(3, 4), atol=1e-5)
    weights, index = C.soft_encode_topk(torch.zeros(1, 2, 2, 2), bins, k=5)
    assert weights.shape == index.shape == (1, 5, 2, 2) and index.dtype == torch.int64
    assert bool((bins[index[0, 0]] == 0).all()), "la case la plus proche vient en premier"


def test_soft_encode_errors_are_in_french():
    bins = C.ab_bins()
    rgb = torch.rand(1, 3, 4, 4)
    with pytest.raises(ValueError, match="deux canaux a\\*, b\\*"):
        C.soft_encode(rgb, bins)
    with pytest.raises(ValueError, match="\\[-128, 128\\]"):
        C.soft_encode(torch.full((1, 2, 4, 4), 300.0), bins)
    with pytest.raises(ValueError, match="« bins »"):
        C.soft_encode(torch.zeros(1, 2, 4, 4), bins[:, :1])
    with pytest.raises(ValueError, match="« k »"):
        C.soft_encode(torch.zeros(1, 2, 4, 4), bins, k=0)
    with pytest.raises(TypeError, match="« ab »"):
        C.soft_encode(np.zeros((1, 2, 4, 4)), bins)


# --------------------------------------------------------------------------- a priori et rééquilibrage

def test_empirical_prior_counts_nearest_bins_like_numpy_and_skimage():
    images = grading.random_images(5, (3, 3, 16, 12))
    prior = C.empirical_prior(images)
    bins = C.ab_bins().double().numpy()
    ab = skimage.color.rgb2lab(images.double().permute(0, 2, 3, 1).numpy())[..., 1:].reshape(-1, 2)
    nearest = np.argmin(((ab[:, None] - bins[None]) ** 2).sum(-1), axis=1)
    expected = np.bincount(nearest, minlength=len(bins)) / len(nearest)
    grading.assert_close(prior, torch.from_numpy(expected), atol=1e-6)
    assert prior.shape == (262,)
    # un itérable de lots donne la même chose que le lot entier
    grading.assert_close(C.empirical_prior([images[:1], images[1:]]), prior, atol=1e-7)
    with pytest.raises(ValueError, match="« images »"):
        C.empirical_prior(torch.rand(2, 1, 4, 4))


def rebalance_numpy(prior, bins, lam, sigma):
    """Équation 4 de l'article, recopiée : lissage gaussien, mélange uniforme, inverse, E[w] = 1."""
    p = prior / prior.sum()
    if sigma > 0:
        kernel = np.array([[math.exp(-((ci - cj) ** 2).sum() / (2 * sigma ** 2)) for cj in bins] for ci in bins])
        p = kernel @ p
        p = p / p.sum()
    w = 1.0 / ((1 - lam) * p + lam / len(p))
    return w / (p * w).sum(), p


@pytest.mark.parametrize("lam,sigma", [(0.5, 5.0), (0.2, 0.0), (0.9, 3.0)])
def test_rebalance_weights_follow_equation_4_and_have_unit_expectation(lam, sigma):
    bins = C.ab_bins()
    prior = torch.rand(262, generator=torch.Generator().manual_seed(1), dtype=torch.float64) ** 4
    expected, smoothed = rebalance_numpy(prior.numpy(), bins.double().numpy(), lam, sigma)
    weights = C.rebalance_weights(prior, lam=lam, sigma=sigma)
    grading.assert_close(weights, torch.from_numpy(expected), rtol=1e-9, atol=1e-9)
    assert math.isclose(float((torch.from_numpy(smoothed) * weights).sum()), 1.0, rel_tol=1e-9)
    grading.assert_close(C.smooth_prior(prior, sigma=sigma), torch.from_numpy(smoothed), atol=1e-12)


def test_rebalancing_boosts_rare_colours_and_lambda_one_is_no_rebalancing():
    prior = torch.tensor([0.7, 0.2, 0.1, 0.0])
    bins = torch.tensor([[0.0, 0.0], [50.0, 0.0], [0.0, 50.0], [-50.0, -50.0]])
    w = C.rebalance_weights(prior, bins=bins, sigma=0.0)
    assert bool((w.diff() > 0).all()), "plus une couleur est rare, plus son poids est grand"
    assert float((prior * w).sum()) == pytest.approx(1.0, rel=1e-6)
    assert float(w[-1] / w[0]) == pytest.approx((0.5 * 0.7 + 0.125) / 0.125, rel=1e-5)
    grading.assert_close(C.rebalance_weights(prior, lam=1.0, bins=bins), torch.ones(4), atol=1e-6)
    with pytest.raises(ValueError, match="« lam »"):
        C.rebalance_weights(prior, lam=0.0, bins=bins)
    with pytest.raises(ValueError, match="« prior »"):
        C.rebalance_weights(-prior, bins=bins)
    with pytest.raises(ValueError, match="bins="):
        C.rebalance_weights(prior)                      # 4 cases : il faut donner leurs centres


# --------------------------------------------------------------------------- décodage

def random_distribution(seed, shape, margin=0.0):
    """Distributions aléatoires ; ``margin`` écarte le mode du second (rapport >= exp(margin))."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(shape, generator=g, dtype=torch.float64) * 3
    if margin:
        top = logits.max(dim=-3, keepdim=True).values
        logits.scatter_(-3, logits.argmax(dim=-3, keepdim=True), top + margin)
    return torch.softmax(logits, dim=-3)


def test_annealed_mean_matches_equation_5():
    bins = C.ab_bins(dtype=torch.float64)
    z = random_distribution(0, (2, 262, 3, 5))
    for T in (0.38, 0.7, 1.0, 2.0):
        annealed = z.numpy() ** (1 / T)                        # exp(log z / T)
        annealed = annealed / annealed.sum(axis=1, keepdims=True)
        expected = np.einsum("bqhw,qc->bchw", annealed, bins.numpy())
        grading.assert_close(C.annealed_mean(z, T=T), torch.from_numpy(expected), atol=1e-9)


def test_annealed_mean_is_the_mean_at_t1_and_tends_to_the_mode():
    bins = C.ab_bins()
    z = random_distribution(4, (3, 262, 4, 4), margin=0.5).float()
    mean = torch.einsum("bqhw,qc->bchw", z, bins)
    grading.assert_close(C.annealed_mean(z, 1.0, bins=bins), mean, atol=1e-4)
    mode = bins[z.argmax(dim=1)].permute(0, 3, 1, 2)
    grading.assert_close(C.mode_decode(z, bins), mode)
    grading.assert_close(C.annealed_mean(z, 0.0, bins=bins), mode)
    distances = [float((C.annealed_mean(z, T) - mode).abs().max()) for T in (1.0, 0.38, 0.1, 0.02, 0.005)]
    assert all(a >= b for a, b in zip(distances, distances[1:])) and distances[-1] < 1e-3
    # plus la température est basse, plus les couleurs sont saturées en moyenne
    chroma = [float(C.annealed_mean(z, T).norm(dim=1).mean()) for T in (1.0, 0.38)]
    assert chroma[1] > chroma[0]
    assert C.annealed_mean(z[0]).shape == (2, 4, 4)


def test_annealed_mean_errors_are_in_french():
    bins = C.ab_bins()
    logits = torch.randn(1, 262, 2, 2)
    with pytest.raises(ValueError, match="softmax"):
        C.annealed_mean(logits)
    with pytest.raises(ValueError, match="« T »"):
        C.annealed_mean(torch.softmax(logits, 1), T=-1)
    with pytest.raises(ValueError, match="« probs » a 262 cases"):
        C.annealed_mean(torch.softmax(logits, 1), bins=bins[:10])
    with pytest.raises(ValueError, match="bins="):
        C.annealed_mean(torch.full((1, 4, 2, 2), 0.25))
