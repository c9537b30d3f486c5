"""Learning curves of a run's deep agents, from the ``progress.csv`` each one wrote (read by
:func:`rewunc.results.training_logs`): :func:`learning_curves`, the validation goal rate (and,
for the risk-averse agents, the risk objective of the training batch) against training steps,
one line per seed."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import pandas as pd

from rewunc.plots.style import _styles_for

# (column of progress.csv, axis label): the validation layouts' greedy goal rate, and the
# risk objective (RiskAversePPO's BROIL objective over the batch's episodes)
CURVES = (
    ("eval/goal_rate", "goal rate, validation layouts (greedy)"),
    ("risk/objective", "risk objective (the agent's own), training batch"),
)


def learning_curves(logs: pd.DataFrame, *, styles: Mapping[str, dict] | None = None):
    """Goal rate on the validation layouts and, where logged, the risk objective against
    training steps: one colour per agent, one line per (study, seed).

    ``logs``: :func:`rewunc.results.training_logs`' frame (``study``, ``seed``, ``agent``,
    ``eval/timesteps``, ``eval/goal_rate``, optionally ``time/total_timesteps`` and
    ``risk/objective``)."""
    missing = {"study", "seed", "agent", "eval/timesteps", "eval/goal_rate"} - set(logs)
    if missing:
        raise ValueError(f"learning_curves: logs lack the columns {sorted(missing)}")
    curves = [(c, label) for c, label in CURVES if c in logs and logs[c].notna().any()]
    agents = list(dict.fromkeys(logs["agent"]))
    styles = _styles_for(agents, styles)
    fig, axes = plt.subplots(
        1, len(curves), figsize=(6.2 * len(curves), 4.2), squeeze=False, layout="constrained"
    )
    seeds = logs.groupby(["study", "seed"]).ngroups // max(1, logs["study"].nunique())
    for ax, (column, label) in zip(axes[0], curves, strict=True):
        steps = "eval/timesteps" if column.startswith("eval/") else "time/total_timesteps"
        for agent in agents:
            first = True
            for _, line in logs[logs["agent"] == agent].groupby(["study", "seed"], sort=False):
                line = line[line[column].notna()].sort_values(steps, kind="stable")
                if line.empty:
                    continue
                ax.plot(
                    line[steps],
                    line[column],
                    color=styles[agent]["color"],
                    marker=styles[agent]["marker"] if len(line) <= 30 else None,  # dense: no
                    markersize=3,
                    linewidth=1.2,
                    alpha=0.8,
                    label=agent if first else None,
                )
                first = False
        ax.set_xlim(left=0)
        ax.set_xlabel("training steps")
        ax.set_ylabel(label)
        if column == "eval/goal_rate":
            ax.set_ylim(-0.03, 1.03)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8, loc="best")
    fig.suptitle(f"Learning curves: one line per seed ({seeds} per agent)", fontsize=11)
    return fig
