"""Construction en flux d'un index de scènes à partir d'un dossier de millions d'images.

Pour une base comme Places365 (1,8 million de JPEG rangés en dossiers de classes,
``data_256/a/airfield/00000001.jpg``), :func:`build_from_folder` :

1. liste une fois les fichiers (parcours trié, sans garder la liste en mémoire)
   dans ``manifest.txt`` ;
2. lit les images par morceaux de ``chunk_size`` (décodage JPEG dans des fils
   d'exécution, le morceau suivant pendant le gist du morceau courant), saute et
   compte les fichiers illisibles, en niveaux de gris ou trop petits ;
3. après chaque morceau, *ajoute* sur disque les descripteurs
   (``descriptors.f32``, float32 ligne par ligne), les chemins des scènes
   gardées (``sources.txt``) et des fichiers sautés (``skipped.tsv``), puis écrit
   l'état (``state.json`` : position dans la liste, compteurs, tailles des
   fichiers) d'un coup (écriture puis renommage) ;
4. à la fin, construit l'index FAISS à partir des descripteurs du disque, par
   blocs, et l'enregistre (``index.npz``, relu par :meth:`SceneIndex.load`).

Une construction interrompue (Ctrl-C, arrêt de la machine) reprend au dernier
morceau terminé : les ajouts d'un morceau inachevé sont coupés à la taille notée
dans l'état. Le résultat est le même que celui d'une construction d'une traite.
À aucun moment toutes les images ne sont en mémoire : un ou deux morceaux.

Références
----------
J. Hays, A. A. Efros, « Scene Completion Using Millions of Photographs », SIGGRAPH 2007, §2 (base de
2,3 millions d'images, les images trop petites ou en niveaux de gris écartées).
B. Zhou et al., « Places: A 10 million Image Database for Scene Recognition », TPAMI 2018.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..validation import check_number, describe
from .gist import COLOR_SCALE, get_preset, gist

__all__ = ["build_from_folder", "FolderBuild", "read_state", "SKIP_REASONS", "STATE_FORMAT"]

STATE_FORMAT = "course_lib.scenes.streaming/1"

#: Raisons pour lesquelles un fichier est sauté, et leur nom en français.
SKIP_REASONS = {"unreadable": "illisible", "grayscale": "niveaux de gris", "tiny": "trop petite"}

MANIFEST, DESCRIPTORS, SOURCES, SKIPPED, STATE, INDEX = (
    "manifest.txt", "descriptors.f32", "sources.txt", "skipped.tsv", "state.json", "index.npz")

_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}


@dataclass
class FolderBuild:
    """Bilan d'une construction : l'index, les compteurs et la vitesse.

    Attributs
    ---------
    index : SceneIndex
        L'index construit (aussi enregistré dans ``out_dir / "index.npz"``).
    added : int
        Scènes ajoutées.
    skipped : dict
        Fichiers sautés par raison (:data:`SKIP_REASONS`).
    seen, total : int
        Fichiers lus et fichiers de la liste.
    seconds : float
        Temps de lecture et de calcul des descripteurs, toutes reprises comprises.
    resumed : bool
        Vrai si la construction a repris un travail interrompu (ou déjà fini).
    out_dir : Path
        Le dossier de travail.
    """

    index: object
    added: int
    skipped: dict = field(default_factory=dict)
    seen: int = 0
    total: int = 0
    seconds: float = 0.0
    resumed: bool = False
    out_dir: Path | None = None

    @property
    def images_per_second(self) -> float:
        """Fichiers traités par seconde (lecture, décodage et gist)."""
        return self.seen / self.seconds if self.seconds > 0 else float("nan")

    def __str__(self) -> str:
        skipped = ", ".join(f"{count} {SKIP_REASONS[k]}" for k, count in self.skipped.items() if count)
        return (f"{self.added} scènes indexées sur {self.total} fichiers"
                + (f" ({skipped})" if skipped else "")
                + f", {self.images_per_second:.1f} images/s" + (" (reprise)" if self.resumed else ""))


# --------------------------------------------------------------------------- liste des fichiers

def _walk(root: Path, relative: str = ""):
    """Chemins relatifs (séparateur ``/``) des images sous ``root``, dans l'ordre trié, dossier par dossier."""
    from ..data import _IMAGE_SUFFIXES

    with os.scandir(root / relative if relative else root) as entries:
        entries = sorted(entries, key=lambda e: e.name)
    for entry in entries:
        name = f"{relative}/{entry.name}" if relative else entry.name
        if "\n" in name or "\t" in name:
            continue                                       # un nom inscriptible ligne par ligne seulement
        if entry.is_dir(follow_symlinks=True):
            yield from _walk(root, name)
        elif Path(entry.name).suffix.lower() in _IMAGE_SUFFIXES and entry.is_file(follow_symlinks=True):
            yield name


