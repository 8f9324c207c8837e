"""Synthèse de texture : des méthodes non paramétriques aux réseaux autorégressifs et aux CNN.

- :mod:`~course_lib.texture.efros_leung` : Efros et Leung (1999), la texture comme modèle de
  :math:`P(p \\mid N(p))`, échantillonné pixel par pixel dans l'exemple ;
- :mod:`~course_lib.texture.quilting` : Efros et Freeman (2001), le « quilting » par blocs avec la
  coupure de frontière d'erreur minimale ;
- :mod:`~course_lib.texture.pixelcnn` : van den Oord et al. (2016), un réseau à convolutions masquées
  qui apprend :math:`P(p_i \\mid p_1, \\dots, p_{i-1})` ;
- :mod:`~course_lib.texture.gatys` : Gatys, Ecker et Bethge (2015), la texture décrite par les matrices
  de Gram des caractéristiques d'un CNN, synthétisée par optimisation des pixels.

Les sous-modules se chargent à la demande (``course_lib.texture.efros_leung`` ou
``from course_lib.texture import efros_leung``).
"""

import importlib
from pathlib import Path


def __getattr__(name):
    # Tout fichier ``<nom>.py`` de ce dossier est un sous-module chargé au premier accès.
    if not name.startswith("_") and (Path(__file__).parent / f"{name}.py").is_file():
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'course_lib.texture' has no attribute {name!r}")
