"""Appariement local, couture par coupe de graphe, diffusion et complete() de bout en bout."""

import itertools

import cv2
import numpy as np
import pytest
import scipy.ndimage
import torch

from course_lib import data, images
from course_lib.scenes import context as C
from course_lib.scenes import seams as S
from course_lib.scenes.completion import complete
from course_lib.scenes.diffusion import diffusion_inpaint
from course_lib.scenes.index import SceneIndex


def rect_mask(h, w, top, bottom, left, right):
    mask = torch.zeros(h, w, dtype=torch.bool)
    mask[top:bottom, left:right] = True
    return mask


# --------------------------------------------------------------------------- appariement local

def test_context_band_is_the_ring_within_band_pixels_of_the_hole():
    mask = rect_mask(30, 40, 10, 18, 12, 25)
    band = C.context_band(mask, 5).numpy()
    distance = scipy.ndimage.distance_transform_edt(~mask.numpy())
    np.testing.assert_array_equal(band, (distance > 0) & (distance <= 5))


def test_median_filter_matches_scipy():
    x = torch.rand(2, 3, 17, 21, dtype=torch.float64)
    ours = C.median_filter(x, 5).numpy()
    ref = scipy.ndimage.median_filter(x.numpy(), size=(1, 1, 5, 5), mode="mirror")
    np.testing.assert_allclose(ours, ref)


def brute_force_costs(query, mask, scene, band, scale):
    """SSD (L*a*b* et texture) de chaque placement, par des boucles Python : (ctx, tex) de formes (n_y, n_x)."""
    H, W = query.shape[-2:]
    ring = C.context_band(mask, band)
    region = (ring | mask).numpy()
    ys, xs = np.nonzero(region)
    top, bottom, left, right = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    hs, ws = round(scale * H), round(scale * W)
    scaled = scene if (hs, ws) == (H, W) else images.resize(scene, (hs, ws)).clamp(0, 1)
    q = torch.cat([images.rgb_to_lab(query), C.texture_map(query[None])[0]]).double().numpy()
    s = torch.cat([images.rgb_to_lab(scaled), C.texture_map(scaled[None])[0]]).double().numpy()
    w = ring.numpy()[top:bottom, left:right]
    qb = q[:, top:bottom, left:right]
    bh, bw = bottom - top, right - left
    ctx = np.zeros((hs - bh + 1, ws - bw + 1))
    tex = np.zeros_like(ctx)
    for ty, tx in itertools.product(range(hs - bh + 1), range(ws - bw + 1)):
        diff = (qb - s[:, ty:ty + bh, tx:tx + bw]) ** 2 * w
        ctx[ty, tx] = diff[:3].sum() / w.sum()
        tex[ty, tx] = diff[3].sum() / w.sum()
    return ctx, tex, (top, left)


def test_match_context_equals_brute_force_over_translations_and_scales():
    query = data.synthetic_scenes(1, size=24, start=11)[0]
    mask = rect_mask(24, 24, 9, 14, 8, 13)
    scenes = data.synthetic_scenes(3, size=24, start=30)
    match = C.match_context(query, mask, scenes, band=3, texture_weight=0.5)
    for k in range(3):
        best = (np.inf, None)
        for scale in C.SCALES:
            ctx, tex, _ = brute_force_costs(query, mask, scenes[k], 3, scale)
            total = ctx + 0.5 * tex
            where = np.unravel_index(np.argmin(total), total.shape)
            if total[where] < best[0]:
                best = (total[where], (scale, where, ctx[where], tex[where]))
        scale, where, ctx_value, tex_value = best[1]
        assert float(match.scale[k]) == pytest.approx(scale)
        assert tuple(match.offset[k].tolist()) == tuple(int(v) for v in where)
        assert float(match.context_cost[k]) == pytest.approx(ctx_value, rel=1e-3, abs=1e-3)
        assert float(match.texture_cost[k]) == pytest.approx(tex_value, rel=1e-3, abs=1e-4)


def test_match_context_recovers_a_shifted_copy_of_the_scene():
    big = data.synthetic_scenes(1, size=48, start=4)[0]
    query = big[:, 6:38, 9:41].contiguous()              # la requête : une fenêtre de la scène
    mask = rect_mask(32, 32, 12, 20, 12, 22)
    scenes = torch.stack([data.synthetic_scenes(1, size=32, start=50)[0], big[:, 2:34, 4:36]])
    match = C.match_context(query, mask, scenes, band=4, scales=(1.0,))
    top, _, left, _ = match.box
    assert tuple(match.offset[1].tolist()) == (top + 4, left + 5)
    assert float(match.context_cost[1]) < 1e-2 < float(match.context_cost[0])   # float32 : L*a*b*² ~ 1e4
    aligned = match.aligned[1]
    covered = match.coverage[1, 0]
    torch.testing.assert_close(aligned[:, covered], query[:, covered], atol=1e-6, rtol=0)


