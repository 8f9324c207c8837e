"""Images : lecture, écriture, conversions NumPy <-> PyTorch, redimensionnement, espaces de couleur.

Conventions du cours : un lot d'images est un tenseur ``(B,C,H,W)`` de type
``float32`` à valeurs dans [0, 1] ; une image seule est ``(C,H,W)``. Les
fonctions qui reçoivent ``(C,H,W)`` retournent ``(C,H,W)``, et le calcul reste
sur l'appareil de l'entrée.

Les conversions de couleur suivent exactement scikit-image
(``skimage.color.rgb2lab`` et ``lab2rgb``) : sRGB (CEI 61966-2-1), matrice
sRGB -> XYZ, puis CIE L*a*b* sous l'illuminant D65 et l'observateur 2°.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ._threads import single_thread_on_cpu
from .validation import check_choice, check_image_shape, check_images, check_size, check_tensor, describe, unbatch

__all__ = [
    "to_tensor", "to_numpy", "load_image", "save_image", "resize", "center_crop", "resize_crop",
    "rgb_to_gray", "srgb_to_linear", "linear_to_srgb", "rgb_to_xyz", "xyz_to_rgb",
    "xyz_to_lab", "lab_to_xyz", "rgb_to_lab", "lab_to_rgb",
    "GRAY_WEIGHTS", "XYZ_FROM_RGB", "D65_WHITE",
]

#: Poids de luminance (recommandation UIT-R BT.709), comme ``skimage.color.rgb2gray``.
GRAY_WEIGHTS = (0.2125, 0.7154, 0.0721)

#: Matrice sRGB linéaire -> XYZ (primaires sRGB, blanc D65), comme scikit-image.
XYZ_FROM_RGB = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)

#: Blanc de référence D65, observateur 2° (X, Y, Z).
D65_WHITE = (0.95047, 1.0, 1.08883)

_LAB_EPSILON = 0.008856  # (6/29)^3 arrondi, comme scikit-image
_LAB_KAPPA = 7.787  # pente de la partie linéaire de f
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp"}


# --------------------------------------------------------------------------- NumPy <-> torch

def to_tensor(array, device: torch.device | str | None = None) -> torch.Tensor:
    """Convertit un tableau NumPy d'image(s) en tenseur ``float32`` dans [0, 1].

    Paramètres
    ----------
    array : numpy.ndarray
        ``(H,W)`` (gris), ``(H,W,C)`` (une image) ou ``(N,H,W,C)`` (un lot), de type
        ``uint8`` (0..255), ``uint16`` (0..65535), booléen ou réel dans [0, 1].
    device : torch.device ou str, optionnel
        Appareil du tenseur retourné (CPU par défaut).

    Retourne
    --------
    torch.Tensor
        ``(1,H,W)``, ``(C,H,W)`` ou ``(N,C,H,W)``.
    """
    if isinstance(array, torch.Tensor):
        raise TypeError(
            "L'argument « array » est déjà un tenseur torch ; to_tensor attend un tableau NumPy "
            "(H,W), (H,W,C) ou (N,H,W,C)."
        )
    if not isinstance(array, np.ndarray):
        raise TypeError(f"L'argument « array » doit être un tableau NumPy ; reçu : {describe(array)}.")
    if array.ndim not in (2, 3, 4):
        raise ValueError(
            f"L'argument « array » doit être de forme (H,W), (H,W,C) ou (N,H,W,C) ; reçu : {describe(array)}."
        )
    if array.dtype == np.uint8:
        data = array.astype(np.float32) / 255.0
    elif array.dtype == np.uint16:
        data = array.astype(np.float32) / 65535.0
    elif array.dtype == np.bool_:
        data = array.astype(np.float32)
    elif np.issubdtype(array.dtype, np.floating):
        data = array.astype(np.float32)
        if data.size and (not np.isfinite(data).all() or data.min() < -1e-6 or data.max() > 1 + 1e-6):
            raise ValueError(
                "Un tableau réel passé à to_tensor doit avoir ses valeurs dans [0, 1] ; "
                f"reçu : min {np.nanmin(data):.4g}, max {np.nanmax(data):.4g}."
            )
    else:
        raise TypeError(
            f"Le type {array.dtype} n'est pas pris en charge par to_tensor : utilisez uint8, uint16, "
            "bool ou un réel dans [0, 1]."
        )
    tensor = torch.from_numpy(np.ascontiguousarray(data))
    if tensor.ndim == 2:
        tensor = tensor[None]
    elif tensor.ndim == 3:
        tensor = tensor.permute(2, 0, 1)
    else:
        tensor = tensor.permute(0, 3, 1, 2)
    return tensor.contiguous().to(device or "cpu")


def to_numpy(images: torch.Tensor, dtype: str = "float32") -> np.ndarray:
    """Convertit une image ``(C,H,W)`` ou un lot ``(B,C,H,W)`` en tableau NumPy ``(H,W,C)`` / ``(B,H,W,C)``.

    Une image à un seul canal devient ``(H,W)`` (ou ``(B,H,W)``), ce qu'attend
    ``matplotlib.pyplot.imshow``. Avec ``dtype="uint8"``, les valeurs sont
    ramenées dans [0, 1] puis arrondies à 0..255.
    """
    check_tensor(images, "images", ndim=(3, 4))
    check_choice(dtype, "dtype", ("float32", "uint8"))
    array = images.detach().to("cpu", torch.float32)
    array = array.permute(1, 2, 0) if array.ndim == 3 else array.permute(0, 2, 3, 1)
    array = array.numpy()
    if array.shape[-1] == 1:
        array = array[..., 0]
    if dtype == "uint8":
        return np.round(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8)
    return np.ascontiguousarray(array)


# --------------------------------------------------------------------------- fichiers

def load_image(path, size=None, gray: bool = False, device=None) -> torch.Tensor:
    """Lit une image et la retourne en tenseur ``(C,H,W)`` dans [0, 1].

    Paramètres
    ----------
    path : str ou pathlib.Path
        Fichier PNG, JPEG, TIFF, BMP...
    size : int ou (int, int), optionnel
        Taille voulue : un entier fixe le plus petit côté (les proportions sont
        gardées), un couple fixe ``(H, W)``.
    gray : bool
        ``True`` pour une image en niveaux de gris ``(1,H,W)``, sinon RGB ``(3,H,W)``.
    device : torch.device ou str, optionnel
    """
    from PIL import Image, UnidentifiedImageError

    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"L'argument « path » doit être un chemin de fichier ; reçu : {describe(path)}.")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Le fichier d'image « {path} » n'existe pas.")
    try:
        with Image.open(path) as pil:
            pil = pil.convert("L" if gray else "RGB")
            array = np.asarray(pil)
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"Le fichier « {path} » n'est pas une image lisible ({error}).") from None
    image = to_tensor(array, device=device)
    return resize(image, size) if size is not None else image


def save_image(image, path) -> Path:
    """Enregistre une image ``(C,H,W)`` / ``(1,C,H,W)`` (tenseur dans [0, 1]) ou un tableau NumPy.

    Le format vient de l'extension du fichier (``.png`` conseillé). Retourne le chemin.
    """
    from PIL import Image

    if isinstance(image, torch.Tensor):
        if image.ndim == 4:
            if image.shape[0] != 1:
                raise ValueError(
                    f"save_image enregistre une seule image ; reçu un lot : {describe(image)}."
                )
            image = image[0]
        check_images(image, "image", channels=(1, 3, 4))
        array = to_numpy(image, dtype="uint8")
    elif isinstance(image, np.ndarray):
        array = image if image.dtype == np.uint8 else to_numpy(to_tensor(image), dtype="uint8")
    else:
        raise TypeError(f"L'argument « image » doit être un tenseur ou un tableau NumPy ; reçu : {describe(image)}.")
    path = Path(path)
    if path.suffix.lower() not in _IMAGE_SUFFIXES:
        raise ValueError(
            f"Extension « {path.suffix} » inconnue pour « {path} » : utilisez par exemple .png ou .jpg."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


# --------------------------------------------------------------------------- géométrie

def _resize_target(shape, size) -> tuple[int, int]:
    """La taille ``(H, W)`` demandée par ``size`` (un entier : le plus petit côté) pour des images ``shape``."""
    height, width = shape
    if isinstance(size, (tuple, list)):
        return check_size(size, "size")
    side = check_size(size, "size")[0]
    scale = side / min(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def _resize(batch: torch.Tensor, target, antialias: bool = True, mode: str = "bilinear") -> torch.Tensor:
    """:func:`resize` d'un lot ``(B,C,H,W)`` déjà vérifié, vers ``target = (H, W)`` (sans vérification)."""
    if tuple(target) == tuple(batch.shape[-2:]):
        return batch
    smooth = mode in ("bilinear", "bicubic")
    extra = {"align_corners": False, "antialias": antialias} if smooth else {}
    out = F.interpolate(batch, size=tuple(target), mode=mode, **extra)
    return out.clamp(0.0, 1.0) if mode == "bicubic" else out


