"""course_lib : la bibliothèque du cours « Génération d'images par apprentissage profond ».

Les notebooks du cours appellent ces implémentations complètes, en PyTorch,
qui tournent sur un GPU quand il y en a un et sur le CPU sinon.

>>> import course_lib
>>> course_lib.device()          # doctest: +SKIP
device(type='cpu')
>>> course_lib.profile().name    # doctest: +SKIP
'cpu'
"""

import importlib
from importlib.metadata import PackageNotFoundError, version

from .device import PROFILES, Profile, device, environment_summary, profile, seed

try:
    __version__ = version("course-lib")
except PackageNotFoundError:  # copie de travail non installée
    __version__ = "0.1.0"

__all__ = ["device", "profile", "seed", "environment_summary", "Profile", "PROFILES", "__version__"]

# Sous-modules chargés à la demande : « import course_lib » reste rapide.
_SUBMODULES = {
    "images", "filters", "data", "plot", "grading", "validation",
    "scenes", "nn", "texture", "features", "colorization", "style",
}


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'course_lib' has no attribute {name!r}")
