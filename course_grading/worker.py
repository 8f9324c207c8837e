"""Un processus de correction : il corrige, une par une, les remises qu'on lui envoie, avec nbgrader,
dans sa propre copie du cours et son propre carnet de notes, et produit leur retour."""

from __future__ import annotations

import json
import logging
import os
import resource
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

from . import proof
from .faults import guard_reasons, precheck, scan_notebook
from .files import copy_submission, expected_notebooks, parse_student_timestamp
from .gradebook import failure_page, flag, reset_submission, scores, source_order, submission_record
from .isolation import ISOLATED


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


def mirror(real: str, private: Path) -> str:
    """Cache privé d'une remise (isolation partielle) : des liens vers les entrées du vrai cache.

    Le noyau lit le vrai cache à travers les liens ; ce qu'il écrit de nouveau reste dans son dossier
    privé ; écraser ou effacer le contenu du vrai cache lui est refusé par la garde.
    """
    private.mkdir(parents=True, exist_ok=True)
    source = Path(real)
    if source.is_dir():
        for entry in source.iterdir():
            link = private / entry.name
            if not link.exists():
                link.symlink_to(entry)
    return str(private)


def _kernel_environment(job: dict, private: Path, worker_env: dict) -> dict[str, str]:
    """Les variables que lit le lanceur du noyau (et le noyau) pour cette remise."""
    env = {
        "JUPYTER_RUNTIME_DIR": str(private / "rt"),
        "COURSE_ISOLATION": job["isolation"],
        "COURSE_SANDBOX_PRIVATE": str(private),
        "COURSE_SANDBOX_SECRET_FILE": str(private / "secret"),
        "COURSE_SANDBOX_REFERENCES": ",".join(job.get("references", [])),
        "COURSE_SANDBOX_LOG": job["log"],
        "COURSE_SANDBOX_FORBIDDEN": os.pathsep.join(job.get("forbidden", [])),
    }
    if job["isolation"] == ISOLATED:
        env["COURSE_SANDBOX_READONLY"] = os.pathsep.join(job.get("readonly", []))
        env["MPLCONFIGDIR"] = str(private / "matplotlib")
        return env
    for sub in ("home", "tmp", "ipython", "cache", "config"):
        (private / sub).mkdir(parents=True, exist_ok=True)
    env.update(HOME=str(private / "home"), TMPDIR=str(private / "tmp"), IPYTHONDIR=str(private / "ipython"),
               MPLCONFIGDIR=str(private / "matplotlib"), XDG_CACHE_HOME=str(private / "cache"),
               XDG_CONFIG_HOME=str(private / "config"),
               # torch fixe ces caches dans l'environnement du processus qui l'importe : le noyau ne doit pas
               # hériter de ceux du correcteur (hors du dossier permis).
               TORCHINDUCTOR_CACHE_DIR=str(private / "tmp" / "torchinductor"),
               TRITON_CACHE_DIR=str(private / "cache" / "triton"), COURSE_SANDBOX_ALLOW=str(private),
               COURSE_DATA=mirror(worker_env["COURSE_DATA"], private / "course-data"),
               TORCH_HOME=mirror(worker_env["TORCH_HOME"], private / "torch"))
    return env


def _write_failure_pages(folder: Path, assignment: str, student: str, notebooks: list[str],
                         reasons: list[str], max_score: float, timestamp_file: Path | None) -> None:
    target = folder / "feedback" / student / assignment
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for name in notebooks:
        (target / f"{name}.html").write_text(failure_page(assignment, name, student, reasons, max_score),
                                             encoding="utf-8")
    if timestamp_file is not None and timestamp_file.is_file():
        shutil.copy2(timestamp_file, target / "timestamp.txt")


