"""The benchmark scripts still run: they have no other tests, and an env change (LavaLand's
fifth feature) once broke them silently. Tiny sizes only; the real budgets are the scripts'."""

import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


def _run(*args, timeout=300):
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def test_cvar_lp_benchmark_runs_and_prints_its_ratio():
    out = _run(str(BENCHMARKS / "cvar_lp.py"), "--sizes", "5", "--samples", "4", "--repeats", "1")
    assert out.returncode == 0, out.stderr
    assert "ratio" in out.stdout and "×" in out.stdout


def test_birl_benchmarks_weights_fit_lavaland():
    """benchmarks/birl.py's demonstrator weights have one entry per LavaLand feature (checked in
    a subprocess: importing it sets XLA_FLAGS, which must not leak into this test process)."""
    code = (
        f"import sys; sys.path.insert(0, {str(BENCHMARKS)!r}); import birl; "
        "from rewunc.envs import LavaLand; "
        "assert len(birl.TRUE_W) == len(LavaLand.feature_names), birl.TRUE_W"
    )
    out = _run("-c", code)
    assert out.returncode == 0, out.stderr
