"""Rapport de similarité (issue 12, point 5) : de vraies remises dans un cours temporaire.

- le code de course_lib collé (tel quel, ou renommé et reformaté) est signalé, avec le fichier d'origine ;
- deux étudiants dont l'un a recopié l'autre en renommant sont signalés tous les deux ;
- la solution publiée, des solutions réécrites indépendamment (justes : vérifié ici) et la version
  intacte ne le sont pas : le code de l'énoncé ne compte pas ;
- le rapport HTML est en français, classe les paires, surligne le code commun et n'exécute rien ;
- la calibration (seuil et taille minimale) tient sur les six TP.
"""

from __future__ import annotations

import copy
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from bs4 import BeautifulSoup
from similarity_cases import REWRITES, _Renamer, pasted

from course_grading.similarity import DEFAULT_MIN_MATCH, DEFAULT_THRESHOLD, analyse

ROOT = Path(__file__).resolve().parent.parent
TPS = ["TP0", "TP1", "TP2", "TP3", "TP4", "TP5"]


def read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def solution_ids(notebook: dict) -> list[str]:
    return [c["metadata"]["nbgrader"]["grade_id"] for c in notebook["cells"]
            if c["cell_type"] == "code" and c.get("metadata", {}).get("nbgrader", {}).get("solution")]


