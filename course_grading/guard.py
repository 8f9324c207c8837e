"""La garde installée dans le noyau qui exécute une remise : un *audit hook* de Python (PEP 578).

Un audit hook ne se retire pas : installé avant le premier code de l'étudiant, il voit jusqu'à la fin
les événements que Python signale (fichiers, programmes, ``fork``, signaux, ``ctypes``, ``gc``, traçage,
introspection des piles et du code, compilation des cellules). La garde :

- refuse les écritures et suppressions hors du dossier de la remise et du dossier privé, les programmes
  lancés, ``os.fork``, les signaux vers d'autres processus ;
- refuse au code du notebook les portes dérobées vers l'intérieur de l'interpréteur : ``ctypes``,
  ``gc.get_objects``/``get_referrers``/``get_referents``, ``sys.settrace``/``sys.setprofile``, un autre
  audit hook ; et, pendant une cellule de test notée, l'introspection des piles d'appels et du code
  (``sys._getframe``, ``tb_frame``, ``f_code``, ``__code__``…) ;
- avant chaque cellule, vérifie que rien de ce qui décide du verdict n'a été remplacé
  (:mod:`course_grading.integrity`), et refuse l'exécution d'une cellule imbriquée dans une autre ;
- émet la **preuve** qu'une cellule de test notée est allée jusqu'au bout : la correction ajoute à la fin
  de chaque cellule de test ``__import__("sys").audit("course_grading.preuve", "<nonce>")`` ; la garde
  vérifie que l'appel vient du code de cette cellule, exécuté au premier niveau par IPython, que rien n'a
  été altéré pendant la cellule, puis écrit ``HMAC(secret, nonce)`` sur la sortie standard. Le secret,
  propre à chaque remise, n'est lu qu'une fois au démarrage du noyau et n'est gardé que par ce hook,
  que le code Python ne peut pas atteindre.

Chaque infraction est consignée (une ligne JSON) dans un journal que lit la correction, hors de portée
du noyau. Le code natif peut tout contourner : c'est pourquoi la correction isole en plus chaque noyau
au niveau du système (:mod:`course_grading.isolation`).
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import json
import os
import re
import sys
import types

from .integrity import Snapshot, is_cell_filename

__all__ = ["Guard", "GuardViolation", "VIOLATION_TAG", "PROOF_EVENT", "PROOF_TAG", "proof_digest", "proof_call"]

VIOLATION_TAG = "[course_grading:garde]"
PROOF_EVENT = "course_grading.preuve"
PROOF_TAG = "[course_grading:preuve"

# Événements d'audit qui modifient le système de fichiers : indices des arguments qui sont des chemins
# (le dernier nombre, s'il existe, est l'indice de l'argument dir_fd).
_PATH_EVENTS = {
    "os.remove": ((0,), 1), "os.rmdir": ((0,), 1), "os.rename": ((0, 1), None),
    "os.truncate": ((0,), None), "os.mkdir": ((0,), 2), "os.chmod": ((0,), 2), "os.chown": ((0,), 3),
    "os.link": ((0, 1), None), "os.symlink": ((1,), 2), "os.utime": ((0,), None),
    "os.setxattr": ((0,), None), "os.removexattr": ((0,), None), "os.chflags": ((0,), None),
    "os.lchflags": ((0,), None), "os.lchmod": ((0,), None), "os.mkfifo": ((0,), 2), "os.mknod": ((0,), 3),
    "shutil.rmtree": ((0,), 1), "shutil.move": ((0, 1), None), "shutil.copyfile": ((1,), None),
    "shutil.copytree": ((1,), None), "shutil.chown": ((0,), None), "shutil.unpack_archive": ((1,), None),
}
# Ces événements agissent sur le lien lui-même : on résout le dossier parent, pas la cible.
_NO_FOLLOW = {"os.remove", "os.rmdir", "os.rename", "os.symlink", "os.link", "shutil.move", "shutil.rmtree"}
_PROCESS_EVENTS = {"os.system", "subprocess.Popen", "os.exec", "os.posix_spawn", "os.spawn", "pty.spawn",
                   "os.startfile"}
# Sondes en lecture seule que lancent des bibliothèques (platform, matplotlib, ctypes.util) : permises.
_HARMLESS_PROGRAMS = {"uname", "fc-list", "fc-match", "ldconfig", "ldconfig.real", "lscpu", "getconf",
                      "nvidia-smi"}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
# Portes vers l'intérieur de l'interpréteur : refusées au code du notebook.
_BACKDOORS = {"gc.get_objects", "gc.get_referrers", "gc.get_referents", "sys.setprofile", "sys.addaudithook",
              "sys._current_frames", "sys._current_exceptions"}
# Introspection des piles et du code : refusée au code du notebook pendant une cellule de test notée.
_INTROSPECTION_ATTRIBUTES = {"tb_frame", "f_code", "gi_frame", "gi_code", "cr_frame", "cr_code", "ag_frame",
                             "ag_code", "__code__"}
# Modules « transparents » : un appel qui passe par eux est attribué au code qui les a appelés.
_TRANSPARENT = ("inspect", "traceback", "linecache", "ctypes", "gc", "functools", "dis", "types", "pdb", "bdb",
                "code", "codeop", "copy", "pickle", "copyreg", "importlib", "stack_data", "executing")
_NONCE = re.compile(r'audit\("' + re.escape(PROOF_EVENT) + r'", "([0-9a-f]{16,64})"\)')


class GuardViolation(PermissionError):
    """Action refusée par la garde de correction (fichier hors du dossier, outil de test remplacé...)."""


def proof_digest(secret: bytes, nonce: str) -> str:
    """La preuve d'une cellule : ``HMAC-SHA256(secret, nonce)``, en hexadécimal (32 caractères)."""
    return hmac.new(secret, nonce.encode("ascii"), hashlib.sha256).hexdigest()[:32]


