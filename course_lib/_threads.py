"""Un seul fil de calcul pour les boucles faites de petites opérations (pixel par pixel, bloc par bloc)."""

from __future__ import annotations

import contextlib

import torch


@contextlib.contextmanager
def single_thread_on_cpu(device):
    """Sur le CPU, exécute le bloc sur un seul fil PyTorch, puis rétablit le réglage.

    La croissance d'Efros et Leung, l'échantillonnage pixel par pixel ou la conversion Lab par blocs qui
    tiennent dans le cache enchaînent des milliers de petites opérations : le pool de fils n'y gagne
    presque rien, et sur une machine chargée (ou des tests en parallèle) la synchronisation des fils les
    ralentit de 10 à 50 fois.
    """
    if torch.device(device).type != "cpu" or torch.get_num_threads() == 1:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
