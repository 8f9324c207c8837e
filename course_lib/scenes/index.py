"""Base de scènes indexée par leur gist, avec FAISS : les « 200 scènes les plus proches » de Hays et Efros.

:class:`SceneIndex` calcule le descripteur de chaque scène (sur le GPU s'il y en
a un), par morceaux : la mémoire ne grandit pas avec le nombre d'*images* (seuls
les descripteurs restent), qu'elles viennent d'un tenseur, d'un dossier ou du
générateur de paysages :func:`course_lib.data.synthetic_scenes`. Trois parties,
chacune dans son module :

- la recherche (:mod:`course_lib.scenes.engines`) : ``kind="exact"`` (par défaut),
  recherche exhaustive exacte, ou ``kind="ivfpq"``, listes inversées et
  quantification produit raffinées par les vecteurs gardés en float16, pour des
  millions de scènes ; les deux calculent la distance *masquée*
  (:mod:`course_lib.scenes.distance`) ;
- le registre des sources (:mod:`course_lib.scenes.sources`) : d'où vient chaque
  scène, pour rendre ses images ;
- l'enregistrement (:mod:`course_lib.scenes.storage`) : un fichier ``.npz``.

Pour un dossier de millions d'images, :func:`course_lib.scenes.streaming.build_from_folder`
construit l'index par morceaux, sur disque, avec reprise après interruption.

Références
----------
J. Hays, A. A. Efros, « Scene Completion Using Millions of Photographs », SIGGRAPH 2007, §3.
H. Jégou, M. Douze, C. Schmid, « Product quantization for nearest neighbor search », TPAMI 2011.
J. Johnson, M. Douze, H. Jégou, « Billion-scale similarity search with GPUs », 2017 (FAISS).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from .. import data as course_data
from ..images import load_image
from ..validation import check_images, check_number, check_size, check_tensor, describe
from .distance import as_mask, block_valid_fraction
from .engines import make_engine
from .gist import COLOR_SCALE, GistPreset, get_preset, gist
from .sources import SourceTable, fit_to_size
from .storage import FORMAT, load_index, save_index

__all__ = ["SceneIndex", "SearchResult", "fit_to_size", "fill_hole", "FORMAT"]


@dataclass
class SearchResult:
    """Résultat d'une recherche : indices des scènes (du plus proche au plus lointain) et distances."""

    indices: torch.Tensor
    distances: torch.Tensor

    def __len__(self) -> int:
        return int(self.indices.shape[-1])


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
        ``"exact"`` (``faiss.IndexFlatIP``) ou ``"ivfpq"`` (IVF-PQ raffiné, voir
        :class:`~course_lib.scenes.engines.IVFPQEngine`).
    nlist, m, nbits, nprobe, k_factor, refine, train_size :
        Paramètres d'IVF-PQ : listes inversées, sous-quantificateurs (un diviseur de la taille du
        descripteur augmentée de ses ``n²`` sommes de carrés ; par défaut, 4 valeurs par sous-vecteur),
        bits par code, listes visitées, candidats reclassés par scène demandée, stockage du
        raffinement (``"fp16"``, ``"flat"`` ou ``"none"``), descripteurs pour l'entraînement (par
        défaut ``max(40 nlist, 10 000)``).
    color_weight : float
        Poids de la vignette de couleur du gist (préréglages avec vignette) : voir :func:`~course_lib.scenes.gist`.
        Le même poids sert pour la base et pour les requêtes.
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
                 nlist: int = 256, m: int | None = None, nbits: int = 8, nprobe: int = 16, k_factor: int = 16,
                 refine: str = "fp16", train_size: int | None = None, color_weight: float = COLOR_SCALE,
                 device=None):
        from ..device import device as default_device

        self.preset: GistPreset = get_preset(preset, image_size)
        self.color_weight = float(check_number(color_weight, "color_weight", nonnegative=True))
        self.engine = make_engine(kind, self.preset.dim, self.preset.n_blocks, nlist=nlist, m=m, nbits=nbits,
                                  nprobe=nprobe, k_factor=k_factor, refine=refine, train_size=train_size)
        self.device = torch.device(device) if device is not None else default_device()
        self.source_table = SourceTable()
        self._sum = np.zeros(self.preset.dim, dtype=np.float64)
        self._count = 0

    # ------------------------------------------------------------------ propriétés
    @property
    def kind(self) -> str:
        """``"exact"`` ou ``"ivfpq"``."""
        return self.engine.kind

    @property
    def dim(self) -> int:
        """Taille du descripteur."""
        return self.preset.dim

    @property
    def n_blocks(self) -> int:
        return self.preset.n_blocks

    @property
    def nprobe(self) -> int:
        """Listes visitées par une recherche IVF-PQ (plus : meilleur rappel, recherche plus lente)."""
        return getattr(self.engine, "nprobe", 0)

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        if self.kind != "ivfpq":
            raise ValueError("« nprobe » ne concerne que kind=\"ivfpq\".")
        self.engine.nprobe = value

    @property
    def m(self) -> int | None:
        """Sous-quantificateurs d'IVF-PQ (octets par code avec ``nbits = 8``) ; ``None`` pour l'index exact."""
        return getattr(self.engine, "m", None)

    @property
    def nlist(self) -> int | None:
        """Listes inversées d'IVF-PQ ; ``None`` pour l'index exact."""
        return getattr(self.engine, "nlist", None)

    @property
    def bytes_per_scene(self) -> float:
        """Mémoire de l'index par scène, en octets (multipliez par un million : octets par million de scènes)."""
        return self.engine.bytes_per_scene()

    @property
    def sources(self) -> list[dict]:
        """Segments de la table des sources (voir :class:`~course_lib.scenes.sources.SourceTable`)."""
        return self.source_table.segments

    def __len__(self) -> int:
        return self._count

    @property
    def mean(self) -> np.ndarray:
        """Descripteur moyen de la base."""
        return self._sum / max(1, self._count)

    def __repr__(self) -> str:
        return (f"SceneIndex({self._count} scènes, préréglage « {self.preset.name} » "
                f"({self.dim} valeurs), recherche « {self.kind} »)")

    def _ensure_ready(self) -> None:
        if self._count == 0:
            raise ValueError("L'index est vide : ajoutez d'abord des scènes (add_images, add_synthetic, "
                             "add_folder ou add_descriptors).")
        self.engine.ready()

    # ------------------------------------------------------------------ ajouts
    def add_descriptors(self, descriptors, source: dict | None = None, paths=None) -> SceneIndex:
        """Ajoute des descripteurs déjà calculés ``(N, D)`` (tenseur ou tableau). Retourne l'index.

        ``source`` décrit d'où viennent les images (voir :meth:`images`) ; par défaut, aucune image.
        ``paths`` : les chemins des fichiers, relatifs à ``source["root"]`` (sources ``"folder"``).
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
        entry = dict(source or {"type": "none"})
        if entry.get("type") == "folder" and (paths is None or len(paths) != len(x)):
            raise ValueError(f"Une source « folder » demande un chemin par descripteur ({len(x)}) dans « paths ».")
        self.engine.add(x)
        self.source_table.extend(entry, self._count, len(x), paths=paths)
        self._count += len(x)
        self._sum += x.sum(axis=0, dtype=np.float64)
        return self

    def describe_images(self, batch: torch.Tensor) -> torch.Tensor:
        """Descripteurs ``(B, D)`` d'images ``(B,3,H,W)`` dans [0, 1] (préréglage et poids de l'index)."""
        return gist(batch.to(self.device, torch.float32), self.preset, color_weight=self.color_weight)

    def add_images(self, images: torch.Tensor, chunk_size: int = 64, keep_images: bool = True,
                   name: str = "tenseur", progress: bool = True) -> SceneIndex:
        """Ajoute un lot d'images ``(N,3,H,W)`` dans [0, 1], par morceaux de ``chunk_size``.

        Avec ``keep_images``, les images sont gardées (en uint8, sur le CPU) et enregistrées par
        :meth:`save`, pour que :meth:`images` puisse les rendre.
        """
        batch, _ = check_images(images, "images", channels=3, value_range=(0.0, 1.0), min_size=8)
        check_number(chunk_size, "chunk_size", integer=True, positive=True)
        first_segment = len(self.source_table.segments)
        entry = {"type": "tensor", "name": name, "batch": first_segment}     # un seul segment par appel
        for first in _tqdm(range(0, len(batch), chunk_size), total=-(-len(batch) // chunk_size),
                           desc="gist des images", disable=not progress):
            self.add_descriptors(self.describe_images(batch[first:first + chunk_size]), entry)
        if keep_images:
            from ..images import to_numpy

            self.source_table.store(first_segment, to_numpy(batch, dtype="uint8"))
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
            self.add_descriptors(self.describe_images(scenes), entry)
        return self

    def add_folder(self, folder, size: int = 128, chunk_size: int = 64, limit: int | None = None,
                   progress: bool = True) -> SceneIndex:
        """Ajoute les images d'un dossier (recadrées en ``size x size``), lues par morceaux.

        Pour des millions de fichiers, préférez :func:`course_lib.scenes.streaming.build_from_folder`
        (sur disque, reprise après interruption, fichiers illisibles sautés).
        """
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
            chunk = paths[first:first + chunk_size]
            batch = torch.stack([fit_to_size(load_image(p), (size, size)) for p in chunk])
            self.add_descriptors(self.describe_images(batch), {"type": "folder", "root": str(root)},
                                 paths=[str(p.resolve().relative_to(root)) for p in chunk])
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

    def empty_like(self) -> SceneIndex:
        """Un index vide avec les mêmes réglages (préréglage, poids de la couleur, moteur, appareil)."""
        return SceneIndex(self.preset, kind=self.kind, color_weight=self.color_weight, device=self.device,
                          **self.engine.params())

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
        sub = self.empty_like()
        for entry, first, take, paths, stored in self.source_table.head(n):
            sub.add_descriptors(self.engine.reconstruct(first, take), entry, paths=paths)
            if stored is not None:
                sub.source_table.store(len(sub.source_table.segments) - 1, stored)
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
            return self.describe_images(batch), weights
        m = as_mask(mask, size=batch.shape[-2:], device=self.device)
        if m.shape[0] not in (1, len(batch)):
            raise ValueError(f"Le masque a {m.shape[0]} éléments pour {len(batch)} images.")
        m = m.expand(len(batch), -1, -1, -1)
        if bool(m.all(dim=(1, 2, 3)).any()):
            raise ValueError("Le masque couvre toute l'image : il ne reste aucun pixel connu pour chercher "
                             "des scènes semblables.")
        weights = block_valid_fraction(m, self.n_blocks, self.preset.image_size)
        return self.describe_images(fill_hole(batch, m)), weights

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
        ids, distances = self.engine.search(np.ascontiguousarray(q.numpy()), np.ascontiguousarray(w.numpy()),
                                            min(int(k), self._count))
        return SearchResult(torch.from_numpy(ids).long(), torch.from_numpy(distances))

    # ------------------------------------------------------------------ images de la base
    def images(self, indices, size=128) -> torch.Tensor:
        """Les images des scènes ``indices``, ``(n,3,H,W)`` sur l'appareil de l'index.

        Les paysages procéduraux sont rendus de nouveau à la taille demandée ; les images d'un dossier
        sont relues et recadrées ; les images d'un tenseur sont celles gardées par :meth:`add_images`.
        """
        return self.source_table.images(indices, size, self.device)

    # ------------------------------------------------------------------ enregistrement
    def metadata(self) -> dict:
        """Métadonnées enregistrées avec l'index (préréglage, moteur, sources, taille)."""
        return {
            "format": FORMAT,
            "preset": asdict(self.preset),
            "color_weight": self.color_weight,
            "kind": self.kind,
            "params": self.engine.params(),
            "count": self._count,
            "sources": self.source_table.segments,
            "mean": self.mean.tolist(),
        }

    def save(self, path) -> Path:
        """Enregistre l'index (FAISS), ses métadonnées, les chemins et les images gardées dans un ``.npz``."""
        self._ensure_ready()
        return save_index(self, path)

    @classmethod
    def load(cls, path, device=None) -> SceneIndex:
        """Relit un index enregistré par :meth:`save` ; un fichier corrompu donne une erreur claire."""
        return load_index(cls, path, device=device)
