"""Efros et Leung : la version vectorisée contre la transcription littérale du pseudo-code, et ses statistiques."""

import efros_leung_literal as literal
import numpy as np
import pytest
import scipy.ndimage
import torch

from course_lib import data, grading, images
from course_lib.texture import _efros_leung_fast, efros_leung


def random_sample(seed, channels, height, width):
    return grading.random_images(seed, (1, channels, height, width), dtype=torch.float64)[0]


# --------------------------------------------------------------------------- contre la transcription littérale

@pytest.mark.parametrize("seed,channels,sample_size,out_size,window", [
    (0, 1, (10, 11), (13, 12), 5),
    (1, 3, (9, 9), (11, 14), 3),
    (2, 1, (12, 10), (12, 12), 7),
    (3, 3, (11, 12), (10, 10), 5),
])
def test_synthesize_equals_the_literal_pseudocode(seed, channels, sample_size, out_size, window):
    sample = random_sample(seed, channels, *sample_size)
    expected = literal.synthesize(sample.numpy(), out_size, window, seed)
    result = efros_leung.synthesize(sample, out_size, window=window, seed=seed, progress=False)
    np.testing.assert_array_equal(result.numpy(), expected)


def test_synthesize_equals_the_literal_pseudocode_with_ties():
    # Une texture à 5 niveaux : beaucoup de fenêtres ex aequo (SSD exactement nulle au départ).
    generator = torch.Generator().manual_seed(7)
    sample = (torch.rand(1, 12, 12, generator=generator, dtype=torch.float64) * 4).round() / 4
    expected = literal.synthesize(sample.numpy(), (14, 14), 5, 7)
    result = efros_leung.synthesize(sample, 14, window=5, seed=7, progress=False)
    np.testing.assert_array_equal(result.numpy(), expected)


def test_max_err_threshold_is_raised_like_the_literal_pseudocode():
    # Un seuil minuscule : des passes sans progrès, donc MaxErrThreshold * 1.1, comme dans GrowImage.
    sample = random_sample(11, 3, 9, 9)
    expected = literal.synthesize(sample.numpy(), (10, 10), 5, 11, max_err_threshold=1e-3)
    result = efros_leung.synthesize(sample, 10, window=5, seed=11, max_err_threshold=1e-3, progress=False)
    np.testing.assert_array_equal(result.numpy(), expected)


def test_numpy_and_loop_transcriptions_agree():
    # Le code direct du banc d'essai (boucle sur les décalages, NumPy sur les positions) est le même algorithme.
    sample = random_sample(5, 1, 10, 10)
    expected = literal.synthesize(sample.numpy(), (11, 11), 5, 5)
    for inner in ("numpy", "numpy-skip"):
        np.testing.assert_array_equal(literal.synthesize(sample.numpy(), (11, 11), 5, 5, inner=inner), expected)
    np.testing.assert_array_equal(literal.synthesize_numpy(sample.numpy(), (11, 11), 5, 5), expected)
    colour = random_sample(6, 3, 9, 10)
    np.testing.assert_array_equal(literal.synthesize_numpy(colour.numpy(), (12, 10), 5, 6),
                                  literal.synthesize(colour.numpy(), (12, 10), 5, 6))


def test_fill_equals_the_literal_pseudocode():
    image = random_sample(3, 3, 14, 15)
    hole = torch.zeros(14, 15, dtype=torch.bool)
    hole[5:9, 4:10] = True
    expected = literal.fill(image.numpy(), hole.numpy(), 5, 3)
    result = efros_leung.fill(image, hole, window=5, seed=3, progress=False)
    np.testing.assert_array_equal(result.numpy(), expected)


def test_one_grow_step_equals_one_literal_pass():
    sample = random_sample(8, 1, 10, 10)
    generator = torch.Generator().manual_seed(0)
    filled = torch.rand(12, 12, generator=generator) < 0.25
    image = torch.where(filled, torch.rand(1, 12, 12, generator=generator, dtype=torch.float64), 0.0)
    image_ref, filled_ref = literal.grow_step(sample.numpy(), image.numpy(), filled.numpy(), 5,
                                              torch.Generator().manual_seed(42))
    new_image, new_filled, progress = efros_leung.grow_step(image, filled, sample, 5,
                                                            generator=torch.Generator().manual_seed(42))
    assert progress
    np.testing.assert_array_equal(new_filled.numpy(), filled_ref)
    np.testing.assert_array_equal(new_image.numpy(), image_ref)
    assert not torch.equal(new_filled, filled)       # les entrées ne sont pas modifiées...
    assert int(new_filled.sum()) > int(filled.sum())  # ...et la passe a rempli des pixels


