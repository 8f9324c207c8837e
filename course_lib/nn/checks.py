"""Outils des tests cachés du TP2 : raccourcis interdits et calcul vectorisé.

- :data:`SHORTCUTS` : les fonctions compilées de PyTorch qui feraient le travail demandé, par
  fonction à écrire ; :func:`course_lib.grading.assert_not_reference` reconnaît une fonction interdite
  par son objet (``torch.softmax``, ``F.conv2d``...), mais ``logits.softmax(1)`` appelle une *méthode
  liée* différente pour chaque tenseur : :func:`assert_no_shortcut` les reconnaît donc par leur **nom** ;
- :func:`assert_vectorised` : une fonction vectorisée fait le même nombre d'appels Python quelle que
  soit la taille de l'image ; une boucle sur les pixels en fait de plus en plus.

Les fonctions sont celles de :mod:`course_lib.grading` (traçage de tous les fils) ; la table est
immuable.
"""

from __future__ import annotations

from types import MappingProxyType

from ..grading import assert_no_shortcut, assert_vectorised, count_calls

__all__ = ["SHORTCUTS", "assert_no_shortcut", "count_calls", "assert_vectorised"]

#: Les raccourcis de PyTorch qui font le travail demandé dans le TP2, par fonction à écrire (immuable).
SHORTCUTS = MappingProxyType({
    "conv2d": ("conv2d", "convolution", "_convolution", "conv_tbc", "cudnn_convolution", "conv1d", "conv3d",
               "mkldnn_convolution", "_conv_depthwise2d", "thnn_conv2d", "slow_conv2d"),
    "softmax": ("softmax", "_softmax", "log_softmax", "_log_softmax", "special_softmax", "special_log_softmax"),
    "cross_entropy": ("cross_entropy_loss", "nll_loss", "nll_loss_nd", "nll_loss2d", "log_softmax", "_log_softmax",
                      "logsumexp", "softmax", "_softmax", "special_logsumexp", "special_softmax",
                      "special_log_softmax"),
})
