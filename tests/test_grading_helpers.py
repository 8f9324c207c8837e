"""Les outils des cellules de test (course_lib.grading), chaque triche essayée pour de vrai."""

import _thread
import concurrent.futures
import functools
import inspect
import os
import queue
import subprocess
import sys
import threading
import time
import types
import warnings

import cv2
import numpy as np
import pytest
import torch

from course_lib import filters, grading, images
from course_lib.nn import losses


def own_gray(x):
    return (x * torch.tensor([0.2125, 0.7154, 0.0721], dtype=x.dtype).view(3, 1, 1)).sum(dim=-3, keepdim=True)


@pytest.fixture(autouse=True)
def no_tracing_left():
    """Après chaque test : aucun profileur, aucun fil de plus (le traçage remet tout en place)."""
    before = set(threading.enumerate())
    yield
    assert sys.getprofile() is None
    assert threading.getprofile() is None
    deadline = time.time() + 5
    while set(threading.enumerate()) - before and time.time() < deadline:
        time.sleep(0.01)


# --------------------------------------------------------------------------- comparaisons

def test_assert_close_passes_and_explains_on_its_first_line():
    x = torch.rand(2, 3, 4, 4)
    grading.assert_close(x, x + 1e-7)
    y = x.clone()
    y[1, 2, 3, 0] += 0.5
    with pytest.raises(AssertionError) as info:
        grading.assert_close(y, x, name="le flou")
    first = str(info.value).splitlines()[0]
    assert first.startswith("le flou : 1 valeur(s) sur 96 hors tolérance")
    assert "plus grand écart 0.5" in first and "(1, 2, 3, 0)" in first and "attendu" in first
    assert len(first) <= 300 and "grading" not in first and "np." not in first
    with pytest.raises(AssertionError, match="forme"):
        grading.assert_close(x[0], x)
    with pytest.raises(AssertionError, match="NaN"):
        grading.assert_close(torch.full((2,), float("nan")), torch.zeros(2))
    with pytest.raises(AssertionError, match="tenseur torch"):
        grading.assert_close(x.numpy(), x)


def test_assert_close_treats_matching_nan_and_infinities_as_equal():
    values = torch.tensor([1.0, float("nan"), float("inf"), -float("inf")])
    grading.assert_close(values.clone(), values)
    with pytest.raises(AssertionError, match="hors tolérance"):
        grading.assert_close(torch.tensor([1.0, float("nan"), -float("inf"), -float("inf")]), values)
    grading.assert_close([0.5, 0.25], np.array([0.5, 0.25]))
    grading.assert_close(torch.tensor([True, False]), torch.tensor([True, False]))
    with pytest.raises(AssertionError, match="1 valeur"):
        grading.assert_close(torch.tensor([True, True]), torch.tensor([True, False]))


class LyingTensor(torch.Tensor):
    """Une sous-classe qui se dit égale à tout et dont les opérations rendent ce qu'on attend."""

    def __eq__(self, other):
        return torch.ones_like(torch.as_tensor(other), dtype=torch.bool)

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return torch.zeros(()) if func.__name__ in ("__sub__", "sub", "abs") else \
            super().__torch_function__(func, types, args, kwargs)


def test_results_must_be_exact_tensors_not_subclasses():
    x = torch.rand(3)
    with pytest.raises(AssertionError, match="sous-classe"):
        grading.assert_close(x.as_subclass(LyingTensor), x + 1)
    with pytest.raises(AssertionError, match="sous-classe"):
        grading.assert_shape(x.as_subclass(LyingTensor), (3,))
    with pytest.raises(AssertionError, match="sous-classe"):
        grading.assert_close(np.ma.masked_array(np.zeros(3), mask=[True] * 3), np.ones(3))

    class Float(float):
        def __sub__(self, other):
            return 0.0

    with pytest.raises(AssertionError, match="sous-classe"):
        grading.assert_close(Float(3.0), 1.0)
    parameter = torch.nn.Parameter(torch.ones(2))
    grading.assert_close(parameter, torch.ones(2))          # un paramètre ne ment pas


