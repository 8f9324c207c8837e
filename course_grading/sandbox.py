"""Noyau Jupyter « sous garde » pour la correction automatique des remises.

La correction (:mod:`course_grading`) exécute le code des étudiants avec
ce noyau au lieu du noyau ``python3`` ordinaire. Avant de démarrer IPython, il :

1. fixe des **limites de ressources** du système (``setrlimit``) : mémoire
   des données (``RLIMIT_DATA`` : tas et mémoire anonyme, là où vont les
   tableaux NumPy et les tenseurs), taille des fichiers écrits
   (``RLIMIT_FSIZE``), pas de fichier ``core`` ; une allocation sans fin lève
   ``MemoryError`` au lieu d'épuiser la machine. On ne limite pas l'espace
   d'adressage (``RLIMIT_AS``) : PyTorch, OpenBLAS et OpenCV en réservent
   près de 5 Gio sans s'en servir (et CUDA bien davantage), si bien qu'une
   limite ``RLIMIT_AS`` mesure surtout le nombre de fils d'exécution ;
2. installe une **garde** (un *audit hook* de Python, PEP 578, qu'aucun code
   ne peut retirer ensuite) qui

   - refuse toute écriture, suppression ou modification de fichier hors du
     dossier de la remise et du dossier privé de la correction, ainsi que le
     lancement de programmes (``os.system``, ``subprocess``...) ;
   - vérifie, avant chaque cellule, que les outils de test n'ont pas été
     remplacés (« monkeypatch ») : ``course_lib.grading``, ``numpy.testing``,
     ``torch.testing``, les fonctions de ``numpy``, ``torch``,
     ``torch.nn.functional`` et ``torch.Tensor``, les fonctions intégrées de
     Python, et toute fonction d'un module ``course_lib`` (les références des
     tests cachés) ;

   chaque infraction est consignée dans un journal (une ligne JSON) que lit la
   correction, et la cellule fautive échoue avec un message en français.

Ce n'est pas un bac à sable de sécurité contre un attaquant déterminé (du code
natif peut tout contourner) : c'est une garde contre les fautes et les
tricheries ordinaires, doublée par la correction dans une copie privée de la
remise et la vérification des empreintes des fichiers remis.

Paramètres (variables d'environnement lues au démarrage du noyau)
------------------------------------------------------------------
COURSE_SANDBOX_MEMORY
    Limite de mémoire (``RLIMIT_DATA``) en octets (0 ou absent : pas de limite).
COURSE_SANDBOX_FILE_SIZE
    Taille maximale d'un fichier écrit, en octets (défaut : 256 Mio).
COURSE_SANDBOX_LOG
    Fichier journal des infractions (une ligne JSON par infraction).
COURSE_SANDBOX_ALLOW
    Dossiers où l'écriture est permise, séparés par ``os.pathsep``, en plus du
    dossier de travail du noyau (le dossier de la remise).

Utilisation (dans le ``kernel.json`` d'un noyau) ::

    python -m course_grading.sandbox -f {connection_file}
"""

from __future__ import annotations

import builtins
import errno
import functools
import json
import os
import resource
import sys
import types

__all__ = ["GuardViolation", "Guard", "apply_limits", "main", "KERNEL_NAME", "write_kernel_spec", "VIOLATION_TAG"]

KERNEL_NAME = "course-sandbox"
VIOLATION_TAG = "[course_lib:garde]"
_MiB = 2**20

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
_PROCESS_EVENTS = {"os.system", "subprocess.Popen", "os.exec", "os.posix_spawn", "os.spawn", "os.forkpty",
                   "pty.spawn", "os.startfile"}
# Fonctions de la libc qu'un appel par ctypes utiliserait pour contourner la garde.
_NATIVE_BLOCKED = {"unlink", "unlinkat", "rmdir", "rename", "renameat", "renameat2", "remove", "open", "open64",
                   "openat", "openat64", "creat", "creat64", "fopen", "fopen64", "truncate", "truncate64",
                   "system", "execv", "execve", "execvp", "execl", "execlp", "execle", "popen", "posix_spawn",
                   "posix_spawnp", "link", "linkat", "symlink", "symlinkat", "chmod", "fchmodat", "chown",
                   "kill", "killpg", "tgkill"}
# Sondes en lecture seule que lancent des bibliothèques (platform, matplotlib, ctypes.util) : permises.
_HARMLESS_PROGRAMS = {"uname", "fc-list", "fc-match", "ldconfig", "ldconfig.real", "lscpu", "getconf",
                      "nvidia-smi"}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

