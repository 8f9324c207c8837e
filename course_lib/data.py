"""Données du cours, toutes disponibles hors ligne.

- :func:`photo` et :func:`texture` : photos et textures livrées avec scikit-image,
  scikit-learn et matplotlib (aucun téléchargement) ;
- :func:`synthetic_scenes` : un générateur procédural de paysages extérieurs
  (ciel, horizon, montagnes, eau, végétation, lumière) qui remplace les
  2 millions d'images Flickr de Hays et Efros : la scène ``i`` ne dépend que de
  ``(seed, i)``, on peut donc en produire des millions, par morceaux ;
- :func:`list_images`, :func:`load_folder`, :func:`iter_folder` : un dossier de photos de l'utilisateur ;
- un registre de ressources téléchargeables (poids, jeux de données), avec
  empreinte SHA-256 et dossier cache (:func:`register_asset`, :func:`asset_path`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .images import load_image, resize, resize_crop, to_tensor
from .scenery import TIMES_OF_DAY, render_scenes
from .validation import check_choice, check_number, check_size, describe

__all__ = [
    "PHOTOS", "TEXTURES", "photo", "texture", "digits", "random_patches",
    "TIMES_OF_DAY", "synthetic_scenes", "iter_synthetic_scenes",
    "list_images", "load_folder", "iter_folder",
    "Asset", "ASSETS", "register_asset", "asset_path", "cache_dir", "sha256sum",
    "AssetUnavailableError", "AssetChecksumError",
]


# --------------------------------------------------------------------------- photos et textures

def _skimage(name, item=None):
    def load():
        import skimage.data
        image = getattr(skimage.data, name)()
        return image if item is None else image[item]
    return load


def _sklearn(filename):
    def load():
        from sklearn.datasets import load_sample_image
        return load_sample_image(filename)
    return load


def _matplotlib(filename):
    def load():
        import matplotlib.cbook
        import matplotlib.image
        return matplotlib.image.imread(matplotlib.cbook.get_sample_data(filename, asfileobj=False))
    return load


#: Photos livrées avec les bibliothèques : nom -> (chargeur, description).
PHOTOS = {
    "astronaut": (_skimage("astronaut"), "Eileen Collins, astronaute (NASA), 512x512"),
    "chelsea": (_skimage("chelsea"), "Chelsea la chatte, 300x451"),
    "coffee": (_skimage("coffee"), "une tasse de café, 400x600"),
    "rocket": (_skimage("rocket"), "une fusée SpaceX sur son pas de tir, 427x640"),
    "hubble": (_skimage("hubble_deep_field"), "le champ profond de Hubble, 872x1000"),
    "motorcycle": (_skimage("stereo_motorcycle", 0), "une moto dans un atelier, 500x741"),
    "retina": (_skimage("retina"), "une rétine humaine, 1411x1411"),
    "ihc": (_skimage("immunohistochemistry"), "une coupe de tissu colorée, 512x512"),
    "camera": (_skimage("camera"), "le caméraman (niveaux de gris), 512x512"),
    "moon": (_skimage("moon"), "la surface de la Lune (niveaux de gris), 512x512"),
    "coins": (_skimage("coins"), "des pièces de monnaie (niveaux de gris), 303x384"),
    "china": (_sklearn("china.jpg"), "un temple chinois dans un paysage, 427x640"),
    "flower": (_sklearn("flower.jpg"), "une fleur, 427x640"),
    "grace_hopper": (_matplotlib("grace_hopper.jpg"), "Grace Hopper, informaticienne, 600x512"),
}

#: Textures : nom -> (photo ou image source, fenêtre (haut, gauche, côté) ou None, description).
TEXTURES = {
    "brick": ("brick", None, "un mur de briques (niveaux de gris), 512x512"),
    "grass": ("grass", None, "de l'herbe (niveaux de gris), 512x512"),
    "gravel": ("gravel", None, "du gravier (niveaux de gris), 512x512"),
    "text": ("text", (0, 0, 172), "du texte imprimé (niveaux de gris), comme chez Efros et Leung"),
    "cells": ("ihc", (100, 100, 256), "des cellules colorées (immunohistochimie), couleur"),
    "stars": ("hubble", (300, 300, 256), "des galaxies (champ profond de Hubble), couleur"),
    "fur": ("chelsea", (2, 172, 84), "le pelage rayé du front de Chelsea, couleur"),
    "wood": ("coffee", (300, 460, 96), "le bois de la table du café, couleur"),
}


def _as_tensor(array: np.ndarray, gray: bool) -> torch.Tensor:
    if array.ndim == 3 and array.shape[2] == 4:  # canal alpha
        array = array[..., :3]
    image = to_tensor(array)
    if gray and image.shape[0] == 3:
        from .images import rgb_to_gray
        image = rgb_to_gray(image)
    return image


def photo(name: str, size=None, gray: bool = False, device=None) -> torch.Tensor:
    """Une photo livrée hors ligne, en tenseur ``(3,H,W)`` (``(1,H,W)`` si ``gray``) dans [0, 1].

    Paramètres
    ----------
    name : str
        Un nom de :data:`PHOTOS` (``"astronaut"``, ``"chelsea"``, ``"china"``...).
    size : int ou (int, int), optionnel
        Un entier fixe le plus petit côté ; un couple ``(H, W)`` fixe la taille.
    gray : bool
        Niveaux de gris (UIT-R BT.709) plutôt que RGB.
    device : torch.device ou str, optionnel
    """
    check_choice(name, "name", PHOTOS)
    image = _as_tensor(PHOTOS[name][0](), gray=gray)
    if not gray and image.shape[0] == 1:
        image = image.expand(3, -1, -1).contiguous()
    if size is not None:
        image = resize(image, size)
    return image.to(device or "cpu")


def texture(name: str, size=None, device=None) -> torch.Tensor:
    """Une texture livrée hors ligne, en tenseur ``(C,H,W)`` dans [0, 1].

    Les textures de scikit-image (``"brick"``, ``"grass"``, ``"gravel"``, ``"text"``)
    ont un seul canal ; les autres sont en couleur.
    """
    import skimage.data

    check_choice(name, "name", TEXTURES)
    source, window, _ = TEXTURES[name]
    if source in PHOTOS:
        image = photo(source)
    else:
        image = _as_tensor(getattr(skimage.data, source)(), gray=False)
    if window is not None:
        top, left, side = window
        image = image[:, top:top + side, left:left + side]
    if size is not None:
        image = resize(image, size)
    return image.contiguous().to(device or "cpu")


# --------------------------------------------------------------------------- petits jeux de données

def digits(device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Les 1 797 chiffres manuscrits 8x8 de scikit-learn (UCI), hors ligne.

    Retourne ``(images, labels)`` : images ``(1797,1,8,8)`` dans [0, 1] (les niveaux
    d'origine vont de 0 à 16) et étiquettes entières ``(1797,)`` de 0 à 9.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.from_numpy(bunch.images.astype(np.float32) / 16.0)[:, None]
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    return images.to(device or "cpu"), labels.to(device or "cpu")


def random_patches(image: torch.Tensor, n: int, size: int, seed: int = 0) -> torch.Tensor:
    """Tire ``n`` imagettes ``size x size`` au hasard dans une image ``(C,H,W)`` : un lot ``(n,C,size,size)``.

    Le tirage est reproductible (``seed``) et se fait par indexation, sans boucle sur les imagettes.
    """
    from .validation import check_images

    batch, _ = check_images(image, "image")
    if batch.shape[0] != 1:
        raise ValueError(f"L'argument « image » doit être une seule image (C,H,W) ; reçu : {describe(image)}.")
    check_number(n, "n", integer=True, positive=True)
    check_number(size, "size", integer=True, positive=True)
    height, width = batch.shape[-2:]
    if size > min(height, width):
        raise ValueError(f"Les imagettes ({size} px) sont plus grandes que l'image ({height}x{width}).")
    generator = torch.Generator().manual_seed(int(seed))
    tops = torch.randint(0, height - size + 1, (n,), generator=generator).to(batch.device)
    lefts = torch.randint(0, width - size + 1, (n,), generator=generator).to(batch.device)
    offsets = torch.arange(size, device=batch.device)
    rows = (tops[:, None] + offsets)[:, :, None]        # (n, size, 1)
    cols = (lefts[:, None] + offsets)[:, None, :]       # (n, 1, size)
    return batch[0][:, rows, cols].permute(1, 0, 2, 3).contiguous()


# --------------------------------------------------------------------------- scènes procédurales

def synthetic_scenes(n: int, size=128, seed: int = 0, start: int = 0, device=None,
                     time_of_day: str | None = None, return_info: bool = False):
    """Génère ``n`` paysages extérieurs procéduraux, en lot ``(n,3,H,W)`` dans [0, 1].

    Chaque scène combine un ciel (dégradé, soleil ou lune, nuages, étoiles),
    un horizon, jusqu'à trois chaînes de montagnes (perspective
    atmosphérique, neige), un plan d'eau qui reflète le ciel, un sol texturé
    (herbe, sable, neige, roche), une lisière de conifères et l'éclairage d'un
    moment de la journée. La scène d'indice ``i`` ne dépend que de
    ``(seed, i)`` : ``synthetic_scenes(10, start=5)`` donne les scènes 5 à 14,
    identiques à celles d'un appel plus grand.

    Paramètres
    ----------
    n : int
        Nombre de scènes.
    size : int ou (int, int)
        Taille des images.
    seed : int
        Graine de la collection.
    start : int
        Indice de la première scène.
    device : torch.device ou str, optionnel
        Appareil du calcul (le rendu est vectorisé sur tout le lot).
    time_of_day : str, optionnel
        ``"day"``, ``"dusk"``, ``"night"`` ou ``"overcast"`` pour imposer
        l'éclairage ; la géométrie de la scène ne change pas, ce qui donne
        « la même scène, le jour et le soir ».
    return_info : bool
        Retourne aussi une liste de dictionnaires décrivant chaque scène.
    """
    check_number(n, "n", integer=True, positive=True)
    check_number(seed, "seed", integer=True, nonnegative=True)
    check_number(start, "start", integer=True, nonnegative=True)
    height, width = check_size(size, "size")
    if min(height, width) < 8:
        raise ValueError(f"L'argument « size » doit valoir au moins 8 pixels ; reçu : {(height, width)}.")
    if time_of_day is not None:
        check_choice(time_of_day, "time_of_day", TIMES_OF_DAY)
    images, info = render_scenes(range(start, start + n), (height, width), seed,
                                 torch.device(device or "cpu"), time_of_day)
    return (images, info) if return_info else images


def iter_synthetic_scenes(n: int, size=128, seed: int = 0, chunk_size: int = 256, device=None,
                          time_of_day: str | None = None) -> Iterator[torch.Tensor]:
    """Parcourt ``n`` scènes procédurales par morceaux de ``chunk_size`` (mémoire bornée)."""
    check_number(n, "n", integer=True, positive=True)
    check_number(chunk_size, "chunk_size", integer=True, positive=True)
    for first in range(0, n, chunk_size):
        yield synthetic_scenes(min(chunk_size, n - first), size=size, seed=seed, start=first,
                               device=device, time_of_day=time_of_day)


# --------------------------------------------------------------------------- dossiers d'images

_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


def list_images(folder, recursive: bool = True) -> list[Path]:
    """Liste (triée) les fichiers d'images d'un dossier."""
    if not isinstance(folder, (str, os.PathLike)):
        raise TypeError(f"L'argument « folder » doit être un chemin de dossier ; reçu : {describe(folder)}.")
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"Le dossier d'images « {folder} » n'existe pas.")
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in folder.glob(pattern) if p.suffix.lower() in _IMAGE_SUFFIXES and p.is_file())


def iter_folder(folder, size=128, batch_size: int = 64, limit: int | None = None,
                device=None) -> Iterator[torch.Tensor]:
    """Parcourt les images d'un dossier par lots ``(b,3,size,size)`` (redimensionnées puis recadrées).

    Les fichiers illisibles sont signalés par un avertissement et ignorés.
    """
    import warnings

    check_number(batch_size, "batch_size", integer=True, positive=True)
    side = check_size(size, "size")
    paths = list_images(folder)
    if limit is not None:
        check_number(limit, "limit", integer=True, positive=True)
        paths = paths[:limit]
    if not paths:
        raise ValueError(f"Le dossier « {folder} » ne contient aucune image ({', '.join(sorted(_IMAGE_SUFFIXES))}).")
    batch = []
    for path in paths:
        try:
            batch.append(resize_crop(load_image(path), side))
        except ValueError as error:
            warnings.warn(f"Image ignorée : {error}", stacklevel=2)
            continue
        if len(batch) == batch_size:
            yield torch.stack(batch).to(device or "cpu")
            batch = []
    if batch:
        yield torch.stack(batch).to(device or "cpu")


def load_folder(folder, size=128, limit: int | None = None, device=None) -> torch.Tensor:
    """Charge toutes les images d'un dossier en un lot ``(N,3,size,size)``."""
    chunks = list(iter_folder(folder, size=size, limit=limit, device=device))
    if not chunks:
        raise ValueError(f"Aucune image lisible dans le dossier « {folder} ».")
    return torch.cat(chunks)


