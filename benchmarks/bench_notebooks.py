"""Temps de chaque notebook de cours au profil « cpu » : le budget est de 5 minutes sur un portable 2 cœurs.

Chaque notebook est exécuté en entier, comme par un étudiant, par ``python -m course_grading.execution``
(nbclient, comme ``jupyter nbconvert --execute``) dans un processus neuf (``COURSE_PROFILE=cpu``,
``COURSE_DEVICE=cpu``) ; on mesure le temps mural et le temps CPU (utilisateur + système, noyau compris).
La « référence » de chaque ligne est le budget de 5 minutes : un rapport supérieur à 1 veut dire que le
notebook tient dans le budget.

    python benchmarks/bench_notebooks.py            # les notebooks 00 à 07
    python benchmarks/bench_notebooks.py 01 05      # seulement ceux-là
    python benchmarks/run.py notebooks              # la même chose, au format de ``make bench``
    BENCH_NOTEBOOKS=01 python benchmarks/run.py notebooks

En mode rapide (``run.py --quick``, utilisé par la suite de tests), aucun notebook n'est exécuté : ils prennent
plusieurs minutes chacun au profil « cpu ».
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
BUDGET_S = 300.0           # 5 minutes par notebook au profil « cpu » (issue 14)
CELL_TIMEOUT_S = 400       # une cellule de plus de 400 s dépasse à elle seule le budget de 5 minutes


@dataclass
class Timing:
    """Le temps d'exécution d'un notebook."""

    notebook: str
    wall_s: float
    cpu_s: float
    ok: bool
    error: str = ""
    timed_out: bool = False


def lecture_notebooks(selected=None) -> list[Path]:
    """Les notebooks de cours ``00_…`` à ``07_…``, ou ceux dont le numéro (ou le nom) est dans ``selected``."""
    paths = sorted(NOTEBOOKS.glob("0[0-7]_*.ipynb"))
    if not selected:
        return paths
    chosen = [p for p in paths if any(p.name.startswith(s) or p.stem == s for s in selected)]
    unknown = [s for s in selected if not any(p.name.startswith(s) or p.stem == s for p in paths)]
    if unknown:
        raise SystemExit(f"Notebook(s) inconnu(s) : {', '.join(unknown)} ; disponibles : "
                         + ", ".join(p.stem for p in paths))
    return chosen


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_notebook(path: Path, profile: str = "cpu", timeout_s: float = 3600.0,
                  cell_timeout_s: float = CELL_TIMEOUT_S, retries: int = 1) -> Timing:
    """Exécute ``path`` au profil ``profile`` dans un processus neuf ; retourne le temps mural et CPU.

    Le temps CPU est celui des processus enfants (le client et le noyau qu'il lance), utilisateur + système.
    Le notebook exécuté est jeté : la copie versionnée reste sans sorties. Une cellule qui dépasse
    ``cell_timeout_s`` fait échouer l'exécution ; elle est relancée ``retries`` fois, car un noyau peut rester
    bloqué sans rien calculer sur une machine très chargée.
    """
    timing = _time_once(path, profile, timeout_s, cell_timeout_s)
    for _ in range(retries):
        if not timing.timed_out:
            break
        timing = _time_once(path, profile, timeout_s, cell_timeout_s)
    return timing


def _time_once(path: Path, profile: str, timeout_s: float, cell_timeout_s: float) -> Timing:
    env = dict(os.environ, COURSE_PROFILE=profile, COURSE_DEVICE="cpu",
               PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    with tempfile.TemporaryDirectory(prefix="bench-notebook-") as out:
        # course_grading.execution : nbclient dont l'attente de la réponse d'une cellule à widgets ne peut pas
        # manquer son réveil (sinon une cellule de 1 s peut attendre tout le délai), noyau en sockets Unix.
        command = [sys.executable, "-m", "course_grading.execution", str(path), str(Path(out) / path.name),
                   "--timeout", str(int(cell_timeout_s))]
        cpu_before, start = _children_cpu(), time.perf_counter()
        try:
            result = subprocess.run(command, cwd=path.parent, env=env, capture_output=True, text=True,
                                    timeout=timeout_s + 60)
            ok, error, timed_out = result.returncode == 0, "", False
            if not ok:
                lines = result.stderr.strip().splitlines() or ["(aucun message)"]
                error = next((line for line in reversed(lines) if "Error" in line), lines[-1]).strip()
                timed_out = "CellTimeoutError" in result.stderr
        except subprocess.TimeoutExpired:
            ok, error, timed_out = False, f"dépasse {timeout_s:.0f} s", False
        wall = time.perf_counter() - start
        return Timing(path.stem, wall, _children_cpu() - cpu_before, ok, error, timed_out)


def benchmarks(quick: bool):
    """Une ligne par notebook pour ``benchmarks/run.py`` ; rien en mode rapide."""
    from common import Row

    if quick:
        print("notebooks  (non exécutés en mode rapide : plusieurs minutes chacun au profil « cpu »)", flush=True)
        return
    selected = [s for s in os.environ.get("BENCH_NOTEBOOKS", "").replace(",", " ").split() if s]
    for path in lecture_notebooks(selected):
        timing = time_notebook(path)
        note = f"CPU {timing.cpu_s:.0f} s" + ("" if timing.ok else f" ; ÉCHEC : {timing.error}")
        yield Row("notebooks", f"{timing.notebook} (profil cpu)", timing.wall_s, BUDGET_S,
                  "budget de 5 min", note=note)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Temps des notebooks de cours au profil « cpu » (budget : 5 min).")
    parser.add_argument("notebooks", nargs="*", help="numéros ou noms des notebooks (par défaut : 00 à 07)")
    parser.add_argument("--profile", default="cpu", choices=["ci", "cpu", "gpu"], help="profil (défaut : cpu)")
    args = parser.parse_args(argv)
    print(f"{'notebook':<32} {'mural':>9} {'CPU (u+s)':>10}  budget ({BUDGET_S / 60:.0f} min)")
    failures = 0
    for path in lecture_notebooks(args.notebooks):
        t = time_notebook(path, profile=args.profile)
        verdict = ("tient" if t.wall_s <= BUDGET_S else "DÉPASSE") if t.ok else f"ÉCHEC : {t.error}"
        failures += not t.ok
        print(f"{t.notebook:<32} {t.wall_s:>8.1f}s {t.cpu_s:>9.1f}s  {verdict}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
