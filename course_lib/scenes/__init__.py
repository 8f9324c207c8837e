"""Complétion de scènes par les données (Hays et Efros 2007) : le premier bloc du cours.

Un module par idée :

- :mod:`~course_lib.scenes.gist` : le descripteur gist (LMgist, LEAR, Hays-Efros), par lots et par FFT ;
- :mod:`~course_lib.scenes.distance` : la distance de scène pondérée par le masque ;
- :mod:`~course_lib.scenes.index` : la base de scènes indexée avec FAISS (exacte ou IVF-PQ), faite de trois
  parties : les moteurs de recherche (:mod:`~course_lib.scenes.engines`), le registre des sources des images
  (:mod:`~course_lib.scenes.sources`) et l'enregistrement (:mod:`~course_lib.scenes.storage`) ;
- :mod:`~course_lib.scenes.streaming` : la construction en flux d'un index depuis un dossier de millions d'images ;
- :mod:`~course_lib.scenes.context` : l'appariement local sur la bande de contexte ;
- :mod:`~course_lib.scenes.seams` : la couture par coupe de graphe (PyMaxflow) ;
- :mod:`~course_lib.scenes.poisson` : le mélange par gradients, exact par DST ;
- :mod:`~course_lib.scenes.completion` : tout l'algorithme, :func:`complete` ;
- :mod:`~course_lib.scenes.diffusion` : le remplissage par diffusion (``cv2.inpaint``), pour comparer.

Références
----------
J. Hays, A. A. Efros, « Scene Completion Using Millions of Photographs », SIGGRAPH 2007.
"""

from .completion import Completion, complete
from .context import SCALES, ContextMatch, context_band, hole_distance, match_context, texture_map
from .diffusion import diffusion_inpaint
from .distance import block_valid_fraction, descriptor_weights, masked_scene_distance, weighted_ssd
from .gist import PRESETS, GistPreset, gabor_transfer, gist, gist_size
from .index import SceneIndex, SearchResult
from .poisson import poisson_blend
from .seams import K_DISTANCE, Seam, graph_cut_seam
from .streaming import FolderBuild, build_from_folder

__all__ = [
    "gist", "gist_size", "gabor_transfer", "GistPreset", "PRESETS",
    "masked_scene_distance", "block_valid_fraction", "descriptor_weights", "weighted_ssd",
    "SceneIndex", "SearchResult", "build_from_folder", "FolderBuild",
    "match_context", "ContextMatch", "context_band", "hole_distance", "texture_map", "SCALES",
    "graph_cut_seam", "Seam", "K_DISTANCE",
    "poisson_blend", "diffusion_inpaint",
    "complete", "Completion",
]
