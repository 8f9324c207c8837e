"""Quilting d'Efros et Freeman : la coupure d'erreur minimale contre une énumération exhaustive."""

import itertools

import numpy as np
import pytest
import torch

from course_lib import data, grading
from course_lib.texture import quilting


def all_paths(height, width):
    """Tous les chemins de haut en bas qui se décalent d'au plus une colonne par ligne."""
    for start in range(width):
        for moves in itertools.product((-1, 0, 1), repeat=height - 1):
            path = [start]
            for move in moves:
                path.append(path[-1] + move)
            if all(0 <= c < width for c in path):
                yield path


@pytest.mark.parametrize("seed,height,width", [(0, 4, 3), (1, 5, 4), (2, 6, 2), (3, 1, 5), (4, 5, 1)])
def test_min_error_boundary_cut_is_the_cheapest_path(seed, height, width):
    error = grading.random_tensor(seed, (height, width), dtype=torch.float64)
    path = quilting.min_error_boundary_cut(error)
    assert path.shape == (height,) and path.dtype == torch.long
    assert bool((path[1:] - path[:-1]).abs().le(1).all()) and int(path.min()) >= 0 and int(path.max()) < width
    cost = float(error[torch.arange(height), path].sum())
    best = min(sum(float(error[i, c]) for i, c in enumerate(p)) for p in all_paths(height, width))
    assert cost == pytest.approx(best, rel=1e-12)


def test_min_error_boundary_cut_follows_a_valley():
    error = torch.ones(6, 5)
    valley = [1, 2, 3, 3, 2, 1]
    error[torch.arange(6), torch.tensor(valley)] = 0
    assert quilting.min_error_boundary_cut(error).tolist() == valley


def test_overlap_errors_match_brute_force():
    sample = grading.random_images(0, (1, 3, 12, 11))[0].double()
    target = grading.random_tensor(1, (3, 5, 5), dtype=torch.float64)
    region = torch.zeros(5, 5, dtype=torch.bool)
    region[:, :2] = True
    region[:1] = True
    errors = quilting.overlap_errors(target, region, sample)
    expected = np.empty((8, 7))
    for i in range(8):
        for j in range(7):
            diff = (target - sample[:, i:i + 5, j:j + 5]) ** 2
            expected[i, j] = float(diff.sum(0)[region].sum())
    np.testing.assert_allclose(errors.numpy(), expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("mode", quilting.MODES)
def test_quilt_builds_the_texture_from_sample_blocks(mode):
    sample = data.texture("wood", size=40)
    out = quilting.quilt(sample, (50, 61), block=16, overlap=4, mode=mode, seed=0, progress=False)
    assert out.shape == (3, 50, 61) and out.dtype == sample.dtype
    colours = {tuple(c) for c in sample.reshape(3, -1).t().tolist()}
    assert all(tuple(c) in colours for c in out.reshape(3, -1).t().tolist())
    # Le premier bloc, hors des bandes que recouvrent ses voisins, est un bloc de l'exemple copié tel quel.
    first = out[:, :12, :12]
    windows = sample.unfold(1, 16, 1).unfold(2, 16, 1)[..., :12, :12]    # (3, 25, 25, 12, 12)
    assert bool((windows == first[:, None, None]).flatten(3).all(3).all(0).any())
    again = quilting.quilt(sample, (50, 61), block=16, overlap=4, mode=mode, seed=0, progress=False)
    assert torch.equal(out, again)


def test_cut_seams_cost_less_than_straight_seams():
    sample = data.texture("brick", size=64)
    cut = quilting.quilt(sample, 96, block=24, overlap=6, mode="cut", seed=1, progress=False)
    straight = quilting.quilt(sample, 96, block=24, overlap=6, mode="overlap", seed=1, progress=False)
    # Même suite de tirages pour le premier bloc ; la couture rend les jointures moins visibles :
    # on mesure les sauts horizontaux de part et d'autre des frontières de blocs.
    def seam_jumps(image):
        columns = [18 * k + 6 for k in range(1, 5)]
        return float(sum((image[..., c] - image[..., c - 1]).abs().mean() for c in columns))
    assert seam_jumps(cut) < seam_jumps(straight)


def test_bad_arguments_raise_french_errors():
    sample = data.texture("gravel", size=24)
    with pytest.raises(ValueError, match="plus grands que l'exemple"):
        quilting.quilt(sample, 40, block=25, progress=False)
    with pytest.raises(ValueError, match="plus petit que le bloc"):
        quilting.quilt(sample, 40, block=8, overlap=8, progress=False)
    with pytest.raises(ValueError, match="mode"):
        quilting.quilt(sample, 40, block=8, mode="seam", progress=False)
    with pytest.raises(ValueError, match="une seule image"):
        quilting.quilt(torch.rand(2, 1, 24, 24), 40, block=8, progress=False)
    with pytest.raises(ValueError, match="2 dimensions"):
        quilting.min_error_boundary_cut(torch.rand(3, 3, 3))
