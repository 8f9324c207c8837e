"""Synthèse de texture par CNN (Gatys, Ecker et Bethge 2015).

Une texture est décrite par les **matrices de Gram** des activations de
quelques couches d'un CNN : pour la couche :math:`l`, à :math:`N_l` canaux et
:math:`M_l = H_l W_l` positions, les activations forment une matrice
:math:`F^l \\in \\mathbb{R}^{N_l \\times M_l}` et

.. math:: \\hat G^l_{ij} = \\frac{1}{M_l} \\sum_k F^l_{ik} F^l_{jk}

est la corrélation moyenne des canaux :math:`i` et :math:`j` (la somme de
l'article, divisée par :math:`M_l` pour pouvoir comparer des images de tailles
différentes). Elle oublie *où* se trouvent les motifs et garde *lesquels*
apparaissent ensemble. La synthèse part d'un bruit et le modifie par
descente de gradient (L-BFGS ou Adam) jusqu'à ce que ses matrices de Gram
égalent celles de l'échantillon :

.. math:: \\mathcal{L} = \\sum_l w_l E_l, \\qquad
          E_l = \\frac{1}{4 N_l^2} \\sum_{i,j} \\big(\\hat G^l_{ij} - G^l_{ij}\\big)^2
              = \\frac{1}{4 N_l^2 M_l^2} \\sum_{i,j} \\big(\\hat G^l_{ij} M_l - G^l_{ij} M_l\\big)^2,

exactement les équations (3) à (5) de l'article, avec les couches ``conv1_1``,
``pool1``, ``pool2``, ``pool3`` et ``pool4`` et des poids :math:`w_l = 1`.

Dans le code Caffe des auteurs, la ReLU écrit en place dans le résultat de la
convolution : leur « conv1_1 » est donc la sortie *redressée*, notre ``relu1_1``
(voir :mod:`course_lib.features`).

Références
----------
L. A. Gatys, A. S. Ecker et M. Bethge, « Texture Synthesis Using Convolutional
Neural Networks », NIPS 2015, équations (1) à (5).
D. C. Liu et J. Nocedal, « On the limited memory BFGS method for large scale
optimization », Mathematical Programming 45, 1989 (L-BFGS).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch

from ..validation import check_choice, check_images, check_number, check_size, check_tensor, describe, unbatch

__all__ = [
    "TEXTURE_LAYERS", "gram_matrix", "gram_loss", "texture_targets", "texture_loss", "TextureLoss",
    "History", "optimize_image", "synthesize_texture", "match_histograms",
]

#: Les couches de Gatys et al. (2015) : « conv1_1 » (redressée) et pool1 à pool4.
TEXTURE_LAYERS = ("relu1_1", "pool1", "pool2", "pool3", "pool4")


# --------------------------------------------------------------------------- matrice de Gram et pertes

def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Matrice de Gram normalisée des activations d'une couche.

    .. math:: \\hat G_{ij} = \\frac{1}{M} \\sum_{k=1}^{M} F_{ik} F_{jk}, \\qquad M = H W.

    Paramètres
    ----------
    features : torch.Tensor
        Activations ``(B, N, H, W)`` (ou ``(N, H, W)``).

    Retourne
    --------
    torch.Tensor
        ``(B, N, N)`` (ou ``(N, N)``), symétrique, semi-définie positive.

    Références
    ----------
    Gatys et al. 2015, équation (1) (divisée par :math:`M_l`).
    """
    check_tensor(features, "features", ndim=(3, 4), floating=True)
    single = features.ndim == 3
    batch = features.unsqueeze(0) if single else features
    flat = batch.flatten(2)                                   # (B, N, M)
    gram = torch.bmm(flat, flat.transpose(1, 2)) / flat.shape[-1]
    return gram[0] if single else gram


