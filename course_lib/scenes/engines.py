"""Moteurs de recherche FAISS de :class:`~course_lib.scenes.index.SceneIndex` : exact et IVF-PQ raffiné.

La distance de scène masquée (:mod:`course_lib.scenes.distance`) pondère chaque
case ``k`` du descripteur par le poids ``w_b`` de son bloc ``b``. Elle se ramène
à un produit scalaire : avec ``s_b(x) = Σ_{k ∈ b} x_k²``,

.. math::

    \\sum_k w_{b(k)} (q_k - x_k)^2 = \\underbrace{\\sum_k w_{b(k)} q_k^2}_{\\text{constante}}
        - \\big\\langle [2 w \\odot q,\\, -w],\\ [x,\\, s(x)] \\big\\rangle .

Les deux moteurs rangent donc les vecteurs *augmentés* ``[x, s(x)]`` et cherchent
les plus grands produits scalaires avec ``[2 w q, -w]`` : une requête masquée
coûte autant qu'une requête ordinaire (``w = 1``).

- :class:`ExactEngine` : ``faiss.IndexFlatIP``, recherche exhaustive exacte ;
- :class:`IVFPQEngine` : listes inversées (k-moyennes sur les descripteurs) et
  quantification produit pour trouver ``k_factor x k`` candidats, puis
  raffinement exact (``faiss.IndexRefine``) sur les vecteurs gardés en float16
  (``refine="fp16"``) ou en float32 (``refine="flat"``). Les centres des listes
  sont eux aussi augmentés : le choix des listes visitées suit la distance
  masquée de la requête.

Références
----------
H. Jégou, M. Douze, C. Schmid, « Product quantization for nearest neighbor search », TPAMI 2011.
J. Johnson, M. Douze, H. Jégou, « Billion-scale similarity search with GPUs », 2017 (FAISS).
"""

from __future__ import annotations

import numpy as np

from ..validation import check_choice, check_number

__all__ = ["augment", "augment_queries", "ExactEngine", "IVFPQEngine", "ENGINES", "make_engine", "REFINES"]

#: Stockage des vecteurs pour le raffinement d'IVF-PQ : octets par valeur (``"none"`` : pas de raffinement).
REFINES = {"fp16": 2, "flat": 4, "none": 0}


def augment(x: np.ndarray, n_blocks: int) -> np.ndarray:
    """``[x, s(x)]`` en float32, ``s_b(x)`` la somme des carrés des cases du bloc ``b`` (calculée en float64)."""
    n2 = n_blocks**2
    squares = (x.astype(np.float64) ** 2).reshape(len(x), -1, n2).sum(axis=1)
    return np.ascontiguousarray(np.concatenate([x, squares.astype(np.float32)], axis=1), dtype=np.float32)


