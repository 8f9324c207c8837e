"""Ce que la garde du noyau protège contre le remplacement : outils de test, bibliothèques, machinerie d'IPython.

Un :class:`Snapshot` retient, par identité, l'état de départ de tout ce dont dépend le verdict d'une
cellule de test :

- les **outils de test** (``course_lib.grading``, ``course_lib.validation``, ``numpy.testing``,
  ``torch.testing``) et les **références** de ``course_lib`` qu'importe le TP : aucun attribut ne doit
  changer ;
- les **bibliothèques** dont se servent les tests (``numpy`` et ses ufuncs et fonctions de dispatch,
  ``torch``, ``torch.nn.functional``, ``torch.Tensor``, ``math``, ``operator``, ``functools``,
  ``builtins``…) : un attribut ne peut être remplacé que par une fonction écrite dans la bibliothèque
  elle-même (``torch._dynamo`` enveloppe ainsi quelques fonctions de ``torch``) ; un ufunc remplacé par un
  autre, ou par du code du notebook, est une altération ;
- la **machinerie d'IPython et d'ipykernel** qui transforme une exception en sortie d'erreur et la
  réponse d'exécution en verdict : gestionnaires d'exceptions personnalisés, rappels d'événements,
  crochets d'affichage, ``sys.excepthook``, ``sys.stdout``/``sys.stderr``, méthodes des classes du
  shell, du noyau, de la session et des flux, traçage (``sys.settrace``/``sys.setprofile``) et fils
  d'exécution supplémentaires lancés par le notebook.

:meth:`Snapshot.problems` donne, en français, la liste de ce qui a changé.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
import threading
import types

#: Outils de test : aucun attribut ne doit changer.
STRICT_MODULES = ("course_lib.grading", "course_lib.validation", "numpy.testing", "numpy.testing._private.utils",
                  "torch.testing", "torch.testing._comparison")
#: Bibliothèques dont se servent les tests (et que les références appellent).
LIBRARY_MODULES = ("numpy", "numpy.linalg", "numpy.fft", "torch", "torch.nn", "torch.nn.functional", "torch.nn.init",
                   "torch.linalg", "torch.fft", "torch.autograd", "torch.optim", "math", "operator", "functools",
                   "inspect", "types", "copy", "builtins", "warnings", "threading", "_thread", "gc", "ctypes")
#: Classes dont les attributs (méthodes) ne doivent pas changer.
LIBRARY_CLASSES = (("torch", "Tensor"), ("torch.nn", "Module"), ("numpy", "ndarray"))
#: Classes d'IPython et d'ipykernel qui décident de ce qu'est une erreur et de ce qui est envoyé.
IPYTHON_CLASSES = (
    ("IPython.core.interactiveshell", "InteractiveShell"),
    ("IPython.core.interactiveshell", "ExecutionResult"),
    ("IPython.core.events", "EventManager"),
    ("IPython.core.displayhook", "DisplayHook"),
    ("IPython.core.displaypub", "DisplayPublisher"),
    ("IPython.core.ultratb", "AutoFormattedTB"),
    ("IPython.core.ultratb", "FormattedTB"),
    ("IPython.core.ultratb", "VerboseTB"),
    ("IPython.core.ultratb", "ListTB"),
    ("IPython.core.ultratb", "SyntaxTB"),
    ("IPython.core.ultratb", "TBTools"),
    ("ipykernel.zmqshell", "ZMQInteractiveShell"),
    ("ipykernel.zmqshell", "ZMQDisplayPublisher"),
    ("ipykernel.displayhook", "ZMQShellDisplayHook"),
    ("ipykernel.ipkernel", "IPythonKernel"),
    ("ipykernel.kernelbase", "Kernel"),
    ("ipykernel.iostream", "OutStream"),
    ("ipykernel.iostream", "IOPubThread"),
    ("jupyter_client.session", "Session"),
)
#: Attributs du shell IPython qui ne doivent pas changer d'identité.
#: (Les méthodes remplacées sur l'instance ou dans la classe sont vues ailleurs.)
SHELL_ATTRIBUTES = ("CustomTB", "InteractiveTB", "SyntaxTB", "displayhook", "display_pub", "display_trap",
                    "builtin_trap", "events", "compile", "kernel", "user_ns", "user_global_ns")
SYS_FUNCTIONS = ("settrace", "setprofile", "gettrace", "getprofile", "addaudithook", "audit", "modules",
                 "_getframe", "exc_info")
#: Remplacés par ipykernel à son démarrage : retenus à la première cellule.
SYS_STREAMS = ("displayhook", "excepthook", "stdout", "stderr")
#: Ce qui ne change que l'affichage des avertissements (les cellules de test les montrent sur stdout).
DISPLAY_ONLY = frozenset({"showwarning", "formatwarning"})
#: Fonctions intégrées que le noyau IPython remplace lui-même (pas une tricherie).
BUILTINS_IGNORED = frozenset({"input", "raw_input", "getpass", "display", "get_ipython", "exit", "quit", "help",
                              "copyright", "credits", "license", "__import__", "open", "execfile", "runfile",
                              "dreload", "_", "__", "___"})


class _Missing:
    def __repr__(self):
        return "<absent>"


MISSING = _Missing()


def is_cell_filename(filename) -> bool:
    """Nom de « fichier » qu'IPython donne au code d'une cellule."""
    if not isinstance(filename, str):
        return False
    return "ipykernel_" in filename or filename.startswith("<ipython-input") or filename.startswith("<cell")


def code_of(value) -> types.CodeType | None:
    """Le code Python d'une fonction, méthode, partial, propriété ou lambda, sans appeler de code arbitraire."""
    for _ in range(4):
        if isinstance(value, (staticmethod, classmethod, types.MethodType)):
            value = value.__func__
        elif isinstance(value, functools.partial):
            value = value.func
        elif isinstance(value, property):
            value = value.fget
        else:
            break
    return value.__code__ if isinstance(value, types.FunctionType) else None


