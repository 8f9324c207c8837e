"""Un petit réseau à convolution, et la taille du champ récepteur de ses unités.

Le réseau est une composition :math:`f(x) = f_L(\\dots f_2(f_1(x)))` :
convolution → ReLU → regroupement, deux fois (les « unités simples » de plus
en plus grandes, comme V1 → V2 → V4 → IT), puis une dernière couche
entièrement connectée qui donne un score par classe.
"""

from __future__ import annotations

import torch
from torch import nn

from ..validation import check_number, describe

__all__ = ["SmallCNN", "receptive_field"]


class SmallCNN(nn.Module):
    """Petit CNN de classification : ``[conv k×k → ReLU → max 2×2] → [conv 3×3 → ReLU → max 2×2] → linéaire``.

    Une moyenne adaptative ramène les cartes finales à 2×2, si bien que le même
    réseau accepte des chiffres 8×8, des imagettes 16×16 ou des images 32×32.

    Paramètres
    ----------
    in_channels : int
        Canaux d'entrée (1 en niveaux de gris, 3 en couleur).
    n_classes : int
        Nombre de classes (taille de la dernière couche).
    width : int
        Nombre de filtres de la première couche (la seconde en a le double).
    kernel_size : int
        Côté (impair) des filtres de la première couche, ceux qu'on compare aux filtres de Gabor.

    Références
    ----------
    LeCun, Y. et al. (1998). Gradient-based learning applied to document recognition. *Proc. IEEE* 86(11).
    """

    def __init__(self, in_channels: int = 1, n_classes: int = 10, width: int = 16, kernel_size: int = 5):
        super().__init__()
        for value, name in ((in_channels, "in_channels"), (n_classes, "n_classes"), (width, "width")):
            check_number(value, name, integer=True, positive=True)
        check_number(kernel_size, "kernel_size", integer=True, positive=True)
        if kernel_size % 2 == 0:
            raise ValueError(f"L'argument « kernel_size » doit être impair ; reçu : {kernel_size}.")
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, kernel_size, padding=kernel_size // 2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(2),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(2 * width * 4, n_classes))
        self.in_channels = in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scores (logits) ``(B, n_classes)`` d'un lot ``(B, C, H, W)`` (au moins 4×4 pixels)."""
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"Le réseau attend un lot d'images (B, {self.in_channels}, H, W) ; reçu : {describe(x)}."
            )
        return self.classifier(self.features(x))

    def trace(self, x: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
        """Les sorties successives :math:`f_1(x)`, :math:`f_2(f_1(x))`, ... avec le nom de chaque couche."""
        steps = [("entrée", x)]
        for layer in [*self.features, *self.classifier]:
            x = layer(x)
            steps.append((type(layer).__name__, x))
        return steps

    @property
    def first_filters(self) -> torch.Tensor:
        """Les filtres de la première couche, ``(width, in_channels, k, k)`` (détachés)."""
        return self.features[0].weight.detach()


def receptive_field(layers) -> list[int]:
    """Côté du champ récepteur (en pixels d'entrée) après chaque couche d'une pile de convolutions.

    Une couche de noyau :math:`k` et de pas :math:`s` agrandit le champ de
    :math:`(k - 1)\\,j` où :math:`j` est le produit des pas précédents :
    :math:`r_l = r_{l-1} + (k_l - 1)\\, j_{l-1}`, :math:`j_l = j_{l-1} s_l`, :math:`r_0 = j_0 = 1`.

    Paramètres
    ----------
    layers : liste de couples ``(k, s)``
        Noyau et pas de chaque couche (convolution ou regroupement).

    Retourne
    --------
    list[int]
        :math:`r_1, \\dots, r_L`.

    Références
    ----------
    Araujo, A., Norris, W. et Sim, J. (2019). Computing receptive fields of convolutional neural networks.
    *Distill*, éq. (2).
    """
    sizes, size, jump = [], 1, 1
    for k, layer in enumerate(layers):
        if not isinstance(layer, (tuple, list)) or len(layer) != 2:
            raise TypeError(f"La couche n° {k} doit être un couple (noyau, pas) ; reçu : {describe(layer)}.")
        kernel, stride = layer
        check_number(kernel, f"layers[{k}][0]", integer=True, positive=True)
        check_number(stride, f"layers[{k}][1]", integer=True, positive=True)
        size += (kernel - 1) * jump
        jump *= stride
        sizes.append(size)
    return sizes
