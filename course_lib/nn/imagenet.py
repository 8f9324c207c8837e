"""Un classifieur ImageNet pré-entraîné (ResNet-18 de torchvision), pour les exemples de classes prédites.

Les poids (45 Mo) sont inscrits au registre des ressources du cours et
cherchés là où torchvision les range (``$TORCH_HOME/hub/checkpoints``), puis
téléchargés une fois si le réseau le permet. Hors ligne et sans poids,
:func:`try_imagenet_classifier` le dit en français et retourne ``None`` : le
notebook utilise alors le petit réseau entraîné sur place.
"""

from __future__ import annotations

import warnings

import torch

from .. import data
from ..images import resize_crop
from ..validation import check_images, check_number

__all__ = ["RESNET18_ASSET", "FRENCH_LABELS", "ImageNetClassifier", "imagenet_classifier",
           "try_imagenet_classifier", "imagenet_categories"]

RESNET18_ASSET = data.register_asset(data.Asset(
    name="resnet18-imagenet",
    filename="resnet18-f37072fd.pth",
    url="https://download.pytorch.org/models/resnet18-f37072fd.pth",
    sha256="f37072fd",  # préfixe publié dans le nom du fichier (convention de torch.hub)
    description="poids ImageNet de ResNet-18 (torchvision, 69,8 % de précision top-1)",
    size_mb=44.7,
    torch_hub=True,
))

#: Moyenne et écart-type des canaux RGB d'ImageNet (normalisation des entrées de torchvision).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: Traductions françaises de quelques classes d'ImageNet (les autres restent en anglais).
FRENCH_LABELS = {
    "anemone fish": "poisson clown", "brown bear": "ours brun (grizzly)", "African chameleon": "caméléon",
    "American chameleon": "anole (caméléon d'Amérique)", "container ship": "porte-conteneurs",
    "motor scooter": "scooter", "leopard": "léopard", "snow leopard": "panthère des neiges",
    "grille": "calandre", "mushroom": "champignon", "Madagascar cat": "maki catta (« chat de Madagascar »)",
    "tabby": "chat tigré", "tiger cat": "chat tigré (« tiger cat »)", "Egyptian cat": "chat égyptien",
    "Persian cat": "chat persan", "Siamese cat": "chat siamois", "tiger": "tigre", "lynx": "lynx",
    "espresso": "expresso", "espresso maker": "machine à expresso", "cup": "tasse",
    "coffee mug": "tasse à café", "coffeepot": "cafetière", "teapot": "théière", "measuring cup": "tasse à mesurer",
    "space shuttle": "navette spatiale", "missile": "missile", "projectile": "projectile",
    "moped": "cyclomoteur", "crash helmet": "casque de moto", "military uniform": "uniforme militaire",
    "suit": "complet", "Windsor tie": "cravate", "bow tie": "nœud papillon", "goldfish": "poisson rouge",
    "jellyfish": "méduse", "dalmatian": "dalmatien", "honeycomb": "rayon de miel", "stone wall": "mur de pierre",
    "pier": "jetée", "palace": "palais", "monastery": "monastère", "stupa": "stupa", "daisy": "marguerite",
    "pot": "pot de fleurs", "vase": "vase", "bee": "abeille", "wig": "perruque", "lab coat": "blouse",
    "mortarboard": "mortier (chapeau universitaire)", "academic gown": "toge universitaire",
    "puck": "rondelle de hockey", "sundial": "cadran solaire", "hourglass": "sablier",
    "lens cap": "bouchon d'objectif", "volcano": "volcan", "mask": "masque", "gasmask": "masque à gaz",
    "zebra": "zèbre", "school bus": "autobus scolaire", "sports car": "voiture de sport", "pizza": "pizza",
    "lakeside": "bord de lac", "valley": "vallée", "alp": "alpe", "cliff": "falaise", "seashore": "bord de mer",
    "mosque": "mosquée", "church": "église", "tile roof": "toit de tuiles", "bubble": "bulle",
    "golden retriever": "golden retriever", "goldfinch": "chardonneret", "banana": "banane",
    "strawberry": "fraise", "orange": "orange", "lemon": "citron", "broccoli": "brocoli",
    "planetarium": "planétarium", "radio telescope": "radiotélescope", "oxygen mask": "masque à oxygène",
    "stethoscope": "stéthoscope", "microscope": "microscope", "wall clock": "horloge murale",
    "velvet": "velours", "wool": "laine", "chain mail": "cotte de mailles", "maze": "labyrinthe",
    "jigsaw puzzle": "casse-tête", "envelope": "enveloppe", "web site": "site web",
    "book jacket": "couverture de livre",
    "comic book": "bande dessinée", "crossword puzzle": "mots croisés", "menu": "menu",
}


