"""Vérification des arguments, avec des messages d'erreur en français.

Chaque fonction publique de ``course_lib`` vérifie ses entrées avec ces
outils : un argument invalide donne une ``TypeError`` ou une ``ValueError``
qui nomme l'argument, la forme attendue et ce qui a été reçu, plutôt qu'un
résultat faux en silence ou une longue pile d'appels.

**Des vérifications en couches** (comme kornia) :

- aux *points d'entrée* publics, la vérification complète : type, forme, puis valeurs (finies, dans
  la plage attendue) en **une seule passe** sur les données (:func:`check_values` : ``aminmax``, une
  seule attente du GPU) ;
- à l'intérieur, seulement la forme (:func:`check_image_shape`, ``check_tensor`` sans ``finite``), qui
  ne lit pas les données ;
- dans les boucles internes, rien : une fonction publique vérifie une fois puis appelle ses versions
  internes (``_rgb_to_lab``, ``_gaussian_blur``…), qui ne vérifient pas.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable

import numpy as np
import torch


def describe(value) -> str:
    """Décrit brièvement une valeur reçue (type, forme, dtype) pour un message d'erreur."""
    if isinstance(value, torch.Tensor):
        return f"tenseur torch de forme {tuple(value.shape)} et de type {value.dtype}"
    if isinstance(value, np.ndarray):
        return f"tableau numpy de forme {value.shape} et de type {value.dtype}"
    if value is None:
        return "None"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} ({text})"


def check_values(value: torch.Tensor, name: str, value_range: tuple[float, float] | None = None) -> None:
    """Vérification complète des valeurs d'un tenseur de réels : finies et, si demandé, dans ``value_range``.

    Une seule passe sur les données (``torch.aminmax`` : un NaN donne un minimum et un maximum NaN) et une
    seule copie vers l'hôte : à faire une fois, aux points d'entrée publics.
    """
    if not value.numel() or not value.is_floating_point():
        return
    vmin, vmax = torch.stack(torch.aminmax(value)).tolist()
    if not (np.isfinite(vmin) and np.isfinite(vmax)):
        raise ValueError(f"L'argument « {name} » contient des valeurs NaN ou infinies.")
    if value_range is not None:
        low, high = value_range
        tol = 1e-4 * max(1.0, high - low)
        if vmin < low - tol or vmax > high + tol:
            raise ValueError(
                f"Les valeurs de « {name} » doivent être dans [{low:g}, {high:g}] ; "
                f"reçu : min {vmin:.4g}, max {vmax:.4g}."
            )


