"""The BROIL risk frontier (:func:`risk_frontier`), with the helpers that place its λ labels."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter

from rewunc.plots.style import _require, _styles_for


def _spread(desired: np.ndarray, gap: float, lo: float, hi: float) -> np.ndarray:
    """Positions near ``desired`` (ascending) at least ``gap`` apart, kept within [lo, hi] where
    they fit: neighbours closer than ``gap`` merge into evenly spaced blocks centred on their
    mean."""
    blocks = [[float(d)] for d in desired]  # each block: the desired positions it holds

    def place(block):
        start = np.mean(block) - gap * (len(block) - 1) / 2
        start = min(max(start, lo), hi - gap * (len(block) - 1))
        return start, start + gap * (len(block) - 1)

    merged = True
    while merged:
        merged = False
        for i in range(len(blocks) - 1):
            if place(blocks[i])[1] + gap > place(blocks[i + 1])[0]:
                blocks[i : i + 2] = [blocks[i] + blocks[i + 1]]
                merged = True
                break
    out = []
    for block in blocks:
        start = place(block)[0]
        out.extend(start + gap * np.arange(len(block)))
    return np.array(out)


def _label_points(ax, xs, ys, labels, avoid=None, fontsize: float = 7.5) -> None:
    """Readable labels for the points of a curve: coincident points share one label; labels sit
    right of their points, spread vertically so none overlap, shifted further right past any
    ``avoid`` points [P, 2] (data coordinates), with leader lines. Call once the layout is
    fixed (positions are computed in pixels)."""
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    to_px = ax.transData.transform
    pts = to_px(np.column_stack([xs, ys]))
    obstacles = to_px(np.asarray(avoid, float).reshape(-1, 2)) if avoid is not None else pts[:0]
    groups: list[list[int]] = []  # points within 2 px of each other share a label
    for i in np.argsort(pts[:, 1], kind="stable"):
        for g in groups:
            if np.hypot(*(pts[g[0]] - pts[i])) < 2.0:
                g.append(i)
                break
        else:
            groups.append([i])
    groups.sort(key=lambda g: pts[g[0], 1])
    gap = fontsize * fig.dpi / 72 * 1.35
    box = ax.get_window_extent()
    ys_px = _spread(
        np.array([pts[g[0], 1] for g in groups]), gap, box.y0 + gap / 2, box.y1 - gap / 2
    )
    to_pt = 72 / fig.dpi
    for g, y in zip(groups, ys_px, strict=True):
        g = sorted(g)
        anchor = pts[g[0]]
        text = "λ=" + ", ".join(labels[i] for i in g)
        probe = ax.text(0, 0, text, fontsize=fontsize, transform=None)
        ext = probe.get_window_extent(renderer)
        probe.remove()
        w, h = ext.width + 4, ext.height + 4
        best = 16.0  # the nearest offset whose label box is clear of agents and inside the axes
        for dx in (16, 26, 38, 52, 68, 86):
            x0 = anchor[0] + dx
            near = (
                (obstacles[:, 0] > x0 - 7)
                & (obstacles[:, 0] < x0 + w + 7)
                & (np.abs(obstacles[:, 1] - y) < h / 2 + 7)
            )
            if x0 + w > box.x1:
                break
            if not near.any():
                best = dx
                break
        ax.annotate(
            text,
            xy=(xs[g[0]], ys[g[0]]),
            xytext=(best * to_pt, (y - anchor[1]) * to_pt),
            textcoords="offset points",
            fontsize=fontsize,
            va="center",
            ha="left",
            arrowprops={"arrowstyle": "-", "lw": 0.5, "color": "0.45", "shrinkA": 0, "shrinkB": 3},
            bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8},
            zorder=6,
        )


def _widen_right(ax, fraction: float) -> None:
    """Extend the x-axis to the right by ``fraction`` of its width (in the axis' own scale)."""
    tr = ax.xaxis.get_transform()
    a, b = tr.transform(np.array(ax.get_xlim()))
    ax.set_xlim(
        ax.get_xlim()[0], float(tr.inverted().transform(np.array([b + fraction * (b - a)]))[0])
    )


def risk_frontier(
    frontier: pd.DataFrame, episodes: pd.DataFrame, *, styles: Mapping[str, dict] | None = None
) -> plt.Figure:
    """Left: posterior-expected return against posterior CVaR_α of BROIL(λ, α) plans as λ
    varies (means over the test layouts), with each agent's plan on the same layouts. Right: the
    plans' true expected return against λ, with the Oracle's.

    ``frontier``: rows of one study and shift with lam, alpha, shift, posterior_mean,
    posterior_cvar, true_value, oracle_value (and episode). ``episodes``: the study's episodes
    with shift and agent, and posterior_mean and posterior_cvar where the agents were scored
    on the posterior (else no agent points).
    """
    _require(
        frontier,
        ("shift", "alpha", "lam", "posterior_mean", "posterior_cvar", "true_value"),
        "risk_frontier: frontier",
    )
    shift, alpha = frontier["shift"].iloc[0], frontier["alpha"].iloc[0]
    n_seeds = frontier["seed"].nunique() if "seed" in frontier else 1
    over = "test layouts" if n_seeds == 1 else f"test layouts and {n_seeds} seeds' posteriors"
    curve = frontier.groupby("lam")[["posterior_cvar", "posterior_mean", "true_value"]].mean()
    fig, (ax, ax2) = plt.subplots(
        1, 2, figsize=(14, 5.2), width_ratios=(1.35, 1), layout="constrained"
    )
    ax.plot(curve["posterior_cvar"], curve["posterior_mean"], "-", color="0.3", lw=1, zorder=2)
    ax.scatter(
        curve["posterior_cvar"],
        curve["posterior_mean"],
        c="0.3",
        s=16,
        zorder=3,
        label="BROIL(λ) plans",
    )
    cell = episodes[episodes["shift"] == shift] if "shift" in episodes else episodes.iloc[:0]
    agent_points = np.empty((0, 2))
    if {"posterior_cvar", "posterior_mean", "agent"} <= set(cell):
        pts = cell.groupby("agent", sort=False)[["posterior_cvar", "posterior_mean"]].mean()
        style = _styles_for(pts.index, styles)
        agent_points = pts.to_numpy(float)
        for agent, (xc, ym) in pts.iterrows():
            st = style[agent]
            if st["marker"] == "*":  # the Oracle: filled, under the hollow markers
                kw = {"s": 190, "color": st["color"], "zorder": 4}
            else:  # hollow, so agents at the same point all stay visible
                kw = {"s": 60, "facecolors": "none", "edgecolors": st["color"], "zorder": 5}
            ax.scatter(xc, ym, marker=st["marker"], linewidths=1.6, label=agent, **kw)
    cvars = np.concatenate([curve["posterior_cvar"].to_numpy(), agent_points[:, 0]])
    symlog = np.nanmax(np.abs(cvars)) > 10  # a log scale only for CVaRs over decades
    if symlog:
        ax.set_xscale("symlog", linthresh=1.0)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    scale = " (symlog scale)" if symlog else ""
    ax.set_xlabel(f"posterior CVaR$_{{{alpha:g}}}$ of the return{scale}")
    ax.set_ylabel("posterior expected return")
    ax.set_title(f"BROIL frontier on shift '{shift}' (α={alpha:g})", fontsize=10)
    fig.suptitle(f"means over {over}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.margins(y=0.08)
    ax.autoscale_view()
    _widen_right(ax, 0.22)  # room for the λ labels right of the frontier (nothing lies there)
    fig.legend(
        *ax.get_legend_handles_labels(),
        loc="outside right upper",
        fontsize=8,
        title="plans (left panel)",
        title_fontsize=8,
    )
    ax2.plot(curve.index, curve["true_value"], "o-", color="0.3", ms=4, label="BROIL(λ) plan")
    if "oracle_value" in frontier:
        key = "episode" if "episode" in frontier else "lam"
        oracle = frontier.groupby(key)["oracle_value"].first().mean()
        ax2.axhline(oracle, color="black", ls="--", lw=1, label="Oracle (true reward)")
    ax2.set_xlabel("λ (1: posterior mean only, 0: CVaR only)")
    ax2.set_ylabel("true expected discounted return")
    ax2.set_title("what each λ actually earns under the true reward", fontsize=10)
    ax2.legend(fontsize=8)
    ax2.grid(alpha=0.3)
    fig.canvas.draw()  # lay the figure out, then freeze it: labels are placed in pixels
    fig.set_layout_engine("none")
    _label_points(
        ax,
        curve["posterior_cvar"].to_numpy(),
        curve["posterior_mean"].to_numpy(),
        [f"{lam:g}" for lam in curve.index],
        avoid=agent_points,
    )
    return fig
