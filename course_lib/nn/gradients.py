"""Gradient numérique (pour vérifier la rétropropagation) et un pas de descente du gradient.

Une itération de descente du gradient :

.. math:: \\mathbf w^{t+1} = \\mathbf w^t - \\eta_t \\, \\frac{\\partial L(\\mathbf w^t)}{\\partial \\mathbf w}

où :math:`\\eta_t` est le taux d'apprentissage. La dérivée se vérifie par
différences centrées, :math:`(L(w + \\varepsilon) - L(w - \\varepsilon)) / 2\\varepsilon`,
une coordonnée à la fois : exact à :math:`O(\\varepsilon^2)` près, mais une
évaluation de :math:`L` par paramètre — bon pour tester, pas pour entraîner.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from ..validation import check_number, describe
from ._inputs import real_tensor

__all__ = ["numerical_gradient", "sgd_step", "zero_grad"]


def numerical_gradient(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                       eps: float = 1e-6) -> torch.Tensor:
    """Gradient de ``f`` en ``x`` par différences centrées, coordonnée par coordonnée.

    Paramètres
    ----------
    f : callable
        Fonction qui reçoit un tenseur de la forme de ``x`` et retourne un scalaire.
    x : torch.Tensor
        Point où dériver ; utilisez ``float64`` (en ``float32``, l'erreur d'arrondi
        :math:`\\approx 10^{-7} / \\varepsilon` domine).
    eps : float
        Pas :math:`\\varepsilon` des différences.

    Retourne
    --------
    torch.Tensor
        :math:`\\partial f / \\partial x`, de la forme et du type de ``x``.

    Références
    ----------
    Nocedal, J. et Wright, S. (2006). *Numerical Optimization*, 2e éd., Springer, § 8.1, éq. (8.7)
    (différences centrées).
    """
    if not callable(f):
        raise TypeError(f"L'argument « f » doit être une fonction ; reçu : {describe(f)}.")
    real_tensor(x, "x")
    check_number(eps, "eps", positive=True)
    point = x.detach().clone()
    flat = point.view(-1)
    grad = torch.zeros_like(flat)
    with torch.no_grad():
        for k in range(flat.numel()):
            original = flat[k].item()
            flat[k] = original + eps
            above = _scalar(f(point))
            flat[k] = original - eps
            below = _scalar(f(point))
            flat[k] = original
            grad[k] = (above - below) / (2 * eps)
    return grad.view_as(x)


def _scalar(value) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"La fonction « f » doit retourner un scalaire ; reçu : {describe(value)}.")
        return float(value)
    check_number(value, "f(x)")
    return float(value)


def _parameters(parameters) -> list[torch.Tensor]:
    if isinstance(parameters, torch.nn.Module):
        parameters = parameters.parameters()
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    if not isinstance(parameters, Iterable):
        raise TypeError(
            "L'argument « parameters » doit être une liste de tenseurs (par exemple model.parameters()) ; "
            f"reçu : {describe(parameters)}."
        )
    params = list(parameters)
    for k, p in enumerate(params):
        if not isinstance(p, torch.Tensor) or not p.is_floating_point():
            raise TypeError(f"Le paramètre n° {k} doit être un tenseur de réels ; reçu : {describe(p)}.")
    return params


def sgd_step(parameters, lr: float) -> None:
    """Un pas de descente du gradient, sur place : ``p ← p - lr * p.grad`` pour chaque paramètre.

    Les paramètres sans gradient (``p.grad is None`` : gelés ou inutilisés) ne
    bougent pas. Les gradients ne sont **pas** remis à zéro : appelez
    :func:`zero_grad` avant le prochain ``backward()``, sinon ils s'additionnent.

    Paramètres
    ----------
    parameters : itérable de tenseurs, tenseur ou ``torch.nn.Module``
        Les poids :math:`\\mathbf w` (``model.parameters()`` convient : il est parcouru une fois).
    lr : float
        Le taux d'apprentissage :math:`\\eta > 0`.

    Références
    ----------
    Cauchy, A. (1847). Méthode générale pour la résolution des systèmes d'équations simultanées.
    *Comptes rendus de l'Académie des sciences* 25 — la descente du gradient.
    Robbins, H. et Monro, S. (1951). A stochastic approximation method. *Ann. Math. Stat.* 22(3) — sa version
    stochastique.
    """
    check_number(lr, "lr", positive=True)
    params = _parameters(parameters)
    with torch.no_grad():
        for p in params:
            if p.grad is None:
                continue
            if not bool(torch.isfinite(p.grad).all()):
                raise ValueError(
                    "Un gradient contient des NaN ou des infinis : la descente a probablement divergé. "
                    "Réduisez le taux d'apprentissage « lr »."
                )
            p.add_(p.grad, alpha=-lr)


def zero_grad(parameters) -> None:
    """Remet à zéro (à ``None``) les gradients, avant le ``backward()`` du lot suivant."""
    for p in _parameters(parameters):
        p.grad = None