# --------------------------------------------------------------------------- ressources téléchargeables

class AssetUnavailableError(FileNotFoundError):
    """La ressource n'est ni dans le cache, ni dans un fichier fourni, ni téléchargeable."""


class AssetChecksumError(ValueError):
    """Le fichier trouvé n'a pas l'empreinte SHA-256 attendue (fichier corrompu ou autre version)."""


@dataclass(frozen=True)
class Asset:
    """Une ressource téléchargeable (poids d'un réseau, jeu de données).

    Attributs
    ---------
    name : str
        Identifiant court (``"vgg19"``...).
    filename : str
        Nom du fichier dans le cache.
    url : str ou None
        Adresse de téléchargement (``None`` : à fournir à la main).
    sha256 : str
        Empreinte SHA-256 en hexadécimal, ou son préfixe d'au moins 8 caractères
        quand seul ce préfixe est publié (convention de ``torch.hub``).
    description : str
        Ce que contient la ressource, en français.
    size_mb : float, optionnel
        Taille approximative, pour prévenir l'utilisateur.
    torch_hub : bool
        Ranger le fichier dans ``$TORCH_HOME/hub/checkpoints`` (là où
        torchvision le cherche) plutôt que dans le cache du cours.
    """

    name: str
    filename: str
    url: str | None
    sha256: str
    description: str
    size_mb: float | None = None
    torch_hub: bool = False

    def __post_init__(self):
        digest = self.sha256.lower()
        if len(digest) < 8 or len(digest) > 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(
                f"L'empreinte SHA-256 de la ressource « {self.name} » doit être hexadécimale, "
                f"de 8 à 64 caractères ; reçu : {self.sha256!r}."
            )


