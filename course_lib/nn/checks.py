"""Outil des tests cachés du TP2 : interdire les raccourcis de PyTorch appelés comme méthodes de tenseur.

:func:`course_lib.grading.assert_not_reference` reconnaît une fonction interdite
par son objet (``torch.softmax``, ``F.conv2d``...) ; mais ``logits.softmax(1)``
appelle une *méthode liée* différente pour chaque tenseur. On reconnaît donc
ici les fonctions compilées par leur **nom** (``softmax``, ``log_softmax``,
``logsumexp``, ``conv2d``...), quelle que soit la façon de les appeler.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..grading import ReferenceUsedError, traced_call

__all__ = ["SHORTCUTS", "assert_no_shortcut"]

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