def test_assert_shape_and_dtype():
    grading.assert_shape(torch.zeros(2, 3), (None, 3))
    with pytest.raises(AssertionError, match=r"\(\?, 4\)"):
        grading.assert_shape(torch.zeros(2, 3), (None, 4))
    with pytest.raises(AssertionError, match="tenseur"):
        grading.assert_shape([1, 2], (2,))
    grading.assert_dtype(torch.zeros(2), torch.float32)
    with pytest.raises(AssertionError, match="type attendu : torch.float32"):
        grading.assert_dtype(torch.zeros(2, dtype=torch.float64), torch.float32, "le noyau")


# --------------------------------------------------------------------------- entrées

def test_random_inputs_are_reproducible_and_leave_global_rng_alone():
    torch.manual_seed(0)
    before = torch.rand(1)
    a = grading.random_images(5, (2, 3, 8, 8))
    torch.manual_seed(0)
    assert torch.equal(torch.rand(1), before)
    assert torch.equal(a, grading.random_images(5, (2, 3, 8, 8)))
    assert 0 <= float(a.min()) and float(a.max()) <= 1
    t = grading.random_tensor(1, (100,), -2, 3, dtype=torch.float64)
    assert t.dtype == torch.float64 and -2 <= float(t.min()) and float(t.max()) < 3


def test_off_grid_values_are_reproducible_and_on_no_grid():
    values = grading.off_grid(17, 50, 0.4, 4.5)
    assert values == grading.off_grid(17, 50, 0.4, 4.5) and values != grading.off_grid(18, 50, 0.4, 4.5)
    assert len(set(values)) == 50 and all(0.4 <= v < 4.5 for v in values)
    assert all(abs(v * 1000 - round(v * 1000)) > 1e-6 for v in values)
    sizes = grading.odd_sizes(3, 10, 11, 99)
    assert sizes == grading.odd_sizes(3, 10, 11, 99) and len(set(sizes)) == 10
    assert all(n % 2 == 1 and n % 5 and 11 <= n <= 99 for n in sizes)


def test_an_import_time_cache_of_scalar_arguments_misses_off_grid_values():
    cache = {round(float(s), 2): filters.gaussian_kernel1d(float(s)) for s in np.arange(0.1, 6.0, 0.01)}

    def cached(sigma):
        return cache[min(cache, key=lambda s: abs(s - sigma))].clone()

    grading.check_against_reference(cached, filters.gaussian_kernel1d, [(1.5,)], atol=1e-7)   # la grille : passe
    with pytest.raises(AssertionError, match="hors tolérance|forme"):
        grading.check_against_reference(cached, filters.gaussian_kernel1d,
                                        [(s,) for s in grading.off_grid(17, 4, 0.4, 4.5)], atol=1e-7)


# --------------------------------------------------------------------------- avertissements

def test_warnings_go_to_stdout(monkeypatch, capsys):
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)
    grading.warnings_to_stdout()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        torch.meshgrid(torch.arange(2.0), torch.arange(2.0))             # UserWarning de PyTorch
        warnings.warn("attention", UserWarning, stacklevel=1)
    out, err = capsys.readouterr()
    assert "meshgrid" in out and "attention" in out and "sans effet sur la note" in out
    assert err == ""


# --------------------------------------------------------------------------- copies et empreintes

def test_fingerprint_sees_values_grads_and_containers_and_clone_is_deep():
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    (w ** 2).sum().backward()
    model = torch.nn.Linear(2, 1)
    value = [w, {"m": model, "n": np.arange(3)}, 1.5]
    before = grading.fingerprint(value)
    copy = grading.clone(value)
    assert grading.fingerprint(copy) == before
    assert copy[0] is not w and copy[0].requires_grad and torch.equal(copy[0].grad, w.grad)
    copy[0].grad.zero_()
    assert grading.fingerprint(value) == before and grading.fingerprint(copy) != before
    with torch.no_grad():
        model.bias += 1
    with pytest.raises(AssertionError, match="modifié"):
        grading.assert_unchanged(value, before, "l'entrée")


