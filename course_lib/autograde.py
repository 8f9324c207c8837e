"""Correction de toute une classe avec nbgrader, en parallèle et sous garde (``make grade TP=TPn``).

``nbgrader autograde`` corrige les remises l'une après l'autre, sans limite de
mémoire, et un seul notebook fautif peut faire échouer la commande. Ce module
garde nbgrader et son carnet de notes (``gradebook.db``) dessous, et ajoute :

- des **processus de correction parallèles** : chacun corrige dans sa propre
  copie du cours, avec **son propre carnet de notes** SQLite ; le processus
  principal, seul à écrire dans le carnet du cours, y **fusionne** chaque
  résultat dès qu'il arrive (jamais deux écrivains sur une même base) ;
- par remise, une **limite de temps** (au-delà, le processus et son noyau sont
  tués et un nouveau processus reprend la file) et une **limite de mémoire**
  (le noyau tourne sous ``setrlimit``, voir :mod:`course_lib.sandbox`) ;
- une **garde** dans le noyau (fichiers hors du dossier de la remise, programmes
  lancés, outils de test remplacés), une sortie bornée et la mort du noyau
  rapportée cellule par cellule (:mod:`course_lib.nbgrader_plugins`) ;
- les fautes : notebook illisible ou absent, temps ou mémoire dépassés, sortie
  démesurée, noyau arrêté, écriture hors du dossier, « monkeypatch » des outils
  de test. L'étudiant reçoit 0 avec un motif clair en français, et sa remise est
  **signalée pour une révision manuelle** (``needs_manual_grade`` dans le carnet,
  visible dans le formgrader) ; les autres sont corrigés normalement ;
- une barre de progression, un fichier CSV des notes, et le **retour HTML en
  français** de chaque étudiant, sans le code des tests cachés ;
- les fichiers de ``submitted/`` ne sont jamais exposés au code corrigé (il
  travaille sur une copie) ; leurs empreintes SHA-256 sont vérifiées avant et
  après, et un fichier modifié ou perdu est restauré depuis la copie.

Utilisation ::

    make grade TP=TP0                          # depuis la racine du dépôt
    python -m course_lib.autograde TP0 --workers 4 --timeout 600 --memory 4

    >>> from course_lib import autograde
    >>> report = autograde.grade("TP0")        # doctest: +SKIP
    >>> report.csv_path                        # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import html
import json
import logging
import multiprocessing.connection
import os
import shutil
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from .validation import check_choice, check_number, describe

__all__ = ["GradingSettings", "SubmissionResult", "GradingReport", "grade", "discover_submissions",
           "checksums", "failure_page", "main", "STATUS_OK", "STATUS_REVIEW"]

STATUS_OK = "ok"
STATUS_REVIEW = "à revoir"
AUTO_COMMENT_TAG = "[correction automatique]"
_GiB = 2**30
_MEMORY_MARKERS = ("can't allocate memory", "Cannot allocate memory", "Unable to allocate")


# --------------------------------------------------------------------------- réglages et résultats

@dataclass
class GradingSettings:
    """Réglages d'une correction.

    Paramètres
    ----------
    workers : int
        Nombre de processus de correction en parallèle (défaut : nombre de cœurs).
    timeout : float
        Limite de temps par remise, en secondes (toute la remise, tous ses notebooks).
    memory_gib : float
        Limite de mémoire du noyau, en Gio (``RLIMIT_DATA``) ; 0 : pas de limite.
    cell_timeout : int, optionnel
        Délai par cellule (secondes) ; par défaut celui de ``nbgrader_config.py``.
    max_output_mib : float
        Sortie maximale d'une cellule, en Mio (le notebook entier : quatre fois plus).
    threads : int, optionnel
        Fils de calcul (OpenMP, BLAS) par noyau ; par défaut cœurs / processus.
    feedback : bool
        Produire le retour HTML de chaque étudiant.
    keep_workdir : bool
        Garder le dossier de travail temporaire (pour déboguer).
    """

    workers: int = 0
    timeout: float = 600.0
    memory_gib: float = 4.0
    cell_timeout: int | None = None
    max_output_mib: float = 5.0
    threads: int | None = None
    feedback: bool = True
    keep_workdir: bool = False

    def __post_init__(self):
        cores = os.cpu_count() or 1
        self.workers = int(check_number(self.workers, "workers", nonnegative=True, integer=True)) or cores
        self.timeout = float(check_number(self.timeout, "timeout", positive=True))
        self.memory_gib = float(check_number(self.memory_gib, "memory_gib", nonnegative=True))
        if self.cell_timeout is not None:
            self.cell_timeout = int(check_number(self.cell_timeout, "cell_timeout", low=1, integer=True))
        self.max_output_mib = float(check_number(self.max_output_mib, "max_output_mib", positive=True))
        if self.threads is None:
            self.threads = max(1, cores // self.workers)
        self.threads = int(check_number(self.threads, "threads", low=1, integer=True))


@dataclass
class SubmissionResult:
    """Le résultat de la correction d'une remise."""

    student: str
    score: float = 0.0
    max_score: float = 0.0
    status: str = STATUS_OK
    reasons: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def flagged(self) -> bool:
        return self.status == STATUS_REVIEW


