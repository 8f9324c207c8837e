"""Lance tous les bancs d'essai (`make bench`) : `python benchmarks/run.py [--quick] [bloc ...]`.

Chaque fichier `benchmarks/bench_<bloc>.py` définit `benchmarks(quick)`, qui produit des `Row`.
`--quick` réduit les tailles (utilisé par la suite de tests pour vérifier que tout tourne).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from common import HEADER, format_row  # noqa: E402


def modules(selected: list[str]) -> list:
    names = sorted(p.stem for p in HERE.glob("bench_*.py"))
    if selected:
        unknown = [s for s in selected if f"bench_{s}" not in names]
        if unknown:
            raise SystemExit(f"Bloc(s) inconnu(s) : {', '.join(unknown)} ; disponibles : "
                             + ", ".join(n[6:] for n in names))
        names = [f"bench_{s}" for s in selected]
    return [importlib.import_module(name) for name in names]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Bancs d'essai du cours (rapport des temps référence / nous).")
    parser.add_argument("blocks", nargs="*", help="blocs à mesurer (par défaut : tous)")
    parser.add_argument("--quick", action="store_true", help="petites tailles, pour vérifier que tout tourne")
    args = parser.parse_args(argv)
    import torch

    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} fils, "
          f"{'GPU ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'CPU'}"
          + (" — mode rapide" if args.quick else ""))
    print(HEADER)
    print("-" * len(HEADER))
    for module in modules(args.blocks):
        start = time.perf_counter()
        for row in module.benchmarks(args.quick):
            print(format_row(row), flush=True)
        print(f"{'':<10} ({module.__name__} : {time.perf_counter() - start:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
