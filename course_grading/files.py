"""Les fichiers d'une correction : remises, empreintes, restauration, CSV des notes, journaux."""

from __future__ import annotations

import csv
import hashlib
import shutil
from pathlib import Path

from .results import SubmissionResult


def discover_submissions(course: Path, assignment: str) -> list[str]:
    """Les étudiants qui ont une remise de ``assignment`` dans ``course/submitted/<étudiant>/``."""
    submitted = Path(course) / "submitted"
    if not submitted.is_dir():
        return []
    return sorted(p.name for p in submitted.iterdir()
                  if (p / assignment).is_dir() and not p.name.startswith("."))


def checksums(folder: Path) -> dict[str, str]:
    """Empreintes SHA-256 de tous les fichiers sous ``folder`` (chemins relatifs)."""
    folder = Path(folder)
    result = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            digest = hashlib.sha256()
            with open(path, "rb") as stream:
                for block in iter(lambda: stream.read(1 << 20), b""):
                    digest.update(block)
            result[str(path.relative_to(folder))] = digest.hexdigest()
    return result


def replace_tree(source: Path, target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    if source.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(source, target)


def read_timestamp(folder: Path) -> str | None:
    path = folder / "timestamp.txt"
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError):
        return None

def expected_notebooks(course: Path, assignment: str) -> list[str]:
    """Les notebooks d'un TP (sans extension), d'après ``source/<assignment>/``."""
    return sorted(p.stem for p in (course / "source" / assignment).glob("*.ipynb"))


def verify_submitted(submitted: Path, before: dict[str, str], staging: Path,
                     assignment: str) -> tuple[list[str], list[str]]:
    """Compare les empreintes de submitted/ avant et après la correction.

    Un fichier de ce TP modifié ou disparu est restauré depuis la copie faite au début ; un fichier
    apparu est seulement signalé (``nbgrader collect`` a pu tourner en même temps : on n'efface rien).
    Retourne ``(restaurés, apparus)``.
    """
    after = checksums(submitted)
    changed = sorted(k for k, v in before.items() if after.get(k) != v)
    restored = []
    for relative in changed:
        parts = Path(relative).parts
        backup = staging / relative
        if len(parts) > 2 and parts[1] == assignment and backup.is_file():
            (submitted / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(backup, submitted / relative)
            restored.append(relative)
    lost = [k for k in changed if k not in restored]
    if lost:
        raise RuntimeError("Des fichiers de submitted/ ont été modifiés pendant la correction et n'ont pas pu "
                           "être restaurés : " + ", ".join(lost))
    return restored, sorted(set(after) - set(before))


def write_csv(path: Path, assignment: str, results: dict[str, SubmissionResult]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["etudiant", "tp", "note", "note_max", "statut", "motif", "duree_s"])
        for student in sorted(results):
            r = results[student]
            writer.writerow([student, assignment, f"{r.score:g}", f"{r.max_score:g}", r.status,
                             " ; ".join(r.reasons), f"{r.seconds:.1f}"])


def collect_logs(run: Path, target: Path) -> None:
    with open(target, "w", encoding="utf-8") as out:
        for log in sorted(run.glob("worker*.log")):
            out.write(f"===== {log.name}\n")
            out.write(log.read_text(encoding="utf-8", errors="replace")[-200_000:])
