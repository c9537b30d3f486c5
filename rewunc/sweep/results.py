"""A sweep's results across seeds: episodes.csv, cells.csv and results.csv (per setting, study,
shift and agent over the seeds, :func:`rewunc.evaluate.aggregate`), its figure and its summary."""

from __future__ import annotations

import json
import os
from pathlib import Path

from rewunc.io import atomic_write
from rewunc.runs import Run
from rewunc.sweep.grid import SWEEP_FILE, Sweep, SweepError, define

FIGURE = "seed_spread"


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
        if not Run(folder).is_complete():
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


def plot_sweep(path: str | os.PathLike, fmt: str = "png") -> list[Path]:
    """Redraw a sweep's figure from its episodes.csv and results.csv (``fmt``: png, svg, pdf)."""
    import matplotlib.pyplot as plt

    from rewunc.io import save_figure
    from rewunc.plots import per_seed_rates, seed_spread

    path, info = load(path)
    keys = list(info["grid"])
    results, episodes = _read_csv(path / "results.csv"), _read_csv(path / "episodes.csv")
    seeds = per_seed_rates(episodes, keys=(*keys, "study", "shift", "agent", "seed"))
    fig = seed_spread(results, seeds, keys, title=f"sweep {path.name} of {info['experiment']}")
    try:
        return [save_figure(path / "figures" / FIGURE, fig, fmt=fmt, force=True)]
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
    from rewunc.experiments import REGISTRY

    metrics = REGISTRY[info["experiment"]].summary
    return format_summary(results.assign(study=label), metrics)


def _in_front(frame, columns: dict):
    """``frame`` with ``columns`` (name -> one value) first, except those it already has (a
    grid over ``env``: the cell's own column)."""
    new = {k: v for k, v in columns.items() if k not in frame}
    return frame.assign(**new)[[*new, *frame.columns]]


def _read_csv(path: Path):
    from rewunc.results import read_table

    try:
        return read_table(path)
    except FileNotFoundError as err:
        raise SweepError(f"{path}: missing; the cell did not finish (run with --resume)") from err
