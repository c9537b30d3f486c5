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


def test_birl_regime_benchmark_runs_and_compares_only_sound_runs():
    """One tiny size end to end, then the ratio rule: a run with divergences above 0.1% or an
    R-hat above 1.05 is never the one compared, however fast, nor an ablation of another path."""
    out = _run(
        str(BENCHMARKS / "birl_regime.py"),
        *("--sizes", "4", "--demos", "2", "--warmup", "10", "--draws", "10", "--accept", "0.9"),
        *("--paths", "new", "policywalk", "--pw-samples", "20", "--pw-steps", "0.1"),
    )
    assert out.returncode == 0, out.stderr
    assert "4×4, max_steps 16, γ 0.95: 2 demonstrations" in out.stdout
    assert "PolicyWalk δ=0.1" in out.stdout and "new / PolicyWalk" in out.stdout
    code = (
        f"import sys; sys.path.insert(0, {str(BENCHMARKS)!r}); import birl_regime as b; "
        "rows = [b.Row(8, 'new@0.9', 1, 10, 1.2, 900, 0, 1000, 7), "
        "b.Row(8, 'new@0.97', 1, 10, 1.01, 100, 0, 1000, 15), "
        "b.Row(8, 'old@0.9', 1, 1, 1.01, 900, 50, 1000, 7), "
        "b.Row(8, 'old@0.97', 1, 20, 1.01, 100, 1, 1000, 31), "
        "b.Row(8, 'new-sweeps@0.9', 1, 1, 1.0, 900, 0, 1000, 7)]; "
        "assert b.best(rows, 'new').label == 'new@0.97'; "
        "assert b.best(rows, 'old').label == 'old@0.97'; "
        "print(b.ratio(rows, 'new', 'old'))"
    )
    out = _run("-c", code)
    assert out.returncode == 0, out.stderr
    assert "new@0.97 / old@0.97" in out.stdout and ": 2.0×" in out.stdout
