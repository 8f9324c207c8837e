"""Mesurer une colorisation : PSNR, AuC de l'erreur ab, colorfulness.

Aucune mesure ne dit à elle seule si une colorisation est « bonne » : une
image grise a un PSNR honorable (la luminosité est juste), une colorisation
vive mais fausse est pénalisée par le PSNR plus qu'une colorisation terne.
D'où l'expérience perceptive (« Turing test de la colorisation ») de l'article.
"""

from __future__ import annotations

import torch

from ..validation import check_images, check_number, check_tensor, describe
from .lab import check_ab

__all__ = ["psnr", "ab_error_curve", "ab_auc", "colorfulness"]


def _pair(pred, target, name_pred: str, name_target: str):
    a, _ = check_images(pred, name_pred)
    b, _ = check_images(target, name_target)
    if a.shape != b.shape:
        raise ValueError(
            f"« {name_pred} » et « {name_target} » doivent avoir la même forme ; reçu : "
            f"{describe(pred)} et {describe(target)}."
        )
    return a, b


def psnr(pred: torch.Tensor, target: torch.Tensor, max_value: float = 1.0) -> torch.Tensor:
    """Rapport signal sur bruit de crête, image par image : ``10 log10(max² / EQM)`` (dB).

    Paramètres
    ----------
    pred, target : torch.Tensor
        ``(B,C,H,W)`` ou ``(C,H,W)``, même forme (images sRGB dans [0, 1] d'habitude).
    max_value : float
        Valeur de crête (1 pour des images dans [0, 1]).

    Retourne
    --------
    torch.Tensor
        ``(B,)`` en dB (``inf`` pour deux images identiques).
    """
    a, b = _pair(pred, target, "pred", "target")
    check_number(max_value, "max_value", positive=True)
    mse = (a.to(torch.float64) - b.to(torch.float64)).square().flatten(1).mean(dim=1)
    return (10.0 * torch.log10(max_value ** 2 / mse)).to(a.dtype)


def ab_error_curve(pred_ab: torch.Tensor, true_ab: torch.Tensor, max_threshold: float = 150.0,
                   step: float = 1.0, pixel_weights: torch.Tensor | None = None):
    """Part des pixels dont l'erreur ab ``‖ab_prédit - ab_vrai‖₂`` est sous chaque seuil.

    Retourne ``(seuils, parts)`` : ``(S,)`` et ``(B,S)`` (une courbe cumulée par image).
    ``pixel_weights`` ``(B,1,H,W)`` ou ``(B,H,W)`` pondère les pixels (par exemple
    l'inverse de l'a priori pour la version « rééquilibrée » de l'article).
    """
    a, _ = check_ab(pred_ab, "pred_ab")
    b, _ = check_ab(true_ab, "true_ab")
    if a.shape != b.shape:
        raise ValueError(f"« pred_ab » et « true_ab » doivent avoir la même forme ; reçu : "
                         f"{describe(pred_ab)} et {describe(true_ab)}.")
    check_number(max_threshold, "max_threshold", positive=True)
    check_number(step, "step", positive=True)
    error = (a.to(torch.float64) - b.to(torch.float64)).norm(dim=1).flatten(1)              # (B, N)
    if pixel_weights is None:
        weights = torch.ones_like(error)
    else:
        check_tensor(pixel_weights, "pixel_weights", floating=True, finite=True)
        if pixel_weights.numel() != error.numel() or bool((pixel_weights < 0).any()):
            raise ValueError(f"« pixel_weights » doit donner un poids positif par pixel ({error.numel()} en tout) ; "
                             f"reçu : {describe(pixel_weights)}.")
        weights = pixel_weights.reshape(error.shape).to(error)
    count = int(max_threshold / step + 1e-9) + 1
    thresholds = torch.arange(count, dtype=torch.float64, device=error.device) * step
    # erreur e <= seuil j*step  <=>  j >= ceil(e / step) : un histogramme cumulé, sans tableau (B, S, N)
    first = torch.ceil(error / step - 1e-9).clamp(0, count).to(torch.int64)
    histogram = torch.zeros(error.shape[0], count + 1, dtype=torch.float64, device=error.device)
    histogram.scatter_add_(1, first, weights)
    parts = histogram.cumsum(dim=1)[:, :count] / weights.sum(dim=1, keepdim=True)
    return thresholds, parts


def ab_auc(pred_ab: torch.Tensor, true_ab: torch.Tensor, max_threshold: float = 150.0, step: float = 1.0,
           pixel_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Aire sous la courbe de l'erreur ab (AuC), normalisée dans [0, 1], image par image.

    On balaie les seuils ``t = 0, 1, ..., 150`` ; pour chacun, la part des
    pixels dont l'erreur ab (distance L2 dans le plan ab) est ``<= t`` ; l'aire
    sous cette courbe cumulée (méthode des trapèzes), divisée par 150, est
    l'AuC. 1 = couleurs parfaites ; dans l'article, l'image grise obtient
    89.1 % sur ImageNet.

    Retourne
    --------
    torch.Tensor
        ``(B,)``, dans [0, 1].

    Références
    ----------
    Zhang, Isola, Efros, ECCV 2016, section 3.1 et tableau 1 (« AuC »).
    """
    thresholds, parts = ab_error_curve(pred_ab, true_ab, max_threshold, step, pixel_weights)
    area = torch.trapezoid(parts, thresholds, dim=1)
    return (area / (thresholds[-1] - thresholds[0])).to(torch.float32)


def colorfulness(images: torch.Tensor) -> torch.Tensor:
    """Colorfulness de Hasler et Süsstrunk (2003), image par image.

    Avec R, G, B sur [0, 255] : ``rg = R - G``, ``yb = (R + G) / 2 - B`` et
    ``M = sqrt(σ_rg² + σ_yb²) + 0.3 sqrt(μ_rg² + μ_yb²)``. Repères de
    l'article : 0 pas coloré, 15 peu, 33 moyennement, 45 assez, 59 bien,
    82 très, 109 extrêmement coloré.

    Paramètres
    ----------
    images : torch.Tensor
        ``(B,3,H,W)`` ou ``(3,H,W)``, sRGB dans [0, 1].

    Retourne
    --------
    torch.Tensor
        ``(B,)``.

    Références
    ----------
    D. Hasler, S. Süsstrunk, « Measuring colourfulness in natural images »,
    SPIE Human Vision and Electronic Imaging VIII, 2003, équation 3 (métrique M^(3)).
    """
    batch, _ = check_images(images, "images", channels=3, value_range=(0.0, 1.0))
    rgb = batch.to(torch.float64) * 255.0
    r, g, b = rgb.unbind(dim=1)
    rg = (r - g).flatten(1)
    yb = (0.5 * (r + g) - b).flatten(1)
    spread = torch.sqrt(rg.var(dim=1, unbiased=False) + yb.var(dim=1, unbiased=False))
    mean = torch.sqrt(rg.mean(dim=1).square() + yb.mean(dim=1).square())
    return (spread + 0.3 * mean).to(batch.dtype)
