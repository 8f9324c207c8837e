"""Correction parallèle d'une classe (course_grading) : de vraies remises fautives, avec nbgrader.

Une seule correction (module) de onze remises du TP0 dans une copie temporaire du cours :
trois normales (solution, réponses fausses, version intacte) et une par faute — notebook illisible,
notebook absent, mémoire sans fin, sortie de 100 Mo, noyau tué, fichiers écrits ou supprimés hors du
dossier, outils de test remplacés. Chaque fautif reçoit 0, un motif en français et le signal de
révision manuelle ; les autres sont notés comme par nbgrader seul ; rien ne change dans submitted/.
"""

from __future__ import annotations

import copy
import csv
import json
from pathlib import Path

import grading_harness as harness
import pytest

# Importer torchvision fixe TORCHINDUCTOR_CACHE_DIR dans l'environnement de ce processus (torch._dynamo) ;
# les noyaux des remises ne doivent pas en hériter (régression : la garde refusait alors le mkdir).
import torchvision  # noqa: F401
from test_grading_tp0 import CASE

import course_grading as autograde
from course_grading import worker
from course_grading.files import verify_submitted

ROOT = Path(__file__).resolve().parent.parent
TP = "TP0"
HIDDEN = harness.hidden_cells(CASE)


def insert_cell(notebook: dict, after_grade_id: str, code: str) -> dict:
    """Ajoute une cellule de code (non notée, comme un étudiant peut le faire) après une cellule donnée."""
    notebook = copy.deepcopy(notebook)
    index = next(i for i, c in enumerate(notebook["cells"]) if harness.meta(c).get("grade_id") == after_grade_id)
    notebook["cells"].insert(index + 1, {"cell_type": "code", "execution_count": None, "metadata": {},
                                         "outputs": [], "source": code})
    return notebook


def fault_submissions(course: Path) -> dict[str, object]:
    """Les remises : un notebook (dict), du texte brut (fichier corrompu) ou None (notebook absent)."""
    base = harness.submissions(CASE)
    full, wrong, blank = base["full"], base["wrong"], base["blank"]
    submitted = course / "submitted"
    vandal = f'''import os, shutil
target = {str(submitted)!r}
attempts = {{}}
actions = {{
    "écraser un autre notebook": lambda: open(os.path.join(target, "full", "TP0", "TP0.ipynb"), "w").write("{{}}"),
    "supprimer un notebook": lambda: os.remove(os.path.join(target, "blank", "TP0", "TP0.ipynb")),
    "supprimer un dossier": lambda: shutil.rmtree(os.path.join(target, "wrong")),
    "ajouter un fichier": lambda: open(os.path.join(target, "full", "TP0", "pirate.txt"), "w").write("x"),
    "chemin relatif": lambda: open("../../../submitted/full/TP0/TP0.ipynb", "w").write("{{}}"),
    "carnet de notes": lambda: os.remove("../../../gradebook.db"),
    "commande": lambda: os.system("rm -rf " + os.path.join(target, "full")),
    "lien dur": lambda: os.link(os.path.join(target, "full", "TP0", "TP0.ipynb"), "lien.ipynb"),
}}
for name, action in actions.items():
    try:
        action()
        attempts[name] = "ACCOMPLI"
    except Exception as error:
        attempts[name] = type(error).__name__
print(attempts)
'''
    patch = '''from course_lib import grading
import numpy.testing
import torch.testing
grading.assert_close = lambda *args, **kwargs: None
grading.check_against_reference = lambda *args, **kwargs: None
grading.assert_not_reference = lambda func, references, *args, **kwargs: func(*args, **kwargs)
numpy.testing.assert_allclose = lambda *args, **kwargs: None
torch.testing.assert_close = lambda *args, **kwargs: None
'''
    return {
        "full": full,
        "wrong": wrong,
        "blank": blank,
        "corrupt": json.dumps(full, ensure_ascii=False)[:5000],
        "missing": None,
        "memory": insert_cell(full, "test_srgb_to_linear_hidden",
                              "hog = []\nwhile True:\n    hog.append(bytearray(64 * 2**20))\n"),
        "flood": insert_cell(full, "test_rgb_to_gray_hidden", 'print("x" * 100_000_000)\n'),
        "killer": insert_cell(full, "test_rgb_to_lab_hidden",
                              "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"),
        "vandal": insert_cell(full, "test_rgb_to_gray_hidden", vandal),
        "patcher": insert_cell(wrong, "setup", patch),
    }


EXPECTED_REASON = {
    "corrupt": "illisible", "missing": "absent", "memory": "mémoire", "flood": "sortie démesurée",
    "killer": "noyau Python s'est arrêté", "vandal": "hors du dossier", "patcher": "monkeypatch",
}