# --------------------------------------------------------------------------- références interdites

REFERENCE = images.rgb_to_gray
alias = images.rgb_to_gray


def through_alias(x):
    return alias(x)


def through_partial(x):
    return functools.partial(images.rgb_to_gray)(x)


def through_module(x):
    return images.rgb_to_lab(x)[0:1] * 0 + own_gray(x)


def through_builtin(x):
    array = cv2.GaussianBlur(x[0].numpy(), (3, 3), 1.0)
    return own_gray(x) + 0 * float(array.sum())


@pytest.mark.parametrize("cheat", [REFERENCE, through_alias, through_partial, lambda x: images.rgb_to_gray(x)])
def test_calls_to_the_reference_are_detected(cheat):
    with pytest.raises(grading.ReferenceUsedError, match="course_lib.images.rgb_to_gray"):
        grading.assert_not_reference(cheat, REFERENCE, torch.rand(3, 4, 4))


def test_module_package_builtin_and_named_references_are_detected():
    with pytest.raises(grading.ReferenceUsedError, match="course_lib.images"):
        grading.assert_not_reference(through_module, images, torch.rand(3, 4, 4))
    with pytest.raises(grading.ReferenceUsedError, match="GaussianBlur"):
        grading.assert_not_reference(through_builtin, [cv2.GaussianBlur], torch.rand(3, 4, 4))
    with pytest.raises(grading.ReferenceUsedError, match="cv2"):
        grading.assert_not_reference(through_builtin, ["cv2"], torch.rand(3, 4, 4))
    import skimage.color  # un paquet chargé à la demande : tous ses fichiers comptent

    def lab(x):
        return torch.from_numpy(skimage.color.rgb2lab(x.permute(1, 2, 0).numpy())).permute(2, 0, 1)

    with pytest.raises(grading.ReferenceUsedError, match="skimage.color"):
        grading.assert_not_reference(lab, ["skimage.color"], torch.rand(3, 4, 4))


def test_own_implementation_passes_and_returns_its_result():
    x = torch.rand(3, 4, 4)
    out = grading.assert_not_reference(own_gray, [images, filters, cv2.GaussianBlur], x)
    assert torch.allclose(out, images.rgb_to_gray(x))
    grading.check_against_reference(own_gray, images.rgb_to_gray, [x, (x,)], forbidden=[images])


def exec_copy(function, filename="ma_copie.py"):
    """La source d'une fonction de référence, collée dans un « notebook » et exécutée."""
    namespace = dict(vars(sys.modules[function.__module__]))
    exec(compile(inspect.getsource(function), filename, "exec"), namespace)
    return namespace[function.__name__]


def test_pasted_exec_and_rebuilt_copies_of_a_function_are_recognised():
    x = torch.rand(2, 3, 16, 14)
    pasted = exec_copy(filters.gaussian_blur)
    code = filters.gaussian_blur.__code__.replace(co_filename="flou.py", co_firstlineno=7, co_name="mon_flou")
    rebuilt = types.FunctionType(code, dict(vars(filters)), "mon_flou", filters.gaussian_blur.__defaults__)
    renamed = exec_copy(filters.gaussian_blur).__code__
    source = inspect.getsource(filters.gaussian_blur).replace("radius", "rayon").replace('"""', '"""Ma version. ', 1)
    namespace = dict(vars(filters))
    exec(compile(source, "autre.py", "exec"), namespace)           # variables renommées, autre docstring
    for copy in (pasted, rebuilt, namespace["gaussian_blur"]):
        for forbidden in (filters.gaussian_blur, filters, "course_lib.filters"):
            with pytest.raises(grading.ReferenceUsedError, match="copie"):
                grading.assert_not_reference(copy, forbidden, x, 1.3)
    assert grading.same_code(renamed, filters.gaussian_blur) and grading.same_code(namespace["gaussian_blur"], pasted)
    assert not grading.same_code(filters.gaussian_blur, filters.gaussian_kernel1d)


