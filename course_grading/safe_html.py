"""HTML sûr et de coût borné pour les retours de correction et le formgrader.

Les notebooks remis sont écrits par les étudiants : leurs sorties et leurs cellules markdown peuvent
contenir du HTML actif (``<script>``, ``<img onerror>``, ``<svg onload>``, iframes ou formulaires
``javascript:``) ou des tailles démesurées (un bloc de code de 4 Mo, des millions de caractères de
couleurs ANSI) qui coûtent des minutes et des gigaoctets au rendu. Ce module fournit :

- :func:`clean_html` : un assainisseur à liste blanche (nh3, le nettoyeur Ammonia) ;
- :func:`markdown2html` et :func:`ansi2html` : les filtres Jinja de nbconvert du même nom, bornés et
  assainis (à brancher par ``HTMLExporter.filters``, y compris dans le formgrader) ;
- :class:`SanitizeNotebook` : un préprocesseur qui borne et nettoie un notebook (sorties tronquées
  avec une mention française, codes ANSI retirés, sorties JavaScript et HTML actif supprimés,
  métadonnées des sorties réduites aux dimensions des images) ;
- :func:`feedback_csp` : la politique de sécurité du contenu (CSP) des retours HTML ;
  :func:`formgrader_csp` et le gabarit ``formgrade_csp`` : celle des pages du formgrader.
"""

from __future__ import annotations

import base64
import hashlib
import re

import nh3
from jinja2 import pass_context
from markupsafe import escape
from nbconvert.preprocessors import Preprocessor
from nbformat import from_dict
from traitlets import Bool, Integer

__all__ = ["clean_html", "markdown2html", "ansi2html", "strip_ansi", "truncate", "SanitizeNotebook",
           "feedback_csp", "script_hash", "formgrader_csp", "formgrader_template_dirs", "FORMGRADER_TEMPLATE",
           "MATHJAX_URL", "MATHJAX_CONFIG", "SAFE_FILTERS", "MAX_OUTPUT_CHARS", "MAX_MARKDOWN_CHARS",
           "MAX_CODE_CHARS", "MAX_IMAGE_CHARS"]

MAX_OUTPUT_CHARS = 50_000          # une sortie texte (flux, text/plain, HTML, message d'erreur)
MAX_MARKDOWN_CHARS = 50_000        # une cellule markdown
MAX_CODE_CHARS = 100_000           # le code d'une cellule
MAX_IMAGE_CHARS = 8 * 2**20        # une image (base64)
MAX_TRACEBACK_FRAMES = 30
_TAIL = 2_000                      # fin gardée d'un texte tronqué (la dernière ligne reste visible)

# Séquences d'échappement des terminaux : CSI (couleurs, curseur), OSC (titres, liens), et les autres
# caractères de contrôle C0/C1 sauf tabulation, saut de ligne et retour chariot.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]?|\x9b[0-?]*[ -/]*[@-~]"
                   r"|[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f]")

# --------------------------------------------------------------------------- assainissement HTML

_TAGS = set(nh3.ALLOWED_TAGS) - {"area", "map"}
_ATTRIBUTES = {tag: set(values) for tag, values in nh3.ALLOWED_ATTRIBUTES.items()}
_ATTRIBUTES["*"] = {"class", "title", "lang", "dir"}
_ATTRIBUTES["img"] = {"src", "alt", "width", "height", "title"}
for _heading in ("h1", "h2", "h3", "h4", "h5", "h6"):
    _ATTRIBUTES[_heading] = {"id"}             # ancres des titres markdown
_URL_SCHEMES = {"http", "https", "mailto", "data"}
_IMAGE_DATA = re.compile(r"data:image/(?:png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]*\Z", re.IGNORECASE)


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    """Les URL ``data:`` ne sont permises que pour les images matricielles (``<img src>``)."""
    if attribute in ("src", "href", "cite") and value.strip().lower().startswith("data:"):
        return value if tag == "img" and attribute == "src" and _IMAGE_DATA.match(value.strip()) else None
    return value


