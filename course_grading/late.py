"""La politique de retard du cours, un greffon de nbgrader (``AssignLatePenalties.plugin_class``).

Le retard se compte à partir de l'heure de remise qui fait foi (celle de l'échange nbgrader ou de la
collecte, :func:`course_grading.files.submission_time`), jamais du ``timestamp.txt`` de l'étudiant, et
de l'échéance du TP dans le carnet de notes (``nbgrader db assignment add TP0 --duedate="…"``).

Dans ``assignments/nbgrader_config.py`` ::

    c.LatePolicy.policy = "par_jour"        # "aucune" (défaut), "par_jour" ou "zero"
    c.LatePolicy.penalty_per_day = 0.10     # par jour de retard commencé, fraction de la note obtenue
    c.LatePolicy.grace_minutes = 5          # délai de grâce (horloges, téléversement)
"""

from __future__ import annotations

import math

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Enum, Float

__all__ = ["LatePolicy", "late_penalty"]


def late_penalty(policy: str, score: float, seconds_late: float, penalty_per_day: float = 0.1,
                 grace_minutes: float = 0.0) -> float:
    """La pénalité (en points) d'un notebook remis ``seconds_late`` secondes après l'échéance.

    ``"aucune"`` : 0 ; ``"zero"`` : toute la note ; ``"par_jour"`` : ``penalty_per_day`` de la note par
    jour de retard commencé, au plus toute la note. Rien pendant le délai de grâce.
    """
    if seconds_late <= grace_minutes * 60 or policy == "aucune" or score <= 0:
        return 0.0
    if policy == "zero":
        return float(score)
    days = math.ceil(seconds_late / 86400)
    return float(min(score, score * penalty_per_day * days))


class LatePolicy(LateSubmissionPlugin):
    """Pénalité de retard réglable : aucune, un pourcentage par jour commencé, ou zéro."""

    policy = Enum(("aucune", "par_jour", "zero"), default_value="aucune",
                  help="Politique de retard : « aucune », « par_jour » ou « zero ».").tag(config=True)
    penalty_per_day = Float(0.10, help="Fraction de la note retirée par jour de retard commencé.").tag(config=True)
    grace_minutes = Float(5.0, help="Délai de grâce après l'échéance, en minutes.").tag(config=True)

    def late_submission_penalty(self, student_id: str, score: float, total_seconds_late: float) -> float:
        penalty = late_penalty(self.policy, score or 0.0, total_seconds_late, self.penalty_per_day,
                               self.grace_minutes)
        self.log.info("Retard de %s : %.0f s, politique « %s », pénalité %.2f point(s)", student_id,
                      total_seconds_late, self.policy, penalty)
        return penalty
