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
- :func:`learning_curves` → ``learning_curves.png``: each deep agent's validation goal rate and
  risk objective against training steps, one line per seed, from the ``progress.csv`` files
  (:func:`training_logs`);
- :func:`seed_spread` → a ``rewunc sweep``'s ``figures/seed_spread.png`` (drawn by
  :func:`rewunc.sweep.plot_sweep`): each setting's rates per agent, every seed a dot, the mean
  over seeds with its interval.

Agents keep one colour and marker in every figure of a run: compute :func:`agent_styles` once
from the run's agents and pass it as ``styles=``. The Oracle is always a black star.

Modules (each imports only those above it in this list):

- :mod:`rewunc.plots.style`: agent colours and markers (:func:`agent_styles`), the outcome bars'
  colours (``BARS``), :func:`interval_text` and the table helpers the figures share;
- :mod:`rewunc.plots.outcomes`: :func:`outcome_bars`, :func:`per_seed_rates`,
  :func:`goal_vs_capability`;
- :mod:`rewunc.plots.reward_maps`: :func:`reward_map`, :class:`NotAGridWorldError`,
  ``GRIDWORLD_API``;
- :mod:`rewunc.plots.frontier`: :func:`risk_frontier`;
- :mod:`rewunc.plots.mcmc`: :func:`trace_and_rank`;
- :mod:`rewunc.plots.curves`: :func:`learning_curves` (its data:
  :func:`rewunc.results.training_logs`, also importable from here);
- :mod:`rewunc.plots.sweeps`: :func:`sweep`, :func:`misgeneralization_curve`,
  :func:`setting_label`, :func:`seed_spread`;
- :mod:`rewunc.plots.run`: :func:`plot_run`.

Everything is importable from ``rewunc.plots`` itself. Importing it leaves matplotlib's backend
alone (a notebook keeps its own); the command-line entry points choose Agg
(:func:`rewunc.runtime.file_backend`).
"""

from __future__ import annotations

from rewunc.plots.curves import learning_curves
from rewunc.plots.frontier import risk_frontier
from rewunc.plots.mcmc import trace_and_rank
from rewunc.plots.outcomes import goal_vs_capability, outcome_bars, per_seed_rates
from rewunc.plots.reward_maps import GRIDWORLD_API, NotAGridWorldError, reward_map
from rewunc.plots.run import plot_run
from rewunc.plots.style import (
    AGENT_COLORS,
    AGENT_MARKERS,
    BARS,
    DEFAULT_INTERVAL,
    ORACLE_STYLE,
    agent_styles,
    interval_text,
)
from rewunc.plots.sweeps import (
    CURVE_OUTCOMES,
    misgeneralization_curve,
    seed_spread,
    setting_label,
    sweep,
)
from rewunc.results import training_logs  # what learning_curves draws

__all__ = [
    "AGENT_COLORS",
    "AGENT_MARKERS",
    "BARS",
    "CURVE_OUTCOMES",
    "DEFAULT_INTERVAL",
    "GRIDWORLD_API",
    "ORACLE_STYLE",
    "NotAGridWorldError",
    "agent_styles",
    "goal_vs_capability",
    "interval_text",
    "learning_curves",
    "training_logs",
    "misgeneralization_curve",
    "outcome_bars",
    "per_seed_rates",
    "plot_run",
    "reward_map",
    "risk_frontier",
    "seed_spread",
    "setting_label",
    "sweep",
    "trace_and_rank",
]
