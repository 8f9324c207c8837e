import functools
import sys

import cv2
import numpy as np
import pytest
import torch

from course_lib import filters, grading, images


def own_gray(x):
    return (x * torch.tensor([0.2125, 0.7154, 0.0721]).view(3, 1, 1)).sum(dim=-3, keepdim=True)


def test_assert_close_passes_and_explains_failures():
    x = torch.rand(2, 3, 4, 4)
    grading.assert_close(x, x + 1e-7)
    y = x.clone()
    y[1, 2, 3, 0] += 0.5
    with pytest.raises(AssertionError) as info:
        grading.assert_close(y, x, name="le flou")
    message = str(info.value)
    assert "le flou" in message and "1 position(s)" in message and "(1, 2, 3, 0)" in message
    with pytest.raises(AssertionError, match="forme"):
        grading.assert_close(x[0], x)
    with pytest.raises(AssertionError, match="NaN"):
        grading.assert_close(torch.full((2,), float("nan")), torch.zeros(2))
    with pytest.raises(AssertionError, match="tenseur torch"):
        grading.assert_close(x.numpy(), x)


def test_assert_shape():
    grading.assert_shape(torch.zeros(2, 3), (None, 3))
    with pytest.raises(AssertionError, match=r"\(\?, 4\)"):
        grading.assert_shape(torch.zeros(2, 3), (None, 4))
    with pytest.raises(AssertionError, match="tenseur"):
        grading.assert_shape([1, 2], (2,))


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


@pytest.mark.parametrize("cheat", [
    REFERENCE, through_alias, through_partial, lambda x: images.rgb_to_gray(x),
])
def test_calls_to_the_reference_are_detected(cheat):
    with pytest.raises(grading.ReferenceUsedError, match="course_lib.images.rgb_to_gray"):
        grading.assert_not_reference(cheat, REFERENCE, torch.rand(3, 4, 4))


def test_module_and_builtin_references_are_detected():
    with pytest.raises(grading.ReferenceUsedError, match="course_lib.images"):
        grading.assert_not_reference(through_module, images, torch.rand(3, 4, 4))
    with pytest.raises(grading.ReferenceUsedError, match="GaussianBlur"):
        grading.assert_not_reference(through_builtin, [cv2.GaussianBlur], torch.rand(3, 4, 4))


def test_own_implementation_passes_and_returns_its_result():
    x = torch.rand(3, 4, 4)
    out = grading.assert_not_reference(own_gray, [images, filters, cv2.GaussianBlur], x)
    assert torch.allclose(out, images.rgb_to_gray(x))
    grading.check_against_reference(own_gray, images.rgb_to_gray, [x, (x,)], forbidden=[images])


def test_check_against_reference_reports_wrong_values():
    wrong = lambda x: x.mean(dim=-3, keepdim=True)  # noqa: E731
    with pytest.raises(AssertionError, match="entrée n° 1"):
        grading.check_against_reference(wrong, images.rgb_to_gray, [torch.rand(3, 4, 4)])


def test_disabling_the_tracer_is_detected():
    def sneaky(x):
        sys.setprofile(None)
        return images.rgb_to_gray(x)

    with pytest.raises(grading.ReferenceUsedError, match="désactivé"):
        grading.assert_not_reference(sneaky, REFERENCE, torch.rand(3, 4, 4))
    assert sys.getprofile() is None or sys.getprofile() is not sneaky


def test_traced_call_sees_closures_and_class_methods():
    class Ref:
        def run(self, x):
            return x + 1

    with pytest.raises(grading.ReferenceUsedError):
        grading.assert_not_reference(lambda x: Ref().run(x), Ref, np.zeros(2))
