"""Remplir un trou par diffusion : la méthode « locale » que la complétion de scènes dépasse.

Les méthodes par diffusion propagent les couleurs du bord vers l'intérieur du trou
(équations aux dérivées partielles) : parfait pour une rayure, flou et sans
structure pour un grand trou. On utilise les deux méthodes d'OpenCV
(``cv2.inpaint``), sans les réécrire.

Références
----------
A. Telea, « An Image Inpainting Technique Based on the Fast Marching Method », JGT 2004.
M. Bertalmío, A. L. Bertozzi, G. Sapiro, « Navier-Stokes, fluid dynamics, and image and video
inpainting », CVPR 2001.
"""

from __future__ import annotations

import numpy as np
import torch

from ..images import to_numpy
from ..validation import check_choice, check_images, check_mask, check_number, unbatch

__all__ = ["diffusion_inpaint"]


def diffusion_inpaint(images: torch.Tensor, mask, radius: float = 3.0, method: str = "telea") -> torch.Tensor:
    """Remplit le trou par diffusion avec ``cv2.inpaint``.

    Paramètres
    ----------
    images : torch.Tensor
        ``(B,3,H,W)``, ``(3,H,W)`` ou une image grise ``(1,H,W)``, dans [0, 1].
    mask : torch.Tensor
        ``True`` = pixel manquant ; ``(H,W)``, ``(1,H,W)`` ou ``(B,1,H,W)``.
    radius : float
        Rayon du voisinage utilisé autour de chaque pixel (pixels).
    method : str
        ``"telea"`` (marche rapide, Telea 2004) ou ``"ns"`` (Navier-Stokes, Bertalmío et al. 2001).

    Retourne
    --------
    torch.Tensor
        Même forme et même appareil ; OpenCV travaille sur des ``uint8`` (les images passent
        par le CPU pour cet appel).
    """
    import cv2

    batch, single = check_images(images, "images", channels=(1, 3), value_range=(0.0, 1.0))
    check_number(radius, "radius", positive=True)
    check_choice(method, "method", ("telea", "ns"))
    m = check_mask(mask, size=batch.shape[-2:])
    if m.shape[0] not in (1, batch.shape[0]):
        raise ValueError(f"Le masque a {m.shape[0]} éléments pour un lot de {batch.shape[0]} images.")
    if not bool(m.any()):
        raise ValueError("Le masque « mask » est vide : il n'y a rien à remplir.")
    if bool(m.all(dim=(1, 2, 3)).any()):
        raise ValueError("Le masque « mask » couvre toute l'image : aucun pixel connu à diffuser.")
    flag = cv2.INPAINT_TELEA if method == "telea" else cv2.INPAINT_NS
    masks = m.expand(batch.shape[0], -1, -1, -1)
    filled = []
    for k in range(batch.shape[0]):
        array = to_numpy(batch[k], dtype="uint8")
        hole = masks[k, 0].to("cpu").numpy().astype(np.uint8) * 255
        result = cv2.inpaint(array, hole, float(radius), flag)
        filled.append(torch.from_numpy(result.astype(np.float32) / 255.0))
    out = torch.stack(filled)
    out = out[:, None] if out.ndim == 3 else out.permute(0, 3, 1, 2)
    out = out.to(batch.device, batch.dtype)
    # les pixels connus restent exactement ceux d'entrée (pas d'arrondi uint8)
    out = torch.where(masks, out, batch)
    return unbatch(out, single)
