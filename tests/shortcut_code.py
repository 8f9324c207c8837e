"""Du code d'étudiant qui triche, commun aux tests de correction des TP3 à TP5 (des chaînes de code).

Chaque raccourci est une manière d'avoir des points sans écrire le calcul ; les tests de correction
(``test_grading_tpN.py``) vérifient qu'aucun ne rapporte rien.
"""

# Remonte la pile d'appels et rend le premier tenseur de la forme (et du type) du résultat qui n'est pas un
# argument : une valeur attendue que le test aurait calculée avant d'appeler l'étudiant, par exemple.
STACK_WALK = '''
import sys as _sys


def _peek(shape, dtype=None, exclude=()):
    frame = _sys._getframe(2)
    while frame is not None:
        for value in list(frame.f_locals.values()):
            candidates = value if isinstance(value, (list, tuple)) else [value]
            for item in candidates:
                if (isinstance(item, torch.Tensor) and tuple(item.shape) == tuple(shape)
                        and (dtype is None or item.dtype == dtype) and all(item is not e for e in exclude)):
                    return item.detach().clone()
        frame = frame.f_back
    return torch.zeros(tuple(shape), dtype=dtype or torch.float32)
'''

# Un tenseur qui ment dans les comparaisons : égal à tout, proche de tout.
LIAR = '''
class _Agreeable(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in ("equal", "allclose"):
            return True
        result = super().__torch_function__(func, types, args, kwargs or {})
        if isinstance(result, torch.Tensor) and result.dtype == torch.bool:
            with torch._C.DisableTorchFunctionSubclass():
                if name in ("eq", "__eq__", "isclose", "le", "__le__", "ge", "__ge__"):
                    return torch.ones_like(result)
                if name in ("ne", "__ne__", "lt", "__lt__", "gt", "__gt__"):
                    return torch.zeros_like(result)
        return result


def _agreeable(shape, dtype=torch.float32):
    return torch.zeros(tuple(shape), dtype=dtype).as_subclass(_Agreeable)
'''


def exec_copy(module: str, names: list[str] = ()) -> str:
    """Code qui exécute une copie du source d'un module de référence (dans l'espace ``_copy``).

    Les noms ``names`` en sont repris tels quels dans le notebook.
    """
    package = module.rsplit(".", 1)[0]
    lines = ["import importlib as _importlib", "import inspect as _inspect", "",
             f"_source = _inspect.getsource(_importlib.import_module({module!r}))",
             f"_copy = {{'__name__': {module!r}, '__package__': {package!r}}}",
             "exec(compile(_source, '<copie>', 'exec'), _copy)"]
    lines += [f"{name} = _copy[{name!r}]" for name in names]
    return "\n".join(lines) + "\n"


def in_thread(signature: str, call: str, imports: str) -> str:
    """Une fonction d'étudiant qui fait calculer la référence par un fil d'exécution."""
    return f'''
import threading as _threading
{imports}


def {signature}:
    box = []
    worker = _threading.Thread(target=lambda: box.append({call}))
    worker.start()
    worker.join()
    return box[0]
'''
