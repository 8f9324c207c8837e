"""Outils des cellules de test des travaux pratiques (nbgrader).

- :func:`assert_close`, :func:`assert_shape`, :func:`assert_dtype` : comparaisons avec des messages
  en français qui disent, dès leur première ligne, *ce qui* diffère et *de combien* ; le résultat doit
  être exactement un ``torch.Tensor`` (ou un ``numpy.ndarray``, ou un nombre), jamais une sous-classe
  qui pourrait mentir dans les comparaisons ;
- :func:`random_images`, :func:`random_tensor`, :func:`off_grid`, :func:`odd_sizes` : entrées
  reproductibles, qui ne touchent pas au générateur global ; les deux dernières donnent des valeurs
  qu'aucun cache calculé à l'avance ne contient (σ = 1,371937 plutôt que 1,5) ;
- :func:`traced_call`, :func:`assert_not_reference` : détectent une fonction d'étudiant qui exécute
  une implémentation interdite (la référence de ``course_lib``, un module entier, une fonction
  compilée), directement, par un alias, ou par une **copie** de son code (collée, exécutée par
  ``exec``, reconstruite avec ``types.FunctionType``) : le code est reconnu par son bytecode, ses
  constantes et ses noms, pas par son nom de fichier. Le traçage suit aussi les fils d'exécution
  lancés pendant l'appel (``threading``, ``concurrent.futures``) et observe les autres ;
- :func:`check_against_reference` : le test caché type. La fonction de l'étudiant reçoit des
  **copies** des entrées ; la valeur attendue n'est calculée qu'**après** son retour, par la
  référence, sur d'autres copies ; une entrée modifiée sur place est une erreur ;
- :func:`fingerprint`, :func:`assert_unchanged`, :func:`clone` : vérifier qu'un objet n'a pas changé ;
- :func:`assert_no_shortcut`, :func:`count_calls`, :func:`assert_vectorised` : raccourcis interdits
  reconnus par leur nom (``x.softmax(1)``), calcul vectorisé ;
- :func:`warnings_to_stdout` : les avertissements (``UserWarning`` de PyTorch...) s'affichent sur la
  sortie standard : l'étudiant les voit, et nbgrader ne les prend pas pour une erreur.

Ces outils se protègent eux-mêmes : si une de leurs fonctions, un module dont ils se servent
(``numpy``, ``torch``, ``threading``) ou une de leurs tables a été remplacé, ils refusent de
conclure (la correction de l'enseignant ajoute sa propre garde dans le noyau).
"""

from __future__ import annotations

import _thread
import copy
import dis
import functools
import hashlib
import importlib
import inspect
import os
import random
import sys
import threading
import time
import types
import warnings
from collections.abc import Callable, Iterable
from types import MappingProxyType
from typing import NamedTuple

import numpy as np
import torch

from .validation import describe

__all__ = [
    "assert_close", "assert_shape", "assert_dtype", "random_images", "random_tensor", "off_grid", "odd_sizes",
    "traced_call", "assert_not_reference", "check_against_reference", "ReferenceUsedError", "fingerprint",
    "assert_unchanged", "clone", "same_code", "SHORTCUTS", "assert_no_shortcut", "count_calls", "assert_vectorised",
    "warnings_to_stdout",
]


class ReferenceUsedError(AssertionError):
    """La fonction de l'étudiant a exécuté une implémentation interdite (ou a empêché de le vérifier)."""


# --------------------------------------------------------------------------- intégrité des outils

# Ce dont dépendent les comparaisons et le traçage, hors de ce module : s'ils sont remplacés, aucune
# conclusion n'est possible. (Les attributs de ce module lui-même sont ajoutés en fin de fichier.)
_EXTERNAL = (
    "numpy.abs", "numpy.isfinite", "numpy.isnan", "numpy.isinf", "numpy.argmax", "numpy.where", "numpy.asarray",
    "numpy.array", "numpy.frombuffer", "numpy.ascontiguousarray", "numpy.unravel_index", "numpy.ndarray",
    "numpy.dtype", "numpy.logical_and", "numpy.logical_or", "numpy.logical_not", "numpy.signbit",
    "numpy.ndarray.astype", "numpy.ndarray.tobytes", "numpy.ndarray.copy", "numpy.ndarray.reshape",
    "torch.Tensor", "torch.Tensor.detach", "torch.Tensor.cpu", "torch.Tensor.numpy", "torch.Tensor.contiguous",
    "torch.Tensor.clone", "torch.Tensor.resolve_conj", "torch.Tensor.resolve_neg", "torch.Tensor.reshape",
    "torch.Tensor.view", "torch.Tensor.requires_grad_", "torch.nn.Parameter", "torch.nn.Module.state_dict",
    "torch.get_rng_state", "torch.set_rng_state", "torch.Generator",
    "sys.setprofile", "sys.getprofile", "sys._current_frames", "sys._getframe",
    "threading.setprofile", "threading.getprofile", "threading.Thread", "threading.Thread.start",
    "threading.Thread._bootstrap", "threading.Thread._bootstrap_inner", "threading._start_new_thread",
    "threading._sys", "threading.enumerate", "_thread.start_new_thread", "_thread.get_ident",
    "hashlib.sha256", "copy.deepcopy", "warnings.formatwarning", "time.sleep",
    "builtins.isinstance", "builtins.type", "builtins.getattr", "builtins.repr", "builtins.id", "builtins.len",
)
_MISSING = object()


