"""Bancs d'essai du cœur de course_lib : couleur, flou, scènes procédurales."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from common import Row, peak_memory_mib, timeit

from course_lib import data, filters, images


def benchmarks(quick: bool):
    size, batch = (64, 8) if quick else (256, 64)
    rgb = torch.rand(batch, 3, size, size)

    # RGB -> Lab : tout le lot en tenseurs contre scikit-image image par image.
    import skimage.color

    arrays = [img.permute(1, 2, 0).double().numpy() for img in rgb]
    ours = timeit(lambda: images.rgb_to_lab(rgb))
    base = timeit(lambda: [skimage.color.rgb2lab(a) for a in arrays])
    yield Row("cœur", f"rgb_to_lab, {batch} images {size}x{size}", ours, base, "skimage.color.rgb2lab, une par une")

    # Flou gaussien séparable contre la convolution 2D directe (la leçon du TP0), puis contre OpenCV.
    sigma = 3.0
    kernel1d = filters.gaussian_kernel1d(sigma)
    kernel2d = torch.outer(kernel1d, kernel1d).expand(3, 1, -1, -1).contiguous()
    r = kernel1d.numel() // 2

    def direct():
        return F.conv2d(F.pad(rgb, (r, r, r, r), mode="reflect"), kernel2d, groups=3)

    ours = timeit(lambda: filters.gaussian_blur(rgb, sigma))
    base = timeit(direct)
    yield Row("cœur", f"gaussian_blur σ=3, {batch} images {size}x{size}", ours, base,
              "convolution 2D directe (torch)")
    import cv2

    hwc = [np.ascontiguousarray(img.permute(1, 2, 0).numpy()) for img in rgb]
    base = timeit(lambda: [cv2.GaussianBlur(a, (2 * r + 1,) * 2, sigma, borderType=cv2.BORDER_REFLECT_101)
                           for a in hwc])
    yield Row("cœur", f"gaussian_blur σ=3, {batch} images {size}x{size}", ours, base,
              "cv2.GaussianBlur, une par une")

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
