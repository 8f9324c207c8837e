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
# Après l'enregistrement des notes, SanitizeNotebook borne et assainit le notebook corrigé (sorties tronquées,
# codes ANSI retirés, HTML nettoyé, JavaScript retiré) : le formgrader montre des notebooks sûrs.
# Les préprocesseurs du cours sont nommés par leur chemin d'import : nbconvert les importe au moment de
# s'en servir, si bien que generate_assignment n'a pas besoin de course_grading.
c.Autograde.autograde_preprocessors = [
    "course_grading.nbgrader_plugins.LimitedExecute", IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
    SaveAutoGrades, AssignLatePenalties, CheckCellMetadata, "course_grading.safe_html.SanitizeNotebook",
]

# Retour aux étudiants, en français, par son propre exportateur (le gabarit français ne touche pas l'HTMLExporter
# du formgrader) : tailles bornées et HTML assaini, sorties des tests cachés remplacées par leur verdict et la
# première ligne de leur message d'erreur, leur code retiré de toutes les sorties, une CSP dans la page.
c.GenerateFeedback.exporter_class = "course_grading.feedback.FeedbackExporter"
c.GenerateFeedback.preprocessors = [
    GetGrades, "course_grading.safe_html.SanitizeNotebook", "course_grading.feedback.HideHiddenTests",
    ClearHiddenTests, CSSHTMLHeaderPreprocessor,
]

# Formgrader (HTMLExporter de nbgrader) : son propre gabarit « formgrade », étendu par « formgrade_csp » qui
# n'ajoute qu'une politique de sécurité du contenu (seuls les scripts de nbgrader s'exécutent) ; le HTML des
# sorties et des cellules markdown est assaini, les sorties JavaScript ne sont pas rendues, et les filtres de
# rendu sont bornés (un bloc de code de 4 Mo ou des millions de caractères colorés ne coûtent plus des minutes).
# Le retour aux étudiants garde son gabarit français : FeedbackExporter ne lit pas ces réglages de gabarit.
_course_grading = importlib.util.find_spec("course_grading")
if _course_grading is not None and _course_grading.origin:
    import nbgrader

    c.HTMLExporter.sanitize_html = True
    c.HTMLExporter.filters = {name: f"course_grading.safe_html.{name}"
                              for name in ("markdown2html", "clean_html", "ansi2html", "formgrader_csp")}
    _formgrader_templates = os.path.join(os.path.dirname(nbgrader.__file__), "server_extensions", "formgrader",
                                         "templates")
    c.HTMLExporter.template_name = "formgrade_csp"
    c.HTMLExporter.extra_template_basedirs = [os.path.join(os.path.dirname(_course_grading.origin), "templates"),
                                              _formgrader_templates]
    c.HTMLExporter.extra_template_paths = [_formgrader_templates]     # pour « extends 'formgrade/index.html.j2' »

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