def _resolve_path(path: str):
    """L'objet désigné par un chemin pointé (``numpy.abs``, ``torch.Tensor.detach``), ou ``_MISSING``."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        module = sys.modules.get(".".join(parts[:cut]))
        if module is not None:
            value = module
            for part in parts[cut:]:
                value = inspect.getattr_static(value, part, _MISSING) if isinstance(value, type) \
                    else vars(value).get(part, _MISSING) if isinstance(value, types.ModuleType) \
                    else getattr(value, part, _MISSING)
                if value is _MISSING:
                    return _MISSING
            return value
    return _MISSING


def _intact_problems(originals=()) -> list[str]:
    """Ce qui a été remplacé parmi les objets dont dépendent ces outils (vide si rien)."""
    namespace = globals()
    problems = []
    for name, value in originals:
        current = namespace.get(name, _MISSING) if "." not in name else _resolve_path(name)
        if current is not value:
            problems.append(f"course_lib.grading.{name}" if "." not in name else name)
    return problems


def _active_torch_modes() -> list[str]:
    """Les modes de PyTorch actifs qui intercepteraient les opérations des comparaisons (sauf l'appareil par
    défaut, ``torch.set_default_device``)."""
    from torch.overrides import _get_current_function_mode_stack
    from torch.utils._python_dispatch import _get_current_dispatch_mode_stack

    device_context = getattr(sys.modules.get("torch.utils._device"), "DeviceContext", None)
    modes = [m for m in _get_current_function_mode_stack() if type(m) is not device_context]
    return [type(m).__qualname__ for m in modes + list(_get_current_dispatch_mode_stack())]


def _require_intact() -> None:
    problems = _intact_problems()
    if problems:
        raise ReferenceUsedError(
            f"Les outils de test ont été modifiés ({', '.join(problems[:4])} remplacé) : ce test ne peut pas être "
            "validé. Ne remplacez aucune fonction de numpy, torch, threading ou course_lib.grading.")
    modes = _active_torch_modes()
    if modes:
        raise ReferenceUsedError(
            f"Un mode de PyTorch ({', '.join(modes[:3])}) intercepte toutes les opérations : ce test ne peut pas "
            "être validé. Quittez-le (bloc with) avant les tests.")


# --------------------------------------------------------------------------- valeurs exactes

_TENSOR_TYPES = frozenset(t for t in (torch.Tensor, torch.nn.Parameter, getattr(torch.nn.parameter, "Buffer", None))
                          if t is not None)
_NUMBER_TYPES = frozenset({int, float, bool, np.bool_, np.float16, np.float32, np.float64, np.int8, np.int16,
                           np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64})


def _type_name(value) -> str:
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}"


def _plain(value, name: str, depth: int = 0) -> np.ndarray:
    """Copie privée (float64, complexe ou booléenne) d'un résultat d'étudiant, de type exact.

    Un ``torch.Tensor`` ordinaire, un ``numpy.ndarray`` ordinaire, un nombre Python ou NumPy, ou une
    liste ou un tuple de ceux-ci ; une sous-classe (qui pourrait redéfinir les comparaisons ou se
    calculer plus tard) est refusée.
    """
    kind = type(value)
    if kind in _TENSOR_TYPES:
        if value.layout != torch.strided:
            raise AssertionError(f"{name} doit être un tenseur dense ; reçu : un tenseur {value.layout}.")
        array = _tensor_to_numpy(value)
    elif kind is np.ndarray:
        if value.dtype.hasobject:
            raise AssertionError(f"{name} doit contenir des nombres ; reçu : un tableau NumPy d'objets.")
        array = value
    elif kind in _NUMBER_TYPES:
        array = np.asarray(value)
    elif kind in (list, tuple) and depth < 2:
        parts = [_plain(v, name, depth + 1) for v in value]
        if len({p.shape for p in parts}) > 1:
            raise AssertionError(f"{name} contient des éléments de formes différentes.")
        array = np.array(parts) if parts else np.zeros(0)
    elif isinstance(value, torch.Tensor):
        raise AssertionError(
            f"{name} doit être un torch.Tensor ordinaire ; reçu : un objet de type {_type_name(value)}, une "
            "sous-classe de torch.Tensor (retournez un tenseur ordinaire).")
    elif isinstance(value, (np.ndarray, int, float)):
        raise AssertionError(f"{name} doit être un tableau ou un nombre ordinaire ; reçu : un objet de type "
                             f"{_type_name(value)} (une sous-classe).")
    else:
        raise AssertionError(f"{name} doit être un tenseur torch ; reçu : {describe(value)}.")
    if array.dtype == np.bool_:
        return array.astype(np.bool_, copy=True)
    if np.issubdtype(array.dtype, np.complexfloating):
        return array.astype(np.complex128, copy=True)
    return array.astype(np.float64, copy=True)


def _tensor_to_numpy(value: torch.Tensor) -> np.ndarray:
    tensor = value.detach().cpu().resolve_conj().resolve_neg()
    if tensor.is_floating_point() and tensor.dtype not in (torch.float16, torch.float32, torch.float64):
        tensor = tensor.to(torch.float64)          # bfloat16, float8 : NumPy ne les connaît pas
    return tensor.numpy()


def _expected_array(value) -> np.ndarray:
    """La valeur attendue (calculée par le test) en tableau NumPy ; sous-classes de torch acceptées."""
    if isinstance(value, torch.Tensor):
        value = _tensor_to_numpy(value)
    if isinstance(value, (list, tuple)):
        value = [_expected_array(v) for v in value]
    array = np.asarray(value)
    if array.dtype == np.bool_:
        return array
    if np.issubdtype(array.dtype, np.complexfloating):
        return array.astype(np.complex128)
    return array.astype(np.float64)


def _dtype_of(value) -> str | None:
    if type(value) in _TENSOR_TYPES or isinstance(value, torch.Tensor):
        return str(value.dtype)
    if isinstance(value, np.ndarray):
        return f"numpy.{value.dtype}"
    return None


def _format_index(index: tuple) -> str:
    return "(" + ", ".join(str(int(i)) for i in index) + ")" if index else "()"


def _compare(a: np.ndarray, e: np.ndarray, rtol: float, atol: float, name: str) -> None:
    if a.shape != e.shape:
        raise AssertionError(f"{name} a la forme {a.shape} ; forme attendue : {e.shape}.")
    if a.size == 0:
        return
    if a.dtype == np.bool_ or e.dtype == np.bool_:
        wrong = a.astype(np.bool_) != e.astype(np.bool_) if a.dtype == e.dtype else np.ones(a.shape, bool)
        if a.dtype != e.dtype:
            kind = "booléen" if e.dtype == np.bool_ else "numérique"
            raise AssertionError(f"{name} doit être un tenseur {kind}, comme la valeur attendue.")
        if wrong.any():
            where = np.unravel_index(int(np.argmax(wrong)), a.shape)
            raise AssertionError(
                f"{name} : {int(wrong.sum())} valeur(s) fausse(s) sur {a.size}, la première à l'indice "
                f"{_format_index(where)} (obtenu {bool(a[where])}, attendu {bool(e[where])}).")
        return
    both_nan = np.isnan(a) & np.isnan(e)
    same_inf = np.isinf(a) & np.isinf(e) & (np.signbit(a.real) == np.signbit(e.real))
    bad = ~np.isfinite(a) & np.isfinite(e)
    if bad.any():
        where = np.unravel_index(int(np.argmax(bad)), a.shape)
        raise AssertionError(
            f"{name} contient {int(bad.sum())} valeur(s) NaN ou infinie(s) sur {a.size} "
            f"là où la valeur attendue est finie (par exemple à l'indice {_format_index(where)} : "
            f"attendu {float(np.real(e[where])):.6g}).")
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.where(both_nan | same_inf, 0.0, np.abs(a - e))
        tolerance = atol + rtol * np.abs(np.where(np.isfinite(e), e, 0.0))
    wrong = ~(diff <= tolerance)
    if wrong.any():
        score = np.where(wrong, np.where(np.isnan(diff), np.inf, diff), -1.0)
        where = np.unravel_index(int(np.argmax(score)), a.shape)
        got, want = a[where], e[where]
        raise AssertionError(
            f"{name} : {int(wrong.sum())} valeur(s) sur {a.size} hors tolérance ; plus grand écart "
            f"{float(diff[where]):.3g} à l'indice {_format_index(where)} (obtenu {_number(got)}, attendu "
            f"{_number(want)}).\nForme {a.shape} ; tolérance : |écart| ≤ {atol:g} + {rtol:g} × |attendu|.")


def _number(value) -> str:
    value = complex(value) if np.iscomplexobj(value) else float(value)
    return f"{value:.6g}"


def assert_shape(actual, shape, name: str = "le résultat") -> None:
    """Vérifie la forme d'un tenseur ou d'un tableau (``None`` dans ``shape`` = dimension libre).

    Le résultat doit être exactement un ``torch.Tensor`` (ou un ``numpy.ndarray``), pas une sous-classe.
    """
    _require_intact()
    if type(actual) not in _TENSOR_TYPES and type(actual) is not np.ndarray:
        if isinstance(actual, (torch.Tensor, np.ndarray)):
            raise AssertionError(f"{name} doit être un torch.Tensor ordinaire ; reçu : un objet de type "
                                 f"{_type_name(actual)} (une sous-classe).")
        raise AssertionError(f"{name} doit être un tenseur torch ; reçu : {describe(actual)}.")
    got = tuple(actual.shape)
    if len(got) != len(shape) or any(s is not None and s != g for s, g in zip(shape, got)):
        wanted = "(" + ", ".join("?" if s is None else str(s) for s in shape) + ")"
        raise AssertionError(f"{name} doit avoir la forme {wanted} ; forme obtenue : {got}.")


def assert_dtype(actual, dtype, name: str = "le résultat") -> None:
    """Vérifie le type des éléments d'un tenseur (``torch.float32``...) ou d'un tableau NumPy."""
    _require_intact()
    got = getattr(actual, "dtype", None)
    if got != dtype:
        raise AssertionError(f"{name} est de type {got} ; type attendu : {dtype}.")


def assert_close(actual, expected, rtol: float = 1e-5, atol: float = 1e-6, name: str = "le résultat") -> None:
    """Vérifie que ``actual`` est proche de ``expected`` : ``|a - e| <= atol + rtol * |e|`` partout.

    ``actual`` doit être exactement un ``torch.Tensor`` (ou un ``numpy.ndarray``, un nombre, une liste
    de nombres) : pas une sous-classe. Deux NaN, ou deux infinis de même signe, sont égaux. La première
    ligne du message d'échec dit combien de valeurs sont fausses, le plus grand écart, où, et les deux
    valeurs à cet endroit.
    """
    _require_intact()
    if isinstance(expected, torch.Tensor) and not isinstance(actual, torch.Tensor):
        raise AssertionError(f"{name} doit être un tenseur torch ; reçu : {describe(actual)}.")
    _compare(_plain(actual, name), _expected_array(expected), rtol, atol, name)


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


def off_grid(seed: int, count: int = 1, low: float = 0.5, high: float = 4.0) -> list[float]:
    """``count`` réels reproductibles de [low, high) à six décimales, sur aucune grille (pas 0,001).

    Pour tester une fonction dont les arguments ne sont que des nombres (l'écart-type d'un noyau) :
    un cache de résultats calculés à l'import pour des valeurs « rondes » n'y sert à rien.
    """
    generator = random.Random(f"course_lib.grading.off_grid:{int(seed)}")
    values: list[float] = []
    while len(values) < count:
        value = round(generator.uniform(low, high), 6)
        if abs(value * 1000 - round(value * 1000)) > 1e-6 and value not in values:
            values.append(value)
    return values


def odd_sizes(seed: int, count: int = 1, low: int = 11, high: int = 99) -> list[int]:
    """``count`` entiers impairs distincts et reproductibles de [low, high], hors multiples de 5."""
    generator = random.Random(f"course_lib.grading.odd_sizes:{int(seed)}")
    choices = [n for n in range(int(low), int(high) + 1) if n % 2 == 1 and n % 5 != 0]
    if len(choices) < count:
        raise ValueError(f"L'intervalle [{low}, {high}] contient moins de {count} entiers impairs utilisables.")
    return generator.sample(choices, count)


# --------------------------------------------------------------------------- avertissements

def _show_warning_on_stdout(message, category, filename, lineno, file=None, line=None) -> None:
    text = warnings.formatwarning(message, category, filename, lineno, line)
    try:
        sys.stdout.write(f"Avertissement (sans effet sur la note) : {text}")
    except (AttributeError, OSError, ValueError):
        pass


def warnings_to_stdout() -> None:
    """Affiche désormais les avertissements (``warnings.warn``, ``UserWarning`` de PyTorch...) sur stdout.

    Un avertissement écrit sur la sortie d'erreur (stderr) ferait échouer la cellule pour nbgrader
    (bouton *Validate*) alors que le code est juste ; sur la sortie standard, l'étudiant le voit
    toujours, et il ne coûte rien. Les cellules de préparation et de tests cachés l'appellent.
    """
    warnings.showwarning = _show_warning_on_stdout


# --------------------------------------------------------------------------- copies et empreintes

def clone(value):
    """Copie profonde d'une entrée de test : tenseurs (détachés, même ``requires_grad``), tableaux,
    listes, tuples, dictionnaires, modules ``torch.nn`` ; le reste par ``copy.deepcopy``."""
    kind = type(value)
    if isinstance(value, torch.Tensor):
        copied = value.detach().clone()
        if kind is torch.nn.Parameter:
            copied = torch.nn.Parameter(copied, requires_grad=value.requires_grad)
        elif value.requires_grad and copied.is_floating_point():
            copied.requires_grad_(True)
        if value.grad is not None and copied.is_leaf:
            copied.grad = value.grad.detach().clone()
        return copied
    if kind is np.ndarray:
        return value.copy()
    if kind in (list, tuple):
        return kind(clone(v) for v in value)
    if kind is dict:
        return {k: clone(v) for k, v in value.items()}
    if isinstance(value, (int, float, complex, str, bytes, bool, type(None), types.FunctionType, types.ModuleType)):
        return value
    return copy.deepcopy(value)


def _feed(digest, value, depth: int = 0) -> None:
    kind = type(value)
    digest.update(f"<{kind.__module__}.{kind.__qualname__}>".encode())
    if depth > 20:
        digest.update(b"...")
    elif isinstance(value, torch.Tensor):
        digest.update(repr((str(value.dtype), tuple(value.shape), value.requires_grad, str(value.layout))).encode())
        if value.layout == torch.strided:
            data = value.detach().cpu().resolve_conj().resolve_neg().contiguous()
            digest.update(data.reshape(-1).view(torch.uint8).numpy().tobytes() if data.numel() else b"")
        else:
            digest.update(repr(value).encode())
        if value.grad is not None:
            digest.update(b"grad")
            _feed(digest, value.grad, depth + 1)
    elif isinstance(value, np.ndarray):
        digest.update(repr((str(value.dtype), value.shape)).encode())
        digest.update(repr(value.tolist()).encode() if value.dtype.hasobject else
                      np.ascontiguousarray(value).tobytes())
    elif isinstance(value, (list, tuple)):
        digest.update(str(len(value)).encode())
        for item in value:
            _feed(digest, item, depth + 1)
    elif isinstance(value, dict):
        digest.update(str(len(value)).encode())
        for key in sorted(value, key=repr):
            digest.update(repr(key).encode())
            _feed(digest, value[key], depth + 1)
    elif isinstance(value, torch.nn.Module):
        digest.update(repr(value.training).encode())
        for key, tensor in value.state_dict(keep_vars=True).items():
            digest.update(key.encode())
            _feed(digest, tensor, depth + 1)
    elif isinstance(value, torch.Generator):
        _feed(digest, value.get_state(), depth + 1)
    else:
        digest.update(repr(value).encode())


def fingerprint(value) -> bytes:
    """Empreinte (SHA-256) du contenu d'une valeur : valeurs, forme et type des tenseurs (et de leur
    ``.grad``), listes, dictionnaires, paramètres d'un module. Deux valeurs de même contenu ont la même."""
    digest = hashlib.sha256()
    _feed(digest, value)
    return digest.digest()


