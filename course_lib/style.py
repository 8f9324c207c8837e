"""Transfert de style (Gatys, Ecker et Bethge 2016).

On cherche une image :math:`\\vec x` qui a le **contenu** d'une photo
:math:`\\vec p` (ses activations dans une couche profonde) et le **style** d'une
peinture :math:`\\vec a` (les matrices de Gram de plusieurs couches, comme pour
une texture, voir :mod:`course_lib.texture.gatys`) :

.. math::
    \\mathcal{L}_\\text{contenu} = \\frac12 \\sum_{i,k} (F^l_{ik} - P^l_{ik})^2, \\qquad
    \\mathcal{L}_\\text{style} = \\sum_l w_l E_l, \\quad
    E_l = \\frac{1}{4 N_l^2} \\sum_{i,j} (\\hat G^l_{ij} - A^l_{ij})^2,

.. math:: \\mathcal{L}_\\text{total} = \\alpha\\,\\mathcal{L}_\\text{contenu} + \\beta\\,\\mathcal{L}_\\text{style}.

Comme dans l'article : contenu sur ``conv4_2``, style sur ``conv1_1``,
``conv2_1``, ``conv3_1``, ``conv4_1`` et ``conv5_1`` avec :math:`w_l = 1/5`
(et le facteur :math:`1/N_l^2` de :math:`E_l`), départ du contenu ou d'un
bruit, L-BFGS. Les couches sont prises après la ReLU, comme dans le code Caffe
des auteurs où la ReLU écrit en place (``relu4_2`` est leur « conv4_2 »).

Les cibles (activations du contenu, matrices de Gram du style) sont calculées
**une seule fois** avant l'optimisation, et le réseau s'arrête à la couche la
plus profonde utile (``relu5_1``) : voir ``benchmarks/bench_style.py``.

Références
----------
L. A. Gatys, A. S. Ecker et M. Bethge, « Image Style Transfer Using
Convolutional Neural Networks », CVPR 2016, équations (1) à (7).
L. A. Gatys, M. Bethge, A. Hertzmann et E. Shechtman, « Preserving Color in
Neural Artistic Style Transfer », arXiv:1606.05897, 2016 (transfert de la
luminance seule).
L. A. Gatys, A. S. Ecker, M. Bethge, A. Hertzmann et E. Shechtman,
« Controlling Perceptual Factors in Neural Style Transfer », CVPR 2017
(du grossier au fin).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F

from .images import resize
from .texture.gatys import History, gram_matrix, optimize_image, texture_loss, texture_targets
from .validation import check_choice, check_images, check_number, check_size, check_tensor, describe, unbatch

__all__ = [
    "CONTENT_LAYER", "STYLE_LAYERS", "BALANCE_IMAGENET", "BALANCE_RANDOM", "default_balance", "default_ratio",
    "content_loss", "style_loss",
    "StyleTransferLoss",
    "transfer", "total_variation", "rgb_to_yiq", "yiq_to_rgb", "match_luminance", "gram_of", "procedural_painting",
]

#: Couche du contenu (« conv4_2 » de l'article, redressée).
CONTENT_LAYER = "relu4_2"
#: Couches du style (« conv1_1 » à « conv5_1 » de l'article, redressées).
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
#: Équilibre par défaut avec les poids ImageNet de VGG19 (torchvision) : une estimation, voir :func:`default_balance`.
BALANCE_IMAGENET = 0.1
#: Équilibre par défaut avec le repli aléatoire de :mod:`course_lib.features` : réglé à l'œil, voir
#: :func:`default_balance`.
BALANCE_RANDOM = 0.005

_YIQ_FROM_RGB = ((0.299, 0.587, 0.114), (0.595716, -0.274453, -0.321263), (0.211456, -0.522591, 0.311135))


# --------------------------------------------------------------------------- pertes

def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Perte de contenu :math:`\\frac12 \\sum_{i,k} (F_{ik} - P_{ik})^2` (Gatys et al. 2016, équation (1)).

    Paramètres
    ----------
    features : torch.Tensor
        Activations de l'image synthétisée, ``(B, N, H, W)``.
    target : torch.Tensor
        Activations du contenu, même forme (ou un lot de 1). Traitée comme une
        constante : le gradient ne passe que par ``features``.
    """
    check_tensor(features, "features", ndim=(3, 4), floating=True)
    check_tensor(target, "target", ndim=(3, 4), floating=True)
    if features.shape[-3:] != target.shape[-3:]:
        raise ValueError(f"« features » et « target » doivent avoir les mêmes dimensions (N, H, W) ; reçu : "
                         f"{describe(features)} et {describe(target)}.")
    return 0.5 * ((features - target.detach()) ** 2).sum()


