"""Le descripteur « gist » d'Oliva et Torralba : un banc de filtres de Gabor, moyennés par blocs.

Le gist résume une scène entière en quelques centaines de nombres : l'énergie
de chaque filtre de Gabor (une orientation, une échelle) moyennée sur une
grille de 4 x 4 blocs. Tout le calcul se fait dans le domaine de Fourier, par
lots, sur l'appareil des images (``torch.fft``) : une transformée de Fourier
par image, un produit par la fonction de transfert de chaque filtre, une
transformée inverse. Un filtre d'échelle grossière ne laisse passer qu'une
bande étroite du spectre : sa transformée inverse se fait en deux passes 1D,
la première sur cette bande seulement (:func:`gabor_bands`, avec sa borne
d'erreur). Sur GPU, les filtres de même largeur de bande sont traités ensemble ;
sur CPU, chaque fil de calcul traite une part du lot, deux images à la fois et
filtre par filtre, pour que les données restent dans le cache du cœur. Le
passe-bas du préfiltrage, une gaussienne étroite, s'applique sous sa forme
séparable de rang faible (quatre produits matriciels au lieu de deux FFT).

Trois préréglages (:data:`PRESETS`) :

- ``"lmgist"`` (par défaut) : le code LMgist d'Oliva et Torralba (``LMgist.m``) :
  image en gris recadrée à 256 x 256 (``imresizecrop``), préfiltrage (``prefilt``,
  fc = 4), extension symétrique de 32 pixels, banc de ``createGabor`` avec
  [8, 8, 8, 8] orientations par échelle, moyennes sur 4 x 4 blocs : 512 valeurs ;
- ``"lear"`` : le programme C ``compute_gist`` 1.2 de LEAR (M. Douze, INRIA),
  reproduit à l'identique : pas de redimensionnement, valeurs 0..255, chaque
  canal RGB séparément, (8, 8, 4) orientations, 960 valeurs dans l'ordre du
  programme C (canal, filtre, bloc en x, bloc en y) ;
- ``"hays_efros"`` : 6 orientations x 5 échelles sur 4 x 4 blocs (480 valeurs),
  suivies de la vignette 4 x 4 des couleurs L*a*b* (48 valeurs), comme dans
  Hays et Efros (2007).

Ordre des blocs : comme ``reshape`` de MATLAB et comme le programme C, l'indice
du bloc *vertical* varie le plus vite : la valeur du filtre ``f`` dans le bloc
(ligne ``r``, colonne ``c``) est à l'indice ``f * n² + c * n + r``.

Références
----------
A. Oliva, A. Torralba, « Modeling the shape of the scene: a holistic representation
of the spatial envelope », IJCV 42(3), 2001 (code LMgist : ``LMgist.m``,
``createGabor.m``, ``prefilt.m``, ``gistGabor.m``).
M. Douze, H. Jégou, H. Sandhawalia, L. Amsaleg, C. Schmid, « Evaluation of GIST
descriptors for web-scale image search », CIVR 2009 (programme ``compute_gist``).
J. Hays, A. A. Efros, « Scene Completion Using Millions of Photographs », SIGGRAPH 2007, §3.
"""

from __future__ import annotations

import functools
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np
import torch

from ..images import _resize_crop, _rgb_to_lab
from ..validation import check_choice, check_images, check_number, describe

__all__ = ["GistPreset", "PRESETS", "get_preset", "gist", "gabor_transfer", "gabor_parameters",
           "prefilter", "symmetric_pad", "block_average", "block_edges", "gist_size", "COLOR_SCALE",
           "GaborBand", "gabor_bands", "SPECTRUM_TOLERANCE"]

#: Facteur appliqué à la vignette L*a*b* du préréglage « hays_efros » (L, a et b divisés par 100, puis
#: multipliés par ce facteur) : calibré sur 200 paysages procéduraux et 10 photos hors ligne pour que,
#: entre deux scènes tirées au hasard, la partie gist de la distance vaille en moyenne le double de la
#: partie couleur (Hays et Efros 2007, §3 : « the gist contributes roughly twice as much as the color ») ;
#: mesuré : 2,1 (1,7 sur les paysages seuls, 5,1 sur les photos seules).
COLOR_SCALE = 0.3


@dataclass(frozen=True)
class GistPreset:
    """Paramètres d'un gist.

    Attributs
    ---------
    name : str
        Nom du préréglage.
    orientations : tuple d'entiers
        Nombre d'orientations par échelle, de la plus fine à la plus grossière.
    image_size : int ou None
        Côté de l'image carrée après ``imresizecrop`` ; ``None`` : pas de redimensionnement (LEAR).
    boundary : int
        Extension symétrique avant le filtrage de Gabor (32 pour LMgist, 0 pour LEAR).
    n_blocks : int
        Grille de ``n_blocks x n_blocks`` blocs.
    fc : float
        Fréquence de coupure du préfiltrage (cycles par image).
    style : str
        ``"lmgist"`` (formules MATLAB, gris) ou ``"lear"`` (programme C, par canal RGB).
    lab_thumbnail : bool
        Ajoute la vignette ``n_blocks x n_blocks`` des couleurs L*a*b*.
    """

    name: str
    orientations: tuple[int, ...]
    image_size: int | None
    boundary: int
    n_blocks: int = 4
    fc: float = 4.0
    style: str = "lmgist"
    lab_thumbnail: bool = False

    @property
    def n_filters(self) -> int:
        return sum(self.orientations)

    @property
    def n_channels(self) -> int:
        """Canaux filtrés : 3 pour LEAR (R, G, B), 1 sinon (gris)."""
        return 3 if self.style == "lear" else 1

    @property
    def gist_dim(self) -> int:
        """Nombre de valeurs de la partie gist (sans la vignette de couleur)."""
        return self.n_channels * self.n_filters * self.n_blocks**2

    @property
    def dim(self) -> int:
        """Taille totale du descripteur."""
        return self.gist_dim + (3 * self.n_blocks**2 if self.lab_thumbnail else 0)