def assert_unchanged(value, before: bytes, name: str = "l'entrée") -> None:
    """Échoue si ``value`` n'a plus l'empreinte ``before`` (prise par :func:`fingerprint`)."""
    _require_intact()
    if fingerprint(value) != before:
        raise AssertionError(f"{name} a été modifié(e) sur place ; il (elle) doit rester inchangé(e).")


# --------------------------------------------------------------------------- codes reconnus par leur contenu

_FLAG_MASK = (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS | inspect.CO_GENERATOR | inspect.CO_COROUTINE
              | inspect.CO_ASYNC_GENERATOR | inspect.CO_ITERABLE_COROUTINE | inspect.CO_NEWLOCALS)
#: En dessous de ce nombre d'instructions, deux codes identiques ne prouvent pas une copie
#: (``return x - logsumexp(x, dim=dim, keepdim=True)`` s'écrit naturellement ainsi) : seul l'objet
#: de code lui-même est alors reconnu.
_MIN_INSTRUCTIONS = 16


def _const_key(const) -> bytes:
    if isinstance(const, types.CodeType):
        return b"code:" + _code_digest(const)
    if type(const) is tuple:
        return b"(" + b",".join(_const_key(c) for c in const) + b")"
    if type(const) is frozenset:
        return b"{" + b",".join(sorted(_const_key(c) for c in const)) + b"}"
    return f"{type(const).__name__}:{const!r}".encode()


