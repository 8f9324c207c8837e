"""Retours et formgrader sûrs (issue 16, points 1 à 4) : de vraies remises, les vraies commandes nbgrader.

Un petit TP (``TPX`` : une fonction ``double``, un test visible, un test caché avec des données secrètes)
dans un cours temporaire qui prend la configuration du cours (``assignments/nbgrader_config.py``).
Des remises d'étudiants qui cherchent à voir les tests cachés (``In[-1]``, ``_ih``, l'historique, une
marche de pile avec ``linecache`` et ``inspect``, ``raise RuntimeError(In[-1])``, ``print(In)``), une
remise qui injecte du HTML actif par toutes les voies de l'issue, une remise démesurée (bloc de code
de 4 Mo dans une cellule markdown, 4,4 millions de caractères colorés) et une remise correcte.
``nbgrader generate_assignment``, ``autograde`` et ``generate_feedback`` tournent pour de vrai ; le
formgrader est servi par un vrai serveur Jupyter et ouvert dans Chromium (Playwright).
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from bs4 import BeautifulSoup
from local_server import local_jupyter
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from course_grading.feedback import FeedbackExporter, HiddenCodeRedactor
from course_grading.safe_html import (
    MATHJAX_CONFIG,
    MATHJAX_URL,
    SanitizeNotebook,
    ansi2html,
    clean_html,
    script_hash,
    strip_ansi,
    truncate,
)

ROOT = Path(__file__).resolve().parent.parent
TP = "TPX"

# Ce que seul le code des tests cachés contient : rien de cela ne doit paraître dans un retour.
HIDDEN_TEST = '''# Tests cachés (2 points).
### BEGIN HIDDEN TESTS
secret_inputs = [31, 41, 59, 26, 53]  # donnees cachees XK7Q
expected_values = [62, 82, 118, 52, 106]
for value, wanted in zip(secret_inputs, expected_values):
    assert double(value) == wanted, f"double({value}) devrait valoir {wanted}, obtenu {double(value)}"
### END HIDDEN TESTS'''
SECRETS = ["XK7Q", "31, 41, 59, 26, 53", "62, 82, 118, 52, 106", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS",
           "zip(secret_inputs, expected_values)", "devrait valoir {wanted}"]

# Les vecteurs d'injection de l'issue 16 ; chacun, s'il s'exécutait, poserait window.__pwned.
VECTORS = [
    '<script>window.__pwned = 1</script>',
    '<img src="x" onerror="window.__pwned = 2">',
    '<svg onload="window.__pwned = 3"><circle r="5"></circle></svg>',
    '<iframe src="javascript:window.__pwned = 4"></iframe>',
    '<form action="javascript:window.__pwned = 5"><button>envoyer</button></form>',
    '<a href="javascript:window.__pwned = 6">lien</a>',
    '<math><a xlink:href="javascript:window.__pwned = 7">m</a></math>',
    '<object data="javascript:window.__pwned = 8"></object>',
    '<embed src="javascript:window.__pwned = 9">',
    '<meta http-equiv="refresh" content="0; url=javascript:window.__pwned = 10">',
    '<base href="javascript:window.__pwned = 11//">',
    '<details open ontoggle="window.__pwned = 12">d</details>',
]


def nbgrader_cell(cell, **meta):
    base = {"grade": False, "solution": False, "locked": False, "schema_version": 3, "task": False}
    cell.metadata["nbgrader"] = {**base, **meta}
    return cell


def source_notebook():
    cells = [
        nbgrader_cell(new_markdown_cell("# TPX\n\nÉcrivez `double(x)` : $2x$ pour tout $x < 10^6$."),
                      grade_id="intro", locked=True),
        nbgrader_cell(new_code_cell("import math"), grade_id="setup", locked=True),
        nbgrader_cell(new_code_cell('def double(x):\n    """Le double de x."""\n    ### BEGIN SOLUTION\n'
                                    '    return 2 * x\n    ### END SOLUTION'), grade_id="double", solution=True),
        nbgrader_cell(new_code_cell('# Tests visibles.\nassert double(1) == 2, "double(1) doit valoir 2"\n'
                                    'print("Tests visibles réussis.")'),
                      grade_id="test_visible", grade=True, locked=True, points=1),
        nbgrader_cell(new_code_cell(HIDDEN_TEST), grade_id="test_hidden", grade=True, locked=True, points=2),
        nbgrader_cell(new_markdown_cell("Fin du TP."), grade_id="fin", locked=True),
    ]
    return new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                              "language": "python"}})


LEAK = '''import inspect, linecache
STASH = []
def double(x):
    ip = get_ipython()
    print("In[-1] :", In[-1])
    print("_ih :", _ih[-1])
    print("historique :", ip.history_manager.input_hist_raw[-1])
    frame = inspect.currentframe().f_back
    print("linecache :", "".join(linecache.getlines(frame.f_code.co_filename)))
    print("inspect :", inspect.getsource(frame))
    STASH.append(In[-1])
    STASH.append({k: v for k, v in frame.f_globals.items() if k == "expected_values"})
    return 2 * x
'''
STUDENTS = {
    "correct": ("def double(x):\n    return x + x\n", []),
    "fouineur": (LEAK, [new_code_cell("print('cachette :', STASH)"), new_code_cell("print(repr(STASH))"),
                        new_code_cell("import json\nprint(json.dumps(STASH))"),
                        new_code_cell("from IPython.display import HTML\nHTML('<pre>' + STASH[-2] + '</pre>')"),
                        new_code_cell("print(In)")]),
    "leveur": ("def double(x):\n    if x == 31:\n        raise RuntimeError(In[-1])\n    return 2 * x\n",
               [new_code_cell("print(In)")]),
    "bavard": ('def double(x):\n    if x == 31:\n        raise ValueError("première ligne seulement\\n"'
               ' + "DETAIL-SECRET " * 50 + In[-1])\n    return 2 * x\n', []),
    "injecteur": ("def double(x):\n    return 2 * x\n", [
        new_code_cell("from IPython.display import HTML, Javascript, Markdown, SVG, display\n"
                      + "".join(f"display(HTML({v!r}))\ndisplay(Markdown({v!r}))\n" for v in VECTORS)
                      + "display(Javascript('window.__pwned = 20'))\n"
                      + "display(SVG('<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"window.__pwned = 21\">"
                        "<script>window.__pwned = 22</script></svg>'))\n"
                      + "display({'text/html': '<b>gras bénin</b><script>window.__pwned = 23</script>',"
                        " 'text/plain': 'x'}, raw=True)\n"
                      + "display({'image/png': 'iVBORw0KGgo='}, raw=True,"
                        " metadata={'image/png': {'width': '1 onerror=window.__pwned=24'}})\n"),
        *[new_markdown_cell(v + "\n\nTexte **bénin** de l'étudiant.") for v in VECTORS],
        new_markdown_cell("[clic](javascript:window.__pwned=30) <javascript:window.__pwned=31> "
                          "![i](javascript:window.__pwned=32)"),
    ]),
    "demesure": ("def double(x):\n    return 2 * x\n", [
        new_markdown_cell("Ma réponse :\n\n```python\n" + "x = [i ** 2 for i in range(10)]  # copie\n" * 100_000
                          + "```\n\nFIN-DU-MARKDOWN"),
        new_code_cell("for i in range(160_000):\n"
                      "    print(f'\\x1b[1;31mERREUR\\x1b[0m \\x1b[32mligne\\x1b[0m {i:07d}')\n"
                      "print('DERNIERE-LIGNE')"),
    ]),
}


def submission(release: dict, answer: str, extra: list) -> dict:
    notebook = copy.deepcopy(release)
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "double":
            cell.source = answer
    notebook.cells.extend(extra)
    return notebook


def run_nbgrader(args: list[str], course: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "COURSE_CELL_TIMEOUT": "120"}
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, capture_output=True, text=True,
                            env=env, timeout=900)
    assert result.returncode == 0, (f"nbgrader {' '.join(args)} a échoué :\n"
                                    f"{result.stdout[-4000:]}{result.stderr[-4000:]}")


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = tmp_path_factory.mktemp("retours") / "course"
    (course / "source" / TP).mkdir(parents=True)
    shutil.copy2(ROOT / "assignments" / "nbgrader_config.py", course / "nbgrader_config.py")
    nbformat.write(source_notebook(), course / "source" / TP / f"{TP}.ipynb")
    run_nbgrader(["generate_assignment", TP, "--force"], course)
    release = nbformat.read(course / "release" / TP / f"{TP}.ipynb", as_version=4)
    for student, (answer, extra) in STUDENTS.items():
        folder = course / "submitted" / student / TP
        folder.mkdir(parents=True)
        nbformat.write(submission(release, answer, extra), folder / f"{TP}.ipynb")
    run_nbgrader(["autograde", TP, "--force"], course)
    started = time.perf_counter()
    run_nbgrader(["generate_feedback", TP, "--force"], course)
    print(f"generate_feedback : {time.perf_counter() - started:.1f} s pour {len(STUDENTS)} remises")
    return course


def feedback(course: Path, student: str) -> str:
    return (course / "feedback" / student / TP / f"{TP}.html").read_text(encoding="utf-8")


def outputs_text(html: str) -> list[str]:
    return [div.get_text() for div in BeautifulSoup(html, "html.parser").select("div.output_subarea")]


# --------------------------------------------------------------------------- contenu actif

_DANGEROUS_URL = re.compile(r"^\s*(?:javascript|vbscript|data\s*:\s*text/html)", re.IGNORECASE)
_ACTIVE_TAGS = {"script", "iframe", "frame", "frameset", "object", "embed", "applet", "form", "base", "svg", "math",
                "portal", "link", "meta", "style", "template"}


def active_content(node) -> list[str]:
    """Ce qui, dans un fragment HTML, pourrait exécuter du code ou envoyer des données."""
    found = []
    for tag in node.find_all(True):
        if tag.name in _ACTIVE_TAGS:
            found.append(str(tag)[:120])
        for name, value in tag.attrs.items():
            values = value if isinstance(value, list) else [value]
            if name.lower().startswith("on"):
                found.append(f"<{tag.name} {name}=…>")
            if any(_DANGEROUS_URL.match(str(v)) for v in values):
                found.append(f"<{tag.name} {name}={str(values)[:80]}>")
            if name == "style" and re.search(r"expression\(|javascript:|url\(", " ".join(map(str, values)), re.I):
                found.append(f"<{tag.name} style=…>")
    return found


def check_feedback_page(html: str) -> None:
    """Un retour : CSP stricte en tête, seuls les scripts de MathJax, aucun contenu actif ailleurs."""
    soup = BeautifulSoup(html, "html.parser")
    csp = soup.find("meta", attrs={"http-equiv": "Content-Security-Policy"})
    assert csp is not None, "le retour n'a pas de politique de sécurité du contenu"
    policy = csp["content"]
    script_src = next(d for d in policy.split(";") if d.strip().startswith("script-src"))
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src, policy
    assert script_hash(MATHJAX_CONFIG) in script_src
    assert "default-src 'none'" in policy and "frame-src 'none'" in policy and "form-action 'none'" in policy
    head = soup.head
    first_tags = [t for t in head.find_all(True)][:2]
    assert csp in first_tags, "la CSP doit précéder tout le reste de la page"
    scripts = soup.find_all("script")
    assert [(s.get("src"), s.string) for s in scripts] == [(None, MATHJAX_CONFIG), (MATHJAX_URL, None)], scripts
    body = soup.body
    assert body is not None
    assert active_content(body) == []


# --------------------------------------------------------------------------- point 1 : tests cachés

def test_hidden_cells_show_only_their_verdict(course):
    correct = outputs_text(feedback(course, "correct"))
    assert any("Tests cachés : réussis (2 / 2 points)." in t for t in correct), correct
    leveur = feedback(course, "leveur")
    verdict = next(t for t in outputs_text(leveur) if "Tests cachés" in t)
    assert verdict.strip().splitlines()[0] == "Tests cachés : échoués (0 / 2 points)."
    assert verdict.strip().splitlines()[1] == "RuntimeError: # Tests cachés (2 points)."
    assert "note : 1 / 3" in leveur


def test_student_exception_in_hidden_cell_is_cut_to_type_and_first_line(course):
    html = feedback(course, "bavard")
    verdict = next(t for t in outputs_text(html) if "Tests cachés" in t).strip().splitlines()
    assert verdict[1] == "ValueError: première ligne seulement"
    assert len(verdict) == 2 and "DETAIL-SECRET" not in "\n".join(outputs_text(html))


@pytest.mark.parametrize("student", list(STUDENTS))
def test_feedback_never_contains_hidden_test_code_or_data(course, student):
    html = feedback(course, student)
    text = BeautifulSoup(html, "html.parser").get_text()
    for secret in SECRETS:
        for form in {secret, json.dumps(secret)[1:-1], repr(secret)[1:-1]}:
            assert form not in html and form not in text, f"{student} : « {form} » figure dans le retour"
    for line in HIDDEN_TEST.splitlines()[2:-1]:
        assert line.strip() not in text, f"{student} : une ligne du test caché figure dans le retour : {line}"


def test_every_leak_route_was_tried_and_redacted(course):
    """Les fuites ont bien eu lieu dans le notebook corrigé (le test n'est pas vide) et sont retirées du retour."""
    autograded = (course / "autograded" / "fouineur" / TP / f"{TP}.ipynb").read_text(encoding="utf-8")
    assert "XK7Q" in autograded and "62, 82, 118, 52, 106" in autograded
    outputs = "\n".join(outputs_text(feedback(course, "fouineur")))
    for label in ("cachette :", "linecache :", "inspect :"):
        assert label in outputs
    assert outputs.count("[code des tests cachés retiré]") >= 10
    assert "Tests visibles réussis." in outputs        # ce qui n'est pas caché reste


def test_visible_feedback_is_kept(course):
    html = feedback(course, "correct")
    assert "Retour de correction" in html and "note : 3 / 3" in html
    assert "assert double(1) == 2" in BeautifulSoup(html, "html.parser").get_text()
    assert "tests cachés : leur code n'est pas montré" in html


# --------------------------------------------------------------------------- point 3 : HTML sûr (retour)

@pytest.mark.parametrize("student", list(STUDENTS))
def test_feedback_pages_have_a_csp_and_no_active_content(course, student):
    check_feedback_page(feedback(course, student))


def test_injected_vectors_are_neutralised_but_benign_content_stays(course):
    html = feedback(course, "injecteur")
    text = BeautifulSoup(html, "html.parser").get_text()
    assert "gras bénin" in text and text.count("Texte bénin de l'étudiant.") == len(VECTORS)
    assert "lien" in text and "envoyer" in text


def test_autograded_notebook_is_sanitised_for_the_formgrader(course):
    notebook = json.loads((course / "autograded" / "injecteur" / TP / f"{TP}.ipynb").read_text(encoding="utf-8"))
    bundles = [o for c in notebook["cells"] for o in c.get("outputs", []) if "data" in o]
    assert bundles and not any("application/javascript" in o["data"] for o in bundles)
    for output in bundles:
        html = "".join(output["data"].get("text/html", ""))
        assert "<script" not in html and "onerror" not in html and "javascript:" not in html, html
        assert "image/svg+xml" not in output["data"]
        assert all(isinstance(v, int) for m in output.get("metadata", {}).values() for v in m.values())


# --------------------------------------------------------------------------- point 4 : coût borné

def test_huge_markdown_and_ansi_output_are_truncated_with_a_french_notice(course):
    html = feedback(course, "demesure")
    assert len(html) < 1_000_000, f"retour de {len(html)} caractères"
    assert "cette cellule markdown était trop longue" in html
    assert "caractères retirés par la correction" in html
    printed = "\n".join(outputs_text(html))
    # nbgrader (LimitOutput) a déjà gardé les 1000 premières lignes ; les couleurs sont retirées
    assert "\x1b" not in printed and "[1;31m" not in printed and "ERREUR ligne 0000998" in printed
    autograded = course / "autograded" / "demesure" / TP / f"{TP}.ipynb"
    assert autograded.stat().st_size < 1_000_000


def test_render_of_huge_notebook_is_bounded():
    """Même sans passage par l'autocorrection, l'exportateur du retour borne ce qu'il rend."""
    block = "x = [i ** 2 for i in range(10)]\n" * 130_000                 # 4 Mo
    colour = "\x1b[1;31mERREUR\x1b[0m \x1b[32mligne\x1b[0m\n" * 150_000   # 4,4 millions de caractères
    nb = new_notebook(cells=[new_markdown_cell("```python\n" + block + "```"),
                             new_code_cell("x", outputs=[new_output("stream", name="stdout", text=colour)])])
    resources = {"nbgrader": {"notebook": "TP", "score": 0, "max_score": 0, "late_penalty": 0}}
    started = time.process_time()
    html, _ = FeedbackExporter().from_notebook_node(nb, resources=resources)
    cpu = time.process_time() - started
    assert len(html) < 1_000_000 and "trop longue" in html
    assert cpu < 60, f"rendu borné trop lent : {cpu:.1f} s de CPU"


# --------------------------------------------------------------------------- unités

def test_redactor_finds_hidden_code_under_escapes_and_entities():
    secret = HIDDEN_TEST.splitlines()
    redactor = HiddenCodeRedactor(secret, ["assert double(1) == 2", "print('x')"])
    cell = "\n".join(secret)
    for leaked in (cell, repr(cell), json.dumps(cell), json.dumps(cell, ensure_ascii=True), str([cell]),
                   cell.replace("<", "&lt;").replace('"', "&quot;"), cell[15:70]):
        cleaned = redactor.redact(leaked)
        for piece in ("XK7Q", "31, 41, 59", "62, 82, 118", "HIDDEN TESTS", "zip(secret_inputs"):
            assert piece not in cleaned, (piece, cleaned)
    assert redactor.redact("double(1) doit valoir 2 ; print('x')") == "double(1) doit valoir 2 ; print('x')"


def test_clean_html_removes_every_vector():
    for vector in VECTORS:
        cleaned = clean_html(vector + "<p>reste</p>")
        assert active_content(BeautifulSoup(cleaned, "html.parser")) == [], (vector, cleaned)
        assert "reste" in cleaned
    assert clean_html('<img src="data:image/png;base64,iVBO">') == '<img src="data:image/png;base64,iVBO">'
    assert "data:" not in clean_html('<a href="data:text/html,<script>x</script>">d</a>')


def test_text_helpers():
    assert strip_ansi("\x1b[1;31mrouge\x1b[0m\x1b]0;titre\x07 fin\x08") == "rouge fin"
    text = "a" * 100 + "FIN"
    short = truncate(text, 50)
    assert short.endswith("FIN") and "caractères retirés par la correction" in short and len(short) < 200
    assert truncate("court", 50) == "court"
    assert ansi2html("<b>\x1b[31mx\x1b[0m</b>") == "&lt;b&gt;x&lt;/b&gt;"


def test_sanitize_notebook_bounds_and_cleans_outputs():
    nb = new_notebook(cells=[
        new_markdown_cell("```\n" + "y\n" * 100_000 + "```"),
        new_code_cell("x", outputs=[
            new_output("stream", name="stdout", text="\x1b[31m" + "z" * 200_000 + "\x1b[0m"),
            new_output("display_data", data={"application/javascript": "alert(1)"}),
            new_output("display_data", data={"text/html": "<p onclick='x()'>p</p><script>y()</script>",
                                             "text/plain": "p"}, metadata={"text/html": {"isolated": True}}),
            new_output("error", ename="E" * 500, evalue="v", traceback=["\x1b[31mframe\x1b[0m"] * 100),
        ]),
    ])
    nb, _ = SanitizeNotebook().preprocess(nb, {})
    markdown, code = nb.cells
    assert len(markdown.source) < 60_000 and markdown.source.count("```") % 2 == 0
    stream, js, html, error = code.outputs
    assert len(stream.text) < 60_000 and "\x1b" not in stream.text
    assert "application/javascript" not in js.data and "retirée" in js.data["text/plain"]
    assert html.data["text/html"] == "<p>p</p>" and html.metadata == {}
    assert len(error.ename) <= 200 and len(error.traceback) <= 31 and "\x1b" not in error.traceback[0]


def test_course_configuration_keeps_the_formgrader_template():
    """Le gabarit français n'est réglé que sur l'exportateur du retour ; HTMLExporter (le formgrader) garde le
    gabarit « formgrade » de nbgrader, étendu seulement d'une CSP."""
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT / "assignments")).load_config()
    assert config.HTMLExporter.template_name == "formgrade_csp"
    template = (ROOT / "course_grading" / "templates" / "formgrade_csp" / "index.html.j2").read_text(encoding="utf-8")
    assert "{%- extends 'formgrade/index.html.j2' -%}" in template and "feedback" not in template
    assert config.GenerateFeedback.exporter_class == "course_grading.feedback.FeedbackExporter"
    assert config.HTMLExporter.sanitize_html is True
    assert "course_grading.safe_html.SanitizeNotebook" in config.Autograde.autograde_preprocessors