PRESETS = {
    "lmgist": GistPreset("lmgist", (8, 8, 8, 8), image_size=256, boundary=32),
    "lear": GistPreset("lear", (8, 8, 4), image_size=None, boundary=0, style="lear"),
    # LMgist appelé sans paramètres travaille sur des images de 128 pixels : c'est la taille retenue ici.
    "hays_efros": GistPreset("hays_efros", (6, 6, 6, 6, 6), image_size=128, boundary=32, lab_thumbnail=True),
}


def get_preset(preset="lmgist", image_size: int | None = None) -> GistPreset:
    """Retourne un :class:`GistPreset` à partir de son nom (ou le préréglage lui-même).

    ``image_size`` remplace la taille de travail d'un préréglage LMgist (utile pour de petites
    images, dans les tests et au profil « ci »).
    """
    if isinstance(preset, GistPreset):
        result = preset
    elif isinstance(preset, str):
        result = PRESETS[check_choice(preset, "preset", PRESETS)]
    else:
        raise TypeError(f"L'argument « preset » doit être un nom de préréglage ou un GistPreset ; "
                        f"reçu : {describe(preset)}.")
    if image_size is not None:
        check_number(image_size, "image_size", integer=True, low=8)
        if result.style == "lear":
            raise ValueError("Le préréglage « lear » travaille à la taille d'origine de l'image : "
                             "« image_size » ne s'applique pas.")
        result = replace(result, image_size=int(image_size))
    return result


def gist_size(preset="lmgist") -> int:
    """Taille du descripteur d'un préréglage (512 pour ``"lmgist"``, 960 pour ``"lear"``, 528 pour ``"hays_efros"``)."""
    return get_preset(preset).dim


# --------------------------------------------------------------------------- banc de Gabor

def gabor_parameters(orientations) -> torch.Tensor:
    """Les paramètres des filtres de ``createGabor``.

    Une ligne ``[0.35, 0.3/1.85^(i-1), 16 o_i²/32², π (j-1)/o_i]`` par filtre. Retourne un tenseur
    ``(F, 4)`` en float64, échelle ``i`` et orientation ``j`` comptées à partir de 1.
    """
    orientations = _check_orientations(orientations)
    rows = []
    for i, count in enumerate(orientations, start=1):
        for j in range(1, count + 1):
            rows.append([0.35, 0.3 / 1.85 ** (i - 1), 16 * count**2 / 32**2, math.pi / count * (j - 1)])
    return torch.tensor(rows, dtype=torch.float64)


def _check_orientations(orientations) -> tuple[int, ...]:
    if isinstance(orientations, int) or not hasattr(orientations, "__iter__"):
        raise TypeError(f"L'argument « orientations » doit être une liste d'entiers (orientations par échelle) ; "
                        f"reçu : {describe(orientations)}.")
    values = tuple(orientations)
    if not values:
        raise ValueError("L'argument « orientations » doit contenir au moins une échelle.")
    for value in values:
        check_number(value, "orientations", integer=True, positive=True)
    return tuple(int(v) for v in values)


def gabor_transfer(orientations, size, convention: str = "lmgist", device=None,
                   dtype=torch.float32) -> torch.Tensor:
    """Fonctions de transfert du banc de Gabor de LMgist (``createGabor.m``), dans le domaine de Fourier.

    Pour le filtre d'échelle ``i`` et d'orientation ``j`` (paramètres de :func:`gabor_parameters`),
    en coordonnées de fréquence ``(f_x, f_y)`` centrées (``f_x`` le long des colonnes, ``f_y`` le long
    des lignes, vers le bas) :

    .. math::

        G(f_x, f_y) = \\exp\\Big(-10\\,a\\,\\big(\\tfrac{f_r}{n\\,b} - 1\\big)^2
                      - 2\\,c\\,\\pi\\,\\big(\\theta + \\theta_j\\big)^2\\Big),
        \\quad f_r = \\sqrt{f_x^2 + f_y^2},\\ \\theta = \\operatorname{atan2}(f_y, f_x),

    l'angle ``θ + θ_j`` étant ramené dans [-π, π]. Le résultat est décalé par ``fftshift`` : la
    fréquence nulle est au coin ``[0, 0]``, comme la sortie de ``torch.fft.fft2``.

    Paramètres
    ----------
    orientations : liste d'entiers
        Orientations par échelle (par exemple ``[8, 8, 8, 8]``).
    size : int ou (int, int)
        Taille ``(H, W)`` des images filtrées (extension de bord comprise).
    convention : str
        ``"lmgist"`` : ``(f_r / W / b - 1)²`` (``n = W``, le nombre de colonnes, comme MATLAB) ;
        ``"lear"`` : ``(f_r / H / b - 1)(f_r / W / b - 1)``, comme le programme C de LEAR.
    device, dtype : optionnels
        Appareil et type du résultat (le calcul se fait en float64).

    Retourne
    --------
    torch.Tensor
        ``(F, H, W)``, une fonction de transfert par filtre, ``F = sum(orientations)``.

    Références
    ----------
    Oliva et Torralba (2001), code ``createGabor.m`` ; LEAR ``gist.c`` (``create_gabor``).
    """
    from ..validation import check_size

    check_choice(convention, "convention", ("lmgist", "lear"))
    height, width = check_size(size, "size")
    work = _float64_device(device)
    params = gabor_parameters(orientations).to(work)
    fx = torch.arange(width, dtype=torch.float64, device=work) - width / 2
    fy = torch.arange(height, dtype=torch.float64, device=work) - height / 2
    fy, fx = torch.meshgrid(fy, fx, indexing="ij")
    fr = torch.fft.fftshift(torch.sqrt(fx**2 + fy**2))
    theta = torch.fft.fftshift(torch.atan2(fy, fx))
    a, b, c, t0 = (params[:, k].view(-1, 1, 1) for k in range(4))
    tr = theta + t0
    tr = torch.where(tr < -math.pi, tr + 2 * math.pi, torch.where(tr > math.pi, tr - 2 * math.pi, tr))
    if convention == "lmgist":
        radial = (fr / width / b - 1) ** 2
    else:
        radial = (fr / height / b - 1) * (fr / width / b - 1)
    return torch.exp(-10 * a * radial - 2 * c * math.pi * tr**2).to(device=device, dtype=dtype)


