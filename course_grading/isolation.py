"""L'isolation de chaque noyau par le système d'exploitation, avec bubblewrap (``bwrap``).

Le ``kernel.json`` du noyau de correction lance ce module ; il prépare la remise et remplace son propre
processus par ``bwrap``, qui démarre le noyau (:mod:`course_grading.sandbox`) dans des espaces de noms à
lui. Dans le noyau isolé :

- **en lecture seule** : le système (``/usr``, ``/etc``…), l'environnement Python, les paquets
  ``course_lib`` et ``course_grading`` et les caches de poids du cours ;
- **en écriture** : une copie privée du dossier de la remise (son dossier de travail, au même chemin) et
  un ``/tmp`` privé ; rien d'autre ;
- **invisible** : la racine du cours (``source/``, ``release/``, les autres remises, le carnet de notes,
  ``autograded/``, ``feedback/``), le dossier personnel, les autres processus ;
- **pas de réseau** (son propre espace réseau) : le noyau parle à la correction par des sockets Unix
  (transport IPC de Jupyter) dans un dossier d'exécution privé ;
- **son propre espace de processus** : quand le noyau s'arrête ou est tué, tout ce qu'il a lancé (un
  ``fork``, un ``setsid``) meurt avec lui.

Où bubblewrap ne peut pas tourner, le noyau démarre sans isolation du système, sous la seule garde
(:mod:`course_grading.guard`) : la correction le dit (« isolation partielle »).

Variables lues par le lanceur : ``COURSE_ISOLATION`` (``bwrap`` ou ``partielle``),
``COURSE_SANDBOX_PRIVATE`` (le dossier privé de la remise), ``COURSE_SANDBOX_READONLY`` (chemins en lecture
seule, séparés par ``os.pathsep``), ``COURSE_SANDBOX_SECRET_FILE``, ``JUPYTER_RUNTIME_DIR``.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
from pathlib import Path

__all__ = ["BWRAP", "ISOLATED", "PARTIAL", "check_bwrap", "readonly_paths", "bwrap_command", "main",
           "how_to_enable"]

BWRAP = "bwrap"
ISOLATED = "bwrap"
PARTIAL = "partielle"
_SYSTEM = ("/usr", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/opt/conda")
_SECRET_IN_SANDBOX = "/run/course/secret"
_LOG_IN_SANDBOX = "/run/course/journal.jsonl"


def how_to_enable() -> str:
    """Une phrase française qui dit comment activer l'isolation."""
    return ("installez bubblewrap (Debian/Ubuntu : « sudo apt-get install bubblewrap » ; Fedora : « sudo dnf "
            "install bubblewrap ») et autorisez les espaces de noms non privilégiés "
            "(sysctl kernel.unprivileged_userns_clone=1), ou lancez la correction en root")


def _base_arguments() -> list[str]:
    return ["--unshare-user-try", "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try", "--die-with-parent", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]


def _system_binds() -> list[str]:
    arguments = []
    for path in _SYSTEM:
        if os.path.islink(path):
            arguments += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            arguments += ["--ro-bind", path, path]
    if os.path.isdir("/sys/devices/system/cpu"):
        arguments += ["--ro-bind", "/sys/devices/system/cpu", "/sys/devices/system/cpu"]
    return arguments