def imagenet_categories() -> list[str]:
    """Les 1 000 classes d'ImageNet, en anglais (livrées avec torchvision, hors ligne)."""
    from torchvision.models import ResNet18_Weights

    return list(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


class ImageNetClassifier:
    """ResNet-18 avec ses poids ImageNet, son prétraitement et des étiquettes en français.

    Attributs
    ---------
    model : torch.nn.Module
        Le réseau (en mode évaluation).
    categories : list[str]
        Les 1 000 classes (anglais).
    """

    def __init__(self, model: torch.nn.Module, categories: list[str]):
        self.model = model.eval()
        self.categories = categories

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def label(self, index: int) -> str:
        """Le nom français d'une classe quand on le connaît, sinon le nom anglais."""
        english = self.categories[index]
        return FRENCH_LABELS.get(english, english)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """Images RGB dans [0, 1] -> entrées du réseau : 224×224 au centre, canaux normalisés."""
        batch, _ = check_images(images, "images", channels=3, value_range=(0.0, 1.0))
        batch = resize_crop(batch.to(self.device), 224)
        mean = torch.tensor(IMAGENET_MEAN, device=batch.device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=batch.device).view(1, 3, 1, 1)
        return (batch - mean) / std

    @torch.no_grad()
    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """:math:`p(c|x)` ``(B, 1000)`` pour des images ``(B,3,H,W)`` ou ``(3,H,W)``."""
        return torch.softmax(self.model(self.preprocess(images)), dim=1)

    def top_k(self, images: torch.Tensor, k: int = 5) -> list[list[tuple[str, float]]]:
        """Les ``k`` classes les plus probables de chaque image : ``[[(nom, probabilité), ...], ...]``."""
        check_number(k, "k", integer=True, positive=True, high=len(self.categories))
        values, indices = self.probabilities(images).topk(k, dim=1)
        return [[(self.label(int(i)), float(v)) for v, i in zip(row_v, row_i)]
                for row_v, row_i in zip(values.cpu(), indices.cpu())]


def imagenet_classifier(path=None, download: bool | None = None, device=None) -> ImageNetClassifier:
    """Charge ResNet-18 avec ses poids ImageNet (torchvision), par le registre des ressources du cours.

    Paramètres
    ----------
    path : chemin, optionnel
        Le fichier ``resnet18-f37072fd.pth`` déjà téléchargé.
    download : bool, optionnel
        Autoriser le téléchargement (par défaut : oui, sauf ``COURSE_OFFLINE=1``).
    device : torch.device ou str, optionnel

    Lève
    ----
    course_lib.data.AssetUnavailableError
        Poids introuvables (le message dit où les déposer).

    Références
    ----------
    He, K., Zhang, X., Ren, S. et Sun, J. (2016). Deep residual learning for image recognition. *CVPR*.
    Russakovsky, O. et al. (2015). ImageNet large scale visual recognition challenge. *IJCV* 115(3).
    """
    import torchvision

    weights = data.asset_path(RESNET18_ASSET.name, path=path, download=download)
    state = torch.load(weights, map_location="cpu", weights_only=True)
    model = torchvision.models.resnet18(weights=None)
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise ValueError(f"Le fichier « {weights} » ne contient pas des poids de ResNet-18 : {error}") from None
    return ImageNetClassifier(model.to(device or "cpu"), imagenet_categories())


def try_imagenet_classifier(path=None, download: bool | None = None, device=None) -> ImageNetClassifier | None:
    """Comme :func:`imagenet_classifier`, mais retourne ``None`` avec un avertissement en français si les
    poids manquent (hors ligne), pour qu'un notebook prenne son repli."""
    try:
        return imagenet_classifier(path=path, download=download, device=device)
    except (data.AssetUnavailableError, data.AssetChecksumError) as error:
        warnings.warn(f"Pas de classifieur ImageNet : {error} On utilise à la place le petit réseau "
                      "entraîné dans ce notebook.", RuntimeWarning, stacklevel=2)
        return None