def make_course(folder: Path) -> Path:
    course = folder / "course"
    (course / "source").mkdir(parents=True)
    (course / "nbgrader_config.py").write_text((ROOT / "assignments" / "nbgrader_config.py").read_text("utf-8"))
    import shutil

    shutil.copytree(ROOT / "assignments" / "source" / TP, course / "source" / TP)
    return course


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("autograde"))
    for student, content in fault_submissions(course).items():
        folder = course / "submitted" / student / TP
        folder.mkdir(parents=True)
        (folder / "timestamp.txt").write_text("2026-01-15 12:00:00.000000 UTC")
        if content is None:
            (folder / "notes.txt").write_text("J'ai oublié le notebook.\n", encoding="utf-8")
        elif isinstance(content, str):
            (folder / f"{TP}.ipynb").write_text(content, encoding="utf-8")
        else:
            harness.write(content, folder / f"{TP}.ipynb")
    before = harness.checksums(course / "submitted")
    # délai de cellule large : sur une machine chargée, la cellule d'imports peut prendre plus de 15 s
    # (rapport de similarité coupé : ces remises dérivent toutes de la même solution)
    settings = autograde.GradingSettings(workers=2, timeout=300, memory_gib=2, cell_timeout=60,
                                         similarity_threshold=None)
    report = autograde.grade(TP, course, settings, progress=False)
    after = harness.checksums(course / "submitted")
    return course, report, before, after


def cell_scores(course: Path, student: str) -> dict[str, tuple[float, float]]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        notebook = gradebook.find_submission_notebook(TP, TP, student)
        return {g.name: (g.score, g.max_score) for g in notebook.grades if g.max_score}


def test_submitted_files_are_untouched(graded):
    course, report, before, after = graded
    assert after == before, "des fichiers de submitted/ ont changé pendant la correction"
    assert report.restored == [] and report.added == [], f"la garde aurait dû tout empêcher : {report.summary()}"


def test_normal_submissions_are_graded_like_nbgrader(graded):
    course, report, *_ = graded
    results = report.by_student()
    full, wrong, blank = (cell_scores(course, s) for s in ("full", "wrong", "blank"))
    assert all(score == maximum for score, maximum in full.values()) and results["full"].score == 15
    assert all(score == 0 for score, _ in blank.values()) and results["blank"].score == 0
    assert {k for k, (score, _) in wrong.items() if score} == set(wrong) - HIDDEN, wrong
    assert results["wrong"].score == 5
    for student in ("full", "wrong", "blank"):
        assert results[student].status == autograde.STATUS_OK and not results[student].reasons


@pytest.mark.parametrize("student", sorted(EXPECTED_REASON))
def test_each_fault_gets_zero_a_french_reason_and_a_review_flag(graded, student):
    course, report, *_ = graded
    result = report.by_student()[student]
    assert result.status == autograde.STATUS_REVIEW and result.score == 0 and result.max_score == 15
    assert any(EXPECTED_REASON[student] in reason for reason in result.reasons), result.reasons
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        notebook = gradebook.find_submission_notebook(TP, TP, student)
        assert all(g.needs_manual_grade and g.score == 0 for g in notebook.grades)
        comments = [c.manual_comment for c in notebook.comments if c.manual_comment]
        assert len(comments) == 1 and EXPECTED_REASON[student] in comments[0]
    feedback = (course / "feedback" / student / TP / f"{TP}.html").read_text(encoding="utf-8")
    assert "révision manuelle" in feedback and EXPECTED_REASON[student] in feedback.replace("&#x27;", "'")


def test_csv_lists_every_student_with_score_status_and_reason(graded):
    course, report, *_ = graded
    with open(report.csv_path, encoding="utf-8") as stream:
        rows = {row["etudiant"]: row for row in csv.DictReader(stream)}
    assert set(rows) == {"full", "wrong", "blank", *EXPECTED_REASON}
    assert rows["full"]["note"] == "15" and rows["full"]["statut"] == "ok" and rows["full"]["note_max"] == "15"
    assert rows["wrong"]["note"] == "5"
    assert rows["killer"]["statut"] == autograde.STATUS_REVIEW and "noyau" in rows["killer"]["motif"]


def test_feedback_is_french_and_hides_hidden_tests_but_not_their_messages(graded):
    course, *_ = graded
    feedback = (course / "feedback" / "wrong" / TP / f"{TP}.html").read_text(encoding="utf-8")
    assert "Retour de correction" in feedback and "note : 5 / 15" in feedback
    for secret in ("BEGIN HIDDEN TESTS", "random_images(101", "random_tensor(5, (500,)", "(0.5, 0.8, 1.7, 2.5, 4.0)"):
        assert secret not in feedback, f"le retour montre le code d'un test caché : {secret}"
    assert "Tests cachés : échoués (0 / 1 point)." in feedback  # le verdict du test caché, sans ses sorties
    assert "hors tolérance" in feedback                      # la première ligne de son message, visible
    assert "rgb_to_gray" in feedback