class _Grader:
    """L'état d'un processus de correction : sa copie du cours, l'application nbgrader, les notebooks."""

    def __init__(self, folder: Path, assignment: str):
        from nbgrader.apps import AutogradeApp

        self.folder, self.assignment = folder, assignment
        self.app = AutogradeApp.instance()
        self.app.initialize([assignment, "--force"])
        self.app.coursedir.assignment_id = assignment
        self.capture = _Capture()
        self.app.log.addHandler(self.capture)
        self.notebooks = expected_notebooks(folder, assignment)
        self.order = source_order(folder, assignment)
        self.worker_env = dict(os.environ)

    def gradebook(self):
        from nbgrader.api import Gradebook

        return Gradebook(self.app.coursedir.db_url)

    def _prepare(self, job: dict) -> tuple[Path, list[str]]:
        """La copie de la remise dans ce processus, heure de remise qui fait foi comprise."""
        student = job["student"]
        for sub in ("submitted", "autograded", "feedback"):
            shutil.rmtree(self.folder / sub / student, ignore_errors=True)
        submission = self.folder / "submitted" / student / self.assignment
        notes = [f"ignoré (lien ou fichier spécial) : {p}" for p in copy_submission(Path(job["source"]), submission)]
        stamp, problem = parse_student_timestamp(submission)
        if problem:
            notes.append(problem)
        (submission / "timestamp.txt").unlink(missing_ok=True)
        # nbgrader lit l'heure de remise (et calcule le retard) dans ce fichier : celle qui fait foi.
        (submission / "timestamp.txt").write_text(job["timestamp"], encoding="utf-8")
        original = Path(job["source"]) / "timestamp.txt"
        self._student_stamp = original if stamp is not None else submission / "timestamp.txt"
        return submission, notes

    def grade(self, job: dict) -> dict:
        from nbgrader.converters import Autograde, GenerateFeedback, NbGraderException

        student = job["student"]
        result = {"student": student, "reasons": [], "notes": [], "graded": False, "feedback": False,
                  "record": None, "manual_dropped": False}
        submission, result["notes"] = self._prepare(job)
        limits = job.get("limits", {})
        result["reasons"] = precheck(submission, self.notebooks, **limits)
        with self.gradebook() as gradebook:
            max_score = float(gradebook.find_assignment(self.assignment).max_score or 0.0)
            result["manual_dropped"] = reset_submission(gradebook, self.assignment, student,
                                                        keep_manual=job.get("keep_manual", False))
        if result["reasons"]:
            self._fail(job, result, max_score)
            return result
        private = Path(tempfile.mkdtemp(prefix="cg-", dir="/tmp"))   # court : chemins des sockets Unix
        try:
            (private / "rt").mkdir()
            shutil.copytree(self.folder / "matplotlib", private / "matplotlib", dirs_exist_ok=True)
            secret = proof.new_secret()
            fd = os.open(private / "secret", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, secret)
            os.close(fd)
            Path(job["log"]).touch()
            proof.set_secret(secret)
            os.environ.update(_kernel_environment(job, private, self.worker_env))
            self.capture.messages.clear()
            self.app.coursedir.student_id = student
            try:
                Autograde(coursedir=self.app.coursedir, parent=self.app).start()
                graded = True
            except NbGraderException:
                graded = False
        finally:
            proof.set_secret(None)
            os.environ.clear()
            os.environ.update(self.worker_env)
            shutil.rmtree(private, ignore_errors=True)
        autograded = self.folder / "autograded" / student / self.assignment
        graded = graded and all((autograded / f"{n}.ipynb").exists() for n in self.notebooks)
        reasons = guard_reasons(Path(job["log"]))
        for name in self.notebooks:
            if (autograded / f"{name}.ipynb").exists():
                reasons += scan_notebook(autograded / f"{name}.ipynb")
        if not graded:
            errors = [m.strip().splitlines()[-1] for m in self.capture.messages if m.strip()]
            detail = errors[-1][:300] if errors else "erreur inconnue"
            reasons.append(f"nbgrader n'a pas pu corriger la remise ({detail})")
        result["reasons"] = list(dict.fromkeys(reasons))
        if not graded:
            self._fail(job, result, max_score)
            return result
        result["graded"] = True
        if self._student_stamp.is_file():              # l'échange nbgrader retrouve le retour par ce fichier
            shutil.copy2(self._student_stamp, autograded / "timestamp.txt")
        with self.gradebook() as gradebook:
            if result["reasons"]:
                flag(gradebook, self.assignment, student, result["reasons"], self.order)
            result["record"] = submission_record(gradebook, self.assignment, student)
            result["score"], result["max_score"] = scores(gradebook, self.assignment, student)
        if job.get("feedback"):
            try:
                GenerateFeedback(coursedir=self.app.coursedir, parent=self.app).start()
                result["feedback"] = True
            except Exception as error:  # noqa: BLE001 - un retour impossible n'empêche pas la note
                result["notes"].append(f"retour HTML impossible à produire ({type(error).__name__})")
                _write_failure_pages(self.folder, self.assignment, student, self.notebooks,
                                     result["reasons"] or ["le retour détaillé n'a pas pu être produit"],
                                     result["max_score"], self._student_stamp)
                result["feedback"] = True
        return result

    def _fail(self, job: dict, result: dict, max_score: float) -> None:
        """Remise que nbgrader n'a pas pu corriger : zéro, signalement, page d'explication."""
        from nbgrader.utils import parse_utc

        student = job["student"]
        with self.gradebook() as gradebook:
            flag(gradebook, self.assignment, student, result["reasons"], self.order, parse_utc(job["timestamp"]))
            result["record"] = submission_record(gradebook, self.assignment, student)
        result["score"], result["max_score"] = 0.0, max_score
        if job.get("feedback"):
            _write_failure_pages(self.folder, self.assignment, student, self.notebooks, result["reasons"],
                                 max_score, self._student_stamp)
            result["feedback"] = True


