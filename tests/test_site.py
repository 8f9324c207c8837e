"""Le site du cours (``make site``), construit au profil ``ci`` : notebooks exécutés sans erreur, liens
internes résolus, plan du cours magistral, énoncés des TP, et rien de ce qui est à l'enseignant."""

from __future__ import annotations

import html
import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from leak_check import readable, secret_lines

from course_grading import site, student_kit

ROOT = Path(__file__).resolve().parent.parent


class Links(HTMLParser):
    """Les liens (href, src) et les identifiants d'une page."""

    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.images = 0

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        for name in ("href", "src"):
            if values.get(name):
                self.links.append(values[name])
        for name in ("id", "name"):
            if values.get(name):
                self.ids.add(values[name])
        if tag == "img":
            self.images += 1


def parse(page: Path) -> Links:
    parser = Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def page_text(page: Path) -> str:
    """Le texte d'une page HTML : balises ôtées (la coloration syntaxique découpe le code), entités décodées."""
    source = page.read_text(encoding="utf-8", errors="ignore")
    source = re.sub(r"<(script|style)\b.*?</\1>", "", source, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", source))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    # Au profil ci, chaque cellule prend quelques secondes : un noyau qui ne répond plus est relancé sans
    # attendre la demi-heure par défaut.
    before = os.environ.get("COURSE_SITE_CELL_TIMEOUT")
    os.environ["COURSE_SITE_CELL_TIMEOUT"] = "300"
    try:
        index = site.build_site(out, profile="ci", quiet=True)
    finally:
        if before is None:
            os.environ.pop("COURSE_SITE_CELL_TIMEOUT")
        else:
            os.environ["COURSE_SITE_CELL_TIMEOUT"] = before
    return out, index


def test_plan_names_every_notebook_and_assignment_once():
    site.check_plan()
    planned = [name for part in site.LECTURE_PLAN for name in part.notebooks]
    assert planned == sorted(planned), "le plan suit l'ordre des notebooks (celui du cours magistral)"
    assert [part.assignment for part in site.LECTURE_PLAN] == [f"TP{i}" for i in range(len(site.LECTURE_PLAN))]


@pytest.mark.slow
def test_every_lecture_notebook_ran_without_error(built):
    out, _ = built
    executed = sorted((out / "executed").glob("*.ipynb"))
    assert [p.name for p in executed] == sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    for path in executed:
        notebook = json.loads(path.read_text(encoding="utf-8"))
        code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code" and "".join(cell["source"]).strip()]
        assert code and all(cell.get("execution_count") for cell in code), f"{path.name} : cellules non exécutées"
        errors = [o for cell in code for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, f"{path.name} : {errors[0].get('ename')}: {errors[0].get('evalue')}"
        streams = "".join("".join(o.get("text", "")) for cell in code for o in cell.get("outputs", []))
        assert "Traceback (most recent call last)" not in streams, path.name
    for part in site.LECTURE_PLAN:  # les énoncés des TP sont mis en page tels quels, sans être exécutés
        staged = out / "src" / "tp" / part.assignment / f"{part.assignment}.ipynb"
        released = ROOT / "assignments" / "release" / part.assignment / f"{part.assignment}.ipynb"
        assert staged.read_bytes() == released.read_bytes()


@pytest.mark.slow
def test_every_internal_link_resolves(built):
    out, _ = built
    html_root = out / "html"
    # les pages du site (les thèmes copient aussi des gabarits Jinja en .html dans _static/)
    pages = sorted(p for p in html_root.rglob("*.html") if "_static" not in p.relative_to(html_root).parts)
    ids = {page: parse(page).ids for page in pages}
    broken = []
    checked = 0
    for page in pages:
        for link in parse(page).links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("mailto:", "javascript:", "data:")):
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file() or not target.is_relative_to(html_root.resolve()):
                broken.append(f"{page.relative_to(html_root)} -> {link}")
                continue
            if parts.fragment and target.suffix == ".html":
                anchors = ids.get(target) or parse(target).ids
                if unquote(parts.fragment) not in anchors:
                    broken.append(f"{page.relative_to(html_root)} -> {link} (ancre absente)")
            checked += 1
    assert not broken, "liens internes cassés :\n" + "\n".join(broken[:30])
    assert checked > 100


@pytest.mark.slow
def test_home_page_follows_the_lecture_and_links_to_the_assignments(built):
    out, index = built
    text = page_text(index)
    assert "Plan du cours" in text and "profil « ci »" in text
    positions = [text.index(part.title) for part in site.LECTURE_PLAN]
    assert positions == sorted(positions)
    links = parse(index).links
    expected = [f"notebooks/{name}.html" for part in site.LECTURE_PLAN for name in part.notebooks]
    found = [link for link in links if link in expected]
    assert list(dict.fromkeys(found)) == expected, "la page d'accueil suit l'ordre du cours magistral"
    for part in site.LECTURE_PLAN:
        assert f"tp/{part.assignment}/{part.assignment}.html" in links
        download = [link for link in links if link.startswith("_downloads/") and
                    link.endswith(f"/{part.assignment}.ipynb")]
        assert download, part.assignment
        released = ROOT / "assignments" / "release" / part.assignment / f"{part.assignment}.ipynb"
        assert (out / "html" / download[0]).read_bytes() == released.read_bytes()
    for name in (n for part in site.LECTURE_PLAN for n in part.notebooks):
        page = parse(out / "html" / "notebooks" / f"{name}.html")
        assert page.images >= 1, f"{name} : aucune figure"


@pytest.mark.slow
def test_site_holds_no_solution_hidden_test_or_answer_key(built):
    out, _ = built
    secrets = secret_lines()
    answer_keys = {line.strip() for path in (ROOT / "instructor").rglob("*") if path.is_file()
                   for line in path.read_text(encoding="utf-8", errors="ignore").splitlines()
                   if len(line.strip()) >= 30} if (ROOT / "instructor").is_dir() else set()
    answer_keys -= {line.strip() for path in (ROOT / "notebooks").glob("*.ipynb")  # ce que le cours dit déjà
                    for line in readable(path).splitlines()}
    for path in (out / "html").rglob("*"):
        relative = path.relative_to(out / "html").as_posix()
        assert not re.search(r"(^|/)(instructor|solutions|source|corriges)(/|$)", relative), relative
        if not path.is_file() or path.suffix not in {".html", ".ipynb", ".txt", ".md", ".py", ".js"}:
            continue
        text = page_text(path) if path.suffix == ".html" else path.read_text(encoding="utf-8", errors="ignore")
        if path.suffix == ".ipynb":
            text = "\n".join("".join(cell["source"]) for cell in json.loads(text)["cells"])
        for marker in student_kit.FORBIDDEN_MARKERS:
            assert marker not in text, (relative, marker)
        lines = {line.strip() for line in text.splitlines()}
        assert not secrets & lines, f"{relative} : lignes de solution {sorted(secrets & lines)[:3]}"
        assert not answer_keys & lines, f"{relative} : lignes de corrigé {sorted(answer_keys & lines)[:3]}"
