"""Le cours dans un vrai navigateur : JupyterLab piloté par Playwright et le Chromium de Debian.

- le notebook 00 s'exécute en entier sans erreur ; le curseur σ de la « matière noire » s'affiche et,
  quand on le déplace, la figure change ;
- dans la version étudiante du TP0, le bouton **Validate** de nbgrader rend son verdict (ici : les
  fonctions ne sont pas écrites, la validation échoue en le disant) ;
- un notebook de cours s'ouvre en diapositives (jupyterlab-rise, reveal.js) et avance d'une diapositive.

Les captures d'écran sont rangées dans ``artifacts/browser/`` (ignoré par git). Chromium est installé
par ``apt-get`` s'il manque ; le test n'est sauté que si c'est impossible (la raison est donnée).
JupyterLab tourne sur 127.0.0.1 avec un jeton, dans un dossier temporaire, avec des réglages temporaires.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from local_server import local_jupyter

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts" / "browser"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-dev-shm-usage"]


def ensure_chromium() -> str:
    """Installe le Chromium de Debian s'il manque ; sinon saute le test en disant pourquoi."""
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        pytest.skip("Chromium absent et impossible à installer ici (ni apt-get, ni droits root).")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    log = []
    for command in (["apt-get", "install", "-y", "chromium"], ["apt-get", "update"],
                    ["apt-get", "install", "-y", "chromium"]):
        result = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)
        log.append(result.stdout[-1000:] + result.stderr[-1000:])
        if command[1] == "install" and result.returncode == 0 and os.path.exists(CHROMIUM):
            return CHROMIUM
    pytest.skip("Chromium ne peut pas être installé par apt-get : " + log[-1].strip()[-300:])


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """Un serveur JupyterLab dans un dossier temporaire : (url de base, jeton, dossier)."""
    folder = tmp_path_factory.mktemp("lab")
    root, settings = folder / "root", folder / "settings"
    root.mkdir()
    shutil.copy2(ROOT / "notebooks" / "00_introduction.ipynb", root / "00_introduction.ipynb")
    shutil.copytree(ROOT / "assignments" / "release" / "TP0", root / "TP0")
    # Le bouton Validate lit la configuration nbgrader du dossier du serveur : un délai par cellule
    # large, pour qu'une machine chargée ne change pas le verdict.
    (root / "nbgrader_config.py").write_text("c = get_config()\nc.Execute.timeout = 300\n", encoding="utf-8")
    # Réglages de JupyterLab : toutes les cellules dans la page (pas de fenêtrage), pas de nouvelles en ligne.
    for name, values in {"@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
                         "@jupyterlab/apputils-extension/notification": {"fetchNews": "false",
                                                                          "checkForUpdates": False}}.items():
        path = settings / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values), encoding="utf-8")
    options = [f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={folder / 'workspaces'}",
               "--LabApp.news_url=", "--ServerApp.open_browser=False"]
    with local_jupyter("jupyterlab", root, folder / "jupyterlab.log", options,
                        env={**os.environ, "COURSE_CELL_TIMEOUT": "60"}, timeout=90) as (base, token):
        yield base, token, root


@pytest.fixture(scope="module")
def browser():
    pytest.importorskip("playwright.sync_api", reason="Playwright pour Python manque (pip install playwright)")
    from playwright.sync_api import sync_playwright

    executable = ensure_chromium()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def open_notebook(browser, lab, path: str):
    base, token, _ = lab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    page.goto(f"{base}/lab/tree/{path}?reset&token={token}")
    page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").first.wait_for()
    # le noyau est prêt quand la barre d'état dit « Idle » (les commandes d'exécution sont alors actives)
    page.locator(".jp-StatusBar-Widget", has_text="Idle").first.wait_for(timeout=120_000)
    return page


def run_all_cells(page) -> None:
    """Menu Run → Run All Cells, puis attente que chaque cellule de code ait son numéro d'exécution."""
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    try:
        page.wait_for_function(ALL_EXECUTED, timeout=240_000)
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "echec_execution.png"))
        raise


ALL_EXECUTED = """() => {
  const prompts = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')];
  return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
}"""


