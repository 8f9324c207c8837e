"""Appariement local : aligner chaque scène candidate sur le contexte du trou (Hays et Efros 2007, §4).

Le *contexte* est la bande de pixels connus à moins de ``band`` pixels (80 dans
l'article) du trou. Pour chaque scène candidate, à chaque échelle (0,81, 0,90 et 1)
et pour chaque translation qui garde le contexte entièrement dans la scène, on
calcule

- la SSD des couleurs L*a*b* sur la bande ;
- un terme de texture : la SSD, sur la bande, de la médiane 5 x 5 du module du gradient.

Les deux SSD de toutes les translations s'obtiennent d'un coup par corrélation
dans le domaine de Fourier (``torch.fft.rfft2``), pour tout un lot de scènes :
``Σ w (T - S_t)² = Σ w T² - 2 (S ⋆ wT)(t) + (S² ⋆ w)(t)``. Les coûts sont divisés
par le nombre de pixels de la bande (une SSD moyenne par pixel).

Références
----------
J. Hays, A. A. Efros, « Scene Completion Using Millions of Photographs », SIGGRAPH 2007, §4.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..filters import _gradient_magnitude
from ..images import _resize, _rgb_to_lab
from ..validation import check_images, check_mask, check_number, describe

__all__ = ["SCALES", "hole_distance", "context_band", "texture_map", "median_filter", "ContextMatch",
           "match_context"]

#: Échelles des scènes candidates (Hays et Efros 2007, §4).
SCALES = (0.81, 0.90, 1.0)


def _hole_distance(hole: torch.Tensor) -> torch.Tensor:
    from scipy.ndimage import distance_transform_edt

    mask = hole.to("cpu").numpy()
    if not mask.any():
        raise ValueError("Le masque « mask » est vide : il n'y a pas de trou à compléter.")
    return torch.from_numpy(distance_transform_edt(~mask).astype(np.float32)).to(hole.device)


def hole_distance(mask) -> torch.Tensor:
    """Distance euclidienne (en pixels) de chaque pixel au trou le plus proche, ``(H, W)`` ; 0 dans le trou.

    Transformée de distance exacte de SciPy, calculée une fois par requête sur le CPU puis remise
    sur l'appareil du masque.
    """
    m = check_mask(mask)
    if m.shape[0] != 1:
        raise ValueError(f"Un seul masque (H,W) est attendu ; reçu : {describe(mask)}.")
    return _hole_distance(m[0, 0])


def context_band(mask, band: float = 80) -> torch.Tensor:
    """La bande de contexte : pixels connus à au plus ``band`` pixels du trou, ``(H, W)`` booléen."""
    check_number(band, "band", positive=True)
    distance = hole_distance(mask)
    return (distance > 0) & (distance <= band)


def _median_filter(batch: torch.Tensor, size: int = 5) -> torch.Tensor:
    r = size // 2
    B, C, H, W = batch.shape
    padded = F.pad(batch.reshape(B * C, 1, H, W), (r, r, r, r), mode="reflect")
    patches = F.unfold(padded, size)                      # (B*C, size², H*W)
    return patches.median(dim=1).values.reshape(B, C, H, W)


def median_filter(images: torch.Tensor, size: int = 5) -> torch.Tensor:
    """Filtre médian ``size x size`` canal par canal (bord par réflexion), par ``unfold`` sur l'appareil."""
    batch, single = check_images(images, "images")
    out = _median_filter(batch, size)
    return out[0] if single else out


def _texture_map(batch: torch.Tensor, lab: torch.Tensor | None = None) -> torch.Tensor:
    lab = _rgb_to_lab(batch) if lab is None else lab
    return _median_filter(_gradient_magnitude(lab[:, :1]) / 8.0, 5)


def texture_map(images: torch.Tensor) -> torch.Tensor:
    """Descripteur de texture de Hays et Efros : médiane 5 x 5 du module du gradient (Sobel) de L*.

    ``(B,3,H,W)`` RGB dans [0, 1] donne ``(B,1,H,W)`` (unités de L*, de 0 à 100).
    """
    batch, single = check_images(images, "images", channels=3, value_range=(0.0, 1.0), min_size=2)
    out = _texture_map(batch)
    return out[0] if single else out


