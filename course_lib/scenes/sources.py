"""D'où viennent les scènes d'un :class:`~course_lib.scenes.index.SceneIndex` : le registre des sources.

L'index ne garde que des descripteurs ; pour montrer les scènes trouvées, il faut
retrouver leurs images. Le registre découpe les indices ``0 .. N-1`` en segments
contigus, chacun d'un type :

- ``"synthetic"`` : paysages procéduraux (:func:`course_lib.data.synthetic_scenes`),
  rendus de nouveau à la demande à partir de leur graine et de leur numéro ;
- ``"folder"`` : fichiers d'un dossier, relus et recadrés à la demande (les
  chemins, relatifs au dossier, sont gardés dans un tableau d'octets UTF-8) ;
- ``"tensor"`` : images d'un tenseur, gardées en uint8 si on l'a demandé ;
- ``"none"`` : descripteurs seuls, sans image.

Deux ajouts successifs de la même source (le morceau suivant des mêmes paysages,
du même dossier ou du même tenseur) prolongent le même segment.
"""

from __future__ import annotations

import bisect
from pathlib import Path

import numpy as np
import torch

__all__ = ["SourceTable", "fit_to_size"]


def fit_to_size(images: torch.Tensor, size) -> torch.Tensor:
    """Redimensionne pour couvrir ``(H, W)`` puis recadre au centre (``imresizecrop`` non carré)."""
    from ..images import resize
    from ..validation import check_images, check_size

    batch, single = check_images(images, "images")
    height, width = check_size(size, "size")
    h, w = batch.shape[-2:]
    scale = max(height / h, width / w)
    target = (max(height, round(h * scale)), max(width, round(w * scale)))
    if target != (h, w):
        batch = resize(batch, target)
    top, left = (batch.shape[-2] - height) // 2, (batch.shape[-1] - width) // 2
    out = batch[..., top:top + height, left:left + width]
    return out[0] if single else out


def _encode_paths(paths) -> np.ndarray:
    return np.array([str(p).encode("utf-8") for p in paths], dtype=bytes) if len(paths) else np.zeros(0, "S1")


