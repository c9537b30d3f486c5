"""Sweeps: the same cells on the local sequential backend, a local pool and Ray, side by side.

One sweep (``lavaland --fast`` with a smaller budget, 2 settings of ``expert_beta`` × 4 seeds = 8
cells) runs three times into temporary folders: the local backend in this process
(``workers=1``), the local backend with 2 spawned processes, and Ray core tasks on a local
cluster of 2 CPUs. Wall times include every process's start (imports, JAX compiles); Ray's
cluster start is timed apart. The ratio is sequential / parallel wall time: at most about 2× on a
2-core machine. Every backend's cell results and the sweep's tables must be identical, bit for bit.

    python benchmarks/sweep.py [--seeds 0 1 2 3] [--grid expert_beta=10,50] [--skip-pool]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import logging
import os
import tempfile
import time
import warnings
from pathlib import Path

from rewunc.sweep import define, run_sweep

FLAGS = (
    "--fast",
    *("--num-warmup", "60", "--num-samples", "60", "--num-chains", "1", "--n-episodes", "6"),
    *("--agents", "BayesMean", "CVaR(alpha=0.9)", "Oracle", "--frontier-lams", "0", "0.5", "1"),
)


def hashes(path: Path) -> dict[str, str]:
    files = sorted(path.glob("cells/*/*/results.csv")) + sorted(path.glob("cells/*/*/episodes.csv"))
    files += [path / t for t in ("results.csv", "cells.csv", "episodes.csv")]
    return {str(f.relative_to(path)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def timed_sweep(sweep, out: Path, **options) -> tuple[float, Path]:
    t0 = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):  # the cells' MCMC warnings (tiny budgets)
        path = run_sweep(sweep, out, "bench", quiet=True, **options)
    return time.perf_counter() - t0, path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--grid", default="expert_beta=10,50")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-pool", action="store_true", help="no local process pool run")
    args = parser.parse_args(argv)
    sweep = define("lavaland", [args.grid], args.seeds, FLAGS)
    n, w = len(sweep.cells), args.workers
    print(f"lavaland {args.grid} x seeds {args.seeds}: {n} cells; flags {' '.join(FLAGS)}")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{os.cpu_count()} CPUs; load average before: {load} (shared machines are noisy)")
    print(f"{'backend':<28s} {'wall s':>8s} {'s/cell':>7s} {'ratio':>6s}  identical", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t_seq, ref = timed_sweep(sweep, tmp / "sequential")
        print(f"{'local, sequential':<28s} {t_seq:8.1f} {t_seq / n:7.1f} {1:5.2f}×  (reference)")
        reference = hashes(ref)
        runs = []
        if not args.skip_pool:
            runs.append((f"local, {w} processes", dict(backend="local", workers=w)))
        runs.append((f"ray, {w} workers", dict(backend="ray", workers=w)))
        for label, options in runs:
            start = 0.0
            if options["backend"] == "ray":
                import ray

                t0 = time.perf_counter()
                with warnings.catch_warnings():  # fork + exec of Ray's processes: harmless
                    warnings.filterwarnings("ignore", "os.fork", RuntimeWarning)
                    ray.init(num_cpus=w, include_dashboard=False, logging_level=logging.ERROR)
                start = time.perf_counter() - t0
            try:
                wall, path = timed_sweep(sweep, tmp / label.split(",")[0], **options)
            finally:
                if start:
                    ray.shutdown()
            same = hashes(path) == reference
            print(
                f"{label:<28s} {wall:8.1f} {wall / n:7.1f} {t_seq / wall:5.2f}×  {same}", flush=True
            )
            if start:
                print(
                    f"{'  + Ray cluster start':<28s} {start:8.1f} {'':7s} "
                    f"{t_seq / (wall + start):5.2f}×  (ratio with the start)"
                )
            if not same:
                raise SystemExit(f"{label}: results differ from the sequential run's")


if __name__ == "__main__":
    main()
