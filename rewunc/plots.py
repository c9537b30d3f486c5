"""Figures of goal-misgeneralization results, all drawn from files on disk.

``rewunc plot RUN_DIR`` (or :func:`plot_run`) redraws every figure of a run from its
``results.csv``, ``episodes.csv``, ``posteriors.csv``, posterior files and ``config.json``,
without re-running anything:

- ``goal_vs_capability.png``: grouped bars per shift and agent (goal, capability = goal ∪ proxy,
  misgeneralization = proxy, hazard) with 95% bootstrap intervals;
- ``reward_map_<study>.png``: the posterior mean and standard deviation of r(s) over a test layout;
- ``risk_frontier.png``: posterior-expected return against CVaR_α of BROIL plans as λ varies,
  each agent's plan on the same axes, and the plans' true return against λ;
- ``trace_<study>.png`` / ``rank_<study>.png``: MCMC trace and rank plots per weight;
- ``sweep.png`` (several studies over ``p``): the posterior's goal–proxy correlation and the
  outcome rates on the shift as ``p`` grows.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from rewunc.io import save_png  # noqa: E402
from rewunc.posterior import RewardPosterior  # noqa: E402
from rewunc.runs import open_run, slug  # noqa: E402

BARS = (
    ("goal_rate", "goal", "#2a9d4b"),
    ("capability_rate", "capability (goal ∪ proxy)", "#4a7fc1"),
    ("misgeneralization_rate", "misgeneralization (proxy)", "#e0a030"),
    ("hazard_rate", "hazard", "#d03a20"),
)


def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=False, na_values=["NaN", "nan", ""])


def goal_vs_capability(results: pd.DataFrame, title: str = "") -> plt.Figure:
    """Grouped bars, one panel per (study, shift); metrics that are zero everywhere are left out
    (except goal and capability)."""
    bars = [b for b in BARS if b[0] in ("goal_rate", "capability_rate") or results[b[0]].max() > 0]
    panels = list(dict.fromkeys(zip(results["study"], results["shift"], strict=True)))
    agents = list(dict.fromkeys(results["agent"]))
    ncols = 1 if len(panels) <= 2 else 2
    nrows = -(-len(panels) // ncols)
    width = max(6.0, 0.55 * len(agents) * len(bars) / 2)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, 3.6 * nrows), squeeze=False)
    x = np.arange(len(agents))
    w = 0.8 / len(bars)
    for ax, (study, shift) in zip(axes.flat, panels, strict=False):
        cell = results[(results["study"] == study) & (results["shift"] == shift)].set_index("agent")
        for j, (metric, label, color) in enumerate(bars):
            m = cell.reindex(agents)
            err = np.vstack([m[metric] - m[f"{metric}_lo"], m[f"{metric}_hi"] - m[metric]])
            ax.bar(
                x + (j - (len(bars) - 1) / 2) * w,
                m[metric],
                w,
                yerr=err,
                capsize=2,
                color=color,
                label=label,
            )
        ax.set_xticks(x)
        ax.set_xticklabels(agents, rotation=35, ha="right", fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("fraction of episodes")
        name = f"{study}, " if results["study"].nunique() > 1 else ""
        ax.set_title(f"{name}{shift}", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7, loc="lower left", bbox_to_anchor=(0, 1.08), ncol=len(bars))
    fig.suptitle(
        title or "goal vs capability generalization (95% bootstrap intervals)", fontsize=11
    )
    fig.tight_layout()
    return fig


def reward_map(
    posterior: RewardPosterior, env_id: str, env_kwargs: dict, shift: str | None, layout_seed: int
) -> plt.Figure:
    """The layout, and the posterior mean and sd of the reward of arriving in each cell."""
    import gymnasium as gym

    env = gym.make(env_id, shift=shift, **env_kwargs)
    base = env.unwrapped
    env.reset(seed=int(layout_seed))
    mdp = base.to_mdp()
    r = posterior.rewards(mdp)  # [M, S]
    H, W = base.layout.shape
    mean, sd = np.full((H, W), np.nan), np.full((H, W), np.nan)
    for s in range(base.n_cells):  # aux 0: the layout as first seen
        row, col = base.cell_of_state(s)
        mean[row, col], sd[row, col] = r[:, s].mean(), r[:, s].std()
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.6))
    axes[0].imshow(base.render_rgb())
    axes[0].set_title(f"{shift or 'train'} layout (seed {layout_seed})", fontsize=9)
    lim = np.nanmax(np.abs(mean))
    for ax, img, title, cmap, vmin in (
        (axes[1], mean, "posterior mean of r(s)", "RdBu", -lim),
        (axes[2], sd, "posterior sd of r(s)", "viridis", 0),
    ):
        im = ax.imshow(img, cmap=cmap, vmin=vmin, vmax=lim if cmap == "RdBu" else None)
        ax.set_title(title, fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.046)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    env.close()
    fig.tight_layout()
    return fig


def risk_frontier(frontier: pd.DataFrame, episodes: pd.DataFrame) -> plt.Figure:
    """Left: posterior-expected return against posterior CVaR_α of BROIL(λ, α) plans as λ
    varies (means over the test layouts), with each agent's plan on the same layouts. Right: the
    plans' true expected return against λ, with the Oracle's."""
    shift, alpha = frontier["shift"].iloc[0], frontier["alpha"].iloc[0]
    curve = frontier.groupby("lam")[["posterior_cvar", "posterior_mean", "true_value"]].mean()
    oracle = frontier.groupby("episode")["oracle_value"].first().mean()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 4.6), width_ratios=(1.3, 1))
    ax.plot(curve["posterior_cvar"], curve["posterior_mean"], "k-", lw=1, zorder=2)
    ax.scatter(curve["posterior_cvar"], curve["posterior_mean"], c="k", s=14, zorder=3)
    for lam, r in curve.iterrows():
        ax.annotate(
            f"λ={lam:g}",
            (r["posterior_cvar"], r["posterior_mean"]),
            fontsize=7,
            xytext=(3, -9),
            textcoords="offset points",
        )
    cell = episodes[episodes["shift"] == shift]
    if "posterior_cvar" in cell:
        pts = cell.groupby("agent", sort=False)[["posterior_cvar", "posterior_mean"]].mean()
        for agent, (xc, ym) in pts.iterrows():
            ax.scatter(xc, ym, s=30, marker="D", zorder=4, label=agent)
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlabel(f"posterior CVaR$_{{{alpha:g}}}$ of the return (symlog)")
    ax.set_ylabel("posterior expected return")
    ax.set_title(f"BROIL frontier on '{shift}' (α={alpha:g}; mean over layouts)", fontsize=10)
    ax.legend(
        fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="agents", title_fontsize=7
    )
    ax.grid(alpha=0.3)
    ax2.plot(curve.index, curve["true_value"], "ko-", ms=4, label="BROIL(λ) plan")
    ax2.axhline(oracle, color="g", ls="--", lw=1, label="Oracle")
    ax2.set_xlabel("λ (1: posterior mean, 0: CVaR only)")
    ax2.set_ylabel("true expected discounted return")
    ax2.set_title("what each λ actually earns", fontsize=10)
    ax2.legend(fontsize=8)
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def trace_and_rank(posterior: RewardPosterior) -> tuple[plt.Figure, plt.Figure]:
    """Trace plots (draw vs value per chain) and rank plots (histogram of each chain's ranks
    among all draws: flat when the chains mix) for every weight."""
    names = posterior.feature_names
    chains = np.unique(posterior.chain)
    K = len(names)
    ranks = np.argsort(np.argsort(posterior.weights, axis=0), axis=0)
    ftrace, at = plt.subplots(K, 1, figsize=(8, 1.6 * K), squeeze=False, sharex=True)
    frank, ar = plt.subplots(1, K, figsize=(2.6 * K, 2.6), squeeze=False)
    bins = np.linspace(0, posterior.n_samples, 21)
    for k, name in enumerate(names):
        for c in chains:
            sel = posterior.chain == c
            at[k, 0].plot(posterior.weights[sel, k], lw=0.5, alpha=0.8, label=f"chain {c}")
            ar[0, k].hist(ranks[sel, k], bins=bins, histtype="step", label=f"chain {c}")
        at[k, 0].set_ylabel(name, fontsize=8)
        ar[0, k].set_title(name, fontsize=9)
        ar[0, k].set_yticks([])
    at[0, 0].legend(fontsize=7, loc="upper right")
    at[-1, 0].set_xlabel("draw")
    d = posterior.diagnostics
    ftrace.suptitle(
        f"MCMC traces (max R-hat {np.max(d.get('rhat', [np.nan])):.3f}, "
        f"divergences {d.get('divergences', '?')})",
        fontsize=10,
    )
    frank.suptitle("rank plots (uniform when chains agree)", fontsize=10)
    ftrace.tight_layout()
    frank.tight_layout()
    return ftrace, frank


def sweep(results: pd.DataFrame, posteriors: pd.DataFrame, shift: str):
    """The posterior's ambiguity (correlation of the goal and proxy contrasts) and the outcome
    rates on ``shift``, against ``p``."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    by_p = posteriors.groupby("p")["ambiguity"]
    axes[0].errorbar(by_p.mean().index, by_p.mean(), yerr=by_p.std().fillna(0), marker="o")
    axes[0].axhline(0, color="k", lw=0.5)
    axes[0].set_xlabel("p (fraction of decorrelated training layouts)")
    axes[0].set_ylabel(f"posterior {posteriors['ambiguity_of'].iloc[0]}")
    axes[0].set_title("reward ambiguity", fontsize=10)
    cell = results[results["shift"] == shift]
    for ax, metric, title in (
        (axes[1], "goal_rate", f"goal rate on '{shift}'"),
        (axes[2], "misgeneralization_rate", f"misgeneralization (proxy) rate on '{shift}'"),
    ):
        for agent, rows in cell.groupby("agent", sort=False):
            rows = rows.sort_values("p")
            ax.errorbar(
                rows["p"],
                rows[metric],
                yerr=[rows[metric] - rows[f"{metric}_lo"], rows[f"{metric}_hi"] - rows[metric]],
                marker="o",
                capsize=2,
                label=agent,
            )
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("p")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_run(path) -> list[Path]:
    """Redraw every figure of a finished (or partly finished) run from its files."""
    path, config, manifest = open_run(path)
    cfg = config["config"]
    figs: dict[str, plt.Figure] = {}
    results = _read_csv(path / "results.csv")
    episodes = _read_csv(path / "episodes.csv")
    posteriors = _read_csv(path / "posteriors.csv")
    figs["goal_vs_capability"] = goal_vs_capability(
        results, f"{config['experiment']}: goal vs capability"
    )
    studies = {s["label"]: s for s in json.loads((path / "studies.json").read_text())}
    first_seed = cfg["seeds"][0]
    shift = results["shift"].iloc[-1]  # the last split of the studies (the held-out shift)
    for study in dict.fromkeys(results["study"]):
        key = f"{study}/seed{first_seed}/posterior"
        if key not in manifest["stages"]:
            continue
        post = RewardPosterior.load(path / manifest["stages"][key]["file"])
        figs[f"trace_{slug(study)}"], figs[f"rank_{slug(study)}"] = trace_and_rank(post)
        ep = episodes[(episodes["study"] == study) & (episodes["shift"] == shift)].iloc[0]
        env_kwargs = studies[study]["env_kwargs"]
        figs[f"reward_map_{slug(study)}"] = reward_map(
            post, ep["env"], env_kwargs, None if shift == "train" else shift, int(ep["layout_seed"])
        )
    frontier = _read_csv(path / "frontier.csv")
    for study in dict.fromkeys(frontier["study"]):
        name = (
            "risk_frontier" if frontier["study"].nunique() == 1 else f"risk_frontier_{slug(study)}"
        )
        figs[name] = risk_frontier(
            frontier[frontier["study"] == study], episodes[episodes["study"] == study]
        )
    if "p" in results and results["study"].nunique() > 1 and "ambiguity" in posteriors:
        figs["sweep"] = sweep(results, posteriors, shift)
    written = []
    for name, fig in figs.items():
        written.append(save_png(path / "figures" / f"{name}.png", fig, force=True))
        plt.close(fig)
    return written
