"""Les notebooks versionnés sont valides et sans sorties (les sorties se régénèrent)."""

import json
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "assignments" / "source").rglob("*.ipynb"))
GENERATED = sorted((ROOT / "assignments" / "release").rglob("*.ipynb")) + sorted((ROOT / "solutions").rglob("*.ipynb"))


@pytest.mark.parametrize("path", SOURCES + GENERATED, ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_is_valid_and_has_no_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert not cell.outputs, f"{path.name} : une cellule a des sorties"
            assert cell.execution_count is None, f"{path.name} : une cellule a un numéro d'exécution"
    assert notebook.metadata.get("kernelspec", {}).get("name") == "python3"


def test_lecture_notebooks_are_numbered_in_lecture_order():
    names = [p.name for p in sorted((ROOT / "notebooks").glob("*.ipynb"))]
    assert names, "aucun notebook de cours"
    numbers = [int(n.split("_", 1)[0]) for n in names]
    assert numbers == sorted(set(numbers)) and numbers[0] == 0


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_lecture_notebook_opens_with_objectives_and_checks_environment(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    first = "".join(cells[0]["source"])
    assert first.startswith("# "), "le notebook doit commencer par un titre"
    text = "".join("".join(c["source"]) for c in cells[:4])
    assert "Objectifs" in text, "les objectifs doivent être annoncés au début"
    code = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    assert "course_lib.profile()" in code and "course_lib.device()" in code, "vérification de l'environnement"
    last = "".join("".join(c["source"]) for c in cells[-3:])
    assert "Exercices" in last or "exercices" in last, "le notebook doit finir par des exercices"
