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
soit un produit matriciel entre les gabarits du lot et les fenêtres dépliées de l'exemple
(``unfold``, la convolution « im2col »), sur l'appareil de l'exemple. Aucune boucle Python ne
parcourt les positions de l'exemple. Les pixels d'une passe ne sont pas indépendants (un pixel voit
ceux remplis avant lui dans la même passe) : on les regroupe en *niveaux* — un pixel est d'un niveau
de plus que le plus haut niveau des pixels de la frontière placés avant lui dans sa fenêtre — et
chaque niveau est traité d'un bloc. Le résultat est identique, pixel pour pixel, à la boucle
séquentielle du pseudo-code. Les candidats proches du minimum sont ensuite recalculés par la somme
directe (sans la soustraction de grands nombres voisins du développement), pour que l'ensemble des
candidats soit exactement celui du pseudo-code.

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

import numpy as np
import torch
import torch.nn.functional as F

from ..filters import gaussian_kernel2d
from ..validation import check_images, check_mask, check_number, check_size, check_tensor, describe

__all__ = ["ERR_THRESHOLD", "MAX_ERR_THRESHOLD", "SIGMA_DIVISOR", "gaussian_mask", "masked_ssd",
           "find_matches", "unfilled_neighbors", "grow_step", "synthesize", "fill"]

