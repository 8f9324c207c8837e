"""Un processus de correction : il corrige, une par une, les remises qu'on lui envoie, avec nbgrader,
dans sa propre copie du cours et son propre carnet de notes."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

from .faults import guard_reasons, precheck, scan_notebook
from .files import expected_notebooks


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


def mirror(real: str, private: Path) -> str:
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


def worker_main(folder: str, assignment: str, log_path: str) -> None:
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
    notebooks = expected_notebooks(folder, assignment)
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
            result["reasons"] = precheck(submission, notebooks)
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
                                  COURSE_DATA=mirror(worker_env["COURSE_DATA"], private / "course-data"),
                                  TORCH_HOME=mirror(worker_env["TORCH_HOME"], private / "torch"))
                capture.messages.clear()
                app.coursedir.student_id = student
                try:
                    Autograde(coursedir=app.coursedir, parent=app).start()
                    graded = True
                except NbGraderException:
                    graded = False
                autograded = folder / "autograded" / student / assignment
                graded = graded and all((autograded / f"{n}.ipynb").exists() for n in notebooks)
                reasons = guard_reasons(Path(job["log"]))
                for name in notebooks:
                    path = autograded / f"{name}.ipynb"
                    if path.exists():
                        reasons += scan_notebook(path)
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


class Worker:
    """Un processus de correction, sa copie du cours, la remise en cours et son échéance."""

    def __init__(self, folder: Path, assignment: str, env: dict, log: Path):
        self.folder, self.assignment, self.env, self.log = folder, assignment, env, log
        self.job: dict | None = None
        self.deadline = 0.0
        self.started = 0.0
        self._start()

    def _start(self) -> None:
        import subprocess

        code = (f"from course_grading.worker import worker_main; "
                f"worker_main({str(self.folder)!r}, {self.assignment!r}, {str(self.log)!r})")
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
