"""Bancs d'essai de la colorisation : encodage doux, moyenne recuite, inférence d'ECCV16."""

from __future__ import annotations

import numpy as np
import torch
from common import Row, peak_memory_mib, timeit

from course_lib import colorization as C


def soft_encode_numpy(ab: np.ndarray, bins: np.ndarray, k: int = 5, sigma: float = 5.0) -> np.ndarray:
    """La version directe en NumPy : toutes les distances, tri complet de chaque ligne, remplissage dense."""
    b, _, h, w = ab.shape
    points = ab.transpose(0, 2, 3, 1).reshape(-1, 2)
    squared = ((points[:, None, :] - bins[None, :, :]) ** 2).sum(-1)
    nearest = np.argsort(squared, axis=1)[:, :k]
    d2 = np.take_along_axis(squared, nearest, axis=1)
    weights = np.exp(-(d2 - d2[:, :1]) / (2 * sigma ** 2))
    weights /= weights.sum(axis=1, keepdims=True)
    out = np.zeros_like(squared)
    np.put_along_axis(out, nearest, weights, axis=1)
    return out.reshape(b, h, w, -1).transpose(0, 3, 1, 2)


def annealed_mean_numpy(probs: np.ndarray, bins: np.ndarray, T: float = 0.38) -> np.ndarray:
    """La version directe en NumPy de l'équation 5 : log, division par T, exponentielle stabilisée, moyenne."""
    scores = np.log(np.maximum(probs, 1e-30)) / T
    scores -= scores.max(axis=1, keepdims=True)
    annealed = np.exp(scores)
    annealed /= annealed.sum(axis=1, keepdims=True)
    return np.einsum("bqhw,qc->bchw", annealed, bins)


class _one_thread:
    """NumPy calcule sur un seul fil : on compare à ressources égales."""

    def __enter__(self):
        self.previous = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc):
        torch.set_num_threads(self.previous)


def benchmarks(quick: bool):
    bins = C.ab_bins()
    g = torch.Generator().manual_seed(0)

    # Encodage doux : le lot entier en tenseurs contre NumPy (distances complètes et tri).
    batch, side = (4, 32) if quick else (16, 64)
    _, ab = C.split_lab(torch.rand(batch, 3, side, side, generator=g))
    ab_np, bins_np = ab.numpy().astype(np.float32), bins.numpy()
    with _one_thread():
        ours = timeit(lambda: C.soft_encode(ab, bins))
        base = timeit(lambda: soft_encode_numpy(ab_np, bins_np), repeat=1 if not quick else 3)
    pixels = batch * side * side
    yield Row("couleur", f"soft_encode, {pixels} pixels, Q={len(bins)}, 1 fil", ours, base,
              "NumPy : distances complètes + argsort", note=f"{pixels / ours / 1e6:.2f} Mpixels/s")

    # Moyenne recuite : softmax des log-probabilités sur tout le lot contre NumPy.
    batch, side = (4, 16) if quick else (32, 64)
    probs = torch.softmax(torch.randn(batch, len(bins), side, side, generator=g) * 3, dim=1)
    probs_np = probs.numpy()
    with _one_thread():
        ours = timeit(lambda: C.annealed_mean(probs, 0.38, bins=bins))
        base = timeit(lambda: annealed_mean_numpy(probs_np, bins_np), repeat=1 if not quick else 3)
    pixels = batch * side * side
    yield Row("couleur", f"annealed_mean T=0.38, {pixels} pixels, 1 fil", ours, base, "NumPy, même formule",
              note=f"{pixels / ours / 1e6:.2f} Mpixels/s")

    # ECCV16 : inférence d'une image (CPU), inference_mode contre un appel avec autograd.
    side = 32 if quick else 256
    torch.manual_seed(0)
    model = C.ECCV16(bins=C.ab_bins()).eval()
    L = torch.rand(1, 1, side, side, generator=g) * 100

    def inference():
        with torch.inference_mode():
            return model(L)

    def with_autograd():
        return model(L)

    ours = timeit(inference, repeat=1 if quick else 2)
    base = timeit(with_autograd, repeat=1 if quick else 2)
    ours_mem = peak_memory_mib(inference)
    base_mem = peak_memory_mib(with_autograd)
    params = sum(p.numel() for p in model.parameters())
    yield Row("couleur", f"ECCV16, inférence {side}x{side} (CPU)", ours, base, "même réseau, autograd actif",
              ours_mem, base_mem, note=f"{params / 1e6:.1f} M paramètres")


def gpu_checks(profile):
    """La colorisation aux tailles du profil (« gpu » : ECCV16 256x256, lots de 32)."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    side = profile.pick(ci=32, cpu=128, gpu=256)
    batch = profile.pick(ci=2, cpu=8, gpu=32)

    def encode():
        bins = C.ab_bins(device=device)
        _, ab = C.split_lab(torch.rand(profile.batch_size, 3, side // 4, side // 4, device=device))
        z = C.soft_encode(ab, bins)
        assert float((z.sum(dim=1) - 1).abs().max()) < 1e-4

    def anneal():
        bins = C.ab_bins(device=device)
        probs = torch.softmax(torch.randn(profile.batch_size, len(bins), side // 4, side // 4, device=device), dim=1)
        ab = C.annealed_mean(probs, 0.38, bins=bins)
        assert ab.shape == (profile.batch_size, 2, side // 4, side // 4)

    def eccv16_training():
        model = C.ECCV16(bins=C.ab_bins()).to(device)
        images = torch.rand(batch * 2, 3, side, side, device=device)
        history = C.train_colorizer(model, images, steps=profile.pick(ci=1, cpu=3, gpu=10), batch_size=batch,
                                    lr=3e-5, progress=False, live=False)
        assert all(np.isfinite(history["perte"]))

    def small_training():
        model = C.SmallColorizer(width=profile.pick(ci=8, cpu=16, gpu=64)).to(device)
        images = C.training_images(profile.pick(ci=32, cpu=256, gpu=2048), profile.pick(ci=32, cpu=64, gpu=128),
                                   source=profile.pick(ci="scenes", cpu="mixed", gpu="mixed"), device=device)
        history = C.train_colorizer(model, images, steps=profile.pick(ci=3, cpu=20, gpu=200),
                                    batch_size=profile.batch_size, lr=3e-3, progress=False, live=False)
        assert all(np.isfinite(history["perte"]))

    q = len(C.ab_bins())
    return [
        (f"soft_encode, {profile.batch_size}x{side // 4}x{side // 4} pixels, Q={q}", encode),
        (f"annealed_mean, {profile.batch_size}x{q}x{side // 4}x{side // 4}", anneal),
        (f"ECCV16, entraînement {side}x{side}, lots de {batch}", eccv16_training),
        ("SmallColorizer, entraînement", small_training),
    ]