def gram_loss(gram: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Terme d'une couche : :math:`E_l = \\frac{1}{4 N_l^2} \\sum_{i,j} (\\hat G_{ij} - G_{ij})^2`, sommé sur le lot.

    ``gram`` : ``(B, N, N)`` ; ``target`` : ``(N, N)``, ``(1, N, N)`` ou ``(B, N, N)``.
    """
    n = gram.shape[-1]
    if target.shape[-2:] != (n, n):
        raise ValueError(f"La matrice de Gram visée doit être ({n}, {n}) comme celle de l'image ; "
                         f"reçu : {describe(target)}.")
    return ((gram - target) ** 2).sum() / (4 * n ** 2)


def _layer_weights(layers, weights) -> dict[str, float]:
    if weights is None:
        return dict.fromkeys(layers, 1.0)
    if isinstance(weights, Mapping):
        missing = [name for name in layers if name not in weights]
        if missing:
            raise ValueError(f"L'argument « weights » doit donner un poids pour chaque couche ; il manque : "
                             f"{', '.join(missing)}.")
        values = {name: weights[name] for name in layers}
    else:
        values = list(weights) if not isinstance(weights, (int, float)) else [weights] * len(layers)
        if len(values) != len(layers):
            raise ValueError(f"L'argument « weights » doit avoir un poids par couche ({len(layers)}) ; "
                             f"reçu : {describe(weights)}.")
        values = dict(zip(layers, values))
    for name, value in values.items():
        check_number(value, f"weights[{name!r}]", nonnegative=True)
    return {name: float(value) for name, value in values.items()}


@torch.no_grad()
def texture_targets(features: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Les matrices de Gram ``{couche: (B, N, N)}`` des activations d'un échantillon (sans gradient)."""
    return {name: gram_matrix(value) for name, value in features.items()}


def texture_loss(features: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor],
                 weights=None) -> torch.Tensor:
    """Perte de texture :math:`\\sum_l w_l E_l` (Gatys et al. 2015, équations (4) et (5)).

    Paramètres
    ----------
    features : dict
        Activations ``{couche: (B, N_l, H_l, W_l)}`` de l'image synthétisée.
    targets : dict
        Matrices de Gram visées ``{couche: (N_l, N_l) ou (B, N_l, N_l)}``.
    weights : dict, liste ou nombre, optionnel
        Poids :math:`w_l` (1 par défaut, comme l'article).
    """
    layers = list(targets)
    missing = [name for name in layers if name not in features]
    if missing:
        raise ValueError(f"Il manque les activations des couches {', '.join(missing)} dans « features ».")
    w = _layer_weights(layers, weights)
    return sum(w[name] * gram_loss(gram_matrix(features[name]), targets[name]) for name in layers)


class TextureLoss(torch.nn.Module):
    """La perte de texture d'un échantillon, avec ses matrices de Gram calculées **une fois**.

    ``loss(images)`` évalue le réseau (tronqué à la couche la plus profonde) sur
    ``images`` et retourne :math:`\\sum_l w_l E_l`.
    """

    def __init__(self, net, sample: torch.Tensor, layers=TEXTURE_LAYERS, weights=None):
        super().__init__()
        self.net = net
        self.layers = tuple(layers)
        self.weights = _layer_weights(self.layers, weights)
        with torch.no_grad():
            self.targets = texture_targets(_features(net, sample, self.layers))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return texture_loss(_features(net=self.net, images=images, layers=self.layers), self.targets, self.weights)


def _features(net, images: torch.Tensor, layers) -> dict[str, torch.Tensor]:
    extract = getattr(net, "extract", None)
    if extract is not None:
        return extract(images, set(layers))
    return net(images, layers)


# --------------------------------------------------------------------------- optimisation

