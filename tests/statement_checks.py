"""Le barème annoncé d'un TP : son énoncé et le README donnent les points de chaque fonction et la durée prévue.

Les points viennent des cellules notées du notebook source (``points`` de nbgrader) : l'énoncé et le
README ne doivent pas en donner d'autres.
"""

from __future__ import annotations

import re

import grading_harness as harness


def check_points_and_hours(tp: str) -> None:
    notebook = harness.read(harness.COURSE / "source" / tp / f"{tp}.ipynb")
    cells = harness.grade_cells(notebook)
    total = sum(cells.values())
    intro = harness.source(notebook["cells"][0])
    assert re.search(r"\*\*Durée prévue\*\* : environ \d+ heures?", intro), f"{tp} : l'énoncé ne dit pas sa durée"
    scale = re.search(r"\*\*Barème\*\* : (\d+) points", intro)
    assert scale and int(scale.group(1)) == total, \
        f"{tp} : le barème annonce {scale.group(1) if scale else '?'} points, les cellules notées en valent {total}"
    functions = sorted({g[len("test_"):].rsplit("_", 1)[0] for g in cells})
    for function in functions:
        visible, hidden = cells.get(f"test_{function}_visible", 0), cells.get(f"test_{function}_hidden", 0)
        announced = f"`{function}` {visible + hidden:g} ({visible:g}"
        assert announced in intro, f"{tp} : l'énoncé doit annoncer « {announced} ... » pour {function}"
    readme = (harness.ROOT / "README.md").read_text(encoding="utf-8")
    row = next((line for line in readme.splitlines() if line.startswith(f"| `{tp}`")), "")
    last = row.rstrip(" |").rsplit("|", 1)[-1]
    assert re.match(rf"\s*{total:g} \(", last) and re.search(r"≈ \d+ h", last), \
        f"{tp} : la ligne du README doit donner {total:g} points et la durée prévue ; reçu : {last.strip()!r}"
    for function in functions:
        points = cells.get(f"test_{function}_visible", 0) + cells.get(f"test_{function}_hidden", 0)
        assert f"{function} {points:g}" in last, f"{tp} : le README doit donner les points de {function} ({points:g})"
