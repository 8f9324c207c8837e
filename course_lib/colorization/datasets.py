"""Données d'entraînement de la colorisation, hors ligne ou depuis un dossier de photos.

L'article s'entraîne sur 1,3 million d'images d'ImageNet. Hors ligne, on
dispose de deux sources :

- des imagettes tirées au hasard dans les photos couleur livrées avec
  scikit-image, scikit-learn et matplotlib (:data:`TRAIN_PHOTOS`), à plusieurs
  échelles ;
- les paysages procéduraux de :func:`course_lib.data.synthetic_scenes`.

Une augmentation (miroir horizontal, recadrage et zoom aléatoires) multiplie
les exemples. Pour un vrai entraînement sur GPU, :func:`folder_batches`
parcourt sans fin un dossier de photos de l'utilisateur.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import torch
import torch.nn.functional as F

from .. import data
from ..images import lab_to_rgb, resize
from ..validation import check_choice, check_images, check_number, check_size, unbatch

__all__ = ["TRAIN_PHOTOS", "TEST_PHOTOS", "AMBIGUOUS_PALETTE", "augment", "photo_patches", "training_images",
           "ambiguous_shapes", "folder_batches"]

#: Photos couleur où l'on tire les imagettes d'entraînement.
TRAIN_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle", "flower")
#: Photos gardées de côté pour juger la colorisation (jamais vues à l'entraînement).
TEST_PHOTOS = ("china", "grace_hopper")


def augment(images: torch.Tensor, seed: int | None = None, flip: bool = True,
            min_scale: float = 0.7) -> torch.Tensor:
    """Augmentation aléatoire d'un lot : miroir horizontal et zoom-recadrage, en un seul ``grid_sample``.

    Chaque image est agrandie d'un facteur tiré dans ``[1, 1/min_scale]``
    autour d'un point au hasard (la fenêtre reste dans l'image), puis
    retournée horizontalement une fois sur deux. Les couleurs ne sont pas
    modifiées : ce sont elles que le réseau doit prédire.

    Paramètres
    ----------
    images : torch.Tensor
        ``(B,C,H,W)`` ou ``(C,H,W)`` dans [0, 1].
    seed : int, optionnel
        Graine du tirage (sinon le générateur global de torch).
    flip : bool
        Miroir horizontal aléatoire.
    min_scale : float
        Plus petite fraction de l'image gardée par le recadrage (1 : pas de zoom).
    """
    batch, single = check_images(images, "images")
    check_number(min_scale, "min_scale", positive=True, high=1.0)
    generator = torch.Generator().manual_seed(int(seed)) if seed is not None else None
    n = batch.shape[0]
    scale = min_scale + (1 - min_scale) * torch.rand(n, generator=generator)       # fraction gardée
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * (1 - scale)[:, None]  # reste dans l'image
    sign = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0) if flip else torch.ones(n)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = scale * sign
    theta[:, 1, 1] = scale
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta.to(batch), list(batch.shape), align_corners=False)
    out = F.grid_sample(batch, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return unbatch(out.clamp(0.0, 1.0), single)


@functools.lru_cache(maxsize=8)
def _photo_sources(names: tuple, size: int, scales: tuple) -> list[torch.Tensor]:
    """Les photos redimensionnées aux échelles demandées (gardées en mémoire : les relire est lent)."""
    sources = []
    for name in names:
        image = data.photo(name)
        for scale in scales:
            sources.append(resize(image, max(size, round(min(image.shape[-2:]) * scale))))
    return sources


def photo_patches(n: int, size: int = 64, names=TRAIN_PHOTOS, seed: int = 0, scales=(1.0, 0.5),
                  device=None) -> torch.Tensor:
    """``n`` imagettes ``size x size`` tirées dans des photos hors ligne, à plusieurs échelles.

    Chaque photo est ramenée à plusieurs tailles (``scales`` : fractions de sa
    résolution d'origine, bornées pour que l'imagette tienne) ; les imagettes
    sont réparties également entre photos et échelles
    (:func:`course_lib.data.random_patches`).
    """
    check_number(n, "n", integer=True, positive=True)
    check_number(size, "size", integer=True, positive=True)
    if isinstance(names, str):
        names = (names,)
    for name in names:
        check_choice(name, "names", data.PHOTOS)
    sources = _photo_sources(tuple(names), int(size), tuple(float(s) for s in scales))
    counts = [n // len(sources) + (k < n % len(sources)) for k in range(len(sources))]
    patches = [data.random_patches(src, count, size, seed=seed * 1000 + k)
               for k, (src, count) in enumerate(zip(sources, counts)) if count]
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return torch.cat(patches)[order].to(device or "cpu")


def training_images(n: int, size: int = 64, source: str = "mixed", seed: int = 0, augmented: bool = True,
                    device=None) -> torch.Tensor:
    """Un jeu d'images d'entraînement hors ligne ``(n,3,size,size)`` dans [0, 1].

    Paramètres
    ----------
    n : int
        Nombre d'images.
    size : int
        Côté des images (multiple de 8 conseillé pour ECCV16).
    source : str
        ``"scenes"`` (paysages procéduraux), ``"photos"`` (imagettes de
        :data:`TRAIN_PHOTOS`) ou ``"mixed"`` (moitié-moitié).
    seed : int
        Graine : même graine, mêmes images.
    augmented : bool
        Applique :func:`augment`.
    """
    check_number(n, "n", integer=True, positive=True)
    side = check_size(size, "size")[0]
    check_choice(source, "source", ("scenes", "photos", "mixed"))
    n_scenes = {"scenes": n, "photos": 0, "mixed": n // 2}[source]
    parts = []
    if n_scenes:
        parts.append(data.synthetic_scenes(n_scenes, size=side, seed=seed, device=device))
    if n - n_scenes:
        parts.append(photo_patches(n - n_scenes, side, seed=seed, device=device))
    images = torch.cat(parts)
    images = images[torch.randperm(n, generator=torch.Generator().manual_seed(seed + 1)).to(images.device)]
    return augment(images, seed=seed + 2) if augmented else images


#: Couleurs des formes ambiguës : nom -> (a*, b*), toutes à la luminosité L* = 60 (dans le gamut sRGB).
AMBIGUOUS_PALETTE = {"rouge": (55.0, 45.0), "vert": (-45.0, 45.0), "bleu": (5.0, -45.0), "violet": (45.0, -40.0)}


def ambiguous_shapes(n: int, size: int = 32, seed: int = 0, probs=(0.4, 0.3, 0.2, 0.1), device=None):
    """Des disques de couleur *ambiguë* : même luminosité, quatre couleurs possibles.

    Chaque image montre un disque de luminosité L* = 60 sur un fond gris
    (a* = b* = 0) plus clair ou plus sombre. La couleur du disque est tirée
    dans :data:`AMBIGUOUS_PALETTE` avec les probabilités ``probs`` : le canal
    L ne dit rien de la couleur. La meilleure prédiction L2 est la *moyenne*
    des quatre couleurs, un brun terne ; une classification garde les quatre
    modes. C'est l'expérience qui explique les images ternes de la régression.

    Retourne
    --------
    (images, labels) : ``(n,3,size,size)`` dans [0, 1] et ``(n,)`` (indice de la couleur).
    """
    check_number(n, "n", integer=True, positive=True)
    side = check_size(size, "size")[0]
    probs = torch.as_tensor(probs, dtype=torch.float64)
    if probs.shape != (len(AMBIGUOUS_PALETTE),) or bool((probs < 0).any()) or float(probs.sum()) <= 0:
        raise ValueError(f"« probs » doit donner {len(AMBIGUOUS_PALETTE)} probabilités positives ; reçu : {probs}.")
    g = torch.Generator().manual_seed(int(seed))
    labels = torch.multinomial(probs / probs.sum(), n, replacement=True, generator=g)
    centre = 0.3 + 0.4 * torch.rand(n, 2, generator=g, dtype=torch.float64)
    radius = 0.15 + 0.15 * torch.rand(n, generator=g, dtype=torch.float64)
    dark = torch.rand(n, generator=g) < 0.5
    background = torch.where(dark, 20 + 20 * torch.rand(n, generator=g), 78 + 15 * torch.rand(n, generator=g))
    t = (torch.arange(side, dtype=torch.float64) + 0.5) / side
    y, x = torch.meshgrid(t, t, indexing="ij")
    inside = ((x - centre[:, 0, None, None]) ** 2 + (y - centre[:, 1, None, None]) ** 2
              <= radius[:, None, None] ** 2)
    texture = 3 * torch.randn(n, side, side, generator=g, dtype=torch.float64)
    L = torch.where(inside, torch.full_like(texture, 60.0), background.double()[:, None, None] + texture)
    colours = torch.tensor(list(AMBIGUOUS_PALETTE.values()), dtype=torch.float64)[labels]       # (n, 2)
    ab = inside[:, None] * colours[:, :, None, None]
    rgb = lab_to_rgb(torch.cat([L.clamp(0, 100)[:, None], ab], dim=1)).to(torch.float32)
    return rgb.to(device or "cpu"), labels.to(device or "cpu")


def folder_batches(folder, size: int = 256, batch_size: int = 32, epochs: int | None = None,
                   augmented: bool = True, device=None, seed: int = 0) -> Iterator[torch.Tensor]:
    """Parcourt un dossier de photos par lots ``(b,3,size,size)``, époque après époque, avec augmentation.

    C'est la source d'un vrai entraînement sur GPU (un sous-ensemble
    d'ImageNet, de COCO ou vos propres photos) : les images sont lues par
    :func:`course_lib.data.iter_folder`, redimensionnées, recadrées au centre
    puis augmentées. Les photos en niveaux de gris n'apprennent rien au
    réseau : elles sont écartées, comme dans l'article.

    Paramètres
    ----------
    epochs : int, optionnel
        Nombre de passages sur le dossier (sans fin par défaut).
    """
    check_number(batch_size, "batch_size", integer=True, positive=True)
    if epochs is not None:
        check_number(epochs, "epochs", integer=True, positive=True)
    epoch = 0
    while epochs is None or epoch < epochs:
        for k, batch in enumerate(data.iter_folder(folder, size=size, batch_size=batch_size, device=device)):
            chroma = (batch.amax(dim=1) - batch.amin(dim=1)).flatten(1).amax(dim=1)
            batch = batch[chroma > 2 / 255]                   # écarte les images grises
            if batch.shape[0]:
                yield augment(batch, seed=seed + 7919 * epoch + k) if augmented else batch
        epoch += 1
