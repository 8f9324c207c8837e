"""Outils des tests cachés du TP2 : raccourcis interdits et calcul vectorisé.

- :data:`SHORTCUTS` : les fonctions compilées de PyTorch qui feraient le travail demandé, par
  fonction à écrire ; :func:`course_lib.grading.assert_not_reference` reconnaît une fonction interdite
  par son objet (``torch.softmax``, ``F.conv2d``...), mais ``logits.softmax(1)`` appelle une *méthode
  liée* différente pour chaque tenseur : :func:`assert_no_shortcut` les reconnaît donc par leur **nom** ;
- :func:`assert_vectorised` : une fonction vectorisée fait le même nombre d'appels Python quelle que
  soit la taille de l'image ; une boucle sur les pixels en fait de plus en plus.

Tout vient de :mod:`course_lib.grading` (traçage de tous les fils, table immuable, protégée contre
le remplacement) : les tests cachés utilisent ``grading.SHORTCUTS``.
"""

from __future__ import annotations

from ..grading import SHORTCUTS, assert_no_shortcut, assert_vectorised, count_calls

__all__ = ["SHORTCUTS", "assert_no_shortcut", "count_calls", "assert_vectorised"]
