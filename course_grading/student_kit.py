"""L'archive que reçoivent les étudiants (``make student-kit``).

Elle est faite par **liste blanche** : seuls les chemins de :data:`KIT` y entrent, si bien qu'un dossier
ajouté au dépôt (corrigés, outils, données) n'y arrive jamais par mégarde. Elle contient :

- ``course_lib/`` (la bibliothèque), ``notebooks/`` (les notebooks de cours, sans sorties) ;
- ``tp/TPn/`` : les **versions étudiantes** des TP (``assignments/release/``) ;
- ``pyproject.toml``, ``environment.yml``, ``.gitignore`` ;
- un ``Makefile`` pour les étudiants (``make lab``, ``make data``, ``make validate TP=TPn``) et un
  ``README.md`` fait des sections du README du cours qui les concernent ;
- un ``nbgrader_config.py`` minimal pour le bouton **Validate** (délai par cellule).

N'y entrent jamais : ``instructor/`` (corrigés des exercices), ``course_grading/`` (correction),
``assignments/source/`` (solutions et tests cachés), ``solutions/``, ``tests/``, ``benchmarks/``.
Avant d'écrire l'archive, chaque fichier est relu : une marque de solution ou de test caché
(``### BEGIN SOLUTION``, ``### BEGIN HIDDEN TESTS``...) arrête tout.

Utilisation ::

    make student-kit                       # build/cours-etudiants.zip
    python -m course_grading.student_kit --out /tmp/kit.zip
"""

from __future__ import annotations

import argparse
import re
import sys
import zipfile
from pathlib import Path

__all__ = ["KIT", "FORBIDDEN_MARKERS", "kit_files", "build_student_kit", "main"]

ROOT = Path(__file__).resolve().parent.parent

#: Dossier racine dans l'archive.
TOP = "generation-images"

#: Liste blanche : chemin dans le dépôt -> chemin dans l'archive.
KIT = {
    "course_lib": "course_lib",
    "notebooks": "notebooks",
    "assignments/release": "tp",
    "pyproject.toml": "pyproject.toml",
    "environment.yml": "environment.yml",
    ".gitignore": ".gitignore",
}

#: Ce qui ne doit jamais arriver chez un étudiant, quel que soit le fichier.
FORBIDDEN_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS",
                     "BEGIN MARK SCHEME", "END MARK SCHEME")

_SKIPPED = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache", ".DS_Store"}

#: Sections du README du cours reprises dans celui des étudiants.
README_SECTIONS = ("Les notebooks", "Les travaux pratiques", "Profils de taille et appareil",
                   "Données, poids pré-entraînés et cache")

MAKEFILE = """\
# Génération d'images par apprentissage profond — commandes pour les étudiants.
# `make lab` crée et remplit .venv à la première utilisation, puis ouvre le cours dans JupyterLab.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.course-lib-installed
DATA ?=
TP ?=

export PYTHONPATH := $(CURDIR)$(if $(PYTHONPATH),:$(PYTHONPATH),)

.PHONY: lab data validate install

install: $(STAMP)

$(STAMP): pyproject.toml
\t@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
\t$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
\t@touch $@

## Ouvre le cours dans JupyterLab (--allow-root seulement pour root).
lab: $(STAMP)
\t$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" \\
\t\t$(if $(filter 0,$(shell id -u)),--allow-root,) notebooks/00_introduction.ipynb

## Pré-télécharge les poids et jeux de données (DATA="places365-train" ou DATA=--all pour plus).
data: $(STAMP)
\t$(BIN)/python -m course_lib.data fetch $(DATA)

## Vérifie un TP comme le bouton Validate : make validate TP=TP0
validate: $(STAMP)
\t@test -n "$(TP)" || { echo "Précisez le TP : make validate TP=TP0" >&2; exit 2; }
\t$(BIN)/nbgrader validate tp/$(TP)/$(TP).ipynb
"""

NBGRADER_CONFIG = """\
\"\"\"nbgrader pour les étudiants : le bouton Validate et `make validate` laissent 10 minutes par cellule.\"\"\"

c = get_config()  # noqa: F821 (fourni par traitlets)
c.Execute.timeout = 600
"""