_SAME_OPERATION = MappingProxyType({"LOAD_METHOD": "LOAD_ATTR"})   # selon que le nom vient d'un import
_JUMPS = frozenset(dis.hasjrel) | frozenset(dis.hasjabs)
_LOCALS = frozenset(dis.haslocal) | frozenset(dis.hasfree)


@functools.lru_cache(maxsize=16384)
def _instructions(code: types.CodeType) -> tuple:
    """Les instructions d'un code, normalisées : sans les noms des variables locales ni les positions des
    sauts (remplacées par des numéros d'instruction), constantes par leur contenu.

    Le même texte ne donne pas toujours le même bytecode : CPython 3.11 appelle ``F.conv2d(...)`` par
    ``LOAD_METHOD`` si ``F`` n'est pas importé dans le même fichier, par ``LOAD_ATTR`` sinon ; on les confond.
    """
    listing = list(dis.get_instructions(code))
    index = {instruction.offset: k for k, instruction in enumerate(listing)}
    normalised = []
    for instruction in listing:
        name = _SAME_OPERATION.get(instruction.opname, instruction.opname)
        if instruction.opcode in _JUMPS:
            argument = index.get(instruction.argval, -1)
        elif instruction.opcode in _LOCALS:
            argument = instruction.arg
        elif instruction.opcode in dis.hasconst or name == "KW_NAMES":
            argument = _const_key(instruction.argval)
        elif isinstance(instruction.argval, (str, int, type(None))):
            argument = instruction.argval
        else:
            argument = instruction.arg
        normalised.append((name, argument))
    return tuple(normalised)


@functools.lru_cache(maxsize=16384)
def _code_digest(code: types.CodeType) -> bytes:
    """Empreinte d'un objet de code : ses instructions normalisées (constantes et codes imbriqués compris,
    noms globaux et attributs), ses nombres d'arguments ; sans le nom de fichier, les numéros de ligne, la
    docstring, le nom de la fonction ni ceux de ses variables locales."""
    digest = hashlib.sha256(repr((code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount,
                                  code.co_nlocals, code.co_flags & _FLAG_MASK, len(code.co_freevars),
                                  len(code.co_cellvars))).encode())
    for name, argument in _instructions(code):
        digest.update(f"|{name}:".encode())
        digest.update(argument if isinstance(argument, bytes) else repr(argument).encode())
    return digest.digest()


def _shape_key(code: types.CodeType) -> tuple:
    """Filtre rapide : deux copies d'un même code ont forcément la même clé."""
    return code.co_argcount, code.co_kwonlyargcount, code.co_nlocals, len(code.co_names)


@functools.lru_cache(maxsize=16384)
def _substantial(code: types.CodeType) -> bool:
    """Un code nommé (pas une compréhension ni une lambda) d'au moins ``_MIN_INSTRUCTIONS`` instructions."""
    if code.co_name.startswith("<") or len(code.co_code) < 2 * _MIN_INSTRUCTIONS:
        return False
    return len(_instructions(code)) >= _MIN_INSTRUCTIONS


def _nested_codes(code: types.CodeType):
    stack = [code]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(c for c in current.co_consts if isinstance(c, types.CodeType))


def same_code(first, second) -> bool:
    """Vrai si deux fonctions (ou objets de code) ont le même code, au sens de :func:`assert_not_reference`."""
    codes = []
    for value in (first, second):
        value = inspect.unwrap(getattr(value, "__func__", value))
        codes.append(value if isinstance(value, types.CodeType) else value.__code__)
    return _code_digest(codes[0]) == _code_digest(codes[1])


class _Forbidden(NamedTuple):
    label: str
    code_ids: frozenset          # objets de code interdits, par identité
    digests: frozenset           # empreintes des codes interdits assez longs pour prouver une copie
    sizes: frozenset             # leurs clés de forme (filtre rapide, voir _shape_key)
    files: frozenset             # fichiers source d'un module interdit
    roots: tuple                 # dossiers d'un paquet interdit (tous ses sous-modules)
    builtin_ids: frozenset       # fonctions compilées interdites, par identité
    modules: tuple               # modules dont toutes les fonctions compilées sont interdites
    keep: tuple                  # garde en vie ce dont on a pris l'identité


def _reference_name(target) -> str:
    if isinstance(target, types.ModuleType):
        return target.__name__
    module = getattr(target, "__module__", None) or ""
    name = getattr(target, "__qualname__", None) or getattr(target, "__name__", None) or repr(target)
    return f"{module}.{name}" if module else name


def _defined_in(value, module: types.ModuleType) -> bool:
    origin = getattr(value, "__module__", None)
    return isinstance(origin, str) and (origin == module.__name__ or origin.startswith(module.__name__ + "."))


def _function_codes(value) -> list[types.CodeType]:
    """Les objets de code d'une fonction, méthode, propriété, partial ou classe (membres compris)."""
    for _ in range(5):
        if isinstance(value, (staticmethod, classmethod, types.MethodType)):
            value = value.__func__
        elif isinstance(value, functools.partial):
            value = value.func
        elif isinstance(value, property):
            return [c for f in (value.fget, value.fset, value.fdel) if f is not None for c in _function_codes(f)]
        else:
            break
    if isinstance(value, type):
        # Seulement ce qui est écrit dans le corps de la classe : une classe Enum, par exemple, range dans son
        # dictionnaire le __new__ du module enum, que tout le reste du programme exécute aussi.
        prefix = f"{getattr(value, '__qualname__', '')}."
        codes = []
        for member in list(vars(value).values()):
            inner = getattr(member, "__func__", None) or getattr(member, "fget", None) or member
            if not isinstance(member, type) and str(getattr(inner, "__qualname__", "")).startswith(prefix):
                codes += _function_codes(member)
        return codes
    try:
        value = inspect.unwrap(value)
    except ValueError:
        pass
    code = getattr(value, "__code__", None) if isinstance(value, types.FunctionType) else None
    return list(_nested_codes(code)) if isinstance(code, types.CodeType) else []


def _is_builtin(value) -> bool:
    return isinstance(value, (types.BuiltinFunctionType, types.BuiltinMethodType))


def _module_sources(module: types.ModuleType) -> tuple[list[str], tuple[str, ...]]:
    """Les fichiers source d'un module, ou de tout un paquet (sous-modules pas encore importés compris)."""
    paths = [p for p in (getattr(module, "__path__", None) or []) if isinstance(p, str)]
    if paths:
        roots = tuple(dict.fromkeys(os.path.join(p, "") for root in paths
                                    for p in (root, os.path.realpath(root))))
        files = [os.path.join(folder, name) for root in paths for folder, _, names in os.walk(root)
                 if not {"tests", "test", "__pycache__"} & set(os.path.relpath(folder, root).split(os.sep))
                 for name in sorted(names) if name.endswith(".py")]
        return files, roots
    filename = getattr(module, "__file__", None)
    return ([filename] if isinstance(filename, str) and filename.endswith(".py") else []), ()


