"""Ligne de commande : ``python -m course_grading TPn`` (``make grade TP=TPn``)."""

from __future__ import annotations

import argparse
import sys

from .results import ISOLATION_CHOICES, GradingSettings
from .runner import grade


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_grading",
                                     description="Corrige toutes les remises d'un TP avec nbgrader, en parallèle, "
                                                 "chaque noyau isolé.")
    parser.add_argument("assignment", help="le TP, par exemple TP0")
    parser.add_argument("--course", help="racine du cours nbgrader (défaut : assignments/)")
    parser.add_argument("--workers", type=int, default=0, help="processus en parallèle (défaut : cœurs)")
    parser.add_argument("--timeout", type=float, default=600, help="limite de temps par remise, en s (600)")
    parser.add_argument("--memory", type=float, default=4, help="limite de mémoire du noyau, en Gio (4 ; 0 : aucune)")
    parser.add_argument("--cell-timeout", type=int, help="délai par cellule en s (défaut : nbgrader_config.py)")
    parser.add_argument("--student", action="append", help="ne corriger que cet étudiant (répétable)")
    parser.add_argument("--csv", help="fichier CSV des notes (défaut : <cours>/notes_<TP>.csv)")
    parser.add_argument("--no-feedback", action="store_true", help="ne pas produire les retours HTML")
    parser.add_argument("--keep", action="store_true", help="garder le dossier de travail temporaire")
    parser.add_argument("--isolation", choices=ISOLATION_CHOICES, default="auto",
                        help="auto : bubblewrap s'il fonctionne, sinon la garde seule (dit dans le CSV) ; "
                             "bwrap : l'exiger ; partielle : la garde seule")
    parser.add_argument("--similarity-threshold", type=float, default=0.5,
                        help="seuil du rapport de similarité (0 à 1 ; signale, ne met jamais zéro)")
    parser.add_argument("--no-similarity", action="store_true", help="ne pas produire le rapport de similarité")
    args = parser.parse_args(argv)
    try:
        settings = GradingSettings(workers=args.workers, timeout=args.timeout, memory_gib=args.memory,
                                   cell_timeout=args.cell_timeout, feedback=not args.no_feedback,
                                   keep_workdir=args.keep, isolation=args.isolation,
                                   similarity_threshold=None if args.no_similarity else args.similarity_threshold)
        report = grade(args.assignment, args.course, settings, students=args.student, csv_path=args.csv)
    except (ValueError, TypeError) as error:
        print(f"Erreur : {error}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0
