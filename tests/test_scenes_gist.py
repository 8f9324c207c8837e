"""Le gist (course_lib.scenes.gist) comparé à des références indépendantes.

- LMgist : une transcription NumPy directe, image par image et filtre par filtre, des fonctions MATLAB
  d'Oliva et Torralba (``createGabor.m``, ``prefilt.m``, ``gistGabor.m``, ``downN``) ;
- LEAR : la sortie du programme C ``compute_gist`` 1.2 (voir ``tests/data/README.md``) et une
  transcription NumPy de ``gist.c`` (boucles de l'original, transformées ``fftwf_plan_dft_2d(width, height)``).
"""

import importlib
from pathlib import Path

import numpy as np
import pytest
import torch

from course_lib import data, images

G = importlib.import_module("course_lib.scenes.gist")  # le module (course_lib.scenes.gist est la fonction)

DATA = Path(__file__).resolve().parent / "data"


# --------------------------------------------------------------------------- transcription NumPy de LMgist

def np_create_gabor(orientations, n):
    """createGabor.m, ligne à ligne (n = [nrows ncols])."""
    params = []
    for i, o in enumerate(orientations, start=1):
        for j in range(1, o + 1):
            params.append([.35, .3 / (1.85 ** (i - 1)), 16 * o**2 / 32**2, np.pi / o * (j - 1)])
    fx, fy = np.meshgrid(np.arange(-n[1] / 2, n[1] / 2), np.arange(-n[0] / 2, n[0] / 2))
    fr = np.fft.fftshift(np.sqrt(fx**2 + fy**2))
    t = np.fft.fftshift(np.angle(fx + 1j * fy))
    G = np.zeros((n[0], n[1], len(params)))
    for i, p in enumerate(params):
        tr = t + p[3]
        tr = tr + 2 * np.pi * (tr < -np.pi) - 2 * np.pi * (tr > np.pi)
        G[:, :, i] = np.exp(-10 * p[0] * (fr / n[1] / p[1] - 1) ** 2 - 2 * p[2] * np.pi * tr**2)
    return G


def np_prefilt(img, fc=4):
    """prefilt.m pour une image grise (valeurs 0..255)."""
    w = 5
    s1 = fc / np.sqrt(np.log(2))
    img = np.log(img + 1)
    img = np.pad(img, w, mode="symmetric")
    sn, sm = img.shape
    n = max(sn, sm)
    n = n + n % 2
    img = np.pad(img, ((0, n - sn), (0, n - sm)), mode="symmetric")
    fx, fy = np.meshgrid(np.arange(-n / 2, n / 2), np.arange(-n / 2, n / 2))
    gf = np.fft.fftshift(np.exp(-(fx**2 + fy**2) / (s1**2)))
    output = img - np.real(np.fft.ifft2(np.fft.fft2(img) * gf))
    localstd = np.sqrt(np.abs(np.fft.ifft2(np.fft.fft2(output**2) * gf)))
    output = output / (.2 + localstd)
    return output[w:sn - w, w:sm - w]


def np_downN(x, N):
    nx = np.fix(np.linspace(0, x.shape[0], N + 1)).astype(int)
    ny = np.fix(np.linspace(0, x.shape[1], N + 1)).astype(int)
    y = np.zeros((N, N))
    for xx in range(N):
        for yy in range(N):
            y[xx, yy] = x[nx[xx]:nx[xx + 1], ny[yy]:ny[yy + 1]].mean()
    return y


def np_lmgist(img, orientations=(8, 8, 8, 8), be=32, w=4):
    """LMgist.m sur une image grise déjà à la bonne taille (après imresizecrop)."""
    img = img - img.min()
    img = 255 * img / max(1, img.max())
    output = np_prefilt(img)
    ny, nx = output.shape[0] + 2 * be, output.shape[1] + 2 * be
    G = np_create_gabor(orientations, (ny, nx))
    padded = np.fft.fft2(np.pad(output, be, mode="symmetric"))
    g = []
    for n in range(G.shape[2]):
        ig = np.abs(np.fft.ifft2(padded * G[:, :, n]))[be:ny - be, be:nx - be]
        g.append(np_downN(ig, w).reshape(-1, order="F"))   # reshape MATLAB (colonne par colonne)
    return np.concatenate(g)


# --------------------------------------------------------------------------- transcription NumPy de LEAR

