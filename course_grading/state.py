"""Ce que la correction retient d'une exécution à l'autre, par TP : empreinte de chaque remise corrigée,
motifs de révision, mode d'isolation, durée (``<cours>/.correction/<TP>.json``).

Le carnet de notes garde les notes ; ce fichier garde ce que nbgrader n'a pas de place pour garder. Il
permet de reconstruire le CSV de toute la classe après une correction partielle (``--student``), et de
savoir si une remise a changé depuis qu'une note manuelle lui a été donnée.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def path_for(course: Path, assignment: str) -> Path:
    return Path(course) / ".correction" / f"{assignment}.json"


def load(course: Path, assignment: str) -> dict[str, dict]:
    path = path_for(course, assignment)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save(course: Path, assignment: str, state: dict[str, dict]) -> None:
    path = path_for(course, assignment)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(state, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(temporary, path)
