"""La correction face à un étudiant qui a lu course_lib et le code du correcteur (issue 12).

Une seule correction, par la vraie commande (``course_grading.grade``), de remises du TP0 écrites pour
tricher : avaler les erreurs, falsifier la preuve, lire les sources ou la remise d'un autre, écrire dans le
carnet de notes (même depuis un processus qui survivrait au noyau), ouvrir une connexion réseau, tracer et
sauter les tests, remplacer la machinerie d'IPython. Chacune doit rapporter 0 point de plus que la version
intacte, et les tentatives visibles doivent être signalées ; les remises honnêtes à côté sont notées
normalement. Une seconde correction, sans bubblewrap, vérifie que le CSV et le journal disent alors
« isolation partielle ».
"""

from __future__ import annotations

import csv
import json
import socket
import threading
import time
from pathlib import Path

import grading_harness as harness
import psutil
import pytest
from test_autograde import TP, insert_cell, make_course
from test_grading_tp0 import CASE

import course_grading
from course_grading.isolation import check_bwrap

MARKER = "course-adversarial-31415"     # argument de ligne de commande d'un processus qui ne doit pas survivre


def cheats(course: Path, port: int) -> dict[str, dict]:
    """Les remises, par identifiant d'étudiant."""
    base = harness.submissions(CASE)
    full, wrong, blank = base["full"], base["wrong"], base["blank"]
    source_nb = str(course / "source" / TP / f"{TP}.ipynb")
    classmate = str(course / "submitted" / "honest" / TP / f"{TP}.ipynb")
    gradebook = str(course / "gradebook.db")
    run_solutions = '''
def run_solutions(path):
    import json
    nb = json.load(open(path))
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("solution"):
            exec("".join(cell["source"]), globals())
'''
    return {
        "honest": full,
        "wrong": wrong,
        "blank": blank,
        # une version intacte qui avale toutes ses erreurs (issue 12 : 15/15 auparavant)
        "swallow": insert_cell(blank, "setup", '''
ip = get_ipython()
ip.set_custom_exc((BaseException,), lambda shell, etype, value, tb, tb_offset=None: None)
def _clear(result):
    result.error_in_exec = None
    result.error_before_exec = None
ip.events.register("post_run_cell", _clear)
import sys
sys.excepthook = lambda *args: None
'''),
        # la fonction fausse, appelée par le test, lit la preuve dans la cellule et la demande elle-même
        "forger": insert_cell(insert_cell(wrong, "setup", '''
import re, sys
def _forge():
    source = get_ipython().user_ns["In"][-1]
    for nonce in re.findall(r'"([0-9a-f]{32})"', source):
        sys.audit("course_grading.preuve", nonce)
        print("[course_grading:preuve " + nonce + ":" + "0" * 32 + "]")
'''), "rgb_to_gray", '''
_wrong_gray = rgb_to_gray
def rgb_to_gray(images):
    _forge()
    return _wrong_gray(images)
'''),
        "printer": insert_cell(blank, "setup", '''
for i in range(20):
    print("[course_grading:preuve " + "a" * 32 + ":" + "b" * 32 + "]")
'''),
        # lire le maître du TP (chemin relatif, chemin absolu) et exécuter ses solutions
        "reader": insert_cell(blank, "setup", run_solutions + f'''
for path in ["../../../source/{TP}/{TP}.ipynb", {source_nb!r}]:
    try:
        run_solutions(path)
        print("SOURCE-LUE", path)
    except Exception as error:
        print("SOURCE-REFUSEE", path, type(error).__name__)
'''),
        "copier": insert_cell(blank, "setup", run_solutions + f'''
for path in ["../../honest/{TP}/{TP}.ipynb", {classmate!r}]:
    try:
        run_solutions(path)
    except Exception as error:
        print("refusé", path, type(error).__name__)
'''),
        # réécrire le carnet de notes, directement et depuis un processus détaché qui survivrait au noyau
        "rewriter": insert_cell(blank, "setup", f'''
import sqlite3, os, sys, _posixsubprocess
attack = "import sqlite3, time\\ntime.sleep(4)\\nc = sqlite3.connect({gradebook!r})\\n" \\
         "c.execute('update grade set auto_score = 0, manual_score = 0')\\nc.commit()\\n"
for target in ["../../../gradebook.db", {gradebook!r}]:
    try:
        c = sqlite3.connect(target)
        c.execute("update grade set auto_score = 0, manual_score = 0")
        c.commit()
    except Exception as error:
        print("refusé", type(error).__name__)
try:
    pid = os.fork()
    if pid == 0:
        os.setsid()
        exec(attack)
        os._exit(0)
except Exception as error:
    print("fork refusé", type(error).__name__)
try:
    r, w = os.pipe()
    _posixsubprocess.fork_exec([sys.executable.encode(), b"-c", attack.encode(), b"{MARKER}"],
                               [sys.executable.encode()], True, (w,), None, None, -1, -1, -1, -1, -1, -1,
                               r, w, True, True, -1, None, None, None, -1, None, True)
except Exception as error:
    print("fork_exec refusé", type(error).__name__)
'''),
        "network": insert_cell(full, "setup", f'''
import socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=3).sendall(b"fuite")
    print("CONNECTÉ")
except OSError as error:
    print("réseau refusé", type(error).__name__)
'''),
        # remplacer la machinerie d'IPython qui transforme une exception en erreur
        "patcher": insert_cell(blank, "setup", '''
ip = get_ipython()
ip.showtraceback = lambda *args, **kwargs: None
type(ip)._showtraceback = lambda *args, **kwargs: None
'''),
        # tracer la cellule de test et sauter ses vérifications
        "tracer": insert_cell(blank, "setup", '''
import sys
def jump(frame, event, arg):
    return jump
try:
    sys.settrace(jump)
except Exception as error:
    print("traceur refusé", type(error).__name__)
'''),
        # une solution correcte qui écrit sur stderr : aucun point perdu
        "noisy": insert_cell(full, "setup", '''
import sys, warnings
warnings.warn("un avertissement inoffensif")
print("sur stderr", file=sys.stderr)
'''),
    }