def _center_crop(batch: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    th, tw = size
    height, width = batch.shape[-2:]
    if th > height or tw > width:
        raise ValueError(
            f"La taille demandée {(th, tw)} dépasse celle des images {(height, width)}."
        )
    top, left = (height - th) // 2, (width - tw) // 2
    return batch[..., top:top + th, left:left + tw]


def resize(images: torch.Tensor, size, antialias: bool = True, mode: str = "bilinear") -> torch.Tensor:
    """Redimensionne des images.

    Paramètres
    ----------
    images : torch.Tensor
        ``(C,H,W)`` ou ``(B,C,H,W)``.
    size : int ou (int, int)
        Un entier fixe le plus petit côté en gardant les proportions ; un couple fixe ``(H, W)``.
    antialias : bool
        Filtre anti-repliement à la réduction (recommandé).
    mode : str
        ``"bilinear"``, ``"bicubic"``, ``"area"`` ou ``"nearest"``.
    """
    batch, single = check_images(images, "images")
    check_choice(mode, "mode", ("bilinear", "bicubic", "area", "nearest"))
    target = _resize_target(batch.shape[-2:], size)
    if target == tuple(batch.shape[-2:]):
        return images
    return unbatch(_resize(batch, target, antialias, mode), single)


def center_crop(images: torch.Tensor, size) -> torch.Tensor:
    """Découpe le centre des images à la taille ``size`` (entier ou ``(H, W)``)."""
    batch, single = check_images(images, "images")
    return unbatch(_center_crop(batch, check_size(size, "size")), single)


def resize_crop(images: torch.Tensor, size) -> torch.Tensor:
    """Ramène le plus petit côté à ``size`` puis découpe le centre : des images carrées ``size x size``.

    C'est l'opération ``imresizecrop`` du code LMgist d'Oliva et Torralba.
    """
    batch, single = check_images(images, "images")
    return unbatch(_resize_crop(batch, check_size(size, "size")), single)


def _resize_crop(batch: torch.Tensor, side: tuple[int, int]) -> torch.Tensor:
    """:func:`resize_crop` d'un lot ``(B,C,H,W)`` déjà vérifié (sans vérification)."""
    return _center_crop(_resize(batch, _resize_target(batch.shape[-2:], max(side))), side)


# --------------------------------------------------------------------------- couleur

def _matrix(values, like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(values, dtype=like.dtype, device=like.device)


def _precise_dtype(like: torch.Tensor) -> torch.dtype:
    """float64 pour les calculs intermédiaires, sauf sur MPS qui ne l'a pas.

    En float32, a* = 500 (f(X) - f(Y)) perd environ 5e-5 par soustraction de
    nombres voisins ; en float64 l'écart avec scikit-image tombe sous 1e-10.
    """
    return torch.float32 if like.device.type == "mps" else torch.float64


def _apply_matrix(batch: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,bjhw->bihw", matrix, batch)


def rgb_to_gray(images: torch.Tensor) -> torch.Tensor:
    """Convertit des images RGB en niveaux de gris : ``0.2125 R + 0.7154 G + 0.0721 B``.

    Les poids sont ceux de la luminance UIT-R BT.709, appliqués aux valeurs sRGB
    comme le fait ``skimage.color.rgb2gray``. ``(B,3,H,W)`` donne ``(B,1,H,W)``.
    """
    batch, single = check_images(images, "images", channels=3)
    weights = _matrix(GRAY_WEIGHTS, batch).view(1, 3, 1, 1)
    return unbatch((batch * weights).sum(dim=1, keepdim=True), single)


def _srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x > 0.04045, ((x + 0.055) / 1.055).clamp_min(0) ** 2.4, x / 12.92)


def _linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x > 0.0031308, 1.055 * x.clamp_min(0.0031308) ** (1 / 2.4) - 0.055, x * 12.92)


def srgb_to_linear(images: torch.Tensor) -> torch.Tensor:
    """Retire la correction gamma sRGB : ``c/12.92`` si ``c <= 0.04045``, sinon ``((c+0.055)/1.055)^2.4``."""
    check_tensor(images, "images", floating=True, finite=True)
    return _srgb_to_linear(images)


def linear_to_srgb(images: torch.Tensor) -> torch.Tensor:
    """Applique la correction gamma sRGB (inverse de :func:`srgb_to_linear`)."""
    check_tensor(images, "images", floating=True, finite=True)
    return _linear_to_srgb(images)


def _rgb_to_xyz(batch: torch.Tensor) -> torch.Tensor:
    return _apply_matrix(_srgb_to_linear(batch), _matrix(XYZ_FROM_RGB, batch))


def _xyz_to_rgb(batch: torch.Tensor) -> torch.Tensor:
    rgb_from_xyz = torch.linalg.inv(_matrix(XYZ_FROM_RGB, batch).double()).to(batch.dtype)
    return _linear_to_srgb(_apply_matrix(batch, rgb_from_xyz)).clamp(0.0, 1.0)


def _lab_f(t: torch.Tensor) -> torch.Tensor:
    """La fonction ``f`` de CIE L*a*b* : racine cubique, linéaire près de 0."""
    return torch.where(t > _LAB_EPSILON, t.clamp_min(_LAB_EPSILON) ** (1 / 3), _LAB_KAPPA * t + 16 / 116)


def _xyz_to_lab(batch: torch.Tensor) -> torch.Tensor:
    fx, fy, fz = _lab_f(batch / _matrix(D65_WHITE, batch).view(1, 3, 1, 1)).unbind(dim=1)
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=1)