@functools.lru_cache(maxsize=1024)
def _forbidden(target) -> _Forbidden:
    """Ce qu'interdit une cible : fonction, méthode, classe, module ou paquet entier, fonction compilée."""
    codes, files, builtins_, modules, roots = [], [], [], (), ()
    if isinstance(target, types.ModuleType):
        modules = (target,)
        prefix = target.__name__ + "."
        namespaces = [target] + [m for name, m in list(sys.modules.items())
                                 if name.startswith(prefix) and isinstance(m, types.ModuleType)]
        for namespace in namespaces:
            for value in list(vars(namespace).values()):
                if isinstance(value, (types.FunctionType, type, functools.partial)) and _defined_in(value, target):
                    codes += _function_codes(value)
                elif _is_builtin(value) and (getattr(value, "__module__", None) is None or _defined_in(value, target)):
                    builtins_.append(value)
        files, roots = _module_sources(target)
        for filename in files:
            try:
                with open(filename, "rb") as handle:
                    codes += list(_nested_codes(compile(handle.read(), filename, "exec", dont_inherit=True)))
            except (OSError, SyntaxError, ValueError):
                pass
    elif _is_builtin(target):
        builtins_.append(target)
    else:
        codes = _function_codes(target)
        if not codes:
            raise TypeError(f"Impossible de reconnaître la référence {describe(target)} : ni fonction, ni classe, "
                            "ni module, ni fonction compilée.")
    substantial = [c for c in codes if _substantial(c)]
    return _Forbidden(
        label=_reference_name(target),
        code_ids=frozenset(id(c) for c in codes),
        digests=frozenset(_code_digest(c) for c in substantial),
        sizes=frozenset(_shape_key(c) for c in substantial),
        files=frozenset(files) | frozenset(os.path.realpath(f) for f in files),
        roots=roots,
        builtin_ids=frozenset(id(b) for b in builtins_),
        modules=modules,
        keep=(target, tuple(codes), tuple(builtins_)),
    )


def _import_target(name: str):
    """« module », « module.attribut » ou « module.Classe.méthode » -> l'objet."""
    try:
        return importlib.import_module(name)
    except ImportError:
        pass
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            value = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            value = getattr(value, part)
        return value
    raise ImportError(f"Référence interdite introuvable : {name}.")


def _targets(references) -> list[_Forbidden]:
    items = list(references) if isinstance(references, (list, tuple, set, frozenset)) else [references]
    return [_forbidden(_import_target(item) if isinstance(item, str) else item) for item in items]


# --------------------------------------------------------------------------- traçage de tous les fils

_START_NEW_THREAD = _thread.start_new_thread
_SET_PROFILE = sys.setprofile
_THREAD_START_CODE = threading.Thread.start.__code__
_BOOTSTRAP = threading.Thread._bootstrap
_BOOTSTRAP_INNER = threading.Thread._bootstrap_inner
_BOOTSTRAP_INNER_CODE = threading.Thread._bootstrap_inner.__code__
_PROCESS_STARTERS = frozenset(id(f) for f in (
    getattr(sys.modules.get("os"), name, None) for name in ("fork", "forkpty", "posix_spawn", "posix_spawnp",
                                                            "system", "execv", "execve", "spawnv", "spawnve"))
    if f is not None) | frozenset(
    id(f) for f in [getattr(sys.modules.get("_posixsubprocess"), "fork_exec", None)] if f is not None)
_WATCHED_EVENTS = frozenset({"sys.setprofile", "os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "os.exec",
                             "os.system", "subprocess.Popen"})


class _BoundCall(tuple):
    """Une méthode compilée appelée sur un objet (``x.softmax``) : son nom et le type de l'objet."""

    __slots__ = ()

    def __new__(cls, name: str, owner: type):
        return tuple.__new__(cls, (name, owner))

    __name__ = property(lambda self: self[0])
    owner = property(lambda self: self[1])


class _Recorder:
    """Ce qu'a exécuté la fonction d'un étudiant, dans tous les fils suivis."""

    __slots__ = ("codes", "static_calls", "bound_calls", "events", "problems", "thread_starts", "__weakref__")

    def __init__(self):
        self.codes: set = set()
        self.static_calls: dict = {}
        self.bound_calls: set = set()
        self.events = 0
        self.problems: list[str] = []
        self.thread_starts = 0

    def profile(self, frame, event, arg):
        if event == "call":
            self.codes.add(frame.f_code)
            self.events += 1
        elif event == "c_call":
            self.events += 1
            owner = getattr(arg, "__self__", None)
            if owner is None or isinstance(owner, (types.ModuleType, type)):
                self.static_calls[id(arg)] = arg
                if arg is _START_NEW_THREAD:
                    self._check_thread_start(frame)
                elif arg is _SET_PROFILE and frame.f_code is not _run_traced.__code__:
                    self._refuse("a désactivé ou remplacé le traçage des appels (sys.setprofile)")
                elif id(arg) in _PROCESS_STARTERS:
                    self._refuse("lance un autre processus, où le traçage ne peut pas la suivre")
            else:
                self.bound_calls.add(_BoundCall(getattr(arg, "__name__", ""), type(owner)))

    def _refuse(self, reason: str):
        self.problems.append(reason)
        raise ReferenceUsedError(f"Votre fonction {reason} : ce test ne peut pas être validé.")

    def _check_thread_start(self, frame) -> None:
        """Un nouveau fil doit passer par ``threading.Thread`` intact, qui y installera ce traçage."""
        if frame.f_code is not _THREAD_START_CODE:
            self._refuse("lance un fil d'exécution sans passer par threading.Thread")
        thread = frame.f_locals.get("self")
        kind = type(thread)
        intact = (inspect.getattr_static(kind, "_bootstrap", None) is _BOOTSTRAP
                  and inspect.getattr_static(kind, "_bootstrap_inner", None) is _BOOTSTRAP_INNER
                  and _BOOTSTRAP_INNER.__code__ is _BOOTSTRAP_INNER_CODE
                  and not {"_bootstrap", "_bootstrap_inner"} & set(getattr(thread, "__dict__", {}))
                  and getattr(threading.getprofile(), "__self__", None) is self
                  and threading._sys is sys)
        if not intact:
            self._refuse("lance un fil d'exécution dont le traçage a été désactivé")
        self.thread_starts += 1


class _CApi(NamedTuple):
    """Les fonctions de l'API C de CPython qui installent un profileur dans un autre fil."""

    ctypes: types.ModuleType
    tracefunc: type
    set_profile: object
    interpreter: object
    head: object
    next: object
    current: object
    new: object
    ident: object
    clear: object
    delete: object


def _c_api() -> _CApi | None:
    """L'API C (CPython 3.11 : ``_PyEval_SetProfile``) ; ``None`` si elle manque (autre interprète)."""
    try:
        import ctypes

        api = ctypes.pythonapi
        void = ctypes.c_void_p
        tracefunc = ctypes.CFUNCTYPE(ctypes.c_int, void, ctypes.py_object, ctypes.c_int, void)
        functions = {}
        for name, restype, argtypes in (
                ("_PyEval_SetProfile", ctypes.c_int, [void, tracefunc, ctypes.py_object]),
                ("PyInterpreterState_Get", void, []), ("PyInterpreterState_ThreadHead", void, [void]),
                ("PyThreadState_Next", void, [void]), ("PyThreadState_Get", void, []),
                ("PyThreadState_New", void, [void]), ("PyThreadState_GetID", ctypes.c_uint64, [void]),
                ("PyThreadState_Clear", None, [void]), ("PyThreadState_Delete", None, [void])):
            function = getattr(api, name)
            function.restype, function.argtypes = restype, argtypes
            functions[name] = function
    except (ImportError, AttributeError, OSError):
        return None
    return _CApi(ctypes, tracefunc, *functions.values())


