"""La garde du noyau de correction (course_grading.guard) et ce qu'elle retient (course_grading.integrity).

La garde est éprouvée ici sans être installée (un audit hook ne se retire pas) : on l'appelle comme Python
l'appellerait, avec les mêmes événements, depuis du code de test (une bibliothèque) ou depuis du code
compilé sous le nom de fichier d'une cellule (le code de l'étudiant). Le comportement dans un vrai noyau
isolé est éprouvé de bout en bout dans ``test_adversarial.py``.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from course_grading import guard as guard_module
from course_grading.guard import Guard, GuardViolation, proof_call, proof_digest
from course_lib import grading

CELL_FILE = "/tmp/ipykernel_4242/123456.py"
TEST_CELL_FILE = "/tmp/ipykernel_4242/999999.py"


@pytest.fixture
def guard(tmp_path, monkeypatch):
    work, private = tmp_path / "work", tmp_path / "private"
    work.mkdir()
    private.mkdir()
    monkeypatch.chdir(work)
    g = Guard([work, private], log_path=str(tmp_path / "guard.jsonl"), secret=b"s" * 32)
    g.snapshot.take(("course_lib.images",))
    g._active = True          # comme après install(), sans audit hook permanent dans pytest
    return g


def log_entries(tmp_path):
    path = tmp_path / "guard.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def student(code: str, filename: str = CELL_FILE) -> dict:
    """Exécute ``code`` comme le ferait une cellule du notebook (même nom de fichier) ; retourne l'espace."""
    namespace = {"__name__": "__main__"}
    exec(compile(code, filename, "exec"), namespace)
    return namespace


# --------------------------------------------------------------------------- fichiers, programmes, signaux

def test_writes_inside_the_allowed_folders_pass(guard, tmp_path):
    guard("open", ("notes.txt", "w", os.O_WRONLY | os.O_CREAT))
    guard("open", (str(tmp_path / "private" / "cache.bin"), "wb", 0))
    guard("open", (str(tmp_path / "outside.txt"), "r", os.O_RDONLY))        # lire ailleurs est permis
    guard("os.remove", ("notes.txt", None))
    guard("open", ("/dev/null", "w", os.O_WRONLY))
    assert log_entries(tmp_path) == []


@pytest.mark.parametrize("event, args", [
    ("open", ("../outside.txt", "w", os.O_WRONLY | os.O_CREAT)),
    ("open", ("../outside.txt", None, os.O_RDWR)),                           # os.open
    ("os.remove", ("../outside.txt", None)),
    ("os.rename", ("notes.txt", "../stolen.txt", None, None)),
    ("shutil.rmtree", ("..", None)),
    ("os.link", ("../outside.txt", "mine.txt", None, None)),                  # lien dur vers l'extérieur
    ("os.mkdir", ("../new", 0o777, None)),
])
def test_writes_outside_are_refused_and_logged(guard, tmp_path, event, args):
    with pytest.raises(GuardViolation, match="refusée hors du dossier"):
        guard(event, args)
    entries = log_entries(tmp_path)
    assert len(entries) == 1 and entries[0]["type"] == "fichier" and str(tmp_path) in entries[0]["detail"]


def test_a_symlink_to_the_outside_does_not_open_a_door(guard, tmp_path):
    (tmp_path / "secret.txt").write_text("x")
    os.symlink(tmp_path / "secret.txt", "door.txt")
    with pytest.raises(GuardViolation):
        guard("open", ("door.txt", "a", os.O_WRONLY | os.O_APPEND))


def test_programs_and_forks_are_refused_except_harmless_probes(guard, tmp_path):
    with pytest.raises(GuardViolation, match="lancer un programme"):
        guard("os.system", (b"rm -rf /",))
    with pytest.raises(GuardViolation):
        guard("subprocess.Popen", ("/bin/sh", ["/bin/sh", "-c", "uname"], None, None))
    guard("subprocess.Popen", (None, ["uname", "-p"], None, None))             # platform.processor()
    with pytest.raises(GuardViolation, match="créer un processus"):
        guard("os.fork", ())
    assert [e["type"] for e in log_entries(tmp_path)] == ["programme"] * 3


