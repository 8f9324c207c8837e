"""Banc d'essai de la correction : ``nbgrader autograde`` en série contre ``course_grading`` en parallèle,
avec et sans l'isolation par bubblewrap.

Soixante remises du TP0 (quelques-unes en mode rapide) : des solutions, des réponses fausses, la version
intacte, et des remises fautives que nbgrader seul sait aussi corriger (boucle infinie arrêtée par le
délai de cellule, erreur de syntaxe, cellules de test modifiées ou supprimées). Les trois corrections
(nbgrader en série, la nôtre isolée, la nôtre sous la seule garde) partent de copies identiques du cours ;
on mesure le temps et le pic de mémoire de tout l'arbre de processus (nbgrader, processus de correction,
noyaux), et on **vérifie que les notes de chaque cellule, pour chaque étudiant, sont identiques** dans les
trois carnets de notes. Deux lignes : notre correction isolée contre nbgrader en série (objectif ≥ 1,8x sur
2 cœurs), et le coût de l'isolation (isolée contre garde seule, objectif ≥ 0,87x, soit au plus 15 % de plus).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import Row

ROOT = Path(__file__).resolve().parent.parent
TP = "TP0"
# Assez large pour qu'une machine chargée ne fasse jamais expirer une cellule normale (les notes doivent
# être identiques d'une correction à l'autre) ; la seule boucle infinie du lot coûte deux délais.
CELL_TIMEOUT = 60


def _load_case():
    sys.path.insert(0, str(ROOT / "tests"))
    import grading_harness as harness
    from test_grading_tp0 import CASE

    return harness, CASE


def _mix(count: int) -> dict[str, dict]:
    """``count`` remises : surtout justes ou fausses, quelques fautives (dans cet ordre de priorité)."""
    harness, case = _load_case()
    base = harness.submissions(case)
    syntax = copy.deepcopy(base["full"])
    for cell in syntax["cells"]:
        if harness.meta(cell).get("grade_id") == "gaussian_blur":
            cell["source"] = "def gaussian_blur(images, sigma)\n    return images\n"
    kinds = ["full", "wrong", "blank", "loop", "edited", "deleted", "syntax", "alias"]
    weights = {"full": 19, "wrong": 15, "blank": 8, "loop": 1, "edited": 5, "deleted": 5, "syntax": 4, "alias": 3}
    if count <= len(kinds):
        chosen = (["full", "wrong", "syntax", "deleted"] + kinds)[:count]
    else:
        chosen = [k for k in kinds for _ in range(weights[k])]
        chosen = (chosen * (count // len(chosen) + 1))[:count]
    notebooks = {**base, "syntax": syntax}
    return {f"{kind}{i:03d}": notebooks[kind] for i, kind in enumerate(chosen)}


def _environment(home: Path) -> dict[str, str]:
    env = os.environ.copy()
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "MPLCONFIGDIR"):
        env[name] = str(home / name.lower())
    env.update(COURSE_PROFILE="ci", COURSE_OFFLINE="1", COURSE_CELL_TIMEOUT=str(CELL_TIMEOUT),
               PYDEVD_DISABLE_FILE_VALIDATION="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def _course(folder: Path, submissions: dict[str, dict], env) -> Path:
    harness, _ = _load_case()
    course = folder / "course"
    (course / "source").mkdir(parents=True)
    shutil.copy2(ROOT / "assignments" / "nbgrader_config.py", course / "nbgrader_config.py")
    shutil.copytree(ROOT / "assignments" / "source" / TP, course / "source" / TP)
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", TP, "--force"], cwd=course, env=env,
                   check=True, capture_output=True)
    for student, notebook in submissions.items():
        harness.write(notebook, course / "submitted" / student / TP / f"{TP}.ipynb")
    return course


def _measure(command: list[str], cwd: Path, env) -> tuple[float, float]:
    """Temps (s) et pic de mémoire résidente (Mio) de tout l'arbre de processus de ``command``."""
    import psutil

    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    peak, done = [0], threading.Event()

    def sample():
        root = psutil.Process(process.pid)
        while not done.is_set():
            try:
                tree = [root] + root.children(recursive=True)
                total = 0
                for p in tree:
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
                peak[0] = max(peak[0], total)
            except psutil.Error:
                pass
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = process.communicate()
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    if process.returncode not in (0, 1):    # nbgrader sort avec 1 quand une remise a échoué (syntaxe...)
        raise RuntimeError(f"« {' '.join(command[:4])} » a échoué :\n{stderr[-3000:]}")
    return seconds, peak[0] / 2**20


def _scores(course: Path) -> dict[str, dict[str, float]]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        result = {}
        for student in sorted(p.name for p in (course / "submitted").iterdir()):
            notebook = gradebook.find_submission_notebook(TP, TP, student)
            result[student] = {g.name: g.score for g in notebook.grades}
    return result


def benchmarks(quick: bool):
    count = 2 if quick else 60
    submissions = _mix(count)
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        tmp = Path(tmp)
        env = _environment(tmp / "home")
        serial_course = _course(tmp / "serial", submissions, env)
        from course_grading.isolation import check_bwrap

        available, why = check_bwrap()
        modes = ("bwrap", "partielle") if available else ("partielle",)
        courses = {}
        for mode in modes:
            courses[mode] = tmp / mode / "course"
            shutil.copytree(serial_course, courses[mode])     # même cours, même carnet de notes de départ

        serial_s, serial_mib = _measure([sys.executable, "-m", "nbgrader", "autograde", TP, "--force"],
                                        serial_course, env)
        measured = {}
        for mode in modes:
            command = [sys.executable, "-m", "course_grading", TP, "--course", str(courses[mode]),
                       "--workers", str(os.cpu_count() or 2), "--no-feedback", "--no-similarity",
                       "--isolation", mode]
            measured[mode] = _measure(command, ROOT, env)
        serial = _scores(serial_course)
        for mode in measured:
            ours = _scores(courses[mode])
            different = {s: (serial[s], ours.get(s)) for s in serial if serial[s] != ours.get(s)}
            if different or set(serial) != set(ours):
                raise AssertionError(f"les notes diffèrent entre nbgrader en série et la correction « {mode} » : "
                                     f"{json.dumps(different, ensure_ascii=False)[:2000]}")
        kinds = sorted({s.rstrip("0123456789") for s in submissions})
        note = f"{count} remises ({', '.join(kinds)}), notes identiques, {os.cpu_count()} cœurs"
        guarded_s, guarded_mib = measured["partielle"]
        if not available:
            yield Row("correction", f"autograde TP0, {count} remises, garde seule", guarded_s, serial_s,
                      "nbgrader autograde en série", guarded_mib, serial_mib,
                      note + f" ; bubblewrap indisponible ({why})")
            return
        isolated_s, isolated_mib = measured["bwrap"]
        yield Row("correction", f"autograde TP0, {count} remises, isolée", isolated_s, serial_s,
                  "nbgrader autograde en série", isolated_mib, serial_mib, note + " ; objectif ≥ 1,8x")
        yield Row("correction", f"coût de l'isolation, {count} remises", isolated_s, guarded_s,
                  "la même correction sous la seule garde", isolated_mib, guarded_mib,
                  "objectif ≥ 0,87x (au plus 15 % de temps en plus)")