def _limit_memory(gib: float) -> None:
    """Limite douce de la mémoire du processus (rendu des retours compris) ; le noyau fixe la sienne."""
    if gib > 0:
        soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
        value = int(gib * 2**30)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(resource.RLIMIT_DATA, (value, hard))


def worker_main(folder: str, assignment: str, log_path: str, memory_gib: float = 0.0) -> None:
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
    os.environ["MPLCONFIGDIR"] = str(folder / "matplotlib")
    (folder / "tmp").mkdir(exist_ok=True)
    tempfile.tempdir = str(folder / "tmp")    # le TMPDIR des noyaux change à chaque remise, pas le nôtre
    import matplotlib.font_manager  # noqa: F401 - le cache des polices, construit une fois par processus

    _limit_memory(memory_gib)
    grader = _Grader(folder, assignment)
    for line in sys.stdin:
        job = json.loads(line)
        if job is None:
            return
        start = time.perf_counter()
        try:
            result = grader.grade(job)
        except Exception:  # noqa: BLE001 - la remise suivante doit pouvoir être corrigée
            detail = traceback.format_exc().strip().splitlines()[-1][:300]
            result = {"student": job["student"], "graded": False, "feedback": False, "record": None,
                      "notes": [], "reasons": [f"erreur interne de la correction : {detail}"]}
        result["seconds"] = time.perf_counter() - start
        answers.write(json.dumps(result, ensure_ascii=False) + "\n")
        answers.flush()


class Worker:
    """Un processus de correction, sa copie du cours, la remise en cours et son échéance."""

    def __init__(self, folder: Path, assignment: str, env: dict, log: Path, memory_gib: float = 0.0):
        self.folder, self.assignment, self.env, self.log = folder, assignment, env, log
        self.memory_gib = memory_gib
        self.job: dict | None = None
        self.deadline = 0.0
        self.started = 0.0
        self._start()

    def _start(self) -> None:
        import subprocess

        code = (f"from course_grading.worker import worker_main; "
                f"worker_main({str(self.folder)!r}, {self.assignment!r}, {str(self.log)!r}, {self.memory_gib!r})")
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
        try:
            return json.loads(line) if line else None
        except ValueError:
            return None

    def kill(self) -> None:
        """Tue le processus et tout ce qu'il a lancé (noyau et son bac à sable compris)."""
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