@dataclass
class History:
    """Déroulement d'une optimisation.

    Attributs
    ---------
    losses : list de float
        La perte à chaque évaluation.
    parts : dict
        Les termes de la perte à chaque évaluation (``{"style": [...], "contenu": [...]}``), s'il y en a.
    snapshots : list de (int, torch.Tensor)
        Images intermédiaires ``(numéro d'évaluation, image)``.
    interrupted : bool
        ``True`` si l'utilisateur a interrompu le calcul (le résultat est alors l'image courante).
    """

    losses: list = field(default_factory=list)
    parts: dict = field(default_factory=dict)
    snapshots: list = field(default_factory=list)
    interrupted: bool = False


def optimize_image(loss_fn: Callable[[torch.Tensor], torch.Tensor], init: torch.Tensor, steps: int,
                   method: str = "lbfgs", lr: float | None = None, snapshot_every: int | None = None,
                   progress: bool = True, description: str = "optimisation",
                   history: History | None = None) -> tuple[torch.Tensor, History]:
    """Optimise les pixels d'une image pour minimiser ``loss_fn``.

    Paramètres
    ----------
    loss_fn : callable
        ``loss_fn(image) -> tenseur scalaire``. Peut retourner un couple
        ``(perte, {nom: terme})`` pour suivre les termes de la perte.
    init : torch.Tensor
        Image de départ ``(B,C,H,W)`` (elle n'est pas modifiée).
    steps : int
        Itérations : pas d'Adam, ou itérations de L-BFGS (chacune peut évaluer
        la perte plusieurs fois pendant la recherche linéaire ; au plus
        ``1.25 x steps`` évaluations au total).
    method : str
        ``"lbfgs"`` (celui de Gatys et al.) ou ``"adam"``.
    lr : float, optionnel
        Pas d'Adam (0.02 par défaut, pixels dans [0, 1]) ou de L-BFGS (1).
    snapshot_every : int, optionnel
        Garde une image intermédiaire toutes les ``snapshot_every`` évaluations.
    progress : bool
        Barre de progression ``tqdm``.

    Retourne
    --------
    (torch.Tensor, History)
        L'image finale, ramenée dans [0, 1], et le déroulement.

    Notes
    -----
    Adam ramène les pixels dans [0, 1] après chaque pas. L-BFGS optimise sans
    contrainte (le modèle quasi-Newton suppose une fonction lisse) et l'image
    n'est ramenée dans [0, 1] qu'à la fin. Une interruption (Ctrl+C, bouton
    « stop » de Jupyter) arrête proprement et retourne l'image courante.
    """
    from tqdm.auto import tqdm

    check_tensor(init, "init", ndim=4, floating=True, finite=True)
    check_number(steps, "steps", integer=True, nonnegative=True)
    check_choice(method, "method", ("lbfgs", "adam"))
    if lr is not None:
        check_number(lr, "lr", positive=True)
    if snapshot_every is not None:
        check_number(snapshot_every, "snapshot_every", integer=True, positive=True)
    history = history if history is not None else History()
    x = init.detach().clone().requires_grad_(True)
    max_evals = steps if method == "adam" else steps * 5 // 4
    bar = tqdm(total=max_evals, desc=description, disable=not progress, leave=False)

    def evaluate():
        value = loss_fn(x)
        parts = {}
        if isinstance(value, tuple):
            value, parts = value
        value.backward()
        history.losses.append(float(value.detach()))
        for name, part in parts.items():
            history.parts.setdefault(name, []).append(float(part))
        count = len(history.losses)
        if snapshot_every and count % snapshot_every == 0:
            history.snapshots.append((count, x.detach().clamp(0, 1).clone()))
        bar.update(1)
        bar.set_postfix(perte=f"{history.losses[-1]:.4g}")
        return value

    try:
        if method == "adam":
            optimizer = torch.optim.Adam([x], lr=0.02 if lr is None else lr)
            for _ in range(steps):
                optimizer.zero_grad(set_to_none=True)
                evaluate()
                optimizer.step()
                with torch.no_grad():
                    x.clamp_(0.0, 1.0)
        elif steps > 0:
            optimizer = torch.optim.LBFGS([x], lr=1.0 if lr is None else lr, max_iter=steps, max_eval=max_evals,
                                          tolerance_grad=0.0, tolerance_change=0.0, history_size=50,
                                          line_search_fn="strong_wolfe")

            def closure():
                optimizer.zero_grad(set_to_none=True)
                return evaluate()

            optimizer.step(closure)
    except KeyboardInterrupt:
        history.interrupted = True
        warnings.warn(f"{description} interrompue après {len(history.losses)} évaluations : "
                      "le résultat est l'image courante.", stacklevel=2)
    finally:
        bar.close()
    return x.detach().clamp(0.0, 1.0), history


