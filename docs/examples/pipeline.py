"""Plugged-in envs through rewunc's whole pipeline: collect → preferences → posterior → agents →
evaluation on the training distribution and on the held-out shift.

Two walk-throughs, one per example env of docs/plugging_in.md:

- ``point_goal``: PointGoal, a non-tabular env (Box observation). Behaviour policies of varying
  skill are rolled out; a simulated teacher labels pairs of their trajectories; NUTS samples the
  Bradley–Terry posterior; risk-averse :class:`~rewunc.agents.Selector` agents choose, on each
  test episode, between two candidate controllers (straight to the goal, or around a hazard).
- ``ice_pond``: IcePond, a GridWorld subclass (tabular). The same preference posterior, then the
  exact LP/VI planners on each evaluation layout.

Training never shows the hazard, so its weight keeps its prior: the posterior-mean agent walks
into the hazard, the CVaR agent goes around it.

    python docs/examples/pipeline.py            # both, full size
    python docs/examples/pipeline.py --fast     # both, in about a minute
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the example envs beside this file

import ice_pond  # noqa: E402,F401  (registers ice_pond/IcePond-v0)
import point_goal  # noqa: E402  (registers point_goal/PointGoal-v0)

from rewunc.agents import Selector, make_agent, plan_layouts  # noqa: E402
from rewunc.birl import BIRL  # noqa: E402
from rewunc.evaluate import EvalLayouts, aggregate, evaluate, format_summary  # noqa: E402
from rewunc.experts import BoltzmannExpert, PreferenceTeacher, label_preferences  # noqa: E402
from rewunc.rollout import TabularPolicy, collect  # noqa: E402

STEP, MOVES = point_goal.PointGoal.STEP, point_goal.PointGoal.MOVES
SAFE = point_goal.PointGoal.HAZARD_RADIUS + 0.03  # the cautious controller's clearance


def straight(obs) -> int:
    """Head for the goal along the axis with the larger remaining distance."""
    dx, dy = obs[2] - obs[0], obs[3] - obs[1]
    if abs(dx) > abs(dy):
        return 1 if dx > 0 else 3
    return 0 if dy > 0 else 2


def cautious(obs) -> int:
    """Head for the goal, but walk around the hazard disc (keeping ``SAFE`` clearance)."""
    pos, goal, hazard = obs[:2], obs[2:4], obs[4:6]
    a = straight(obs)
    if hazard[0] < 0 or np.linalg.norm(pos + STEP * MOVES[a] - hazard) > SAFE:
        return a
    # follow the tangent on the side facing the goal, with the safe move closest to it
    radial = pos - hazard
    tangent = np.array([-radial[1], radial[0]])
    if tangent @ (goal - pos) < 0:
        tangent = -tangent
    safe = [m for m in range(4) if np.linalg.norm(pos + STEP * MOVES[m] - hazard) > SAFE]
    return max(safe, key=lambda m: MOVES[m] @ tangent) if safe else a


class Noisy:
    """``straight`` with probability 1 − ε, a uniform move otherwise (its own seeded rng)."""

    def __init__(self, epsilon: float, seed: int):
        self.epsilon, self.rng = epsilon, np.random.default_rng(seed)

    def __call__(self, obs) -> int:
        return int(self.rng.integers(5)) if self.rng.random() < self.epsilon else straight(obs)


def point_goal_study(fast: bool = False, seed: int = 0) -> pd.DataFrame:
    env_id = "point_goal/PointGoal-v0"
    # 1. collect: trajectories of behaviours from skilled to random, training distribution only
    trajectories = []
    for i, eps in enumerate((0.0, 0.3, 0.6, 1.0)):
        demos = collect(env_id, Noisy(eps, seed + i), 6 if fast else 25, seed + i)
        trajectories += demos.trajectories
    # 2. preferences from a simulated Bradley–Terry teacher (rationality β = 10)
    prefs = label_preferences(
        trajectories, PreferenceTeacher(beta=10.0), 60 if fast else 300, seed, demos.feature_names
    )
    # 3. the posterior (the learner knows β); the hazard was never seen: its weight keeps N(0, 1)
    birl = BIRL(beta=10.0, num_warmup=200 if fast else 500, num_samples=200 if fast else 1000,
                num_chains=2, progress_bar=False)  # fmt: skip
    posterior = birl.fit(preferences=prefs, seed=seed)
    # 4. agents: risk-averse choice between two controllers on each test episode
    candidates = {"straight": straight, "cautious": cautious}
    rows = []
    for shift in (None, "hazard"):
        layouts = EvalLayouts.draw(env_id, shift, 10 if fast else 100, seed)
        for risk in ("BayesMean", "CVaR(alpha=0.9)"):
            chosen = Selector(risk).select(candidates, posterior, layouts, seed).names
            # 5. evaluation of each episode's chosen controller
            policies = [candidates[name] for name in chosen]
            rows += evaluate(policies, layouts, name=f"Select[{risk}]", seed=seed)
        rows += evaluate(straight, layouts, name="straight", seed=seed)
    return pd.DataFrame(aggregate(rows)), posterior


def ice_pond_study(fast: bool = False, seed: int = 0) -> pd.DataFrame:
    env_id = "ice_pond/IcePond-v0"
    # 1. collect: Boltzmann demonstrators from near-optimal to wandering (tabular experts)
    trajectories = []
    for i, beta in enumerate((50.0, 10.0, 2.0)):
        trajectories += collect(
            env_id, BoltzmannExpert(beta), 6 if fast else 20, seed + i
        ).trajectories
    names = ice_pond.IcePond.feature_names
    # 2. preferences, as for PointGoal; 3. the posterior, with the goal's weight anchored at 1:
    # every demonstrator reaches the goal, so preferences alone cannot price reaching it
    prefs = label_preferences(
        trajectories, PreferenceTeacher(beta=10.0), 60 if fast else 300, seed, names
    )
    anchor = dict(prior_loc=(0.0, 0.0, 1.0, 0.0), prior_scale=(1.0, 1.0, 0.05, 1.0))
    birl = BIRL(beta=10.0, num_warmup=200 if fast else 500, num_samples=200 if fast else 1000,
                num_chains=2, progress_bar=False, **anchor)  # fmt: skip
    posterior = birl.fit(preferences=prefs, seed=seed)
    # 4. exact planners on each evaluation layout's MDP, 5. evaluation
    rows = []
    for shift in (None, "thin_ice"):
        layouts = EvalLayouts.draw(env_id, shift, 10 if fast else 100, seed)
        for spec in ("BayesMean", "CVaR(alpha=0.9)", "Oracle"):
            plans = plan_layouts(make_agent(spec), posterior, layouts.mdps)
            policies = [TabularPolicy(p) for p in plans.policies]
            rows += evaluate(policies, layouts, name=spec, seed=seed)
    return pd.DataFrame(aggregate(rows)), posterior


def main(argv=None) -> int:
    fast = "--fast" in (sys.argv[1:] if argv is None else argv)
    for study in (point_goal_study, ice_pond_study):
        results, posterior = study(fast)
        print(f"\n== {study.__name__}\n{posterior.summary()}\n")
        print(format_summary(results, ("goal_rate", "hazard_rate", "timeout_rate", "return")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
