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

**Deux chemins, un résultat.** Ce fichier est la version *lisible* : ``GrowImage``, ``FindMatches`` et
``RandomPick`` s'y lisent pixel par pixel, comme dans le pseudo-code, la distance de ``FindMatches`` étant
calculée d'un coup pour toutes les fenêtres de l'exemple (``unfold``). Les fonctions publiques
(:func:`synthesize`, :func:`fill`, :func:`grow_step`) passent par défaut par un *chemin rapide*
(``_efros_leung_fast``) : la SSD de toute la frontière en produits matriciels, les pixels d'une passe
traités par groupes indépendants, les candidats recalculés exactement. Les deux donnent la même image, pixel
pour pixel, que la transcription littérale du pseudo-code (les tests les y comparent) ; ``fast=False``
exécute la version lisible. Sur le CPU, la croissance tourne sur un seul fil : elle enchaîne des milliers de
petites opérations que le pool de fils ralentit.

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
from . import _efros_leung_fast as fast_path
from ._threads import single_thread_on_cpu

__all__ = ["ERR_THRESHOLD", "MAX_ERR_THRESHOLD", "SIGMA_DIVISOR", "gaussian_mask", "masked_ssd",
           "find_matches", "unfilled_neighbors", "grow_step", "synthesize", "fill"]

#: Tolérance relative des candidats : ``SSD <= min(SSD) * (1 + ERR_THRESHOLD)``.
ERR_THRESHOLD = 0.1
#: Erreur maximale acceptée au départ, relevée de 10 % après une passe sans progrès.
MAX_ERR_THRESHOLD = 0.3
#: Écart-type de la gaussienne : ``window / SIGMA_DIVISOR``.
SIGMA_DIVISOR = 6.4
#: Taille maximale (éléments) d'un bloc de la distance calculée d'un coup par :func:`masked_ssd`.
_CHUNK = 1 << 24


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


def _sample_windows(sample: torch.Tensor, window: int) -> torch.Tensor:
    """Toutes les fenêtres ``window x window`` de l'exemple, une par ligne : ``(N, C * window * window)``,
    rangées dans l'ordre de balayage de leur coin haut-gauche."""
    return F.unfold(sample[None], window)[0].t()


