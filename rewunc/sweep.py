"""Sweeps: one experiment over a grid of settings and seeds, run locally or on a Ray cluster.

A *cell* is one (setting, seed): the experiment's own ``main(argv)`` with the cell's flags and
``--seeds <s>``, run into its own run folder. A sweep lives in one tree::

    <out>/sweeps/<name>/
        sweep.json                       experiment, grid, seeds and flags (a resumed sweep must
                                         match them) and every cell's id, seed, settings and flags
        driver.lock                      while a driver runs: its host, pid and start time
        cells/<experiment>/<cell id>/    one run per cell (rewunc.runs: markers, verified files)
        episodes.csv                     every cell's episodes, with the settings as columns
        cells.csv                        every cell's results rows, with the settings and seed
        results.csv                      per (setting, study, shift, agent) over the seeds: mean
                                         and 95% Student-t interval (rewunc.evaluate.aggregate)
        figures/seed_spread.png          each seed's rates as dots, the mean with its interval

The run folders are the truth. A cell whose run is complete is skipped; every other cell runs
with ``--resume``, so a cell cut off half-way redoes only its unfinished stages. A cell writes
only inside its own folder, and the sweep's tables are written only by the driver after every
cell has finished (atomically, rewunc.io), so no two processes ever write one file. Each cell is
a pure function of its flags and seed: the local and Ray backends give bit-identical files.

One driver at a time: a driver (fresh or ``--resume``) creates ``driver.lock`` atomically before
any cell runs and removes it when it ends, also on an exception or Ctrl-C; a second driver on the
same sweep is refused, naming the holder. A lock left by a driver that was killed (same host and
pid namespace, its pid gone or reused) is taken over, with a warning; any other is removed by
hand.

Backends (both call :func:`run_cell`): ``local`` runs the cells in this process (``workers=1``)
or in a pool of spawned processes; ``ray`` runs each cell as a Ray task (``@ray.remote``, not
Tune) on the cluster at ``address``, or on a local cluster it starts and stops; a task reserves
one CPU per process its cell runs (a deep study's ``--jobs``). On a cluster of several
machines, ``out`` must be on a filesystem every node shares.

Every flag is checked before any folder is made: the grid and seeds here, and each cell's full
flags by the experiment's own parser (:func:`rewunc.config.parse_flags`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import importlib
import importlib.util
import io
import itertools
import json
import multiprocessing
import os
import shutil
import socket
import sys
import time
import traceback
import typing
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from rewunc.cli import EXPERIMENTS
from rewunc.config import flag, parse_flags
from rewunc.io import atomic_write, write_text
from rewunc.runs import Run, RunError, provenance, slug

BACKENDS = ("local", "ray")
SPEC = ("experiment", "grid", "seeds", "flags")  # what a resumed sweep must match
# flags the sweep gives each cell itself
OWNED = ("seeds", "out", "name", "resume", "force", "quiet")
SWEEP_FILE = "sweep.json"
LOCK_FILE = "driver.lock"  # the running driver's host, pid and start time
FIGURE = "seed_spread"
MAX_ID = 80  # characters of a cell id before its hash
RAY_RETRIES = 2  # a Ray task lost with its worker is run again; it resumes from its markers


class SweepError(ValueError):
    """A sweep cannot be defined, started or resumed as asked; the message names the flag."""


class CellsFailed(RuntimeError):
    """Some cells failed; the others are kept, and ``--resume`` runs just the failed ones."""


@dataclasses.dataclass(frozen=True)
class Cell:
    """One (setting, seed) of a sweep.

    ``settings``: grid key -> value as given; ``values``: grid key -> the parsed value (the
    column in the sweep's tables); ``argv``: the experiment's flags for this cell, without the
    run flags the sweep adds (--out, --name, --resume, --quiet)."""

    id: str
    seed: int
    settings: dict[str, str]
    values: dict[str, typing.Any]
    argv: tuple[str, ...]
    num_chains: int = 1
    cpus: int = 1  # processes the cell runs at once (a deep study's --jobs): its Ray CPUs


@dataclasses.dataclass(frozen=True)
class Sweep:
    """A validated sweep: make one with :func:`define`."""

    experiment: str
    grid: dict[str, tuple[str, ...]]
    seeds: tuple[int, ...]
    flags: tuple[str, ...]
    cells: tuple[Cell, ...]

    def spec(self) -> dict:
        """What sweep.json records, and a resumed sweep must match."""
        return {
            "experiment": self.experiment,
            "grid": {k: list(v) for k, v in self.grid.items()},
            "seeds": list(self.seeds),
            "flags": list(self.flags),
        }

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(self.grid)


# ---- defining a sweep --------------------------------------------------------------------


def parse_grid(items: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """``["key=v1,v2", ...]`` -> {key: (v1, v2)}. Commas inside brackets do not split a value
    (``agents=CVaR(alpha=0.9),BROIL(lam=0.5, alpha=0.95)`` is two values); a key may be given
    as a field (``expert_beta``) or a flag (``expert-beta``, ``--expert-beta``)."""
    grid: dict[str, tuple[str, ...]] = {}
    for item in items:
        key, eq, text = str(item).partition("=")
        key = key.strip().lstrip("-").replace("-", "_")
        if not eq or not key or not text.strip():
            raise SweepError(f"--grid: expected key=value1,value2,..., got {item!r}")
        values = tuple(v.strip() for v in _split(text))
        if not all(values):
            raise SweepError(f"--grid {key}: a value is empty in {item!r}")
        if key in grid:
            raise SweepError(f"--grid: {key} is given twice; give all its values at once")
        grid[key] = values
    return grid


def _split(text: str) -> list[str]:
    """``text`` split at the commas outside brackets."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += (ch in "([{") - (ch in ")]}")
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return [*parts, text[start:]]


def define(
    experiment: str,
    grid: Mapping[str, Sequence] | Sequence[str] = (),
    seeds: Sequence[int] = (0,),
    flags: Sequence[str] = (),
) -> Sweep:
    """The sweep of ``experiment`` over every combination of ``grid`` (key -> values, or
    ``["key=v1,v2", ...]``) and every seed, with ``flags`` (e.g. ``["--fast"]``) in every cell.

    Values are passed to the experiment's flag as given; a tuple flag's value may hold several
    words (``"anchor_prior": ["1 0.05", "1 0.1"]``). Raises SweepError, naming the flag, for an
    unknown experiment, a key the experiment does not take, bad seeds, flags the sweep gives
    itself, or any cell the experiment's own parser refuses. Nothing is written."""
    if experiment not in EXPERIMENTS:
        raise SweepError(f"experiment: expected one of {sorted(EXPERIMENTS)}, got {experiment!r}")
    if isinstance(grid, Mapping):
        grid = {str(k).lstrip("-").replace("-", "_"): v for k, v in grid.items()}
        for key, values in grid.items():
            if isinstance(values, str | bytes) or not isinstance(values, Sequence) or not values:
                raise SweepError(f"--grid {key}: expected a list of values, got {values!r}")
        grid = {k: tuple(_text(v) for v in vs) for k, vs in grid.items()}
    else:
        grid = parse_grid(grid)
    seeds = _check_seeds(seeds)
    flags = tuple(str(f) for f in flags)
    for owned in OWNED:
        if any(f == flag(owned) or f.startswith(flag(owned) + "=") for f in flags):
            raise SweepError(f"{flag(owned)}: the sweep sets it for each cell; not a cell flag")
    from rewunc.stages import EXECUTION_ONLY

    module = importlib.import_module(EXPERIMENTS[experiment])
    config_cls = _config_class(module)
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    hints = typing.get_type_hints(config_cls)
    for key, values in grid.items():
        if key == "seeds":
            raise SweepError("--grid seeds: give the seeds with --seeds")
        if key not in fields:
            known = sorted(set(fields) - {"seeds"})
            raise SweepError(f"--grid {key}: not a flag of {experiment}; expected one of {known}")
        if any(f == flag(key) or f.startswith(flag(key) + "=") for f in flags):
            raise SweepError(f"--grid {key}: also given as {flag(key)}; give it in one place")
        if len(set(values)) < len(values):
            raise SweepError(f"--grid {key}: values must be distinct, got {list(values)}")

    cells, configs = [], {}
    for combo in itertools.product(*grid.values()):
        settings = dict(zip(grid, combo, strict=True))
        setting_argv = []
        for key, value in settings.items():
            words = value.split() if typing.get_origin(hints[key]) is tuple else [value]
            setting_argv += [flag(key), *words]
        for seed in seeds:
            argv = (*flags, *setting_argv, "--seeds", str(seed))
            config = _parse(module, config_cls, experiment, argv, settings)
            frozen = json.dumps(
                {k: v for k, v in dataclasses.asdict(config).items() if k not in EXECUTION_ONLY},
                sort_keys=True,
                default=str,
            )
            if frozen in configs:
                raise SweepError(
                    f"--grid: the settings {configs[frozen]} and {settings} give the same "
                    f"{experiment} configuration; give distinct values"
                )
            configs[frozen] = settings
            values = {k: _column(getattr(config, k)) for k in settings}
            chains = int(getattr(config, "num_chains", 1))
            cpus = int(getattr(config, "jobs", 1))
            cells.append(Cell(cell_id(settings, seed), seed, settings, values, argv, chains, cpus))
    ids = [c.id for c in cells]
    if len(set(ids)) < len(ids):
        raise SweepError(f"--grid: values make the same cell folder twice ({ids})")
    return Sweep(experiment, grid, seeds, flags, tuple(cells))


def cell_id(settings: Mapping[str, str], seed: int) -> str:
    """A readable folder name: ``expert_beta=10-seed0``; when a value does not fit a file name
    as it is (e.g. ``CVaR(alpha=0.9)``) or the name is long, a short hash of the exact settings
    follows, so ids stay distinct."""
    parts = [f"{k}={v}" for k, v in settings.items()]
    readable = "-".join([*(slug(p) for p in parts), f"seed{seed}"])
    if all(slug(p) == p for p in parts) and len(readable) <= MAX_ID:
        return readable
    digest = hashlib.sha256(json.dumps([list(settings.items()), seed]).encode()).hexdigest()
    return f"{readable[:MAX_ID].rstrip('-_')}-{digest[:8]}"


def _text(value) -> str:
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value)
    return str(value)


