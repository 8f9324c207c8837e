"""Le noyau Jupyter qui exécute une remise pendant la correction : limites, garde, puis IPython.

La correction (:mod:`course_grading`) lance ce noyau, isolé par le système quand bubblewrap est là
(:mod:`course_grading.isolation`), au lieu du noyau ``python3`` ordinaire. Avant de démarrer IPython, il :

1. lit le **secret** de la remise (un fichier que le lanceur lui a préparé) et efface ce fichier, avant
   tout code de l'étudiant ;
2. importe les outils de test et les **références** de ``course_lib`` qu'utilise le TP, pour que la garde
   les retienne dans leur état d'origine ;
3. fixe des **limites de ressources** (``setrlimit``) : mémoire des données (``RLIMIT_DATA`` : tas et
   mémoire anonyme, là où vont les tableaux NumPy et les tenseurs), taille des fichiers écrits
   (``RLIMIT_FSIZE``), pas de fichier ``core``. On ne limite pas l'espace d'adressage (``RLIMIT_AS``) :
   PyTorch, OpenBLAS et OpenCV en réservent près de 5 Gio sans s'en servir ;
4. installe la **garde** (:class:`course_grading.guard.Guard`, un audit hook qui ne se retire pas).

Paramètres (variables d'environnement lues au démarrage du noyau)
------------------------------------------------------------------
COURSE_SANDBOX_MEMORY
    Limite de mémoire (``RLIMIT_DATA``) en octets (0 ou absent : pas de limite).
COURSE_SANDBOX_FILE_SIZE
    Taille maximale d'un fichier écrit, en octets (défaut : 256 Mio).
COURSE_SANDBOX_LOG
    Fichier journal des infractions (une ligne JSON par infraction).
COURSE_SANDBOX_ALLOW
    Dossiers où l'écriture est permise, séparés par ``os.pathsep``, en plus du dossier de travail.
COURSE_SANDBOX_SECRET_FILE
    Le fichier du secret de la remise (lu puis effacé au démarrage).
COURSE_SANDBOX_REFERENCES
    Les modules de ``course_lib`` qu'utilise le TP, séparés par des virgules.
COURSE_SANDBOX_FORBIDDEN
    Dossiers que le noyau ne doit pas même lire (racine du cours, dossier de la correction).

Utilisation (dans le ``kernel.json`` d'un noyau, par l'intermédiaire du lanceur) ::

    python -m course_grading.sandbox -f {connection_file}
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import sys

from .guard import VIOLATION_TAG, Guard, GuardViolation

__all__ = ["GuardViolation", "Guard", "apply_limits", "main", "KERNEL_NAME", "write_kernel_spec", "VIOLATION_TAG",
           "read_secret"]

KERNEL_NAME = "course-sandbox"
_MiB = 2**20


def apply_limits(memory_bytes: int | None, file_bytes: int | None = 256 * _MiB) -> None:
    """Fixe les limites du processus (et de ses enfants) : mémoire, taille des fichiers, fichier core.

    Paramètres
    ----------
    memory_bytes : int ou None
        Limite de ``RLIMIT_DATA`` en octets (``None`` ou 0 : inchangée).
    file_bytes : int ou None
        Limite de ``RLIMIT_FSIZE`` en octets (``None`` : inchangée).
    """
    def lower(limit, value):
        soft, hard = resource.getrlimit(limit)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(limit, (value, hard))

    if memory_bytes:
        lower(resource.RLIMIT_DATA, int(memory_bytes))
    if file_bytes:
        lower(resource.RLIMIT_FSIZE, int(file_bytes))
    lower(resource.RLIMIT_CORE, 0)


def read_secret(path: str | None) -> bytes | None:
    """Lit le secret de la remise et efface son fichier (avant tout code de l'étudiant)."""
    if not path:
        return None
    try:
        with open(path, "rb") as stream:
            secret = stream.read()
    except OSError:
        return None
    try:
        os.remove(path)
    except OSError:
        pass
    return secret or None


def write_kernel_spec(folder, python: str | None = None) -> str:
    """Écrit le ``kernel.json`` du noyau de correction dans ``folder/kernels/`` ; retourne son dossier.

    Le noyau passe par le lanceur :mod:`course_grading.isolation`, qui l'isole avec bubblewrap quand
    c'est possible. ``folder`` est à mettre en tête de ``JUPYTER_PATH`` pour que Jupyter trouve ce noyau.
    """
    spec_dir = os.path.join(os.fspath(folder), "kernels", KERNEL_NAME)
    os.makedirs(spec_dir, exist_ok=True)
    spec = {
        "argv": [python or sys.executable, "-m", "course_grading.isolation", "-f", "{connection_file}"],
        "display_name": "Python 3 (correction isolée)",
        "language": "python",
        "interrupt_mode": "signal",
        "metadata": {"debugger": False},
    }
    with open(os.path.join(spec_dir, "kernel.json"), "w", encoding="utf-8") as f:
        json.dump(spec, f, indent=1)
    return spec_dir


def main(argv: list[str] | None = None) -> None:
    """Point d'entrée du noyau : secret, références, limites, garde, puis le noyau IPython ordinaire."""
    memory = int(os.environ.get("COURSE_SANDBOX_MEMORY", "0") or 0)
    file_size = int(os.environ.get("COURSE_SANDBOX_FILE_SIZE", str(256 * _MiB)) or 0)
    allowed = [os.getcwd()] + [p for p in os.environ.get("COURSE_SANDBOX_ALLOW", "").split(os.pathsep) if p]
    secret = read_secret(os.environ.pop("COURSE_SANDBOX_SECRET_FILE", None))
    references = tuple(n for n in os.environ.get("COURSE_SANDBOX_REFERENCES", "").split(",") if n)
    # Les outils à protéger et la machinerie d'IPython sont chargés avant tout code d'étudiant.
    import numpy.testing  # noqa: F401
    import torch.testing  # noqa: F401
    from ipykernel import ipkernel, kernelapp, zmqshell  # noqa: F401

    import course_lib.grading  # noqa: F401

    for name in references:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - une référence absente se verra dans les tests, pas ici
            pass
    apply_limits(memory, file_size)
    forbidden = [p for p in os.environ.get("COURSE_SANDBOX_FORBIDDEN", "").split(os.pathsep) if p]
    arguments = sys.argv[1:] if argv is None else list(argv)
    if "-f" in arguments and arguments.index("-f") + 1 < len(arguments):
        allowed.append(os.path.abspath(arguments[arguments.index("-f") + 1]))   # son fichier de connexion
    Guard(allowed, os.environ.get("COURSE_SANDBOX_LOG"), secret, references, forbidden).install()
    del secret
    sys.argv = [sys.argv[0]] + (sys.argv[1:] if argv is None else list(argv))
    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
