"""Les fichiers d'une correction : remises et identifiants, copies sûres, empreintes, heures de remise, CSV."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import os
import re
import shutil
import stat
from pathlib import Path

# Un identifiant d'étudiant est une donnée : il ne doit rien signifier pour glob, un chemin ou un tableur.
_GLOB = set("*?[]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def id_problem(student: str) -> str | None:
    """Pourquoi un identifiant d'étudiant est refusé (en français), ou None s'il est acceptable."""
    if not student or student in (".", ".."):
        return "identifiant vide ou réservé"
    if _GLOB & set(student):
        return ("l'identifiant contient un caractère de motif (* ? [ ]) que nbgrader interpréterait comme "
                "un motif de fichiers")
    if _CONTROL.search(student) or student != student.strip():
        return "l'identifiant contient des caractères de contrôle ou des espaces en bordure"
    if "+" in student:
        return "l'identifiant contient « + », le séparateur des dossiers de l'échange nbgrader"
    return None


def discover_submissions(course: Path, assignment: str) -> tuple[list[str], dict[str, str]]:
    """Les remises de ``assignment`` dans ``course/submitted/<étudiant>/``.

    Retourne ``(étudiants, refusés)`` : tous les dossiers sont vus, ceux dont le nom commence par un point
    compris ; ``refusés`` associe à chaque identifiant inacceptable la raison en français.
    """
    submitted = Path(course) / "submitted"
    if not submitted.is_dir():
        return [], {}
    valid, refused = [], {}
    for entry in sorted(submitted.iterdir(), key=lambda p: p.name):
        if entry.is_symlink() or not entry.is_dir() or not (entry / assignment).is_dir():
            continue
        problem = id_problem(entry.name)
        if problem:
            refused[entry.name] = problem
        else:
            valid.append(entry.name)
    return valid, refused


def copy_submission(source: Path, target: Path) -> list[str]:
    """Copie une remise sans suivre aucun lien : seuls les fichiers ordinaires et les dossiers passent.

    Un lien symbolique (vers ``source/`` ou la remise d'un autre) ou un fichier spécial est ignoré ;
    retourne les chemins relatifs ignorés.
    """
    skipped = []
    target.mkdir(parents=True, exist_ok=True)
    for root, dirs, files in os.walk(source, followlinks=False):
        relative = Path(root).relative_to(source)
        for name in list(dirs):
            if (Path(root) / name).is_symlink():
                dirs.remove(name)
                skipped.append(str(relative / name))
            else:
                (target / relative / name).mkdir(exist_ok=True)
        for name in files:
            path = Path(root) / name
            mode = path.lstat().st_mode
            if stat.S_ISREG(mode):
                shutil.copy2(path, target / relative / name, follow_symlinks=False)
            else:
                skipped.append(str(relative / name))
    return skipped


def checksums(folder: Path) -> dict[str, str]:
    """Empreintes SHA-256 de tous les fichiers sous ``folder`` (chemins relatifs)."""
    folder = Path(folder)
    result = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            result[str(path.relative_to(folder))] = file_digest(path)
    return result


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def notebooks_digest(folder: Path, notebooks: list[str]) -> str:
    """Empreinte des notebooks d'une remise (pour savoir si elle a changé depuis la dernière correction)."""
    digest = hashlib.sha256()
    for name in notebooks:
        path = folder / f"{name}.ipynb"
        digest.update(name.encode())
        digest.update(file_digest(path).encode() if path.is_file() and not path.is_symlink() else b"-")
    return digest.hexdigest()


def replace_tree(source: Path, target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    if source.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(source, target)


def expected_notebooks(course: Path, assignment: str) -> list[str]:
    """Les notebooks d'un TP (sans extension), d'après ``source/<assignment>/``."""
    return sorted(p.stem for p in (course / "source" / assignment).glob("*.ipynb"))


# --------------------------------------------------------------------------- heures de remise

_EARLIEST = dt.datetime(2015, 1, 1, tzinfo=dt.timezone.utc)


def parse_student_timestamp(folder: Path) -> tuple[dt.datetime | None, str | None]:
    """Le ``timestamp.txt`` de l'étudiant, validé : ``(date, None)`` ou ``(None, problème en français)``.

    Il sert seulement à l'échange nbgrader (retour des notes) : l'heure qui compte pour le retard est
    celle de la collecte ou de l'échange (:func:`submission_time`).
    """
    path = folder / "timestamp.txt"
    if path.is_symlink() or not path.is_file():
        return None, "timestamp.txt absent"
    try:
        text = path.read_text(encoding="utf-8")[:100].strip()
        from nbgrader.utils import parse_utc

        stamp = parse_utc(text)
    except Exception:  # noqa: BLE001 - tout contenu illisible est un timestamp invalide
        return None, "timestamp.txt illisible (ce n'est pas une date)"
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.timezone.utc)
    now = dt.datetime.now(dt.timezone.utc)
    if stamp < _EARLIEST or stamp > now + dt.timedelta(days=1):
        return None, f"timestamp.txt absurde ({stamp.isoformat()})"
    return stamp, None


def exchange_root(course: Path) -> tuple[Path | None, str | None]:
    """La racine de l'échange nbgrader et l'identifiant du cours, lus dans ``nbgrader_config.py``."""
    from traitlets.config.loader import PyFileConfigLoader

    try:
        config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    except Exception:  # noqa: BLE001 - une configuration illisible : pas d'échange
        return None, None
    root = config.Exchange.get("root") if "Exchange" in config else None
    course_id = config.CourseDirectory.get("course_id") if "CourseDirectory" in config else None
    return (Path(root) if root else Path("/srv/nbgrader/exchange")), course_id


def submission_time(course: Path, student: str, assignment: str, exchange: tuple[Path | None, str | None]
                    ) -> dt.datetime:
    """L'heure de remise qui fait foi, que l'étudiant ne peut pas choisir.

    Si l'échange nbgrader garde la remise (``inbound/<étudiant>+<TP>+…``), c'est l'heure où son dossier y
    a été créé (``ctime``, fixée par le système) ; sinon l'heure où ``nbgrader collect`` a déposé les
    fichiers dans ``submitted/`` (leur ``ctime``). Jamais le ``timestamp.txt`` écrit par l'étudiant.
    """
    root, course_id = exchange
    if root is not None and course_id:
        inbound = root / course_id / "inbound"
        try:
            entries = [p for p in inbound.iterdir() if p.name.startswith(f"{student}+{assignment}+")]
        except OSError:
            entries = []
        if entries:
            return dt.datetime.fromtimestamp(max(p.lstat().st_ctime for p in entries), dt.timezone.utc)
    folder = Path(course) / "submitted" / student / assignment
    times = [p.lstat().st_ctime for p in folder.rglob("*") if p.name != "timestamp.txt"] or \
        [folder.lstat().st_ctime]
    return dt.datetime.fromtimestamp(max(times), dt.timezone.utc)


# --------------------------------------------------------------------------- CSV et journaux

def spreadsheet_safe(value) -> str:
    """Une cellule de CSV qu'un tableur ne prendra jamais pour une formule."""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA) else text


CSV_HEADER = ["etudiant", "tp", "note", "note_max", "statut", "motif", "isolation", "duree_s"]


def write_csv(path: Path, rows: list[list]) -> None:
    """Écrit le CSV des notes (en-tête :data:`CSV_HEADER`), de façon atomique."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(CSV_HEADER)
        for row in rows:
            writer.writerow([spreadsheet_safe(cell) for cell in row])
    os.replace(temporary, path)


def collect_logs(run: Path, target: Path, header: str = "") -> None:
    with open(target, "w", encoding="utf-8") as out:
        if header:
            out.write(header.rstrip("\n") + "\n")
        for log in sorted(run.glob("worker*.log")):
            out.write(f"===== {log.name}\n")
            out.write(log.read_text(encoding="utf-8", errors="replace")[-200_000:])


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
