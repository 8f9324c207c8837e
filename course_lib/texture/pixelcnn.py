"""PixelCNN : un réseau profond qui modélise une image pixel par pixel (van den Oord et al., 2016).

Efros et Leung échantillonnent :math:`P(p \\mid N(p))` dans un exemple. Un modèle *autorégressif*
apprend plutôt, avec un réseau, la loi de chaque pixel sachant tous ceux qui le précèdent dans
l'ordre de balayage :

.. math:: P(\\mathbf{x}) = \\prod_{i=1}^{n} P(p_i \\mid p_1, \\dots, p_{i-1}).

- **Convolutions masquées** : le noyau est multiplié par un masque qui efface le pixel courant et
  ceux qui le suivent. Type **A** (première couche) : le pixel courant est exclu ; type **B**
  (couches suivantes) : il est inclus, car ses caractéristiques ne dépendent déjà que des pixels
  précédents. La sortie en un pixel ne dépend donc jamais de ce pixel ni des suivants.
- **Couches résiduelles à porte** : ``x + W_1x1 (tanh(a) ⊙ σ(b))`` avec ``(a, b)`` une convolution
  masquée de type B (l'activation à porte de PixelCNN « gated »).
- **Sortie** : une loi catégorielle à 256 valeurs (softmax) par pixel, apprise par entropie croisée ;
  on rapporte la log-vraisemblance négative en **bits par dimension** (nats / ln 2).
- **Échantillonnage** : un pixel à la fois, dans l'ordre de balayage : une passe du réseau donne la
  loi du pixel suivant, on tire une valeur, on l'écrit, on recommence. **Complétion** : on ne tire
  que les pixels cachés, les pixels visibles qui les précèdent servent de contexte.

Les images sont en niveaux de gris (un canal) ; le réseau voit ``2 x - 1`` et prédit l'indice
``round(255 x)``.

Références
----------
A. van den Oord, N. Kalchbrenner et K. Kavukcuoglu, « Pixel Recurrent Neural Networks », ICML 2016
(section 3.5 et figure 4 : masques A et B ; équation (1) : la factorisation ; complétion d'images
occultées, figure 1).
A. van den Oord et al., « Conditional Image Generation with PixelCNN Decoders », NeurIPS 2016
(équation (2) : l'activation à porte).
"""

from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from ..validation import (
    check_choice,
    check_images,
    check_mask,
    check_number,
    check_size,
    check_tensor,
    describe,
)
from ._threads import single_thread_on_cpu

__all__ = ["LEVELS", "causal_mask", "MaskedConv2d", "GatedResidualBlock", "PixelCNN", "default_model",
           "default_training", "quantize", "dequantize", "digits_dataset", "texture_dataset", "split",
           "bits_per_dim", "fit", "pixel_distribution", "sample", "complete"]

#: Nombre de valeurs d'un pixel (8 bits).
LEVELS = 256


# --------------------------------------------------------------------------- masques et couches

def causal_mask(kernel_size: int, mask_type: str, device=None, dtype=torch.float32) -> torch.Tensor:
    """Masque causal ``(k, k)`` d'une convolution de PixelCNN.

    Vaut 1 sur les lignes au-dessus du centre et, sur la ligne du centre, à gauche du centre ;
    le centre vaut 0 pour le type ``"A"`` (le pixel courant est caché) et 1 pour le type ``"B"`` ;
    tout le reste vaut 0.

    Paramètres
    ----------
    kernel_size : int
        Côté impair du noyau.
    mask_type : str
        ``"A"`` ou ``"B"``.

    Références
    ----------
    van den Oord et al. (2016), « Pixel Recurrent Neural Networks », section 3.5, figure 4.
    """
    check_number(kernel_size, "kernel_size", integer=True, positive=True)
    if kernel_size % 2 == 0:
        raise ValueError(f"L'argument « kernel_size » doit être impair (un noyau centré) ; reçu : {kernel_size}.")
    check_choice(mask_type, "mask_type", ("A", "B"))
    centre = kernel_size // 2
    mask = torch.zeros(kernel_size, kernel_size, device=device, dtype=dtype)
    mask[:centre, :] = 1
    mask[centre, :centre] = 1
    if mask_type == "B":
        mask[centre, centre] = 1
    return mask


