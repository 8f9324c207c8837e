"""Appareil de calcul, profils de taille et graine aléatoire.

Le même notebook doit tourner en quelques secondes dans l'intégration
continue, en quelques minutes sur un portable et aux tailles des articles sur
un GPU. Les tailles et les nombres d'itérations viennent donc d'un *profil* :

- ``"ci"`` : tests automatiques, quelques secondes par notebook ;
- ``"cpu"`` : un portable, quelques minutes, des résultats qui valent d'être regardés ;
- ``"gpu"`` : les tailles des articles.

Le profil est choisi par la variable d'environnement ``COURSE_PROFILE`` ou,
à défaut, d'après l'appareil (``"gpu"`` si CUDA est présent, ``"cpu"`` sinon).
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import numpy as np
import torch

from .validation import check_choice, check_number

__all__ = ["device", "Profile", "PROFILES", "profile", "seed", "environment_summary"]


def device(prefer: str | None = None) -> torch.device:
    """Retourne l'appareil de calcul : CUDA, puis MPS (Mac), puis le CPU.

    Paramètres
    ----------
    prefer : str, optionnel
        ``"cuda"``, ``"mps"`` ou ``"cpu"`` pour imposer un appareil. La variable
        d'environnement ``COURSE_DEVICE`` joue le même rôle.

    Retourne
    --------
    torch.device
    """
    choice = prefer or os.environ.get("COURSE_DEVICE") or None
    if choice is not None:
        check_choice(choice, "prefer", ("cuda", "mps", "cpu"))
        if choice == "cuda" and not torch.cuda.is_available():
            raise ValueError("L'appareil « cuda » a été demandé, mais aucun GPU CUDA n'est disponible.")
        if choice == "mps" and not _mps_available():
            raise ValueError("L'appareil « mps » a été demandé, mais il n'est pas disponible sur cette machine.")
        return torch.device(choice)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


@dataclass(frozen=True)
class Profile:
    """Tailles et nombres d'itérations d'un profil d'exécution.

    Attributs
    ---------
    name : str
        ``"ci"``, ``"cpu"`` ou ``"gpu"``.
    image_size : int
        Côté des images traitées (pixels).
    steps : int
        Itérations d'une optimisation (synthèse de texture, transfert de style).
    epochs : int
        Époques d'un entraînement.
    batch_size : int
        Taille des lots d'entraînement.
    n_train : int
        Nombre d'exemples d'entraînement.
    n_scenes : int
        Taille de la base de scènes pour l'appariement.
    """

    name: str
    image_size: int
    steps: int
    epochs: int
    batch_size: int
    n_train: int
    n_scenes: int

    def pick(self, ci, cpu, gpu):
        """Retourne la valeur qui correspond à ce profil parmi trois.

        Exemple : ``profile().pick(ci=32, cpu=128, gpu=512)``.
        """
        return {"ci": ci, "cpu": cpu, "gpu": gpu}[self.name]


PROFILES = {
    "ci": Profile("ci", image_size=64, steps=20, epochs=1, batch_size=32, n_train=512, n_scenes=400),
    "cpu": Profile("cpu", image_size=128, steps=200, epochs=5, batch_size=64, n_train=4000,
                   n_scenes=5000),
    "gpu": Profile("gpu", image_size=256, steps=1000, epochs=30, batch_size=128, n_train=50000,
                   n_scenes=100000),
}


def profile(name: str | None = None) -> Profile:
    """Retourne le profil d'exécution.

    Paramètres
    ----------
    name : str, optionnel
        ``"ci"``, ``"cpu"`` ou ``"gpu"``. Par défaut : la variable
        ``COURSE_PROFILE``, sinon ``"gpu"`` si CUDA est présent et ``"cpu"`` autrement.
    """
    if name is None:
        name = os.environ.get("COURSE_PROFILE") or ("gpu" if torch.cuda.is_available() else "cpu")
        if name not in PROFILES:
            raise ValueError(
                f"La variable d'environnement COURSE_PROFILE doit valoir « ci », « cpu » ou « gpu » ; "
                f"reçu : {name!r}."
            )
    check_choice(name, "name", PROFILES)
    return PROFILES[name]


def seed(n: int = 0) -> int:
    """Fixe la graine de Python, de NumPy et de PyTorch (CPU et GPU) en un seul appel.

    Retourne la graine, pour l'afficher dans un notebook.
    """
    check_number(n, "n", integer=True, nonnegative=True)
    random.seed(n)
    np.random.seed(n % 2**32)
    torch.manual_seed(n)
    return n


def environment_summary() -> str:
    """Résumé de l'environnement, à afficher au début de chaque notebook.

    Donne les versions (Python, PyTorch, course_lib), l'appareil de calcul, le
    profil et ses tailles, et les paquets optionnels présents.
    """
    import importlib.util
    import platform

    from . import __version__

    dev = device()
    if dev.type == "cuda":
        name = torch.cuda.get_device_name(dev)
        memory = torch.cuda.get_device_properties(dev).total_memory / 2**30
        where = f"cuda ({name}, {memory:.0f} Gio)"
    else:
        where = f"{dev.type} ({torch.get_num_threads()} fils d'exécution)"
    prof = profile()
    optional = {"faiss": "faiss", "PyMaxflow": "maxflow", "OpenCV": "cv2", "nbgrader": "nbgrader",
                "ipywidgets": "ipywidgets"}
    present = [label for label, module in optional.items() if importlib.util.find_spec(module)]
    missing = [label for label, module in optional.items() if not importlib.util.find_spec(module)]
    lines = [
        f"course_lib {__version__} | Python {platform.python_version()} | PyTorch {torch.__version__}",
        f"appareil : {where}",
        f"profil « {prof.name} » : images {prof.image_size} px, {prof.steps} itérations, "
        f"{prof.epochs} époque(s), lots de {prof.batch_size}, {prof.n_train} exemples, {prof.n_scenes} scènes",
        "paquets présents : " + (", ".join(present) or "aucun"),
    ]
    if missing:
        lines.append("paquets absents : " + ", ".join(missing))
    return "\n".join(lines)
