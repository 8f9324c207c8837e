"""Le site HTML du cours (``make site``) : les notebooks exécutés, le plan du cours et les TP.

Sphinx, MyST-NB et le thème sphinx-book-theme (le moteur de Jupyter Book 1, tenu par Executable Books)
construisent un site statique en français :

- la page d'accueil suit l'ordre du cours magistral (:data:`LECTURE_PLAN`) : pour chaque partie, ses
  notebooks et son TP ;
- chaque notebook de cours est **exécuté** par nbclient, dans un noyau neuf (profil choisi par
  ``COURSE_PROFILE``, sinon celui de la machine), avec ses figures ; une erreur dans une cellule fait
  échouer la construction, et Sphinx ne fait que mettre en page les notebooks exécutés ;
- chaque TP est la **version étudiante** de ``assignments/release/`` (énoncé, non exécuté), à lire et à
  télécharger.

Rien d'autre n'est copié : ni ``assignments/source/`` (solutions et tests cachés), ni ``solutions/``, ni
``instructor/`` (corrigés). Jupyter Book 2 n'est pas retenu : il télécharge son thème à chaque
construction, ce qu'un laboratoire sans Internet ne permet pas.

Utilisation ::

    make site                                  # profil de la machine ; COURSE_PROFILE=ci pour aller vite
    python -m course_grading.site --out build/site --jobs 2

Le site est dans ``build/site/html/index.html`` (dossier ignoré par git) ; les notebooks exécutés dans
``build/site/executed/``. ``--reuse`` ne relance pas un notebook dont rien n'a changé (notebook,
``course_lib``, profil, données du cache).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path

__all__ = ["LECTURE_PLAN", "Part", "build_site", "main"]

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Part:
    """Une partie du cours magistral : son titre, ses notebooks (sans ``.ipynb``) et son TP."""

    title: str
    summary: str
    notebooks: tuple[str, ...]
    assignment: str


#: Le plan du cours magistral, dans l'ordre des diapositives.
LECTURE_PLAN: tuple[Part, ...] = (
    Part("L'ère des données visuelles massives",
         "Des milliards de photos, la « matière noire numérique » (Perona 2010) et le défi : s'en servir.",
         ("00_introduction",), "TP0"),
    Part("Compléter une image avec des millions de photos",
         "Diffusion, Efros et Leung, puis la complétion de scènes de Hays et Efros (2007) : gist, appariement "
         "local, coupe de graphe et mélange de Poisson, et la question « combien d'images ? ».",
         ("01_completion_de_scenes",), "TP1"),
    Part("Réseaux de neurones et descente du gradient",
         "De la table de correspondance à la représentation apprise : neurones, ReLU, convolutions, "
         "hiérarchie de couches ; puis apprendre : entropie croisée, gradient, descente stochastique.",
         ("02_reseaux_de_neurones", "03_descente_du_gradient"), "TP2"),
    Part("Synthèse de texture",
         "La texture comme loi conditionnelle : Efros et Leung (1999), le quilting, puis PixelCNN.",
         ("04_synthese_de_texture",), "TP3"),
    Part("Colorisation",
         "Colorful Image Colorization (Zhang, Isola et Efros 2016) : classification sur les cases ab, "
         "rééquilibrage des classes, moyenne recuite.",
         ("05_colorisation",), "TP4"),
    Part("Textures par CNN et transfert de style",
         "Les matrices de Gram des caractéristiques de VGG19 (Gatys et al. 2015, 2016) : synthèse de texture "
         "puis transfert de style.",
         ("06_synthese_texture_cnn", "07_transfert_de_style"), "TP5"),
)


def _title(notebook: Path) -> str:
    """Le premier titre Markdown d'un notebook."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return notebook.stem


