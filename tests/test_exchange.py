"""L'échange nbgrader de bout en bout, dans une racine d'échange temporaire.

release_assignment → fetch_assignment (côté étudiant) → submit → collect → correction parallèle
(course_grading) → generate_feedback → release_feedback → fetch_feedback. Deux étudiants :
alice remet la solution, bob des réponses fausses qui passent les tests visibles.
"""

from __future__ import annotations

import os

import grading_harness as harness
import pytest
from test_autograde import TP, make_course
from test_grading_tp0 import CASE

import course_grading as autograde

COURSE_ID = "gif-4105-7105-generation"


def student_options(home, student, exchange):
    return ["--course", COURSE_ID, f"--Exchange.root={exchange}", f"--Exchange.cache={home / 'cache'}",
            "--student", student]


@pytest.fixture(scope="module")
def exchanged(tmp_path_factory):
    root = tmp_path_factory.mktemp("exchange")
    course = make_course(root)
    exchange = root / "exchange"
    exchange.mkdir()
    os.chmod(exchange, 0o777)
    with open(course / "nbgrader_config.py", "a", encoding="utf-8") as config:
        config.write(f"\nc.Exchange.root = {str(exchange)!r}\n")
    env = {**os.environ, "COURSE_CELL_TIMEOUT": "60"}
    harness.nbgrader(["generate_assignment", TP, "--force"], cwd=course, env=env)
    harness.nbgrader(["release_assignment", TP, "--force"], cwd=course, env=env)

    solution = harness.read(harness.ROOT / "solutions" / TP / f"{TP}.ipynb")
    answers = {
        "alice": {harness.meta(c)["grade_id"]: harness.source(c) for c in solution["cells"]
                  if harness.meta(c).get("solution")},
        "bob": CASE.wrong,
    }
    homes = {}
    for student, code in answers.items():
        home = homes[student] = root / "home" / student
        home.mkdir(parents=True)
        options = student_options(home, student, exchange)
        harness.nbgrader(["fetch_assignment", TP, *options], cwd=home, env=env)
        fetched = home / TP / f"{TP}.ipynb"
        harness.write(harness.replace_solutions(harness.read(fetched), code), fetched)
        harness.nbgrader(["submit", TP, *options], cwd=home, env=env)

    harness.nbgrader(["collect", TP], cwd=course, env=env)
    before = harness.checksums(course / "submitted")
    settings = autograde.GradingSettings(workers=2, timeout=300, memory_gib=2, cell_timeout=60,
                                         similarity_threshold=None)
    report = autograde.grade(TP, course, settings, progress=False)
    assert harness.checksums(course / "submitted") == before
    harness.nbgrader(["generate_feedback", TP, "--force"], cwd=course, env=env)
    harness.nbgrader(["release_feedback", TP], cwd=course, env=env)
    feedback = {}
    for student, home in homes.items():
        harness.nbgrader(["fetch_feedback", TP, *student_options(home, student, exchange)], cwd=home, env=env)
        found = sorted((home / TP / "feedback").glob(f"*/{TP}.html"))
        assert len(found) == 1, f"{student} : retour introuvable ({found})"
        feedback[student] = found[0].read_text(encoding="utf-8")
    return course, report, feedback


def test_collected_submissions_are_graded(exchanged):
    course, report, _ = exchanged
    results = report.by_student()
    assert set(results) == {"alice", "bob"}
    assert (results["alice"].score, results["bob"].score) == (15, 5)
    assert not any(r.flagged for r in results.values())
    for student in results:
        assert (course / "submitted" / student / TP / "timestamp.txt").exists()


def test_students_fetch_french_feedback_without_hidden_tests(exchanged):
    _, _, feedback = exchanged
    assert "note : 15 / 15" in feedback["alice"] and "note : 5 / 15" in feedback["bob"]
    for text in feedback.values():
        assert 'lang="fr"' in text and "Retour de correction" in text
        assert "BEGIN HIDDEN TESTS" not in text and "random_images(202" not in text
    assert "hors tolérance" in feedback["bob"]
    assert "Tests cachés : échoués (0 / 1 point)." in feedback["bob"]
