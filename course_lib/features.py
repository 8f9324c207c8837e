"""Caractéristiques d'un CNN : VGG19 aux couches nommées, poids ImageNet ou repli aléatoire.

Gatys et al. décrivent une texture (2015) et un style (2016) par les
corrélations des activations d'un réseau entraîné à reconnaître les objets,
VGG19 (Simonyan et Zisserman 2015). Ce module fournit ce réseau sous une forme
commode pour ces méthodes :

- les couches portent les noms de l'article : ``conv1_1``, ``relu1_1``, ...,
  ``pool1``, ..., ``conv5_4``, ``relu5_4``, ``pool5`` (:data:`VGG19_LAYERS`) ;
  ``conv`` est la sortie de la convolution, ``relu`` la même après
  :math:`\\max(x, 0)` ;
- l'entrée est un lot d'images ``(B,3,H,W)`` dans [0, 1] (ou ``(B,1,H,W)``,
  répété sur trois canaux) ; la normalisation d'ImageNet est faite dedans ;
- le *max-pooling* peut être remplacé par une moyenne (``pooling="avg"``), ce
  que Gatys et al. recommandent pour la synthèse (gradients plus réguliers) ;
- seules les couches nécessaires sont calculées : le réseau s'arrête à la plus
  profonde des couches demandées.

Poids
-----
Les poids ImageNet de torchvision (``vgg19-dcbb9e9d.pth``, 548 Mo) sont cherchés
dans un fichier donné (``path=...``), puis dans le cache de torchvision
(``$TORCH_HOME/hub/checkpoints``), puis téléchargés par le registre de
ressources de :mod:`course_lib.data` (sauf avec ``COURSE_OFFLINE=1``).

Quand ils sont introuvables, le module se replie, avec un avertissement en
français, sur **VGG19 aux poids aléatoires normalisés couche par couche**.
Pourquoi ce repli plutôt que le réseau aléatoire multi-échelle à une couche
d'Ustyuzhaninov et al. (2017) ?

- He, Wang et Hopcroft (2016) montrent qu'un VGG aux poids aléatoires, dont les
  couches sont remises à l'échelle, synthétise des textures presque aussi bonnes
  qu'avec les poids appris et permet le transfert de style ; Ustyuzhaninov et
  al. arrivent à la même conclusion : l'architecture (champs récepteurs
  multi-échelles, non-linéarités) compte davantage que l'apprentissage pour les
  textures ;
- garder *la même architecture* garde tout le reste du cours valable : les
  mêmes noms de couches (``conv4_2``, ``pool1``...), les mêmes formes (les
  activations de ``conv2_1`` font bien 128 x 112 x 112 pour une image 224 x 224),
  les mêmes champs récepteurs qui grandissent avec la profondeur.

La normalisation suit l'esprit de He et al. (2016) et de l'initialisation
guidée par les données de Krähenbühl et al. (2016) : les filtres sont tirés
d'une loi normale avec une graine fixe (les caractéristiques sont donc les
mêmes d'une exécution à l'autre), puis chaque convolution est remise à
l'échelle, dans l'ordre, pour que chacun de ses canaux ait une moyenne nulle et
une variance unité sur des photos hors ligne du cours. Sans cela, l'amplitude des
activations explose ou s'éteint avec la profondeur et une couche écrase les
autres dans la perte de texture. Ce que ce repli perd : la *sémantique* (une
couche profonde n'y reconnaît pas d'objets), si bien que la perte de contenu
de ``conv4_2`` garde moins bien les objets que le vrai VGG19.

Références
----------
K. Simonyan et A. Zisserman, « Very Deep Convolutional Networks for Large-Scale
Image Recognition », ICLR 2015.
L. A. Gatys, A. S. Ecker et M. Bethge, « Texture Synthesis Using Convolutional
Neural Networks », NIPS 2015 (mise en commun par moyenne, section 2).
K. He, Y. Wang et J. Hopcroft, « A Powerful Generative Model Using Random
Weights for the Deep Image Representation », NIPS 2016.
I. Ustyuzhaninov, W. Brendel, L. A. Gatys et M. Bethge, « What Does It Take to
Generate Natural Textures? », ICLR 2017.
P. Krähenbühl, C. Doersch, J. Donahue et T. Darrell, « Data-dependent
Initializations of Convolutional Neural Networks », ICLR 2016.
"""

