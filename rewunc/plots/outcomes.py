"""Outcome-rate figures: which rates are worth drawing (:func:`outcome_bars`), rates per seed
from episode records (:func:`per_seed_rates`), and the bars of :func:`goal_vs_capability`."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from rewunc.plots.style import BARS, _require, interval_text


def _nonzero(table: pd.DataFrame, column: str) -> bool:
    return column in table and bool((pd.to_numeric(table[column], errors="coerce") > 0).any())


def outcome_bars(results: pd.DataFrame) -> list[tuple[str, str, str]]:
    """The (column, label, colour) bars worth drawing for ``results``: goal always; capability
    and misgeneralization only when some cell had a proxy outcome (else capability = goal);
    hazard only when some cell had one; timeout always (the outcomes then add up to 1)."""
    proxy = _nonzero(results, "misgeneralization_rate")
    keep = {
        "goal_rate": True,
        "capability_rate": proxy,
        "misgeneralization_rate": proxy,
        "hazard_rate": _nonzero(results, "hazard_rate"),
        "timeout_rate": True,
    }
    return [b for b in BARS if keep[b[0]] and {b[0], f"{b[0]}_lo", f"{b[0]}_hi"} <= set(results)]


def per_seed_rates(
    episodes: pd.DataFrame, keys: Sequence[str] = ("study", "shift", "agent", "seed")
) -> pd.DataFrame:
    """Outcome rates per ``keys`` from episode records (an ``outcome`` column), named as in
    results (goal_rate, hazard_rate, ...)."""
    from rewunc.evaluate import RATES

    keys = list(keys)
    frame = episodes[keys].copy()
    for rate, outcomes in RATES.items():
        frame[rate] = episodes["outcome"].isin(outcomes).astype(float)
    return frame.groupby(keys, sort=False).mean().reset_index()


def goal_vs_capability(
    results: pd.DataFrame, title: str = "", episodes: pd.DataFrame | None = None
) -> plt.Figure:
    """Grouped bars of outcome rates with their intervals, one panel per (study, shift).

    ``results``: one row per (study, shift, agent) with ``<rate>``, ``<rate>_lo`` and
    ``<rate>_hi`` for goal_rate and any of capability_rate, misgeneralization_rate, hazard_rate,
    timeout_rate; optionally ``interval`` (which interval, shown in the title). Only informative
    bars are drawn (:func:`outcome_bars`); return and regret columns are not used. With
    ``episodes`` from several seeds, each seed's rate is drawn as a dot on its bar, so the
    spread across seeds shows.
    """
    _require(
        results,
        ("study", "shift", "agent", "goal_rate", "goal_rate_lo", "goal_rate_hi"),
        "goal_vs_capability: results",
    )
    bars = outcome_bars(results)
    panels = list(dict.fromkeys(zip(results["study"], results["shift"], strict=True)))
    agents = list(dict.fromkeys(results["agent"]))
    ncols = 1 if len(panels) <= 2 else 2
    nrows = -(-len(panels) // ncols)
    width = max(6.5, 0.3 * len(agents) * len(bars) + 1.5)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(width * ncols, 3.3 * nrows + 0.6),
        squeeze=False,
        layout="constrained",
    )
    x = np.arange(len(agents))
    w = 0.8 / len(bars)
    seeds = None
    if episodes is not None and episodes["seed"].nunique() > 1:
        seeds = per_seed_rates(episodes)
    for ax, (study, shift) in zip(axes.flat, panels, strict=False):
        cell = results[(results["study"] == study) & (results["shift"] == shift)]
        m = cell.drop_duplicates("agent").set_index("agent").reindex(agents)
        for j, (metric, label, color) in enumerate(bars):
            value = m[metric].to_numpy(float)
            err = np.vstack([value - m[f"{metric}_lo"], m[f"{metric}_hi"] - value])
            ax.bar(
                x + (j - (len(bars) - 1) / 2) * w,
                value,
                w,
                yerr=np.clip(np.nan_to_num(err), 0, None),
                capsize=2,
                error_kw={"lw": 0.8},
                color=color,
                label=label,
            )
            if seeds is not None:
                dots = seeds[(seeds["study"] == study) & (seeds["shift"] == shift)]
                xs = dots["agent"].map({a: i for i, a in enumerate(agents)})
                ax.scatter(
                    xs + (j - (len(bars) - 1) / 2) * w,
                    dots[metric],
                    s=9,
                    color="black",
                    zorder=3,
                    label="one seed" if j == 0 else None,
                )
        ax.set_xticks(x)
        ax.set_xticklabels(agents, rotation=30, ha="right", fontsize=8)
        ax.set_xlim(-0.6, len(agents) - 0.4)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("fraction of episodes")
        name = f"{study}, " if results["study"].nunique() > 1 else ""
        ax.set_title(f"{name}shift '{shift}'", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.suptitle(
        f"{title or 'goal vs capability generalization'}\n"
        f"bars: fraction of episodes; whiskers: {interval_text(results)}",
        fontsize=10,
    )
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), fontsize=8)
    return fig
