"""La descente du gradient sur un modèle à deux paramètres, dont on peut dessiner tout le paysage de perte.

Le modèle est une droite :math:`f(x; \\mathbf w) = w_1 x + w_2` et la perte
l'erreur quadratique moyenne

.. math:: L(\\mathbf w) = \\frac1N \\sum_i (w_1 x_i + w_2 - y_i)^2 .

:math:`L` est un paraboloïde de hessienne constante
:math:`H = \\frac2N \\begin{pmatrix}\\sum x_i^2 & \\sum x_i\\\\ \\sum x_i & N\\end{pmatrix}` :
la descente du gradient converge si et seulement si le taux d'apprentissage
vérifie :math:`\\eta < 2 / \\lambda_{\\max}(H)` ; au-delà, elle diverge. Un taux
trop petit converge, mais lentement, surtout le long de la direction de
:math:`\\lambda_{\\min}`.
"""

from __future__ import annotations

import torch

from ..validation import check_number, check_tensor, describe

__all__ = ["line_data", "line_loss", "line_gradient", "critical_learning_rate", "descent_path"]


def line_data(n: int = 64, slope: float = 2.0, intercept: float = -1.0, noise: float = 0.5,
              low: float = 0.0, high: float = 3.0, seed: int = 0, dtype=torch.float64):
    """Des points ``(x, y)`` autour de la droite ``y = slope * x + intercept``, reproductibles."""
    check_number(n, "n", integer=True, positive=True)
    check_number(noise, "noise", nonnegative=True)
    generator = torch.Generator().manual_seed(int(seed))
    x = low + (high - low) * torch.rand(n, generator=generator, dtype=dtype)
    y = slope * x + intercept + noise * torch.randn(n, generator=generator, dtype=dtype)
    return x, y


def _xy(x, y):
    check_tensor(x, "x", ndim=1, floating=True, finite=True)
    check_tensor(y, "y", ndim=1, floating=True, finite=True)
    if x.shape != y.shape or x.numel() == 0:
        raise ValueError(f"« x » et « y » doivent avoir la même longueur non nulle ; reçu : {describe(x)} et "
                         f"{describe(y)}.")


def _w(w):
    check_tensor(w, "w", floating=True)
    if w.ndim < 1 or w.shape[-1] != 2:
        raise ValueError(f"L'argument « w » doit avoir la forme (..., 2) : (w1, w2) ; reçu : {describe(w)}.")


def line_loss(w: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """:math:`L(\\mathbf w) = \\mathrm{moyenne}_i (w_1 x_i + w_2 - y_i)^2` pour un ou plusieurs ``w`` ``(..., 2)``.

    Avec une grille de ``w`` ``(H, W, 2)``, on obtient tout le paysage ``(H, W)`` d'un coup.
    """
    _xy(x, y)
    _w(w)
    residuals = w[..., :1] * x + w[..., 1:] - y          # (..., N)
    return (residuals ** 2).mean(dim=-1)


def line_gradient(w: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Gradient :math:`\\partial L / \\partial \\mathbf w = \\frac2N \\sum_i r_i (x_i, 1)`, où
    :math:`r_i = w_1 x_i + w_2 - y_i`."""
    _xy(x, y)
    _w(w)
    residuals = w[..., :1] * x + w[..., 1:] - y
    return torch.stack([2 * (residuals * x).mean(dim=-1), 2 * residuals.mean(dim=-1)], dim=-1)


def critical_learning_rate(x: torch.Tensor) -> float:
    """Le taux :math:`2 / \\lambda_{\\max}(H)` au-delà duquel la descente du gradient diverge sur :func:`line_loss`."""
    check_tensor(x, "x", ndim=1, floating=True, finite=True)
    n = x.numel()
    hessian = 2 / n * torch.stack([torch.stack([(x * x).sum(), x.sum()]),
                                   torch.stack([x.sum(), torch.tensor(float(n), dtype=x.dtype)])])
    return 2.0 / float(torch.linalg.eigvalsh(hessian).max())


def descent_path(x: torch.Tensor, y: torch.Tensor, lr: float, steps: int, w0=(0.0, 0.0),
                 batch_size: int | None = None, seed: int = 0):
    """Trajectoire de la descente : :math:`\\mathbf w^{t+1} = \\mathbf w^t - \\eta\\,\\nabla L_B(\\mathbf w^t)`.

    Paramètres
    ----------
    x, y : torch.Tensor
        Les données ``(N,)``.
    lr : float
        Taux d'apprentissage :math:`\\eta`.
    steps : int
        Nombre de pas.
    w0 : couple de réels
        Point de départ :math:`(w_1, w_2)`.
    batch_size : int, optionnel
        ``None`` : descente *par lot* (le gradient exact, sur toutes les données) ;
        sinon descente *stochastique* : chaque pas utilise ``batch_size`` exemples,
        parcourus dans un ordre mélangé à chaque passage (époque).
    seed : int
        Graine du mélange.

    Retourne
    --------
    (torch.Tensor, torch.Tensor)
        Les poids ``(steps + 1, 2)`` et la perte sur **toutes** les données à chaque pas ``(steps + 1,)``.
        Une trajectoire qui diverge s'arrête (les pas suivants valent ``inf``).
    """
    _xy(x, y)
    check_number(lr, "lr", positive=True)
    check_number(steps, "steps", integer=True, nonnegative=True)
    n = x.numel()
    if batch_size is not None:
        check_number(batch_size, "batch_size", integer=True, positive=True, high=n)
    generator = torch.Generator().manual_seed(int(seed))
    w = torch.tensor(w0, dtype=x.dtype, device=x.device)
    _w(w)
    path = torch.full((steps + 1, 2), float("inf"), dtype=x.dtype, device=x.device)
    path[0] = w
    order, position = None, n
    for t in range(steps):
        if batch_size is None:
            xb, yb = x, y
        else:
            if position + batch_size > n:
                order, position = torch.randperm(n, generator=generator).to(x.device), 0
            batch = order[position:position + batch_size]
            position += batch_size
            xb, yb = x[batch], y[batch]
        w = w - lr * line_gradient(w, xb, yb)
        if not bool(torch.isfinite(w).all()) or float(w.abs().max()) > 1e12:
            break
        path[t + 1] = w
    finite = torch.isfinite(path).all(dim=1)
    losses = torch.full((steps + 1,), float("inf"), dtype=x.dtype, device=x.device)
    losses[finite] = line_loss(path[finite], x, y)
    return path, losses
