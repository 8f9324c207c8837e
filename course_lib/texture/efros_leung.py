"""Synthèse de texture par échantillonnage non paramétrique (Efros et Leung, 1999).

Une texture est vue comme un champ de Markov : la loi d'un pixel :math:`p` ne dépend que de son
voisinage :math:`N(p)`. Plutôt que d'écrire un modèle de :math:`P(p \\mid N(p))`, Efros et Leung
l'*échantillonnent* dans l'exemple : on cherche les fenêtres de l'exemple qui ressemblent au
voisinage déjà synthétisé de :math:`p`, puis on tire au hasard le centre de l'une d'elles.

Ce module suit le pseudo-code des auteurs
(https://people.eecs.berkeley.edu/~efros/research/NPS/alg.html) ::

    GrowImage(SampleImage, Image, WindowSize):
        tant que Image n'est pas remplie :
            progress = 0
            PixelList = GetUnfilledNeighbors(Image)      # frontière, triée
            pour chaque Pixel de PixelList :
                Template = GetNeighborhoodWindow(Pixel)
                BestMatches = FindMatches(Template, SampleImage)
                BestMatch = RandomPick(BestMatches)
                si BestMatch.error < MaxErrThreshold :
                    Pixel.value = BestMatch.value ; progress = 1
            si progress == 0 : MaxErrThreshold = MaxErrThreshold * 1.1

- ``GetUnfilledNeighbors`` : les pixels vides qui touchent (8-voisinage) un pixel rempli (l'image
  dilatée moins l'image), dans un ordre aléatoire, puis triés (tri stable) par nombre décroissant de
  voisins remplis parmi leurs 8 voisins ;
- ``FindMatches`` : la somme des carrés des différences (SSD) entre le gabarit et chaque fenêtre de
  l'exemple, pondérée par une gaussienne 2D d'écart-type ``WindowSize / 6.4``, limitée aux pixels
  remplis du gabarit (``ValidMask``) et divisée par le poids total valide ``TotWeight`` ; les
  candidats sont les fenêtres dont la SSD vaut au plus ``min(SSD) * (1 + ErrThreshold)`` ;
- constantes des auteurs : ``ErrThreshold = 0.1``, ``MaxErrThreshold = 0.3``, pixels dans [0, 1] ;
  en couleur, la différence d'un pixel est la somme sur les canaux.

**Vectorisation.** La SSD d'un lot de gabarits contre toutes les fenêtres de l'exemple est une
corrélation : avec :math:`m = G \\cdot V` (gaussienne fois masque valide),
:math:`\\sum_k m_k (T_k - S_{n,k})^2 = \\sum_k m_k T_k^2 - 2 \\sum_k m_k T_k S_{n,k} + \\sum_k m_k S_{n,k}^2`,
soit un produit matriciel entre les gabarits et les fenêtres dépliées de l'exemple (``unfold``, la
convolution « im2col »), sur l'appareil de l'exemple. Aucune boucle Python ne parcourt les positions
de l'exemple. À chaque passe :

1. la SSD de **toute la frontière** contre toutes les fenêtres est calculée d'un coup avec les gabarits
   du début de la passe (un produit par demi-fenêtre : les pixels remplis de la fenêtre d'un pixel de la
   frontière tiennent presque toujours dans une moitié, ce qui divise le calcul par près de deux) ;
2. les pixels d'une passe ne sont pas indépendants (un pixel voit ceux remplis avant lui dans la même
   passe) : on les regroupe en *niveaux* — un pixel est d'un niveau de plus que le plus haut niveau des
   pixels de la frontière placés avant lui dans sa fenêtre — et chaque niveau est traité d'un bloc, en
   ajoutant à la SSD du début de passe la contribution des seuls pixels remplis depuis (quelques colonnes) ;
3. les fenêtres proches du minimum (à l'erreur d'arrondi près) sont recalculées par la somme directe,
   sans la soustraction de grands nombres voisins du développement : l'ensemble des candidats est celui
   du pseudo-code.

Le résultat est identique, pixel pour pixel, à la boucle séquentielle du pseudo-code (les tests le
comparent à une transcription littérale). Sur le CPU, la croissance tourne sur un seul fil : elle
enchaîne des milliers de petites opérations que le pool de fils ralentit.

**Tirages aléatoires.** Un ``torch.Generator`` (CPU) rend tout reproductible : ``synthesize`` tire
le coin du germe 3x3 (``randint`` sur les lignes puis les colonnes) ; chaque passe tire une
permutation de la frontière (``randperm``, la frontière étant listée dans l'ordre de balayage) puis
un réel uniforme par pixel de la liste triée (``rand``, float64) ; le pixel de rang ``k`` prend le
candidat d'indice ``floor(u_k * nombre_de_candidats)``, les candidats étant rangés dans l'ordre de
balayage de l'exemple.

Références
----------
A. A. Efros et T. K. Leung, « Texture Synthesis by Non-parametric Sampling », ICCV 1999
(section 2, équation de la distance :math:`d_{SSD}` pondérée par une gaussienne).
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F

from ..filters import gaussian_kernel2d
from ..validation import check_images, check_mask, check_number, check_size, check_tensor, describe
from ._threads import single_thread_on_cpu

__all__ = ["ERR_THRESHOLD", "MAX_ERR_THRESHOLD", "SIGMA_DIVISOR", "gaussian_mask", "masked_ssd",
           "find_matches", "unfilled_neighbors", "grow_step", "synthesize", "fill"]

#: Tolérance relative des candidats : ``SSD <= min(SSD) * (1 + ERR_THRESHOLD)``.
ERR_THRESHOLD = 0.1
#: Erreur maximale acceptée au départ, relevée de 10 % après une passe sans progrès.
MAX_ERR_THRESHOLD = 0.3
#: Écart-type de la gaussienne : ``window / SIGMA_DIVISOR``.
SIGMA_DIVISOR = 6.4
#: Taille maximale (éléments) de la SSD de toute une frontière calculée d'un coup.
_BASE_LIMIT = 1 << 26


# --------------------------------------------------------------------------- vérifications

def _check_window(window, sample_size, name: str = "window") -> int:
    check_number(window, name, integer=True)
    if window < 3 or window % 2 == 0:
        raise ValueError(
            f"L'argument « {name} » doit être un entier impair supérieur ou égal à 3 (une fenêtre centrée "
            f"sur le pixel) ; reçu : {window}."
        )
    height, width = sample_size
    if window > min(height, width):
        raise ValueError(
            f"La fenêtre « {name} » ({window}x{window}) est plus grande que l'exemple de texture "
            f"({height}x{width}) : choisissez une fenêtre d'au plus {min(height, width)} pixels."
        )
    return int(window)


def _check_fraction(value, name: str) -> float:
    check_number(value, name, nonnegative=True)
    return float(value)


def _generator(seed) -> torch.Generator:
    """Générateur (CPU) de la graine ``seed`` ; ``None`` : une graine tirée du générateur global de torch."""
    if seed is None:
        seed = int(torch.randint(0, 2**62, (1,)).item())  # reproductible sous course_lib.seed()
    check_number(seed, "seed", integer=True, nonnegative=True)
    return torch.Generator().manual_seed(int(seed))


# --------------------------------------------------------------------------- FindMatches

def gaussian_mask(window: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """``Gaussian2D(WindowSize, Sigma)`` : la gaussienne ``window x window`` d'écart-type ``window / 6.4``.

    Normalisée (somme 1) ; la normalisation ne change rien à la SSD, qui est divisée par le poids valide.
    """
    check_number(window, "window", integer=True, positive=True)
    if window % 2 == 0:
        raise ValueError(f"L'argument « window » doit être impair ; reçu : {window}.")
    return gaussian_kernel2d(window, window / SIGMA_DIVISOR, device=device, dtype=dtype)


class _SampleWindows:
    """Les fenêtres ``window x window`` de l'exemple, dépliées une fois pour toutes (im2col)."""

    def __init__(self, sample: torch.Tensor, window: int, positions: torch.Tensor | None = None):
        channels, height, width = sample.shape
        self.window, self.half, self.channels = window, window // 2, channels
        self.out_shape = (height - window + 1, width - window + 1)
        # Développement sur des valeurs centrées (la SSD n'en dépend pas) : des termes plus petits,
        # donc moins d'erreur d'arrondi dans la soustraction.
        self.mean = sample.mean()
        centred = F.unfold((sample - self.mean)[None], window)[0]     # (C*K, N), canal puis ligne
        self.weights = torch.cat([-2.0 * centred, centred * centred], 0)
        self.scale = (sample - self.mean).abs().max() ** 2
        self.patches = F.unfold(sample[None], window)[0].t().contiguous()   # (N, C*K), pour la somme directe
        h = self.half
        self.centres = sample[:, h:height - h, h:width - h].reshape(channels, -1)   # (C, N)
        self.penalty = None
        if positions is not None:                                    # fenêtres interdites : +inf
            self.penalty = torch.zeros(positions.numel(), dtype=sample.dtype, device=sample.device)
            self.penalty.masked_fill_(~positions.reshape(-1).to(sample.device), float("inf"))
        self.gauss = gaussian_mask(window, device=sample.device, dtype=sample.dtype).reshape(-1)
        # Erreur d'arrondi d'un produit scalaire de n termes : environ sqrt(n) epsilons fois la somme
        # des valeurs absolues des termes, elle-même au plus 2 (own + TotWeight * scale) ; facteur 4 de sûreté.
        self.rounding = 8.0 * (2 * channels * window * window) ** 0.5 * torch.finfo(sample.dtype).eps

    def terms(self, templates: torch.Tensor, weights: torch.Tensor):
        """Les lignes ``[m (T - moyenne), m]`` du développement, et ``own = sum m (T - moyenne)^2``."""
        mc = weights if self.channels == 1 else weights.repeat(1, self.channels)
        centred = templates - self.mean
        mt = mc * centred
        return torch.cat([mt, mc], 1), (mt * centred).sum(1)

    def bound(self, own: torch.Tensor, total: torch.Tensor) -> torch.Tensor:
        """Borne (par gabarit) de l'erreur d'arrondi de la SSD développée, non normalisée."""
        return self.rounding * (own + total * self.scale)

    def expanded(self, templates: torch.Tensor, weights: torch.Tensor, total: torch.Tensor):
        """SSD *non normalisée* de chaque gabarit ``(B, C*K)`` contre chaque fenêtre, par produit matriciel.

        Retourne la SSD ``(B, N)`` et une borne ``(B,)`` de son erreur d'arrondi.
        """
        rows, own = self.terms(templates, weights)
        ssd = torch.addmm(own[:, None], rows, self.weights)
        return (ssd if self.penalty is None else ssd + self.penalty), self.bound(own, total)

    def direct(self, templates, weights, total, rows, cols) -> torch.Tensor:
        """SSD normalisée par la somme directe, pour les couples (gabarit ``rows``, fenêtre ``cols``)."""
        mc = weights if self.channels == 1 else weights.repeat(1, self.channels)
        chunk = max(1, (1 << 22) // max(1, templates.shape[1]))
        if rows.numel() <= chunk:
            diff = templates[rows] - self.patches[cols]
            return (diff * diff * mc[rows]).sum(1) / total[rows]
        out = torch.empty(rows.numel(), dtype=templates.dtype, device=templates.device)
        for start in range(0, rows.numel(), chunk):
            r, c = rows[start:start + chunk], cols[start:start + chunk]
            diff = templates[r] - self.patches[c]
            out[start:start + chunk] = (diff * diff * mc[r]).sum(1) / total[r]
        return out


def _as_batch_templates(templates, valid, sample):
    check_tensor(templates, "templates", ndim=(3, 4), floating=True)
    check_tensor(valid, "valid", ndim=(2, 3))
    single = templates.ndim == 3
    t = templates[None] if single else templates
    v = valid[None] if valid.ndim == 2 else valid
    batch, channels, wh, ww = t.shape
    if wh != ww or wh % 2 == 0:
        raise ValueError(
            f"Les gabarits « templates » doivent être carrés et de côté impair ; reçu : {describe(templates)}."
        )
    if v.shape[-2:] != (wh, ww) or v.shape[0] not in (1, batch):
        raise ValueError(
            f"Le masque « valid » doit avoir la taille des gabarits ({wh}x{ww}), forme (w,w) ou (B,w,w) ; "
            f"reçu : {describe(valid)}."
        )
    if channels != sample.shape[0]:
        raise ValueError(
            f"Les gabarits ont {channels} canal(aux) mais l'exemple « sample » en a {sample.shape[0]}."
        )
    v = (v != 0).to(sample.device).expand(batch, wh, ww)
    if not bool(v.flatten(1).any(1).all()):
        raise ValueError("Chaque gabarit doit avoir au moins un pixel valide (rempli) dans « valid ».")
    return t.to(sample), v, single


def masked_ssd(templates: torch.Tensor, valid: torch.Tensor, sample: torch.Tensor) -> torch.Tensor:
    """Distance de ``FindMatches`` : SSD gaussienne masquée de gabarits contre toutes les fenêtres de l'exemple.

    .. math:: d(i, j) = \\frac{\\sum_{k} G_k V_k \\sum_c (T_{c,k} - S_{c,(i,j)+k})^2}{\\sum_k G_k V_k}

    avec :math:`G` la gaussienne d'écart-type ``window / 6.4`` et :math:`V` le masque des pixels
    remplis du gabarit. Calculée pour tout un lot de gabarits par un produit matriciel avec les
    fenêtres dépliées de l'exemple.

    Paramètres
    ----------
    templates : torch.Tensor
        Gabarits ``(C,w,w)`` ou lot ``(B,C,w,w)`` (``w`` impair) ; les valeurs hors ``valid`` sont ignorées.
    valid : torch.Tensor
        Pixels remplis des gabarits, ``(w,w)`` ou ``(B,w,w)``, booléens ou 0/1.
    sample : torch.Tensor
        L'exemple de texture ``(C,H,W)`` dans [0, 1].

    Retourne
    --------
    torch.Tensor
        ``(H-w+1, W-w+1)`` (ou ``(B, H-w+1, W-w+1)`` pour un lot) : la SSD normalisée de chaque
        fenêtre de l'exemple, indexée par son coin haut-gauche.

    Références
    ----------
    Efros et Leung (1999), section 2.1 ; pseudo-code ``FindMatches``.
    """
    sample_batch, _ = check_images(sample, "sample")
    if sample_batch.shape[0] != 1:
        raise ValueError(f"L'argument « sample » doit être une seule image (C,H,W) ; reçu : {describe(sample)}.")
    sample = sample_batch[0]
    t, v, single = _as_batch_templates(templates, valid, sample)
    window = _check_window(t.shape[-1], sample.shape[-2:])
    index = _SampleWindows(sample, window)
    weights = index.gauss * v.reshape(v.shape[0], -1)
    total = weights.sum(1)
    ssd = index.expanded(t.reshape(t.shape[0], -1), weights, total)[0] / total[:, None]
    ssd = ssd.clamp(min=0.0).reshape(t.shape[0], *index.out_shape)
    return ssd[0] if single else ssd


def find_matches(ssd: torch.Tensor, err_threshold: float = ERR_THRESHOLD) -> torch.Tensor:
    """Candidats de ``FindMatches`` : les fenêtres dont la SSD vaut au plus ``min(SSD) * (1 + err_threshold)``.

    Paramètres
    ----------
    ssd : torch.Tensor
        Une carte ``(H', W')`` ou un lot ``(B, H', W')`` (par exemple de :func:`masked_ssd`).
    err_threshold : float
        ``ErrThreshold`` (0.1 chez les auteurs).

    Retourne
    --------
    torch.Tensor
        Masque booléen de même forme (au moins un candidat par carte : le minimum).
    """
    check_tensor(ssd, "ssd", ndim=(2, 3), floating=True)
    _check_fraction(err_threshold, "err_threshold")
    flat = ssd.reshape(-1, ssd.shape[-2] * ssd.shape[-1]) if ssd.ndim == 3 else ssd.reshape(1, -1)
    best = flat.min(1, keepdim=True).values
    return (flat <= best * (1 + err_threshold)).reshape(ssd.shape)


# --------------------------------------------------------------------------- GrowImage

def unfilled_neighbors(filled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """La frontière : pixels vides dont au moins un des 8 voisins est rempli, dans l'ordre de balayage.

    Retourne ``(indices, nombres)`` : les indices à plat (``y * W + x``) des pixels de la frontière
    et leur nombre de voisins remplis (de 1 à 8).
    """
    check_tensor(filled, "filled", ndim=2)
    filled = filled != 0
    around = F.avg_pool2d(filled[None, None].float(), 3, stride=1, padding=1, count_include_pad=True)
    counts = (around[0, 0] * 9).round().long() - filled.long()           # voisins remplis (8-voisinage)
    frontier = (~filled) & (counts > 0)
    indices = frontier.reshape(-1).nonzero().squeeze(1)
    return indices, counts.reshape(-1)[indices]


class _Grower:
    """L'état d'une croissance : image, pixels remplis et ordre de remplissage, à plat avec une marge vide."""

    def __init__(self, image, filled, sample, window, err_threshold, sample_valid=None):
        self.window, self.half = window, window // 2
        self.err_threshold = err_threshold
        h = self.half
        self.height, self.width = image.shape[-2:]
        self.padded_width = self.width + 2 * h
        self.windows = _SampleWindows(sample, window, sample_valid)
        channels = image.shape[0]
        self.image = F.pad(image, (h, h, h, h)).reshape(channels, -1)              # (C, P)
        known = F.pad(filled[None].to(image.dtype), (h, h, h, h))[0].reshape(-1)
        self.known = known                                                        # (P,) 1 = rempli
        self.order = torch.where(known > 0, 0, -1).to(torch.int32)
        offsets = torch.arange(window, device=image.device)
        self.offsets = (offsets[:, None] * self.padded_width + offsets[None, :]).reshape(1, -1)  # (1, K)
        self.centre = h * self.padded_width + h
        self.passes = 0
        # Demi-fenêtres (avec la ligne ou la colonne du centre) : au début d'une passe, les pixels remplis
        # de la fenêtre d'un pixel de la frontière tiennent presque toujours dans l'une d'elles.
        r = offsets.repeat_interleave(window)
        c = offsets.repeat(window)
        halves = torch.stack([r <= h, r >= h, c <= h, c >= h])                    # (4, K)
        rows = halves.repeat(1, 2 * channels)                                     # lignes de [m T, m]
        self.halves = halves
        self.half_rows = [part.nonzero().squeeze(1) for part in rows]
        self.half_weights = [self.windows.weights[index] for index in self.half_rows]

    def _grid(self, flat: torch.Tensor) -> torch.Tensor:
        h = self.half
        return flat.reshape(-1, self.height + 2 * h, self.padded_width)[:, h:h + self.height, h:h + self.width]

    def inner_filled(self) -> torch.Tensor:
        return self._grid(self.known)[0] > 0

    def result(self):
        return self._grid(self.image), self.inner_filled(), self._grid(self.order)[0]

    def _levels(self, ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
        """Niveau de dépendance de chaque pixel de la liste ordonnée (voir la docstring du module).

        Le pixel ``j`` dépend du pixel ``i < j`` quand ``i`` est dans sa fenêtre ; son niveau est la longueur
        du plus long chemin de dépendances qui y mène, obtenue par relaxations successives sur ces arêtes.
        """
        count = ys.numel()
        order = torch.arange(count, device=ys.device)
        edges = []
        for first in range(0, count, 2048):                      # par morceaux : mémoire bornée
            rows = slice(first, first + 2048)
            close = ((ys[rows, None] - ys[None]).abs() <= self.half) & ((xs[rows, None] - xs[None]).abs() <= self.half)
            pairs = (close & (order[rows, None] < order[None])).nonzero()
            edges.append(pairs + torch.tensor([first, 0], device=ys.device))
        source, target = torch.cat(edges).unbind(1)
        levels = torch.zeros(count, dtype=torch.long, device=ys.device)
        while True:
            longer = levels.scatter_reduce(0, target, levels[source] + 1, "amax")
            if torch.equal(longer, levels):
                return levels
            levels = longer

    def step(self, max_err: float, generator: torch.Generator) -> int:
        """Une passe de ``GrowImage`` ; retourne le nombre de pixels remplis."""
        device = self.image.device
        indices, counts = unfilled_neighbors(self.inner_filled())
        total = indices.numel()
        if total == 0:
            return 0
        permutation = torch.randperm(total, generator=generator).to(device)
        uniforms = torch.rand(total, generator=generator, dtype=torch.float64)
        indices, counts = indices[permutation], counts[permutation]
        indices = indices[torch.sort(counts, descending=True, stable=True).indices]   # PixelList
        ys, xs = indices // self.width, indices % self.width
        levels = self._levels(ys, xs)
        # Les pixels rangés par niveau (ordre stable) : chaque niveau est une tranche contiguë.
        levels, by_level = torch.sort(levels, stable=True)
        bounds = torch.searchsorted(levels, torch.arange(int(levels[-1]) + 2, device=device)).tolist()
        corners = (ys * self.padded_width + xs)[by_level]         # coin haut-gauche de chaque fenêtre, à plat
        precise = torch.float64 if device.type != "mps" else torch.float32
        uniforms = uniforms.to(device)[by_level].to(precise)
        self.passes += 1
        base = self._base(corners) if total * self.windows.weights.shape[1] <= _BASE_LIMIT else None
        done = torch.zeros((), dtype=torch.long, device=device)
        for level in range(len(bounds) - 1):
            part = slice(bounds[level], bounds[level + 1])
            start = None if base is None else (base[0][part], base[1][part])
            done += self._fill_batch(corners[part], uniforms[part], max_err, start)
        return int(done)

    def _templates(self, corners):
        """Gabarits ``(B, C*K)`` et poids ``G * ValidMask`` ``(B, K)`` des fenêtres de coins ``corners``."""
        flat = corners[:, None] + self.offsets                                    # (B, K)
        channels = self.windows.channels
        if channels == 1:
            templates = self.image[0][flat]
        else:
            templates = self.image[:, flat].permute(1, 0, 2).reshape(corners.numel(), -1)
        return templates, self.windows.gauss * self.known[flat]

    def _base(self, corners):
        """La SSD de toute la frontière contre toutes les fenêtres de l'exemple, avec les gabarits du début
        de la passe : un produit matriciel par demi-fenêtre ; chaque niveau n'ajoute ensuite que la
        contribution des pixels remplis depuis (une poignée de colonnes)."""
        windows = self.windows
        templates, weights = self._templates(corners)
        rows, _ = windows.terms(templates, weights)
        ssd = torch.empty(corners.numel(), windows.weights.shape[1], dtype=rows.dtype, device=rows.device)
        outside = weights > 0
        remaining = torch.ones(corners.numel(), dtype=torch.bool, device=rows.device)
        for half, index, matrix in zip(self.halves, self.half_rows, self.half_weights):
            members = (remaining & ~(outside & ~half).any(1)).nonzero().squeeze(1)
            if members.numel():
                ssd[members] = rows[members][:, index] @ matrix
                remaining[members] = False
        members = remaining.nonzero().squeeze(1)
        if members.numel():
            ssd[members] = rows[members] @ windows.weights
        return rows, ssd

    def _fill_batch(self, corners, uniforms, max_err, start=None) -> torch.Tensor:
        windows, t = self.windows, self.err_threshold
        templates, weights = self._templates(corners)
        total = weights.sum(1)                                                   # TotWeight
        if start is None:
            expanded, error = windows.expanded(templates, weights, total)
        else:
            rows, own = windows.terms(templates, weights)
            change = rows - start[0]                 # non nul aux pixels remplis depuis le début de la passe
            columns = change.any(0).nonzero().squeeze(1)
            expanded = start[1] + own[:, None]
            if columns.numel():
                expanded = expanded.addmm_(change[:, columns], windows.weights[columns])
            if windows.penalty is not None:
                expanded = expanded + windows.penalty
            error = 2.0 * windows.bound(own, total)                          # deux produits : deux arrondis
        # Candidats exacts : la somme directe sur les fenêtres qui, à l'erreur d'arrondi près, peuvent
        # être à moins de (1 + t) fois le minimum.
        limit = (expanded.amin(1) + error) * (1 + t) + error
        near_rows, near_cols = (expanded <= limit[:, None]).nonzero(as_tuple=True)
        ssd = windows.direct(templates, weights, total, near_rows, near_cols)
        smallest = torch.full_like(total, float("inf")).scatter_reduce(0, near_rows, ssd, "amin")
        candidate = ssd <= smallest[near_rows] * (1 + t)                         # min(SSD) * (1 + ErrThreshold)
        # RandomPick : le candidat de rang floor(u * n) de chaque gabarit, trouvé dans le cumul des candidats.
        count = torch.bincount(near_rows, weights=candidate.to(uniforms.dtype), minlength=corners.numel())
        pick = torch.minimum(torch.floor(uniforms * count), count - 1) + (torch.cumsum(count, 0) - count)
        chosen = torch.searchsorted(torch.cumsum(candidate, 0), pick.long() + 1)
        error, position = ssd[chosen], near_cols[chosen]
        accept = error < max_err                                                 # BestMatch.error < MaxErrThreshold
        where = corners + self.centre
        self.image[:, where] = torch.where(accept, windows.centres[:, position], self.image[:, where])
        self.known[where] = torch.where(accept, 1.0, self.known[where])
        self.order[where] = torch.where(accept, self.passes, self.order[where])
        return accept.sum()


def grow_step(image: torch.Tensor, filled: torch.Tensor, sample: torch.Tensor, window: int = 11,
              max_err_threshold: float = MAX_ERR_THRESHOLD, generator: torch.Generator | None = None,
              err_threshold: float = ERR_THRESHOLD):
    """Une passe de ``GrowImage`` : remplit la frontière de ``image`` en échantillonnant ``sample``.

    Paramètres
    ----------
    image : torch.Tensor
        Image en cours ``(C,H,W)`` dans [0, 1] ; les valeurs des pixels vides sont ignorées.
    filled : torch.Tensor
        Pixels remplis ``(H,W)`` (booléens ou 0/1), au moins un.
    sample : torch.Tensor
        Exemple de texture ``(C,Hs,Ws)``.
    window : int
        ``WindowSize``, impair, au plus la taille de l'exemple.
    max_err_threshold : float
        ``MaxErrThreshold`` : un pixel n'est rempli que si l'erreur du candidat tiré est inférieure.
    generator : torch.Generator, optionnel
        Générateur CPU des tirages (voir le protocole dans la docstring du module).
    err_threshold : float
        ``ErrThreshold``.

    Retourne
    --------
    (image, filled, progress) : nouvelles image et masque (les entrées ne sont pas modifiées) et un
    booléen qui dit si au moins un pixel a été rempli.
    """
    batch, single = check_images(image, "image")
    if not single:
        raise ValueError(f"L'argument « image » doit être une image (C,H,W) ; reçu : {describe(image)}.")
    sample_batch, sample_single = check_images(sample, "sample")
    if not sample_single:
        raise ValueError(f"L'argument « sample » doit être une image (C,H,W) ; reçu : {describe(sample)}.")
    check_tensor(filled, "filled", ndim=2)
    if filled.shape != image.shape[-2:]:
        raise ValueError(f"Le masque « filled » doit avoir la taille de l'image {tuple(image.shape[-2:])} ; "
                         f"reçu : {describe(filled)}.")
    if sample.shape[0] != image.shape[0]:
        raise ValueError(f"L'image a {image.shape[0]} canal(aux) mais l'exemple « sample » en a {sample.shape[0]}.")
    window = _check_window(window, sample.shape[-2:])
    check_number(max_err_threshold, "max_err_threshold", positive=True)
    _check_fraction(err_threshold, "err_threshold")
    filled = (filled != 0).to(image.device)
    if not bool(filled.any()):
        raise ValueError("Le masque « filled » ne contient aucun pixel rempli : il faut un germe pour grandir.")
    generator = generator if generator is not None else _generator(None)
    grower = _Grower(image.clone(), filled, sample.to(image), window, float(err_threshold))
    with single_thread_on_cpu(image.device):
        done = grower.step(float(max_err_threshold), generator)
    new_image, new_filled, _ = grower.result()
    return new_image.contiguous(), new_filled.contiguous(), done > 0


def _grow(grower: _Grower, generator, max_err: float, progress: bool, description: str) -> None:
    from tqdm.auto import tqdm

    remaining = int((~grower.inner_filled()).sum())
    with tqdm(total=remaining, desc=description, unit="px", disable=not progress, leave=False) as bar, \
            single_thread_on_cpu(grower.image.device):
        try:
            while remaining > 0:
                done = grower.step(max_err, generator)
                if done == 0:
                    max_err *= 1.1                                   # aucun progrès : on relâche le seuil
                remaining -= done
                bar.update(done)
        except KeyboardInterrupt:
            warnings.warn(f"Synthèse interrompue : {remaining} pixel(s) restent vides (valeur 0).", stacklevel=3)


def synthesize(sample: torch.Tensor, out_size, window: int = 11, seed: int | None = None,
               err_threshold: float = ERR_THRESHOLD, max_err_threshold: float = MAX_ERR_THRESHOLD,
               progress: bool = True, return_order: bool = False):
    """Fait pousser une texture de taille ``out_size`` à partir d'un germe 3x3 pris dans ``sample``.

    Paramètres
    ----------
    sample : torch.Tensor
        L'exemple de texture ``(C,H,W)`` (ou ``(1,C,H,W)``) dans [0, 1], sur n'importe quel appareil.
    out_size : int ou (int, int)
        Taille de la texture produite (au moins 3x3).
    window : int
        ``WindowSize`` : côté impair de la fenêtre de voisinage, au plus la taille de l'exemple. Elle
        doit couvrir le plus grand motif régulier de la texture.
    seed : int, optionnel
        Graine des tirages ; par défaut tirée du générateur global (reproductible sous ``course_lib.seed``).
    err_threshold, max_err_threshold : float
        ``ErrThreshold`` (0.1) et ``MaxErrThreshold`` (0.3) des auteurs.
    progress : bool
        Barre de progression (tqdm). Une interruption (Ctrl-C) rend la texture partielle.
    return_order : bool
        Retourne aussi la passe à laquelle chaque pixel a été rempli (0 : le germe), ``(H,W)`` entiers.

    Retourne
    --------
    torch.Tensor
        La texture ``(C,H,W)`` (``(1,C,H,W)`` si l'entrée était un lot), et l'ordre si demandé.

    Références
    ----------
    Efros et Leung, « Texture Synthesis by Non-parametric Sampling », ICCV 1999, section 2.
    """
    batch, single = check_images(sample, "sample", value_range=(0.0, 1.0))
    if batch.shape[0] != 1:
        raise ValueError(f"L'argument « sample » doit être une seule image (C,H,W) ; reçu : {describe(sample)}.")
    height, width = check_size(out_size, "out_size")
    if min(height, width) < 3:
        raise ValueError(f"L'argument « out_size » doit valoir au moins 3x3 (le germe) ; reçu : {(height, width)}.")
    sample_image = batch[0]
    window = _check_window(window, sample_image.shape[-2:])
    _check_fraction(err_threshold, "err_threshold")
    check_number(max_err_threshold, "max_err_threshold", positive=True)
    generator = _generator(seed)
    channels, sample_h, sample_w = sample_image.shape
    top = int(torch.randint(0, sample_h - 2, (1,), generator=generator))
    left = int(torch.randint(0, sample_w - 2, (1,), generator=generator))
    image = torch.zeros(channels, height, width, dtype=sample_image.dtype, device=sample_image.device)
    filled = torch.zeros(height, width, dtype=torch.bool, device=sample_image.device)
    cy, cx = (height - 3) // 2, (width - 3) // 2
    image[:, cy:cy + 3, cx:cx + 3] = sample_image[:, top:top + 3, left:left + 3]
    filled[cy:cy + 3, cx:cx + 3] = True
    grower = _Grower(image, filled, sample_image, window, float(err_threshold))
    _grow(grower, generator, float(max_err_threshold), progress, "Efros et Leung")
    result, _, order = grower.result()
    result = result.contiguous() if single else result[None].contiguous()
    return (result, order.contiguous()) if return_order else result


def fill(image: torch.Tensor, mask: torch.Tensor, window: int = 11, seed: int | None = None,
         sample: torch.Tensor | None = None, err_threshold: float = ERR_THRESHOLD,
         max_err_threshold: float = MAX_ERR_THRESHOLD, progress: bool = True, return_order: bool = False):
    """Remplit un trou par synthèse contrainte (Efros et Leung) : les pixels connus servent de germe.

    Paramètres
    ----------
    image : torch.Tensor
        ``(C,H,W)`` ou lot ``(B,C,H,W)`` dans [0, 1].
    mask : torch.Tensor
        Le trou : 1 (``True``) sur les pixels inconnus à synthétiser, ``(H,W)``, ``(1,H,W)`` ou ``(B,1,H,W)``.
    window : int
        ``WindowSize``, impair.
    seed : int, optionnel
        Graine des tirages.
    sample : torch.Tensor, optionnel
        Exemple ``(C,Hs,Ws)`` où chercher les fenêtres ; par défaut l'image elle-même, dont on
        n'utilise que les fenêtres entièrement connues.
    err_threshold, max_err_threshold, progress, return_order
        Comme :func:`synthesize`.

    Retourne
    --------
    torch.Tensor
        L'image complétée, de la forme de ``image`` (les pixels connus sont inchangés), et l'ordre de
        remplissage ``(H,W)`` ou ``(B,H,W)`` si demandé.
    """
    batch, single = check_images(image, "image", value_range=(0.0, 1.0))
    hole = check_mask(mask, "mask", batch)[:, 0]
    check_number(window, "window", integer=True)
    for b in range(batch.shape[0]):
        if not bool(hole[b].any()):
            raise ValueError(
                "Le masque « mask » ne contient aucun trou : mettez à 1 (True) les pixels inconnus à "
                f"synthétiser (image n° {b} du lot)."
            )
        if bool(hole[b].all()):
            raise ValueError(
                "Le masque « mask » couvre toute l'image : il faut des pixels connus autour du trou "
                f"(image n° {b} du lot). Pour une texture à partir de rien, utilisez synthesize()."
            )
    if sample is not None:
        sample_batch, _ = check_images(sample, "sample", value_range=(0.0, 1.0))
        if sample_batch.shape[0] != 1 or sample_batch.shape[1] != batch.shape[1]:
            raise ValueError(
                f"L'argument « sample » doit être une image (C,H,W) avec {batch.shape[1]} canal(aux) comme "
                f"l'image ; reçu : {describe(sample)}."
            )
        window = _check_window(window, sample_batch.shape[-2:])
    else:
        window = _check_window(window, batch.shape[-2:])
    _check_fraction(err_threshold, "err_threshold")
    check_number(max_err_threshold, "max_err_threshold", positive=True)
    generator = _generator(seed)
    results, orders = [], []
    for b in range(batch.shape[0]):
        known = ~hole[b]
        if sample is None:
            source = batch[b]
            # les fenêtres de l'exemple doivent être entièrement connues
            inside_hole = F.max_pool2d(hole[b][None, None].float(), window, stride=1)[0, 0]
            positions = inside_hole == 0
            if not bool(positions.any()):
                raise ValueError(
                    f"Aucune fenêtre {window}x{window} de l'image n'est entièrement connue (image n° {b}) : "
                    "réduisez « window » ou le trou, ou donnez un exemple « sample »."
                )
        else:
            source, positions = sample_batch[0].to(batch), None
        start = torch.where(known[None], batch[b], torch.zeros_like(batch[b]))
        grower = _Grower(start, known, source, window, float(err_threshold), positions)
        _grow(grower, generator, float(max_err_threshold), progress, "Remplissage du trou")
        result, _, order = grower.result()
        results.append(result)
        orders.append(order)
    out, order = torch.stack(results), torch.stack(orders)
    out = out[0] if single else out
    order = order[0] if single else order
    return (out.contiguous(), order.contiguous()) if return_order else out.contiguous()
