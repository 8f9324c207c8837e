"""Exécuter un notebook de cours de bout en bout (site du cours, banc des notebooks) sans attente perdue.

Avec ipykernel 7 et les widgets (``ipywidgets.interact``), nbclient peut ne pas être réveillé quand la réponse
d'une cellule arrive sur le canal *shell* : il attend alors tout le délai de la cellule, puis lit la réponse qui
était là depuis longtemps (jupyter/nbclient#312). Un notebook de 20 s en prenait 400 au banc, et le site une
demi-heure. :class:`ResponsiveNotebookClient` attend la réponse par tranches d'une seconde : chaque nouvelle
attente regarde d'abord si un message est déjà là. Le délai total par cellule reste celui demandé.

Le noyau parle au client par des sockets Unix dans le dossier de travail (transport ``ipc``) : aucun port TCP
disputé avec les autres noyaux lancés en même temps.

    python -m course_grading.execution NOTEBOOK SORTIE [--timeout S]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from queue import Empty

#: Durée d'une tranche d'attente de la réponse d'une cellule (secondes).
POLL_SLICE_S = 1.0


def sliced_get_msg(get_msg, slice_s: float = POLL_SLICE_S):
    """Enveloppe ``get_msg(timeout=...)`` d'un canal : même contrat, mais attente par tranches de ``slice_s``."""
    from jupyter_core.utils import ensure_async

    async def get(timeout: float | None = None, **kwargs):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = slice_s if deadline is None else min(slice_s, max(0.0, deadline - time.monotonic()))
            try:
                return await ensure_async(get_msg(timeout=left, **kwargs))
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    return get


def client_class():
    """:class:`ResponsiveNotebookClient`, construite à la demande (nbclient n'est importé qu'ici)."""
    from nbclient import NotebookClient

    class ResponsiveNotebookClient(NotebookClient):
        """``NotebookClient`` dont l'attente de la réponse d'une cellule ne peut pas manquer son réveil."""

        async def async_start_new_kernel_client(self):
            client = await super().async_start_new_kernel_client()
            client.shell_channel.get_msg = sliced_get_msg(client.shell_channel.get_msg)
            return client

    return ResponsiveNotebookClient


def execute(notebook: Path, target: Path, env: dict | None = None, timeout: int = 1800,
            workdir: Path | None = None):
    """Exécute ``notebook`` (noyau neuf, transport ipc) et écrit le résultat dans ``target``.

    Le dossier de travail du noyau est ``workdir`` (par défaut un dossier temporaire). Lève les exceptions de
    nbclient : ``CellTimeoutError`` (une cellule dépasse ``timeout`` s), ``CellExecutionError`` (une erreur).
    """
    import nbformat

    content = nbformat.read(notebook, as_version=4)
    with tempfile.TemporaryDirectory(prefix="execution-") as scratch:
        folder = str(workdir) if workdir is not None else scratch
        client = client_class()(content, timeout=timeout, kernel_name="python3", allow_errors=False,
                                resources={"metadata": {"path": folder}})
        client.km = client.create_kernel_manager()
        client.km.transport, client.km.ip = "ipc", os.path.join(scratch, "noyau")
        client.execute(env=env)
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(content, target)
    return content


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Exécute un notebook de bout en bout (noyau neuf).")
    parser.add_argument("notebook", type=Path, help="le notebook à exécuter")
    parser.add_argument("output", type=Path, help="où écrire le notebook exécuté")
    parser.add_argument("--timeout", type=int, default=1800, help="délai par cellule en secondes (défaut : 1800)")
    args = parser.parse_args(argv)
    if not args.notebook.is_file():
        parser.error(f"notebook introuvable : {args.notebook}")
    execute(args.notebook, args.output, env=dict(os.environ), timeout=args.timeout, workdir=args.notebook.parent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