def test_intro_notebook_runs_and_its_slider_changes_the_figure(browser, lab):
    page = open_notebook(browser, lab, "00_introduction.ipynb")
    run_all_cells(page)
    page.screenshot(path=str(ARTIFACTS / "00_introduction_executed.png"))

    outputs = page.locator(".jp-OutputArea-output").all_inner_texts()
    tracebacks = [text[:300] for text in outputs if "Traceback" in text or "Error:" in text]
    assert not tracebacks, f"erreurs dans le notebook : {tracebacks}"
    page.keyboard.press("Control+s")
    _, _, root = lab
    deadline, errors = time.monotonic() + 30, None
    while time.monotonic() < deadline:
        saved = json.loads((root / "00_introduction.ipynb").read_text(encoding="utf-8"))
        code = [c for c in saved["cells"] if c["cell_type"] == "code"]
        if all(c.get("execution_count") for c in code):
            errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
            break
        time.sleep(0.5)
    assert errors == [], f"sorties d'erreur enregistrées : {errors}"

    slider = page.locator(".widget-slider", has=page.locator(".widget-label", has_text="σ")).first
    slider.scroll_into_view_if_needed()
    interact = page.locator(".widget-interact", has=slider).first
    figure = interact.locator(".widget-output img").first
    figure.wait_for()
    readout, before = slider.locator(".widget-readout").inner_text(), figure.get_attribute("src")
    interact.screenshot(path=str(ARTIFACTS / "00_matiere_noire_avant.png"))
    handle = slider.locator(".noUi-handle").first
    handle.focus()
    handle.press("ArrowRight")
    handle.press("ArrowRight")
    page.wait_for_function("([el, old]) => el.textContent.trim() !== old",
                           arg=[slider.locator(".widget-readout").element_handle(), readout])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        images = interact.locator(".widget-output img")
        after = images.first.get_attribute("src") if images.count() else None
        if after and after != before:
            break
        time.sleep(0.25)
    interact.screenshot(path=str(ARTIFACTS / "00_matiere_noire_apres.png"))
    assert float(slider.locator(".widget-readout").inner_text().replace(",", ".")) > float(readout.replace(",", "."))
    assert after and after != before, "la figure n'a pas changé quand le curseur σ a bougé"
    page.close()


def test_validate_button_of_the_tp0_release(browser, lab):
    page = open_notebook(browser, lab, "TP0/TP0.ipynb")
    button = page.locator(".validate-button").first
    button.wait_for()
    button.click()
    dialog = page.locator(".jp-Dialog", has_text="Validation Results")
    dialog.wait_for(timeout=240_000)
    page.screenshot(path=str(ARTIFACTS / "TP0_validate.png"))
    text = dialog.inner_text()
    assert "The following cell failed" in text and "NotImplementedError" in text, text[:2000]
    assert dialog.locator(".validation-failed").count() == 1
    page.close()


def with_slide_metadata(source: Path, target: Path) -> int:
    """Copie un notebook de cours en complétant les métadonnées de diapositives qui manquent : un titre
    Markdown ouvre une diapositive, le code est un fragment, le reste suit. Retourne le nombre de diapositives."""
    notebook = json.loads(source.read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        text = "".join(cell["source"]).lstrip()
        kind = "slide" if cell["cell_type"] == "markdown" and text.startswith("#") else (
            "fragment" if cell["cell_type"] == "code" else "-")
        cell["metadata"].setdefault("slideshow", {"slide_type": kind})
    target.write_text(json.dumps(notebook, ensure_ascii=False, indent=1), encoding="utf-8")
    return sum(c["metadata"]["slideshow"].get("slide_type") == "slide" for c in notebook["cells"])


def test_lecture_notebook_as_rise_slides(browser, lab):
    base, token, root = lab
    slides = with_slide_metadata(ROOT / "notebooks" / "02_reseaux_de_neurones.ipynb", root / "diapositives.ipynb")
    assert slides >= 2
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.set_default_timeout(90_000)
    page.goto(f"{base}/rise/diapositives.ipynb?token={token}")
    present = page.locator(".reveal .slides > section.present").first
    present.wait_for()
    page.wait_for_function("() => document.querySelector('.reveal .slides > section.present').innerText.trim()")
    assert page.locator(".reveal .slides > section").count() >= 2
    before = present.inner_text()
    page.screenshot(path=str(ARTIFACTS / "rise_diapositive_1.png"))
    # → montre d'abord les fragments de la diapositive, puis passe à la suivante (#/slide-1-0)
    for _ in range(40):
        page.locator(".reveal").first.press("ArrowRight")
        page.wait_for_timeout(150)
        if "#/slide-1" in page.url:
            break
    assert "#/slide-1" in page.url, page.url
    page.wait_for_function(
        "old => { const s = document.querySelector('.reveal .slides > section.present');"
        " return s && s.innerText.trim() && s.innerText !== old; }", arg=before)
    page.wait_for_timeout(1000)  # fin de la transition de reveal.js, pour la capture
    page.screenshot(path=str(ARTIFACTS / "rise_diapositive_2.png"))
    after = page.locator(".reveal .slides > section.present").first.inner_text()
    assert after.strip() and after != before
    page.close()
