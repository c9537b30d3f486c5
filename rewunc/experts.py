"""Demonstrators and teachers: tabular experts that plan on each layout's own MDP, and a
simulated teacher that labels preferences between trajectories.

An *expert* has ``policy(mdp) -> π[S, A]``: :func:`rewunc.rollout.collect` plans it on the MDP
of every episode's layout (so it needs an env with ``to_mdp()``). Any :class:`~rewunc.protocol.
Policy` or ``obs -> action`` callable demonstrates on any env instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rewunc import planning
from rewunc.data import DataError, Preferences, Trajectory
from rewunc.mdp import TabularMDP


def _expert_rewards(mdp: TabularMDP, weights) -> np.ndarray:
    """State rewards for ``weights``, or for the env's true weights when None."""
    if weights is None and mdp.true_weights is None:
        raise DataError("the expert needs weights: this MDP has no true_weights")
    return mdp.state_rewards(mdp.true_weights if weights is None else np.asarray(weights))


@dataclass(frozen=True)
class OptimalExpert:
    """Optimal for ``weights`` (default: the env's true weights) on each episode's own layout."""

    weights: Sequence[float] | None = None

    def policy(self, mdp: TabularMDP) -> np.ndarray:
        return np.asarray(planning.value_iteration(mdp, _expert_rewards(mdp, self.weights)).policy)


@dataclass(frozen=True)
class BoltzmannExpert:
    """Boltzmann-rational with rationality β: π(a|s) ∝ exp(β·Q_soft(s, a)) (DESIGN.md).

    Only β·w matters, and the soft objective pays log(A)/β per step in entropy: with the
    built-in envs' reward scales (step costs of 0.02–0.25) β must be large (≳ 30) for the
    expert to head for the goal rather than wander; β = 50 is a near-optimal demonstrator.
    """

    beta: float = 1.0
    weights: Sequence[float] | None = None

    def __post_init__(self):
        if not (np.isfinite(self.beta) and self.beta > 0):
            raise DataError(f"beta: expected a rationality > 0, got {self.beta!r}")

    def policy(self, mdp: TabularMDP) -> np.ndarray:
        rewards = _expert_rewards(mdp, self.weights)
        plan = planning.soft_value_iteration(mdp, rewards, self.beta, dtype=np.float64)
        return np.asarray(plan.policy)


@dataclass(frozen=True)
class NoisyExpert:
    """ε-noisy: the optimal action with probability 1 − ε, a uniform action otherwise."""

    epsilon: float = 0.1
    weights: Sequence[float] | None = None

    def __post_init__(self):
        if not 0.0 <= self.epsilon <= 1.0:
            raise DataError(f"epsilon: expected a probability in [0, 1], got {self.epsilon!r}")

    def policy(self, mdp: TabularMDP) -> np.ndarray:
        pi = OptimalExpert(self.weights).policy(mdp)
        return (1 - self.epsilon) * pi + self.epsilon / mdp.n_actions


@dataclass(frozen=True)
class PreferenceTeacher:
    """A simulated teacher that prefers the trajectory of higher true return.

    P(a ≻ b) = σ(β·(R_a − R_b)) with R the sum of the env's (true) rewards (Bradley–Terry, the
    likelihood BIRL assumes); ``beta=None`` is perfectly rational. Pairs whose returns differ by
    less than ``equal_tol`` are skipped (no label), as B-Pref's ``eps_equal`` does.
    """

    beta: float | None = None
    equal_tol: float = 1e-9

    def __post_init__(self):
        if self.beta is not None and not (np.isfinite(self.beta) and self.beta > 0):
            raise DataError(f"beta: expected a rationality > 0 or None, got {self.beta!r}")

    def prefers_first(self, a: Trajectory, b: Trajectory, rng: np.random.Generator) -> bool | None:
        """True if ``a`` is preferred, False if ``b`` is, None if they tie."""
        diff = float(a.rewards.sum() - b.rewards.sum())
        if abs(diff) <= self.equal_tol:
            return None
        if self.beta is None:
            return diff > 0
        return bool(rng.random() < 1.0 / (1.0 + np.exp(-self.beta * diff)))


def label_preferences(
    trajectories: Sequence[Trajectory],
    teacher: PreferenceTeacher,
    n_pairs: int,
    seed: int,
    feature_names: Sequence[str],
    env_id: str = "",
) -> Preferences:
    """``n_pairs`` random pairs of distinct trajectories labelled by ``teacher``.

    Ties are skipped, so fewer pairs may come back; none at all is an error.
    """
    if n_pairs < 1:
        raise DataError(f"n_pairs: expected >= 1, got {n_pairs}")
    if len(trajectories) < 2:
        raise DataError(f"preferences need at least 2 trajectories, got {len(trajectories)}")
    rng = np.random.default_rng(seed)
    better, worse = [], []
    for _ in range(n_pairs):
        i, j = rng.choice(len(trajectories), 2, replace=False)
        a, b = trajectories[i], trajectories[j]
        first = teacher.prefers_first(a, b, rng)
        if first is None:
            continue
        win, lose = (a, b) if first else (b, a)
        better.append(win.feature_counts)
        worse.append(lose.feature_counts)
    if not better:
        raise DataError("preferences: every pair tied; the trajectories' returns do not differ")
    return Preferences(np.stack(better), np.stack(worse), tuple(feature_names), env_id)
