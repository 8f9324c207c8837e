"""Entraîner et évaluer un réseau de colorisation.

Deux pertes :

- la **régression L2** (la référence de l'article, équation 1) : la moyenne
  des couleurs plausibles, donc des images ternes, gris-brun ;
- l'**entropie croisée multinomiale rééquilibrée** (équations 2 à 4) :
  ``L = -Σ_{h,w} v(Z_{h,w}) Σ_q Z_{h,w,q} log Ẑ_{h,w,q}``, avec ``Z`` l'encodage
  doux de la vraie couleur et ``v`` le poids de rééquilibrage de sa case la
  plus proche.

:func:`train_colorizer` montre l'entraînement en direct dans un notebook
(courbe de perte et colorisations d'images de validation), s'interrompt
proprement (bouton « stop » du noyau) et se reproduit à l'identique sous
``course_lib.seed()``.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Iterable

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..images import resize
from ..plot import LiveCurves, grid
from ..validation import check_images, check_number, check_tensor, describe, unbatch
from .datasets import augment
from .lab import AB_NORM, check_ab, gray_rgb, lightness, merge_lab, split_lab
from .metrics import ab_auc, colorfulness, psnr
from .models import Colorizer
from .quantization import empirical_prior, rebalance_weights, soft_encode_topk

__all__ = ["classification_loss", "regression_loss", "train_colorizer", "colorize", "evaluate"]


def _downsample(ab: torch.Tensor, size) -> torch.Tensor:
    return ab if ab.shape[-2:] == tuple(size) else F.interpolate(ab, size=size, mode="area")


def classification_loss(logits: torch.Tensor, ab: torch.Tensor, bins: torch.Tensor,
                        class_weights: torch.Tensor | None = None, k: int = 5, sigma: float = 5.0) -> torch.Tensor:
    """Entropie croisée multinomiale, avec rééquilibrage des classes.

    Paramètres
    ----------
    logits : torch.Tensor
        ``(B,Q,h,w)``, scores du réseau (avant softmax).
    ab : torch.Tensor
        ``(B,2,H,W)``, vraies couleurs ; moyennées (par zone) à la taille ``h x w``.
    bins : torch.Tensor
        ``(Q,2)``, centres des cases.
    class_weights : torch.Tensor, optionnel
        ``(Q,)``, poids ``w`` de :func:`rebalance_weights` ; tous égaux à 1 sinon.
    k, sigma :
        Encodage doux (:func:`soft_encode`).

    Retourne
    --------
    torch.Tensor
        La perte moyenne par pixel (un scalaire).

    Références
    ----------
    Zhang, Isola, Efros, ECCV 2016, équations 2 et 3.
    """
    check_tensor(logits, "logits", ndim=4, floating=True)
    target, _ = check_ab(ab, "ab")
    if logits.shape[1] != bins.shape[0]:
        raise ValueError(f"« logits » a {logits.shape[1]} canaux mais il y a {bins.shape[0]} cases.")
    target = _downsample(target.to(logits), logits.shape[-2:])
    z, index = soft_encode_topk(target, bins.to(logits), k=k, sigma=sigma)             # (B,k,h,w)
    log_p = torch.log_softmax(logits, dim=1).gather(1, index)
    cross_entropy = -(z * log_p).sum(dim=1)                                            # (B,h,w)
    if class_weights is not None:
        check_tensor(class_weights, "class_weights", ndim=1, floating=True, finite=True)
        cross_entropy = cross_entropy * class_weights.to(logits)[index[:, 0]]          # v(Z) : case la plus proche
    return cross_entropy.mean()


def regression_loss(prediction: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """Perte L2 de l'article, ``½ ‖Y - Ŷ‖²`` par pixel, sur ab normalisés (ab / 110).

    ``prediction`` est la sortie ``(B,2,h,w)`` du réseau (ab / 110) ; ``ab``
    ``(B,2,H,W)`` est ramené à ``h x w``. Zhang et al., ECCV 2016, équation 1.
    """
    check_tensor(prediction, "prediction", ndim=4, floating=True)
    target, _ = check_ab(ab, "ab")
    target = _downsample(target.to(prediction), prediction.shape[-2:]) / AB_NORM
    return 0.5 * (prediction - target).square().sum(dim=1).mean()


# --------------------------------------------------------------------------- prédire et mesurer

def colorize(model: Colorizer, images: torch.Tensor, T: float = 0.38, size: int | None = None) -> torch.Tensor:
    """Colorise des images : garde leur luminosité L*, prédit ab, recompose en sRGB.

    Paramètres
    ----------
    model : Colorizer
    images : torch.Tensor
        ``(B,1,H,W)`` (gris) ou ``(B,3,H,W)`` (seul L* sert), dans [0, 1] ; ou ``(C,H,W)``.
    T : float
        Température de la moyenne recuite (classification).
    size : int, optionnel
        Taille carrée vue par le réseau (256 pour ECCV16, comme le code officiel) ;
        ab est ensuite ramené à la taille d'origine. Par défaut : la taille
        d'origine, complétée par réflexion jusqu'au multiple requis.

    Retourne
    --------
    torch.Tensor
        Images sRGB ``(B,3,H,W)`` dans [0, 1].
    """
    if not isinstance(model, Colorizer):
        raise TypeError(f"L'argument « model » doit être un modèle de colorisation ; reçu : {describe(model)}.")
    batch, single = check_images(images, "images", channels=(1, 3), value_range=(0.0, 1.0))
    device = next(model.parameters()).device
    L = lightness(batch).to(device)
    height, width = L.shape[-2:]
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        if size is not None:
            check_number(size, "size", integer=True, positive=True)
            side = max(model.multiple, size // model.multiple * model.multiple)
            ab = model.predict_ab(resize(L / 100, (side, side)).clamp(0, 1) * 100, T)
        else:
            pad_h, pad_w = -height % model.multiple, -width % model.multiple
            mode = "reflect" if pad_h < height and pad_w < width else "replicate"
            padded = F.pad(L, (0, pad_w, 0, pad_h), mode=mode) if pad_h or pad_w else L
            ab = model.predict_ab(padded, T)[..., :height, :width]
    model.train(was_training)
    return unbatch(merge_lab(L, ab.clamp(-AB_NORM, AB_NORM)).to(batch.device), single)


def evaluate(model: Colorizer | None, images: torch.Tensor, T: float = 0.38, batch_size: int = 64,
             size: int | None = None) -> dict:
    """Mesure une colorisation sur des images sRGB ``(B,3,H,W)`` : PSNR, AuC ab, colorfulness.

    ``model=None`` mesure la **référence grise** (ab = 0). Retourne un
    dictionnaire de moyennes ``{"psnr", "auc", "colorfulness"}`` et les valeurs
    par image (``"psnr_par_image"``...).
    """
    batch, _ = check_images(images, "images", channels=3, value_range=(0.0, 1.0))
    check_number(batch_size, "batch_size", integer=True, positive=True)
    outputs = {"psnr": [], "auc": [], "colorfulness": []}
    for part in batch.split(batch_size):
        result = gray_rgb(part) if model is None else colorize(model, part, T=T, size=size).to(part)
        _, true_ab = split_lab(part)
        _, pred_ab = split_lab(result)
        outputs["psnr"].append(psnr(result, part).clamp(max=100.0))
        outputs["auc"].append(ab_auc(pred_ab, true_ab))
        outputs["colorfulness"].append(colorfulness(result))
    summary = {}
    for name, values in outputs.items():
        values = torch.cat(values).cpu()
        summary[name] = float(values.mean())
        summary[f"{name}_par_image"] = values
    return summary


# --------------------------------------------------------------------------- aperçu en direct

def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


class _Preview:
    """Colorisations d'images de validation, redessinées pendant l'entraînement (dans un notebook)."""

    def __init__(self, images: torch.Tensor, T: float):
        self.images = images
        self.T = T
        self.handle = None

    def update(self, model: Colorizer, step: int) -> None:
        if not _in_notebook():
            return
        from IPython.display import display

        colored = colorize(model, self.images, T=self.T).cpu()
        n = self.images.shape[0]
        pictures = list(gray_rgb(self.images).cpu()) + list(colored) + list(self.images.cpu())
        titles = ["entrée L"] * n + [f"prédiction (it. {step})"] * n + ["vérité"] * n
        fig = grid(pictures, titles=titles, ncols=n, size=1.8)
        plt.close(fig)
        if self.handle is None:
            self.handle = display(fig, display_id=True)
        else:
            self.handle.update(fig)


# --------------------------------------------------------------------------- entraînement

def _batches(source, batch_size: int, augmented: bool, generator: torch.Generator):
    """Lots d'entraînement sans fin : tirages aléatoires dans un tenseur, ou passages répétés sur un itérable."""
    if isinstance(source, torch.Tensor):
        n = source.shape[0]
        while True:
            index = torch.randint(0, n, (min(batch_size, n),), generator=generator)
            batch = source[index.to(source.device)]
            yield augment(batch, seed=int(torch.randint(0, 2**31 - 1, (1,), generator=generator))) \
                if augmented else batch
        return
    while True:
        produced = False
        for batch in (source() if callable(source) else source):
            produced = True
            yield batch
        if not produced:
            raise ValueError("La source d'images d'entraînement est vide.")
        if not callable(source) and iter(source) is source:
            raise ValueError(
                "La source d'images est un itérateur à usage unique et elle est épuisée : passez plutôt une "
                "fonction qui le recrée (par exemple lambda: colorization.folder_batches(...)) ou un nombre "
                "d'itérations plus petit."
            )