def test_signals_to_other_processes_are_refused(guard, tmp_path):
    guard("os.kill", (os.getpid(), 0))                                         # soi-même : permis
    with pytest.raises(GuardViolation, match="signal"):
        guard("os.kill", (os.getppid(), 9))                                    # le processus de correction
    assert log_entries(tmp_path)[0]["type"] == "signal"


# --------------------------------------------------------------------------- portes dérobées

@pytest.mark.parametrize("event", ["ctypes.dlopen", "ctypes.string_at", "gc.get_objects", "gc.get_referents",
                                   "sys.setprofile", "sys.addaudithook"])
def test_backdoors_are_refused_to_notebook_code_only(guard, tmp_path, event):
    guard(event, (None,))                                  # une bibliothèque (ce test) : permis
    code = student("def attempt(g, event):\n    g(event, (None,))\n")
    with pytest.raises(GuardViolation):
        code["attempt"](guard, event)
    assert log_entries(tmp_path)[0]["type"] in ("natif", "introspection")


def test_a_trace_function_is_refused_to_notebook_code(guard):
    code = student("def attempt(g):\n    g('sys.settrace', (print,))\n")
    with pytest.raises(GuardViolation, match="traceur"):
        code["attempt"](guard)
    guard("sys.settrace", (None,))                         # retirer un traceur : permis


def test_introspection_is_refused_during_a_test_cell_only(guard, tmp_path):
    code = student("import inspect\ndef peek(g):\n    g('object.__getattr__', (peek, '__code__'))\n"
                   "def peek_through_inspect(g):\n    return inspect.unwrap(lambda: g('sys._getframe', (None,)))()\n")
    code["peek"](guard)                                    # hors d'une cellule de test : permis
    guard.cell_compiled("x = 1\n" + proof_call("ab" * 16), TEST_CELL_FILE)
    assert guard._in_test_cell
    with pytest.raises(GuardViolation, match="introspection"):
        code["peek"](guard)
    with pytest.raises(GuardViolation, match="introspection"):
        code["peek_through_inspect"](guard)
    guard("object.__getattr__", (grading.assert_close, "__code__"))   # course_lib.grading lit le code : permis
    assert [e["type"] for e in log_entries(tmp_path)] == ["introspection", "introspection"]


# --------------------------------------------------------------------------- outils de test et bibliothèques

def test_monkeypatching_the_test_tools_is_detected(guard, tmp_path, monkeypatch):
    assert guard.integrity_problems() == []
    monkeypatch.setattr(grading, "assert_close", lambda *args, **kwargs: None)
    problems = guard.integrity_problems()
    assert any("course_lib.grading.assert_close a été remplacé" in p for p in problems), problems
    with pytest.raises(GuardViolation, match="monkeypatch"):
        guard.cell_compiled("x = 1\n", CELL_FILE)              # la cellule suivante échoue
    assert log_entries(tmp_path)[0]["type"] == "outil"


def test_swapping_the_code_of_a_tool_is_detected(guard, monkeypatch):
    monkeypatch.setattr(grading.assert_shape, "__code__", (lambda actual, shape, name="": None).__code__)
    assert any("assert_shape : son code a été modifié" in p for p in guard.integrity_problems())


def test_a_reference_module_is_held_from_the_start(guard, monkeypatch):
    import course_lib.images as reference

    monkeypatch.setattr(reference, "rgb_to_gray", reference.srgb_to_linear)       # un alias, pas du code de cellule
    assert any("course_lib.images.rgb_to_gray a été remplacé" in p for p in guard.integrity_problems())


def test_ufuncs_and_dispatchers_are_held_by_identity(guard, monkeypatch):
    monkeypatch.setattr(np, "add", np.subtract)
    monkeypatch.setattr(np, "allclose", np.array_equal)
    monkeypatch.setattr(torch, "allclose", torch.equal)
    monkeypatch.setattr(torch.autograd, "grad", lambda *args, **kwargs: (torch.zeros(1),))
    problems = guard.integrity_problems()
    for name in ("numpy.add", "numpy.allclose", "torch.allclose", "torch.autograd.grad"):
        assert any(p.startswith(f"{name} a été remplacé") for p in problems), (name, problems)