def check_plan(root: Path = ROOT) -> None:
    """Vérifie que le plan nomme chaque notebook de cours et chaque TP une fois, et rien d'autre."""
    planned = [name for part in LECTURE_PLAN for name in part.notebooks]
    present = sorted(p.stem for p in (root / "notebooks").glob("*.ipynb"))
    assignments = [part.assignment for part in LECTURE_PLAN]
    released = sorted(p.name for p in (root / "assignments" / "release").iterdir() if p.is_dir())
    problems = []
    if sorted(planned) != present or len(set(planned)) != len(planned):
        problems.append(f"notebooks du plan {sorted(planned)} ≠ notebooks/ {present}")
    if sorted(assignments) != released or len(set(assignments)) != len(assignments):
        problems.append(f"TP du plan {sorted(assignments)} ≠ assignments/release/ {released}")
    if problems:
        raise ValueError("Le plan du site (course_grading.site.LECTURE_PLAN) n'est plus à jour : "
                         + " ; ".join(problems) + ".")


CONF = '''\
# Configuration Sphinx du site du cours, écrite par course_grading.site (ne pas modifier ici).
project = {project!r}
author = "Équipe du cours GIF-4105/7105"
language = "fr"
extensions = ["myst_nb"]
root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
html_theme = "sphinx_book_theme"
html_title = {project!r}
html_last_updated_fmt = ""
html_theme_options = {{
    "show_toc_level": 2,
    "use_download_button": True,
    "use_fullscreen_button": False,
    "home_page_in_toc": True,
    "navigation_with_keys": False,
}}
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3
# Les notebooks de cours arrivent exécutés (course_grading.site.execute_notebooks) ; les TP restent des énoncés.
nb_execution_mode = "off"
nb_merge_streams = True
suppress_warnings = ["myst.header", "mystnb.unknown_mime_type"]
'''


def _index(profile: str, release: Path) -> str:
    lines = [
        "# Génération d'images par apprentissage profond",
        "",
        "*GIF-4105/7105 Photographie algorithmique — d'après le cours de Jean-François Lalonde.*",
        "",
        "Ce site rassemble les notebooks du cours, **exécutés** avec leurs figures, dans l'ordre du cours "
        "magistral, et les énoncés des travaux pratiques. Pour refaire les expériences (curseurs compris), "
        "ouvrez les notebooks dans JupyterLab : `make lab` à la racine de la trousse du cours.",
        "",
        f"Les notebooks ont été exécutés au profil « {profile} » le {date.today().strftime('%d/%m/%Y')} "
        "(profil `ci` : tailles réduites pour aller vite ; `cpu` : un portable ; `gpu` : les tailles des "
        "articles). Chacun dit en une ligne quelles données et quels poids il a utilisés.",
        "",
        "## Plan du cours",
        "",
    ]
    for number, part in enumerate(LECTURE_PLAN, start=1):
        tp = release / part.assignment / f"{part.assignment}.ipynb"
        links = ", ".join(f"[{_title(ROOT / 'notebooks' / f'{name}.ipynb')}](notebooks/{name}.ipynb)"
                          for name in part.notebooks)
        lines += [
            f"{number}. **{part.title}.** {part.summary}",
            f"   - Notebooks : {links}.",
            f"   - Travaux pratiques : [{_title(tp)}](tp/{part.assignment}/{part.assignment}.ipynb) "
            f"(énoncé ; {{download}}`télécharger le notebook <tp/{part.assignment}/{part.assignment}.ipynb>`).",
        ]
    lines += [""]
    for number, part in enumerate(LECTURE_PLAN, start=1):
        entries = [f"notebooks/{name}" for name in part.notebooks] + [f"tp/{part.assignment}/{part.assignment}"]
        lines += ["```{toctree}", ":hidden:", f":caption: {number}. {part.title}", "", *entries, "```", ""]
    return "\n".join(lines)


