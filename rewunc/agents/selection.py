"""Risk-averse selection among candidate policies: an agent for any env, tabular or not.

Given a finite set of candidate policies (hand-written controllers, learned models, anything
:func:`rewunc.rollout.as_actor` accepts) and a reward posterior, :class:`Selector` simulates each
candidate on an episode's own layout (``env.reset(seed=layout_seed)`` in a copy of the env, the
way the tabular planners plan on each layout's MDP), estimates its discounted feature
expectations μ̂_c, and picks the candidate that maximises a risk measure of the posterior returns
X_m = w_m·μ̂_c: the posterior mean, CVaR_α, the worst case or BROIL(λ, α). It optimises over
the candidates only (not their mixtures, as the LP planners do). Every rollout resets with the
layout's own seed (which fixes the layout and, through ``self.np_random``, the env's noise), so
``rollouts`` > 1 averages only the candidates' own randomness.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from rewunc.agents.tabular import AgentError, make_agent
from rewunc.evaluate import EvalLayouts, stable_seed
from rewunc.posterior import RewardPosterior
from rewunc.risk import RiskMeasure
from rewunc.rollout import as_actor, run_episode


def risk_of(spec: str) -> RiskMeasure:
    """The risk measure an agent spec optimises: BayesMean → mean, CVaR(α), Maximin → worst
    case, BROIL(λ, α). Planners without a risk measure over returns (MAP, Oracle, ...) are refused.
    """
    agent = make_agent(spec)
    kind = type(agent).__name__
    if getattr(agent, "regret", False):
        raise AgentError(f"agent {spec!r}: selection scores robust returns, not the regret form")
    if kind == "BayesMean":
        return RiskMeasure("mean")
    if kind == "Maximin":
        return RiskMeasure("worst_case")
    if kind == "CVaR":
        return RiskMeasure("cvar", alpha=agent.alpha)
    if kind == "BROIL":
        return RiskMeasure("broil", lam=agent.lam, alpha=agent.alpha)
    raise AgentError(
        f"agent {spec!r}: a Selector needs a risk measure (BayesMean, Maximin, CVaR, BROIL)"
    )


@dataclass(frozen=True)
class Selection:
    """What a Selector chose on each layout.

    Attributes:
        names: the chosen candidate's name per layout.
        mu: float [N, C, K], every candidate's estimated feature expectations per layout.
        scores: float [N, C], every candidate's risk score per layout.
    """

    names: tuple[str, ...]
    mu: np.ndarray
    scores: np.ndarray


@dataclass(frozen=True)
class Selector:
    """Pick, on each layout, the candidate whose posterior returns score best under ``risk``
    (an agent spec: "BayesMean", "CVaR(alpha=0.9)", "Maximin", "BROIL(lam=0.5, alpha=0.95)")."""

    risk: str = "CVaR(alpha=0.9)"
    rollouts: int = 1
    measure: RiskMeasure = field(init=False, repr=False)

    def __post_init__(self):
        if not isinstance(self.rollouts, int) or self.rollouts < 1:
            raise AgentError(f"rollouts: expected an int >= 1, got {self.rollouts!r}")
        object.__setattr__(self, "measure", risk_of(self.risk))

    def select(
        self,
        candidates: Mapping[str, object],
        posterior: RewardPosterior,
        layouts: EvalLayouts,
        seed: int = 0,
    ) -> Selection:
        """Simulate every candidate on every layout and choose one per layout."""
        if not candidates:
            raise AgentError("select: give at least one candidate policy")
        env = layouts.make_env()
        names = tuple(getattr(env.unwrapped, "feature_names", ()))
        if names != posterior.feature_names:
            raise AgentError(
                f"feature names differ: posterior {posterior.feature_names}, env {names}"
            )
        mu = np.zeros((len(layouts), len(candidates), len(names)))
        for i, layout_seed in enumerate(layouts.layout_seeds):
            for c, (name, policy) in enumerate(candidates.items()):
                for r in range(self.rollouts):
                    rng = np.random.default_rng(stable_seed(seed, "select", name, i, r))
                    t = run_episode(env, int(layout_seed), as_actor(policy, rng)).trajectory
                    mu[i, c] += t.discounted_feature_counts(layouts.gamma) / self.rollouts
        env.close()
        scores = self.measure.of_policy(posterior.weights, mu)  # [N, C]
        chosen = tuple(list(candidates)[int(j)] for j in np.argmax(scores, axis=1))
        return Selection(chosen, mu, scores)
