"""Le retour aux étudiants (``nbgrader generate_feedback``) : sans tests cachés, sûr, en français.

- :class:`HideHiddenTests` : les sorties d'une cellule de tests cachés sont remplacées par son verdict
  (réussi ou échoué, points) et, en cas d'échec, par ``TypeDErreur: première ligne du message``
  (300 caractères au plus) ; toute ligne (ou tout morceau de 20 caractères et plus) du code des tests
  cachés qui apparaît dans une sortie ou un message d'erreur du notebook est retirée, même échappée
  (``print(In)`` montre les cellules sous forme de ``repr``) ou encodée en entités HTML ; le code des
  tests cachés disparaît des cellules ;
- :class:`FeedbackExporter` : l'exportateur HTML du retour (``GenerateFeedback.exporter_class``), avec
  le gabarit français, le HTML assaini (:mod:`course_grading.safe_html`) et une politique de sécurité
  du contenu (CSP) dans une balise ``<meta>``. Le formgrader garde son propre ``HTMLExporter`` et son
  gabarit.

La chaîne du retour, dans cet ordre (``FEEDBACK_PREPROCESSORS``) : ``GetGrades`` (les points de chaque
cellule), :class:`~course_grading.safe_html.SanitizeNotebook` (tailles bornées, HTML nettoyé),
:class:`HideHiddenTests`, ``ClearHiddenTests``, ``CSSHTMLHeaderPreprocessor``.

Limite connue : une sortie **encodée** par l'étudiant (base64, texte inversé, dessin dans une image) ne
peut pas être reconnue ici ; c'est au noyau isolé de ne pas donner accès au code des tests cachés.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from nbconvert.exporters import HTMLExporter
from nbformat.v4 import new_output
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Integer, Unicode

from .safe_html import MATHJAX_CONFIG, MATHJAX_URL, ansi2html, clean_html, feedback_csp, markdown2html, strip_ansi

__all__ = ["HideHiddenTests", "FeedbackExporter", "HiddenCodeRedactor", "redact_traceback",
           "feedback_template_dirs", "FEEDBACK_TEMPLATE", "FEEDBACK_PREPROCESSORS", "REDACTED"]

FEEDBACK_TEMPLATE = "feedback_fr"
REDACTED = "[code des tests cachés retiré]"
FEEDBACK_PREPROCESSORS = [
    "nbgrader.preprocessors.GetGrades",
    "course_grading.safe_html.SanitizeNotebook",
    "course_grading.feedback.HideHiddenTests",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
"""Les préprocesseurs du retour (``GenerateFeedback.preprocessors``), par chemin d'import."""

_ANSI_CELL = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# En-tête d'une trame de pile qui vient d'une cellule : « Cell In[4], line 9 » (IPython ≥ 8),
# « Input In [4] » (IPython 7.x), « <ipython-input-4-...> » (avant).
_CELL_FRAME = re.compile(r"^\s*(?:Cell In\s*\[(\d+)\]|Input In\s*\[(\d+)\]|.*<ipython-input-(\d+)-)")
# Échappements d'une chaîne Python ou JSON (``repr``, ``json.dumps``) et entités HTML.
_ESCAPE = re.compile(r"\\(?:u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|x[0-9a-fA-F]{2}|[nrtabfv'\"\\])"
                     r"|&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,30});")
_SIMPLE = {"n": "\n", "r": "\r", "t": "\t", "a": "\a", "b": "\b", "f": "\f", "v": "\v", "'": "'", '"': '"', "\\": "\\"}


def feedback_template_dirs() -> list[str]:
    """Dossiers de gabarits du retour en français (``extra_template_basedirs`` de l'exportateur)."""
    return [str(Path(__file__).resolve().parent / "templates")]


def _nbgrader_css_dir() -> str:
    import nbgrader

    return str(Path(nbgrader.__file__).resolve().parent / "server_extensions" / "formgrader" / "static"
               / "node_modules" / "bootstrap" / "dist" / "css")


# --------------------------------------------------------------------------- caviardage

def _decode_one(escape: str) -> str:
    if escape.startswith("&"):
        return html.unescape(escape)
    kind = escape[1]
    if kind in "uUx":
        try:
            return chr(int(escape[2:], 16))
        except (ValueError, OverflowError):
            return escape
    return _SIMPLE.get(kind, escape)