_CAPI = _c_api()
_EVENT_NAMES = ("call", "exception", "line", "return", "c_call", "c_exception", "c_return")


def _foreign_event(recorder: _Recorder, _obj, frame, what: int, arg) -> int:
    """Profileur (appelé par CPython) d'un fil qui existait avant l'appel tracé."""
    try:
        event = _EVENT_NAMES[what]
        if event == "call" or event == "c_call":
            recorder.profile(frame, event, _CAPI.ctypes.cast(arg, _CAPI.ctypes.py_object).value
                             if event == "c_call" and arg else None)
    except BaseException:  # noqa: BLE001 - le refus est déjà noté dans recorder.problems
        pass
    return 0


def _other_states() -> list[int]:
    api = _CAPI
    current, state, states = api.current(), api.head(api.interpreter()), []
    while state:
        if state != current:
            states.append(state)
        state = api.next(state)
    return states


def _next_thread_serial() -> int:
    """Le numéro que recevra le prochain fil Python (les numéros de fil de CPython ne font que croître)."""
    api = _CAPI
    state = api.new(api.interpreter())
    serial = int(api.ident(state))
    api.clear(state)
    api.delete(state)
    return serial


class _OtherThreads:
    """Le profileur du relevé, installé dans tous les fils qui existent déjà (puis retiré)."""

    __slots__ = ("recorder", "callback", "states", "first")

    def __init__(self, recorder: _Recorder):
        self.recorder = recorder
        self.callback = _CAPI.tracefunc(functools.partial(_foreign_event, recorder))
        self.first = _next_thread_serial()
        self.states = _other_states()
        for state in self.states:
            _CAPI.set_profile(state, self.callback, recorder.profile)     # sys.getprofile() le montre

    def remove(self) -> int:
        """Retire le profileur ; retourne le nombre de fils Python créés pendant l'appel."""
        created = _next_thread_serial() - self.first - 1
        alive = set(_other_states())
        empty = _CAPI.ctypes.cast(None, _CAPI.tracefunc)
        for state in self.states:
            if state in alive:
                _CAPI.set_profile(state, empty, None)
        return created


class _Sampler:
    """Repli sans l'API C : les piles d'appels des fils que le traçage ne suit pas sont relevées sans arrêt."""

    __slots__ = ("recorder", "main", "stop", "done", "ident")

    def __init__(self, recorder: _Recorder, main: int):
        self.recorder, self.main, self.stop = recorder, main, False
        self.done = _thread.allocate_lock()
        self.done.acquire()
        self.ident = None

    def start(self) -> None:
        self.ident = _thread.start_new_thread(self._run, ())

    def _run(self) -> None:
        try:
            me = _thread.get_ident()
            codes = self.recorder.codes
            while True:
                for ident, frame in sys._current_frames().items():
                    if ident != me and ident != self.main:
                        while frame is not None:
                            codes.add(frame.f_code)
                            frame = frame.f_back
                if self.stop:
                    break
                time.sleep(0)
        finally:
            self.done.release()

    def finish(self) -> None:
        self.stop = True
        self.done.acquire()


def _our_code(code) -> bool:
    return code is _run_traced.__code__ or code is _BOOTSTRAP_INNER_CODE


def _audit(event: str, args: tuple) -> None:
    """Pendant un appel tracé : ni traçage désactivé, ni autre processus."""
    if event not in _WATCHED_EVENTS:
        return
    recorder = getattr(sys.getprofile(), "__self__", None)
    if type(recorder) is not _Recorder:
        return
    if event == "sys.setprofile":
        if _our_code(sys._getframe(1).f_code):
            return
        reason = "a désactivé ou remplacé le traçage des appels (sys.setprofile)"
    else:
        reason = f"lance un autre processus ({event}), où le traçage ne peut pas la suivre"
    recorder.problems.append(reason)
    raise ReferenceUsedError(f"Votre fonction {reason} : ce test ne peut pas être validé.")


sys.addaudithook(_audit)


def _thread_problems() -> list[str]:
    problems = []
    if threading._start_new_thread is not _START_NEW_THREAD or threading._sys is not sys:
        problems.append("le module threading a été modifié")
    if threading.Thread._bootstrap is not _BOOTSTRAP or threading.Thread._bootstrap_inner is not _BOOTSTRAP_INNER \
            or _BOOTSTRAP_INNER.__code__ is not _BOOTSTRAP_INNER_CODE \
            or threading.Thread.start.__code__ is not _THREAD_START_CODE:
        problems.append("threading.Thread a été modifié")
    return problems


def _live_threads() -> dict[int, object]:
    """Fils vivants : identifiant -> objet threading.Thread (ou None pour un fil lancé par _thread)."""
    live: dict[int, object] = dict.fromkeys(sys._current_frames())
    for thread in threading.enumerate():
        if thread.ident is not None:
            live[thread.ident] = thread
    return live


def _harmless_thread(thread) -> bool:
    """Un fil qu'une bibliothèque laisse tourner exprès (le moniteur des barres de progression tqdm)."""
    monitor = getattr(sys.modules.get("tqdm._monitor"), "TMonitor", None)
    return monitor is not None and type(thread) is monitor


def _run_traced(func: Callable, args: tuple, kwargs: dict, sample: bool = True):
    """Appelle ``func`` sous traçage de tous ses fils ; retourne ``(résultat, _Recorder)``.

    Le fil appelant et ceux qu'il lance par ``threading`` reçoivent le profileur du relevé ; les fils
    qui existaient déjà aussi (API C de CPython), et un fil lancé autrement est une erreur. Sans l'API C,
    un observateur relève en continu les piles d'appels des autres fils.
    """
    _require_intact()
    outer = getattr(sys.getprofile(), "__self__", None)
    if type(outer) is _Recorder:            # une fonction tracée ne lance pas elle-même un traçage
        outer.problems.append("appelle les outils de test (course_lib.grading) pendant son exécution")
        raise ReferenceUsedError("Votre fonction appelle les outils de test (course_lib.grading) pendant son "
                                 "exécution : ce test ne peut pas être validé.")
    problems = _thread_problems()
    if problems:
        raise ReferenceUsedError(f"Le traçage des appels est impossible ({problems[0]}) : ce test ne peut pas être "
                                 "validé.")
    recorder = _Recorder()
    before = _live_threads()
    others = sampler = None
    if sample and _CAPI is not None:
        others = _OtherThreads(recorder)
    elif sample:
        sampler = _Sampler(recorder, _thread.get_ident())
        sampler.start()
    previous, previous_threads, interval = sys.getprofile(), threading.getprofile(), sys.getswitchinterval()
    if sampler is not None:
        sys.setswitchinterval(min(interval, 0.0002))   # un fil qui calcule cède souvent la main à l'observateur
    threading.setprofile(recorder.profile)
    sys.setprofile(recorder.profile)
    try:
        result = func(*args, **kwargs)
    except BaseException as error:
        if recorder.problems:
            raise ReferenceUsedError(f"Votre fonction {recorder.problems[0]} : ce test ne peut pas être validé.") \
                from error
        raise
    finally:
        active, active_threads = sys.getprofile(), threading.getprofile()
        sys.setprofile(previous)
        threading.setprofile(previous_threads)
        sys.setswitchinterval(interval)
        created = others.remove() if others is not None else 0
        if sampler is not None:
            sampler.finish()
    if getattr(active, "__self__", None) is not recorder:
        problems.append("Le traçage des appels a été désactivé pendant l'exécution de votre fonction "
                        "(sys.setprofile)")
    if getattr(active_threads, "__self__", None) is not recorder:
        problems.append("Le traçage des fils d'exécution a été désactivé pendant l'exécution de votre fonction "
                        "(threading.setprofile)")
    problems += recorder.problems + _thread_problems()
    if created > recorder.thread_starts:
        problems.append("lance un fil d'exécution sans passer par threading.Thread")
    # Sans l'API C, un fil laissé actif ne serait plus suivi aux appels suivants (avec elle, il l'est).
    left = [] if others is not None else [
        thread for ident, thread in _live_threads().items()
        if ident not in before and ident != (sampler.ident if sampler else None) and not _harmless_thread(thread)]
    if left:
        problems.append(f"laisse {len(left)} fil(s) d'exécution actif(s) après son retour (attendez leur fin, par "
                        "exemple avec join ou un bloc with ThreadPoolExecutor)")
    if problems:
        first = problems[0] if problems[0][:1].isupper() else f"Votre fonction {problems[0]}"
        raise ReferenceUsedError(f"{first} : ce test ne peut pas être validé.")
    return result, recorder


