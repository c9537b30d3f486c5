"""The robustness figure: outcome metrics against each axis a study varies one at a time
(experiments/lavaland_robustness.py), one line per agent, each seed's value as a dot."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from rewunc.plots.style import _require, _styles_for

PANELS = (
    ("lava", "goal_rate", "goal rate on lava"),
    ("lava", "hazard_rate", "hazard rate on lava"),
    ("harmless", "regret", "regret on harmless (the cost of caution)"),
)


def robustness(
    results: pd.DataFrame,
    seeds: pd.DataFrame,
    axes: Sequence[str],
    *,
    panels: Sequence[tuple[str, str, str]] = PANELS,
    styles: Mapping[str, dict] | None = None,
) -> plt.Figure:
    """One row per (shift, metric) of ``panels``, one column per axis: each agent's metric at
    every value of the axis (the others at the base), with its interval and each seed's value.

    ``results``, ``seeds``: results.csv and seeds.csv of the study, with a column per axis and
    ``axis`` (the axis a row varies, "base" for the base)."""
    _require(results, ("axis", "shift", "agent", *axes), "robustness: results")
    panels = [p for p in panels if p[1] in results and p[0] in set(results["shift"])]
    agents = list(dict.fromkeys(results["agent"]))
    style = _styles_for(agents, styles)
    fig, grid = plt.subplots(
        len(panels), len(axes), figsize=(3.3 * len(axes), 2.8 * len(panels) + 0.6),
        layout="constrained", squeeze=False, sharey="row",
    )  # fmt: skip
    for j, axis in enumerate(axes):
        keep = results["axis"].isin(["base", axis])
        values = list(dict.fromkeys(_sorted(results.loc[keep, axis])))
        x_of = {v: i for i, v in enumerate(values)}
        dodge = 0.3 / max(len(agents), 1)
        for i, (shift, metric, title) in enumerate(panels):
            ax = grid[i, j]
            for k, agent in enumerate(agents):
                offset = (k - (len(agents) - 1) / 2) * dodge
                rows = results[keep & (results["shift"] == shift) & (results["agent"] == agent)]
                rows = rows.assign(x=rows[axis].map(x_of)).sort_values("x")
                yerr = np.clip([rows[metric] - rows[f"{metric}_lo"],
                                rows[f"{metric}_hi"] - rows[metric]], 0, None)  # fmt: skip
                st = style[agent]
                ax.errorbar(rows["x"] + offset, rows[metric], yerr=yerr, color=st["color"],
                            marker=st["marker"], ms=5, capsize=2, lw=1.2,
                            label=agent if (i, j) == (0, 0) else None)  # fmt: skip
                dots = seeds[seeds["axis"].isin(["base", axis]) & (seeds["shift"] == shift)
                             & (seeds["agent"] == agent)]  # fmt: skip
                if metric in dots:
                    ax.scatter(dots[axis].map(x_of) + offset, dots[metric], s=12,
                               color=st["color"], alpha=0.45, lw=0, zorder=4)  # fmt: skip
            ax.set_xticks(range(len(values)), [_text(v) for v in values], fontsize=8)
            ax.set_xlim(-0.5, len(values) - 0.5)
            ax.grid(alpha=0.3)
            if j == 0:
                ax.set_ylabel(title, fontsize=9)
            if i == len(panels) - 1:
                ax.set_xlabel(axis.replace("_", " "))
    n_seeds = int(seeds["seed"].nunique())
    fig.suptitle(
        f"robustness of the flagship: one axis varied at a time around the base "
        f"({n_seeds} seeds: dots; bars: 95% two-level bootstrap)",
        fontsize=10,
    )
    fig.legend(loc="outside lower center", ncol=min(len(agents), 6), fontsize=8)
    return fig


def _sorted(values: pd.Series) -> list:
    unique = list(dict.fromkeys(values))
    try:
        return sorted(unique, key=float)
    except (TypeError, ValueError):
        return unique  # categories keep the order they first appear in (the base first)


def _text(v) -> str:
    return f"{v:g}" if isinstance(v, int | float | np.number) else str(v)
