"""Les copies de travail : le modèle du cours, une copie par processus, l'environnement des noyaux."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from .results import GradingSettings

_GiB = 2**30


def _nbgrader_env() -> dict[str, str]:
    """Environnement des commandes nbgrader : les exécutables de ce Python d'abord (alembic)."""
    env = os.environ.copy()
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def run_nbgrader(args: list[str], cwd: Path, timeout: float = 900):
    import subprocess

    result = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, capture_output=True, text=True,
                            timeout=timeout, env=_nbgrader_env())
    if result.returncode != 0:
        raise RuntimeError(f"La commande « nbgrader {' '.join(args)} » a échoué (code {result.returncode}) :\n"
                           f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


# --------------------------------------------------------------------------- préparation

_WORKER_CONFIG = '''"""Copie de travail de la correction parallèle (écrite par course_grading)."""
c = get_config()  # noqa: F821
load_subconfig({course_config!r})  # noqa: F821 (la configuration du cours)
c.CourseDirectory.root = {root!r}
c.CourseDirectory.db_url = {db_url!r}
c.Execute.kernel_name = {kernel!r}
# Le noyau parle à la correction par des sockets Unix : il n'a pas de réseau (course_grading.isolation).
c.LimitedExecute.kernel_transport = "ipc"
# La preuve de chaque cellule de test (course_grading.proof) : c'est la correction qui décide du verdict.
c.Autograde.autograde_preprocessors = [
    "course_grading.proof.AppendProof", "course_grading.nbgrader_plugins.LimitedExecute",
    "course_grading.proof.VerifyProof", "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor", "nbgrader.preprocessors.LimitOutput",
    "course_grading.proof.VerifiedGrades", "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata", "course_grading.safe_html.SanitizeNotebook",
]
c.LimitedExecute.max_cell_output = {max_cell!r}
c.LimitedExecute.max_notebook_output = {max_notebook!r}
'''


def _course_knows(database: Path, assignment: str) -> bool:
    """Vrai si le carnet de notes du cours connaît déjà ce TP (``nbgrader generate_assignment`` fait)."""
    from nbgrader.api import Gradebook, MissingEntry

    if not database.exists():
        return False
    with Gradebook(f"sqlite:///{database}") as gradebook:
        try:
            gradebook.find_assignment(assignment)
        except MissingEntry:
            return False
    return True


def _copy_database(source: Path, target: Path) -> None:
    """Copie cohérente d'une base SQLite (API de sauvegarde de SQLite, pas une copie de fichier)."""
    import sqlite3

    with sqlite3.connect(source) as origin, sqlite3.connect(target) as copy:
        origin.backup(copy)


def prepare_template(course: Path, assignment: str, run: Path) -> Path:
    """Copie minimale du cours pour les processus : configuration, source du TP, carnet de notes.

    Comme ``nbgrader autograde``, on se sert du TP tel que le carnet du cours le connaît. S'il ne le
    connaît pas encore, ``nbgrader generate_assignment`` l'inscrit (dans la copie, puis dans le carnet
    du cours, dont le processus principal reste le seul écrivain).
    """
    template = run / "template"
    (template / "source").mkdir(parents=True)
    shutil.copy2(course / "nbgrader_config.py", template / "nbgrader_config.py")
    shutil.copytree(course / "source" / assignment, template / "source" / assignment,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    database = course / "gradebook.db"
    if _course_knows(database, assignment):
        _copy_database(database, template / "gradebook.db")
        return template
    run_nbgrader(["generate_assignment", assignment, "--force"], cwd=template)
    if not database.exists():
        _copy_database(template / "gradebook.db", database)
    else:
        run_nbgrader(["generate_assignment", assignment, "--force",
                   f"--CourseDirectory.db_url=sqlite:///{database}"], cwd=template)
    return template


def prepare_worker(template: Path, run: Path, index: int, course: Path, settings: GradingSettings) -> Path:
    from .sandbox import KERNEL_NAME

    folder = run / f"worker{index}"
    shutil.copytree(template, folder, ignore=shutil.ignore_patterns("release"))
    max_cell = int(settings.max_output_mib * 2**20)
    (folder / "nbgrader_config.py").write_text(_WORKER_CONFIG.format(
        course_config=str(course / "nbgrader_config.py"), root=str(folder),
        db_url=f"sqlite:///{folder / 'gradebook.db'}", kernel=KERNEL_NAME, max_cell=max_cell,
        max_notebook=4 * max_cell), encoding="utf-8")
    return folder


def base_environment(run: Path, settings: GradingSettings) -> dict[str, str]:
    """Variables communes des noyaux : noyau isolé, limites, caches épinglés (lecture seule), fils de calcul."""
    from .sandbox import write_kernel_spec

    jupyter = run / "jupyter"
    write_kernel_spec(jupyter)
    env = os.environ.copy()
    home = Path.home()
    cache = Path(env.get("XDG_CACHE_HOME") or home / ".cache")
    env.setdefault("COURSE_DATA", str(cache / "course_lib"))   # le HOME du noyau change : on épingle les caches
    env.setdefault("TORCH_HOME", str(cache / "torch"))
    env.setdefault("COURSE_PROFILE", "ci")
    env.setdefault("COURSE_OFFLINE", "1")
    env["JUPYTER_PATH"] = os.pathsep.join(p for p in [str(jupyter), env.get("JUPYTER_PATH", "")] if p)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    # Processus et noyaux importent le même course_lib que nous (celui de cette copie de travail).
    package_parent = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([package_parent] + [
        p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    env["COURSE_SANDBOX_MEMORY"] = str(int(settings.memory_gib * _GiB))
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[name] = str(settings.threads)
    if settings.cell_timeout is not None:
        env["COURSE_CELL_TIMEOUT"] = str(settings.cell_timeout)
    return env
