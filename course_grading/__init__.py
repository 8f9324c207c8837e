"""Correction de toute une classe avec nbgrader, en parallèle et sous garde (``make grade TP=TPn``).

``nbgrader autograde`` corrige les remises l'une après l'autre, sans limite de
mémoire, et un seul notebook fautif peut faire échouer la commande. Ce paquet
garde nbgrader et son carnet de notes (``gradebook.db``) dessous, et ajoute :

- des **processus de correction parallèles** : chacun corrige dans sa propre
  copie du cours, avec **son propre carnet de notes** SQLite ; le processus
  principal, seul à écrire dans le carnet du cours, y **fusionne** chaque
  résultat dès qu'il arrive (jamais deux écrivains sur une même base) ;
- par remise, une **limite de temps** (au-delà, le processus et son noyau sont
  tués et un nouveau processus reprend la file) et une **limite de mémoire**
  (le noyau tourne sous ``setrlimit``, voir :mod:`course_grading.sandbox`) ;
- une **garde** dans le noyau (fichiers hors du dossier de la remise, programmes
  lancés, outils de test remplacés), une sortie bornée et la mort du noyau
  rapportée cellule par cellule (:mod:`course_grading.nbgrader_plugins`) ;
- les fautes : notebook illisible ou absent, temps ou mémoire dépassés, sortie
  démesurée, noyau arrêté, écriture hors du dossier, « monkeypatch » des outils
  de test. L'étudiant reçoit 0 avec un motif clair en français, et sa remise est
  **signalée pour une révision manuelle** (``needs_manual_grade`` dans le carnet,
  visible dans le formgrader) ; les autres sont corrigés normalement ;
- une barre de progression, un fichier CSV des notes, et le **retour HTML en
  français** de chaque étudiant, sans le code des tests cachés ;
- les fichiers de ``submitted/`` ne sont jamais exposés au code corrigé (il
  travaille sur une copie) ; leurs empreintes SHA-256 sont vérifiées avant et
  après, et un fichier modifié ou perdu est restauré depuis la copie.

Utilisation ::

    make grade TP=TP0                          # depuis la racine du dépôt
    python -m course_grading TP0 --workers 4 --timeout 600 --memory 4

    >>> from course_lib import autograde
    >>> report = autograde.grade("TP0")        # doctest: +SKIP
    >>> report.csv_path                        # doctest: +SKIP

Modules : :mod:`~.results` (réglages, résultats), :mod:`~.runner` (la file et les processus),
:mod:`~.worker` (un processus de correction), :mod:`~.workspace` (copies de travail), :mod:`~.faults`
(les fautes), :mod:`~.gradebook` (le carnet du cours), :mod:`~.files` (empreintes, CSV), :mod:`~.cli`.
"""

from .cli import main
from .files import checksums, discover_submissions
from .gradebook import failure_page
from .results import STATUS_OK, STATUS_REVIEW, GradingReport, GradingSettings, SubmissionResult
from .runner import grade

__all__ = ["GradingSettings", "SubmissionResult", "GradingReport", "grade", "discover_submissions",
           "checksums", "failure_page", "main", "STATUS_OK", "STATUS_REVIEW"]