def check_tensor(value, name: str, *, ndim: Iterable[int] | int | None = None,
                 floating: bool = False, finite: bool = False) -> torch.Tensor:
    """Vérifie que ``value`` est un tenseur torch (dimensions, type flottant) ; ``finite`` : aussi ses
    valeurs (une passe sur les données, pour les points d'entrée)."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"L'argument « {name} » doit être un tenseur torch ; reçu : {describe(value)}.")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if value.ndim not in allowed:
            wanted = " ou ".join(str(n) for n in allowed)
            raise ValueError(
                f"L'argument « {name} » doit avoir {wanted} dimensions ; reçu : {describe(value)}."
            )
    if floating and not value.is_floating_point():
        raise TypeError(
            f"L'argument « {name} » doit être un tenseur de nombres réels (float32 ou float64) ; "
            f"reçu : {describe(value)}. Un tenseur d'entiers se convertit avec .float() "
            "(et se divise par 255 pour une image 8 bits)."
        )
    if finite:
        check_values(value, name)
    return value


def check_images(value, name: str = "images", *, channels: Iterable[int] | int | None = None,
                 value_range: tuple[float, float] | None = None,
                 min_size: int = 1) -> tuple[torch.Tensor, bool]:
    """Vérification complète (point d'entrée) d'un lot d'images (B,C,H,W) ou d'une image (C,H,W) en réels :
    la forme (:func:`check_image_shape`), puis les valeurs, finies et dans ``value_range`` (:func:`check_values`).

    Retourne le lot en 4 dimensions et un booléen qui dit s'il faut retirer la
    dimension du lot à la sortie (voir :func:`unbatch`).
    """
    batch, single = check_image_shape(value, name, channels=channels, min_size=min_size)
    check_values(batch, name, value_range)
    return batch, single


def check_image_shape(value, name: str = "images", *, channels: Iterable[int] | int | None = None,
                      min_size: int = 1) -> tuple[torch.Tensor, bool]:
    """Vérifie la forme d'un lot d'images (B,C,H,W) ou d'une image (C,H,W) en réels, sans lire les données.

    Retourne le lot en 4 dimensions et un booléen qui dit s'il faut retirer la
    dimension du lot à la sortie (voir :func:`unbatch`).
    """
    check_tensor(value, name, floating=True)
    if value.ndim not in (3, 4):
        raise ValueError(
            f"L'argument « {name} » doit être une image (C,H,W) ou un lot d'images (B,C,H,W) ; "
            f"reçu : {describe(value)}."
        )
    single = value.ndim == 3
    batch = value.unsqueeze(0) if single else value
    if channels is not None:
        allowed = (channels,) if isinstance(channels, int) else tuple(channels)
        if batch.shape[1] not in allowed:
            wanted = " ou ".join(str(c) for c in allowed)
            raise ValueError(
                f"L'argument « {name} » doit avoir {wanted} canaux (dimension C) ; "
                f"reçu : {describe(value)}."
            )
    if min(batch.shape[-2:]) < min_size:
        raise ValueError(
            f"L'argument « {name} » doit mesurer au moins {min_size} pixels de côté ; "
            f"reçu : {describe(value)}."
        )
    return batch, single


def unbatch(batch: torch.Tensor, single: bool) -> torch.Tensor:
    """Retire la dimension de lot ajoutée par :func:`check_images` quand l'entrée était (C,H,W)."""
    return batch[0] if single else batch


def check_mask(value, name: str = "mask", images: torch.Tensor | None = None, *, size=None,
               device=None) -> torch.Tensor:
    """Vérifie un masque (H,W), (1,H,W) ou (B,1,H,W), booléen ou 0/1 ; le retourne en (B,1,H,W) booléen.

    Avec ``images`` (un lot (B,C,H,W)) : le masque doit avoir leur taille et 1 ou B éléments ; il est
    rendu sur leur appareil et étendu à leur lot. Sinon (un masque de trou, ``True`` = pixel manquant)
    ``size`` impose ``(H, W)`` et ``device`` l'appareil. Un masque qui n'est pas booléen est lu une fois
    (valeurs 0 ou 1) : à vérifier au point d'entrée.
    """
    check_tensor(value, name, ndim=(2, 3, 4))
    mask = value
    if mask.ndim == 2:
        mask = mask[None, None]
    elif mask.ndim == 3:
        mask = mask[None]
    if images is not None:                                # le masque d'un lot d'images
        if mask.shape[1] != 1 or mask.shape[-2:] != images.shape[-2:] or mask.shape[0] not in (1, images.shape[0]):
            raise ValueError(
                f"L'argument « {name} » doit avoir la taille des images {tuple(images.shape[-2:])} "
                f"(forme (H,W), (1,H,W) ou (B,1,H,W)) ; reçu : {describe(value)}."
            )
        if mask.dtype != torch.bool:
            if mask.is_floating_point() and not bool(((mask == 0) | (mask == 1)).all()):
                raise ValueError(f"L'argument « {name} » doit être binaire (0/1 ou booléen).")
            mask = mask != 0
        return mask.to(images.device).expand(images.shape[0], 1, *images.shape[-2:])
    if mask.shape[1] != 1:                                # un masque de trou seul (scènes)
        raise ValueError(f"L'argument « {name} » doit être un masque (H,W), (1,H,W) ou (B,1,H,W) ; "
                         f"reçu : {describe(value)}.")
    if size is not None and tuple(mask.shape[-2:]) != tuple(size):
        raise ValueError(f"L'argument « {name} » doit avoir la taille de l'image {tuple(size)} ; "
                         f"reçu : {describe(value)}.")
    if mask.dtype != torch.bool:
        if not bool(((mask == 0) | (mask == 1)).all()):
            raise ValueError(f"L'argument « {name} » doit être binaire (booléen ou 0/1), True = pixel manquant.")
        mask = mask != 0
    return mask.to(device) if device is not None else mask


def check_number(value, name: str, *, positive: bool = False, nonnegative: bool = False,
                 integer: bool = False, low: float | None = None, high: float | None = None):
    """Vérifie un nombre (entier si ``integer``) et ses bornes ; retourne la valeur."""
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind):
        wanted = "un entier" if integer else "un nombre"
        raise TypeError(f"L'argument « {name} » doit être {wanted} ; reçu : {describe(value)}.")
    if not np.isfinite(value):
        raise ValueError(f"L'argument « {name} » doit être fini ; reçu : {value}.")
    if positive and value <= 0:
        raise ValueError(f"L'argument « {name} » doit être strictement positif ; reçu : {value}.")
    if nonnegative and value < 0:
        raise ValueError(f"L'argument « {name} » doit être positif ou nul ; reçu : {value}.")
    if low is not None and value < low:
        raise ValueError(f"L'argument « {name} » doit être supérieur ou égal à {low} ; reçu : {value}.")
    if high is not None and value > high:
        raise ValueError(f"L'argument « {name} » doit être inférieur ou égal à {high} ; reçu : {value}.")
    return value


def check_choice(value, name: str, choices: Iterable):
    """Vérifie que ``value`` fait partie de ``choices`` ; retourne la valeur."""
    choices = tuple(choices)
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"L'argument « {name} » doit valoir l'un de {listed} ; reçu : {value!r}.")
    return value


def check_size(value, name: str = "size") -> tuple[int, int]:
    """Vérifie une taille d'image : un entier ``s`` (carré s x s) ou un couple ``(H, W)``."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (int(value), int(value))
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value)):
        raise TypeError(
            f"L'argument « {name} » doit être un entier ou un couple d'entiers (H, W) ; "
            f"reçu : {describe(value)}."
        )
    if min(value) < 1:
        raise ValueError(f"L'argument « {name} » doit être strictement positif ; reçu : {tuple(value)}.")
    return int(value[0]), int(value[1])
