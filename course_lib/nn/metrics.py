"""Mesurer un classifieur : précision et matrice de confusion."""

from __future__ import annotations

import torch

from ..validation import check_number, check_tensor, describe

__all__ = ["accuracy", "confusion_matrix", "plot_confusion_matrix"]


def _labels(value, name: str) -> torch.Tensor:
    check_tensor(value, name, ndim=1)
    if value.is_floating_point() or value.dtype == torch.bool:
        raise TypeError(f"L'argument « {name} » doit contenir des classes entières ; reçu : {describe(value)}.")
    return value


def accuracy(logits_or_predictions: torch.Tensor, labels: torch.Tensor) -> float:
    """Proportion de bonnes réponses ; accepte des scores ``(B, C)`` ou des classes prédites ``(B,)``."""
    labels = _labels(labels, "labels")
    predictions = logits_or_predictions
    if isinstance(predictions, torch.Tensor) and predictions.ndim == 2:
        predictions = predictions.argmax(dim=1)
    predictions = _labels(predictions, "logits_or_predictions")
    if predictions.shape != labels.shape:
        raise ValueError(f"Prédictions {tuple(predictions.shape)} et étiquettes {tuple(labels.shape)} "
                         "doivent avoir la même longueur.")
    return float((predictions == labels.to(predictions.device)).float().mean()) if labels.numel() else 0.0


def confusion_matrix(labels: torch.Tensor, predictions: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Matrice de confusion ``(n_classes, n_classes)`` : ligne = vraie classe, colonne = classe prédite.

    Calculée d'un coup par ``bincount`` sur l'indice ``vraie * n_classes + prédite``.
    """
    labels = _labels(labels, "labels")
    predictions = _labels(predictions, "predictions")
    check_number(n_classes, "n_classes", integer=True, positive=True)
    if predictions.shape != labels.shape:
        raise ValueError(f"« predictions » {tuple(predictions.shape)} et « labels » {tuple(labels.shape)} "
                         "doivent avoir la même longueur.")
    for values, name in ((labels, "labels"), (predictions, "predictions")):
        if values.numel() and (int(values.min()) < 0 or int(values.max()) >= n_classes):
            raise ValueError(f"Les classes de « {name} » doivent être entre 0 et {n_classes - 1}.")
    index = labels.long() * n_classes + predictions.long().to(labels.device)
    return torch.bincount(index, minlength=n_classes * n_classes).view(n_classes, n_classes)


def plot_confusion_matrix(matrix: torch.Tensor, class_names=None, title: str | None = None, ax=None,
                          normalize: bool = True):
    """Affiche une matrice de confusion (normalisée par ligne : la part de chaque vraie classe).

    Retourne l'objet ``Axes`` de matplotlib.
    """
    import matplotlib.pyplot as plt

    check_tensor(matrix, "matrix", ndim=2)
    counts = matrix.detach().to("cpu", torch.float64)
    n = counts.shape[0]
    names = [str(c) for c in (class_names if class_names is not None else range(n))]
    if len(names) != n:
        raise ValueError(f"« class_names » doit avoir {n} noms ; reçu : {len(names)}.")
    shown = counts / counts.sum(dim=1, keepdim=True).clamp_min(1) if normalize else counts
    if ax is None:
        _, ax = plt.subplots(figsize=(0.5 * n + 2.5, 0.5 * n + 2))
    image = ax.imshow(shown.numpy(), cmap="Blues", vmin=0, vmax=1 if normalize else None)
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(n), names, rotation=60, ha="right")
    ax.set_yticks(range(n), names)
    ax.set_xlabel("classe prédite")
    ax.set_ylabel("vraie classe")
    if n <= 15:
        for i in range(n):
            for j in range(n):
                value = shown[i, j].item()
                if value > 0:
                    text = f"{value:.2f}" if normalize else f"{int(value)}"
                    ax.text(j, i, text, ha="center", va="center", fontsize=7,
                            color="white" if value > 0.6 * float(shown.max()) else "black")
    total = counts.sum().clamp_min(1)
    ax.set_title(title or f"précision : {counts.trace() / total:.1%}")
    return ax
