"""Une correction de classe qui survit à chaque étudiant (issue 16, points 4 à 7), par la vraie commande.

Dans un cours temporaire : des identifiants qui sont des motifs de fichiers (``*``, ``[A-Z]*``), qui
commencent par un point ou par ``=`` ; un ``timestamp.txt`` qui n'est pas une date, un autre en l'an
2000 ; un notebook démesuré et une cellule markdown de 4 Mo ; puis une nouvelle remise après un zéro
automatique, une note manuelle gardée puis retirée quand le notebook change, une correction partielle
(``--student``) qui garde toutes les lignes du CSV, et une politique de retard. Les autres étudiants sont
toujours notés correctement et rien ne change dans ``submitted/``.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import json

import grading_harness as harness
import pytest
from test_autograde import TP, insert_cell, make_course
from test_grading_tp0 import CASE

import course_grading
from course_grading.files import spreadsheet_safe
from course_grading.late import late_penalty


def settings(**extra):
    return course_grading.GradingSettings(workers=2, timeout=300, memory_gib=2, cell_timeout=60,
                                          similarity_threshold=None, **extra)


def rows(course):
    with open(course / f"notes_{TP}.csv", encoding="utf-8") as stream:
        return {row["etudiant"]: row for row in csv.DictReader(stream)}


def submit(course, student, notebook, timestamp=None):
    folder = course / "submitted" / student / TP
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(notebook, str):
        (folder / f"{TP}.ipynb").write_text(notebook, encoding="utf-8")
    else:
        harness.write(notebook, folder / f"{TP}.ipynb")
    if timestamp is not None:
        (folder / "timestamp.txt").write_text(timestamp, encoding="utf-8")


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("class-run"))
    base = harness.submissions(CASE)
    full, wrong = base["full"], base["wrong"]
    patcher = insert_cell(full, "setup", "get_ipython().set_custom_exc((Exception,), lambda *a, **k: None)\n")
    huge_markdown = copy.deepcopy(full)
    huge_markdown["cells"].insert(1, {"cell_type": "markdown", "metadata": {},
                                      "source": "```\n" + "x" * (4 * 2**20) + "\n```\n"})
    for student, notebook, stamp in [
        ("A1", full, None), ("A2", wrong, None), ("*", full, None), ("[A-Z]*", full, None),
        (".cache", full, None), ("=HYPERLINK(1)", wrong, None), ("garbage", full, "pas une date, vraiment"),
        ("ancient", full, "2000-01-01 00:00:00.000000 UTC"), ("markdown", huge_markdown, None),
        ("patcher", patcher, None), ("reviewed", wrong, None),
    ]:
        submit(course, student, notebook, stamp)
    submit(course, "huge", json.dumps(full)[:-1] + "," + json.dumps({"padding": "x" * (21 * 2**20)}) + "}")
    before = harness.checksums(course / "submitted")
    first = course_grading.grade(TP, course, settings(), progress=False)
    return course, first, before


def test_every_folder_is_graded_or_reported(course):
    course, first, before = course
    table = rows(course)
    assert set(table) == {"A1", "A2", "*", "[A-Z]*", ".cache", "'=HYPERLINK(1)", "garbage", "ancient", "markdown",
                          "patcher", "reviewed", "huge"}
    assert table["A1"]["note"] == "15" and table["A2"]["note"] == "5" and table[".cache"]["note"] == "15"
    for pattern in ("*", "[A-Z]*"):
        assert table[pattern]["statut"] == course_grading.STATUS_REVIEW and "motif" in table[pattern]["motif"]
    assert not (course / "autograded" / "*").exists() and not (course / "feedback" / "[A-Z]*").exists()
    assert harness.checksums(course / "submitted") == before


def test_spreadsheet_formulas_are_neutralised(course):
    course, *_ = course
    table = rows(course)
    assert "'=HYPERLINK(1)" in table and table["'=HYPERLINK(1)"]["note"] == "5"
    assert spreadsheet_safe("+1") == "'+1" and spreadsheet_safe("@x") == "'@x" and spreadsheet_safe("A1") == "A1"


def test_a_student_timestamp_never_breaks_the_run_nor_decides_the_time(course):
    course, first, _ = course
    table = rows(course)
    assert table["garbage"]["note"] == "15" and table["ancient"]["note"] == "15"
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        stamp = gradebook.find_submission(TP, "ancient").timestamp
    assert stamp.year >= 2026                     # l'heure de la collecte, pas l'an 2000 de l'étudiant


def test_oversized_notebooks_and_cells_are_flagged_at_precheck(course):
    course, *_ = course
    table = rows(course)
    assert table["huge"]["statut"] == course_grading.STATUS_REVIEW and "démesuré" in table["huge"]["motif"]
    assert table["markdown"]["statut"] == course_grading.STATUS_REVIEW and "démesurée" in table["markdown"]["motif"]
    assert (course / "feedback" / "huge" / TP / f"{TP}.html").is_file()


def test_a_clean_resubmission_clears_the_automatic_zero_everywhere(course):
    course, *_ = course
    assert rows(course)["patcher"]["note"] == "0"
    submit(course, "patcher", harness.submissions(CASE)["full"])
    course_grading.grade(TP, course, settings(), students=["patcher"], progress=False)
    table = rows(course)
    assert table["patcher"]["note"] == "15" and table["patcher"]["statut"] == course_grading.STATUS_OK
    assert len(table) == 12                          # une correction partielle garde toute la classe
    feedback = (course / "feedback" / "patcher" / TP / f"{TP}.html").read_text(encoding="utf-8")
    assert "15 / 15" in feedback and "correction automatique" not in feedback


def test_a_manual_score_is_kept_for_the_same_notebook_and_dropped_when_it_changes(course):
    course, *_ = course
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        notebook = gradebook.find_submission_notebook(TP, TP, "reviewed")
        for grade in notebook.grades:
            if grade.max_score and not grade.auto_score:
                grade.manual_score = grade.max_score           # l'équipe accorde les points
                grade.needs_manual_grade = False
        gradebook.db.commit()
    course_grading.grade(TP, course, settings(), students=["reviewed"], progress=False)
    assert rows(course)["reviewed"]["note"] == "15" and rows(course)["reviewed"]["statut"] == course_grading.STATUS_OK
    submit(course, "reviewed", insert_cell(harness.submissions(CASE)["wrong"], "setup", "x = 1\n"))
    course_grading.grade(TP, course, settings(), students=["reviewed"], progress=False)
    row = rows(course)["reviewed"]
    assert row["note"] == "5" and row["statut"] == course_grading.STATUS_REVIEW and "manuelles" in row["motif"]
    assert "remise a changé" in (course / f"autograde_{TP}.log").read_text(encoding="utf-8")


def test_the_late_policy_uses_the_collect_time(course):
    course, *_ = course
    from nbgrader.api import Gradebook

    config = course / "nbgrader_config.py"
    config.write_text(config.read_text(encoding="utf-8") + '\nc.LatePolicy.policy = "par_jour"\n', encoding="utf-8")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        gradebook.update_or_create_assignment(TP, duedate=dt.datetime.utcnow() - dt.timedelta(days=1, hours=1))
    course_grading.grade(TP, course, settings(), students=["A1"], progress=False)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        assert gradebook.find_submission(TP, "A1").late_submission_penalty == pytest.approx(3.0)
    assert rows(course)["A1"]["note"] == "12"          # 15 − 2 jours commencés × 10 %


def test_late_penalty_rules():
    assert late_penalty("aucune", 10, 10 * 86400) == 0
    assert late_penalty("zero", 10, 3600) == 10
    assert late_penalty("par_jour", 10, 3600, 0.1) == pytest.approx(1.0)
    assert late_penalty("par_jour", 10, 86400 * 20, 0.1) == 10
    assert late_penalty("par_jour", 10, 120, 0.1, grace_minutes=5) == 0


def test_bad_input_gets_a_french_message(tmp_path):
    course = make_course(tmp_path)
    with pytest.raises(ValueError, match="submitted"):
        course_grading.grade(TP, course, settings(), progress=False)
    with pytest.raises(ValueError, match="assignment"):
        course_grading.grade("TP99", course, settings(), progress=False)
    with pytest.raises(ValueError, match="isolation"):
        course_grading.GradingSettings(isolation="docker")
    from course_grading import cli

    assert cli.main(["TP99", "--course", str(course)]) == 2