def np_lear_fft(x, inverse=False):
    """fftwf_plan_dft_2d(width, height, ...) sur un tampon rangé ligne par ligne."""
    h, w = x.shape
    buffer = x.reshape(w, h)
    out = np.fft.ifft2(buffer) * (w * h) if inverse else np.fft.fft2(buffer)
    return out.reshape(h, w)


def np_lear_gist(rgb, orientations=(8, 8, 4), nblocks=4):
    """color_gist_scaletab de gist.c, rgb (H,W,3) en 0..255."""
    h, w = rgb.shape[:2]
    # create_gabor(width, height)
    fx = np.arange(w)[None, :] - w / 2.0 + 0 * np.arange(h)[:, None]
    fy = np.arange(h)[:, None] - h / 2.0 + 0 * np.arange(w)[None, :]
    fr = np.fft.fftshift(np.sqrt(fx**2 + fy**2))
    f = np.fft.fftshift(np.arctan2(fy, fx))
    filters = []
    for i, o in enumerate(orientations, start=1):
        for j in range(1, o + 1):
            p = (0.35, 0.3 / 1.85 ** (i - 1), 16 * o**2 / 32**2, np.pi / o * (j - 1))
            tmp = f + p[3]
            tmp = np.where(tmp < -np.pi, tmp + 2 * np.pi, np.where(tmp > np.pi, tmp - 2 * np.pi, tmp))
            filters.append(np.exp(-10 * p[0] * (fr / h / p[1] - 1) * (fr / w / p[1] - 1)
                                  - 2 * p[2] * np.pi * tmp**2))
    # color_prefilt(img, 4)
    img = np.log(rgb.astype(np.float64) + 1)
    pad = np.pad(img, ((5, 5), (5, 5), (0, 0)), mode="symmetric")
    ph, pw = pad.shape[:2]
    s1 = 4 / np.sqrt(np.log(2))
    gx = np.arange(pw)[None, :] - pw / 2.0
    gy = np.arange(ph)[:, None] - ph / 2.0
    gfc = np.fft.fftshift(np.exp(-(gx**2 + gy**2) / (s1 * s1)))
    for c in range(3):
        pad[..., c] -= np.real(np_lear_fft(np_lear_fft(pad[..., c]) * gfc, inverse=True)) / (pw * ph)
    mean = pad.mean(axis=2)
    val = np.sqrt(np.abs(np_lear_fft(np_lear_fft(mean * mean) * gfc, inverse=True)) / (pw * ph))
    pad = pad / (0.2 + val[..., None])
    img = pad[5:5 + h, 5:5 + w]
    # color_gist_gabor(img, nblocks, G)
    nx = [i * w // nblocks for i in range(nblocks + 1)]
    ny = [i * h // nblocks for i in range(nblocks + 1)]
    res = np.zeros(3 * len(filters) * nblocks * nblocks)
    for c in range(3):
        spectrum = np_lear_fft(img[..., c])
        for k, g in enumerate(filters):
            out = np.abs(np_lear_fft(spectrum * g, inverse=True)) / (w * h)
            for l in range(nblocks):
                for kk in range(nblocks):
                    block = out[ny[l]:ny[l + 1], nx[kk]:nx[kk + 1]]
                    res[c * len(filters) * nblocks**2 + k * nblocks**2 + kk * nblocks + l] = block.mean()
    return res


def _photo_uint8(name, window=None):
    array = data.PHOTOS[name][0]()
    if window is not None:
        array = array[window]
    return np.ascontiguousarray(array[..., :3])


# --------------------------------------------------------------------------- tests LMgist

def test_gabor_transfer_matches_create_gabor_transcription():
    ours = G.gabor_transfer((8, 8, 8, 8), (96, 96), dtype=torch.float64).numpy()
    ref = np_create_gabor((8, 8, 8, 8), (96, 96)).transpose(2, 0, 1)
    np.testing.assert_allclose(ours, ref, atol=1e-12)
    # taille non carrée : n(2) = nombre de colonnes, comme createGabor.m
    ours = G.gabor_transfer((6, 4), (40, 72), dtype=torch.float64).numpy()
    np.testing.assert_allclose(ours, np_create_gabor((6, 4), (40, 72)).transpose(2, 0, 1), atol=1e-12)


def test_gabor_orientation_convention_peaks_where_expected():
    # le filtre d'orientation θ_j répond le plus à l'angle de fréquence atan2(fy, fx) = -θ_j
    bank = G.gabor_transfer((4,), (64, 64), dtype=torch.float64)
    centred = torch.fft.fftshift(bank, dim=(-2, -1))
    for j in range(4):
        row, col = divmod(int(centred[j].argmax()), 64)
        angle = np.arctan2(row - 32, col - 32)
        expected = -np.pi / 4 * j
        assert abs(np.angle(np.exp(1j * (angle - expected)))) < 0.2, (j, angle)


def test_lmgist_matches_numpy_transcription():
    # L'objectif du cours : 1e-5 au plus d'écart avec LMgist, sur des photos et des paysages procéduraux.
    batch = torch.cat([torch.stack([images.resize_crop(data.photo(n), 256) for n in ("china", "coffee")]),
                       data.synthetic_scenes(2, size=256, seed=4)])
    ours = G.gist(batch, "lmgist").double().numpy()
    assert ours.shape == (4, 512)
    for image, descriptor in zip(batch, ours):
        gray = image.mean(dim=0).double().numpy() * 255
        assert np.abs(descriptor - np_lmgist(gray)).max() <= 1e-5


def _full_spectrum_energy(x, bank, be, n_blocks=4):
    """Énergies par blocs calculées sur le spectre entier (NumPy, filtre par filtre) : la référence des bandes."""
    spectrum = np.fft.fft2(x)
    out = []
    for g in bank:
        z = np.abs(np.fft.ifft2(spectrum * g))[be:x.shape[0] - be, be:x.shape[1] - be]
        out.append(np_downN(z, n_blocks))
    return np.stack(out)


@pytest.mark.parametrize("orientations, size, be", [((8, 8, 8, 8), 160, 32), ((6, 6, 6), (72, 96), 8),
                                                    ((8, 8, 4), (64, 64), 0)])
def test_gabor_bands_stay_within_their_written_error_bound(orientations, size, be):
    height, width = (size, size) if isinstance(size, int) else size
    bands = G.gabor_bands(orientations, (height, width), dtype=torch.float64)
    # chaque filtre est dans un seul groupe, et hors de sa fenêtre son transfert est sous le seuil
    filters = sorted(k for band in bands for k in band.filters)
    assert filters == list(range(sum(orientations)))
    bank = G.gabor_transfer(orientations, (height, width), dtype=torch.float64)
    for band in bands:
        assert band.tail <= G.SPECTRUM_TOLERANCE
        windows = band.index.view(len(band.filters), band.width)
        for k, window in zip(band.filters, windows):
            outside = torch.ones(height if band.axis == -2 else width, dtype=torch.bool)
            outside[window] = False
            profile = bank[k].amax(dim=0 if band.axis == -1 else 1)
            assert float(profile[outside].numpy().max(initial=0.0)) <= band.tail
    assert sum(band.width * len(band.filters) for band in bands) < sum(orientations) * max(height, width)
    # l'écart au calcul sur le spectre entier respecte la borne tau * ||x||_2 (en float64) ; sur CPU,
    # chaque filtre garde sa largeur exacte (step=1), des fenêtres plus étroites sous le même seuil
    exact_widths = G.gabor_bands(orientations, (height, width), step=1, dtype=torch.float64)
    assert max(band.tail for band in exact_widths) <= G.SPECTRUM_TOLERANCE
    assert sum(b.width * len(b.filters) for b in exact_widths) <= sum(b.width * len(b.filters) for b in bands)
    preset = G.GistPreset("essai", tuple(orientations), image_size=None, boundary=be)
    x = torch.from_numpy(np.random.default_rng(0).normal(0, 1, (2, 1, height - 2 * be, width - 2 * be)))
    ours = G._gabor_energy(x, preset)[:, 0].numpy()
    padded = G.symmetric_pad(x, be)[:, 0].numpy()
    for image, energy in zip(padded, ours):
        reference = _full_spectrum_energy(image, bank.numpy(), be)
        bound = max(band.tail for band in exact_widths) * np.linalg.norm(image)
        assert np.abs(energy - reference).max() <= bound + 1e-12
    # sans seuil, les bandes couvrent tout le spectre et le calcul est celui du spectre entier
    exact = G._gabor_energy(x, preset, tolerance=0.0)[:, 0].numpy()
    np.testing.assert_allclose(exact[0], _full_spectrum_energy(padded[0], bank.numpy(), be), atol=1e-12)


def test_hays_efros_gist_part_matches_transcription_and_colour_thumbnail():
    image = images.resize_crop(data.photo("coffee"), 128)
    ours = G.gist(image, "hays_efros").double().numpy()
    assert ours.shape == (528,) == (G.gist_size("hays_efros"),)
    gray = image.mean(dim=0).double().numpy() * 255
    np.testing.assert_allclose(ours[:480], np_lmgist(gray, orientations=(6,) * 5), rtol=2e-4, atol=2e-5)
    import skimage.color

    lab = skimage.color.rgb2lab(image.permute(1, 2, 0).double().numpy()) / 100
    thumb = np.stack([np_downN(lab[..., c], 4).reshape(-1, order="F") for c in range(3)]).reshape(-1)
    np.testing.assert_allclose(ours[480:], thumb * G.COLOR_SCALE, atol=1e-5)
    heavier = G.gist(image, "hays_efros", color_weight=1.0).double().numpy()
    np.testing.assert_allclose(heavier[:480], ours[:480], atol=1e-7)
    np.testing.assert_allclose(heavier[480:], thumb, atol=1e-5)
    with pytest.raises(ValueError, match="color_weight"):
        G.gist(image, "hays_efros", color_weight=-1.0)


def test_lmgist_resizes_and_crops_like_imresizecrop():
    photo = data.photo("rocket")          # 427 x 640
    direct = G.gist(photo, "lmgist")
    prepared = G.gist(images.resize_crop(photo, 256), "lmgist")
    torch.testing.assert_close(direct, prepared, atol=1e-5, rtol=1e-4)


# --------------------------------------------------------------------------- tests LEAR

@pytest.mark.parametrize("label, name, window", [
    ("china", "china", None),
    ("coffee_crop", "coffee", (slice(100, 201), slice(200, 277))),
])
def test_lear_matches_compute_gist_output(label, name, window):
    rgb = _photo_uint8(name, window)
    expected = np.array([float(v) for v in (DATA / f"lear_gist_{label}.txt").read_text().split()])
    ours = G.gist(images.to_tensor(rgb), "lear").double().numpy()
    assert ours.shape == expected.shape == (960,)
    assert np.abs(ours - expected).max() <= 2e-4   # le programme C imprime 4 décimales


def test_lear_matches_numpy_transcription_of_gist_c():
    rgb = _photo_uint8("astronaut", (slice(40, 93), slice(100, 170)))   # 53 x 70, non carré, impair
    ours = G.gist(images.to_tensor(rgb), "lear").double().numpy()
    np.testing.assert_allclose(ours, np_lear_gist(rgb), rtol=1e-4, atol=1e-6)


def test_lear_gray_image_is_replicated_in_three_channels():
    gray = data.photo("camera", size=64, gray=True)
    torch.testing.assert_close(G.gist(gray, "lear"), G.gist(gray.expand(3, -1, -1), "lear"))


# --------------------------------------------------------------------------- lots, appareil, erreurs

@pytest.mark.parametrize("preset", ["lmgist", "lear", "hays_efros"])
def test_gist_is_batch_invariant(preset, monkeypatch):
    batch = data.synthetic_scenes(3, size=(48, 64), seed=2)
    together = G.gist(batch, preset, **({} if preset == "lear" else {"image_size": 48}))
    monkeypatch.setattr(G, "CPU_PIXELS_PER_STEP", 1)          # une image par morceau sur CPU
    torch.testing.assert_close(G.gist(batch, preset, **({} if preset == "lear" else {"image_size": 48})),
                               together, atol=1e-6, rtol=1e-5)
    alone = torch.stack([G.gist(img, preset, **({} if preset == "lear" else {"image_size": 48}))
                         for img in batch])
    assert together.shape == (3, G.get_preset(preset).dim)
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("preset, size", [("lmgist", 64), ("lear", 40)])
def test_per_filter_and_grouped_paths_agree(preset, size, monkeypatch):
    # le calcul filtre par filtre (CPU) et par groupes (GPU) donnent la même énergie, sur 5 images
    # (ici par morceaux de deux images, le dernier incomplet) et avec les tampons partagés entre les appels
    p = G.get_preset(preset, None if preset == "lear" else size)
    monkeypatch.setattr(G, "CPU_PIXELS_PER_STEP", 2 * (size + 2 * p.boundary) ** 2)
    images = data.synthetic_scenes(5, size=size, seed=4)
    x = G.prefilter(G._prepare(images, p), p.fc, style=p.style)
    work: dict = {}
    per_filter = G._gabor_energy(x, p, per_filter=True, work=work)
    again = G._gabor_energy(x[:3], p, per_filter=True, work=work)
    grouped = G._gabor_energy(x, p, per_filter=False)
    torch.testing.assert_close(per_filter, grouped, atol=2e-6, rtol=1e-5)
    torch.testing.assert_close(again, per_filter[:3], atol=1e-7, rtol=1e-6)


def test_gist_stays_on_device_and_is_device_invariant():
    # Sur une machine avec CUDA (ou MPS), le même gist est calculé sur le GPU et comparé au CPU.
    batch = data.synthetic_scenes(2, size=32)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        devices.append("mps")
    for preset in ("hays_efros", "lear"):
        kwargs = {} if preset == "lear" else {"image_size": 32}
        results = [G.gist(batch.to(d), preset, **kwargs) for d in devices]
        for d, result in zip(devices, results):
            assert result.device.type == d and result.dtype == torch.float32
            torch.testing.assert_close(result.cpu(), results[0].cpu(), atol=1e-4, rtol=1e-3)
    # un lot en float64 donne le même gist (float32) que le même lot en float32
    torch.testing.assert_close(G.gist(batch.double(), "lmgist", image_size=32),
                               G.gist(batch, "lmgist", image_size=32), atol=1e-5, rtol=1e-4)


def test_symmetric_pad_matches_numpy():
    x = torch.arange(12.0).view(1, 1, 3, 4)
    ours = G.symmetric_pad(x, 2, 5, 7, 1)[0, 0].numpy()
    np.testing.assert_array_equal(ours, np.pad(x[0, 0].numpy(), ((2, 5), (7, 1)), mode="symmetric"))


def test_block_average_matches_downN():
    x = torch.rand(2, 3, 37, 50, dtype=torch.float64)
    ours = G.block_average(x, 4)
    ref = np.stack([[np_downN(x[b, c].numpy(), 4) for c in range(3)] for b in range(2)])
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-12)


def test_gist_errors_are_in_french():
    with pytest.raises(ValueError, match="preset"):
        G.gist(torch.rand(3, 32, 32), "inconnu")
    with pytest.raises(ValueError, match="au moins 8 pixels"):
        G.gist(torch.rand(3, 5, 32), "lear")
    with pytest.raises(ValueError, match="canaux"):
        G.gist(torch.rand(1, 32, 32), "hays_efros")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        G.gist(torch.rand(3, 32, 32) * 255, "lmgist")
    with pytest.raises(ValueError, match="image_size"):
        G.get_preset("lear", image_size=64)
    with pytest.raises(TypeError, match="orientations"):
        G.gabor_transfer(8, 32)
    with pytest.raises(TypeError, match="tenseur"):
        G.gist(np.zeros((32, 32, 3)), "lmgist")


def test_gist_counts_about_twice_the_colour_between_random_scenes():
    # Hays et Efros (§3) : « the gist contributes roughly twice as much as the color ».
    names = ("china", "coffee", "chelsea", "rocket", "astronaut", "flower", "motorcycle", "grace_hopper")
    batch = torch.cat([data.synthetic_scenes(60, size=128, seed=3),
                       torch.stack([images.resize_crop(data.photo(n), 128) for n in names])])
    g = G.gist(batch, "hays_efros").double()
    gist_part, colour = g[:, :480], g[:, 480:]
    off = ~torch.eye(len(batch), dtype=torch.bool)
    ratio = (torch.cdist(gist_part, gist_part) ** 2)[off].mean() / (torch.cdist(colour, colour) ** 2)[off].mean()
    assert 1.5 < float(ratio) < 3.0, float(ratio)


def test_gist_on_several_cpu_threads_matches_one_thread_and_restores_the_setting():
    # Sur CPU, chaque fil calcule une part du lot sur un seul cœur ; le réglage de torch est rétabli.
    batch = data.synthetic_scenes(5, size=48, seed=3)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    one = G.gist(batch, "hays_efros", image_size=32)
    torch.set_num_threads(2)
    try:
        two = G.gist(batch, "hays_efros", image_size=32)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    torch.testing.assert_close(two, one, atol=1e-6, rtol=1e-5)
