"""Le chemin rapide d'Efros et Leung : une passe de ``GrowImage`` par groupes de pixels indépendants.

La version lisible (:mod:`course_lib.texture.efros_leung`) suit le pseudo-code pixel par pixel ; celle-ci
donne le même résultat, pixel pour pixel, en traitant des groupes de pixels d'un bloc. Les étudiants n'ont
pas à la lire. Elle est écrite pour le GPU (aucune boucle Python sur les positions de l'exemple ni sur les
pixels) ; sur le CPU, où le coût fixe de chaque opération domine aux petites tailles, elle en enchaîne
aussi peu que possible (une trentaine par groupe).

**La SSD comme produit matriciel.** Avec des valeurs centrées (:math:`T' = T - \\mu`, :math:`S' = S - \\mu`)
et :math:`m = G \\cdot V` (gaussienne fois masque valide),

.. math:: \\sum_k m_k \\sum_c (T_{c,k} - S_{n,c,k})^2
          = \\underbrace{\\sum_{k,c} m_k T'^2_{c,k}}_{\\text{own}}
          + \\sum_k \\Big( \\sum_c m_k T'_{c,k} \\, (-2 S'_{n,c,k}) + m_k \\sum_c S'^2_{n,c,k} \\Big),

soit, pour un lot de gabarits, un produit matriciel avec les fenêtres de l'exemple dépliées une fois pour
toutes (``unfold``, « im2col »). ``own`` ne dépend pas de la fenêtre.

**Une passe.**

1. La frontière (``GetUnfilledNeighbors``), sa permutation aléatoire et son tri, comme la version lisible.
2. Les *niveaux* : un pixel voit les pixels de la frontière placés avant lui dans sa fenêtre ; son niveau
   est un de plus que le plus haut niveau de ceux-là (le plus long chemin de dépendances, par relaxations).
   Les pixels d'un même niveau ne se voient pas : on les traite d'un bloc, niveau après niveau.
3. Pour chaque niveau, la SSD développée de ses gabarits contre toutes les fenêtres : un produit matriciel
   (petits exemples), ou, pour les grands, la SSD de toute la frontière au début de la passe (un produit
   par demi-fenêtre : les pixels remplis de la fenêtre d'un pixel de la frontière tiennent presque
   toujours dans une moitié) à laquelle chaque niveau ajoute ses seules cases remplies depuis.
4. On garde les fenêtres qui, à l'erreur d'arrondi près (borne :math:`\\gamma_n \\sum |\\text{termes}|`),
   peuvent être à moins de ``(1 + ErrThreshold)`` fois le minimum, on recalcule leur SSD par la somme
   directe (sans la soustraction de grands nombres voisins du développement : les fenêtres ex aequo le
   restent), puis ``RandomPick`` et la mise à jour de l'image.

**L'état** est un seul tenseur ``(P + 1, 2C + 2)`` : pour chaque pixel de l'image bordée d'une marge vide
d'une demi-fenêtre, ``[T', V, T, sum_c T'^2]`` (T' nul pour un pixel vide), et en bout une case « poubelle »
où s'écrivent les pixels refusés (une mise à jour sans masque). Une lecture (``index_select``) donne, pour
un lot de fenêtres, les lignes du produit, ``own``, les poids et les valeurs brutes de la somme directe.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: Au-delà de ce nombre d'éléments de la matrice des fenêtres, la SSD se calcule par passe puis par différences.
INCREMENTAL_ABOVE = 1 << 19


class Grower:
    """L'état d'une croissance et une passe de ``GrowImage`` (voir la docstring du module).

    ``image`` ``(C,H,W)``, ``filled`` ``(H,W)`` booléen, ``sample`` ``(C,Hs,Ws)`` du même type et sur le
    même appareil, ``gauss`` la gaussienne ``(K,)`` ; ``allowed`` (optionnel) : les fenêtres permises de
    l'exemple, ``(Hs-w+1, Ws-w+1)``.
    """

    def __init__(self, image, filled, sample, window, gauss, err_threshold, allowed=None):
        channels, height, width = image.shape
        h, area = window // 2, window * window
        self.channels, self.height, self.width, self.half, self.area = channels, height, width, h, area
        self.t = t = err_threshold
        self.padded = (height + 2 * h, width + 2 * h)
        size = self.padded[0] * self.padded[1]
        self.device = device = image.device
        dtype = image.dtype
        mean = sample.mean()

        # L'exemple : fenêtres dépliées, rangées case par case (K, C) comme l'état.
        unfolded = F.unfold(sample[None], window)[0].reshape(channels, area, -1)       # (C, K, N)
        self.count = count = unfolded.shape[-1]
        self.patches = unfolded.permute(2, 1, 0).contiguous()                           # (N, K, C), brutes
        centred = unfolded - mean
        # Les lignes G * [T', V] (par case) fois cette matrice : la SSD développée sans own, puis
        # (2 + t) rho C max S'^2 TotWeight et TotWeight. La marge d'arrondi des candidats est
        # t own + (2 + t) erreur, avec erreur = rho (own + C max S'^2 TotWeight) >= gamma_n sum |termes|
        # (sum |termes| <= 2 (own + sum m S'^2)).
        rho = 2.0 * 1.01 * ((channels + 2) * area + 4) * torch.finfo(dtype).eps
        squares = channels * float((sample - mean).abs().max()) ** 2
        matrix = torch.zeros(area, channels + 1, count + 2, dtype=dtype, device=device)
        matrix[:, :channels, :count] = (-2.0 * centred).transpose(0, 1)
        matrix[:, channels, :count] = (centred * centred).sum(0)
        matrix[:, channels, count] = (2 + t) * rho * squares
        matrix[:, channels, count + 1] = 1.0
        self.matrix = matrix.reshape(-1, count + 2)                                     # (K (C+1), N + 2)
        self.own_factor = t + (2 + t) * rho
        centres = sample[:, h:sample.shape[1] - h, h:sample.shape[2] - h].reshape(channels, -1).t()
        self.centres = self._entries(centres - mean, torch.ones_like(centres[:, 0]), centres)
        self.penalty = None
        if allowed is not None:                                                        # fenêtres interdites
            self.penalty = torch.zeros(count + 2, dtype=dtype, device=device)
            self.penalty[:count].masked_fill_(~allowed.reshape(-1).to(device), float("inf"))
        self.gauss = gauss.reshape(area, 1).to(sample)                                  # (K, 1)

        # L'état : par pixel [T' (C), V, T (C), sum_c T'^2] (T' et sa somme nuls pour un pixel vide, dont T
        # garde la valeur reçue) ; la case poubelle en bout.
        self.state = torch.zeros(size + 1, 2 * channels + 2, dtype=dtype, device=device)
        known = filled.to(dtype)
        self._grid(self.state)[:] = self._entries(((image - mean) * known).permute(1, 2, 0), known,
                                                  image.permute(1, 2, 0))
        self.trash = size
        self.order = torch.where(filled, 0, -1).to(torch.int32)
        self.rank = torch.full((size + 1,), 1 << 62, dtype=torch.long, device=device)
        r = torch.arange(window, device=device)
        self.offsets = (r[:, None] * self.padded[1] + r[None, :]).reshape(-1)         # (K,)
        self.centre = h * self.padded[1] + h
        self.neighbours = torch.ones(1, 1, 3, 3, dtype=dtype, device=device)
        self.neighbours[0, 0, 1, 1] = 0
        # Grands exemples : la SSD de toute la frontière au début de chaque passe, en un produit par
        # demi-fenêtre (avec la ligne ou la colonne du centre) ; chaque niveau n'ajoute que ses cases
        # remplies depuis. Petits exemples : un produit complet par niveau coûte moins.
        self.incremental = self.matrix.numel() > INCREMENTAL_ABOVE
        rows, cols = r.repeat_interleave(window), r.repeat(window)
        halves = torch.stack([rows <= h, rows >= h, cols <= h, cols >= h, torch.ones_like(rows, dtype=torch.bool)])
        self.outside = (~halves).t().to(dtype)                                         # (K, 5)
        self.half_columns = [half.repeat_interleave(channels + 1).nonzero().squeeze(1) for half in halves]
        self.half_matrices = [self.matrix.index_select(0, index) for index in self.half_columns]
        self.passes = 0
        self.precise = torch.float64 if device.type != "mps" else torch.float32

    @staticmethod
    def _entries(centred, known, values):
        """Les colonnes de l'état ``[T', V, T, sum_c T'^2]`` (dernière dimension)."""
        return torch.cat([centred, known[..., None], values, (centred * centred).sum(-1, keepdim=True)], -1)

    # ------------------------------------------------------------------ état

    def _grid(self, flat: torch.Tensor) -> torch.Tensor:
        """La partie image ``(H, W, …)`` (une vue) d'un tenseur d'état ``(P + 1, …)``."""
        h, (rows, cols) = self.half, self.padded
        return flat[:rows * cols].unflatten(0, (rows, cols))[h:h + self.height, h:h + self.width]

    def filled(self) -> torch.Tensor:
        return self._grid(self.state[:, self.channels]) > 0

    def remaining(self) -> int:
        return int((~self.filled()).sum())

    def result(self):
        """``(image, filled, order)`` : l'image ``(C,H,W)``, ses pixels remplis et la passe de chacun."""
        image = self._grid(self.state[:, self.channels + 1:-1]).permute(2, 0, 1).contiguous()
        return image, self.filled(), self.order.clone()

    # ------------------------------------------------------------------ une passe

    def _pixel_list(self, generator):
        """``GetUnfilledNeighbors`` : la frontière permutée puis triée, et un réel uniforme par pixel."""
        h = self.half
        known = self.state[:-1, self.channels].reshape(1, 1, *self.padded)
        around = known[..., h - 1:h + self.height + 1, h - 1:h + self.width + 1]
        counts = F.conv2d(around, self.neighbours).reshape(-1)                    # voisins remplis (exacts)
        inner = around[0, 0, 1:-1, 1:-1].reshape(-1)
        indices = ((inner == 0) & (counts > 0)).nonzero().squeeze(1)             # ordre de balayage
        total = indices.numel()
        if total == 0:
            return indices, None
        permutation = torch.randperm(total, generator=generator).to(indices.device)
        uniforms = torch.rand(total, generator=generator, dtype=torch.float64)
        indices = indices[permutation]
        indices = indices[torch.sort(counts[indices], descending=True, stable=True).indices]
        return indices, uniforms.to(indices.device, self.precise)

    def _levels(self, windows: torch.Tensor, targets: torch.Tensor):
        """Niveau de chaque pixel de la liste : un de plus que le plus haut niveau des pixels de la frontière
        placés avant lui dans sa fenêtre (0 s'il n'y en a pas)."""
        total = targets.numel()
        order = torch.arange(total, device=targets.device)
        self.rank.index_copy_(0, targets, order)
        ranks = self.rank.index_select(0, windows.reshape(-1)).reshape(total, -1)
        self.rank.index_fill_(0, targets, 1 << 62)
        earlier = ranks < order[:, None]
        target, cell = earlier.nonzero(as_tuple=True)
        source = ranks[target, cell]
        levels = torch.zeros(total, dtype=torch.long, device=targets.device)
        while source.numel():
            longer = levels.scatter_reduce(0, target, levels[source] + 1, "amax")
            if torch.equal(longer, levels):
                break
            levels = longer
        return levels, earlier

    def _base(self, rows: torch.Tensor) -> torch.Tensor:
        """La SSD développée (sans ``own``), la marge et TotWeight de toute la frontière au début de la passe,
        un produit par demi-fenêtre : chaque pixel va à la première moitié qui contient ses cases remplies."""
        known = rows.view(rows.shape[0], self.area, -1)[..., self.channels] > 0
        group = (known.to(rows.dtype) @ self.outside == 0).to(torch.uint8).argmax(1)
        group, members = torch.sort(group, stable=True)
        sizes = torch.bincount(group, minlength=len(self.half_columns)).tolist()
        parts = [rows.index_select(0, index).index_select(1, columns) @ matrix
                 for index, columns, matrix in zip(members.split(sizes), self.half_columns, self.half_matrices)
                 if index.numel()]
        base = torch.empty(rows.shape[0], self.count + 2, dtype=rows.dtype, device=rows.device)
        base.index_copy_(0, members, torch.cat(parts))
        if self.penalty is not None:
            base += self.penalty
        return base

    def step(self, max_err: float, generator: torch.Generator) -> int:
        """Une passe de ``GrowImage`` ; retourne le nombre de pixels remplis."""
        indices, uniforms = self._pixel_list(generator)
        if uniforms is None:
            return 0
        self.passes += 1
        corners = indices // self.width * self.padded[1] + indices % self.width     # coin de la fenêtre
        windows = corners[:, None] + self.offsets                                   # (T, K)
        levels, earlier = self._levels(windows, corners + self.centre)
        levels, by_level = torch.sort(levels, stable=True)
        sizes = torch.bincount(levels).tolist()
        windows, targets, uniforms = windows[by_level], corners[by_level] + self.centre, uniforms[by_level]
        parts = [windows.split(sizes), targets.split(sizes), uniforms.split(sizes)]
        if self.incremental:
            # Les colonnes des cases remplies depuis le début de la passe (pixels de la frontière placés
            # avant), réunies par niveau.
            width = self.channels + 1
            union = torch.zeros(len(sizes), self.area, device=levels.device)
            union.index_add_(0, levels, earlier[by_level].to(union.dtype))
            level, cell = (union > 0).nonzero(as_tuple=True)
            columns = (cell[:, None] * width + torch.arange(width, device=cell.device)).reshape(-1)
            columns = columns.split((torch.bincount(level, minlength=len(sizes)) * width).tolist())
            start = self.state[:, :width].index_select(0, windows.reshape(-1)).view(len(targets), self.area, -1)
            start = (start * self.gauss).view(len(targets), -1)
            parts += [columns, self._base(start).split(sizes), start.split(sizes)]
        for part in zip(*parts):
            self._fill(*part, max_err=max_err)
        new = (self.order < 0) & self.filled()
        self.order.masked_fill_(new, self.passes)
        return int(new.sum())

    def _fill(self, windows, targets, uniforms, changed=None, base=None, start=None, *, max_err) -> None:
        """Un niveau : ``FindMatches`` puis ``RandomPick`` pour tous ses pixels à la fois."""
        count, t, c, n = len(targets), self.t, self.channels, self.count
        values = self.state.index_select(0, windows.reshape(-1)).view(count, self.area, -1)
        rows = (values[..., :c + 1] * self.gauss).view(count, -1)                  # G * [T', V]
        own = values[..., -1] @ self.gauss[:, 0]                                 # sum G V T'^2
        if base is None:
            product = rows @ self.matrix
            if self.penalty is not None:
                product += self.penalty
        elif changed.numel():                                              # les cases remplies depuis
            change = (rows - start).index_select(1, changed)
            product = torch.addmm(base, change, self.matrix.index_select(0, changed))
        else:
            product = base
        expanded, total = product[:, :n], product[:, n + 1]                  # SSD sans own, TotWeight
        # Les fenêtres qui, à l'erreur d'arrondi près, peuvent être candidates ; leur SSD exacte.
        limit = torch.add(product[:, n], own, alpha=self.own_factor).add_(expanded.amin(1), alpha=1 + t)
        near, window = (expanded <= limit[:, None]).nonzero(as_tuple=True)
        diff = values[..., c + 1:-1].index_select(0, near) - self.patches.index_select(0, window)
        exact = (diff * diff * rows.view(count, self.area, -1)[..., c:].index_select(0, near)).sum((1, 2))
        ssd = torch.full_like(expanded, float("inf")).index_put_((near, window), exact).div_(total[:, None])
        # FindMatches : SSD <= min(SSD) * (1 + ErrThreshold) ; RandomPick : le candidat de rang floor(u * n).
        candidates = ssd <= ssd.amin(1, keepdim=True) * (1 + t)
        found = candidates.sum(1)
        rank = (uniforms * found).long()          # en float64, u * n < n ; en float32 (MPS), on borne
        if uniforms.dtype != torch.float64:
            rank = torch.minimum(rank, found - 1)
        pick = torch.searchsorted(candidates.cumsum(1), rank[:, None], right=True)
        accept = ssd.gather(1, pick)[:, 0] < max_err                             # error < MaxErrThreshold
        self.state.index_copy_(0, torch.where(accept, targets, self.trash), self.centres.index_select(0, pick[:, 0]))
