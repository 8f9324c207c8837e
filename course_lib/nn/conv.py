"""Convolution 2D et regroupement par maximum, écrits à la main.

Une couche de convolution applique le *même* petit filtre à toutes les
fenêtres de l'image : ses paramètres sont **partagés**. Deux versions donnent
le même résultat que ``torch.nn.functional.conv2d`` (qui, comme tous les
réseaux de neurones, calcule en fait une *corrélation* : le filtre n'est pas
retourné) :

- :func:`conv2d_loops` fait glisser la fenêtre avec deux boucles, pour lire l'idée ;
- :func:`conv2d` découpe d'abord toutes les fenêtres en colonnes (« im2col »,
  ``torch.nn.functional.unfold``), puis fait un seul produit de matrices : c'est
  ainsi que les bibliothèques l'ont longtemps calculée sur GPU.

Taille de la sortie, pour une entrée ``H``, un noyau ``k``, un pas ``s`` et une
marge ``p`` : :math:`\\lfloor (H + 2p - k) / s \\rfloor + 1`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..validation import describe
from ._inputs import batch_of_maps, pair, real_tensor, same_place

__all__ = ["conv2d", "conv2d_loops", "max_pool2d", "output_size"]


def output_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Taille de sortie d'une convolution ou d'un regroupement : ``(size + 2 * padding - kernel) // stride + 1``."""
    return (size + 2 * padding - kernel) // stride + 1


def _check_conv(x, weight, bias, stride, padding):
    batch, single = batch_of_maps(x, "x")
    real_tensor(weight, "weight", ndim=4)
    same_place(weight, "weight", batch, "x")
    if weight.shape[1] != batch.shape[1]:
        raise ValueError(
            f"Les filtres « weight » de forme {tuple(weight.shape)} (O, C, kh, kw) attendent "
            f"{weight.shape[1]} canaux, mais « x » en a {batch.shape[1]} (forme {tuple(x.shape)})."
        )
    if bias is not None:
        real_tensor(bias, "bias", ndim=1)
        same_place(bias, "bias", batch, "x")
        if bias.shape[0] != weight.shape[0]:
            raise ValueError(
                f"Le biais « bias » doit avoir {weight.shape[0]} valeurs (une par filtre) ; reçu : {describe(bias)}."
            )
    stride = pair(stride, "stride", 1)
    padding = pair(padding, "padding", 0)
    sizes = [output_size(batch.shape[2 + d], weight.shape[2 + d], stride[d], padding[d]) for d in (0, 1)]
    if min(sizes) < 1:
        raise ValueError(
            f"Le noyau {tuple(weight.shape[-2:])} est plus grand que l'entrée {tuple(batch.shape[-2:])} "
            f"augmentée de la marge {padding} : la sortie serait vide."
        )
    return batch, single, stride, padding, sizes


def conv2d_loops(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                 stride=1, padding=0) -> torch.Tensor:
    """Convolution 2D (corrélation) écrite avec deux boucles sur les positions de sortie, pour la lecture.

    À chaque position, on découpe la fenêtre de l'entrée sous le filtre, on la
    multiplie élément par élément par chacun des ``O`` filtres et on somme :
    c'est :math:`y_j = \\sum_i w_{ij} x_i` appliqué à la fenêtre. Les mêmes poids
    servent à toutes les positions (paramètres partagés). Lent : pour comprendre,
    pas pour entraîner (voir :func:`conv2d`).

    Paramètres
    ----------
    x : torch.Tensor
        Lot ``(B, C, H, W)`` ou carte ``(C, H, W)``.
    weight : torch.Tensor
        Filtres ``(O, C, kh, kw)``.
    bias : torch.Tensor, optionnel
        Biais ``(O,)``.
    stride : int ou (int, int)
        Pas de la fenêtre.
    padding : int ou (int, int)
        Marge de zéros ajoutée de chaque côté.

    Retourne
    --------
    torch.Tensor
        ``(B, O, H_out, W_out)`` (ou ``(O, H_out, W_out)``), comme ``torch.nn.functional.conv2d``.

    Références
    ----------
    LeCun, Y. et al. (1998). Gradient-based learning applied to document recognition. *Proc. IEEE* 86(11) —
    les couches de convolution à poids partagés.
    """
    batch, single, (sh, sw), (ph, pw), (out_h, out_w) = _check_conv(x, weight, bias, stride, padding)
    kh, kw = weight.shape[-2:]
    padded = F.pad(batch, (pw, pw, ph, ph))
    rows = []
    for i in range(out_h):
        row = []
        for j in range(out_w):
            window = padded[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]       # (B, C, kh, kw)
            # (B, 1, C, kh, kw) * (1, O, C, kh, kw), somme sur C, kh, kw -> (B, O)
            row.append((window[:, None] * weight[None]).sum(dim=(2, 3, 4)))
        rows.append(torch.stack(row, dim=-1))                                   # (B, O, W_out)
    out = torch.stack(rows, dim=-2)                                             # (B, O, H_out, W_out)
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out[0] if single else out


def conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
           stride=1, padding=0) -> torch.Tensor:
    """Convolution 2D (corrélation) vectorisée par « im2col » : toutes les fenêtres, un produit de matrices.

    ``unfold`` range chaque fenêtre ``C x kh x kw`` de l'entrée dans une colonne
    (``L = H_out * W_out`` colonnes) ; les ``O`` filtres aplatis forment une
    matrice ``O x (C kh kw)`` ; leur produit donne les ``O`` cartes de sortie
    d'un coup, pour tout le lot. Mêmes arguments et même résultat que
    :func:`conv2d_loops` et ``torch.nn.functional.conv2d``.

    Paramètres
    ----------
    x : torch.Tensor
        Lot ``(B, C, H, W)`` ou carte ``(C, H, W)``.
    weight : torch.Tensor
        Filtres ``(O, C, kh, kw)``.
    bias : torch.Tensor, optionnel
        Biais ``(O,)``.
    stride, padding : int ou (int, int)
        Pas et marge de zéros.

    Retourne
    --------
    torch.Tensor
        ``(B, O, H_out, W_out)`` (ou ``(O, H_out, W_out)``).

    Références
    ----------
    Chellapilla, K., Puri, S. et Simard, P. (2006). High performance convolutional neural networks for
    document processing. *IWFHR* — la convolution comme produit de matrices (« unfold », im2col).
    """
    batch, single, stride, padding, (out_h, out_w) = _check_conv(x, weight, bias, stride, padding)
    n_filters = weight.shape[0]
    columns = F.unfold(batch, weight.shape[-2:], padding=padding, stride=stride)  # (B, C*kh*kw, L)
    out = weight.reshape(n_filters, -1) @ columns                                  # (B, O, L)
    if bias is not None:
        out = out + bias.view(1, -1, 1)
    out = out.view(batch.shape[0], n_filters, out_h, out_w)
    return out[0] if single else out


def max_pool2d(x: torch.Tensor, kernel_size, stride=None, padding=0) -> torch.Tensor:
    """Regroupement par maximum : le maximum de chaque fenêtre, canal par canal.

    La marge éventuelle vaut :math:`-\\infty` (elle ne gagne jamais), comme dans
    ``torch.nn.functional.max_pool2d`` ; le pas vaut par défaut la taille de la fenêtre.

    Paramètres
    ----------
    x : torch.Tensor
        Lot ``(B, C, H, W)`` ou carte ``(C, H, W)``.
    kernel_size : int ou (int, int)
        Taille de la fenêtre.
    stride : int ou (int, int), optionnel
        Pas (par défaut ``kernel_size``).
    padding : int ou (int, int)
        Marge, au plus la moitié de la fenêtre.

    Retourne
    --------
    torch.Tensor
        ``(B, C, H_out, W_out)`` (ou ``(C, H_out, W_out)``).
    """
    batch, single = batch_of_maps(x, "x")
    kernel = pair(kernel_size, "kernel_size", 1)
    stride = kernel if stride is None else pair(stride, "stride", 1)
    padding = pair(padding, "padding", 0)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(
            f"La marge « padding » {padding} doit valoir au plus la moitié de la fenêtre {kernel}."
        )
    sizes = [output_size(batch.shape[2 + d], kernel[d], stride[d], padding[d]) for d in (0, 1)]
    if min(sizes) < 1:
        raise ValueError(f"La fenêtre {kernel} est plus grande que l'entrée {tuple(batch.shape[-2:])}.")
    b, c = batch.shape[:2]
    padded = F.pad(batch, (padding[1], padding[1], padding[0], padding[0]), value=float("-inf"))
    columns = F.unfold(padded, kernel, stride=stride)                         # (B, C*kh*kw, L)
    out = columns.view(b, c, kernel[0] * kernel[1], -1).amax(dim=2)          # (B, C, L)
    out = out.view(b, c, *sizes)
    return out[0] if single else out