#: Le registre des ressources connues : nom -> :class:`Asset`.
ASSETS: dict[str, Asset] = {}


def register_asset(asset: Asset) -> Asset:
    """Ajoute (ou remplace) une ressource dans le registre et la retourne."""
    if not isinstance(asset, Asset):
        raise TypeError(f"L'argument « asset » doit être un Asset ; reçu : {describe(asset)}.")
    ASSETS[asset.name] = asset
    return asset


def cache_dir(asset: Asset | None = None) -> Path:
    """Dossier cache : ``$COURSE_DATA`` (défaut ``~/.cache/course_lib``), ou celui de ``torch.hub``."""
    if asset is not None and asset.torch_hub:
        return Path(torch.hub.get_dir()) / "checkpoints"
    return Path(os.environ.get("COURSE_DATA") or Path.home() / ".cache" / "course_lib")


def sha256sum(path) -> str:
    """Empreinte SHA-256 (hexadécimale) d'un fichier, lue par blocs."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify(asset: Asset, path: Path) -> Path:
    actual = sha256sum(path)
    if not actual.startswith(asset.sha256.lower()):
        raise AssetChecksumError(
            f"Le fichier « {path} » de la ressource « {asset.name} » est corrompu ou d'une autre version : "
            f"empreinte SHA-256 {actual[:16]}…, attendue {asset.sha256[:16]}…. "
            "Supprimez-le et téléchargez-le de nouveau."
        )
    return path


def _offline() -> bool:
    return os.environ.get("COURSE_OFFLINE", "").strip().lower() in {"1", "true", "yes", "oui"}


def _download(asset: Asset, target: Path) -> Path:
    from tqdm.auto import tqdm

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, suffix=".partiel", delete=False) as tmp:
        partial = Path(tmp.name)
    try:
        with urllib.request.urlopen(asset.url, timeout=60) as response, open(partial, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="o", unit_scale=True, desc=f"Téléchargement de {asset.filename}") as bar:
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
                    bar.update(len(block))
        _verify(asset, partial)
        shutil.move(str(partial), target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def _how_to(asset: Asset, target: Path) -> str:
    source = f"depuis {asset.url} " if asset.url else ""
    size = f" (environ {asset.size_mb:g} Mo)" if asset.size_mb else ""
    return (
        f"Pour la fournir : téléchargez « {asset.filename} »{size} {source}sur une machine connectée, "
        f"puis copiez-le dans « {target.parent} », ou passez son chemin avec path=..."
    )


def asset_path(name: str, path=None, download: bool | None = None) -> Path:
    """Chemin local vérifié d'une ressource du registre.

    Ordre de recherche : le fichier ``path`` donné par l'utilisateur, puis le
    cache, puis un téléchargement (sauf si ``download=False`` ou si la variable
    ``COURSE_OFFLINE=1`` est définie). Chaque fichier est vérifié par son
    empreinte SHA-256.

    Lève
    ----
    AssetUnavailableError
        Ressource introuvable : le message dit comment la fournir.
    AssetChecksumError
        Fichier présent mais corrompu.
    """
    check_choice(name, "name", ASSETS)
    asset = ASSETS[name]
    if path is not None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"L'argument « path » doit être un chemin de fichier ; reçu : {describe(path)}.")
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"Le fichier « {path} » donné pour la ressource « {name} » n'existe pas.")
        return _verify(asset, path)
    target = cache_dir(asset) / asset.filename
    if target.is_file():
        return _verify(asset, target)
    if asset.url is None:
        reason = "elle n'a pas d'adresse publique"
    elif download is False:
        reason = "le téléchargement n'a pas été demandé (download=False)"
    elif download is None and _offline():
        reason = "le téléchargement est désactivé (COURSE_OFFLINE=1)"
    else:
        reason = None
    if reason:
        raise AssetUnavailableError(
            f"La ressource « {name} » ({asset.description}) n'est pas dans le cache et {reason}. "
            + _how_to(asset, target)
        )
    try:
        return _download(asset, target)
    except (urllib.error.URLError, OSError, TimeoutError) as error:
        raise AssetUnavailableError(
            f"Impossible de télécharger la ressource « {name} » ({asset.description}) : {error}. "
            + _how_to(asset, target)
        ) from None
