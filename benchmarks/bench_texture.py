"""Bancs d'essai du bloc texture : Efros et Leung, quilting, échantillonnage du PixelCNN.

- Efros et Leung (chemin rapide) contre la transcription du pseudo-code (tests/efros_leung_literal.py : une
  boucle Python par pixel) sur la tâche de l'issue, un exemple de briques 32x32 -> 64x64, fenêtre 11 : la
  version littérale (la SSD de chaque décalage de la fenêtre calculée par NumPy sur toutes les positions),
  la même sans les décalages de poids nul, et la plus directe (une expression NumPy par pixel sur toutes les
  fenêtres) ; les sorties sont comparées (écart maximal). Puis une texture 256x256 à partir d'un exemple
  64x64 (objectif : 60 s sur 2 cœurs ; aucune référence ne tient dans le temps d'un banc d'essai).
- Quilting (Efros et Freeman) contre Efros et Leung vectorisé, sur la même tâche.
- PixelCNN : temps d'échantillonnage par image, un lot entier contre une image à la fois, et contre un
  échantillonneur qui recalcule toute l'image à chaque pixel (sans couper les lignes du bas).

Les mesures CPU se font sur un seul fil (``torch.set_num_threads(1)``), comme le code NumPy de référence :
le rapport mesure l'algorithme, pas le nombre de cœurs (sur une machine partagée, plusieurs fils se gênent).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch
from common import Row, timeit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from course_lib import data, images  # noqa: E402
from course_lib.texture import efros_leung, pixelcnn, quilting  # noqa: E402


def _once(fn) -> tuple[float, float, object]:
    """Temps mural, temps CPU (utilisateur + système, ce processus) et résultat d'un appel."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def _naive_sample(model, n, size, seed):
    """Échantillonneur sans coupe : toute l'image passe dans le réseau pour chaque pixel."""
    generator = torch.Generator().manual_seed(seed)
    canvas = torch.zeros(n, 1, size, size)
    with torch.no_grad():
        for i in range(size):
            for j in range(size):
                probs = torch.softmax(model(canvas)[:, :, i, j].double(), dim=1)
                canvas[:, 0, i, j] = torch.multinomial(probs, 1, generator=generator)[:, 0].float() / 255
    return canvas


def benchmarks(quick: bool):
    import efros_leung_literal as literal

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        # Efros et Leung : 32x32 -> 64x64, fenêtre 11 (mode rapide : 16x16 -> 20x20, fenêtre 5).
        side, out, window = (16, 20, 5) if quick else (32, 64, 11)
        sample = images.resize(data.texture("brick")[:, :128, :128], side)
        runs = [_once(lambda: efros_leung.synthesize(sample, out, window=window, seed=0, progress=False))
                for _ in range(3)]
        ours_s, ours_cpu, ours = min(runs, key=lambda run: run[0])
        baselines = (
            (lambda: literal.synthesize(sample.numpy(), (out, out), window, 0, inner="numpy"),
             "pseudo-code littéral (boucle par pixel, NumPy)"),
            (lambda: literal.synthesize(sample.numpy(), (out, out), window, 0, inner="numpy-skip"),
             "pseudo-code, sans les décalages de poids nul"),
            (lambda: literal.synthesize_numpy(sample.numpy(), (out, out), window, 0),
             "NumPy par pixel, tout le reste vectorisé"),
        )
        for baseline, label in baselines:
            base_s, base_cpu, reference = _once(baseline)
            gap = float(np.abs(ours.double().numpy() - reference).max())
            same = "sorties identiques" if gap == 0 else f"sorties différentes, écart max {gap:.3g}"
            yield Row("texture", f"Efros-Leung {side}x{side} -> {out}x{out}, fenêtre {window}", ours_s, base_s,
                      label, note=f"{same} ; CPU {ours_cpu:.2f} s / {base_cpu:.2f} s = {base_cpu / ours_cpu:.3g}x")
        if not quick:
            big = images.resize(data.texture("brick")[:, :256, :256], 64)
            big_s, big_cpu, texture = _once(lambda: efros_leung.synthesize(big, 256, window=11, seed=0,
                                                                            progress=False))
            assert texture.shape == (1, 256, 256)
            yield Row("texture", "Efros-Leung 64x64 -> 256x256, fenêtre 11", big_s, 60.0,
                      "objectif de 60 s sur 2 cœurs (budget, pas une mesure)", note=f"CPU {big_cpu:.1f} s")

        # Quilting contre Efros et Leung vectorisé, même exemple et même taille.
        block = 8 if quick else 16
        quilt_s = timeit(lambda: quilting.quilt(sample, out, block=block, seed=0, progress=False), repeat=3)
        yield Row("texture", f"quilting {side}x{side} -> {out}x{out}, blocs {block}", quilt_s, ours_s,
                  "Efros-Leung vectorisé (même tâche)")

        # PixelCNN : temps d'échantillonnage par image.
        torch.manual_seed(0)
        model = pixelcnn.default_model().eval()
        n, size = (4, 6) if quick else (16, 16)
        batch_s = timeit(lambda: pixelcnn.sample(model, n, size, seed=0, progress=False), repeat=1) / n
        single_s = timeit(lambda: [pixelcnn.sample(model, 1, size, seed=k, progress=False) for k in range(n)],
                          repeat=1, warmup=0) / n
        yield Row("texture", f"PixelCNN : 1 image {size}x{size} (lot de {n})", batch_s, single_s,
                  "une image à la fois")
        naive_s = timeit(lambda: _naive_sample(model, n, size, 0), repeat=1, warmup=0) / n
        yield Row("texture", f"PixelCNN : 1 image {size}x{size} (lot de {n})", batch_s, naive_s,
                  "sans couper les lignes du bas")
    finally:
        torch.set_num_threads(threads)