def _lab_to_xyz(batch: torch.Tensor) -> torch.Tensor:
    L, a, b = batch.unbind(dim=1)
    fy = (L + 16) / 116
    f = torch.stack([a / 500 + fy, fy, (fy - b / 200).clamp_min(0)], dim=1)
    xyz = torch.where(f > 0.2068966, f ** 3, (f - 16 / 116) / _LAB_KAPPA)
    return xyz * _matrix(D65_WHITE, batch).view(1, 3, 1, 1)


def rgb_to_xyz(images: torch.Tensor) -> torch.Tensor:
    """Convertit des images sRGB (dans [0, 1]) en CIE XYZ (blanc D65)."""
    batch, single = check_images(images, "images", channels=3)
    return unbatch(_rgb_to_xyz(batch), single)


def xyz_to_rgb(images: torch.Tensor) -> torch.Tensor:
    """Convertit des images CIE XYZ en sRGB, ramené dans [0, 1]."""
    batch, single = check_images(images, "images", channels=3)
    return unbatch(_xyz_to_rgb(batch), single)


def xyz_to_lab(images: torch.Tensor) -> torch.Tensor:
    """Convertit des images CIE XYZ en CIE L*a*b* (D65, observateur 2°)."""
    batch, single = check_images(images, "images", channels=3)
    return unbatch(_xyz_to_lab(batch), single)