def test_a_whole_module_executed_from_its_source_is_recognised():
    namespace = {"__name__": "course_lib.copie", "__package__": "course_lib"}
    exec(compile(inspect.getsource(images), "mes_couleurs.py", "exec"), namespace)
    x = torch.rand(3, 5, 5)
    torch.testing.assert_close(namespace["rgb_to_lab"](x), images.rgb_to_lab(x))
    with pytest.raises(grading.ReferenceUsedError, match="course_lib.images"):
        grading.assert_not_reference(namespace["rgb_to_lab"], ["course_lib.images"], x)


def test_short_functions_written_like_the_reference_are_not_taken_for_copies():
    def logsumexp(x, dim=1, keepdim=False):
        top = x.amax(dim=dim, keepdim=True)
        out = top + torch.log(torch.exp(x - top).sum(dim=dim, keepdim=True))
        return out if keepdim else out.squeeze(dim)

    def log_softmax(x, dim=1):
        return x - logsumexp(x, dim=dim, keepdim=True)       # mot pour mot la référence (trop court pour conclure)

    x = torch.randn(4, 5)
    grading.check_against_reference(log_softmax, losses.log_softmax, [x], atol=1e-6, forbidden=[losses])


def test_disabling_the_tracer_is_detected():
    def sneaky(x):
        sys.setprofile(None)
        return images.rgb_to_gray(x)

    def sneaky_and_restores(x):
        profiler = sys.getprofile()
        try:
            sys.setprofile(None)
        except AssertionError:
            pass
        result = images.rgb_to_gray(x)
        sys.setprofile(profiler)
        return result

    for cheat in (sneaky, sneaky_and_restores):
        with pytest.raises(grading.ReferenceUsedError, match="traçage"):
            grading.assert_not_reference(cheat, REFERENCE, torch.rand(3, 4, 4))


def test_traced_call_sees_closures_and_class_methods():
    class Ref:
        def run(self, x):
            return x + 1

    with pytest.raises(grading.ReferenceUsedError):
        grading.assert_not_reference(lambda x: Ref().run(x), Ref, np.zeros(2))


# --------------------------------------------------------------------------- tous les fils

def in_a_thread(x):
    out = []
    thread = threading.Thread(target=lambda: out.append(images.rgb_to_gray(x)))
    thread.start()
    thread.join()
    return out[0]


def in_an_executor(x):
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        return pool.submit(images.rgb_to_gray, x).result()


def in_a_raw_thread(x, start=_thread.start_new_thread):
    out, done = [], _thread.allocate_lock()
    done.acquire()

    def run():
        out.append(images.rgb_to_gray(x))
        done.release()

    start(run, ())
    done.acquire()
    return out[0]


def in_a_raw_thread_started_from_c(x):
    return in_a_raw_thread(x, start=lambda f, a: list(map(_thread.start_new_thread, [f], [a])))


class Quiet(threading.Thread):
    def _bootstrap_inner(self):                 # saute l'installation du traçage dans le nouveau fil
        self.run()


def in_an_untraced_thread_subclass(x):
    out = []
    thread = Quiet(target=lambda: out.append(images.rgb_to_gray(x)))
    thread.start()
    thread.join()
    return out[0]


def after_switching_thread_tracing_off(x):
    threading.setprofile(None)
    return in_a_thread(x)


@pytest.mark.parametrize("cheat", [in_a_thread, in_an_executor, in_a_raw_thread, in_a_raw_thread_started_from_c,
                                   in_an_untraced_thread_subclass, after_switching_thread_tracing_off])
