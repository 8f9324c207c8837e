"""Quantification de l'espace ab : cases, encodage doux, a priori, rééquilibrage, décodage.

Zhang, Isola et Efros (2016) remplacent la régression des couleurs par une
*classification* : l'espace ab est découpé en cases de côté 10, le réseau
prédit pour chaque pixel une distribution ``Ẑ`` sur les ``Q`` cases, et la
couleur est lue dans cette distribution (mode, moyenne ou « moyenne recuite »).

Conventions : ab est ``(B,2,H,W)`` en unités Lab ; les cases sont un tenseur
``(Q,2)`` de centres (a, b) ; une distribution est ``(B,Q,H,W)`` (somme 1 sur Q).
Tout se calcule en opérations de tenseurs sur l'appareil de l'entrée.

Références
----------
R. Zhang, P. Isola, A. A. Efros, « Colorful Image Colorization », ECCV 2016,
section 2.1 (équations 2 à 5) et section 3.1 (AuC).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import torch

from ..images import rgb_to_lab
from ..validation import check_images, check_number, check_tensor, describe, unbatch
from .lab import check_ab

__all__ = ["GRID_SIZE", "ab_bins", "nearest_bin", "soft_encode", "soft_encode_topk", "empirical_prior",
           "smooth_prior", "rebalance_weights", "annealed_mean", "mode_decode", "check_bins"]

#: Côté des cases de l'espace ab (article : « grid size 10 »).
GRID_SIZE = 10.0
#: Points par côté de chaque face du cube RGB échantillonnée par :func:`ab_bins`.
_FACE_SAMPLES = 257
_CHUNK = 1 << 16  # pixels traités à la fois (mémoire bornée à _CHUNK x Q)


# --------------------------------------------------------------------------- les cases

def _cube_faces(n: int) -> torch.Tensor:
    """Les six faces du cube sRGB, échantillonnées en ``n x n`` points : ``(6,3,n,n)`` en float64."""
    t = torch.linspace(0.0, 1.0, n, dtype=torch.float64)
    u, v = torch.meshgrid(t, t, indexing="ij")
    faces = []
    for axis in range(3):
        others = [c for c in range(3) if c != axis]
        for value in (0.0, 1.0):
            channels = [None, None, None]
            channels[axis] = torch.full_like(u, value)
            channels[others[0]], channels[others[1]] = u, v
            faces.append(torch.stack(channels))
    return torch.stack(faces)


@functools.cache
def _gamut_bins(n: int) -> torch.Tensor:
    ab = rgb_to_lab(_cube_faces(n))[:, 1:].permute(0, 2, 3, 1).reshape(-1, 2)
    cells = torch.floor(ab / GRID_SIZE + 0.5).to(torch.int64)      # indice de la case la plus proche
    cells = torch.unique(cells, dim=0)                              # trié par a, puis par b
    return cells.to(torch.float64) * GRID_SIZE


def ab_bins(device=None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Les centres des cases ab de côté 10 que le gamut sRGB atteint : un tenseur ``(Q,2)``.

    Règle (calculée, jamais recopiée) : les centres candidats sont les points
    ``(10 i, 10 j)`` de la grille ; la case d'un centre ``c`` est le carré
    ``[c_a - 5, c_a + 5[ x [c_b - 5, c_b + 5[``, c'est-à-dire l'ensemble des ab dont
    ``c`` est le point de grille le plus proche. On garde une case si au moins
    une couleur sRGB (R, G, B dans [0, 1], convertie par
    :func:`course_lib.images.rgb_to_lab`, D65) y tombe. Chaque couleur sRGB est
    donc à au plus une demi-diagonale de case (``5 √2 ≈ 7.07``) d'un centre, et
    son point de grille le plus proche est une case.

    Calcul : la projection sur le plan ab du solide du gamut est celle de sa
    surface, image des six faces du cube RGB ; on échantillonne chaque face en
    257 x 257 points et on garde les cases atteintes. Le résultat est stable
    de 257 à 2049 points par côté : la case gardée la moins atteinte l'est de
    0.13 unité ab, la case rejetée la plus proche est à 0.15 unité du gamut.
    On obtient **Q = 262** cases, toutes parmi les 313 de la version publiée
    par les auteurs (``pts_in_hull.npy``), dont la règle, plus large, n'est pas
    documentée. Les centres sont triés par a croissant, puis b croissant.

    Paramètres
    ----------
    device : torch.device ou str, optionnel
    dtype : torch.dtype
        ``float32`` par défaut.

    Retourne
    --------
    torch.Tensor
        ``(Q,2)`` : les centres (a, b), multiples de 10.

    Références
    ----------
    Zhang, Isola, Efros, ECCV 2016, section 2.1 : « We quantize the ab output
    space into bins with grid size 10 and keep the Q = 313 values which are in-gamut ».
    """
    return _gamut_bins(_FACE_SAMPLES).to(device=device or "cpu", dtype=dtype, copy=True)