def test_vandal_attempts_were_all_refused(graded):
    course, *_ = graded
    notebook = harness.read(course / "autograded" / "vandal" / TP / f"{TP}.ipynb")
    printed = "".join(harness.source({"source": o.get("text", "")}) for c in notebook["cells"]
                      for o in c.get("outputs", []))
    assert "ACCOMPLI" not in printed and printed.count("GuardViolation") == 8, printed[:2000]


def test_flood_output_is_truncated(graded):
    course, *_ = graded
    path = course / "autograded" / "flood" / TP / f"{TP}.ipynb"
    assert path.stat().st_size < 30 * 2**20
    assert "Sortie tronquée" in path.read_text(encoding="utf-8")


def test_wall_time_limit_stops_a_submission(tmp_path):
    course = make_course(tmp_path)
    sleeper = insert_cell(harness.submissions(CASE)["full"], "setup", "import time\ntime.sleep(600)\n")
    harness.write(sleeper, course / "submitted" / "sleeper" / TP / f"{TP}.ipynb")
    before = harness.checksums(course / "submitted")
    settings = autograde.GradingSettings(workers=1, timeout=12, memory_gib=2, cell_timeout=300, feedback=False)
    report = autograde.grade(TP, course, settings, progress=False)
    result = report.by_student()["sleeper"]
    assert result.flagged and result.score == 0 and "limite de temps" in result.reasons[0]
    assert harness.checksums(course / "submitted") == before


def test_changed_or_lost_files_are_restored_and_new_ones_reported(tmp_path):
    submitted, staging = tmp_path / "submitted", tmp_path / "staging"
    for student in ("ana", "ben"):
        (submitted / student / TP).mkdir(parents=True)
        (submitted / student / TP / f"{TP}.ipynb").write_text(f"{{'remise': '{student}'}}")
    before = autograde.checksums(submitted)
    import shutil

    shutil.copytree(submitted, staging)
    (submitted / "ana" / TP / f"{TP}.ipynb").write_text("abîmé")
    (submitted / "ben" / TP / f"{TP}.ipynb").unlink()
    (submitted / "ben" / TP / "nouveau.txt").write_text("x")
    restored, added = verify_submitted(submitted, before, staging, TP)
    assert sorted(restored) == [f"ana/{TP}/{TP}.ipynb", f"ben/{TP}/{TP}.ipynb"]
    assert added == [f"ben/{TP}/nouveau.txt"]
    assert {k: v for k, v in autograde.checksums(submitted).items() if k in before} == before


def test_private_cache_mirror_reads_the_real_cache_but_cannot_change_it(tmp_path, monkeypatch):
    from course_grading import sandbox

    real, private = tmp_path / "cache", tmp_path / "private"
    (real / "weights").mkdir(parents=True)
    (real / "model.pt").write_bytes(b"poids")
    mirror = Path(worker.mirror(str(real), private / "course-data"))
    assert (mirror / "model.pt").read_bytes() == b"poids" and (mirror / "weights").is_dir()
    monkeypatch.chdir(tmp_path)
    guard = sandbox.Guard([private])
    guard._active = True
    guard("open", (str(mirror / "new.pt"), "wb", 0))                     # un nouveau fichier : permis
    guard("os.remove", (str(mirror / "model.pt"), None))                 # retirer le lien : permis
    for event, args in (("open", (str(mirror / "model.pt"), "wb", 0)),   # écraser le vrai fichier : refusé
                        ("open", (str(mirror / "weights" / "x.pt"), "wb", 0))):
        with pytest.raises(sandbox.GuardViolation):
            guard(event, args)


def test_failure_page_is_french_and_escaped():
    page = autograde.failure_page(TP, TP, "<élève>", ["le notebook « TP0.ipynb » est absent de la remise"], 15)
    assert 'lang="fr"' in page and "0 / 15" in page and "&lt;élève&gt;" in page and "révision manuelle" in page


def test_bad_arguments_are_refused_in_french(tmp_path):
    course = make_course(tmp_path)
    with pytest.raises(ValueError, match="submitted"):
        autograde.grade(TP, course, progress=False)
    (course / "submitted" / "alice" / "TP9").mkdir(parents=True)
    with pytest.raises(ValueError, match="Aucune remise"):
        autograde.grade(TP, course, progress=False)
    with pytest.raises(ValueError, match="assignment"):
        autograde.grade("TP99", course, progress=False)
    with pytest.raises(ValueError, match="racine d'un cours"):
        autograde.grade(TP, tmp_path / "nulle-part", progress=False)
    with pytest.raises(ValueError, match="workers"):
        autograde.GradingSettings(workers=-1)
    with pytest.raises(TypeError, match="timeout"):
        autograde.GradingSettings(timeout="vite")