# --------------------------------------------------------------------------- point 2 : le formgrader

@pytest.fixture(scope="module")
def formgrader(course, tmp_path_factory):
    """Un serveur Jupyter (avec l'extension formgrader de nbgrader) dont la racine est le cours."""
    log = tmp_path_factory.mktemp("serveur") / "serveur.log"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    with local_jupyter("jupyter server", course, log, env=env) as (base, token):
        yield base, token


def submission_id(course: Path, student: str) -> str:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        return gradebook.find_submission_notebook(TP, TP, student).id


def formgrader_page(course: Path, formgrader, student: str) -> str:
    base, token = formgrader
    url = f"{base}/formgrader/submissions/{submission_id(course, student)}?token={token}"
    with urllib.request.urlopen(url, timeout=300) as answer:
        assert answer.status == 200
        return answer.read().decode("utf-8")


def _page_scripts(soup, sid: str) -> list[tuple]:
    return [(s.get("src"), (s.string or "").replace(sid, "ID")) for s in soup.find_all("script")]


@pytest.mark.parametrize("student", ["correct", "fouineur", "injecteur", "demesure"])
def test_formgrader_shows_every_submission_without_active_content(course, formgrader, student):
    html = formgrader_page(course, formgrader, student)
    soup = BeautifulSoup(html, "html.parser")
    csp = soup.head.find(True)
    assert csp.name == "meta" and csp.get("http-equiv") == "Content-Security-Policy", str(soup.head)[:500]
    script_src = next(d for d in csp["content"].split(";") if d.strip().startswith("script-src"))
    assert "'unsafe-inline'" not in script_src and "'sha256-" in script_src
    container = soup.find(id="notebook-container")
    assert container is not None and len(container.select("div.cell")) >= 6, html[:2000]
    assert "Tests visibles réussis." in container.get_text()
    assert active_content(container) == []
    # hors des cellules : exactement les scripts du gabarit de nbgrader, comme pour une remise correcte
    reference = BeautifulSoup(formgrader_page(course, formgrader, "correct"), "html.parser")
    assert _page_scripts(soup, submission_id(course, student)) == _page_scripts(
        reference, submission_id(course, "correct"))


