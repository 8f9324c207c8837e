"""Un serveur Jupyter de test : lancé sur 127.0.0.1 avec un jeton, attendu jusqu'à ce qu'il réponde, arrêté
à la fin (partagé par les tests du formgrader et du navigateur)."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def local_jupyter(application: str, root: Path, log_path: Path, options=(), env=None, timeout: float = 120):
    """Lance ``python -m <application>`` (``"jupyter server"`` ou ``"jupyterlab"``) à la racine ``root``.

    Donne ``(adresse, jeton)`` quand ``/api/status`` répond ; échoue avec la fin du journal si le serveur
    s'arrête ou ne répond pas dans le délai. Le serveur est arrêté à la sortie.
    """
    token, port = secrets.token_hex(16), free_port()
    command = [sys.executable, "-m", *application.split(), "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", *options]
    if os.geteuid() == 0:
        command.append("--allow-root")
    base = f"http://127.0.0.1:{port}"
    with open(log_path, "w") as log:
        server = subprocess.Popen(command, cwd=root, stdout=log, stderr=subprocess.STDOUT,
                                  env=os.environ if env is None else env)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5) as answer:
                        if answer.status == 200:
                            break
                except OSError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"« {application} » n'a pas démarré :\n" + Path(log_path).read_text()[-3000:])
                time.sleep(0.5)
            yield base, token
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