README_HEAD = """\
# Génération d'images par apprentissage profond — le cours

Les notebooks du cours, la bibliothèque `course_lib` qu'ils utilisent et les énoncés des travaux
pratiques (`tp/`), en français.

## Pour commencer

```bash
make lab     # crée .venv et installe course_lib à la première utilisation, puis ouvre JupyterLab
make data    # facultatif : télécharge les poids pré-entraînés, CIFAR-10 et Places365 (validation)
make validate TP=TP0   # vérifie votre TP comme le bouton « Validate » de nbgrader
```

Il faut Python 3.10 ou plus (3.11 conseillé), `make` et environ 8 Go d'espace disque (PyTorch). Avec conda :
`conda env create -f environment.yml`. Tout fonctionne hors ligne ; `make data` (sur une machine connectée)
permet d'utiliser les vraies photos et les vrais poids là où le cours s'en sert.
Pour présenter un notebook en diapositives : menu *View → Render as Reveal Slideshow* (`Alt+R`, jupyterlab-rise).

Chaque TP est dans `tp/TPn/TPn.ipynb` : écrivez le code des cellules marquées, les tests visibles vous
guident ; la note vient de tests supplémentaires lancés par l'équipe du cours.
"""


def _section(readme: str, title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", readme, re.S | re.M)
    if match is None:
        raise ValueError(f"Section « ## {title} » introuvable dans README.md (course_grading.student_kit).")
    return match.group(0).rstrip() + "\n"


def student_readme(root: Path = ROOT) -> str:
    """Le README des étudiants : une introduction et les sections du README du cours qui les concernent."""
    readme = (root / "README.md").read_text(encoding="utf-8")
    sections = [_section(readme, title) for title in README_SECTIONS]
    text = README_HEAD + "\n" + "\n".join(sections)
    return text.replace("`assignments/release/TPn`", "`tp/TPn`")


def kit_files(root: Path = ROOT) -> dict[str, Path | str]:
    """Le contenu de l'archive : chemin dans l'archive -> fichier du dépôt, ou texte produit ici."""
    entries: dict[str, Path | str] = {}
    for source, target in KIT.items():
        path = root / source
        if path.is_file():
            entries[target] = path
            continue
        if not path.is_dir():
            raise FileNotFoundError(f"« {source} » manque dans le dépôt : impossible de faire l'archive des étudiants.")
        for file in sorted(path.rglob("*")):
            relative = file.relative_to(path)
            if file.is_file() and not _SKIPPED & set(relative.parts) and file.suffix != ".pyc":
                entries[f"{target}/{relative.as_posix()}"] = file
    entries["Makefile"] = MAKEFILE
    entries["README.md"] = student_readme(root)
    entries["nbgrader_config.py"] = NBGRADER_CONFIG
    return dict(sorted(entries.items()))


def build_student_kit(out=None, root: Path = ROOT) -> Path:
    """Écrit l'archive zip des étudiants et retourne son chemin (défaut ``build/cours-etudiants.zip``).

    Lève
    ----
    ValueError
        Un fichier contient une marque de solution ou de test caché (rien n'est écrit).
    """
    root = Path(root)
    out = Path(out) if out is not None else root / "build" / "cours-etudiants.zip"
    entries = kit_files(root)
    contents = {name: (value.read_bytes() if isinstance(value, Path) else value.encode("utf-8"))
                for name, value in entries.items()}
    for name, payload in contents.items():
        text = payload.decode("utf-8", errors="ignore")
        found = [marker for marker in FORBIDDEN_MARKERS if marker in text]
        if found:
            raise ValueError(f"« {name} » contient {', '.join(found)} : il ne peut pas aller dans l'archive des "
                             "étudiants (régénérez les TP avec make assignments).")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partiel")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, payload in contents.items():
            info = zipfile.ZipInfo(f"{TOP}/{name}", date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, payload)
    partial.replace(out)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_grading.student_kit",
                                     description="Produit l'archive zip que reçoivent les étudiants.")
    parser.add_argument("--out", metavar="FICHIER", help="archive à écrire (défaut : build/cours-etudiants.zip)")
    args = parser.parse_args(argv)
    try:
        path = build_student_kit(args.out)
    except (ValueError, FileNotFoundError) as error:
        print(error, file=sys.stderr)
        return 1
    with zipfile.ZipFile(path) as archive:
        count = len(archive.namelist())
    print(f"Archive des étudiants : {path} ({count} fichiers, {path.stat().st_size / 1e6:.1f} Mo).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