@dataclass
class GradingReport:
    """Ce que retourne :func:`grade` : un résultat par étudiant, le CSV, la durée."""

    assignment: str
    results: list[SubmissionResult]
    csv_path: Path
    seconds: float
    restored: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)

    def by_student(self) -> dict[str, SubmissionResult]:
        return {r.student: r for r in self.results}

    def summary(self) -> str:
        flagged = [r for r in self.results if r.flagged]
        lines = [f"{self.assignment} : {len(self.results)} remise(s) corrigée(s) en {self.seconds:.1f} s ; "
                 f"{len(flagged)} à revoir ; notes dans {self.csv_path}."]
        lines += [f"  - {r.student} : {' ; '.join(r.reasons)}" for r in flagged]
        if self.restored:
            lines.append(f"  ATTENTION : {len(self.restored)} fichier(s) remis modifié(s) pendant la correction "
                         "ont été restaurés : " + ", ".join(self.restored))
        if self.added:
            lines.append(f"  ATTENTION : {len(self.added)} fichier(s) sont apparus dans submitted/ pendant la "
                         "correction (laissés en place) : " + ", ".join(self.added[:20]))
        return "\n".join(lines)


# --------------------------------------------------------------------------- fichiers

def discover_submissions(course: Path, assignment: str) -> list[str]:
    """Les étudiants qui ont une remise de ``assignment`` dans ``course/submitted/<étudiant>/``."""
    submitted = Path(course) / "submitted"
    if not submitted.is_dir():
        return []
    return sorted(p.name for p in submitted.iterdir()
                  if (p / assignment).is_dir() and not p.name.startswith("."))


def checksums(folder: Path) -> dict[str, str]:
    """Empreintes SHA-256 de tous les fichiers sous ``folder`` (chemins relatifs)."""
    folder = Path(folder)
    result = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            digest = hashlib.sha256()
            with open(path, "rb") as stream:
                for block in iter(lambda: stream.read(1 << 20), b""):
                    digest.update(block)
            result[str(path.relative_to(folder))] = digest.hexdigest()
    return result


