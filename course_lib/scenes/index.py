"""Base de scènes indexée par leur gist, avec FAISS : les « 200 scènes les plus proches » de Hays et Efros.

:class:`SceneIndex` calcule le descripteur de chaque scène (sur le GPU s'il y en
a un), par morceaux : la mémoire ne grandit pas avec le nombre d'*images* (seuls
les descripteurs restent), qu'elles viennent d'un tenseur, d'un dossier ou du
générateur de paysages :func:`course_lib.data.synthetic_scenes`. La recherche
utilise FAISS :

- ``kind="exact"`` (par défaut) : recherche exhaustive exacte, y compris pour la
  distance *masquée* (:mod:`course_lib.scenes.distance`). Avec des poids ``w_b`` par
  bloc, ``Σ_k w_b (q_k - x_k)² = Σ_b w_b s_b(x) - 2 Σ_k w_b q_k x_k + cte`` où
  ``s_b(x) = Σ_{k ∈ b} x_k²`` : on range ``[x, s(x)]`` dans un index de produits
  scalaires (``faiss.IndexFlatIP``) et on cherche ``[2 w q, -w]`` ;
- ``kind="ivfpq"`` : quantification produit avec listes inversées
  (``faiss.IndexIVFPQ``), pour des millions d'images : quelques dizaines
  d'octets par scène ; une requête masquée cherche d'abord des candidats (cases
  masquées remplacées par la moyenne de la base), puis les reclasse avec la
  distance masquée sur les descripteurs décodés.

Références
----------
J. Hays, A. A. Efros, « Scene Completion Using Millions of Photographs », SIGGRAPH 2007, §3.
H. Jégou, M. Douze, C. Schmid, « Product quantization for nearest neighbor search », TPAMI 2011.
J. Johnson, M. Douze, H. Jégou, « Billion-scale similarity search with GPUs », 2017 (FAISS).
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from .. import data as course_data
from ..images import load_image, resize
from ..validation import check_choice, check_images, check_number, check_size, check_tensor, describe
from .distance import as_mask, block_valid_fraction, weighted_ssd
from .gist import GistPreset, get_preset, gist

__all__ = ["SceneIndex", "SearchResult", "fit_to_size", "fill_hole"]

FORMAT = "course_lib.scenes.SceneIndex/1"


@dataclass
class SearchResult:
    """Résultat d'une recherche : indices des scènes (du plus proche au plus lointain) et distances."""

    indices: torch.Tensor
    distances: torch.Tensor

    def __len__(self) -> int:
        return int(self.indices.shape[-1])


def fit_to_size(images: torch.Tensor, size) -> torch.Tensor:
    """Redimensionne pour couvrir ``(H, W)`` puis recadre au centre (``imresizecrop`` non carré)."""
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