def style_loss(features: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor],
               weights=None) -> torch.Tensor:
    """Perte de style :math:`\\sum_l w_l E_l` (Gatys et al. 2016, équations (3) à (5)).

    Paramètres
    ----------
    features : dict
        Activations ``{couche: (B, N_l, H_l, W_l)}`` de l'image synthétisée.
    targets : dict
        Matrices de Gram normalisées du style ``{couche: (N_l, N_l) ou (B, N_l, N_l)}``
        (:func:`course_lib.texture.gatys.gram_matrix`).
    weights : optionnel
        Poids :math:`w_l` ; par défaut :math:`1/|L|` (1/5 pour les cinq couches de l'article).
    """
    if weights is None:
        weights = [1.0 / len(targets)] * len(targets)
    return texture_loss(features, targets, weights)


class StyleTransferLoss(torch.nn.Module):
    """α L_contenu + β L_style, avec ses cibles (contenu et matrices de Gram du style) calculées une fois.

    ``loss(images)`` retourne ``(perte totale, {"contenu": ..., "style": ...})``
    (les deux termes avant pondération). Le poids du contenu est ``ratio``
    (:math:`\\alpha/\\beta`) ou, à défaut, ``balance / (N_l M_l)`` ; sans l'un ni
    l'autre, l'équilibre de :func:`default_balance` pour ``net``.
    """

    def __init__(self, net, content: torch.Tensor, style: torch.Tensor, ratio: float | None = None,
                 content_layer: str = CONTENT_LAYER, style_layers=STYLE_LAYERS, layer_weights=None,
                 tv_weight: float = 0.0, balance: float | None = None):
        super().__init__()
        if ratio is not None and balance is not None:
            raise ValueError("Donnez « ratio » (α/β) ou « balance » (α/β x N_l M_l), pas les deux ; "
                             f"reçu : ratio={ratio!r} et balance={balance!r}.")
        self.net = net
        self.ratio = ratio
        self.balance = balance
        self.tv_weight = tv_weight
        self.content_layer = content_layer
        self.style_layers = tuple(style_layers)
        self.layer_weights = layer_weights
        self.layers = set(self.style_layers) | {content_layer}
        with torch.no_grad():
            self.content_target = _features(net, content, {content_layer})[content_layer]
            self.style_targets = texture_targets(_features(net, style, set(self.style_layers)))
        if self.ratio is None:
            if self.balance is None:
                self.balance = default_balance(net)
            self.ratio = default_ratio(self.content_target, self.balance)

    def forward(self, images: torch.Tensor):
        features = _features(self.net, images, self.layers)
        content = content_loss(features[self.content_layer], self.content_target)
        style = style_loss({name: features[name] for name in self.style_layers}, self.style_targets,
                           self.layer_weights)
        total = self.ratio * content + style
        parts = {"contenu": content.detach(), "style": style.detach()}
        if self.tv_weight:
            tv = total_variation(images)
            total = total + self.tv_weight * tv
            parts["variation totale"] = tv.detach()
        return total, parts


def total_variation(images: torch.Tensor) -> torch.Tensor:
    """Variation totale quadratique : moyenne des carrés des différences entre pixels voisins, sommée sur le lot.

    Un régularisateur qui pénalise le bruit de haute fréquence (Mahendran et Vedaldi 2015, Johnson et al. 2016).
    ``images`` : ``(B,C,H,W)`` ; retourne un tenseur scalaire.
    """
    check_tensor(images, "images", ndim=4, floating=True)
    dy = (images[..., 1:, :] - images[..., :-1, :]) ** 2
    dx = (images[..., :, 1:] - images[..., :, :-1]) ** 2
    return (dy.flatten(1).mean(1) + dx.flatten(1).mean(1)).sum()