def _write_manifest(root: Path, out_dir: Path) -> int:
    partial = out_dir / (MANIFEST + ".partiel")
    count = 0
    with open(partial, "w", encoding="utf-8") as handle:
        for name in _walk(root):
            handle.write(name + "\n")
            count += 1
    os.replace(partial, out_dir / MANIFEST)
    return count


# --------------------------------------------------------------------------- lecture d'une image

def _read(path: Path, size: int, min_size: int) -> tuple[torch.Tensor | None, str | None]:
    """Une image ``(3, size, size)`` dans [0, 1], ou ``(None, raison)`` pour un fichier à sauter."""
    from PIL import Image

    from .sources import fit_to_size

    try:
        with Image.open(path) as pil:
            if min(pil.size) < min_size:                   # taille lue dans l'en-tête, sans décoder
                return None, "tiny"
            if pil.mode in _GRAY_MODES:
                return None, "grayscale"
            array = np.array(pil.convert("RGB"))
    except Exception:                                      # noqa: BLE001 - un fichier abîmé n'arrête jamais la construction
        return None, "unreadable"
    channels = array[::4, ::4].astype(np.int16)
    if int((channels.max(axis=2) - channels.min(axis=2)).max()) <= 4:
        return None, "grayscale"                           # couleurs codées en RGB, mais R = G = B
    image = torch.from_numpy(array).permute(2, 0, 1).float().div_(255)
    return fit_to_size(image, (size, size)), None


# --------------------------------------------------------------------------- état

def read_state(out_dir) -> dict | None:
    """L'état d'une construction (``state.json``), ou ``None`` s'il n'y en a pas."""
    path = Path(out_dir) / STATE
    if not path.is_file():
        return None
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"L'état de construction « {path} » est illisible ({error}) : supprimez le dossier "
                         "pour recommencer.") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise ValueError(f"« {path} » n'est pas un état de construction ({STATE_FORMAT}).")
    return state


