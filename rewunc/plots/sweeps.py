"""Figures of sweeps over settings: :func:`sweep` and :func:`misgeneralization_curve` (studies
over ``p``), and :func:`seed_spread` (a ``rewunc sweep``'s rates with the spread across seeds)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from rewunc.plots.outcomes import outcome_bars, per_seed_rates
from rewunc.plots.style import AGENT_COLORS, AGENT_MARKERS, _require, _styles_for, interval_text


def _ambiguity_by_p(ax, posteriors: pd.DataFrame) -> int:
    """The posterior's ambiguity against p on ``ax``: P(goal > proxy) where the posteriors have
    it (``p_ambiguity``), else the contrasts' correlation; with several seeds each seed (drawn a
    little right of its p) and their mean with the min–max range. Returns the number of seeds."""
    column = "p_ambiguity" if "p_ambiguity" in posteriors else "ambiguity"
    by_p = posteriors.groupby("p")[column]
    n_seeds = int(posteriors.groupby("p").size().max())
    mean = by_p.mean()
    if n_seeds > 1:
        p_all = np.sort(posteriors["p"].unique())
        shift_x = 0.03 * (p_all[-1] - p_all[0] if len(p_all) > 1 else 1.0)
        ax.scatter(
            posteriors["p"] + shift_x,
            posteriors[column],
            s=12,
            color="0.35",
            zorder=4,
            label="each seed (drawn right of its p)",
        )
        ax.errorbar(
            mean.index,
            mean,
            yerr=[mean - by_p.min(), by_p.max() - mean],
            color="C0",
            marker="o",
            capsize=3,
            zorder=3,
            label=f"mean, min–max over {n_seeds} seeds",
        )
        ax.legend(fontsize=7)
    else:
        ax.plot(mean.index, mean, marker="o", color="C0")
    ax.axhline(0.5 if column == "p_ambiguity" else 0, color="k", lw=0.5)
    if column == "p_ambiguity":
        ax.set_ylim(-0.03, 1.03)
    ax.set_xticks(np.sort(posteriors["p"].unique()))
    of = posteriors[f"{column}_of"].iloc[0] if f"{column}_of" in posteriors else column
    ax.set_ylabel(f"posterior {of}")
    return n_seeds


def sweep(
    results: pd.DataFrame,
    posteriors: pd.DataFrame,
    shift: str,
    *,
    styles: Mapping[str, dict] | None = None,
    per_seed: pd.DataFrame | None = None,
) -> plt.Figure:
    """The posterior's ambiguity (P(goal > proxy), or the correlation of the two) and the
    goal and misgeneralization rates on ``shift``, against ``p``.

    ``results``: rows with p, shift, agent, goal_rate and misgeneralization_rate with their _lo
    and _hi, optionally ``interval``. ``posteriors``: one row per (study, seed) with p,
    ambiguity and ambiguity_of (and seed): with several seeds each seed's value is drawn, with
    their mean and min–max range. ``per_seed`` (a run's seeds.csv: p, shift, agent, seed and the
    rates), when given, draws each seed's rate as a small dot beside its agent's marker.
    """
    _require(results, ("p", "shift", "agent", "goal_rate"), "sweep: results")
    _require(posteriors, ("p", "ambiguity"), "sweep: posteriors")
    fig, axes = plt.subplots(1, 3, figsize=(15.5, 4.2), layout="constrained")
    ax = axes[0]
    n_seeds = _ambiguity_by_p(ax, posteriors)
    ax.set_xlabel("p (fraction of decorrelated training layouts)")
    seeds_note = f"{n_seeds} seeds" if n_seeds > 1 else "1 seed"
    ax.set_title(f"reward ambiguity ({seeds_note})", fontsize=10)
    ax.grid(alpha=0.3)

    cell = results[results["shift"] == shift]
    agents = list(dict.fromkeys(cell["agent"]))
    style = _styles_for(agents, styles)
    ps = np.sort(cell["p"].unique())
    span = ps[-1] - ps[0] if len(ps) > 1 else 1.0
    step = np.min(np.diff(ps)) if len(ps) > 1 else 1.0
    # agents side by side (a small shift in p), so that equal values stay visible
    dodge = min(0.3 * step, 0.06 * span) / max(len(agents), 1)
    seeds = {}  # agent -> its seeds' rows on this shift, split once for both panels
    if per_seed is not None:
        seeds = dict(tuple(per_seed[per_seed["shift"] == shift].groupby("agent", sort=False)))
    for ax, metric, title in (
        (axes[1], "goal_rate", f"goal rate on '{shift}'"),
        (axes[2], "misgeneralization_rate", f"misgeneralization (proxy) rate on '{shift}'"),
    ):
        if metric not in cell:
            ax.axis("off")
            continue
        for i, agent in enumerate(agents):
            rows = cell[cell["agent"] == agent].sort_values("p")
            offset = (i - (len(agents) - 1) / 2) * dodge
            yerr = None
            if {f"{metric}_lo", f"{metric}_hi"} <= set(rows):
                yerr = np.clip(
                    [rows[metric] - rows[f"{metric}_lo"], rows[f"{metric}_hi"] - rows[metric]],
                    0,
                    None,
                )
            st = style[agent]
            mine = seeds.get(agent)
            if mine is not None and metric in mine:
                ax.scatter(mine["p"] + offset, mine[metric], s=7, color=st["color"], alpha=0.35)
            ax.errorbar(
                rows["p"] + offset,
                rows[metric],
                yerr=yerr,
                marker=st["marker"],
                color=st["color"],
                ms=9 if st["marker"] == "*" else 5,
                lw=1.2,
                capsize=2,
                elinewidth=0.8,
                label=agent,
            )
        ax.set_ylim(-0.03, 1.03)
        ax.set_xticks(ps)
        ax.set_xlabel("p (agents offset slightly sideways to stay visible)")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    handles, labels = axes[1].get_legend_handles_labels()
    fig.legend(
        handles, labels, loc="outside right upper", fontsize=8, title="agents", title_fontsize=8
    )
    dots = "; dots: each seed" if per_seed is not None else ""
    fig.suptitle(f"sweep over p — rates with {interval_text(cell)}{dots}", fontsize=10)
    return fig


CURVE_OUTCOMES = (
    ("goal_rate", "goal", "tab:green", "o"),
    ("misgeneralization_rate", "proxy (misgeneralization)", "tab:red", "s"),
    ("timeout_rate", "timeout", "0.45", "^"),
)


def misgeneralization_curve(
    results: pd.DataFrame,
    posteriors: pd.DataFrame,
    agent: str,
    shift: str,
    episodes: pd.DataFrame | None = None,
) -> plt.Figure:
    """Langosco et al.'s curve: ``agent``'s goal, proxy and timeout rates on ``shift`` against
    p (top), and on the same p axis the posterior's ambiguity (bottom; each seed, and the mean
    with the min–max over seeds).

    ``results``: rows with p, shift, agent and the rates with _lo and _hi (``interval`` says
    which intervals). ``posteriors``: rows with p and ambiguity (and ambiguity_of). With
    ``episodes`` (a ``p`` column) from several seeds, each seed's rates are drawn as dots."""
    _require(results, ("p", "shift", "agent", "goal_rate"), "misgeneralization_curve: results")
    _require(posteriors, ("p", "ambiguity"), "misgeneralization_curve: posteriors")
    cell = results[(results["agent"] == agent) & (results["shift"] == shift)].sort_values("p")
    if not len(cell):
        raise ValueError(f"misgeneralization_curve: no results for {agent!r} on {shift!r}")
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(6.4, 6.2), sharex=True, height_ratios=(3, 2), layout="constrained"
    )
    by_seed = None
    if episodes is not None and "p" in episodes and episodes["seed"].nunique() > 1:
        mine = episodes[(episodes["agent"] == agent) & (episodes["shift"] == shift)]
        by_seed = per_seed_rates(mine, keys=("p", "seed"))
    for metric, label, color, marker in CURVE_OUTCOMES:
        if metric not in cell:
            continue
        yerr = np.clip(
            [cell[metric] - cell[f"{metric}_lo"], cell[f"{metric}_hi"] - cell[metric]], 0, None
        )
        top.errorbar(
            cell["p"], cell[metric], yerr=yerr, color=color, marker=marker, capsize=3, label=label
        )
        if by_seed is not None:
            top.scatter(by_seed["p"], by_seed[metric], s=14, color=color, alpha=0.45, marker=marker)
    top.set_ylim(-0.03, 1.03)
    top.set_ylabel(f"rate on '{shift}'")
    dots = "; faint markers: each seed" if episodes is not None else ""
    top.set_title(f"{agent} on '{shift}' ({interval_text(cell)}{dots})", fontsize=8)
    top.legend(fontsize=8)
    top.grid(alpha=0.3)
    _ambiguity_by_p(bottom, posteriors)
    bottom.set_ylim(-1.05, 1.05)
    bottom.set_xlabel("p (fraction of training layouts with the goal off the corner)")
    bottom.set_xticks(np.sort(cell["p"].unique()))
    bottom.grid(alpha=0.3)
    return fig


