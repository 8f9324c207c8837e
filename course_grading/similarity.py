"""Rapport de similarité d'un TP (``make similarity TP=TPn``) : copies de course_lib et entre étudiants.

Le code de chaque cellule solution (repérée par son ``grade_id`` dans la source du TP) de chaque remise
de ``<cours>/submitted/<étudiant>/<TP>/`` est comparé :

- à **tout le code source de course_lib** (une fonction collée puis renommée ou reformatée y est
  retrouvée, même si elle vient d'un autre module que celui du TP) ;
- à la même cellule de **chaque autre remise** de la classe.

La comparaison est celle de MOSS, par la bibliothèque copydetect : le code est découpé en lexèmes
(Pygments), les identifiants deviennent ``V``/``F``, les chaînes ``S``, commentaires et espaces
disparaissent ; les empreintes (k-grammes) de ce texte normalisé sont sélectionnées par *winnowing*
et comparées. Renommer, reformater ou commenter autrement ne change donc rien. Les empreintes du
code fourni par l'énoncé (la version ``release/`` : squelettes, tests visibles, code des cellules
markdown) sont retirées d'abord : ce code ne compte jamais comme copie.

Une cellule est **signalée pour une révision manuelle** quand une part d'au moins ``threshold`` de
son code (hors énoncé) correspond à une même source, et que ce code commun compte au moins
``min_match`` caractères normalisés : une fonction de deux lignes, que tout le monde écrit de la même
façon, ne peut pas être signalée. Un signalement n'est jamais une note : l'enseignant lit le rapport.

Utilisation ::

    make similarity TP=TP0
    python -m course_grading.similarity TP0 --threshold 0.6 --output rapport.html

    >>> from course_grading.similarity import analyse
    >>> report = analyse("assignments", "TP0")            # doctest: +SKIP
    >>> report.flagged                                     # doctest: +SKIP
    {'alice': ['87 % du code de rgb_to_lab correspond à course_lib/images.py']}
    >>> report.write_html("similarite_TP0.html")           # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import html
import io
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["analyse", "SimilarityReport", "Pair", "CellMatch", "DEFAULT_THRESHOLD", "DEFAULT_MIN_MATCH", "main"]

DEFAULT_THRESHOLD = 0.5
"""Part du code d'une cellule (hors énoncé) qui doit correspondre à une même source pour la signaler."""
DEFAULT_MIN_MATCH = 150
"""Taille minimale du code commun (caractères du code normalisé, environ 25 à 40 lexèmes par ligne de 60)."""
COMMON_MIN = 10     # entre étudiants : une empreinte présente dans au moins 10 remises …
COMMON_FRACTION = 0.2   # … et au moins 20 % de la classe est du code « évident », ignoré
NOISE = 25          # k : plus petite correspondance retenue (caractères normalisés), comme copydetect
GUARANTEE = 30      # toute correspondance d'au moins 30 caractères est trouvée (fenêtre de winnowing 6)
COURSE_LIB = "course_lib"


# --------------------------------------------------------------------------- empreintes

@dataclass
class _Document:
    """Un morceau de code et ses empreintes (``copydetect.CodeFingerprint``)."""

    name: str
    code: str
    fingerprint: object
    _spans: list | None = None

    @property
    def spans(self) -> list[tuple[int, int]]:
        """Pour chaque caractère du code normalisé, le passage du code d'origine qui l'a produit."""
        if self._spans is None:
            filtered, spans = _filtered_spans(self.code)
            # même normalisation que copydetect (vérifié) ; sinon, pas de surlignage plutôt qu'un faux
            self._spans = spans if filtered == self.fingerprint.filtered_code else []
        return self._spans


def _filtered_spans(code: str) -> tuple[str, list[tuple[int, int]]]:
    """Le code normalisé comme ``copydetect.utils.filter_code`` (identifiants ``V``/``F``/``O``, chaînes ``S``,
    sans espaces ni commentaires), avec la position exacte de chaque caractère dans le code d'origine."""
    from pygments import lexers, token

    variable = {token.Name, token.Name.Variable, token.Name.Attribute}
    out, spans = [], []
    for index, kind, value in lexers.get_lexer_by_name("python").get_tokens_unprocessed(code):
        if kind in variable:
            symbol = "V"
        elif kind in token.Name.Function:
            symbol = "F"
        elif kind in token.Name.Class:
            symbol = "O"
        elif kind == token.Comment.Preproc or kind == token.Comment.Hashbang:
            symbol = "P"
        elif kind in token.Text or kind in token.Comment:
            continue
        elif kind in token.Literal.String:
            symbol = '"' if value in ("'", '"') else "S"
        else:
            out.extend(value)                       # mot-clé, opérateur, nombre : gardé tel quel
            spans.extend((index, index + len(value)) for _ in value)
            continue
        out.append(symbol)
        spans.append((index, index + len(value)))
    return "".join(out), spans


