"""Filtres linéaires par convolution : noyaux gaussiens, flou séparable, gradients de Sobel.

Tout se fait par ``torch.nn.functional.conv2d`` sur l'appareil des images,
canal par canal (convolution « depthwise »), avec un bord par réflexion
(``d c b | a b c d | c b a``), le bord par défaut d'OpenCV
(``cv2.BORDER_REFLECT_101``) et le mode ``"mirror"`` de SciPy.

Sur le CPU, le flou gaussien passe par ``cv2.sepFilter2D`` avec le même noyau et le même bord : le même
résultat (à l'arrondi du float32 près), une dizaine de fois plus vite que la convolution de PyTorch. La
version PyTorch sert sur les autres appareils et pour un calcul différentiable.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .validation import check_images, check_number, unbatch

__all__ = ["gaussian_kernel1d", "gaussian_kernel2d", "gaussian_blur", "filter2d", "sobel",
           "gradient_magnitude"]


def gaussian_kernel1d(sigma: float, radius: int | None = None, truncate: float = 4.0,
                      device=None, dtype=torch.float32) -> torch.Tensor:
    """Noyau gaussien 1D normalisé (sa somme vaut 1), de longueur ``2 * radius + 1``.

    Paramètres
    ----------
    sigma : float
        Écart-type en pixels (> 0).
    radius : int, optionnel
        Demi-largeur ; par défaut ``int(truncate * sigma + 0.5)``, comme SciPy.
    truncate : float
        Nombre d'écarts-types couverts quand ``radius`` n'est pas donné.
    """
    check_number(sigma, "sigma", positive=True)
    if radius is None:
        check_number(truncate, "truncate", positive=True)
        radius = int(truncate * sigma + 0.5)
    check_number(radius, "radius", integer=True, nonnegative=True)
    x = torch.arange(-radius, radius + 1, device=device, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    return (kernel / kernel.sum()).to(dtype)


def gaussian_kernel2d(size: int, sigma: float, device=None, dtype=torch.float32) -> torch.Tensor:
    """Noyau gaussien 2D ``size x size`` (``size`` impair) normalisé à une somme de 1."""
    check_number(size, "size", integer=True, positive=True)
    if size % 2 == 0:
        raise ValueError(f"L'argument « size » doit être impair ; reçu : {size}.")
    k = gaussian_kernel1d(sigma, radius=size // 2, device=device, dtype=torch.float64)
    return torch.outer(k, k).to(dtype)


def _check_reflect(shape, pad_h: int, pad_w: int) -> None:
    height, width = shape[-2:]
    if pad_h >= height or pad_w >= width:
        raise ValueError(
            f"Le noyau (demi-largeur {max(pad_h, pad_w)}) est trop grand pour des images de "
            f"{height}x{width} pixels : le bord par réflexion demande une demi-largeur inférieure "
            "à la taille de l'image. Réduisez sigma ou agrandissez l'image."
        )


def _reflect_pad(batch: torch.Tensor, pad_h: int, pad_w: int) -> torch.Tensor:
    _check_reflect(batch.shape, pad_h, pad_w)
    return F.pad(batch, (pad_w, pad_w, pad_h, pad_h), mode="reflect")


def filter2d(images: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Corrélation de chaque canal avec un noyau 2D impair (bord par réflexion), taille conservée.

    ``kernel`` est ``(kh, kw)`` ; c'est une corrélation, comme ``cv2.filter2D``.
    """
    batch, single = check_images(images, "images")
    if not isinstance(kernel, torch.Tensor) or kernel.ndim != 2 or kernel.shape[0] % 2 == 0 \
            or kernel.shape[1] % 2 == 0:
        raise ValueError("L'argument « kernel » doit être un tenseur 2D de côtés impairs.")
    channels = batch.shape[1]
    weight = kernel.to(batch).expand(channels, 1, *kernel.shape)
    padded = _reflect_pad(batch, kernel.shape[0] // 2, kernel.shape[1] // 2)
    return unbatch(F.conv2d(padded, weight, groups=channels), single)


def _gaussian_blur_torch(batch: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Le flou séparable par deux convolutions « depthwise » (tout appareil, différentiable)."""
    radius, channels = kernel.numel() // 2, batch.shape[1]
    padded = _reflect_pad(batch, radius, radius)
    horizontal = kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1)
    vertical = kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1)
    return F.conv2d(F.conv2d(padded, horizontal, groups=channels), vertical, groups=channels)


def _gaussian_blur_opencv(batch: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Le même flou par ``cv2.sepFilter2D`` (CPU, float32 ou float64), plan par plan, sans copie."""
    import cv2

    source = batch.detach().contiguous().numpy()
    out = np.empty_like(source)                  # NumPy alloue les grands tableaux en grandes pages : moins de défauts
    weights = kernel.detach().cpu().numpy()
    planes, results = source.reshape(-1, *source.shape[-2:]), out.reshape(-1, *source.shape[-2:])
    for plane, result in zip(planes, results):
        cv2.sepFilter2D(plane, -1, weights, weights, dst=result, borderType=cv2.BORDER_REFLECT_101)
    return torch.from_numpy(out)


def _gaussian_blur(batch: torch.Tensor, sigma: float, truncate: float = 4.0, backend: str | None = None):
    """:func:`gaussian_blur` d'un lot ``(B,C,H,W)`` déjà vérifié. ``backend`` (``"torch"`` ou ``"opencv"``)
    force une version ; par défaut OpenCV sur le CPU (float32, float64, sans gradient), PyTorch ailleurs."""
    kernel = gaussian_kernel1d(sigma, truncate=truncate, device=batch.device, dtype=batch.dtype)
    radius = kernel.numel() // 2
    _check_reflect(batch.shape, radius, radius)
    if backend is None:
        cpu = batch.device.type == "cpu" and batch.dtype in (torch.float32, torch.float64)
        backend = "opencv" if cpu and not (batch.requires_grad and torch.is_grad_enabled()) else "torch"
    if backend == "opencv":
        return _gaussian_blur_opencv(batch, kernel)
    return _gaussian_blur_torch(batch, kernel)


def gaussian_blur(images: torch.Tensor, sigma: float, truncate: float = 4.0) -> torch.Tensor:
    """Flou gaussien séparable : une convolution horizontale puis une verticale.

    Paramètres
    ----------
    images : torch.Tensor
        ``(B,C,H,W)`` ou ``(C,H,W)``.
    sigma : float
        Écart-type en pixels.
    truncate : float
        Le noyau s'arrête à ``truncate * sigma`` pixels (4 comme SciPy).

    Retourne
    --------
    torch.Tensor
        Même forme, sur le même appareil ; égal à ``cv2.GaussianBlur`` avec le même noyau et
        ``BORDER_REFLECT_101`` (sur le CPU, c'est OpenCV qui le calcule).
    """
    batch, single = check_images(images, "images")
    return unbatch(_gaussian_blur(batch, sigma, truncate), single)


def _sobel(batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    smooth = torch.tensor([1.0, 2.0, 1.0], dtype=batch.dtype, device=batch.device)
    diff = torch.tensor([-1.0, 0.0, 1.0], dtype=batch.dtype, device=batch.device)
    channels = batch.shape[1]
    padded = _reflect_pad(batch, 1, 1)
    gx = F.conv2d(padded, torch.outer(smooth, diff).expand(channels, 1, 3, 3), groups=channels)
    gy = F.conv2d(padded, torch.outer(diff, smooth).expand(channels, 1, 3, 3), groups=channels)
    return gx, gy


def _gradient_magnitude(batch: torch.Tensor) -> torch.Tensor:
    gx, gy = _sobel(batch)
    return torch.sqrt(gx**2 + gy**2)


def sobel(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Dérivées de Sobel 3x3 ``(gx, gy)`` de chaque canal, comme ``cv2.Sobel(..., ksize=3)``."""
    batch, single = check_images(images, "images", min_size=2)
    gx, gy = _sobel(batch)
    return unbatch(gx, single), unbatch(gy, single)


def gradient_magnitude(images: torch.Tensor) -> torch.Tensor:
    """Norme du gradient de Sobel, ``sqrt(gx^2 + gy^2)``, canal par canal."""
    batch, single = check_images(images, "images", min_size=2)
    return unbatch(_gradient_magnitude(batch), single)
