"""Les bancs d'essai et la vérification GPU tournent (en petit), pour qu'ils ne se périment pas."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*args):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_benchmarks_run_in_quick_mode_and_print_ratios():
    result = run("benchmarks/run.py", "--quick")
    assert result.returncode == 0, result.stdout + result.stderr
    ratios = re.findall(r"ms\s+([0-9.e+-]+)x", result.stdout)
    modules = sorted(p.stem for p in (ROOT / "benchmarks").glob("bench_*.py"))
    assert len(ratios) >= len(modules), result.stdout
    assert all(float(r) > 0 for r in ratios)
    for module in modules:
        assert f"({module} :" in result.stdout, f"{module} n'a rien mesuré"


def test_gpu_check_script_runs_on_cpu_at_ci_profile():
    result = run("benchmarks/gpu_check.py", "--device", "cpu", "--profile", "ci")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "échecs : 0" in result.stdout


def test_gpu_check_explains_when_there_is_no_gpu():
    import torch

    if torch.cuda.is_available():
        return
    result = run("benchmarks/gpu_check.py")
    assert result.returncode == 2 and "Aucun GPU CUDA" in result.stdout
