"""Mélange par gradients (« Poisson image editing ») résolu exactement par transformée en sinus.

On cherche l'image ``f`` dont le laplacien discret égale la divergence d'un champ de
guidage ``v``, avec les valeurs de la cible imposées au bord d'un rectangle ``R``
(Pérez, Gangnet et Blake 2003, éq. 7, sur un domaine rectangulaire) :

.. math::

    \\sum_{q \\in N_p} f_q - 4 f_p = \\operatorname{div} v\\,(p) \\quad (p \\text{ intérieur à } R),
    \\qquad f = t \\text{ sur le bord de } R.

Comme ``cv2.seamlessClone`` : ``R`` est le rectangle englobant du masque (ici agrandi
d'un pixel, pour que tout le masque soit inconnu) ; le guidage d'une arête entre
pixels voisins ``p, q`` est le gradient de la source ``s_q - s_p`` si l'arête
touche le masque, celui de la cible ``t_q - t_p`` sinon. En mode ``"mixed"``
(éq. 13), on garde sur chaque arête celui des deux gradients qui a le plus grand
module. Sur un rectangle avec bord de Dirichlet, le laplacien discret est
diagonal dans la base des sinus (DST-I) : une DST 2D, une division par les valeurs
propres ``2 cos(π k/(h+1)) + 2 cos(π l/(w+1)) - 4``, une DST inverse. La DST
est calculée par ``torch.fft.rfft`` (extension impaire), sur l'appareil des images.

Différences avec ``cv2.seamlessClone`` (voir les tests) : OpenCV érode le masque
de 3 pixels avant de choisir les gradients de la source, prend pour rectangle le
rectangle englobant sans marge (les pixels extrêmes du masque gardent la valeur de
la cible), travaille sur des ``uint8`` (arrondi à 1/255) et, en mode mixte, compare
``|g_x - g_y|`` plutôt que le module de chaque gradient. Avec le même champ de
guidage, notre solveur redonne la sortie d'OpenCV à l'arrondi près.

Références
----------
P. Pérez, M. Gangnet, A. Blake, « Poisson Image Editing », SIGGRAPH 2003 (éq. 7, 11 et 13).
J. Hays, A. A. Efros, « Scene Completion Using Millions of Photographs », SIGGRAPH 2007, §5.
"""

from __future__ import annotations

import math

import torch

from ..validation import check_choice, check_images, check_mask, describe, unbatch

__all__ = ["poisson_blend", "guidance_field", "divergence", "dst1", "solve_dirichlet", "blend_rectangle"]


