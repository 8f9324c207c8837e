"""La correction d'un TP : file des remises, processus parallèles, échéances, carnet du cours, CSV, journal.

Chaque étudiant est traité à part : une faute dans sa remise (ou dans notre code à son sujet) lui vaut un
signalement en français, jamais l'arrêt de la correction de la classe. Le CSV et le journal sont écrits
à la fin quoi qu'il arrive, reconstruits à partir du carnet de notes pour tous les étudiants du TP.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing.connection
import shutil
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

from course_lib.validation import check_choice, describe

from . import state as saved_state
from .files import (
    checksums,
    collect_logs,
    copy_submission,
    discover_submissions,
    exchange_root,
    expected_notebooks,
    notebooks_digest,
    submission_time,
    verify_submitted,
    write_csv,
)
from .gradebook import apply_record, failure_page, flag, has_submission, review_pending, scores, source_order
from .isolation import ISOLATED, PARTIAL, check_bwrap, how_to_enable, readonly_paths
from .results import STATUS_OK, STATUS_REVIEW, GradingReport, GradingSettings, SubmissionResult
from .worker import Worker
from .workspace import base_environment, prepare_template, prepare_worker

_NBGRADER_TIME = "%Y-%m-%d %H:%M:%S.%f %Z"


def _isolation_mode(settings: GradingSettings) -> tuple[str, str]:
    """Le mode d'isolation de cette correction et, s'il est partiel, pourquoi."""
    if settings.isolation == "partielle":
        return PARTIAL, "isolation partielle demandée (--isolation partielle)"
    works, why = check_bwrap()
    if works:
        return ISOLATED, ""
    if settings.isolation == "bwrap":
        raise ValueError(f"L'isolation par bubblewrap est exigée (isolation='bwrap') mais impossible ici : {why}. "
                         f"Pour l'activer, {how_to_enable()}.")
    return PARTIAL, f"isolation partielle : {why} ; pour l'activer, {how_to_enable()}"


def _reference_modules(course: Path, assignment: str) -> list[str]:
    """Les modules de course_lib que nomme le TP (à retenir dans leur état d'origine dans chaque noyau)."""
    import re

    names = set()
    for path in (course / "source" / assignment).glob("*.ipynb"):
        names.update(re.findall(r"\bcourse_lib(?:\.[A-Za-z_]\w*)+", path.read_text(encoding="utf-8")))
    modules = set()
    for name in names:
        parts = name.split(".")
        for end in range(2, len(parts) + 1):
            modules.add(".".join(parts[:end]))
    import importlib.util

    found = []
    for name in sorted(modules):
        try:
            if importlib.util.find_spec(name) is not None:
                found.append(name)
        except (ImportError, ValueError, AttributeError):
            continue
    return found


def grade(assignment: str, course: str | Path | None = None, settings: GradingSettings | None = None,
          students: list[str] | None = None, csv_path: str | Path | None = None,
          progress: bool = True) -> GradingReport:
    """Corrige toutes les remises collectées d'un TP, en parallèle, avec nbgrader, chaque noyau isolé.

    Paramètres
    ----------
    assignment : str
        Le TP (un dossier de ``source/``), par exemple ``"TP0"``.
    course : chemin, optionnel
        Racine du cours nbgrader (défaut : ``assignments/`` du dépôt). Les remises sont dans
        ``submitted/<étudiant>/<assignment>/`` (``nbgrader collect`` les y range).
    settings : GradingSettings, optionnel
        Processus, limites de temps et de mémoire, isolation, etc.
    students : liste de str, optionnel
        Ne corriger que ces étudiants (défaut : toutes les remises). Le CSV garde toute la classe.
    csv_path : chemin, optionnel
        Fichier CSV des notes (défaut : ``<course>/notes_<assignment>.csv``).
    progress : bool
        Afficher la barre de progression.

    Retourne
    --------
    GradingReport
        Un :class:`SubmissionResult` par étudiant corrigé (note, statut, motifs), le CSV, la durée. Les
        notes sont aussi dans ``<course>/gradebook.db``, les notebooks corrigés dans ``autograded/`` et les
        retours HTML dans ``feedback/``.
    """
    from .assignments import course_root, list_assignments

    course = Path(course).resolve() if course is not None else course_root()
    if not (course / "nbgrader_config.py").is_file():
        raise ValueError(f"L'argument « course » doit être la racine d'un cours nbgrader (avec nbgrader_config.py) ; "
                         f"reçu : {course}.")
    if not isinstance(assignment, str):
        raise TypeError(f"L'argument « assignment » doit être le nom d'un TP (str) ; reçu : {describe(assignment)}.")
    check_choice(assignment, "assignment", list_assignments(course))
    settings = settings or GradingSettings()
    if not isinstance(settings, GradingSettings):
        raise TypeError(f"L'argument « settings » doit être un GradingSettings ; reçu : {describe(settings)}.")
    if not (course / "submitted").is_dir():
        raise ValueError(f"Le dossier des remises {course / 'submitted'} n'existe pas : lancez d'abord "
                         f"« nbgrader collect {assignment} » (ou déposez-y les remises, "
                         f"submitted/<étudiant>/{assignment}/).")
    available, refused = discover_submissions(course, assignment)
    if students is not None:
        if isinstance(students, str) or not all(isinstance(s, str) for s in students):
            raise TypeError(f"L'argument « students » doit être une liste d'identifiants (str) ; "
                            f"reçu : {describe(students)}.")
        unknown = sorted(set(students) - set(available) - set(refused))
        if unknown:
            raise ValueError(f"L'argument « students » nomme des étudiants sans remise de {assignment} : "
                             f"{', '.join(unknown)}.")
        wanted = set(students)
        available = [s for s in available if s in wanted]
        refused = {s: why for s, why in refused.items() if s in wanted}
    if not available and not refused:
        raise ValueError(f"Aucune remise de {assignment} dans {course / 'submitted'}/<étudiant>/{assignment}/ : "
                         "lancez d'abord « nbgrader collect » (ou déposez-y les remises).")
    mode, why_partial = _isolation_mode(settings)
    csv_path = Path(csv_path) if csv_path is not None else course / f"notes_{assignment}.csv"
    return _Run(course, assignment, settings, mode, why_partial, csv_path, progress).execute(available, refused)


class _Run:
    """Une correction : dossier de travail, processus, carnet du cours, état retenu, CSV et journal."""

    def __init__(self, course: Path, assignment: str, settings: GradingSettings, mode: str, why_partial: str,
                 csv_path: Path, progress: bool):
        self.course, self.assignment, self.settings = course, assignment, settings
        self.mode, self.why_partial = mode, why_partial
        self.csv_path, self.progress = csv_path, progress
        self.notebooks = expected_notebooks(course, assignment)
        self.order = source_order(course, assignment)
        self.state = saved_state.load(course, assignment)
        self.events: list[str] = []
        self.results: dict[str, SubmissionResult] = {}

    def log(self, message: str) -> None:
        self.events.append(f"[{dt.datetime.now().isoformat(timespec='seconds')}] {message}")

    # ------------------------------------------------------------------ déroulement
    def execute(self, students: list[str], refused: dict[str, str]) -> GradingReport:
        start = time.perf_counter()
        submitted = self.course / "submitted"
        before = checksums(submitted)
        run = Path(tempfile.mkdtemp(prefix=f"course-grade-{self.assignment}-"))
        workers: list[Worker] = []
        restored, added = [], []
        self.log(f"correction de {self.assignment} : {len(students)} remise(s), isolation "
                 f"{'bwrap' if self.mode == ISOLATED else 'partielle'}")
        if self.why_partial:
            self.log(self.why_partial)
            print(f"ATTENTION : {self.why_partial}", file=sys.stderr)
        for student, why in refused.items():
            self._record(student, [f"remise non corrigée : {why}"], seconds=0.0, graded=False)
        try:
            env = base_environment(run, self.settings)
            jobs = self._stage(students, run, env)
            if jobs:
                template = prepare_template(self.course, self.assignment, run)
                for index in range(min(self.settings.workers, len(jobs))):
                    folder = prepare_worker(template, run, index, self.course, self.settings)
                    workers.append(Worker(folder, self.assignment, env, run / f"worker{index}.log",
                                          memory_gib=max(2 * self.settings.memory_gib, 4.0)
                                          if self.settings.memory_gib else 0.0))
                self._run_queue(workers, jobs, run)
                for worker in workers:
                    worker.stop()
            self._similarity([s for s in students if s in self.results])
        except Exception:  # noqa: BLE001 - le CSV et le journal doivent être écrits quand même
            self.log("ERREUR de la correction :\n" + traceback.format_exc())
            raise
        finally:
            for worker in workers:
                if worker.process.poll() is None:
                    worker.kill()
            try:
                restored, added = verify_submitted(submitted, before, run / "staging", self.assignment)
            except RuntimeError as error:
                self.log(str(error))
            self._finish(run)
            if not self.settings.keep_workdir:
                shutil.rmtree(run, ignore_errors=True)
        report = GradingReport(self.assignment, [self.results[s] for s in students + list(refused)
                                                 if s in self.results],
                               self.csv_path, time.perf_counter() - start, restored, added,
                               isolation="bwrap" if self.mode == ISOLATED else "partielle", refused=dict(refused),
                               warnings=[self.why_partial] if self.why_partial else [])
        return report

    def _stage(self, students: list[str], run: Path, env: dict[str, str]) -> list[dict]:
        """Copie de chaque remise (aussi sa sauvegarde), heure de remise, travail à faire."""
        staging = run / "staging"
        (run / "guard").mkdir()
        exchange = exchange_root(self.course)
        readonly = readonly_paths([env["COURSE_DATA"], env["TORCH_HOME"]])
        references = _reference_modules(self.course, self.assignment)
        jobs = []
        for number, student in enumerate(students):
            try:
                copy_submission(self.course / "submitted" / student / self.assignment,
                                staging / student / self.assignment)
                moment = submission_time(self.course, student, self.assignment, exchange)
                digest = notebooks_digest(staging / student / self.assignment, self.notebooks)
                previous = self.state.get(student, {})
                jobs.append({
                    "student": student, "source": str(staging / student / self.assignment),
                    "log": str(run / "guard" / f"{number}.jsonl"), "feedback": self.settings.feedback,
                    "timestamp": moment.strftime(_NBGRADER_TIME), "isolation": self.mode,
                    "readonly": readonly, "references": references, "limits": self.settings.limits(),
                    "keep_manual": previous.get("digest") == digest, "digest": digest,
                    "forbidden": [str(self.course), str(run)],
                })
            except Exception as error:  # noqa: BLE001 - une remise illisible ne bloque pas les autres
                self._fault(student, [f"remise illisible pour la correction ({type(error).__name__} : {error})"])
        return jobs

    def _run_queue(self, workers: list[Worker], jobs: list[dict], run: Path) -> None:
        """Distribue les remises aux processus, surveille les échéances, recopie dans le carnet du cours."""
        from tqdm.auto import tqdm

        queue = list(jobs)
        bar = tqdm(total=len(jobs), desc=f"Correction de {self.assignment}", unit="remise", disable=not self.progress)
        while queue or any(w.job for w in workers):
            for worker in workers:
                if worker.job is None and queue:
                    worker.submit(queue.pop(0), self.settings.timeout)
            busy = {w.output: w for w in workers if w.job is not None}
            now = time.perf_counter()
            wait = max(0.0, min(w.deadline for w in busy.values()) - now) if busy else 0.0
            ready = multiprocessing.connection.wait(list(busy), timeout=min(wait, 1.0) + 0.01)
            for stream in ready:
                worker = busy[stream]
                job, answer = worker.job, worker.read()
                if answer is None:
                    answer = {"student": job["student"], "graded": False, "record": None, "notes": [],
                              "reasons": ["le processus de correction s'est arrêté brutalement"],
                              "seconds": time.perf_counter() - worker.started}
                    worker.restart()
                else:
                    worker.job = None
                self._absorb(worker.folder, job, answer)
                bar.update(1)
            for worker in workers:
                if worker.job is not None and time.perf_counter() > worker.deadline:
                    job = worker.job
                    answer = {"student": job["student"], "graded": False, "record": None, "notes": [],
                              "reasons": [f"limite de temps dépassée ({self.settings.timeout:g} s pour la remise) : "
                                          "correction arrêtée"], "seconds": time.perf_counter() - worker.started}
                    worker.restart()
                    self._absorb(worker.folder, job, answer)
                    bar.update(1)
            bar.set_postfix_str(f"{sum(r.flagged for r in self.results.values())} à revoir")
        bar.close()

    # ------------------------------------------------------------------ une remise
    def _absorb(self, folder: Path, job: dict, answer: dict) -> None:
        """Un résultat de processus : carnet du cours, notebooks corrigés, retour, état retenu."""
        student = job["student"]
        try:
            for sub in ("autograded", "feedback"):
                shutil.rmtree(self.course / sub / student / self.assignment, ignore_errors=True)
            if answer.get("record") is None:
                self._fault(student, answer["reasons"], answer.get("seconds", 0.0), job)
                return
            with self._gradebook() as gradebook:
                apply_record(gradebook, self.assignment, student, answer["record"])
            for sub in ("autograded", "feedback"):
                source = folder / sub / student / self.assignment
                if source.exists():
                    shutil.copytree(source, self.course / sub / student / self.assignment)
            for note in answer.get("notes", []):
                self.log(f"{student} : {note}")
            if answer.get("manual_dropped"):
                self.log(f"ATTENTION {student} : la remise a changé depuis la révision manuelle ; les notes "
                         "manuelles ont été retirées")
            self._record(student, answer["reasons"], answer.get("seconds", 0.0), graded=answer.get("graded", False),
                         digest=job.get("digest"),
                         dropped=["notes manuelles retirées : la remise a changé depuis la révision"]
                         if answer.get("manual_dropped") else [])
        except Exception:  # noqa: BLE001 - un étudiant ne doit jamais arrêter la correction de la classe
            self.log(f"ERREUR en traitant la remise de {student} :\n{traceback.format_exc()}")
            self._fault(student, ["erreur interne de la correction pour cette remise (voir le journal)"],
                        answer.get("seconds", 0.0), job)

    def _fault(self, student: str, reasons: list[str], seconds: float = 0.0, job: dict | None = None) -> None:
        """Remise sans résultat de processus : zéro et signalement dans le carnet, page d'explication."""
        try:
            with self._gradebook() as gradebook:
                flag(gradebook, self.assignment, student, reasons, self.order)
                max_score = float(gradebook.find_assignment(self.assignment).max_score or 0.0)
            target = self.course / "feedback" / student / self.assignment
            if self.settings.feedback:
                shutil.rmtree(target, ignore_errors=True)
                target.mkdir(parents=True)
                for name in self.notebooks:
                    (target / f"{name}.html").write_text(
                        failure_page(self.assignment, name, student, reasons, max_score), encoding="utf-8")
                stamp = Path(job["source"]) / "timestamp.txt" if job else None
                if stamp is not None and stamp.is_file():
                    shutil.copy2(stamp, target / "timestamp.txt")
        except Exception:  # noqa: BLE001
            self.log(f"ERREUR en signalant {student} :\n{traceback.format_exc()}")
        self._record(student, reasons, seconds, graded=False, digest=job.get("digest") if job else None)

    def _record(self, student: str, reasons: list[str], seconds: float, graded: bool, digest: str | None = None,
                dropped: list[str] = ()) -> None:
        entry = self.state.setdefault(student, {})
        entry.update(reasons=list(reasons), seconds=round(float(seconds), 1), graded=graded,
                     isolation="bwrap" if self.mode == ISOLATED else "partielle", review=list(dropped),
                     graded_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
        if digest is not None:
            entry["digest"] = digest
        self.results[student] = SubmissionResult(student, status=STATUS_REVIEW if reasons else STATUS_OK,
                                                 reasons=list(reasons), seconds=float(seconds),
                                                 isolation=entry["isolation"])

    def _gradebook(self):
        from nbgrader.api import Gradebook
        from sqlalchemy.exc import SAWarning

        warnings.filterwarnings("ignore", category=SAWarning)   # bavardage interne de nbgrader.api
        return Gradebook(f"sqlite:///{self.course / 'gradebook.db'}")

    # ------------------------------------------------------------------ similarité
    def _similarity(self, students: list[str]) -> None:
        """Rapport de similarité ; les remises au-dessus du seuil sont signalées, jamais mises à zéro."""
        if self.settings.similarity_threshold is None or not students:
            return
        from .gradebook import mark_for_review

        try:
            from .similarity import analyse

            report = analyse(self.course, self.assignment, threshold=self.settings.similarity_threshold)
            report.write_html(self.course / f"similarite_{self.assignment}.html")
        except Exception:  # noqa: BLE001 - le rapport ne doit pas empêcher le CSV
            self.log("ERREUR du rapport de similarité :\n" + traceback.format_exc())
            return
        with self._gradebook() as gradebook:
            for student, reasons in report.flagged.items():
                if student in self.state:
                    self.state[student]["review"] = list(dict.fromkeys(self.state[student].get("review", []) + reasons))
                    mark_for_review(gradebook, self.assignment, student)
        self.log(f"rapport de similarité : {len(report.flagged)} remise(s) signalée(s) ; "
                 f"{self.course / f'similarite_{self.assignment}.html'}")

    # ------------------------------------------------------------------ fin
    def _finish(self, run: Path) -> None:
        """État retenu, CSV de toute la classe (reconstruit du carnet), journal : toujours écrits."""
        try:
            saved_state.save(self.course, self.assignment, self.state)
        except OSError as error:
            self.log(f"ERREUR : état non enregistré ({error})")
        rows = []
        try:
            with self._gradebook() as gradebook:
                for student in sorted(self.state):
                    entry = self.state[student]
                    if has_submission(gradebook, self.assignment, student):
                        score, maximum = scores(gradebook, self.assignment, student)
                        pending = review_pending(gradebook, self.assignment, student)
                    else:
                        score, maximum, pending = 0.0, 0.0, True
                    reasons = entry.get("reasons", []) + entry.get("review", [])
                    status = STATUS_REVIEW if (pending or reasons) else STATUS_OK
                    if pending and not reasons:
                        reasons = ["révision manuelle en attente dans le formgrader"]
                    rows.append([student, self.assignment, f"{score:g}", f"{maximum:g}", status, " ; ".join(reasons),
                                 entry.get("isolation", ""), f"{entry.get('seconds', 0.0):.1f}"])
                    if student in self.results:
                        result = self.results[student]
                        result.score, result.max_score, result.status = score, maximum, status
                        result.reasons = reasons
        except Exception:  # noqa: BLE001
            self.log("ERREUR en relisant le carnet de notes :\n" + traceback.format_exc())
        try:
            write_csv(self.csv_path, rows)
        except OSError as error:
            self.log(f"ERREUR : CSV non écrit ({error})")
        collect_logs(run, self.course / f"autograde_{self.assignment}.log", header="\n".join(self.events))
