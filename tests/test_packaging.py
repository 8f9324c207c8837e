"""La mise en place du cours : pyproject, environment.yml, Makefile, CI et README concordent."""

import re
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parent.parent


def pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def normalise(requirement: str) -> str:
    return re.sub(r"\s+", "", requirement).lower()


def test_environment_yml_names_the_same_dependencies_as_pyproject():
    project = pyproject()["project"]
    expected = {normalise(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    environment = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    conda = environment["dependencies"]
    assert "python=3.11" in conda and "pip" in conda
    pip = next(item["pip"] for item in conda if isinstance(item, dict))
    assert "-e .[dev]" in pip
    listed = {normalise(r) for r in pip if not r.startswith("-e")}
    assert listed == expected, f"en trop : {listed - expected} ; manquant : {expected - listed}"


def test_pyproject_declares_the_chosen_packages():
    names = {re.split(r"[<>=!~\[ ]", r)[0].lower() for r in pyproject()["project"]["dependencies"]}
    for package in ("torch", "torchvision", "numpy", "matplotlib", "scikit-image", "opencv-python-headless",
                    "faiss-cpu", "pymaxflow", "tqdm", "jupyterlab", "ipywidgets", "nbgrader"):
        assert package in names, package
    dev = {re.split(r"[<>=!~\[ ]", r)[0].lower() for r in pyproject()["project"]["optional-dependencies"]["dev"]}
    assert {"pytest", "nbval", "pytest-xdist", "ruff"} <= dev


def test_makefile_targets_and_ci():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("lab", "test", "assignments", "bench", "gpu-check", "data", "site", "student-kit"):
        assert re.search(rf"^{re.escape(target)}:", makefile, re.M), target
    assert "--allow-root" in makefile and "id -u" in makefile
    gpu_recipe = makefile.split("gpu-check:", 1)[1].split("\n\n", 1)[0]
    assert "$(STAMP)" not in gpu_recipe and "python3" in gpu_recipe, "gpu-check ne doit pas créer .venv"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci
    assert (ROOT / ".ci" / "run").stat().st_mode & 0o111, ".ci/run doit être exécutable"


def test_readme_shows_the_two_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make lab" in readme and "make test" in readme


def test_readme_lists_every_notebook_and_assignment():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert notebook.name in readme, f"{notebook.name} n'est pas décrit dans le README"
    for tp in sorted((ROOT / "assignments" / "source").iterdir()):
        assert tp.name in readme, f"{tp.name} n'est pas décrit dans le README"


def test_instructor_tooling_lives_only_in_course_grading():
    """course_lib ne garde que ce qu'importent les étudiants et les notebooks : aucun alias des outils de
    l'enseignant (correction, noyau sous garde, greffons nbgrader, production des TP)."""
    import importlib

    import course_lib

    for name in ("autograde", "sandbox", "nbgrader_plugins", "assignments", "similarity"):
        assert not (ROOT / "course_lib" / name).exists() and not (ROOT / "course_lib" / f"{name}.py").exists(), name
        assert not hasattr(course_lib, name), f"course_lib.{name} existe encore"
        try:
            importlib.import_module(f"course_lib.{name}")
        except ModuleNotFoundError:
            pass
        else:
            raise AssertionError(f"course_lib.{name} s'importe encore")
    for name in ("sandbox", "nbgrader_plugins", "assignments", "runner", "worker"):
        importlib.import_module(f"course_grading.{name}")
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "course_lib").rglob("*.py"))
    assert "course_grading" not in source, "course_lib ne doit pas dépendre de course_grading"