def test_match_context_errors():
    query = torch.rand(3, 24, 24)
    with pytest.raises(ValueError, match="vide"):
        C.match_context(query, torch.zeros(24, 24, dtype=torch.bool), torch.rand(2, 3, 24, 24))
    with pytest.raises(ValueError, match="toute l'image"):
        C.match_context(query, torch.ones(24, 24, dtype=torch.bool), torch.rand(2, 3, 24, 24))
    with pytest.raises(ValueError, match="taille de la requête"):
        C.match_context(query, rect_mask(24, 24, 5, 9, 5, 9), torch.rand(2, 3, 20, 24))
    with pytest.raises(ValueError, match="ne tiennent dans aucune"):
        C.match_context(query, rect_mask(24, 24, 2, 22, 2, 22), torch.rand(2, 3, 24, 24), band=2, scales=(0.81,))


# --------------------------------------------------------------------------- coupe de graphe

def energy(labels, cost, hole, free, dist, k):
    """L'énergie de Hays et Efros pour un étiquetage (True = scène), calculée directement."""
    if (hole & ~labels).any() or (labels & ~(hole | free)).any():
        return np.inf
    unary = ((k * dist) ** 3 * (labels & free)).sum()
    pair = (cost[:, :-1] + cost[:, 1:])[labels[:, :-1] != labels[:, 1:]].sum()
    pair += (cost[:-1] + cost[1:])[labels[:-1] != labels[1:]].sum()
    return unary + pair


def test_graph_cut_finds_the_minimum_energy_labelling():
    rng = np.random.default_rng(0)
    image = torch.from_numpy(rng.random((3, 5, 7)))
    scene = torch.from_numpy(rng.random((3, 5, 7)))
    mask = rect_mask(5, 7, 2, 3, 3, 4)
    k = 0.3          # une pénalité forte, pour qu'elle compte sur une si petite image
    seam = S.graph_cut_seam(image, scene, mask, band=1.5, k=k)
    cost = S.seam_costs(image, scene).numpy()
    dist = C.hole_distance(mask).double().numpy()
    hole = mask.numpy()
    free = (dist > 0) & (dist <= 1.5)
    free_pixels = np.argwhere(free)
    best = np.inf
    for bits in itertools.product([False, True], repeat=len(free_pixels)):
        labels = hole.copy()
        for (y, x), bit in zip(free_pixels, bits):
            labels[y, x] = bit
        best = min(best, energy(labels, cost, hole, free, dist, k))
    assert seam.cost == pytest.approx(best, rel=1e-9)
    assert energy(seam.region.numpy(), cost, hole, free, dist, k) == pytest.approx(best, rel=1e-9)


def test_identical_images_cut_exactly_around_the_hole():
    image = data.synthetic_scenes(1, size=32, start=2)[0]
    mask = rect_mask(32, 32, 10, 20, 8, 18)
    seam = S.graph_cut_seam(image, image.clone(), mask, band=6)
    torch.testing.assert_close(seam.region, mask)
    assert seam.cost == pytest.approx(0.0, abs=1e-12)
    assert bool((seam.seam <= seam.region).all()) and int(seam.seam.sum()) == 2 * (10 + 10) - 4


def test_seam_prefers_where_images_agree():
    # la scène diffère de l'image partout sauf dans une bande horizontale uniforme autour du trou
    image = torch.zeros(3, 30, 30)
    scene = torch.rand(3, 30, 30, generator=torch.Generator().manual_seed(0))
    scene[:, 8:22, 8:22] = 0.0                     # accord parfait près du trou
    mask = rect_mask(30, 30, 12, 18, 12, 18)
    seam = S.graph_cut_seam(image, scene, mask, band=6, k=0.0)
    assert bool(seam.region[12:18, 12:18].all())
    assert not bool(seam.region[:6].any())        # loin du trou : jamais dans la région


def test_graph_cut_errors():
    image = torch.rand(3, 16, 16)
    with pytest.raises(ValueError, match="même taille"):
        S.graph_cut_seam(image, torch.rand(3, 16, 15), rect_mask(16, 16, 4, 8, 4, 8))
    with pytest.raises(ValueError, match="ne couvre pas tout le trou"):
        S.graph_cut_seam(image, image, rect_mask(16, 16, 4, 8, 4, 8),
                         coverage=torch.zeros(16, 16, dtype=torch.bool))


# --------------------------------------------------------------------------- diffusion