def _column(value):
    """A config value as a table column: one-element tuples as their element."""
    if isinstance(value, tuple):
        return value[0] if len(value) == 1 else " ".join(map(str, value))
    return value


def _check_seeds(seeds) -> tuple[int, ...]:
    if isinstance(seeds, int | str) or not isinstance(seeds, Sequence) or not len(seeds):
        raise SweepError(f"--seeds: expected one or more integers >= 0, got {seeds!r}")
    for s in seeds:
        if not isinstance(s, int) or isinstance(s, bool) or s < 0:
            raise SweepError(f"--seeds: expected integers >= 0, got {s!r}")
    if len(set(seeds)) < len(seeds):
        raise SweepError(f"--seeds: values must be distinct, got {list(seeds)}")
    return tuple(int(s) for s in seeds)


def _config_class(module):
    """The one StudyConfig subclass the experiment module defines (its flags)."""
    from rewunc.stages import StudyConfig

    found = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type)
        and issubclass(obj, StudyConfig)
        and obj.__module__ == module.__name__
    ]
    if len(found) != 1 or not hasattr(module, "FAST"):
        raise SweepError(
            f"{module.__name__}: expected one StudyConfig subclass and a FAST preset to check "
            f"a cell's flags with, found {[c.__name__ for c in found]}"
        )
    return found[0]


