"""Dernière couche d'un classifieur : softmax, probabilités :math:`p(c|x)` et entropie croisée.

Le réseau sort un score (« logit ») :math:`s_c` par classe ; la softmax en fait
une distribution de probabilité :math:`z_c = p(c|x) = e^{s_c} / \\sum_k e^{s_k}`.
La perte compare cette distribution à la « vraie » étiquette
:math:`\\hat z` (un vecteur « one-hot ») par l'entropie croisée

.. math:: H(\\hat z, z) = -\\sum_c \\hat z_c \\log z_c ,

soit :math:`-\\log p(\\text{vraie classe} | x)`. Minimiser sa moyenne sur les
données, c'est maximiser la probabilité des données observées sous le modèle.

Stabilité numérique : :math:`e^{s}` déborde en float32 dès :math:`s > 88`. On
soustrait donc le maximum, ce qui ne change pas la softmax
(:math:`e^{s_c - m} / \\sum_k e^{s_k - m}`), et on calcule le logarithme par
« log-sum-exp » : :math:`\\log \\sum_k e^{s_k} = m + \\log \\sum_k e^{s_k - m}`.
"""

from __future__ import annotations

import numbers

import torch

from ..validation import describe
from ._inputs import real_tensor

__all__ = ["softmax", "log_softmax", "logsumexp", "cross_entropy", "cross_entropy_grad", "one_hot"]


def _dim(x: torch.Tensor, dim) -> int:
    if not isinstance(dim, numbers.Integral) or isinstance(dim, bool) or not -x.ndim <= dim < x.ndim:
        raise ValueError(f"L'argument « dim » doit être une dimension de « x » (forme {tuple(x.shape)}) ; "
                         f"reçu : {dim!r}.")
    return int(dim)


def logsumexp(x: torch.Tensor, dim: int = 1, keepdim: bool = False) -> torch.Tensor:
    """:math:`\\log \\sum_k e^{x_k}` le long de ``dim``, sans débordement : :math:`m + \\log \\sum_k e^{x_k - m}`."""
    real_tensor(x, "x")
    dim = _dim(x, dim)
    top = x.amax(dim=dim, keepdim=True).detach()  # une constante : le gradient passe par la somme
    out = top + torch.log(torch.exp(x - top).sum(dim=dim, keepdim=True))
    return out if keepdim else out.squeeze(dim)


