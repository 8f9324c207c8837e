"""Outils des cellules de test des travaux pratiques (nbgrader).

- :func:`assert_close`, :func:`assert_shape` : comparaisons avec des messages
  en français qui disent *où* et *de combien* le résultat diffère ;
- :func:`random_images`, :func:`random_tensor` : entrées aléatoires
  reproductibles, qui ne touchent pas au générateur global ;
- :func:`traced_call`, :func:`assert_not_reference` : détectent une fonction
  d'étudiant qui se contente d'appeler l'implémentation de référence de
  ``course_lib`` (directement, par un alias, une ``lambda`` ou
  ``functools.partial``) en traçant les objets de code exécutés ;
- :func:`check_against_reference` : le test caché type, qui combine les deux.
"""

from __future__ import annotations

import inspect
import sys
import types
from collections.abc import Callable, Iterable

import numpy as np
import torch

from .validation import describe

__all__ = [
    "assert_close", "assert_shape", "random_images", "random_tensor", "traced_call",
    "assert_not_reference", "check_against_reference", "ReferenceUsedError",
]


# --------------------------------------------------------------------------- comparaisons

def _to_numpy(value, name: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        tensor = value.detach().to("cpu")
        return tensor.numpy() if tensor.dtype == torch.bool else tensor.double().numpy()
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        return np.asarray(value, dtype=float)
    raise AssertionError(
        f"{name} doit être un tenseur torch, un tableau NumPy ou un nombre ; reçu : {describe(value)}."
    )


def assert_shape(actual, shape, name: str = "le résultat") -> None:
    """Vérifie la forme d'un tenseur ou d'un tableau (``None`` dans ``shape`` = dimension libre)."""
    if not isinstance(actual, (torch.Tensor, np.ndarray)):
        raise AssertionError(f"{name} doit être un tenseur torch ; reçu : {describe(actual)}.")
    got = tuple(actual.shape)
    if len(got) != len(shape) or any(s is not None and s != g for s, g in zip(shape, got)):
        wanted = "(" + ", ".join("?" if s is None else str(s) for s in shape) + ")"
        raise AssertionError(f"{name} doit avoir la forme {wanted} ; forme obtenue : {got}.")


def assert_close(actual, expected, rtol: float = 1e-5, atol: float = 1e-6, name: str = "le résultat") -> None:
    """Vérifie que ``actual`` est proche de ``expected`` : ``|a - e| <= atol + rtol * |e|`` partout.

    Le message d'échec donne la forme, le nombre de valeurs fausses, le plus
    grand écart et sa position, avec les deux valeurs à cet endroit.
    """
    if isinstance(expected, torch.Tensor) and not isinstance(actual, torch.Tensor):
        raise AssertionError(f"{name} doit être un tenseur torch ; reçu : {describe(actual)}.")
    a = _to_numpy(actual, name)
    e = _to_numpy(expected, "la valeur attendue")
    if a.shape != e.shape:
        raise AssertionError(f"{name} a la forme {a.shape}, mais la forme attendue est {e.shape}.")
    if a.size == 0:
        return
    a64, e64 = a.astype(np.float64), e.astype(np.float64)
    if not np.isfinite(a64).all() and np.isfinite(e64).all():
        bad = int((~np.isfinite(a64)).sum())
        raise AssertionError(f"{name} contient {bad} valeur(s) NaN ou infinie(s).")
    diff = np.abs(a64 - e64)
    tolerance = atol + rtol * np.abs(e64)
    wrong = ~(diff <= tolerance)
    if wrong.any():
        where = np.unravel_index(int(np.argmax(np.where(wrong, diff, -1.0))), a.shape)
        raise AssertionError(
            f"{name} diffère de la valeur attendue en {int(wrong.sum())} position(s) sur {a.size} "
            f"(forme {a.shape}). Plus grand écart : {float(diff[where]):.4g} à l'indice {tuple(int(i) for i in where)} "
            f"(obtenu {float(a64[where]):.6g}, attendu {float(e64[where]):.6g} ; "
            f"tolérance atol={atol:g}, rtol={rtol:g})."
        )


# --------------------------------------------------------------------------- entrées aléatoires

def random_tensor(seed: int, shape, low: float = 0.0, high: float = 1.0, dtype=torch.float32,
                  device="cpu") -> torch.Tensor:
    """Tenseur uniforme dans [low, high), reproductible et indépendant du générateur global."""
    generator = torch.Generator().manual_seed(int(seed))
    values = torch.rand(tuple(shape), generator=generator, dtype=torch.float64)
    return (low + (high - low) * values).to(dtype=dtype, device=device)


def random_images(seed: int, shape=(2, 3, 16, 16), device="cpu", dtype=torch.float32) -> torch.Tensor:
    """Lot d'images aléatoires reproductible : du bruit lissé plus du bruit fin, dans [0, 1].

    Le lissage donne des régions qui ressemblent un peu à des images (ce
    qu'un bruit blanc pur ne fait pas), le bruit fin teste les détails.
    """
    base = random_tensor(seed, shape, dtype=torch.float64)
    low = torch.nn.functional.avg_pool2d(base, 3, stride=1, padding=1, count_include_pad=False) \
        if len(shape) == 4 and min(shape[-2:]) >= 3 else base
    images = (0.7 * low + 0.3 * base).clamp(0, 1)
    return images.to(dtype=dtype, device=device)


# --------------------------------------------------------------------------- détection de la référence

class ReferenceUsedError(AssertionError):
    """La fonction de l'étudiant a exécuté une implémentation de référence interdite."""


def _code_objects(target) -> tuple[set, set, set]:
    """Codes Python, fonctions compilées et fichiers d'une cible (fonction, méthode, classe ou module)."""
    codes, builtins, files = set(), set(), set()
    if isinstance(target, types.ModuleType):
        filename = getattr(target, "__file__", None)
        if filename:
            files.add(filename)
        return codes, builtins, files
    if isinstance(target, (types.BuiltinFunctionType, types.BuiltinMethodType)):
        builtins.add(target)
        return codes, builtins, files
    if isinstance(target, type):
        for member in vars(target).values():
            inner = getattr(member, "__func__", member)
            if inspect.isfunction(inner):
                codes.add(inner.__code__)
        return codes, builtins, files
    function = inspect.unwrap(getattr(target, "__func__", target))
    code = getattr(function, "__code__", None)
    if code is None:
        raise TypeError(f"Impossible de tracer la référence {describe(target)} : ni fonction, ni module.")
    codes.add(code)
    # les fonctions internes définies dans la référence (fermetures, lambdas)
    stack = [code]
    while stack:
        for const in stack.pop().co_consts:
            if isinstance(const, types.CodeType):
                codes.add(const)
                stack.append(const)
    return codes, builtins, files


def traced_call(func: Callable, *args, **kwargs):
    """Appelle ``func(*args, **kwargs)`` en notant les codes Python et fonctions compilées exécutés.

    Retourne ``(résultat, codes, fonctions_compilées)``.
    """
    codes: set = set()
    builtins: set = set()

    def profiler(frame, event, arg):
        if event == "call":
            codes.add(frame.f_code)
        elif event == "c_call":
            builtins.add(arg)

    previous = sys.getprofile()
    sys.setprofile(profiler)
    try:
        result = func(*args, **kwargs)
        if sys.getprofile() is not profiler:
            raise ReferenceUsedError(
                "Le traçage des appels a été désactivé pendant l'exécution de votre fonction "
                "(sys.setprofile) : ce test ne peut pas être validé."
            )
    finally:
        sys.setprofile(previous)
    return result, codes, builtins


def _reference_name(target) -> str:
    module = getattr(target, "__module__", None) or getattr(target, "__name__", "")
    name = getattr(target, "__qualname__", None) or getattr(target, "__name__", repr(target))
    return name if isinstance(target, types.ModuleType) else f"{module}.{name}"


def assert_not_reference(func: Callable, references, *args, **kwargs):
    """Exécute ``func(*args, **kwargs)`` et échoue si une référence interdite a été exécutée.

    Paramètres
    ----------
    func : callable
        La fonction de l'étudiant.
    references : fonction, classe, module, fonction compilée, ou une liste de ceux-ci
        Ce que l'étudiant ne doit pas appeler (un module interdit toutes ses fonctions).

    Retourne
    --------
    Le résultat de ``func``.
    """
    if not callable(func):
        raise AssertionError(f"La fonction à tester n'est pas appelable ; reçu : {describe(func)}.")
    targets = list(references) if isinstance(references, (list, tuple, set)) else [references]
    forbidden_codes, forbidden_builtins, forbidden_files = {}, {}, {}
    for target in targets:
        codes, builtins, files = _code_objects(target)
        label = _reference_name(target)
        forbidden_codes.update(dict.fromkeys(codes, label))
        forbidden_builtins.update(dict.fromkeys(builtins, label))
        forbidden_files.update(dict.fromkeys(files, label))
    result, codes, builtins = traced_call(func, *args, **kwargs)
    used = {forbidden_codes[c] for c in codes if c in forbidden_codes}
    used |= {forbidden_files[c.co_filename] for c in codes if c.co_filename in forbidden_files}
    used |= {forbidden_builtins[b] for b in builtins if _hashable(b) and b in forbidden_builtins}
    if used:
        names = ", ".join(sorted(used))
        student = getattr(func, "__name__", "votre fonction")
        raise ReferenceUsedError(
            f"« {student} » exécute l'implémentation de référence {names} (directement ou par un alias). "
            "Ce test vérifie que vous avez écrit le calcul vous-même : remplacez cet appel par votre "
            "propre implémentation."
        )
    return result


def _hashable(value) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def check_against_reference(student: Callable, reference: Callable, inputs: Iterable,
                            rtol: float = 1e-5, atol: float = 1e-6, forbidden=None,
                            name: str | None = None) -> None:
    """Test caché type : compare ``student`` à ``reference`` sur chaque entrée, sans appel à la référence.

    Paramètres
    ----------
    student, reference : callable
    inputs : itérable
        Chaque élément est un tuple d'arguments positionnels (ou un seul argument).
    forbidden : optionnel
        Références interdites (par défaut : ``reference`` elle-même).
    name : str, optionnel
        Nom affiché dans les messages.
    """
    label = name or getattr(student, "__name__", "votre fonction")
    for k, item in enumerate(inputs):
        args = item if isinstance(item, tuple) else (item,)
        expected = reference(*args)
        actual = assert_not_reference(student, forbidden if forbidden is not None else reference, *args)
        assert_close(actual, expected, rtol=rtol, atol=atol, name=f"Le résultat de « {label} » (entrée n° {k + 1})")
