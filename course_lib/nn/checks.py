"""Outils des tests cachés du TP2 : raccourcis interdits et calcul vectorisé.

- :func:`assert_no_shortcut` : :func:`course_lib.grading.assert_not_reference`
  reconnaît une fonction interdite par son objet (``torch.softmax``, ``F.conv2d``...) ;
  mais ``logits.softmax(1)`` appelle une *méthode liée* différente pour chaque
  tenseur. On reconnaît donc ici les fonctions compilées par leur **nom**
  (``softmax``, ``log_softmax``, ``logsumexp``, ``conv2d``...), quelle que soit
  la façon de les appeler ;
- :func:`assert_vectorised` : une fonction vectorisée fait le même nombre
  d'appels Python quelle que soit la taille de l'image ; une boucle sur les
  pixels en fait de plus en plus.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable

from ..grading import ReferenceUsedError, traced_call

__all__ = ["SHORTCUTS", "assert_no_shortcut", "count_calls", "assert_vectorised"]

#: Les raccourcis de PyTorch qui font le travail demandé dans le TP2, par fonction à écrire.
SHORTCUTS = {
    "conv2d": ("conv2d", "convolution", "_convolution", "conv_tbc", "cudnn_convolution"),
    "softmax": ("softmax", "_softmax", "log_softmax", "_log_softmax", "special_softmax"),
    "cross_entropy": ("cross_entropy_loss", "nll_loss", "nll_loss_nd", "log_softmax", "_log_softmax",
                      "logsumexp", "softmax", "_softmax", "special_logsumexp"),
}


def assert_no_shortcut(func: Callable, names: Iterable[str], *args, **kwargs):
    """Exécute ``func(*args, **kwargs)`` et échoue si une fonction compilée de nom interdit a été appelée.

    Paramètres
    ----------
    func : callable
        La fonction de l'étudiant.
    names : itérable de str
        Noms interdits (par exemple ``SHORTCUTS["softmax"]``).

    Retourne
    --------
    Le résultat de ``func``.
    """
    forbidden = set(names)
    result, _, builtins = traced_call(func, *args, **kwargs)
    used = sorted({getattr(b, "__name__", "") for b in builtins} & forbidden)
    if used:
        student = getattr(func, "__name__", "votre fonction")
        raise ReferenceUsedError(
            f"« {student} » appelle {', '.join(used)} de PyTorch, qui fait le calcul demandé à votre place "
            "(par exemple x.softmax(...) ou torch.logsumexp). Écrivez ce calcul vous-même avec des opérations "
            "élémentaires (exp, log, max, sum, matmul...)."
        )
    return result


def count_calls(func: Callable, *args, **kwargs) -> int:
    """Nombre d'appels de fonctions (Python et compilées) pendant ``func(*args, **kwargs)``."""
    count = [0]

    def profiler(frame, event, arg):
        if event in ("call", "c_call"):
            count[0] += 1

    previous = sys.getprofile()
    sys.setprofile(profiler)
    try:
        func(*args, **kwargs)
    finally:
        sys.setprofile(previous)
    return count[0]


def assert_vectorised(func: Callable, small: tuple, large: tuple, slack: int = 30) -> None:
    """Échoue si ``func`` fait nettement plus d'appels sur les arguments ``large`` que sur ``small``.

    Une implémentation vectorisée (``unfold``, ``einsum``, produit de matrices, ou une
    boucle sur les seuls décalages du noyau) fait le même travail Python pour une
    image 8×8 ou 32×32 ; une boucle sur les pixels de sortie en fait 16 fois plus.
    """
    n_small, n_large = count_calls(func, *small), count_calls(func, *large)
    if n_large > n_small + slack:
        student = getattr(func, "__name__", "votre fonction")
        raise AssertionError(
            f"« {student} » fait {n_large} appels de fonctions sur une grande image contre {n_small} sur une petite : "
            "elle boucle sur les pixels. Vectorisez-la : découpez toutes les fenêtres d'un coup (unfold) et "
            "faites un seul produit de matrices (ou une boucle sur les seuls décalages du noyau)."
        )
