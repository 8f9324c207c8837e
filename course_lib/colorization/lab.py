"""Séparer une image en luminosité L et chrominance ab, et recomposer (X, Ŷ).

Zhang, Isola et Efros (2016) prédisent la chrominance ``Ŷ ∈ R^{H×W×2}``
(canaux a*, b* de CIE L*a*b*) à partir de la seule luminosité
``X ∈ R^{H×W×1}`` (canal L*), puis recomposent l'image ``(X, Ŷ)``.
Dans ce module, en tenseurs : L est ``(B,1,H,W)`` dans [0, 100], ab est
``(B,2,H,W)`` en unités Lab (environ [-110, 110] pour les couleurs sRGB).

Les constantes de normalisation sont celles du portage PyTorch officiel
(``colorizers/base_color.py``) : ``(L - 50) / 100`` à l'entrée du réseau et
``ab / 110`` à sa sortie.
"""

from __future__ import annotations

import warnings

import torch

from ..images import lab_to_rgb, rgb_to_lab
from ..validation import check_images, describe, unbatch

__all__ = ["L_CENT", "L_NORM", "AB_NORM", "AB_LIMIT", "split_lab", "merge_lab", "lightness",
           "gray_rgb", "check_lightness", "check_ab"]

#: Centre et échelle du canal L à l'entrée des réseaux : ``(L - 50) / 100``.
L_CENT, L_NORM = 50.0, 100.0
#: Échelle des canaux ab à la sortie des réseaux : ``ab / 110``.
AB_NORM = 110.0
#: Borne des valeurs ab acceptées (CIE L*a*b* : a*, b* dans [-128, 127] environ).
AB_LIMIT = 128.0


def check_lightness(value, name: str = "L") -> tuple[torch.Tensor, bool]:
    """Vérifie un canal L : ``(B,1,H,W)`` ou ``(1,H,W)``, réels dans [0, 100].

    Une image RGB (3 canaux) ou des valeurs hors de [0, 100] donnent une
    erreur en français qui dit quoi faire. Un canal L dont toutes les
    valeurs sont inférieures à 1 ressemble à une image dans [0, 1] : un
    avertissement le signale.
    """
    batch, single = check_images(value, name)
    if batch.shape[1] != 1:
        hint = (" : c'est sans doute une image RGB ; extrayez d'abord son canal L avec "
                "course_lib.colorization.split_lab(images)[0]") if batch.shape[1] == 3 else ""
        raise ValueError(
            f"L'argument « {name} » doit être le canal L seul, de forme (B,1,H,W) ou (1,H,W) ; "
            f"reçu : {describe(value)}{hint}."
        )
    if batch.numel():
        low, high = float(batch.min()), float(batch.max())
        if low < -1e-3 or high > 100 + 1e-3:
            raise ValueError(
                f"Les valeurs de « {name} » doivent être des luminosités L* dans [0, 100] ; "
                f"reçu : min {low:.4g}, max {high:.4g}."
            )
        if high <= 1.0 and batch.numel() > 16:
            warnings.warn(
                f"Toutes les valeurs de « {name} » sont inférieures à 1 : est-ce une image dans [0, 1] "
                "plutôt qu'un canal L* dans [0, 100] ? Utilisez split_lab ou lightness.",
                stacklevel=3,
            )
    return batch, single


def check_ab(value, name: str = "ab") -> tuple[torch.Tensor, bool]:
    """Vérifie des canaux ab : ``(B,2,H,W)`` ou ``(2,H,W)``, réels dans [-128, 128]."""
    batch, single = check_images(value, name)
    if batch.shape[1] != 2:
        raise ValueError(
            f"L'argument « {name} » doit contenir les deux canaux a*, b*, de forme (B,2,H,W) ou (2,H,W) ; "
            f"reçu : {describe(value)}."
        )
    if batch.numel():
        extreme = float(batch.abs().max())
        if extreme > AB_LIMIT:
            raise ValueError(
                f"Les valeurs de « {name} » doivent être des chrominances a*, b* dans [-{AB_LIMIT:g}, "
                f"{AB_LIMIT:g}] (unités Lab) ; reçu une valeur de module {extreme:.4g}. "
                "Des canaux normalisés (ab / 110) se remettent à l'échelle en multipliant par 110."
            )
    return batch, single


def split_lab(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sépare des images sRGB en luminosité ``X`` (L*) et chrominance ``Y`` (a*, b*).

    Paramètres
    ----------
    images : torch.Tensor
        ``(B,3,H,W)`` ou ``(3,H,W)``, sRGB dans [0, 1].

    Retourne
    --------
    (L, ab) : tuple de torch.Tensor
        ``(B,1,H,W)`` dans [0, 100] et ``(B,2,H,W)`` en unités Lab (sans la
        dimension de lot si l'entrée était ``(3,H,W)``).

    Références
    ----------
    Zhang, Isola, Efros, « Colorful Image Colorization », ECCV 2016, section 2.
    """
    batch, single = check_images(images, "images", channels=3, value_range=(0.0, 1.0))
    lab = rgb_to_lab(batch)
    return unbatch(lab[:, :1], single), unbatch(lab[:, 1:], single)


def lightness(images: torch.Tensor) -> torch.Tensor:
    """Le canal L* d'images en niveaux de gris ``(B,1,H,W)`` ou RGB ``(B,3,H,W)`` dans [0, 1].

    Une image grise à un canal est traitée comme l'image RGB ``(g, g, g)``.
    """
    batch, single = check_images(images, "images", channels=(1, 3), value_range=(0.0, 1.0))
    if batch.shape[1] == 1:
        batch = batch.expand(-1, 3, -1, -1)
    return unbatch(rgb_to_lab(batch)[:, :1], single)


def merge_lab(L: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """Recompose ``(X, Ŷ)`` : luminosité et chrominance -> images sRGB dans [0, 1].

    Les couleurs hors du gamut sRGB sont ramenées dans [0, 1]. ``ab`` est
    redimensionné (bilinéaire) à la taille de ``L`` s'il est plus petit,
    comme le fait le code officiel quand le réseau travaille en basse résolution.
    """
    lum, single = check_lightness(L, "L")
    chroma, _ = check_ab(ab, "ab")
    if chroma.shape[0] != lum.shape[0]:
        raise ValueError(
            f"« L » et « ab » doivent avoir le même nombre d'images ; reçu {lum.shape[0]} et {chroma.shape[0]}."
        )
    if chroma.shape[-2:] != lum.shape[-2:]:
        chroma = torch.nn.functional.interpolate(chroma, size=lum.shape[-2:], mode="bilinear", align_corners=False)
    return unbatch(lab_to_rgb(torch.cat([lum, chroma.to(lum)], dim=1)), single)


def gray_rgb(images: torch.Tensor) -> torch.Tensor:
    """L'image grise de même luminosité L* (a* = b* = 0), en sRGB à 3 canaux : la « base grise »."""
    batch, single = check_images(images, "images", channels=(1, 3), value_range=(0.0, 1.0))
    if batch.shape[1] == 3:
        L = rgb_to_lab(batch)[:, :1]
    else:
        L = lightness(batch)
    return unbatch(merge_lab(L, torch.zeros_like(L).expand(-1, 2, -1, -1)), single)