@functools.lru_cache(maxsize=1)
def check_bwrap() -> tuple[bool, str]:
    """``(True, "")`` si bubblewrap isole vraiment un processus ici, sinon ``(False, raison en français)``."""
    executable = shutil.which(BWRAP)
    if executable is None:
        return False, "bubblewrap (bwrap) est introuvable"
    command = [executable, *_base_arguments(), *_system_binds(), "--", "/bin/sh", "-c", "exit 0"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return False, f"bubblewrap ne démarre pas ({error})"
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        detail = detail[-1] if detail else f"code {result.returncode}"
        return False, f"bubblewrap refuse de créer les espaces de noms ({detail})"
    return True, ""


def readonly_paths(extra: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Les chemins que voit le noyau en lecture seule : Python, ses paquets, les paquets du cours.

    Un dossier de ``sys.path`` qui contient ``course_lib`` (la racine du dépôt, en installation
    modifiable) n'est pas montré en entier : seuls ``course_lib`` et ``course_grading`` le sont.
    """
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        value = sysconfig.get_paths().get(key)
        if value:
            paths.add(value)
    package_root = Path(__file__).resolve().parent.parent
    import course_lib

    for package in (Path(course_lib.__file__).resolve().parent, Path(__file__).resolve().parent):
        paths.add(str(package))
    for entry in sys.path:
        if entry and os.path.isdir(entry) and Path(entry).resolve() != package_root and \
                not (Path(entry) / "course_lib").exists() and not (Path(entry) / "assignments").exists():
            paths.add(os.path.realpath(entry))
    paths.update(p for p in extra if p)
    existing = sorted({os.path.realpath(p) for p in paths if os.path.exists(p)})
    # pas de chemin contenu dans un autre déjà monté (sauf les paquets du cours sous la racine du dépôt)
    return [p for p in existing if not any(p != q and p.startswith(q + os.sep) for q in existing)]


def bwrap_command(argv: list[str], workdir: str, private: str, readonly: list[str], runtime: str,
                  secret_fd: int | None = None, environment: dict[str, str] | None = None,
                  writable: list[tuple[str, str]] = ()) -> list[str]:
    """La commande ``bwrap`` qui lance ``argv`` isolé, avec ``private`` monté sur ``workdir``.

    ``writable`` : des paires (chemin hors du bac à sable, chemin dedans) montées en écriture.
    """
    command = [shutil.which(BWRAP) or BWRAP, *_base_arguments(), *_system_binds()]
    for path in readonly:
        if not any(path == s or path.startswith(s + os.sep) for s in _SYSTEM):
            command += ["--ro-bind", path, path]
    command += ["--bind", private, workdir, "--bind", runtime, runtime, "--dir", "/run/course"]
    for outside, inside in writable:
        command += ["--bind", outside, inside]
    command += ["--chdir", workdir]
    if secret_fd is not None:
        command += ["--file", str(secret_fd), _SECRET_IN_SANDBOX]
    for name, value in (environment or {}).items():
        command += ["--setenv", name, value]
    # Dans son espace de processus, le parent du noyau est le processus 1 : ipykernel croirait son parent
    # mort. bwrap (--die-with-parent) arrête déjà le noyau avec le processus de correction.
    command += ["--unsetenv", "JPY_PARENT_PID"]
    return command + ["--", *argv]


def main(argv: list[str] | None = None) -> None:
    """Le lanceur du noyau : copie privée de la remise, secret, puis ``bwrap`` (ou le noyau directement)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    kernel = [sys.executable, "-m", "course_grading.sandbox", *argv]
    mode = os.environ.get("COURSE_ISOLATION", PARTIAL)
    if mode != ISOLATED:
        os.execv(sys.executable, kernel)
    workdir = os.getcwd()
    private = Path(os.environ["COURSE_SANDBOX_PRIVATE"])
    copy = private / "travail"
    shutil.copytree(workdir, copy, symlinks=True, dirs_exist_ok=True)
    runtime = os.environ["JUPYTER_RUNTIME_DIR"]
    readonly = [p for p in os.environ.get("COURSE_SANDBOX_READONLY", "").split(os.pathsep) if p]
    secret_fd = None
    secret_file = os.environ.pop("COURSE_SANDBOX_SECRET_FILE", None)
    if secret_file:
        secret_fd = os.open(secret_file, os.O_RDONLY)
        os.remove(secret_file)
        os.set_inheritable(secret_fd, True)
    environment = {"HOME": "/tmp/home", "TMPDIR": "/tmp", "COURSE_SANDBOX_ALLOW": "/tmp",
                   "COURSE_SANDBOX_SECRET_FILE": _SECRET_IN_SANDBOX, "IPYTHONDIR": "/tmp/ipython",
                   "XDG_CACHE_HOME": "/tmp/cache", "XDG_CONFIG_HOME": "/tmp/config", "MPLCONFIGDIR": "/tmp/matplotlib",
                   "TORCHINDUCTOR_CACHE_DIR": "/tmp/torchinductor", "TRITON_CACHE_DIR": "/tmp/triton"}
    writable = []
    if os.environ.get("MPLCONFIGDIR") and os.path.isdir(os.environ["MPLCONFIGDIR"]):
        writable.append((os.environ["MPLCONFIGDIR"], "/tmp/matplotlib"))   # cache des polices, copie privée
    log = os.environ.get("COURSE_SANDBOX_LOG")
    if log and os.path.isfile(log):
        writable.append((log, _LOG_IN_SANDBOX))
        environment["COURSE_SANDBOX_LOG"] = _LOG_IN_SANDBOX
    if "-f" in argv and argv.index("-f") + 1 < len(argv):
        readonly.append(os.path.abspath(argv[argv.index("-f") + 1]))   # le fichier de connexion du noyau
    command = bwrap_command(kernel, workdir, str(copy), readonly, runtime, secret_fd, environment, writable)
    # L'interruption d'une cellule (délai dépassé) envoie SIGINT à tout le groupe de processus : bwrap doit
    # l'ignorer (sinon il meurt et le noyau avec lui) ; le noyau installe lui-même son gestionnaire.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
