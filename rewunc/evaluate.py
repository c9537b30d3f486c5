"""Goal-vs-capability evaluation of any policy on any protocol env: roll it out on the training
distribution and on every held-out shift, record each episode, aggregate rates with intervals.

Outcomes follow :mod:`rewunc.protocol`: **goal**, **proxy** (what stood in for the goal in
training), **hazard** (an unsafe failure) and **timeout**. Per (env, shift, agent) cell:

- ``goal_rate``; ``capability_rate`` = goal ∪ proxy; ``misgeneralization_rate`` = proxy;
  ``hazard_rate``; ``timeout_rate``;
- ``return``: the mean undiscounted return of an episode (the env's true reward);
- ``regret`` (only where the env has ``to_mdp()``): V*(s₀) − G_γ, the Oracle's exact discounted
  value on the episode's own layout minus the episode's discounted return: an unbiased estimate
  of the policy's regret up to the env's step limit (V* is the infinite-horizon value, so an
  episode cut at the limit can show a small negative regret). Envs without an MDP simply have
  no regret column.

Intervals (``<metric>_lo``, ``<metric>_hi``, and the ``interval`` column saying which): with one
seed, 95% Wilson score intervals for rates (never zero-width at 0 or 1) and a percentile
bootstrap over episodes for return and regret; with several seeds, a 95% two-level bootstrap
(:func:`rewunc.stats.two_level_bootstrap`: seeds resampled, then episodes within each seed), the
interval of the mean over seeds of the seeds' means, which never leaves the quantity's range
(a Student-t interval over 3 seeds can: [-0.54, 0.98] for a gap that cannot be negative); for
rates it is widened to at least the Wilson interval of all the episodes, so that seeds that agree
exactly do not claim certainty.

Every agent in a shift sees the same layouts (a paired comparison), and every episode's action
noise is seeded from (seed, env, shift, agent, episode), so a cell's result does not depend on
which cells ran before it.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from rewunc import planning
from rewunc.protocol import OUTCOMES, feature_names, is_tabular
from rewunc.rollout import as_actor, run_episode
from rewunc.stats import bootstrap_interval, two_level_bootstrap, wilson_interval

RATES = {
    "goal_rate": ("goal",),
    "capability_rate": ("goal", "proxy"),
    "misgeneralization_rate": ("proxy",),
    "hazard_rate": ("hazard",),
    "timeout_rate": ("timeout",),
}
VALUES = ("return", "regret")
METRICS = (*RATES, *VALUES)


def stable_seed(*parts) -> list[int]:
    """A seed sequence from ints and strings that does not depend on Python's hash salt."""
    return [p if isinstance(p, int) else zlib.crc32(str(p).encode()) for p in parts]


def shift_name(shift: str | None) -> str:
    return shift or "train"


@dataclass(frozen=True, eq=False)
class EvalLayouts:
    """The evaluation episodes of one (env, shift): their reset seeds and, where the env has
    ``to_mdp()``, each layout's MDP and the Oracle's exact value. Shared by every agent.

    Attributes:
        env_id, shift, env_kwargs: how to make the env (shift None: training distribution).
        layout_seeds: int [N], one reset seed per episode.
        gamma: the discount of regret and of the discounted return.
        mdps: N TabularMDPs, or None for a non-tabular env.
        oracle_values: float [N] (V* from the start), or None for a non-tabular env.
    """

    env_id: str
    shift: str | None
    env_kwargs: dict
    layout_seeds: np.ndarray
    gamma: float
    mdps: tuple | None = None
    oracle_values: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.layout_seeds)

    @property
    def tabular(self) -> bool:
        return self.mdps is not None

    def make_env(self) -> gym.Env:
        return gym.make(self.env_id, shift=self.shift, **self.env_kwargs)

    @classmethod
    def draw(
        cls,
        env_id: str,
        shift: str | None,
        n_episodes: int,
        seed: int,
        gamma: float = 0.95,
        **env_kwargs,
    ) -> EvalLayouts:
        """Draw ``n_episodes`` reset seeds from (seed, env, shift); where the env is tabular,
        solve each layout for the Oracle. ``shift`` None or "train" is the training
        distribution."""
        shift = None if shift in (None, "train") else shift
        if n_episodes < 1:
            raise ValueError(f"n_episodes: expected >= 1, got {n_episodes}")
        if not 0.0 < gamma < 1.0:
            raise ValueError(f"gamma: expected a discount in (0, 1), got {gamma}")
        rng = np.random.default_rng(stable_seed(seed, "evaluate", env_id, shift_name(shift)))
        seeds = rng.integers(2**31 - 1, size=n_episodes)
        env = gym.make(env_id, shift=shift, **env_kwargs)
        mdps = values = None
        if is_tabular(env) and getattr(env.unwrapped, "true_weights", None) is not None:
            mdps, values = [], []
            for s in seeds:
                env.reset(seed=int(s))
                mdp = env.unwrapped.to_mdp(gamma)
                mdps.append(mdp)
                values.append(planning.optimal_value(mdp, mdp.true_weights))
            mdps, values = tuple(mdps), np.array(values)
        env.close()
        return cls(env_id, shift, dict(env_kwargs), seeds, float(gamma), mdps, values)


