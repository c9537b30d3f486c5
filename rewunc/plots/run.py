"""``rewunc plot RUN_DIR``: :func:`plot_run` reads a run folder and draws every figure."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from rewunc.io import FIGURE_FORMATS, save_figure
from rewunc.plots.curves import learning_curves
from rewunc.plots.frontier import risk_frontier
from rewunc.plots.mcmc import trace_and_rank
from rewunc.plots.outcomes import goal_vs_capability
from rewunc.plots.reward_maps import NotAGridWorldError, reward_map
from rewunc.plots.robustness import robustness
from rewunc.plots.style import agent_styles
from rewunc.plots.sweeps import misgeneralization_curve, sweep
from rewunc.posterior import RewardPosterior
from rewunc.results import read_table, training_logs
from rewunc.runs import open_run, slug


def plot_run(path, fmt: str = "png") -> list[Path]:
    """Redraw every figure of a run from its files: results.csv, episodes.csv and, where the run
    has them, posteriors.csv, frontier.csv, the posterior stages (first seed of each study) and
    the deep agents' training logs (``learning_curves.png``). ``fmt``: png, svg or pdf.
    """
    if fmt not in FIGURE_FORMATS:
        raise ValueError(f"figure format: expected one of {FIGURE_FORMATS}, got {fmt!r}")
    path, config, stages = open_run(path)
    figs: dict[str, plt.Figure] = {}
    results = read_table(path / "results.csv")
    episodes = read_table(path / "episodes.csv")
    styles = agent_styles(list(results["agent"]))  # one style per agent in every figure
    seeds = read_table(path / "seeds.csv") if (path / "seeds.csv").exists() else None
    varied = "axis" in results  # a robustness study: settings varied one axis at a time
    if varied:
        axes = [a for a in dict.fromkeys(results["axis"]) if a != "base"]
        figs["robustness"] = robustness(results, seeds, axes, styles=styles)
    else:
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
        if varied and study != "base":  # the base's posterior stands for the settings'
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
        frontier = read_table(path / "frontier.csv")
        for study in dict.fromkeys(frontier["study"]):
            single = frontier["study"].nunique() == 1
            name = "risk_frontier" if single else f"risk_frontier_{slug(study)}"
            figs[name] = risk_frontier(
                frontier[frontier["study"] == study],
                episodes[episodes["study"] == study],
                styles=styles,
            )
    if (path / "posteriors.csv").exists():
        posteriors = read_table(path / "posteriors.csv")
        if "p" in results and results["study"].nunique() > 1 and "ambiguity" in posteriors:
            figs["sweep"] = sweep(results, posteriors, shift, styles=styles, per_seed=seeds)
            curve_agent = config.get("config", {}).get("curve_agent")
            if curve_agent and curve_agent in set(results["agent"]):
                figs["misgeneralization_curve"] = misgeneralization_curve(
                    results, posteriors, curve_agent, shift, episodes
                )
    logs = training_logs(path)
    if not logs.empty and "eval/goal_rate" in logs:
        figs["learning_curves"] = learning_curves(logs, styles=styles)
    written = []
    for name, fig in figs.items():
        written.append(save_figure(path / "figures" / name, fig, fmt=fmt, force=True))
        plt.close(fig)
    return written