def clean_html(html) -> str:
    """Assainit un fragment HTML : seules les balises et les attributs d'une liste blanche restent.

    Scripts, styles, iframes, formulaires, objets, SVG et MathML disparaissent avec leur contenu ;
    les attributs d'événements (``onerror``, ``onload``…) et les URL ``javascript:`` aussi ; une URL
    ``data:`` n'est gardée que pour une image PNG, JPEG, GIF ou WebP.

    Paramètres
    ----------
    html : str ou bytes
        Le fragment à nettoyer (tronqué à ``MAX_OUTPUT_CHARS`` caractères d'abord, s'il est plus long).

    Retourne
    --------
    str
        Le fragment nettoyé, sans contenu actif.
    """
    if isinstance(html, bytes):
        html = html.decode("utf-8", errors="replace")
    html = truncate(str(html), MAX_OUTPUT_CHARS + MAX_IMAGE_CHARS, "ce contenu HTML")
    return nh3.clean(html, tags=_TAGS, attributes=_ATTRIBUTES, url_schemes=_URL_SCHEMES,
                     attribute_filter=_attribute_filter, strip_comments=True, link_rel="noopener noreferrer",
                     clean_content_tags={"script", "style", "svg", "math", "iframe", "object", "embed",
                                         "template", "noscript", "textarea", "select", "title", "xmp",
                                         "noembed", "noframes", "plaintext"})


# --------------------------------------------------------------------------- texte borné

def strip_ansi(text: str) -> str:
    """Retire les séquences d'échappement ANSI (couleurs, curseur) et les caractères de contrôle."""
    return _ANSI.sub("", text)


def _french_count(n: int) -> str:
    return f"{n:,}".replace(",", "\u202f")


