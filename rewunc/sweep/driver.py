"""Running a sweep: take the driver lock, create or check its folder and sweep.json, run the cells
not yet complete on a backend, then write the sweep's tables (:mod:`rewunc.sweep.results`)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

from rewunc.io import remove_temporaries, write_text
from rewunc.provenance import provenance
from rewunc.runs import Run
from rewunc.sweep import backends
from rewunc.sweep.backends import BACKENDS, has_ray
from rewunc.sweep.grid import SPEC, SWEEP_FILE, Sweep, SweepError
from rewunc.sweep.lock import LOCK_FILE, is_lock_file, release_lock, take_lock
from rewunc.sweep.results import collect


class CellsFailed(RuntimeError):
    """Some cells failed; the others are kept, and ``--resume`` runs just the failed ones."""


def sweep_path(out: str | os.PathLike, name: str) -> Path:
    return Path(out) / "sweeps" / name


def run_sweep(
    sweep: Sweep,
    out: str | os.PathLike = "runs",
    name: str | None = None,
    *,
    backend: str = "local",
    workers: int | None = None,
    address: str | None = None,
    resume: bool = False,
    force: bool = False,
    quiet: bool = False,
) -> Path:
    """Run every cell of ``sweep`` not yet complete into ``<out>/sweeps/<name>`` (``name``
    defaults to the experiment's name), then write the sweep's tables and figure there.

    ``workers``: at most this many cells at once (local: default 1, in this process; Ray: by
    default as many as the cluster schedules, one CPU per process of a cell's ``--jobs``).
    ``address``: a Ray cluster to join (``"auto"``, ``"ray://host:10001"``); without it, a
    local one is started with ``workers`` CPUs and stopped at the end. An existing sweep is
    refused unless ``resume`` (then its spec must match) or ``force`` (replace it). Raises
    SweepError before anything is written if a flag is bad (a cell needing more CPUs than a
    local Ray cluster has, too), or if another driver holds the sweep (its ``driver.lock``,
    held until this returns or raises); CellsFailed, after the other cells finished, if some
    cells failed."""
    name = sweep.experiment if name is None else name
    check_options(backend, workers, address, resume, force, name)
    cpus = max((c.cpus for c in sweep.cells), default=1)
    if backend == "ray" and address is None and cpus > (workers or os.cpu_count() or 1):
        raise SweepError(
            f"--workers {workers or os.cpu_count()}: a cell runs {cpus} processes (--jobs) and "
            "reserves a CPU for each, more than the local Ray cluster would have; raise "
            "--workers or lower --jobs"
        )
    path = sweep_path(out, name)
    lock = _open(path, sweep, resume=resume, force=force)
    try:
        _drive(sweep, path, backend, workers, address, quiet)
    finally:  # also on an exception or KeyboardInterrupt
        release_lock(path / LOCK_FILE, lock)
    return path


def _drive(sweep: Sweep, path: Path, backend, workers, address, quiet: bool) -> None:
    """Run the sweep's pending cells, then write its tables (the driver holds the lock)."""
    root = (path / "cells").resolve()  # absolute: Ray workers run in other folders
    pending = [c for c in sweep.cells if not Run(root / sweep.experiment / c.id).is_complete()]
    devices = max(c.num_chains for c in sweep.cells)
    limit = workers or (1 if backend == "local" else "the cluster's CPUs")
    todo = f"{len(sweep.cells)} cells, {len(pending)} to run ({backend}, at most {limit} at once)"
    _say(quiet, f"sweep {path}: {todo}")
    if backend == "ray":
        results = backends.run_ray(
            sweep.experiment, pending, root, devices, workers, address, quiet
        )
    else:
        results = backends.run_local(sweep.experiment, pending, root, devices, workers or 1)
    failed, t0 = [], time.perf_counter()
    for i, (cell, result) in enumerate(results, 1):
        folder = root / sweep.experiment / cell.id
        if result["code"] == 0 and not Run(folder).is_complete():
            result["code"] = 1
            result["error"] = (
                f"it finished on {result['host']} but {folder} is not complete here: on a "
                "cluster, --out must be on a filesystem that every node shares"
            )
        for line in result.get("stderr", "").splitlines():
            if line.strip():
                print(f"[{cell.id}] {line}", file=sys.stderr)
        if result["code"]:
            failed.append(f"{cell.id}: {result['error']}")
        status = "FAILED" if result["code"] else "done"
        took = f"{result['seconds']:.1f} s ({time.perf_counter() - t0:.0f} s so far)"
        _say(quiet, f"[{i}/{len(pending)}] {cell.id} {status} in {took}")
    if failed:
        raise CellsFailed(
            f"{path}: {len(failed)} of {len(sweep.cells)} cells failed (the others are kept; "
            "fix the cause and run again with --resume):\n  " + "\n  ".join(failed)
        )
    collect(path, sweep)


def check_options(backend, workers, address, resume=False, force=False, name="sweep") -> None:
    """The execution flags, before anything is made."""
    if backend not in BACKENDS:
        raise SweepError(f"--backend: expected one of {list(BACKENDS)}, got {backend!r}")
    if workers is not None and (
        not isinstance(workers, int) or isinstance(workers, bool) or workers < 1
    ):
        raise SweepError(f"--workers: expected an integer >= 1, got {workers!r}")
    if address is not None and backend != "ray":
        raise SweepError("--address: joins a Ray cluster; it needs --backend ray")
    if backend == "ray" and not has_ray():
        raise SweepError('--backend ray: Ray is not installed; pip install -e ".[ray]"')
    if resume and force:
        raise SweepError("--force and --resume are exclusive: start over, or continue")
    if not name or name.startswith(".") or "/" in name or "\\" in name:
        raise SweepError(f"--name: expected a plain folder name, got {name!r}")


def _open(path: Path, sweep: Sweep, *, resume: bool, force: bool) -> dict:
    """Take the sweep's driver lock, and create its folder and sweep.json or check a resumed
    one's spec; returns the lock's contents (for :func:`release_lock`). Its refusals change
    nothing on disk."""
    spec, file = sweep.spec(), path / SWEEP_FILE
    if file.is_file():
        if resume:
            try:
                old = json.loads(file.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError) as err:
                raise SweepError(f"{file}: not valid JSON ({err})") from err
            differs = [k for k in SPEC if json.dumps(old.get(k)) != json.dumps(spec[k])]
            if differs:
                raise SweepError(
                    f"{path}: cannot resume with a different sweep (differs in {differs}); use "
                    "another --name, or --force"
                )
            lock = take_lock(path)
            # a killed driver's (or its dead workers') half-written files
            remove_temporaries(path)
            return lock
        if not force:
            raise SweepError(
                f"{path} already holds a sweep; pass --resume to continue it or --force to "
                "replace it"
            )
        lock = take_lock(path)  # not while another driver runs it
        try:
            for entry in path.iterdir():  # all but the lock and other drivers' lock files
                if entry.name.startswith(LOCK_FILE):
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        except BaseException:
            release_lock(path / LOCK_FILE, lock)
            raise
    elif path.exists() and (not path.is_dir() or any(not is_lock_file(e) for e in path.iterdir())):
        raise SweepError(
            f"{path} exists and is not a rewunc sweep (no {SWEEP_FILE}); not touching it"
        )
    else:  # a new sweep (or one whose driver is just creating it: then the lock refuses)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise SweepError(f"{path}: cannot create the sweep ({err})") from err
        lock = take_lock(path)
    cells = [
        {"id": c.id, "seed": c.seed, "settings": c.settings, "flags": list(c.argv)}
        for c in sweep.cells
    ]
    info = {**spec, "cells": cells, "created": time.time(), "provenance": provenance()}
    try:
        write_text(file, json.dumps(info, indent=2) + "\n")  # key order kept: the grid's
    except BaseException as err:
        release_lock(path / LOCK_FILE, lock)
        if isinstance(err, OSError):
            raise SweepError(f"{path}: cannot create the sweep ({err})") from err
        raise
    return lock


def _say(quiet: bool, message: str) -> None:
    if not quiet:
        print(message, flush=True)
