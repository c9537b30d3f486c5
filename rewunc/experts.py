"""Demonstrators and teachers: tabular experts that plan on each layout's own MDP, and a
simulated teacher (B-Pref's knobs) that labels preferences between trajectories or segments.

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


def _check_rationality(beta) -> None:
    if not (np.isfinite(beta) and beta > 0):
        raise DataError(f"beta: expected a rationality > 0, got {beta!r}")


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
        _check_rationality(self.beta)

    def policy(self, mdp: TabularMDP) -> np.ndarray:
        rewards = _expert_rewards(mdp, self.weights)
        plan = planning.soft_value_iteration(mdp, rewards, self.beta, dtype=np.float64)
        return np.asarray(plan.policy)


@dataclass(frozen=True)
class HardBoltzmannExpert:
    """Boltzmann over the optimal (hard) Q: π(a|s) ∝ exp(β·Q*(s, a)), Q* of the true reward.

    Not the soft-Q model BIRL assumes (there Q is the soft, entropy-paying Q of the same β): a
    demonstrator that is noisy in its choices but plans as if it would act optimally after, a
    misspecification of the kind Ramachandran & Amir's original BIRL likelihood made."""

    beta: float = 1.0
    weights: Sequence[float] | None = None

    def __post_init__(self):
        _check_rationality(self.beta)

    def policy(self, mdp: TabularMDP) -> np.ndarray:
        rewards = _expert_rewards(mdp, self.weights)
        q = np.asarray(planning.value_iteration(mdp, rewards, dtype=np.float64).q)
        logits = self.beta * (q - q.max(axis=-1, keepdims=True))
        pi = np.exp(logits)
        return pi / pi.sum(axis=-1, keepdims=True)


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


LABELS = ("first", "second", "equal", "skip")


