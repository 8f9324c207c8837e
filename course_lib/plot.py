"""Figures du cours : afficher des images, des grilles, des comparaisons et des courbes d'entraînement.

Toutes les fonctions acceptent des tenseurs ``(C,H,W)`` / ``(1,C,H,W)`` dans
[0, 1] (sur n'importe quel appareil) ou des tableaux NumPy, et retournent la
figure matplotlib pour qu'on puisse l'enregistrer ou la compléter.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch

from .validation import check_number, describe

__all__ = ["as_displayable", "show", "grid", "compare", "LiveCurves", "plot_history"]


def as_displayable(image) -> np.ndarray:
    """Convertit une image (tenseur ou tableau) en tableau ``(H,W)`` ou ``(H,W,3)`` pour ``imshow``."""
    if isinstance(image, torch.Tensor):
        tensor = image.detach().to("cpu", torch.float32)
        if tensor.ndim == 4:
            if tensor.shape[0] != 1:
                raise ValueError(f"Une seule image est attendue ; reçu un lot : {describe(image)}.")
            tensor = tensor[0]
        if tensor.ndim == 3:
            if tensor.shape[0] not in (1, 3):
                raise ValueError(
                    f"Une image doit avoir 1 ou 3 canaux (C,H,W) ; reçu : {describe(image)}."
                )
            tensor = tensor.permute(1, 2, 0)
        elif tensor.ndim != 2:
            raise ValueError(f"Une image (H,W), (C,H,W) ou (1,C,H,W) est attendue ; reçu : {describe(image)}.")
        array = tensor.numpy()
    elif isinstance(image, np.ndarray):
        array = image
        if array.ndim == 3 and array.shape[0] in (1, 3) and array.shape[-1] not in (1, 3, 4):
            array = np.moveaxis(array, 0, -1)
        if array.ndim not in (2, 3):
            raise ValueError(f"Une image (H,W) ou (H,W,C) est attendue ; reçu : {describe(image)}.")
        if array.dtype == np.uint8:
            return array[..., 0] if array.ndim == 3 and array.shape[-1] == 1 else array
        array = array.astype(np.float32)
    else:
        raise TypeError(f"L'argument « image » doit être un tenseur ou un tableau NumPy ; reçu : {describe(image)}.")
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    return np.clip(array, 0.0, 1.0) if array.ndim == 3 else array


def show(image, title: str | None = None, ax=None, cmap: str | None = None, vmin=None, vmax=None,
         colorbar: bool = False):
    """Affiche une image. Les images à un canal utilisent ``cmap`` (gris par défaut).

    Retourne l'objet ``Axes`` de matplotlib.
    """
    array = as_displayable(image)
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    gray = array.ndim == 2
    if gray and vmin is None and vmax is None and cmap is None and array.min() >= 0 and array.max() <= 1:
        vmin, vmax = 0.0, 1.0
    shown = ax.imshow(array, cmap=(cmap or "gray") if gray else None, vmin=vmin, vmax=vmax)
    if colorbar:
        ax.figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
    if title:
        ax.set_title(title)
    ax.axis("off")
    return ax


def grid(images, titles=None, ncols: int | None = None, size: float = 2.5, cmap: str | None = None,
         suptitle: str | None = None):
    """Affiche plusieurs images en grille : une liste d'images ou un lot ``(B,C,H,W)``.

    Retourne la figure.
    """
    if isinstance(images, torch.Tensor) and images.ndim == 4:
        images = list(images)
    elif isinstance(images, np.ndarray) and images.ndim == 4:
        images = list(images)
    if not isinstance(images, (list, tuple)) or not images:
        raise ValueError("L'argument « images » doit être une liste non vide d'images ou un lot (B,C,H,W).")
    count = len(images)
    if titles is not None and len(titles) != count:
        raise ValueError(f"« titles » doit avoir autant d'éléments que « images » ({count}) ; reçu : {len(titles)}.")
    if ncols is None:
        ncols = min(count, 6)
    check_number(ncols, "ncols", integer=True, positive=True)
    nrows = math.ceil(count / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        if k < count:
            show(images[k], title=None if titles is None else titles[k], ax=ax, cmap=cmap)
        else:
            ax.axis("off")
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def compare(*images, titles=None, size: float = 4.0):
    """Affiche des images côte à côte (avant/après...) ; retourne la figure."""
    if not images:
        raise ValueError("compare() attend au moins une image.")
    return grid(list(images), titles=titles, ncols=len(images), size=size)


class LiveCurves:
    """Courbes d'entraînement mises à jour en direct dans un notebook.

    >>> curves = LiveCurves(["perte", "précision"])       # doctest: +SKIP
    >>> for epoch in range(10):                           # doctest: +SKIP
    ...     curves.update(epoch, perte=..., précision=...)
    >>> curves.history["perte"]                           # doctest: +SKIP

    Chaque nom devient un graphique ; plusieurs séries (``"perte/entraînement"``
    et ``"perte/validation"``) partagent le graphique du préfixe. Hors d'un
    notebook (tests, scripts), les valeurs sont seulement enregistrées.
    ``every`` limite le nombre de redessins.
    """

    def __init__(self, names, title: str | None = None, every: int = 1):
        if isinstance(names, str):
            names = [names]
        self.panels = list(dict.fromkeys(name.split("/")[0] for name in names))
        self.history: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
        self.title = title
        self.every = max(1, int(every))
        self._updates = 0
        self._handle = None
        self._figure = None

    def update(self, step: float, values: dict | None = None, **named) -> None:
        """Ajoute des valeurs au pas ``step`` et redessine si on est dans un notebook.

        Les valeurs viennent d'un dictionnaire (``{"perte/validation": 0.3}``) ou
        d'arguments nommés (``perte=0.3``).
        """
        for key, value in {**(values or {}), **named}.items():
            if key not in self.history:
                self.history[key] = []
                if key.split("/")[0] not in self.panels:
                    self.panels.append(key.split("/")[0])
            self.history[key].append((float(step), float(value)))
        self._updates += 1
        if self._updates % self.every == 0:
            self.draw()

    def figure(self):
        """Dessine toutes les séries et retourne la figure matplotlib."""
        if self._figure is None or len(self._figure.axes) != len(self.panels):
            self._figure, _ = plt.subplots(1, len(self.panels), figsize=(4.5 * len(self.panels), 3.2),
                                           squeeze=False)
            plt.close(self._figure)
        fig = self._figure
        for ax, panel in zip(fig.axes, self.panels):
            ax.clear()
            for name, points in self.history.items():
                if name.split("/")[0] == panel and points:
                    steps, vals = zip(*points)
                    label = name.split("/", 1)[1] if "/" in name else name
                    ax.plot(steps, vals, marker="o" if len(points) < 30 else None, label=label)
            ax.set_title(panel)
            ax.set_xlabel("itération")
            ax.grid(alpha=0.3)
            if any("/" in name and name.startswith(panel + "/") for name in self.history):
                ax.legend()
        if self.title:
            fig.suptitle(self.title)
        fig.tight_layout()
        return fig

    def draw(self) -> None:
        """Redessine la figure dans le notebook (sans effet hors d'un noyau IPython)."""
        try:
            from IPython import get_ipython
            from IPython.display import display
        except ImportError:  # pragma: no cover - IPython est une dépendance de jupyterlab
            return
        shell = get_ipython()
        if shell is None or type(shell).__name__ != "ZMQInteractiveShell":
            return
        fig = self.figure()
        if self._handle is None:
            self._handle = display(fig, display_id=True)
        else:
            self._handle.update(fig)


def plot_history(history: dict, title: str | None = None):
    """Trace un historique ``{nom: [valeurs par époque]}`` (celui que retournent les entraînements)."""
    if not isinstance(history, dict) or not history:
        raise ValueError("L'argument « history » doit être un dictionnaire non vide {nom: [valeurs]}.")
    curves = LiveCurves(list(history), title=title)
    for name, values in history.items():
        for step, value in enumerate(values):
            curves.history[name].append((float(step), float(value)))
    return curves.figure()