def traced_call(func: Callable, *args, **kwargs):
    """Appelle ``func(*args, **kwargs)`` en notant les codes Python et fonctions compilées exécutés,
    dans le fil appelant et dans tous ceux qu'il lance.

    Retourne ``(résultat, codes, fonctions_compilées)`` ; une méthode compilée appelée sur un objet
    (``x.softmax``) y figure par son nom (attribut ``__name__``) et le type de l'objet (``owner``).
    """
    result, recorder = _run_traced(func, args, kwargs)
    return result, set(recorder.codes), set(recorder.static_calls.values()) | recorder.bound_calls


def _used(recorder: _Recorder, targets: list[_Forbidden]) -> list[str]:
    """Les références interdites que le relevé montre exécutées (identité, fichier ou empreinte du code),
    chacune avec ce qui l'a trahie."""
    used: dict[str, str] = {}
    keys = frozenset().union(*(t.sizes for t in targets)) if targets else frozenset()
    for code in list(recorder.codes):
        identity, filename = id(code), code.co_filename
        for target in targets:
            if target.label in used:
                continue
            if identity in target.code_ids or filename in target.files or \
                    (target.roots and filename.startswith(target.roots)):
                used[target.label] = f"{target.label} ({code.co_name})"
            elif (key := _shape_key(code)) in keys and key in target.sizes and _substantial(code) \
                    and _code_digest(code) in target.digests:
                used[target.label] = f"{target.label} (une copie : {code.co_name}, {filename}:{code.co_firstlineno})"
    for builtin in list(recorder.static_calls.values()):
        owner = getattr(builtin, "__self__", None)
        for target in targets:
            if target.label not in used and (id(builtin) in target.builtin_ids or
                                             any(owner is m for m in target.modules)):
                used[target.label] = f"{target.label} ({getattr(builtin, '__name__', '?')})"
    return [used[label] for label in sorted(used)]


def assert_not_reference(func: Callable, references, *args, **kwargs):
    """Exécute ``func(*args, **kwargs)`` et échoue si une implémentation interdite a été exécutée.

    Une référence est reconnue par son objet de code, ou par une copie de son code (même bytecode,
    mêmes constantes, mêmes noms ; le nom de fichier et les numéros de ligne n'y font rien), dans le
    fil appelant comme dans ceux qu'il lance.

    Paramètres
    ----------
    func : callable
        La fonction de l'étudiant.
    references : fonction, classe, module, fonction compilée, nom pointé (str), ou une liste de ceux-ci
        Ce que l'étudiant ne doit pas exécuter (un module interdit toutes ses fonctions ; un nom comme
        ``"course_lib.images"`` ou ``"cv2.GaussianBlur"`` est importé au moment du test).

    Retourne
    --------
    Le résultat de ``func``.
    """
    _require_intact()
    if not callable(func):
        raise AssertionError(f"La fonction à tester n'est pas appelable ; reçu : {describe(func)}.")
    targets = _targets(references)
    result, recorder = _run_traced(func, args, kwargs)
    used = _used(recorder, targets)
    if used:
        student = getattr(func, "__name__", "votre fonction")
        raise ReferenceUsedError(
            f"« {student} » exécute l'implémentation de référence {', '.join(used)}, directement, par un alias ou par "
            "une copie de son code : ce test vérifie que vous avez écrit le calcul vous-même.")
    return result


# --------------------------------------------------------------------------- le test caché type

class _Frozen(NamedTuple):
    """Le résultat d'un étudiant, figé juste après son retour (octets immuables)."""

    dtype: str | None
    kind: str
    shape: tuple
    data: bytes | tuple

    def array(self) -> np.ndarray:
        return np.frombuffer(self.data, dtype=np.dtype(self.kind)).reshape(self.shape)


def _freeze(value, name: str):
    if type(value) in (list, tuple) and any(isinstance(v, (torch.Tensor, np.ndarray, list, tuple)) for v in value):
        return tuple(_freeze(v, f"{name} (élément n° {k + 1})") for k, v in enumerate(value))
    array = _plain(value, name)
    return _Frozen(_dtype_of(value), array.dtype.str, array.shape, array.tobytes(order="C"))


def _check_frozen(frozen, expected, rtol, atol, name, check_dtype) -> None:
    if isinstance(frozen, tuple) and not isinstance(frozen, _Frozen):
        if not isinstance(expected, (list, tuple)) or len(expected) != len(frozen):
            raise AssertionError(f"{name} contient {len(frozen)} élément(s) ; attendu : "
                                 f"{len(expected) if isinstance(expected, (list, tuple)) else 1}.")
        for k, (part, want) in enumerate(zip(frozen, expected)):
            _check_frozen(part, want, rtol, atol, f"{name} (élément n° {k + 1})", check_dtype)
        return
    want_dtype = _dtype_of(expected)
    if check_dtype and want_dtype is not None and frozen.dtype is not None and frozen.dtype != want_dtype:
        raise AssertionError(f"{name} est de type {frozen.dtype} ; type attendu : {want_dtype}.")
    if isinstance(expected, torch.Tensor) and frozen.dtype is not None and not frozen.dtype.startswith("torch."):
        raise AssertionError(f"{name} doit être un tenseur torch ; reçu : un tableau NumPy.")
    _compare(frozen.array(), _expected_array(expected), rtol, atol, name)


