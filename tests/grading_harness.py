"""Le pipeline de correction d'un TP, de bout en bout, avec la vraie commande nbgrader.

Chaque fichier ``test_grading_tpN.py`` décrit un :class:`GradingCase` (les mauvaises réponses
plausibles, les alias de la référence, la boucle infinie) et hérite de :class:`GradingContract`,
qui porte les vérifications communes à tous les TP. Une seule exécution de
``nbgrader autograde`` corrige toutes les remises fabriquées, dans une copie temporaire du cours :

- ``full`` : la solution publiée (solutions/TPn) ;
- ``blank`` : la version étudiante intacte ;
- ``wrong`` : des réponses fausses qui passent les tests visibles ;
- ``alias`` : des réponses qui appellent la référence de course_lib ;
- ``edited`` : les réponses fausses, avec toutes les cellules de test remplacées par ``pass`` ;
- ``deleted`` : la solution, sans aucune cellule de test ;
- ``loop`` : la solution, avec une boucle infinie dans une fonction.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COURSE = ROOT / "assignments"
STUDENTS = ("full", "blank", "wrong", "alias", "edited", "deleted", "loop")


@dataclass
class GradingCase:
    """Ce qu'il faut pour éprouver la correction d'un TP."""

    tp: str
    wrong: dict[str, str]            # grade_id de cellule solution -> code faux qui passe les tests visibles
    alias: dict[str, str]            # grade_id de cellule solution -> code qui appelle la référence
    loop: tuple[str, str]            # (grade_id de cellule solution, code avec une boucle infinie)
    loop_cells: list[str]            # cellules de test qui appellent la fonction qui boucle
    cell_timeout: int = 15           # délai par cellule pendant ce test (secondes)
    notebook: str | None = None      # nom du notebook (par défaut : le nom du TP)
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def notebook_name(self) -> str:
        return self.notebook or self.tp


# --------------------------------------------------------------------------- lecture des notebooks

def read(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write(notebook: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(notebook, ensure_ascii=False, indent=1), encoding="utf-8")


def meta(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def source(cell: dict) -> str:
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else text


def grade_cells(notebook: dict) -> dict[str, int]:
    """grade_id -> points des cellules notées automatiquement."""
    return {meta(c)["grade_id"]: meta(c)["points"] for c in notebook["cells"] if meta(c).get("grade")}


def hidden_cells(case: GradingCase) -> set[str]:
    """Les cellules de test qui contiennent des tests cachés (d'après la source)."""
    nb = read(COURSE / "source" / case.tp / f"{case.notebook_name}.ipynb")
    return {meta(c)["grade_id"] for c in nb["cells"] if meta(c).get("grade") and "BEGIN HIDDEN TESTS" in source(c)}


def replace_solutions(notebook: dict, answers: dict[str, str]) -> dict:
    notebook = copy.deepcopy(notebook)
    seen = set()
    for cell in notebook["cells"]:
        grade_id = meta(cell).get("grade_id")
        if meta(cell).get("solution") and grade_id in answers:
            cell["source"] = answers[grade_id]
            seen.add(grade_id)
    missing = set(answers) - seen
    assert not missing, f"cellules solution introuvables : {sorted(missing)}"
    return notebook


# --------------------------------------------------------------------------- le pipeline

def nbgrader(args: list[str], cwd: Path, env: dict | None = None, timeout: int = 1800):
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, capture_output=True,
                            text=True, env=env, timeout=timeout)
    if result.returncode != 0:
        log = result.stdout + result.stderr
        errors = [line for line in log.splitlines() if "| ERROR]" in line or "Error" in line]
        raise AssertionError(f"nbgrader {' '.join(args)} a échoué (code {result.returncode}).\n"
                             "Erreurs :\n" + "\n".join(errors[:60]) + f"\n--- fin du journal ---\n{log[-12000:]}")
    return result