def _parse(module, config_cls, experiment: str, argv, settings):
    """The experiment's own parser on a cell's flags; its refusal as a SweepError."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            config, _ = parse_flags(config_cls, module.FAST, [*argv, "--quiet"], prog=experiment)
    except SystemExit as exit_:
        lines = [line for line in err.getvalue().splitlines() if line.strip()]
        why = lines[-1] if lines else f"exited with status {exit_.code} (--help?)"
        why = why.removeprefix(f"{experiment}: ").removeprefix("error: ")
        where = f"the setting {settings}" if settings else "the flags"
        raise SweepError(f"{experiment} refuses {where} ({' '.join(argv)}): {why}") from None
    return config


# ---- running a sweep -----------------------------------------------------------------------


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
        _release(path / LOCK_FILE, lock)
    return path


def _drive(sweep: Sweep, path: Path, backend, workers, address, quiet: bool) -> None:
    """Run the sweep's pending cells, then write its tables (the driver holds the lock)."""
    root = (path / "cells").resolve()  # absolute: Ray workers run in other folders
    pending = [c for c in sweep.cells if not _complete(root / sweep.experiment / c.id)]
    devices = max(c.num_chains for c in sweep.cells)
    limit = workers or (1 if backend == "local" else "the cluster's CPUs")
    todo = f"{len(sweep.cells)} cells, {len(pending)} to run ({backend}, at most {limit} at once)"
    _say(quiet, f"sweep {path}: {todo}")
    if backend == "ray":
        results = _ray(sweep.experiment, pending, root, devices, workers, address, quiet)
    else:
        results = _local(sweep.experiment, pending, root, devices, workers or 1)
    failed, t0 = [], time.perf_counter()
    for i, (cell, result) in enumerate(results, 1):
        folder = root / sweep.experiment / cell.id
        if result["code"] == 0 and not _complete(folder):
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
    if backend == "ray" and not _has_ray():
        raise SweepError('--backend ray: Ray is not installed; pip install -e ".[ray]"')
    if resume and force:
        raise SweepError("--force and --resume are exclusive: start over, or continue")
    if not name or name.startswith(".") or "/" in name or "\\" in name:
        raise SweepError(f"--name: expected a plain folder name, got {name!r}")