from __future__ import annotations

import functools
import math
import os
import warnings
from collections.abc import Iterable

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import data
from .validation import check_choice, check_images, check_number, describe

__all__ = [
    "VGG19_LAYERS", "IMAGENET_MEAN", "IMAGENET_STD", "VGG19_ASSET", "FeatureWarning",
    "FeatureExtractor", "vgg19", "FilterBank", "filter_bank", "clear_cache",
]

#: Moyenne et écart type des canaux RGB d'ImageNet (ceux de torchvision).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_VGG19_CONFIG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
                 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")


def _layer_names(config) -> tuple[str, ...]:
    names, block, index = [], 1, 1
    for item in config:
        if item == "M":
            names.append(f"pool{block}")
            block, index = block + 1, 1
        else:
            names += [f"conv{block}_{index}", f"relu{block}_{index}"]
            index += 1
    return tuple(names)


#: Les 37 couches de ``torchvision.models.vgg19().features``, dans l'ordre, avec leurs noms.
VGG19_LAYERS = _layer_names(_VGG19_CONFIG)

#: Les poids ImageNet de torchvision (empreinte publiée : le préfixe du nom de fichier).
VGG19_ASSET = data.register_asset(data.Asset(
    name="vgg19",
    filename="vgg19-dcbb9e9d.pth",
    url="https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
    sha256="dcbb9e9d",
    description="poids ImageNet de VGG19 (torchvision, IMAGENET1K_V1)",
    size_mb=548,
    torch_hub=True,
))

_RANDOM_SEED = 0
_CALIBRATION_PHOTOS = ("astronaut", "chelsea", "coffee", "china", "flower", "rocket")
_CALIBRATION_TEXTURES = ("brick", "gravel", "cells", "wood")
_CALIBRATION_SIZE = 96
_CACHE: dict[tuple, tuple[dict, bool, str]] = {}


class FeatureWarning(UserWarning):
    """Avertissement : les caractéristiques utilisées ne sont pas celles du VGG19 entraîné sur ImageNet."""


# --------------------------------------------------------------------------- l'extracteur

