"""Les notebooks de cours se présentent en diapositives (jupyterlab-rise) : chaque cellule a son type de
diapositive, et chaque section du notebook (un titre « ## ») ouvre au moins une diapositive."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LECTURES = sorted((ROOT / "notebooks").glob("0[0-7]_*.ipynb"))
#: Les types de RISE et de nbconvert : « - » continue la diapositive en cours sans attendre.
SLIDE_TYPES = {"slide", "subslide", "fragment", "skip", "notes", "-"}


def cells(path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def slide_type(cell):
    return cell.get("metadata", {}).get("slideshow", {}).get("slide_type")


def heading(cell, level):
    if cell["cell_type"] != "markdown":
        return None
    first = "".join(cell["source"]).lstrip().split("\n", 1)[0]
    match = re.match(r"(#+)\s+(.*)", first)
    return match.group(2).strip() if match and len(match.group(1)) == level else None


def sections(notebook_cells):
    """Les sections « ## titre » : (titre, cellules jusqu'à la section suivante)."""
    found = []
    for cell in notebook_cells:
        title = heading(cell, 2)
        if title is not None:
            found.append((title, [cell]))
        elif found:
            found[-1][1].append(cell)
    return found


def test_all_eight_lecture_notebooks_are_checked():
    assert [p.name[:2] for p in LECTURES] == [f"{k:02d}" for k in range(8)]


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.name)
def test_every_cell_has_a_valid_slide_type(path):
    missing = [k for k, cell in enumerate(cells(path)) if slide_type(cell) is None]
    assert not missing, f"{path.name} : cellules sans métadonnée slideshow.slide_type : {missing}"
    invalid = {k: slide_type(c) for k, c in enumerate(cells(path)) if slide_type(c) not in SLIDE_TYPES}
    assert not invalid, f"{path.name} : types de diapositive inconnus {invalid} (attendu : {sorted(SLIDE_TYPES)})"


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.name)
def test_each_section_opens_slides_and_the_deck_starts_with_the_title(path):
    notebook_cells = cells(path)
    assert slide_type(notebook_cells[0]) == "slide" and heading(notebook_cells[0], 1), \
        f"{path.name} : la première cellule (le titre) doit ouvrir la première diapositive"
    found = sections(notebook_cells)
    assert len(found) >= 3, f"{path.name} : trop peu de sections « ## » ({len(found)})"
    for title, section in found:
        assert slide_type(section[0]) == "slide", f"{path.name} : la section « {title} » doit ouvrir une diapositive"
        shown = [c for c in section if slide_type(c) not in ("skip", "notes")]
        assert shown, f"{path.name} : la section « {title} » n'a rien à montrer"
    for cell in notebook_cells:
        if heading(cell, 3) is not None:
            assert slide_type(cell) in ("slide", "subslide"), \
                f"{path.name} : la sous-section « {heading(cell, 3)} » doit ouvrir une (sous-)diapositive"


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.name)
def test_section_titles_start_their_cell(path):
    """Un titre « ## » au milieu d'une cellule ne peut pas ouvrir de diapositive : sa section disparaîtrait."""
    for k, cell in enumerate(cells(path)):
        if cell["cell_type"] == "markdown":
            buried = [line for line in "".join(cell["source"]).split("\n")[1:] if re.match(r"##\s", line)]
            assert not buried, f"{path.name} : cellule {k} : le titre {buried[0]!r} doit commencer sa propre cellule"


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.name)
def test_speaker_notes_are_text_and_exercises_are_on_a_slide(path):
    notebook_cells = cells(path)
    for k, cell in enumerate(notebook_cells):
        if slide_type(cell) == "notes":
            assert cell["cell_type"] == "markdown", f"{path.name} : la cellule {k} (notes) doit être du texte"
    exercises = [c for c in notebook_cells if (heading(c, 2) or "").startswith("Exercices")]
    assert exercises and all(slide_type(c) == "slide" for c in exercises), \
        f"{path.name} : les exercices doivent avoir leur diapositive"