def test_the_reference_called_from_another_thread_is_detected(cheat):
    with pytest.raises(grading.ReferenceUsedError):
        grading.check_against_reference(cheat, images.rgb_to_gray, [torch.rand(3, 5, 5)], forbidden=[images])


def test_threads_started_before_the_test_are_traced_too():
    pool = concurrent.futures.ThreadPoolExecutor(1)
    pool.submit(lambda: None).result()                     # le fil existe avant l'appel tracé
    try:
        for _ in range(5):                                 # déterministe, pas un échantillonnage
            with pytest.raises(grading.ReferenceUsedError, match="course_lib.images"):
                grading.assert_not_reference(lambda x: pool.submit(images.rgb_to_gray, x).result(), images,
                                             torch.rand(3, 5, 5))
        own = grading.assert_not_reference(lambda x: pool.submit(own_gray, x).result(), images, torch.rand(3, 5, 5))
        assert own.shape == (1, 5, 5)
    finally:
        pool.shutdown()


def test_a_thread_left_running_is_traced_in_later_calls_and_a_correct_threaded_function_passes():
    jobs = queue.Queue()
    results = queue.Queue()

    def serve():
        while (job := jobs.get()) is not None:
            results.put(job())

    def starts_a_server(x):
        threading.Thread(target=serve, daemon=True).start()
        return own_gray(x)

    def uses_the_server(x):
        jobs.put(lambda: images.rgb_to_gray(x))
        return results.get()

    try:
        grading.assert_not_reference(starts_a_server, images, torch.rand(3, 4, 4))
        with pytest.raises(grading.ReferenceUsedError, match="course_lib.images"):
            grading.assert_not_reference(uses_the_server, images, torch.rand(3, 4, 4))
    finally:
        jobs.put(None)

    def threaded(x):
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            return torch.stack(list(pool.map(own_gray, x)))

    grading.check_against_reference(threaded, images.rgb_to_gray, [torch.rand(2, 3, 4, 4)], forbidden=[images])


def test_a_progress_bar_monitor_thread_is_allowed():
    tqdm = pytest.importorskip("tqdm")

    def with_progress(x):
        for _ in tqdm.tqdm(range(2), file=open(os.devnull, "w")):
            pass
        return own_gray(x)

    grading.check_against_reference(with_progress, images.rgb_to_gray, [torch.rand(3, 4, 4)], forbidden=[images])


def test_other_processes_are_refused_while_traced():
    def forks(x):
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        return own_gray(x)

    with pytest.raises(grading.ReferenceUsedError, match="processus"):
        grading.assert_not_reference(forks, images, torch.rand(3, 4, 4))


# --------------------------------------------------------------------------- le test caché type

def test_the_student_works_on_clones_and_in_place_changes_name_the_argument():
    x = torch.rand(6)

    def in_place(values):
        values.mul_(2)
        return values

    with pytest.raises(AssertionError, match="modifie sur place son argument « values »"):
        grading.check_against_reference(in_place, lambda v: v * 2, [x])
    assert torch.equal(x, x.clone())                          # l'appelant n'a rien vu
    before = x.clone()
    grading.check_against_reference(in_place, lambda v: v * 2, [x], mutable=["values"])
    assert torch.equal(x, before)


def test_the_expected_value_is_computed_after_the_student_returns():
    seen = []

    def looks_for_the_answer(x):
        frame = sys._getframe(1)
        while frame is not None:
            for value in list(frame.f_locals.values()):
                if isinstance(value, torch.Tensor) and value.shape == (1, 5, 5):
                    seen.append(value)
            frame = frame.f_back
        return seen[-1] if seen else x.mean(dim=-3, keepdim=True)

    x = torch.rand(3, 5, 5)
    with pytest.raises(AssertionError, match="hors tolérance"):
        grading.check_against_reference(looks_for_the_answer, images.rgb_to_gray, [x, x], forbidden=[images])
    expected = images.rgb_to_gray(x)
    assert not any(torch.allclose(value, expected) for value in seen)