def _fingerprint(notebook: Path, profile: str, root: Path) -> str:
    """Ce dont dépend l'exécution d'un notebook : son contenu, course_lib, le profil et les données présentes."""
    from course_lib import data

    digest = hashlib.sha256()
    digest.update(notebook.read_bytes())
    for module in sorted((root / "course_lib").rglob("*.py")):
        digest.update(module.relative_to(root).as_posix().encode() + module.read_bytes())
    available = [name for name in data.resource_names() if data.is_available(name)]
    digest.update(json.dumps([profile, os.environ.get("COURSE_DEVICE", ""), available]).encode())
    return digest.hexdigest()


class CellTooLong(RuntimeError):
    """Une cellule a dépassé le délai (calcul trop long, ou noyau qui ne répond plus)."""


def _execute(notebook: Path, target: Path, env: dict, timeout: int) -> float:
    """Exécute un notebook (noyau neuf, dossier de travail temporaire) et l'écrit dans ``target``.

    Lève ``RuntimeError`` (message en français) si une cellule fait une erreur ou dépasse le délai.
    """
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    from .execution import execute

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="site-") as workdir:
        try:
            execute(notebook, target, env=env, timeout=timeout, workdir=Path(workdir))
        except CellTimeoutError as error:
            raise CellTooLong(f"{notebook.name} : une cellule dépasse {timeout} s ({error}).") from None
        except CellExecutionError as error:
            raise RuntimeError(f"{notebook.name} : une cellule a fait une erreur.\n{str(error)[-3000:]}") from None
    return time.monotonic() - started


def execute_notebooks(executed: Path, env: dict, jobs: int = 1, reuse: bool = False, quiet: bool = False,
                      root: Path = ROOT) -> dict[str, float | None]:
    """Exécute chaque notebook de cours dans ``executed/`` ; retourne nom -> durée (``None`` : réutilisé).

    Avec ``reuse``, un notebook déjà exécuté dont rien n'a changé (notebook, course_lib, profil, données du
    cache) n'est pas relancé.
    """
    timeout = int(env.get("COURSE_SITE_CELL_TIMEOUT", "1800"))
    notebooks = sorted((root / "notebooks").glob("*.ipynb"))
    durations: dict[str, float | None] = {}
    todo = []
    for notebook in notebooks:
        target = executed / notebook.name
        stamp = target.with_suffix(".empreinte")
        fingerprint = _fingerprint(notebook, env["COURSE_PROFILE"], root)
        if reuse and target.is_file() and stamp.is_file() and stamp.read_text() == fingerprint:
            durations[notebook.stem] = None
            continue
        stamp.unlink(missing_ok=True)
        todo.append((notebook, target, stamp, fingerprint))

    def run(item):
        notebook, target, stamp, fingerprint = item
        try:
            elapsed = _execute(notebook, target, env, timeout)
        except CellTooLong as error:        # une seule relance, avec un noyau neuf (réponse perdue, machine chargée)
            print(f"  {error} Nouvel essai avec un noyau neuf.", flush=True)
            elapsed = _execute(notebook, target, env, timeout)
        stamp.write_text(fingerprint)
        if not quiet:
            print(f"  {notebook.name} exécuté en {elapsed:.0f} s", flush=True)
        return notebook.stem, elapsed

    if not quiet:
        print(f"Exécution de {len(todo)} notebook(s) au profil « {env['COURSE_PROFILE']} »"
              + (f" ({len(notebooks) - len(todo)} réutilisé(s))" if len(todo) < len(notebooks) else ""), flush=True)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:  # chaque notebook a son propre noyau
        for name, elapsed in pool.map(run, todo):
            durations[name] = elapsed
    return durations