@pytest.fixture(params=["full", "incremental"])
def fast_mode(request, monkeypatch):
    """Les deux façons du chemin rapide de calculer la SSD : un produit par niveau, ou par passe puis par
    différences (grands exemples), forcées ici sur de petits exemples."""
    monkeypatch.setattr(_efros_leung_fast, "INCREMENTAL_ABOVE", 1 << 40 if request.param == "full" else 0)
    return request.param


@pytest.mark.parametrize("channels", [1, 3])
def test_fast_path_readable_version_and_literal_pseudocode_agree(fast_mode, channels):
    sample = random_sample(20 + channels, channels, 13, 12)
    expected = literal.synthesize(sample.numpy(), (15, 14), 5, 9, inner="numpy-skip")
    for fast in (True, False):
        result, order = efros_leung.synthesize(sample, (15, 14), window=5, seed=9, progress=False, fast=fast,
                                               return_order=True)
        np.testing.assert_array_equal(result.numpy(), expected)
        assert int(order.min()) == 0 and int((order == 0).sum()) == 9
    # En float32 (le type des images du cours), l'exemple étant converti en float64 par la transcription.
    single = sample.float()
    expected = literal.synthesize(single.numpy(), (15, 14), 5, 9, inner="numpy-skip")
    np.testing.assert_array_equal(efros_leung.synthesize(single, (15, 14), window=5, seed=9, progress=False),
                                  expected)


def test_fast_path_with_ties_and_holes(fast_mode):
    generator = torch.Generator().manual_seed(7)
    sample = (torch.rand(1, 12, 12, generator=generator, dtype=torch.float64) * 4).round() / 4
    expected = literal.synthesize(sample.numpy(), (14, 14), 5, 7)
    np.testing.assert_array_equal(efros_leung.synthesize(sample, 14, window=5, seed=7, progress=False), expected)
    image = random_sample(3, 3, 14, 15)
    hole = torch.zeros(14, 15, dtype=torch.bool)
    hole[5:9, 4:10] = True
    expected = literal.fill(image.numpy(), hole.numpy(), 5, 3)
    for fast in (True, False):
        np.testing.assert_array_equal(efros_leung.fill(image, hole, window=5, seed=3, progress=False, fast=fast),
                                      expected)


def test_readable_grow_step_equals_the_fast_one():
    sample = random_sample(8, 3, 10, 10)
    generator = torch.Generator().manual_seed(0)
    filled = torch.rand(12, 12, generator=generator) < 0.25
    image = torch.rand(3, 12, 12, generator=generator, dtype=torch.float64)    # valeurs quelconques hors de filled
    outputs = [efros_leung.grow_step(image, filled, sample, 5, generator=torch.Generator().manual_seed(42), fast=fast)
               for fast in (True, False)]
    (fast_image, fast_filled, fast_progress), (image_, filled_, progress) = outputs
    assert fast_progress == progress is True
    assert torch.equal(fast_filled, filled_) and torch.equal(fast_image, image_)
    assert torch.equal(fast_image[:, ~fast_filled], image[:, ~fast_filled])      # pixels vides rendus tels quels


# --------------------------------------------------------------------------- FindMatches et la frontière

def brute_force_ssd(template, valid, sample):
    """La SSD gaussienne masquée position par position, en NumPy (float64)."""
    channels, window, _ = template.shape
    sigma = window / 6.4
    r = np.arange(window) - window // 2
    gauss = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma**2)) * valid
    height, width = sample.shape[1] - window + 1, sample.shape[2] - window + 1
    out = np.empty((height, width))
    for i in range(height):
        for j in range(width):
            patch = sample[:, i:i + window, j:j + window]
            out[i, j] = (((template - patch) ** 2).sum(0) * gauss).sum() / gauss.sum()
    return out