def _fingerprint(name: str, code: str, boilerplate=None, window: int | None = None):
    from copydetect import CodeFingerprint

    window = GUARANTEE - NOISE + 1 if window is None else window
    return CodeFingerprint(name, NOISE, window, boilerplate=boilerplate if boilerplate is not None else [],
                           fp=io.StringIO(code), language="python")


def _boilerplate_hashes(code: str) -> np.ndarray:
    """Toutes les empreintes (fenêtre 1 : chaque k-gramme) du code fourni par l'énoncé."""
    if not code.strip():
        return np.array([], dtype=np.int64)
    return np.array(sorted(_fingerprint("énoncé", code, window=1).hashes), dtype=np.int64)


def _raw_slices(document: _Document, slices) -> list[tuple[int, int]]:
    """Tranches du code normalisé -> passages du code d'origine (pour le surlignage)."""
    spans = document.spans
    if not spans:
        return []
    raw = []
    for start, end in zip(np.asarray(slices[0]).tolist(), np.asarray(slices[1]).tolist()):
        start, end = max(0, int(start)), min(len(spans), int(end))
        if start < end:
            raw.append((spans[start][0], spans[end - 1][1]))
    return raw


def _compare(a: _Document, b: _Document):
    """(caractères communs, part de a, part de b, passages de a, passages de b).

    Comme ``copydetect.compare_files`` (mêmes empreintes, mêmes tranches, mêmes parts), mais les
    passages sont ramenés exactement au code d'origine.
    """
    from copydetect.utils import find_fingerprint_overlap, get_copied_slices

    fa, fb = a.fingerprint, b.fingerprint
    if not fa.hashes or not fb.hashes or not (fa.hashes & fb.hashes):
        return 0, 0.0, 0.0, [], []
    idx_a, idx_b = find_fingerprint_overlap(fa.hashes, fb.hashes, fa.hash_idx, fb.hash_idx)
    slices_a, slices_b = get_copied_slices(idx_a, fa.k), get_copied_slices(idx_b, fb.k)
    overlap_a = int(np.sum(slices_a[1] - slices_a[0])) if len(slices_a[0]) else 0
    overlap_b = int(np.sum(slices_b[1] - slices_b[0])) if len(slices_b[0]) else 0
    sim_a = overlap_a / fa.token_coverage if fa.token_coverage else 0.0
    sim_b = overlap_b / fb.token_coverage if fb.token_coverage else 0.0
    return overlap_a, float(sim_a), float(sim_b), _raw_slices(a, slices_a), _raw_slices(b, slices_b)


# --------------------------------------------------------------------------- résultats

@dataclass
class CellMatch:
    """Le code d'une cellule solution d'un étudiant comparé à une source (course_lib ou une autre remise)."""

    student: str
    cell: str                      # grade_id de la cellule solution
    source: str                    # « course_lib/images.py » ou l'identifiant d'un autre étudiant
    similarity: float              # part du code de l'étudiant (hors énoncé) qui correspond à la source
    source_similarity: float       # part du code de la source qui correspond (entre étudiants)
    matched: int                   # taille du code commun (caractères normalisés)
    code: str = field(repr=False, default="")
    source_code: str = field(repr=False, default="")
    slices: object = field(repr=False, default=None)
    source_slices: object = field(repr=False, default=None)

    @property
    def from_course_lib(self) -> bool:
        return self.source.startswith(COURSE_LIB + "/")

    def reason(self) -> str:
        """Le motif, en français, d'un signalement."""
        percent = round(100 * self.similarity)
        if self.from_course_lib:
            return f"{percent} % du code de {self.cell} correspond à {self.source}"
        return f"{percent} % du code de {self.cell} correspond à celui de {self.source}"


