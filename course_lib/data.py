"""Données du cours, toutes disponibles hors ligne.

- :func:`photo` et :func:`texture` : photos et textures livrées avec scikit-image,
  scikit-learn et matplotlib (aucun téléchargement) ;
- :func:`synthetic_scenes` : un générateur procédural de paysages extérieurs
  (ciel, horizon, montagnes, eau, végétation, lumière) qui remplace les
  2 millions d'images Flickr de Hays et Efros : la scène ``i`` ne dépend que de
  ``(seed, i)``, on peut donc en produire des millions, par morceaux ;
- :func:`list_images`, :func:`load_folder`, :func:`iter_folder` : un dossier de photos de l'utilisateur ;
- un registre de ressources téléchargeables (poids, jeux de données), avec
  empreinte SHA-256 et dossier cache (:func:`register_asset`, :func:`asset_path`) ;
- de vrais jeux de données par les classes de ``torchvision.datasets`` et leurs
  empreintes : Places365 en 256x256 (:func:`places365`, :func:`scene_photos`) et
  CIFAR-10 (:func:`cifar10`) ; :func:`is_available` dit, sans réseau, ce qui est
  dans le cache.

Tout se pré-télécharge avec ``make data`` (``python -m course_lib.data fetch``) ;
``python -m course_lib.data status`` dit ce qui est présent, absent ou corrompu.
"""

from __future__ import annotations

import hashlib
import http.client
import importlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

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
    "RemoteFile", "DataSet", "DATASETS", "resource_names", "is_available",
    "places365", "places365_folder", "scene_photos", "cifar10", "CIFAR10_ARCHIVE",
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


def _user_cache() -> Path:
    """Le cache personnel : ``$XDG_CACHE_HOME/course_lib`` (défaut ``~/.cache/course_lib``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "course_lib"


def cache_dir(asset: Asset | None = None) -> Path:
    """Dossier cache : ``$COURSE_DATA`` (défaut ``~/.cache/course_lib``), ou celui de ``torch.hub``.

    ``COURSE_DATA`` peut désigner un cache partagé en lecture seule (sur un serveur du
    laboratoire) : on y cherche d'abord, puis dans le cache personnel
    ``$XDG_CACHE_HOME/course_lib`` (défaut ``~/.cache/course_lib``), où vont alors les
    téléchargements et les extractions. Les poids rangés par ``torch.hub``
    (``$TORCH_HOME/hub/checkpoints``) sont aussi cherchés dans le cache du cours.
    """
    if asset is not None and asset.torch_hub:
        return Path(torch.hub.get_dir()) / "checkpoints"
    return Path(os.environ.get("COURSE_DATA") or _user_cache())


def _unique(paths) -> list[Path]:
    return list(dict.fromkeys(Path(p) for p in paths))


def _writable(folder: Path) -> bool:
    """Vrai si l'on peut écrire dans ``folder`` (ou le créer dans son premier parent existant)."""
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            return candidate.is_dir() and os.access(candidate, os.W_OK | os.X_OK)
    return False


def _first_writable(folders) -> Path:
    folders = _unique(folders)
    return next((folder for folder in folders if _writable(folder)), folders[0])


def _asset_files(asset: Asset) -> list[Path]:
    """Où chercher le fichier d'une ressource : son cache, celui du cours, puis le cache personnel."""
    return [folder / asset.filename for folder in _unique([cache_dir(asset), cache_dir(), _user_cache()])]


