"""Reconnaître une fuite de solution ou de test caché dans ce que reçoivent les étudiants (archive, site)."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readable(path: Path) -> str:
    """Le texte d'un fichier tel qu'on le lit : pour un notebook, le source et les sorties de ses cellules."""
    text = path.read_text(encoding="utf-8", errors="ignore")
    if path.suffix != ".ipynb":
        return text
    parts = []
    for cell in json.loads(text)["cells"]:
        parts.append("".join(cell["source"]))
        for output in cell.get("outputs", []):
            parts.append("".join(output.get("text", "")) + json.dumps(output.get("data", {}), ensure_ascii=False))
    return "\n".join(parts)


def secret_lines(root: Path = ROOT) -> set[str]:
    """Les lignes des solutions et des tests cachés de assignments/source/ qui ne sont nulle part ailleurs
    dans ce que les étudiants ont le droit d'avoir (énoncés, course_lib, notebooks de cours)."""
    allowed = [*(root / "assignments" / "release").rglob("*.ipynb"), *(root / "course_lib").rglob("*.py"),
               *(root / "notebooks").glob("*.ipynb")]
    allowed_lines = {line.strip() for path in allowed for line in readable(path).splitlines()}
    secrets = set()
    for notebook in (root / "assignments" / "source").rglob("*.ipynb"):
        for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
            inside = False
            for line in "".join(cell["source"]).splitlines():
                if "### BEGIN SOLUTION" in line or "### BEGIN HIDDEN TESTS" in line:
                    inside = True
                elif "### END SOLUTION" in line or "### END HIDDEN TESTS" in line:
                    inside = False
                elif inside and len(line.strip()) >= 25 and line.strip() not in allowed_lines:
                    secrets.add(line.strip())
    return secrets