def fill_hole(images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Remplit le trou de chaque image par la couleur moyenne de ses pixels connus (pour calculer son gist)."""
    valid = (~mask).to(images.dtype)
    mean = (images * valid).sum(dim=(2, 3), keepdim=True) / valid.sum(dim=(2, 3), keepdim=True).clamp_min(1)
    return torch.where(mask, mean.expand_as(images), images)


def _tqdm(iterable, total=None, desc=None, disable=False):
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, disable=disable, leave=False)


class SceneIndex:
    """Index de scènes par gist, interrogeable avec un trou.

    Paramètres
    ----------
    preset : str ou GistPreset
        Descripteur (``"hays_efros"`` par défaut : gist 6 x 5 + couleurs L*a*b*).
    image_size : int, optionnel
        Taille de travail du gist (remplace celle du préréglage).
    kind : str
        ``"exact"`` (``faiss.IndexFlatIP`` sur ``[x, s(x)]``) ou ``"ivfpq"`` (``faiss.IndexIVFPQ``).
    nlist, m, nbits, nprobe : int
        Paramètres d'IVF-PQ : nombre de listes, de sous-quantificateurs (un diviseur de la taille du
        descripteur ; par défaut le plus grand diviseur au plus 64), bits par code, listes visitées.
    train_size : int, optionnel
        Nombre de descripteurs pour entraîner IVF-PQ (par défaut ``max(40 nlist, 10 000)``).
    device : torch.device ou str, optionnel
        Appareil du calcul des descripteurs (par défaut :func:`course_lib.device`).

    Exemple
    -------
    >>> index = SceneIndex()                                   # doctest: +SKIP
    >>> index.add_synthetic(2000, size=128)                    # doctest: +SKIP
    >>> result = index.search(image, mask, k=200)              # doctest: +SKIP
    >>> matches = index.images(result.indices, size=image.shape[-2:])   # doctest: +SKIP
    """

    def __init__(self, preset="hays_efros", image_size: int | None = None, kind: str = "exact",
                 nlist: int = 256, m: int | None = None, nbits: int = 8, nprobe: int = 16,
                 train_size: int | None = None, device=None):
        from ..device import device as default_device

        self.preset: GistPreset = get_preset(preset, image_size)
        self.kind = check_choice(kind, "kind", ("exact", "ivfpq"))
        for name, value in (("nlist", nlist), ("nbits", nbits), ("nprobe", nprobe)):
            check_number(value, name, integer=True, positive=True)
        dim = self.preset.dim
        if m is None:
            m = max(d for d in range(1, 65) if dim % d == 0)
        check_number(m, "m", integer=True, positive=True)
        if dim % m:
            raise ValueError(f"L'argument « m » doit diviser la taille du descripteur ({dim}) ; reçu : {m}.")
        self.nlist, self.m, self.nbits, self._nprobe = int(nlist), int(m), int(nbits), int(nprobe)
        self.train_size = int(train_size) if train_size is not None else max(40 * self.nlist, 10_000)
        self.device = torch.device(device) if device is not None else default_device()
        self.sources: list[dict] = []
        self._stored: dict[int, np.ndarray] = {}   # images gardées (segment -> uint8 (n,H,W,3))
        self._faiss = None
        self._pending: list[np.ndarray] = []
        self._sum = np.zeros(dim, dtype=np.float64)
        self._count = 0

    # ------------------------------------------------------------------ propriétés
    @property
    def dim(self) -> int:
        """Taille du descripteur."""
        return self.preset.dim

    @property
    def nprobe(self) -> int:
        """Listes visitées par une recherche IVF-PQ (plus : meilleur rappel, recherche plus lente)."""
        return self._nprobe

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        check_number(value, "nprobe", integer=True, positive=True)
        self._nprobe = int(value)
        if self._faiss is not None and hasattr(self._faiss, "nprobe"):
            self._faiss.nprobe = self._nprobe

    @property
    def n_blocks(self) -> int:
        return self.preset.n_blocks

    def __len__(self) -> int:
        return self._count

    @property
    def mean(self) -> np.ndarray:
        """Descripteur moyen de la base."""
        return self._sum / max(1, self._count)

    def __repr__(self) -> str:
        return (f"SceneIndex({self._count} scènes, préréglage « {self.preset.name} » "
                f"({self.dim} valeurs), recherche « {self.kind} »)")

    # ------------------------------------------------------------------ FAISS
    def _new_faiss(self):
        import faiss

        if self.kind == "exact":
            return faiss.IndexFlatIP(self.dim + self.n_blocks**2)
        quantizer = faiss.IndexFlatL2(self.dim)
        index = faiss.IndexIVFPQ(quantizer, self.dim, self.nlist, self.m, self.nbits)
        index.nprobe = self._nprobe
        return index

    def _augment(self, x: np.ndarray) -> np.ndarray:
        """``[x, s(x)]`` avec ``s_b(x)`` la somme des carrés des cases du bloc ``b``."""
        n2 = self.n_blocks**2
        squares = (x.astype(np.float64) ** 2).reshape(len(x), -1, n2).sum(axis=1)
        return np.ascontiguousarray(np.concatenate([x, squares.astype(np.float32)], axis=1))

    def _train(self) -> None:
        sample = np.concatenate(self._pending)
        needed = 2 ** self.nbits
        if len(sample) < needed:
            raise ValueError(
                f"L'index IVF-PQ demande au moins {needed} descripteurs pour s'entraîner "
                f"(2^nbits, nbits = {self.nbits}) ; la base n'en a que {len(sample)}. "
                "Ajoutez des scènes, réduisez « nbits » ou utilisez kind=\"exact\"."
            )
        if self.nlist > len(sample) // 39 and len(sample) < self.train_size:
            # Peu de descripteurs : on réduit le nombre de listes plutôt que d'entraîner des listes vides.
            self.nlist = max(1, len(sample) // 39)
        index = self._new_faiss()
        index.train(sample)
        index.add(sample)
        self._faiss = index
        self._pending = []

    def _ensure_ready(self) -> None:
        if self._count == 0:
            raise ValueError("L'index est vide : ajoutez d'abord des scènes (add_images, add_synthetic, "
                             "add_folder ou add_descriptors).")
        if self.kind == "ivfpq" and self._faiss is None:
            self._train()

    # ------------------------------------------------------------------ ajouts
    def add_descriptors(self, descriptors, source: dict | None = None) -> SceneIndex:
        """Ajoute des descripteurs déjà calculés ``(N, D)`` (tenseur ou tableau). Retourne l'index.

        ``source`` décrit d'où viennent les images (voir :meth:`images`) ; par défaut, aucune image.
        """
        if isinstance(descriptors, torch.Tensor):
            check_tensor(descriptors, "descriptors", ndim=2, floating=True, finite=True)
            x = descriptors.detach().to("cpu", torch.float32).numpy()
        elif isinstance(descriptors, np.ndarray) and descriptors.ndim == 2:
            x = descriptors.astype(np.float32)
        else:
            raise TypeError(f"L'argument « descriptors » doit être un tenseur ou un tableau (N, D) ; "
                            f"reçu : {describe(descriptors)}.")
        if x.shape[1] != self.dim:
            raise ValueError(f"Les descripteurs doivent avoir {self.dim} valeurs (préréglage "
                             f"« {self.preset.name} ») ; reçu : {x.shape[1]}.")
        if not len(x):
            return self
        x = np.ascontiguousarray(x)
        if self.kind == "exact":
            if self._faiss is None:
                self._faiss = self._new_faiss()
            self._faiss.add(self._augment(x))
        elif self._faiss is None:
            self._pending.append(x)
            if sum(len(p) for p in self._pending) >= self.train_size:
                self._train()
        else:
            if self._faiss.direct_map.type != 0:
                self._faiss.set_direct_map_type(0)             # la table sera reconstruite à la demande
            self._faiss.add(x)
        start = self._count
        self._count += len(x)
        self._sum += x.sum(axis=0, dtype=np.float64)
        entry = dict(source or {"type": "none"})
        self._extend_sources(entry, start, len(x))
        return self

    def _extend_sources(self, entry: dict, start: int, count: int) -> None:
        last = self.sources[-1] if self.sources else None
        same_type = last is not None and entry.get("type") == last.get("type")
        contiguous = same_type and (
            (entry["type"] == "synthetic" and last["seed"] == entry["seed"] and last["size"] == entry["size"]
             and last["first"] + last["count"] == entry["first"])
            or (entry["type"] == "tensor" and entry.get("batch") is not None and last.get("batch") == entry["batch"]))
        if contiguous:
            last["count"] += count
        else:
            self.sources.append({**entry, "start": start, "count": count})

    def _describe_batch(self, batch: torch.Tensor) -> torch.Tensor:
        return gist(batch.to(self.device, torch.float32), self.preset)

    def add_images(self, images: torch.Tensor, chunk_size: int = 64, keep_images: bool = True,
                   name: str = "tenseur", progress: bool = True) -> SceneIndex:
        """Ajoute un lot d'images ``(N,3,H,W)`` dans [0, 1], par morceaux de ``chunk_size``.

        Avec ``keep_images``, les images sont gardées (en uint8, sur le CPU) et enregistrées par
        :meth:`save`, pour que :meth:`images` puisse les rendre.
        """
        batch, _ = check_images(images, "images", channels=3, value_range=(0.0, 1.0), min_size=8)
        check_number(chunk_size, "chunk_size", integer=True, positive=True)
        start = self._count
        entry = {"type": "tensor", "name": name, "batch": len(self.sources)}   # un seul segment par appel
        for first in _tqdm(range(0, len(batch), chunk_size), total=-(-len(batch) // chunk_size),
                           desc="gist des images", disable=not progress):
            chunk = batch[first:first + chunk_size]
            self.add_descriptors(self._describe_batch(chunk), entry)
        if keep_images:
            segment = next(i for i, s in enumerate(self.sources) if s["start"] == start)
            from ..images import to_numpy

            array = to_numpy(batch, dtype="uint8")
            self._stored[segment] = array
            self.sources[segment]["stored"] = True
        return self

    def add_synthetic(self, n: int, size=128, seed: int = 0, first: int = 0, chunk_size: int = 256,
                      progress: bool = True) -> SceneIndex:
        """Ajoute ``n`` paysages procéduraux (:func:`course_lib.data.synthetic_scenes`), rendus par morceaux.

        Les images ne sont pas gardées : la scène ``i`` se rend de nouveau à la demande.
        """
        check_number(n, "n", integer=True, positive=True)
        check_number(chunk_size, "chunk_size", integer=True, positive=True)
        height, width = check_size(size, "size")
        for offset in _tqdm(range(0, n, chunk_size), total=-(-n // chunk_size), desc="gist des scènes",
                            disable=not progress):
            count = min(chunk_size, n - offset)
            scenes = course_data.synthetic_scenes(count, size=(height, width), seed=seed, start=first + offset,
                                                  device=self.device)
            entry = {"type": "synthetic", "seed": int(seed), "size": [height, width], "first": first + offset}
            self.add_descriptors(self._describe_batch(scenes), entry)
        return self

    def add_folder(self, folder, size: int = 128, chunk_size: int = 64, limit: int | None = None,
                   progress: bool = True) -> SceneIndex:
        """Ajoute les images d'un dossier (recadrées en ``size x size``), lues par morceaux."""
        paths = course_data.list_images(folder)
        if limit is not None:
            check_number(limit, "limit", integer=True, positive=True)
            paths = paths[:limit]
        if not paths:
            raise ValueError(f"Le dossier « {folder} » ne contient aucune image.")
        check_number(chunk_size, "chunk_size", integer=True, positive=True)
        root = Path(folder).resolve()
        for first in _tqdm(range(0, len(paths), chunk_size), total=-(-len(paths) // chunk_size),
                           desc="gist du dossier", disable=not progress):
            batch = torch.stack([fit_to_size(load_image(p), (size, size)) for p in paths[first:first + chunk_size]])
            entry = {"type": "folder", "root": str(root),
                     "paths": [str(p.resolve().relative_to(root)) for p in paths[first:first + chunk_size]]}
            self.add_descriptors(self._describe_batch(batch), entry)
        return self

    @classmethod
    def build(cls, source, preset="hays_efros", chunk_size: int = 64, progress: bool = True,
              **kwargs) -> SceneIndex:
        """Construit un index à partir d'un tenseur ``(N,3,H,W)``, d'un dossier d'images ou d'un nombre
        de paysages procéduraux (``int``). Les autres arguments vont au constructeur et à ``add_*``.
        """
        add_keys = {"size", "seed", "keep_images", "limit", "name"}
        add_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in add_keys}
        index = cls(preset=preset, **kwargs)
        if isinstance(source, torch.Tensor):
            return index.add_images(source, chunk_size=chunk_size, progress=progress, **add_kwargs)
        if isinstance(source, (str, os.PathLike)):
            return index.add_folder(source, chunk_size=chunk_size, progress=progress, **add_kwargs)
        if isinstance(source, int) and not isinstance(source, bool):
            return index.add_synthetic(source, chunk_size=max(chunk_size, 1), progress=progress, **add_kwargs)
        raise TypeError(f"L'argument « source » doit être un tenseur d'images, un dossier ou un nombre de "
                        f"scènes procédurales ; reçu : {describe(source)}.")

    def head(self, n: int) -> SceneIndex:
        """Un nouvel index avec les ``n`` premières scènes (recherche exacte seulement).

        Utile pour mesurer l'effet de la taille de la base sans recalculer les descripteurs.
        """
        check_number(n, "n", integer=True, positive=True)
        if self.kind != "exact":
            raise ValueError("head() demande un index exact (kind=\"exact\") : les codes IVF-PQ ne se "
                             "découpent pas sans perte.")
        self._ensure_ready()
        n = min(int(n), self._count)
        sub = SceneIndex(self.preset, device=self.device)
        vectors = self._faiss.reconstruct_n(0, n)[:, :self.dim]
        for segment, source in enumerate(self.sources):
            first, count = source["start"], source["count"]
            if first >= n:
                break
            take = min(count, n - first)
            entry = {k: v for k, v in source.items() if k not in ("start", "count")}
            if entry.get("type") == "folder":
                entry["paths"] = entry["paths"][:take]
            sub.add_descriptors(vectors[first:first + take], entry)
            if segment in self._stored:
                sub._stored[len(sub.sources) - 1] = self._stored[segment][:take]
        return sub

    # ------------------------------------------------------------------ requêtes
    def describe(self, images: torch.Tensor, mask=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Descripteurs ``(B, D)`` et poids par bloc ``(B, n²)`` de requêtes avec un trou éventuel.

        Le trou est d'abord rempli par la couleur moyenne des pixels connus, pour que ses bords ne
        créent pas de faux contours ; ses blocs sont ensuite pondérés par leur part de pixels connus.
        """
        batch, _ = check_images(images, "image", channels=3, value_range=(0.0, 1.0), min_size=8)
        batch = batch.to(self.device, torch.float32)
        if mask is None:
            weights = torch.ones(len(batch), self.n_blocks**2, device=self.device)
            return gist(batch, self.preset), weights
        m = as_mask(mask, size=batch.shape[-2:], device=self.device)
        if m.shape[0] not in (1, len(batch)):
            raise ValueError(f"Le masque a {m.shape[0]} éléments pour {len(batch)} images.")
        m = m.expand(len(batch), -1, -1, -1)
        if bool(m.all(dim=(1, 2, 3)).any()):
            raise ValueError("Le masque couvre toute l'image : il ne reste aucun pixel connu pour chercher "
                             "des scènes semblables.")
        weights = block_valid_fraction(m, self.n_blocks, self.preset.image_size)
        return gist(fill_hole(batch, m), self.preset), weights

    def search(self, image: torch.Tensor, mask=None, k: int = 200) -> SearchResult:
        """Les ``k`` scènes les plus proches d'une image (ou d'un lot) dont le trou est ``mask``.

        Paramètres
        ----------
        image : torch.Tensor
            ``(3,H,W)`` ou ``(B,3,H,W)`` dans [0, 1].
        mask : torch.Tensor, optionnel
            ``True`` = pixel manquant, ``(H,W)``, ``(1,H,W)`` ou ``(B,1,H,W)``.
        k : int
            Nombre de scènes (200 dans l'article) ; ramené à la taille de la base si elle est plus petite.

        Retourne
        --------
        SearchResult
            ``indices`` et ``distances`` (distance de scène masquée), ``(k,)`` ou ``(B, k)``, sur le CPU.
        """
        check_number(k, "k", integer=True, positive=True)
        single = isinstance(image, torch.Tensor) and image.ndim == 3
        queries, weights = self.describe(image, mask)
        result = self.search_descriptors(queries, weights, k)
        if single:
            return SearchResult(result.indices[0], result.distances[0])
        return result

    def search_descriptors(self, queries, block_weights=None, k: int = 200) -> SearchResult:
        """Recherche à partir de descripteurs ``(Q, D)`` et de poids par bloc ``(Q, n²)`` (1 par défaut)."""
        self._ensure_ready()
        check_number(k, "k", integer=True, positive=True)
        q = torch.as_tensor(queries).detach().to("cpu", torch.float32)
        if q.ndim == 1:
            q = q[None]
        if q.ndim != 2 or q.shape[1] != self.dim:
            raise ValueError(f"Les requêtes doivent être de forme (Q, {self.dim}) ; reçu : {describe(queries)}.")
        n2 = self.n_blocks**2
        w = (torch.ones(len(q), n2) if block_weights is None
             else torch.as_tensor(block_weights).detach().to("cpu", torch.float32).reshape(len(q), n2))
        k = min(int(k), self._count)
        wk = w.repeat(1, self.dim // n2)                       # poids de chaque case
        if self.kind == "exact":
            y = torch.cat([2 * wk * q, -w], dim=1).numpy()
            scores, ids = self._faiss.search(np.ascontiguousarray(y), k)
            distances = ((wk * q * q).sum(dim=1, keepdim=True) - torch.from_numpy(scores)).clamp_min(0)
            return SearchResult(torch.from_numpy(ids).long(), distances)
        masked = bool((w < 1).any())
        if not masked:
            distances, ids = self._faiss.search(np.ascontiguousarray(q.numpy()), k)
            return SearchResult(torch.from_numpy(ids).long(), torch.from_numpy(distances))
        # Requête masquée : candidats avec les cases masquées remplacées par la moyenne, puis reclassement.
        mean = torch.from_numpy(self.mean).float()
        filled = wk * q + (1 - wk) * mean
        n_candidates = min(self._count, max(4 * k, k + 100))
        _, candidates = self._faiss.search(np.ascontiguousarray(filled.numpy()), n_candidates)
        if self._faiss.direct_map.type == 0:                   # pas encore de table indice -> code
            self._faiss.make_direct_map()
        all_ids, all_d = [], []
        for row in range(len(q)):
            cand = candidates[row][candidates[row] >= 0]
            decoded = torch.from_numpy(self._faiss.reconstruct_batch(cand.astype(np.int64)))
            d = weighted_ssd(q[row], decoded, wk[row])
            order = torch.argsort(d)[:k]
            all_ids.append(torch.from_numpy(cand)[order].long())
            all_d.append(d[order])
        return SearchResult(torch.stack(all_ids), torch.stack(all_d))

    # ------------------------------------------------------------------ images de la base
    def _locate(self, index: int) -> tuple[int, int]:
        for segment, source in enumerate(self.sources):
            if source["start"] <= index < source["start"] + source["count"]:
                return segment, index - source["start"]
        raise IndexError(f"L'indice {index} est hors de la base ({self._count} scènes).")

    def images(self, indices, size=128) -> torch.Tensor:
        """Les images des scènes ``indices``, ``(n,3,H,W)`` sur l'appareil de l'index.

        Les paysages procéduraux sont rendus de nouveau à la taille demandée ; les images d'un dossier
        sont relues et recadrées ; les images d'un tenseur sont celles gardées par :meth:`add_images`.
        """
        from ..scenery import render_scenes

        height, width = check_size(size, "size")
        ids = [int(i) for i in torch.as_tensor(indices).reshape(-1).tolist()]
        out = torch.empty(len(ids), 3, height, width, device=self.device)
        groups: dict[int, list[tuple[int, int]]] = {}
        for position, index in enumerate(ids):
            if not 0 <= index < self._count:
                raise IndexError(f"L'indice {index} est hors de la base ({self._count} scènes).")
            segment, offset = self._locate(index)
            groups.setdefault(segment, []).append((position, offset))
        for segment, items in groups.items():
            source = self.sources[segment]
            positions = [p for p, _ in items]
            kind = source.get("type")
            if kind == "synthetic":
                rendered, _ = render_scenes([source["first"] + o for _, o in items], (height, width),
                                            source["seed"], self.device)
                out[positions] = rendered
            elif kind == "tensor" and segment in self._stored:
                array = self._stored[segment][[o for _, o in items]]
                batch = torch.from_numpy(array).permute(0, 3, 1, 2).float().div(255).to(self.device)
                out[positions] = fit_to_size(batch, (height, width))
            elif kind == "folder":
                root = Path(source["root"])
                for position, offset in items:
                    image = load_image(root / source["paths"][offset])
                    out[position] = fit_to_size(image, (height, width)).to(self.device)
            else:
                raise ValueError(f"Les images de la scène n° {source['start'] + items[0][1]} ne sont pas "
                                 "disponibles (descripteurs seuls, ou images non gardées).")
        return out

    # ------------------------------------------------------------------ enregistrement
    def metadata(self) -> dict:
        """Métadonnées enregistrées avec l'index (préréglage, type de recherche, sources, taille)."""
        return {
            "format": FORMAT,
            "preset": asdict(self.preset),
            "kind": self.kind,
            "params": {"nlist": self.nlist, "m": self.m, "nbits": self.nbits, "nprobe": self.nprobe,
                       "train_size": self.train_size},
            "count": self._count,
            "sources": self.sources,
            "mean": self.mean.tolist(),
        }

    def save(self, path) -> Path:
        """Enregistre l'index (FAISS), ses métadonnées et les images gardées dans un seul fichier ``.npz``."""
        import faiss

        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"L'argument « path » doit être un chemin de fichier ; reçu : {describe(path)}.")
        self._ensure_ready()
        raw = faiss.serialize_index(self._faiss)
        payload = {
            "metadata": np.array(json.dumps(self.metadata(), ensure_ascii=False)),
            "index": raw,
            "index_sha256": np.array(hashlib.sha256(raw.tobytes()).hexdigest()),
        }
        for segment, array in self._stored.items():
            payload[f"images_{segment}"] = array
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as handle:
            np.savez(handle, **payload)
        return path

    @classmethod
    def load(cls, path, device=None) -> SceneIndex:
        """Relit un index enregistré par :meth:`save` ; un fichier corrompu donne une erreur claire."""
        import faiss

        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"L'argument « path » doit être un chemin de fichier ; reçu : {describe(path)}.")
        path = Path(path)
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
                             f"attendu « {FORMAT} ».")
        raw = contents["index"]
        if raw.dtype != np.uint8 or hashlib.sha256(raw.tobytes()).hexdigest() != str(contents["index_sha256"]):
            raise ValueError(f"{corrupt} : l'empreinte SHA-256 de l'index FAISS ne correspond pas "
                             "(fichier corrompu).")
        try:
            preset = GistPreset(**{**meta["preset"], "orientations": tuple(meta["preset"]["orientations"])})
            params = meta["params"]
            index = cls(preset=preset, kind=meta["kind"], nlist=params["nlist"], m=params["m"],
                        nbits=params["nbits"], nprobe=params["nprobe"], train_size=params["train_size"],
                        device=device)
            index._faiss = faiss.deserialize_index(raw)
            index._count = int(meta["count"])
            index._sum = np.asarray(meta["mean"], dtype=np.float64) * index._count
            index.sources = meta["sources"]
        except (KeyError, TypeError, RuntimeError) as error:
            raise ValueError(f"{corrupt} : contenu incohérent ({error}).") from None
        if index._faiss.ntotal != index._count:
            raise ValueError(f"{corrupt} : {index._faiss.ntotal} descripteurs pour {index._count} scènes annoncées.")
        index.nprobe = index.nprobe                             # transmis à FAISS
        for key, array in contents.items():
            if key.startswith("images_"):
                index._stored[int(key.split("_", 1)[1])] = array
        return index
