"""Vérifications communes des entrées des couches écrites à la main (messages en français)."""

from __future__ import annotations

import numbers

import torch

from ..validation import check_tensor, describe


def real_tensor(value, name: str, ndim=None) -> torch.Tensor:
    """Un tenseur de réels (pas d'entiers), sans NaN ni infini, avec le nombre de dimensions voulu
    (:func:`course_lib.validation.check_tensor`, vérification complète : pour les points d'entrée)."""
    return check_tensor(value, name, ndim=ndim, floating=True, finite=True)


def same_place(value: torch.Tensor, name: str, like: torch.Tensor, like_name: str) -> None:
    """Vérifie que deux tenseurs ont le même type de réels et sont sur le même appareil."""
    if value.dtype != like.dtype:
        raise TypeError(
            f"« {name} » ({value.dtype}) et « {like_name} » ({like.dtype}) doivent avoir le même type ; "
            f"convertissez l'un des deux, par exemple {name}.to({like_name}.dtype)."
        )
    if value.device != like.device:
        raise ValueError(
            f"« {name} » est sur {value.device} et « {like_name} » sur {like.device} : "
            "les deux doivent être sur le même appareil."
        )


def pair(value, name: str, minimum: int) -> tuple[int, int]:
    """Un entier ``n`` ou un couple ``(n_h, n_w)`` d'entiers supérieurs ou égaux à ``minimum``."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (int(value), int(value))
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value)):
        raise TypeError(
            f"L'argument « {name} » doit être un entier ou un couple d'entiers (hauteur, largeur) ; "
            f"reçu : {describe(value)}."
        )
    if min(value) < minimum:
        raise ValueError(f"L'argument « {name} » doit valoir au moins {minimum} ; reçu : {tuple(value)}.")
    return int(value[0]), int(value[1])


def batch_of_maps(value, name: str = "x") -> tuple[torch.Tensor, bool]:
    """Un lot de cartes ``(B,C,H,W)`` ou une carte ``(C,H,W)`` ; retourne le lot et « était-ce une seule ? »."""
    real_tensor(value, name, ndim=(3, 4))
    single = value.ndim == 3
    return (value.unsqueeze(0) if single else value), single