@dataclass
class Pair:
    """Une paire classée : un étudiant et course_lib (un fichier), ou deux étudiants."""

    first: str
    second: str
    matches: list[CellMatch]
    flagged: bool

    @property
    def score(self) -> float:
        """La plus forte part de code commun parmi les cellules de la paire (0 à 1)."""
        return max((m.similarity for m in self.matches), default=0.0)

    @property
    def matched(self) -> int:
        return sum(m.matched for m in self.matches)

    @property
    def kind(self) -> str:
        return "course_lib" if self.second.startswith(COURSE_LIB + "/") else "classe"


@dataclass
class SimilarityReport:
    """Le résultat de :func:`analyse`.

    Attributs
    ---------
    pairs : liste de Pair
        Les paires classées (la plus forte similarité d'abord).
    flagged : dict
        Étudiant -> motifs en français (« 87 % du code de rgb_to_lab correspond à course_lib/images.py »)
        des cellules signalées pour une révision manuelle.
    problems : dict
        Étudiant -> remise illisible ou absente (rien n'a pu être comparé).
    """

    course: Path
    assignment: str
    threshold: float
    min_match: int
    students: list[str]
    cells: list[str]
    pairs: list[Pair]
    flagged: dict[str, list[str]]
    problems: dict[str, str]

    def write_html(self, path) -> Path:
        """Écrit le rapport HTML (en français, code échappé, correspondances surlignées) ; retourne son chemin."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_render(self), encoding="utf-8")
        return path


# --------------------------------------------------------------------------- lecture du cours

def _read_notebook(path: Path) -> dict:
    with open(path, encoding="utf-8") as handle:
        notebook = json.load(handle)
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise ValueError("ce n'est pas un notebook")
    return notebook


def _source(cell: dict) -> str:
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else str(text)


def _grade_id(cell: dict) -> str | None:
    meta = cell.get("metadata", {}) if isinstance(cell, dict) else {}
    nbgrader = meta.get("nbgrader", {}) if isinstance(meta, dict) else {}
    return nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None


def _solution_cells(notebook: dict) -> list[str]:
    ids = []
    for cell in notebook["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") == "code" and meta.get("solution") and meta.get("grade_id"):
            ids.append(meta["grade_id"])
    return ids


def _markdown_code(text: str) -> list[str]:
    """Le code cité par l'énoncé dans une cellule markdown (blocs et extraits entre accents graves)."""
    import re

    blocks = re.findall(r"^[ \t]*(?:```|~~~)[^\n]*\n(.*?)^[ \t]*(?:```|~~~)", text, flags=re.MULTILINE | re.DOTALL)
    inline = re.findall(r"`([^`\n]+)`", re.sub(r"(?:```|~~~).*?(?:```|~~~)", "", text, flags=re.DOTALL))
    return blocks + inline


def _statement_code(course: Path, assignment: str, source: dict, name: str) -> str:
    """Le code fourni par l'énoncé : la version release/ du notebook (à défaut, la source sans solutions)."""
    release = course / "release" / assignment / f"{name}.ipynb"
    if release.is_file():
        notebook = _read_notebook(release)
    else:
        notebook = source
    parts = []
    for cell in notebook["cells"]:
        text = _source(cell)
        if cell.get("cell_type") == "markdown":
            parts += _markdown_code(text)
        elif cell.get("cell_type") == "code":
            parts.append(_strip_regions(text))
    return "\n".join(parts)


def _strip_regions(text: str) -> str:
    """Retire les régions BEGIN/END SOLUTION et BEGIN/END HIDDEN TESTS (si la source sert d'énoncé)."""
    kept, hidden = [], False
    for line in text.split("\n"):
        if "BEGIN SOLUTION" in line or "BEGIN HIDDEN TESTS" in line:
            hidden = True
        elif "END SOLUTION" in line or "END HIDDEN TESTS" in line:
            hidden = False
        elif not hidden:
            kept.append(line)
    return "\n".join(kept)