def test_a_library_may_rewrap_its_own_functions(guard, monkeypatch):
    import functools

    original = torch.manual_seed

    @functools.wraps(original)
    def wrapped(*args, **kwargs):          # comme torch._dynamo : une fonction de la bibliothèque elle-même
        return original(*args, **kwargs)

    wrapped.__code__ = wrapped.__code__.replace(co_filename=torch.__file__)
    monkeypatch.setattr(torch, "manual_seed", wrapped)
    assert not any("torch.manual_seed" in p for p in guard.integrity_problems())


def test_a_function_from_a_notebook_cell_in_a_library_is_detected(guard, monkeypatch):
    fake = student("def fake(*args, **kwargs):\n    return 0\n")["fake"]
    monkeypatch.setattr(np, "allclose", fake)
    monkeypatch.setattr(torch.Tensor, "sub", fake)
    problems = guard.integrity_problems()
    assert any("numpy.allclose" in p for p in problems) and any("torch.Tensor.sub" in p for p in problems)


def test_shadowing_an_inherited_tensor_method_is_detected(guard, monkeypatch):
    monkeypatch.setattr(torch.Tensor, "allclose", torch.Tensor.equal, raising=False)
    assert any("torch.Tensor.allclose a été ajouté" in p for p in guard.integrity_problems())


def test_compiling_ordinary_code_is_left_alone(guard, tmp_path):
    guard.cell_compiled("x = 1\n", CELL_FILE)
    guard("compile", ("x = 1\n", "<string>"))
    assert log_entries(tmp_path) == [] and CELL_FILE in guard.cell_files and not guard._in_test_cell


# --------------------------------------------------------------------------- preuves

def test_a_test_cell_registers_its_nonce_and_the_digest_needs_the_secret():
    nonce = "0123456789abcdef" * 2
    assert proof_call(nonce) == f'__import__("sys").audit("{guard_module.PROOF_EVENT}", "{nonce}")'
    assert guard_module._NONCE.search("y = 2\n" + proof_call(nonce)).group(1) == nonce
    assert proof_digest(b"a" * 32, nonce) != proof_digest(b"b" * 32, nonce) != proof_digest(b"b" * 32, nonce[::-1])
    assert len(proof_digest(b"a" * 32, nonce)) == 32


def test_a_proof_asked_from_student_code_is_refused_and_logged(guard, tmp_path, capsys):
    nonce = "ab" * 16
    guard.cell_compiled("x = 1\n" + proof_call(nonce), TEST_CELL_FILE)
    code = student(f"def forge(g):\n    g('{guard_module.PROOF_EVENT}', ('{nonce}',))\n")
    code["forge"](guard)
    assert guard_module.PROOF_TAG not in capsys.readouterr().out
    assert log_entries(tmp_path)[-1]["type"] == "preuve"


def test_the_course_and_the_grading_folder_are_off_limits_even_under_an_allowed_tmp(tmp_path, monkeypatch):
    course, run = tmp_path / "course", tmp_path / "run"
    work = run / "worker0" / "autograded" / "alice" / "TP0"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    g = Guard([work, tmp_path], log_path=str(tmp_path / "guard.jsonl"), forbidden=[course, run])
    g._active = True
    g("open", ("notes.txt", "w", os.O_WRONLY | os.O_CREAT))                 # sa propre copie : permis
    for path, mode in ((course / "source" / "TP0" / "TP0.ipynb", "r"), ("../../../gradebook.db", "r+"),
                       ("../../bob/TP0/TP0.ipynb", "r"), (course / "submitted", None)):
        with pytest.raises(GuardViolation, match="accès refusé"):
            if mode is None:
                g("os.listdir", (str(path),))
            else:
                g("open", (str(path), mode, os.O_RDONLY))
    with pytest.raises(GuardViolation):
        g("open", ("/proc/self/mem", "rb", os.O_RDONLY))
    assert {e["type"] for e in log_entries(tmp_path)} == {"lecture"}
