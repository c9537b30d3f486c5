"""The exact tabular MDP that discrete environments expose through ``to_mdp()``.

Conventions (see DESIGN.md, "Conventions of the math"):

* reward is linear in the features of the state *arrived in*: R(s, a, s') = w·φ(s');
* terminal states end the episode on arrival: their reward is collected, their future value is 0;
* transitions are stored sparsely, at most B successors per (s, a).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

_PROB_ATOL = 1e-6


class MDPValidationError(ValueError):
    """A TabularMDP field has the wrong shape, type or value."""


def _fail(name: str, expected: str, got: str) -> None:
    raise MDPValidationError(f"TabularMDP.{name}: expected {expected}, got {got}")


@dataclass(frozen=True, eq=False)
class TabularMDP:
    """A finite discounted MDP with sparse transitions and a linear reward.

    Attributes:
        next_states: int array [S, A, B], successor indices in [0, S).
        probs: float array [S, A, B], probability of each successor; each (s, a) row sums to 1.
            Duplicate successors in a row are allowed (their probabilities add).
        features: float array [S, K], φ(s) of each state.
        feature_names: tuple of K names.
        initial: float array [S], the start distribution (no mass on terminal states).
        terminal: bool array [S]; arriving in a terminal state ends the episode.
        gamma: discount in [0, 1).
        true_weights: optional float array [K], the reward weights the environment uses.
        action_names: optional tuple of A names.
    """

    next_states: np.ndarray
    probs: np.ndarray
    features: np.ndarray
    feature_names: tuple[str, ...]
    initial: np.ndarray
    terminal: np.ndarray
    gamma: float
    true_weights: np.ndarray | None = None
    action_names: tuple[str, ...] | None = field(default=None)

    def __post_init__(self) -> None:
        ns = np.asarray(self.next_states)
        if ns.ndim != 3:
            _fail("next_states", "an int array of shape [S, A, B]", f"shape {ns.shape}")
        if not np.issubdtype(ns.dtype, np.integer):
            _fail("next_states", "an integer dtype", str(ns.dtype))
        S, A, B = ns.shape
        if S == 0 or A == 0 or B == 0:
            _fail("next_states", "non-empty S, A and B", f"shape {ns.shape}")
        if ns.min() < 0 or ns.max() >= S:
            _fail("next_states", f"indices in [0, {S})", f"range [{ns.min()}, {ns.max()}]")

        p = np.asarray(self.probs, dtype=np.float64)
        if p.shape != ns.shape:
            _fail("probs", f"shape {ns.shape} (same as next_states)", f"shape {p.shape}")
        if not np.all(np.isfinite(p)) or p.min() < 0:
            _fail("probs", "finite non-negative probabilities", "negative or non-finite values")
        row_sums = p.sum(-1)
        bad = np.abs(row_sums - 1.0) > _PROB_ATOL
        if bad.any():
            s, a = np.argwhere(bad)[0]
            _fail(
                "probs", "each (s, a) row to sum to 1", f"sum {row_sums[s, a]:.6g} at s={s}, a={a}"
            )

        phi = np.asarray(self.features, dtype=np.float64)
        if phi.ndim != 2 or phi.shape[0] != S:
            _fail("features", f"a float array of shape [{S}, K]", f"shape {phi.shape}")
        if not np.all(np.isfinite(phi)):
            _fail("features", "finite values", "NaN or inf")
        K = phi.shape[1]
        names = tuple(self.feature_names)
        if len(names) != K or not all(isinstance(n, str) for n in names):
            _fail("feature_names", f"{K} strings (one per feature column)", repr(names))
        if len(set(names)) != K:
            _fail("feature_names", "unique names", repr(names))

        init = np.asarray(self.initial, dtype=np.float64)
        if init.shape != (S,):
            _fail("initial", f"shape ({S},)", f"shape {init.shape}")
        if not np.all(np.isfinite(init)) or init.min() < 0 or abs(init.sum() - 1) > _PROB_ATOL:
            _fail("initial", "a probability distribution over states", f"sum {init.sum():.6g}")

        term = np.asarray(self.terminal)
        if term.shape != (S,) or term.dtype != np.bool_:
            _fail("terminal", f"a bool array of shape ({S},)", f"{term.dtype} shape {term.shape}")
        if (init[term] > 0).any():
            _fail("initial", "no mass on terminal states", f"mass {init[term].sum():.3g} on them")

        if not (0.0 <= float(self.gamma) < 1.0):
            _fail("gamma", "a discount in [0, 1)", repr(self.gamma))

        tw = None
        if self.true_weights is not None:
            tw = np.asarray(self.true_weights, dtype=np.float64)
            if tw.shape != (K,):
                _fail("true_weights", f"shape ({K},)", f"shape {tw.shape}")
        if self.action_names is not None and len(self.action_names) != A:
            _fail("action_names", f"{A} names", repr(self.action_names))

        for name, value in [
            ("next_states", ns.astype(np.int32)),
            ("probs", p),
            ("features", phi),
            ("initial", init),
            ("terminal", term),
            ("true_weights", tw),
        ]:
            if value is not None:
                value.setflags(write=False)
            object.__setattr__(self, name, value)
        object.__setattr__(self, "feature_names", names)
        object.__setattr__(self, "gamma", float(self.gamma))

    @property
    def n_states(self) -> int:
        return self.next_states.shape[0]

    @property
    def n_actions(self) -> int:
        return self.next_states.shape[1]

    @property
    def n_features(self) -> int:
        return self.features.shape[1]

    def state_rewards(self, weights: np.ndarray) -> np.ndarray:
        """Reward of arriving in each state, r = φ·w.

        Args:
            weights: [K] or [M, K].

        Returns:
            [S] or [M, S].
        """
        w = np.asarray(weights, dtype=np.float64)
        if w.shape[-1] != self.n_features:
            raise ValueError(
                f"weights: expected last axis of size {self.n_features} "
                f"({', '.join(self.feature_names)}), got shape {w.shape}"
            )
        return w @ self.features.T

    def transition_matrix(self) -> np.ndarray:
        """Dense P[s, a, s'] (for small MDPs and tests)."""
        S, A, _ = self.next_states.shape
        P = np.zeros((S, A, S))
        s_idx, a_idx = np.meshgrid(np.arange(S), np.arange(A), indexing="ij")
        np.add.at(P, (s_idx[..., None], a_idx[..., None], self.next_states), self.probs)
        return P
