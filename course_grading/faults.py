"""Les fautes d'une remise, détectées avant nbgrader (notebook absent ou illisible) et après (mémoire,
sortie démesurée, noyau arrêté, infractions consignées par la garde du noyau)."""

from __future__ import annotations

import json
from pathlib import Path

_MEMORY_MARKERS = ("can't allocate memory", "Cannot allocate memory", "Unable to allocate")


def precheck(submission: Path, notebooks: list[str], max_notebook_mib: float = 20.0, max_cells: int = 2000,
             max_cell_mib: float = 1.0) -> list[str]:
    """Notebooks absents, illisibles ou démesurés : la remise ne peut pas passer par nbgrader.

    Les plafonds (taille du fichier, nombre de cellules, taille du texte d'une cellule) bornent ce que
    coûtent l'exécution et le rendu du retour : une remise qui les dépasse est signalée, pas corrigée.
    """
    import nbformat

    reasons = []
    for name in notebooks:
        path = submission / f"{name}.ipynb"
        if path.is_symlink() or not path.is_file():
            reasons.append(f"le notebook « {name}.ipynb » est absent de la remise")
            continue
        size = path.stat().st_size
        if size > max_notebook_mib * 2**20:
            reasons.append(f"le notebook « {name}.ipynb » est démesuré ({size / 2**20:.1f} Mo ; au plus "
                           f"{max_notebook_mib:g} Mo)")
            continue
        try:
            notebook = nbformat.read(path, as_version=4)
            if not isinstance(notebook.get("cells"), list):
                raise ValueError("pas de liste de cellules")
        except Exception as error:  # noqa: BLE001 - tout fichier illisible est une faute de la remise
            detail = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
            reasons.append(f"le notebook « {name}.ipynb » est illisible (JSON de notebook invalide : {detail})")
            continue
        if len(notebook.cells) > max_cells:
            reasons.append(f"le notebook « {name}.ipynb » a {len(notebook.cells)} cellules (au plus {max_cells})")
        for index, cell in enumerate(notebook.cells):
            source = cell.get("source", "")
            length = len(source if isinstance(source, str) else "".join(source))
            if length > max_cell_mib * 2**20:
                reasons.append(f"la cellule n° {index + 1} de « {name}.ipynb » est démesurée "
                               f"({length / 2**20:.1f} M caractères ; au plus {max_cell_mib:g} M)")
                break
    return reasons


def scan_notebook(path: Path) -> list[str]:
    """Fautes visibles dans un notebook corrigé : mémoire, sortie tronquée, noyau arrêté, garde."""
    from .guard import VIOLATION_TAG
    from .nbgrader_plugins import KERNEL_DIED, TRUNCATION_TAG

    reasons = []
    notebook = json.loads(path.read_text(encoding="utf-8"))
    for index, cell in enumerate(notebook.get("cells", [])):
        label = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or f"n° {index + 1}"
        for output in cell.get("outputs", []):
            kind = output.get("output_type")
            text = output.get("text") or ""
            if kind == "stream" and TRUNCATION_TAG in ("".join(text) if isinstance(text, list) else text):
                reasons.append(f"sortie démesurée dans la cellule « {label} » (tronquée)")
            elif kind == "error":
                ename, evalue = output.get("ename", ""), str(output.get("evalue", ""))
                if "MemoryError" in ename or any(m in evalue for m in _MEMORY_MARKERS):
                    reasons.append(f"limite de mémoire dépassée dans la cellule « {label} » ({ename})")
                elif ename == KERNEL_DIED and "pendant cette cellule" in evalue:
                    reasons.append(f"le noyau Python s'est arrêté pendant la cellule « {label} »")
                elif VIOLATION_TAG in evalue and "outils de test" in evalue:
                    if not any(r.startswith("outils de test") for r in reasons):
                        reasons.append("outils de test remplacés (« monkeypatch ») : détecté avant la cellule "
                                       f"« {label} »")
                elif VIOLATION_TAG in evalue:
                    reasons.append(f"action interdite dans la cellule « {label} » : "
                                   f"{evalue.split(VIOLATION_TAG, 1)[1].strip()[:200]}")
    return reasons


def guard_reasons(log: Path) -> list[str]:
    """Les infractions consignées par la garde du noyau, regroupées par nature (en français)."""
    if not log.exists():
        return []
    labels = {"fichier": "écriture ou suppression hors du dossier de la remise",
              "programme": "lancement d'un programme", "natif": "appel natif interdit",
              "signal": "signal envoyé à un autre processus",
              "outil": "outils de test remplacés (« monkeypatch »)",
              "introspection": "introspection ou porte dérobée de l'interpréteur",
              "lecture": "accès hors du dossier de la remise (cours, autres remises, mémoire)",
              "preuve": "cellule de test altérée (preuve refusée)"}
    grouped: dict[str, list[str]] = {}
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines()[:200]:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        details = grouped.setdefault(labels.get(entry.get("type"), "action interdite"), [])
        if entry.get("detail") not in details:
            details.append(str(entry.get("detail"))[:200])
    reasons = []
    for label, details in grouped.items():
        more = f" (et {len(details) - 4} autre(s))" if len(details) > 4 else ""
        reasons.append(f"{label} : {' ; '.join(details[:4])}{more}")
    return reasons