def _number(name: str, value, expected: str, ok) -> float:
    """``value`` as a float if it is a finite number satisfying ``ok``; else a DataError."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = float("nan")
    if isinstance(value, bool) or not (np.isfinite(x) and ok(x)):
        raise DataError(f"{name}: expected {expected}, got {value!r}")
    return x


@dataclass(frozen=True)
class PreferenceTeacher:
    """A simulated teacher with B-Pref's knobs (Lee et al. 2021), on the env's true rewards.

    Given two segments with rewards r (H steps each), in this order:

    1. ``skip_threshold``: if both segments' returns Σ_t r_t are below it, the query is skipped
       (no label; B-Pref's ``eps_skip``, there a fraction of the mean segment return).
    2. Each segment is scored myopically, S = Σ_t γ^{H−1−t}·r_t with γ = ``gamma``: later steps
       weigh more (B-Pref's ``teacher_gamma``; γ = 1 scores the return).
    3. ``equal_threshold``: if |S_a − S_b| < it, the pair is labelled "equal" (B-Pref's
       ``eps_equal``, which B-Pref measures on the undiscounted returns; the same for γ = 1).
    4. ``equal_tol``: other pairs with |S_a − S_b| ≤ it tie and are skipped (no preference).
    5. a ≻ b with probability σ(β·(S_a − S_b)) (Bradley–Terry, the likelihood BIRL assumes);
       ``beta=None`` is perfectly rational (the higher score wins).
    6. ``mistake``: the preference is flipped with this probability (B-Pref's ``eps_mistake``).

    Random numbers are drawn only where a knob needs them (step 5 with a finite β, step 6 with
    ``mistake > 0``), so the defaults label as the original perfectly rational teacher did.
    """

    beta: float | None = None
    equal_tol: float = 1e-9
    mistake: float = 0.0
    gamma: float = 1.0
    skip_threshold: float | None = None
    equal_threshold: float = 0.0

    def __post_init__(self):
        if self.beta is not None:
            _number("beta", self.beta, "a rationality > 0 or None", lambda x: x > 0)
        _number("equal_tol", self.equal_tol, "a tolerance >= 0", lambda x: x >= 0)
        _number("mistake", self.mistake, "a probability in [0, 0.5]", lambda x: 0 <= x <= 0.5)
        _number("gamma", self.gamma, "a myopia discount in (0, 1]", lambda x: 0 < x <= 1)
        if self.skip_threshold is not None:
            _number(
                "skip_threshold", self.skip_threshold, "a finite return or None", lambda x: True
            )
        _number("equal_threshold", self.equal_threshold, "a margin >= 0", lambda x: x >= 0)

    def score(self, rewards) -> float:
        """S = Σ_t γ^{H−1−t}·r_t for a segment's rewards [H]."""
        r = np.asarray(rewards, dtype=np.float64)
        return float(self.gamma ** np.arange(len(r) - 1, -1, -1, dtype=np.float64) @ r)

    def judge(self, rewards_a, rewards_b, rng: np.random.Generator) -> str:
        """The label of segments with rewards [H_a] and [H_b]: one of ``LABELS``
        ("first" or "second" preferred, "equal", or "skip": no label)."""
        ra, rb = np.asarray(rewards_a, np.float64), np.asarray(rewards_b, np.float64)
        if self.skip_threshold is not None and max(ra.sum(), rb.sum()) < self.skip_threshold:
            return "skip"
        diff = self.score(ra) - self.score(rb)
        if abs(diff) < self.equal_threshold:
            return "equal"
        if abs(diff) <= self.equal_tol:
            return "skip"
        if self.beta is None:
            first = diff > 0
        else:
            first = bool(rng.random() < 1.0 / (1.0 + np.exp(-self.beta * diff)))
        if self.mistake > 0 and rng.random() < self.mistake:
            first = not first
        return "first" if first else "second"

    def prefers_first(self, a: Trajectory, b: Trajectory, rng: np.random.Generator) -> bool | None:
        """True if ``a`` is preferred, False if ``b`` is, None if skipped, tied or equal."""
        label = self.judge(a.rewards, b.rewards, rng)
        return {"first": True, "second": False}.get(label)


def label_preferences(
    trajectories: Sequence[Trajectory],
    teacher: PreferenceTeacher,
    n_pairs: int,
    seed: int,
    feature_names: Sequence[str],
    env_id: str = "",
) -> Preferences:
    """``n_pairs`` random pairs of distinct whole trajectories labelled by ``teacher``.

    Skipped and tied pairs are left out, so fewer pairs may come back; none at all is an error.
    """
    return _label_pairs(trajectories, teacher, n_pairs, None, seed, feature_names, env_id)


def label_segment_preferences(
    trajectories: Sequence[Trajectory],
    teacher: PreferenceTeacher,
    n_pairs: int,
    segment_length: int,
    seed: int,
    feature_names: Sequence[str],
    env_id: str = "",
) -> Preferences:
    """``n_pairs`` random pairs of segments labelled by ``teacher`` (B-Pref's queries).

    Each pair takes two distinct trajectories at random and, from each, ``segment_length``
    consecutive steps at a uniformly random offset. A trajectory shorter than that is used whole,
    so such a pair compares segments of unequal length (sums over fewer steps). Skipped and tied
    pairs are left out; none at all is an error.
    """
    if isinstance(segment_length, bool) or not (
        isinstance(segment_length, int | np.integer) and segment_length >= 1
    ):
        raise DataError(f"segment_length: expected an int >= 1, got {segment_length!r}")
    return _label_pairs(
        trajectories, teacher, n_pairs, int(segment_length), seed, feature_names, env_id
    )


def _label_pairs(trajectories, teacher, n_pairs, length, seed, feature_names, env_id):
    if isinstance(n_pairs, bool) or not (isinstance(n_pairs, int | np.integer) and n_pairs >= 1):
        raise DataError(f"n_pairs: expected an int >= 1, got {n_pairs!r}")
    if len(trajectories) < 2:
        raise DataError(f"preferences need at least 2 trajectories, got {len(trajectories)}")
    rng = np.random.default_rng(seed)

    def segment(t: Trajectory) -> tuple[np.ndarray, np.ndarray]:
        """(Σ φ [K], rewards [H]) of a random window of ``length`` steps (None: all of it)."""
        if length is None or len(t) <= length:
            return t.features.sum(0), t.rewards
        start = int(rng.integers(len(t) - length + 1))
        window = slice(start, start + length)
        return t.features[window].sum(0), t.rewards[window]

    better, worse, equal = [], [], []
    for _ in range(n_pairs):
        i, j = rng.choice(len(trajectories), 2, replace=False)
        (phi_a, r_a), (phi_b, r_b) = segment(trajectories[i]), segment(trajectories[j])
        label = teacher.judge(r_a, r_b, rng)
        if label == "skip":
            continue
        win, lose = (phi_b, phi_a) if label == "second" else (phi_a, phi_b)
        better.append(win)
        worse.append(lose)
        equal.append(label == "equal")
    if not better:
        raise DataError("preferences: no pair was labelled (every pair was skipped or tied)")
    return Preferences(
        np.stack(better), np.stack(worse), tuple(feature_names), env_id, np.array(equal)
    )