def proof_call(nonce: str) -> str:
    """La ligne que la correction ajoute à la fin d'une cellule de test notée."""
    return f'__import__("sys").audit("{PROOF_EVENT}", "{nonce}")'


def _harmless_probe(event: str, args: tuple) -> bool:
    """Vrai pour un programme de la liste des sondes inoffensives, lancé sans interpréteur de commandes."""
    if event == "subprocess.Popen" and len(args) > 1:
        executable, argv = args[0], args[1]
        program = executable or (argv[0] if isinstance(argv, (list, tuple)) and argv else argv)
    elif event in ("os.exec", "os.posix_spawn") and args:
        program = args[0]
    else:
        return False
    try:
        return os.path.basename(os.fsdecode(program)) in _HARMLESS_PROGRAMS
    except TypeError:
        return False


_FORK_EXEC_EVENT = "course_grading.fork_exec"


def _refused_fork_exec(*args, **kwargs):
    """Remplace ``_posixsubprocess.fork_exec`` dans le noyau : signale l'appel à la garde, qui le refuse.

    (Sans référence à la garde : son secret ne doit être atteignable depuis aucun objet Python.)
    """
    sys.audit(_FORK_EXEC_EVENT)
    raise GuardViolation(errno.EACCES, f"{VIOLATION_TAG} créer un processus est interdit pendant la correction")


def _under(path: str, roots) -> bool:
    return any(path == root or path.startswith(root + os.sep) for root in roots)


def _module_of(frame) -> str:
    return frame.f_globals.get("__name__", "") if isinstance(frame.f_globals, dict) else ""