def stage(source: Path, executed: Path, profile: str, root: Path = ROOT) -> Path:
    """Prépare le dossier source du site : notebooks exécutés, TP en version étudiante, accueil, configuration."""
    check_plan(root)
    if source.exists():
        shutil.rmtree(source)
    (source / "notebooks").mkdir(parents=True)
    for notebook in sorted((root / "notebooks").glob("*.ipynb")):
        shutil.copy2(executed / notebook.name, source / "notebooks" / notebook.name)
    release = root / "assignments" / "release"
    for part in LECTURE_PLAN:
        folder = source / "tp" / part.assignment
        folder.mkdir(parents=True)
        shutil.copy2(release / part.assignment / f"{part.assignment}.ipynb", folder)
    (source / "index.md").write_text(_index(profile, release), encoding="utf-8")
    project = "Génération d'images par apprentissage profond"
    (source / "conf.py").write_text(CONF.format(project=project), encoding="utf-8")
    return source


def build_site(out=None, profile: str | None = None, jobs: int = 1, reuse: bool = False,
               quiet: bool = False) -> Path:
    """Exécute les notebooks de cours et construit le site ; retourne le chemin de ``index.html``.

    Paramètres
    ----------
    out : chemin, optionnel
        Dossier de travail (défaut ``build/site`` à la racine du dépôt) : ``executed/`` (notebooks
        exécutés), ``src/`` (sources préparées), ``html/`` (le site), ``doctrees/``.
    profile : str, optionnel
        ``"ci"``, ``"cpu"`` ou ``"gpu"`` ; par défaut ``COURSE_PROFILE``, sinon celui de la machine.
    jobs : int
        Notebooks exécutés en même temps (un noyau chacun).
    reuse : bool
        Ne pas relancer un notebook dont rien n'a changé depuis la dernière construction dans ``out``.

    Lève
    ----
    RuntimeError
        Une cellule a fait une erreur ou la construction a échoué (lien cassé...) : le message le dit.
    """
    out = Path(out) if out is not None else ROOT / "build" / "site"
    env = {}
    if profile is not None:
        env["COURSE_PROFILE"] = profile
    elif os.environ.get("COURSE_PROFILE"):
        env["COURSE_PROFILE"] = os.environ["COURSE_PROFILE"]
    else:
        from course_lib import profile as machine_profile

        env["COURSE_PROFILE"] = machine_profile().name
    # Les noyaux importent la copie de travail, comme ceux des tests.
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    env["COURSE_SITE_CELL_TIMEOUT"] = os.environ.get("COURSE_SITE_CELL_TIMEOUT", "1800")   # délai par cellule (s)
    started = time.monotonic()
    execute_notebooks(out / "executed", {**os.environ, **env}, jobs=jobs, reuse=reuse, quiet=quiet)
    source = stage(out / "src", out / "executed", env["COURSE_PROFILE"])
    html = out / "html"
    if html.exists():
        shutil.rmtree(html)
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-n", "-W", "--keep-going", "-q",
               "-d", str(out / "doctrees"), str(source), str(html)]
    result = subprocess.run(command, env={**os.environ, **env}, cwd=source, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"La construction du site a échoué (sphinx-build, code {result.returncode}) :\n"
                           + (result.stdout + result.stderr)[-6000:])
    if not quiet:
        print(f"Site construit en {time.monotonic() - started:.0f} s au profil « {env['COURSE_PROFILE']} » : "
              f"{html / 'index.html'}")
    return html / "index.html"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_grading.site",
        description="Exécute les notebooks de cours et construit le site HTML du cours (Sphinx, MyST-NB).")
    parser.add_argument("--out", metavar="DOSSIER", help="dossier de travail (défaut : build/site)")
    parser.add_argument("--profile", choices=("ci", "cpu", "gpu"),
                        help="profil des notebooks (défaut : COURSE_PROFILE, sinon celui de la machine)")
    parser.add_argument("--jobs", type=int, default=1, metavar="N", help="notebooks exécutés en même temps")
    parser.add_argument("--reuse", action="store_true",
                        help="ne pas relancer un notebook dont rien n'a changé (notebook, course_lib, profil, données)")
    args = parser.parse_args(argv)
    try:
        build_site(args.out, args.profile, args.jobs, args.reuse)
    except (RuntimeError, ValueError) as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
