import importlib
import random

import numpy as np
import pytest
import torch

import course_lib
from course_lib.device import PROFILES

device_module = importlib.import_module("course_lib.device")


def test_device_falls_back_to_cpu_without_gpu(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(device_module, "_mps_available", lambda: False)
    assert course_lib.device() == torch.device("cpu")


def test_device_prefers_cuda_when_present(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert course_lib.device() == torch.device("cuda")


def test_device_can_be_forced_by_environment(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert course_lib.device() == torch.device("cpu")


def test_device_rejects_unknown_or_missing_devices(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="« prefer »"):
        course_lib.device("tpu")
    with pytest.raises(ValueError, match="aucun GPU CUDA"):
        course_lib.device("cuda")


def test_profile_comes_from_environment_then_device(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "ci")
    assert course_lib.profile().name == "ci"
    monkeypatch.delenv("COURSE_PROFILE")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert course_lib.profile().name == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert course_lib.profile().name == "gpu"


def test_profile_rejects_unknown_names(monkeypatch):
    with pytest.raises(ValueError, match="« name »"):
        course_lib.profile("laptop")
    monkeypatch.setenv("COURSE_PROFILE", "rapide")
    with pytest.raises(ValueError, match="COURSE_PROFILE"):
        course_lib.profile()


def test_profiles_grow_from_ci_to_gpu():
    ci, cpu, gpu = PROFILES["ci"], PROFILES["cpu"], PROFILES["gpu"]
    for field in ("image_size", "steps", "epochs", "batch_size", "n_train", "n_scenes"):
        assert getattr(ci, field) <= getattr(cpu, field) <= getattr(gpu, field), field
    assert cpu.pick(ci=1, cpu=2, gpu=3) == 2


def test_seed_makes_python_numpy_and_torch_reproducible():
    def draw():
        return random.random(), np.random.rand(), torch.rand(3)

    course_lib.seed(123)
    first = draw()
    course_lib.seed(123)
    second = draw()
    assert first[0] == second[0] and first[1] == second[1]
    assert torch.equal(first[2], second[2])


@pytest.mark.parametrize("bad", [-1, 1.5, "3", None])
def test_seed_rejects_non_integers(bad):
    with pytest.raises((TypeError, ValueError), match="« n »"):
        course_lib.seed(bad)
