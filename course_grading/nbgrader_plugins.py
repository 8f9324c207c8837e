"""Préprocesseurs nbgrader du cours : exécution bornée et retour sans tests cachés.

- :class:`LimitedExecute` remplace le préprocesseur ``Execute`` de
  ``nbgrader autograde`` : il borne la quantité de sortie qu'une cellule (et un
  notebook) peut produire, et il survit à la mort du noyau (la cellule fautive
  et les suivantes reçoivent une erreur en français au lieu de faire échouer
  toute la remise) ;
- :class:`HideHiddenTests` (défini dans :mod:`course_grading.feedback`) prépare le
  retour aux étudiants (``nbgrader generate_feedback``) : verdict des tests cachés
  au lieu de leurs sorties, leur code retiré de toutes les sorties ;
- :class:`~course_grading.safe_html.SanitizeNotebook` borne et assainit un notebook
  corrigé (sorties tronquées, HTML nettoyé, JavaScript retiré) ;
- :func:`feedback_template_dirs` : le gabarit HTML du retour, en français.

Ces classes sont branchées dans ``assignments/nbgrader_config.py``.
"""

from __future__ import annotations

import os

from nbclient.exceptions import DeadKernelError
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute
from traitlets import Integer, Unicode

from .feedback import FEEDBACK_TEMPLATE, FeedbackExporter, HideHiddenTests, feedback_template_dirs, redact_traceback
from .safe_html import SanitizeNotebook

__all__ = ["LimitedExecute", "HideHiddenTests", "SanitizeNotebook", "FeedbackExporter", "feedback_template_dirs",
           "redact_traceback", "FEEDBACK_TEMPLATE", "TRUNCATION_TAG", "KERNEL_DIED"]

TRUNCATION_TAG = "[course_lib:sortie-tronquée]"
KERNEL_DIED = "KernelDiedError"
_MiB = 2**20


def _content_size(content: dict) -> int:
    """Taille approximative (en caractères) du contenu d'un message de sortie du noyau."""
    size = len(content.get("text", "") or "")
    for value in (content.get("data") or {}).values():
        size += len(value) if isinstance(value, str) else len(str(value))
    for line in content.get("traceback") or []:
        size += len(line)
    return size


class LimitedExecute(Execute):
    """``Execute`` de nbgrader, borné : taille des sorties, mort du noyau.

    Une cellule qui écrit plus de ``max_cell_output`` caractères (ou un notebook
    plus de ``max_notebook_output``) voit le reste de ses sorties ignoré, avec
    une ligne qui le dit (marquée ``[course_lib:sortie-tronquée]``). Si le noyau
    meurt (``os._exit``, signal, plantage natif), la cellule en cours et les
    suivantes reçoivent une erreur ``KernelDiedError`` au lieu d'interrompre la
    correction : les cellules déjà exécutées gardent leurs points.
    """

    max_cell_output = Integer(5 * _MiB, help="Sortie maximale d'une cellule (caractères).").tag(config=True)
    max_notebook_output = Integer(20 * _MiB, help="Sortie maximale d'un notebook (caractères).").tag(config=True)
    kernel_transport = Unicode("tcp", help="Transport du noyau : « tcp » ou « ipc » (sockets Unix dans le dossier "
                                           "d'exécution de Jupyter, pour un noyau sans réseau).").tag(config=True)

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        if self.kernel_transport == "ipc":
            import secrets

            from jupyter_core.paths import jupyter_runtime_dir

            km.transport = "ipc"
            km.ip = os.path.join(jupyter_runtime_dir(), f"k-{secrets.token_hex(4)}")
        return km

    def preprocess(self, nb, resources=None, km=None):
        self._cell_output: dict[int, int] = {}
        self._notebook_output = 0
        self._truncated: set[int] = set()
        self._dead_at: int | None = None
        self._statuses: dict[int, str] = {}
        nb, resources = super().preprocess(nb, resources, km)
        # le statut de la réponse d'exécution de chaque cellule, pour le verdict (course_grading.proof)
        resources.setdefault("course_grading", {"nonces": {}, "status": {}, "passed": {}})["status"] = self._statuses
        return nb, resources

    async def _check_raise_for_error(self, cell, cell_index, exec_reply):
        if exec_reply is not None:
            self._statuses[cell_index] = exec_reply.get("content", {}).get("status")
        return await super()._check_raise_for_error(cell, cell_index, exec_reply)

    def output(self, outs, msg, display_id, cell_index):
        size = _content_size(msg.get("content", {}))
        used = self._cell_output.get(cell_index, 0)
        if used + size > self.max_cell_output or self._notebook_output + size > self.max_notebook_output:
            if cell_index not in self._truncated:
                self._truncated.add(cell_index)
                limit = min(self.max_cell_output, self.max_notebook_output) / _MiB
                outs.append(new_output("stream", name="stderr", text=(
                    f"\n{TRUNCATION_TAG} Sortie tronquée par la correction : cette cellule (ou ce notebook) "
                    f"a écrit plus que la limite permise ({limit:.0f} Mo) ; le reste est ignoré.\n")))
            return None
        self._cell_output[cell_index] = used + size
        self._notebook_output += size
        return super().output(outs, msg, display_id, cell_index)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if self._dead_at is not None:
            cell.outputs = [self._dead_kernel_output(
                "cette cellule n'a pas été exécutée : le noyau s'était arrêté plus tôt.")]
            return cell, resources
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._dead_at = index
            cell.outputs.append(self._dead_kernel_output(
                "le noyau Python s'est arrêté pendant cette cellule (arrêt forcé, plantage natif ou "
                "mémoire épuisée) ; les cellules suivantes ne sont pas exécutées."))
            return cell, resources

    @staticmethod
    def _dead_kernel_output(message: str):
        return new_output("error", ename=KERNEL_DIED, evalue=message,
                          traceback=[f"{KERNEL_DIED}: {message}"])
