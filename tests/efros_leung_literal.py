"""Transcription littérale, pixel par pixel, du pseudo-code d'Efros et Leung (référence des tests).

https://people.eecs.berkeley.edu/~efros/research/NPS/alg.html — chaque fonction porte le nom de
celle du pseudo-code. Rien n'est vectorisé sur les pixels de l'image : la boucle ``foreach Pixel``
est une boucle Python, et ``FindMatches`` existe en deux versions :

- ``inner="loops"`` : les quatre boucles ``for i,j`` / ``for ii,jj`` du pseudo-code, en Python pur
  (pour les petites images des tests) ;
- ``inner="numpy"`` : la boucle ``for ii,jj`` sur les décalages de la fenêtre, chaque décalage étant
  traité pour toutes les positions ``(i, j)`` à la fois par NumPy (le « code direct » du banc d'essai) ;
  comme dans le pseudo-code, les décalages de poids nul (pixels vides) sont calculés puis multipliés
  par 0, sauf avec ``inner="numpy-skip"`` qui les saute.

:func:`synthesize_numpy` est le code NumPy par pixel le plus direct (la seconde référence du banc
d'essai) : la même boucle sur les pixels, mais la frontière, le gabarit et ``FindMatches`` (toutes
les positions et tous les décalages d'un coup, ``sliding_window_view``) en NumPy.

Les tirages aléatoires suivent le protocole documenté dans ``course_lib.texture.efros_leung`` :
un ``torch.Generator`` ; germe par ``randint`` (ligne puis colonne) ; à chaque passe ``randperm``
de la frontière listée dans l'ordre de balayage, puis ``rand`` (float64) pour la liste triée ;
``RandomPick`` prend le candidat ``int(u * n)`` dans l'ordre de balayage de l'exemple.
Ce module n'importe rien de ``course_lib``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

ERR_THRESHOLD = 0.1
MAX_ERR_THRESHOLD = 0.3


def gaussian2d(window_size: int) -> list[list[float]]:
    """``Gaussian2D(WindowSize, Sigma)`` avec ``Sigma = WindowSize / 6.4``, centrée dans la fenêtre."""
    sigma = window_size / 6.4
    half = window_size // 2
    return [[math.exp(-((i - half) ** 2 + (j - half) ** 2) / (2 * sigma**2)) for j in range(window_size)]
            for i in range(window_size)]


def get_unfilled_neighbors(filled: list[list[bool]], generator: torch.Generator) -> list[tuple[int, int]]:
    """Les pixels vides qui ont un voisin rempli (dilatation 3x3 moins l'image), permutés au hasard,
    puis triés par nombre décroissant de voisins remplis (tri stable)."""
    height, width = len(filled), len(filled[0])
    pixels, counts = [], []
    for y in range(height):
        for x in range(width):
            if filled[y][x]:
                continue
            count = 0
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    yy, xx = y + dy, x + dx
                    if (dy or dx) and 0 <= yy < height and 0 <= xx < width and filled[yy][xx]:
                        count += 1
            if count > 0:
                pixels.append((y, x))
                counts.append(count)
    permutation = torch.randperm(len(pixels), generator=generator).tolist()
    listed = [(pixels[k], counts[k]) for k in permutation]
    listed.sort(key=lambda item: -item[1])            # sorted() et list.sort() sont stables
    return [pixel for pixel, _ in listed]


def get_neighborhood_window(image, filled, pixel, window_size):
    """Le gabarit centré sur ``pixel`` et son ``ValidMask`` (hors de l'image : vide)."""
    height, width = len(filled), len(filled[0])
    channels = len(image)
    half = window_size // 2
    y, x = pixel
    template = [[[0.0] * window_size for _ in range(window_size)] for _ in range(channels)]
    valid = [[0.0] * window_size for _ in range(window_size)]
    for ii in range(window_size):
        for jj in range(window_size):
            yy, xx = y - half + ii, x - half + jj
            if 0 <= yy < height and 0 <= xx < width and filled[yy][xx]:
                valid[ii][jj] = 1.0
                for c in range(channels):
                    template[c][ii][jj] = image[c][yy][xx]
    return template, valid


def find_matches(template, valid, sample, window_size, gauss, err_threshold=ERR_THRESHOLD,
                 positions=None, inner="loops"):
    """``FindMatches`` : liste ``[(erreur, (i, j))]`` des fenêtres dont la SSD est au plus min * (1 + seuil).

    ``(i, j)`` est le coin haut-gauche de la fenêtre de l'exemple ; ``positions[i][j]`` faux l'exclut.
    """
    channels, sample_h, sample_w = len(sample), len(sample[0]), len(sample[0][0])
    out_h, out_w = sample_h - window_size + 1, sample_w - window_size + 1
    tot_weight = sum(gauss[ii][jj] * valid[ii][jj] for ii in range(window_size) for jj in range(window_size))
    if inner == "loops":
        ssd = [[0.0] * out_w for _ in range(out_h)]
        for i in range(out_h):
            for j in range(out_w):
                for ii in range(window_size):
                    for jj in range(window_size):
                        dist = 0.0
                        for c in range(channels):
                            dist += (template[c][ii][jj] - sample[c][i + ii][j + jj]) ** 2
                        ssd[i][j] = ssd[i][j] + dist * valid[ii][jj] * gauss[ii][jj]
                ssd[i][j] = ssd[i][j] / tot_weight
    elif inner in ("numpy", "numpy-skip"):
        array = np.asarray(sample, dtype=np.float64) if not isinstance(sample, np.ndarray) else sample
        total = np.zeros((out_h, out_w))
        for ii in range(window_size):
            for jj in range(window_size):
                weight = valid[ii][jj] * gauss[ii][jj]
                if weight == 0.0 and inner == "numpy-skip":
                    continue
                dist = np.zeros((out_h, out_w))
                for c in range(channels):
                    dist += (template[c][ii][jj] - array[c, ii:ii + out_h, jj:jj + out_w]) ** 2
                total += dist * weight
        ssd = (total / tot_weight).tolist()
    else:
        raise ValueError(inner)
    allowed = [(i, j) for i in range(out_h) for j in range(out_w) if positions is None or positions[i][j]]
    best = min(ssd[i][j] for i, j in allowed)
    return [(ssd[i][j], (i, j)) for i, j in allowed if ssd[i][j] <= best * (1 + err_threshold)]


def grow_image(sample, image, filled, window_size, generator, max_err_threshold=MAX_ERR_THRESHOLD,
               err_threshold=ERR_THRESHOLD, positions=None, inner="loops", max_passes=None):
    """``GrowImage`` : remplit ``image`` (listes ``[c][y][x]``) en place ; retourne le nombre de passes."""
    gauss = gaussian2d(window_size)
    half = window_size // 2
    channels = len(sample)
    sample_array = sample if inner == "loops" else np.asarray(sample, dtype=np.float64)
    passes = 0
    while not all(all(row) for row in filled):
        if max_passes is not None and passes >= max_passes:
            break
        passes += 1
        progress = False
        pixel_list = get_unfilled_neighbors(filled, generator)
        uniforms = torch.rand(len(pixel_list), generator=generator, dtype=torch.float64).tolist()
        for k, pixel in enumerate(pixel_list):
            template, valid = get_neighborhood_window(image, filled, pixel, window_size)
            best_matches = find_matches(template, valid, sample_array, window_size, gauss, err_threshold,
                                        positions, inner)
            error, (i, j) = best_matches[int(uniforms[k] * len(best_matches))]      # RandomPick
            if error < max_err_threshold:
                y, x = pixel
                for c in range(channels):
                    image[c][y][x] = float(sample[c][i + half][j + half])
                filled[y][x] = True
                progress = True
        if not progress:
            max_err_threshold = max_err_threshold * 1.1
    return passes


def synthesize(sample: np.ndarray, out_size: tuple[int, int], window_size: int, seed: int,
               inner: str = "loops", max_err_threshold: float = MAX_ERR_THRESHOLD) -> np.ndarray:
    """Une texture à partir d'un germe 3x3 tiré dans ``sample`` (tableau ``(C,H,W)``), au centre de l'image."""
    generator = torch.Generator().manual_seed(seed)
    channels, sample_h, sample_w = sample.shape
    height, width = out_size
    top = int(torch.randint(0, sample_h - 2, (1,), generator=generator))
    left = int(torch.randint(0, sample_w - 2, (1,), generator=generator))
    image = [[[0.0] * width for _ in range(height)] for _ in range(channels)]
    filled = [[False] * width for _ in range(height)]
    cy, cx = (height - 3) // 2, (width - 3) // 2
    for dy in range(3):
        for dx in range(3):
            filled[cy + dy][cx + dx] = True
            for c in range(channels):
                image[c][cy + dy][cx + dx] = float(sample[c, top + dy, left + dx])
    grow_image(sample.tolist(), image, filled, window_size, generator, max_err_threshold, inner=inner)
    return np.asarray(image)


def fill(image: np.ndarray, hole: np.ndarray, window_size: int, seed: int, inner: str = "loops") -> np.ndarray:
    """Synthèse contrainte : les pixels connus de ``image`` (``(C,H,W)``) restent, le trou ``hole`` (H,W) se remplit.

    L'exemple est l'image elle-même, limitée aux fenêtres entièrement connues.
    """
    generator = torch.Generator().manual_seed(seed)
    height, width = hole.shape
    out_h, out_w = height - window_size + 1, width - window_size + 1
    positions = [[not hole[i:i + window_size, j:j + window_size].any() for j in range(out_w)] for i in range(out_h)]
    filled = (~hole).tolist()
    current = np.where(hole[None], 0.0, image).tolist()
    grow_image(image.tolist(), current, filled, window_size, generator, positions=positions, inner=inner)
    return np.asarray(current)


def grow_step(sample: np.ndarray, image: np.ndarray, filled: np.ndarray, window_size: int,
              generator: torch.Generator, max_err_threshold: float = MAX_ERR_THRESHOLD):
    """Une seule passe de ``GrowImage`` ; retourne (image, filled) en tableaux."""
    current, mask = image.tolist(), filled.tolist()
    grow_image(sample.tolist(), current, mask, window_size, generator, max_err_threshold, max_passes=1)
    return np.asarray(current), np.asarray(mask)


def synthesize_numpy(sample: np.ndarray, out_size: tuple[int, int], window_size: int, seed: int,
                     max_err_threshold: float = MAX_ERR_THRESHOLD, err_threshold: float = ERR_THRESHOLD) -> np.ndarray:
    """:func:`synthesize` écrit directement en NumPy : une boucle Python par pixel, tout le reste vectorisé
    (même protocole de tirages, donc même résultat)."""
    generator = torch.Generator().manual_seed(seed)
    channels, sample_h, sample_w = sample.shape
    height, width = out_size
    half = window_size // 2
    top = int(torch.randint(0, sample_h - 2, (1,), generator=generator))
    left = int(torch.randint(0, sample_w - 2, (1,), generator=generator))
    image = np.zeros((channels, height + 2 * half, width + 2 * half))
    known = np.zeros((height + 2 * half, width + 2 * half), dtype=bool)
    cy, cx = half + (height - 3) // 2, half + (width - 3) // 2
    image[:, cy:cy + 3, cx:cx + 3] = sample[:, top:top + 3, left:left + 3]
    known[cy:cy + 3, cx:cx + 3] = True
    array = sample.astype(np.float64)
    windows = np.lib.stride_tricks.sliding_window_view(array, (window_size, window_size), axis=(1, 2))
    windows = windows.transpose(1, 2, 0, 3, 4).reshape(-1, channels * window_size * window_size)   # (N, C*K)
    centres = array[:, half:sample_h - half, half:sample_w - half].reshape(channels, -1)
    gauss = np.asarray(gaussian2d(window_size))
    inner = (slice(half, half + height), slice(half, half + width))
    while not known[inner].all():
        filled = known[inner]
        padded = np.pad(filled, 1)
        counts = sum(padded[1 + dy:1 + dy + height, 1 + dx:1 + dx + width].astype(int)
                     for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx)
        pixels = np.flatnonzero(~filled & (counts > 0))                       # GetUnfilledNeighbors
        pixels = pixels[torch.randperm(pixels.size, generator=generator).numpy()]
        pixels = pixels[np.argsort(-counts.reshape(-1)[pixels], kind="stable")]
        uniforms = torch.rand(pixels.size, generator=generator, dtype=torch.float64).numpy()
        progress = False
        for pixel, u in zip(pixels.tolist(), uniforms):
            y, x = divmod(pixel, width)
            template = image[:, y:y + window_size, x:x + window_size].reshape(-1)
            weights = np.tile((gauss * known[y:y + window_size, x:x + window_size]).reshape(-1), channels)
            ssd = (windows - template) ** 2 @ weights / weights[:gauss.size].sum()      # FindMatches
            matches = np.flatnonzero(ssd <= ssd.min() * (1 + err_threshold))
            best = matches[int(u * matches.size)]                                # RandomPick
            if ssd[best] < max_err_threshold:
                image[:, y + half, x + half] = centres[:, best]
                known[y + half, x + half] = True
                progress = True
        if not progress:
            max_err_threshold *= 1.1
    return image[(slice(None), *inner)]