def check_bins(bins, name: str = "bins") -> torch.Tensor:
    """Vérifie un tenseur de centres de cases ``(Q,2)`` en réels finis ; le retourne."""
    check_tensor(bins, name, ndim=2, floating=True, finite=True)
    if bins.shape[1] != 2 or bins.shape[0] < 1:
        raise ValueError(
            f"L'argument « {name} » doit être un tenseur (Q,2) de centres (a, b) ; reçu : {describe(bins)}."
        )
    return bins


def _default_bins(bins, q: int, like: torch.Tensor, name: str) -> torch.Tensor:
    if bins is None:
        bins = ab_bins(device=like.device, dtype=like.dtype if like.is_floating_point() else torch.float32)
        if bins.shape[0] != q:
            raise ValueError(
                f"« {name} » a {q} cases, mais ab_bins() en donne {bins.shape[0]} : passez les centres "
                "des cases de votre modèle avec bins=... (par exemple model.bins)."
            )
        return bins
    check_bins(bins)
    if bins.shape[0] != q:
        raise ValueError(f"« {name} » a {q} cases, mais « bins » en a {bins.shape[0]}.")
    return bins.to(like.device)


# --------------------------------------------------------------------------- encodage

def _flat_ab(ab: torch.Tensor) -> torch.Tensor:
    return ab.permute(0, 2, 3, 1).reshape(-1, 2)


