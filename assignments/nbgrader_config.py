"""Configuration nbgrader du cours « Génération d'images par apprentissage profond ».

Racine du cours : ce dossier. source/TPn contient les versions maîtresses (solutions et tests
cachés) ; release/TPn, les versions étudiantes produites par `make assignments`.
"""

import importlib.util
import os

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    ClearHiddenTests,
    ClearMarkScheme,
    ClearOutput,
    GetGrades,
    IgnorePattern,
    IncludeHeaderFooter,
    LimitOutput,
    LockCells,
    SaveAutoGrades,
)

c = get_config()  # noqa: F821 (fourni par traitlets)

c.CourseDirectory.course_id = "gif-4105-7105-generation"
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", ".DS_Store"]

# Ce que voient les étudiants à la place des solutions.
c.ClearSolutions.code_stub = {"python": "# VOTRE CODE ICI\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "VOTRE RÉPONSE ICI"

# Correction : délai par cellule dimensionné pour le profil « ci » ; au-delà, le noyau est
# interrompu, la cellule reçoit 0 et la correction continue (boucles infinies comprises).
c.Execute.timeout = int(os.environ.get("COURSE_CELL_TIMEOUT", "120"))
c.Execute.interrupt_on_timeout = True
c.Execute.error_on_timeout = {
    "ename": "CellTimeoutError",
    "evalue": "délai dépassé",
    "traceback": [
        "CellTimeoutError : la cellule n'a pas terminé dans le délai imparti "
        f"({c.Execute.timeout} s). Cherchez une boucle infinie ou un calcul trop long."
    ],
}

# Une cellule de test modifiée ou supprimée par l'étudiant est restaurée depuis la source.
c.OverwriteCells.add_missing_cells = True
c.OverwriteCells.missing_cell_notification = (
    "Cette cellule (id : {cell_id}) manquait dans la remise ; elle a été restaurée pour la correction.\n"
)

# Exécution bornée (course_grading.nbgrader_plugins.LimitedExecute, une sous-classe d'Execute : les réglages
# c.Execute.* ci-dessus s'appliquent) : sorties limitées en taille, mort du noyau rapportée cellule par cellule.
# Les préprocesseurs du cours sont nommés par leur chemin d'import : nbconvert les importe au moment de
# s'en servir, si bien que generate_assignment n'a pas besoin de course_grading.
c.Autograde.autograde_preprocessors = [
    "course_grading.nbgrader_plugins.LimitedExecute", IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
    SaveAutoGrades, AssignLatePenalties, CheckCellMetadata,
]

# Retour aux étudiants, en français : sans le code des tests cachés, avec leurs messages d'erreur
# (les lignes de ce code sont retirées des piles d'appels).
c.GenerateFeedback.preprocessors = [GetGrades, "course_grading.nbgrader_plugins.HideHiddenTests", ClearHiddenTests,
                                    CSSHTMLHeaderPreprocessor]
_course_grading = importlib.util.find_spec("course_grading")
if _course_grading is not None and _course_grading.origin:
    c.HTMLExporter.template_name = "feedback_fr"
    c.HTMLExporter.extra_template_basedirs = [os.path.join(os.path.dirname(_course_grading.origin), "templates")]

# Solutions pour les étudiants (dossier solutions/ du dépôt) : ni tests cachés, ni sorties.
c.GenerateSolution.preprocessors = [IncludeHeaderFooter, LockCells, ClearOutput, ClearMarkScheme,
                                    ClearHiddenTests]

# Retards (course_grading.late) : l'heure qui fait foi est celle de l'échange nbgrader ou de la collecte,
# jamais le timestamp.txt écrit par l'étudiant ; l'échéance est celle du carnet de notes
# (nbgrader db assignment add TP0 --duedate="2027-02-01 23:59:00 America/Toronto").
# Politique : "aucune" (défaut), "par_jour" (penalty_per_day de la note par jour commencé) ou "zero".
c.AssignLatePenalties.plugin_class = "course_grading.late.LatePolicy"
c.LatePolicy.policy = "aucune"
c.LatePolicy.penalty_per_day = 0.10
c.LatePolicy.grace_minutes = 5
