"""Des verdicts que le noyau ne peut pas falsifier : la preuve qu'une cellule de test est allée au bout.

``nbgrader`` donne les points d'une cellule de test quand sa sortie ne contient pas d'erreur ; or le code
de l'étudiant s'exécute dans le même noyau et peut faire disparaître ses erreurs (gestionnaire
d'exceptions personnalisé, rappel ``post_run_cell``...). Ici, **c'est la correction qui décide**, hors du
noyau, avec trois préprocesseurs nbgrader :

1. :class:`AppendProof` (avant l'exécution) ajoute à la fin de chaque cellule de test notée l'appel
   :func:`course_grading.guard.proof_call` avec un *nonce* tiré pour cette cellule ;
2. :class:`VerifyProof` (juste après l'exécution) cherche dans la sortie de la cellule la ligne
   ``HMAC(secret, nonce)`` que seule la garde du noyau sait écrire, la retire, rend à la cellule son code
   d'origine et note le verdict : réussie si la preuve est là, si la cellule n'a aucune sortie d'erreur et
   si la réponse d'exécution du noyau dit ``ok`` ;
3. :class:`VerifiedGrades` (à la place de ``SaveAutoGrades``) enregistre ce verdict : tous les points ou
   aucun. Ce qui est écrit sur stderr (un avertissement) ne coûte donc rien.

Le secret de la remise (:func:`new_secret`) reste dans le processus de correction ; le noyau le reçoit par
un fichier qu'il lit et efface avant tout code de l'étudiant.
"""

from __future__ import annotations

import secrets

from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor, SaveAutoGrades

from .guard import PROOF_TAG, proof_call, proof_digest

__all__ = ["new_secret", "set_secret", "AppendProof", "VerifyProof", "VerifiedGrades", "is_graded_test",
           "RESOURCE_KEY"]

RESOURCE_KEY = "course_grading"
_state: dict[str, bytes | None] = {"secret": None}


def new_secret() -> bytes:
    """Un secret neuf pour une remise (32 octets aléatoires)."""
    return secrets.token_bytes(32)


def set_secret(secret: bytes | None) -> None:
    """Le secret de la remise en cours de correction (dans le processus de correction seulement)."""
    _state["secret"] = secret


def is_graded_test(cell) -> bool:
    """Vrai pour une cellule de test notée automatiquement (code, ``grade`` et pas ``solution``)."""
    return cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell)


def _state_of(resources) -> dict:
    return resources.setdefault(RESOURCE_KEY, {"nonces": {}, "status": {}, "passed": {}})


class AppendProof(NbGraderPreprocessor):
    """Ajoute l'appel de preuve à la fin de chaque cellule de test notée (avant l'exécution)."""

    def preprocess(self, nb, resources):
        state = _state_of(resources)
        for index, cell in enumerate(nb.cells):
            if is_graded_test(cell):
                nonce = secrets.token_hex(16)
                state["nonces"][index] = (nonce, cell.source)
                cell.source = cell.source.rstrip("\n") + "\n" + proof_call(nonce) + "\n"
        return nb, resources


def _strip_proof_lines(output) -> tuple[object, list[str]]:
    """Retire les lignes de preuve d'une sortie texte ; retourne (sortie, lignes retirées)."""
    text = output.get("text", "")
    text = "".join(text) if isinstance(text, list) else str(text)
    if PROOF_TAG not in text:
        return output, []
    kept, removed = [], []
    for line in text.splitlines(keepends=True):
        (removed if PROOF_TAG in line else kept).append(line)
    output["text"] = "".join(kept).rstrip("\n") + ("\n" if kept else "")
    return output, [line.strip() for line in removed]


class VerifyProof(NbGraderPreprocessor):
    """Vérifie la preuve de chaque cellule de test notée (juste après l'exécution) et note le verdict."""

    def preprocess(self, nb, resources):
        state = _state_of(resources)
        secret = _state["secret"]
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            outputs, proofs = [], []
            for output in cell.get("outputs", []):
                if output.get("output_type") == "stream":
                    output, removed = _strip_proof_lines(output)
                    proofs += removed
                    if not output.get("text"):
                        continue
                outputs.append(output)
            cell.outputs = outputs
            if index not in state["nonces"]:
                continue
            nonce, original = state["nonces"][index]
            cell.source = original
            expected = f"{PROOF_TAG} {nonce}:{proof_digest(secret, nonce)}]" if secret else None
            errors = any(o.get("output_type") == "error" for o in outputs)
            status = state["status"].get(index)
            state["passed"][cell.metadata["nbgrader"]["grade_id"]] = bool(
                expected is not None and proofs == [expected] and not errors and status == "ok")
        return nb, resources


class VerifiedGrades(SaveAutoGrades):
    """``SaveAutoGrades`` dont les cellules de test sont notées par le verdict de :class:`VerifyProof`."""

    def preprocess(self, nb, resources):
        self._passed = _state_of(resources)["passed"]
        return super().preprocess(nb, resources)

    def _add_score(self, cell, resources) -> None:
        if not is_graded_test(cell):
            return super()._add_score(cell, resources)
        grade = self.gradebook.find_grade(cell.metadata["nbgrader"]["grade_id"], self.notebook_id,
                                          self.assignment_id, self.student_id)
        points = float(cell.metadata["nbgrader"]["points"])
        grade.auto_score = points if self._passed.get(cell.metadata["nbgrader"]["grade_id"]) else 0.0
        if grade.manual_score is None:
            grade.needs_manual_grade = False
        # (une note manuelle gardée pour le même notebook garde aussi la décision de l'équipe)
        self.gradebook.db.commit()