class SourceTable:
    """Registre des sources : segments ``{"type", "start", "count", ...}`` triés par ``start``.

    Attributs
    ---------
    segments : list de dict
        Les segments (JSON : ce qui est enregistré dans les métadonnées de l'index).
    stored : dict
        Images gardées d'un segment ``"tensor"`` : indice du segment -> tableau uint8 ``(n, H, W, 3)``.
    paths : dict
        Chemins d'un segment ``"folder"`` : indice du segment -> tableau d'octets ``(n,)``.
    """

    def __init__(self, segments: list[dict] | None = None, stored: dict | None = None, paths: dict | None = None):
        self.segments: list[dict] = list(segments or [])
        self.stored: dict[int, np.ndarray] = dict(stored or {})
        self.paths: dict[int, np.ndarray] = dict(paths or {})
        self._pending_paths: dict[int, list[np.ndarray]] = {}
        self._starts = [s["start"] for s in self.segments]

    def __len__(self) -> int:
        last = self.segments[-1] if self.segments else None
        return last["start"] + last["count"] if last else 0

    # ------------------------------------------------------------------ ajouts
    def extend(self, entry: dict, start: int, count: int, paths=None) -> int:
        """Ajoute ``count`` scènes décrites par ``entry`` à partir de l'indice ``start`` ; retourne le segment.

        ``paths`` : chemins des fichiers (segments ``"folder"``), relatifs à ``entry["root"]``.
        """
        last = self.segments[-1] if self.segments else None
        kind = entry.get("type")
        contiguous = last is not None and kind == last.get("type") and last["start"] + last["count"] == start and (
            (kind == "synthetic" and last["seed"] == entry["seed"] and last["size"] == entry["size"]
             and last["first"] + last["count"] == entry["first"])
            or (kind == "tensor" and entry.get("batch") is not None and last.get("batch") == entry["batch"])
            or (kind == "folder" and last["root"] == entry["root"]))
        if contiguous:
            last["count"] += count
            segment = len(self.segments) - 1
        else:
            self.segments.append({**entry, "start": start, "count": count})
            self._starts.append(start)
            segment = len(self.segments) - 1
        if kind == "folder":
            self._pending_paths.setdefault(segment, []).append(_encode_paths(paths if paths is not None else []))
        return segment

    def _folder_paths(self, segment: int) -> np.ndarray:
        pending = self._pending_paths.pop(segment, None)
        if pending:
            self.paths[segment] = np.concatenate([self.paths.get(segment, np.zeros(0, "S1")), *pending])
        return self.paths[segment]

    def path(self, index: int) -> Path:
        """Chemin du fichier de la scène ``index`` (segments ``"folder"``)."""
        segment, offset = self.locate(index)
        source = self.segments[segment]
        if source.get("type") != "folder":
            raise ValueError(f"La scène n° {index} ne vient pas d'un dossier.")
        return Path(source["root"]) / self._folder_paths(segment)[offset].decode("utf-8")

    def locate(self, index: int) -> tuple[int, int]:
        """``(segment, position dans le segment)`` de la scène ``index`` (recherche dichotomique)."""
        segment = bisect.bisect_right(self._starts, index) - 1
        if segment < 0 or not index < self.segments[segment]["start"] + self.segments[segment]["count"]:
            raise IndexError(f"L'indice {index} est hors de la base ({len(self)} scènes).")
        return segment, index - self.segments[segment]["start"]

    # ------------------------------------------------------------------ images
    def images(self, indices, size, device) -> torch.Tensor:
        """Les images des scènes ``indices``, ``(n,3,H,W)`` sur ``device``."""
        from ..images import load_image
        from ..scenery import render_scenes
        from ..validation import check_size

        height, width = check_size(size, "size")
        ids = [int(i) for i in torch.as_tensor(indices).reshape(-1).tolist()]
        out = torch.empty(len(ids), 3, height, width, device=device)
        groups: dict[int, list[tuple[int, int]]] = {}
        for position, index in enumerate(ids):
            if not 0 <= index < len(self):
                raise IndexError(f"L'indice {index} est hors de la base ({len(self)} scènes).")
            segment, offset = self.locate(index)
            groups.setdefault(segment, []).append((position, offset))
        for segment, items in groups.items():
            source = self.segments[segment]
            positions = [p for p, _ in items]
            kind = source.get("type")
            if kind == "synthetic":
                rendered, _ = render_scenes([source["first"] + o for _, o in items], (height, width),
                                            source["seed"], device)
                out[positions] = rendered
            elif kind == "tensor" and segment in self.stored:
                array = self.stored[segment][[o for _, o in items]]
                batch = torch.from_numpy(array).permute(0, 3, 1, 2).float().div(255).to(device)
                out[positions] = fit_to_size(batch, (height, width))
            elif kind == "folder":
                root, names = Path(source["root"]), self._folder_paths(segment)
                for position, offset in items:
                    image = load_image(root / names[offset].decode("utf-8"))
                    out[position] = fit_to_size(image, (height, width)).to(device)
            else:
                raise ValueError(f"Les images de la scène n° {source['start'] + items[0][1]} ne sont pas "
                                 "disponibles (descripteurs seuls, ou images non gardées).")
        return out

    def store(self, segment: int, array: np.ndarray) -> None:
        """Garde les images uint8 ``(n, H, W, 3)`` d'un segment ``"tensor"``."""
        self.stored[segment] = array
        self.segments[segment]["stored"] = True

    # ------------------------------------------------------------------ sous-ensembles et enregistrement
    def head(self, n: int) -> list[tuple[dict, int, int, np.ndarray | None, np.ndarray | None]]:
        """Les segments des ``n`` premières scènes : ``(entrée, début, nombre, chemins, images)``."""
        parts = []
        for segment, source in enumerate(self.segments):
            first, count = source["start"], source["count"]
            if first >= n:
                break
            take = min(count, n - first)
            entry = {k: v for k, v in source.items() if k not in ("start", "count", "stored")}
            paths = self._folder_paths(segment)[:take] if source.get("type") == "folder" else None
            stored = self.stored[segment][:take] if segment in self.stored else None
            parts.append((entry, first, take, paths, stored))
        return parts

    def arrays(self) -> dict[str, np.ndarray]:
        """Tableaux à enregistrer avec l'index : ``images_<segment>`` et ``paths_<segment>``."""
        out = {f"images_{segment}": array for segment, array in self.stored.items()}
        for segment, source in enumerate(self.segments):
            if source.get("type") == "folder":
                out[f"paths_{segment}"] = self._folder_paths(segment)
        return out

    @classmethod
    def from_saved(cls, segments: list[dict], arrays: dict[str, np.ndarray]) -> SourceTable:
        """Relit un registre enregistré (métadonnées JSON et tableaux de :meth:`arrays`)."""
        if not isinstance(segments, list) or not all(isinstance(s, dict) for s in segments):
            raise TypeError("la table des sources n'est pas une liste de segments")
        stored, paths = {}, {}
        for key, array in arrays.items():
            kind, _, number = key.partition("_")
            if kind == "images":
                stored[int(number)] = array
            elif kind == "paths":
                paths[int(number)] = array
        start = 0
        for segment, source in enumerate(segments):
            if source.get("start") != start or not isinstance(source.get("count"), int) or source["count"] < 0:
                raise ValueError("segments de la table des sources non contigus")
            if source.get("type") == "folder" and len(paths.get(segment, ())) != source["count"]:
                raise ValueError(f"le segment {segment} (dossier) n'a pas ses {source['count']} chemins")
            start += source["count"]
        return cls(segments, stored, paths)
