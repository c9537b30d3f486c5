"""The tables at the end of a study, from its evaluation cells and posteriors:

    episodes.csv   every cell's episodes          results.csv   rates and returns with intervals
    seeds.csv      each seed's rates and returns  comparisons.csv  paired differences vs a reference
    posteriors.csv one row per (study, seed)      frontier.csv  the BROIL frontier's rows
    exactness.csv  deep agents against their exact LP twins

and :func:`conclude`, the end of a study (tables, figures, the run marked complete, a summary).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from rewunc.comparisons import paired_comparisons
from rewunc.evaluate import RATES, format_summary
from rewunc.evaluate import aggregate as aggregate_episodes
from rewunc.posterior import RewardPosterior
from rewunc.runs import Run
from rewunc.stats import bootstrap_interval, two_level_bootstrap
from rewunc.study.config import contrast


def _correlations(w: np.ndarray) -> np.ndarray:
    """corr of the columns of w [M, K], NaN (and no warning) for a column that never varies (a
    weight the parameterisation fixes, such as the reference feature's)."""
    sd = w.std(axis=0)
    varies = sd > 0
    corr = np.full((w.shape[1], w.shape[1]), np.nan)
    if varies.sum() >= 2:
        corr[np.ix_(varies, varies)] = np.corrcoef(w[:, varies].T)
    return corr


def posterior_row(study: str, seed: int, post: RewardPosterior, ambiguity=(), tags=None) -> dict:
    """One row of ``posteriors.csv``: means, sds, pairwise correlations and diagnostics; with
    two ``ambiguity`` contrasts a, b (e.g. "goal", "corner"): ``p_ambiguity`` = P(a > b) under
    the posterior (0.5: the data cannot say which the designer meant), ``sd_ambiguity`` = the sd
    of a − b, and their correlation ``ambiguity``."""
    w, names, d = post.weights, post.feature_names, post.diagnostics
    row = {"study": study, "seed": seed, **(tags or {})}
    for k, n in enumerate(names):
        row[f"mean_{n}"] = float(w[:, k].mean())
        row[f"sd_{n}"] = float(w[:, k].std(ddof=1))
    corr = _correlations(w)
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            row[f"corr_{names[i]}_{names[j]}"] = float(corr[i, j])
    if ambiguity:  # what a decision needs: which of the two the posterior ranks higher
        a, b = (w @ contrast(t, names) for t in ambiguity)
        row["p_ambiguity"] = float(np.mean(a > b))
        row["p_ambiguity_of"] = "P({} > {})".format(*ambiguity)
        row["sd_ambiguity"] = float(np.std(a - b, ddof=1))
        row["ambiguity"] = float(_correlations(np.column_stack([a, b]))[0, 1])
        row["ambiguity_of"] = "corr({}, {})".format(*ambiguity)
    row.update(
        max_rhat=_finite_extreme(np.nanmax, d.get("rhat", [])),  # NaN: a fixed weight
        min_ess_bulk=_finite_extreme(np.nanmin, d.get("ess_bulk", [])),
        divergences=int(d.get("divergences", -1)),
        draws=post.n_samples,
    )
    return row


def _finite_extreme(reduce, values) -> float:
    """max/min over the values that are not NaN (NaN: too few draws, or a fixed weight)."""
    x = np.asarray(values, dtype=float)
    return float(reduce(x)) if (~np.isnan(x)).any() else float("nan")


def write_tables(
    run: Run,
    cells: Sequence[pd.DataFrame],
    *,
    frontiers: Sequence[pd.DataFrame] = (),
    posteriors: Sequence[dict] = (),
    by: Sequence[str] = ("study", "env", "shift", "agent"),
) -> pd.DataFrame:
    """Write ``episodes.csv`` (every cell's episodes), ``results.csv`` (one row per distinct
    ``by``, with intervals; a sweep adds its tag, e.g. ``("study", "p", "env", "shift",
    "agent")``), ``seeds.csv`` (each seed's value of every metric), ``comparisons.csv`` (each
    agent paired with the reference agent on the same layouts, :mod:`rewunc.comparisons`),
    ``frontier.csv`` and ``posteriors.csv``; returns results.

    Refuses episodes recorded twice (the same study, seed, shift, agent and episode)."""
    if not cells:
        raise ValueError(f"{run.path}: no evaluation cells to aggregate")
    episodes = pd.concat(cells, ignore_index=True)
    if episodes.duplicated(["study", "seed", "shift", "agent", "episode"]).any():
        raise ValueError(f"{run.path}: an episode is recorded twice")
    results = pd.DataFrame(aggregate_episodes(episodes.to_dict("records"), by=by))
    run.write_table("episodes.csv", episodes.to_dict("records"))
    run.write_table("results.csv", results.to_dict("records"))
    run.write_table("seeds.csv", seed_values(episodes, by).to_dict("records"))
    if episodes["agent"].nunique() > 1:
        pairs = [k for k in by if k != "agent"]
        run.write_table(
            "comparisons.csv", paired_comparisons(episodes, by=pairs).to_dict("records")
        )
    if frontiers:
        run.write_table("frontier.csv", pd.concat(frontiers).to_dict("records"))
    if posteriors:
        run.write_table("posteriors.csv", list(posteriors))
    return results


def seed_values(episodes: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Each seed's mean of every rate, return and (where every episode has it) regret, one row
    per (``by``, seed): the values the intervals of ``results.csv`` summarise."""
    keys = [*by, "seed"]
    frame = episodes[keys].copy()
    for rate, outcomes in RATES.items():
        frame[rate] = episodes["outcome"].isin(outcomes).astype(float)
    for value in ("return", "regret"):
        if value in episodes and episodes[value].notna().all():
            frame[value] = episodes[value].astype(float)
    table = frame.groupby(keys, sort=False)
    return table.mean().reset_index().assign(episodes=table.size().to_numpy())


def exactness(episodes: pd.DataFrame, *, level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Deep agents against their exact LP twins, per (study, shift, agent).

    Per layout: the mean gap J* − J of the greedy policy to the twin's optimum on each layout,
    the objective scale J* − J_random (the optimum's margin over a uniform random policy) and
    the normalised gap = gap / scale (also for the stochastic policy). Pooled: the same for the
    criterion of the layout-averaged returns (one LP over all the cell's layouts; for CVaR and
    BROIL this, not the per-layout optimum, is what a deep agent trained on the layout
    distribution maximises). A normalised gap of 0.1: the deep agent falls short of the exact
    optimum by 10% of what separates the optimum from acting at random.

    Intervals (``level``): with one seed, a percentile bootstrap over layouts for the per-layout
    numbers and none for the pooled ones (one LP per cell); with several seeds, the point
    estimate is the mean over seeds and the interval a bootstrap: two-level (seeds, then layouts)
    for the per-layout gap, over the seeds' values for the others (a percentile interval never
    leaves the values' range, as a Student-t over few seeds can).
    """
    if "optimum" not in episodes:
        return pd.DataFrame()
    pct = f"{level:.0%}"
    rows = []
    data = episodes.dropna(subset=["optimum"])
    for (study, shift, agent), cell in data.groupby(["study", "shift", "agent"], sort=False):
        seeds = np.unique(cell["seed"])
        per_seed = []
        for s in seeds:
            c = cell[cell["seed"] == s]
            gap = (c["optimum"] - c["objective"]).to_numpy()
            scale = (c["optimum"] - c["random_objective"]).to_numpy()
            stoch = (c["optimum"] - c["objective_stochastic"]).to_numpy()
            first = c.iloc[0]
            pooled_gap = first["pooled_optimum"] - first["pooled_objective"]
            pooled_scale = first["pooled_optimum"] - first["pooled_random_objective"]
            per_seed.append(
                {
                    "gap": gap,
                    "scale": scale,
                    "normalised_gap": gap.mean() / scale.mean(),
                    "normalised_gap_stochastic": stoch.mean() / scale.mean(),
                    "pooled_gap": pooled_gap,
                    "pooled_normalised_gap": pooled_gap / pooled_scale,
                    "pooled_optimum": first["pooled_optimum"],
                    "pooled_objective": first["pooled_objective"],
                }
            )
        row = {
            "study": study,
            "shift": shift,
            "agent": agent,
            "layouts": len(cell) // len(seeds),
            "seeds": len(seeds),
            "optimum": float(cell["optimum"].mean()),
            "objective": float(cell["objective"].mean()),
            "random_objective": float(cell["random_objective"].mean()),
        }
        for name in ("normalised_gap_stochastic", "pooled_optimum", "pooled_objective"):
            row[name] = float(np.mean([r[name] for r in per_seed]))
        if len(seeds) > 1:
            rng = np.random.default_rng([seed, len(rows)])
            gaps = np.concatenate([r["gap"] for r in per_seed])
            owner = np.repeat(np.arange(len(per_seed)), [len(r["gap"]) for r in per_seed])
            row["gap"] = float(np.mean([r["gap"].mean() for r in per_seed]))
            row["gap_lo"], row["gap_hi"] = two_level_bootstrap(gaps, owner, rng, level=level)
            for name in ("normalised_gap", "pooled_gap", "pooled_normalised_gap"):
                values = np.array([r[name] for r in per_seed], dtype=float)
                row[name] = float(values.mean())
                row[f"{name}_lo"], row[f"{name}_hi"] = bootstrap_interval(values, rng, level=level)
            row["interval"] = f"{pct} bootstrap over {len(seeds)} seeds (gap: and their layouts)"
        else:
            only = per_seed[0]
            gap, scale = only["gap"], only["scale"]
            rng = np.random.default_rng(seed)
            row["gap"] = float(gap.mean())
            row["gap_lo"], row["gap_hi"] = bootstrap_interval(gap, rng, level=level)
            idx = rng.integers(len(gap), size=(2000, len(gap)))
            ratios = gap[idx].mean(1) / scale[idx].mean(1)
            row["normalised_gap"] = float(only["normalised_gap"])
            row["normalised_gap_lo"], row["normalised_gap_hi"] = (
                float(v) for v in np.quantile(ratios, [(1 - level) / 2, (1 + level) / 2])
            )
            for name in ("pooled_gap", "pooled_normalised_gap"):
                row[name] = float(only[name])
                row[f"{name}_lo"] = row[f"{name}_hi"] = np.nan
            row["interval"] = f"{pct} bootstrap over {len(gap)} layouts (pooled: none, one seed)"
        rows.append(row)
    return pd.DataFrame(rows)


def write_exactness(run: Run, cells: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """``exactness.csv``: :func:`exactness` of every deep agent with an LP twin."""
    table = exactness(pd.concat(cells, ignore_index=True))
    if len(table):
        run.write_table("exactness.csv", table.to_dict("records"))
    return table


def conclude(
    run: Run,
    cells: Sequence[pd.DataFrame],
    *,
    posteriors: Sequence[dict],
    summary: Sequence[str],
    by: Sequence[str] = ("study", "env", "shift", "agent"),
) -> int:
    """The end of a deep study: ``results.csv`` (aggregated by ``by``), ``exactness.csv``, the
    figures, the run marked complete, and the summary and exactness tables printed."""
    from rewunc.plots import plot_run

    results = write_tables(run, cells, posteriors=posteriors, by=by)
    exact = write_exactness(run, cells)
    figures = plot_run(run.path, run.figure_format)
    run.finish("complete")
    print(format_summary(results, summary))
    print(format_exactness(exact))
    print(f"\nwrote {run.path}/results.csv, exactness.csv and {len(figures)} figures")
    return 0


def format_exactness(table: pd.DataFrame) -> str:
    """A plain-text table of :func:`exactness`: per study, shift and agent, the normalised gap to
    the LP optimum per layout and pooled over layouts, with their intervals."""
    if table is None or not len(table):
        return "no deep agent has an LP twin: no exactness table"

    def interval(r, name):
        lo, hi = getattr(r, f"{name}_lo"), getattr(r, f"{name}_hi")
        value = getattr(r, name)
        return f"{value:6.3f}" + ("" if np.isnan(lo) else f" [{lo:6.3f}, {hi:6.3f}]")

    w = max(5, *(len(str(x)) for x in table["study"]))
    lines = [
        f"deep agents against their exact LP twins ({table['interval'].iloc[0]}); "
        "gaps as a fraction of the optimum's margin over a random policy:",
        f"{'study':<{w}s} {'shift':<9s} {'agent':<34s} {'optimum':>8s} {'deep':>8s} "
        f"{'normalised gap per layout':>27s} {'pooled over layouts':>27s}",
    ]
    for r in table.itertuples():
        lines.append(
            f"{r.study:<{w}s} {r.shift:<9s} {r.agent:<34s} {r.optimum:8.3f} {r.objective:8.3f} "
            f"{interval(r, 'normalised_gap'):>27s} {interval(r, 'pooled_normalised_gap'):>27s}"
        )
    return "\n".join(lines)