def test_masked_ssd_matches_brute_force_and_ignores_unfilled_pixels():
    sample = random_sample(1, 3, 14, 13)
    templates = grading.random_tensor(2, (4, 3, 7, 7), dtype=torch.float64)
    valid = grading.random_tensor(3, (4, 7, 7)) < 0.5
    valid[:, 3, 3] = False
    valid[:, 0, 0] = True
    ssd = efros_leung.masked_ssd(templates, valid, sample)
    assert ssd.shape == (4, 8, 7)
    for b in range(4):
        expected = brute_force_ssd(templates[b].numpy(), valid[b].numpy(), sample.numpy())
        np.testing.assert_allclose(ssd[b].numpy(), expected, rtol=1e-9, atol=1e-12)
    # Les valeurs des pixels vides ne comptent pas.
    noisy = torch.where(valid[:, None], templates, torch.rand_like(templates))
    torch.testing.assert_close(efros_leung.masked_ssd(noisy, valid, sample), ssd)
    single = efros_leung.masked_ssd(templates[0], valid[0], sample)
    torch.testing.assert_close(single, ssd[0])


def test_find_matches_keeps_windows_within_ten_percent_of_the_best():
    ssd = torch.tensor([[0.5, 0.2, 0.219], [0.221, 0.9, 0.2]])
    expected = torch.tensor([[False, True, True], [False, False, True]])
    assert torch.equal(efros_leung.find_matches(ssd), expected)
    zero = torch.tensor([[0.0, 0.0, 1e-9]])
    assert torch.equal(efros_leung.find_matches(zero), torch.tensor([[True, True, False]]))
    batch = torch.stack([ssd, ssd * 2])
    assert torch.equal(efros_leung.find_matches(batch), torch.stack([expected, expected]))


def test_unfilled_neighbors_is_the_dilation_minus_the_image():
    filled = grading.random_tensor(4, (9, 11)) < 0.2
    indices, counts = efros_leung.unfilled_neighbors(filled)
    dilated = scipy.ndimage.binary_dilation(filled.numpy(), structure=np.ones((3, 3)))
    expected = np.flatnonzero(dilated & ~filled.numpy())
    np.testing.assert_array_equal(indices.numpy(), expected)
    neighbours = scipy.ndimage.convolve(filled.numpy().astype(int), np.ones((3, 3), int), mode="constant")
    np.testing.assert_array_equal(counts.numpy(), neighbours.reshape(-1)[expected])


def test_gaussian_mask_has_sigma_window_over_6_4():
    mask = efros_leung.gaussian_mask(11, dtype=torch.float64)
    r = torch.arange(11, dtype=torch.float64) - 5
    expected = torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * (11 / 6.4) ** 2))
    torch.testing.assert_close(mask, expected / expected.sum())


# --------------------------------------------------------------------------- propriétés de la synthèse

def autocorrelation(image, lags=3):
    """Autocorrélation normalisée d'une image en gris pour les décalages (dy, dx) de 0 à ``lags``."""
    x = image - image.mean()
    values = []
    for dy in range(lags + 1):
        for dx in range(-lags, lags + 1):
            if dy == 0 and dx <= 0:
                continue
            a = x[dy:, max(dx, 0):x.shape[1] + min(dx, 0)]
            b = x[:x.shape[0] - dy, max(-dx, 0):x.shape[1] - max(dx, 0)]
            values.append((a * b).mean() / x.var())
    return np.array(values)


@pytest.mark.parametrize("name", ["gravel", "grass", "text"])
def test_synthesized_texture_has_the_statistics_of_the_sample(name):
    sample = images.resize(data.texture(name)[:, :96, :96], 40)     # assez de structure à 40 px
    result = efros_leung.synthesize(sample, 48, window=9, seed=1, progress=False)
    source, out = sample[0].numpy(), result[0].numpy()
    # Histogramme : distance de Wasserstein-1 entre les lois des niveaux de gris.
    distance = np.abs(np.sort(source.ravel())[np.linspace(0, source.size - 1, out.size).astype(int)]
                      - np.sort(out.ravel())).mean()
    assert distance < 0.03, f"histogrammes trop différents ({distance:.3f})"
    # Autocorrélation locale : proche de celle de l'exemple, loin de celle d'un bruit de même histogramme.
    shuffled = np.random.default_rng(0).permutation(out.ravel()).reshape(out.shape)
    gap = np.abs(autocorrelation(out) - autocorrelation(source)).mean()
    gap_shuffled = np.abs(autocorrelation(shuffled) - autocorrelation(source)).mean()
    assert gap < 0.08 and gap < gap_shuffled / 2, (gap, gap_shuffled)