def _library_root(module: types.ModuleType) -> str | None:
    """Le dossier du paquet de premier niveau d'un module (``…/site-packages/torch``), ou None."""
    top = sys.modules.get(module.__name__.split(".")[0])
    filename = getattr(top, "__file__", None)
    return os.path.dirname(os.path.realpath(filename)) if filename else None


def _library_code(value) -> bool:
    """Vrai si ``value`` est une fonction (ou méthode) Python écrite dans un fichier de l'installation Python,
    pas dans une cellule du notebook : une bibliothèque qui se réorganise elle-même."""
    code = code_of(value)
    if code is None or is_cell_filename(code.co_filename):
        return False
    filename = os.path.realpath(code.co_filename)
    return any(filename.startswith(os.path.realpath(root) + os.sep) for root in _INSTALLATION)


_INSTALLATION = tuple({sys.prefix, sys.base_prefix, sys.exec_prefix})


def _from_library(value, root: str | None) -> bool:
    """Vrai si ``value`` est une fonction Python écrite dans la bibliothèque dont ``root`` est le dossier."""
    code = code_of(value)
    if code is None or root is None or is_cell_filename(code.co_filename):
        return False
    return os.path.realpath(code.co_filename).startswith(root + os.sep)


class Snapshot:
    """L'état de départ de ce qui décide du verdict des cellules de test, retenu par identité.

    Paramètres
    ----------
    cell_files : ensemble de str, optionnel
        Les noms de fichier des cellules déjà compilées (pour reconnaître du code venu du notebook).
    """

    def __init__(self, cell_files: set[str] | None = None):
        self.cell_files = cell_files if cell_files is not None else set()
        self._entries: list[tuple[str, str, dict, str, object, object, bool]] = []
        self._modules: dict[str, types.ModuleType] = {}
        self._classes: list[tuple[str, type, set[str]]] = []
        self._module_keys: dict[str, set[str]] = {}
        self._ipython: list[tuple[str, object, str, object]] = []
        self._shell = None
        self._callbacks: dict[str, list] = {}
        self._instances: list[tuple[str, object, set[str]]] = []
        self._threads: set[int] = set()
        self._thread_hooks = (None, None)

    # ------------------------------------------------------------------ modules et classes
    def _remember(self, label: str, namespace: dict, key: str, strict: bool, root: str | None) -> None:
        value = namespace.get(key, MISSING)
        code = code_of(value)
        state = (code, value.__defaults__, value.__kwdefaults__) if isinstance(value, types.FunctionType) else None
        self._entries.append((label, key, namespace, root, value, state, strict))

    def add_module(self, module: types.ModuleType, strict: bool = False) -> None:
        """Retient tous les attributs publics d'un module (et leur code pour les fonctions)."""
        name = module.__name__
        if name in self._modules:
            return
        self._modules[name] = module
        root = _library_root(module)
        namespace = vars(module)
        self._module_keys[name] = set(namespace)
        for key, value in list(namespace.items()):
            if key.startswith("__") or (name == "builtins" and key in BUILTINS_IGNORED) or key in DISPLAY_ONLY:
                continue
            # Dans une bibliothèque, seuls les appelables et les sous-modules décident d'un calcul ; ses
            # autres attributs (compteurs, caches) changent d'eux-mêmes.
            if strict or callable(value) or isinstance(value, types.ModuleType):
                self._remember(name, namespace, key, strict, root)

    def add_class(self, label: str, cls: type, strict: bool = False) -> None:
        """Retient le dictionnaire d'une classe (méthodes, propriétés, attributs)."""
        module = sys.modules.get(cls.__module__)
        root = _library_root(module) if module is not None else None
        namespace = vars(cls)
        self._classes.append((label, cls, set(namespace)))
        for key in list(namespace):
            if key not in ("__dict__", "__weakref__", "__doc__", "__annotations__", "__parameters__"):
                self._entries.append((label, key, namespace, root, namespace[key], None, strict))

    def take(self, reference_modules: tuple[str, ...] = ()) -> Snapshot:
        """Retient outils de test, bibliothèques et références (modules déjà importés ou importables)."""
        for name in STRICT_MODULES + tuple(reference_modules):
            module = sys.modules.get(name)
            if module is None:
                try:
                    module = importlib.import_module(name)
                except Exception:  # noqa: BLE001 - un module de référence absent n'est pas une faute de la garde
                    continue
            self.add_module(module, strict=True)
        for name in LIBRARY_MODULES:
            module = sys.modules.get(name)
            if module is not None:
                self.add_module(module, strict=False)
        for module_name, class_name in LIBRARY_CLASSES:
            cls = getattr(sys.modules.get(module_name), class_name, None)
            if isinstance(cls, type):
                self.add_class(f"{module_name}.{class_name}", cls)
        namespace = vars(sys)
        for key in SYS_FUNCTIONS:
            self._entries.append(("sys", key, namespace, None, namespace.get(key, MISSING), None, True))
        return self

    # ------------------------------------------------------------------ IPython
    def take_ipython(self, shell) -> None:
        """Retient la machinerie d'IPython (à appeler avant la première cellule, une fois le shell prêt)."""
        self._shell = shell
        namespace = vars(sys)
        for key in SYS_STREAMS:
            self._entries.append(("sys", key, namespace, None, namespace.get(key, MISSING), None, True))
        for module_name, class_name in IPYTHON_CLASSES:
            cls = getattr(sys.modules.get(module_name), class_name, None)
            if isinstance(cls, type):
                self.add_class(f"{class_name}", cls, strict=True)
        for key in SHELL_ATTRIBUTES:
            self._ipython.append(("shell", shell, key, getattr(shell, key, MISSING)))
        kernel = getattr(shell, "kernel", None)
        for owner_label, owner in (("shell", shell), ("noyau", kernel), ("session", getattr(kernel, "session", None)),
                                   ("sys.stdout", sys.stdout), ("sys.stderr", sys.stderr)):
            if owner is not None and hasattr(owner, "__dict__"):
                self._instances.append((owner_label, owner, set(vars(owner))))
                for key, value in list(vars(owner).items()):
                    if callable(value) and not isinstance(value, type):
                        self._ipython.append((owner_label, owner, key, value))
        self._callbacks = {event: list(callbacks) for event, callbacks in shell.events.callbacks.items()}
        self._threads = {t.ident for t in threading.enumerate()}
        self._thread_hooks = (getattr(threading, "_trace_hook", None), getattr(threading, "_profile_hook", None))

    # ------------------------------------------------------------------ comparaison
    def _ipython_swaps(self, key: str, current) -> bool:
        """Pendant l'exécution d'une cellule, IPython met ses propres crochets dans ``sys`` : permis."""
        shell = self._shell
        if shell is None:
            return False
        if key == "displayhook":
            return current is getattr(shell, "displayhook", MISSING)
        if key == "excepthook":
            return getattr(current, "__self__", None) is shell and \
                getattr(current, "__func__", None) is getattr(type(shell), "excepthook", MISSING)
        return False

    def _module_problems(self) -> list[str]:
        problems = []
        for label, key, namespace, root, value, state, strict in self._entries:
            current = namespace.get(key, MISSING)
            if current is not value and not (label == "sys" and self._ipython_swaps(key, current)):
                if not strict and _from_library(current, root):
                    continue                       # la bibliothèque s'est modifiée elle-même
                problems.append(f"{label}.{key} a été remplacé" if current is not MISSING
                                else f"{label}.{key} a été supprimé")
            elif state is not None and (current.__code__, current.__defaults__, current.__kwdefaults__) != state:
                problems.append(f"{label}.{key} : son code a été modifié")
        for name, module in self._modules.items():
            if sys.modules.get(name, module) is not module:
                problems.append(f"{name} : le module a été remplacé dans sys.modules")
        return problems

    def _origin_problems(self) -> list[str]:
        """Fonctions venues d'une cellule du notebook glissées dans un module protégé (clé nouvelle comprise),
        et attributs ajoutés à une classe protégée (qui masqueraient une méthode héritée, écrite en C)."""
        problems = []
        for label, cls, keys in self._classes:
            for key in set(vars(cls)) - keys:
                if not _library_code(vars(cls)[key]):
                    problems.append(f"{label}.{key} a été ajouté par le notebook")
        for name, module in self._modules.items():
            namespace = vars(module)
            for key in namespace.keys() - self._module_keys[name]:     # les attributs changés sont vus ailleurs
                code = code_of(namespace.get(key))
                if code is not None and (code.co_filename in self.cell_files or is_cell_filename(code.co_filename)):
                    problems.append(f"{name}.{key} a été ajouté par du code du notebook")
        return problems

    def _ipython_problems(self) -> list[str]:
        if self._shell is None:
            return []
        shell = self._shell
        problems = []
        if tuple(getattr(shell, "custom_exceptions", ())):
            problems.append("un gestionnaire d'exceptions personnalisé (set_custom_exc) a été installé")
        for label, owner, key, value in self._ipython:
            current = getattr(owner, key, MISSING)
            if current is not value and not _library_code(current):
                problems.append(f"IPython : {label}.{key} a été remplacé")
        events = getattr(shell, "events", None)
        callbacks = getattr(events, "callbacks", {}) if events is not None else {}
        for event in set(callbacks) | set(self._callbacks):
            before = self._callbacks.get(event, [])
            added = [c for c in callbacks.get(event, []) if not any(c is b for b in before)]
            if any(not _library_code(c) for c in added):
                problems.append(f"IPython : un rappel de l'événement « {event} » a été ajouté par le notebook")
            if any(not any(b is c for c in callbacks.get(event, [])) for b in before):
                problems.append(f"IPython : un rappel de l'événement « {event} » a été retiré")
        for owner_label, owner, keys in self._instances:
            for key in set(vars(owner)) - keys:
                value = vars(owner)[key]
                if callable(value) and not isinstance(value, type) and not _library_code(value):
                    problems.append(f"IPython : la méthode « {key} » de {owner_label} a été remplacée sur l'instance")
        if sys.gettrace() is not None:
            problems.append("un traceur (sys.settrace) est actif")
        if (getattr(threading, "_trace_hook", None), getattr(threading, "_profile_hook", None)) != \
                self._thread_hooks:
            problems.append("un traceur de fils (threading.settrace/setprofile) est installé")
        extra = [t for t in threading.enumerate() if t.ident not in self._threads and t.is_alive()
                 and self._thread_from_notebook(t)]
        if extra:
            problems.append(f"{len(extra)} fil(s) d'exécution lancé(s) par le notebook toujours actif(s)")
        return problems

    def _thread_from_notebook(self, thread: threading.Thread) -> bool:
        """Un fil dont la cible (ou la méthode run) vient d'une cellule du notebook."""
        for candidate in (getattr(thread, "_target", None), type(thread).run):
            code = code_of(candidate)
            if code is not None and (code.co_filename in self.cell_files or is_cell_filename(code.co_filename)):
                return True
        return False

    def problems(self) -> list[str]:
        """Liste (en français) de ce qui a changé depuis le départ ; vide si rien."""
        problems = self._module_problems()
        replaced = {p.split(" ")[0] for p in problems}
        problems += [p for p in self._origin_problems() if p.split(" ")[0] not in replaced]
        problems += self._ipython_problems()
        return list(dict.fromkeys(problems))

    def references(self) -> list[str]:
        """Les modules retenus (pour le journal)."""
        return sorted(self._modules)