def _course_lib_files() -> dict[str, str]:
    import course_lib

    package = Path(course_lib.__file__).resolve().parent
    files = {}
    for path in sorted(package.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        files[f"{COURSE_LIB}/{path.relative_to(package).as_posix()}"] = path.read_text(encoding="utf-8")
    return files


def _students(course: Path, assignment: str) -> list[str]:
    submitted = course / "submitted"
    if not submitted.is_dir():
        return []
    return sorted(entry.name for entry in submitted.iterdir() if (entry / assignment).is_dir())


# --------------------------------------------------------------------------- analyse

def analyse(course, assignment: str, students: list[str] | None = None, threshold: float = DEFAULT_THRESHOLD,
            min_match: int = DEFAULT_MIN_MATCH, reference_files: dict[str, str] | None = None) -> SimilarityReport:
    """Compare le code des solutions de chaque remise à course_lib et aux autres remises.

    Paramètres
    ----------
    course : chemin
        Racine du cours nbgrader (avec ``source/<TP>/`` et ``submitted/<étudiant>/<TP>/``).
    assignment : str
        Le TP, par exemple ``"TP0"``.
    students : liste de str, optionnel
        Les étudiants à analyser (défaut : toutes les remises). Chacun est comparé à toute la classe.
    threshold : float
        Part (entre 0 et 1) du code d'une cellule, hors énoncé, qui doit correspondre à une même source
        pour que la remise soit signalée.
    min_match : int
        Taille minimale du code commun (caractères du code normalisé) pour signaler.
    reference_files : dict, optionnel
        Nom -> code des sources de référence (défaut : tout le code de course_lib).

    Retourne
    --------
    SimilarityReport
        Les paires classées, les signalements (``flagged``) et ``write_html``.
    """
    from course_lib.validation import describe

    course = Path(course).resolve()
    if not isinstance(assignment, str) or not assignment:
        raise TypeError(f"L'argument « assignment » doit être le nom d'un TP (str) ; reçu : {describe(assignment)}.")
    source_dir = course / "source" / assignment
    if not source_dir.is_dir():
        known = sorted(p.name for p in (course / "source").iterdir() if p.is_dir()) if (course / "source").is_dir() \
            else []
        raise ValueError(f"L'argument « assignment » doit être un TP de {course / 'source'} "
                         f"({', '.join(known) or 'aucun'}) ; reçu : {assignment!r}.")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold <= 1:
        raise ValueError(f"L'argument « threshold » doit être un nombre dans ]0, 1] ; reçu : {threshold!r}.")
    if isinstance(min_match, bool) or not isinstance(min_match, int) or min_match < 0:
        raise ValueError(f"L'argument « min_match » doit être un entier positif ou nul ; reçu : {min_match!r}.")
    available = _students(course, assignment)
    if students is not None:
        if isinstance(students, str) or not all(isinstance(s, str) for s in students):
            raise TypeError(f"L'argument « students » doit être une liste d'identifiants (str) ; "
                            f"reçu : {describe(students)}.")
        unknown = sorted(set(students) - set(available))
        if unknown:
            raise ValueError(f"L'argument « students » nomme des étudiants sans remise de {assignment} : "
                             f"{', '.join(unknown)}.")

    # les cellules solution de la source, et le code de l'énoncé, notebook par notebook
    cells: list[tuple[str, str]] = []                  # (notebook, grade_id)
    statements: dict[str, np.ndarray] = {}
    for path in sorted(source_dir.glob("*.ipynb")):
        notebook = _read_notebook(path)
        statements[path.stem] = _boilerplate_hashes(_statement_code(course, assignment, notebook, path.stem))
        cells += [(path.stem, grade_id) for grade_id in _solution_cells(notebook)]

    # le code de chaque remise, cellule par cellule (les cellules sont reconnues par leur grade_id)
    documents: dict[str, dict[str, _Document]] = {}
    problems: dict[str, str] = {}
    for student in available:
        documents[student] = {}
        for name in dict.fromkeys(n for n, _ in cells):
            path = course / "submitted" / student / assignment / f"{name}.ipynb"
            try:
                notebook = _read_notebook(path)
            except (OSError, ValueError) as error:
                problems[student] = f"{name}.ipynb illisible ou absent ({type(error).__name__})"
                continue
            by_id = {}
            for cell in notebook["cells"]:
                grade_id = _grade_id(cell)
                if grade_id and cell.get("cell_type") == "code":
                    by_id.setdefault(grade_id, _source(cell))
            for notebook_name, grade_id in cells:
                if notebook_name == name and by_id.get(grade_id, "").strip():
                    code = by_id[grade_id]
                    documents[student][grade_id] = _Document(
                        student, code, _fingerprint(f"{student}/{grade_id}", code, statements[name]))

    # MOSS : entre étudiants, une empreinte que partagent beaucoup de remises d'une même cellule est du code
    # « évident » (écrit pareil par tous), pas une copie ; elle ne compte pas (seulement dans une grande classe).
    common_limit = max(COMMON_MIN, int(np.ceil(COMMON_FRACTION * len(available))))
    class_docs: dict[str, dict[str, _Document]] = {student: dict(cells_) for student, cells_ in documents.items()}
    for notebook_name, grade_id in cells:
        counts: dict[int, int] = {}
        for student in available:
            document = documents[student].get(grade_id)
            for value in (document.fingerprint.hashes if document else ()):
                counts[value] = counts.get(value, 0) + 1
        common = [value for value, count in counts.items() if count >= common_limit]
        if not common:
            continue
        boilerplate = np.union1d(statements[notebook_name], np.array(common, dtype=np.int64))
        for student in available:
            document = documents[student].get(grade_id)
            if document is not None:
                class_docs[student][grade_id] = _Document(student, document.code, _fingerprint(
                    f"{student}/{grade_id}", document.code, boilerplate))

    references = _course_lib_files() if reference_files is None else dict(reference_files)
    reference_docs = {name: _Document(name, code, _fingerprint(name, code)) for name, code in references.items()}

    analysed = available if students is None else [s for s in available if s in set(students)]
    matches: dict[tuple[str, str], list[CellMatch]] = {}
    for student in analysed:
        for grade_id, document in documents[student].items():
            for name, reference in reference_docs.items():
                overlap, sim, sim_ref, slices, ref_slices = _compare(document, reference)
                if overlap:
                    matches.setdefault((student, name), []).append(CellMatch(
                        student, grade_id, name, sim, sim_ref, overlap, document.code, reference.code, slices,
                        ref_slices))
    coverage = {(s, g): float(d.fingerprint.token_coverage) for s, docs in class_docs.items() for g, d in docs.items()}
    for position, student in enumerate(available):
        for other in available[position + 1:]:
            if student not in analysed and other not in analysed:
                continue
            for grade_id, document in class_docs[student].items():
                other_doc = class_docs[other].get(grade_id)
                if other_doc is None:
                    continue
                overlap, sim, sim_other, slices, other_slices = _compare(document, other_doc)
                if overlap:
                    matches.setdefault((student, other), []).append(CellMatch(
                        student, grade_id, other, sim, sim_other, overlap, document.code, other_doc.code, slices,
                        other_slices))

    flagged: dict[str, list[str]] = {}

    def flag(student: str, reason: str) -> None:
        if student in analysed:
            flagged.setdefault(student, []).append(reason)

    pairs = []
    for (first, second), found in matches.items():
        hits = [m for m in found if m.similarity >= threshold and m.matched >= min_match]
        for m in hits:
            flag(first, m.reason())
        flag_pair = bool(hits)
        if not second.startswith(COURSE_LIB + "/"):
            # entre étudiants, chacun est signalé avec sa propre part de code commun ...
            for m in found:
                if m.source_similarity >= threshold and m.matched >= min_match:
                    flag(second, f"{round(100 * m.source_similarity)} % du code de {m.cell} correspond à celui "
                                 f"de {first}")
                    flag_pair = True
            # ... et aussi sur l'ensemble des solutions (plusieurs fonctions courtes copiées ensemble)
            if not flag_pair:
                sides = ((first, second, sum(m.matched for m in found)),
                         (second, first, sum(m.source_similarity * coverage.get((second, m.cell), 0.0) for m in found)))
                for student, other, matched in sides:
                    total = sum(coverage.get((student, g), 0.0) for g in class_docs[student]) or 1.0
                    if matched >= 2 * min_match and matched / total >= threshold:
                        flag(student, f"{round(100 * matched / total)} % du code de ses solutions correspond à "
                                      f"celui de {other}")
                        flag_pair = True
        pairs.append(Pair(first, second, sorted(found, key=lambda m: -m.similarity), flag_pair))
    pairs.sort(key=lambda p: (-p.flagged, -max(p.score, max((m.source_similarity for m in p.matches), default=0)),
                              -p.matched, p.first, p.second))
    flagged = {s: list(dict.fromkeys(r)) for s, r in sorted(flagged.items())}
    return SimilarityReport(course, assignment, float(threshold), int(min_match), available,
                            [g for _, g in cells], pairs, flagged, problems)


# --------------------------------------------------------------------------- rapport HTML

def _highlight(code: str, slices, context: int | None = None) -> str:
    """Le code échappé, les passages communs dans ``<mark>`` ; ``context`` : lignes gardées autour."""
    marks = np.zeros(len(code) + 1, dtype=bool)
    for start, end in slices or []:
        marks[max(0, int(start)):max(0, int(end))] = True
    pieces, position = [], 0
    while position < len(code):
        state = marks[position]
        end = position + 1
        while end < len(code) and marks[end] == state:
            end += 1
        text = html.escape(code[position:end])
        pieces.append(f"<mark>{text}</mark>" if state else text)
        position = end
    rendered = "".join(pieces)
    if context is None:
        return rendered
    # ne garder que les lignes surlignées et leur voisinage (un fichier de course_lib est long)
    lines = rendered.split("\n")
    opened, keep = False, set()
    for number, line in enumerate(lines):
        inside = opened or "<mark>" in line
        if "<mark>" in line or "</mark>" in line:
            opened = line.rfind("<mark>") > line.rfind("</mark>")
        elif opened:
            inside = True
        if inside:
            keep.update(range(max(0, number - context), min(len(lines), number + context + 1)))
    out, previous = [], -2
    for number in sorted(keep):
        if number != previous + 1:
            out.append("<span class=\"coupure\">⋯</span>")
        line = lines[number]
        # une balise ouverte sur une ligne gardée et fermée sur une ligne coupée : on referme
        if line.count("<mark>") > line.count("</mark>"):
            line += "</mark>"
        if line.count("</mark>") > line.count("<mark>"):
            line = "<mark>" + line
        out.append(line)
        previous = number
    return "\n".join(out)


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
tr.signale td { background: #fde8e8; }
pre { background: #f7f7f7; padding: 0.6em; overflow-x: auto; font-size: 12px; max-height: 40em; }
mark { background: #ffd54f; }
.coupure { color: #999; }
.deux { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }
.deux > div { min-width: 0; }
details { margin: 0.6em 0 1.2em 0; }
.note { color: #555; }
"""


def _render(report: SimilarityReport) -> str:
    e = html.escape
    title = f"Rapport de similarité — {report.assignment}"
    csp = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; script-src 'none'; "
           "form-action 'none'; base-uri 'none'; frame-src 'none'")
    out = [
        "<!DOCTYPE html>", '<html lang="fr">', "<head>", '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{e(csp)}">',
        f"<title>{e(title)}</title>", f"<style>{_STYLE}</style>", "</head>", "<body>", f"<h1>{e(title)}</h1>",
        f"<p class=\"note\">Cours : <code>{e(str(report.course))}</code> — {len(report.students)} remise(s), "
        f"cellules comparées : {', '.join(f'<code>{e(c)}</code>' for c in report.cells) or 'aucune'}.</p>",
        "<p>Le code de chaque cellule solution est comparé à tout le code de <code>course_lib</code> et à la même "
        "cellule des autres remises, après normalisation (identifiants, chaînes, commentaires et mise en page "
        "ne comptent pas) ; le code fourni par l'énoncé est retiré d'abord. Une cellule est <strong>signalée pour "
        f"une révision manuelle</strong> quand au moins {round(100 * report.threshold)} % de son code correspond à "
        f"une même source et que le code commun compte au moins {report.min_match} caractères normalisés. "
        "Un signalement n'est pas une preuve de copie, et jamais une note : lisez le code surligné.</p>",
    ]
    out.append("<h2>Remises signalées</h2>")
    if report.flagged:
        out.append("<ul>")
        for student, reasons in report.flagged.items():
            out.append(f"<li><strong>{e(student)}</strong> : {e(' ; '.join(reasons))}</li>")
        out.append("</ul>")
    else:
        out.append("<p>Aucune remise n'atteint le seuil.</p>")
    if report.problems:
        out.append("<h2>Remises non comparées</h2><ul>")
        for student, problem in report.problems.items():
            out.append(f"<li><strong>{e(student)}</strong> : {e(problem)}</li>")
        out.append("</ul>")
    out.append("<h2>Paires classées</h2>")
    shown = [p for p in report.pairs if p.flagged or p.score >= report.threshold / 2][:200]
    if not shown:
        out.append("<p>Aucune paire n'a de code commun notable.</p>")
    else:
        out.append("<table><tr><th>Rang</th><th>Remise</th><th>Comparée à</th><th>Part commune (max.)</th>"
                   "<th>Code commun</th><th>Cellules</th><th>Signalée</th></tr>")
        for rank, pair in enumerate(shown, start=1):
            cells = ", ".join(f"{e(m.cell)} ({round(100 * m.similarity)} %)" for m in pair.matches[:6])
            out.append(f'<tr class="{"signale" if pair.flagged else ""}"><td>{rank}</td><td>{e(pair.first)}</td>'
                       f'<td><a href="#paire-{rank}">{e(pair.second)}</a></td><td>{round(100 * pair.score)} %</td>'
                       f"<td>{pair.matched} car.</td><td>{cells}</td><td>{'oui' if pair.flagged else 'non'}</td></tr>")
        out.append("</table>")
        for rank, pair in enumerate(shown, start=1):
            out.append(f'<h3 id="paire-{rank}">{rank}. {e(pair.first)} — {e(pair.second)}</h3>')
            for match in pair.matches:
                if match.similarity < report.threshold / 2 and match.source_similarity < report.threshold / 2:
                    continue
                other_context = 3 if match.from_course_lib else None
                out.append(f"<details{' open' if pair.flagged else ''}><summary>Cellule <code>{e(match.cell)}</code>"
                           f" : {round(100 * match.similarity)} % du code de {e(match.student)} correspond "
                           f"({match.matched} caractères normalisés)</summary>")
                out.append('<div class="deux">')
                out.append(f"<div><strong>{e(match.student)}</strong><pre>"
                           f"{_highlight(match.code, match.slices)}</pre></div>")
                out.append(f"<div><strong>{e(match.source)}</strong><pre>"
                           f"{_highlight(match.source_code, match.source_slices, other_context)}</pre></div>")
                out.append("</div></details>")
    out += ["</body>", "</html>"]
    return "\n".join(out)


# --------------------------------------------------------------------------- ligne de commande

def main(argv=None) -> int:
    from .assignments import course_root

    parser = argparse.ArgumentParser(
        prog="python -m course_grading.similarity",
        description="Rapport de similarité d'un TP : le code des solutions de chaque remise comparé à course_lib "
                    "et aux autres remises. Au-delà du seuil, la remise est signalée pour une révision manuelle.")
    parser.add_argument("assignment", help="le TP, par exemple TP0")
    parser.add_argument("--course", default=None, help="racine du cours nbgrader (défaut : assignments/ du dépôt)")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                        help=f"part du code d'une cellule qui doit correspondre pour la signaler "
                             f"(défaut : {DEFAULT_THRESHOLD})")
    parser.add_argument("--min-match", type=int, default=DEFAULT_MIN_MATCH,
                        help=f"taille minimale du code commun, en caractères normalisés (défaut : {DEFAULT_MIN_MATCH})")
    parser.add_argument("--output", default=None, help="fichier HTML (défaut : <cours>/similarite_<TP>.html)")
    parser.add_argument("--student", action="append", default=None, help="n'analyser que cet étudiant (répétable)")
    args = parser.parse_args(argv)
    course = Path(args.course) if args.course else course_root()
    try:
        report = analyse(course, args.assignment, students=args.student, threshold=args.threshold,
                         min_match=args.min_match)
    except (ValueError, TypeError) as error:
        print(f"Erreur : {error}", file=sys.stderr)
        return 2
    output = Path(args.output) if args.output else Path(course) / f"similarite_{args.assignment}.html"
    report.write_html(output)
    print(f"{len(report.students)} remise(s) de {args.assignment} comparées ; {len(report.flagged)} signalée(s) "
          f"pour une révision manuelle. Rapport : {output}")
    for student, reasons in report.flagged.items():
        print(f"  {student} : {' ; '.join(reasons)}")
    for student, problem in report.problems.items():
        print(f"  {student} : non comparé ({problem})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