def _decoded_view(text: str) -> tuple[str, list[int], list[int]] | None:
    """Le texte, échappements et entités décodés, avec pour chaque caractère sa place dans l'original."""
    if not _ESCAPE.search(text):
        return None
    chars, starts, ends, position = [], [], [], 0
    for match in _ESCAPE.finditer(text):
        for i in range(position, match.start()):
            chars.append(text[i])
            starts.append(i)
            ends.append(i + 1)
        chars.append(_decode_one(match.group()))
        starts.append(match.start())
        ends.append(match.end())
        position = match.end()
    for i in range(position, len(text)):
        chars.append(text[i])
        starts.append(i)
        ends.append(i + 1)
    # un échappement décodé peut donner plusieurs caractères (entité) : on répète sa position
    view, view_starts, view_ends = [], [], []
    for piece, start, end in zip(chars, starts, ends):
        for ch in piece:
            view.append(ch)
            view_starts.append(start)
            view_ends.append(end)
    return "".join(view), view_starts, view_ends


def _merge(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[list[int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


class HiddenCodeRedactor:
    """Retire d'un texte tout ce qui reproduit le code des tests cachés.

    Un passage est retiré s'il reproduit une ligne entière du code caché (8 caractères et plus), ou
    un morceau de ``k`` caractères d'une de ses lignes, dans le texte tel quel ou après décodage des
    échappements (``\\n``, ``\\'``, ``\\u00e9``…) et des entités HTML. Les lignes et morceaux qui figurent
    aussi dans le code public (cellules visibles, code de l'étudiant, énoncé) ne sont pas secrets.

    Paramètres
    ----------
    secret : liste de str
        Les lignes du code des tests cachés (marqueurs compris).
    public : liste de str
        Les lignes publiques du notebook.
    k : int
        Longueur des morceaux reconnus (20 par défaut).
    """

    def __init__(self, secret: list[str], public: list[str], k: int = 20, min_line: int = 8):
        self.k = k
        public_lines = {line.strip() for line in public if line.strip()}
        public_grams = {line[i:i + k] for line in public_lines for i in range(len(line) - k + 1)}
        lines = {line.strip() for line in secret}
        self.lines = sorted((line for line in lines if len(line) >= min_line and line not in public_lines
                             and any(ch.isalnum() for ch in line)), key=len, reverse=True)
        self.grams = {line[i:i + k] for line in self.lines for i in range(len(line) - k + 1)} - public_grams
        self.markers = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS")

    def __bool__(self) -> bool:
        return bool(self.lines)

    def _spans(self, view: str) -> list[tuple[int, int]]:
        spans = []
        k, grams = self.k, self.grams
        if grams and len(view) >= k:
            spans += [(i, i + k) for i in range(len(view) - k + 1) if view[i:i + k] in grams]
        for line in self.lines + list(self.markers):
            start = view.find(line)
            while start != -1:
                spans.append((start, start + len(line)))
                start = view.find(line, start + 1)
        return spans

    def redact(self, text: str) -> str:
        """Le texte sans le code des tests cachés (chaque passage retiré devient ``[code des tests cachés retiré]``)."""
        if not text or not self:
            return text
        spans = self._spans(text)
        decoded = _decoded_view(text)
        if decoded is not None:
            view, starts, ends = decoded
            spans += [(starts[s], ends[e - 1]) for s, e in _merge(self._spans(view))]
        if not spans:
            return text
        pieces, position = [], 0
        for start, end in _merge(spans):
            pieces.append(text[position:start])
            pieces.append(REDACTED)
            position = end
        pieces.append(text[position:])
        return "".join(pieces)


def redact_traceback(frames: list[str], hidden_counts: set[int]) -> list[str]:
    """Remplace les trames d'une pile d'appels qui montrent le code de cellules cachées.

    Paramètres
    ----------
    frames : liste de str
        La pile d'appels d'une sortie d'erreur (``output.traceback``), avec ou sans couleurs ANSI.
    hidden_counts : ensemble d'entiers
        Les numéros d'exécution (``In[n]``) des cellules de tests cachés.
    """
    redacted = []
    for frame in frames:
        match = _CELL_FRAME.match(_ANSI_CELL.sub("", frame))
        number = next((int(g) for g in match.groups() if g), None) if match else None
        if number is not None and number in hidden_counts:
            redacted.append(f"Cell In[{number}] : code du test caché (non montré)")
        else:
            redacted.append(frame)
    return redacted


def _points(value) -> str:
    try:
        return f"{float(value):g}".replace(".", ",")
    except (TypeError, ValueError):
        return "?"


class HideHiddenTests(NbGraderPreprocessor):
    """Retour sans le code ni les données des tests cachés.

    À placer après ``GetGrades`` (qui donne les points de chaque cellule) et avant ``ClearHiddenTests``
    dans ``GenerateFeedback.preprocessors``.

    - les sorties d'une cellule qui contient ``### BEGIN HIDDEN TESTS`` sont remplacées par une ligne :
      « Tests cachés : réussis (2 / 2 points). » ou « Tests cachés : échoués (0 / 2 points). » suivie,
      en cas d'erreur, de ``TypeDErreur: première ligne du message`` (``max_message`` caractères au plus) ;
    - dans toutes les autres sorties et tous les messages d'erreur, les passages qui reproduisent le
      code des tests cachés sont retirés (:class:`HiddenCodeRedactor`) et les trames de pile qui
      montrent une cellule cachée sont masquées ;
    - la région ``### BEGIN HIDDEN TESTS`` … ``### END HIDDEN TESTS`` devient une ligne de commentaire.
    """

    begin_marker = Unicode("BEGIN HIDDEN TESTS").tag(config=True)
    end_marker = Unicode("END HIDDEN TESTS").tag(config=True)
    placeholder = Unicode("# (tests cachés : leur code n'est pas montré dans ce retour)").tag(config=True)
    max_message = Integer(300, help="Longueur maximale du message d'erreur d'une cellule cachée.").tag(config=True)

    def _split(self, source: str) -> tuple[str, list[str], list[str]]:
        """(source montrée, lignes secrètes, lignes publiques) d'une cellule."""
        kept, secret, public, hidden = [], [], [], False
        for line in source.split("\n"):
            if self.begin_marker in line:
                hidden = True
                secret.append(line)
                kept.append(line[:len(line) - len(line.lstrip())] + self.placeholder)
            elif self.end_marker in line:
                hidden = False
                secret.append(line)
            elif hidden:
                secret.append(line)
            else:
                kept.append(line)
                public.append(line)
        return "\n".join(kept), secret, public

    def preprocess(self, nb, resources):
        secret, public, hidden_cells, hidden_counts = [], [], set(), set()
        for index, cell in enumerate(nb.cells):
            source = cell.source if isinstance(cell.source, str) else "".join(cell.source)
            if cell.cell_type == "code" and self.begin_marker in source:
                shown, cell_secret, cell_public = self._split(source)
                secret += cell_secret
                public += cell_public
                hidden_cells.add(index)
                if cell.get("execution_count") is not None:
                    hidden_counts.add(int(cell.execution_count))
                cell.source = shown
            else:
                public += source.split("\n")
        if not hidden_cells:
            return nb, resources
        redactor = HiddenCodeRedactor(secret, public)
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            if index in hidden_cells:
                cell.outputs = [self._verdict(cell, redactor)]
            else:
                for output in cell.get("outputs", []):
                    self._redact_output(output, redactor, hidden_counts)
        return nb, resources

    # ------------------------------------------------------------------ verdict
    def _verdict(self, cell, redactor: HiddenCodeRedactor):
        meta = cell.metadata.get("nbgrader", {})
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        score, points = meta.get("score"), meta.get("points")
        graded = bool(meta.get("grade")) and points is not None and score is not None
        if graded:
            passed = float(score) >= float(points) and float(points) > 0 or (float(points) == 0 and not errors)
            if passed:
                state = "réussis"
            elif float(score) > 0:
                state = "partiellement réussis"
            else:
                state = "échoués"
            plural = "s" if float(points) > 1 else ""
            text = f"Tests cachés : {state} ({_points(score)} / {_points(points)} point{plural})."
        else:
            passed = not errors
            text = "Tests cachés : réussis." if passed else "Tests cachés : échoués."
        if errors:
            text += "\n" + self._first_line(errors[0], redactor)
        return new_output("stream", name="stdout" if passed and not errors else "stderr", text=text + "\n")

    def _first_line(self, error, redactor: HiddenCodeRedactor) -> str:
        ename = redactor.redact(strip_ansi(str(error.get("ename", "") or "Erreur"))).replace("\n", " ")[:100]
        message = redactor.redact(strip_ansi(str(error.get("evalue", "") or "")))
        first = next((line.strip() for line in message.splitlines() if line.strip()), "")
        line = f"{ename}: {first}" if first else ename
        return line if len(line) <= self.max_message else line[:self.max_message - 1] + "…"

    # ------------------------------------------------------------------ autres sorties
    @staticmethod
    def _redact_output(output, redactor: HiddenCodeRedactor, hidden_counts: set[int]) -> None:
        kind = output.get("output_type")
        if kind == "stream":
            output.text = redactor.redact(strip_ansi("".join(output.text) if isinstance(output.text, list)
                                                     else str(output.get("text", ""))))
        elif kind == "error":
            output.ename = redactor.redact(strip_ansi(str(output.get("ename", ""))))
            output.evalue = redactor.redact(strip_ansi(str(output.get("evalue", ""))))
            frames = redact_traceback(list(output.get("traceback", []) or []), hidden_counts)
            output.traceback = [redactor.redact(strip_ansi(str(f))) for f in frames]
        elif kind in ("display_data", "execute_result"):
            data = output.get("data", {}) or {}
            for mime, value in list(data.items()):
                if isinstance(value, list):
                    value = "".join(value)
                if isinstance(value, str) and (not mime.startswith("image/") or mime == "image/svg+xml"):
                    data[mime] = redactor.redact(value)
                elif not isinstance(value, str):                 # JSON : on le garde seulement s'il est sûr
                    import json

                    text = json.dumps(value, ensure_ascii=False)
                    if redactor.redact(text) != text:
                        data.pop(mime)
            output.metadata = {k: v for k, v in (output.get("metadata", {}) or {}).items()
                               if k in ("image/png", "image/jpeg")}


# --------------------------------------------------------------------------- exportateur

class FeedbackExporter(HTMLExporter):
    """L'exportateur HTML du retour : gabarit français, HTML assaini, CSP.

    À brancher par ``c.GenerateFeedback.exporter_class`` ; les réglages de ``HTMLExporter`` (ceux du
    formgrader) ne changent pas son gabarit : ``template_name`` et ``extra_template_basedirs`` ne se
    règlent que par ``c.FeedbackExporter``.

    - ``sanitize_html`` : les sorties HTML et le HTML des cellules markdown passent par
      :func:`~course_grading.safe_html.clean_html`, les sorties JavaScript et les widgets sont retirés ;
    - filtres ``markdown2html``, ``clean_html`` et ``ansi2html`` bornés (:mod:`course_grading.safe_html`) ;
    - une balise ``<meta http-equiv="Content-Security-Policy">`` : aucun script en ligne (sauf la
      configuration de MathJax, par son empreinte), aucun attribut d'événement, aucune iframe.
    """

    export_from_notebook = None

    def __init__(self, config=None, **kwargs):
        import copy

        from traitlets.config import Config

        if config is None and kwargs.get("parent") is not None:
            config = kwargs["parent"].config
        config = copy.deepcopy(config) if config is not None else Config()
        own = config.FeedbackExporter               # réglages propres : ceux de HTMLExporter ne comptent pas ici
        own.setdefault("template_name", FEEDBACK_TEMPLATE)
        own.setdefault("extra_template_basedirs", feedback_template_dirs())
        own.setdefault("sanitize_html", True)
        if "extra_template_paths" not in own and not config.HTMLExporter.get("extra_template_paths"):
            own.extra_template_paths = [_nbgrader_css_dir()]
        super().__init__(config=config, **kwargs)

    def default_filters(self):
        yield from super().default_filters()
        yield ("markdown2html", markdown2html)
        yield ("clean_html", clean_html)
        yield ("ansi2html", ansi2html)

    def _init_resources(self, resources):
        resources = super()._init_resources(resources)
        resources["course_csp"] = feedback_csp()
        resources["course_mathjax_url"] = MATHJAX_URL
        resources["course_mathjax_config"] = MATHJAX_CONFIG
        return resources
