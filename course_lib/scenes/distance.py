"""Distance entre scènes avec un trou : SSD des descripteurs, chaque case pondérée par sa part de pixels connus.

Hays et Efros (2007, §3) comparent le gist de l'image à compléter à celui de
chaque scène de la base, mais la région manquante ne doit pas compter : chaque
case du descripteur (un filtre ou un canal de couleur dans un bloc de la grille
4 x 4) est pondérée par la *fraction de pixels valides* de son bloc :

.. math::

    d(q, x) = \\sum_{k} w_{b(k)}\\,(q_k - x_k)^2,
    \\qquad w_b = \\frac{\\#\\{\\text{pixels connus du bloc } b\\}}{\\#\\{\\text{pixels du bloc } b\\}}.

Un bloc entièrement connu compte pleinement, un bloc à moitié masqué compte à
moitié, un bloc entièrement dans le trou ne compte pas. Dans les descripteurs de
:mod:`course_lib.scenes.gist`, la case ``k`` appartient au bloc ``k mod n²``.

Références
----------
J. Hays, A. A. Efros, « Scene Completion Using Millions of Photographs », SIGGRAPH 2007, §3.
"""

from __future__ import annotations

import torch

from ..validation import check_mask, check_number, check_tensor, describe
from .gist import block_average, get_preset

__all__ = ["as_mask", "block_valid_fraction", "expand_block_weights", "descriptor_weights", "weighted_ssd",
           "masked_scene_distance"]


def as_mask(mask, name: str = "mask", size=None, device=None) -> torch.Tensor:
    """Vérifie un masque de trou (``True`` = pixel manquant) et le retourne en ``(B,1,H,W)`` booléen.

    Accepte ``(H,W)``, ``(1,H,W)`` ou ``(B,1,H,W)``, booléen ou 0/1. ``size`` impose ``(H, W)``.
    C'est :func:`course_lib.validation.check_mask`, sous le nom qu'utilisent les modules de scènes.
    """
    return check_mask(mask, name, size=size, device=device)


def block_valid_fraction(mask, n_blocks: int = 4, image_size: int | None = None) -> torch.Tensor:
    """Fraction de pixels *connus* de chaque bloc de la grille, dans l'ordre des blocs du gist.

    Paramètres
    ----------
    mask : torch.Tensor
        Masque du trou, ``True`` = pixel manquant ; ``(H,W)``, ``(1,H,W)`` ou ``(B,1,H,W)``.
    n_blocks : int
        Côté de la grille (4).
    image_size : int, optionnel
        Taille de travail du gist : le masque subit alors le même ``imresizecrop`` que l'image
        (moyenne des pixels, donc des fractions au bord du trou).

    Retourne
    --------
    torch.Tensor
        ``(B, n_blocks²)`` dans [0, 1] (float64, float32 sur MPS), l'indice de ligne du bloc variant le plus vite.
    """
    check_number(n_blocks, "n_blocks", integer=True, positive=True)
    m = as_mask(mask)
    precise = torch.float32 if m.device.type == "mps" else torch.float64    # des fractions exactes
    valid = (~m).to(precise)
    if image_size is not None:
        from ..images import resize_crop

        valid = resize_crop(valid, image_size).clamp(0, 1)
    if min(valid.shape[-2:]) < n_blocks:
        raise ValueError(f"Le masque ({tuple(valid.shape[-2:])}) est plus petit que la grille de {n_blocks} blocs.")
    return block_average(valid[:, 0], n_blocks).transpose(-1, -2).flatten(1)


