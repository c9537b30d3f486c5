"""Paired comparisons of agents evaluated on the same layouts: ``comparisons.csv``.

Every agent of a (study, shift) is rolled out on the same layouts (:class:`EvalLayouts` draws
them from the seed, not the agent), so two agents' episodes pair by (seed, episode) and their
difference removes the layouts' variation (a hard layout is hard for both). Per (study, shift,
agent ≠ reference) and metric:

- ``diff``: mean over seeds of the seed's mean paired difference, agent − reference;
- ``diff_lo``, ``diff_hi``: its 95% interval, a two-level bootstrap of the paired differences
  (:func:`rewunc.stats.two_level_bootstrap`: seeds, then episodes within a seed), inside
  [−1, 1] for a rate;
- for rates, McNemar's exact test over every pair (:func:`rewunc.stats.mcnemar`):
  ``agent_only`` (episodes with the outcome for the agent, not the reference), ``reference_only``
  and ``p_value``. McNemar's test treats episodes as independent pairs; the bootstrap interval is
  the one that also carries the seeds' variation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from rewunc.evaluate import RATES, stable_seed
from rewunc.stats import mcnemar, two_level_bootstrap

PAIR = ("seed", "episode")


def reference_agent(agents: Sequence[str]) -> str:
    """The agent the others are compared with: BayesMean (planning for the posterior mean, the
    risk-neutral baseline) where it was evaluated, else the first agent."""
    agents = list(dict.fromkeys(agents))
    return "BayesMean" if "BayesMean" in agents else agents[0]


def paired_comparisons(
    episodes: pd.DataFrame,
    reference: str | None = None,
    *,
    by: Sequence[str] = ("study", "shift"),
    n_boot: int = 2000,
) -> pd.DataFrame:
    """One row per (``by``, agent, metric): the paired difference agent − ``reference`` (default:
    each cell's :func:`reference_agent`; cells without the reference are skipped) with its
    interval, and McNemar's test for rates.

    ``episodes``: records with ``by``, ``agent``, ``seed``, ``episode``, ``layout_seed``,
    ``outcome`` and ``return`` (``regret`` where present). Raises ValueError when an agent's
    episodes do not pair with the reference's (other layouts, or episodes missing)."""
    by = list(by)
    if reference is not None and reference not in set(episodes["agent"]):
        raise ValueError(f"comparisons: reference agent {reference!r} was not evaluated")
    values = ["return"] + (
        ["regret"] if "regret" in episodes and episodes["regret"].notna().all() else []
    )
    rows = []
    for key, cell in episodes.groupby(by, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        cell_of = dict(zip(by, key, strict=True))
        # a study may evaluate different agents in different cells: each cell's own reference
        ref = reference or reference_agent(cell["agent"])
        base = cell[cell["agent"] == ref].set_index(list(PAIR)).sort_index()
        for agent, other in cell.groupby("agent", sort=False):
            if agent == ref or base.empty:
                continue
            other = other.set_index(list(PAIR)).sort_index()
            if not other.index.equals(base.index) or not np.array_equal(
                other["layout_seed"].to_numpy(), base["layout_seed"].to_numpy()
            ):
                raise ValueError(
                    f"comparisons: {agent} and {ref} on {cell_of} were not "
                    "evaluated on the same layouts: they cannot be paired"
                )
            seeds = other.index.get_level_values("seed").to_numpy()
            rng = np.random.default_rng(stable_seed("comparisons", *key, agent))
            head = {**cell_of, "agent": agent, "reference": ref}
            head.update(seeds=len(np.unique(seeds)), pairs=len(other))
            for metric, outcomes in RATES.items():
                a = other["outcome"].isin(outcomes).to_numpy()
                b = base["outcome"].isin(outcomes).to_numpy()
                test = mcnemar(a, b)
                rows.append(
                    {
                        **head,
                        "metric": metric,
                        **_difference(a.astype(float) - b, seeds, rng, n_boot),
                        "agent_only": test["a_only"],
                        "reference_only": test["b_only"],
                        "p_value": test["p_value"],
                    }
                )
            for metric in values:
                d = other[metric].to_numpy(float) - base[metric].to_numpy(float)
                rows.append({**head, "metric": metric, **_difference(d, seeds, rng, n_boot)})
    return pd.DataFrame(rows)


def _difference(d: np.ndarray, seeds: np.ndarray, rng, n_boot: int) -> dict:
    mean = float(np.mean([d[seeds == s].mean() for s in np.unique(seeds)]))
    lo, hi = two_level_bootstrap(d, seeds, rng, n_boot)
    return {"diff": mean, "diff_lo": lo, "diff_hi": hi}
