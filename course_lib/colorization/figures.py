"""Figures du plan ab : les cases, l'a priori, les poids, la distribution prédite pour un pixel."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..images import lab_to_rgb
from ..validation import check_number, check_tensor, describe
from .quantization import GRID_SIZE, ab_bins, check_bins

__all__ = ["bin_colors", "plot_ab_plane"]


def bin_colors(bins: torch.Tensor | None = None, L: float = 65.0) -> np.ndarray:
    """Couleurs sRGB ``(Q,3)`` des centres des cases, à la luminosité ``L`` (hors gamut : ramenées dans [0, 1])."""
    centres = ab_bins() if bins is None else check_bins(bins)
    check_number(L, "L", low=0.0, high=100.0)
    lab = torch.cat([torch.full((centres.shape[0], 1), float(L), dtype=torch.float64),
                     centres.detach().cpu().to(torch.float64)], dim=1)
    return lab_to_rgb(lab.T.reshape(1, 3, 1, -1))[0, :, 0].T.numpy()


def plot_ab_plane(values=None, bins: torch.Tensor | None = None, ax=None, L: float = 65.0, log: bool = False,
                  title: str | None = None, cmap: str = "viridis", colorbar: bool = True, label: str | None = None):
    """Dessine les cases dans le plan ab (a* en abscisse, b* en ordonnée), une case = un carré de côté 10.

    Sans ``values``, chaque case prend sa couleur (à la luminosité ``L``) ; avec
    ``values`` ``(Q,)`` (a priori, poids, distribution d'un pixel), les cases
    sont coloriées par ``cmap``, en échelle log10 si ``log`` (les valeurs nulles restent
    en blanc). Retourne l'objet ``Axes``.
    """
    centres = (ab_bins() if bins is None else check_bins(bins)).detach().cpu().to(torch.float64)
    index = torch.round(centres / GRID_SIZE).to(torch.int64).numpy()
    low, high = index.min(axis=0), index.max(axis=0)
    shape = (high[1] - low[1] + 1, high[0] - low[0] + 1)                  # lignes : b, colonnes : a
    rows, cols = index[:, 1] - low[1], index[:, 0] - low[0]
    if ax is None:
        _, ax = plt.subplots(figsize=(4.6, 4.6))
    extent = [(low[0] - 0.5) * GRID_SIZE, (high[0] + 0.5) * GRID_SIZE,
              (low[1] - 0.5) * GRID_SIZE, (high[1] + 0.5) * GRID_SIZE]
    if values is None:
        picture = np.zeros((*shape, 4))
        picture[rows, cols, :3] = bin_colors(centres, L)
        picture[rows, cols, 3] = 1.0
        ax.imshow(picture, origin="lower", extent=extent, interpolation="nearest")
    else:
        if isinstance(values, torch.Tensor):
            check_tensor(values, "values", ndim=1)
            values = values.detach().cpu().to(torch.float64).numpy()
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (centres.shape[0],):
            raise ValueError(f"« values » doit avoir une valeur par case ({centres.shape[0]}) ; "
                             f"reçu : {describe(values)}.")
        if log:                                   # cases jamais vues (0) : laissées en blanc
            values = np.where(values > 0, np.log10(np.where(values > 0, values, 1.0)), np.nan)
        picture = np.full(shape, np.nan)
        picture[rows, cols] = values
        shown = ax.imshow(picture, origin="lower", extent=extent, interpolation="nearest", cmap=cmap)
        if colorbar:
            bar = ax.figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
            if label:
                bar.set_label(label)
    ax.set_xlabel("a* (vert ↔ rouge)")
    ax.set_ylabel("b* (bleu ↔ jaune)")
    ax.axhline(0, color="0.5", lw=0.5)
    ax.axvline(0, color="0.5", lw=0.5)
    if title:
        ax.set_title(title)
    return ax