def train_colorizer(model: Colorizer, images, steps: int = 200, batch_size: int = 32, lr: float = 1e-3,
                    rebalance: bool = True, lam: float = 0.5, sigma: float = 5.0, k: int = 5,
                    prior: torch.Tensor | None = None, val_images: torch.Tensor | None = None,
                    preview_every: int | None = None, T: float = 0.38, augmented: bool = True, seed: int = 0,
                    progress: bool = True, live: bool = True, num_threads: int | None = None,
                    callback: Callable[[int, float], None] | None = None) -> dict:
    """Entraîne un modèle de colorisation (classification rééquilibrée ou régression L2).

    Paramètres
    ----------
    model : Colorizer
        :class:`SmallColorizer` ou :class:`ECCV16` ; la perte suit ``model.kind``.
    images : torch.Tensor, itérable ou fonction
        Images sRGB ``(N,3,H,W)`` dans [0, 1] (tirées au hasard, augmentées),
        ou un itérable de lots (par exemple :func:`folder_batches`), ou une
        fonction sans argument qui retourne un tel itérable.
    steps, batch_size, lr :
        Itérations, taille des lots, pas d'Adam (β = (0.9, 0.99), comme l'article).
    rebalance, lam, sigma :
        Rééquilibrage des classes (:func:`rebalance_weights`) ; ``rebalance=False``
        donne des poids égaux à 1.
    k, sigma :
        Encodage doux des cibles.
    prior : torch.Tensor, optionnel
        A priori ``(Q,)`` ; sinon estimé sur ``images`` (ou sur 8 lots de l'itérable).
    val_images : torch.Tensor, optionnel
        Images de validation : PSNR et AuC sont mesurés à chaque aperçu, et
        les 4 premières sont colorisées en direct dans le notebook.
    preview_every : int, optionnel
        Période des aperçus (par défaut : 10 aperçus en tout).
    seed : int
        Graine des tirages de lots et des augmentations.
    live : bool
        Courbes et aperçus en direct (dans un notebook seulement).
    num_threads : int, optionnel
        Fils d'exécution du CPU pendant l'entraînement (rétablis à la fin). Sur
        un CPU partagé, 1 fil est souvent le plus rapide pour un petit modèle :
        paralléliser de petites convolutions coûte plus en synchronisation qu'il
        ne rapporte.
    callback : fonction, optionnelle
        Appelée ``callback(step, perte)`` après chaque itération.

    Retourne
    --------
    dict
        L'historique : ``"perte"`` (une valeur par itération), et si
        ``val_images`` est donné, ``"itération_validation"``, ``"psnr"``, ``"auc"``.
        ``"interrompu"`` vaut ``True`` si l'entraînement a été arrêté à la main.
    """
    if not isinstance(model, Colorizer):
        raise TypeError(f"L'argument « model » doit être un modèle de colorisation ; reçu : {describe(model)}.")
    check_number(steps, "steps", integer=True, positive=True)
    check_number(batch_size, "batch_size", integer=True, positive=True)
    check_number(lr, "lr", positive=True)
    if isinstance(images, torch.Tensor):
        check_images(images, "images", channels=3, value_range=(0.0, 1.0))
        if images.ndim != 4:
            raise ValueError(f"« images » doit être un lot (N,3,H,W) ; reçu : {describe(images)}.")
    elif not (callable(images) or isinstance(images, Iterable)):
        raise TypeError("« images » doit être un tenseur, un itérable de lots ou une fonction ; "
                        f"reçu : {describe(images)}.")
    if val_images is not None:
        check_images(val_images, "val_images", channels=3, value_range=(0.0, 1.0))
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(int(seed))
    batches = _batches(images, batch_size, augmented, generator)

    class_weights = None
    if model.kind == "classification":
        bins = model.bins.to(device)
        if rebalance:
            if prior is None:
                sample = images if isinstance(images, torch.Tensor) else list(itertools.islice(batches, 8))
                prior = empirical_prior(sample.to(device) if isinstance(sample, torch.Tensor) else sample,
                                        bins=bins)
            class_weights = rebalance_weights(prior.to(device), lam=lam, sigma=sigma, bins=bins)

    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=lr, betas=(0.9, 0.99))
    history: dict = {"perte": [], "interrompu": False}
    if val_images is not None:
        history.update({"itération_validation": [], "psnr": [], "auc": []})
    every = preview_every or max(1, steps // 10)
    label = "classification" if model.kind == "classification" else "régression L2"
    curves = LiveCurves(["perte"] + (["psnr (validation)"] if val_images is not None else []),
                        title=f"Entraînement ({label})", every=every) if live else None
    preview = _Preview(val_images[:4], T) if (live and val_images is not None) else None

    def validate(step: int) -> None:
        if val_images is None:
            return
        scores = evaluate(model, val_images, T=T)
        history["itération_validation"].append(step)
        history["psnr"].append(scores["psnr"])
        history["auc"].append(scores["auc"])
        if curves is not None:
            curves.history.setdefault("psnr (validation)", []).append((float(step), scores["psnr"]))
        if preview is not None:
            preview.update(model, step)

    previous_threads = torch.get_num_threads()
    if num_threads is not None:
        check_number(num_threads, "num_threads", integer=True, positive=True)
        torch.set_num_threads(num_threads)
    model.train()
    bar = tqdm(range(1, steps + 1), desc="entraînement", disable=not progress, leave=False)
    try:
        for step in bar:
            rgb = next(batches).to(device)
            L, ab = split_lab(rgb)
            scores = model.logits(L)
            if model.kind == "classification":
                loss = classification_loss(scores, ab, bins, class_weights, k=k, sigma=sigma)
            else:
                loss = regression_loss(scores, ab)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            value = float(loss.detach())
            history["perte"].append(value)
            bar.set_postfix(perte=f"{value:.4f}")
            if callback is not None:
                callback(step, value)
            if curves is not None:
                curves.update(step, perte=value)
            if step % every == 0 or step == steps:
                validate(step)
                model.train()
    except KeyboardInterrupt:
        history["interrompu"] = True
        warnings.warn(f"Entraînement interrompu à l'itération {len(history['perte'])} : le modèle garde les poids "
                      "appris jusque-là.", stacklevel=2)
    finally:
        bar.close()
        model.eval()
        torch.set_num_threads(previous_threads)
    if curves is not None:
        curves.draw()
    return history