def default_balance(net) -> float:
    """L'équilibre contenu/style par défaut pour l'extracteur de caractéristiques ``net``.

    L'équilibre est le rapport :math:`\\alpha/\\beta` multiplié par le nombre
    :math:`N_l M_l` d'activations de la couche du contenu (:func:`default_ratio`).
    Il dépend des caractéristiques : la perte de contenu croît comme le carré des
    activations et la perte de style comme leur puissance quatrième, et les
    deux jeux de caractéristiques de :mod:`course_lib.features` n'ont ni la même
    échelle ni la même sémantique.

    - :data:`BALANCE_RANDOM` = 0,005, pour le repli aléatoire (``net.pretrained``
      faux, et tout extracteur sans attribut ``pretrained``, comme la banque de
      filtres) : **réglé à l'œil** sur le notebook 07 (Chelsea et le tableau
      procédural « nuit », 96 pixels, 50 itérations de L-BFGS à partir de la
      photo) : le chat reste reconnaissable sous les tourbillons du tableau.
      En dessous, l'effet du style sature (à 0,0005, l'image est presque la
      même : 13,7 dB de PSNR par rapport à la photo contre 13,9 dB) ; 10 fois
      plus (0,05) rend la photo presque intacte (28 dB).
    - :data:`BALANCE_IMAGENET` = 0,1, pour les poids ImageNet de torchvision
      (``net.pretrained`` vrai) : une **estimation**, pas un réglage (les poids
      n'ont pas pu être téléchargés là où ce module a été écrit), encadrée par
      deux calculs :

      * l'article donne :math:`\\alpha/\\beta = 10^{-3}` pour des images de 512
        pixels et un VGG dont l'entrée va de 0 à 255. Si ses activations étaient
        celles de torchvision multipliées par :math:`255 \\times 0{,}226 \\approx 57`
        (l'écart type de la normalisation d'ImageNet), :math:`E_l` serait
        multipliée par :math:`57^4` et la perte de contenu par :math:`57^2`,
        soit :math:`\\alpha/\\beta \\approx 3 \\cdot 10^{-7}` en nos unités et, avec
        :math:`N_l M_l = 512 \\times 64 \\times 64` pour ``conv4_2``, un équilibre
        d'environ 0,6. Mais l'article utilise un VGG « normalisé » (activation
        moyenne de 1 pour chaque filtre), dont l'échelle n'est pas celle-là :
        c'est une borne haute incertaine ;
      * *neural-style* (Johnson 2015) utilise les mêmes couches avec le VGG19
        de Caffe (entrée de 0 à 255) : poids 5 pour le contenu et 100 pour le
        style, avec des erreurs quadratiques moyennes et des matrices de Gram
        divisées par :math:`N_l M_l`, soit
        :math:`10\\,\\mathcal{L}_\\text{contenu}/(N_l M_l) + \\sum_l 400\\,E_l/N_l^2`.
        En ramenant la somme de ses poids de couche (0,13) à la nôtre (1), puis
        l'échelle de Caffe à celle de torchvision (:math:`57^2`), on trouve un
        équilibre d'environ 0,02.

      0,1 est leur moyenne géométrique : chacune en est à un facteur 5 près. Le
      curseur du notebook 07 couvre deux ordres de grandeur de part et d'autre
      de l'équilibre par défaut pour le vérifier avec les vrais poids.

    Paramètres
    ----------
    net : module
        L'extracteur de caractéristiques (:func:`course_lib.features.vgg19`),
        dont l'attribut ``pretrained`` dit si ses poids sont ceux d'ImageNet.

    Retourne
    --------
    float
        :data:`BALANCE_IMAGENET` ou :data:`BALANCE_RANDOM`.

    Références
    ----------
    Gatys et al. 2016, section 2 et figure 3 (:math:`\\alpha/\\beta = 10^{-3}` ou
    :math:`10^{-4}`) ; J. Johnson, *neural-style*, https://github.com/jcjohnson/neural-style, 2015.
    """
    pretrained = getattr(net, "pretrained", False)
    if not isinstance(pretrained, bool):
        raise TypeError(f"L'attribut « pretrained » de l'argument « net » doit être un booléen ; "
                        f"reçu : {describe(pretrained)}.")
    return BALANCE_IMAGENET if pretrained else BALANCE_RANDOM