def nearest_bin(ab: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    """Indice de la case la plus proche de chaque pixel : ``(B,2,H,W)`` -> ``(B,H,W)`` (int64)."""
    batch, single = check_ab(ab)
    check_bins(bins)
    centres = bins.to(batch)
    flat = _flat_ab(batch)
    index = torch.cat([torch.cdist(part, centres, compute_mode="donot_use_mm_for_euclid_dist").argmin(dim=1)
                       for part in flat.split(_CHUNK)]) if flat.numel() else flat.new_zeros(0, dtype=torch.int64)
    index = index.view(batch.shape[0], *batch.shape[-2:])
    return index[0] if single else index


def soft_encode_topk(ab: torch.Tensor, bins: torch.Tensor, k: int = 5, sigma: float = 5.0):
    """Encodage doux sous forme creuse : les ``k`` cases voisines et leurs poids.

    Retourne ``(weights, indices)``, deux tenseurs ``(B,k,H,W)`` (réels, int64),
    triés de la case la plus proche à la plus lointaine. C'est ce qu'utilise
    l'entraînement : l'entropie croisée n'a besoin que de ces ``k`` termes.
    Voir :func:`soft_encode` pour la définition.
    """
    batch, single = check_ab(ab)
    check_bins(bins)
    check_number(k, "k", integer=True, positive=True, high=bins.shape[0])
    check_number(sigma, "sigma", positive=True)
    centres = bins.to(batch)
    flat = _flat_ab(batch)
    weights, indices = [], []
    for part in flat.split(_CHUNK):
        distances = torch.cdist(part, centres, compute_mode="donot_use_mm_for_euclid_dist")
        dist, index = distances.topk(k, dim=1, largest=False, sorted=True)
        squared = dist.square()
        # exp(-d²/2σ²), décalé par la plus petite distance pour ne jamais diviser 0 par 0
        kernel = torch.exp(-(squared - squared[:, :1]) / (2.0 * sigma ** 2))
        weights.append(kernel / kernel.sum(dim=1, keepdim=True))
        indices.append(index)
    b, (h, w) = batch.shape[0], batch.shape[-2:]
    if flat.shape[0]:
        weights = torch.cat(weights).view(b, h, w, k).permute(0, 3, 1, 2)
        indices = torch.cat(indices).view(b, h, w, k).permute(0, 3, 1, 2)
    else:
        weights = batch.new_zeros(b, k, h, w)
        indices = torch.zeros(b, k, h, w, dtype=torch.int64, device=batch.device)
    return unbatch(weights.contiguous(), single), unbatch(indices.contiguous(), single)


def soft_encode(ab: torch.Tensor, bins: torch.Tensor, k: int = 5, sigma: float = 5.0) -> torch.Tensor:
    """Encodage doux des couleurs ab sur les cases : la cible ``Z`` de la classification.

    Pour chaque pixel, on cherche ses ``k`` cases les plus proches
    (distance euclidienne dans le plan ab) et on leur donne des poids
    gaussiens ``exp(-d² / (2 σ²))`` normalisés à une somme de 1 ; les autres
    cases reçoivent 0. Un encodage « dur » (un seul 1) oublierait que deux
    cases voisines sont des couleurs presque identiques.

    Paramètres
    ----------
    ab : torch.Tensor
        ``(B,2,H,W)`` ou ``(2,H,W)``, unités Lab dans [-128, 128].
    bins : torch.Tensor
        ``(Q,2)``, centres des cases (par exemple :func:`ab_bins`).
    k : int
        Nombre de voisins (5 dans l'article).
    sigma : float
        Écart type du noyau gaussien, en unités ab (5 dans l'article).

    Retourne
    --------
    torch.Tensor
        ``(B,Q,H,W)`` (ou ``(Q,H,W)``) : une distribution par pixel (somme 1),
        dont l'espérance ``Σ_q Z_q c_q`` est proche de ab.

    Références
    ----------
    Zhang, Isola, Efros, ECCV 2016, section 2.1 : « we find the 5-nearest
    neighbors to Y_{h,w} in the output space and weight them proportionally to
    their distance from the ground truth using a Gaussian kernel with σ = 5 ».
    """
    weights, indices = soft_encode_topk(ab, bins, k=k, sigma=sigma)
    single = weights.ndim == 3
    weights, indices = (weights[None], indices[None]) if single else (weights, indices)
    out = weights.new_zeros(weights.shape[0], bins.shape[0], *weights.shape[-2:])
    out.scatter_(1, indices, weights)
    return unbatch(out, single)


# --------------------------------------------------------------------------- a priori et rééquilibrage

def _iter_batches(images) -> Iterable[torch.Tensor]:
    if isinstance(images, torch.Tensor):
        yield images
        return
    if not isinstance(images, Iterable):
        raise TypeError(
            "L'argument « images » doit être un lot d'images (B,3,H,W) ou un itérable de lots ; "
            f"reçu : {describe(images)}."
        )
    yield from images


def empirical_prior(images, bins: torch.Tensor | None = None) -> torch.Tensor:
    """Distribution empirique des couleurs sur les cases ab : la fréquence ``p`` de chaque case.

    Chaque pixel compte pour sa case la plus proche (:func:`nearest_bin`).

    Paramètres
    ----------
    images : torch.Tensor ou itérable de torch.Tensor
        Images sRGB ``(B,3,H,W)`` / ``(3,H,W)`` dans [0, 1], ou un itérable de
        tels lots (un dossier parcouru par morceaux, par exemple).
    bins : torch.Tensor, optionnel
        ``(Q,2)`` ; :func:`ab_bins` par défaut.

    Retourne
    --------
    torch.Tensor
        ``(Q,)`` en float32, de somme 1, sur l'appareil des images.

    Références
    ----------
    Zhang, Isola, Efros, ECCV 2016, section 2.1 et figure 3 (a priori empirique
    sur ImageNet, en échelle logarithmique).
    """
    counts = None
    for k, batch in enumerate(_iter_batches(images)):
        rgb, _ = check_images(batch, "images" if k == 0 else f"images (lot n° {k + 1})", channels=3,
                              value_range=(0.0, 1.0))
        centres = ab_bins(device=rgb.device) if bins is None else check_bins(bins).to(rgb.device, torch.float32)
        ab = rgb_to_lab(rgb)[:, 1:]
        index = nearest_bin(ab, centres).flatten()
        part = torch.bincount(index, minlength=centres.shape[0]).to(torch.float64)
        counts = part if counts is None else counts + part.to(counts.device)
    if counts is None:
        raise ValueError("L'argument « images » ne contient aucun lot d'images.")
    if float(counts.sum()) == 0:
        raise ValueError("Les images ne contiennent aucun pixel : impossible d'estimer l'a priori.")
    return (counts / counts.sum()).to(torch.float32)


def _check_prior(prior, name: str = "prior") -> torch.Tensor:
    check_tensor(prior, name, ndim=1, floating=True, finite=True)
    if prior.numel() == 0 or bool((prior < 0).any()) or float(prior.sum()) <= 0:
        raise ValueError(
            f"L'argument « {name} » doit être une distribution (Q,) de valeurs positives ou nulles, "
            f"de somme strictement positive ; reçu : {describe(prior)}."
        )
    return prior


def smooth_prior(prior: torch.Tensor, sigma: float = 5.0, bins: torch.Tensor | None = None) -> torch.Tensor:
    """Lisse l'a priori par un noyau gaussien dans le plan ab : ``p̃ ∝ G_σ * p``.

    ``p̃_q = Σ_r exp(-‖c_q - c_r‖² / (2 σ²)) p_r``, puis ``p̃`` est renormalisé à
    une somme de 1 (la masse qui « sortirait » du gamut est redistribuée).
    ``sigma = 0`` ne lisse pas (renormalise seulement).
    """
    _check_prior(prior)
    check_number(sigma, "sigma", nonnegative=True)
    p = prior.to(torch.float64)
    p = p / p.sum()
    if sigma > 0:
        centres = _default_bins(bins, p.shape[0], prior, "prior").to(torch.float64)
        kernel = torch.exp(-torch.cdist(centres, centres).square() / (2.0 * sigma ** 2))
        p = kernel @ p
        p = p / p.sum()
    return p.to(prior.dtype)


def rebalance_weights(prior: torch.Tensor, lam: float = 0.5, sigma: float = 5.0,
                      bins: torch.Tensor | None = None) -> torch.Tensor:
    """Poids de rééquilibrage des classes : les couleurs rares comptent plus.

    ``w ∝ ((1 - λ) p̃ + λ / Q)^{-1}``, normalisé pour que l'espérance du poids
    sous l'a priori lissé vaille 1 : ``Σ_q p̃_q w_q = 1``. ``p̃`` est l'a priori
    lissé par :func:`smooth_prior` (noyau gaussien de ``sigma`` unités ab).
    ``λ = 1`` donne des poids tous égaux à 1 (pas de rééquilibrage).

    Paramètres
    ----------
    prior : torch.Tensor
        ``(Q,)``, distribution empirique des cases (:func:`empirical_prior`).
    lam : float
        Mélange avec la distribution uniforme, dans ]0, 1] (1/2 dans l'article).
    sigma : float
        Lissage de l'a priori (5 dans l'article ; 0 pour ne pas lisser).
    bins : torch.Tensor, optionnel
        ``(Q,2)``, nécessaires au lissage ; :func:`ab_bins` par défaut.

    Retourne
    --------
    torch.Tensor
        ``(Q,)``, poids positifs, de même type que ``prior``.

    Références
    ----------
    Zhang, Isola, Efros, ECCV 2016, équation 4 : ``w ∝ ((1-λ) p̃ + λ/Q)^{-1}``,
    ``E[w] = Σ_q p̃_q w_q = 1``, avec ``λ = 1/2`` et ``σ = 5``.
    """
    _check_prior(prior)
    check_number(lam, "lam", low=0.0, high=1.0)
    if lam == 0:
        raise ValueError("L'argument « lam » doit être strictement positif (λ = 0 divise par les cases "
                         "jamais vues) ; l'article prend λ = 1/2.")
    p = smooth_prior(prior, sigma=sigma, bins=bins).to(torch.float64)
    q = p.shape[0]
    weights = 1.0 / ((1.0 - lam) * p + lam / q)
    weights = weights / (p * weights).sum()
    return weights.to(prior.dtype)


# --------------------------------------------------------------------------- décodage

def _check_distribution(probs, name: str = "probs") -> tuple[torch.Tensor, bool]:
    check_tensor(probs, name, ndim=(3, 4), floating=True)
    single = probs.ndim == 3
    batch = probs[None] if single else probs
    if batch.numel():
        low = float(batch.amin())
        error = float((batch.sum(dim=1) - 1).abs().amax())
        if not low >= 0:
            raise ValueError(
                f"« {name} » doit contenir des probabilités (positives ou nulles) ; reçu un minimum de "
                f"{low:.4g}. Appliquez un softmax aux scores du réseau (dim=1)."
            )
        if not error <= 1e-3:
            raise ValueError(
                f"« {name} » doit être une distribution sur les Q cases (somme 1 selon la dimension 1) ; "
                f"écart maximal à 1 : {error:.4g}. Appliquez un softmax aux scores du réseau (dim=1)."
            )
    return batch, single


def _annealed(batch: torch.Tensor, T: float, centres: torch.Tensor) -> torch.Tensor:
    """Moyenne recuite d'un lot ``(B,Q,H,W)`` déjà vérifié (voir :func:`annealed_mean`).

    ``exp(log z_q / T) = z_q^{1/T}`` ; on divise d'abord ``z`` par son maximum
    (ce qui ne change pas le résultat normalisé) pour qu'aucune puissance ne
    tombe à 0 quand ``T`` est petit. La somme pondérée des centres est un
    produit matriciel ``(2,Q) @ (Q, H·W)``.
    """
    b, q, h, w = batch.shape
    if T == 0:
        return centres[batch.argmax(dim=1)].permute(0, 3, 1, 2).contiguous()
    peak = batch.amax(dim=1, keepdim=True).clamp_min(torch.finfo(batch.dtype).tiny)
    annealed = (batch / peak).pow_(1.0 / T).flatten(2)                     # (B, Q, H·W), max = 1
    mean = torch.matmul(centres.T.to(batch.dtype), annealed) / annealed.sum(dim=1, keepdim=True)
    return mean.view(b, 2, h, w)


def annealed_mean(probs: torch.Tensor, T: float = 0.38, bins: torch.Tensor | None = None) -> torch.Tensor:
    """Moyenne recuite : la couleur de la distribution ``z`` « refroidie » à la température ``T``.

    ``f_T(z)_q = exp(log z_q / T) / Σ_r exp(log z_r / T)`` puis
    ``ab = Σ_q f_T(z)_q c_q``. La température agit sur les
    *log-probabilités* : ``T = 1`` donne la moyenne de ``z``, ``T -> 0`` son
    mode ; ``T = 0`` est accepté et donne exactement le mode
    (:func:`mode_decode`). La moyenne est terne (elle mélange les modes), le
    mode est vif mais fait des taches ; ``T = 0.38`` est le compromis de l'article.

    Paramètres
    ----------
    probs : torch.Tensor
        ``(B,Q,H,W)`` ou ``(Q,H,W)``, une distribution par pixel.
    T : float
        Température, ``T >= 0``.
    bins : torch.Tensor, optionnel
        ``(Q,2)`` ; :func:`ab_bins` par défaut (si ``Q`` correspond).

    Retourne
    --------
    torch.Tensor
        ``(B,2,H,W)`` (ou ``(2,H,W)``), en unités Lab.

    Références
    ----------
    Zhang, Isola, Efros, ECCV 2016, équation 5 : ``H(Z) = E[f_T(Z)]``,
    ``f_T(z) = exp(log(z)/T) / Σ_q exp(log(z_q)/T)``, ``T = 0.38``.
    """
    batch, single = _check_distribution(probs)
    check_number(T, "T", nonnegative=True)
    centres = _default_bins(bins, batch.shape[1], batch, "probs").to(batch.dtype)
    return unbatch(_annealed(batch, T, centres), single)


def mode_decode(probs: torch.Tensor, bins: torch.Tensor | None = None) -> torch.Tensor:
    """Le mode : la couleur de la case la plus probable de chaque pixel, ``(B,2,H,W)``."""
    batch, single = _check_distribution(probs)
    centres = _default_bins(bins, batch.shape[1], batch, "probs").to(batch.dtype)
    return unbatch(_annealed(batch, 0, centres), single)