def dst1(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Transformée en sinus de type I, non normalisée, le long de ``dim`` :
    ``X_k = Σ_{j=1}^{n} x_j sin(π j k / (n + 1))``. Son inverse est ``2/(n+1)`` fois elle-même.

    Calculée par la FFT réelle de l'extension impaire ``[0, x, 0, -x renversé]`` (longueur ``2(n+1)``).
    """
    last = dim in (-1, x.ndim - 1)
    if not last:
        x = x.transpose(dim, -1)
    n = x.shape[-1]
    odd = x.new_zeros(*x.shape[:-1], 2 * (n + 1))
    odd[..., 1:n + 1] = x
    odd[..., n + 2:] = x.flip(-1)
    odd[..., n + 2:].neg_()
    out = torch.fft.rfft(odd, dim=-1).imag[..., 1:n + 1].mul(-0.5)
    return out if last else out.transpose(dim, -1)


def guidance_field(source: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                   mode: str = "seamless") -> tuple[torch.Tensor, torch.Tensor]:
    """Champ de guidage sur les arêtes : ``(gx, gy)`` de formes ``(B,C,H,W-1)`` et ``(B,C,H-1,W)``.

    ``gx[..., y, x]`` guide l'arête ``(y, x) -> (y, x+1)``. Une arête qui touche le masque prend le
    gradient de la source (``"seamless"``) ou le plus fort des gradients de la source et de la cible
    (``"mixed"``, Pérez et al. éq. 13) ; les autres prennent le gradient de la cible.
    """
    check_choice(mode, "mode", ("seamless", "mixed"))
    m = mask
    fields = []
    for dim in (-1, -2):
        n = source.shape[dim]
        ds = source.narrow(dim, 1, n - 1) - source.narrow(dim, 0, n - 1)
        dt = target.narrow(dim, 1, n - 1) - target.narrow(dim, 0, n - 1)
        touch = m.narrow(dim, 1, n - 1) | m.narrow(dim, 0, n - 1)
        chosen = ds if mode == "seamless" else torch.where(ds.abs() > dt.abs(), ds, dt)
        fields.append(torch.where(touch, chosen, dt))
    return fields[0], fields[1]


def divergence(gx: torch.Tensor, gy: torch.Tensor) -> torch.Tensor:
    """Divergence par différences arrière : ``gx(p) - gx(p - x) + gy(p) - gy(p - y)`` (0 hors de l'image)."""
    pad_x = torch.nn.functional.pad(gx, (1, 1))
    pad_y = torch.nn.functional.pad(gy, (0, 0, 1, 1))
    return pad_x[..., 1:] - pad_x[..., :-1] + pad_y[..., 1:, :] - pad_y[..., :-1, :]


def solve_dirichlet(boundary: torch.Tensor, div: torch.Tensor) -> torch.Tensor:
    """Résout exactement ``Δf = div`` à l'intérieur d'un rectangle, ``f = boundary`` sur son bord.

    Paramètres
    ----------
    boundary : torch.Tensor
        ``(B,C,h,w)`` : seules les valeurs du bord (première et dernière lignes et colonnes) comptent.
    div : torch.Tensor
        ``(B,C,h,w)`` : le second membre (seul l'intérieur compte).

    Retourne
    --------
    torch.Tensor
        ``(B,C,h,w)`` : ``boundary`` sur le bord, la solution à l'intérieur (DST-I, sur l'appareil).
    """
    h, w = boundary.shape[-2:]
    if h < 3 or w < 3:
        return boundary.clone()
    ring = boundary.clone()
    ring[..., 1:-1, 1:-1] = 0
    # somme des voisins déjà connus (le bord) de chaque pixel intérieur
    known = ring[..., :-2, 1:-1] + ring[..., 2:, 1:-1] + ring[..., 1:-1, :-2] + ring[..., 1:-1, 2:]
    rhs = div[..., 1:-1, 1:-1] - known
    ny, nx = h - 2, w - 2
    ky = torch.arange(1, ny + 1, device=div.device, dtype=div.dtype)
    kx = torch.arange(1, nx + 1, device=div.device, dtype=div.dtype)
    eigen = (2 * torch.cos(math.pi * ky / (ny + 1)) - 2)[:, None] + (2 * torch.cos(math.pi * kx / (nx + 1)) - 2)
    spectrum = dst1(dst1(rhs, -1), -2) / eigen
    interior = dst1(dst1(spectrum, -1), -2) * (4.0 / ((ny + 1) * (nx + 1)))
    out = boundary.clone()
    out[..., 1:-1, 1:-1] = interior
    return out


def blend_rectangle(mask: torch.Tensor) -> tuple[int, int, int, int]:
    """Rectangle ``(haut, bas, gauche, droite)`` (bornes exclusives en bas et à droite) du mélange :
    le rectangle englobant du masque (tous les éléments du lot), agrandi d'un pixel."""
    rows = torch.nonzero(mask.any(dim=-1).reshape(-1, mask.shape[-2]).any(dim=0)).flatten()
    cols = torch.nonzero(mask.any(dim=-2).reshape(-1, mask.shape[-1]).any(dim=0)).flatten()
    height, width = mask.shape[-2:]
    return (max(int(rows[0]) - 1, 0), min(int(rows[-1]) + 2, height),
            max(int(cols[0]) - 1, 0), min(int(cols[-1]) + 2, width))


def poisson_blend(source: torch.Tensor, target: torch.Tensor, mask, mode: str = "seamless",
                  clamp: bool = True) -> torch.Tensor:
    """Colle la région ``mask`` de ``source`` dans ``target`` par mélange de gradients (exact, par DST).

    Paramètres
    ----------
    source, target : torch.Tensor
        ``(B,C,H,W)`` ou ``(C,H,W)``, de même forme, valeurs dans [0, 1] (calcul dans leur type,
        float32 ou float64, sur leur appareil).
    mask : torch.Tensor
        ``True`` (ou 1) = pixel pris dans la source ; ``(H,W)``, ``(1,H,W)`` ou ``(B,1,H,W)``.
        Les pixels du bord de l'image gardent la valeur de la cible (comme OpenCV).
    mode : str
        ``"seamless"`` (gradients de la source) ou ``"mixed"`` (le plus fort gradient, Pérez éq. 13).
    clamp : bool
        Ramène le résultat dans [0, 1].

    Retourne
    --------
    torch.Tensor
        Même forme que ``target`` : la cible, dont le rectangle englobant du masque (agrandi d'un
        pixel) est remplacé par la solution de l'équation de Poisson. Pour un lot, le rectangle est
        celui de l'union des masques (un seul solveur pour tout le lot).

    Références
    ----------
    Pérez, Gangnet et Blake (2003), éq. 7 et 13 ; OpenCV ``seamlessClone``.
    """
    check_choice(mode, "mode", ("seamless", "mixed"))
    tgt, single = check_images(target, "target", min_size=3)
    src, _ = check_images(source, "source", min_size=3)
    if src.shape != tgt.shape:
        raise ValueError(f"« source » et « target » doivent avoir la même forme ; reçu : "
                         f"{describe(source)} et {describe(target)}.")
    if src.device != tgt.device:
        raise ValueError("« source » et « target » doivent être sur le même appareil.")
    m = check_mask(mask, size=tgt.shape[-2:], device=tgt.device)
    if m.shape[0] not in (1, tgt.shape[0]):
        raise ValueError(f"Le masque a {m.shape[0]} éléments pour un lot de {tgt.shape[0]} images.")
    return unbatch(_poisson_blend(src, tgt, m, mode, clamp), single)


def _poisson_blend(src: torch.Tensor, tgt: torch.Tensor, m: torch.Tensor, mode: str = "seamless",
                   clamp: bool = True) -> torch.Tensor:
    """:func:`poisson_blend` sur des lots ``(B,C,H,W)`` déjà vérifiés et un masque ``(1 ou B,1,H,W)`` booléen."""
    if not bool(m.any()):
        raise ValueError("Le masque « mask » est vide : aucun pixel à mélanger.")
    if bool(m.all(dim=(1, 2, 3)).any()):
        raise ValueError("Le masque « mask » couvre toute l'image : il ne reste aucun pixel de la cible pour "
                         "fixer la condition au bord de l'équation de Poisson.")
    m = m.expand(tgt.shape[0], -1, -1, -1).clone()
    m[..., 0, :] = m[..., -1, :] = False            # le bord de l'image garde la cible
    m[..., :, 0] = m[..., :, -1] = False
    if not bool(m.any()):
        raise ValueError("Le masque « mask » ne touche que le bord de l'image, qui garde la cible : "
                         "aucun pixel à mélanger.")
    top, bottom, left, right = blend_rectangle(m)
    s = src[..., top:bottom, left:right]
    t = tgt[..., top:bottom, left:right]
    gx, gy = guidance_field(s, t, m[..., top:bottom, left:right], mode)
    solved = solve_dirichlet(t, divergence(gx, gy))
    out = tgt.clone()
    out[..., top:bottom, left:right] = solved.clamp(0, 1) if clamp else solved
    return out