def _replace_tree(source: Path, target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    if source.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(source, target)


def _read_timestamp(folder: Path) -> str | None:
    path = folder / "timestamp.txt"
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def _nbgrader_env() -> dict[str, str]:
    """Environnement des commandes nbgrader : les exécutables de ce Python d'abord (alembic)."""
    env = os.environ.copy()
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def _nbgrader(args: list[str], cwd: Path, timeout: float = 900):
    import subprocess

    result = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, capture_output=True, text=True,
                            timeout=timeout, env=_nbgrader_env())
    if result.returncode != 0:
        raise RuntimeError(f"La commande « nbgrader {' '.join(args)} » a échoué (code {result.returncode}) :\n"
                           f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


# --------------------------------------------------------------------------- préparation

_WORKER_CONFIG = '''"""Copie de travail de la correction parallèle (écrite par course_lib.autograde)."""
c = get_config()  # noqa: F821
load_subconfig({course_config!r})  # noqa: F821 (la configuration du cours)
c.CourseDirectory.root = {root!r}
c.CourseDirectory.db_url = {db_url!r}
c.Execute.kernel_name = {kernel!r}
c.Autograde.autograde_preprocessors = [
    "course_lib.nbgrader_plugins.LimitedExecute", "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor", "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades", "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.LimitedExecute.max_cell_output = {max_cell!r}
c.LimitedExecute.max_notebook_output = {max_notebook!r}
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades", "course_lib.nbgrader_plugins.HideHiddenTests",
    "nbgrader.preprocessors.ClearHiddenTests", "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
c.HTMLExporter.template_name = "feedback_fr"
c.HTMLExporter.extra_template_basedirs = {templates!r}
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


def _prepare_template(course: Path, assignment: str, run: Path) -> Path:
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
    _nbgrader(["generate_assignment", assignment, "--force"], cwd=template)
    if not database.exists():
        _copy_database(template / "gradebook.db", database)
    else:
        _nbgrader(["generate_assignment", assignment, "--force",
                   f"--CourseDirectory.db_url=sqlite:///{database}"], cwd=template)
    return template


def _prepare_worker(template: Path, run: Path, index: int, course: Path, settings: GradingSettings) -> Path:
    from .nbgrader_plugins import feedback_template_dirs
    from .sandbox import KERNEL_NAME

    folder = run / f"worker{index}"
    shutil.copytree(template, folder, ignore=shutil.ignore_patterns("release"))
    max_cell = int(settings.max_output_mib * 2**20)
    (folder / "nbgrader_config.py").write_text(_WORKER_CONFIG.format(
        course_config=str(course / "nbgrader_config.py"), root=str(folder),
        db_url=f"sqlite:///{folder / 'gradebook.db'}", kernel=KERNEL_NAME, max_cell=max_cell,
        max_notebook=4 * max_cell, templates=feedback_template_dirs()), encoding="utf-8")
    return folder


def _base_environment(run: Path, settings: GradingSettings) -> dict[str, str]:
    """Variables communes des noyaux : noyau sous garde, limites, caches épinglés, fils de calcul."""
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
    package_parent = str(Path(__file__).resolve().parent.parent)
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


# --------------------------------------------------------------------------- le processus de correction

class _Capture(logging.Handler):
    """Retient les messages d'erreur de nbgrader pendant une remise."""

    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record):
        try:
            self.messages.append(record.getMessage())
        except Exception:  # noqa: BLE001 - un message mal formé ne doit pas arrêter la correction
            pass


def _expected_notebooks(folder: Path, assignment: str) -> list[str]:
    return sorted(p.stem for p in (folder / "source" / assignment).glob("*.ipynb"))


def _precheck(submission: Path, notebooks: list[str]) -> list[str]:
    """Notebooks absents ou illisibles : la remise ne peut pas passer par nbgrader."""
    import nbformat

    reasons = []
    for name in notebooks:
        path = submission / f"{name}.ipynb"
        if not path.exists():
            reasons.append(f"le notebook « {name}.ipynb » est absent de la remise")
            continue
        try:
            notebook = nbformat.read(path, as_version=4)
            if not isinstance(notebook.get("cells"), list):
                raise ValueError("pas de liste de cellules")
        except Exception as error:  # noqa: BLE001 - tout fichier illisible est une faute de la remise
            detail = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
            reasons.append(f"le notebook « {name}.ipynb » est illisible (JSON de notebook invalide : {detail})")
    return reasons


def _scan_notebook(path: Path) -> list[str]:
    """Fautes visibles dans un notebook corrigé : mémoire, sortie tronquée, noyau arrêté, garde."""
    from .nbgrader_plugins import KERNEL_DIED, TRUNCATION_TAG
    from .sandbox import VIOLATION_TAG

    reasons = []
    notebook = json.loads(path.read_text(encoding="utf-8"))
    for index, cell in enumerate(notebook.get("cells", [])):
        label = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or f"n° {index + 1}"
        for output in cell.get("outputs", []):
            kind = output.get("output_type")
            text = output.get("text") or ""
            if kind == "stream" and TRUNCATION_TAG in ("".join(text) if isinstance(text, list) else text):
                reasons.append(f"sortie démesurée dans la cellule « {label} » (tronquée)")
            elif kind == "error":
                ename, evalue = output.get("ename", ""), str(output.get("evalue", ""))
                if "MemoryError" in ename or any(m in evalue for m in _MEMORY_MARKERS):
                    reasons.append(f"limite de mémoire dépassée dans la cellule « {label} » ({ename})")
                elif ename == KERNEL_DIED and "pendant cette cellule" in evalue:
                    reasons.append(f"le noyau Python s'est arrêté pendant la cellule « {label} »")
                elif VIOLATION_TAG in evalue and "outils de test" in evalue:
                    if not any(r.startswith("outils de test") for r in reasons):
                        reasons.append("outils de test remplacés (« monkeypatch ») : détecté avant la cellule "
                                       f"« {label} »")
                elif VIOLATION_TAG in evalue:
                    reasons.append(f"action interdite dans la cellule « {label} » : "
                                   f"{evalue.split(VIOLATION_TAG, 1)[1].strip()[:200]}")
    return reasons


def _guard_reasons(log: Path) -> list[str]:
    """Les infractions consignées par la garde du noyau, regroupées par nature (en français)."""
    if not log.exists():
        return []
    labels = {"fichier": "écriture ou suppression hors du dossier de la remise",
              "programme": "lancement d'un programme", "natif": "appel natif interdit",
              "signal": "signal envoyé à un autre processus",
              "outil": "outils de test remplacés (« monkeypatch »)"}
    grouped: dict[str, list[str]] = {}
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines()[:200]:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        details = grouped.setdefault(labels.get(entry.get("type"), "action interdite"), [])
        if entry.get("detail") not in details:
            details.append(str(entry.get("detail"))[:200])
    reasons = []
    for label, details in grouped.items():
        more = f" (et {len(details) - 4} autre(s))" if len(details) > 4 else ""
        reasons.append(f"{label} : {' ; '.join(details[:4])}{more}")
    return reasons


def _gradebook_record(db_url: str, assignment: str, student: str) -> dict:
    """Ce que nbgrader a noté pour cette remise (pour la fusion dans le carnet du cours)."""
    from nbgrader.api import Gradebook

    record = {"timestamp": None, "notebooks": {}}
    with Gradebook(db_url) as gradebook:
        submission = gradebook.find_submission(assignment, student)
        record["timestamp"] = submission.timestamp.isoformat() if submission.timestamp else None
        for notebook in submission.notebooks:
            record["notebooks"][notebook.name] = {
                "late_penalty": notebook.late_submission_penalty,
                "grades": {g.name: {"auto_score": g.auto_score} for g in notebook.grades},
                "comments": {c.name: c.auto_comment for c in notebook.comments},
            }
    return record


def _mirror(real: str, private: Path) -> str:
    """Cache privé d'une remise : des liens vers les entrées du vrai cache (poids, données).

    Le noyau lit le vrai cache à travers les liens ; ce qu'il écrit de nouveau reste dans son dossier
    privé ; écraser ou effacer le contenu du vrai cache lui est refusé par la garde (le chemin résolu
    sort des dossiers permis). Les autres étudiants voient donc toujours le même cache.
    """
    private.mkdir(parents=True, exist_ok=True)
    source = Path(real)
    if source.is_dir():
        for entry in source.iterdir():
            link = private / entry.name
            if not link.exists():
                link.symlink_to(entry)
    return str(private)


def _worker_main(folder: str, assignment: str, log_path: str) -> None:
    """Boucle d'un processus de correction : lit une remise (JSON) sur l'entrée standard, la corrige avec
    nbgrader dans sa copie du cours, écrit le résultat (une ligne JSON) sur la sortie standard.

    Tout le reste (journal de nbgrader, sorties des noyaux) va dans ``log_path``.
    """
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    folder = Path(folder)
    os.chdir(folder)
    os.environ["JUPYTER_RUNTIME_DIR"] = str(folder / "runtime")
    os.environ["MPLCONFIGDIR"] = str(folder / "matplotlib")
    worker_env = dict(os.environ)
    (folder / "tmp").mkdir(exist_ok=True)
    tempfile.tempdir = str(folder / "tmp")    # le TMPDIR des noyaux change à chaque remise, pas le nôtre
    import matplotlib.font_manager  # noqa: F401 - le cache des polices, construit une fois par processus
    from nbgrader.apps import AutogradeApp
    from nbgrader.converters import Autograde, GenerateFeedback, NbGraderException

    app = AutogradeApp.instance()
    app.initialize([assignment, "--force"])
    app.coursedir.assignment_id = assignment
    capture = _Capture()
    app.log.addHandler(capture)
    notebooks = _expected_notebooks(folder, assignment)
    for line in sys.stdin:
        job = json.loads(line)
        if job is None:
            return
        start = time.perf_counter()
        student, private = job["student"], Path(job["private"])
        result = {"student": student, "reasons": [], "graded": False, "feedback": False, "record": None}
        try:
            for sub in ("submitted", "autograded", "feedback"):
                shutil.rmtree(folder / sub / student, ignore_errors=True)
            submission = folder / "submitted" / student / assignment
            shutil.copytree(job["source"], submission)
            result["reasons"] = _precheck(submission, notebooks)
            if not result["reasons"]:
                for sub in ("home", "tmp", "ipython", "cache", "config"):
                    (private / sub).mkdir(parents=True, exist_ok=True)
                shutil.copytree(folder / "matplotlib", private / "matplotlib", dirs_exist_ok=True)
                os.environ.update(HOME=str(private / "home"), TMPDIR=str(private / "tmp"),
                                  IPYTHONDIR=str(private / "ipython"), MPLCONFIGDIR=str(private / "matplotlib"),
                                  XDG_CACHE_HOME=str(private / "cache"), XDG_CONFIG_HOME=str(private / "config"),
                                  # torch fixe ces caches dans l'environnement du processus qui l'importe : le
                                  # noyau ne doit pas hériter de ceux du correcteur (hors du dossier permis).
                                  TORCHINDUCTOR_CACHE_DIR=str(private / "tmp" / "torchinductor"),
                                  TRITON_CACHE_DIR=str(private / "cache" / "triton"),
                                  COURSE_SANDBOX_LOG=job["log"],
                                  COURSE_SANDBOX_ALLOW=str(private),
                                  COURSE_DATA=_mirror(worker_env["COURSE_DATA"], private / "course-data"),
                                  TORCH_HOME=_mirror(worker_env["TORCH_HOME"], private / "torch"))
                capture.messages.clear()
                app.coursedir.student_id = student
                try:
                    Autograde(coursedir=app.coursedir, parent=app).start()
                    graded = True
                except NbGraderException:
                    graded = False
                autograded = folder / "autograded" / student / assignment
                graded = graded and all((autograded / f"{n}.ipynb").exists() for n in notebooks)
                reasons = _guard_reasons(Path(job["log"]))
                for name in notebooks:
                    path = autograded / f"{name}.ipynb"
                    if path.exists():
                        reasons += _scan_notebook(path)
                if not graded:
                    errors = [m.strip().splitlines()[-1] for m in capture.messages if m.strip()]
                    detail = errors[-1][:300] if errors else "erreur inconnue"
                    reasons.append(f"nbgrader n'a pas pu corriger la remise ({detail})")
                result["reasons"] = list(dict.fromkeys(reasons))
                result["graded"] = graded
                if graded:
                    result["record"] = _gradebook_record(app.coursedir.db_url, assignment, student)
                    if job["feedback"] and not result["reasons"]:
                        GenerateFeedback(coursedir=app.coursedir, parent=app).start()
                        result["feedback"] = True
        except Exception:  # noqa: BLE001 - la remise suivante doit pouvoir être corrigée
            result["reasons"].append("erreur interne de la correction : "
                                     + traceback.format_exc().strip().splitlines()[-1][:300])
            result["graded"] = False
        finally:
            os.environ.clear()
            os.environ.update(worker_env)
            shutil.rmtree(private, ignore_errors=True)
        result["seconds"] = time.perf_counter() - start
        answers.write(json.dumps(result, ensure_ascii=False) + "\n")
        answers.flush()


class _Worker:
    """Un processus de correction, sa copie du cours, la remise en cours et son échéance."""

    def __init__(self, folder: Path, assignment: str, env: dict, log: Path):
        self.folder, self.assignment, self.env, self.log = folder, assignment, env, log
        self.job: dict | None = None
        self.deadline = 0.0
        self.started = 0.0
        self._start()

    def _start(self) -> None:
        import subprocess

        code = (f"from course_lib.autograde import _worker_main; "
                f"_worker_main({str(self.folder)!r}, {self.assignment!r}, {str(self.log)!r})")
        self.process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        env=self.env, cwd=self.folder, text=True, encoding="utf-8")

    @property
    def output(self):
        return self.process.stdout

    def submit(self, job: dict, timeout: float) -> None:
        self.job = job
        self.started = time.perf_counter()
        self.deadline = self.started + timeout
        try:
            self.process.stdin.write(json.dumps(job, ensure_ascii=False) + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            pass                           # le processus est mort : read() le dira

    def read(self) -> dict | None:
        """La réponse du processus, ou None s'il s'est arrêté."""
        line = self.process.stdout.readline()
        return json.loads(line) if line else None

    def kill(self) -> None:
        """Tue le processus et tout ce qu'il a lancé (noyau compris)."""
        import psutil

        try:
            parent = psutil.Process(self.process.pid)
            victims = parent.children(recursive=True) + [parent]
        except psutil.NoSuchProcess:
            victims = []
        for victim in victims:
            try:
                victim.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(victims, timeout=10)
        self.process.wait(timeout=10)
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass

    def restart(self) -> None:
        self.kill()
        self.job = None
        self._start()

    def stop(self) -> None:
        import subprocess

        try:
            self.process.stdin.write("null\n")
            self.process.stdin.close()
            self.process.wait(timeout=30)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            pass
        if self.process.poll() is None:
            self.kill()


# --------------------------------------------------------------------------- carnet de notes du cours

def _source_order(course: Path, assignment: str) -> dict[str, list[str]]:
    """Par notebook, les grade_id des cellules à commentaire (réponses), dans l'ordre du notebook."""
    order = {}
    for path in sorted((course / "source" / assignment).glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
        order[path.stem] = [c["metadata"]["nbgrader"]["grade_id"] for c in cells
                            if c.get("metadata", {}).get("nbgrader", {}).get("solution")
                            or c.get("metadata", {}).get("nbgrader", {}).get("task")]
    return order


def _merge(gradebook, assignment: str, student: str, record: dict) -> None:
    """Recopie dans le carnet du cours ce que nbgrader a noté dans le carnet d'un processus.

    Même règle que ``SaveAutoGrades`` de nbgrader : la note automatique est remplacée, une note
    manuelle de l'équipe est gardée (et la cellule signalée) ; un zéro posé par une correction
    automatique précédente (commentaire marqué) est retiré.
    """
    gradebook.update_or_create_student(student)
    extra = {"timestamp": record["timestamp"]} if record.get("timestamp") else {}
    gradebook.update_or_create_submission(assignment, student, **extra)
    for name, data in record["notebooks"].items():
        notebook = gradebook.find_submission_notebook(name, assignment, student)
        ours = any((c.manual_comment or "").startswith(AUTO_COMMENT_TAG) for c in notebook.comments)
        for comment in notebook.comments:
            comment.auto_comment = data["comments"].get(comment.name)
            if ours and (comment.manual_comment or "").startswith(AUTO_COMMENT_TAG):
                comment.manual_comment = None
        for grade in notebook.grades:
            if ours:
                grade.manual_score = None
            grade.auto_score = data["grades"].get(grade.name, {}).get("auto_score")
            grade.needs_manual_grade = grade.manual_score is not None or grade.auto_score is None
        notebook.late_submission_penalty = data.get("late_penalty")
    gradebook.db.commit()


def _flag(gradebook, assignment: str, student: str, reasons: list[str], order: dict[str, list[str]],
          timestamp: str | None) -> None:
    """Zéro et révision manuelle : note manuelle 0 sur chaque cellule notée, motif en commentaire."""
    gradebook.update_or_create_student(student)
    extra = {"timestamp": timestamp} if timestamp else {}
    gradebook.update_or_create_submission(assignment, student, **extra)
    message = f"{AUTO_COMMENT_TAG} Remise notée 0 et signalée pour une révision manuelle : " + " ; ".join(reasons)
    for notebook in gradebook.find_submission(assignment, student).notebooks:
        for grade in notebook.grades:
            grade.manual_score = 0.0
            grade.needs_manual_grade = True
        comments = {c.name: c for c in notebook.comments}
        first = next((comments[g] for g in order.get(notebook.name, []) if g in comments), None)
        for comment in notebook.comments:
            if comment is first:
                comment.manual_comment = message
            elif (comment.manual_comment or "").startswith(AUTO_COMMENT_TAG):
                comment.manual_comment = None
    gradebook.db.commit()


def failure_page(assignment: str, notebook: str, student: str, reasons: list[str], max_score: float) -> str:
    """Page HTML (en français) du retour d'une remise que nbgrader n'a pas pu corriger."""
    items = "\n".join(f"<li>{html.escape(r)}</li>" for r in reasons)
    return f"""<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8"><title>Retour de correction — {html.escape(notebook)}</title>
<style>body {{ font-family: sans-serif; max-width: 50em; margin: 2em auto; line-height: 1.5; }}
.note {{ font-size: 1.3em; }} li {{ color: #a94442; }}</style></head>
<body>
<h1>Retour de correction : {html.escape(assignment)} / {html.escape(notebook)}</h1>
<p class="note">Note : 0 / {max_score:g}</p>
<p>Votre remise (<code>{html.escape(student)}</code>) n'a pas pu être corrigée automatiquement :</p>
<ul>
{items}
</ul>
<p>Elle est signalée pour une révision manuelle : l'équipe du cours la regardera. Vérifiez que le notebook s'ouvre dans
JupyterLab, puis faites <em>Kernel → Restart &amp; Run All</em> et le bouton <strong>Validate</strong> avant de
remettre.</p>
</body></html>
"""


# --------------------------------------------------------------------------- la correction

def grade(assignment: str, course: str | Path | None = None, settings: GradingSettings | None = None,
          students: list[str] | None = None, csv_path: str | Path | None = None,
          progress: bool = True) -> GradingReport:
    """Corrige toutes les remises collectées d'un TP, en parallèle, avec nbgrader.

    Paramètres
    ----------
    assignment : str
        Le TP (un dossier de ``source/``), par exemple ``"TP0"``.
    course : chemin, optionnel
        Racine du cours nbgrader (défaut : ``assignments/`` du dépôt). Les remises sont dans
        ``submitted/<étudiant>/<assignment>/`` (``nbgrader collect`` les y range).
    settings : GradingSettings, optionnel
        Processus, limites de temps et de mémoire, etc.
    students : liste de str, optionnel
        Ne corriger que ces étudiants (défaut : toutes les remises).
    csv_path : chemin, optionnel
        Fichier CSV des notes (défaut : ``<course>/notes_<assignment>.csv``).
    progress : bool
        Afficher la barre de progression.

    Retourne
    --------
    GradingReport
        Un :class:`SubmissionResult` par étudiant (note, statut, motifs), le CSV, la durée.
        Les notes sont aussi dans ``<course>/gradebook.db``, les notebooks corrigés dans
        ``autograded/`` et les retours HTML dans ``feedback/``.
    """
    from tqdm.auto import tqdm

    from .assignments import course_root, list_assignments

    course = Path(course).resolve() if course is not None else course_root()
    if not (course / "nbgrader_config.py").is_file():
        raise ValueError(f"L'argument « course » doit être la racine d'un cours nbgrader (avec nbgrader_config.py) ; "
                         f"reçu : {course}.")
    check_choice(assignment, "assignment", list_assignments(course))
    settings = settings or GradingSettings()
    if not isinstance(settings, GradingSettings):
        raise TypeError(f"L'argument « settings » doit être un GradingSettings ; reçu : {describe(settings)}.")
    available = discover_submissions(course, assignment)
    if students is not None:
        unknown = sorted(set(students) - set(available))
        if unknown:
            raise ValueError(f"L'argument « students » nomme des étudiants sans remise de {assignment} : "
                             f"{', '.join(unknown)}.")
        available = [s for s in available if s in set(students)]
    if not available:
        raise ValueError(f"Aucune remise de {assignment} dans {course / 'submitted'}/<étudiant>/{assignment}/ : "
                         "lancez d'abord « nbgrader collect » (ou déposez-y les remises).")
    csv_path = Path(csv_path) if csv_path is not None else course / f"notes_{assignment}.csv"
    start = time.perf_counter()
    submitted = course / "submitted"
    before = checksums(submitted)
    run = Path(tempfile.mkdtemp(prefix=f"course-grade-{assignment}-"))
    workers: list[_Worker] = []
    try:
        staging = run / "staging"
        (run / "guard").mkdir()
        for student in available:        # la copie sert aussi de sauvegarde des remises
            shutil.copytree(submitted / student / assignment, staging / student / assignment, symlinks=True)
        template = _prepare_template(course, assignment, run)
        env = _base_environment(run, settings)
        for index in range(min(settings.workers, len(available))):
            folder = _prepare_worker(template, run, index, course, settings)
            workers.append(_Worker(folder, assignment, env, run / f"worker{index}.log"))
        results = _run_queue(workers, available, staging, run, course, assignment, settings,
                             tqdm(total=len(available), desc=f"Correction de {assignment}", unit="remise",
                                  disable=not progress))
        for worker in workers:
            worker.stop()
        restored, added = _verify(submitted, before, staging, assignment)
        _write_csv(csv_path, assignment, results)
        _collect_logs(run, course / f"autograde_{assignment}.log")
    finally:
        for worker in workers:
            if worker.process.poll() is None:
                worker.kill()
        if not settings.keep_workdir:
            shutil.rmtree(run, ignore_errors=True)
    return GradingReport(assignment, [results[s] for s in available], csv_path, time.perf_counter() - start,
                         restored, added)


def _run_queue(workers, students, staging, run, course, assignment, settings, bar) -> dict[str, SubmissionResult]:
    """Distribue les remises aux processus, surveille les échéances, fusionne dans le carnet du cours."""
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    warnings.filterwarnings("ignore", category=SAWarning)   # bavardage interne de nbgrader.api (add_submission)
    queue = list(students)
    results: dict[str, SubmissionResult] = {}
    order = _source_order(course, assignment)
    failed: dict[str, list[str]] = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        while queue or any(w.job for w in workers):
            for worker in workers:
                if worker.job is None and queue:
                    student = queue.pop(0)
                    worker.submit({"student": student, "source": str(staging / student / assignment),
                                   "private": str(run / "private" / f"{worker.folder.name}-{student}"),
                                   # journal de la garde hors des dossiers où le noyau peut écrire
                                   "log": str(run / "guard" / f"{worker.folder.name}-{student}.jsonl"),
                                   "feedback": settings.feedback}, settings.timeout)
            busy = {w.output: w for w in workers if w.job is not None}
            now = time.perf_counter()
            wait = max(0.0, min(w.deadline for w in busy.values()) - now) if busy else 0.0
            ready = multiprocessing.connection.wait(list(busy), timeout=min(wait, 1.0) + 0.01)
            for stream in ready:
                worker = busy[stream]
                student = worker.job["student"]
                answer = worker.read()
                if answer is None:
                    answer = {"student": student, "graded": False, "feedback": False, "record": None,
                              "reasons": ["le processus de correction s'est arrêté brutalement"],
                              "seconds": time.perf_counter() - worker.started}
                    worker.restart()
                else:
                    worker.job = None
                results[student] = _absorb(gradebook, course, assignment, worker.folder, answer, order, failed)
                bar.update(1)
            for worker in workers:
                if worker.job is not None and time.perf_counter() > worker.deadline:
                    student = worker.job["student"]
                    answer = {"student": student, "graded": False, "feedback": False, "record": None,
                              "reasons": [f"limite de temps dépassée ({settings.timeout:g} s pour la remise) : "
                                          "correction arrêtée"], "seconds": time.perf_counter() - worker.started}
                    worker.restart()
                    results[student] = _absorb(gradebook, course, assignment, worker.folder, answer, order, failed)
                    bar.update(1)
            bar.set_postfix_str(f"{sum(r.flagged for r in results.values())} à revoir")
        bar.close()
        for student, reasons in failed.items():
            _flag(gradebook, assignment, student, reasons, order, _read_timestamp(staging / student / assignment))
        for student, result in results.items():
            submission = gradebook.find_submission(assignment, student)
            result.score, result.max_score = float(submission.score or 0.0), float(submission.max_score or 0.0)
    if settings.feedback:
        _feedback_for_flagged(course, assignment, results, failed, staging)
    return results


def _absorb(gradebook, course, assignment, folder, answer, order, failed) -> SubmissionResult:
    """Un résultat de processus : fusion dans le carnet, copie des notebooks corrigés et du retour."""
    student = answer["student"]
    reasons = answer["reasons"]
    for sub in ("autograded", "feedback"):
        shutil.rmtree(course / sub / student / assignment, ignore_errors=True)
    if answer.get("graded") and answer.get("record"):
        _merge(gradebook, assignment, student, answer["record"])
        _replace_tree(folder / "autograded" / student / assignment, course / "autograded" / student / assignment)
    if answer.get("feedback"):
        _replace_tree(folder / "feedback" / student / assignment, course / "feedback" / student / assignment)
    if reasons:
        failed[student] = reasons
    return SubmissionResult(student, status=STATUS_REVIEW if reasons else STATUS_OK, reasons=list(reasons),
                            seconds=float(answer.get("seconds", 0.0)))


def _feedback_for_flagged(course: Path, assignment: str, results, failed, staging: Path) -> None:
    """Retour des remises signalées : nbgrader quand il y a un notebook corrigé, sinon une page d'explication."""
    notebooks = sorted(p.stem for p in (course / "source" / assignment).glob("*.ipynb"))
    for student, reasons in failed.items():
        autograded = course / "autograded" / student / assignment
        if autograded.is_dir() and all((autograded / f"{n}.ipynb").exists() for n in notebooks):
            try:
                _nbgrader(["generate_feedback", assignment, "--student", student, "--force"], cwd=course)
                continue
            except RuntimeError:
                pass
        target = course / "feedback" / student / assignment
        target.mkdir(parents=True, exist_ok=True)
        for extra in ("timestamp.txt", "submission_secret.txt"):     # nbgrader release_feedback en a besoin
            if (staging / student / assignment / extra).is_file():
                shutil.copy2(staging / student / assignment / extra, target / extra)
        for name in notebooks:
            (target / f"{name}.html").write_text(
                failure_page(assignment, name, student, reasons, results[student].max_score), encoding="utf-8")


def _verify(submitted: Path, before: dict[str, str], staging: Path, assignment: str) -> tuple[list[str], list[str]]:
    """Compare les empreintes de submitted/ avant et après la correction.

    Un fichier de ce TP modifié ou disparu est restauré depuis la copie faite au début ; un fichier
    apparu est seulement signalé (``nbgrader collect`` a pu tourner en même temps : on n'efface rien).
    Retourne ``(restaurés, apparus)``.
    """
    after = checksums(submitted)
    changed = sorted(k for k, v in before.items() if after.get(k) != v)
    restored = []
    for relative in changed:
        parts = Path(relative).parts
        backup = staging / relative
        if len(parts) > 2 and parts[1] == assignment and backup.is_file():
            (submitted / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(backup, submitted / relative)
            restored.append(relative)
    lost = [k for k in changed if k not in restored]
    if lost:
        raise RuntimeError("Des fichiers de submitted/ ont été modifiés pendant la correction et n'ont pas pu "
                           "être restaurés : " + ", ".join(lost))
    return restored, sorted(set(after) - set(before))


def _write_csv(path: Path, assignment: str, results: dict[str, SubmissionResult]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["etudiant", "tp", "note", "note_max", "statut", "motif", "duree_s"])
        for student in sorted(results):
            r = results[student]
            writer.writerow([student, assignment, f"{r.score:g}", f"{r.max_score:g}", r.status,
                             " ; ".join(r.reasons), f"{r.seconds:.1f}"])


def _collect_logs(run: Path, target: Path) -> None:
    with open(target, "w", encoding="utf-8") as out:
        for log in sorted(run.glob("worker*.log")):
            out.write(f"===== {log.name}\n")
            out.write(log.read_text(encoding="utf-8", errors="replace")[-200_000:])


# --------------------------------------------------------------------------- ligne de commande

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.autograde",
                                     description="Corrige toutes les remises d'un TP avec nbgrader, en parallèle.")
    parser.add_argument("assignment", help="le TP, par exemple TP0")
    parser.add_argument("--course", help="racine du cours nbgrader (défaut : assignments/)")
    parser.add_argument("--workers", type=int, default=0, help="processus en parallèle (défaut : cœurs)")
    parser.add_argument("--timeout", type=float, default=600, help="limite de temps par remise, en s (600)")
    parser.add_argument("--memory", type=float, default=4, help="limite de mémoire du noyau, en Gio (4 ; 0 : aucune)")
    parser.add_argument("--cell-timeout", type=int, help="délai par cellule en s (défaut : nbgrader_config.py)")
    parser.add_argument("--student", action="append", help="ne corriger que cet étudiant (répétable)")
    parser.add_argument("--csv", help="fichier CSV des notes (défaut : <cours>/notes_<TP>.csv)")
    parser.add_argument("--no-feedback", action="store_true", help="ne pas produire les retours HTML")
    parser.add_argument("--keep", action="store_true", help="garder le dossier de travail temporaire")
    args = parser.parse_args(argv)
    settings = GradingSettings(workers=args.workers, timeout=args.timeout, memory_gib=args.memory,
                               cell_timeout=args.cell_timeout, feedback=not args.no_feedback, keep_workdir=args.keep)
    try:
        report = grade(args.assignment, args.course, settings, students=args.student, csv_path=args.csv)
    except (ValueError, TypeError) as error:
        print(f"Erreur : {error}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