def submissions(case: GradingCase) -> dict[str, dict]:
    release = read(COURSE / "release" / case.tp / f"{case.notebook_name}.ipynb")
    solution = read(ROOT / "solutions" / case.tp / f"{case.notebook_name}.ipynb")
    wrong = replace_solutions(release, case.wrong)
    edited = copy.deepcopy(wrong)
    for cell in edited["cells"]:
        if meta(cell).get("grade"):
            cell["source"] = "pass  # test désactivé par l'étudiant\n"
    deleted = copy.deepcopy(solution)
    deleted["cells"] = [c for c in deleted["cells"] if not meta(c).get("grade")]
    return {
        "full": solution,
        "blank": release,
        "wrong": wrong,
        "alias": replace_solutions(release, case.alias),
        "edited": edited,
        "deleted": deleted,
        "loop": replace_solutions(solution, {case.loop[0]: case.loop[1]}),
    }


def autograde_all(case: GradingCase, workdir: Path) -> dict[str, dict[str, tuple[float, float]]]:
    """Corrige toutes les remises ; retourne {étudiant: {grade_id: (score, max)}}."""
    course = workdir / "course"
    (course / "source").mkdir(parents=True)
    shutil.copy2(COURSE / "nbgrader_config.py", course / "nbgrader_config.py")
    shutil.copytree(COURSE / "source" / case.tp, course / "source" / case.tp)
    env = {**os.environ, "COURSE_CELL_TIMEOUT": str(case.cell_timeout), **case.extra_env}
    nbgrader(["generate_assignment", case.tp, "--force"], cwd=course, env=env)
    for student, notebook in submissions(case).items():
        write(notebook, course / "submitted" / student / case.tp / f"{case.notebook_name}.ipynb")
    before = checksums(course / "submitted")
    nbgrader(["autograde", case.tp, "--force"], cwd=course, env=env)
    assert checksums(course / "submitted") == before, "la correction a modifié des fichiers remis"

    from nbgrader.api import Gradebook

    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for student in STUDENTS:
            notebook = gradebook.find_submission_notebook(case.notebook_name, case.tp, student)
            scores[student] = {g.name: (g.score, g.max_score) for g in notebook.grades if g.cell.max_score}
    return scores


def checksums(folder: Path) -> dict[str, str]:
    import hashlib

    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------- vérifications

