"""L'archive des étudiants (``make student-kit``) : tout ce qu'il leur faut, rien de ce qui est à l'enseignant."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from leak_check import readable, secret_lines

from course_grading import student_kit

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    """L'archive faite depuis une copie du dépôt où l'on a ajouté des corrigés et des outils d'enseignant."""
    root = tmp_path_factory.mktemp("depot")
    for name in ("course_lib", "notebooks", "assignments", "solutions", "course_grading", "tests"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__", "gradebook.db"))
    for name in ("README.md", "pyproject.toml", "environment.yml", "Makefile", ".gitignore", "nbgrader_config.py"):
        shutil.copy2(ROOT / name, root / name)
    corriges = root / "instructor" / "corriges"
    corriges.mkdir(parents=True)
    (corriges / "00_introduction.md").write_text("# Corrigé 00\n\nRÉPONSE-SECRÈTE-DU-CORRIGÉ\n", encoding="utf-8")
    (root / "notebooks" / ".ipynb_checkpoints").mkdir()
    (root / "notebooks" / ".ipynb_checkpoints" / "brouillon.ipynb").write_text("{}", encoding="utf-8")
    archive = student_kit.build_student_kit(tmp_path_factory.mktemp("sortie") / "kit.zip", root=root)
    extracted = tmp_path_factory.mktemp("kit")
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(extracted)
        names = zipped.namelist()
    return root, archive, names, extracted / student_kit.TOP


def test_kit_holds_what_students_need(kit):
    root, _, names, folder = kit
    assert all(name.startswith("generation-images/") for name in names)
    files = {name.split("/", 1)[1] for name in names}
    for notebook in (ROOT / "notebooks").glob("*.ipynb"):
        assert f"notebooks/{notebook.name}" in files
        assert (folder / "notebooks" / notebook.name).read_bytes() == notebook.read_bytes()
    for tp in (ROOT / "assignments" / "release").iterdir():
        released = tp / f"{tp.name}.ipynb"
        assert (folder / "tp" / tp.name / released.name).read_bytes() == released.read_bytes()
    for module in (ROOT / "course_lib").rglob("*.py"):
        assert f"course_lib/{module.relative_to(ROOT / 'course_lib').as_posix()}" in files
    assert {"README.md", "pyproject.toml", "environment.yml", "Makefile", ".gitignore", "nbgrader_config.py"} <= files
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert "make lab" in readme and "make data" in readme and "tp/TPn/TPn.ipynb" in readme
    assert "## Les notebooks" in readme and "## Données, poids pré-entraînés et cache" in readme
    assert "make grade" not in readme and "course_grading" not in readme


def test_kit_holds_nothing_of_the_instructor(kit):
    root, _, names, folder = kit
    files = {name.split("/", 1)[1] for name in names}
    for forbidden in ("instructor/", "course_grading/", "assignments/", "solutions/", "tests/", "benchmarks/", ".ci/"):
        assert not [f for f in files if f.startswith(forbidden)], forbidden
    assert not [f for f in files if ".ipynb_checkpoints" in f or "__pycache__" in f or f.endswith(".pyc")]
    secrets = secret_lines(root)
    assert len(secrets) > 50  # de quoi reconnaître chaque solution et chaque test caché
    for path in folder.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="ignore")
            decoded = readable(path)
            assert "RÉPONSE-SECRÈTE-DU-CORRIGÉ" not in text
            for marker in student_kit.FORBIDDEN_MARKERS:
                assert marker not in text, (path, marker)
            leaked = sorted(secrets & {line.strip() for line in decoded.splitlines()})
            assert not leaked, f"{path.relative_to(folder)} contient des lignes de solution : {leaked[:3]}"


def test_kit_refuses_a_release_that_holds_a_solution(tmp_path):
    root = tmp_path / "depot"
    for name in ("course_lib", "notebooks", "assignments"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__", "gradebook.db"))
    for name in ("README.md", "pyproject.toml", "environment.yml", ".gitignore"):
        shutil.copy2(ROOT / name, root / name)
    shutil.copy2(root / "assignments" / "source" / "TP0" / "TP0.ipynb", root / "assignments" / "release" / "TP0")
    with pytest.raises(ValueError, match="BEGIN SOLUTION"):
        student_kit.build_student_kit(tmp_path / "kit.zip", root=root)
    assert not (tmp_path / "kit.zip").exists()


def test_kit_makefile_and_package_work(kit, tmp_path):
    _, _, _, folder = kit
    for goal in (["lab"], ["data", "DATA=vgg19"], ["validate", "TP=TP0"]):
        result = subprocess.run(["make", "-n", *goal], cwd=folder, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
    dry = subprocess.run(["make", "-n", "data"], cwd=folder, capture_output=True, text=True).stdout
    assert "-m course_lib.data fetch" in dry and "pip install" in dry and "[dev]" not in dry
    assert "tp/TP0/TP0.ipynb" in subprocess.run(["make", "-n", "validate", "TP=TP0"], cwd=folder,
                                                 capture_output=True, text=True).stdout
    # le paquet s'installe sans course_grading (wheel construite hors ligne, sans isolation)
    wheel = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp_path), str(folder)], capture_output=True, text=True, timeout=300)
    assert wheel.returncode == 0, wheel.stderr[-2000:]
    built = next(tmp_path.glob("course_lib-*.whl"))
    with zipfile.ZipFile(built) as contents:
        listed = contents.namelist()
    assert "course_lib/data.py" in listed and not [n for n in listed if n.startswith("course_grading")]