def default_ratio(content_features: torch.Tensor, balance: float) -> float:
    """Le rapport α/β ``balance / (N_l M_l)`` pour les activations ``(B, N_l, H_l, W_l)`` du contenu.

    :math:`\\mathcal{L}_\\text{contenu}` est une somme sur les :math:`N_l M_l`
    activations alors que :math:`E_l` est une moyenne : diviser α par leur nombre
    donne le même équilibre entre contenu et style à toutes les tailles d'image.
    L'équilibre par défaut vient de :func:`default_balance`.
    """
    check_tensor(content_features, "content_features", ndim=(3, 4), floating=True)
    check_number(balance, "balance", nonnegative=True)
    features = content_features if content_features.dim() == 3 else content_features[0]
    return balance / features.numel()


def _features(net, images: torch.Tensor, layers: set[str]) -> dict[str, torch.Tensor]:
    extract = getattr(net, "extract", None)
    return extract(images, layers) if extract is not None else net(images, layers)


# --------------------------------------------------------------------------- couleur

def rgb_to_yiq(images: torch.Tensor) -> torch.Tensor:
    """RGB -> YIQ (NTSC) : Y est la luminance, I et Q la chrominance."""
    batch, single = check_images(images, "images", channels=3)
    matrix = torch.tensor(_YIQ_FROM_RGB, dtype=batch.dtype, device=batch.device)
    return unbatch(torch.einsum("ij,bjhw->bihw", matrix, batch), single)


def yiq_to_rgb(images: torch.Tensor) -> torch.Tensor:
    """YIQ -> RGB (inverse exacte de :func:`rgb_to_yiq`, sans ramener dans [0, 1])."""
    batch, single = check_images(images, "images", channels=3)
    matrix = torch.linalg.inv(torch.tensor(_YIQ_FROM_RGB, dtype=torch.float64)).to(batch.dtype).to(batch.device)
    return unbatch(torch.einsum("ij,bjhw->bihw", matrix, batch), single)