@pytest.fixture(scope="module")
def listener():
    """Un serveur TCP sur la machine du correcteur : aucune remise ne doit pouvoir s'y connecter."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    received = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                connection, _ = server.accept()
                received.append(connection.recv(100))
                connection.close()
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], received
    stop.set()
    thread.join(timeout=5)
    server.close()


@pytest.fixture(scope="module")
def graded(tmp_path_factory, listener):
    works, why = check_bwrap()
    if not works:
        pytest.skip(f"bubblewrap indisponible ici : {why}")
    port, received = listener
    course = make_course(tmp_path_factory.mktemp("adversarial"))
    for student, notebook in cheats(course, port).items():
        harness.write(notebook, course / "submitted" / student / TP / f"{TP}.ipynb")
    settings = course_grading.GradingSettings(workers=2, timeout=300, memory_gib=2, cell_timeout=60,
                                              isolation="bwrap", similarity_threshold=None)
    report = course_grading.grade(TP, course, settings, progress=False)
    time.sleep(6)                        # le temps qu'un processus détaché aurait pris pour agir
    return course, report.by_student(), received


def test_honest_submissions_are_graded_as_usual(graded):
    _, results, _ = graded
    assert (results["honest"].score, results["wrong"].score, results["blank"].score) == (15, 5, 0)
    assert results["honest"].status == course_grading.STATUS_OK and results["honest"].isolation == "bwrap"


@pytest.mark.parametrize("student", ["swallow", "printer", "reader", "copier", "rewriter", "patcher", "tracer"])
def test_a_cheat_on_the_blank_notebook_earns_nothing(graded, student):
    _, results, _ = graded
    assert results[student].score == 0, results[student]


@pytest.mark.parametrize("student, reason", [
    ("swallow", "gestionnaire d'exceptions"), ("reader", "accès"), ("copier", "accès"),
    ("rewriter", "programme"), ("patcher", "IPython"), ("tracer", "traceur"), ("forger", "preuve"),
])
def test_each_visible_attempt_is_flagged_for_review_with_a_french_reason(graded, student, reason):
    _, results, _ = graded
    result = results[student]
    assert result.status == course_grading.STATUS_REVIEW, result
    assert any(reason in r for r in result.reasons), result.reasons


def test_a_forged_proof_does_not_add_points_to_wrong_answers(graded):
    _, results, _ = graded
    assert results["forger"].score <= results["wrong"].score


def test_the_gradebook_survives_direct_and_detached_writes(graded):
    course, results, _ = graded
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        assert gradebook.find_submission(TP, "honest").score == 15
        assert gradebook.find_submission(TP, "wrong").score == 5
    survivors = [p for p in psutil.process_iter(["cmdline"]) if MARKER in " ".join(p.info["cmdline"] or [])]
    assert not survivors, survivors


def test_no_submission_reaches_the_network(graded):
    _, results, received = graded
    assert received == []
    assert results["network"].score == 15           # la remise elle-même est notée normalement


def test_writing_on_stderr_costs_nothing(graded):
    _, results, _ = graded
    assert results["noisy"].score == 15 and results["noisy"].status == course_grading.STATUS_OK


def test_what_the_reader_saw_stays_in_its_feedback_only(graded):
    course, _, _ = graded
    notebook = json.loads((course / "autograded" / "reader" / TP / f"{TP}.ipynb").read_text(encoding="utf-8"))
    printed = json.dumps([cell.get("outputs", []) for cell in notebook["cells"]])
    assert "SOURCE-LUE" not in printed and "SOURCE-REFUSEE" in printed


def test_without_bubblewrap_every_row_says_partial_isolation(tmp_path):
    course = make_course(tmp_path)
    base = harness.submissions(CASE)
    for student in ("full", "blank"):
        harness.write(base[student], course / "submitted" / student / TP / f"{TP}.ipynb")
    settings = course_grading.GradingSettings(workers=2, timeout=300, memory_gib=2, cell_timeout=60,
                                              isolation="partielle", similarity_threshold=None)
    report = course_grading.grade(TP, course, settings, progress=False)
    assert report.isolation == "partielle" and report.by_student()["full"].score == 15
    with open(report.csv_path, encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert rows and all(row["isolation"] == "partielle" for row in rows)
    assert "isolation partielle" in (course / f"autograde_{TP}.log").read_text(encoding="utf-8")


def test_reference_code_pasted_into_the_answers_is_flagged_never_zeroed(tmp_path):
    """Le code de course_lib collé (puis renommé) dans les réponses : signalé par le rapport de similarité,
    avec un motif qui nomme le fichier de course_lib, sans zéro automatique."""
    import inspect
    import textwrap

    from course_lib import filters, images

    base = harness.submissions(CASE)
    header = ("import torch\nfrom course_lib.validation import check_images, check_number, check_tensor\n"
              "from course_lib.images import unbatch, _matrix, GRAY_WEIGHTS\n")
    pasted = {
        "gaussian_kernel1d": header + inspect.getsource(filters.gaussian_kernel1d),
        "rgb_to_gray": header + inspect.getsource(images.rgb_to_gray).replace("batch", "lot"),
        "srgb_to_linear": header + textwrap.dedent(inspect.getsource(images._srgb_to_linear))
        + inspect.getsource(images.srgb_to_linear),
        "rgb_to_lab": header + inspect.getsource(images.rgb_to_lab),
        "gaussian_blur": header + inspect.getsource(filters.gaussian_blur),
    }
    course = make_course(tmp_path)
    harness.write(harness.replace_solutions(base["full"], pasted), course / "submitted" / "paster" / TP / f"{TP}.ipynb")
    harness.write(base["full"], course / "submitted" / "honest" / TP / f"{TP}.ipynb")
    settings = course_grading.GradingSettings(workers=2, timeout=300, memory_gib=2, cell_timeout=60)
    report = course_grading.grade(TP, course, settings, progress=False)
    paster, honest = report.by_student()["paster"], report.by_student()["honest"]
    assert paster.status == course_grading.STATUS_REVIEW, paster
    assert any("course_lib" in reason for reason in paster.reasons), paster.reasons
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:     # signalé, pas mis à zéro
        grades = gradebook.find_submission_notebook(TP, TP, "paster").grades
        assert all(g.manual_score is None and g.needs_manual_grade for g in grades)
    assert honest.status == course_grading.STATUS_OK and honest.score == 15, honest
    assert (course / f"similarite_{TP}.html").is_file()
