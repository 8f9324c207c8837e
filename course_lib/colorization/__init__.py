"""Colorisation d'images : « Colorful Image Colorization » (Zhang, Isola et Efros, ECCV 2016).

Prédire la chrominance ab d'une photo à partir de sa seule luminosité L, en
traitant la couleur comme une *classification* sur des cases de l'espace ab
plutôt qu'une régression, qui donne des images ternes.

- :mod:`~course_lib.colorization.lab` : séparer L et ab, recomposer (X, Ŷ) ;
- :mod:`~course_lib.colorization.quantization` : cases ab, encodage doux,
  a priori empirique, rééquilibrage, moyenne recuite, mode ;
- :mod:`~course_lib.colorization.models` : ECCV16 (poids officiels), petit modèle pour le CPU ;
- :mod:`~course_lib.colorization.datasets` : images d'entraînement hors ligne et dossiers de photos ;
- :mod:`~course_lib.colorization.training` : pertes, entraînement en direct, colorisation, évaluation ;
- :mod:`~course_lib.colorization.metrics` : PSNR, AuC de l'erreur ab, colorfulness ;
- :mod:`~course_lib.colorization.figures` : le plan ab (cases, a priori, poids).
"""

from .datasets import (
    AMBIGUOUS_PALETTE,
    TEST_PHOTOS,
    TRAIN_PHOTOS,
    ambiguous_shapes,
    augment,
    folder_batches,
    photo_patches,
    training_images,
)
from .figures import bin_colors, plot_ab_plane
from .lab import AB_NORM, L_CENT, L_NORM, check_ab, check_lightness, gray_rgb, lightness, merge_lab, split_lab
from .metrics import ab_auc, ab_error_curve, colorfulness, psnr
from .models import (
    ECCV16,
    ECCV16_ASSET,
    ECCV16_BINS,
    Colorizer,
    SmallColorizer,
    bins_from_weights,
    load_pretrained,
    try_load_pretrained,
)
from .quantization import (
    GRID_SIZE,
    ab_bins,
    annealed_mean,
    check_bins,
    empirical_prior,
    mode_decode,
    nearest_bin,
    rebalance_weights,
    smooth_prior,
    soft_encode,
    soft_encode_topk,
)
from .training import classification_loss, colorize, evaluate, regression_loss, train_colorizer

__all__ = [
    "ab_bins", "GRID_SIZE", "nearest_bin", "soft_encode", "soft_encode_topk", "empirical_prior", "smooth_prior",
    "rebalance_weights", "annealed_mean", "mode_decode", "check_bins",
    "split_lab", "merge_lab", "lightness", "gray_rgb", "check_lightness", "check_ab", "L_CENT", "L_NORM", "AB_NORM",
    "Colorizer", "ECCV16", "SmallColorizer", "ECCV16_ASSET", "ECCV16_BINS", "load_pretrained",
    "try_load_pretrained", "bins_from_weights",
    "TRAIN_PHOTOS", "TEST_PHOTOS", "AMBIGUOUS_PALETTE", "ambiguous_shapes",
    "augment", "photo_patches", "training_images", "folder_batches",
    "classification_loss", "regression_loss", "train_colorizer", "colorize", "evaluate",
    "psnr", "ab_error_curve", "ab_auc", "colorfulness", "bin_colors", "plot_ab_plane",
]