@dataclass
class ContextMatch:
    """Meilleur placement de chaque scène candidate sur le contexte du trou.

    Attributs
    ---------
    scale : torch.Tensor
        ``(K,)`` échelle retenue (parmi :data:`SCALES`).
    offset : torch.Tensor
        ``(K, 2)`` position ``(ligne, colonne)``, dans la scène mise à l'échelle, du coin du rectangle de contexte.
    context_cost, texture_cost : torch.Tensor
        ``(K,)`` SSD moyennes par pixel de la bande (L*a*b*, texture).
    aligned : torch.Tensor
        ``(K,3,H,W)`` la scène placée dans le repère de la requête.
    coverage : torch.Tensor
        ``(K,1,H,W)`` booléen : pixels de la requête couverts par la scène placée.
    band : torch.Tensor
        ``(H, W)`` booléen, la bande de contexte.
    box : tuple
        ``(haut, bas, gauche, droite)`` du rectangle qui contient le trou et sa bande.
    """

    scale: torch.Tensor
    offset: torch.Tensor
    context_cost: torch.Tensor
    texture_cost: torch.Tensor
    aligned: torch.Tensor
    coverage: torch.Tensor
    band: torch.Tensor
    box: tuple[int, int, int, int]


def _spectrum(kernel: torch.Tensor, H: int, W: int) -> torch.Tensor:
    padded = kernel.new_zeros(kernel.shape[0], H, W)
    padded[:, :kernel.shape[-2], :kernel.shape[-1]] = kernel
    return torch.fft.rfft2(padded).conj()


def _correlate(images: torch.Tensor, kernel_spectrum: torch.Tensor, out_h: int, out_w: int) -> torch.Tensor:
    """Corrélation « valide », canal par canal : ``Σ_u kernel[c,u] images[:,c,t+u]``, ``t`` dans
    ``[0,out_h) x [0,out_w)`` (par FFT : sans repliement, car le noyau tient dans l'image)."""
    H, W = images.shape[-2:]
    return torch.fft.irfft2(torch.fft.rfft2(images) * kernel_spectrum, s=(H, W))[..., :out_h, :out_w]


def match_context(image: torch.Tensor, mask, scenes: torch.Tensor, band: float = 80, scales=SCALES,
                  texture_weight: float = 1.0, chunk_size: int = 16) -> ContextMatch:
    """Place chaque scène candidate au mieux sur le contexte du trou (toutes translations, 3 échelles).

    Paramètres
    ----------
    image : torch.Tensor
        ``(3,H,W)`` la requête, dans [0, 1].
    mask : torch.Tensor
        ``(H,W)`` booléen, ``True`` = pixel manquant.
    scenes : torch.Tensor
        ``(K,3,H,W)`` les scènes candidates, à la taille de la requête.
    band : float
        Largeur de la bande de contexte en pixels (80 dans l'article, pour des images d'environ 1024 pixels).
    scales : tuple de float
        Échelles essayées (0,81, 0,90, 1).
    texture_weight : float
        Poids du terme de texture dans le choix du placement (coût = contexte + poids x texture).
    chunk_size : int
        Scènes traitées ensemble (mémoire).

    Retourne
    --------
    ContextMatch

    Références
    ----------
    Hays et Efros (2007), §4.
    """
    query, single = check_images(image, "image", channels=3, value_range=(0.0, 1.0))
    if not single and query.shape[0] != 1:
        raise ValueError(f"Une seule image requête est attendue ; reçu : {describe(image)}.")
    cands, _ = check_images(scenes, "scenes", channels=3, value_range=(0.0, 1.0))
    H, W = query.shape[-2:]
    if cands.shape[-2:] != (H, W):
        raise ValueError(f"Les scènes doivent avoir la taille de la requête {(H, W)} ; reçu : {describe(scenes)}.")
    check_number(band, "band", positive=True)
    check_number(texture_weight, "texture_weight", nonnegative=True)
    check_number(chunk_size, "chunk_size", integer=True, positive=True)
    for scale in scales:
        check_number(scale, "scales", positive=True, high=1.0)
    hole = check_mask(mask, size=(H, W), device=query.device)[0, 0]
    return _match_context(query[0], hole, cands, band, scales, texture_weight, chunk_size)