def expand_block_weights(block_weights: torch.Tensor, dim: int) -> torch.Tensor:
    """Étend des poids par bloc ``(..., n²)`` aux ``dim`` cases d'un descripteur (case ``k`` -> bloc ``k mod n²``)."""
    n2 = block_weights.shape[-1]
    if dim % n2:
        raise ValueError(f"La taille du descripteur ({dim}) n'est pas un multiple du nombre de blocs ({n2}).")
    return block_weights.repeat(*([1] * (block_weights.ndim - 1)), dim // n2)


def descriptor_weights(mask, preset="hays_efros", image_size: int | None = None) -> torch.Tensor:
    """Poids de chaque case du descripteur d'un préréglage : ``(B, D)`` float32 (la fraction de pixels connus de
    son bloc)."""
    p = get_preset(preset, image_size)
    blocks = block_valid_fraction(mask, p.n_blocks, p.image_size)
    return expand_block_weights(blocks, p.dim).float()


def weighted_ssd(query: torch.Tensor, database: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Somme des carrés des écarts pondérée, ``Σ_k w_k (q_k - x_k)²``, par produits matriciels.

    Paramètres
    ----------
    query : torch.Tensor
        ``(D,)`` ou ``(Q, D)``.
    database : torch.Tensor
        ``(N, D)``.
    weights : torch.Tensor, optionnel
        ``(D,)`` ou ``(Q, D)``, positifs ; 1 partout par défaut.

    Retourne
    --------
    torch.Tensor
        ``(N,)`` ou ``(Q, N)`` : ``w·x² - 2 (w q)·x + w·q²``, calculé sans tenseur ``(Q, N, D)``.
    """
    check_tensor(query, "query", ndim=(1, 2), floating=True)
    check_tensor(database, "database", ndim=2, floating=True)
    single = query.ndim == 1
    q = query[None] if single else query
    if q.shape[1] != database.shape[1]:
        raise ValueError(f"« query » et « database » doivent avoir la même taille de descripteur ; "
                         f"reçu : {q.shape[1]} et {database.shape[1]}.")
    if weights is None:
        w = torch.ones_like(q)
    else:
        check_tensor(weights, "weights", ndim=(1, 2), floating=True)
        w = (weights[None] if weights.ndim == 1 else weights).to(q)
        if w.shape[-1] != q.shape[1] or w.shape[0] not in (1, q.shape[0]):
            raise ValueError(f"« weights » doit avoir la forme de « query » ; reçu : {describe(weights)}.")
        w = w.expand_as(q)
    x = database.to(q)
    out = (x * x) @ w.T - 2 * x @ (w * q).T + (w * q * q).sum(dim=1)
    out = out.T.clamp_min(0)
    return out[0] if single else out


def masked_scene_distance(query: torch.Tensor, database: torch.Tensor, mask=None, n_blocks: int = 4) -> torch.Tensor:
    """Distance de scène masquée de Hays et Efros, sur des descripteurs rangés comme le gist.

    Paramètres
    ----------
    query : torch.Tensor
        ``(D,)`` avec ``D = K n²`` : ``K`` groupes (filtres, canaux) de ``n²`` blocs, l'indice de
        ligne du bloc variant le plus vite.
    database : torch.Tensor
        ``(N, D)``.
    mask : torch.Tensor, optionnel
        ``(H, W)`` booléen, ``True`` = pixel manquant, à la résolution où le descripteur a été calculé.
        Sans masque : la SSD ordinaire.
    n_blocks : int
        Côté de la grille (4).

    Retourne
    --------
    torch.Tensor
        ``(N,)`` : ``Σ_k w_{k mod n²} (q_k - x_k)²`` avec ``w_b`` la fraction de pixels connus du bloc ``b``.

    Références
    ----------
    Hays et Efros (2007), §3 (« weighted by the mask »).
    """
    check_tensor(query, "query", ndim=1, floating=True)
    check_tensor(database, "database", ndim=2, floating=True)
    if mask is None:
        return weighted_ssd(query, database)
    blocks = block_valid_fraction(mask, n_blocks)[0].to(query)
    if float(blocks.sum()) == 0:
        raise ValueError("Le masque couvre toute l'image : aucun pixel connu pour comparer les scènes.")
    return weighted_ssd(query, database, expand_block_weights(blocks, query.shape[0]))