def softmax(x: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Softmax stable le long de ``dim`` (par défaut les classes d'un lot ``(B, C)``).

    Paramètres
    ----------
    x : torch.Tensor
        Scores (logits), par exemple ``(B, C)``.
    dim : int
        La dimension des classes.

    Retourne
    --------
    torch.Tensor
        Même forme ; chaque tranche le long de ``dim`` est positive et somme à 1.

    Références
    ----------
    Bridle, J. S. (1990). Probabilistic interpretation of feedforward classification network outputs.
    *Neurocomputing*, NATO ASI Series F68 — la « softmax ».
    """
    real_tensor(x, "x")
    dim = _dim(x, dim)
    shifted = x - x.amax(dim=dim, keepdim=True).detach()
    e = torch.exp(shifted)
    return e / e.sum(dim=dim, keepdim=True)


def log_softmax(x: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """:math:`\\log \\mathrm{softmax}(x) = x - \\mathrm{logsumexp}(x)`, stable même pour des scores très écartés."""
    return x - logsumexp(x, dim=dim, keepdim=True)


def one_hot(labels: torch.Tensor, n_classes: int, dtype=torch.float32) -> torch.Tensor:
    """Étiquettes entières ``(B,)`` -> vecteurs « one-hot » ``(B, n_classes)`` (la distribution :math:`\\hat z`)."""
    out = torch.zeros(labels.shape[0], n_classes, dtype=dtype, device=labels.device)
    return out.scatter_(1, labels.view(-1, 1), 1.0)


def _check_targets(logits: torch.Tensor, targets) -> torch.Tensor:
    real_tensor(logits, "logits", ndim=2)
    if not isinstance(targets, torch.Tensor):
        raise TypeError(f"L'argument « targets » doit être un tenseur torch ; reçu : {describe(targets)}.")
    batch, n_classes = logits.shape
    if targets.device != logits.device:
        raise ValueError(f"« targets » est sur {targets.device} et « logits » sur {logits.device} : "
                         "les deux doivent être sur le même appareil.")
    if targets.is_floating_point():
        real_tensor(targets, "targets", ndim=2)
        if tuple(targets.shape) != (batch, n_classes):
            raise ValueError(
                f"Des cibles en probabilités « targets » doivent avoir la forme des logits {(batch, n_classes)} ; "
                f"reçu : {describe(targets)}."
            )
        return targets.to(logits.dtype)
    if targets.dtype == torch.bool or targets.ndim != 1 or targets.shape[0] != batch:
        raise ValueError(
            f"Les étiquettes « targets » doivent être un tenseur d'entiers de forme ({batch},) — une classe par "
            f"ligne des logits {tuple(logits.shape)} — ou des probabilités ({batch}, {n_classes}) ; "
            f"reçu : {describe(targets)}."
        )
    if batch and (int(targets.min()) < 0 or int(targets.max()) >= n_classes):
        raise ValueError(
            f"Les étiquettes « targets » doivent être entre 0 et {n_classes - 1} ; "
            f"reçu : de {int(targets.min())} à {int(targets.max())}."
        )
    return one_hot(targets, n_classes, dtype=logits.dtype)


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Entropie croisée :math:`H(\\hat z, z) = -\\sum_c \\hat z_c \\log z_c` avec :math:`z = \\mathrm{softmax}(s)`.

    Le logarithme de la softmax est calculé par log-sum-exp : la perte reste
    finie même quand la bonne classe a une probabilité de :math:`10^{-300}`.

    Paramètres
    ----------
    logits : torch.Tensor
        Scores ``(B, C)`` du réseau.
    targets : torch.Tensor
        Étiquettes entières ``(B,)`` (la classe vraie) ou distributions :math:`\\hat z` ``(B, C)``.
    reduction : str
        ``"mean"`` (moyenne sur le lot, comme ``torch.nn.functional.cross_entropy``), ``"sum"`` ou
        ``"none"`` (une perte par exemple).

    Retourne
    --------
    torch.Tensor
        Un scalaire (ou ``(B,)`` avec ``reduction="none"``).

    Références
    ----------
    Goodfellow, I., Bengio, Y. et Courville, A. (2016). *Deep Learning*, MIT Press, § 6.2.2.3 (sorties softmax,
    éq. 6.29-6.33) et § 4.1 (débordements et log-sum-exp).
    """
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"L'argument « reduction » doit valoir 'mean', 'sum' ou 'none' ; reçu : {reduction!r}.")
    target = _check_targets(logits, targets)
    losses = -(target * log_softmax(logits, dim=1)).sum(dim=1)
    if reduction == "none":
        return losses
    return losses.sum() if reduction == "sum" else losses.mean()


def cross_entropy_grad(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Gradient de l'entropie croisée moyenne par rapport aux logits : :math:`(\\mathrm{softmax}(s) - \\hat z) / B`.

    C'est le signal d'erreur de la dernière couche : la probabilité prédite moins
    la vraie, divisée par la taille du lot (la perte est une moyenne).

    Paramètres
    ----------
    logits : torch.Tensor
        Scores ``(B, C)``.
    targets : torch.Tensor
        Étiquettes entières ``(B,)`` ou distributions ``(B, C)``.

    Retourne
    --------
    torch.Tensor
        ``(B, C)``, égal à ``torch.autograd.grad(cross_entropy(logits, targets), logits)``.
    """
    target = _check_targets(logits, targets)
    return (softmax(logits, dim=1) - target) / logits.shape[0]