class Guard:
    """Garde installée dans le noyau : fichiers, programmes, portes dérobées, intégrité, preuves.

    Paramètres
    ----------
    allowed : liste de chemins
        Dossiers où le code peut écrire ou supprimer (le dossier de la remise, un dossier privé).
    log_path : str, optionnel
        Journal des infractions, ouvert une fois pour toutes.
    secret : bytes, optionnel
        Le secret de la remise, pour les preuves (sans secret, aucune preuve n'est émise).
    reference_modules : tuple de str
        Les modules de ``course_lib`` qu'utilise le TP (retenus dès le départ, comme les outils de test).
    forbidden : liste de chemins
        Dossiers que le noyau ne doit pas même lire (la racine du cours, le dossier de la correction), hors
        des dossiers permis. Isolé par bubblewrap, le noyau ne les voit pas ; la tentative est consignée.
    """

    def __init__(self, allowed, log_path: str | None = None, secret: bytes | None = None,
                 reference_modules: tuple[str, ...] = (), forbidden=()):
        self.allowed = [os.path.realpath(p) for p in allowed if p]
        self.forbidden = [os.path.realpath(p) for p in forbidden if p]
        self._log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600) if log_path else None
        self._secret = secret
        self._references = tuple(reference_modules)
        self._busy = False
        self._active = False
        self.cell_files: set[str] = set()
        self.test_cells: dict[str, str] = {}          # fichier de cellule -> nonce
        self.snapshot = Snapshot(self.cell_files)
        self._ipython_taken = False
        self._run_code = None
        self._cell_incidents = 0
        self._in_test_cell = False
        self.reported: set[str] = set()

    # ------------------------------------------------------------------ journal
    def record(self, kind: str, detail: str) -> None:
        self._cell_incidents += 1
        if self._log_fd is None:
            return
        line = json.dumps({"type": kind, "detail": detail}, ensure_ascii=False) + "\n"
        try:
            os.write(self._log_fd, line.encode("utf-8"))
        except OSError:
            pass

    def _refuse(self, kind: str, detail: str, message: str):
        self.record(kind, detail)
        raise GuardViolation(errno.EACCES, f"{VIOLATION_TAG} {message}")

    # ------------------------------------------------------------------ chemins
    def _resolve(self, path, dir_fd, follow: bool) -> str | None:
        if isinstance(path, int) or path is None:
            return None
        try:
            path = os.fsdecode(path)
        except TypeError:
            return None
        base = os.getcwd()
        if isinstance(dir_fd, int) and dir_fd >= 0:
            try:
                base = os.readlink(f"/proc/self/fd/{dir_fd}")
            except OSError:
                pass
        full = os.path.join(base, path)
        if follow:
            return os.path.realpath(full)
        parent, name = os.path.split(os.path.normpath(full))
        return os.path.join(os.path.realpath(parent), name)

    def inside(self, resolved: str) -> bool:
        """Vrai si le chemin (résolu) est dans un dossier permis."""
        if resolved in ("/dev/null", "/dev/tty"):
            return True
        return _under(resolved, self.allowed)

    def _check_read(self, event: str, path, dir_fd=None) -> None:
        """Lire la racine du cours (sources, autres remises, carnet) ou la mémoire du processus : refusé."""
        resolved = self._resolve(path, dir_fd, True)
        if resolved is None:
            return
        # Un dossier permis ne l'emporte sur un dossier interdit que s'il est dedans (le dossier de la remise,
        # dans celui de la correction) ; un /tmp privé permis n'ouvre pas la racine du cours qui s'y trouve.
        for root in self.forbidden:
            if _under(resolved, [root]) and not any(_under(resolved, [a]) and _under(a, [root])
                                                    for a in self.allowed):
                self._refuse("lecture", f"{event} {resolved}",
                             f"accès refusé au cours ou aux autres remises : {resolved}")
        if resolved.startswith("/proc/") and resolved.endswith("/mem"):
            self._refuse("lecture", f"{event} {resolved}", "lire la mémoire d'un processus est interdit")

    # ------------------------------------------------------------------ qui appelle ?
    def _student_caller(self, frame) -> bool:
        """Vrai si l'événement vient du code d'une cellule de l'étudiant (à travers des modules transparents).

        Le code des cellules de test (celles qui portent une preuve) n'est pas celui de l'étudiant.
        """
        for _ in range(40):
            if frame is None:
                return False
            filename = frame.f_code.co_filename
            if is_cell_filename(filename) or filename in self.cell_files:
                return filename not in self.test_cells
            module = _module_of(frame)
            if not (module == "course_grading.guard" or module.split(".")[0] in _TRANSPARENT):
                return False
            frame = frame.f_back
        return False

    # ------------------------------------------------------------------ audit hook
    def __call__(self, event: str, args: tuple) -> None:
        if not self._active or self._busy:
            return
        self._busy = True
        try:
            self._dispatch(event, args, sys._getframe(1))
        finally:
            self._busy = False

    def _dispatch(self, event: str, args: tuple, caller) -> None:
        if event == "open":
            self._check_open(args)
        elif event in _PATH_EVENTS:
            self._check_path_event(event, args)
        elif event in ("os.listdir", "os.scandir") and args:
            self._check_read(event, args[0])
        elif event == "sqlite3.connect" and args and isinstance(args[0], (str, bytes, os.PathLike)):
            if os.fsdecode(args[0]) not in (":memory:", ""):          # une base SQLite : lecture et écriture
                self._check_open((args[0], "r+", os.O_RDWR))
        elif event in _PROCESS_EVENTS:
            if not _harmless_probe(event, args):
                self._refuse("programme", f"{event} {str(args)[:200]}",
                             f"lancer un programme ({event}) est interdit pendant la correction")
        elif event in ("os.fork", "os.forkpty"):
            self._refuse("programme", event, f"créer un processus ({event}) est interdit pendant la correction")
        elif event in ("os.kill", "os.killpg"):
            target = args[0] if args else None
            if isinstance(target, int) and target not in (0, os.getpid()) and \
                    not (event == "os.killpg" and target == os.getpgid(0)):
                self._refuse("signal", f"{event} vers {target}",
                             f"envoyer un signal à un autre processus ({target}) est interdit pendant la correction")
        elif event.startswith("ctypes."):
            if self._student_caller(caller):
                self._refuse("natif", f"{event} {str(args)[:120]}",
                             f"le code natif ({event}) est interdit pendant la correction")
        elif event == "sys.settrace":
            if args and args[0] is not None and (self._in_test_cell or self._student_caller(caller)):
                self._refuse("introspection", "sys.settrace",
                             "installer un traceur (sys.settrace) est interdit pendant la correction")
        elif event in _BACKDOORS:
            if self._student_caller(caller):
                self._refuse("introspection", event, f"« {event} » est interdit pendant la correction")
        elif event in ("sys._getframe", "object.__getattr__"):
            if self._in_test_cell and (event == "sys._getframe" or
                                       (len(args) > 1 and args[1] in _INTROSPECTION_ATTRIBUTES)) \
                    and self._student_caller(caller):
                what = event if event == "sys._getframe" else f"{type(args[0]).__name__}.{args[1]}"
                self._refuse("introspection", what,
                             f"l'introspection de la pile ou du code ({what}) est interdite pendant un test")
        elif event == "compile":
            # IPython compile une cellule à exécuter (les autres compilations, par exemple celle d'executing
            # qui relit une cellule pour afficher une pile d'appels, ne sont pas des cellules).
            if _module_of(caller) == "IPython.core.compilerop" and len(args) > 1 and \
                    isinstance(args[0], (str, bytes)) and is_cell_filename(args[1]):
                source = args[0] if isinstance(args[0], str) else args[0].decode("utf-8", "replace")
                self.cell_compiled(source, args[1])
        elif event == PROOF_EVENT:
            self._prove(args, caller)
        elif event == _FORK_EXEC_EVENT:
            self._refuse("programme", "_posixsubprocess.fork_exec",
                         "créer un processus (_posixsubprocess.fork_exec) est interdit pendant la correction")

    def _check_open(self, args: tuple) -> None:
        path, mode, flags = (tuple(args) + (None, None, None))[:3]
        self._check_read("open", path)
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
            (isinstance(flags, int) and flags & _WRITE_FLAGS)
        if writing:
            resolved = self._resolve(path, None, True)
            if resolved is not None and not self.inside(resolved):
                self._refuse("fichier", f"écriture dans {resolved}",
                             f"écriture refusée hors du dossier de la remise : {resolved}")

    def _check_path_event(self, event: str, args: tuple) -> None:
        indices, fd_index = _PATH_EVENTS[event]
        dir_fd = args[fd_index] if fd_index is not None and fd_index < len(args) else None
        for i in indices:
            if i < len(args):
                self._check_read(event, args[i], dir_fd)
                resolved = self._resolve(args[i], dir_fd, event not in _NO_FOLLOW)
                if resolved is not None and not self.inside(resolved):
                    self._refuse("fichier", f"{event} sur {resolved}",
                                 f"modification refusée hors du dossier de la remise ({event}) : {resolved}")

    # ------------------------------------------------------------------ cellules
    def cell_compiled(self, source: str, filename: str) -> None:
        """Une cellule va s'exécuter : pas d'exécution imbriquée, preuve attendue ou non, intégrité."""
        if self._run_code is not None:
            frame = sys._getframe(1)
            while frame is not None:
                if frame.f_code is self._run_code:
                    self._refuse("outil", "cellule exécutée depuis une autre cellule",
                                 "exécuter une cellule depuis une autre cellule est interdit pendant la correction")
                frame = frame.f_back
        self.cell_files.add(filename)
        match = _NONCE.search(source)
        self._in_test_cell = match is not None
        if match:
            self.test_cells[filename] = match.group(1)
        self._cell_incidents = 0
        self._take_ipython()
        problems = self.integrity_problems()
        new = [p for p in problems if p not in self.reported]
        if problems:
            self.reported.update(problems)
            for problem in new:
                self.record("outil", problem)
            raise GuardViolation(
                errno.EPERM,
                f"{VIOLATION_TAG} des outils de test ont été remplacés avant cette cellule "
                f"(« monkeypatch ») : {'; '.join(problems[:5])}. La correction ne peut pas faire "
                "confiance à ce notebook.")

    def _take_ipython(self) -> None:
        if self._ipython_taken:
            return
        self._ipython_taken = True
        module = sys.modules.get("IPython.core.interactiveshell")
        shell_class = getattr(module, "InteractiveShell", None)
        if shell_class is not None and shell_class.initialized():
            self.snapshot.take_ipython(shell_class.instance())

    def _prove(self, args: tuple, caller) -> None:
        """Écrit la preuve d'une cellule de test, si elle est allée jusqu'au bout sans altération."""
        nonce = args[0] if args and isinstance(args[0], str) else ""
        filename = caller.f_code.co_filename if caller is not None else None
        reasons = []
        if self._secret is None:
            return
        if filename not in self.test_cells or self.test_cells[filename] != nonce:
            reasons.append("preuve demandée hors de sa cellule de test")
        elif caller.f_back is None or self._run_code is None or caller.f_back.f_code is not self._run_code:
            reasons.append("preuve demandée ailleurs qu'au premier niveau de la cellule")
        elif caller.f_trace is not None or sys.gettrace() is not None:
            reasons.append("un traceur était actif à la fin de la cellule de test")
        if self._cell_incidents:
            reasons.append("une action interdite a eu lieu pendant la cellule de test")
        problems = self.integrity_problems()
        if problems:
            reasons.append("outils de test ou machinerie d'IPython altérés : " + "; ".join(problems[:3]))
        self._in_test_cell = False
        if reasons:
            self.record("preuve", " ; ".join(reasons))
            return
        stream = sys.stdout
        stream.write(f"\n{PROOF_TAG} {nonce}:{proof_digest(self._secret, nonce)}]\n")
        stream.flush()

    # ------------------------------------------------------------------ intégrité
    def integrity_problems(self) -> list[str]:
        """Liste (en français) de ce qui a été remplacé depuis le démarrage ; vide si rien."""
        course_lib = sys.modules.get("course_lib")
        for name, module in list(sys.modules.items()):
            if name.startswith("course_lib.") and isinstance(module, types.ModuleType) \
                    and name not in self.snapshot._modules:
                self.snapshot.add_module(module, strict=True)   # une référence importée après le démarrage
        problems = self.snapshot.problems()
        if course_lib is not None:
            for name in list(self.snapshot._modules):
                if name.startswith("course_lib.") and name.count(".") == 1:
                    short = name.split(".")[1]
                    attribute = vars(course_lib).get(short)
                    if isinstance(attribute, types.ModuleType) and attribute is not self.snapshot._modules[name]:
                        problems.append(f"course_lib.{short} : ne désigne plus le module {name}")
        return problems

    # ------------------------------------------------------------------ installation
    def install(self) -> Guard:
        """Retient l'état de départ et installe l'audit hook (définitif).

        ``_posixsubprocess.fork_exec`` (ce qu'appelle ``subprocess``) ne signale aucun événement d'audit :
        il est remplacé par une fonction qui refuse, comme ``os.fork``.
        """
        import _posixsubprocess

        _posixsubprocess.fork_exec = _refused_fork_exec
        module = sys.modules.get("IPython.core.interactiveshell")
        shell_class = getattr(module, "InteractiveShell", None)
        if shell_class is not None:
            self._run_code = shell_class.run_code.__code__
        self.snapshot.take(self._references)
        sys.addaudithook(self)
        self._active = True
        return self