def lab_to_xyz(images: torch.Tensor) -> torch.Tensor:
    """Convertit des images CIE L*a*b* en XYZ (les Z négatifs sont ramenés à 0, comme scikit-image)."""
    batch, single = check_images(images, "images", channels=3)
    return unbatch(_lab_to_xyz(batch), single)


#: Pixels convertis d'un bloc sur le CPU : les résultats intermédiaires restent dans le cache.
_LAB_CHUNK = 1 << 14


def _lab_matrices(like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """sRGB linéaire -> XYZ / blanc D65 ; f -> (L, a, b) ; et le décalage (-16, 0, 0) de L."""
    xyz = _matrix(XYZ_FROM_RGB, like) / _matrix(D65_WHITE, like)[:, None]
    lab = _matrix(((0.0, 116.0, 0.0), (500.0, -500.0, 0.0), (0.0, 200.0, -200.0)), like)
    return xyz, lab, _matrix((-16.0, 0.0, 0.0), like)[:, None]


def _rgb_to_lab_block(x: torch.Tensor, matrices) -> torch.Tensor:
    """``(b, 3, n)`` sRGB -> L*a*b* (même type). La correction gamma se fait dans le type de l'entrée (en float32,
    son erreur relative de 1e-7 donne moins de 3e-5 sur a* et b*), la suite dans le type des matrices (float64) :
    la racine cubique, puis ``a* = 500 (f(X) - f(Y))``, une soustraction de nombres voisins. Le blanc D65 est
    dans la première matrice, et (L, a, b) est un second produit par une matrice 3x3."""
    xyz, lab, offset = matrices
    linear = _srgb_to_linear(x if x.dtype in (torch.float32, torch.float64) else x.float())
    f = _lab_f(torch.matmul(xyz, linear.to(xyz.dtype)))
    return (torch.matmul(lab, f) + offset).to(x.dtype)


def _rgb_to_lab(batch: torch.Tensor) -> torch.Tensor:
    """:func:`rgb_to_lab` d'un lot ``(B,3,H,W)`` déjà vérifié.

    Sur le CPU, par blocs de :data:`_LAB_CHUNK` pixels, sur un fil (les tableaux intermédiaires tiennent dans
    le cache : plus rapide que scikit-image) ; ailleurs, ou pour un calcul différentiable, tout le lot d'un coup.
    """
    matrices = _lab_matrices(torch.empty(0, dtype=_precise_dtype(batch), device=batch.device))
    flat = batch.reshape(batch.shape[0], 3, -1)
    if batch.device.type != "cpu" or (batch.requires_grad and torch.is_grad_enabled()):
        return _rgb_to_lab_block(flat, matrices).view_as(batch)
    out = torch.empty_like(flat)
    images, pixels = max(1, _LAB_CHUNK // flat.shape[-1]), _LAB_CHUNK      # petites images : plusieurs par bloc
    with single_thread_on_cpu(batch.device):
        for first in range(0, flat.shape[0], images):
            for start in range(0, flat.shape[-1], pixels):
                part = (slice(first, first + images), slice(None), slice(start, start + pixels))
                out[part] = _rgb_to_lab_block(flat[part], matrices)
    return out.view_as(batch)


def rgb_to_lab(images: torch.Tensor) -> torch.Tensor:
    """Convertit des images sRGB dans [0, 1] en CIE L*a*b*.

    L est dans [0, 100] ; a et b sont environ dans [-128, 127].

    Paramètres
    ----------
    images : torch.Tensor
        ``(B,3,H,W)`` ou ``(3,H,W)``, réels dans [0, 1].

    Retourne
    --------
    torch.Tensor
        Même forme, canaux (L, a, b), sur le même appareil.

    Références
    ----------
    CIE 15:2004, Colorimetry ; scikit-image ``skimage.color.rgb2lab``.
    """
    batch, single = check_images(images, "images", channels=3, value_range=(0.0, 1.0))
    return unbatch(_rgb_to_lab(batch), single)


def _lab_to_rgb(batch: torch.Tensor) -> torch.Tensor:
    return _xyz_to_rgb(_lab_to_xyz(batch.to(_precise_dtype(batch)))).to(batch.dtype)


def lab_to_rgb(images: torch.Tensor) -> torch.Tensor:
    """Convertit des images CIE L*a*b* en sRGB dans [0, 1] (valeurs hors gamut ramenées dans [0, 1])."""
    batch, single = check_image_shape(images, "images", channels=3)
    if batch.numel():
        # Une seule passe : minimum et maximum de chaque canal (finis) ; L doit être dans [0, 100].
        low, high = torch.aminmax(batch.transpose(0, 1).reshape(3, -1), dim=1)
        low, high = low.tolist(), high.tolist()
        if not all(np.isfinite(low + high)):
            raise ValueError("L'argument « images » contient des valeurs NaN ou infinies.")
        if low[0] < -1e-3 or high[0] > 100 + 1e-3:
            raise ValueError(
                "Le canal L de « images » doit être dans [0, 100] : ces images ne semblent pas être en Lab "
                f"(min {low[0]:.4g}, max {high[0]:.4g})."
            )
    return unbatch(_lab_to_rgb(batch), single)