def test_lazy_results_and_dtype_changes_are_caught():
    class Lazy(torch.Tensor):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            args = [images.rgb_to_gray(a.source) if isinstance(a, Lazy) else a for a in args]
            return func(*args, **(kwargs or {}))

    def lazy(x):
        out = torch.zeros(1, *x.shape[1:]).as_subclass(Lazy)
        out.source = x.clone()
        return out

    x = torch.rand(3, 4, 4)
    with pytest.raises(AssertionError, match="sous-classe"):
        grading.check_against_reference(lazy, images.rgb_to_gray, [x], forbidden=[images])
    with pytest.raises(AssertionError, match="type attendu : torch.float32"):
        grading.check_against_reference(lambda v: own_gray(v.double()), images.rgb_to_gray, [x], forbidden=[images])
    grading.check_against_reference(lambda v: own_gray(v.double()), images.rgb_to_gray, [x], forbidden=[images],
                                    check_dtype=False)


def test_random_functions_see_the_same_random_state_as_the_reference():
    def noisy(x):
        return x + torch.rand(x.shape)

    grading.check_against_reference(noisy, lambda v: v + torch.rand(v.shape), [torch.zeros(4), torch.ones(2, 3)])


def test_wrong_values_are_reported_with_the_input_number():
    wrong = lambda x: x.mean(dim=-3, keepdim=True)  # noqa: E731
    with pytest.raises(AssertionError, match="entrée n° 2"):
        grading.check_against_reference(wrong, images.rgb_to_gray, [torch.ones(3, 4, 4), torch.rand(3, 4, 4)])


# --------------------------------------------------------------------------- outils protégés

class FakeNumpy:
    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def abs(values):
        return np.zeros(np.shape(values))


def test_replaced_tools_are_refused(monkeypatch):
    x = torch.rand(3)
    monkeypatch.setattr(grading, "np", FakeNumpy())
    with pytest.raises(grading.ReferenceUsedError, match="course_lib.grading.np"):
        grading.assert_close(x, x + 1)
    monkeypatch.undo()
    monkeypatch.setattr(np, "abs", lambda values: np.zeros(np.shape(values)))
    with pytest.raises(grading.ReferenceUsedError, match="numpy.abs"):
        grading.assert_close(x, x + 1)
    monkeypatch.undo()
    monkeypatch.setattr(grading, "_MIN_INSTRUCTIONS", 10**9)
    with pytest.raises(grading.ReferenceUsedError, match="_MIN_INSTRUCTIONS"):
        grading.assert_not_reference(own_gray, images, x.view(3, 1, 1))
    monkeypatch.undo()
    monkeypatch.setattr(threading.Thread, "_bootstrap_inner", Quiet._bootstrap_inner)
    with pytest.raises(grading.ReferenceUsedError):
        grading.assert_not_reference(own_gray, images, x.view(3, 1, 1))
    monkeypatch.undo()
    grading.assert_close(x, x)


def test_shortcut_tables_are_immutable(monkeypatch):
    from course_lib.nn import checks

    assert checks.SHORTCUTS is grading.SHORTCUTS
    with pytest.raises(TypeError):
        grading.SHORTCUTS["softmax"] = ()
    with pytest.raises(TypeError):
        grading.SHORTCUTS["softmax"][0] = "rien"
    monkeypatch.setattr(grading, "SHORTCUTS", {"softmax": ()})
    with pytest.raises(grading.ReferenceUsedError, match="SHORTCUTS"):
        grading.assert_no_shortcut(lambda s: s.softmax(1), ("softmax",), torch.rand(2, 3))