#: Tolérance relative des candidats : ``SSD <= min(SSD) * (1 + ERR_THRESHOLD)``.
ERR_THRESHOLD = 0.1
#: Erreur maximale acceptée au départ, relevée de 10 % après une passe sans progrès.
MAX_ERR_THRESHOLD = 0.3
#: Écart-type de la gaussienne : ``window / SIGMA_DIVISOR``.
SIGMA_DIVISOR = 6.4


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
        patches = F.unfold(sample[None], window)[0]                  # (C*K, N), canal puis ligne
        self.weights = torch.cat([-2.0 * patches, patches * patches], 0)   # pour le développement
        self.patches = patches.t().contiguous()                      # (N, C*K), pour la somme directe
        h = self.half
        self.centres = sample[:, h:height - h, h:width - h].reshape(channels, -1)   # (C, N)
        self.penalty = None
        if positions is not None:                                    # fenêtres interdites : +inf
            self.penalty = torch.zeros(positions.numel(), dtype=sample.dtype, device=sample.device)
            self.penalty.masked_fill_(~positions.reshape(-1).to(sample.device), float("inf"))
        self.gauss = gaussian_mask(window, device=sample.device, dtype=sample.dtype).reshape(-1)
        # Marge d'arrondi du développement, relative au poids total : quelques epsilons par terme sommé.
        self.margin = 8.0 * patches.shape[0] * channels * torch.finfo(sample.dtype).eps

    def expanded(self, templates: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """SSD *non normalisée* de chaque gabarit ``(B, C*K)`` contre chaque fenêtre, par produit matriciel."""
        mc = weights if self.channels == 1 else weights.repeat(1, self.channels)
        mt = mc * templates
        own = (mt * templates).sum(1, keepdim=True)
        ssd = torch.addmm(own, torch.cat([mt, mc], 1), self.weights)
        return ssd if self.penalty is None else ssd + self.penalty

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
    ssd = index.expanded(t.reshape(t.shape[0], -1), weights) / weights.sum(1, keepdim=True)
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
    """L'état d'une croissance (image et masque avec une marge vide), pour enchaîner les passes."""

    def __init__(self, image, filled, sample, window, err_threshold, sample_valid=None):
        self.window, self.half = window, window // 2
        self.err_threshold = err_threshold
        h = self.half
        self.height, self.width = image.shape[-2:]
        self.image = F.pad(image, (h, h, h, h))
        self.filled = F.pad(filled[None].to(torch.uint8), (h, h, h, h))[0].bool()
        self.order = torch.where(self.filled, 0, -1).to(torch.int32)
        self.padded_width = self.width + 2 * h
        self.windows = _SampleWindows(sample, window, sample_valid)
        offsets = torch.arange(window, device=image.device)
        self.dy = offsets.repeat_interleave(window)[None]            # (1, K), ligne par ligne
        self.dx = offsets.repeat(window)[None]
        self.passes = 0

    def inner_filled(self) -> torch.Tensor:
        h = self.half
        return self.filled[h:h + self.height, h:h + self.width]

    def result(self):
        h = self.half
        crop = (slice(h, h + self.height), slice(h, h + self.width))
        return self.image[(slice(None), *crop)], self.filled[crop], self.order[crop]

    def _levels(self, ys: list, xs: list) -> np.ndarray:
        """Niveau de dépendance de chaque pixel de la liste (voir la docstring du module)."""
        w = self.window
        seen = np.full((self.height + w, self.width + w), -1, dtype=np.int64)
        levels = np.empty(len(ys), dtype=np.int64)
        for k, (y, x) in enumerate(zip(ys, xs)):
            level = seen[y:y + w, x:x + w].max() + 1
            seen[y + self.half, x + self.half] = level
            levels[k] = level
        return levels

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
        indices = indices[torch.sort(counts, descending=True, stable=True).indices]
        ys, xs = indices // self.width, indices % self.width
        levels = self._levels(ys.tolist(), xs.tolist())
        by_level = np.argsort(levels, kind="stable")
        bounds = np.searchsorted(levels[by_level], np.arange(levels.max() + 2))
        precise = torch.float64 if device.type != "mps" else torch.float32
        uniforms = uniforms.to(device=device, dtype=precise)
        self.passes += 1
        done = torch.zeros((), dtype=torch.long, device=device)
        for level in range(levels.max() + 1):
            members = torch.from_numpy(by_level[bounds[level]:bounds[level + 1]]).to(device)
            done += self._fill_batch(ys[members], xs[members], uniforms[members], max_err)
        return int(done)

    def _fill_batch(self, ys, xs, uniforms, max_err) -> torch.Tensor:
        windows, t = self.windows, self.err_threshold
        flat = (ys[:, None] + self.dy) * self.padded_width + (xs[:, None] + self.dx)   # (B, K)
        templates = self.image.reshape(windows.channels, -1)[:, flat]           # (C, B, K)
        templates = templates[0] if windows.channels == 1 else templates.permute(1, 0, 2).reshape(ys.numel(), -1)
        weights = windows.gauss * self.filled.reshape(-1)[flat]                 # G * ValidMask
        total = weights.sum(1)                                                   # TotWeight
        expanded = windows.expanded(templates, weights)
        # Candidats exacts : la somme directe sur les fenêtres proches du minimum du développement.
        limit = expanded.amin(1).clamp(min=0) * (1 + t) + windows.margin * total
        near_rows, near_cols = (expanded <= limit[:, None]).nonzero(as_tuple=True)
        ssd = windows.direct(templates, weights, total, near_rows, near_cols)
        smallest = torch.full_like(total, float("inf")).scatter_reduce(0, near_rows, ssd, "amin")
        candidate = ssd <= smallest[near_rows] * (1 + t)                         # min(SSD) * (1 + ErrThreshold)
        count = torch.bincount(near_rows, weights=candidate.to(uniforms.dtype), minlength=ys.numel())
        pick = torch.minimum(torch.floor(uniforms * count), count - 1).long()   # RandomPick
        rank = torch.cumsum(candidate, 0) - 1 - (torch.cumsum(count, 0) - count).long()[near_rows]
        chosen = candidate & (rank == pick[near_rows])
        error, position = ssd[chosen], near_cols[chosen]
        accept = error < max_err                                                 # BestMatch.error < MaxErrThreshold
        where = (ys + self.half) * self.padded_width + xs + self.half
        image = self.image.reshape(windows.channels, -1)
        image[:, where] = torch.where(accept, windows.centres[:, position], image[:, where])
        self.filled.reshape(-1)[where] |= accept
        order = self.order.reshape(-1)
        order[where] = torch.where(accept, self.passes, order[where])
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
    done = grower.step(float(max_err_threshold), generator)
    new_image, new_filled, _ = grower.result()
    return new_image.contiguous(), new_filled.contiguous(), done > 0


def _grow(grower: _Grower, generator, max_err: float, progress: bool, description: str) -> None:
    from tqdm.auto import tqdm

    remaining = int((~grower.inner_filled()).sum())
    with tqdm(total=remaining, desc=description, unit="px", disable=not progress, leave=False) as bar:
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
