"""« Image quilting » : synthèse de texture par blocs (Efros et Freeman, 2001).

Le successeur rapide d'Efros et Leung : au lieu d'un pixel à la fois, on colle des *blocs* de
l'exemple, dans l'ordre de balayage, qui se recouvrent d'une bande de ``overlap`` pixels.

1. chaque nouveau bloc est choisi au hasard parmi ceux dont l'erreur (SSD) sur la bande de
   recouvrement est au plus ``min * (1 + tolerance)`` ; l'erreur de toutes les positions de
   l'exemple se calcule d'un coup par une convolution ;
2. la couture entre l'ancien et le nouveau bloc suit la **coupure de frontière d'erreur minimale** :
   le chemin de haut en bas (ou de gauche à droite) dans la bande qui minimise la somme des
   erreurs :math:`e = (B_1 - B_2)^2`, trouvé par programmation dynamique
   :math:`E_{i,j} = e_{i,j} + \\min(E_{i-1,j-1}, E_{i-1,j}, E_{i-1,j+1})`.

Trois modes reproduisent la figure 2 de l'article : ``"random"`` (blocs au hasard), ``"overlap"``
(blocs choisis sur le recouvrement, collés sans couture) et ``"cut"`` (la méthode complète).

Références
----------
A. A. Efros et W. T. Freeman, « Image Quilting for Texture Synthesis and Transfer », SIGGRAPH 2001
(section 2.1, équation de :math:`E_{i,j}` ; figure 2).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..validation import check_choice, check_images, check_number, check_size, check_tensor, describe
from ._threads import single_thread_on_cpu

__all__ = ["MODES", "min_error_boundary_cut", "overlap_errors", "quilt"]

#: Les trois variantes de la figure 2 d'Efros et Freeman.
MODES = ("random", "overlap", "cut")


def min_error_boundary_cut(error: torch.Tensor) -> torch.Tensor:
    """Coupure verticale d'erreur minimale dans une bande d'erreurs ``(H, W)``, par programmation dynamique.

    Le chemin descend d'une ligne à la fois et se décale d'au plus une colonne entre deux lignes ;
    il minimise la somme des erreurs traversées.

    Paramètres
    ----------
    error : torch.Tensor
        Erreurs ``(H, W)`` positives (par exemple ``((B1 - B2) ** 2).sum(0)`` sur la bande).

    Retourne
    --------
    torch.Tensor
        ``(H,)`` entiers : la colonne du chemin à chaque ligne (en cas d'égalité, la plus à gauche).

    Références
    ----------
    Efros et Freeman (2001), section 2.1 : :math:`E_{i,j} = e_{i,j} + \\min(E_{i-1,j-1}, E_{i-1,j}, E_{i-1,j+1})`.
    """
    check_tensor(error, "error", ndim=2, floating=True, finite=True)
    height, width = error.shape
    if height == 0 or width == 0:
        raise ValueError(f"L'argument « error » ne doit pas être vide ; reçu : {describe(error)}.")
    cumulative = error.clone()
    choices = torch.zeros(height, width, dtype=torch.long, device=error.device)   # décalage -1, 0 ou +1
    infinity = torch.tensor(float("inf"), dtype=error.dtype, device=error.device)
    for i in range(1, height):
        previous = cumulative[i - 1]
        left = torch.cat([infinity[None], previous[:-1]])           # E[i-1, j-1]
        right = torch.cat([previous[1:], infinity[None]])           # E[i-1, j+1]
        best, which = torch.stack([left, previous, right]).min(0)   # en cas d'égalité : le premier (gauche)
        cumulative[i] = error[i] + best
        choices[i] = which - 1
    path = torch.empty(height, dtype=torch.long, device=error.device)
    path[-1] = cumulative[-1].argmin()
    for i in range(height - 1, 0, -1):                               # remontée, sans synchronisation
        path[i - 1] = path[i] + choices[i, path[i]]
    return path


def overlap_errors(target: torch.Tensor, region: torch.Tensor, sample: torch.Tensor) -> torch.Tensor:
    """SSD entre ``target`` (limité à ``region``) et chaque bloc de l'exemple, par une convolution.

    Paramètres
    ----------
    target : torch.Tensor
        Le bloc en place ``(C, b, b)``.
    region : torch.Tensor
        ``(b, b)`` booléen : la bande de recouvrement déjà remplie.
    sample : torch.Tensor
        L'exemple ``(C, H, W)``.

    Retourne
    --------
    torch.Tensor
        ``(H-b+1, W-b+1)`` : l'erreur de chaque bloc de l'exemple (indexé par son coin haut-gauche).
    """
    weights = region.to(sample.dtype).expand_as(target)
    kernel = torch.cat([-2.0 * weights * target, weights], 0)[None]        # (1, 2C, b, b)
    stacked = torch.cat([sample, sample * sample], 0)[None]                # (1, 2C, H, W)
    errors = F.conv2d(stacked, kernel)[0, 0] + (weights * target * target).sum()
    return errors.clamp(min=0.0)


def quilt(sample: torch.Tensor, out_size, block: int | None = None, overlap: int | None = None,
          tolerance: float = 0.1, mode: str = "cut", seed: int | None = None, progress: bool = True):
    """Synthétise une texture de taille ``out_size`` en cousant des blocs de ``sample``.

    Paramètres
    ----------
    sample : torch.Tensor
        L'exemple ``(C,H,W)`` (ou ``(1,C,H,W)``) dans [0, 1].
    out_size : int ou (int, int)
        Taille de la texture produite.
    block : int, optionnel
        Côté des blocs ; par défaut le quart du plus petit côté de l'exemple (au moins 4).
    overlap : int, optionnel
        Largeur de la bande de recouvrement ; par défaut ``block // 6`` (au moins 1), comme l'article.
    tolerance : float
        Un bloc est candidat si son erreur de recouvrement vaut au plus ``min * (1 + tolerance)``
        (0.1 dans l'article).
    mode : str
        ``"cut"`` (coupure d'erreur minimale), ``"overlap"`` (sans coupure) ou ``"random"``.
    seed : int, optionnel
        Graine des tirages (par défaut tirée du générateur global de torch).
    progress : bool
        Barre de progression.

    Retourne
    --------
    torch.Tensor
        La texture ``(C, H, W)`` (``(1,C,H,W)`` si l'entrée était un lot), sur l'appareil de l'exemple.

    Références
    ----------
    Efros et Freeman, « Image Quilting for Texture Synthesis and Transfer », SIGGRAPH 2001, section 2.1.
    """
    from tqdm.auto import tqdm

    batch, single = check_images(sample, "sample", value_range=(0.0, 1.0))
    if batch.shape[0] != 1:
        raise ValueError(f"L'argument « sample » doit être une seule image (C,H,W) ; reçu : {describe(sample)}.")
    source = batch[0]
    channels, sample_h, sample_w = source.shape
    height, width = check_size(out_size, "out_size")
    check_choice(mode, "mode", MODES)
    if block is None:
        block = max(4, min(sample_h, sample_w) // 4)
    check_number(block, "block", integer=True, positive=True)
    if block > min(sample_h, sample_w):
        raise ValueError(
            f"Les blocs « block » ({block}x{block}) sont plus grands que l'exemple ({sample_h}x{sample_w})."
        )
    if overlap is None:
        overlap = max(1, block // 6)
    check_number(overlap, "overlap", integer=True, nonnegative=True)
    if overlap >= block:
        raise ValueError(f"Le recouvrement « overlap » ({overlap}) doit être plus petit que le bloc ({block}).")
    check_number(tolerance, "tolerance", nonnegative=True)
    if seed is None:
        seed = int(torch.randint(0, 2**62, (1,)).item())
    check_number(seed, "seed", integer=True, nonnegative=True)
    generator = torch.Generator().manual_seed(int(seed))

    step = block - overlap
    rows = max(1, math.ceil((height - overlap) / step))
    cols = max(1, math.ceil((width - overlap) / step))
    canvas = torch.zeros(channels, rows * step + overlap, cols * step + overlap,
                         dtype=source.dtype, device=source.device)
    index = torch.arange(block, device=source.device)
    with single_thread_on_cpu(source.device):
        for k in tqdm(range(rows * cols), desc="Quilting", unit="bloc", disable=not progress, leave=False):
            _place_block(canvas, source, k, cols, step, block, overlap, mode, tolerance, generator, index)
    result = canvas[:, :height, :width].contiguous()
    return result if single else result[None]


def _place_block(canvas, source, k, cols, step, block, overlap, mode, tolerance, generator, index):
    """Choisit et coud le bloc numéro ``k`` (ordre de balayage)."""
    positions_h, positions_w = source.shape[1] - block + 1, source.shape[2] - block + 1
    by, bx = divmod(k, cols)
    top, left = by * step, bx * step
    target = canvas[:, top:top + block, left:left + block]
    region = torch.zeros(block, block, dtype=torch.bool, device=source.device)
    if bx > 0:
        region[:, :overlap] = True
    if by > 0:
        region[:overlap, :] = True
    if mode == "random" or not bool(region.any()):
        choice = int(torch.randint(0, positions_h * positions_w, (1,), generator=generator))
    else:
        errors = overlap_errors(target, region, source).reshape(-1)
        candidates = (errors <= errors.min() * (1 + tolerance)).nonzero().squeeze(1)
        pick = int(torch.randint(0, candidates.numel(), (1,), generator=generator))
        choice = int(candidates[pick])
    i, j = divmod(choice, positions_w)
    new = source[:, i:i + block, j:j + block]
    keep_new = torch.ones(block, block, dtype=torch.bool, device=source.device)
    if mode == "cut" and overlap > 0:
        error = ((target - new) ** 2).sum(0)
        if bx > 0:                                   # couture verticale dans la bande de gauche
            path = min_error_boundary_cut(error[:, :overlap])
            keep_new[:, :overlap] &= index[:overlap][None, :] >= path[:, None]
        if by > 0:                                   # couture horizontale dans la bande du haut
            path = min_error_boundary_cut(error[:overlap, :].t().contiguous())
            keep_new[:overlap, :] &= index[:overlap][:, None] >= path[None, :]
    canvas[:, top:top + block, left:left + block] = torch.where(keep_new, new, target)