def truncate(text: str, limit: int, what: str = "cette sortie", tail: int = _TAIL) -> str:
    """Tronque un texte trop long : le début et la fin restent, une mention française dit ce qui manque.

    Paramètres
    ----------
    text : str
        Le texte.
    limit : int
        Nombre maximal de caractères gardés (> 0).
    what : str
        Ce qui est tronqué, pour la mention (« cette sortie », « cette cellule markdown »…).
    tail : int
        Nombre de caractères gardés à la fin (la dernière ligne d'une sortie reste visible).
    """
    if len(text) <= limit:
        return text
    tail = min(tail, limit // 4)
    removed = len(text) - (limit - tail)
    note = (f"\n[… {_french_count(removed)} caractères retirés par la correction : {what} était trop "
            f"longue pour être affichée ({_french_count(len(text))} caractères) …]\n")
    return text[:limit - tail] + note + (text[-tail:] if tail else "")


def _truncate_markdown(source: str, limit: int) -> str:
    """Tronque une cellule markdown sans laisser un bloc de code ouvert (la mention reste du texte)."""
    if len(source) <= limit:
        return source
    head = source[:limit]
    fences = re.findall(r"^[ \t]{0,3}(`{3,}|~{3,})", head, flags=re.MULTILINE)
    closing = f"\n{fences[-1]}\n" if len(fences) % 2 == 1 else "\n"
    return (head + closing + f"\n*[… {_french_count(len(source) - limit)} caractères retirés par la correction : "
            f"cette cellule markdown était trop longue pour être affichée …]*\n")


# --------------------------------------------------------------------------- filtres Jinja

@pass_context
def markdown2html(context, source) -> str:
    """Le filtre ``markdown2html`` de nbconvert, borné (``MAX_MARKDOWN_CHARS``) et assaini.

    Même rendu que celui de ``HTMLExporter`` (mathématiques protégées, pièces jointes, code coloré),
    puis :func:`clean_html` sur le HTML produit : le HTML brut d'une cellule markdown ne peut plus
    contenir de script ni d'attribut d'événement.
    """
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    cell = context.get("cell", {}) or {}
    attachments = cell.get("attachments", {}) if hasattr(cell, "get") else {}
    resources = context.get("resources", {}) or {}
    path = resources.get("metadata", {}).get("path", "") if hasattr(resources, "get") else ""
    source = _truncate_markdown(strip_ansi(str(source or "")), MAX_MARKDOWN_CHARS)
    renderer = IPythonRenderer(escape=False, attachments=attachments or {}, embed_images=False, path=path,
                               anchor_link_text="¶", exclude_anchor_links=False)
    return clean_html(MarkdownWithMath(renderer=renderer).render(source))


def ansi2html(text) -> str:
    """Le filtre ``ansi2html`` de nbconvert, borné : codes ANSI retirés, texte tronqué, puis échappé.

    Le filtre d'origine convertit les couleurs en ``<span>`` avec un coût qui croît plus vite que la
    taille du texte (4,4 millions de caractères colorés : plus de deux minutes) ; ici le coût est
    linéaire et la sortie reste lisible, sans couleurs.
    """
    return str(escape(truncate(strip_ansi(str(text or "")), MAX_OUTPUT_CHARS)))


SAFE_FILTERS = {
    "markdown2html": "course_grading.safe_html.markdown2html",
    "clean_html": "course_grading.safe_html.clean_html",
    "ansi2html": "course_grading.safe_html.ansi2html",
    "formgrader_csp": "course_grading.safe_html.formgrader_csp",
}
"""Filtres à donner à ``HTMLExporter.filters`` (formgrader) : noms nbconvert -> chemins d'import."""


# --------------------------------------------------------------------------- politique de sécurité

MATHJAX_URL = "https://cdnjs.cloudflare.com/ajax/libs/mathjax/2.7.7/MathJax.js?config=TeX-AMS_CHTML-full,Safe"
_MATHJAX_ORIGIN = "https://cdnjs.cloudflare.com/ajax/libs/mathjax/2.7.7/"
MATHJAX_CONFIG = ("window.MathJax = {tex2jax: {inlineMath: [['$', '$'], ['\\\\(', '\\\\)']], "
                  "displayMath: [['$$', '$$'], ['\\\\[', '\\\\]']], processEscapes: true, processEnvironments: true}, "
                  "messageStyle: 'none', displayAlign: 'center'};")
"""Configuration de MathJax, seul script en ligne du retour (permis par son empreinte dans la CSP)."""


def script_hash(source: str) -> str:
    """L'empreinte CSP (``'sha256-…'``) d'un script en ligne."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode("ascii") + "'"


def feedback_csp() -> str:
    """La CSP des retours HTML : aucun script sauf MathJax (son dossier et sa configuration).

    Pas de script en ligne (hors la configuration de MathJax, désignée par son empreinte), pas
    d'attribut d'événement, pas d'iframe, de formulaire, d'objet ni de connexion ; images en ``data:``.
    """
    return "; ".join([
        "default-src 'none'",
        f"script-src {script_hash(MATHJAX_CONFIG)} {_MATHJAX_ORIGIN}",
        f"style-src 'unsafe-inline' {_MATHJAX_ORIGIN}",
        f"font-src data: {_MATHJAX_ORIGIN}",
        "img-src data:",
        "connect-src 'none'",
        "frame-src 'none'",
        "child-src 'none'",
        "object-src 'none'",
        "form-action 'none'",
        "base-uri 'none'",
    ])


# --------------------------------------------------------------------------- préprocesseur

_KEEP_MIMETYPES = ("text/plain", "text/html", "text/markdown", "text/latex", "image/png", "image/jpeg",
                   "image/svg+xml")
_ACTIVE_SVG = re.compile(r"<\s*(?:script|foreignobject|iframe|object|embed|a\b|use\b|animate|set\b|handler)"
                         r"|\bon[a-z]+\s*=|javascript:|data:text|xlink:href|href\s*=", re.IGNORECASE)
_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]*\Z")
_GRADE_ID = re.compile(r"[A-Za-z0-9_\-]+\Z")


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value if value is not None else "")


class SanitizeNotebook(Preprocessor):
    """Borne et assainit un notebook avant son rendu HTML (retour, formgrader).

    - chaque sortie texte (flux, ``text/plain``, ``text/html``, ``text/markdown``, message d'erreur)
      est tronquée à ``max_output_chars`` caractères, début et fin gardés, avec une mention française ;
      les piles d'appels à ``max_traceback_frames`` trames ;
    - les codes ANSI et les caractères de contrôle sont retirés (``keep_ansi`` pour les garder) ;
    - les sorties JavaScript, widgets et autres types non affichables sont retirées (une ligne le dit),
      le HTML est nettoyé par :func:`clean_html`, un SVG actif est retiré, une image trop grande
      ou mal formée aussi ;
    - les métadonnées des sorties ne gardent que largeur et hauteur (entières) des images ;
    - chaque cellule markdown est tronquée à ``max_markdown_chars``, chaque cellule de code à
      ``max_code_chars`` ; les pièces jointes trop grandes sont retirées ; un ``grade_id`` nbgrader qui
      n'est pas un identifiant simple est remplacé.

    La note n'en dépend pas : à placer après l'exécution et l'enregistrement des notes
    (``Autograde.autograde_preprocessors``), et en tête des préprocesseurs du retour.
    """

    max_output_chars = Integer(MAX_OUTPUT_CHARS, help="Taille maximale d'une sortie texte (caractères).").tag(
        config=True)
    max_markdown_chars = Integer(MAX_MARKDOWN_CHARS, help="Taille maximale d'une cellule markdown.").tag(config=True)
    max_code_chars = Integer(MAX_CODE_CHARS, help="Taille maximale du code d'une cellule.").tag(config=True)
    max_image_chars = Integer(MAX_IMAGE_CHARS, help="Taille maximale d'une image (base64).").tag(config=True)
    max_traceback_frames = Integer(MAX_TRACEBACK_FRAMES, help="Trames gardées d'une pile d'appels.").tag(config=True)
    keep_ansi = Bool(False, help="Garder les couleurs ANSI (coût de rendu plus élevé).").tag(config=True)
    enabled = Bool(True, help="Actif par défaut (les préprocesseurs de nbconvert ne le sont pas).").tag(config=True)

    def preprocess(self, nb, resources):
        metadata = nb.get("metadata", {})
        metadata.pop("widgets", None)
        for index, cell in enumerate(nb.cells):
            self._cell(cell, index)
        return nb, resources

    # ------------------------------------------------------------------ cellules
    def _cell(self, cell, index: int) -> None:
        meta = cell.get("metadata", {}).get("nbgrader")
        if isinstance(meta, dict) and "grade_id" in meta and not _GRADE_ID.match(str(meta["grade_id"])):
            meta["grade_id"] = f"cellule-{index}"
        source = _text(cell.get("source", ""))
        if cell.cell_type == "markdown":
            cell.source = _truncate_markdown(source, self.max_markdown_chars)
            self._attachments(cell)
        elif cell.cell_type == "code":
            cell.source = truncate(source, self.max_code_chars, "cette cellule de code")
            cell.outputs = [self._output(o) for o in cell.get("outputs", [])]
        else:
            cell.source = truncate(source, self.max_markdown_chars, "cette cellule")
            self._attachments(cell)

    def _attachments(self, cell) -> None:
        attachments = cell.get("attachments")
        if not attachments:
            return
        for name in list(attachments):
            bundle = attachments[name]
            keep = {mime: data for mime, data in bundle.items()
                    if mime in ("image/png", "image/jpeg", "image/gif") and isinstance(data, str)
                    and len(data) <= self.max_image_chars and _BASE64.match(data)}
            if keep:
                attachments[name] = keep
            else:
                del attachments[name]

    # ------------------------------------------------------------------ sorties
    def _clean_text(self, text, what: str = "cette sortie") -> str:
        text = _text(text)
        if not self.keep_ansi:
            text = strip_ansi(text)
        return truncate(text, self.max_output_chars, what)

    def _output(self, output):
        kind = output.get("output_type")
        if kind == "stream":
            output.name = "stderr" if output.get("name") == "stderr" else "stdout"
            output.text = self._clean_text(output.get("text", ""))
        elif kind == "error":
            output.ename = self._clean_text(output.get("ename", ""))[:200].replace("\n", " ")
            output.evalue = self._clean_text(output.get("evalue", ""), "ce message d'erreur")
            output.traceback = self._traceback(output.get("traceback", []) or [])
        elif kind in ("display_data", "execute_result"):
            self._bundle(output)
        return output

    def _traceback(self, frames) -> list[str]:
        frames = [self._clean_text(f, "cette trame de la pile d'appels") for f in frames]
        limit = max(2, self.max_traceback_frames)
        if len(frames) > limit:
            head, tail = limit // 2, limit - limit // 2
            frames = frames[:head] + [f"[… {len(frames) - limit} trames retirées par la correction …]"] + frames[-tail:]
        total, kept = 0, []
        for frame in frames:                          # la pile entière reste bornée, elle aussi
            total += len(frame)
            if total > 4 * self.max_output_chars:
                kept.append("[… la suite de la pile d'appels est retirée par la correction : trop longue …]")
                break
            kept.append(frame)
        return kept

    def _bundle(self, output) -> None:
        data = output.get("data", {}) or {}
        removed = sorted(m for m in data if m not in _KEEP_MIMETYPES)
        clean = {}
        for mime in _KEEP_MIMETYPES:
            if mime not in data:
                continue
            value = _text(data[mime])
            if mime in ("image/png", "image/jpeg"):
                if len(value) > self.max_image_chars or not _BASE64.match(value):
                    removed.append(mime)
                    continue
            elif mime == "image/svg+xml":
                if len(value) > self.max_image_chars or _ACTIVE_SVG.search(value):
                    removed.append(mime)
                    continue
            elif mime == "text/html":
                value = clean_html(self._clean_text(value, "ce contenu HTML"))
            else:
                value = self._clean_text(value)
            clean[mime] = value
        if removed and "text/plain" not in clean:
            clean["text/plain"] = ("[sortie retirée par la correction : type non affiché ou contenu actif ("
                                   + ", ".join(dict.fromkeys(removed)) + ")]")
        output.data = from_dict(clean)
        output.metadata = from_dict(self._metadata(output.get("metadata", {}) or {}, clean))

    @staticmethod
    def _metadata(metadata: dict, data: dict) -> dict:
        kept = {}
        for mime in ("image/png", "image/jpeg"):
            values = metadata.get(mime)
            if mime in data and isinstance(values, dict):
                sizes = {k: int(v) for k, v in values.items() if k in ("width", "height")
                         and isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < 100_000}
                if sizes:
                    kept[mime] = sizes
        return kept


# --------------------------------------------------------------------------- CSP du formgrader

FORMGRADER_TEMPLATE = "formgrade_csp"
"""Gabarit du formgrader : celui de nbgrader (``formgrade``), plus une CSP dans une balise ``<meta>``."""
_MATHJAX_CDN = "https://cdnjs.cloudflare.com/ajax/libs/mathjax/"


def formgrader_template_dirs() -> list[str]:
    """Dossiers de gabarits du formgrader : les nôtres, puis ceux de nbgrader (``formgrade`` s'y trouve)."""
    from pathlib import Path

    import nbgrader

    return [str(Path(__file__).resolve().parent / "templates"),
            str(Path(nbgrader.__file__).resolve().parent / "server_extensions" / "formgrader" / "templates")]
    # (à donner aussi, pour le second, à ``HTMLExporter.extra_template_paths`` : le gabarit l'étend par son chemin)


def formgrader_csp(head: str, trusted: str) -> str:
    """Filtre Jinja : ajoute au début de ``<head>`` la CSP d'une page du formgrader.

    Les seuls scripts en ligne permis sont ceux du gabarit de nbgrader lui-même (``trusted`` : le rendu
    de ses macros ``header`` et ``nav``, sans contenu d'étudiant), désignés par leur empreinte SHA-256,
    ainsi que ses deux attributs ``onclick`` (``'unsafe-hashes'``) ; les fichiers de nbgrader viennent du
    serveur (``'self'``), MathJax de son CDN (``'unsafe-eval'`` : MathJax 2 évalue sa configuration).
    Un script ou un attribut d'événement venu d'un notebook ne s'exécute donc pas, même si
    l'assainissement le laissait passer.
    """
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(str(trusted), "html.parser")
    hashes = []
    for script in soup.find_all("script"):
        if script.get("src") is None and script.get("type", "text/javascript") in ("text/javascript", "module"):
            hashes.append(script_hash(script.string or ""))
    handlers = [script_hash(str(v)) for tag in soup.find_all(True) for name, v in tag.attrs.items()
                if name.lower().startswith("on")]
    policy = "; ".join([
        "default-src 'self'",
        " ".join(["script-src 'self' 'unsafe-eval'", *dict.fromkeys(hashes),
                  *(["'unsafe-hashes'", *dict.fromkeys(handlers)] if handlers else []), _MATHJAX_CDN]),
        f"style-src 'self' 'unsafe-inline' {_MATHJAX_CDN}",
        f"font-src 'self' data: {_MATHJAX_CDN}",
        "img-src 'self' data:",
        "connect-src 'self'",
        "frame-src 'none'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    ])
    meta = f'<meta http-equiv="Content-Security-Policy" content="{escape(policy)}" />'
    head = str(head)
    position = head.lower().find("<head>")
    if position < 0:
        return meta + head
    return head[:position + len("<head>")] + "\n" + meta + head[position + len("<head>"):]
