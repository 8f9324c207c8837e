"""Le carnet de notes : état d'une remise, zéro et révision manuelle, copie dans le carnet du cours.

Chaque processus de correction note une remise dans son propre carnet (une copie de celui du cours) :
il y décide de tout ce qui concerne cette remise (notes automatiques, zéro et commentaire d'une faute,
notes manuelles gardées ou retirées), produit le retour à partir de ce carnet, puis envoie l'état de la
remise (:func:`submission_record`) au processus principal, seul écrivain du carnet du cours, qui le
recopie tel quel (:func:`apply_record`). Le retour et le carnet du cours disent donc toujours la même chose.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

AUTO_COMMENT_TAG = "[correction automatique]"


def source_order(course: Path, assignment: str) -> dict[str, list[str]]:
    """Par notebook, les grade_id des cellules à commentaire (réponses), dans l'ordre du notebook."""
    order = {}
    for path in sorted((course / "source" / assignment).glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
        order[path.stem] = [c["metadata"]["nbgrader"]["grade_id"] for c in cells
                            if c.get("metadata", {}).get("nbgrader", {}).get("solution")
                            or c.get("metadata", {}).get("nbgrader", {}).get("task")]
    return order


def _ours(comment) -> bool:
    return (comment.manual_comment or "").startswith(AUTO_COMMENT_TAG)


def has_submission(gradebook, assignment: str, student: str) -> bool:
    from nbgrader.api import MissingEntry

    try:
        gradebook.find_submission(assignment, student)
    except MissingEntry:
        return False
    return True


def reset_submission(gradebook, assignment: str, student: str, keep_manual: bool) -> bool:
    """Avant une nouvelle correction : retire le zéro et le commentaire d'une correction automatique
    précédente ; retire aussi les notes et commentaires manuels si ``keep_manual`` est faux (la remise a
    changé depuis). Retourne vrai si des notes manuelles de l'équipe ont été retirées."""
    if not has_submission(gradebook, assignment, student):
        return False
    dropped = False
    for notebook in gradebook.find_submission(assignment, student).notebooks:
        ours = any(_ours(c) for c in notebook.comments)
        for comment in notebook.comments:
            if _ours(comment) or not keep_manual:
                comment.manual_comment = None
        for grade in notebook.grades:
            if grade.manual_score is not None and not ours and not keep_manual:
                dropped = True
            if ours or not keep_manual:
                grade.manual_score = None
                grade.extra_credit = None
        notebook.flagged = False
    gradebook.db.commit()
    return dropped


def flag(gradebook, assignment: str, student: str, reasons: list[str], order: dict[str, list[str]],
         timestamp=None) -> None:
    """Zéro et révision manuelle : note manuelle 0 sur chaque cellule notée, motif en commentaire."""
    gradebook.update_or_create_student(student)
    extra = {"timestamp": timestamp} if timestamp else {}
    gradebook.update_or_create_submission(assignment, student, **extra)
    message = f"{AUTO_COMMENT_TAG} Remise notée 0 et signalée pour une révision manuelle : " + " ; ".join(reasons)
    for notebook in gradebook.find_submission(assignment, student).notebooks:
        notebook.flagged = True
        for grade in notebook.grades:
            grade.manual_score = 0.0
            grade.needs_manual_grade = True
        comments = {c.name: c for c in notebook.comments}
        first = next((comments[g] for g in order.get(notebook.name, []) if g in comments), None)
        for comment in notebook.comments:
            if comment is first:
                comment.manual_comment = message
            elif _ours(comment):
                comment.manual_comment = None
    gradebook.db.commit()


def mark_for_review(gradebook, assignment: str, student: str) -> None:
    """Signale une remise pour révision manuelle sans toucher à ses notes (similarité, par exemple)."""
    if not has_submission(gradebook, assignment, student):
        return
    for notebook in gradebook.find_submission(assignment, student).notebooks:
        notebook.flagged = True
        for grade in notebook.grades:
            grade.needs_manual_grade = True
    gradebook.db.commit()


def review_pending(gradebook, assignment: str, student: str) -> bool:
    """Vrai si une révision manuelle de la remise est attendue (cellule à revoir ou remise signalée)."""
    if not has_submission(gradebook, assignment, student):
        return False
    return any(notebook.flagged or any(g.needs_manual_grade for g in notebook.grades)
               for notebook in gradebook.find_submission(assignment, student).notebooks)


def submission_record(gradebook, assignment: str, student: str) -> dict:
    """L'état complet d'une remise dans un carnet (notes, commentaires, pénalité, heure)."""
    submission = gradebook.find_submission(assignment, student)
    record = {"timestamp": submission.timestamp.isoformat() if submission.timestamp else None, "notebooks": {}}
    for notebook in submission.notebooks:
        record["notebooks"][notebook.name] = {
            "late_penalty": notebook.late_submission_penalty,
            "flagged": bool(notebook.flagged),
            "grades": {g.name: {"auto_score": g.auto_score, "manual_score": g.manual_score,
                                "extra_credit": g.extra_credit, "needs_manual_grade": bool(g.needs_manual_grade)}
                       for g in notebook.grades},
            "comments": {c.name: {"auto_comment": c.auto_comment, "manual_comment": c.manual_comment}
                         for c in notebook.comments},
        }
    return record


def apply_record(gradebook, assignment: str, student: str, record: dict) -> None:
    """Recopie dans le carnet du cours l'état d'une remise décidé par un processus de correction."""
    import datetime as dt

    gradebook.update_or_create_student(student)
    extra = {"timestamp": dt.datetime.fromisoformat(record["timestamp"])} if record.get("timestamp") else {}
    gradebook.update_or_create_submission(assignment, student, **extra)
    for name, data in record["notebooks"].items():
        notebook = gradebook.find_submission_notebook(name, assignment, student)
        notebook.late_submission_penalty = data.get("late_penalty")
        notebook.flagged = data.get("flagged", False)
        for grade in notebook.grades:
            values = data["grades"].get(grade.name, {})
            grade.auto_score = values.get("auto_score")
            grade.manual_score = values.get("manual_score")
            grade.extra_credit = values.get("extra_credit")
            grade.needs_manual_grade = values.get("needs_manual_grade", grade.auto_score is None)
        for comment in notebook.comments:
            values = data["comments"].get(comment.name, {})
            comment.auto_comment = values.get("auto_comment")
            comment.manual_comment = values.get("manual_comment")
    gradebook.db.commit()


def scores(gradebook, assignment: str, student: str) -> tuple[float, float]:
    """(note, maximum) d'une remise, pénalité de retard déduite (nbgrader la garde à part)."""
    submission = gradebook.find_submission(assignment, student)
    penalty = float(submission.late_submission_penalty or 0.0)
    return max(0.0, float(submission.score or 0.0) - penalty), float(submission.max_score or 0.0)


def failure_page(assignment: str, notebook: str, student: str, reasons: list[str], max_score: float) -> str:
    """Page HTML (en français) du retour d'une remise que nbgrader n'a pas pu corriger."""
    items = "\n".join(f"<li>{html.escape(r)}</li>" for r in reasons)
    return f"""<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Retour de correction — {html.escape(notebook)}</title>
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