def evaluate(
    policy,
    layouts: EvalLayouts,
    *,
    name: str,
    seed: int,
    deterministic: bool = True,
    extra: Sequence[dict] | None = None,
) -> list[dict]:
    """One record per episode of ``policy`` on ``layouts``.

    ``policy`` is any policy :func:`rewunc.rollout.as_actor` accepts (a stable-baselines3
    model, a callable ``obs -> action``, a TabularPolicy), or a sequence of them, one per
    layout (plans made for each layout). ``extra`` adds per-episode columns (e.g. a plan's
    objective). Records: env, shift, agent, seed, episode, layout_seed, outcome, return,
    discounted_return, steps, hazard_visits, phi_<feature> (feature sums) and, where tabular,
    oracle_value and regret.
    """
    per_layout = isinstance(policy, list | tuple)
    if per_layout and len(policy) != len(layouts):
        raise ValueError(f"{len(policy)} per-layout policies for {len(layouts)} layouts")
    if extra is not None and len(extra) != len(layouts):
        raise ValueError(f"{len(extra)} extra records for {len(layouts)} layouts")
    env = layouts.make_env()
    names = feature_names(env)
    gamma = layouts.gamma
    rows = []
    for i, layout_seed in enumerate(layouts.layout_seeds):
        rng = np.random.default_rng(
            stable_seed(seed, "act", layouts.env_id, shift_name(layouts.shift), name, i)
        )
        act = as_actor(policy[i] if per_layout else policy, rng, deterministic)
        episode = run_episode(env, int(layout_seed), act)
        t = episode.trajectory
        record = {
            "env": layouts.env_id,
            "shift": shift_name(layouts.shift),
            "agent": name,
            "seed": seed,
            "episode": i,
            "layout_seed": int(layout_seed),
            "outcome": t.outcome,
            "return": float(t.rewards.sum()),
            "discounted_return": float(gamma ** np.arange(len(t)) @ t.rewards),
            "steps": len(t),
            "hazard_visits": int(episode.info.get("hazard_visits", 0)),
        }
        record.update({f"phi_{n}": float(v) for n, v in zip(names, t.feature_counts, strict=True)})
        if extra is not None:
            record.update(extra[i])
        if layouts.oracle_values is not None:
            record["oracle_value"] = float(layouts.oracle_values[i])
            record["regret"] = record["oracle_value"] - record["discounted_return"]
        rows.append(record)
    env.close()
    return rows


def interval_label(n_episodes: int, n_seeds: int, values: Sequence[str] = VALUES) -> str:
    if n_seeds > 1:
        return (
            f"95% two-level bootstrap over {n_seeds} seeds and their episodes (rates: at least "
            f"the Wilson interval of all "
            f"{n_episodes} episodes)"
        )
    return f"95% Wilson (rates), bootstrap ({', '.join(values)}) over {n_episodes} episodes"


def aggregate(
    episodes: Sequence[dict], by: Sequence[str] = ("env", "shift", "agent"), n_boot: int = 2000
) -> list[dict]:
    """One row per cell (the distinct values of ``by``): every metric of the module docstring
    with its 95% interval, ``episodes``, ``seeds`` and ``interval`` (which interval). Regret
    appears only when every episode of the table has it. Cells keep the order in which they
    first appear in ``episodes``."""
    cells: dict[tuple, list[dict]] = {}
    for e in episodes:
        if e["outcome"] not in OUTCOMES:
            raise ValueError(f"episode outcome {e['outcome']!r}: expected one of {OUTCOMES}")
        cells.setdefault(tuple(e[k] for k in by), []).append(e)
    has_regret = all(_finite(e.get("regret")) for e in episodes)
    values_of = ("return", "regret") if has_regret else ("return",)
    rows = []
    for key, eps in cells.items():
        outcomes = np.array([e["outcome"] for e in eps])
        seeds = np.array([e.get("seed", 0) for e in eps])
        values = {m: np.isin(outcomes, kinds).astype(float) for m, kinds in RATES.items()}
        for m in values_of:
            values[m] = np.array([float(e[m]) for e in eps])
        distinct = list(dict.fromkeys(seeds.tolist()))
        row = {**dict(zip(by, key, strict=True)), "episodes": len(eps), "seeds": len(distinct)}
        row["interval"] = interval_label(len(eps), len(distinct), values_of)
        rng = np.random.default_rng(stable_seed("bootstrap", *key))
        for metric, v in values.items():
            if len(distinct) > 1:
                lo, hi = two_level_bootstrap(v, seeds, rng, n_boot)
                if metric in RATES:  # seeds that agree exactly must not claim certainty
                    w_lo, w_hi = wilson_interval(v.sum(), len(v))
                    lo, hi = max(0.0, min(lo, w_lo)), min(1.0, max(hi, w_hi))
            elif metric in RATES:
                lo, hi = wilson_interval(v.sum(), len(v))
            else:
                lo, hi = bootstrap_interval(v, rng, n_boot)
            row.update({metric: float(v.mean()), f"{metric}_lo": lo, f"{metric}_hi": hi})
        rows.append(row)
    return rows


def _finite(x) -> bool:
    try:
        return x is not None and bool(np.isfinite(float(x)))
    except (TypeError, ValueError):
        return False


def format_summary(results, metrics: Sequence[str]) -> str:
    """A fixed-width table of a results frame: one line per cell, each metric as
    ``mean [lo, hi]``; the interval used is named underneath."""
    keys = [c for c in ("study", "shift") if c in results and results[c].nunique() > 1]
    keys.append("agent")
    metrics = [m for m in metrics if m in results]
    widths = {k: max(len(k), *(len(str(v)) for v in results[k])) for k in keys}
    head = " ".join(f"{k:<{widths[k]}s}" for k in keys)
    head += "".join(f" {m.replace('_rate', ''):>21s}" for m in metrics)
    lines = [head, "-" * len(head)]
    for _, r in results.iterrows():
        cells = "".join(f" {r[m]:7.3f} [{r[m + '_lo']:5.2f},{r[m + '_hi']:5.2f}]" for m in metrics)
        lines.append(" ".join(f"{str(r[k]):<{widths[k]}s}" for k in keys) + cells)
    if "interval" in results:
        lines.append("intervals: " + "; ".join(dict.fromkeys(results["interval"])))
    return "\n".join(lines)