def with_cells(notebook: dict, answers: dict[str, str]) -> dict:
    notebook = copy.deepcopy(notebook)
    for cell in notebook["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell["source"] = answers[grade_id]
    return notebook


def make_course(folder: Path, tps: list[str]) -> Path:
    course = folder / "course"
    for tp in tps:
        shutil.copytree(ROOT / "assignments" / "source" / tp, course / "source" / tp)
        shutil.copytree(ROOT / "assignments" / "release" / tp, course / "release" / tp)
    return course


def submit(course: Path, student: str, tp: str, notebook) -> None:
    folder = course / "submitted" / student / tp
    folder.mkdir(parents=True, exist_ok=True)
    text = notebook if isinstance(notebook, str) else json.dumps(notebook, ensure_ascii=False, indent=1)
    (folder / f"{tp}.ipynb").write_text(text, encoding="utf-8")


def renamed(code: str) -> str:
    """Le même code, chaque identifiant local renommé, reformaté par ast.unparse (ni commentaires ni docstrings)."""
    import ast

    tree = ast.parse(code)
    _Renamer(keep={"torch", "F", "math", "np", "srgb_to_linear", "gaussian_kernel1d", "rgb_to_lab",
                   "gaussian_blur"}).visit(tree)
    return ast.unparse(tree) + "\n"


# Une étudiante écrit ces deux fonctions à sa façon ; un camarade les recopie en renommant tout.
ALICE = {
    "rgb_to_lab": '''def rgb_to_lab(images):
    # ma version : la matrice ligne par ligne, puis f(t) par morceaux
    x = srgb_to_linear(images.to(torch.float64))
    red, green, blue = x[..., 0, :, :], x[..., 1, :, :], x[..., 2, :, :]
    big_x = (0.412453 * red + 0.357580 * green + 0.180423 * blue) / 0.95047
    big_y = (0.212671 * red + 0.715160 * green + 0.072169 * blue) / 1.0
    big_z = (0.019334 * red + 0.119193 * green + 0.950227 * blue) / 1.08883
    pieces = []
    for channel in (big_x, big_y, big_z):
        linear_part = 7.787 * channel + 16.0 / 116.0
        cubic_part = channel.clamp(min=0.008856) ** (1.0 / 3.0)
        pieces.append(torch.where(channel > 0.008856, cubic_part, linear_part))
    fx, fy, fz = pieces
    result = torch.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], dim=-3)
    return result.to(images.dtype)
''',
    "gaussian_blur": '''def gaussian_blur(images, sigma):
    # deux passes : lignes puis colonnes, un noyau par canal
    squeeze = images.dim() == 3
    batch = images.unsqueeze(0) if squeeze else images
    kernel = gaussian_kernel1d(sigma).to(batch.device, batch.dtype)
    size = kernel.numel()
    half = size // 2
    nchan = batch.shape[1]
    rows = kernel.view(1, 1, 1, size).expand(nchan, 1, 1, size)
    cols = kernel.view(1, 1, size, 1).expand(nchan, 1, size, 1)
    padded = F.pad(batch, (half, half, half, half), mode="reflect")
    blurred = F.conv2d(F.conv2d(padded, rows, groups=nchan), cols, groups=nchan)
    if squeeze:
        blurred = blurred.squeeze(0)
    return blurred
''',
}

HOSTILE = '''def rgb_to_gray(images):
    note = "</pre><script>window.__pwned = 1</script><img src=x onerror='window.__pwned = 2'>"
    # </mark></pre><iframe src="javascript:window.__pwned = 3"></iframe>
    return images.mean(dim=-3, keepdim=True)
'''


@pytest.fixture(scope="module")
def tp0(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("similarite"), ["TP0"])
    release = read(ROOT / "assignments" / "release" / "TP0" / "TP0.ipynb")
    solution = read(ROOT / "solutions" / "TP0" / "TP0.ipynb")
    ids = solution_ids(solution)
    submit(course, "solution", "TP0", solution)
    for k in range(2):
        submit(course, f"reecrit{k + 1}", "TP0", with_cells(release, {g: REWRITES["TP0"][g][k] for g in ids}))
    submit(course, "colle", "TP0", with_cells(release, {g: pasted(g)[0] for g in ids}))
    submit(course, "colle_renomme", "TP0", with_cells(release, {g: pasted(g, rename=True)[0]
                                                                 for g in ("rgb_to_lab", "gaussian_blur")}))
    submit(course, "alice", "TP0", with_cells(release, ALICE))
    submit(course, "bob", "TP0", with_cells(release, {g: renamed(code) for g, code in ALICE.items()}))
    submit(course, "intacte", "TP0", release)
    submit(course, "hostile", "TP0", with_cells(release, {"rgb_to_gray": HOSTILE + "\n" + pasted("rgb_to_gray")[0]}))
    submit(course, "illisible", "TP0", '{"cells": [ pas du json')
    return course, analyse(course, "TP0")


def test_pasted_course_lib_code_is_flagged_with_its_file(tp0):
    _, report = tp0
    reasons = report.flagged["colle"]
    for cell, file in [("rgb_to_gray", "images.py"), ("srgb_to_linear", "images.py"), ("rgb_to_lab", "images.py"),
                       ("gaussian_kernel1d", "filters.py"), ("gaussian_blur", "filters.py")]:
        assert any(r.endswith(f"du code de {cell} correspond à course_lib/{file}") for r in reasons), (cell, reasons)
    renamed_reasons = report.flagged["colle_renomme"]
    assert any("rgb_to_lab correspond à course_lib/images.py" in r for r in renamed_reasons), renamed_reasons
    assert any("gaussian_blur correspond à course_lib/filters.py" in r for r in renamed_reasons), renamed_reasons
    assert not any("rgb_to_gray" in r for r in renamed_reasons)
    percent = int(renamed_reasons[0].split(" %")[0])
    assert 100 * DEFAULT_THRESHOLD <= percent <= 100


def test_copy_between_classmates_flags_both(tp0):
    _, report = tp0
    assert any("correspond à celui de bob" in r for r in report.flagged["alice"]), report.flagged.get("alice")
    assert any("correspond à celui de alice" in r for r in report.flagged["bob"]), report.flagged.get("bob")
    assert not any("course_lib" in r for r in report.flagged["alice"] + report.flagged["bob"])


def test_independent_solutions_and_statement_code_are_not_flagged(tp0):
    _, report = tp0
    for student in ("solution", "reecrit1", "reecrit2", "intacte"):
        assert student not in report.flagged, (student, report.flagged.get(student))
    assert set(report.problems) == {"illisible"} and "illisible" not in report.flagged


def test_pairs_are_ranked_flagged_first(tp0):
    _, report = tp0
    flags = [p.flagged for p in report.pairs]
    assert flags == sorted(flags, reverse=True) and flags[0]
    top = [p for p in report.pairs if p.flagged]
    scores = [max(p.score, max(m.source_similarity for m in p.matches)) for p in top]
    assert scores == sorted(scores, reverse=True)
    assert {p.kind for p in top} == {"course_lib", "classe"}


def test_html_report_is_french_escaped_and_highlighted(tp0, tmp_path):
    _, report = tp0
    path = report.write_html(tmp_path / "rapport.html")
    html = path.read_text(encoding="utf-8")
    soup = BeautifulSoup(html, "html.parser")
    assert soup.html["lang"] == "fr" and "Rapport de similarité — TP0" in html
    assert "Remises signalées" in html and "Paires classées" in html and "révision manuelle" in html
    assert soup.find_all(["script", "iframe", "img", "form", "object", "embed"]) == []
    assert not [a for t in soup.find_all(True) for a in t.attrs if a.lower().startswith("on")]
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in html       # le code de l'étudiant, échappé
    marks = soup.find_all("mark")
    assert marks and any("srgb_to_linear" in m.get_text() or "torch.where" in m.get_text() for m in marks)
    csp = soup.find("meta", attrs={"http-equiv": "Content-Security-Policy"})["content"]
    assert "script-src 'none'" in csp


def test_threshold_and_students_are_settings(tp0):
    course, report = tp0
    strict = analyse(course, "TP0", threshold=1.0)
    assert len(strict.flagged) < len(report.flagged)
    only = analyse(course, "TP0", students=["bob"])
    assert list(only.flagged) == ["bob"] and any("alice" in r for r in only.flagged["bob"])


def test_bad_arguments_get_french_messages(tp0):
    course, _ = tp0
    with pytest.raises(ValueError, match="« assignment » doit être un TP"):
        analyse(course, "TP9")
    with pytest.raises(ValueError, match="« threshold »"):
        analyse(course, "TP0", threshold=1.5)
    with pytest.raises(ValueError, match="sans remise de TP0 : personne"):
        analyse(course, "TP0", students=["personne"])
    with pytest.raises(TypeError, match="« students »"):
        analyse(course, "TP0", students="bob")


def test_command_line_writes_the_default_report(tp0):
    course, _ = tp0
    result = subprocess.run([sys.executable, "-m", "course_grading.similarity", "TP0", "--course", str(course)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert (course / "similarite_TP0.html").is_file()
    assert "signalée(s) pour une révision manuelle" in result.stdout and "colle :" in result.stdout
    bad = subprocess.run([sys.executable, "-m", "course_grading.similarity", "TP9", "--course", str(course)],
                         capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and "Erreur : L'argument « assignment »" in bad.stderr


def test_makefile_has_the_similarity_target():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "\nsimilarity:" in makefile and "course_grading.similarity $(TP)" in makefile


# --------------------------------------------------------------------------- calibration, tous les TP

@pytest.mark.parametrize("tp", TPS)
def test_calibration_pasted_above_independent_below(tp, tmp_path):
    course = make_course(tmp_path, [tp])
    release = read(ROOT / "assignments" / "release" / tp / f"{tp}.ipynb")
    solution = read(ROOT / "solutions" / tp / f"{tp}.ipynb")
    ids = solution_ids(solution)
    pasteable = {}
    for grade_id in ids:
        try:
            pasteable[grade_id] = (pasted(grade_id), pasted(grade_id, rename=True))
        except LookupError:
            pass
    assert pasteable, f"aucune référence de {tp} dans course_lib"
    submit(course, "solution", tp, solution)
    for grade_id, ((exact, _origin), (changed, _)) in pasteable.items():
        submit(course, f"colle-{grade_id}", tp, with_cells(release, {grade_id: exact}))
        submit(course, f"renomme-{grade_id}", tp, with_cells(release, {grade_id: changed}))
    for k in range(2):
        answers = {g: v[k] for g, v in REWRITES.get(tp, {}).items() if len(v) > k}
        if answers:
            submit(course, f"reecrit{k + 1}", tp, with_cells(solution, answers))
    report = analyse(course, tp)
    for grade_id, ((_, origin), _) in pasteable.items():
        for student in (f"colle-{grade_id}", f"renomme-{grade_id}"):
            assert any(f"du code de {grade_id} correspond à {origin}" in r for r in report.flagged.get(student, [])), \
                (student, report.flagged.get(student))
    independent = ["solution"] + [s for s in report.students if s.startswith("reecrit")]
    for student in independent:
        assert student not in report.flagged, (student, report.flagged[student])
    # marge : le plus fort score d'une solution indépendante contre course_lib, sur du code assez long
    worst = max((m.similarity for p in report.pairs for m in p.matches if p.first in independent
                 and m.from_course_lib and m.matched >= DEFAULT_MIN_MATCH), default=0.0)
    assert worst < DEFAULT_THRESHOLD - 0.1


# --------------------------------------------------------------------------- les réécritures sont justes

def _namespace(tp: str, answers: dict[str, str]) -> dict:
    namespace = {"torch": torch, "F": F, "math": math}
    solution = read(ROOT / "solutions" / tp / f"{tp}.ipynb")
    for cell in solution["cells"]:
        if cell["cell_type"] == "code" and cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            grade_id = cell["metadata"]["nbgrader"]["grade_id"]
            exec(answers.get(grade_id, "".join(cell["source"])), namespace)   # noqa: S102 - notre propre code
    return namespace


def _inputs(name: str):
    g = torch.Generator().manual_seed(0)
    rand = lambda *shape: torch.rand(*shape, generator=g)                    # noqa: E731
    randn = lambda *shape: torch.randn(*shape, generator=g)                  # noqa: E731
    table = {
        "rgb_to_gray": [(rand(2, 3, 5, 6),), (rand(3, 5, 6),)],
        "srgb_to_linear": [(rand(50),)],
        "rgb_to_lab": [(rand(2, 3, 4, 5),), (rand(3, 4, 5) * 0.05,)],
        "gaussian_kernel1d": [(0.8,), (1.7,)],
        "gaussian_blur": [(rand(2, 3, 12, 13), 1.3), (rand(3, 12, 13), 0.9)],
        "conv2d": [(randn(2, 3, 7, 8), randn(4, 3, 3, 2), randn(4), 2, 1), (randn(1, 2, 5, 5), randn(3, 2, 3, 3))],
        "softmax": [(randn(4, 5) * 30,)],
        "cross_entropy": [(randn(6, 5) * 10, torch.tensor([0, 4, 2, 2, 1, 3]))],
        "gram_matrix": [(randn(2, 3, 4, 5),)],
        "style_loss": [([randn(1, 3, 4, 4), randn(1, 5, 2, 2)], [randn(1, 3, 3), randn(1, 5, 5)], [0.5, 2.0])],
    }
    return table.get(name)


def _run(name: str, namespace: dict, args):
    if name == "train":
        torch.manual_seed(1)
        model = torch.nn.Linear(4, 3)
        images, labels = torch.randn(20, 4, generator=torch.Generator().manual_seed(2)), torch.arange(20) % 3
        return torch.tensor(namespace["train"](model, images, labels, epochs=2, lr=0.1, batch_size=7, seed=3))
    if name == "optimize":
        init = torch.rand(1, 3, 4, 4, generator=torch.Generator().manual_seed(4))
        return namespace["optimize"](lambda x: ((x - 0.3) ** 2).sum() + x[0, 0].sum(), init, steps=6, lr=0.05)
    return namespace[name](*args)


@pytest.mark.parametrize("tp,name,k", [(tp, name, k) for tp, cells in REWRITES.items() for name, versions in
                                       cells.items() for k in range(len(versions))])
def test_rewrites_are_correct_solutions(tp, name, k):
    reference = _namespace(tp, {})
    rewrite = _namespace(tp, {name: REWRITES[tp][name][k]})
    for args in _inputs(name) or [()]:
        expected = _run(name, reference, copy.deepcopy(args))
        got = _run(name, rewrite, copy.deepcopy(args))
        assert got.shape == expected.shape and got.dtype == expected.dtype, (got.shape, expected.shape)
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