# --------------------------------------------------------------------------- synthèse de texture

def synthesize_texture(sample: torch.Tensor, size=None, steps: int | None = None, *, layers=TEXTURE_LAYERS,
                       weights=None, method: str = "lbfgs", lr: float | None = None, init: torch.Tensor | None = None,
                       histogram_matching: bool = False, net=None, snapshot_every: int | None = None,
                       progress: bool = True, return_history: bool = False):
    """Synthétise une texture qui a les statistiques CNN d'un échantillon (Gatys et al. 2015).

    Paramètres
    ----------
    sample : torch.Tensor
        L'échantillon ``(C,H,W)`` ou un lot ``(B,C,H,W)`` dans [0, 1], C = 1 ou 3.
    size : int ou (int, int), optionnel
        Taille de la texture produite (celle de l'échantillon par défaut). Les
        matrices de Gram étant normalisées par :math:`M_l`, elle peut différer
        de celle de l'échantillon.
    steps : int, optionnel
        Itérations (``course_lib.profile().steps`` par défaut).
    layers : liste de str
        Couches de la perte (par défaut :data:`TEXTURE_LAYERS`) ; les plus
        profondes capturent les structures les plus grandes.
    weights : optionnel
        Poids :math:`w_l` des couches (1 par défaut).
    method : str
        ``"lbfgs"`` ou ``"adam"`` (voir :func:`optimize_image`).
    lr : float, optionnel
        Pas de l'optimiseur.
    init : torch.Tensor, optionnel
        Image de départ ; par défaut un bruit blanc uniforme (tiré du générateur
        global : reproductible avec :func:`course_lib.seed`).
    histogram_matching : bool
        Égalise à la fin l'histogramme de chaque canal sur celui de
        l'échantillon (:func:`match_histograms`), comme le code des auteurs.
    net : optionnel
        Extracteur de caractéristiques (:func:`course_lib.features.vgg19` par
        défaut, avec mise en commun par moyenne) ; ``net(images, layers)``
        doit retourner ``{couche: activations}``.
    snapshot_every : int, optionnel
        Garde une image intermédiaire toutes les ``snapshot_every`` évaluations.
    progress : bool
        Barre de progression.
    return_history : bool
        Retourne aussi le :class:`History` (pertes, images intermédiaires).

    Retourne
    --------
    torch.Tensor
        La texture, même nombre de canaux et de dimensions que ``sample``
        (et l'historique si ``return_history``).

    Références
    ----------
    Gatys et al. 2015, section 2 et équations (4) et (5).
    """
    from ..device import profile
    from ..features import vgg19

    batch, single = check_images(sample, "sample", channels=(1, 3), value_range=(0.0, 1.0), min_size=16)
    height, width = batch.shape[-2:] if size is None else check_size(size, "size")
    if min(height, width) < 16:
        raise ValueError(f"L'argument « size » doit valoir au moins 16 pixels ; reçu : {(height, width)}.")
    steps = profile().steps if steps is None else check_number(steps, "steps", integer=True, nonnegative=True)
    layers = _check_layers(layers, net)
    if net is None:
        net = vgg19(layers, pooling="avg", device=batch.device)
    shape = (batch.shape[0], batch.shape[1], height, width)
    if init is None:
        x0 = torch.rand(shape, device=batch.device)
    else:
        x0, _ = check_images(init, "init", value_range=(0.0, 1.0))
        if tuple(x0.shape) != shape:
            raise ValueError(f"L'argument « init » doit avoir la forme {shape} ; reçu : {describe(init)}.")
    loss = TextureLoss(net, batch, layers, weights)
    result, history = optimize_image(loss, x0, steps, method=method, lr=lr, snapshot_every=snapshot_every,
                                     progress=progress, description="synthèse de texture")
    if histogram_matching:
        result = match_histograms(result, batch)
    result = unbatch(result, single)
    return (result, history) if return_history else result