def _has_ray() -> bool:
    try:
        return importlib.util.find_spec("ray") is not None
    except ValueError:  # sys.modules["ray"] is None: imports of it are blocked
        return False


def _open(path: Path, sweep: Sweep, *, resume: bool, force: bool) -> dict:
    """Take the sweep's driver lock, and create its folder and sweep.json or check a resumed
    one's spec; returns the lock's contents (for :func:`_release`). Its refusals change
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
            return _lock(path)
        if not force:
            raise SweepError(
                f"{path} already holds a sweep; pass --resume to continue it or --force to "
                "replace it"
            )
        lock = _lock(path)  # not while another driver runs it
        try:
            for entry in path.iterdir():  # all but the lock and other drivers' lock files
                if entry.name.startswith(LOCK_FILE):
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        except BaseException:
            _release(path / LOCK_FILE, lock)
            raise
    elif path.exists() and (not path.is_dir() or any(_not_lock(e) for e in path.iterdir())):
        raise SweepError(
            f"{path} exists and is not a rewunc sweep (no {SWEEP_FILE}); not touching it"
        )
    else:  # a new sweep (or one whose driver is just creating it: then the lock refuses)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise SweepError(f"{path}: cannot create the sweep ({err})") from err
        lock = _lock(path)
    cells = [
        {"id": c.id, "seed": c.seed, "settings": c.settings, "flags": list(c.argv)}
        for c in sweep.cells
    ]
    info = {**spec, "cells": cells, "created": time.time(), "provenance": provenance()}
    try:
        write_text(file, json.dumps(info, indent=2) + "\n")  # key order kept: the grid's
    except BaseException as err:
        _release(path / LOCK_FILE, lock)
        if isinstance(err, OSError):
            raise SweepError(f"{path}: cannot create the sweep ({err})") from err
        raise
    return lock


def _not_lock(entry: Path) -> bool:
    return not entry.name.startswith(LOCK_FILE)


def _lock(path: Path) -> dict:
    """Create ``path/driver.lock`` atomically (O_CREAT | O_EXCL) holding this driver's host, pid
    and start time; returns them. A lock whose driver is gone (this host, pid not running) is
    taken over with a warning; any other lock is refused with a SweepError naming its holder."""
    file = path / LOCK_FILE
    mine = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        # containers can share a host name but not pids: judge a pid only in its own namespace
        "pid_ns": _pid_namespace(),
        "pid_start": _process_start(os.getpid()),  # a reused pid has another start
    }
    # written in full to a file of our own, then hard-linked into place (fails if a lock
    # exists): the lock appears atomically with its contents, on NFS too
    draft = path / f"{LOCK_FILE}.{socket.gethostname()}.{os.getpid()}.new"
    try:
        draft.write_text(json.dumps(mine) + "\n")
    except OSError as err:
        raise SweepError(f"{file}: cannot create the driver lock ({err})") from err
    try:
        return _link_lock(draft, file, mine)
    finally:
        with contextlib.suppress(FileNotFoundError):
            draft.unlink()


def _link_lock(draft: Path, file: Path, mine: dict) -> dict:
    for _ in range(5):  # a lost race against another driver taking over the same stale lock
        try:
            os.link(draft, file)
        except FileExistsError:
            holder = _read_lock(file)
            if holder is None:  # removed meanwhile
                continue
            if not _stale(holder):
                raise SweepError(_held(file, holder)) from None
            if _remove_stale(file, holder):
                print(
                    f"warning: {file}: its driver ({_who(holder)}) is no longer running; "
                    "taking the sweep over",
                    file=sys.stderr,
                    flush=True,
                )
            continue
        except OSError as err:
            raise SweepError(f"{file}: cannot create the driver lock ({err})") from err
        return mine
    raise SweepError(f"{file}: other drivers keep taking this sweep; try again")


def _read_lock(file: Path) -> dict | None:
    """The lock's contents; None if it is gone; {} if it cannot be read as a lock."""
    try:
        holder = json.loads(file.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def _stale(holder: dict) -> bool:
    """Whether the lock's driver is surely gone: on this host and in this pid namespace, and
    its pid not running, or running a process that started at another time (a reused pid)."""
    pid = holder.get("pid")
    if holder.get("host") != socket.gethostname() or not isinstance(pid, int) or pid <= 0:
        return False
    ns = holder.get("pid_ns")
    if ns is not None and ns != _pid_namespace():  # another container's pid: cannot tell
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. PermissionError: it runs, as another user
        return False
    start = holder.get("pid_start")
    return start is not None and _process_start(pid) not in (None, start)


def _pid_namespace() -> str | None:
    """This process's pid namespace (Linux), e.g. ``pid:[4026531836]``; None elsewhere."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def _process_start(pid: int) -> str | None:
    """When process ``pid`` started, in clock ticks since boot (Linux /proc); None elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22, counted after "pid (comm)"


def _remove_stale(file: Path, holder: dict) -> bool:
    """Remove the stale lock ``holder`` unless another driver replaced it meanwhile: it is
    renamed aside first (atomic), and put back if it turns out to be another's."""
    aside = file.with_name(f"{LOCK_FILE}.{socket.gethostname()}.{os.getpid()}.stale")
    try:
        os.replace(file, aside)
    except FileNotFoundError:
        return False
    if _read_lock(aside) == holder:
        aside.unlink()
        return True
    with contextlib.suppress(FileExistsError, FileNotFoundError):  # a live one's: put it back
        os.link(aside, file)
    with contextlib.suppress(FileNotFoundError):
        aside.unlink()
    return False


def _held(file: Path, holder: dict) -> str:
    if not holder:
        return (
            f"{file} exists but is not a readable driver lock; if no driver is running this "
            "sweep, delete that file and run again"
        )
    return (
        f"{file}: another driver is running this sweep ({_who(holder)}); wait for it to end, "
        "or, if that process is gone, delete that file and run again"
    )


def _who(holder: dict) -> str:
    return f"host {holder.get('host')}, pid {holder.get('pid')}, started {holder.get('started')}"


def _release(file: Path, lock: dict) -> None:
    """Remove the driver lock, if it is still this driver's."""
    if _read_lock(file) == lock:
        with contextlib.suppress(FileNotFoundError):
            file.unlink()


def _complete(folder: Path) -> bool:
    """Whether a cell's run has finished; its stages' files are verified (RunError if one
    changed, naming it)."""
    run = Run(folder)
    if not (folder / "stages").is_dir() or not run.done("complete"):
        return False
    problems = [p for key in run.stages() for p in run.verify(key)]
    if problems:
        lines = "\n  ".join(problems)
        raise RunError(f"{folder}: files changed:\n  {lines}\nrestore them, or delete the folder")
    return True


def _say(quiet: bool, message: str) -> None:
    if not quiet:
        print(message, flush=True)


# ---- one cell, and the backends ----------------------------------------------------------


def run_cell(experiment: str, argv: Sequence[str], devices: int = 1) -> dict:
    """Run one cell: the experiment's ``main(argv)`` (argv with --out, --name, --resume), its
    output captured. Both backends call this. ``devices``: the host devices JAX gets in this
    process (the most chains any cell of the sweep runs, at most the CPU count), set once
    before JAX starts, so that NUTS runs its chains the same way in every process.

    Returns ``{"code", "seconds", "stderr", "host"}`` (and ``"error"`` when it fails); never
    raises for a failing cell."""
    _host_devices(devices)
    t0 = time.perf_counter()
    err = io.StringIO()
    result = {"host": socket.gethostname()}
    try:
        module = importlib.import_module(EXPERIMENTS[experiment])
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            code = module.main(list(argv))
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    except Exception:
        code, result["error"] = 1, traceback.format_exc(limit=-8)
    text = err.getvalue()
    if code and "error" not in result:
        errors = [line for line in text.splitlines() if line.startswith("error")]
        result["error"] = errors[-1] if errors else f"exited with status {code}"
    return {**result, "code": int(code or 0), "seconds": time.perf_counter() - t0, "stderr": text}


_DEVICES: int | None = None


def _host_devices(n: int) -> None:
    global _DEVICES
    if _DEVICES is None:
        import numpyro

        numpyro.set_host_device_count(max(1, min(os.cpu_count() or 1, n)))
        import jax

        _DEVICES = jax.local_device_count()  # starts JAX's backend with that many


def _cell_argv(cell: Cell, root: Path) -> list[str]:
    return [*cell.argv, "--out", str(root), "--name", cell.id, "--resume", "--quiet"]


def _local(experiment, cells, root, devices, workers) -> Iterator[tuple[Cell, dict]]:
    if workers == 1 or len(cells) <= 1:
        for cell in cells:
            yield cell, run_cell(experiment, _cell_argv(cell, root), devices)
        return
    context = multiprocessing.get_context("spawn")  # no forked JAX state
    pool = ProcessPoolExecutor(min(workers, len(cells)), mp_context=context)
    try:
        futures = {
            pool.submit(run_cell, experiment, _cell_argv(c, root), devices): c for c in cells
        }
        for future in as_completed(futures):
            try:
                result = future.result()
            except Exception as err:  # the worker process died (killed, out of memory)
                result = {"code": 1, "seconds": 0.0, "error": f"worker lost: {err!r}"}
            yield futures[future], result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _ray(experiment, cells, root, devices, workers, address, quiet):
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
                    experiment, _cell_argv(cell, root), devices
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


# ---- results across seeds ----------------------------------------------------------------


def load(path: str | os.PathLike) -> tuple[Path, dict]:
    """A sweep's folder and its sweep.json."""
    path = Path(path)
    if not (path / SWEEP_FILE).is_file():
        raise SweepError(f"{path}: not a rewunc sweep (no {SWEEP_FILE})")
    try:
        return path, json.loads((path / SWEEP_FILE).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise SweepError(f"{path / SWEEP_FILE}: not valid JSON ({err})") from err


def collect(path: str | os.PathLike, sweep: Sweep | None = None):
    """Write the sweep's episodes.csv, cells.csv and results.csv (over seeds, per setting,
    study, shift and agent) and its figure, from its complete cells; returns results.
    ``sweep``: the sweep, if at hand (else defined again from sweep.json)."""
    import pandas as pd

    from rewunc.evaluate import aggregate

    path, info = load(path)
    if sweep is None:
        sweep = define(info["experiment"], info["grid"], info["seeds"], info["flags"])
    keys = list(sweep.keys)
    episodes, rows = [], []
    for cell in sweep.cells:
        folder = path / "cells" / sweep.experiment / cell.id
        if not _complete(folder):
            raise SweepError(f"{folder}: the cell has not finished; run the sweep with --resume")
        episodes.append(_in_front(_read_csv(folder / "episodes.csv"), cell.values))
        cell_rows = _read_csv(folder / "results.csv")
        rows.append(_in_front(cell_rows, {"cell": cell.id, **cell.values, "seed": cell.seed}))
    episodes = pd.concat(episodes, ignore_index=True)
    by = list(dict.fromkeys([*keys, "study", "env", "shift", "agent"]))
    if episodes.duplicated([*by, "seed", "episode"]).any():
        raise SweepError(f"{path}: an episode is recorded twice")
    results = pd.DataFrame(aggregate(episodes.to_dict("records"), by=by))
    for name, frame in (
        ("episodes.csv", episodes),
        ("cells.csv", pd.concat(rows, ignore_index=True)),
        ("results.csv", results),
    ):
        atomic_write(path / name, lambda tmp, f=frame: f.to_csv(tmp, index=False), force=True)
    plot_sweep(path)
    return results


def plot_sweep(path: str | os.PathLike) -> list[Path]:
    """Redraw a sweep's figure from its episodes.csv and results.csv."""
    import matplotlib.pyplot as plt

    from rewunc.io import save_png
    from rewunc.plots import per_seed_rates, seed_spread

    path, info = load(path)
    keys = list(info["grid"])
    results, episodes = _read_csv(path / "results.csv"), _read_csv(path / "episodes.csv")
    seeds = per_seed_rates(episodes, keys=(*keys, "study", "shift", "agent", "seed"))
    fig = seed_spread(results, seeds, keys, title=f"sweep {path.name} of {info['experiment']}")
    try:
        return [save_png(path / "figures" / f"{FIGURE}.png", fig, force=True)]
    finally:
        plt.close(fig)


def summary(path: str | os.PathLike) -> str:
    """The sweep's results as a table (the experiment's summary metrics), one block of rows
    per setting."""
    from rewunc.evaluate import format_summary
    from rewunc.plots import setting_label

    path, info = load(path)
    keys = list(info["grid"])
    results = _read_csv(path / "results.csv")
    label = results["study"].astype(str)
    if keys:
        label += ", " + results.apply(lambda row: setting_label(row, keys), axis=1)
    module = importlib.import_module(EXPERIMENTS[info["experiment"]])
    metrics = getattr(module, "SUMMARY", ("goal_rate", "misgeneralization_rate", "hazard_rate"))
    return format_summary(results.assign(study=label), metrics)


def _in_front(frame, columns: dict):
    """``frame`` with ``columns`` (name -> one value) first, except those it already has (a
    grid over ``env``: the cell's own column)."""
    new = {k: v for k, v in columns.items() if k not in frame}
    return frame.assign(**new)[[*new, *frame.columns]]


def _read_csv(path: Path):
    import pandas as pd

    try:
        return pd.read_csv(path, keep_default_na=False, na_values=["NaN", "nan", ""])
    except FileNotFoundError as err:
        raise SweepError(f"{path}: missing; the cell did not finish (run with --resume)") from err
