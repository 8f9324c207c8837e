"""Entraîner un classifieur : la boucle de descente du gradient stochastique, par mini-lots.

On cherche les poids qui minimisent la somme des pertes sur les données,
:math:`L(\\mathbf w) = \\sum_i \\ell(\\mathbf z_i, f(\\mathbf x_i; \\mathbf w))`. Calculer
:math:`\\partial L / \\partial \\mathbf w` sur toutes les données à chaque pas
coûte cher ; la descente *stochastique* l'estime sur un petit lot tiré au
hasard, et fait beaucoup plus de pas pour le même calcul.

- :func:`minibatch_sgd` : la boucle la plus simple, écrite avec les fonctions du
  cours (:func:`~course_lib.nn.cross_entropy`, :func:`~course_lib.nn.sgd_step`) ;
- :func:`train` : la boucle des notebooks, avec un optimiseur de ``torch.optim``,
  une barre de progression, des courbes en direct et l'historique retourné.
"""

from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F

from ..validation import check_choice, check_number, check_tensor, describe
from .gradients import sgd_step, zero_grad
from .losses import cross_entropy

__all__ = ["minibatch_sgd", "train", "evaluate", "predict", "TrainingHistory", "OPTIMIZERS"]

#: Noms d'optimiseurs acceptés par :func:`train`.
OPTIMIZERS = ("sgd", "momentum", "adam")