def _match_context(query: torch.Tensor, hole: torch.Tensor, cands: torch.Tensor, band: float = 80,
                   scales=SCALES, texture_weight: float = 1.0, chunk_size: int = 16) -> ContextMatch:
    """:func:`match_context` sur des entrées déjà vérifiées : ``query`` ``(3,H,W)``, ``hole`` ``(H,W)``
    booléen, ``cands`` ``(K,3,H,W)`` ; ni la requête ni les scènes ne sont relues pour être vérifiées."""
    H, W = query.shape[-2:]
    if bool(hole.all()):
        raise ValueError("Le masque couvre toute l'image : il n'y a pas de contexte à apparier.")
    distance = _hole_distance(hole)
    ring = (distance > 0) & (distance <= band)
    region = ring | hole
    rows = torch.nonzero(region.any(dim=1)).flatten()
    cols = torch.nonzero(region.any(dim=0)).flatten()
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    bh, bw = bottom - top, right - left
    weight = ring[top:bottom, left:right].to(query.dtype)
    n_band = float(weight.sum())
    q_lab = _rgb_to_lab(query[None])
    q_tex = _texture_map(query[None], q_lab)[0][:, top:bottom, left:right]
    template = torch.cat([q_lab[0][:, top:bottom, left:right], q_tex]) * weight          # canaux : L, a, b, texture
    constant = (template * template / weight.clamp_min(1e-12) * (weight > 0)).sum(dim=(1, 2))

    K = cands.shape[0]
    best = torch.full((K,), float("inf"), device=query.device)
    best_ctx = torch.full((K,), float("inf"), device=query.device)
    best_tex = torch.full((K,), float("inf"), device=query.device)
    best_scale = torch.ones(K, device=query.device)
    best_offset = torch.zeros(K, 2, dtype=torch.long, device=query.device)
    for scale in scales:
        hs, ws = round(scale * H), round(scale * W)
        if hs < bh or ws < bw:
            continue                                        # le contexte ne tient pas dans la scène réduite
        out_h, out_w = hs - bh + 1, ws - bw + 1
        template_spectrum = _spectrum(template, hs, ws)
        weight_spectrum = _spectrum(weight.expand(4, -1, -1), hs, ws)
        for first in range(0, K, chunk_size):
            chunk = cands[first:first + chunk_size]
            scaled = chunk if (hs, ws) == (H, W) else _resize(chunk, (hs, ws)).clamp(0, 1)
            lab = _rgb_to_lab(scaled)
            features = torch.cat([lab, _texture_map(scaled, lab)], dim=1)   # (k,4,hs,ws)
            cross = _correlate(features, template_spectrum, out_h, out_w)
            energy = _correlate(features**2, weight_spectrum, out_h, out_w)
            ssd = (constant.view(1, 4, 1, 1) - 2 * cross + energy).clamp_min(0) / n_band
            ctx, tex = ssd[:, :3].sum(dim=1), ssd[:, 3]
            total = (ctx + texture_weight * tex).flatten(1)
            value, where = total.min(dim=1)
            better = value < best[first:first + len(chunk)]
            idx = torch.arange(first, first + len(chunk), device=query.device)[better]
            best[idx] = value[better]
            best_ctx[idx] = ctx.flatten(1).gather(1, where[:, None])[better, 0]
            best_tex[idx] = tex.flatten(1).gather(1, where[:, None])[better, 0]
            best_scale[idx] = scale
            best_offset[idx, 0] = (where // out_w)[better]
            best_offset[idx, 1] = (where % out_w)[better]
    if not bool(torch.isfinite(best).all()):
        raise ValueError(f"Le trou et sa bande de contexte ({bh}x{bw} pixels) ne tiennent dans aucune scène "
                         f"mise à l'échelle : réduisez « band » ou le trou.")
    aligned, coverage = _place(cands, best_scale, best_offset, (top, left), (H, W))
    return ContextMatch(best_scale, best_offset, best_ctx, best_tex, aligned, coverage, ring,
                        (top, bottom, left, right))


def _place(scenes: torch.Tensor, scales: torch.Tensor, offsets: torch.Tensor, corner: tuple[int, int],
           size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """La scène ``k`` mise à l'échelle ``scales[k]`` et décalée pour que son point ``offsets[k]`` tombe
    sur le coin ``corner`` du rectangle de contexte de la requête."""
    H, W = size
    K = scenes.shape[0]
    aligned = torch.zeros_like(scenes)
    coverage = torch.zeros(K, 1, H, W, dtype=torch.bool, device=scenes.device)
    ys = torch.arange(H, device=scenes.device)
    xs = torch.arange(W, device=scenes.device)
    for scale in torch.unique(scales).tolist():
        group = torch.nonzero(scales == scale).flatten()
        hs, ws = round(scale * H), round(scale * W)
        scaled = scenes[group] if (hs, ws) == (H, W) else _resize(scenes[group], (hs, ws)).clamp(0, 1)
        rows = ys[None] - corner[0] + offsets[group, 0:1]          # (g, H)
        cols = xs[None] - corner[1] + offsets[group, 1:2]          # (g, W)
        inside = ((rows >= 0) & (rows < hs))[:, :, None] & ((cols >= 0) & (cols < ws))[:, None, :]
        g = len(group)
        r = rows.clamp(0, hs - 1)[:, None, :, None].expand(g, 3, H, ws)
        c = cols.clamp(0, ws - 1)[:, None, None, :].expand(g, 3, H, W)
        gathered = scaled.gather(2, r).gather(3, c)
        aligned[group] = gathered * inside[:, None]
        coverage[group] = inside[:, None]
    return aligned, coverage
