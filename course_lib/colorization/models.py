"""Réseaux de colorisation : l'architecture ECCV16 de l'article et un petit modèle pour le CPU.

Tous les modèles prennent le canal L ``(B,1,H,W)`` dans [0, 100] et partagent
la même interface :

- ``model.logits(L)`` : les scores des ``Q`` cases, en basse résolution ;
- ``model.distribution(L)`` : leur softmax ``Ẑ`` (classification) ;
- ``model(L)`` : les canaux ab ``(B,2,H,W)`` à la résolution de ``L``
  (moyenne de ``Ẑ`` pour la classification, sortie directe pour la régression) ;
- ``model.predict_ab(L, T)`` : la moyenne recuite à la température ``T`` ;
- ``model.bins`` : les centres ``(Q,2)`` des cases.

:class:`ECCV16` reproduit *exactement* les noms et formes du ``state_dict`` du
portage PyTorch officiel (``richzhang/colorization``, ``colorizers/eccv16.py``),
pour charger ses poids publiés avec :func:`load_pretrained`.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import data
from ..validation import check_choice, check_number, describe
from .lab import AB_NORM, L_CENT, L_NORM, check_lightness
from .quantization import GRID_SIZE, _annealed, ab_bins, check_bins

__all__ = ["Colorizer", "ECCV16", "SmallColorizer", "ECCV16_ASSET", "ECCV16_BINS", "load_pretrained",
           "try_load_pretrained", "bins_from_weights"]

#: Nombre de cases de la version publiée (``pts_in_hull.npy``) : la largeur de la dernière couche d'ECCV16.
ECCV16_BINS = 313

#: Les poids officiels du portage PyTorch (rangés comme par ``torch.hub`` : ``$TORCH_HOME/hub/checkpoints``).
ECCV16_ASSET = data.register_asset(data.Asset(
    name="colorization_eccv16",
    filename="colorization_release_v2-9b330a0b.pth",
    url="https://colorizers.s3.us-east-2.amazonaws.com/colorization_release_v2-9b330a0b.pth",
    sha256="9b330a0b",
    description="poids ECCV16 de Zhang, Isola et Efros (colorisation, portage PyTorch officiel)",
    size_mb=129,
    torch_hub=True,
))


class Colorizer(nn.Module):
    """Base commune : normalisation de L, décodage des distributions, interface des notebooks.

    Attributs à définir : ``kind`` (``"classification"`` ou ``"regression"``) et
    ``factor`` (rapport entre la taille de ``L`` et celle des scores).
    """

    kind = "classification"
    factor = 1
    multiple = 1  # H et W doivent être multiples de ce nombre

    @staticmethod
    def normalize_l(L: torch.Tensor) -> torch.Tensor:
        return (L - L_CENT) / L_NORM

    @staticmethod
    def unnormalize_ab(ab: torch.Tensor) -> torch.Tensor:
        return ab * AB_NORM

    def _check_input(self, L) -> tuple[torch.Tensor, bool]:
        batch, single = check_lightness(L, "L")
        h, w = batch.shape[-2:]
        if h % self.multiple or w % self.multiple:
            raise ValueError(
                f"{type(self).__name__} attend des images dont la hauteur et la largeur sont multiples de "
                f"{self.multiple} ; reçu {h}x{w}. Utilisez colorization.colorize(...), qui redimensionne."
            )
        return batch, single

    def logits(self, L: torch.Tensor) -> torch.Tensor:
        """Scores des cases ``(B,Q,H/f,W/f)`` (classification) ou ab normalisés (régression)."""
        raise NotImplementedError

    def distribution(self, L: torch.Tensor) -> torch.Tensor:
        """La distribution prédite ``Ẑ`` sur les cases, ``(B,Q,H/f,W/f)``."""
        if self.kind != "classification":
            raise ValueError("Un modèle de régression ne prédit pas de distribution sur les cases.")
        return torch.softmax(self.logits(L), dim=1)

    def _upsample(self, ab: torch.Tensor, size) -> torch.Tensor:
        return ab if ab.shape[-2:] == tuple(size) else F.interpolate(ab, size=size, mode="bilinear",
                                                                     align_corners=False)

    def predict_ab(self, L: torch.Tensor, T: float = 0.38) -> torch.Tensor:
        """Les canaux ab ``(B,2,H,W)`` à la résolution de ``L`` : moyenne recuite à la température ``T``.

        ``T = 1`` : la moyenne de la distribution ; ``T = 0`` : son mode. Sans
        effet pour un modèle de régression, qui prédit ab directement.
        """
        batch, single = self._check_input(L)
        if self.kind == "regression":
            ab = self.forward(batch)
        else:
            check_number(T, "T", nonnegative=True)
            probs = self.distribution(batch)
            ab = self._upsample(_annealed(probs, T, self.bins.to(probs)), batch.shape[-2:])
        return ab[0] if single else ab


# --------------------------------------------------------------------------- ECCV16

class ECCV16(Colorizer):
    """Le réseau de Zhang, Isola et Efros (ECCV 2016), couche pour couche comme le portage officiel.

    Huit blocs de convolutions 3x3 (ReLU, normalisation de lot à la fin de
    chaque bloc) : trois sous-échantillonnages par 2 (blocs 1 à 3), des
    convolutions dilatées (blocs 5 et 6) qui agrandissent le champ récepteur
    sans perdre de résolution, une convolution transposée qui remonte à 1/4 de
    la résolution, puis une convolution 1x1 vers les ``Q`` scores. La
    convolution 1x1 ``model_out`` (sans biais) contient les centres des cases
    divisés par 110 : appliquée à la distribution ``softmax(scores)``, elle en
    calcule la moyenne ab, que ``forward`` remet à l'échelle et suréchantillonne
    par 4 (comme le portage officiel).

    Paramètres
    ----------
    bins : torch.Tensor, optionnel
        ``(Q,2)`` centres des cases, pour un entraînement depuis zéro
        (``ab_bins()`` par exemple) ; ``model_out`` est alors figé. Sans
        ``bins`` : ``Q = 313`` et ``model_out`` nul, en attente des poids
        officiels (:func:`load_pretrained`).

    Références
    ----------
    Zhang, Isola, Efros, ECCV 2016, figure 2 ; ``richzhang/colorization``,
    ``colorizers/eccv16.py`` et ``colorizers/base_color.py``.
    """

    factor = 4
    multiple = 8

    def __init__(self, bins: torch.Tensor | None = None, norm_layer=nn.BatchNorm2d):
        super().__init__()
        q = ECCV16_BINS if bins is None else check_bins(bins).shape[0]

        def conv(cin, cout, stride=1, dilation=1):
            return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=dilation, dilation=dilation,
                             bias=True)

        def block(channels, strides, dilation=1):
            layers = []
            for cin, cout, stride in zip(channels[:-1], channels[1:], strides):
                layers += [conv(cin, cout, stride, dilation), nn.ReLU(True)]
            return layers + [norm_layer(channels[-1])]

        self.model1 = nn.Sequential(*block([1, 64, 64], [1, 2]))
        self.model2 = nn.Sequential(*block([64, 128, 128], [1, 2]))
        self.model3 = nn.Sequential(*block([128, 256, 256, 256], [1, 1, 2]))
        self.model4 = nn.Sequential(*block([256, 512, 512, 512], [1, 1, 1]))
        self.model5 = nn.Sequential(*block([512, 512, 512, 512], [1, 1, 1], dilation=2))
        self.model6 = nn.Sequential(*block([512, 512, 512, 512], [1, 1, 1], dilation=2))
        self.model7 = nn.Sequential(*block([512, 512, 512, 512], [1, 1, 1]))
        self.model8 = nn.Sequential(
            nn.ConvTranspose2d(512, 256, kernel_size=4, stride=2, padding=1, bias=True), nn.ReLU(True),
            conv(256, 256), nn.ReLU(True),
            conv(256, 256), nn.ReLU(True),
            nn.Conv2d(256, q, kernel_size=1, stride=1, padding=0, bias=True),
        )
        self.softmax = nn.Softmax(dim=1)
        self.model_out = nn.Conv2d(q, 2, kernel_size=1, padding=0, dilation=1, stride=1, bias=False)
        self.upsample4 = nn.Upsample(scale_factor=4, mode="bilinear", align_corners=False)
        with torch.no_grad():
            if bins is None:
                self.model_out.weight.zero_()
            else:
                self.model_out.weight.copy_((bins.to(torch.float32) / AB_NORM).T.reshape(2, q, 1, 1))
                self.model_out.weight.requires_grad_(False)

    @property
    def bins(self) -> torch.Tensor:
        """Les centres ``(Q,2)`` des cases, lus dans ``model_out`` (poids x 110)."""
        centres = self.model_out.weight.detach()[:, :, 0, 0].T * AB_NORM
        if not bool(centres.abs().gt(0).any()):
            raise ValueError(
                "Les centres des cases d'ECCV16 ne sont pas initialisés : chargez les poids officiels "
                "(colorization.load_pretrained) ou créez le modèle avec ECCV16(bins=ab_bins())."
            )
        return centres

    def logits(self, L: torch.Tensor) -> torch.Tensor:
        batch, single = self._check_input(L)
        x = self.normalize_l(batch)
        for block in (self.model1, self.model2, self.model3, self.model4, self.model5, self.model6,
                      self.model7, self.model8):
            x = block(x)
        return x[0] if single else x

    def forward(self, L: torch.Tensor) -> torch.Tensor:
        """ab ``(B,2,H,W)`` : ``110 · suréch.x4(model_out(softmax(scores)))``, comme le portage officiel."""
        batch, single = self._check_input(L)
        ab = self.unnormalize_ab(self.upsample4(self.model_out(self.softmax(self.logits(batch)))))
        return ab[0] if single else ab


# --------------------------------------------------------------------------- petit modèle

class SmallColorizer(Colorizer):
    """Un petit réseau de colorisation qui s'entraîne sur un CPU en quelques minutes.

    ECCV16 en miniature : deux sous-échantillonnages par 2, deux convolutions
    dilatées pour le contexte (champ récepteur de 69 pixels), puis une tête
    1x1 vers les ``Q`` scores (classification) ou vers ab / 110 (régression
    L2, la référence de l'article). Comme ECCV16, il prédit la couleur à 1/4
    de la résolution : la couleur varie lentement, les détails viennent de L.

    Paramètres
    ----------
    bins : torch.Tensor, optionnel
        ``(Q,2)`` centres des cases (classification) ; :func:`ab_bins` par défaut.
    width : int
        Nombre de canaux du premier bloc (les suivants en ont 2x et 4x).
    kind : str
        ``"classification"`` ou ``"regression"``.
    """

    factor = 4
    multiple = 4

    def __init__(self, bins: torch.Tensor | None = None, width: int = 32, kind: str = "classification"):
        super().__init__()
        check_choice(kind, "kind", ("classification", "regression"))
        check_number(width, "width", integer=True, positive=True)
        self.kind = kind
        c1, c2, c3 = width, 2 * width, 4 * width
        relu = nn.ReLU(inplace=True)
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1), relu,
            nn.Conv2d(c1, c2, 3, stride=2, padding=1), relu, nn.BatchNorm2d(c2),
            nn.Conv2d(c2, c2, 3, padding=1), relu,
            nn.Conv2d(c2, c3, 3, stride=2, padding=1), relu, nn.BatchNorm2d(c3),
            nn.Conv2d(c3, c3, 3, padding=2, dilation=2), relu,
            nn.Conv2d(c3, c3, 3, padding=2, dilation=2), relu, nn.BatchNorm2d(c3),
            nn.Conv2d(c3, c3, 3, padding=1), relu,
        )
        if kind == "classification":
            centres = ab_bins() if bins is None else check_bins(bins)
            self.register_buffer("bin_centres", centres.detach().to(torch.float32).clone())
            self.head = nn.Conv2d(c3, centres.shape[0], 1)
        else:
            self.register_buffer("bin_centres", torch.zeros(0, 2))
            self.head = nn.Conv2d(c3, 2, 1)

    @property
    def bins(self) -> torch.Tensor:
        if self.kind != "classification":
            raise ValueError("Un modèle de régression n'a pas de cases ab.")
        return self.bin_centres

    def logits(self, L: torch.Tensor) -> torch.Tensor:
        batch, single = self._check_input(L)
        out = self.head(self.features(self.normalize_l(batch)))
        return out[0] if single else out

    def forward(self, L: torch.Tensor) -> torch.Tensor:
        batch, single = self._check_input(L)
        scores = self.logits(batch)
        if self.kind == "regression":
            ab = self.unnormalize_ab(scores)
        else:
            ab = torch.einsum("bqhw,qc->bchw", torch.softmax(scores, dim=1), self.bin_centres)
        ab = self._upsample(ab, batch.shape[-2:])
        return ab[0] if single else ab


# --------------------------------------------------------------------------- poids officiels

def bins_from_weights(weight: torch.Tensor, tolerance: float = 1e-2) -> torch.Tensor:
    """Lit les centres des cases dans le poids ``model_out.weight`` ``(2,Q,1,1)`` d'ECCV16, et les vérifie.

    Les centres sont ``110 x poids`` ; ils doivent tomber sur la grille de pas
    10 (à ``tolerance`` près), être distincts, et contenir toutes les cases
    de :func:`ab_bins` (sinon certaines couleurs sRGB n'auraient pas de case).
    """
    if not isinstance(weight, torch.Tensor) or weight.ndim != 4 or weight.shape[0] != 2 \
            or weight.shape[2:] != (1, 1):
        raise ValueError(f"« model_out.weight » doit être de forme (2,Q,1,1) ; reçu : {describe(weight)}.")
    centres = weight.detach().to(torch.float64)[:, :, 0, 0].T * AB_NORM
    grid = torch.round(centres / GRID_SIZE) * GRID_SIZE
    offset = float((centres - grid).abs().max())
    if offset > tolerance:
        raise ValueError(
            "Les poids chargés ne contiennent pas des centres de cases ab : 110 x model_out.weight devrait "
            f"tomber sur la grille de pas {GRID_SIZE:g} ; écart maximal {offset:.4g}. Ce fichier n'est pas "
            "celui des poids officiels d'ECCV16."
        )
    if torch.unique(grid, dim=0).shape[0] != grid.shape[0]:
        raise ValueError("Les centres des cases lus dans les poids ne sont pas tous distincts.")
    ours = ab_bins(dtype=torch.float64)
    known = {tuple(c) for c in grid.round().to(torch.int64).tolist()}
    missing = [tuple(c) for c in ours.round().to(torch.int64).tolist() if tuple(c) not in known]
    if missing:
        raise ValueError(
            f"Les cases lues dans les poids ne couvrent pas le gamut sRGB : {len(missing)} case(s) de ab_bins() "
            f"manquent, par exemple {missing[:3]}."
        )
    return grid.to(torch.float32)


def _resolve(path_or_cache, download):
    if path_or_cache is None:
        return data.asset_path(ECCV16_ASSET.name, download=download)
    if not isinstance(path_or_cache, (str, os.PathLike)):
        raise TypeError(
            "L'argument « path_or_cache » doit être un chemin de fichier ou de dossier ; "
            f"reçu : {describe(path_or_cache)}."
        )
    path = Path(path_or_cache)
    if path.is_dir():
        path = path / ECCV16_ASSET.filename
        if not path.is_file():
            raise data.AssetUnavailableError(
                f"Le dossier « {path.parent} » ne contient pas « {ECCV16_ASSET.filename} »."
            )
    return data.asset_path(ECCV16_ASSET.name, path=path)


def load_pretrained(path_or_cache=None, device=None, download: bool | None = None) -> ECCV16:
    """Charge les poids officiels d'ECCV16 (portage PyTorch de ``richzhang/colorization``).

    Ordre de recherche : le fichier (ou le dossier qui le contient) donné par
    ``path_or_cache``, sinon le cache (``$TORCH_HOME/hub/checkpoints``, là où
    ``torch.hub`` le range), sinon un téléchargement (sauf ``COURSE_OFFLINE=1``
    ou ``download=False``). Le fichier est vérifié par son empreinte
    (préfixe SHA-256 publié ``9b330a0b``), les noms et formes de toutes les
    couches, puis les centres des cases, lus dans la dernière convolution 1x1
    (:func:`bins_from_weights`).

    Retourne
    --------
    ECCV16
        En mode évaluation, sur ``device`` (CPU par défaut), avec ``model_out``
        (les centres des cases) figé pour un éventuel réglage fin.

    Lève
    ----
    course_lib.data.AssetUnavailableError
        Poids introuvables (le message dit où les déposer).
    ValueError
        Fichier qui n'a pas la forme des poids d'ECCV16.
    """
    path = _resolve(path_or_cache, download)
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or "model_out.weight" not in state:
        raise ValueError(f"Le fichier « {path} » ne contient pas un state_dict d'ECCV16 "
                         "(clé model_out.weight absente).")
    bins = bins_from_weights(state["model_out.weight"])
    model = ECCV16()
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise ValueError(f"Le fichier « {path} » n'a pas les couches d'ECCV16 : {error}") from None
    if bins.shape[0] != ECCV16_BINS:
        raise ValueError(f"Les poids ont {bins.shape[0]} cases au lieu de {ECCV16_BINS}.")
    model.model_out.weight.requires_grad_(False)          # les centres des cases ne s'apprennent pas
    return model.eval().to(device or "cpu")


def try_load_pretrained(path_or_cache=None, device=None, download: bool | None = None) -> ECCV16 | None:
    """Comme :func:`load_pretrained`, mais retourne ``None`` avec un avertissement en français si les poids manquent."""
    try:
        return load_pretrained(path_or_cache, device=device, download=download)
    except (data.AssetUnavailableError, data.AssetChecksumError) as error:
        warnings.warn(f"Poids officiels d'ECCV16 indisponibles ; on entraîne le petit modèle à la place. {error}",
                      stacklevel=2)
        return None
