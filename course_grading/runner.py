"""La correction d'un TP : file des remises, processus parallèles, échéances, fusion, retours."""

from __future__ import annotations

import multiprocessing.connection
import shutil
import tempfile
import time
import warnings
from pathlib import Path

from course_lib.validation import check_choice, describe

from .files import (
    checksums,
    collect_logs,
    discover_submissions,
    expected_notebooks,
    read_timestamp,
    replace_tree,
    verify_submitted,
    write_csv,
)
from .gradebook import failure_page, flag, merge, source_order
from .results import STATUS_OK, STATUS_REVIEW, GradingReport, GradingSettings, SubmissionResult
from .worker import Worker
from .workspace import base_environment, prepare_template, prepare_worker, run_nbgrader


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
    workers: list[Worker] = []
    try:
        staging = run / "staging"
        (run / "guard").mkdir()
        for student in available:        # la copie sert aussi de sauvegarde des remises
            shutil.copytree(submitted / student / assignment, staging / student / assignment, symlinks=True)
        template = prepare_template(course, assignment, run)
        env = base_environment(run, settings)
        for index in range(min(settings.workers, len(available))):
            folder = prepare_worker(template, run, index, course, settings)
            workers.append(Worker(folder, assignment, env, run / f"worker{index}.log"))
        results = _run_queue(workers, available, staging, run, course, assignment, settings,
                             tqdm(total=len(available), desc=f"Correction de {assignment}", unit="remise",
                                  disable=not progress))
        for worker in workers:
            worker.stop()
        restored, added = verify_submitted(submitted, before, staging, assignment)
        write_csv(csv_path, assignment, results)
        collect_logs(run, course / f"autograde_{assignment}.log")
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
    order = source_order(course, assignment)
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
            flag(gradebook, assignment, student, reasons, order, read_timestamp(staging / student / assignment))
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
        merge(gradebook, assignment, student, answer["record"])
        replace_tree(folder / "autograded" / student / assignment, course / "autograded" / student / assignment)
    if answer.get("feedback"):
        replace_tree(folder / "feedback" / student / assignment, course / "feedback" / student / assignment)
    if reasons:
        failed[student] = reasons
    return SubmissionResult(student, status=STATUS_REVIEW if reasons else STATUS_OK, reasons=list(reasons),
                            seconds=float(answer.get("seconds", 0.0)))


def _feedback_for_flagged(course: Path, assignment: str, results, failed, staging: Path) -> None:
    """Retour des remises signalées : nbgrader quand il y a un notebook corrigé, sinon une page d'explication."""
    notebooks = expected_notebooks(course, assignment)
    for student, reasons in failed.items():
        autograded = course / "autograded" / student / assignment
        if autograded.is_dir() and all((autograded / f"{n}.ipynb").exists() for n in notebooks):
            try:
                run_nbgrader(["generate_feedback", assignment, "--student", student, "--force"], cwd=course)
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
