"""What every experiment script shares: run flags, the run directory, results and the summary.

An experiment script defines a frozen config dataclass, a ``--fast`` preset and a function from
config to :class:`~rewunc.study.Study` list, and hands them to :func:`main_for`, which gives it

    --out runs  --name NAME  --force  --resume  --fast  --quiet

and writes ``runs/<experiment>/<name>/`` (see :mod:`rewunc.runs`): ``episodes.csv`` (one row per
episode), ``results.csv`` (one row per study, env, shift and agent, with 95% intervals),
``posteriors.csv`` (one row per study and seed) and the figures of :mod:`rewunc.plots`.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Callable, Sequence

import numpyro
import pandas as pd

from rewunc.agents.tabular import AgentError
from rewunc.config import apply_preset, parse_config
from rewunc.evaluate import aggregate
from rewunc.io import write_json
from rewunc.risk import RiskError
from rewunc.runs import Run, RunError
from rewunc.study import Study, StudyError, posterior_row, run_study

RUN_FLAGS = dict(
    out=dict(default="runs", help="root folder of run directories (default: runs)"),
    name=dict(default=None, help="run name (default: 'default', or 'fast' with --fast)"),
    force=dict(action="store_true", help="replace an existing run of the same name"),
    resume=dict(action="store_true", help="continue an interrupted run, skipping finished cells"),
    fast=dict(action="store_true", help="a small preset that finishes in under a minute"),
    quiet=dict(action="store_true", help="no progress bars"),
)

SUMMARY = (
    "goal_rate",
    "capability_rate",
    "misgeneralization_rate",
    "hazard_rate",
    "return",
    "regret",
)


def main_for(
    experiment: str,
    config_cls,
    make_studies: Callable[[object], list[Study]],
    fast_preset: dict,
    argv: Sequence[str] | None = None,
    summary: Sequence[str] = SUMMARY,
) -> int:
    """Parse flags, run every (seed, study), write the tables and figures; 0 on success, 2 on
    a refused configuration or run directory (with the reason on stderr)."""
    cfg, opts = parse_config(config_cls, argv, **RUN_FLAGS)
    if opts.fast:
        cfg = apply_preset(cfg, fast_preset, argv)
    try:
        if not cfg.seeds:
            raise StudyError("seeds: give at least one seed")
        studies = make_studies(cfg)
        labels = [s.label for s in studies]
        if len(set(labels)) != len(labels):
            raise StudyError(f"study labels repeat: {labels}")
        run = Run.start(
            opts.out,
            experiment,
            opts.name or ("fast" if opts.fast else "default"),
            {"experiment": experiment, "config": dataclasses.asdict(cfg)},
            force=opts.force,
            resume=opts.resume,
        )
    except (StudyError, AgentError, RiskError, RunError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    write_json(run.file("studies.json"), [dataclasses.asdict(s) for s in studies], force=True)
    # Parallel chains on the CPU need JAX to see several host devices before it first runs.
    numpyro.set_host_device_count(max(1, min(os.cpu_count() or 1, getattr(cfg, "num_chains", 1))))
    t0 = time.perf_counter()
    episodes, posteriors, frontiers = [], [], []
    for seed in cfg.seeds:
        for study in studies:
            out = run_study(run, study, seed, progress=not opts.quiet)
            episodes.append(out["episodes"])
            frontiers.append(out["frontier"])
            posteriors.append(posterior_row(study, seed, out["posterior"]))
    episodes = pd.concat(episodes, ignore_index=True)
    results = pd.DataFrame(
        aggregate(episodes.to_dict("records"), by=("study", "env", "shift", "agent"))
    )
    extra = {s.label: s.env_kwargs for s in studies}
    for key in sorted({k for kw in extra.values() for k in kw}):
        results.insert(1, key, [extra[label].get(key) for label in results["study"]])
    run.write_table("episodes.csv", episodes.to_dict("records"))
    run.write_table("results.csv", results.to_dict("records"))
    run.write_table("posteriors.csv", posteriors)
    run.write_table("frontier.csv", pd.concat(frontiers).to_dict("records"))

    from rewunc.plots import plot_run  # matplotlib only once the numbers are safe on disk

    figures = plot_run(run.path)
    run.finish("complete", seconds=round(time.perf_counter() - t0, 1))
    print(format_summary(results, summary))
    print(
        f"\nwrote {run.path}/results.csv, episodes.csv, posteriors.csv and {len(figures)} figures"
    )
    return 0


def format_summary(results: pd.DataFrame, metrics: Sequence[str]) -> str:
    """A fixed-width table: one line per cell, each metric as ``mean [lo, hi]``."""
    # the agent always; study and shift only when they vary
    keys = [c for c in ("study", "shift") if results[c].nunique() > 1] + ["agent"]
    cols = [(m, f"{m.replace('_rate', '')}") for m in metrics]
    widths = {k: max(len(k), *(len(str(v)) for v in results[k])) for k in keys}
    head = " ".join(f"{k:<{widths[k]}s}" for k in keys) + "".join(f" {t:>21s}" for _, t in cols)
    lines = [head, "-" * len(head)]
    for _, r in results.iterrows():
        cells = "".join(f" {r[m]:7.3f} [{r[m + '_lo']:5.2f},{r[m + '_hi']:5.2f}]" for m, _ in cols)
        lines.append(" ".join(f"{str(r[k]):<{widths[k]}s}" for k in keys) + cells)
    return "\n".join(lines)