def _float64_device(device) -> torch.device:
    """Appareil des calculs en float64 : celui demandé, sauf MPS (sans float64) qui passe par le CPU."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    return torch.device("cpu") if device.type == "mps" else device


# --------------------------------------------------------------------------- outils

def symmetric_pad(images: torch.Tensor, top: int, bottom: int | None = None, left: int | None = None,
                  right: int | None = None) -> torch.Tensor:
    """Extension symétrique *avec* répétition du bord (``c b a | a b c | c b a``), comme
    ``padarray(..., 'symmetric')`` de MATLAB et ``numpy.pad(mode="symmetric")``.

    Fonctionne aussi quand l'extension dépasse la taille de l'image (réflexions répétées).
    ``symmetric_pad(x, p)`` étend de ``p`` pixels de chaque côté.
    """
    bottom = top if bottom is None else bottom
    left = top if left is None else left
    right = left if right is None else right
    height, width = images.shape[-2:]

    def index(n, before, after):
        i = torch.arange(-before, n + after, device=images.device) % (2 * n)
        return torch.where(i >= n, 2 * n - 1 - i, i)

    def extend(x, dim, n, before, after):
        if before == after == 0:
            return x
        if max(before, after) <= n:                          # cas courant : des tranches retournées
            parts = [x.narrow(dim, 0, before).flip(dim), x, x.narrow(dim, n - after, after).flip(dim)]
            return torch.cat(parts, dim=dim)
        return x.index_select(dim, index(n, before, after))  # réflexions répétées

    return extend(extend(images, -2, height, top, bottom), -1, width, left, right)


def block_edges(n: int, n_blocks: int) -> list[int]:
    """Bornes des blocs : ``i * n // n_blocks`` pour ``i = 0..n_blocks`` (``fix(linspace(0, n, N+1))``)."""
    return [i * n // n_blocks for i in range(n_blocks + 1)]


def _averaging_matrix(n: int, n_blocks: int, device, dtype) -> torch.Tensor:
    edges = block_edges(n, n_blocks)
    matrix = torch.zeros(n_blocks, n, device=device, dtype=dtype)
    for k in range(n_blocks):
        matrix[k, edges[k]:edges[k + 1]] = 1.0 / max(1, edges[k + 1] - edges[k])
    return matrix


def block_average(images: torch.Tensor, n_blocks: int = 4) -> torch.Tensor:
    """Moyennes sur une grille ``n_blocks x n_blocks`` (``downN`` de LMgist), par produits matriciels.

    ``(..., H, W)`` donne ``(..., n_blocks, n_blocks)`` indexé ``[ligne, colonne]``. Les bornes des
    blocs sont :func:`block_edges`. Un bloc vide (image plus petite que la grille) vaut 0.
    """
    height, width = images.shape[-2:]
    rows = _averaging_matrix(height, n_blocks, images.device, images.dtype)
    cols = _averaging_matrix(width, n_blocks, images.device, images.dtype)
    return rows @ images @ cols.T


def _to_gist_order(blocks: torch.Tensor) -> torch.Tensor:
    """(..., n_lignes, n_colonnes) -> (..., n²) avec l'indice de ligne qui varie le plus vite."""
    return blocks.transpose(-1, -2).flatten(-2)


# --------------------------------------------------------------------------- transformées de Fourier

def _fft2(x: torch.Tensor, lear: bool) -> torch.Tensor:
    """``fft2`` ; pour LEAR, celle du programme C.

    Le programme C appelle ``fftwf_plan_dft_2d(width, height, ...)`` sur une image rangée ligne par
    ligne (``data[j * width + i]``) : FFTW voit donc le même tampon mémoire comme un tableau de
    ``width`` lignes et ``height`` colonnes. Pour une image carrée c'est la transformée habituelle ;
    sinon, on reproduit exactement ce calcul en relisant le tampon en ``(W, H)``.
    """
    if not lear:
        return torch.fft.fft2(x)
    height, width = x.shape[-2:]
    return torch.fft.fft2(x.reshape(*x.shape[:-2], width, height)).reshape(x.shape)


def _ifft2(x: torch.Tensor, lear: bool) -> torch.Tensor:
    if not lear:
        return torch.fft.ifft2(x)
    height, width = x.shape[-2:]
    return torch.fft.ifft2(x.reshape(*x.shape[:-2], width, height)).reshape(x.shape)


def _standard_layout(height: int, width: int, lear: bool) -> bool:
    """Vrai quand la transformée « à la C » de LEAR est la transformée habituelle (image carrée)."""
    return not lear or height == width


def _gaussian_lowpass(height: int, width: int, fc: float, device, dtype) -> torch.Tensor:
    """``fftshift(exp(-(fx² + fy²) / s1²))`` avec ``s1 = fc / sqrt(log 2)``."""
    s1 = fc / math.sqrt(math.log(2))
    work = _float64_device(device)
    fx = torch.arange(width, dtype=torch.float64, device=work) - width / 2
    fy = torch.arange(height, dtype=torch.float64, device=work) - height / 2
    gf = torch.exp(-(fy[:, None] ** 2 + fx[None, :] ** 2) / s1**2)
    return torch.fft.fftshift(gf).to(device=device, dtype=dtype)


#: Seuil du passe-bas séparable (:func:`_lowpass_basis`) : les fréquences où la gaussienne vaut moins
#: que ce seuil sont omises ; l'écart au passe-bas par FFT est au plus ``LOWPASS_TOLERANCE * ||x||_2``.
LOWPASS_TOLERANCE = 1e-12


@functools.lru_cache(maxsize=16)
def _lowpass_basis(n: int, fc: float, device, dtype) -> torch.Tensor:
    r"""Facteur ``V`` (``n x r``) du passe-bas gaussien circulaire 1D : ``C = V Vᵀ``.

    Le passe-bas de ``prefilt.m`` est séparable, ``gf(f_x, f_y) = g(f_x) g(f_y)`` avec
    ``g(f) = exp(-f² / s1²)`` : c'est ``C X C`` avec ``C`` la matrice circulante
    ``C[p, q] = (1/n) Σ_f g(f) cos(2π f (p - q) / n)`` (``n`` pair, ``g`` paire). En développant le
    cosinus, ``C = V Vᵀ`` avec les colonnes ``sqrt(g(0)/n)``, ``sqrt(2 g(f)/n) cos(2π f p/n)`` et
    ``sqrt(2 g(f)/n) sin(2π f p/n)`` (et le terme de Nyquist). Seules les fréquences où
    ``g(f) ≥`` :data:`LOWPASS_TOLERANCE` sont gardées (une cinquantaine pour fc = 4) : les valeurs
    propres omises de ``C`` sont inférieures au seuil, d'où l'écart au plus
    ``LOWPASS_TOLERANCE * ||X||_2`` au calcul par FFT, pour quatre produits matriciels au lieu de
    deux FFT 2D.
    """
    s1 = fc / math.sqrt(math.log(2))
    reach = math.ceil(s1 * math.sqrt(math.log(1 / LOWPASS_TOLERANCE)))
    last = min(reach, n // 2 - 1)
    work = _float64_device(device)
    position = torch.arange(n, dtype=torch.float64, device=work)[:, None]
    f = torch.arange(1, last + 1, dtype=torch.float64, device=work)[None]
    weight = torch.sqrt(2 * torch.exp(-(f**2) / s1**2) / n)
    columns = [torch.full((n, 1), 1 / math.sqrt(n), dtype=torch.float64, device=work),
               weight * torch.cos(2 * math.pi * position * f / n),
               weight * torch.sin(2 * math.pi * position * f / n)]
    if last == n // 2 - 1:                                   # tout le spectre : terme de Nyquist
        nyquist = math.sqrt(math.exp(-((n / 2) ** 2) / s1**2) / n)
        columns.append(nyquist * torch.cos(math.pi * position))
    return torch.cat(columns, dim=1).to(device=device, dtype=dtype)


def _lowpass(x: torch.Tensor, gf: torch.Tensor, lear: bool, real: bool, fc: float,
             centered: bool = False) -> torch.Tensor:
    """Passe-bas gaussien. ``real`` (tailles paires, disposition habituelle) : la forme séparable
    ``V (Vᵀ X V) Vᵀ`` de :func:`_lowpass_basis`, sur l'image centrée (le passe-bas garde la moyenne :
    ``g(0) = 1`` ; ``centered`` : ``x`` est déjà de moyenne nulle), réelle. Sinon (LEAR non carré,
    tailles impaires), la sortie complexe de la transformée « à la C », comme le programme C."""
    if real:
        rows = _lowpass_basis(x.shape[-2], fc, x.device, x.dtype)
        cols = rows if x.shape[-1] == x.shape[-2] else _lowpass_basis(x.shape[-1], fc, x.device, x.dtype)
        if centered:
            return rows @ ((rows.T @ x) @ cols) @ cols.T
        mean = x.mean(dim=(-2, -1), keepdim=True)
        return mean + rows @ ((rows.T @ (x - mean)) @ cols) @ cols.T
    return _ifft2(_fft2(x, lear) * gf, lear)


def prefilter(images: torch.Tensor, fc: float = 4.0, style: str = "lmgist") -> torch.Tensor:
    """Préfiltrage du gist : logarithme, blanchiment, normalisation locale du contraste.

    ``x = log(I + 1)`` (valeurs 0..255), extension symétrique de 5 pixels, puis
    ``y = x - passe_bas(x)`` (blanchiment) et ``y / (0.2 + sqrt(|passe_bas(moyenne_canaux(y)²)|))``,
    le passe-bas étant la gaussienne de fréquence ``s1 = fc / sqrt(log 2)``, circulaire comme la FFT
    de ``prefilt.m``. Quand la symétrie le permet (tailles paires), elle est appliquée sous sa forme
    séparable de rang faible (:func:`_lowpass_basis`, quatre produits matriciels, écart borné au
    calcul par FFT) ; sinon par FFT.

    Paramètres
    ----------
    images : torch.Tensor
        ``(B,C,H,W)``, valeurs de 0 à 255.
    fc : float
        Fréquence de coupure (4 cycles par image).
    style : str
        ``"lmgist"`` (``prefilt.m`` : l'image étendue est complétée en un carré pair par symétrie) ou
        ``"lear"`` (``color_prefilt`` du programme C : pas de carré, transformées « à la C »).

    Retourne
    --------
    torch.Tensor
        ``(B,C,H,W)``.

    Références
    ----------
    Oliva et Torralba (2001), ``prefilt.m`` ; LEAR ``gist.c`` (``prefilt``, ``color_prefilt``).
    """
    check_choice(style, "style", ("lmgist", "lear"))
    lear = style == "lear"
    pad = 5
    x = torch.log1p(images)                                  # log(I + 1)
    x = symmetric_pad(x, pad)
    sn, sm = x.shape[-2:]
    if not lear:
        n = max(sn, sm)
        n += n % 2
        if (n, n) != (sn, sm):
            x = symmetric_pad(x, 0, n - sn, 0, n - sm)
    height, width = x.shape[-2:]
    real = _standard_layout(height, width, lear) and height % 2 == 0 and width % 2 == 0
    gf = None if real else _gaussian_lowpass(height, width, fc, x.device, x.dtype)
    if real:                                                 # x - passe_bas(x), sur l'image centrée
        x = x - x.mean(dim=(-2, -1), keepdim=True)
        whitened = x - _lowpass(x, gf, lear, real, fc, centered=True)
    else:
        whitened = x - _lowpass(x, gf, lear, real, fc).real
    energy = (whitened.mean(dim=1, keepdim=True) if whitened.shape[1] > 1 else whitened).square()
    localstd = _lowpass(energy, gf, lear, real, fc).abs().sqrt_().add_(0.2)
    out = whitened.div_(localstd)
    return out[..., pad:sn - pad, pad:sm - pad]


# --------------------------------------------------------------------------- bandes de fréquences

#: Seuil des fenêtres de fréquences du banc de Gabor (voir :func:`gabor_bands`) : hors de sa fenêtre,
#: chaque fonction de transfert vaut au plus ``SPECTRUM_TOLERANCE``. L'écart au calcul sur le spectre
#: entier est alors au plus ``SPECTRUM_TOLERANCE * ||x||_2`` (``x`` l'image préfiltrée et étendue),
#: soit environ 3e-6 pour une image de 320 x 320 d'écart type 1 (les gists valent 0,01 à 0,3).
SPECTRUM_TOLERANCE = 1e-8


@dataclass(frozen=True, eq=False)
class GaborBand:
    """Un groupe de filtres de Gabor filtrés ensemble, chacun sur sa fenêtre de fréquences.

    Attributs
    ---------
    axis : int
        ``-1`` : chaque filtre ne garde que ``width`` colonnes consécutives du spectre (fréquences
        ``f_x``, circulairement) ; ``-2`` : ``width`` lignes (fréquences ``f_y``).
    filters : tuple d'entiers
        Indices des filtres dans le banc.
    width : int
        Nombre de fréquences gardées par filtre le long de ``axis``.
    index : torch.Tensor
        ``(len(filters) * width,)`` : les fréquences gardées, filtre par filtre.
    transfer : torch.Tensor
        Fonctions de transfert restreintes aux fenêtres, en complexes : ``(F_g, width, H)`` pour
        ``axis = -1`` (transposées : ``[f_x, f_y]``), ``(F_g, width, W)`` pour ``axis = -2``.
    tail : float
        Plus grande valeur d'une fonction de transfert du groupe hors de sa fenêtre.
    """

    axis: int
    filters: tuple[int, ...]
    width: int
    index: torch.Tensor
    transfer: torch.Tensor
    tail: float

    @functools.cached_property
    def starts(self) -> tuple[int, ...]:
        """Première fréquence de la fenêtre de chaque filtre (la fenêtre est circulaire)."""
        return tuple(int(v) for v in self.index.view(len(self.filters), self.width)[:, 0])


def _circular_window(profile: torch.Tensor, tolerance: float) -> tuple[int, int]:
    """Plus petit intervalle circulaire ``[start, start + width)`` qui contient tous les indices où
    ``profile > tolerance`` ; retourne ``(width, start)``."""
    n = profile.numel()
    kept = torch.nonzero(profile > tolerance).flatten()
    if len(kept) == 0:
        return 1, 0
    if len(kept) == n:
        return n, 0
    gaps = (torch.roll(kept, -1) - kept) % n
    gaps[gaps == 0] = n                                      # un seul indice gardé
    j = int(torch.argmax(gaps))
    return n - int(gaps[j]) + 1, int(kept[(j + 1) % len(kept)])


def gabor_bands(orientations, size, convention: str = "lmgist", tolerance: float = SPECTRUM_TOLERANCE,
                step: int = 16, device=None, dtype=torch.float32) -> list[GaborBand]:
    r"""Groupe les filtres du banc de Gabor par fenêtre de fréquences, pour des FFT inverses plus petites.

    Un filtre de Gabor ne laisse passer qu'une partie du spectre, d'autant plus petite que son échelle
    est grossière : hors d'une bande de colonnes (ou de lignes) de fréquences, sa fonction de transfert
    ``G`` est inférieure à ``tolerance``. La FFT inverse 2D se fait alors en deux passes 1D : d'abord
    sur les seules colonnes de la bande (``width`` transformées au lieu de ``W``), puis sur les lignes
    utiles (sans l'extension de bord). Chaque filtre garde sa propre bande, de même largeur dans
    son groupe ; le décalage de la bande ne change que la phase de la sortie, pas son module.

    Borne d'erreur : si ``S`` est la FFT de l'image ``x`` (``H x W``) et ``z`` la sortie d'un filtre,

    .. math::

        |z_{\text{bande}}(p) - z(p)| \le \frac{1}{HW} \sum_{f \notin \text{bande}} |S(f)|\,G(f)
        \le \frac{\tau}{HW} \|S\|_1 \le \tau\,\|x\|_2

    (Cauchy-Schwarz puis Parseval, ``τ`` = :attr:`GaborBand.tail` ≤ ``tolerance``) ; le module et les
    moyennes par blocs n'augmentent pas cet écart.

    Paramètres
    ----------
    orientations : liste d'entiers
        Orientations par échelle.
    size : int ou (int, int)
        Taille ``(H, W)`` filtrée (extension comprise).
    convention : str
        ``"lmgist"`` ou ``"lear"`` (voir :func:`gabor_transfer`).
    tolerance : float
        Seuil ``τ`` (défaut :data:`SPECTRUM_TOLERANCE`) ; 0 garde tout le spectre.
    step : int
        Les largeurs de bande sont arrondies au multiple de ``step`` supérieur : les filtres de même
        largeur arrondie (de toutes les échelles) forment un groupe.
    device, dtype : optionnels
        Appareil et type (réel) des fonctions de transfert.

    Retourne
    --------
    list de :class:`GaborBand`
        Chaque filtre prend la bande la plus étroite (en fraction du spectre) de ses deux axes.
    """
    from ..validation import check_size

    orientations = _check_orientations(orientations)
    height, width = check_size(size, "size")
    check_number(tolerance, "tolerance", nonnegative=True)
    check_number(step, "step", integer=True, positive=True)
    work = _float64_device(device)
    bank = gabor_transfer(orientations, (height, width), convention=convention, device=work,
                          dtype=torch.float64)
    groups: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for k in range(bank.shape[0]):
        wx, sx = _circular_window(bank[k].amax(dim=0), tolerance)      # colonnes f_x
        wy, sy = _circular_window(bank[k].amax(dim=1), tolerance)      # lignes f_y
        axis, n, w, s = (-1, width, wx, sx) if wx / width <= wy / height else (-2, height, wy, sy)
        groups.setdefault((axis, min(n, -(-w // step) * step)), []).append((k, s))
    bands = []
    complex_dtype = (torch.ones(1, dtype=dtype) * 1j).dtype
    for (axis, band), items in sorted(groups.items()):
        n = width if axis == -1 else height
        filters = tuple(k for k, _ in items)
        windows = torch.stack([(s + torch.arange(band, device=work)) % n for _, s in items])
        # (F_g, fenêtre, autre axe) : l'axe de la fenêtre en premier, celui de la passe 1 en dernier
        oriented = bank[list(filters)].transpose(-1, -2) if axis == -1 else bank[list(filters)]
        transfer = torch.gather(oriented, 1, windows[:, :, None].expand(-1, -1, oriented.shape[-1]))
        outside = oriented.amax(dim=-1).scatter(1, windows, 0.0)
        bands.append(GaborBand(axis, filters, band, windows.flatten().to(device),
                               transfer.to(device=device, dtype=complex_dtype), float(outside.max())))
    return bands


# --------------------------------------------------------------------------- le gist

def _prepare(batch: torch.Tensor, preset: GistPreset) -> torch.Tensor:
    """Image de travail, valeurs 0..255 : LMgist (gris, imresizecrop, min-max) ou LEAR (RGB brut)."""
    if preset.style == "lear":
        rgb = batch if batch.shape[1] == 3 else batch.expand(-1, 3, -1, -1)
        return rgb * 255.0
    gray = batch.mean(dim=1, keepdim=True) * 255.0          # img = single(mean(img, 3))
    gray = _resize_crop(gray, (preset.image_size,) * 2)      # imresizecrop(img, imageSize, 'bilinear')
    low, high = torch.aminmax(gray.flatten(1), dim=1)
    low, high = low.view(-1, 1, 1, 1), (high - low).clamp_min(1.0).view(-1, 1, 1, 1)
    return (gray - low).mul_(255.0 / high)                   # 255 * img / max(1, max(img(:)))


def _modulus(z: torch.Tensor) -> torch.Tensor:
    """``|z|`` d'un tenseur complexe : ``sqrt(re² + im²)`` sur la vue réelle (3 fois plus rapide que
    ``z.abs()`` sur CPU, même résultat à l'arrondi près)."""
    squares = torch.view_as_real(z).square()
    return (squares[..., 0] + squares[..., 1]).sqrt_()


@functools.lru_cache(maxsize=8)
def _cached_bank(orientations, height, width, convention, device, dtype) -> torch.Tensor:
    """Banc de Gabor gardé en mémoire (interne : à ne pas modifier) pour les appels répétés à la même taille."""
    return gabor_transfer(orientations, (height, width), convention=convention, device=device, dtype=dtype)


@functools.lru_cache(maxsize=8)
def _cached_bands(orientations, height, width, convention, device, dtype, tolerance, step) -> list[GaborBand]:
    """Groupes de :func:`gabor_bands` gardés en mémoire (interne : à ne pas modifier)."""
    return gabor_bands(orientations, (height, width), convention, tolerance=tolerance, step=step, device=device,
                       dtype=dtype)


#: Pixels (image étendue, par canal) traités ensemble par filtre sur CPU : deux images LMgist de 320 x 320.
#: Les FFT ont alors 512 lignes, assez pour que deux fils de calcul ne se gênent pas dans torch.fft et
#: que le coût de Python par opération reste faible ; assez peu pour que les données restent en cache.
CPU_PIXELS_PER_STEP = 2 * 320 * 320


def _cpu_step(pixels: int) -> int:
    """Nombre d'images (de ``pixels`` pixels chacune, canaux compris) par morceau sur CPU."""
    return max(1, round(CPU_PIXELS_PER_STEP / pixels))


def _budget(device: torch.device) -> int:
    """Nombre de complexes d'un produit filtré à la fois : 512 Ki sur CPU (les données restent dans le cache),
    64 Mi sur GPU."""
    return 64 * 2**20 if device.type == "cuda" else 2**19


def _chunks(n_images: int, n_filters: int, height: int, width: int, device: torch.device) -> tuple[int, int]:
    """Taille des morceaux (images, filtres) du calcul sur le spectre entier (LEAR non carré)."""
    budget = _budget(device)
    per_pair = height * width
    images = max(1, min(n_images, budget // (per_pair * n_filters) or budget // per_pair))
    filters = max(1, min(n_filters, budget // (per_pair * images)))
    return images, filters


def _block_means(modulus: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """``rows @ modulus @ cols.T`` ; le grand produit d'abord, en une seule multiplication 2D."""
    *lead, height, width = modulus.shape
    right = (modulus.reshape(-1, width) @ cols.T).reshape(*lead, height, cols.shape[0])
    return rows @ right


def _banded_energy(spectrum: torch.Tensor, bands: list[GaborBand], be: int, rows: torch.Tensor,
                   cols: torch.Tensor, out: torch.Tensor, work: dict) -> None:
    """Énergies par blocs de tous les filtres pour un morceau d'images de spectre ``(b, H, W)``.

    ``work`` garde d'un morceau au suivant l'entrée de la passe 2 de chaque groupe : sa partie nulle
    (hors de la bande) ne change pas et n'est remise à zéro qu'une fois.
    """
    b, height, width = spectrum.shape
    transposed = None
    for number, band in enumerate(bands):
        n_filters, kept_width = len(band.filters), band.width
        # passe 1 le long de « along » (l'axe hors de la bande), passe 2 le long de « across » (celui de la bande)
        along, across = (height, width) if band.axis == -1 else (width, height)
        padded = work.get(number)
        if padded is None or padded.shape[0] < b:
            padded = work[number] = spectrum.new_zeros(b, n_filters, along - 2 * be, across)
        padded = padded[:b]
        if band.axis == -1 and transposed is None:
            transposed = spectrum.transpose(-1, -2).contiguous()              # [f_x, f_y]
        kept = (transposed if band.axis == -1 else spectrum).index_select(1, band.index)
        product = kept.view(b, n_filters, kept_width, along).mul_(band.transfer)
        first = torch.fft.ifft(product, dim=-1)                              # [bande, position]
        padded[..., :kept_width].copy_(first[..., be:along - be].transpose(-1, -2))
        second = torch.fft.ifft(padded, dim=-1)                              # [position, position]
        modulus = _modulus(second[..., be:across - be])
        if band.axis == -1:                                                  # [y, x]
            out[:, band.filters] = _block_means(modulus, rows, cols)
        else:                                                                # [x, y]
            out[:, band.filters] = _block_means(modulus, cols, rows).transpose(-1, -2)


def _banded_energy_cpu(spectrum: torch.Tensor, bands: list[GaborBand], be: int, rows: torch.Tensor,
                       cols: torch.Tensor, out: torch.Tensor, work: dict) -> None:
    """Comme :func:`_banded_energy` (spectres ``(b, H, W)``, quelques images), sur CPU, filtre par filtre.

    Chaque étape ne touche que les données d'un filtre, qui restent dans le cache du cœur. Les
    fenêtres circulaires sont des tranches d'un spectre prolongé par ses premières lignes (pas de
    ``index_select``) ; le module et la transposition passent par NumPy, plus rapide que torch sur CPU
    pour ces deux opérations (mêmes valeurs). ``work`` garde d'un appel à l'autre l'entrée de la
    passe 2 par orientation de bande, dont seules les colonnes de la bande changent (les groupes vont
    du plus large au plus étroit : les colonnes qu'un groupe plus large a remplies sont remises à
    zéro une fois).
    """
    b, height, width = spectrum.shape
    widest = max(band.width for band in bands)
    n = rows.shape[0]
    blocks = out.numpy()
    extended = {}
    if "product" not in work or work["product"].numel() < b * widest * max(height, width):
        work["product"] = spectrum.new_empty(b * widest * max(height, width))
    for band in sorted(bands, key=lambda g: -g.width):
        along, across = (height, width) if band.axis == -1 else (width, height)
        if band.axis not in extended:
            source = spectrum.transpose(-1, -2) if band.axis == -1 else spectrum   # fenêtre sur les lignes
            extended[band.axis] = torch.cat([source, source[:, :widest]], dim=1)
        source = extended[band.axis]
        padded, modulus, filled = work.get(band.axis, (None, None, 0))
        if padded is None or padded.shape[0] != b:
            padded, filled = spectrum.new_zeros(b, along - 2 * be, across), 0
            modulus = rows.new_empty(b, along - 2 * be, across - 2 * be)
        padded[..., band.width:filled].zero_()
        work[band.axis] = padded, modulus, band.width
        product = work["product"][:b * band.width * along].view(b, band.width, along)   # contigu
        columns, magnitude = padded.numpy()[..., :band.width], modulus.numpy()
        # sommes par blocs sur une vue (blocs égaux) ; sinon les matrices de moyennes de _block_means
        equal = (along - 2 * be) % n == 0 and (across - 2 * be) % n == 0 and cols.shape[0] == n
        grid = (b, n, (along - 2 * be) // n, n, (across - 2 * be) // n)
        for k, start, transfer in zip(band.filters, band.starts, band.transfer):
            # FFT inverses sans le facteur 1/n (norm="forward") : il est appliqué aux moyennes, à la fin
            torch.mul(source[:, start:start + band.width], transfer, out=product)
            first = torch.fft.ifft(product, dim=-1, norm="forward").numpy()               # [bande, position]
            np.copyto(columns, first[..., be:along - be].transpose(0, 2, 1))
            second = torch.fft.ifft(padded, dim=-1, norm="forward").numpy()               # [position, position]
            np.abs(second[..., be:across - be], out=magnitude)
            if equal:
                sums = modulus.view(grid).sum(dim=(2, 4)).numpy() / (grid[2] * grid[4])
            elif band.axis == -1:
                sums = _block_means(modulus, rows, cols).numpy()
            else:
                sums = _block_means(modulus, cols, rows).numpy()
            blocks[:, k] = sums if band.axis == -1 else sums.transpose(0, 2, 1)
    out.mul_(1.0 / (height * width))                         # le 1/n des deux FFT inverses


def _gabor_energy(x: torch.Tensor, preset: GistPreset, tolerance: float = SPECTRUM_TOLERANCE,
                  work: dict | None = None, per_filter: bool | None = None) -> torch.Tensor:
    """Énergie de chaque filtre moyennée par blocs : ``(B, C, F, n, n)`` (indices ligne, colonne).

    ``work`` : tampons à réutiliser d'un appel à l'autre (un nouveau dictionnaire par défaut).
    ``per_filter`` : :func:`_banded_energy_cpu` (filtre par filtre) ou :func:`_banded_energy` (par
    groupes, pour le GPU) ; par défaut, le premier sur CPU."""
    work = {} if work is None else work
    per_filter = x.device.type == "cpu" if per_filter is None else per_filter
    lear = preset.style == "lear"
    be = preset.boundary
    if be:
        x = symmetric_pad(x, be)
    B, C, height, width = x.shape
    n = preset.n_blocks
    rows = _averaging_matrix(height - 2 * be, n, x.device, x.dtype)
    cols = _averaging_matrix(width - 2 * be, n, x.device, x.dtype)
    flat = x.reshape(B * C, height, width)
    out = x.new_empty(B * C, preset.n_filters, n, n)
    if _standard_layout(height, width, lear):
        # filtre par filtre, chacun garde sa largeur exacte ; par groupes, des largeurs arrondies à 16
        bands = _cached_bands(preset.orientations, height, width, preset.style, x.device, x.dtype, tolerance,
                              1 if per_filter else 16)
        if per_filter:
            step = _cpu_step(height * width)
            for first in range(0, B * C, step):
                part = slice(first, first + step)
                _banded_energy_cpu(torch.fft.fft2(flat[part]), bands, be, rows, cols, out[part], work)
            return out.reshape(B, C, preset.n_filters, n, n)
        largest = max(band.transfer.numel() for band in bands)
        step = max(1, _budget(x.device) // largest)
        for first in range(0, B * C, step):
            part = flat[first:first + step]
            _banded_energy(torch.fft.fft2(part), bands, be, rows, cols, out[first:first + step], work)
        return out.reshape(B, C, preset.n_filters, n, n)
    # LEAR sur une image non carrée : la transformée « à la C » mélange les axes, spectre entier.
    G = _cached_bank(preset.orientations, height, width, preset.style, x.device, x.dtype)
    spectrum = _fft2(flat, lear)
    n_images, n_filters = _chunks(B * C, G.shape[0], height, width, x.device)
    for first in range(0, B * C, n_images):
        part = spectrum[first:first + n_images, None]
        for start in range(0, G.shape[0], n_filters):
            filtered = _ifft2(part * G[start:start + n_filters], lear)[..., be:height - be, be:width - be]
            out[first:first + n_images, start:start + n_filters] = _block_means(_modulus(filtered), rows, cols)
    return out.reshape(B, C, preset.n_filters, n, n)


def lab_thumbnail(images: torch.Tensor, n_blocks: int = 4, image_size: int | None = None) -> torch.Tensor:
    """Vignette ``n_blocks x n_blocks`` des couleurs L*a*b* (moyennes par blocs), ``(B, 3 n²)``.

    Les valeurs sont ``(L, a, b) / 100``, dans l'ordre des blocs du gist (ligne la plus rapide),
    canal par canal. Avec ``image_size``, l'image est d'abord recadrée comme pour le gist.
    """
    batch, _ = check_images(images, "images", channels=3, value_range=(0.0, 1.0))
    if image_size is not None:
        check_number(image_size, "image_size", integer=True, positive=True)
    return _lab_thumbnail(batch, n_blocks, image_size)


def _lab_thumbnail(batch: torch.Tensor, n_blocks: int, image_size: int | None) -> torch.Tensor:
    """:func:`lab_thumbnail` d'un lot déjà vérifié (sans nouvelle vérification)."""
    if image_size is not None:
        batch = _resize_crop(batch, (image_size, image_size))
    lab = _rgb_to_lab(batch.clamp(0, 1)) / 100.0
    return _to_gist_order(block_average(lab, n_blocks)).flatten(1)


def gist(images: torch.Tensor, preset="lmgist", image_size: int | None = None,
         color_weight: float = COLOR_SCALE) -> torch.Tensor:
    """Calcule le descripteur gist d'un lot d'images, sur leur appareil.

    Paramètres
    ----------
    images : torch.Tensor
        ``(B,C,H,W)`` ou ``(C,H,W)``, ``C`` = 1 ou 3, valeurs dans [0, 1]. LMgist travaille en gris
        (moyenne des canaux, comme ``mean(img, 3)``) ; LEAR filtre chaque canal RGB (une image grise
        est recopiée dans les trois canaux, comme ``compute_gist`` pour un fichier PGM).
    preset : str ou GistPreset
        ``"lmgist"`` (512 valeurs), ``"lear"`` (960) ou ``"hays_efros"`` (528) ; voir :data:`PRESETS`.
    image_size : int, optionnel
        Remplace la taille de travail d'un préréglage LMgist.
    color_weight : float
        Poids de la vignette L*a*b* (préréglages avec vignette, comme ``"hays_efros"``) par rapport à la
        partie gist ; défaut :data:`COLOR_SCALE`. 0 ne garde que la forme de la scène ; une valeur plus
        grande rapproche les scènes de même couleur.

    Retourne
    --------
    torch.Tensor
        ``(B, D)`` (ou ``(D,)`` pour une image seule), ``D = preset.dim``, même appareil, float32.

    Références
    ----------
    Oliva et Torralba (2001) ; Douze et al. (2009) ; Hays et Efros (2007), §3.
    """
    preset = get_preset(preset, image_size)
    color_weight = float(check_number(color_weight, "color_weight", nonnegative=True))
    channels = (1, 3) if preset.style == "lear" or not preset.lab_thumbnail else 3
    batch, single = check_images(images, "images", channels=channels, value_range=(0.0, 1.0), min_size=8)
    descriptor = _on_cpu_threads(lambda part: _describe(part, preset, color_weight), batch.float())
    return descriptor[0] if single else descriptor


def _describe(batch: torch.Tensor, preset: GistPreset, color_weight: float) -> torch.Tensor:
    """Le gist d'un lot déjà vérifié : ``(B, D)``.

    Sur CPU, tout le calcul se fait par morceaux d'environ :data:`CPU_PIXELS_PER_STEP` pixels (deux
    images LMgist, une douzaine d'images de 64 x 64) : les tableaux intermédiaires restent petits (dans
    le cache, sans nouvelles pages mémoire à chaque opération) et les tampons de
    :func:`_banded_energy_cpu` servent d'un morceau à l'autre.
    """
    if batch.device.type != "cpu":
        return _describe_part(batch, preset, color_weight, {})
    work: dict = {}
    height, width = batch.shape[-2:] if preset.image_size is None else (preset.image_size,) * 2
    step = _cpu_step((height + 2 * preset.boundary) * (width + 2 * preset.boundary) * preset.n_channels)
    return torch.cat([_describe_part(batch[i:i + step], preset, color_weight, work)
                      for i in range(0, len(batch), step)])


def _describe_part(batch: torch.Tensor, preset: GistPreset, color_weight: float, work: dict) -> torch.Tensor:
    """:func:`_describe` sur un morceau ; ``work`` : tampons réutilisés d'un morceau à l'autre."""
    filtered = prefilter(_prepare(batch, preset), preset.fc, style=preset.style)
    energy = _gabor_energy(filtered, preset, work=work)      # (B, C, F, n, n)
    descriptor = _to_gist_order(energy).flatten(1)           # [canal, filtre, colonne, ligne]
    if preset.lab_thumbnail:
        color = _lab_thumbnail(batch, preset.n_blocks, preset.image_size) * color_weight
        descriptor = torch.cat([descriptor, color], dim=1)
    return descriptor


def _on_cpu_threads(fn, batch: torch.Tensor) -> torch.Tensor:
    """``fn(batch)`` ; sur CPU avec plusieurs fils, chaque fil calcule une part du lot sur un seul cœur.

    Les images sont indépendantes : ce parallélisme grossier (un fil par part du lot, sans
    synchronisation) remplace celui de chaque opération de torch, qui attend ses fils à chaque
    opération et s'effondre quand d'autres processus occupent les cœurs (mesuré sur 2 cœurs chargés :
    dix fois plus lent qu'un seul fil). Le nombre de fils de torch est rétabli à la fin.
    """
    threads = torch.get_num_threads()
    if batch.device.type != "cpu" or threads < 2 or len(batch) < 2:
        return fn(batch)
    parts = torch.tensor_split(batch, min(threads, len(batch)))
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(len(parts)) as pool:
            return torch.cat(list(pool.map(fn, parts)))
    finally:
        torch.set_num_threads(threads)