# Ce que la garde protège contre le remplacement. Les outils de test : aucun objet ne doit changer.
_STRICT_MODULES = ("course_lib.grading", "course_lib.validation", "numpy.testing", "numpy.testing._private.utils",
                   "torch.testing", "torch.testing._comparison")
# Les bibliothèques se modifient parfois elles-mêmes (torch._dynamo enveloppe torch.manual_seed...) : on y
# refuse seulement les fonctions dont le code vient d'une cellule du notebook.
_ORIGIN_MODULES = ("numpy", "torch", "torch.nn.functional", "inspect", "types", "functools", "math", "builtins")
_ORIGIN_PREFIXES = ("course_lib", "numpy.testing", "torch.testing")
_SYS_NAMES = ("setprofile", "getprofile", "settrace", "gettrace", "addaudithook", "audit", "modules")
# Fonctions intégrées que le noyau IPython remplace lui-même (pas une tricherie).
_BUILTINS_IGNORED = {"input", "raw_input", "getpass", "display", "get_ipython", "exit", "quit", "help",
                     "copyright", "credits", "license", "__import__", "open", "execfile", "runfile", "dreload"}


class GuardViolation(PermissionError):
    """Action refusée par la garde de correction (fichier hors du dossier, outil de test remplacé...)."""


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


def _code_of(value) -> types.CodeType | None:
    """Le code Python d'une fonction, méthode, partial ou lambda (sans appeler getattr sur n'importe quoi)."""
    for _ in range(3):
        if isinstance(value, (staticmethod, classmethod, types.MethodType)):
            value = value.__func__
        elif isinstance(value, functools.partial):
            value = value.func
        elif isinstance(value, property):
            value = value.fget
        else:
            break
    return value.__code__ if isinstance(value, types.FunctionType) else None


def _is_cell_filename(filename) -> bool:
    """Nom de « fichier » qu'IPython donne au code d'une cellule."""
    if not isinstance(filename, str):
        return False
    return "ipykernel_" in filename or filename.startswith("<ipython-input") or filename.startswith("<cell")


