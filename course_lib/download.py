"""Pré-téléchargement des poids et des jeux de données du cours, pour un laboratoire sans Internet.

Sur une machine connectée ::

    make data                                    # poids, CIFAR-10, Places365 (validation)
    python -m course_lib.data fetch --all        # ... et Places365-Standard (entraînement, 24 Go)
    python -m course_lib.data fetch vgg19 places365-val --to /srv/cours/donnees
    python -m course_lib.data status             # présent, absent ou corrompu, avec les tailles

Chaque fichier est téléchargé avec une barre de progression dans un fichier ``.partiel`` ; une
interruption (coupure, Ctrl-C) le laisse en place et la commande suivante reprend où elle s'était
arrêtée (en-tête HTTP ``Range``). Le fichier n'est rangé sous son nom qu'une fois son empreinte
vérifiée (SHA-256 du registre, ou MD5 publiée par ``torchvision.datasets``).

Un cache préparé avec ``--to DOSSIER`` a la disposition du cache du cours : on le partage en
lecture seule avec ``COURSE_DATA=DOSSIER`` (poids compris) ; ce qui y manque est alors téléchargé
dans le cache personnel de chacun.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from . import data
from .data import AssetChecksumError, DataSet

__all__ = ["download_file", "install_dataset", "fetch", "status", "ResourceStatus", "main"]

_CHUNK = 1 << 20


def _open(url: str, offset: int, timeout: float):
    """Ouvre ``url`` à partir de l'octet ``offset`` ; retourne ``(réponse ou None, offset retenu)``."""
    request = urllib.request.Request(url, headers={"User-Agent": "course-lib (python-urllib)"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:  # rien après offset : le fichier partiel est probablement complet
            error.close()
            return None, offset
        raise
    if not offset:
        return response, 0
    status = getattr(response, "status", None)
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range") or "")
    if status == 206 and match and int(match.group(1)) == offset:
        return response, offset
    if status == 206:  # une autre plage que celle demandée : on repart de zéro
        response.close()
        return _open(url, 0, timeout)
    return response, 0  # le serveur ignore Range et renvoie tout le fichier


def download_file(url: str, target, *, md5: str | None = None, sha256: str | None = None,
                  label: str | None = None, timeout: float = 60) -> Path:
    """Télécharge ``url`` dans ``target`` avec reprise, barre de progression et vérification d'empreinte.

    Les octets arrivent dans ``target.partiel`` ; s'il existe déjà (téléchargement interrompu), seule la
    suite est demandée (en-tête HTTP ``Range``) ; un serveur qui ne sait pas reprendre renvoie tout et
    l'on repart de zéro. Le fichier complet est vérifié, puis renommé en ``target``.

    Paramètres
    ----------
    url : str
        Adresse ``http(s)://`` (reprise possible) ou ``file://``.
    target : chemin
        Fichier à créer (son dossier est créé au besoin).
    md5, sha256 : str
        Empreinte attendue (au moins une ; pour SHA-256, un préfixe publié suffit).
    label : str, optionnel
        Nom affiché sur la barre de progression.
    timeout : float
        Délai d'attente du réseau, en secondes.

    Retourne
    --------
    pathlib.Path
        ``target``, vérifié.

    Lève
    ----
    AssetChecksumError
        Le fichier complet n'a pas l'empreinte attendue (le fichier partiel est alors effacé).
    ConnectionError
        Transfert interrompu : le fichier partiel reste, la commande suivante le reprendra.
    urllib.error.URLError
        Adresse injoignable.
    """
    from tqdm.auto import tqdm

    if not (md5 or sha256):
        raise ValueError("download_file : donnez l'empreinte attendue (md5 ou sha256).")
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partiel")
    resumable = urlparse(url).scheme in ("http", "https")
    offset = partial.stat().st_size if resumable and partial.is_file() else 0
    response, offset = _open(url, offset, timeout)
    if response is not None:
        with response:
            length = response.headers.get("Content-Length")
            total = offset + int(length) if length else None
            with open(partial, "ab" if offset else "wb") as out, \
                    tqdm(total=total, initial=offset, unit="o", unit_scale=True, unit_divisor=1024,
                         desc=f"Téléchargement de {label or target.name}", mininterval=0.5) as bar:
                try:
                    for block in iter(lambda: response.read(_CHUNK), b""):
                        out.write(block)
                        bar.update(len(block))
                except (http.client.IncompleteRead, ConnectionError, TimeoutError) as error:
                    raise ConnectionError(
                        f"téléchargement de « {target.name} » interrompu ({error}) ; relancez la commande, "
                        "il reprendra où il s'est arrêté") from None
        received = partial.stat().st_size
        if total is not None and received < total:
            raise ConnectionError(
                f"téléchargement de « {target.name} » interrompu : {received} octets reçus sur {total} ; "
                "relancez la commande, il reprendra où il s'est arrêté")
    if not data._matches(partial, md5=md5, sha256=sha256):
        partial.unlink()
        kind, expected = ("SHA-256", sha256) if sha256 else ("MD5", md5)
        raise AssetChecksumError(
            f"Le fichier téléchargé depuis {url} n'a pas l'empreinte {kind} attendue ({expected[:16]}…) : "
            "il est corrompu ou d'une autre version ; il a été effacé, relancez le téléchargement.")
    os.replace(partial, target)
    return target


def _fetch_archive(remote: data.RemoteFile, folder: Path) -> Path:
    archive = folder / remote.filename
    if archive.is_file() and data._matches(archive, md5=remote.md5, sha256=remote.sha256):
        return archive
    return download_file(remote.url, archive, md5=remote.md5, sha256=remote.sha256, label=remote.filename)


def install_dataset(dataset: DataSet, base=None) -> Path:
    """Télécharge (avec reprise) et extrait un jeu de données dans ``base/dataset.folder``.

    ``base`` : le dossier du cache (défaut : le cache du cours, ou le cache personnel s'il est en
    lecture seule). Les parties déjà installées et intègres ne sont pas retéléchargées ; une archive
    déjà complète est réutilisée. Retourne la racine à donner à torchvision.
    """
    base = Path(base) if base is not None else data._first_writable(data._dataset_bases())
    root = base / dataset.folder
    if dataset.kind == "cifar10":
        steps = [(dataset.files[0], lambda: data._cifar10_problem(root), None)]
    else:
        devkit, images = dataset.files
        steps = [(devkit, lambda: data._places365_devkit_problem(root, dataset.split), None),
                 (images, lambda: data._places365_images_problem(root, dataset.split),
                  data._PLACES365_RENAME.get(dataset.split))]
    for remote, problem, rename in steps:
        if root.is_dir() and problem() is None:
            continue
        archive = _fetch_archive(remote, base)
        data._extract(archive, root, rename=rename, label=remote.filename)
        if not dataset.keep_archives:
            archive.unlink()
    problem = data._dataset_problem(dataset, root)
    if problem:
        raise AssetChecksumError(f"Le jeu « {dataset.name} » est incomplet après son installation : {problem[1]}.")
    return root


# --------------------------------------------------------------------------- état du cache

@dataclass(frozen=True)
class ResourceStatus:
    """L'état d'une ressource dans le cache.

    Attributs
    ---------
    name : str
    state : str
        ``"présent"``, ``"absent"``, ``"corrompu"`` ou ``"partiel"`` (téléchargement interrompu, à reprendre).
    size : int
        Octets occupés (dossier entier pour un jeu de données ; fichier partiel le cas échéant).
    path : pathlib.Path ou None
        Le fichier ou le dossier trouvé.
    detail : str
        Ce qui ne va pas, ou la description de la ressource.
    """

    name: str
    state: str
    size: int
    path: Path | None
    detail: str


def _folder_size(folder: Path) -> int:
    total = 0
    stack = [folder]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
    return total


def _partial_status(name: str, candidates: list[Path], detail: str) -> ResourceStatus:
    for path in candidates:
        partial = path.with_name(path.name + ".partiel")
        if partial.is_file():
            return ResourceStatus(name, "partiel", partial.stat().st_size, partial,
                                  "téléchargement interrompu : relancez fetch pour le reprendre")
    return ResourceStatus(name, "absent", 0, None, detail)


def _asset_status(asset: data.Asset, to: Path | None) -> ResourceStatus:
    candidates = [to / asset.filename] if to is not None else data._asset_files(asset)
    for path in candidates:
        if path.is_file():
            if data._matches(path, sha256=asset.sha256, remember=True):
                return ResourceStatus(asset.name, "présent", path.stat().st_size, path, asset.description)
            return ResourceStatus(asset.name, "corrompu", path.stat().st_size, path,
                                  "empreinte SHA-256 inattendue : supprimez-le et relancez fetch")
    return _partial_status(asset.name, candidates, asset.description)


def _dataset_status(dataset: DataSet, to: Path | None) -> ResourceStatus:
    bases = [to] if to is not None else data._dataset_bases()
    damaged = None
    for base in bases:
        root = base / dataset.folder
        if root.is_dir():
            problem = data._dataset_problem(dataset, root)
            if problem is None:
                return ResourceStatus(dataset.name, "présent", _folder_size(root), root, dataset.description)
            if problem[0] != "absent" and damaged is None:
                damaged = ResourceStatus(dataset.name, problem[0], _folder_size(root), root,
                                         f"{problem[1]} : relancez fetch pour le réinstaller")
    archives = [base / remote.filename for base in bases for remote in dataset.files]
    partial = _partial_status(dataset.name, archives, dataset.description)
    return partial if partial.state == "partiel" or damaged is None else damaged


def status(to=None) -> list[ResourceStatus]:
    """L'état de chaque ressource inscrite (poids puis jeux de données), dans le cache ou dans ``to``."""
    to = Path(to) if to is not None else None
    rows = []
    for name in data.resource_names():
        if name in data.DATASETS:
            rows.append(_dataset_status(data.DATASETS[name], to))
        else:
            rows.append(_asset_status(data.ASSETS[name], to))
    return rows


# --------------------------------------------------------------------------- pré-téléchargement

def _default_names() -> list[str]:
    return [name for name in data.resource_names() if name not in data.DATASETS or data.DATASETS[name].auto_download]


def fetch(names=None, to=None) -> dict[str, Path]:
    """Télécharge les ressources nommées (défaut : toutes sauf les jeux de plusieurs gigaoctets).

    Paramètres
    ----------
    names : liste de str, optionnel
        Des noms de :func:`course_lib.data.resource_names` ; ``None`` : l'ensemble par défaut de ``make data``.
    to : chemin, optionnel
        Dossier à remplir avec la disposition du cache du cours (pour ``COURSE_DATA``) ; par défaut, les
        poids vont où torchvision les cherche (``$TORCH_HOME/hub/checkpoints``) et les jeux de données
        dans le cache du cours.

    Retourne
    --------
    dict
        Nom -> chemin installé. Une ressource déjà présente et intègre n'est pas retéléchargée.

    Lève
    ----
    ValueError
        Nom inconnu.
    """
    known = data.resource_names()
    names = _default_names() if names is None else list(names)
    for name in names:
        data.check_choice(name, "names", known)
    to = Path(to) if to is not None else None
    installed = {}
    for name in names:
        if name in data.DATASETS:
            dataset = data.DATASETS[name]
            root = None if to is not None else data._installed_root(dataset)
            installed[name] = root or install_dataset(dataset, to)
            continue
        asset = data.ASSETS[name]
        if asset.url is None:
            raise data.AssetUnavailableError(f"La ressource « {name} » n'a pas d'adresse de téléchargement.")
        candidates = [to / asset.filename] if to is not None else data._asset_files(asset)
        present = next((p for p in candidates if p.is_file() and data._matches(p, sha256=asset.sha256)), None)
        if present is None:
            folder = to if to is not None else data._first_writable([data.cache_dir(asset), data._user_cache()])
            present = download_file(asset.url, folder / asset.filename, sha256=asset.sha256, label=asset.filename)
        installed[name] = present
    return installed


# --------------------------------------------------------------------------- ligne de commande

def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.data",
        description="Pré-téléchargement des poids et jeux de données du cours, et état du cache.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMANDE")
    fetch_parser = commands.add_parser(
        "fetch", help="télécharger des ressources dans le cache (reprise, vérification d'empreinte)",
        description="Télécharge les ressources nommées (par défaut : les poids, CIFAR-10 et la validation de "
                    "Places365 ; --all ajoute l'entraînement de Places365, environ 24 Go). Chaque fichier est "
                    "vérifié par son empreinte ; relancée après une interruption, la commande reprend où elle "
                    "s'était arrêtée (reprise par l'en-tête HTTP Range).")
    fetch_parser.add_argument("names", nargs="*", metavar="NOM", help="ressources à télécharger (voir status)")
    fetch_parser.add_argument("--all", action="store_true", help="toutes les ressources inscrites")
    fetch_parser.add_argument("--to", metavar="DOSSIER", help="remplir ce dossier (cache partagé pour COURSE_DATA)")
    status_parser = commands.add_parser("status", help="ce qui est présent, absent ou corrompu, avec les tailles")
    status_parser.add_argument("--to", metavar="DOSSIER", help="examiner ce dossier plutôt que le cache")
    return parser


def _print_status(rows: list[ResourceStatus], to: Path | None) -> None:
    if to is None:
        import torch

        course = data.cache_dir()
        writable = "" if data._writable(course) else " (lecture seule : ce qui manque ira dans le cache personnel)"
        print(f"Cache du cours : {course}{writable}")
        print(f"Poids de torchvision : {Path(torch.hub.get_dir()) / 'checkpoints'}")
    else:
        print(f"Dossier examiné : {to}")
    width = max(len(row.name) for row in rows)
    for row in rows:
        size = data._french_size(row.size) if row.size else "—"
        where = f"  {row.path}" if row.path else ""
        print(f"  {row.name:<{width}}  {row.state:<9} {size:>9}{where}")
        if row.state != "présent":
            print(f"  {'':<{width}}  {row.detail}")


def main(argv=None) -> int:
    """Point d'entrée de ``python -m course_lib.data`` ; retourne le code de sortie."""
    args = _parser().parse_args(argv)
    to = Path(args.to).expanduser() if args.to else None
    if args.command == "status":
        _print_status(status(to), to)
        return 0
    known = data.resource_names()
    if args.all:
        names = known
    elif args.names:
        unknown = [name for name in args.names if name not in known]
        if unknown:
            print(f"Ressource inconnue : {', '.join(unknown)}. Ressources : {', '.join(known)}.", file=sys.stderr)
            return 2
        names = args.names
    else:
        names = _default_names()
        skipped = [name for name in known if name not in names]
        if skipped:
            print(f"Non téléchargé par défaut (trop gros) : {', '.join(skipped)} ; "
                  "demandez-le par son nom ou avec --all.")
    failures = 0
    for name in names:
        try:
            path = fetch([name], to)[name]
        except KeyboardInterrupt:
            print("\nInterrompu : relancez la même commande pour reprendre.", file=sys.stderr)
            return 130
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
            failures += 1
            print(f"✗ {name} : {error}", file=sys.stderr)
        else:
            print(f"✓ {name} : {path}")
    if failures:
        print(f"{failures} ressource(s) non téléchargée(s) ; relancez la commande pour reprendre.", file=sys.stderr)
    place = to or data.cache_dir()
    while not place.exists() and place != place.parent:
        place = place.parent
    print(f"Espace libre restant : {data._french_size(shutil.disk_usage(place).free)}.")
    return 1 if failures else 0
