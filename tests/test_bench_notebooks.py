"""Le banc des notebooks (`make bench`) : il mesure un notebook dans un processus neuf, au profil demandé, et
n'exécute rien en mode rapide (les notebooks prennent des minutes au profil « cpu »)."""

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_notebooks  # noqa: E402


def test_quick_mode_executes_no_notebook(monkeypatch, capsys):
    def refuse(*args, **kwargs):
        raise AssertionError("le mode rapide ne doit exécuter aucun notebook")

    monkeypatch.setattr(subprocess, "run", refuse)
    assert list(bench_notebooks.benchmarks(quick=True)) == []
    assert "non exécutés" in capsys.readouterr().out


def test_selects_lecture_notebooks_by_number_or_name():
    every = bench_notebooks.lecture_notebooks()
    assert [p.name[:2] for p in every] == [f"{k:02d}" for k in range(8)]
    assert [p.name[:2] for p in bench_notebooks.lecture_notebooks(["01", "03_descente_du_gradient"])] == ["01", "03"]
    with pytest.raises(SystemExit, match="inconnu"):
        bench_notebooks.lecture_notebooks(["42"])


def write_notebook(path: Path, source: str) -> Path:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)
    return path


def test_times_a_notebook_in_a_fresh_process_with_the_profile(tmp_path):
    path = write_notebook(tmp_path / "petit.ipynb", (
        "import os, time\n"
        "assert os.environ['COURSE_PROFILE'] == 'ci' and os.environ['COURSE_DEVICE'] == 'cpu'\n"
        "import course_lib\n"
        "assert course_lib.profile().name == 'ci'\n"
        "end = time.process_time() + 0.3\n"
        "while time.process_time() < end:\n"
        "    pass\n"))
    timing = bench_notebooks.time_notebook(path, profile="ci", timeout_s=300)
    assert timing.ok, timing.error
    assert timing.wall_s >= 0.3 and timing.cpu_s >= 0.3
    assert not list(tmp_path.glob("*.nbconvert.ipynb")), "le notebook exécuté ne doit pas rester à côté de la source"


def test_a_failing_notebook_is_reported_not_hidden(tmp_path):
    path = write_notebook(tmp_path / "faux.ipynb", "raise ValueError('exprès')")
    timing = bench_notebooks.time_notebook(path, profile="ci", timeout_s=300)
    assert not timing.ok and "ValueError" in timing.error


def test_a_stuck_cell_times_out_and_is_retried_once(tmp_path):
    runs = tmp_path / "runs.txt"
    path = write_notebook(tmp_path / "bloque.ipynb", (
        f"open({str(runs)!r}, 'a').write('x')\n"
        "import time\n"
        "time.sleep(120)\n"))
    timing = bench_notebooks.time_notebook(path, profile="ci", timeout_s=300, cell_timeout_s=3, retries=1)
    assert not timing.ok and timing.timed_out and "Timeout" in timing.error
    assert runs.read_text() == "xx", "une cellule bloquée doit être relancée une fois, pas plus"
