"""Le noyau de correction (course_grading.sandbox) et les préprocesseurs nbgrader du cours.

Les limites de ressources sont éprouvées dans un processus à part ; ``LimitedExecute`` avec un vrai noyau.
La garde elle-même est éprouvée dans ``test_guard.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from nbformat.v4 import new_code_cell, new_notebook

from course_grading import nbgrader_plugins, sandbox


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


def test_kernel_spec_runs_this_python_through_the_isolation_launcher(tmp_path):
    folder = Path(sandbox.write_kernel_spec(tmp_path))
    spec = json.loads((folder / "kernel.json").read_text(encoding="utf-8"))
    assert folder.name == sandbox.KERNEL_NAME
    assert spec["argv"][:3] == [sys.executable, "-m", "course_grading.isolation"]
    assert "{connection_file}" in spec["argv"]


def test_the_secret_file_is_read_once_and_removed(tmp_path):
    path = tmp_path / "secret"
    path.write_bytes(b"0123456789abcdef")
    assert sandbox.read_secret(str(path)) == b"0123456789abcdef" and not path.exists()
    assert sandbox.read_secret(str(path)) is None and sandbox.read_secret(None) is None


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


def test_redact_traceback_keeps_frames_of_other_cells():
    frames = ["Cell In[2], line 1\n----> 1 visible()", "Input In [5]\n secret", "<ipython-input-6-abc> in f()"]
    assert nbgrader_plugins.redact_traceback(frames, {2})[1:] == frames[1:]
    assert all("non montré" in f for f in nbgrader_plugins.redact_traceback(frames, {2, 5, 6}))


def test_feedback_template_is_french():
    template = Path(nbgrader_plugins.feedback_template_dirs()[0]) / nbgrader_plugins.FEEDBACK_TEMPLATE
    text = (template / "index.html.j2").read_text(encoding="utf-8")
    assert 'lang="fr"' in text and "Retour de correction" in text and "Cellule de test" in text
    assert "Student's answer" not in text and "Score:" not in text
