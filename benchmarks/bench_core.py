"""Bancs d'essai du cœur de course_lib : couleur, flou, scènes procédurales."""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from common import Row, peak_memory_mib, timeit

from course_lib import data, filters, images


def _cpu_timeit(fn, repeat: int = 3) -> tuple[float, float]:
    """Temps mural (médiane, après un essai à blanc, comme :func:`common.timeit`) et temps CPU (utilisateur +
    système de ce processus, médiane) de ``fn()``."""
    fn()
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def _row(name, ours, base, label, gap):
    """Une ligne : temps muraux, écart maximal et rapport des temps CPU dans la note."""
    (ours_s, ours_cpu), (base_s, base_cpu) = ours, base
    note = f"écart max {gap:.2g} ; CPU {ours_cpu * 1e3:.0f} / {base_cpu * 1e3:.0f} ms = {base_cpu / ours_cpu:.3g}x"
    return Row("cœur", name, ours_s, base_s, label, note=note)


def benchmarks(quick: bool):
    size, batch = (64, 8) if quick else (256, 64)
    rgb = torch.rand(batch, 3, size, size)

    # RGB -> Lab : tout le lot contre scikit-image image par image, sur des tableaux float64 (la référence de
    # l'accord à 1e-4) puis float32 (le type de nos images ; scikit-image calcule alors en float32).
    import skimage.color

    ours = _cpu_timeit(lambda: images.rgb_to_lab(rgb))
    lab = images.rgb_to_lab(rgb).permute(0, 2, 3, 1).double().numpy()
    for dtype in (np.float64, np.float32):
        arrays = [img.permute(1, 2, 0).numpy().astype(dtype) for img in rgb]
        base = _cpu_timeit(lambda arrays=arrays: [skimage.color.rgb2lab(a) for a in arrays])
        reference = np.stack([skimage.color.rgb2lab(a) for a in arrays]).astype(np.float64)
        yield _row(f"rgb_to_lab, {batch} images {size}x{size}", ours, base,
                   f"skimage.color.rgb2lab, une par une ({np.dtype(dtype).name})", float(np.abs(lab - reference).max()))

    # Flou gaussien séparable contre la convolution 2D directe (la leçon du TP0), puis contre OpenCV.
    sigma = 3.0
    kernel1d = filters.gaussian_kernel1d(sigma)
    kernel2d = torch.outer(kernel1d, kernel1d).expand(3, 1, -1, -1).contiguous()
    r = kernel1d.numel() // 2

    def direct():
        return F.conv2d(F.pad(rgb, (r, r, r, r), mode="reflect"), kernel2d, groups=3)

    ours = _cpu_timeit(lambda: filters.gaussian_blur(rgb, sigma))
    blurred = filters.gaussian_blur(rgb, sigma)
    yield _row(f"gaussian_blur σ=3, {batch} images {size}x{size}", ours, _cpu_timeit(direct),
               "convolution 2D directe (torch)", float((blurred - direct()).abs().max()))
    torch_version = _cpu_timeit(lambda: filters._gaussian_blur(rgb, sigma, backend="torch"))
    yield _row(f"gaussian_blur σ=3, {batch} images {size}x{size}", ours, torch_version,
               "notre version PyTorch (GPU, gradients)",
               float((blurred - filters._gaussian_blur(rgb, sigma, backend="torch")).abs().max()))
    import cv2

    hwc = [np.ascontiguousarray(img.permute(1, 2, 0).numpy()) for img in rgb]

    def opencv():
        return [cv2.GaussianBlur(a, (2 * r + 1,) * 2, sigma, borderType=cv2.BORDER_REFLECT_101) for a in hwc]

    gap = float(np.abs(blurred.permute(0, 2, 3, 1).numpy() - np.stack(opencv())).max())
    yield _row(f"gaussian_blur σ=3, {batch} images {size}x{size}", ours, _cpu_timeit(opencv),
               "cv2.GaussianBlur, une par une", gap)

    # Scènes procédurales : un lot entier contre une scène à la fois.
    n, side = (16, 32) if quick else (128, 128)
    ours = timeit(lambda: data.synthetic_scenes(n, size=side), repeat=1)
    base = timeit(lambda: [data.synthetic_scenes(1, size=side, start=i) for i in range(n)], repeat=1)
    ours_mem = peak_memory_mib(lambda: data.synthetic_scenes(n, size=side))
    base_mem = peak_memory_mib(lambda: [data.synthetic_scenes(1, size=side, start=i) for i in range(n)])
    yield Row("cœur", f"synthetic_scenes, {n} scènes {side}x{side}", ours, base, "une scène à la fois",
              ours_mem, base_mem)


def gpu_checks(profile):
    """Les algorithmes du cœur aux tailles du profil « gpu » (voir benchmarks/gpu_check.py)."""
    side = profile.image_size * 2
    batch = profile.batch_size

    def lab():
        rgb = torch.rand(batch, 3, side, side, device="cuda" if torch.cuda.is_available() else "cpu")
        back = images.lab_to_rgb(images.rgb_to_lab(rgb))
        assert float((back - rgb).abs().max()) < 1e-4

    def blur():
        rgb = torch.rand(batch, 3, side, side, device="cuda" if torch.cuda.is_available() else "cpu")
        filters.gaussian_blur(rgb, 4.0)

    def scenes():
        device = "cuda" if torch.cuda.is_available() else "cpu"
        data.synthetic_scenes(profile.batch_size * 4, size=profile.image_size, device=device)

    return [
        (f"rgb_to_lab + lab_to_rgb, {batch}x3x{side}x{side}", lab),
        (f"gaussian_blur σ=4, {batch}x3x{side}x{side}", blur),
        (f"synthetic_scenes, {profile.batch_size * 4} scènes {profile.image_size} px", scenes),
    ]