class FeatureExtractor(nn.Module):
    """VGG19 tronqué à la couche la plus profonde demandée, qui retourne les activations nommées.

    On ne construit pas cet objet à la main : voir :func:`vgg19`.

    Attributs
    ---------
    layers : tuple de str
        Couches retournées par défaut.
    pooling : str
        ``"avg"`` ou ``"max"``.
    pretrained : bool
        ``True`` pour les poids ImageNet, ``False`` pour le repli aléatoire.
    description : str
        Phrase en français qui dit quelles caractéristiques sont utilisées.
    """

    def __init__(self, convs: dict[str, nn.Conv2d], layers: tuple[str, ...], pooling: str,
                 pretrained: bool, description: str):
        super().__init__()
        self.layers = layers
        self.pooling = pooling
        self.pretrained = pretrained
        self.description = description
        self.depth = max(VGG19_LAYERS.index(name) for name in layers) + 1
        kept = [name for name in VGG19_LAYERS[:self.depth] if name.startswith("conv")]
        self.convs = nn.ModuleDict({name: convs[name] for name in kept})
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def extra_repr(self) -> str:
        return (f"couches={list(self.layers)}, pooling={self.pooling!r}, pretrained={self.pretrained}, "
                f"calculées jusqu'à {VGG19_LAYERS[self.depth - 1]}")

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """Normalisation d'ImageNet ``(x - moyenne) / écart type`` (une image grise est répétée sur 3 canaux)."""
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        return (images - self.mean) / self.std

    def forward(self, images: torch.Tensor, layers: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
        """Activations des couches demandées.

        Paramètres
        ----------
        images : torch.Tensor
            ``(B,3,H,W)`` ou ``(B,1,H,W)`` dans [0, 1].
        layers : itérable de str, optionnel
            Sous-ensemble de :attr:`layers` (par défaut : toutes). Le calcul
            s'arrête à la plus profonde.

        Retourne
        --------
        dict
            Nom de couche -> tenseur ``(B, N_l, H_l, W_l)``.
        """
        wanted = self._check_layers(layers)
        batch, _ = check_images(images, "images", channels=(1, 3), min_size=1)
        return self.extract(batch, wanted)

    def extract(self, batch: torch.Tensor, wanted: set[str]) -> dict[str, torch.Tensor]:
        """Comme :meth:`forward`, sans vérifier les arguments (pour les boucles d'optimisation)."""
        last = max(VGG19_LAYERS.index(name) for name in wanted)
        x = self.normalize(batch)
        out = {}
        for name in VGG19_LAYERS[:last + 1]:
            if name.startswith("conv"):
                x = self.convs[name](x)
            elif name.startswith("relu"):
                # en place, sauf si l'on doit garder la sortie de la convolution
                x = F.relu(x, inplace=name.replace("relu", "conv") not in wanted)
            elif self.pooling == "avg":
                x = F.avg_pool2d(x, 2)
            else:
                x = F.max_pool2d(x, 2)
            if name in wanted:
                out[name] = x
        return out

    def _check_layers(self, layers) -> set[str]:
        if layers is None:
            return set(self.layers)
        if isinstance(layers, str):
            layers = [layers]
        wanted = set(layers)
        unknown = sorted(wanted - set(self.layers))
        if unknown or not wanted:
            raise ValueError(
                f"L'argument « layers » doit être une liste non vide de couches parmi {list(self.layers)} "
                f"(celles de cet extracteur) ; reçu : {describe(layers)}."
            )
        return wanted


# --------------------------------------------------------------------------- construction

def _check_layer_names(layers) -> tuple[str, ...]:
    if isinstance(layers, str):
        layers = (layers,)
    if not isinstance(layers, Iterable):
        raise TypeError(f"L'argument « layers » doit être une liste de noms de couches ; reçu : {describe(layers)}.")
    layers = tuple(dict.fromkeys(layers))
    unknown = [name for name in layers if name not in VGG19_LAYERS]
    if unknown or not layers:
        raise ValueError(
            "L'argument « layers » doit être une liste non vide de couches de VGG19 (conv1_1, relu1_1, pool1, ..., "
            f"relu5_4, pool5) ; reçu : {describe(layers)}"
            + (f" (inconnues : {', '.join(map(str, unknown))})." if unknown else ".")
        )
    return layers


def _empty_convs() -> dict[str, nn.Conv2d]:
    convs, channels = {}, 3
    for name, width in zip((n for n in VGG19_LAYERS if n.startswith("conv")),
                           (c for c in _VGG19_CONFIG if c != "M")):
        convs[name] = nn.Conv2d(channels, width, kernel_size=3, padding=1)
        channels = width
    return convs


def _torchvision_index(name: str) -> int:
    return VGG19_LAYERS.index(name)


def _load_imagenet(path) -> dict[str, torch.Tensor]:
    """Lit un fichier de poids de torchvision (``features.N.weight``...) ; retourne {conv: poids}."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"Le fichier « {path} » ne contient pas un dictionnaire de poids (state_dict) de VGG19.")
    convs = _empty_convs()
    weights = {}
    for name, conv in convs.items():
        prefix = f"features.{_torchvision_index(name)}."
        for key in ("weight", "bias"):
            tensor = state.get(prefix + key)
            expected = tuple(getattr(conv, key).shape)
            if tensor is None or tuple(tensor.shape) != expected:
                found = "absent" if tensor is None else f"de forme {tuple(tensor.shape)}"
                raise ValueError(
                    f"Le fichier « {path} » n'est pas un VGG19 de torchvision : « {prefix + key} » est {found}, "
                    f"forme attendue {expected}."
                )
            weights[f"{name}.{key}"] = tensor.float()
    return weights


@functools.lru_cache(maxsize=1)
def _calibration_images() -> torch.Tensor:
    from .images import resize_crop

    side = _CALIBRATION_SIZE
    batch = [resize_crop(data.photo(name), side) for name in _CALIBRATION_PHOTOS]
    for name in _CALIBRATION_TEXTURES:
        image = resize_crop(data.texture(name), side)
        batch.append(image.expand(3, -1, -1) if image.shape[0] == 1 else image)
    return torch.stack(batch)


@torch.no_grad()
def _random_normalized(pooling: str) -> dict[str, torch.Tensor]:
    """VGG19 aux poids gaussiens (graine fixe), chaque couche standardisée sur des photos hors ligne."""
    generator = torch.Generator().manual_seed(_RANDOM_SEED)
    convs = _empty_convs()
    x = (_calibration_images() - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) \
        / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    weights = {}
    for name in VGG19_LAYERS:
        if name.startswith("conv"):
            conv = convs[name]
            fan_in = conv.in_channels * 9
            weight = torch.randn(conv.weight.shape, generator=generator) / math.sqrt(fan_in)
            response = F.conv2d(x, weight, padding=1)
            mean = response.mean(dim=(0, 2, 3))
            std = response.std(dim=(0, 2, 3)).clamp_min(1e-6)
            weights[f"{name}.weight"] = weight / std.view(-1, 1, 1, 1)
            weights[f"{name}.bias"] = -mean / std
            x = (response - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)
        elif name.startswith("relu"):
            x = F.relu(x)
        else:
            x = F.avg_pool2d(x, 2) if pooling == "avg" else F.max_pool2d(x, 2)
    return weights


def clear_cache() -> None:
    """Oublie les poids gardés en mémoire par :func:`vgg19` (pour relire un fichier modifié)."""
    _CACHE.clear()


def _weights(weights: str, path, pooling: str) -> tuple[dict, bool, str]:
    key = (weights, None if path is None else os.fspath(path), pooling)
    if key in _CACHE:
        return _CACHE[key]
    reason = None
    if weights in ("auto", "imagenet"):
        try:
            file = data.asset_path("vgg19", path=path)
            result = (_load_imagenet(file), True,
                      f"caractéristiques PRÉ-ENTRAÎNÉES : VGG19 de torchvision, poids ImageNet ({file.name}).")
        except data.AssetUnavailableError as error:
            if weights == "imagenet" or path is not None:
                raise
            reason = str(error).split(". Pour la fournir")[0]
            result = None
    else:
        result = None
    if result is None:
        result = (_random_normalized(pooling), False,
                  "caractéristiques ALÉATOIRES : VGG19 aux poids gaussiens (graine fixe) normalisés couche par "
                  "couche (He et al. 2016), faute des poids ImageNet. Les textures restent bonnes ; le contenu "
                  "sémantique des couches profondes est perdu.")
        if reason is not None:
            warnings.warn(
                f"Poids ImageNet de VGG19 indisponibles ({reason}). Repli sur des {result[2]} "
                f"Pour les vrais poids, déposez « {VGG19_ASSET.filename} » dans "
                f"« {data.cache_dir(VGG19_ASSET)} » ou passez path=...",
                FeatureWarning, stacklevel=3,
            )
    _CACHE[key] = result
    return result


def vgg19(layers=VGG19_LAYERS, pooling: str = "avg", weights: str = "auto", path=None,
          device=None) -> FeatureExtractor:
    """VGG19 aux couches nommées, tronqué à la plus profonde des couches ``layers``.

    Paramètres
    ----------
    layers : str ou liste de str
        Couches à retourner, parmi :data:`VGG19_LAYERS` (toutes par défaut).
        Le réseau ne garde que ce qu'il faut pour les calculer.
    pooling : str
        ``"avg"`` (moyenne, conseillé par Gatys et al. 2015 pour la synthèse) ou
        ``"max"`` (le VGG19 d'origine).
    weights : str
        ``"auto"`` : poids ImageNet s'ils sont disponibles, sinon repli aléatoire
        avec un avertissement :class:`FeatureWarning` ; ``"imagenet"`` : poids
        ImageNet obligatoires (erreur sinon) ; ``"random"`` : repli aléatoire
        normalisé, sans avertissement.
    path : str ou pathlib.Path, optionnel
        Fichier de poids de torchvision à utiliser (vérifié par son empreinte
        SHA-256) ; une erreur s'il est invalide.
    device : torch.device ou str, optionnel
        Appareil du réseau (par défaut :func:`course_lib.device`).

    Retourne
    --------
    FeatureExtractor
        Module figé (``eval``, sans gradient sur les poids) ; ``extractor(images)``
        donne un dictionnaire ``{couche: activations}``. ``extractor.pretrained``
        et ``extractor.description`` disent quelles caractéristiques sont utilisées.

    Lève
    ----
    course_lib.data.AssetUnavailableError
        Avec ``weights="imagenet"`` quand les poids sont introuvables.
    """
    from .device import device as default_device

    layers = _check_layer_names(layers)
    check_choice(pooling, "pooling", ("avg", "max"))
    check_choice(weights, "weights", ("auto", "imagenet", "random"))
    if path is not None and weights == "random":
        raise ValueError("L'argument « path » n'a pas de sens avec weights=\"random\" : choisissez l'un ou l'autre.")
    state, pretrained, description = _weights(weights, path, pooling)
    convs = _empty_convs()
    for name, conv in convs.items():
        conv.weight.data.copy_(state[f"{name}.weight"])
        conv.bias.data.copy_(state[f"{name}.bias"])
    extractor = FeatureExtractor(convs, layers, pooling, pretrained, description)
    return extractor.to(device if device is not None else default_device())


# --------------------------------------------------------------------------- banque de filtres

class FilterBank(nn.Module):
    """Banque de filtres prédéterminés : Gabor orientés sur une pyramide, redressés comme un CNN.

    C'est la représentation « classique » des textures (Heeger et Bergen 1995,
    Portilla et Simoncelli 2000) : des filtres orientés à plusieurs échelles,
    choisis à la main. On l'emploie comme les couches d'un CNN : chaque échelle
    ``scale{k}`` donne, pour chaque canal de couleur, les réponses paires et
    impaires de ``orientations`` filtres de Gabor, séparées en parties positive
    et négative (:math:`\\max(\\pm x, 0)`), plus la couleur locale. Les matrices de
    Gram de ces réponses sont les « statistiques d'une banque de filtres ».

    Paramètres
    ----------
    scales : int
        Nombre d'échelles (l'image est réduite de moitié entre deux échelles).
    orientations : int
        Nombre d'orientations des filtres.
    """

    def __init__(self, scales: int = 4, orientations: int = 4):
        super().__init__()
        check_number(scales, "scales", integer=True, positive=True)
        check_number(orientations, "orientations", integer=True, positive=True)
        self.scales = scales
        self.layers = tuple(f"scale{k}" for k in range(scales))
        self.pretrained = False
        self.description = (f"banque de filtres prédéterminés : {orientations} orientations de Gabor (paires et "
                            f"impaires) x {scales} échelles, redressées")
        radius, sigma, wavelength = 3, 1.6, 4.0
        grid = torch.arange(-radius, radius + 1, dtype=torch.float32)
        y, x = torch.meshgrid(grid, grid, indexing="ij")
        envelope = torch.exp(-(x ** 2 + y ** 2) / (2 * sigma ** 2))
        kernels = []
        for k in range(orientations):
            theta = math.pi * k / orientations
            u = x * math.cos(theta) + y * math.sin(theta)
            even = envelope * torch.cos(2 * math.pi * u / wavelength)
            odd = envelope * torch.sin(2 * math.pi * u / wavelength)
            kernels += [even - even.sum() / envelope.sum() * envelope, odd]
        bank = torch.stack(kernels)
        bank = bank / bank.flatten(1).norm(dim=1).view(-1, 1, 1)
        self.register_buffer("bank", bank[:, None], persistent=False)   # (2 x orientations, 1, k, k)
        self.requires_grad_(False)

    def forward(self, images: torch.Tensor, layers: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
        """Réponses redressées de la banque à chaque échelle demandée : ``{"scale0": ..., ...}``."""
        batch, _ = check_images(images, "images", channels=(1, 3))
        wanted = set(self.layers if layers is None else ([layers] if isinstance(layers, str) else layers))
        if not wanted or not wanted <= set(self.layers):
            raise ValueError(f"L'argument « layers » doit être une liste de couches parmi {list(self.layers)} ; "
                             f"reçu : {describe(layers)}.")
        channels = batch.shape[1]
        kernel = self.bank.repeat(channels, 1, 1, 1)
        radius = self.bank.shape[-1] // 2
        out, x = {}, batch
        for name in self.layers:
            if name in wanted:
                padded = F.pad(x, (radius,) * 4, mode="reflect") if min(x.shape[-2:]) > radius else x
                response = F.conv2d(padded, kernel, groups=channels,
                                    padding=0 if padded is not x else radius)
                out[name] = torch.cat([F.relu(response), F.relu(-response), x], dim=1)
            if len(out) == len(wanted):
                break
            x = F.avg_pool2d(x, 2) if min(x.shape[-2:]) >= 2 else x
        return out


def filter_bank(scales: int = 4, orientations: int = 4, device=None) -> FilterBank:
    """Une :class:`FilterBank` sur l'appareil demandé (par défaut :func:`course_lib.device`)."""
    from .device import device as default_device

    return FilterBank(scales, orientations).to(device if device is not None else default_device())