def check_release_is_clean(case: GradingCase) -> None:
    """La version étudiante ne contient ni solution ni test caché."""
    source_nb = read(COURSE / "source" / case.tp / f"{case.notebook_name}.ipynb")
    release_dir = COURSE / "release" / case.tp
    released = "\n".join(p.read_text(encoding="utf-8", errors="replace")
                         for p in release_dir.rglob("*") if p.is_file())
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in released, f"« {marker} » figure dans la version étudiante"
    # Une ligne d'une région secrète qui n'apparaît nulle part ailleurs dans la source ne doit pas fuiter.
    secrets, public = [], []
    for cell in source_nb["cells"]:
        text = source(cell)
        for begin, end in (("### BEGIN SOLUTION", "### END SOLUTION"),
                           ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")):
            while begin in text:
                before, rest = text.split(begin, 1)
                secret, text = rest.split(end, 1) if end in rest else (rest, "")
                secrets += [(meta(cell).get("grade_id"), ln.strip()) for ln in secret.splitlines()]
                text = before + text
        public.append(text)
    public_text = "\n".join(public)
    for grade_id, line in secrets:
        if len(line) > 25 and line not in public_text:
            assert json.dumps(line)[1:-1] not in released and line not in released, \
                f"une ligne secrète de {grade_id} figure dans la version étudiante : {line}"
    solution_text = (ROOT / "solutions" / case.tp / f"{case.notebook_name}.ipynb").read_text(encoding="utf-8")
    assert "BEGIN HIDDEN TESTS" not in solution_text, "les solutions publiées contiennent des tests cachés"


def total(scores: dict[str, tuple[float, float]]) -> tuple[float, float]:
    return sum(s for s, _ in scores.values()), sum(m for _, m in scores.values())


def check_full_marks(case: GradingCase, graded: dict) -> None:
    got, maximum = total(graded["full"])
    failed = {k: v for k, v in graded["full"].items() if v[0] != v[1]}
    assert got == maximum and maximum > 0, f"la solution n'a pas tous les points : {failed}"


def check_blank_is_zero(case: GradingCase, graded: dict) -> None:
    nonzero = {k: v for k, v in graded["blank"].items() if v[0] != 0}
    assert not nonzero, f"la version intacte gagne des points : {nonzero}"
    assert set(graded["blank"]) == set(graded["full"])


def check_wrong_loses_hidden(case: GradingCase, graded: dict) -> None:
    hidden = hidden_cells(case)
    assert hidden, "aucun test caché dans ce TP"
    visible = {k: v for k, v in graded["wrong"].items() if k not in hidden}
    lost_visible = {k: v for k, v in visible.items() if v[0] != v[1]}
    assert not lost_visible, f"les réponses fausses devraient passer les tests visibles : {lost_visible}"
    kept_hidden = {k: v for k, v in graded["wrong"].items() if k in hidden and v[0] != 0}
    assert not kept_hidden, f"les réponses fausses gagnent des points cachés : {kept_hidden}"


def check_alias_gets_nothing(case: GradingCase, graded: dict) -> None:
    nonzero = {k: v for k, v in graded["alias"].items() if v[0] != 0}
    assert not nonzero, f"appeler la référence rapporte des points : {nonzero}"


def check_edited_tests_restored(case: GradingCase, graded: dict) -> None:
    assert graded["edited"] == graded["wrong"], "des cellules de test modifiées n'ont pas été restaurées"


def check_deleted_tests_restored(case: GradingCase, graded: dict) -> None:
    assert graded["deleted"] == graded["full"], "des cellules de test supprimées n'ont pas été restaurées"


def check_loop_times_out(case: GradingCase, graded: dict) -> None:
    for cell in case.loop_cells:
        assert graded["loop"][cell][0] == 0, f"la cellule {cell} aurait dû échouer (boucle infinie)"
    others = {k: v for k, v in graded["loop"].items() if k not in case.loop_cells and v[0] != v[1]}
    assert not others, f"la boucle infinie a fait perdre d'autres points : {others}"


# --------------------------------------------------------------------------- le contrat de chaque TP

class GradingContract:
    """Les vérifications que chaque TP doit passer (DESIGN.md, section 4).

    Une classe ``TestTPn(GradingContract)`` fixe ``case`` ; toutes ses vérifications partagent
    une seule exécution de ``nbgrader autograde``.
    """

    case: GradingCase

    @pytest.fixture(scope="class")
    @classmethod
    def graded(cls, tmp_path_factory):
        return autograde_all(cls.case, tmp_path_factory.mktemp(f"grading-{cls.case.tp.lower()}"))

    def test_release_has_no_solution_and_no_hidden_test(self):
        check_release_is_clean(self.case)

    def test_source_solution_gets_full_marks(self, graded):
        check_full_marks(self.case, graded)

    def test_untouched_release_gets_zero_everywhere(self, graded):
        check_blank_is_zero(self.case, graded)

    def test_wrong_answers_passing_visible_tests_lose_hidden_points(self, graded):
        check_wrong_loses_hidden(self.case, graded)

    def test_calling_the_reference_gets_no_points(self, graded):
        check_alias_gets_nothing(self.case, graded)

    def test_edited_test_cells_are_restored(self, graded):
        check_edited_tests_restored(self.case, graded)

    def test_deleted_test_cells_are_restored(self, graded):
        check_deleted_tests_restored(self.case, graded)

    def test_infinite_loop_times_out_and_others_are_graded(self, graded):
        check_loop_times_out(self.case, graded)