def match_luminance(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Luminance du style ramenée à la moyenne et à l'écart type de celle du contenu.

    :math:`L_s' = \\frac{\\sigma_c}{\\sigma_s}(L_s - \\mu_s) + \\mu_c` (Gatys et al. 2016b, section 2).
    Retourne la luminance ``(B,1,H,W)`` du style, ramenée dans [0, 1].
    """
    style_y = rgb_to_yiq(style)[:, :1]
    content_y = rgb_to_yiq(content)[:, :1]
    mu_s, sigma_s = style_y.mean(dim=(2, 3), keepdim=True), style_y.std(dim=(2, 3), keepdim=True)
    mu_c, sigma_c = content_y.mean(dim=(2, 3), keepdim=True), content_y.std(dim=(2, 3), keepdim=True)
    return ((style_y - mu_s) * sigma_c / sigma_s.clamp_min(1e-6) + mu_c).clamp(0.0, 1.0)


# --------------------------------------------------------------------------- transfert

def _target_size(content: torch.Tensor, size) -> tuple[int, int]:
    height, width = content.shape[-2:]
    if size is None:
        return height, width
    if isinstance(size, (tuple, list)):
        return check_size(size, "size")
    side = check_size(size, "size")[0]
    scale = side / min(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def transfer(content: torch.Tensor, style: torch.Tensor, *, size=None, steps: int | None = None,
             ratio: float | None = None, balance: float | None = None, content_layer: str = CONTENT_LAYER,
             style_layers=STYLE_LAYERS,
             layer_weights=None, init="content", method: str = "lbfgs", lr: float | None = None,
             tv_weight: float = 0.0,
             preserve_color: bool = False, scales: int = 1, style_scale: float = 1.0, net=None,
             snapshot_every: int | None = None, progress: bool = True, return_history: bool = False):
    """Peint le contenu d'une photo dans le style d'une autre image (Gatys et al. 2016).

    Paramètres
    ----------
    content : torch.Tensor
        La photo ``(3,H,W)`` ou ``(B,3,H,W)`` dans [0, 1].
    style : torch.Tensor
        L'image de style ``(3,H',W')`` (ou un lot de 1 ou de B), dans [0, 1].
    size : int ou (int, int), optionnel
        Taille du résultat : un entier fixe le plus petit côté (celle du contenu par défaut).
    steps : int, optionnel
        Itérations par échelle (``course_lib.profile().steps`` par défaut).
    ratio : float, optionnel
        Le rapport :math:`\\alpha/\\beta` du poids du contenu sur celui du style
        (:math:`\\beta = 1`). Plus il est petit, plus le style domine. Comme
        :math:`\\mathcal{L}_\\text{contenu}` est une *somme* sur les
        :math:`N_l M_l` activations (équation (1)) et :math:`E_l` une moyenne, un
        même rapport donne plus de poids au contenu dans une grande image :
        préférez ``balance``.
    balance : float, optionnel
        L'équilibre :math:`\\alpha/\\beta \\times N_l M_l` (:func:`default_ratio`),
        le même à toutes les tailles d'image ; à la place de ``ratio``. Par
        défaut : :func:`default_balance` des caractéristiques utilisées, 0,1
        avec les poids ImageNet (une estimation) et 0,005 avec le repli
        aléatoire (réglé à l'œil). Essayez un ordre de grandeur de part et
        d'autre.
    content_layer, style_layers : str, liste de str
        Couches du contenu et du style (par défaut celles de l'article).
    layer_weights : optionnel
        Poids :math:`w_l` des couches de style (par défaut :math:`1/|L|`).
    init : str ou torch.Tensor
        ``"content"`` (départ de la photo), ``"noise"`` (bruit blanc, comme
        l'article) ou une image ``(B,3,H,W)`` de la taille du résultat.
    method : str
        ``"lbfgs"`` ou ``"adam"`` (voir :func:`course_lib.texture.gatys.optimize_image`).
    lr : float, optionnel
        Pas de l'optimiseur.
    tv_weight : float
        Poids d'une variation totale quadratique (:func:`total_variation`),
        absente de l'article (0 par défaut). Avec les caractéristiques
        aléatoires, une petite valeur (0,1) retire le bruit coloré que laissent
        les premières couches.
    preserve_color : bool
        Transfert de la **luminance** seule (Gatys et al. 2016b) : la luminance
        du style est ramenée à la moyenne et à l'écart type de celle du contenu,
        le transfert se fait en niveaux de gris, puis la chrominance (I, Q) de
        la photo est remise : le résultat garde les couleurs de la photo.
    scales : int
        Nombre d'échelles du grossier au fin (Gatys et al. 2017) : on résout
        d'abord à ``size / 2**(scales-1)``, puis on agrandit le résultat pour
        servir de départ à l'échelle suivante. Utile pour les grandes images.
    style_scale : float
        Le plus petit côté du style est ramené à ``style_scale`` fois celui du
        résultat (la taille des « coups de pinceau »).
    net : optionnel
        Extracteur de caractéristiques (:func:`course_lib.features.vgg19` par défaut).
    snapshot_every : int, optionnel
        Garde une image intermédiaire toutes les ``snapshot_every`` évaluations.
    progress : bool
        Barre de progression.
    return_history : bool
        Retourne aussi le :class:`~course_lib.texture.gatys.History` (pertes totale,
        de contenu et de style à chaque évaluation, images intermédiaires).

    Retourne
    --------
    torch.Tensor
        L'image ``(3,H,W)`` ou ``(B,3,H,W)`` dans [0, 1] (et l'historique si demandé).

    Références
    ----------
    Gatys et al. 2016, équations (1) à (7) ; Gatys et al. 2016b ; Gatys et al. 2017.
    """
    from .device import profile
    from .features import VGG19_LAYERS, vgg19

    photo, single = check_images(content, "content", channels=3, value_range=(0.0, 1.0), min_size=16)
    painting, _ = check_images(style, "style", channels=3, value_range=(0.0, 1.0), min_size=16)
    if painting.shape[0] not in (1, photo.shape[0]):
        raise ValueError(f"L'argument « style » doit avoir 1 image ou {photo.shape[0]} (le lot de « content ») ; "
                         f"reçu : {describe(style)}.")
    painting = painting.to(photo.device)
    height, width = _target_size(photo, size)
    steps = profile().steps if steps is None else check_number(steps, "steps", integer=True, nonnegative=True)
    if ratio is not None:
        check_number(ratio, "ratio", nonnegative=True)
    if balance is not None:
        check_number(balance, "balance", nonnegative=True)
        if ratio is not None:
            raise ValueError("Donnez « ratio » (α/β) ou « balance » (α/β x N_l M_l), pas les deux ; "
                             f"reçu : ratio={ratio!r} et balance={balance!r}.")
    check_number(scales, "scales", integer=True, positive=True, high=6)
    check_number(style_scale, "style_scale", positive=True)
    if isinstance(style_layers, str):
        style_layers = (style_layers,)
    known = net.layers if net is not None else VGG19_LAYERS
    for name in (content_layer, *style_layers):
        if name not in known:
            raise ValueError(f"Couche inconnue « {name} » ; couches disponibles : {', '.join(known)}.")
    if min(height, width) // 2 ** (scales - 1) < 16:
        raise ValueError(f"Avec scales={scales}, la plus petite échelle ferait moins de 16 pixels : "
                         f"réduisez « scales » ou agrandissez « size » ({(height, width)}).")
    if isinstance(init, str):
        check_choice(init, "init", ("content", "noise"))
    else:
        start, _ = check_images(init, "init", channels=3, value_range=(0.0, 1.0))
        if tuple(start.shape[-2:]) != (height, width) or start.shape[0] != photo.shape[0]:
            raise ValueError(f"L'argument « init » doit avoir la forme {(photo.shape[0], 3, height, width)} ; "
                             f"reçu : {describe(init)}.")
    if net is None:
        net = vgg19((content_layer, *style_layers), pooling="avg", device=photo.device)

    if preserve_color:
        painting = match_luminance(_resize_style(painting, (height, width), style_scale),
                                   resize(photo, (height, width)))
    history = History()
    current = None
    for level in range(scales - 1, -1, -1):
        level_size = (max(16, height // 2 ** level), max(16, width // 2 ** level))
        level_content = resize(photo, level_size)
        level_style = _resize_style(painting, level_size, style_scale)
        if preserve_color:
            level_content = rgb_to_yiq(level_content)[:, :1].clamp(0.0, 1.0)
        if current is not None:
            x0 = F.interpolate(current, size=level_size, mode="bilinear", align_corners=False).clamp(0.0, 1.0)
        elif not isinstance(init, str):
            x0 = resize(start.to(photo.device), level_size)
            x0 = rgb_to_yiq(x0)[:, :1].clamp(0.0, 1.0) if preserve_color else x0
        elif init == "content":
            x0 = level_content.clone()
        else:
            x0 = torch.rand_like(level_content)
        loss = StyleTransferLoss(net, level_content, level_style, ratio, content_layer, style_layers,
                                 layer_weights, tv_weight, balance=balance)
        current, history = optimize_image(loss, x0, steps, method=method, lr=lr, snapshot_every=snapshot_every,
                                          progress=progress, history=history,
                                          description=f"transfert de style {level_size[0]}x{level_size[1]}")
        if history.interrupted:
            break
    result = current
    if result.shape[-2:] != (height, width):
        result = F.interpolate(result, size=(height, width), mode="bilinear", align_corners=False)
    if preserve_color:
        chroma = rgb_to_yiq(resize(photo, (height, width)))[:, 1:]
        result = yiq_to_rgb(torch.cat([result, chroma], dim=1)).clamp(0.0, 1.0)
    result = unbatch(result, single)
    return (result, history) if return_history else result


def _resize_style(painting: torch.Tensor, size: tuple[int, int], style_scale: float) -> torch.Tensor:
    side = max(16, round(min(size) * style_scale))
    return resize(painting, side)


def gram_of(images: torch.Tensor, layers=STYLE_LAYERS, net=None) -> dict[str, torch.Tensor]:
    """Matrices de Gram normalisées des couches ``layers`` pour un lot d'images (pour explorer le style)."""
    from .features import vgg19

    batch, _ = check_images(images, "images", channels=(1, 3))
    net = net if net is not None else vgg19(layers, device=batch.device)
    with torch.no_grad():
        return {name: gram_matrix(value) for name, value in _features(net, batch, set(layers)).items()}


# --------------------------------------------------------------------------- un « tableau » hors ligne

_PALETTES = {
    "nuit": ((0.04, 0.08, 0.25), (0.10, 0.25, 0.55), (0.35, 0.55, 0.80), (0.95, 0.85, 0.35), (1.0, 0.97, 0.80)),
    "automne": ((0.25, 0.08, 0.05), (0.60, 0.18, 0.08), (0.90, 0.45, 0.10), (0.98, 0.80, 0.30), (1.0, 0.95, 0.75)),
    "mer": ((0.02, 0.15, 0.20), (0.05, 0.35, 0.45), (0.20, 0.60, 0.65), (0.75, 0.90, 0.85), (0.98, 0.98, 0.95)),
}


def procedural_painting(size=256, seed: int = 0, palette: str = "nuit", device=None) -> torch.Tensor:
    """Un « tableau » procédural : des coups de pinceau qui tourbillonnent, dans une palette de peintre.

    Aucune peinture n'est livrée hors ligne avec les bibliothèques ; cette image
    en tient lieu pour le transfert de style. Les coups de pinceau sont une
    *convolution intégrale linéaire* (Cabral et Leedom 1993) d'un bruit le long
    d'un champ de tourbillons ; les couleurs viennent d'une palette
    (``"nuit"`` évoque la Nuit étoilée, ``"automne"``, ``"mer"``).

    Paramètres
    ----------
    size : int ou (int, int)
        Taille de l'image.
    seed : int
        Graine (l'image ne dépend que d'elle).
    palette : str
        ``"nuit"``, ``"automne"`` ou ``"mer"``.
    device : torch.device ou str, optionnel

    Retourne
    --------
    torch.Tensor
        ``(3,H,W)`` dans [0, 1].

    Références
    ----------
    B. Cabral et L. Leedom, « Imaging Vector Fields Using Line Integral Convolution », SIGGRAPH 1993.
    """
    height, width = check_size(size, "size")
    check_number(seed, "seed", integer=True, nonnegative=True)
    check_choice(palette, "palette", _PALETTES)
    device = torch.device(device or "cpu")
    generator = torch.Generator().manual_seed(int(seed))
    n_swirls = 5
    centers = (torch.rand(n_swirls, 2, generator=generator) * 2 - 1).to(device)
    spins = ((torch.rand(n_swirls, generator=generator) * 2 - 1) * 3).to(device)
    radii = (0.15 + 0.35 * torch.rand(n_swirls, generator=generator)).to(device)
    noise = torch.rand(1, 1, max(8, height // 2), max(8, width // 2), generator=generator).to(device)
    phase = float(torch.rand(1, generator=generator)) * 6.28

    def swirl_field(points):                                  # points (H, W, 2) dans [-1, 1], (x, y)
        offset = points[..., None, :] - centers               # (H, W, n, 2)
        weight = spins * torch.exp(-(offset ** 2).sum(-1) / radii ** 2)
        swirl = (torch.stack([-offset[..., 1], offset[..., 0]], dim=-1) * weight[..., None]).sum(-2)
        flow = torch.stack([torch.ones_like(points[..., 0]),
                            0.6 * torch.sin(3.0 * points[..., 0] + 4.0 * points[..., 1] + phase)], dim=-1)
        vector = swirl + 0.5 * flow
        return vector / vector.norm(dim=-1, keepdim=True).clamp_min(1e-6)

    ys = torch.linspace(-1, 1, height, device=device)
    xs = torch.linspace(-1, 1, width, device=device)
    start = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)      # (H, W, 2)
    coarse = torch.linspace(-1, 1, 96, device=device)
    field = swirl_field(torch.stack(torch.meshgrid(coarse, coarse, indexing="xy"), dim=-1))
    field = field.permute(2, 0, 1)[None]                     # (1, 2, 96, 96), échantillonné ensuite
    step, length = 1.5 / max(height, width), max(6, min(height, width) // 12)

    def sample(image, points):
        return F.grid_sample(image, points[None], mode="bilinear", padding_mode="reflection",
                             align_corners=True)[0]

    total = sample(noise, start)[0]
    for direction in (1.0, -1.0):
        points = start
        for _ in range(length):
            points = points + direction * step * sample(field, points).permute(1, 2, 0)
            total = total + sample(noise, points)[0]
    strokes = total / (2 * length + 1)
    strokes = (strokes - strokes.mean()) / strokes.std().clamp_min(1e-6)
    # des régions de couleur à basse fréquence, plus claires près des tourbillons
    glow = sum(torch.exp(-((start - c) ** 2).sum(-1) / (0.5 * r) ** 2) for c, r in zip(centers, radii))
    level = (0.25 + 0.55 * glow.clamp(0, 1) + 0.18 * strokes).clamp(0, 0.999)
    colors = torch.tensor(_PALETTES[palette], device=device)
    position = level * (len(colors) - 1)
    low = position.floor().long()
    t = (position - low)[..., None]
    image = colors[low] * (1 - t) + colors[(low + 1).clamp(max=len(colors) - 1)] * t
    image = image * (0.85 + 0.15 * torch.tanh(strokes))[..., None]
    return image.permute(2, 0, 1).clamp(0.0, 1.0).contiguous()
