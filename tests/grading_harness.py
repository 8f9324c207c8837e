"""Le pipeline de correction d'un TP, de bout en bout, avec la vraie commande (``course_grading.grade``).

Chaque fichier ``test_grading_tpN.py`` décrit un :class:`GradingCase` et hérite de
:class:`GradingContract`, qui porte les vérifications communes à tous les TP. Une seule correction
(``course_grading.grade``, comme ``make grade``, en parallèle et sous garde) corrige toutes les
remises fabriquées, dans une copie temporaire du cours :

- ``full`` : la solution publiée (solutions/TPn) ;
- ``blank`` : la version étudiante intacte ;
- ``wrong`` : une réponse fausse par fonction, qui passe les tests visibles ;
- ``alias`` : des réponses qui appellent la référence de course_lib ;
- ``edited`` : les réponses fausses, avec toutes les cellules de test remplacées par ``pass`` ;
- ``deleted`` : la solution, sans aucune cellule de test ;
- ``loop`` : la solution, avec une boucle infinie dans une fonction ;
- ``mutants-k`` : des **mutants** (:class:`Mutant`), réponses fausses plausibles qui passent les tests
  visibles et doivent perdre les points cachés de leur fonction ; plusieurs par remise quand leurs
  fonctions sont indépendantes ;
- ``variants-k`` : des **variantes correctes** (:class:`Variant`) écrites autrement que la référence
  (boucles, float64 à l'intérieur, einsum, autres noms d'aides, un avertissement) : tous les points ;
- ``raccourci-…`` : des **raccourcis** (:class:`Shortcut`) — pile d'appels, sous-classe de Tensor
  menteuse, attributs des modules de test modifiés, cache à l'import, copie exécutée de la référence,
  appel depuis un fil — qui ne doivent rien rapporter, pour la raison attendue.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COURSE = ROOT / "assignments"
STUDENTS = ("full", "blank", "wrong", "alias", "edited", "deleted", "loop")
#: Les sortes de raccourcis que chaque TP doit essayer (« cache » seulement s'il a des fonctions
#: dont les arguments ne sont que des nombres).
SHORTCUT_KINDS = ("pile", "sous-classe", "attributs", "copie", "fil")


@dataclass(frozen=True)
class Mutant:
    """Une réponse fausse plausible, qui passe les tests visibles de sa fonction."""

    cell: str                              # grade_id de la cellule solution remplacée
    code: str
    why: str                               # l'erreur, en une phrase
    loses: tuple[str, ...] = ()            # cellules notées à 0 (défaut : test_<cell>_hidden)
    expect: str | tuple[str, ...] = ""     # texte (ou l'un des textes) attendu dans la sortie de ces cellules

    def zero_cells(self) -> tuple[str, ...]:
        return self.loses or (f"test_{self.cell}_hidden",)


@dataclass(frozen=True)
class Variant:
    """Une réponse correcte écrite autrement que la référence : elle doit avoir tous les points."""

    answers: dict[str, str]                # grade_id de cellule solution -> code
    why: str


@dataclass(frozen=True)
class Shortcut:
    """Un raccourci (une triche) qui ne doit rien rapporter."""

    name: str                              # identifiant de l'étudiant : raccourci-<name>
    kind: str                              # une de SHORTCUT_KINDS, ou « cache »
    why: str
    answers: dict[str, str] = field(default_factory=dict)    # cellules solution remplacées
    insert: tuple[tuple[str, str], ...] = ()                  # (après ce grade_id, code) : cellules ajoutées
    zero: tuple[str, ...] = ()             # cellules notées à 0 (défaut : les tests des fonctions remplacées)
    expect: str | tuple[str, ...] = ""     # texte (ou l'un des textes) attendu dans la sortie de ces cellules
    base: str = "solution"                 # « solution » ou « release »
    alone: bool = False                    # dans sa propre remise (il touche à tout le noyau)


@dataclass
class GradingCase:
    """Ce qu'il faut pour éprouver la correction d'un TP."""

    tp: str
    wrong: dict[str, str]            # grade_id de cellule solution -> code faux qui passe les tests visibles
    alias: dict[str, str]            # grade_id de cellule solution -> code qui appelle la référence
    loop: tuple[str, str]            # (grade_id de cellule solution, code avec une boucle infinie)
    loop_cells: list[str]            # cellules de test qui appellent la fonction qui boucle
    cell_timeout: int = 60           # délai par cellule pendant ce test (secondes)
    notebook: str | None = None      # nom du notebook (par défaut : le nom du TP)
    extra_env: dict[str, str] = field(default_factory=dict)
    mutants: tuple[Mutant, ...] = ()
    variants: tuple[Variant, ...] = ()
    shortcuts: tuple[Shortcut, ...] = ()
    uses: dict[str, tuple[str, ...]] = field(default_factory=dict)   # fonction -> fonctions qu'elle appelle
    scalar_functions: tuple[str, ...] = ()   # fonctions dont les arguments ne sont que des nombres
    timeout: float = 900.0           # limite par remise (secondes)
    workers: int = 2

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


def source_notebook(case: GradingCase) -> dict:
    return read(COURSE / "source" / case.tp / f"{case.notebook_name}.ipynb")


def hidden_cells(case: GradingCase) -> set[str]:
    """Les cellules de test qui contiennent des tests cachés (d'après la source)."""
    nb = source_notebook(case)
    return {meta(c)["grade_id"] for c in nb["cells"] if meta(c).get("grade") and "BEGIN HIDDEN TESTS" in source(c)}


def function_cells(case: GradingCase, function: str) -> set[str]:
    """Les cellules notées d'une fonction (test_<fonction>_visible, test_<fonction>_hidden)."""
    return {g for g in grade_cells(source_notebook(case)) if g.startswith(f"test_{function}_")}


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


def insert_cells(notebook: dict, cells: tuple[tuple[str, str], ...]) -> dict:
    """Ajoute des cellules de code non notées (comme un étudiant peut le faire) après des cellules données."""
    notebook = copy.deepcopy(notebook)
    for after, code in cells:
        index = next(i for i, c in enumerate(notebook["cells"]) if meta(c).get("grade_id") == after)
        notebook["cells"].insert(index + 1, {"cell_type": "code", "execution_count": None, "metadata": {},
                                             "outputs": [], "source": code})
    return notebook


# --------------------------------------------------------------------------- nbgrader

def nbgrader(args: list[str], cwd: Path, env: dict | None = None, timeout: int = 1800):
    """Une commande nbgrader (generate_assignment, release_assignment...) ; son journal si elle échoue."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, capture_output=True,
                            text=True, env=env, timeout=timeout)
    if result.returncode != 0:
        log = result.stdout + result.stderr
        errors = [line for line in log.splitlines() if "| ERROR]" in line or "Error" in line]
        raise AssertionError(f"nbgrader {' '.join(args)} a échoué (code {result.returncode}).\n"
                             "Erreurs :\n" + "\n".join(errors[:60]) + f"\n--- fin du journal ---\n{log[-12000:]}")
    return result


# --------------------------------------------------------------------------- regroupement des remises

def _users(case: GradingCase) -> dict[str, set[str]]:
    """fonction -> fonctions qui l'appellent, directement ou non."""
    users: dict[str, set[str]] = {}
    changed = True
    for function, used in case.uses.items():
        for callee in used:
            users.setdefault(callee, set()).add(function)
    while changed:
        changed = False
        for callers in users.values():
            extra = set().union(*(users.get(c, set()) for c in callers)) - callers
            if extra:
                callers |= extra
                changed = True
    return users


def _related(case: GradingCase, first: set[str], second: set[str]) -> bool:
    users = _users(case)
    closure = lambda cells: cells | set().union(*(users.get(c, set()) for c in cells))  # noqa: E731
    return bool(closure(first) & second or closure(second) & first)


def _pack(case: GradingCase, items: list, cells_of, extra=lambda item: set()) -> list[list]:
    """Range les éléments dans le moins de remises possible : fonctions distinctes et indépendantes."""
    groups: list[list] = []
    for item in items:
        for group in groups:
            taken = set().union(*(cells_of(i) for i in group))
            zeros = set().union(*(extra(i) for i in group))
            if not _related(case, taken, cells_of(item)) and not zeros & extra(item):
                group.append(item)
                break
        else:
            groups.append([item])
    return groups


def mutant_groups(case: GradingCase) -> list[list[Mutant]]:
    return _pack(case, list(case.mutants), lambda m: {m.cell}, lambda m: set(m.zero_cells()))


def variant_groups(case: GradingCase) -> list[list[Variant]]:
    groups: list[list[Variant]] = []
    for variant in case.variants:
        for group in groups:
            if not set(variant.answers) & set().union(*(set(v.answers) for v in group)):
                group.append(variant)
                break
        else:
            groups.append([variant])
    return groups


def shortcut_zero(case: GradingCase, shortcut: Shortcut) -> set[str]:
    if shortcut.zero:
        return set(shortcut.zero)
    return set().union(*(function_cells(case, cell) for cell in shortcut.answers))


def shortcut_groups(case: GradingCase) -> list[list[Shortcut]]:
    alone = [[s] for s in case.shortcuts if s.alone or s.insert]
    together = [s for s in case.shortcuts if not (s.alone or s.insert)]
    by_base: dict[str, list[Shortcut]] = {}
    for shortcut in together:
        by_base.setdefault(shortcut.base, []).append(shortcut)
    groups = []
    for items in by_base.values():
        groups += _pack(case, items, lambda s: set(s.answers), lambda s: shortcut_zero(case, s))
    return alone + groups


# --------------------------------------------------------------------------- les remises

def _base(case: GradingCase, which: str) -> dict:
    if which == "release":
        return read(COURSE / "release" / case.tp / f"{case.notebook_name}.ipynb")
    return read(ROOT / "solutions" / case.tp / f"{case.notebook_name}.ipynb")


def submissions(case: GradingCase) -> dict[str, dict]:
    """Les remises du contrat commun (full, blank, wrong, alias, edited, deleted, loop)."""
    release, solution = _base(case, "release"), _base(case, "solution")
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


def all_submissions(case: GradingCase) -> dict[str, dict]:
    """Toutes les remises : le contrat commun, les mutants, les variantes et les raccourcis."""
    notebooks = submissions(case)
    solution = _base(case, "solution")
    for k, group in enumerate(mutant_groups(case), start=1):
        notebooks[f"mutants-{k}"] = replace_solutions(solution, {m.cell: m.code for m in group})
    for k, group in enumerate(variant_groups(case), start=1):
        answers = {cell: code for v in group for cell, code in v.answers.items()}
        notebooks[f"variants-{k}"] = replace_solutions(solution, answers)
    for group in shortcut_groups(case):
        answers = {cell: code for s in group for cell, code in s.answers.items()}
        notebook = replace_solutions(_base(case, group[0].base), answers)
        notebooks[shortcut_student(group)] = insert_cells(notebook, tuple(c for s in group for c in s.insert))
    return notebooks


def shortcut_student(group: list[Shortcut]) -> str:
    return "raccourci-" + "-".join(s.name for s in group)


# --------------------------------------------------------------------------- la correction

class Graded(dict):
    """{étudiant: {grade_id: (score, max)}}, plus les sorties des cellules et le rapport de correction."""

    outputs: dict[str, dict[str, str]]
    report: object


def _cell_outputs(path: Path) -> dict[str, str]:
    """grade_id -> texte des sorties (erreurs comprises) d'un notebook corrigé."""
    if not path.exists():
        return {}
    texts = {}
    for cell in read(path)["cells"]:
        grade_id = meta(cell).get("grade_id")
        if not grade_id or cell.get("cell_type") != "code":
            continue
        parts = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":          # l'erreur d'abord : sa première ligne dit tout
                parts.insert(0, f"{output.get('ename')}: {output.get('evalue')}")
            elif output.get("output_type") == "stream":
                parts.append(source({"source": output.get("text", "")}))
            elif "data" in output:
                parts.append(source({"source": output["data"].get("text/plain", "")}))
        texts[grade_id] = "\n".join(parts)
    return texts


def autograde_all(case: GradingCase, workdir: Path) -> Graded:
    """Corrige toutes les remises avec ``course_grading.grade`` ; retourne {étudiant: {grade_id: (score, max)}}."""
    from nbgrader.api import Gradebook

    import course_grading

    course = workdir / "course"
    (course / "source").mkdir(parents=True)
    shutil.copy2(COURSE / "nbgrader_config.py", course / "nbgrader_config.py")
    shutil.copytree(COURSE / "source" / case.tp, course / "source" / case.tp)
    notebooks = all_submissions(case)
    for student, notebook in notebooks.items():
        folder = course / "submitted" / student / case.tp
        write(notebook, folder / f"{case.notebook_name}.ipynb")
        (folder / "timestamp.txt").write_text("2026-01-15 12:00:00.000000 UTC")
    before = checksums(course / "submitted")
    # (rapport de similarité coupé : toutes ces remises dérivent de la même solution publiée)
    settings = course_grading.GradingSettings(workers=case.workers, timeout=case.timeout, memory_gib=2,
                                              cell_timeout=case.cell_timeout, feedback=False,
                                              similarity_threshold=None)
    saved = {name: os.environ.get(name) for name in case.extra_env}
    os.environ.update(case.extra_env)
    try:
        report = course_grading.grade(case.tp, course, settings=settings, progress=False)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    assert checksums(course / "submitted") == before, "la correction a modifié des fichiers remis"

    graded = Graded()
    graded.report = report
    graded.outputs = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for student in notebooks:
            try:
                notebook = gradebook.find_submission_notebook(case.notebook_name, case.tp, student)
            except Exception:  # noqa: BLE001 - une remise que la correction n'a pas pu noter
                graded[student] = {}
                continue
            graded[student] = {g.name: (g.score, g.max_score) for g in notebook.grades if g.cell.max_score}
            graded.outputs[student] = _cell_outputs(
                course / "autograded" / student / case.tp / f"{case.notebook_name}.ipynb")
    return graded


def checksums(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------- vérifications

def check_release_is_clean(case: GradingCase) -> None:
    """La version étudiante ne contient ni solution ni test caché."""
    source_nb = source_notebook(case)
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


def _failed(scores: dict[str, tuple[float, float]]) -> dict:
    return {k: v for k, v in scores.items() if v[0] != v[1]}


def _why(graded: dict, student: str, cells) -> str:
    outputs = getattr(graded, "outputs", {}).get(student, {})
    lines = []
    for cell in sorted(cells):
        text = outputs.get(cell, "").strip()
        lines.append(f"  {cell} : {text.splitlines()[0][:300] if text else '(aucune sortie)'}")
    return "\n" + "\n".join(lines) if lines else ""


def _explains(expect, text: str) -> bool:
    """Vrai si la sortie contient le texte attendu (ou l'un d'eux) ; rien d'attendu : vrai."""
    options = (expect,) if isinstance(expect, str) else tuple(expect)
    return not any(options) or any(option in text for option in options if option)


def check_full_marks(case: GradingCase, graded: dict) -> None:
    got, maximum = total(graded["full"])
    failed = _failed(graded["full"])
    assert got == maximum and maximum > 0, f"la solution n'a pas tous les points : {failed}" + \
        _why(graded, "full", failed)


def check_blank_is_zero(case: GradingCase, graded: dict) -> None:
    nonzero = {k: v for k, v in graded["blank"].items() if v[0] != 0}
    assert not nonzero, f"la version intacte gagne des points : {nonzero}"
    assert set(graded["blank"]) == set(graded["full"])


def check_wrong_loses_hidden(case: GradingCase, graded: dict) -> None:
    hidden = hidden_cells(case)
    assert hidden, "aucun test caché dans ce TP"
    visible = {k: v for k, v in graded["wrong"].items() if k not in hidden}
    lost_visible = _failed(visible)
    assert not lost_visible, f"les réponses fausses devraient passer les tests visibles : {lost_visible}" + \
        _why(graded, "wrong", lost_visible)
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


def check_mutants(case: GradingCase, graded: dict) -> None:
    """Chaque mutant passe les tests visibles et perd les points cachés de sa fonction (pour la bonne raison) ;
    les fonctions qui ne dépendent d'aucun mutant de sa remise gardent tous leurs points."""
    users = _users(case)
    problems = []
    for k, group in enumerate(mutant_groups(case), start=1):
        student = f"mutants-{k}"
        scores = graded[student]
        zero = set().union(*(set(m.zero_cells()) for m in group))
        affected = set().union(*(function_cells(case, f) for m in group for f in users.get(m.cell, set())))
        for mutant in group:
            kept = {c: scores.get(c) for c in mutant.zero_cells() if not scores.get(c) or scores[c][0] != 0}
            if kept:
                problems.append(f"{student} : le mutant de {mutant.cell} ({mutant.why}) garde des points : {kept}")
            text = "\n".join(graded.outputs.get(student, {}).get(c, "") for c in mutant.zero_cells())
            if not _explains(mutant.expect, text):
                problems.append(f"{student} : le mutant de {mutant.cell} ({mutant.why}) n'échoue pas pour la raison "
                                f"attendue ({mutant.expect!r}) :{_why(graded, student, mutant.zero_cells())}")
        lost = {c: v for c, v in _failed(scores).items() if c not in zero | affected}
        if lost:
            problems.append(f"{student} : des cellules perdent des points à tort : {lost}"
                            + _why(graded, student, lost))
    assert not problems, "\n".join(problems)


def check_variants(case: GradingCase, graded: dict) -> None:
    """Chaque variante correcte a tous les points."""
    problems = []
    for k, group in enumerate(variant_groups(case), start=1):
        student = f"variants-{k}"
        failed = _failed(graded[student])
        if failed or not graded[student]:
            why = "; ".join(v.why for v in group)
            problems.append(f"{student} ({why}) perd des points : {failed}" + _why(graded, student, failed))
    assert not problems, "\n".join(problems)


def check_shortcuts(case: GradingCase, graded: dict) -> None:
    """Aucun raccourci ne rapporte de points, et chacun échoue pour la raison attendue."""
    problems = []
    for group in shortcut_groups(case):
        student = shortcut_student(group)
        scores = graded[student]
        for shortcut in group:
            zero = shortcut_zero(case, shortcut)
            earned = {c: scores.get(c) for c in zero if not scores.get(c) or scores[c][0] != 0}
            if earned:
                problems.append(f"{student} : le raccourci « {shortcut.why} » rapporte des points : {earned}")
            text = "\n".join(graded.outputs.get(student, {}).get(c, "") for c in zero)
            expect = shortcut.expect
            # La garde du noyau isolé refuse déjà l'introspection de la pile, et voit les modules remplacés
            # (attributs retenus par identité) avant que le test ne s'en aperçoive.
            also = {"pile": ("introspection de la pile",), "attributs": ("des outils de test ont été remplacés",)}
            expect = ((expect,) if isinstance(expect, str) else tuple(expect)) + also.get(shortcut.kind, ())
            if not _explains(expect, text):
                problems.append(f"{student} : le raccourci « {shortcut.why} » n'échoue pas pour la raison attendue "
                                f"({shortcut.expect!r}) :{_why(graded, student, zero)}")
    assert not problems, "\n".join(problems)


def check_case_is_complete(case: GradingCase) -> None:
    """Au moins 6 mutants (réponses fausses comprises), 3 variantes correctes et toutes les sortes de raccourcis."""
    mutants = len(case.mutants) + len(case.wrong)
    assert mutants >= 6, f"{case.tp} : {mutants} mutant(s) ; il en faut au moins 6"
    assert len(case.variants) >= 3, f"{case.tp} : {len(case.variants)} variante(s) correcte(s) ; il en faut 3"
    kinds = {s.kind for s in case.shortcuts}
    required = set(SHORTCUT_KINDS) | ({"cache"} if case.scalar_functions else set())
    assert required <= kinds, f"{case.tp} : raccourcis manquants : {sorted(required - kinds)}"


# --------------------------------------------------------------------------- le contrat de chaque TP

class GradingContract:
    """Les vérifications que chaque TP doit passer (DESIGN.md, section 4).

    Une classe ``TestTPn(GradingContract)`` fixe ``case`` ; toutes ses vérifications partagent
    une seule correction (``course_grading.grade``) de toutes les remises.
    """

    case: GradingCase

    @pytest.fixture(scope="class")
    @classmethod
    def graded(cls, tmp_path_factory):
        return autograde_all(cls.case, tmp_path_factory.mktemp(f"grading-{cls.case.tp.lower()}"))

    def test_case_describes_mutants_variants_and_shortcuts(self):
        check_case_is_complete(self.case)

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

    def test_mutants_pass_visible_tests_and_lose_hidden_points(self, graded):
        check_mutants(self.case, graded)

    def test_correct_variants_get_full_marks(self, graded):
        check_variants(self.case, graded)

    def test_shortcuts_earn_nothing(self, graded):
        check_shortcuts(self.case, graded)