def setting_label(values: Mapping, keys: Sequence[str]) -> str:
    """A sweep's setting as ``k1=v1, k2=v2`` (floats as %g: 10.0 -> 10)."""
    return ", ".join(
        f"{k}={values[k]:g}" if isinstance(values[k], float) else f"{k}={values[k]}" for k in keys
    )


def _matches(frame: pd.DataFrame, columns: Sequence[str], values: Sequence) -> np.ndarray:
    """Rows of ``frame`` whose ``columns`` hold ``values``."""
    return np.logical_and.reduce(
        [frame[c].to_numpy() == v for c, v in zip(columns, values, strict=True)]
        + [np.ones(len(frame), bool)]
    )


def seed_spread(
    results: pd.DataFrame,
    per_seed: pd.DataFrame,
    settings: Sequence[str],
    *,
    title: str = "",
) -> plt.Figure:
    """A sweep's outcome rates per agent with the spread across seeds: one panel per (study,
    rate) (rows) and shift (columns), agents along x, one colour and marker per setting; each
    seed's rate a small dot, the mean over seeds a larger marker with its interval.

    ``results``: one row per (``settings``..., study, shift, agent) with the rates and their
    _lo and _hi (``interval`` says which); ``per_seed``: :func:`per_seed_rates` of the
    episodes with keys (``settings``..., study, shift, agent, seed). Only informative rates are
    drawn (:func:`outcome_bars`)."""
    settings = list(settings)
    _require(results, [*settings, "study", "shift", "agent", "goal_rate"], "seed_spread: results")
    _require(per_seed, [*settings, "study", "shift", "agent", "seed"], "seed_spread: per_seed")
    studies, shifts = (list(dict.fromkeys(results[c])) for c in ("study", "shift"))
    rows = [(study, *rate) for study in studies for rate in outcome_bars(results)]
    agents = list(dict.fromkeys(results["agent"]))
    combos = list(dict.fromkeys(map(tuple, results[settings].to_numpy().tolist())))
    labels = [setting_label(dict(zip(settings, c, strict=True)), settings) for c in combos]
    n_seeds = per_seed["seed"].nunique()
    w = 0.8 / len(combos)
    width = max(5.5, 0.32 * len(agents) * max(2, len(combos)) + 1.2)
    fig, axes = plt.subplots(
        len(rows),
        len(shifts),
        figsize=(width * len(shifts), 2.3 * len(rows) + 1.6),
        squeeze=False,
        sharex=True,
        layout="constrained",
    )
    x = np.arange(len(agents))
    for col, shift in enumerate(shifts):
        for row, (study, metric, label, _) in enumerate(rows):
            here = (results["study"] == study) & (results["shift"] == shift)
            dots = per_seed[(per_seed["study"] == study) & (per_seed["shift"] == shift)]
            ax = axes[row, col]
            for j, combo in enumerate(combos):
                color = AGENT_COLORS[j % len(AGENT_COLORS)]
                marker = AGENT_MARKERS[j % len(AGENT_MARKERS)]
                offset = (j - (len(combos) - 1) / 2) * w
                m = results[here & _matches(results, settings, combo)]
                m = m.set_index("agent").reindex(agents)
                value = m[metric].to_numpy(float)
                err = np.vstack([value - m[f"{metric}_lo"], m[f"{metric}_hi"] - value])
                ax.errorbar(
                    x + offset,
                    value,
                    yerr=np.clip(np.nan_to_num(err), 0, None),
                    fmt=marker,
                    color=color,
                    ms=6,
                    mec="black",
                    mew=0.6,
                    capsize=2,
                    elinewidth=1,
                    zorder=3,
                    label=labels[j],
                )
                mine = dots[_matches(dots, settings, combo)]
                seeds = sorted(mine["seed"].unique())
                # each seed at its own small offset, so that seeds with equal rates stay countable
                spread = dict(zip(seeds, np.linspace(-0.2, 0.2, len(seeds)) * w, strict=True))
                xs = mine["agent"].map({a: i for i, a in enumerate(agents)}) + offset
                ax.scatter(
                    xs + mine["seed"].map(spread),
                    mine[metric],
                    s=14,
                    color=color,
                    alpha=0.7,
                    lw=0,
                    zorder=2,
                )
            ax.set_ylim(-0.04, 1.04)
            ax.set_xlim(-0.6, len(agents) - 0.4)
            ax.grid(axis="y", alpha=0.3)
            ax.set_axisbelow(True)
            if col == 0:
                name = f"{study}\n" if len(studies) > 1 else ""
                ax.set_ylabel(f"{name}{label.split(' (')[0]} rate", fontsize=9)
            if row == 0:
                ax.set_title(f"shift '{shift}'", fontsize=10)
        axes[-1, col].set_xticks(x)
        axes[-1, col].set_xticklabels(agents, rotation=30, ha="right", fontsize=8)
    handles, names = axes[0, 0].get_legend_handles_labels()
    handles.append(Line2D([], [], ls="", marker="o", ms=4, color="0.4", alpha=0.7))
    names.append("one seed")
    fig.legend(handles, names, loc="outside lower center", ncol=min(len(names), 6), fontsize=8)
    fig.suptitle(
        f"{title or 'sweep'}: spread across {n_seeds} seed{'s' * (n_seeds > 1)}\n"
        f"large markers: mean over seeds, whiskers: {interval_text(results)}; "
        "small dots: each seed",
        fontsize=10,
    )
    return fig
