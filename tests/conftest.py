"""Configuration commune des tests : aucun fichier ne fuit dans le HOME de la machine, pas de réseau.

Les variables sont fixées avant tout import de jupyter, matplotlib ou torch, et héritées par
les noyaux que lancent nbval et nbgrader ainsi que par les processus de pytest-xdist.
"""

import os
import socket
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _isolate_environment() -> None:
    if os.environ.get("COURSE_TEST_HOME"):  # déjà fait (processus parent de pytest-xdist)
        return
    home = Path(tempfile.mkdtemp(prefix="course-tests-"))
    variables = {
        "COURSE_TEST_HOME": home,
        "JUPYTER_CONFIG_DIR": home / "jupyter-config",
        "JUPYTER_DATA_DIR": home / "jupyter-data",
        "JUPYTER_RUNTIME_DIR": home / "jupyter-runtime",
        "IPYTHONDIR": home / "ipython",
        "MPLCONFIGDIR": home / "matplotlib",
        "TORCH_HOME": home / "torch",
        "COURSE_DATA": home / "course-data",
        "XDG_CACHE_HOME": home / "cache",
    }
    for name, value in variables.items():
        Path(value).mkdir(parents=True, exist_ok=True)
        os.environ[name] = str(value)
    os.environ.setdefault("COURSE_PROFILE", "ci")
    os.environ["COURSE_OFFLINE"] = "1"  # aucun téléchargement pendant les tests
    # pytest-xdist lance un processus par cœur : un fil de calcul chacun évite la sursouscription
    # (et les noyaux lancés par nbval et nbgrader en héritent).
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # pas d'attente active sur une machine partagée
    os.environ["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    # Les noyaux lancés par nbval et nbgrader doivent importer la copie de travail.
    paths = [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    # Les exécutables de l'environnement (jupyter, alembic pour nbgrader) d'abord.
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


_isolate_environment()


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Un fil PyTorch par test : la suite tourne sur 2 cœurs avec 2 processus pytest-xdist ; plus de fils
    se disputeraient les cœurs (attente active d'OpenMP) et ralentiraient tout d'un facteur 3 à 4."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def no_network(monkeypatch):
    """Toute tentative de connexion réseau fait échouer le test."""
    def refuse(*args, **kwargs):
        raise AssertionError("accès réseau interdit pendant les tests")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
