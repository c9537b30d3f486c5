"""Defining a sweep: the grid of settings, the seeds, and one :class:`Cell` per (setting, seed),
each checked by the experiment's own parser before anything is made."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import itertools
import json
import typing
from collections.abc import Mapping, Sequence

from rewunc.config import flag, parse_flags
from rewunc.runs import slug

SPEC = ("experiment", "grid", "seeds", "flags")  # what a resumed sweep must match
# flags the sweep gives each cell itself
OWNED = ("seeds", "out", "name", "resume", "force", "quiet")
SWEEP_FILE = "sweep.json"  # the sweep's spec and cells, in its folder
MAX_ID = 80  # characters of a cell id before its hash


class SweepError(ValueError):
    """A sweep cannot be defined, started or resumed as asked; the message names the flag."""


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
    from rewunc.experiments import REGISTRY

    if experiment not in REGISTRY:
        raise SweepError(f"experiment: expected one of {sorted(REGISTRY)}, got {experiment!r}")
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
    from rewunc.study.config import EXECUTION_ONLY

    record = REGISTRY[experiment]
    config_cls = record.config
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
            config = _parse(record, argv, settings)
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


def _parse(record, argv, settings):
    """The experiment's own parser on a cell's flags; its refusal as a SweepError."""
    experiment, err = record.name, io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            config, _ = parse_flags(record.config, record.fast, [*argv, "--quiet"], prog=experiment)
    except SystemExit as exit_:
        lines = [line for line in err.getvalue().splitlines() if line.strip()]
        why = lines[-1] if lines else f"exited with status {exit_.code} (--help?)"
        why = why.removeprefix(f"{experiment}: ").removeprefix("error: ")
        where = f"the setting {settings}" if settings else "the flags"
        raise SweepError(f"{experiment} refuses {where} ({' '.join(argv)}): {why}") from None
    return config