def augment_queries(q: np.ndarray, block_weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Requêtes ``[2 w q, -w]`` et constantes ``Σ_k w_k q_k²`` (distance = constante - produit scalaire)."""
    n2 = block_weights.shape[1]
    wk = np.tile(block_weights, q.shape[1] // n2)                    # poids de chaque case
    queries = np.concatenate([2 * wk * q, -block_weights], axis=1)
    offsets = (wk.astype(np.float64) * q.astype(np.float64) ** 2).sum(axis=1)
    return np.ascontiguousarray(queries, dtype=np.float32), offsets


def _distances(offsets: np.ndarray, scores: np.ndarray, ids: np.ndarray) -> np.ndarray:
    distances = np.maximum(offsets[:, None] - scores.astype(np.float64), 0.0).astype(np.float32)
    distances[ids < 0] = np.inf
    return distances


class ExactEngine:
    """Recherche exhaustive exacte (``faiss.IndexFlatIP`` sur les vecteurs augmentés)."""

    kind = "exact"

    def __init__(self, dim: int, n_blocks: int):
        import faiss

        self.dim, self.n_blocks = int(dim), int(n_blocks)
        self.index = faiss.IndexFlatIP(self.dim + self.n_blocks**2)

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    def params(self) -> dict:
        return {}

    def bytes_per_scene(self) -> float:
        """Mémoire de l'index par scène (octets)."""
        return 4.0 * (self.dim + self.n_blocks**2)

    def add(self, x: np.ndarray) -> None:
        self.index.add(augment(x, self.n_blocks))

    def ready(self) -> None:
        """Rien à préparer : l'index exact n'a pas d'entraînement."""

    def search(self, q: np.ndarray, block_weights: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Les ``k`` plus proches voisins (distance masquée) : ``(indices, distances)``, ``(Q, k)``."""
        queries, offsets = augment_queries(q, block_weights)
        scores, ids = self.index.search(queries, k)
        return ids, _distances(offsets, scores, ids)

    def reconstruct(self, first: int, count: int) -> np.ndarray:
        """Les descripteurs ``first .. first + count - 1`` (sans la partie augmentée)."""
        return self.index.reconstruct_n(first, count)[:, :self.dim]

    def serialize(self) -> np.ndarray:
        import faiss

        return faiss.serialize_index(self.index)

    @classmethod
    def deserialize(cls, raw: np.ndarray, dim: int, n_blocks: int, **_) -> ExactEngine:
        import faiss

        engine = cls(dim, n_blocks)
        index = faiss.deserialize_index(raw)
        if index.d != engine.index.d:
            raise ValueError(f"index FAISS de dimension {index.d}, attendue {engine.index.d}")
        engine.index = index
        return engine


class IVFPQEngine:
    """IVF-PQ sur les vecteurs augmentés, raffiné par les vecteurs gardés (``faiss.IndexRefine``).

    Paramètres
    ----------
    dim, n_blocks : int
        Taille du descripteur et côté de la grille de blocs.
    nlist : int
        Nombre de listes inversées (k-moyennes des descripteurs, distance euclidienne).
    m, nbits : int
        Sous-quantificateurs (``m`` divise ``dim + n_blocks²`` ; par défaut le plus grand diviseur qui
        laisse au moins 4 valeurs par sous-vecteur : 136 pour « hays_efros ») et bits par code.
    nprobe : int
        Listes visitées par requête (les plus proches de la requête pour la distance masquée).
    k_factor : int
        Candidats reclassés exactement : ``k_factor x k``.
    refine : str
        ``"fp16"`` (2 octets par valeur), ``"flat"`` (float32) ou ``"none"`` (distances approchées du
        code PQ seulement).
    train_size : int
        Descripteurs gardés en attente pour l'entraînement (k-moyennes et quantificateurs).
    """

    kind = "ivfpq"

    def __init__(self, dim: int, n_blocks: int, nlist: int = 256, m: int | None = None, nbits: int = 8,
                 nprobe: int = 16, k_factor: int = 16, refine: str = "fp16", train_size: int | None = None):
        for name, value in (("nlist", nlist), ("nbits", nbits), ("nprobe", nprobe), ("k_factor", k_factor)):
            check_number(value, name, integer=True, positive=True)
        self.refine_kind = check_choice(refine, "refine", REFINES)
        self.dim, self.n_blocks = int(dim), int(n_blocks)
        augmented = self.dim + self.n_blocks**2
        if m is None:                                      # sous-vecteurs d'au moins 4 valeurs
            m = max(d for d in range(1, augmented // 4 + 1) if augmented % d == 0) if augmented >= 4 else 1
        check_number(m, "m", integer=True, positive=True)
        if augmented % m:
            raise ValueError(f"L'argument « m » doit diviser la taille du vecteur augmenté ({self.dim} valeurs "
                             f"+ {self.n_blocks**2} sommes de carrés = {augmented}) ; reçu : {m}.")
        self.nlist, self.m, self.nbits = int(nlist), int(m), int(nbits)
        self._nprobe, self.k_factor = int(nprobe), int(k_factor)
        self.train_size = int(train_size) if train_size is not None else max(40 * self.nlist, 10_000)
        self._pending: list[np.ndarray] = []
        self.ivf = self.refine = self._search_index = self._assign = None
        self._sizes, self._sizes_at = None, -1                              # tailles des listes (cache)

    # ------------------------------------------------------------------ état
    @property
    def trained(self) -> bool:
        return self.ivf is not None

    @property
    def ntotal(self) -> int:
        return int(self.ivf.ntotal) if self.trained else sum(len(p) for p in self._pending)

    @property
    def nprobe(self) -> int:
        return self._nprobe

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        check_number(value, "nprobe", integer=True, positive=True)
        self._nprobe = int(value)

    def params(self) -> dict:
        return {"nlist": self.nlist, "m": self.m, "nbits": self.nbits, "nprobe": self._nprobe,
                "k_factor": self.k_factor, "refine": self.refine_kind, "train_size": self.train_size}

    def bytes_per_scene(self) -> float:
        """Mémoire par scène (octets) : code PQ, identifiant (8 octets) et vecteur de raffinement."""
        return self.m * self.nbits / 8 + 8 + REFINES[self.refine_kind] * (self.dim + self.n_blocks**2)

    # ------------------------------------------------------------------ construction
    def add(self, x: np.ndarray) -> None:
        if self.trained:
            self._add_trained(x)
            return
        self._pending.append(x)
        if self.ntotal >= self.train_size:
            self.train()

    def ready(self) -> None:
        if not self.trained:
            self.train()

    def train(self) -> None:
        """Entraînement sur les descripteurs en attente (:meth:`fit`), puis leur ajout."""
        self.fit(np.concatenate(self._pending) if self._pending else np.zeros((0, self.dim), np.float32))
        pending, self._pending = self._pending, []
        for x in pending:
            self._add_trained(x)

    def fit(self, sample: np.ndarray) -> None:
        """k-moyennes (listes) et quantificateurs PQ appris sur ``sample`` ``(n, dim)``, qui n'est pas ajouté.

        Un échantillon tiré au hasard dans toute la base vaut mieux que ses premiers descripteurs (les
        premières classes d'un dossier trié, par exemple).
        """
        import faiss

        if self.trained:
            raise ValueError("L'index IVF-PQ est déjà entraîné.")
        sample = np.ascontiguousarray(sample, dtype=np.float32)
        needed = 2**self.nbits
        if len(sample) < needed:
            raise ValueError(
                f"L'index IVF-PQ demande au moins {needed} descripteurs pour s'entraîner "
                f"(2^nbits, nbits = {self.nbits}) ; la base n'en a que {len(sample)}. "
                "Ajoutez des scènes, réduisez « nbits » ou utilisez kind=\"exact\"."
            )
        if self.nlist > len(sample) // 39:
            # Peu de descripteurs : moins de listes plutôt que des listes vides.
            self.nlist = max(1, len(sample) // 39)
        kmeans = faiss.Kmeans(self.dim, self.nlist, niter=10, seed=1234, max_points_per_centroid=128)
        kmeans.train(sample)
        self._build(kmeans.centroids)
        # Quantificateurs PQ entraînés sur les résidus x - c de la liste de chaque descripteur (celle de
        # l'ajout, au sens euclidien), dans l'espace augmenté.
        _, lists = self._assign.search(sample, 1)
        residuals = augment(sample, self.n_blocks) - augment(kmeans.centroids, self.n_blocks)[lists.ravel()]
        self.ivf.pq.cp.niter, self.ivf.pq.cp.max_points_per_centroid = 10, 64   # m petits k-moyennes
        self.ivf.pq.cp.seed = 1234
        self.ivf.pq.train(np.ascontiguousarray(residuals))
        self.ivf.is_trained = True

    def _build(self, centroids: np.ndarray) -> None:
        """Structures FAISS vides à partir des centres des listes ``(nlist, dim)``."""
        import faiss

        augmented = self.dim + self.n_blocks**2
        self._assign = faiss.IndexFlatL2(self.dim)                          # affectation des descripteurs
        self._assign.add(np.ascontiguousarray(centroids, dtype=np.float32))
        quantizer = faiss.IndexFlatIP(augmented)                            # choix des listes d'une requête
        quantizer.add(augment(centroids, self.n_blocks))
        self.ivf = faiss.IndexIVFPQ(quantizer, augmented, self.nlist, self.m, self.nbits,
                                    faiss.METRIC_INNER_PRODUCT)
        self.ivf.by_residual = True
        self.ivf.referenced_objects = [quantizer]
        if self.refine_kind == "fp16":
            self.refine = faiss.IndexScalarQuantizer(augmented, faiss.ScalarQuantizer.QT_fp16,
                                                     faiss.METRIC_INNER_PRODUCT)
        elif self.refine_kind == "flat":
            self.refine = faiss.IndexFlatIP(augmented)
        self._search_index = None

    def _add_trained(self, x: np.ndarray) -> None:
        from faiss.contrib.ivf_tools import add_preassigned

        augmented = augment(x, self.n_blocks)
        _, lists = self._assign.search(np.ascontiguousarray(x, dtype=np.float32), 1)
        add_preassigned(self.ivf, augmented, lists.ravel().astype(np.int64))
        if self.refine is not None:
            self.refine.add(augmented)

    # ------------------------------------------------------------------ recherche
    def _searcher(self):
        import faiss

        if self.refine is None:
            return self.ivf
        if self._search_index is None:
            self._search_index = faiss.IndexRefine(self.ivf, self.refine)
        self._search_index.ntotal = self.ivf.ntotal                         # ajouts depuis sa création
        return self._search_index

    def _params(self, nprobe: int):
        import faiss

        ivf_params = faiss.SearchParametersIVF(nprobe=min(nprobe, self.nlist))
        if self.refine is None:
            return ivf_params
        params = faiss.IndexRefineSearchParameters(k_factor=float(self.k_factor), base_index_params=ivf_params)
        params.referenced_objects = [ivf_params]
        return params

    def search(self, q: np.ndarray, block_weights: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Les ``k`` plus proches voisins (distance masquée) : ``(indices, distances)``, ``(Q, k)``.

        Chaque requête visite ses ``nprobe`` listes les plus proches, et davantage si elles ne contiennent pas
        assez de candidats : ``k_factor x k`` avec raffinement (autant que le raffinement en reclasse),
        ``k`` sans. Le nombre de listes visitées ne décroît donc jamais quand ``nprobe`` augmente.
        """
        self.ready()
        queries, offsets = augment_queries(q, block_weights)
        searcher = self._searcher()
        needed = min(self.ntotal, k * (self.k_factor if self.refine is not None else 1))
        probes = self.probes_needed(queries, needed)
        scores = np.empty((len(queries), k), np.float32)
        ids = np.empty((len(queries), k), np.int64)
        for nprobe in np.unique(probes):
            rows = np.flatnonzero(probes == nprobe)
            scores[rows], ids[rows] = searcher.search(queries[rows], k, params=self._params(int(nprobe)))
        return ids, _distances(offsets, scores, ids)

    def probes_needed(self, queries: np.ndarray, needed: int) -> np.ndarray:
        """Par requête augmentée : le nombre de listes à visiter, au moins ``nprobe``, jusqu'à ``needed`` scènes."""
        sizes = self._list_sizes()
        if self._nprobe >= self.nlist:
            return np.full(len(queries), self.nlist, np.int64)
        import faiss

        # Toutes listes confondues, les « enough » plus petites suffisent : inutile de classer les autres.
        enough = int(np.searchsorted(np.cumsum(np.sort(sizes)), needed)) + 1
        top = min(self.nlist, max(self._nprobe, enough))
        _, order = faiss.downcast_index(self.ivf.quantizer).search(queries, top)     # listes, proches d'abord
        reached = np.cumsum(sizes[order], axis=1) >= needed
        first = np.where(reached.any(axis=1), reached.argmax(axis=1) + 1, self.nlist)
        return np.clip(np.maximum(first, self._nprobe), 1, self.nlist).astype(np.int64)

    def _list_sizes(self) -> np.ndarray:
        if self._sizes_at != self.ivf.ntotal:             # recalculé après chaque ajout
            lists = self.ivf.invlists
            self._sizes = np.array([lists.list_size(i) for i in range(self.nlist)], np.int64)
            self._sizes_at = self.ivf.ntotal
        return self._sizes

    def reconstruct(self, first: int, count: int) -> np.ndarray:
        raise ValueError("Les codes IVF-PQ ne se relisent pas sans perte : utilisez kind=\"exact\".")

    # ------------------------------------------------------------------ enregistrement
    def serialize(self) -> np.ndarray:
        import faiss

        self.ready()
        return faiss.serialize_index(self._searcher())

    @classmethod
    def deserialize(cls, raw: np.ndarray, dim: int, n_blocks: int, **params) -> IVFPQEngine:
        import faiss

        engine = cls(dim, n_blocks, **params)
        index = faiss.deserialize_index(raw)          # déjà du bon type ; il possède ses sous-index
        if engine.refine_kind == "none":
            engine.ivf = index
        else:
            engine._search_index = index
            engine.ivf = faiss.downcast_index(engine._search_index.base_index)
            engine.refine = faiss.downcast_index(engine._search_index.refine_index)
        if not isinstance(engine.ivf, faiss.IndexIVFPQ) or engine.ivf.d != dim + n_blocks**2:
            raise ValueError("l'index FAISS n'est pas un IVF-PQ de la bonne dimension")
        engine.nlist = int(engine.ivf.nlist)
        quantizer = faiss.downcast_index(engine.ivf.quantizer)
        engine._assign = faiss.IndexFlatL2(dim)
        engine._assign.add(np.ascontiguousarray(quantizer.reconstruct_n(0, engine.nlist)[:, :dim]))
        return engine


#: Les moteurs, par nom (l'argument ``kind`` de :class:`~course_lib.scenes.index.SceneIndex`).
ENGINES = {"exact": ExactEngine, "ivfpq": IVFPQEngine}


def make_engine(kind: str, dim: int, n_blocks: int, **params):
    """Le moteur ``kind`` (``"exact"`` ou ``"ivfpq"``) ; les paramètres d'IVF-PQ sont ignorés pour ``"exact"``."""
    check_choice(kind, "kind", ENGINES)
    if kind == "exact":
        return ExactEngine(dim, n_blocks)
    return IVFPQEngine(dim, n_blocks, **params)
