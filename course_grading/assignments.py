"""Production des versions étudiantes et des solutions des TP à partir de ``assignments/source/``.

``source/TPn`` est la seule source de vérité. Cette commande produit, avec nbgrader :

- ``assignments/release/TPn`` : la version étudiante (``nbgrader generate_assignment``) ;
- ``solutions/TPn`` : la solution pour les étudiants, sans tests cachés ni sorties
  (``nbgrader generate_solution`` avec les préprocesseurs de ``nbgrader_config.py``).

Le travail se fait dans une copie temporaire du cours, pour ne laisser ni base de
notes ni fichier intermédiaire dans le dépôt.

Utilisation ::

    python -m course_grading.assignments build [TP0 TP1 ...]
    python -m course_grading.assignments check [TP0 ...]   # échoue si release/ ou solutions/ est périmé
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["repository_root", "course_root", "list_assignments", "generate", "build", "out_of_sync"]


def repository_root() -> Path:
    """Racine du dépôt du cours (le dossier qui contient ``assignments/``)."""
    return Path(__file__).resolve().parent.parent


def course_root() -> Path:
    """Racine du cours nbgrader (``assignments/``)."""
    return repository_root() / "assignments"


def list_assignments(root: Path | None = None) -> list[str]:
    """Les TP présents dans ``source/``, triés (``["TP0", "TP1", ...]``)."""
    source = (root or course_root()) / "source"
    return sorted(p.name for p in source.iterdir() if p.is_dir() and not p.name.startswith("."))


def environment() -> dict[str, str]:
    """Variables d'environnement pour nbgrader : les exécutables de cet environnement d'abord.

    nbgrader appelle l'exécutable ``alembic`` par le PATH : sans le dossier
    ``bin`` de l'environnement virtuel en tête, il échoue ou prend un autre Python.
    """
    env = os.environ.copy()
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def nbgrader(args: list[str], cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    """Lance la commande ``nbgrader`` de cet environnement Python dans le dossier ``cwd``."""
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, capture_output=True,
                            text=True, timeout=timeout, env=environment())
    if result.returncode != 0:
        raise RuntimeError(
            f"La commande « nbgrader {' '.join(args)} » a échoué (code {result.returncode}) :\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


def _copy_course(destination: Path, assignments: list[str]) -> Path:
    course = destination / "course"
    (course / "source").mkdir(parents=True)
    shutil.copy2(course_root() / "nbgrader_config.py", course / "nbgrader_config.py")
    for name in assignments:
        shutil.copytree(course_root() / "source" / name, course / "source" / name,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return course


def generate(assignments: list[str], workdir: Path) -> Path:
    """Produit release/ et solution/ des TP demandés dans une copie du cours sous ``workdir``.

    Retourne la racine de cette copie.
    """
    known = list_assignments()
    unknown = [a for a in assignments if a not in known]
    if unknown:
        raise ValueError(f"TP inconnu(s) : {', '.join(unknown)} ; TP disponibles : {', '.join(known)}.")
    course = _copy_course(workdir, assignments)
    for name in assignments:
        nbgrader(["generate_assignment", name, "--force"], cwd=course)
        nbgrader(["generate_solution", name, "--force"], cwd=course)
    return course


def _replace_tree(source: Path, target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)


def build(assignments: list[str] | None = None) -> list[str]:
    """Régénère ``assignments/release/TPn`` et ``solutions/TPn`` ; retourne les TP traités."""
    assignments = assignments or list_assignments()
    with tempfile.TemporaryDirectory() as tmp:
        course = generate(assignments, Path(tmp))
        for name in assignments:
            _replace_tree(course / "release" / name, course_root() / "release" / name)
            _replace_tree(course / "solution" / name, repository_root() / "solutions" / name)
    return assignments


def _same_file(a: Path, b: Path) -> bool:
    if a.suffix == ".ipynb":
        return json.loads(a.read_text(encoding="utf-8")) == json.loads(b.read_text(encoding="utf-8"))
    return filecmp.cmp(a, b, shallow=False)


def _tree_differences(expected: Path, actual: Path) -> list[str]:
    def files(root: Path) -> set[str]:
        return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} if root.exists() else set()

    wanted, present = files(expected), files(actual)
    problems = [f"{actual / f} : manquant" for f in sorted(wanted - present)]
    problems += [f"{actual / f} : en trop" for f in sorted(present - wanted)]
    problems += [f"{actual / f} : différent" for f in sorted(wanted & present)
                 if not _same_file(expected / f, actual / f)]
    return problems


def out_of_sync(assignments: list[str] | None = None) -> list[str]:
    """Liste les fichiers de release/ et solutions/ qui diffèrent de ce que produirait :func:`build`."""
    assignments = assignments or list_assignments()
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        course = generate(assignments, Path(tmp))
        for name in assignments:
            problems += _tree_differences(course / "release" / name, course_root() / "release" / name)
            problems += _tree_differences(course / "solution" / name, repository_root() / "solutions" / name)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_grading.assignments",
                                     description="Versions étudiantes et solutions des TP (nbgrader).")
    parser.add_argument("command", choices=["build", "check"], help="build : régénérer ; check : vérifier")
    parser.add_argument("assignments", nargs="*", help="TP à traiter (tous par défaut)")
    args = parser.parse_args(argv)
    if args.command == "build":
        done = build(args.assignments or None)
        print(f"Régénérés : {', '.join(done)} (assignments/release/ et solutions/).")
        return 0
    problems = out_of_sync(args.assignments or None)
    if problems:
        print("release/ ou solutions/ n'est plus à jour ; lancez « make assignments » :")
        print("\n".join(f"  {p}" for p in problems))
        return 1
    print("release/ et solutions/ sont à jour.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