def _single_thread_on_cpu(check, device):
    """Sur CPU (vérification du script lui-même), un seul fil : pas de contention sur une machine partagée."""
    def run():
        if device != "cpu":
            return check()
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return check()
        finally:
            torch.set_num_threads(threads)
    return run


def gpu_checks(profile):
    """Le bloc texture aux tailles du profil (voir benchmarks/gpu_check.py)."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    side = profile.pick(ci=16, cpu=64, gpu=96)
    out = 2 * side
    window = profile.pick(ci=5, cpu=11, gpu=15)
    quilt_side = profile.pick(ci=32, cpu=128, gpu=256)

    def synthesis():
        sample = images.resize(data.texture("brick")[:, :192, :192], side).to(device)
        result = efros_leung.synthesize(sample, out, window=window, seed=0, progress=False)
        assert result.shape == (1, out, out) and result.device.type == device

    def hole():
        photo = data.photo("coffee", size=side * 2, device=device)
        mask = torch.zeros(photo.shape[-2:], dtype=torch.bool, device=device)
        mask[side // 2: side, side // 2: side] = True
        result = efros_leung.fill(photo, mask, window=window, seed=0, progress=False)
        assert torch.equal(result[:, ~mask], photo[:, ~mask])

    def quilt():
        sample = data.texture("fur", size=quilt_side, device=device)
        result = quilting.quilt(sample, 2 * quilt_side, block=quilt_side // 4, seed=0, progress=False)
        assert result.shape == (3, 2 * quilt_side, 2 * quilt_side) and result.device.type == device

    size = profile.pick(ci=8, cpu=12, gpu=16)
    n_train, n_val = profile.pick(ci=(128, 64), cpu=(1438, 359), gpu=(1438, 359))

    def pixel_cnn():
        train, val = pixelcnn.digits_dataset(size, device=device)
        train, val = train[:n_train], val[:n_val]
        model = pixelcnn.default_model(profile).to(device)
        settings = pixelcnn.default_training(profile) | {"epochs": 1}
        pixelcnn.fit(model, train, val, progress=False, evaluations=1, **settings)
        images_ = pixelcnn.sample(model, 16, size, seed=0, progress=False)
        assert images_.shape == (16, 1, size, size) and images_.device.type == device
        assert pixelcnn.bits_per_dim(model, val) < 8.0

    checks = [
        (f"Efros-Leung {side}x{side} -> {out}x{out}, fenêtre {window}", synthesis),
        (f"Efros-Leung : trou {side // 2}x{side // 2} dans une photo", hole),
        (f"quilting {quilt_side} -> {2 * quilt_side} px, couleur", quilt),
        (f"PixelCNN : 1 époque de chiffres {size}x{size} + 16 images", pixel_cnn),
    ]
    return [(label, _single_thread_on_cpu(check, device)) for label, check in checks]
