"""La garde du noyau de correction (course_grading.sandbox) et les préprocesseurs nbgrader du cours.

La garde est éprouvée ici sans être installée (un audit hook ne se retire pas) : on l'appelle comme
Python l'appellerait, avec les mêmes événements. Les limites de ressources sont éprouvées dans un
processus à part ; ``LimitedExecute`` avec un vrai noyau.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from course_grading import nbgrader_plugins, sandbox
from course_lib import grading

CELL_FILE = "/tmp/ipykernel_4242/123456.py"


@pytest.fixture
def guard(tmp_path, monkeypatch):
    work, private = tmp_path / "work", tmp_path / "private"
    work.mkdir()
    private.mkdir()
    monkeypatch.chdir(work)
    g = sandbox.Guard([work, private], log_path=str(tmp_path / "guard.jsonl"))
    g.snapshot()
    g._active = True          # comme après install(), sans audit hook permanent dans pytest
    return g


def log_entries(tmp_path):
    path = tmp_path / "guard.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def test_writes_inside_the_allowed_folders_pass(guard, tmp_path):
    guard("open", ("notes.txt", "w", os.O_WRONLY | os.O_CREAT))
    guard("open", (str(tmp_path / "private" / "cache.bin"), "wb", 0))
    guard("open", (str(tmp_path / "outside.txt"), "r", os.O_RDONLY))        # lire ailleurs est permis
    guard("os.remove", ("notes.txt", None))
    guard("open", ("/dev/null", "w", os.O_WRONLY))
    assert log_entries(tmp_path) == []


@pytest.mark.parametrize("event, args", [
    ("open", ("../outside.txt", "w", os.O_WRONLY | os.O_CREAT)),
    ("open", ("../outside.txt", None, os.O_RDWR)),                           # os.open
    ("os.remove", ("../outside.txt", None)),
    ("os.rename", ("notes.txt", "../stolen.txt", None, None)),
    ("shutil.rmtree", ("..", None)),
    ("os.link", ("../outside.txt", "mine.txt", None, None)),                  # lien dur vers l'extérieur
    ("os.mkdir", ("../new", 0o777, None)),
])
def test_writes_outside_are_refused_and_logged(guard, tmp_path, event, args):
    with pytest.raises(sandbox.GuardViolation, match="refusée hors du dossier"):
        guard(event, args)
    entries = log_entries(tmp_path)
    assert len(entries) == 1 and entries[0]["type"] == "fichier" and str(tmp_path) in entries[0]["detail"]


def test_a_symlink_to_the_outside_does_not_open_a_door(guard, tmp_path):
    (tmp_path / "secret.txt").write_text("x")
    os.symlink(tmp_path / "secret.txt", "door.txt")
    with pytest.raises(sandbox.GuardViolation):
        guard("open", ("door.txt", "a", os.O_WRONLY | os.O_APPEND))


def test_programs_are_refused_except_harmless_probes(guard, tmp_path):
    with pytest.raises(sandbox.GuardViolation, match="lancer un programme"):
        guard("os.system", (b"rm -rf /",))
    with pytest.raises(sandbox.GuardViolation):
        guard("subprocess.Popen", ("/bin/sh", ["/bin/sh", "-c", "uname"], None, None))
    guard("subprocess.Popen", (None, ["uname", "-p"], None, None))             # platform.processor()
    assert [e["type"] for e in log_entries(tmp_path)] == ["programme", "programme"]


def test_signals_to_other_processes_are_refused(guard, tmp_path):
    guard("os.kill", (os.getpid(), 0))                                         # soi-même : permis
    with pytest.raises(sandbox.GuardViolation, match="signal"):
        guard("os.kill", (os.getppid(), 9))                                    # le processus de correction
    assert log_entries(tmp_path)[0]["type"] == "signal"


def test_monkeypatching_the_test_tools_is_detected(guard, tmp_path, monkeypatch):
    assert guard.integrity_problems() == []
    monkeypatch.setattr(grading, "assert_close", lambda *args, **kwargs: None)
    problems = guard.integrity_problems()
    assert any("course_lib.grading.assert_close a été remplacé" in p for p in problems), problems
    with pytest.raises(sandbox.GuardViolation, match="monkeypatch"):
        guard("compile", ("x = 1\n", CELL_FILE))                            # la cellule suivante échoue
    assert log_entries(tmp_path)[0]["type"] == "outil"


def test_swapping_the_code_of_a_tool_is_detected(guard, monkeypatch):
    monkeypatch.setattr(grading.assert_shape, "__code__", (lambda actual, shape, name="": None).__code__)
    assert any("assert_shape : son code a été modifié" in p for p in guard.integrity_problems())


def test_a_function_from_a_notebook_cell_in_a_library_is_detected(guard, monkeypatch):
    import numpy as np
    import torch

    namespace = {}
    exec(compile("def fake(*args, **kwargs):\n    return 0\n", CELL_FILE, "exec"), namespace)
    monkeypatch.setattr(np, "allclose", namespace["fake"])
    monkeypatch.setattr(torch.Tensor, "sub", namespace["fake"])
    problems = guard.integrity_problems()
    assert any("numpy.allclose" in p for p in problems) and any("torch.Tensor.sub" in p for p in problems)


def test_compiling_ordinary_code_is_left_alone(guard, tmp_path):
    guard("compile", ("x = 1\n", CELL_FILE))
    guard("compile", ("x = 1\n", "<string>"))
    assert log_entries(tmp_path) == [] and CELL_FILE in guard.cell_files


def test_memory_limit_turns_an_endless_allocation_into_memory_error(tmp_path):
    code = ("from course_grading.sandbox import apply_limits\n"
            "apply_limits(512 * 2**20)\n"
            "hog = []\n"
            "try:\n"
            "    while True:\n"
            "        hog.append(bytearray(32 * 2**20))\n"
            "except MemoryError:\n"
            "    print('MemoryError', len(hog))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("MemoryError"), result.stdout + result.stderr
    assert int(result.stdout.split()[1]) < 20                              # ≤ 512 Mio alloués


def test_kernel_spec_runs_this_python_under_the_guard(tmp_path):
    folder = Path(sandbox.write_kernel_spec(tmp_path))
    spec = json.loads((folder / "kernel.json").read_text(encoding="utf-8"))
    assert folder.name == sandbox.KERNEL_NAME
    assert spec["argv"][:3] == [sys.executable, "-m", "course_grading.sandbox"] and "{connection_file}" in spec["argv"]


# --------------------------------------------------------------------------- préprocesseurs nbgrader

def test_limited_execute_truncates_floods_and_survives_a_dead_kernel(tmp_path):
    notebook = new_notebook(cells=[
        new_code_cell("print('x' * 5000)"),
        new_code_cell("print('petit')"),
        new_code_cell("import os\nos._exit(3)"),
        new_code_cell("print('jamais')"),
    ])
    executor = nbgrader_plugins.LimitedExecute(max_cell_output=1000, max_notebook_output=4000, timeout=60,
                                               kernel_name="python3")
    notebook, _ = executor.preprocess(notebook, {"metadata": {"path": str(tmp_path)}})
    first, second, third, fourth = (c.outputs for c in notebook.cells)
    assert len(first) == 1 and nbgrader_plugins.TRUNCATION_TAG in first[0].text and "x" * 100 not in first[0].text
    assert second[0].text == "petit\n"
    assert third[-1].ename == nbgrader_plugins.KERNEL_DIED and "pendant cette cellule" in third[-1].evalue
    assert fourth[0].ename == nbgrader_plugins.KERNEL_DIED and "pas été exécutée" in fourth[0].evalue


def hidden_notebook():
    hidden = new_code_cell("# Tests cachés\n### BEGIN HIDDEN TESTS\nsecret = 41\nassert secret == 42, 'faux'\n"
                           "### END HIDDEN TESTS\n", execution_count=7)
    ansi = "\x1b[36mCell\x1b[39m\x1b[36m \x1b[39m\x1b[32mIn[7]\x1b[39m\x1b[32m, line 4\x1b[39m\n----> 4 assert secret"
    hidden.outputs = [new_output("error", ename="AssertionError", evalue="faux", traceback=[
        "-----", "AssertionError    Traceback (most recent call last)", ansi,
        "Cell In[3], line 2, in student()\n----> 2 return 41", "AssertionError: faux"])]
    visible = new_code_cell("student()", execution_count=8)
    return new_notebook(cells=[hidden, visible])


def test_feedback_hides_hidden_code_and_its_traceback_frames_but_keeps_the_message():
    notebook, _ = nbgrader_plugins.HideHiddenTests().preprocess(hidden_notebook(), {})
    cell = notebook.cells[0]
    assert "secret" not in cell.source and "tests cachés : leur code n'est pas montré" in cell.source
    frames = cell.outputs[0].traceback
    assert not any("secret" in f for f in frames)
    assert any("code du test caché (non montré)" in f for f in frames)
    assert any("in student()" in f for f in frames) and frames[-1] == "AssertionError: faux"
    nbformat.validate(notebook)


def test_redact_traceback_keeps_frames_of_other_cells():
    frames = ["Cell In[2], line 1\n----> 1 visible()", "Input In [5]\n secret", "<ipython-input-6-abc> in f()"]
    assert nbgrader_plugins.redact_traceback(frames, {2})[1:] == frames[1:]
    assert all("non montré" in f for f in nbgrader_plugins.redact_traceback(frames, {2, 5, 6}))


def test_feedback_template_is_french():
    template = Path(nbgrader_plugins.feedback_template_dirs()[0]) / nbgrader_plugins.FEEDBACK_TEMPLATE
    text = (template / "index.html.j2").read_text(encoding="utf-8")
    assert 'lang="fr"' in text and "Retour de correction" in text and "Cellule de test" in text
    assert "Student's answer" not in text and "Score:" not in text
