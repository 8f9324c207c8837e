"""Vérification GPU (`make gpu-check`) : chaque algorithme du cours au profil « gpu », sur CUDA.

Pensé pour une machine GPU prêtée : pas de .venv, le python3 trouvé sur place, le dépôt sur le
PYTHONPATH. Une vérification dont le paquet manque (faiss, PyMaxflow, nbgrader...) est sautée
avec une ligne qui le dit. Chaque fichier `benchmarks/bench_<bloc>.py` peut définir
`gpu_checks(profile)`, qui retourne des couples (nom, fonction) ; une fonction peut retourner un texte
(un débit, un rappel), imprimé au bout de sa ligne.

    python3 benchmarks/gpu_check.py                       # CUDA, profil « gpu »
    python3 benchmarks/gpu_check.py --device cpu --profile ci   # vérifie le script lui-même
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Algorithmes du cours au profil « gpu », sur CUDA.")
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--profile", default="gpu", choices=["ci", "cpu", "gpu"])
    parser.add_argument("blocks", nargs="*", help="blocs à vérifier (par défaut : tous)")
    args = parser.parse_args(argv)
    os.environ["COURSE_PROFILE"] = args.profile
    os.environ["COURSE_DEVICE"] = args.device
    os.environ.setdefault("COURSE_OFFLINE", "1")
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("Aucun GPU CUDA ici : lancez `make gpu-check` sur une machine GPU "
              "(ou `python3 benchmarks/gpu_check.py --device cpu --profile ci` pour tester le script).")
        return 2
    import course_lib

    profile = course_lib.profile()
    cuda = args.device == "cuda"
    name = torch.cuda.get_device_name() if cuda else "CPU"
    print(f"Vérification GPU : {name}, PyTorch {torch.__version__}, profil « {profile.name} »", flush=True)
    names = sorted(p.stem for p in HERE.glob("bench_*.py"))
    if args.blocks:
        names = [n for n in names if n[6:] in args.blocks]
    failures = 0
    total = time.perf_counter()
    for module_name in names:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            print(f"{module_name:<14} ignoré : paquet « {error.name} » absent", flush=True)
            continue
        if not hasattr(module, "gpu_checks"):
            continue
        for label, check in module.gpu_checks(profile):
            if cuda:
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            start = time.perf_counter()
            try:
                note = check()
                if cuda:
                    torch.cuda.synchronize()
            except ModuleNotFoundError as error:
                print(f"{module_name[6:]:<14} {label:<60} ignoré : paquet « {error.name} » absent", flush=True)
                continue
            except Exception:  # noqa: BLE001 - on rapporte et on continue
                failures += 1
                print(f"{module_name[6:]:<14} {label:<60} ÉCHEC", flush=True)
                traceback.print_exc()
                continue
            seconds = time.perf_counter() - start
            memory = f"{torch.cuda.max_memory_allocated() / 2**30:6.2f} Gio" if cuda else "   -"
            print(f"{module_name[6:]:<14} {label:<60} {seconds:8.2f} s  pic {memory}"
                  + (f"  {note}" if isinstance(note, str) else ""), flush=True)
    print(f"Durée totale : {time.perf_counter() - total:.1f} s ; échecs : {failures}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