# --------------------------------------------------------------------------- navigateur

@pytest.fixture(scope="module")
def browser():
    pytest.importorskip("playwright.sync_api", reason="Playwright pour Python manque (pip install playwright)")
    from playwright.sync_api import sync_playwright
    from test_browser import CHROMIUM_ARGS, ensure_chromium

    executable = ensure_chromium()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


# La machine de test n'a pas de réseau : le MathJax du CDN (dont formgrade.js se sert au démarrage) est remplacé
# par un bouchon, pour que les scripts du formgrader lui-même s'initialisent comme chez l'enseignant.
MATHJAX_STUB = ("window.MathJax = {Hub: {Queue: function () {}, Config: function () {}, Startup: {signal: "
                "{Interest: function (f) { setTimeout(function () { f('End'); }, 0); }}}}};")


# Un script en ligne ajouté à la page (comme s'il avait échappé à l'assainissement) : la CSP doit le bloquer.
INJECT = ("() => { const s = document.createElement('script'); s.textContent = 'window.__csp = 1'; "
          "document.body.appendChild(s); return window.__csp; }")


def formgrader_tab(browser, formgrader, course, student):
    base, token = formgrader
    context = browser.new_context(viewport={"width": 1300, "height": 900},
                                  extra_http_headers={"Authorization": f"token {token}"})
    page = context.new_page()
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.route("https://cdnjs.cloudflare.com/**", lambda route: route.fulfill(
        status=200, content_type="text/javascript", body=MATHJAX_STUB))
    page.set_default_timeout(60_000)
    page.goto(f"{base}/formgrader/submissions/{submission_id(course, student)}")
    page.locator("#notebook-container div.cell").first.wait_for()
    # les notes automatiques arrivent par l'API du formgrader : ses propres scripts tournent
    page.wait_for_function("() => [...document.querySelectorAll('input.score')].every(i => i.placeholder !== '')")
    return context, page, dialogs


