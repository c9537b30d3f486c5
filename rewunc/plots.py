"""Figures of goal-misgeneralization results.

The figure functions are pure: they take DataFrames (the run's tables), a RewardPosterior or
arrays, and return matplotlib Figures, so any caller can draw them; :func:`plot_run` (``rewunc
plot RUN_DIR``) only loads a run's files and calls them:

- :func:`goal_vs_capability` → ``goal_vs_capability.png``: grouped bars per shift and agent of the
  outcome rates that carry information (goal always; capability = goal ∪ proxy and
  misgeneralization = proxy only if some episode had a proxy outcome; hazard and timeout only if
  any occurred), with the intervals the results table names in its ``interval`` column;
- :func:`reward_map` → ``reward_map_<study>.png``: a gridworld layout with its tile legend, and the
  posterior mean and sd of the reward of arriving in each cell (rewunc gridworlds only);
- :func:`risk_frontier` → ``risk_frontier.png``: posterior-expected return against CVaR_α of
  BROIL plans as λ varies, each agent's plan on the same axes, and the plans' true return
  against λ;
- :func:`trace_and_rank` → ``trace_<study>.png`` / ``rank_<study>.png``: ArviZ trace and rank plots
  per weight, with R-hat, bulk ESS and divergences;
- :func:`sweep` → ``sweep.png`` (several studies over ``p``): the posterior's goal–proxy ambiguity
  (every seed, their mean and range) and the outcome rates on the shift as ``p`` grows.
- :func:`seed_spread` → a ``rewunc sweep``'s ``figures/seed_spread.png`` (drawn by
  :func:`rewunc.sweep.plot_sweep`): each setting's rates per agent, every seed a dot, the mean
  over seeds with its interval.

Agents keep one colour and marker in every figure of a run: compute :func:`agent_styles` once
from the run's agents and pass it as ``styles=``. The Oracle is always a black star.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402
from scipy import stats  # noqa: E402

from rewunc.io import save_png  # noqa: E402
from rewunc.posterior import RewardPosterior  # noqa: E402
from rewunc.runs import open_run, slug  # noqa: E402

# ---- styles -------------------------------------------------------------------------------

# Agents: tab10's colours (its grey swapped for dark gold: grey marks BROIL(λ) plans and
# timeouts) crossed with 7 markers (7 and 10 are coprime, so the first 70 agents get distinct
# (colour, marker) pairs and the first 10 distinct colours). Black and the star are kept for the
# Oracle.
AGENT_COLORS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#a6761d",
    "#bcbd22",
    "#17becf",
)
AGENT_MARKERS = ("o", "s", "^", "D", "v", "P", "X")
ORACLE_STYLE = {"color": "black", "marker": "*"}

# Outcome bars: (column, label, colour).
BARS = (
    ("goal_rate", "goal", "#2a9d4b"),
    ("capability_rate", "capability (goal ∪ proxy)", "#4a7fc1"),
    ("misgeneralization_rate", "misgeneralization (proxy)", "#e0a030"),
    ("hazard_rate", "hazard", "#d03a20"),
    ("timeout_rate", "timeout", "#9a9a9a"),
)
DEFAULT_INTERVAL = "95% intervals"


def agent_styles(agents: Sequence[str]) -> dict[str, dict]:
    """A distinct ``{"color", "marker"}`` per agent, deterministic in the order given.

    The Oracle (an agent named "Oracle", any case) is always a black star; the other agents take
    ten colours (tab10's, less grey) and seven markers in turn, so the first 10 have distinct
    colours and the first 70 distinct (colour, marker) pairs. Compute it once per run, from the
    full list of agents, and pass it to every figure so an agent looks the same everywhere.
    """
    styles, j = {}, 0
    for agent in dict.fromkeys(str(a) for a in agents):
        if agent.lower() == "oracle":
            styles[agent] = dict(ORACLE_STYLE)
            continue
        styles[agent] = {
            "color": AGENT_COLORS[j % len(AGENT_COLORS)],
            "marker": AGENT_MARKERS[j % len(AGENT_MARKERS)],
        }
        j += 1
    return styles


def _styles_for(agents, styles: Mapping[str, dict] | None) -> dict[str, dict]:
    """``styles`` extended (after its own agents) with styles for agents it lacks."""
    known = dict(styles or {})
    missing = [a for a in dict.fromkeys(agents) if a not in known]
    if missing:
        fresh = agent_styles([*known, *missing])
        known.update({a: fresh[a] for a in missing})
    return known


def interval_text(table: pd.DataFrame) -> str:
    """Which intervals a results table holds: its ``interval`` column (distinct values joined),
    or "95% intervals" for tables without one."""
    if "interval" in table:
        values = [str(v) for v in dict.fromkeys(table["interval"].dropna()) if str(v).strip()]
        if values:
            return "; ".join(values)
    return DEFAULT_INTERVAL


def _require(table: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in table]
    if missing:
        raise ValueError(f"{what}: missing column(s) {missing}; got {list(table.columns)}")


def _nonzero(table: pd.DataFrame, column: str) -> bool:
    return column in table and bool((pd.to_numeric(table[column], errors="coerce") > 0).any())


# ---- goal vs capability -------------------------------------------------------------------


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


# ---- reward map ---------------------------------------------------------------------------


class NotAGridWorldError(TypeError):
    """The env has no gridworld cells to draw (raised by :func:`reward_map`)."""


GRIDWORLD_API = ("layout", "TILES", "TILE_COLORS", "cell_of_state", "render_rgb", "to_mdp")
_SHAPE_MARKERS = {"circle": "o", "square": "s", "star": "D", "key": "P", "chest": "s"}


def _tile_handles(base, tiles_present) -> list:
    """Legend handles for the tiles in a layout: a patch in the tile's colour, or the tile's
    shape (drawn on the floor colour) for tiles drawn as shapes."""
    shapes = getattr(base, "TILE_SHAPES", {})
    floor = np.array(base.TILE_COLORS.get(getattr(base, "FLOOR", ""), (255, 255, 255))) / 255
    handles = []
    for name in tiles_present:
        color = np.array(base.TILE_COLORS[name]) / 255
        if name in shapes:
            handles.append(
                Line2D(
                    [],
                    [],
                    ls="",
                    marker=_SHAPE_MARKERS.get(shapes[name], "o"),
                    ms=9,
                    mfc=color,
                    mec=floor * 0.6,
                    label=name,
                )
            )
        else:
            handles.append(Patch(facecolor=color, edgecolor="0.35", label=name))
    handles.append(
        Line2D(
            [], [], ls="", marker="o", ms=8, mfc="white", mec="0.1", mew=2.5, label="agent start"
        )
    )
    return handles


def reward_map(
    posterior: RewardPosterior,
    env_id: str,
    env_kwargs: dict | None = None,
    shift: str | None = None,
    layout_seed: int = 0,
) -> plt.Figure:
    """The layout (with a tile legend), and the posterior mean and sd of the reward of arriving
    in each cell, r = w·φ(cell), over all draws of ``posterior``.

    Only rewunc gridworlds (``layout``, ``TILES``, ``TILE_COLORS``, ``cell_of_state``,
    ``render_rgb``, ``to_mdp``) have cells to map; other envs raise TypeError. For envs whose
    state is more than the cell (e.g. an inventory), the map shows the cells as first seen.
    """
    import gymnasium as gym

    kwargs = dict(env_kwargs or {}, **({} if shift is None else {"shift": shift}))
    env = gym.make(env_id, **kwargs)
    try:
        base = env.unwrapped
        missing = [a for a in GRIDWORLD_API if not hasattr(base, a)]
        if missing:
            raise NotAGridWorldError(
                f"reward_map: {env_id} ({type(base).__name__}) is not a rewunc GridWorld: it "
                f"lacks {missing}; reward maps need a gridworld's cells"
            )
        env.reset(seed=int(layout_seed))
        r = posterior.rewards(base.to_mdp())  # [M, S]
        H, W = base.layout.shape
        mean, sd = np.full((H, W), np.nan), np.full((H, W), np.nan)
        # Arriving in cell c from the start's extra state (aux 0: e.g. an empty inventory) lands
        # in state next_aux[0, c]·n_cells + c; envs without extra state have aux 0 only.
        aux = getattr(base, "_aux", None)
        stateful = aux is not None and aux.n_aux > 1
        for c in range(base.n_cells):
            s = int(aux.next_aux[0, c]) * base.n_cells + c if stateful else c
            row, col = base.cell_of_state(s)
            mean[row, col], sd[row, col] = r[:, s].mean(), r[:, s].std()
        picture = base.render_rgb()
        present = [base.TILES[i] for i in np.unique(base.layout.tiles)]
        handles = _tile_handles(base, present)
        wall = np.array(base.TILE_COLORS.get("wall", (60, 60, 60))) / 255
        env_name = type(base).__name__
    finally:
        env.close()

    fig, axes = plt.subplots(1, 3, figsize=(12.5, 4.6), layout="constrained")
    axes[0].imshow(picture)
    axes[0].set_title("layout", fontsize=9)
    axes[0].legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.02),
        ncol=min(3, len(handles)),
        fontsize=7,
        frameon=False,
        handlelength=1.2,
    )
    lim = float(np.nanmax(np.abs(mean))) or 1.0
    for ax, img, label, cmap, vmin, vmax in (
        (axes[1], mean, "posterior mean", "RdBu", -lim, lim),
        (axes[2], sd, "posterior sd", "viridis", 0.0, float(np.nanmax(sd)) or 1.0),
    ):
        cm = plt.get_cmap(cmap).with_extremes(bad=wall)
        im = ax.imshow(np.ma.masked_invalid(img), cmap=cm, vmin=vmin, vmax=vmax)
        ax.set_title(f"{label} of r(cell)", fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
        if H * W <= 196:  # small grids: print each cell's value
            norm = plt.Normalize(vmin, vmax)
            for (i, j), v in np.ndenumerate(img):
                if np.isfinite(v):
                    rgb = np.array(cm(norm(v))[:3])
                    dark = rgb @ (0.299, 0.587, 0.114) < 0.5
                    ax.text(
                        j,
                        i,
                        f"{v:.2f}",
                        ha="center",
                        va="center",
                        fontsize=6,
                        color="white" if dark else "black",
                    )
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(
        f"{env_name}, shift '{shift or 'train'}', layout seed {layout_seed}: reward of arriving "
        f"in each cell, r = w·φ(cell), over {posterior.n_samples} posterior draws"
        + ("\n(arriving with the extra state the episode starts with, e.g. no keys)" * stateful),
        fontsize=10,
    )
    return fig


# ---- risk frontier ------------------------------------------------------------------------


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
    ax.set_title(f"BROIL frontier on shift '{shift}' (α={alpha:g}; means over {over})", fontsize=10)
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
    ax2.set_title(f"what each λ actually earns (mean over {over})", fontsize=10)
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


# ---- MCMC ---------------------------------------------------------------------------------


def _arviz():
    """ArviZ, imported on first use: it is slow to import and announces its refactor on import."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz

    return arviz


def _diagnostic_summary(posterior: RewardPosterior, idata) -> tuple[np.ndarray, np.ndarray, str]:
    """Per-weight R-hat and bulk ESS (stored, else computed by ArviZ) and a one-line summary."""
    az = _arviz()
    d = posterior.diagnostics
    K = len(posterior.feature_names)
    rhat = np.asarray(d.get("rhat", []), dtype=float)
    ess = np.asarray(d.get("ess_bulk", []), dtype=float)
    if rhat.shape != (K,):
        rhat = az.rhat(idata, var_names=["w"], method="rank")["w"].to_numpy()
    if ess.shape != (K,):
        ess = az.ess(idata, var_names=["w"], method="bulk")["w"].to_numpy()
    div = d.get("divergences")
    max_rhat = f"{np.nanmax(rhat):.3f}" if np.isfinite(rhat).any() else "n/a"
    min_ess = f"{np.nanmin(ess):.0f}" if np.isfinite(ess).any() else "n/a"
    summary = (
        f"max R-hat {max_rhat}, min bulk ESS {min_ess}, "
        f"divergences {div if div is not None else 'n/a'}"
    )
    return rhat, ess, summary


def trace_and_rank(posterior: RewardPosterior) -> tuple[plt.Figure, plt.Figure]:
    """ArviZ trace plots (each weight's marginal per chain, and draw vs value) and rank plots
    (each chain's histogram of its draws' ranks among all draws) for every weight, with a chain
    legend and the diagnostics in the titles.

    On the rank plots, the dashed line is each chain's expected bar height under uniform ranks,
    and the grey band the range holding 95% of a bar's heights if the chains agreed and their
    draws were independent (correlated draws stray further).
    """
    az = _arviz()
    idata = posterior.to_arviz()
    names = posterior.feature_names
    chains = np.unique(posterior.chain)
    C, K = len(chains), len(names)
    colors = [f"C{i % 10}" for i in range(C)]
    rhat, ess, summary = _diagnostic_summary(posterior, idata)

    with warnings.catch_warnings():  # ArviZ's own use of deprecated matplotlib API
        warnings.simplefilter("ignore", matplotlib.MatplotlibDeprecationWarning)
        axes = az.plot_trace(
            idata,
            compact=False,
            legend=False,
            chain_prop={"color": colors},
            figsize=(11, 1.9 * (K + (posterior.beta is not None)) + 0.8),
            backend_kwargs={"layout": "constrained"},
        )
    ftrace = axes.flat[0].figure
    for k, name in enumerate(names):
        axes[k, 0].set_title(f"w[{name}]: marginal density per chain", fontsize=9)
        axes[k, 1].set_title(
            f"w[{name}]: draws (R-hat {rhat[k]:.3f}, bulk ESS {ess[k]:.0f})", fontsize=9
        )
    for ax in axes[:, 1]:
        ax.set_xlabel("draw", fontsize=8)
    handles = [
        Line2D([], [], color=c, lw=1.5, label=f"chain {ch}")
        for c, ch in zip(colors, chains, strict=True)
    ]
    ftrace.legend(handles=handles, loc="outside upper right", ncol=C, fontsize=8)
    ftrace.suptitle(
        f"MCMC traces per chain: marginal density (left), draws (right)\n{summary}", fontsize=10
    )

    n_per_chain = int(np.bincount(posterior.chain - posterior.chain.min()).min())
    bins = int(np.clip(n_per_chain // 10, 5, 20))
    cols = min(K, 4)
    rows = -(-K // cols)
    frank, ar = plt.subplots(
        rows,
        cols,
        figsize=(3.2 * cols, 0.9 * C * rows + 1.6),
        squeeze=False,
        layout="constrained",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", matplotlib.MatplotlibDeprecationWarning)
        az.plot_rank(
            idata,
            var_names=["w"],
            kind="bars",
            bins=bins,
            colors=colors,
            ax=ar.flat[:K],
            ref_line=True,
            ref_line_kwargs={"lw": 1},
        )
    # Under uniform ranks a chain's bar holds Binomial(n, 1/bins) of its n draws. ArviZ stacks
    # the chains' bars (each chain's bottom is a y tick) and scales them so that their mean is
    # the dashed line; the band is the binomial's 95% range on that scale.
    q_lo, q_hi = stats.binom.ppf([0.025, 0.975], n_per_chain, 1 / bins) / (n_per_chain / bins)
    for k, ax in enumerate(ar.flat[:K]):
        bars = list(ax.patches)
        for bottom in ax.get_yticks()[:C]:
            mean = float(np.mean([b.get_height() for b in bars if np.isclose(b.get_y(), bottom)]))
            ax.axhspan(bottom + q_lo * mean, bottom + q_hi * mean, color="0.85", lw=0, zorder=0.5)
            for edge in (q_lo, q_hi):
                ax.axhline(bottom + edge * mean, color="0.3", ls=":", lw=0.9, zorder=3)
        ax.set_title(f"w[{names[k]}]  (R-hat {rhat[k]:.3f})", fontsize=9)
        ax.set_xlabel("rank among all draws", fontsize=8)
        ax.set_ylabel("chain", fontsize=8)
    for ax in ar.flat[K:]:
        ax.axis("off")
    band = Patch(facecolor="0.85", edgecolor="0.3", ls=":", label="95% band if uniform")
    ref = Line2D([], [], color="k", ls="--", lw=1, label="uniform")
    frank.legend(
        handles=[
            *(
                Patch(facecolor=c, label=h.get_label())
                for c, h in zip(colors, handles, strict=True)
            ),
            ref,
            band,
        ],
        loc="outside lower center",
        ncol=C + 2,
        fontsize=8,
    )
    frank.suptitle(
        "rank plots: each chain's histogram of its draws' ranks among all draws (flat when the "
        "chains agree)\ndashed: uniform; grey band (dotted edges): where 95% of bars fall if ranks "
        f"are uniform and draws independent\n{summary}",
        fontsize=9,
    )
    return ftrace, frank


# ---- sweeps -------------------------------------------------------------------------------


def _ambiguity_by_p(ax, posteriors: pd.DataFrame) -> int:
    """The posterior's ambiguity against p on ``ax``: with several seeds each seed (drawn a
    little right of its p) and their mean with the min–max range. Returns the number of seeds."""
    by_p = posteriors.groupby("p")["ambiguity"]
    n_seeds = int(posteriors.groupby("p").size().max())
    mean = by_p.mean()
    if n_seeds > 1:
        p_all = np.sort(posteriors["p"].unique())
        shift_x = 0.03 * (p_all[-1] - p_all[0] if len(p_all) > 1 else 1.0)
        ax.scatter(
            posteriors["p"] + shift_x,
            posteriors["ambiguity"],
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
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xticks(np.sort(posteriors["p"].unique()))
    of = posteriors["ambiguity_of"].iloc[0] if "ambiguity_of" in posteriors else "ambiguity"
    ax.set_ylabel(f"posterior {of}")
    return n_seeds


def sweep(
    results: pd.DataFrame,
    posteriors: pd.DataFrame,
    shift: str,
    *,
    styles: Mapping[str, dict] | None = None,
) -> plt.Figure:
    """The posterior's ambiguity (e.g. the correlation of the goal and proxy weights) and the
    goal and misgeneralization rates on ``shift``, against ``p``.

    ``results``: rows with p, shift, agent, goal_rate and misgeneralization_rate with their _lo
    and _hi, optionally ``interval``. ``posteriors``: one row per (study, seed) with p,
    ambiguity and ambiguity_of (and seed): with several seeds each seed's value is drawn, with
    their mean and min–max range.
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
    for ax, metric, title in (
        (axes[1], "goal_rate", f"goal rate on '{shift}'"),
        (axes[2], "misgeneralization_rate", f"misgeneralization (proxy) rate on '{shift}'"),
    ):
        if metric not in cell:
            ax.axis("off")
            continue
        for i, agent in enumerate(agents):
            rows = cell[cell["agent"] == agent].sort_values("p")
            x = rows["p"] + (i - (len(agents) - 1) / 2) * dodge
            yerr = None
            if {f"{metric}_lo", f"{metric}_hi"} <= set(rows):
                yerr = np.clip(
                    [rows[metric] - rows[f"{metric}_lo"], rows[f"{metric}_hi"] - rows[metric]],
                    0,
                    None,
                )
            st = style[agent]
            ax.errorbar(
                x,
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
    fig.suptitle(f"sweep over p — rates with {interval_text(cell)}", fontsize=10)
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


def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=False, na_values=["NaN", "nan", ""])


def plot_run(path) -> list[Path]:
    """Redraw every figure of a run from its files: results.csv, episodes.csv and, where the run
    has them, posteriors.csv, frontier.csv and the posterior stages (first seed of each study).
    """
    path, config, stages = open_run(path)
    figs: dict[str, plt.Figure] = {}
    results = _read_csv(path / "results.csv")
    episodes = _read_csv(path / "episodes.csv")
    styles = agent_styles(list(results["agent"]))  # one style per agent in every figure
    figs["goal_vs_capability"] = goal_vs_capability(
        results, f"{config['experiment']}: goal vs capability", episodes
    )
    shift = results["shift"].iloc[-1]  # the last split of the studies (the held-out shift)
    posterior_stages = [m for m in stages.values() if m.get("kind") == "posterior"]
    first_seed = min((m["seed"] for m in posterior_stages), default=None)
    for marker in posterior_stages:
        study = marker["study"]
        if marker["seed"] != first_seed or study not in set(results["study"]):
            continue
        npz = next(f for f in marker["files"] if f.endswith(".npz"))
        post = RewardPosterior.load(path / npz)
        figs[f"trace_{slug(study)}"], figs[f"rank_{slug(study)}"] = trace_and_rank(post)
        cell = episodes[(episodes["study"] == study) & (episodes["shift"] == shift)]
        try:
            figs[f"reward_map_{slug(study)}"] = reward_map(
                post,
                marker["env"],
                marker.get("env_kwargs") or {},
                None if shift == "train" else shift,
                int(cell["layout_seed"].iloc[0]),
            )
        except NotAGridWorldError:  # no cells to map
            pass
    if (path / "frontier.csv").exists():
        frontier = _read_csv(path / "frontier.csv")
        for study in dict.fromkeys(frontier["study"]):
            single = frontier["study"].nunique() == 1
            name = "risk_frontier" if single else f"risk_frontier_{slug(study)}"
            figs[name] = risk_frontier(
                frontier[frontier["study"] == study],
                episodes[episodes["study"] == study],
                styles=styles,
            )
    if (path / "posteriors.csv").exists():
        posteriors = _read_csv(path / "posteriors.csv")
        if "p" in results and results["study"].nunique() > 1 and "ambiguity" in posteriors:
            figs["sweep"] = sweep(results, posteriors, shift, styles=styles)
            curve_agent = config.get("config", {}).get("curve_agent")
            if curve_agent and curve_agent in set(results["agent"]):
                figs["misgeneralization_curve"] = misgeneralization_curve(
                    results, posteriors, curve_agent, shift, episodes
                )
    written = []
    for name, fig in figs.items():
        written.append(save_png(path / "figures" / f"{name}.png", fig, force=True))
        plt.close(fig)
    return written