def test_diffusion_inpaint_is_opencv_and_keeps_known_pixels():
    image = data.photo("astronaut", size=48)
    mask = rect_mask(48, 48, 20, 28, 15, 30)
    filled = diffusion_inpaint(image, mask, radius=3, method="telea")
    array = images.to_numpy(image, dtype="uint8")
    expected = cv2.inpaint(array, mask.numpy().astype(np.uint8) * 255, 3.0, cv2.INPAINT_TELEA)
    np.testing.assert_allclose(filled.permute(1, 2, 0).numpy()[mask.numpy()],
                               expected[mask.numpy()] / 255.0, atol=1e-6)
    torch.testing.assert_close(filled[:, ~mask], image[:, ~mask])
    batch = diffusion_inpaint(torch.stack([image, image]), mask, method="ns")
    assert batch.shape == (2, 3, 48, 48)
    with pytest.raises(ValueError, match="vide"):
        diffusion_inpaint(image, torch.zeros(48, 48, dtype=torch.bool))
    with pytest.raises(ValueError, match="toute l'image"):
        diffusion_inpaint(image, torch.ones(48, 48, dtype=torch.bool))


# --------------------------------------------------------------------------- complete()

@pytest.fixture(scope="module")
def scene_index():
    return SceneIndex(image_size=32, device="cpu").add_synthetic(60, size=32, progress=False)


def test_complete_returns_ranked_composites_with_their_terms(scene_index):
    query = data.synthetic_scenes(1, size=40, start=700)[0]
    mask = rect_mask(40, 40, 16, 26, 12, 26)
    result = complete(query, mask, scene_index, k=12, n_results=5, band=5, progress=False)
    assert result.composites.shape == (5, 3, 40, 40) and result.regions.shape == (5, 1, 40, 40)
    assert bool((result.scores[1:] >= result.scores[:-1]).all())
    assert set(result.terms) == {"scene", "context", "texture", "cut"}
    assert all(v.shape == (5,) for v in result.terms.values())
    assert bool(result.regions[:, 0, mask].all())                          # le trou vient de la scène
    # hors du rectangle du mélange (trou + bande, agrandi d'un pixel) : l'image d'origine, intacte
    near = C.hole_distance(mask) <= 5
    rows, cols = torch.nonzero(near.any(1)).flatten(), torch.nonzero(near.any(0)).flatten()
    far = torch.ones(40, 40, dtype=torch.bool)
    far[int(rows[0]) - 1:int(rows[-1]) + 2, int(cols[0]) - 1:int(cols[-1]) + 2] = False
    torch.testing.assert_close(result.composites[:, :, far], query[:, far].expand(5, -1, -1))
    assert float(result.composites.min()) >= 0 and float(result.composites.max()) <= 1
    # le score est la somme des termes divisés par leur médiane sur les k candidats
    medians = {name: value.median() for name, value in result.all_terms.items()}
    expected = sum(result.terms[name] / medians[name] for name in medians)
    torch.testing.assert_close(result.scores, expected)
    assert set(result.scene_indices.tolist()) <= set(result.search.indices.tolist())


def count_full_checks(monkeypatch):
    """Compte les vérifications complètes (une passe sur les données : valeurs finies, plage)."""
    from course_lib import validation

    calls = []
    check_values = validation.check_values

    def counting(value, name, value_range=None):
        calls.append((name, tuple(value.shape)))
        return check_values(value, name, value_range)

    monkeypatch.setattr(validation, "check_values", counting)
    return calls


def test_complete_validates_the_image_once(scene_index, monkeypatch):
    # Des vérifications en couches : complete() vérifie l'image une fois, puis ses étapes (appariement
    # local, coupes de graphe, mélange) ne relisent plus les images. Seule la recherche dans l'index (une
    # autre fonction publique) fait ses propres vérifications ; on les compte à part.
    query = data.synthetic_scenes(1, size=40, start=700)[0]
    mask = rect_mask(40, 40, 16, 26, 12, 26)
    scene_index.search(query, mask, k=12)                 # préparations faites une fois (banc de filtres…)
    calls = count_full_checks(monkeypatch)
    scene_index.search(query, mask, k=12)
    in_search = len(calls)
    calls.clear()
    complete(query, mask, scene_index, k=12, n_results=5, band=5, progress=False)
    assert len(calls) == 1 + in_search, calls
    assert calls[0] == ("image", (1, 3, 40, 40))
    # L'appariement local, appelé seul, vérifie la requête et les scènes, une fois chacune.
    calls.clear()
    C.match_context(query, mask, data.synthetic_scenes(6, size=40), band=5, chunk_size=2)
    assert [name for name, _ in calls] == ["image", "scenes"]


def test_complete_errors_are_in_french(scene_index):
    query = torch.rand(3, 32, 32)
    with pytest.raises(ValueError, match="vide"):
        complete(query, torch.zeros(32, 32, dtype=torch.bool), scene_index, progress=False)
    with pytest.raises(ValueError, match="toute l'image"):
        complete(query, torch.ones(32, 32, dtype=torch.bool), scene_index, progress=False)
    with pytest.raises(ValueError, match="taille de l'image"):
        complete(query, torch.ones(30, 32, dtype=torch.bool), scene_index, progress=False)
    with pytest.raises(TypeError, match="SceneIndex"):
        complete(query, rect_mask(32, 32, 4, 8, 4, 8), "base", progress=False)
