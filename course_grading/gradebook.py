"""Le carnet de notes du cours : fusion des résultats des processus, zéro et révision manuelle."""

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


def merge(gradebook, assignment: str, student: str, record: dict) -> None:
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


def flag(gradebook, assignment: str, student: str, reasons: list[str], order: dict[str, list[str]],
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