class MaskedConv2d(nn.Conv2d):
    """Convolution 2D dont le noyau est multiplié par :func:`causal_mask` (taille conservée)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, mask_type: str, bias: bool = True):
        check_number(kernel_size, "kernel_size", integer=True, positive=True)
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias)
        self.mask_type = mask_type
        self.register_buffer("mask", causal_mask(kernel_size, mask_type)[None, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", mask_type={self.mask_type!r}"


class GatedResidualBlock(nn.Module):
    """Couche résiduelle à porte : ``x + conv1x1(tanh(a) * sigmoid(b))``, ``(a, b)`` = convolution masquée B."""

    def __init__(self, channels: int, kernel_size: int = 3):
        super().__init__()
        self.conv = MaskedConv2d(channels, 2 * channels, kernel_size, "B")
        self.project = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.conv(x).chunk(2, dim=1)
        return x + self.project(torch.tanh(a) * torch.sigmoid(b))


class PixelCNN(nn.Module):
    """PixelCNN en niveaux de gris : convolution masquée A 7x7, couches résiduelles à porte, softmax à 256 valeurs.

    Paramètres
    ----------
    channels : int
        Largeur des couches cachées.
    blocks : int
        Nombre de couches résiduelles à porte (masque B).
    hidden : int, optionnel
        Largeur de la tête de sortie (par défaut ``2 * channels``).
    first_kernel, kernel : int
        Côtés des noyaux de la première couche (A) et des couches suivantes (B).
    levels : int
        Nombre de valeurs par pixel (256).

    ``forward(x)`` prend des images ``(B,1,H,W)`` dans [0, 1] et rend les logits ``(B, levels, H, W)``.
    """

    def __init__(self, channels: int = 64, blocks: int = 6, hidden: int | None = None, first_kernel: int = 7,
                 kernel: int = 3, levels: int = LEVELS):
        super().__init__()
        for value, name in ((channels, "channels"), (blocks, "blocks"), (levels, "levels")):
            check_number(value, name, integer=True, positive=True)
        hidden = hidden or 2 * channels
        check_number(hidden, "hidden", integer=True, positive=True)
        self.levels = levels
        self.first = MaskedConv2d(1, channels, first_kernel, "A")
        self.blocks = nn.Sequential(*[GatedResidualBlock(channels, kernel) for _ in range(blocks)])
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, hidden, 1), nn.ReLU(),
                                  nn.Conv2d(hidden, levels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.first(2.0 * x - 1.0)))


def default_model(profile=None) -> PixelCNN:
    """Un PixelCNN dimensionné par le profil (``ci`` : minuscule ; ``gpu`` : proche de l'article)."""
    from ..device import profile as current_profile

    prof = profile if profile is not None else current_profile()
    return PixelCNN(channels=prof.pick(ci=32, cpu=64, gpu=128), blocks=prof.pick(ci=3, cpu=6, gpu=12),
                    hidden=prof.pick(ci=64, cpu=128, gpu=256))


def default_training(profile=None) -> dict:
    """Réglages d'entraînement du profil : ``{"epochs", "batch_size", "lr"}`` (arguments de :func:`fit`)."""
    from ..device import profile as current_profile

    prof = profile if profile is not None else current_profile()
    return {"epochs": prof.pick(ci=3, cpu=15, gpu=40), "batch_size": prof.pick(ci=32, cpu=64, gpu=128),
            "lr": prof.pick(ci=3e-3, cpu=2e-3, gpu=1e-3)}


# --------------------------------------------------------------------------- données

def quantize(images: torch.Tensor, levels: int = LEVELS) -> torch.Tensor:
    """Indices entiers ``round(x * (levels - 1))`` d'images dans [0, 1] (même forme, ``int64``)."""
    check_tensor(images, "images", floating=True)
    return (images.clamp(0, 1) * (levels - 1)).round().long()


def dequantize(indices: torch.Tensor, levels: int = LEVELS) -> torch.Tensor:
    """Valeurs ``indices / (levels - 1)`` dans [0, 1] (``float32``)."""
    check_tensor(indices, "indices")
    return indices.float() / (levels - 1)


def split(images: torch.Tensor, val_fraction: float = 0.2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Sépare un lot en ``(entraînement, validation)`` au hasard (reproductible), sans recouvrement."""
    check_tensor(images, "images", ndim=4)
    check_number(val_fraction, "val_fraction", low=0.0, high=0.9)
    order = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(int(seed)))
    n_val = int(round(val_fraction * images.shape[0]))
    return images[order[n_val:].to(images.device)], images[order[:n_val].to(images.device)]


def digits_dataset(size: int = 8, val_fraction: float = 0.2, seed: int = 0, device=None):
    """Les chiffres manuscrits de scikit-learn quantifiés sur 256 niveaux : ``(entraînement, validation)``.

    Paramètres
    ----------
    size : int
        Côté des images (8 : les originaux ; plus grand : agrandis en bilinéaire).
    val_fraction : float
        Part tenue à l'écart pour mesurer les bits par dimension.
    """
    from ..data import digits
    from ..images import resize

    check_number(size, "size", integer=True, positive=True)
    images, _ = digits()
    if size != images.shape[-1]:
        images = resize(images, (size, size)).clamp(0, 1)
    images = dequantize(quantize(images))
    train, val = split(images, val_fraction, seed)
    return train.to(device or "cpu"), val.to(device or "cpu")


def texture_dataset(name: str = "gravel", patch: int = 16, n: int = 2048, texture_size: int | None = 128,
                    val_fraction: float = 0.2, seed: int = 0, device=None):
    """Imagettes ``patch x patch`` d'une texture hors ligne (en gris, 256 niveaux) : ``(entraînement, validation)``.

    La validation vient de la moitié basse de la texture et l'entraînement de la moitié haute : les
    imagettes de validation n'ont jamais été vues.
    """
    from ..data import random_patches, texture
    from ..images import rgb_to_gray

    check_number(patch, "patch", integer=True, positive=True)
    check_number(n, "n", integer=True, positive=True)
    check_number(val_fraction, "val_fraction", low=0.05, high=0.9)
    image = texture(name, size=texture_size)
    if image.shape[0] == 3:
        image = rgb_to_gray(image)
    height = image.shape[1]
    cut = int(round(height * (1 - val_fraction)))
    if min(cut, height - cut) < patch:
        raise ValueError(f"La texture ({height} px) est trop petite pour des imagettes de {patch} px.")
    n_val = max(1, int(round(n * val_fraction)))
    train = random_patches(image[:, :cut], n - n_val, patch, seed=seed)
    val = random_patches(image[:, cut:], n_val, patch, seed=seed + 1)
    return dequantize(quantize(train)).to(device or "cpu"), dequantize(quantize(val)).to(device or "cpu")


def _check_gray(images, name):
    batch, single = check_images(images, name, channels=1, value_range=(0.0, 1.0))
    return batch, single


# --------------------------------------------------------------------------- vraisemblance et entraînement

def _model_device(model: nn.Module) -> torch.device:
    if not isinstance(model, nn.Module):
        raise TypeError(f"L'argument « model » doit être un PixelCNN (torch.nn.Module) ; reçu : {describe(model)}.")
    return next(model.parameters()).device


def _nll_bits(model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
    logits = model(batch)
    return F.cross_entropy(logits, quantize(batch[:, 0], _levels(model))) / math.log(2)


def _levels(model: nn.Module) -> int:
    return int(getattr(model, "levels", LEVELS))


@torch.no_grad()
def bits_per_dim(model: nn.Module, images: torch.Tensor, batch_size: int = 256) -> float:
    """Log-vraisemblance négative moyenne des images, en bits par dimension (pixel).

    .. math:: \\text{bits/dim} = -\\frac{1}{N\\,H\\,W} \\sum \\log_2 P(p_i \\mid p_{<i})

    8 bits/dim : le modèle ne sait rien (loi uniforme sur 256 valeurs) ; moins, c'est mieux.
    """
    device = _model_device(model)
    batch, _ = _check_gray(images, "images")
    check_number(batch_size, "batch_size", integer=True, positive=True)
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for start in range(0, batch.shape[0], batch_size):
        chunk = batch[start:start + batch_size].to(device)
        total += float(_nll_bits(model, chunk)) * chunk.numel()
        count += chunk.numel()
    model.train(was_training)
    return total / count


def fit(model: nn.Module, train: torch.Tensor, val: torch.Tensor | None = None, epochs: int = 1,
        batch_size: int = 32, lr: float = 3e-3, seed: int = 0, curves=None, evaluations: int = 10,
        progress: bool = True) -> dict:
    """Entraîne un PixelCNN par maximum de vraisemblance (entropie croisée des 256 valeurs, Adam).

    Paramètres
    ----------
    model : PixelCNN
    train, val : torch.Tensor
        Images ``(N,1,H,W)`` dans [0, 1] (quantifiées sur 256 niveaux).
    epochs, batch_size, lr : entraînement.
    seed : int
        Graine de l'ordre des lots.
    curves : course_lib.plot.LiveCurves, optionnel
        Courbes à mettre à jour en direct (``"bits/dim/entraînement"``, ``"bits/dim/validation"``).
    evaluations : int
        Nombre de points des courbes (mesures sur la validation) pendant tout l'entraînement.
    progress : bool
        Barre de progression ; Ctrl-C arrête proprement et garde le modèle entraîné jusque-là.

    Retourne
    --------
    dict
        ``{"bits/dim/entraînement": [(pas, valeur), ...], "bits/dim/validation": [...]}``.
    """
    from tqdm.auto import tqdm

    device = _model_device(model)
    train_batch, _ = _check_gray(train, "train")
    if val is not None:
        val, _ = _check_gray(val, "val")
    for value, name in ((epochs, "epochs"), (batch_size, "batch_size"), (evaluations, "evaluations")):
        check_number(value, name, integer=True, positive=True)
    check_number(lr, "lr", positive=True)
    generator = torch.Generator().manual_seed(int(seed))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    per_epoch = math.ceil(train_batch.shape[0] / batch_size)
    total_steps = epochs * per_epoch
    every = max(1, total_steps // evaluations)
    history = {"bits/dim/entraînement": [], "bits/dim/validation": []}
    running, seen, step = 0.0, 0, 0
    model.train()
    with tqdm(total=total_steps, desc="PixelCNN", unit="lot", disable=not progress, leave=False) as bar:
        try:
            for _ in range(epochs):
                order = torch.randperm(train_batch.shape[0], generator=generator)
                for start in range(0, order.numel(), batch_size):
                    chunk = train_batch[order[start:start + batch_size]].to(device)
                    loss = _nll_bits(model, chunk)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    running, seen, step = running + float(loss.detach()), seen + 1, step + 1
                    bar.update(1)
                    bar.set_postfix(bits_par_dim=f"{running / seen:.3f}")
                    if step % every == 0 or step == total_steps:
                        _record(model, history, step, running / seen, val, curves)
                        running, seen = 0.0, 0
        except KeyboardInterrupt:
            warnings.warn(f"Entraînement interrompu au pas {step} sur {total_steps}.", stacklevel=2)
    model.eval()
    return history


def _record(model, history, step, train_bits, val, curves):
    values = {"bits/dim/entraînement": train_bits}
    if val is not None and val.shape[0]:
        values["bits/dim/validation"] = bits_per_dim(model, val)
        model.train()
    for key, value in values.items():
        history[key].append((step, value))
    if curves is not None:
        curves.update(step, values)


# --------------------------------------------------------------------------- échantillonnage

@torch.no_grad()
def pixel_distribution(model: nn.Module, images: torch.Tensor, row: int, col: int,
                       temperature: float = 1.0) -> torch.Tensor:
    """« Sortie du réseau » : la loi ``P(p_(row,col) | pixels précédents)`` sur les 256 valeurs, ``(B, 256)``.

    Seules les lignes ``0..row`` des images sont lues (les suivantes ne peuvent pas compter).
    """
    device = _model_device(model)
    batch, _ = _check_gray(images, "images")
    height, width = batch.shape[-2:]
    check_number(row, "row", integer=True, low=0, high=height - 1)
    check_number(col, "col", integer=True, low=0, high=width - 1)
    check_number(temperature, "temperature", positive=True)
    logits = model(batch[:, :, :row + 1].to(device))[:, :, row, col]
    return torch.softmax(logits.to(_precise(device)) / temperature, dim=1).float()


def _precise(device) -> torch.dtype:
    """float64 pour le softmax, sauf sur MPS qui ne l'a pas."""
    return torch.float32 if torch.device(device).type == "mps" else torch.float64


def _sampling_generator(seed, device) -> torch.Generator:
    if seed is None:
        seed = int(torch.randint(0, 2**62, (1,)).item())
    check_number(seed, "seed", integer=True, nonnegative=True)
    return torch.Generator(device=device).manual_seed(int(seed))


def _autoregress(model, canvas, hidden, temperature, generator, progress, description, return_probs):
    """Tire, dans l'ordre de balayage, les pixels où ``hidden`` (B,H,W) est vrai ; écrit dans ``canvas``."""
    from tqdm.auto import tqdm

    levels = _levels(model)
    height, width = canvas.shape[-2:]
    probs_all = torch.zeros(canvas.shape[0], height, width, levels, device=canvas.device) if return_probs else None
    todo = [(i, j) for i in range(height) for j in range(width)]
    needed = hidden.any(0).reshape(-1).tolist()
    todo = [pixel for pixel, need in zip(todo, needed) if need]
    was_training = model.training
    model.eval()
    try:
        with single_thread_on_cpu(canvas.device):
            for i, j in tqdm(todo, desc=description, unit="px", disable=not progress, leave=False):
                logits = model(canvas[:, :, :i + 1])[:, :, i, j]       # les lignes du bas ne comptent pas
                probs = torch.softmax(logits.to(_precise(canvas.device)) / temperature, dim=1)
                values = torch.multinomial(probs, 1, generator=generator)[:, 0]
                drawn = values.to(canvas.dtype) / (levels - 1)
                canvas[:, 0, i, j] = torch.where(hidden[:, i, j], drawn, canvas[:, 0, i, j])
                if return_probs:
                    probs_all[:, i, j] = probs.float()
    except KeyboardInterrupt:
        warnings.warn("Échantillonnage interrompu : les pixels restants valent 0.", stacklevel=3)
    finally:
        model.train(was_training)
    return canvas, probs_all


@torch.no_grad()
def sample(model: nn.Module, n: int, size, temperature: float = 1.0, seed: int | None = None,
           progress: bool = True, return_probs: bool = False):
    """Génère ``n`` images ``size`` pixel par pixel : ``p_i ~ P(p_i | p_1, ..., p_{i-1})``.

    Paramètres
    ----------
    model : PixelCNN
        Entraîné ; les images sont produites sur son appareil.
    n : int
        Nombre d'images (tirées en parallèle).
    size : int ou (int, int)
        Taille des images.
    temperature : float
        Divise les logits : < 1 rend les tirages plus sûrs, > 1 plus variés.
    seed : int, optionnel
        Graine du générateur (par défaut tirée du générateur global de torch).
    progress : bool
        Barre de progression (un pas par pixel) ; Ctrl-C rend les images partielles.
    return_probs : bool
        Retourne aussi, pour chaque pixel, la loi dont il a été tiré : ``(n, H, W, 256)``.

    Retourne
    --------
    torch.Tensor
        ``(n, 1, H, W)`` dans [0, 1] (et les lois si demandé).

    Références
    ----------
    van den Oord et al. (2016), « Pixel Recurrent Neural Networks », équation (1).
    """
    device = _model_device(model)
    check_number(n, "n", integer=True, positive=True)
    height, width = check_size(size, "size")
    check_number(temperature, "temperature", positive=True)
    generator = _sampling_generator(seed, device)
    canvas = torch.zeros(n, 1, height, width, device=device)
    hidden = torch.ones(n, height, width, dtype=torch.bool, device=device)
    images, probs = _autoregress(model, canvas, hidden, float(temperature), generator, progress,
                                 "Échantillonnage", return_probs)
    return (images, probs) if return_probs else images


@torch.no_grad()
def complete(model: nn.Module, image: torch.Tensor, mask: torch.Tensor, n: int = 1, temperature: float = 1.0,
             seed: int | None = None, progress: bool = True):
    """Complète une image occultée : seuls les pixels cachés (``mask`` vrai) sont tirés, dans l'ordre de balayage.

    Chaque pixel caché est tiré de :math:`P(p_i \\mid p_{<i})`, où les pixels précédents sont les
    pixels visibles et les pixels cachés déjà tirés. Les pixels visibles *après* un pixel caché ne
    sont pas vus par le modèle (c'est la limite d'un modèle causal).

    Paramètres
    ----------
    model : PixelCNN
    image : torch.Tensor
        ``(1,H,W)`` ou lot ``(B,1,H,W)`` dans [0, 1].
    mask : torch.Tensor
        Pixels cachés (1 / ``True``), ``(H,W)``, ``(1,H,W)`` ou ``(B,1,H,W)``.
    n : int
        Nombre de complétions par image.
    temperature, seed, progress
        Comme :func:`sample`.

    Retourne
    --------
    torch.Tensor
        ``(n, 1, H, W)`` pour une image, ``(B * n, 1, H, W)`` pour un lot (les ``n`` complétions de
        chaque image se suivent) ; les pixels visibles sont ceux de ``image``.
    """
    device = _model_device(model)
    batch, _ = _check_gray(image, "image")
    hidden = check_mask(mask, "mask", batch)[:, 0]
    if not bool(hidden.any()):
        raise ValueError("Le masque « mask » ne cache aucun pixel : mettez à 1 (True) les pixels à compléter.")
    check_number(n, "n", integer=True, positive=True)
    check_number(temperature, "temperature", positive=True)
    generator = _sampling_generator(seed, device)
    canvas = batch.to(device).repeat_interleave(n, dim=0).clone()
    hidden = hidden.to(device).repeat_interleave(n, dim=0)
    canvas[:, 0][hidden] = 0.0
    images, _ = _autoregress(model, canvas, hidden, float(temperature), generator, progress, "Complétion", False)
    return images

