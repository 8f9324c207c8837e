"""Outils communs des bancs d'essai : chronométrage, pic de mémoire, lignes de résultats.

Chaque ligne compare *notre* implémentation à une *référence* mesurée dans la même exécution,
sur la même machine, et donne le rapport des temps (référence / nous : > 1 veut dire plus rapide).
"""

from __future__ import annotations

import gc
import os
import statistics
import threading
import time
from dataclasses import dataclass

import torch


@dataclass
class Row:
    """Une ligne du tableau des bancs d'essai."""

    block: str
    name: str
    ours_s: float
    baseline_s: float
    baseline: str
    ours_mib: float | None = None
    baseline_mib: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.baseline_s / self.ours_s if self.ours_s > 0 else float("inf")


def synchronize(device=None) -> None:
    if torch.cuda.is_available() and (device is None or torch.device(device).type == "cuda"):
        torch.cuda.synchronize()


def timeit(fn, repeat: int = 3, warmup: int = 1) -> float:
    """Temps médian (secondes) de ``fn()`` sur ``repeat`` essais, après ``warmup`` essais à blanc."""
    for _ in range(warmup):
        fn()
    synchronize()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _rss() -> int:
    import psutil

    return psutil.Process(os.getpid()).memory_info().rss


def peak_memory_mib(fn) -> float:
    """Pic de mémoire pendant ``fn()``, au-dessus du niveau de départ, en Mio.

    Sur CUDA : ``torch.cuda.max_memory_allocated`` ; sur CPU : la mémoire résidente
    du processus, échantillonnée toutes les millisecondes par un fil d'exécution.
    """
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        start = torch.cuda.memory_allocated()
        fn()
        synchronize()
        return (torch.cuda.max_memory_allocated() - start) / 2**20
    start = _rss()
    peak = [start]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _rss())
            time.sleep(0.001)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        fn()
    finally:
        done.set()
        sampler.join()
    peak[0] = max(peak[0], _rss())
    return (peak[0] - start) / 2**20


HEADER = (f"{'bloc':<10} {'mesure':<46} {'nous':>9} {'référence':>10} {'rapport':>8}  "
          f"{'mémoire (nous/réf.)':<20} référence")


def format_row(r: Row) -> str:
    """Une ligne du tableau : temps, rapport référence / nous, mémoire."""
    measured = r.ours_mib is not None and r.baseline_mib is not None
    memory = f"{r.ours_mib:.0f} / {r.baseline_mib:.0f} Mio" if measured else ""
    return (f"{r.block:<10} {r.name:<46} {r.ours_s * 1e3:>7.1f}ms {r.baseline_s * 1e3:>8.1f}ms {r.ratio:>7.3g}x  "
            f"{memory:<20} {r.baseline}" + (f" ({r.note})" if r.note else ""))
