"""Petits jeux de données de classification, disponibles hors ligne (et CIFAR-10 en option).

- :func:`digits_split` : les 1 797 chiffres manuscrits 8×8 de scikit-learn, séparés
  en entraînement et test ;
- :func:`texture_patches` : des imagettes tirées des textures et photos hors ligne
  du cours ; la classe est l'image d'origine (« briques », « herbe », « Lune »...).
  Les imagettes d'entraînement et de test viennent de **régions disjointes** de
  chaque image (gauche et droite), pour que le test mesure une vraie généralisation ;
- :func:`cifar10` : CIFAR-10 (Krizhevsky 2009) par torchvision, à partir de
  l'archive inscrite au registre des ressources (téléchargée une fois, ou déposée
  à la main dans le cache).
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import torch

from .. import data
from ..images import resize, rgb_to_gray
from ..validation import check_choice, check_number, describe

__all__ = ["split", "digits_split", "PATCH_CLASSES", "texture_patches", "CIFAR10_CLASSES", "cifar10"]


def split(images: torch.Tensor, labels: torch.Tensor, test_fraction: float = 0.25, seed: int = 0):
    """Sépare des exemples au hasard (reproductible) : ``((x_train, y_train), (x_test, y_test))``."""
    if not isinstance(images, torch.Tensor) or not isinstance(labels, torch.Tensor) \
            or images.shape[0] != labels.shape[0]:
        raise ValueError(f"« images » et « labels » doivent être des tenseurs de même longueur ; "
                         f"reçu : {describe(images)} et {describe(labels)}.")
    check_number(test_fraction, "test_fraction", low=0.0, high=1.0)
    n = images.shape[0]
    order = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed))).to(images.device)
    n_test = int(round(test_fraction * n))
    test, train = order[:n_test], order[n_test:]
    return (images[train], labels[train]), (images[test], labels[test])


def digits_split(test_fraction: float = 0.25, seed: int = 0, device=None):
    """Chiffres manuscrits 8×8 (scikit-learn), séparés en ``(entraînement, test)``, chacun ``(images, étiquettes)``.

    Avec les valeurs par défaut : 1 348 exemples d'entraînement et 449 de test.
    """
    images, labels = data.digits(device=device)
    return split(images, labels, test_fraction=test_fraction, seed=seed)


#: Classes par défaut de :func:`texture_patches` : nom -> (source, libellé français).
PATCH_CLASSES = {
    "brick": ("texture", "briques"),
    "grass": ("texture", "herbe"),
    "gravel": ("texture", "gravier"),
    "text": ("texture", "texte"),
    "cells": ("texture", "cellules"),
    "stars": ("texture", "galaxies"),
    "fur": ("texture", "pelage"),
    "wood": ("texture", "bois"),
    "coins": ("photo", "pièces"),
    "moon": ("photo", "Lune"),
    "china": ("photo", "temple"),
    "rocket": ("photo", "fusée"),
}


def texture_patches(n_per_class: int = 200, size: int = 16, split: str = "train", classes=None,
                    gray: bool = True, source_size: int = 192, test_fraction: float = 0.3, seed: int = 0,
                    device=None):
    """Imagettes de textures et de photos hors ligne, étiquetées par leur image d'origine.

    Chaque image source est ramenée à ``source_size`` pixels (plus petit côté),
    puis coupée verticalement : les imagettes d'entraînement sont tirées dans la
    partie gauche (``1 - test_fraction`` de la largeur), celles de test dans la
    partie droite. Les deux ensembles ne se recouvrent donc jamais.

    Paramètres
    ----------
    n_per_class : int
        Nombre d'imagettes par classe.
    size : int
        Côté des imagettes.
    split : str
        ``"train"`` ou ``"test"``.
    classes : liste de str, optionnel
        Noms de :data:`PATCH_CLASSES` (par défaut, toutes).
    gray : bool
        Niveaux de gris (1 canal) plutôt que couleur (3 canaux).
    source_size : int
        Plus petit côté des images sources.
    test_fraction : float
        Part de la largeur réservée au test.
    seed : int
        Graine du tirage.
    device : torch.device ou str, optionnel

    Retourne
    --------
    (torch.Tensor, torch.Tensor, list[str])
        Imagettes ``(n_classes * n_per_class, C, size, size)`` dans [0, 1], étiquettes ``(N,)``
        et libellés français des classes.
    """
    check_number(n_per_class, "n_per_class", integer=True, positive=True)
    check_number(size, "size", integer=True, positive=True)
    check_number(source_size, "source_size", integer=True, positive=True)
    check_number(test_fraction, "test_fraction", low=0.05, high=0.95)
    check_choice(split, "split", ("train", "test"))
    names = list(PATCH_CLASSES) if classes is None else list(classes)
    if not names:
        raise ValueError("L'argument « classes » doit nommer au moins une classe.")
    for name in names:
        check_choice(name, "classes", PATCH_CLASSES)
    patches, labels = [], []
    for label, name in enumerate(names):
        kind = PATCH_CLASSES[name][0]
        image = data.texture(name) if kind == "texture" else data.photo(name)
        image = resize(image, source_size)
        if gray and image.shape[0] == 3:
            image = rgb_to_gray(image)
        elif not gray and image.shape[0] == 1:
            image = image.expand(3, -1, -1)
        cut = int(round((1 - test_fraction) * image.shape[-1]))
        region = image[..., :cut] if split == "train" else image[..., cut:]
        if size > min(region.shape[-2:]):
            raise ValueError(f"Les imagettes ({size} px) ne tiennent pas dans la région {split} de « {name} » "
                             f"({tuple(region.shape[-2:])}) : augmentez « source_size » ou réduisez « size ».")
        offset = 0 if split == "train" else 7919
        patches.append(data.random_patches(region.contiguous(), n_per_class, size,
                                           seed=seed * 1000 + label + offset))
        labels.append(torch.full((n_per_class,), label, dtype=torch.long))
    device = device or "cpu"
    return torch.cat(patches).to(device), torch.cat(labels).to(device), [PATCH_CLASSES[n][1] for n in names]


# --------------------------------------------------------------------------- CIFAR-10 (optionnel)

#: L'archive officielle, inscrite au registre par :mod:`course_lib.data` (qui lit aussi CIFAR-10 par torchvision).
CIFAR10_ASSET = data.CIFAR10_ARCHIVE

#: Les classes de CIFAR-10, en français (dans l'ordre des étiquettes).
CIFAR10_CLASSES = ["avion", "automobile", "oiseau", "chat", "cerf", "chien", "grenouille", "cheval",
                   "bateau", "camion"]


def cifar10(split: str = "train", n: int | None = None, path=None, download: bool | None = None, device=None):
    """CIFAR-10 en tenseurs : images ``(N, 3, 32, 32)`` dans [0, 1] et étiquettes ``(N,)``.

    L'archive officielle est cherchée par :func:`course_lib.data.asset_path`
    (fichier ``path`` donné, puis cache ``$COURSE_DATA``, puis téléchargement sauf
    avec ``COURSE_OFFLINE=1``), vérifiée par son empreinte SHA-256, extraite une
    fois à côté d'elle, puis lue par ``torchvision.datasets.CIFAR10``.

    Paramètres
    ----------
    split : str
        ``"train"`` (50 000 images) ou ``"test"`` (10 000).
    n : int, optionnel
        Ne garder que les ``n`` premières images.
    path : chemin, optionnel
        L'archive ``cifar-10-python.tar.gz`` déjà téléchargée.
    download : bool, optionnel
        Autoriser le téléchargement (par défaut : oui, sauf ``COURSE_OFFLINE=1``).
    device : torch.device ou str, optionnel

    Lève
    ----
    course_lib.data.AssetUnavailableError
        Archive introuvable : le message (en français) dit où la déposer.

    Références
    ----------
    Krizhevsky, A. (2009). *Learning multiple layers of features from tiny images*. Rapport technique,
    Université de Toronto.
    """
    import torchvision

    check_choice(split, "split", ("train", "test"))
    if n is not None:
        check_number(n, "n", integer=True, positive=True)
    archive = data.asset_path("cifar10", path=path, download=download)
    root = data.cache_dir() / "cifar10"
    folder = root / torchvision.datasets.CIFAR10.base_folder
    if not folder.is_dir():
        _extract(archive, root)
    dataset = torchvision.datasets.CIFAR10(str(root), train=split == "train", download=False)
    array = dataset.data if n is None else dataset.data[:n]
    images = torch.from_numpy(array).permute(0, 3, 1, 2).float().div_(255)
    labels = torch.as_tensor(dataset.targets[:len(array)], dtype=torch.long)
    return images.to(device or "cpu"), labels.to(device or "cpu")


def _extract(archive: Path, root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:gz") as tar:
        members = [m for m in tar.getmembers() if m.name.startswith("cifar-10-batches-py/")
                   and ".." not in Path(m.name).parts and (m.isfile() or m.isdir())]
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(root, members=members, **safe)