def _check_data(data, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(f"L'argument « {name} » doit être un couple (images, étiquettes) ; reçu : {describe(data)}.")
    images, labels = data
    check_tensor(images, f"{name}[0]", ndim=4)
    if not images.is_floating_point():
        raise TypeError(f"Les images « {name}[0] » doivent être des réels (float32) ; reçu : {describe(images)}.")
    check_tensor(labels, f"{name}[1]", ndim=1)
    if labels.is_floating_point() or labels.dtype == torch.bool:
        raise TypeError(f"Les étiquettes « {name}[1] » doivent être des entiers ; reçu : {describe(labels)}.")
    if labels.shape[0] != images.shape[0]:
        raise ValueError(f"« {name} » : {images.shape[0]} images mais {labels.shape[0]} étiquettes.")
    if images.shape[0] == 0:
        raise ValueError(f"« {name} » ne contient aucun exemple.")
    return images, labels


def _model_device(model: torch.nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


# --------------------------------------------------------------------------- la boucle minimale

def minibatch_sgd(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, epochs: int,
                  lr: float, batch_size: int, seed: int = 0) -> list[float]:
    """Descente du gradient stochastique par mini-lots, écrite avec les fonctions du cours.

    À chaque époque, les exemples sont mélangés par ``torch.randperm(n, generator=g)``
    (``g = torch.Generator().manual_seed(seed)``, créé une fois) et parcourus par
    lots consécutifs de ``batch_size``. Pour chaque lot : perte moyenne
    (:func:`cross_entropy`), gradients remis à zéro, ``backward()``, puis un pas
    :math:`\\mathbf w \\leftarrow \\mathbf w - \\eta\\, \\partial L / \\partial \\mathbf w` (:func:`sgd_step`).

    Paramètres
    ----------
    model : torch.nn.Module
        Le réseau (il est modifié sur place).
    images, labels : torch.Tensor
        Données ``(N, C, H, W)`` et classes ``(N,)``, sur l'appareil du modèle.
    epochs, batch_size : int
    lr : float
        Taux d'apprentissage :math:`\\eta`.
    seed : int
        Graine du mélange.

    Retourne
    --------
    list[float]
        La perte moyenne de chaque époque (moyenne pondérée par la taille des lots).
    """
    _check_data((images, labels), "(images, labels)")
    check_number(epochs, "epochs", integer=True, positive=True)
    check_number(batch_size, "batch_size", integer=True, positive=True)
    check_number(lr, "lr", positive=True)
    params = list(model.parameters())
    generator = torch.Generator().manual_seed(int(seed))
    n = images.shape[0]
    losses = []
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator).to(images.device)
        total = 0.0
        for start in range(0, n, batch_size):
            batch = order[start:start + batch_size]
            loss = cross_entropy(model(images[batch]), labels[batch])
            zero_grad(params)
            loss.backward()
            sgd_step(params, lr)
            total += loss.item() * batch.numel()
        losses.append(total / n)
    return losses


# --------------------------------------------------------------------------- évaluation

@torch.no_grad()
def predict(model: torch.nn.Module, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Probabilités :math:`p(c|x)` ``(N, C)`` d'un lot d'images, calculées par morceaux, sur l'appareil des images."""
    check_tensor(images, "images", ndim=4, floating=True)
    check_number(batch_size, "batch_size", integer=True, positive=True)
    was_training = model.training
    model.eval()
    device = _model_device(model)
    try:
        chunks = [F.softmax(model(images[k:k + batch_size].to(device)), dim=1).to(images.device)
                  for k in range(0, images.shape[0], batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(chunks)


@torch.no_grad()
def evaluate(model: torch.nn.Module, data, batch_size: int = 512) -> tuple[float, float]:
    """Perte (entropie croisée moyenne) et précision d'un modèle sur ``data = (images, étiquettes)``."""
    images, labels = _check_data(data, "data")
    was_training = model.training
    model.eval()
    device = _model_device(model)
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    try:
        for k in range(0, images.shape[0], batch_size):
            x = images[k:k + batch_size].to(device)
            y = labels[k:k + batch_size].to(device)
            logits = model(x)
            total_loss += F.cross_entropy(logits, y, reduction="sum")
            correct += (logits.argmax(dim=1) == y).sum()
    finally:
        model.train(was_training)
    n = images.shape[0]
    return float(total_loss) / n, float(correct) / n


# --------------------------------------------------------------------------- la boucle des notebooks

class TrainingHistory(dict):
    """L'historique d'un entraînement : ``{nom de la courbe: [valeurs]}``.

    Les clés sont ``"perte/entraînement"``, ``"précision/entraînement"`` et, avec
    des données de validation, ``"perte/validation"`` et ``"précision/validation"``.
    Attributs : ``steps`` (l'itération de chaque mesure), ``epochs`` (la même en
    époques), ``curves`` (l'objet :class:`~course_lib.plot.LiveCurves`),
    ``interrupted`` (vrai si l'entraînement s'est arrêté avant la fin).
    """

    def __init__(self):
        super().__init__()
        self.steps: list[int] = []
        self.epochs: list[float] = []
        self.curves = None
        self.interrupted = False


def _optimizer(optimizer, model, lr, momentum, weight_decay):
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    if callable(optimizer) and not isinstance(optimizer, str):
        return optimizer(model.parameters())
    check_choice(optimizer, "optimizer", OPTIMIZERS)
    if optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    return torch.optim.SGD(model.parameters(), lr=lr, weight_decay=weight_decay,
                           momentum=momentum if optimizer == "momentum" else 0.0)


def train(model: torch.nn.Module, train_data, val_data=None, epochs: int | None = None, lr: float = 0.05,
          optimizer="sgd", device=None, batch_size: int | None = None, momentum: float = 0.9,
          weight_decay: float = 0.0, seed: int = 0, evals_per_epoch: int = 4, live: bool = True,
          progress: bool = True, title: str | None = None) -> TrainingHistory:
    """Entraîne un classifieur par mini-lots, avec barre de progression et courbes en direct.

    Paramètres
    ----------
    model : torch.nn.Module
        Le réseau ; il est déplacé sur ``device`` et modifié sur place.
    train_data, val_data : couple ``(images (N,C,H,W), étiquettes (N,))``
        Données d'entraînement et, optionnellement, de validation.
    epochs : int, optionnel
        Nombre d'époques (par défaut celui du profil, ``course_lib.profile().epochs``).
    lr : float
        Taux d'apprentissage :math:`\\eta`.
    optimizer : str, torch.optim.Optimizer ou callable
        ``"sgd"`` (la descente du gradient du cours), ``"momentum"``, ``"adam"``, un
        optimiseur déjà construit, ou une fonction ``params -> optimiseur``.
    device : torch.device ou str, optionnel
        Appareil du calcul (par défaut ``course_lib.device()``) ; les lots y sont copiés un à un.
    batch_size : int, optionnel
        Taille des lots (par défaut celle du profil).
    momentum, weight_decay : float
        Inertie (pour ``"momentum"``) et pénalité L2.
    seed : int
        Graine du mélange des exemples.
    evals_per_epoch : int
        Nombre de mesures (perte, précision, validation) par époque, pour les courbes.
    live : bool
        Dessiner les courbes en direct dans un notebook (:class:`~course_lib.plot.LiveCurves`).
    progress : bool
        Afficher une barre de progression (``tqdm``).
    title : str, optionnel
        Titre des courbes.

    Retourne
    --------
    TrainingHistory
        Les courbes mesurées (un dictionnaire), avec les itérations correspondantes.
        Une interruption (Ctrl-C, bouton « stop ») ou une perte qui diverge arrête
        proprement l'entraînement avec un avertissement, et l'historique est retourné.

    Références
    ----------
    Bottou, L. (2010). Large-scale machine learning with stochastic gradient descent. *COMPSTAT*, éq. (3).
    """
    from tqdm.auto import tqdm

    from ..device import device as default_device
    from ..device import profile
    from ..plot import LiveCurves

    images, labels = _check_data(train_data, "train_data")
    if val_data is not None:
        _check_data(val_data, "val_data")
    prof = profile()
    epochs = prof.epochs if epochs is None else epochs
    batch_size = prof.batch_size if batch_size is None else batch_size
    check_number(epochs, "epochs", integer=True, positive=True)
    check_number(batch_size, "batch_size", integer=True, positive=True)
    check_number(lr, "lr", positive=True)
    check_number(evals_per_epoch, "evals_per_epoch", integer=True, positive=True)
    device = torch.device(device) if device is not None else default_device()
    model.to(device)
    opt = _optimizer(optimizer, model, lr, momentum, weight_decay)

    n = images.shape[0]
    per_epoch = math.ceil(n / batch_size)
    # les mesures, régulièrement espacées dans chaque époque ; la dernière à la fin de l'époque
    count = min(evals_per_epoch, per_epoch)
    marks = {round(k * per_epoch / count) for k in range(1, count + 1)}
    names = ["perte/entraînement", "précision/entraînement"]
    if val_data is not None:
        names += ["perte/validation", "précision/validation"]
    history = TrainingHistory()
    for name in names:
        history[name] = []
    curves = LiveCurves(names, title=title) if live else None
    history.curves = curves
    generator = torch.Generator().manual_seed(int(seed))
    running = {"loss": torch.zeros((), device=device), "correct": torch.zeros((), device=device), "count": 0}
    bar = tqdm(total=epochs * per_epoch, desc="Entraînement", unit="lot", disable=not progress)

    def record(step: int) -> bool:
        """Mesure la perte et la précision depuis la dernière mesure (et la validation) ; faux si NaN."""
        count = max(running["count"], 1)
        values = {"perte/entraînement": float(running["loss"]) / count,
                  "précision/entraînement": float(running["correct"]) / count}
        running.update(loss=torch.zeros((), device=device), correct=torch.zeros((), device=device), count=0)
        if not math.isfinite(values["perte/entraînement"]):
            return False
        if val_data is not None:
            values["perte/validation"], values["précision/validation"] = evaluate(model, val_data)
        for name, value in values.items():
            history[name].append(value)
        history.steps.append(step)
        history.epochs.append(step / per_epoch)
        if curves is not None:
            curves.update(step, values)
        bar.set_postfix({k.replace("/", " "): f"{v:.3f}" for k, v in values.items()
                         if "validation" in k or k == "perte/entraînement"})
        return True

    step = 0
    model.train()
    try:
        for _ in range(epochs):
            order = torch.randperm(n, generator=generator)
            for start in range(0, n, batch_size):
                batch = order[start:start + batch_size].to(images.device)
                x, y = images[batch].to(device), labels[batch].to(device)
                logits = model(x)
                loss = F.cross_entropy(logits, y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                running["loss"] += loss.detach() * y.shape[0]
                running["correct"] += (logits.detach().argmax(dim=1) == y).sum()
                running["count"] += y.shape[0]
                step += 1
                bar.update(1)
                if (step - 1) % per_epoch + 1 in marks:
                    if not record(step):
                        history.interrupted = True
                        warnings.warn(
                            f"La perte a divergé (NaN ou infini) à l'itération {step} : l'entraînement s'arrête. "
                            f"Réduisez le taux d'apprentissage (lr={lr:g}).", RuntimeWarning, stacklevel=2)
                        return history
    except KeyboardInterrupt:
        history.interrupted = True
        warnings.warn(f"Entraînement interrompu à l'itération {step} sur {epochs * per_epoch} ; "
                      "l'historique jusque-là est retourné.", RuntimeWarning, stacklevel=2)
    finally:
        bar.close()
        model.eval()
    return history