def test_browser_formgrader_shows_the_graded_cells_and_runs_no_student_script(course, formgrader, browser):
    context, page, dialogs = formgrader_tab(browser, formgrader, course, "injecteur")
    assert page.locator("#notebook-container div.cell").count() >= 6
    assert "Tests visibles réussis." in page.locator("#notebook-container").first.inner_text()
    assert "Texte bénin de l'étudiant." in page.locator("#notebook-container").first.inner_text()
    for locator in page.locator("#notebook-container a").all():
        if locator.is_visible():
            locator.click(no_wait_after=True, timeout=2_000)
    page.wait_for_timeout(500)
    assert page.evaluate("() => window.__pwned") is None and dialogs == []
    assert page.evaluate(INJECT) is None, "la CSP du formgrader laisse passer un script en ligne"
    page.locator("span.name-hidden.glyphicon").first.click()         # un onclick de nbgrader, permis par la CSP
    assert page.locator("a.name-shown").first.is_visible()
    context.close()


def test_browser_formgrader_manual_grading_works(course, formgrader, browser):
    """La révision manuelle (ce qu'attend tout signalement « à revoir ») : une note donnée est enregistrée."""
    context, page, _ = formgrader_tab(browser, formgrader, course, "leveur")
    assert page.evaluate("() => document.querySelector('input.score#test_hidden').placeholder") == "0"
    panel = page.locator(".nbgrader_cell", has=page.locator("input.score#test_hidden"))
    with page.expect_response(lambda r: "/formgrader/api/grade/" in r.url and r.request.method == "PUT") as saved:
        panel.locator("button.full-credit").click()
    assert saved.value.status == 200
    context.close()
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        grade = gradebook.find_grade("test_hidden", TP, TP, "leveur")
        assert grade.manual_score == 2 and grade.auto_score == 0


@pytest.mark.parametrize("student", ["injecteur", "fouineur"])
def test_browser_feedback_runs_no_student_script(course, browser, student):
    page = browser.new_page()
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto((course / "feedback" / student / TP / f"{TP}.html").as_uri())
    page.locator("div.cell").first.wait_for()
    page.wait_for_timeout(500)
    assert page.evaluate("() => window.__pwned") is None and dialogs == []
    assert page.evaluate(INJECT) is None, "la CSP du retour laisse passer un script en ligne"
    page.close()