class Guard:
    """Garde installée dans le noyau : écritures, programmes, outils de test.

    Paramètres
    ----------
    allowed : liste de chemins
        Dossiers où le code peut écrire ou supprimer (le dossier de la remise,
        un dossier privé temporaire).
    log_path : str, optionnel
        Journal des infractions, ouvert une fois pour toutes à l'installation.
    """

    def __init__(self, allowed, log_path: str | None = None):
        self.allowed = [os.path.realpath(p) for p in allowed if p]
        self._log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600) if log_path else None
        self._busy = False
        self._active = False
        self.cell_files: set[str] = set()
        self._snapshot: list[tuple[str, dict, str, object, object, object, object]] = []
        self._snapshot_modules: dict[str, types.ModuleType] = {}
        self._seen_origin: set[str] = set()
        self.reported: set[str] = set()

    # ------------------------------------------------------------------ journal
    def record(self, kind: str, detail: str) -> None:
        if self._log_fd is None:
            return
        line = json.dumps({"type": kind, "detail": detail}, ensure_ascii=False) + "\n"
        try:
            os.write(self._log_fd, line.encode("utf-8"))
        except OSError:
            pass

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
        return any(resolved == root or resolved.startswith(root + os.sep) for root in self.allowed)

    def _refuse(self, kind: str, detail: str, message: str):
        self.record(kind, detail)
        raise GuardViolation(errno.EACCES, f"{VIOLATION_TAG} {message}")

    # ------------------------------------------------------------------ audit hook
    def __call__(self, event: str, args: tuple) -> None:
        if not self._active or self._busy:
            return
        self._busy = True
        try:
            self._dispatch(event, args)
        finally:
            self._busy = False

    def _dispatch(self, event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = (tuple(args) + (None, None, None))[:3]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
                (isinstance(flags, int) and flags & _WRITE_FLAGS)
            if writing:
                resolved = self._resolve(path, None, True)
                if resolved is not None and not self.inside(resolved):
                    self._refuse("fichier", f"écriture dans {resolved}",
                                 f"écriture refusée hors du dossier de la remise : {resolved}")
        elif event == "os.truncate" and args and args[0] == self._log_fd:
            self._refuse("fichier", "journal de la garde", "le journal de la correction ne peut pas être modifié")
        elif event in _PATH_EVENTS:
            indices, fd_index = _PATH_EVENTS[event]
            dir_fd = args[fd_index] if fd_index is not None and fd_index < len(args) else None
            for i in indices:
                if i < len(args):
                    resolved = self._resolve(args[i], dir_fd, event not in _NO_FOLLOW)
                    if resolved is not None and not self.inside(resolved):
                        self._refuse("fichier", f"{event} sur {resolved}",
                                     f"modification refusée hors du dossier de la remise ({event}) : {resolved}")
        elif event in _PROCESS_EVENTS:
            if _harmless_probe(event, args):
                return
            self._refuse("programme", f"{event} {str(args)[:200]}",
                         f"lancer un programme ({event}) est interdit pendant la correction")
        elif event in ("os.kill", "os.killpg"):
            target = args[0] if args else None
            if isinstance(target, int) and target not in (0, os.getpid()) and \
                    not (event == "os.killpg" and target == os.getpgid(0)):
                self._refuse("signal", f"{event} vers {target}",
                             f"envoyer un signal à un autre processus ({target}) est interdit pendant la correction")
        elif event == "ctypes.dlsym":
            name = args[1] if len(args) > 1 else None
            if isinstance(name, str) and name in _NATIVE_BLOCKED:
                self._refuse("natif", f"ctypes {name}", f"appel natif « {name} » interdit pendant la correction")
        elif event == "compile":
            filename = args[1] if len(args) > 1 else None
            if _is_cell_filename(filename) and isinstance(args[0], (str, bytes)):
                self.cell_files.add(filename)
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

    # ------------------------------------------------------------------ outils de test
    def _remember(self, label: str, namespace: dict, key: str) -> None:
        value = namespace.get(key)
        code = value.__code__ if isinstance(value, types.FunctionType) else None
        defaults = value.__defaults__ if code is not None else None
        kwdefaults = value.__kwdefaults__ if code is not None else None
        self._snapshot.append((label, namespace, key, value, code, defaults, kwdefaults))

    @staticmethod
    def _worth_guarding(value) -> bool:
        return isinstance(value, (types.FunctionType, types.BuiltinFunctionType, types.MethodDescriptorType,
                                  types.WrapperDescriptorType, type, functools.partial, staticmethod,
                                  classmethod, property)) or type(value).__name__ == "ufunc"

    def snapshot_module(self, module: types.ModuleType) -> None:
        name = module.__name__
        if name in self._snapshot_modules:
            return
        self._snapshot_modules[name] = module
        namespace = vars(module)
        for key, value in list(namespace.items()):
            if not key.startswith("__") and self._worth_guarding(value):
                self._remember(name, namespace, key)

    def snapshot(self) -> None:
        """Mémorise les outils de test et les fonctions de base tels qu'ils sont au démarrage."""
        for name in _STRICT_MODULES:
            module = sys.modules.get(name)
            if module is not None:
                self.snapshot_module(module)
        namespace = vars(builtins)
        for key, value in list(namespace.items()):
            if key not in _BUILTINS_IGNORED and not key.startswith("_") and \
                    isinstance(value, (types.BuiltinFunctionType, type)):
                self._remember("builtins", namespace, key)
        namespace = vars(sys)
        for key in _SYS_NAMES:
            if key in namespace:
                self._snapshot.append(("sys", namespace, key, namespace[key], None, None, None))

    def _origin_problems(self, module: types.ModuleType, classes: bool) -> list[str]:
        """Fonctions d'un module protégé (et de ses classes si ``classes``) venues d'une cellule du notebook."""
        problems = []
        torch = sys.modules.get("torch")
        for key, value in list(vars(module).items()):
            members = [(key, value)]
            if isinstance(value, type) and (value is getattr(torch, "Tensor", None) or
                                            (classes and vars(value).get("__module__") == module.__name__)):
                members += [(f"{key}.{name}", member) for name, member in list(vars(value).items())]
            for label, member in members:
                code = _code_of(member)
                if code is not None and (code.co_filename in self.cell_files or _is_cell_filename(code.co_filename)):
                    problems.append(f"{module.__name__}.{label} a été remplacé par du code du notebook")
        return problems

    def integrity_problems(self) -> list[str]:
        """Liste (en français) de ce qui a été remplacé depuis le démarrage ; vide si rien."""
        problems = []
        for label, namespace, key, value, code, defaults, kwdefaults in self._snapshot:
            current = namespace.get(key, _MISSING)
            if current is not value:
                problems.append(f"{label}.{key} a été remplacé" if current is not _MISSING
                                else f"{label}.{key} a été supprimé")
            elif code is not None and (value.__code__ is not code or value.__defaults__ is not defaults
                                       or value.__kwdefaults__ is not kwdefaults):
                problems.append(f"{label}.{key} : son code a été modifié")
        for name, module in self._snapshot_modules.items():
            if sys.modules.get(name, module) is not module:
                problems.append(f"{name} : le module a été remplacé dans sys.modules")
        replaced = {p.split(" ")[0] for p in problems}
        course_lib = sys.modules.get("course_lib")
        for name, module in list(sys.modules.items()):
            if not isinstance(module, types.ModuleType) or \
                    not (name in _ORIGIN_MODULES or name.startswith(_ORIGIN_PREFIXES)):
                continue
            if name.startswith("course_lib.") and name not in self._snapshot_modules:
                self.snapshot_module(module)       # une référence importée après le démarrage
            problems += [p for p in self._origin_problems(module, classes=name.startswith(_ORIGIN_PREFIXES))
                         if p.split(" ")[0] not in replaced]
            if course_lib is not None and name.startswith("course_lib."):
                short = name.split(".")[1]
                attribute = vars(course_lib).get(short)
                if name.count(".") == 1 and isinstance(attribute, types.ModuleType) and attribute is not module:
                    problems.append(f"course_lib.{short} : ne désigne plus le module {name}")
        return list(dict.fromkeys(problems))

    # ------------------------------------------------------------------ installation
    def install(self) -> Guard:
        """Mémorise l'état de départ et installe l'audit hook (définitif)."""
        self.snapshot()
        sys.addaudithook(self)
        self._active = True
        return self


class _Missing:
    def __repr__(self):
        return "<absent>"


_MISSING = _Missing()


def apply_limits(memory_bytes: int | None, file_bytes: int | None = 256 * _MiB) -> None:
    """Fixe les limites du processus (et de ses enfants) : mémoire, taille des fichiers, fichier core.

    Paramètres
    ----------
    memory_bytes : int ou None
        Limite de ``RLIMIT_DATA`` en octets (``None`` ou 0 : inchangée).
    file_bytes : int ou None
        Limite de ``RLIMIT_FSIZE`` en octets (``None`` : inchangée).
    """
    def lower(limit, value):
        soft, hard = resource.getrlimit(limit)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(limit, (value, hard))

    if memory_bytes:
        lower(resource.RLIMIT_DATA, int(memory_bytes))
    if file_bytes:
        lower(resource.RLIMIT_FSIZE, int(file_bytes))
    lower(resource.RLIMIT_CORE, 0)


def write_kernel_spec(folder, python: str | None = None) -> str:
    """Écrit le ``kernel.json`` du noyau sous garde dans ``folder/kernels/`` ; retourne son dossier.

    ``folder`` est à mettre en tête de ``JUPYTER_PATH`` pour que Jupyter trouve ce noyau.
    """
    spec_dir = os.path.join(os.fspath(folder), "kernels", KERNEL_NAME)
    os.makedirs(spec_dir, exist_ok=True)
    spec = {
        "argv": [python or sys.executable, "-m", "course_grading.sandbox", "-f", "{connection_file}"],
        "display_name": "Python 3 (correction sous garde)",
        "language": "python",
        "metadata": {"debugger": False},
    }
    with open(os.path.join(spec_dir, "kernel.json"), "w", encoding="utf-8") as f:
        json.dump(spec, f, indent=1)
    return spec_dir


def main(argv: list[str] | None = None) -> None:
    """Point d'entrée du noyau : limites, garde, puis le noyau IPython ordinaire."""
    memory = int(os.environ.get("COURSE_SANDBOX_MEMORY", "0") or 0)
    file_size = int(os.environ.get("COURSE_SANDBOX_FILE_SIZE", str(256 * _MiB)) or 0)
    allowed = [os.getcwd()] + [p for p in os.environ.get("COURSE_SANDBOX_ALLOW", "").split(os.pathsep) if p]
    # Les outils à protéger sont chargés avant tout code d'étudiant.
    import numpy.testing  # noqa: F401
    import torch.testing  # noqa: F401

    import course_lib.grading  # noqa: F401

    apply_limits(memory, file_size)
    Guard(allowed, os.environ.get("COURSE_SANDBOX_LOG")).install()
    from ipykernel import kernelapp

    sys.argv = [sys.argv[0]] + (sys.argv[1:] if argv is None else list(argv))
    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