def _hash_file(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256sum(path) -> str:
    """Empreinte SHA-256 (hexadécimale) d'un fichier, lue par blocs."""
    return _hash_file(Path(path), "sha256")


#: Empreintes déjà calculées, par (chemin, algorithme, taille, date de modification) : :func:`is_available`
#: ne relit pas 500 Mo de poids à chaque appel.
_DIGESTS: dict[tuple, str] = {}


def _remembered_digest(path: Path, algorithm: str) -> str:
    stat = path.stat()
    key = (str(path.resolve()), algorithm, stat.st_size, stat.st_mtime_ns, stat.st_ino)
    if key not in _DIGESTS:
        _DIGESTS[key] = _hash_file(path, algorithm)
    return _DIGESTS[key]


def _matches(path: Path, *, sha256: str | None = None, md5: str | None = None, remember: bool = False) -> bool:
    """Vrai si le fichier a l'empreinte attendue (SHA-256 ou son préfixe publié, sinon MD5)."""
    digest = _remembered_digest if remember else _hash_file
    if sha256:
        return digest(path, "sha256").startswith(sha256.lower())
    return digest(path, "md5") == md5.lower()


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
    from .download import download_file

    return download_file(asset.url, target, sha256=asset.sha256, label=asset.filename)


def _fetch_command(name: str) -> str:
    """Les commandes qui pré-téléchargent ``name`` (``make data`` s'il fait partie de l'ensemble par défaut)."""
    dataset = DATASETS.get(name)
    if dataset is not None and not dataset.auto_download:
        make = f"make data DATA={name}"
    else:
        make = "make data"
    return f"« {make} » (ou « python -m course_lib.data fetch {name} »)"


def _how_to(asset: Asset, target: Path) -> str:
    source = f"depuis {asset.url} " if asset.url else ""
    size = f" (environ {asset.size_mb:g} Mo)" if asset.size_mb else ""
    return (
        f"Pour la fournir : lancez {_fetch_command(asset.name)} sur une machine connectée, "
        f"ou téléchargez « {asset.filename} »{size} {source}; puis copiez-le dans « {target.parent} » "
        "(ou faites pointer COURSE_DATA vers un cache qui le contient), ou passez son chemin avec path=..."
    )


def asset_path(name: str, path=None, download: bool | None = None) -> Path:
    """Chemin local vérifié d'une ressource du registre.

    Ordre de recherche : le fichier ``path`` donné par l'utilisateur, puis le
    cache (celui de la ressource, celui du cours ``$COURSE_DATA``, le cache
    personnel), puis un téléchargement (sauf si ``download=False`` ou si la
    variable ``COURSE_OFFLINE=1`` est définie), repris là où il s'était arrêté
    s'il a été interrompu. Chaque fichier est vérifié par son empreinte SHA-256.

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
    for candidate in _asset_files(asset):
        if candidate.is_file():
            return _verify(asset, candidate)
    target = _first_writable([cache_dir(asset), _user_cache()]) / asset.filename
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
    except (urllib.error.URLError, http.client.HTTPException, OSError, TimeoutError) as error:
        raise AssetUnavailableError(
            f"Impossible de télécharger la ressource « {name} » ({asset.description}) : {error}. "
            + _how_to(asset, target)
        ) from None


#: Modules qui inscrivent des poids dans le registre en s'important.
_REGISTRY_MODULES = ("course_lib.features", "course_lib.nn.imagenet", "course_lib.colorization.models")


def _load_registry() -> None:
    for module in _REGISTRY_MODULES:
        importlib.import_module(module)


# --------------------------------------------------------------------------- vrais jeux de données

@dataclass(frozen=True)
class RemoteFile:
    """Un fichier à télécharger, vérifié par l'empreinte que publie sa source.

    Attributs
    ---------
    url : str
        Adresse de téléchargement.
    filename : str
        Nom du fichier téléchargé.
    md5 : str, optionnel
        Empreinte MD5 (celle que publie et vérifie ``torchvision.datasets``).
    sha256 : str, optionnel
        Empreinte SHA-256, ou son préfixe publié.
    size_mb : float, optionnel
        Taille approximative, en Mo.
    """

    url: str
    filename: str
    md5: str | None = None
    sha256: str | None = None
    size_mb: float | None = None

    def __post_init__(self):
        if not (self.md5 or self.sha256):
            raise ValueError(f"Le fichier « {self.filename} » doit avoir une empreinte : md5 ou sha256.")


@dataclass(frozen=True)
class DataSet:
    """Un vrai jeu de données, lu par sa classe de ``torchvision.datasets``.

    Attributs
    ---------
    name : str
        Identifiant (``"places365-val"``...).
    kind : str
        ``"places365"`` ou ``"cifar10"`` : la classe de torchvision qui le lit.
    split : str ou None
        La partie du jeu au sens de torchvision (``"val"``, ``"train-standard"``).
    description : str
        Ce que contient le jeu, en français.
    folder : str
        Son dossier dans le cache : la racine donnée à torchvision.
    files : tuple de RemoteFile
        Les archives à télécharger puis extraire dans ``folder`` (téléchargées à côté de lui).
    size_mb : float
        Place occupée une fois installé (approximative).
    auto_download : bool
        Si ``download=None`` suffit à le télécharger (faux pour les jeux de plusieurs gigaoctets).
    keep_archives : bool
        Garder les archives après l'extraction (sinon elles sont effacées).
    """

    name: str
    kind: str
    split: str | None
    description: str
    folder: str
    files: tuple[RemoteFile, ...]
    size_mb: float
    auto_download: bool = True
    keep_archives: bool = False


#: CIFAR-10, l'archive Python officielle (lue par ``torchvision.datasets.CIFAR10``).
CIFAR10_ARCHIVE = register_asset(Asset(
    name="cifar10",
    filename="cifar-10-python.tar.gz",
    url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    sha256="6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
    description="CIFAR-10, 60 000 images 32×32 en 10 classes (Krizhevsky 2009), version Python",
    size_mb=163,
))

# Les adresses et empreintes MD5 sont celles de torchvision.datasets.Places365 (un test le vérifie) ;
# torchvision n'est importé qu'à la lecture (plusieurs secondes).
_PLACES365_URL = "http://data.csail.mit.edu/places/places365/"
_PLACES365_DEVKIT = RemoteFile(_PLACES365_URL + "filelist_places365-standard.tar",
                               "filelist_places365-standard.tar", md5="35a0585fee1fa656440f3ab298f8479c")
#: Dossier des images de chaque partie, tel que torchvision le cherche (``Places365.images_dir``).
_PLACES365_IMAGES = {"val": "val_256", "train-standard": "data_256_standard"}
#: Dossier qu'extrait chaque archive d'images, quand torchvision le renomme.
_PLACES365_RENAME = {"train-standard": {"data_256": "data_256_standard"}}

#: Les jeux de données réels : nom -> :class:`DataSet`.
DATASETS: dict[str, DataSet] = {
    "cifar10": DataSet(
        name="cifar10", kind="cifar10", split=None, folder="cifar10",
        description="CIFAR-10, 60 000 images 32×32 en 10 classes (Krizhevsky 2009)",
        files=(RemoteFile(CIFAR10_ARCHIVE.url, CIFAR10_ARCHIVE.filename, sha256=CIFAR10_ARCHIVE.sha256,
                          size_mb=CIFAR10_ARCHIVE.size_mb),),
        size_mb=340, keep_archives=True,  # course_lib.nn.cifar10 lit l'archive
    ),
    "places365-val": DataSet(
        name="places365-val", kind="places365", split="val", folder="places365",
        description="Places365, validation en 256×256 : 36 500 scènes, 100 par catégorie (Zhou et al. 2017)",
        files=(_PLACES365_DEVKIT,
               RemoteFile(_PLACES365_URL + "val_256.tar", "val_256.tar",
                          md5="e27b17d8d44f4af9a78502beb927f808", size_mb=501)),
        size_mb=560,
    ),
    "places365-train": DataSet(
        name="places365-train", kind="places365", split="train-standard", folder="places365",
        description="Places365-Standard, entraînement en 256×256 : 1 803 460 scènes (Zhou et al. 2017)",
        files=(_PLACES365_DEVKIT,
               RemoteFile(_PLACES365_URL + "train_256_places365standard.tar", "train_256_places365standard.tar",
                          md5="53ca1c756c3d1e7809517cc47c5561c5", size_mb=24_000)),
        size_mb=24_500, auto_download=False,
    ),
}


def resource_names() -> list[str]:
    """Toutes les ressources qu'on peut pré-télécharger : les poids du registre, puis les jeux de données."""
    _load_registry()
    return [name for name in ASSETS if name not in DATASETS] + list(DATASETS)


def _dataset_bases() -> list[Path]:
    return _unique([cache_dir(), _user_cache()])


def _read_edges(path: Path) -> tuple[str, str]:
    """La première et la dernière ligne non vides d'un fichier texte (sans le lire en entier)."""
    with open(path, "rb") as stream:
        first = stream.readline()
        stream.seek(0, os.SEEK_END)
        stream.seek(max(0, stream.tell() - 4096))
        lines = [line for line in stream.read().splitlines() if line.strip()]
    return first.decode().strip(), (lines[-1].decode().strip() if lines else "")


# Un diagnostic : None si tout va bien, sinon (état, explication) avec l'état « absent », « incomplet » ou
# « corrompu ».
Problem = tuple[str, str] | None


def _places365_devkit_problem(root: Path, split: str) -> Problem:
    from torchvision.datasets import Places365

    for filename, md5 in (Places365._CATEGORIES_META, Places365._FILE_LIST_META[split]):
        path = root / filename
        if not path.is_file():
            return "absent", f"le fichier « {filename} » manque"
        if not _matches(path, md5=md5, remember=True):
            return "corrompu", f"le fichier « {filename} » est corrompu (empreinte MD5)"
    return None


def _places365_images_problem(root: Path, split: str) -> Problem:
    from torchvision.datasets import Places365

    images = root / _PLACES365_IMAGES[split]
    if not images.is_dir():
        return "absent", f"le dossier d'images « {images.name} » manque"
    for line in _read_edges(root / Places365._FILE_LIST_META[split][0]):
        relative = line.split()[0].lstrip("/") if line else ""
        if not relative or not (images / relative).is_file():
            return "incomplet", f"l'image « {relative} » manque dans « {images.name} » (extraction incomplète ?)"
    return None


def _cifar10_problem(root: Path) -> Problem:
    from torchvision.datasets import CIFAR10

    folder = root / CIFAR10.base_folder
    if not folder.is_dir():
        return "absent", f"le dossier « {CIFAR10.base_folder} » manque"
    expected = [*CIFAR10.train_list, *CIFAR10.test_list, [CIFAR10.meta["filename"], CIFAR10.meta["md5"]]]
    for filename, md5 in expected:
        path = folder / filename
        if not path.is_file():
            return "incomplet", f"le fichier « {CIFAR10.base_folder}/{filename} » manque"
        if not _matches(path, md5=md5, remember=True):
            return "corrompu", f"le fichier « {CIFAR10.base_folder}/{filename} » est corrompu (empreinte MD5)"
    return None


def _dataset_problem(dataset: DataSet, root: Path) -> Problem:
    """Ce qui manque au jeu installé dans ``root`` (``None`` s'il est complet et intègre)."""
    if not root.is_dir():
        return "absent", f"le dossier « {root} » n'existe pas"
    if dataset.kind == "cifar10":
        return _cifar10_problem(root)
    return _places365_devkit_problem(root, dataset.split) or _places365_images_problem(root, dataset.split)


def _installed_root(dataset: DataSet) -> Path | None:
    """Le premier dossier du cache où le jeu est complet et intègre, sinon ``None``."""
    for base in _dataset_bases():
        root = base / dataset.folder
        if root.is_dir() and _dataset_problem(dataset, root) is None:
            return root
    return None


def _archive_files(dataset: DataSet) -> list[Path]:
    return [base / remote.filename for remote in dataset.files for base in _dataset_bases()]


def _cifar10_archive() -> Path | None:
    """L'archive de CIFAR-10 intègre dans le cache, sinon ``None``."""
    archive = ASSETS["cifar10"]
    for path in _asset_files(archive):
        if path.is_file() and _matches(path, sha256=archive.sha256, remember=True):
            return path
    return None


def is_available(name: str) -> bool:
    """Vrai si la ressource ou le jeu de données ``name`` est dans le cache, complet et intègre (sans réseau).

    Paramètres
    ----------
    name : str
        Un poids du registre (``"vgg19"``, ``"resnet18-imagenet"``, ``"colorization_eccv16"``...) ou un
        jeu de données : ``"places365-val"``, ``"places365-train"``, ``"cifar10"``.

    Retourne
    --------
    bool
        Pour un fichier : présent et de la bonne empreinte SHA-256. Pour Places365 : les listes de
        torchvision (empreintes MD5) et le dossier d'images, avec la première et la dernière image
        de la liste. Pour CIFAR-10 : les lots extraits (empreintes MD5 de torchvision) ou l'archive
        officielle intègre (extraite au premier usage). Les empreintes sont calculées une fois par
        fichier et par session.
    """
    if not isinstance(name, str):
        raise TypeError(f"L'argument « name » doit être un nom de ressource (str) ; reçu : {describe(name)}.")
    if name in DATASETS:
        dataset = DATASETS[name]
        if _installed_root(dataset) is not None:
            return True
        return dataset.kind == "cifar10" and _cifar10_archive() is not None
    if name not in ASSETS:
        _load_registry()
    check_choice(name, "name", [*ASSETS, *DATASETS])
    asset = ASSETS[name]
    return any(path.is_file() and _matches(path, sha256=asset.sha256, remember=True) for path in _asset_files(asset))


def _dataset_how_to(dataset: DataSet) -> str:
    return (
        f"Pour l'installer : lancez {_fetch_command(dataset.name)} sur une machine connectée "
        f"(environ {_french_size(dataset.size_mb * 1e6)}), ou copiez le dossier « {dataset.folder} » d'un "
        f"cache où il est installé dans « {cache_dir()} » ; un cache partagé se désigne avec COURSE_DATA."
    )


def _obtain(dataset: DataSet, download: bool | None, why_not: str | None = None) -> Path:
    """Télécharge et installe le jeu si c'est permis, sinon lève :class:`AssetUnavailableError`."""
    if download is False:
        reason = why_not or "le téléchargement n'a pas été demandé (download=False)"
    elif download is None and _offline():
        reason = "le téléchargement est désactivé (COURSE_OFFLINE=1)"
    elif download is None and not dataset.auto_download:
        reason = (f"il est trop gros pour un téléchargement automatique ({_french_size(dataset.size_mb * 1e6)} ; "
                  "passez download=True pour le télécharger quand même)")
    else:
        reason = None
    if reason:
        raise AssetUnavailableError(
            f"Le jeu de données « {dataset.name} » ({dataset.description}) n'est pas dans le cache et {reason}. "
            + _dataset_how_to(dataset)
        )
    from .download import install_dataset

    try:
        return install_dataset(dataset)
    except (urllib.error.URLError, http.client.HTTPException, OSError, TimeoutError) as error:
        raise AssetUnavailableError(
            f"Impossible de télécharger le jeu de données « {dataset.name} » : {error}. " + _dataset_how_to(dataset)
        ) from None


_PLACES365_SPLITS = {"val": "places365-val", "train": "places365-train"}


def places365(split: str = "val", transform=None, download: bool | None = None):
    """Places365 en 256×256 (``torchvision.datasets.Places365``, ``small=True``), rangé dans le cache du cours.

    Paramètres
    ----------
    split : str
        ``"val"`` : les 36 500 scènes de validation (100 par catégorie, environ 0,5 Go) ;
        ``"train"`` : les 1 803 460 scènes d'entraînement de Places365-Standard (environ 24 Go),
        l'ordre de grandeur des « 2 millions d'images » de Hays et Efros.
    transform : callable, optionnel
        Transformation appliquée à chaque image PIL (celle de torchvision).
    download : bool, optionnel
        ``True`` : télécharger s'il manque ; ``False`` : jamais ; ``None`` (défaut) : oui pour la
        validation sauf avec ``COURSE_OFFLINE=1``, non pour l'entraînement (trop gros : ``make data``).

    Retourne
    --------
    torchvision.datasets.Places365
        Chaque élément est ``(image PIL 256×256, catégorie)`` ; ``.classes`` nomme les 365 catégories.

    Lève
    ----
    AssetUnavailableError
        Jeu absent et non téléchargeable : le message dit comment le récupérer (``make data``).

    Références
    ----------
    Zhou, B., Lapedriza, A., Khosla, A., Oliva, A. et Torralba, A. (2017). Places: A 10 million image
    database for scene recognition. *IEEE TPAMI*, 40(6), 1452-1464.
    """
    from torchvision.datasets import Places365

    check_choice(split, "split", _PLACES365_SPLITS)
    dataset = DATASETS[_PLACES365_SPLITS[split]]
    root = _installed_root(dataset) or _obtain(dataset, download)
    return Places365(str(root), split=dataset.split, small=True, download=False, transform=transform)


def places365_folder(split: str = "val") -> Path:
    """Le dossier des images de Places365 (256×256) dans le cache, pour les parcourir en flux.

    La validation est un dossier plat (``val_256/Places365_val_00000001.jpg``...) ;
    l'entraînement a un dossier par catégorie (``data_256_standard/a/airfield/00000001.jpg``...).
    :func:`iter_folder` le parcourt par lots, sans tout charger en mémoire. Rien n'est téléchargé.

    Lève
    ----
    AssetUnavailableError
        Jeu absent du cache : le message dit comment le récupérer (``make data``).
    """
    check_choice(split, "split", _PLACES365_SPLITS)
    dataset = DATASETS[_PLACES365_SPLITS[split]]
    root = _installed_root(dataset) or _obtain(dataset, download=False, why_not="places365_folder ne télécharge rien")
    return root / _PLACES365_IMAGES[dataset.split]


def _french_int(value: int) -> str:
    return f"{value:,}".replace(",", " ")


def _french_size(size_bytes: float) -> str:
    for unit, scale in (("Go", 1e9), ("Mo", 1e6), ("ko", 1e3)):
        if size_bytes >= scale:
            return f"{size_bytes / scale:.1f} {unit}".replace(".", ",")
    return f"{int(size_bytes)} o"


#: Listes de Places365 déjà lues (1,8 million de lignes pour l'entraînement) : (racine, partie, date) -> jeu.
_PLACES365_LISTINGS: dict[tuple, object] = {}


def _places365_listing(split: str):
    dataset = places365(split, download=False)
    listing = Path(dataset.root) / dataset._FILE_LIST_META[dataset.split][0]
    key = (str(listing), listing.stat().st_mtime_ns)
    return _PLACES365_LISTINGS.setdefault(key, dataset)


def scene_photos(n: int, size=128, seed: int = 0, split: str = "val", device=None) -> tuple[torch.Tensor, str]:
    """``n`` photos de scènes de Places365 si le jeu est dans le cache, sinon ``n`` paysages procéduraux.

    Les photos sont tirées sans remise, de façon reproductible : la permutation ne dépend que de
    ``seed``, donc ``scene_photos(10)`` donne les 10 premières photos de ``scene_photos(20)``.
    Chaque photo (256×256) est ramenée à ``size`` (plus petit côté, puis recadrage central).
    Sans Places365, ce sont les scènes de :func:`synthetic_scenes` (mêmes ``n``, ``size``, ``seed``).

    Paramètres
    ----------
    n : int
        Nombre de photos.
    size : int ou (int, int)
        Taille des images.
    seed : int
        Graine du tirage.
    split : str
        ``"val"`` (36 500 scènes) ou ``"train"`` (1 803 460 scènes).
    device : torch.device ou str, optionnel

    Retourne
    --------
    images : torch.Tensor
        ``(n,3,H,W)`` float32 dans [0, 1].
    source : str
        Une ligne qui dit d'où viennent les images, à afficher dans le notebook.
    """
    check_number(n, "n", integer=True, positive=True)
    check_number(seed, "seed", integer=True, nonnegative=True)
    side = check_size(size, "size")
    check_choice(split, "split", _PLACES365_SPLITS)
    if not is_available(_PLACES365_SPLITS[split]):
        return (synthetic_scenes(n, size=size, seed=seed, device=device),
                "paysages procéduraux : Places365 absent du cache, voir make data")
    dataset = _places365_listing(split)
    total = len(dataset)
    if n > total:
        raise ValueError(f"L'argument « n » ne peut dépasser le nombre de scènes de Places365 ({total}) ; reçu : {n}.")
    order = torch.randperm(total, generator=torch.Generator().manual_seed(int(seed)))[:n].tolist()
    chunks = []
    for first in range(0, n, 256):
        photos = [load_image(dataset.imgs[index][0]) for index in order[first:first + 256]]
        if len({tuple(p.shape) for p in photos}) == 1:  # toutes en 256×256 : un seul redimensionnement
            batch = resize_crop(torch.stack(photos), side)
        else:
            batch = torch.stack([resize_crop(p, side) for p in photos])
        chunks.append(batch.clamp_(0, 1).to(device or "cpu"))
    label = "validation" if split == "val" else "entraînement"
    return torch.cat(chunks), f"Places365 ({label}, {_french_int(total)} scènes)"


def _extract(archive: Path, root: Path, rename: dict[str, str] | None = None, label: str | None = None) -> None:
    """Extrait une archive tar dans ``root`` : d'abord dans un dossier temporaire, puis chaque entrée de premier
    niveau remplace la précédente (une extraction interrompue ne laisse jamais un dossier à moitié plein).
    Aucun chemin ne sort de ``root`` ; seuls les fichiers et dossiers sont extraits."""
    from tqdm.auto import tqdm

    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".extraction-", dir=root))
    safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
    try:
        with tarfile.open(archive) as tar, tqdm(unit=" fichiers", desc=f"Extraction de {label or archive.name}",
                                                 mininterval=1.0) as bar:
            for member in tar:
                parts = PurePosixPath(member.name).parts
                if not (member.isfile() or member.isdir()) or member.name.startswith("/") or ".." in parts:
                    continue
                tar.extract(member, staging, **safe)
                bar.update(member.isfile())
        for entry in staging.iterdir():
            destination = root / (rename or {}).get(entry.name, entry.name)
            if destination.is_dir() and not destination.is_symlink():
                shutil.rmtree(destination)
            elif destination.exists() or destination.is_symlink():
                destination.unlink()
            os.replace(entry, destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def cifar10(train: bool = True, transform=None, download: bool | None = None):
    """CIFAR-10 par ``torchvision.datasets.CIFAR10``, rangé dans le cache du cours.

    L'archive officielle est cherchée (puis téléchargée, sauf ``download=False`` ou
    ``COURSE_OFFLINE=1``) par :func:`asset_path` et vérifiée par son empreinte SHA-256,
    extraite une fois dans le dossier ``cifar10`` du cache (le cache personnel si celui du
    cours est en lecture seule), puis chaque lot est vérifié par torchvision (MD5).
    :func:`course_lib.nn.cifar10` donne les mêmes images en tenseurs.

    Paramètres
    ----------
    train : bool
        Les 50 000 images d'entraînement (sinon les 10 000 de test).
    transform : callable, optionnel
        Transformation appliquée à chaque image PIL (celle de torchvision).
    download : bool, optionnel
        Autoriser le téléchargement (par défaut : oui, sauf ``COURSE_OFFLINE=1``).

    Retourne
    --------
    torchvision.datasets.CIFAR10
        Chaque élément est ``(image PIL 32×32, classe)``.

    Lève
    ----
    AssetUnavailableError
        Archive introuvable : le message dit comment la récupérer (``make data``).

    Références
    ----------
    Krizhevsky, A. (2009). *Learning multiple layers of features from tiny images*. Rapport technique,
    Université de Toronto.
    """
    from torchvision.datasets import CIFAR10

    if not isinstance(train, bool):
        raise TypeError(f"L'argument « train » doit être un booléen ; reçu : {describe(train)}.")
    dataset = DATASETS["cifar10"]
    root = _installed_root(dataset)
    if root is None:
        archive = asset_path("cifar10", download=download)
        root = _first_writable(_dataset_bases()) / dataset.folder
        _extract(archive, root)
        problem = _dataset_problem(dataset, root)
        if problem:
            raise AssetChecksumError(f"CIFAR-10 est incomplet après l'extraction de « {archive} » : {problem[1]}.")
    return CIFAR10(str(root), train=train, transform=transform, download=False)


if __name__ == "__main__":  # python -m course_lib.data fetch|status
    from course_lib.download import main

    raise SystemExit(main())
