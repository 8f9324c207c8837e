"""Enregistrement d'un :class:`~course_lib.scenes.index.SceneIndex` dans un seul fichier ``.npz``.

Le fichier contient :

- ``metadata`` : un JSON (format, préréglage du gist, poids de la couleur, moteur et
  ses paramètres, nombre de scènes, table des sources, descripteur moyen) ;
- ``index`` : l'index FAISS sérialisé (``faiss.serialize_index``) et
  ``index_sha256``, son empreinte : un fichier altéré est refusé ;
- ``images_<segment>`` et ``paths_<segment>`` : images gardées et chemins des
  dossiers (:meth:`~course_lib.scenes.sources.SourceTable.arrays`).

Le format ``/1`` (chemins des dossiers dans le JSON, moteur IVF-PQ d'avant le
raffinement) n'est plus relu : reconstruisez l'index.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from ..validation import describe

__all__ = ["FORMAT", "save_index", "load_index"]

FORMAT = "course_lib.scenes.SceneIndex/2"


def _check_path(path) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"L'argument « path » doit être un chemin de fichier ; reçu : {describe(path)}.")
    return Path(path)


def save_index(index, path) -> Path:
    """Écrit ``index`` dans ``path`` (``.npz``) ; le fichier est remplacé d'un coup (écriture puis renommage)."""
    path = _check_path(path)
    raw = index.engine.serialize()
    payload = {
        "metadata": np.array(json.dumps(index.metadata(), ensure_ascii=False)),
        "index": raw,
        "index_sha256": np.array(hashlib.sha256(raw.tobytes()).hexdigest()),
        **index.source_table.arrays(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partiel")
    with open(partial, "wb") as handle:
        np.savez(handle, **payload)
    os.replace(partial, path)
    return path


def load_index(cls, path, device=None):
    """Relit un index écrit par :func:`save_index` ; un fichier corrompu donne une erreur claire."""
    from .engines import ENGINES
    from .gist import GistPreset
    from .sources import SourceTable

    path = _check_path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Le fichier d'index « {path} » n'existe pas.")
    corrupt = f"Le fichier « {path} » n'est pas un index de scènes valide"
    try:
        with np.load(path, allow_pickle=False) as archive:
            contents = {key: archive[key] for key in archive.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as error:
        raise ValueError(f"{corrupt} (archive illisible : {error}).") from None
    missing = {"metadata", "index", "index_sha256"} - set(contents)
    if missing:
        raise ValueError(f"{corrupt} : il manque {', '.join(sorted(missing))}.")
    try:
        meta = json.loads(str(contents["metadata"]))
    except json.JSONDecodeError as error:
        raise ValueError(f"{corrupt} : métadonnées illisibles ({error}).") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{corrupt} : format « {meta.get('format') if isinstance(meta, dict) else '?'} », "
                         f"attendu « {FORMAT} » (reconstruisez l'index s'il vient d'une version plus ancienne).")
    raw = contents["index"]
    if raw.dtype != np.uint8 or hashlib.sha256(raw.tobytes()).hexdigest() != str(contents["index_sha256"]):
        raise ValueError(f"{corrupt} : l'empreinte SHA-256 de l'index FAISS ne correspond pas "
                         "(fichier corrompu).")
    try:
        preset = GistPreset(**{**meta["preset"], "orientations": tuple(meta["preset"]["orientations"])})
        index = cls(preset=preset, kind=meta["kind"], color_weight=meta["color_weight"], device=device,
                    **meta["params"])
        engine = ENGINES[meta["kind"]].deserialize(raw, preset.dim, preset.n_blocks, **meta["params"])
        index.engine = engine
        arrays = {k: v for k, v in contents.items() if k.startswith(("images_", "paths_"))}
        index.source_table = SourceTable.from_saved(meta["sources"], arrays)
        index._count = int(meta["count"])
        index._sum = np.asarray(meta["mean"], dtype=np.float64) * index._count
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise ValueError(f"{corrupt} : contenu incohérent ({error}).") from None
    if index.engine.ntotal != index._count or len(index.source_table) != index._count:
        raise ValueError(f"{corrupt} : {index.engine.ntotal} descripteurs et {len(index.source_table)} sources "
                         f"pour {index._count} scènes annoncées.")
    return index
