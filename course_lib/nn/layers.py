"""Un neurone, une couche, la non-linéarité ReLU : ce que calculent les « flèches » d'un réseau.

Chaque sortie d'une couche *entièrement connectée* est une somme pondérée de
toutes les entrées, :math:`y_j = \\sum_i w_{ij} x_i + b_j`, suivie d'une
non-linéarité, ici la ReLU :math:`\\max(x, 0)`. Sans elle, empiler des couches
ne servirait à rien : un produit de matrices reste une matrice.
"""

from __future__ import annotations

import torch

from ..validation import describe
from ._inputs import real_tensor, same_place

__all__ = ["linear", "relu"]


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """Couche entièrement connectée : :math:`y_j = \\sum_i w_{ij} x_i + b_j`, pour tout un lot.

    Paramètres
    ----------
    x : torch.Tensor
        Entrées ``(..., n_in)`` (par exemple un lot ``(B, n_in)``), en réels.
    weight : torch.Tensor
        Poids ``(n_out, n_in)`` : la ligne ``j`` contient les :math:`w_{ij}` du neurone ``j``
        (la convention de ``torch.nn.Linear``).
    bias : torch.Tensor, optionnel
        Biais ``(n_out,)``.

    Retourne
    --------
    torch.Tensor
        Sorties ``(..., n_out)`` : ``x @ weight.T + bias``.

    Références
    ----------
    Rosenblatt, F. (1958). The perceptron. *Psychological Review* 65(6) — la somme pondérée d'un neurone.
    """
    real_tensor(x, "x")
    if x.ndim < 1:
        raise ValueError(f"L'argument « x » doit avoir au moins une dimension (..., n_in) ; reçu : {describe(x)}.")
    real_tensor(weight, "weight", ndim=2)
    same_place(weight, "weight", x, "x")
    if weight.shape[1] != x.shape[-1]:
        raise ValueError(
            f"Les poids « weight » de forme {tuple(weight.shape)} attendent {weight.shape[1]} entrées "
            f"(forme (n_out, n_in)), mais « x » en a {x.shape[-1]} (forme {tuple(x.shape)})."
        )
    y = x @ weight.T
    if bias is not None:
        real_tensor(bias, "bias", ndim=1)
        same_place(bias, "bias", x, "x")
        if bias.shape[0] != weight.shape[0]:
            raise ValueError(
                f"Le biais « bias » doit avoir {weight.shape[0]} valeurs (une par neurone de sortie) ; "
                f"reçu : {describe(bias)}."
            )
        y = y + bias
    return y


def relu(x: torch.Tensor) -> torch.Tensor:
    """« Rectified linear unit » : :math:`\\max(x, 0)`, élément par élément.

    Le gradient vaut 1 là où ``x > 0`` et 0 ailleurs (0 aussi en ``x = 0``, comme ``torch.relu``).

    Références
    ----------
    Nair, V. et Hinton, G. (2010). Rectified linear units improve restricted Boltzmann machines. *ICML*.
    """
    real_tensor(x, "x")
    return torch.where(x > 0, x, torch.zeros_like(x))