def test_assert_no_shortcut_and_vectorisation():
    logits = torch.randn(3, 4)
    for cheat in (lambda s: s.softmax(1), lambda s: torch.softmax(s, 1)):
        with pytest.raises(grading.ReferenceUsedError, match="vous-même"):
            grading.assert_no_shortcut(cheat, grading.SHORTCUTS["softmax"], logits)

    def by_offsets(x, weight):
        kh, kw = weight.shape[-2:]
        h, w = x.shape[-2] - kh + 1, x.shape[-1] - kw + 1
        out = 0
        for u in range(kh):
            for v in range(kw):
                out = out + torch.einsum("bchw,oc->bohw", x[:, :, u:u + h, v:v + w], weight[:, :, u, v])
        return out

    small = (torch.rand(1, 2, 8, 8), torch.rand(3, 2, 3, 3))
    large = (torch.rand(1, 2, 32, 32), torch.rand(3, 2, 3, 3))
    grading.assert_vectorised(by_offsets, small, large)


def test_scalar_results_keep_their_shape():
    grading.check_against_reference(lambda x: x.sum(), lambda x: x.sum(), [torch.rand(3)])
    with pytest.raises(AssertionError, match="forme"):
        grading.check_against_reference(lambda x: x.sum().view(1), lambda x: x.sum(), [torch.rand(3)])


def test_a_forbidden_module_does_not_forbid_what_its_classes_inherit():
    import enum

    import torchvision.transforms.functional

    class Mode(enum.Enum):
        A = 1

    def uses_an_enum(x):
        return own_gray(x) * (Mode(1).value)              # exécute enum.Enum.__new__, comme tout le programme

    grading.assert_not_reference(uses_an_enum, [torchvision.transforms.functional], torch.rand(3, 4, 4))


def test_switching_tracing_off_inside_another_thread_is_refused():
    pool = concurrent.futures.ThreadPoolExecutor(1)
    pool.submit(lambda: None).result()

    def untraced_reference(x):
        sys.setprofile(None)
        return images.rgb_to_gray(x)

    try:
        with pytest.raises(grading.ReferenceUsedError, match="traçage"):
            grading.assert_not_reference(lambda x: pool.submit(untraced_reference, x).result(), images,
                                         torch.rand(3, 4, 4))
    finally:
        pool.shutdown()


def test_grading_tools_cannot_be_called_from_inside_a_traced_function():
    def resets_the_tracing(x):
        grading.traced_call(lambda: None)
        return own_gray(x)

    with pytest.raises(grading.ReferenceUsedError, match="outils de test"):
        grading.assert_not_reference(resets_the_tracing, images, torch.rand(3, 4, 4))


def test_the_fallback_sampler_sees_other_threads():
    recorder = grading._Recorder()
    sampler = grading._Sampler(recorder, _thread.get_ident())
    sampler.start()
    stop = time.perf_counter() + 0.2

    def busy():
        while time.perf_counter() < stop:
            images.rgb_to_gray(torch.rand(3, 8, 8))

    worker = threading.Thread(target=busy)
    worker.start()
    worker.join()
    sampler.finish()
    assert images.rgb_to_gray.__code__ in recorder.codes


def test_a_torch_mode_left_active_is_refused_but_the_default_device_is_not():
    from torch.overrides import TorchFunctionMode

    class Zeros(TorchFunctionMode):                 # toute opération rendrait des zéros, la référence aussi
        def __torch_function__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            return torch.zeros_like(out) if isinstance(out, torch.Tensor) and out.is_floating_point() else out

    x = torch.rand(3, 4, 4)
    mode = Zeros()
    mode.__enter__()
    try:
        with pytest.raises(grading.ReferenceUsedError, match="mode de PyTorch"):
            grading.check_against_reference(lambda v: v[:1] * 0, images.rgb_to_gray, [x])
    finally:
        mode.__exit__(None, None, None)
    with torch.device("cpu"):
        grading.check_against_reference(own_gray, images.rgb_to_gray, [x], forbidden=[images])
