"""Les outils de l'enseignant : corriger toute une classe avec nbgrader, en parallèle, chaque remise isolée.

Les étudiants n'en ont pas besoin (ils importent ``course_lib``, et ses seuls outils de correction sont les
aides des cellules de test, :mod:`course_lib.grading`). ``nbgrader autograde`` corrige les remises l'une
après l'autre, dans un noyau ordinaire qui peut tout voir et tout écrire, et décide du verdict d'une
cellule de test d'après ce que le noyau affiche. Ce paquet garde nbgrader et son carnet de notes dessous, et :

- **isole chaque noyau** par le système (:mod:`~.isolation`, bubblewrap) : lecture seule de
  l'environnement Python et des paquets du cours, écriture dans une copie privée de la remise seulement,
  rien du cours (sources, autres remises, carnet de notes), pas de réseau, son propre espace de
  processus ; une **garde** dans le noyau (:mod:`~.guard`) refuse ce que le système ne voit pas
  (remplacement des outils de test, machinerie d'IPython, introspection pendant un test) ;
- **décide lui-même du verdict** (:mod:`~.proof`) : une cellule de test n'est réussie que si la preuve
  qu'elle est allée au bout, signée par un secret propre à la remise, est dans sa sortie ;
- corrige **en parallèle**, chaque processus dans sa copie du cours et son propre carnet ; le processus
  principal, seul écrivain du carnet du cours, y recopie chaque résultat ;
- borne **le temps et la mémoire** de chaque remise, et la taille des notebooks et de leurs sorties ;
- signale les **fautes** (notebook illisible ou démesuré, temps ou mémoire dépassés, noyau arrêté, action
  interdite, outils remplacés) : 0, un motif en français et une **révision manuelle** ; les autres
  étudiants sont corrigés normalement, et aucun étudiant n'arrête la correction de la classe ;
- écrit le **CSV** de toute la classe et le journal, toujours, et le **retour HTML en français** de chaque
  étudiant, sans les tests cachés ;
- produit le **rapport de similarité** (:mod:`~.similarity`), qui signale sans jamais mettre zéro ;
- produit les versions étudiantes et les solutions des TP (:mod:`~.assignments`).

Utilisation ::

    make grade TP=TP0                          # depuis la racine du dépôt
    python -m course_grading TP0 --workers 4 --timeout 600 --memory 4

    >>> import course_grading
    >>> report = course_grading.grade("TP0")   # doctest: +SKIP
    >>> report.csv_path                        # doctest: +SKIP
"""

import importlib

__all__ = ["GradingSettings", "SubmissionResult", "GradingReport", "grade", "discover_submissions",
           "checksums", "failure_page", "main", "STATUS_OK", "STATUS_REVIEW"]

# Chargés à la demande : le lanceur du noyau (course_grading.isolation) et le noyau lui-même
# (course_grading.sandbox) n'ont pas à importer nbgrader.
_EXPORTS = {"GradingSettings": "results", "SubmissionResult": "results", "GradingReport": "results",
            "STATUS_OK": "results", "STATUS_REVIEW": "results", "grade": "runner", "main": "cli",
            "discover_submissions": "files", "checksums": "files", "failure_page": "gradebook"}


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'course_grading' has no attribute {name!r}")