def test_every_synthesized_pixel_is_copied_from_the_sample():
    sample = data.texture("wood", size=24)
    result, order = efros_leung.synthesize(sample, (20, 26), window=7, seed=0, progress=False, return_order=True)
    assert result.shape == (3, 20, 26) and result.dtype == sample.dtype and result.device == sample.device
    colours = {tuple(c) for c in sample.reshape(3, -1).t().tolist()}
    assert all(tuple(c) in colours for c in result.reshape(3, -1).t().tolist())
    assert order.shape == (20, 26) and int(order.min()) >= 0
    assert int((order == 0).sum()) == 9                # le germe 3x3
    batch = efros_leung.synthesize(sample[None], 12, window=7, seed=0, progress=False)
    assert batch.shape == (1, 3, 12, 12)


def test_seed_makes_synthesis_reproducible():
    sample = data.texture("brick", size=24)
    a = efros_leung.synthesize(sample, 20, window=7, seed=3, progress=False)
    b = efros_leung.synthesize(sample, 20, window=7, seed=3, progress=False)
    c = efros_leung.synthesize(sample, 20, window=7, seed=4, progress=False)
    assert torch.equal(a, b) and not torch.equal(a, c)
    torch.manual_seed(0)
    d = efros_leung.synthesize(sample, 20, window=7, progress=False)
    torch.manual_seed(0)
    assert torch.equal(d, efros_leung.synthesize(sample, 20, window=7, progress=False))


def test_fill_keeps_known_pixels_and_copies_the_hole_from_known_windows():
    photo = data.photo("coffee", size=32)[:, :32, :32]
    hole = torch.zeros(32, 32, dtype=torch.bool)
    hole[12:20, 10:18] = True
    filled, order = efros_leung.fill(photo, hole, window=7, seed=0, progress=False, return_order=True)
    assert torch.equal(filled[:, ~hole], photo[:, ~hole])
    known = {tuple(c) for c in photo[:, ~hole].t().tolist()}
    assert all(tuple(c) in known for c in filled[:, hole].t().tolist())
    assert int(order[hole].min()) >= 1 and int(order[~hole].max()) == 0
    batch = efros_leung.fill(photo[None], hole[None, None], window=7, seed=0, progress=False)
    assert batch.shape == (1, 3, 32, 32)
    other = efros_leung.fill(photo, hole, window=5, seed=0, sample=data.texture("wood", size=16), progress=False)
    assert torch.equal(other[:, ~hole], photo[:, ~hole])


# --------------------------------------------------------------------------- erreurs en français

def test_bad_arguments_raise_french_errors():
    sample = data.texture("gravel", size=16)
    with pytest.raises(ValueError, match="impair"):
        efros_leung.synthesize(sample, 20, window=10, progress=False)
    with pytest.raises(ValueError, match="plus grande que l'exemple"):
        efros_leung.synthesize(sample, 20, window=17, progress=False)
    with pytest.raises(ValueError, match="impair supérieur ou égal à 3"):
        efros_leung.synthesize(sample, 20, window=1, progress=False)
    with pytest.raises(ValueError, match="au moins 3x3"):
        efros_leung.synthesize(sample, 2, window=5, progress=False)
    with pytest.raises(ValueError, match="une seule image"):
        efros_leung.synthesize(torch.rand(2, 1, 16, 16), 20, window=5, progress=False)
    with pytest.raises(ValueError, match=r"dans \[0, 1\]"):
        efros_leung.synthesize(sample * 2, 20, window=5, progress=False)
    with pytest.raises(TypeError, match="entier"):
        efros_leung.synthesize(sample, 20, window=5.0, progress=False)
    image = data.photo("coffee", size=24)
    with pytest.raises(ValueError, match="aucun trou"):
        efros_leung.fill(image, torch.zeros(24, image.shape[-1], dtype=torch.bool), window=5, progress=False)
    with pytest.raises(ValueError, match="couvre toute l'image"):
        efros_leung.fill(image, torch.ones(24, image.shape[-1], dtype=torch.bool), window=5, progress=False)
    with pytest.raises(ValueError, match="taille des images"):
        efros_leung.fill(image, torch.ones(5, 5, dtype=torch.bool), window=5, progress=False)
    hole = torch.zeros(24, image.shape[-1], dtype=torch.bool)
    hole[::4] = True
    with pytest.raises(ValueError, match="entièrement connue"):
        efros_leung.fill(image, hole, window=7, progress=False)
    with pytest.raises(ValueError, match="impair"):
        efros_leung.fill(image, hole, window=4, progress=False)