def _write_state(out_dir: Path, state: dict) -> None:
    partial = out_dir / (STATE + ".partiel")
    partial.write_text(json.dumps(state, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(partial, out_dir / STATE)


def _truncate(path: Path, size: int) -> None:
    with open(path, "ab") as handle:
        handle.truncate(size)


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


# --------------------------------------------------------------------------- construction

def build_from_folder(folder, out_dir, preset="hays_efros", image_size: int | None = None, size: int = 128,
                      chunk_size: int = 256, kind: str = "exact", min_size: int = 64,
                      color_weight: float = COLOR_SCALE, device=None, workers: int | None = None,
                      progress: bool = True, **index_params) -> FolderBuild:
    """Construit (ou reprend) l'index des images d'un dossier, par morceaux, sur disque.

    Paramètres
    ----------
    folder : str ou Path
        Dossier d'images, parcouru récursivement (par exemple ``places365/data_256``).
    out_dir : str ou Path
        Dossier de travail : liste des fichiers, descripteurs, sources, état, index final. Relancer la
        même construction dans le même dossier reprend là où elle s'était arrêtée.
    preset, image_size, color_weight :
        Descripteur (voir :func:`~course_lib.scenes.gist.gist`).
    size : int
        Chaque image est redimensionnée et recadrée au centre en ``size x size`` avant le gist.
    chunk_size : int
        Images lues, décrites et écrites ensemble.
    kind, index_params :
        Moteur de recherche (``"exact"``, ou ``"ivfpq"`` pour des millions d'images) et ses paramètres
        (voir :class:`~course_lib.scenes.index.SceneIndex`).
    min_size : int
        Les images dont le plus petit côté est plus court sont sautées.
    device : optionnel
        Appareil du gist (par défaut :func:`course_lib.device`).
    workers : int, optionnel
        Fils de décodage des images (par défaut ``min(8, nombre de cœurs)``).
    progress : bool
        Barre de progression (tqdm), avec les images par seconde.

    Retourne
    --------
    FolderBuild
        L'index et le bilan (scènes ajoutées, fichiers sautés par raison, images par seconde).
    """
    from tqdm.auto import tqdm

    from ..device import device as default_device
    from .index import SceneIndex

    if not isinstance(folder, (str, os.PathLike)) or not Path(folder).is_dir():
        raise ValueError(f"L'argument « folder » doit être un dossier d'images existant ; reçu : {describe(folder)}.")
    if not isinstance(out_dir, (str, os.PathLike)):
        raise TypeError(f"L'argument « out_dir » doit être un chemin de dossier ; reçu : {describe(out_dir)}.")
    for name, value in (("size", size), ("chunk_size", chunk_size), ("min_size", min_size)):
        check_number(value, name, integer=True, positive=True)
    workers = workers or min(8, os.cpu_count() or 1)
    check_number(workers, "workers", integer=True, positive=True)
    gist_preset = get_preset(preset, image_size)
    color_weight = float(check_number(color_weight, "color_weight", nonnegative=True))
    device = torch.device(device) if device is not None else default_device()
    root = Path(folder).resolve()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    SceneIndex(gist_preset, kind=kind, color_weight=color_weight, device="cpu", **index_params)  # vérifie

    settings = {"folder": str(root), "preset": asdict(gist_preset), "size": int(size), "min_size": int(min_size),
                "color_weight": color_weight, "kind": kind, "index_params": index_params}
    settings = json.loads(json.dumps(settings))            # tuples -> listes, comme après relecture
    state = read_state(out_dir)
    resumed = state is not None
    if state is None:
        if (out_dir / MANIFEST).exists() or (out_dir / DESCRIPTORS).exists():
            raise ValueError(f"Le dossier « {out_dir} » contient une construction sans état : supprimez-le "
                             "ou choisissez un autre dossier.")
        total = _write_manifest(root, out_dir)
        if total == 0:
            (out_dir / MANIFEST).unlink()
            raise ValueError(f"Le dossier « {folder} » ne contient aucune image.")
        state = {"format": STATE_FORMAT, "settings": settings, "total": total, "position": 0,
                 "manifest_offset": 0, "added": 0, "skipped": dict.fromkeys(SKIP_REASONS, 0),
                 "bytes": {"descriptors": 0, "sources": 0, "skipped": 0}, "seconds": 0.0, "finished": False}
        _write_state(out_dir, state)
    elif state["settings"] != settings:
        changed = sorted(k for k in settings if settings[k] != state["settings"].get(k))
        raise ValueError(f"Le dossier « {out_dir} » contient une autre construction (réglages différents : "
                         f"{', '.join(changed)}) : supprimez-le ou choisissez un autre dossier.")

    if not state["finished"]:
        files = {"descriptors": out_dir / DESCRIPTORS, "sources": out_dir / SOURCES, "skipped": out_dir / SKIPPED}
        for key, path in files.items():                    # ajouts d'un morceau inachevé
            _truncate(path, state["bytes"][key])
        bar = tqdm(total=state["total"], initial=state["position"], unit="image", desc="index du dossier",
                   disable=not progress, smoothing=0.1)
        with (open(out_dir / MANIFEST, "rb") as manifest, ThreadPoolExecutor(workers) as pool,
              open(files["descriptors"], "ab") as descriptors, open(files["sources"], "ab") as sources,
              open(files["skipped"], "ab") as skipped):
            manifest.seek(state["manifest_offset"])

            def next_chunk():
                names = []
                for _ in range(chunk_size):
                    line = manifest.readline()
                    if not line:
                        break
                    names.append(line.decode("utf-8").rstrip("\n"))
                jobs = [pool.submit(_read, root / name, size, min_size) for name in names]
                return names, jobs, manifest.tell()

            chunk = next_chunk()
            try:
                while chunk[0]:
                    start = time.perf_counter()
                    names, jobs, offset = chunk
                    chunk = next_chunk()                   # décodé pendant le gist de celui-ci
                    kept, kept_names = [], []
                    for name, job in zip(names, jobs):
                        image, reason = job.result()
                        if reason is None:
                            kept.append(image)
                            kept_names.append(name)
                        else:
                            state["skipped"][reason] += 1
                            skipped.write(f"{name}\t{reason}\n".encode())
                    if kept:
                        batch = torch.stack(kept).to(device)
                        x = gist(batch, gist_preset, color_weight=color_weight).to("cpu", torch.float32)
                        descriptors.write(np.ascontiguousarray(x.numpy()).tobytes())
                        sources.write("".join(n + "\n" for n in kept_names).encode())
                    for handle in (descriptors, sources, skipped):
                        handle.flush()
                    state["position"] += len(names)
                    state["manifest_offset"] = offset
                    state["added"] += len(kept)
                    state["bytes"] = {key: handle.tell() for key, handle in
                                      (("descriptors", descriptors), ("sources", sources), ("skipped", skipped))}
                    state["seconds"] += time.perf_counter() - start
                    _write_state(out_dir, state)
                    bar.update(len(names))
                    bar.set_postfix(ajoutées=state["added"], sautées=sum(state["skipped"].values()))
            finally:
                for job in chunk[1]:
                    job.cancel()
                bar.close()

    if state["finished"] and (out_dir / INDEX).is_file():
        index = SceneIndex.load(out_dir / INDEX, device=device)
    else:
        index = _index_from_disk(out_dir, state, gist_preset, kind, color_weight, device, index_params)
        index.save(out_dir / INDEX)
        state["finished"] = True
        _write_state(out_dir, state)
    return FolderBuild(index, state["added"], dict(state["skipped"]), state["position"], state["total"],
                       state["seconds"], resumed, out_dir)


def _index_from_disk(out_dir: Path, state: dict, preset, kind, color_weight, device, index_params,
                     block: int = 65_536):
    """L'index FAISS des descripteurs écrits sur disque, ajoutés par blocs de ``block``."""
    from .index import SceneIndex

    index = SceneIndex(preset, kind=kind, color_weight=color_weight, device=device, **index_params)
    count = state["added"]
    if count == 0:
        raise ValueError(f"Aucune image utilisable dans « {state['settings']['folder']} » "
                         f"(fichiers sautés : {state['skipped']}).")
    descriptors = np.memmap(out_dir / DESCRIPTORS, dtype=np.float32, mode="r", shape=(count, preset.dim))
    if kind == "ivfpq":                  # entraînement sur un échantillon de toute la base, pas ses premières classes
        rows = np.sort(np.random.default_rng(0).choice(count, min(count, index.engine.train_size), replace=False))
        index.engine.fit(np.array(descriptors[rows]))
    entry = {"type": "folder", "root": state["settings"]["folder"]}
    with open(out_dir / SOURCES, encoding="utf-8") as sources:
        for first in range(0, count, block):
            take = min(block, count - first)
            paths = [sources.readline().rstrip("\n") for _ in range(take)]
            index.add_descriptors(np.array(descriptors[first:first + take]), entry, paths=paths)
    del descriptors
    return index