def _check_layers(layers, net) -> tuple[str, ...]:
    from ..features import VGG19_LAYERS

    if isinstance(layers, str):
        layers = (layers,)
    if not isinstance(layers, (list, tuple)) or not layers:
        raise TypeError(f"L'argument « layers » doit être une liste non vide de noms de couches ; "
                        f"reçu : {describe(layers)}.")
    known = getattr(net, "layers", None) if net is not None else VGG19_LAYERS
    unknown = [name for name in layers if known is not None and name not in known]
    if unknown:
        raise ValueError(f"Couche(s) inconnue(s) dans « layers » : {', '.join(map(str, unknown))} ; "
                         f"couches disponibles : {', '.join(known)}.")
    return tuple(layers)


# --------------------------------------------------------------------------- égalisation d'histogrammes

def _interp(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """``numpy.interp`` en torch : interpolation linéaire, valeurs extrêmes prolongées."""
    index = torch.searchsorted(xp, x).clamp(1, xp.numel() - 1)
    x0, x1 = xp[index - 1], xp[index]
    f0, f1 = fp[index - 1], fp[index]
    t = ((x - x0) / (x1 - x0).clamp_min(torch.finfo(xp.dtype).tiny)).clamp(0.0, 1.0)
    return f0 + t * (f1 - f0)


def match_histograms(image: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Donne à chaque canal de ``image`` l'histogramme du même canal de ``reference``.

    Chaque valeur prend le quantile de même rang dans la référence
    (interpolation linéaire entre les quantiles), comme
    ``skimage.exposure.match_histograms`` : les valeurs égales restent égales.

    Paramètres
    ----------
    image : torch.Tensor
        ``(C,H,W)`` ou ``(B,C,H,W)``.
    reference : torch.Tensor
        Même nombre de canaux (et même lot, ou un lot de 1) ; taille quelconque.

    Retourne
    --------
    torch.Tensor
        Même forme que ``image``, sur son appareil.
    """
    batch, single = check_images(image, "image")
    ref, _ = check_images(reference, "reference", channels=batch.shape[1])
    if ref.shape[0] not in (1, batch.shape[0]):
        raise ValueError(f"L'argument « reference » doit avoir 1 image ou {batch.shape[0]} (le lot de « image ») ; "
                         f"reçu : {describe(reference)}.")
    ref = ref.to(batch.device).expand(batch.shape[0], -1, -1, -1)
    out = torch.empty_like(batch)
    dtype = torch.float32 if batch.device.type == "mps" else torch.float64
    for b in range(batch.shape[0]):          # boucle sur les canaux (quelques-uns), pas sur les pixels
        for c in range(batch.shape[1]):
            source = batch[b, c].flatten()
            values, inverse, counts = torch.unique(source, return_inverse=True, return_counts=True)
            ref_values, ref_counts = torch.unique(ref[b, c].flatten(), return_counts=True)
            quantiles = torch.cumsum(counts, 0).to(dtype) / source.numel()
            ref_quantiles = torch.cumsum(ref_counts, 0).to(dtype) / ref[b, c].numel()
            if ref_values.numel() == 1:
                mapped = ref_values.to(dtype).expand_as(quantiles)
            else:
                mapped = _interp(quantiles, ref_quantiles, ref_values.to(dtype))
            out[b, c] = mapped[inverse].view_as(batch[b, c]).to(batch.dtype)
    return unbatch(out, single)
