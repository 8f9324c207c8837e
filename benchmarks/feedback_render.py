"""Coût du rendu HTML d'un retour : avant (nbconvert tel quel) et après (course_grading) dans la même exécution.

    python benchmarks/feedback_render.py [--quick]

Deux notebooks démesurés, comme ceux de l'issue 16 : une cellule markdown avec un bloc de code de
N Mo, et une sortie de N millions de caractères colorés (codes ANSI). Chaque rendu tourne dans son
propre processus (temps mural du processus, temps du rendu seul, temps CPU user+sys et mémoire
maximale du processus, imports compris, et la part due au rendu : maximum moins la mémoire
après les imports et la construction du notebook). « avant » : ``HTMLExporter`` de nbconvert (gabarit
classic, filtres d'origine, sans assainissement) ; « après » : ``SanitizeNotebook`` puis
``FeedbackExporter`` (gabarit du retour, filtres bornés). Le rendu
« avant » n'est mesuré qu'aux petites tailles (à 4 Mo il coûte des minutes et des gigaoctets).
Ce script ne fait pas partie de ``make bench`` pour cette raison.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r'''
import json, sys, time
import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

kind, size, mode = sys.argv[1], float(sys.argv[2]), sys.argv[3]
if kind == "markdown":
    line = "x = [i ** 2 for i in range(10)]  # un bloc de code colle dans une cellule markdown\n"
    body = line * int(size * 2**20 / len(line))
    cell = new_markdown_cell("Ma reponse :\n\n```python\n" + body + "```\n")
    nb = new_notebook(cells=[cell])
else:
    piece = "\x1b[1;31mERREUR\x1b[0m \x1b[32mligne\x1b[0m \x1b[34m{:07d}\x1b[0m\n"
    count = int(size * 1e6 / len(piece.format(0)))
    text = "".join(piece.format(i) for i in range(count))
    cell = new_code_cell("print(...)", outputs=[new_output("stream", name="stdout", text=text)])
    nb = new_notebook(cells=[cell])
nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
from nbconvert import HTMLExporter
from course_grading.feedback import FeedbackExporter
from course_grading.safe_html import SanitizeNotebook
import resource
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
start, cpu = time.perf_counter(), time.process_time()
if mode == "avant":
    html, _ = HTMLExporter(template_name="classic").from_notebook_node(nb)
else:
    nb, _ = SanitizeNotebook().preprocess(nb, {})
    resources = {"nbgrader": {"notebook": "TP", "score": 0, "max_score": 0, "late_penalty": 0}}
    html, _ = FeedbackExporter().from_notebook_node(nb, resources=resources)
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"render_s": time.perf_counter() - start, "render_cpu_s": time.process_time() - cpu,
                  "html_chars": len(html), "base_mib": base,
                  "cpu_s": usage.ru_utime + usage.ru_stime, "peak_mib": usage.ru_maxrss / 1024}))
'''


def measure(kind: str, size: float, mode: str, timeout: float) -> dict:
    start = time.perf_counter()
    env = {"PYTHONPATH": str(ROOT), "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
           "OMP_NUM_THREADS": "1"}
    try:
        result = subprocess.run([sys.executable, "-c", CHILD, kind, str(size), mode], capture_output=True, text=True,
                                timeout=timeout, env=env)
        outcome = json.loads(result.stdout.strip().splitlines()[-1]) if result.returncode == 0 else {
            "erreur": result.stderr.strip().splitlines()[-1:]}
    except subprocess.TimeoutExpired:
        outcome = {"erreur": f"plus de {timeout:g} s"}
    outcome["wall_s"] = time.perf_counter() - start      # processus entier (imports compris)
    return outcome


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="petites tailles seulement")
    parser.add_argument("--timeout", type=float, default=600.0, help="limite par rendu (s)")
    args = parser.parse_args(argv)
    cases = [("markdown", 0.25, "avant"), ("markdown", 0.5, "avant"), ("markdown", 1.0, "avant"),
             ("markdown", 0.25, "après"), ("markdown", 4.0, "après"), ("ansi", 0.55, "avant"), ("ansi", 1.1, "avant"),
             ("ansi", 2.2, "avant"), ("ansi", 0.55, "après"), ("ansi", 4.4, "après")]
    if args.quick:
        cases = [c for c in cases if c[1] <= 0.55]
    print(f"{'cas':<10} {'taille':>8} {'version':<7} {'mural (s)':>10} {'CPU (s)':>9} {'rendu (s)':>10} "
          f"{'rendu CPU (s)':>14} "
          f"{'mém. max (Mio)':>15} {'dont rendu':>11} {'HTML (car.)':>12}")
    for kind, size, mode in cases:
        r = measure(kind, size, mode, args.timeout)
        unit = "Mo" if kind == "markdown" else "M car."
        render = f"{r['render_s']:.2f}" if "render_s" in r else r.get("erreur", "?")
        print(f"{kind:<10} {size:>5g} {unit:<2} {mode:<7} {r['wall_s']:>10.2f} {r.get('cpu_s', float('nan')):>9.2f} "
              f"{render:>10} {r.get('render_cpu_s', float('nan')):>14.2f} {r.get('peak_mib', float('nan')):>15.0f} "
              f"{r.get('peak_mib', float('nan')) - r.get('base_mib', float('nan')):>11.0f} "
              f"{r.get('html_chars', 0):>12}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
