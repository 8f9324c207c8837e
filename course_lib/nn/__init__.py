"""Réseaux de neurones pour l'enseignement : couches écrites à la main, pertes, gradients, entraînement.

- :mod:`~course_lib.nn.layers` : :func:`linear` (:math:`y_j = \\sum_i w_{ij} x_i + b_j`), :func:`relu` ;
- :mod:`~course_lib.nn.conv` : :func:`conv2d_loops` (deux boucles, pour lire), :func:`conv2d`
  (« unfold » + produit de matrices, rapide), :func:`max_pool2d` ;
- :mod:`~course_lib.nn.losses` : :func:`softmax`, :func:`log_softmax`, :func:`cross_entropy` (stables,
  par log-sum-exp) et :func:`cross_entropy_grad` ;
- :mod:`~course_lib.nn.gradients` : :func:`numerical_gradient`, :func:`sgd_step`, :func:`zero_grad` ;
- :mod:`~course_lib.nn.descent` : le paysage de perte d'un modèle à deux paramètres et les trajectoires
  de la descente du gradient ;
- :mod:`~course_lib.nn.models` : :class:`SmallCNN`, :func:`receptive_field` ;
- :mod:`~course_lib.nn.training` : :func:`minibatch_sgd` (la boucle minimale), :func:`train` (barre de
  progression, courbes en direct, historique), :func:`evaluate`, :func:`predict` ;
- :mod:`~course_lib.nn.metrics` : :func:`accuracy`, :func:`confusion_matrix` ;
- :mod:`~course_lib.nn.datasets` : chiffres manuscrits, imagettes de textures et de photos, CIFAR-10 (option) ;
- :mod:`~course_lib.nn.imagenet` : un classifieur ImageNet pré-entraîné (ResNet-18), quand ses poids sont là.

Chaque opération écrite à la main est comparée dans les tests à ``torch.nn.functional`` et à autograd.
"""

from .conv import conv2d, conv2d_loops, max_pool2d, output_size
from .datasets import CIFAR10_CLASSES, PATCH_CLASSES, cifar10, digits_split, split, texture_patches
from .descent import critical_learning_rate, descent_path, line_data, line_gradient, line_loss
from .gradients import numerical_gradient, sgd_step, zero_grad
from .imagenet import FRENCH_LABELS, ImageNetClassifier, imagenet_classifier, try_imagenet_classifier
from .layers import linear, relu
from .losses import cross_entropy, cross_entropy_grad, log_softmax, logsumexp, one_hot, softmax
from .metrics import accuracy, confusion_matrix, plot_confusion_matrix
from .models import SmallCNN, receptive_field
from .training import OPTIMIZERS, TrainingHistory, evaluate, minibatch_sgd, predict, train

__all__ = [
    "linear", "relu", "conv2d", "conv2d_loops", "max_pool2d", "output_size",
    "softmax", "log_softmax", "logsumexp", "one_hot", "cross_entropy", "cross_entropy_grad",
    "numerical_gradient", "sgd_step", "zero_grad",
    "line_data", "line_loss", "line_gradient", "critical_learning_rate", "descent_path",
    "SmallCNN", "receptive_field",
    "minibatch_sgd", "train", "evaluate", "predict", "TrainingHistory", "OPTIMIZERS",
    "accuracy", "confusion_matrix", "plot_confusion_matrix",
    "split", "digits_split", "PATCH_CLASSES", "texture_patches", "CIFAR10_CLASSES", "cifar10",
    "FRENCH_LABELS", "ImageNetClassifier", "imagenet_classifier", "try_imagenet_classifier",
]
