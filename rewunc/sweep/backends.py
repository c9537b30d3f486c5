"""Where cells run: :func:`run_cell` (one cell, its output captured), in this process or a pool of
spawned processes (``local``), or as Ray tasks (``ray``). Each yields ``(cell, result)`` as cells
finish."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import multiprocessing
import os
import socket
import time
import traceback
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from rewunc.runtime import die_with_parent, host_devices
from rewunc.sweep.grid import Cell, SweepError

BACKENDS = ("local", "ray")
RAY_RETRIES = 2  # a Ray task lost with its worker is run again; it resumes from its markers


def run_cell(experiment: str, argv: Sequence[str], devices: int = 1) -> dict:
    """Run one cell: the experiment's ``main(argv)`` (argv with --out, --name, --resume), its
    output captured. Both backends call this. ``devices``: the host devices JAX gets in this
    process (the most chains any cell of the sweep runs, at most the CPU count), set once
    before JAX starts, so that NUTS runs its chains the same way in every process.

    Returns ``{"code", "seconds", "stderr", "host"}`` (and ``"error"`` when it fails); never
    raises for a failing cell."""
    host_devices(devices)
    t0 = time.perf_counter()
    err = io.StringIO()
    result = {"host": socket.gethostname()}
    try:
        from rewunc.experiments import REGISTRY

        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            code = REGISTRY[experiment].main(list(argv))
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    except Exception:
        code, result["error"] = 1, traceback.format_exc(limit=-8)
    text = err.getvalue()
    if code and "error" not in result:
        errors = [line for line in text.splitlines() if line.startswith("error")]
        result["error"] = errors[-1] if errors else f"exited with status {code}"
    return {**result, "code": int(code or 0), "seconds": time.perf_counter() - t0, "stderr": text}


def cell_argv(cell: Cell, root: Path) -> list[str]:
    return [*cell.argv, "--out", str(root), "--name", cell.id, "--resume", "--quiet"]


def run_local(experiment, cells, root, devices, workers) -> Iterator[tuple[Cell, dict]]:
    if workers == 1 or len(cells) <= 1:
        for cell in cells:
            yield cell, run_cell(experiment, cell_argv(cell, root), devices)
        return
    context = multiprocessing.get_context("spawn")  # no forked JAX state
    pool = ProcessPoolExecutor(
        min(workers, len(cells)),
        mp_context=context,
        initializer=die_with_parent,  # a killed driver's workers must not go on with its cells
        initargs=(os.getpid(),),
    )
    try:
        futures = {pool.submit(run_cell, experiment, cell_argv(c, root), devices): c for c in cells}
        for future in as_completed(futures):
            try:
                result = future.result()
            except Exception as err:  # the worker process died (killed, out of memory)
                result = {"code": 1, "seconds": 0.0, "error": f"worker lost: {err!r}"}
            yield futures[future], result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def run_ray(experiment, cells, root, devices, workers, address, quiet):
    try:
        import ray
    except ImportError as err:
        raise SweepError(
            f'--backend ray: cannot import Ray ({err}); pip install -e ".[ray]"'
        ) from err
    import logging
    import warnings

    started = not ray.is_initialized()
    if started:
        level = logging.WARNING if quiet else logging.INFO
        options = dict(include_dashboard=False, logging_level=level)
        if not address:
            options["num_cpus"] = workers or os.cpu_count() or 1
        with warnings.catch_warnings():  # Ray starts its processes by fork + exec: harmless
            warnings.filterwarnings("ignore", "os.fork", RuntimeWarning)
            ray.init(address=address, **options)
    try:
        need = max((c.cpus for c in cells), default=1)
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        biggest = max((n.get("Resources", {}).get("CPU", 0) for n in nodes), default=0)
        if need > biggest:  # Ray would wait for such a node forever
            raise SweepError(
                f"a cell runs {need} processes (--jobs) and reserves a CPU for each, but the "
                f"Ray cluster's largest node has {biggest:g} CPUs; lower --jobs"
            )
        task = ray.remote(num_cpus=1, max_retries=RAY_RETRIES)(run_cell)
        waiting, running = list(cells), {}
        while waiting or running:
            while waiting and (workers is None or len(running) < workers):
                cell = waiting.pop(0)
                ref = task.options(num_cpus=cell.cpus).remote(
                    experiment, cell_argv(cell, root), devices
                )
                running[ref] = cell
            (ref,), _ = ray.wait(list(running), num_returns=1)
            cell = running.pop(ref)
            try:
                result = ray.get(ref)
            except ray.exceptions.RayError as err:  # the task or its worker was lost
                result = {"code": 1, "seconds": 0.0, "error": f"Ray task lost: {err}"}
            yield cell, result
    finally:
        if started:
            ray.shutdown()


def has_ray() -> bool:
    try:
        return importlib.util.find_spec("ray") is not None
    except ValueError:  # sys.modules["ray"] is None: imports of it are blocked
        return False