def _argument_names(student, reference, count: int) -> list[str]:
    for function in (student, reference):
        try:
            parameters = [p for p in inspect.signature(function).parameters.values()
                          if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        except (TypeError, ValueError):
            continue
        if len(parameters) >= count:
            return [p.name for p in parameters[:count]]
    return [f"n° {k + 1}" for k in range(count)]


def _rng_state():
    return torch.get_rng_state(), np.random.get_state(), random.getstate()


def _set_rng_state(state) -> None:
    torch.set_rng_state(state[0])
    np.random.set_state(state[1])
    random.setstate(state[2])


def check_against_reference(student: Callable, reference: Callable, inputs: Iterable,
                            rtol: float = 1e-5, atol: float = 1e-6, forbidden=None,
                            name: str | None = None, *, check_dtype: bool = True, mutable: Iterable = ()) -> None:
    """Test caché type : compare ``student`` à ``reference`` sur chaque entrée, sans référence exécutée.

    Pour chaque entrée, ``student`` reçoit des **copies** des arguments (sous traçage : aucune référence
    interdite ne doit s'exécuter) ; son résultat est figé dès son retour, et ses arguments ne doivent
    pas avoir changé. Les valeurs attendues ne sont calculées qu'ensuite, par ``reference``, sur
    d'autres copies et avec le même état des générateurs aléatoires.

    Paramètres
    ----------
    student, reference : callable
    inputs : itérable
        Chaque élément est un tuple d'arguments positionnels (ou un seul argument).
    forbidden : optionnel
        Références interdites (voir :func:`assert_not_reference` ; par défaut ``reference`` elle-même).
    name : str, optionnel
        Nom affiché dans les messages.
    check_dtype : bool
        Le résultat doit avoir le type (``torch.float32``...) de la valeur attendue.
    mutable : noms ou positions d'arguments
        Arguments que la fonction a le droit de modifier sur place.
    """
    _require_intact()
    label = name or getattr(student, "__name__", "votre fonction")
    cases = [item if isinstance(item, tuple) else (item,) for item in inputs]
    pristine = [clone(args) for args in cases]
    prints = tuple(tuple(fingerprint(a) for a in args) for args in pristine)
    targets = _targets(forbidden if forbidden is not None else reference)
    allowed = set(mutable)
    results = []
    for k, args in enumerate(pristine):
        given = clone(args)
        state = _rng_state()
        if not callable(student):
            raise AssertionError(f"« {label} » n'est pas une fonction ; reçu : {describe(student)}.")
        actual, recorder = _run_traced(student, given, {})
        where = f"Le résultat de « {label} » (entrée n° {k + 1})"
        frozen = _freeze(actual, where)
        used = _used(recorder, targets)
        if used:
            raise ReferenceUsedError(
                f"« {label} » exécute l'implémentation de référence {', '.join(used)}, directement, par un alias ou "
                "par une copie de son code : ce test vérifie que vous avez écrit le calcul vous-même.")
        names = _argument_names(student, reference, len(given))
        for position, (argument, before) in enumerate(zip(given, prints[k])):
            if position in allowed or names[position] in allowed:
                continue
            if fingerprint(argument) != before:
                raise AssertionError(
                    f"« {label} » modifie sur place son argument « {names[position]} » (entrée n° {k + 1}) : "
                    "les entrées doivent rester inchangées ; travaillez sur une copie ou sur de nouveaux tenseurs.")
        results.append((frozen, state, where))
        del actual, given, recorder
    for k, (frozen, state, where) in enumerate(results):
        current = _rng_state()
        _set_rng_state(state)
        try:
            expected = reference(*clone(pristine[k]))
        finally:
            _set_rng_state(current)
        if tuple(fingerprint(a) for a in pristine[k]) != prints[k]:
            raise ReferenceUsedError("Les entrées du test ont été modifiées pendant le test : ce test ne peut pas "
                                     "être validé.")
        _check_frozen(frozen, expected, rtol, atol, where, check_dtype)


# --------------------------------------------------------------------------- raccourcis et vectorisation

#: Les fonctions compilées de PyTorch qui feraient à la place de l'étudiant le travail demandé, par
#: opération (immuable) : :func:`assert_no_shortcut` les reconnaît par leur nom, quelle que soit la façon
#: de les appeler (``torch.softmax(x, 1)``, ``x.softmax(1)``, ``F.softmax``).
SHORTCUTS = MappingProxyType({
    "conv2d": ("conv2d", "convolution", "_convolution", "conv_tbc", "cudnn_convolution", "conv1d", "conv3d",
               "mkldnn_convolution", "_conv_depthwise2d", "thnn_conv2d", "slow_conv2d"),
    "softmax": ("softmax", "_softmax", "log_softmax", "_log_softmax", "special_softmax", "special_log_softmax"),
    "cross_entropy": ("cross_entropy_loss", "nll_loss", "nll_loss_nd", "nll_loss2d", "log_softmax", "_log_softmax",
                      "logsumexp", "softmax", "_softmax", "special_logsumexp", "special_softmax",
                      "special_log_softmax"),
})


def assert_no_shortcut(func: Callable, names: Iterable[str], *args, **kwargs):
    """Exécute ``func(*args, **kwargs)`` et échoue si une fonction compilée de nom interdit a été appelée.

    Une même opération s'appelle de bien des façons (``torch.softmax(x, 1)``, ``x.softmax(1)``,
    ``F.softmax``) : on la reconnaît ici par le **nom** de la fonction compilée exécutée.

    Paramètres
    ----------
    func : callable
        La fonction de l'étudiant.
    names : itérable de str
        Noms interdits (par exemple ``SHORTCUTS["softmax"]``).

    Retourne
    --------
    Le résultat de ``func``.
    """
    _require_intact()
    forbidden = frozenset(names)
    result, recorder = _run_traced(func, args, kwargs)
    called = {getattr(b, "__name__", "") for b in recorder.static_calls.values()}
    called |= {b.__name__ for b in recorder.bound_calls}
    used = sorted(called & forbidden)
    if used:
        student = getattr(func, "__name__", "votre fonction")
        raise ReferenceUsedError(
            f"« {student} » appelle {', '.join(used)} de PyTorch, qui fait le calcul demandé à votre place. "
            "Écrivez ce calcul vous-même avec des opérations élémentaires (exp, log, max, sum, produits...).")
    return result


def count_calls(func: Callable, *args, **kwargs) -> int:
    """Nombre d'appels de fonctions (Python et compilées) pendant ``func(*args, **kwargs)``, tous fils suivis."""
    _, recorder = _run_traced(func, args, kwargs, sample=False)
    return recorder.events


def assert_vectorised(func: Callable, small: tuple, large: tuple, slack: int = 30) -> None:
    """Échoue si ``func`` fait nettement plus d'appels sur les arguments ``large`` que sur ``small``.

    Une implémentation vectorisée (``unfold``, ``einsum``, produit de matrices, ou une
    boucle sur les seuls décalages du noyau) fait le même travail Python pour une
    image 8×8 ou 32×32 ; une boucle sur les pixels de sortie en fait 16 fois plus.
    """
    n_small, n_large = count_calls(func, *small), count_calls(func, *large)
    if n_large > n_small + slack:
        student = getattr(func, "__name__", "votre fonction")
        raise AssertionError(
            f"« {student} » fait {n_large} appels de fonctions sur une grande image contre {n_small} sur une petite : "
            "elle boucle sur les pixels. Vectorisez-la : découpez toutes les fenêtres d'un coup (unfold) et "
            "faites un seul produit de matrices (ou une boucle sur les seuls décalages du noyau).")


# --------------------------------------------------------------------------- instantané d'intégrité

def _snapshot_originals() -> tuple:
    own = tuple((name, value) for name, value in globals().items()
                if not name.startswith("__") and name != "_snapshot_originals" and isinstance(value, (
                    types.ModuleType, types.FunctionType, type, types.BuiltinFunctionType, frozenset, tuple,
                    functools._lru_cache_wrapper, types.CodeType, int, str, MappingProxyType)))
    external = tuple((path, value) for path in _EXTERNAL if (value := _resolve_path(path)) is not _MISSING)
    return own + external


_intact_problems.__defaults__ = (_snapshot_originals(),)
del _snapshot_originals