def _distance(templates: torch.Tensor, weights: torch.Tensor, windows: torch.Tensor) -> torch.Tensor:
    """La distance de ``FindMatches``, telle que l'écrit l'article, pour chaque gabarit et chaque fenêtre.

    ``templates`` ``(B, C*K)``, ``weights`` ``(B, K)`` (``G * ValidMask``), ``windows`` ``(N, C*K)`` ;
    retourne ``(B, N)`` : :math:`\\sum_k G_k V_k \\sum_c (T_{c,k} - S_{c,k})^2 / \\sum_k G_k V_k`.
    """
    channels = templates.shape[1] // weights.shape[1]
    out = []
    step = max(1, _CHUNK // max(1, windows.numel()))
    for first in range(0, templates.shape[0], step):
        t, w = templates[first:first + step], weights[first:first + step]
        diff = t[:, None, :] - windows[None]                                   # T - S, (b, N, C*K)
        repeated = w if channels == 1 else w.repeat(1, channels)               # G * ValidMask, par canal
        out.append((diff * diff * repeated[:, None, :]).sum(2) / w.sum(1, keepdim=True))
    return torch.cat(out)


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
    remplis du gabarit. Toutes les fenêtres de l'exemple sont dépliées d'un coup (``unfold``) : aucune
    boucle sur les positions de l'exemple.

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
    batch = t.shape[0]
    gauss = gaussian_mask(window, device=sample.device, dtype=sample.dtype).reshape(-1)
    t = torch.where(v[:, None], t, 0.0)                       # les pixels vides ne comptent pas (même NaN)
    ssd = _distance(t.reshape(batch, -1), gauss * v.reshape(batch, -1), _sample_windows(sample, window))
    ssd = ssd.reshape(batch, sample.shape[-2] - window + 1, sample.shape[-1] - window + 1)
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

def _unfilled_neighbors(filled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    around = F.avg_pool2d(filled[None, None].float(), 3, stride=1, padding=1, count_include_pad=True)
    counts = (around[0, 0] * 9).round().long() - filled.long()           # voisins remplis (8-voisinage)
    frontier = (~filled) & (counts > 0)
    indices = frontier.reshape(-1).nonzero().squeeze(1)
    return indices, counts.reshape(-1)[indices]


def unfilled_neighbors(filled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """La frontière : pixels vides dont au moins un des 8 voisins est rempli, dans l'ordre de balayage.

    Retourne ``(indices, nombres)`` : les indices à plat (``y * W + x``) des pixels de la frontière
    et leur nombre de voisins remplis (de 1 à 8).
    """
    check_tensor(filled, "filled", ndim=2)
    return _unfilled_neighbors(filled != 0)


def _pixel_list(filled: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``PixelList = GetUnfilledNeighbors(Image)`` : la frontière dans un ordre aléatoire (``randperm``), puis
    triée (tri stable) par nombre décroissant de voisins remplis : les pixels les mieux entourés d'abord."""
    indices, counts = _unfilled_neighbors(filled)
    permutation = torch.randperm(indices.numel(), generator=generator).to(indices.device)
    indices, counts = indices[permutation], counts[permutation]
    return indices[torch.sort(counts, descending=True, stable=True).indices]


class _ReadableGrower:
    """``GrowImage`` pixel par pixel, dans les mots du pseudo-code (même interface que ``fast_path.Grower``)."""

    def __init__(self, image, filled, sample, window, gauss, err_threshold, allowed=None):
        h = window // 2
        self.window, self.err_threshold, self.gauss = window, err_threshold, gauss
        self.size = filled.shape
        self.image = F.pad(image, (h, h, h, h))                      # une marge vide d'une demi-fenêtre
        self.known = F.pad(filled.to(image.dtype), (h, h, h, h)) > 0
        self.order = torch.where(filled, 0, -1).to(torch.int32)
        self.windows = _sample_windows(sample, window)               # S : toutes les fenêtres de l'exemple
        self.centres = sample[:, h:sample.shape[1] - h, h:sample.shape[2] - h].reshape(sample.shape[0], -1)
        self.allowed = None if allowed is None else allowed.reshape(-1)
        self.passes, self.device = 0, image.device

    def filled(self) -> torch.Tensor:
        h, (height, width) = self.window // 2, self.size
        return self.known[h:h + height, h:h + width]

    def remaining(self) -> int:
        return int((~self.filled()).sum())

    def result(self):
        h, (height, width) = self.window // 2, self.size
        return self.image[:, h:h + height, h:h + width].clone(), self.filled().clone(), self.order.clone()

    def step(self, max_err_threshold: float, generator: torch.Generator) -> int:
        """Une passe : chaque pixel de ``PixelList``, dans l'ordre, voit ceux remplis avant lui."""
        w, t = self.window, self.err_threshold
        pixel_list = _pixel_list(self.filled(), generator)
        uniforms = torch.rand(pixel_list.numel(), generator=generator, dtype=torch.float64).tolist()
        self.passes += 1
        progress = 0
        for pixel, u in zip(pixel_list.tolist(), uniforms):
            y, x = divmod(pixel, self.size[1])
            # Template = GetNeighborhoodWindow(Pixel) ; ValidMask : ses pixels remplis.
            template = self.image[:, y:y + w, x:x + w].reshape(1, -1)
            valid = self.known[y:y + w, x:x + w].reshape(1, -1)
            # BestMatches = FindMatches(Template, SampleImage)
            ssd = _distance(template, self.gauss * valid, self.windows)[0]
            if self.allowed is not None:
                ssd = ssd.masked_fill(~self.allowed, float("inf"))
            best_matches = (ssd <= ssd.min() * (1 + t)).nonzero().squeeze(1)   # dans l'ordre de balayage
            # BestMatch = RandomPick(BestMatches)
            best = best_matches[int(u * best_matches.numel())]
            if bool(ssd[best] < max_err_threshold):                # BestMatch.error < MaxErrThreshold
                self.image[:, y + w // 2, x + w // 2] = self.centres[:, best]
                self.known[y + w // 2, x + w // 2] = True
                self.order[y, x] = self.passes
                progress += 1
        return progress


def _grower(image, filled, sample, window, err_threshold, allowed=None, fast=True):
    """L'état d'une croissance : le chemin rapide ou la version lisible (mêmes résultats)."""
    gauss = gaussian_mask(window, device=sample.device, dtype=sample.dtype).reshape(-1)
    kind = fast_path.Grower if fast else _ReadableGrower
    return kind(image, filled, sample, window, gauss, float(err_threshold), allowed)


def _grow(grower, generator, max_err: float, progress: bool, description: str) -> None:
    """``GrowImage`` : des passes jusqu'à remplir l'image ; ``MaxErrThreshold * 1.1`` après une passe vaine."""
    from tqdm.auto import tqdm

    remaining = grower.remaining()
    with tqdm(total=remaining, desc=description, unit="px", disable=not progress, leave=False) as bar, \
            torch.no_grad(), single_thread_on_cpu(grower.device):
        try:
            while remaining > 0:
                done = grower.step(max_err, generator)
                if done == 0:
                    max_err *= 1.1                                   # aucun progrès : on relâche le seuil
                remaining -= done
                bar.update(done)
        except KeyboardInterrupt:
            warnings.warn(f"Synthèse interrompue : {remaining} pixel(s) restent vides (valeur 0).", stacklevel=3)


def grow_step(image: torch.Tensor, filled: torch.Tensor, sample: torch.Tensor, window: int = 11,
              max_err_threshold: float = MAX_ERR_THRESHOLD, generator: torch.Generator | None = None,
              err_threshold: float = ERR_THRESHOLD, fast: bool = True):
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
    fast : bool
        Le chemin rapide (par défaut) ou la version lisible, pixel par pixel ; même résultat.

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
    grower = _grower(image, filled, sample.to(image), window, err_threshold, fast=fast)
    with torch.no_grad(), single_thread_on_cpu(image.device):
        done = grower.step(float(max_err_threshold), generator)
    new_image, new_filled, _ = grower.result()
    return new_image.contiguous(), new_filled.contiguous(), done > 0


def synthesize(sample: torch.Tensor, out_size, window: int = 11, seed: int | None = None,
               err_threshold: float = ERR_THRESHOLD, max_err_threshold: float = MAX_ERR_THRESHOLD,
               progress: bool = True, return_order: bool = False, fast: bool = True):
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
    fast : bool
        Le chemin rapide (par défaut) ou la version lisible, pixel par pixel (même résultat, bien plus lente).

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
    grower = _grower(image, filled, sample_image, window, err_threshold, fast=fast)
    _grow(grower, generator, float(max_err_threshold), progress, "Efros et Leung")
    result, _, order = grower.result()
    result = result.contiguous() if single else result[None].contiguous()
    return (result, order.contiguous()) if return_order else result


def fill(image: torch.Tensor, mask: torch.Tensor, window: int = 11, seed: int | None = None,
         sample: torch.Tensor | None = None, err_threshold: float = ERR_THRESHOLD,
         max_err_threshold: float = MAX_ERR_THRESHOLD, progress: bool = True, return_order: bool = False,
         fast: bool = True):
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
    err_threshold, max_err_threshold, progress, return_order, fast
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
        grower = _grower(start, known, source, window, err_threshold, positions, fast=fast)
        _grow(grower, generator, float(max_err_threshold), progress, "Remplissage du trou")
        result, _, order = grower.result()
        results.append(result)
        orders.append(order)
    out, order = torch.stack(results), torch.stack(orders)
    out = out[0] if single else out
    order = order[0] if single else order
    return (out.contiguous(), order.contiguous()) if return_order else out.contiguous()
