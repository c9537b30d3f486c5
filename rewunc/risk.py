"""Risk measures over posterior returns: one return per posterior sample of the reward.

A policy with (discounted) feature expectations μ[K] has, under each posterior draw w_m, the
return X_m = w_m·μ ("robust return" form), or the return relative to the demonstrator,
X_m = w_m·(μ − μ_E) (the "regret" form of BROIL, Brown et al. 2020: minus the regret against the
demonstrator's feature expectations μ_E). Every measure below maps X[.., M] to a number per row,
and higher is better in both forms.

**Convention for α (the same everywhere in rewunc):** α ∈ (0, 1] is the *confidence level*, as in
BROIL and the CVaR literature. CVaR_α is the expected return over the worst (1 − α) fraction of
the posterior:

    CVaR_α(X) = max_σ  σ − E[(σ − X)₊] / (1 − α)          (Rockafellar & Uryasev)

α → 0 gives the mean; larger α is more risk-averse; α = 1 is defined as its limit, the worst
case min_m X_m. Draws may carry probabilities ``p[M]`` (default uniform).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MEASURES = ("mean", "cvar", "worst_case", "mean_std", "broil")


class RiskError(ValueError):
    """A risk measure's parameter is out of range."""


def _real(x) -> bool:
    return isinstance(x, int | float | np.integer | np.floating) and not isinstance(x, bool)


def check_alpha(alpha: float) -> float:
    """α must lie in (0, 1] (confidence level; see the module docstring)."""
    if not (_real(alpha) and 0.0 < float(alpha) <= 1.0):
        raise RiskError(f"alpha: expected a confidence level in (0, 1], got {alpha!r}")
    return float(alpha)


def check_lam(lam: float) -> float:
    if not (_real(lam) and 0.0 <= float(lam) <= 1.0):
        raise RiskError(f"lam: expected a mixing weight in [0, 1], got {lam!r}")
    return float(lam)


def check_probs(p, M: int, name: str = "p") -> np.ndarray:
    """Draw probabilities [M] (uniform when None), checked and renormalised to sum to 1."""
    if p is None:
        return np.full(M, 1.0 / M)
    p = np.asarray(p, dtype=np.float64)
    if p.shape != (M,) or not np.isfinite(p).all() or np.any(p < 0) or not np.isclose(p.sum(), 1):
        raise RiskError(f"{name}: expected {M} non-negative probabilities summing to 1, got {p!r}")
    return p / p.sum()


def _probs(x: np.ndarray, p) -> np.ndarray:
    return check_probs(p, x.shape[-1])


def sample_returns(weights, mu, mu_expert=None) -> np.ndarray:
    """X[.., M] = w_m·μ (robust form) or w_m·(μ − μ_E) (regret form, when ``mu_expert`` is given).

    Args:
        weights: [M, K] posterior draws.
        mu: [.., K] feature expectations of one or more policies.
        mu_expert: [K] the demonstrator's feature expectations, or None.
    """
    mu = np.asarray(mu, dtype=np.float64)
    if mu_expert is not None:
        mu = mu - np.asarray(mu_expert, dtype=np.float64)
    return mu @ np.asarray(weights, dtype=np.float64).T


def mean(x, p=None) -> np.ndarray:
    """E[X] over draws."""
    x = np.asarray(x, dtype=np.float64)
    return x @ _probs(x, p)


def worst_case(x) -> np.ndarray:
    """min_m X_m."""
    return np.min(np.asarray(x, dtype=np.float64), axis=-1)


def cvar(x, alpha: float, p=None) -> np.ndarray:
    """CVaR_α: expected return over the worst (1 − α) of the posterior mass (α = 1: worst case).

    Computed exactly for discrete draws: sort ascending and average the lowest 1 − α of the
    probability mass (the draw straddling the boundary counts in part).
    """
    alpha = check_alpha(alpha)
    x = np.asarray(x, dtype=np.float64)
    if alpha == 1.0:
        return worst_case(x)
    p = _probs(x, p)
    order = np.argsort(x, axis=-1, kind="stable")
    xs = np.take_along_axis(x, order, axis=-1)
    ps = p[order]
    tail = 1.0 - alpha
    before = np.cumsum(ps, axis=-1) - ps  # mass strictly below each sorted draw
    share = np.clip(tail - before, 0.0, ps)  # how much of each draw lies in the tail
    return np.sum(share * xs, axis=-1) / tail


def mean_minus_std(x, kappa: float, p=None) -> np.ndarray:
    """E[X] − κ·sd[X] (population sd under p)."""
    if kappa < 0:
        raise RiskError(f"kappa: expected >= 0, got {kappa!r}")
    x = np.asarray(x, dtype=np.float64)
    p = _probs(x, p)
    m = x @ p
    return m - kappa * np.sqrt(np.maximum(((x - m[..., None]) ** 2) @ p, 0.0))


def broil(x, lam: float, alpha: float, p=None) -> np.ndarray:
    """BROIL's mixture λ·E[X] + (1 − λ)·CVaR_α[X]."""
    lam = check_lam(lam)
    return lam * mean(x, p) + (1.0 - lam) * cvar(x, alpha, p)


@dataclass(frozen=True)
class RiskMeasure:
    """A named risk measure with its parameters, in robust (``regret=False``) or regret form.

    ``RiskMeasure("broil", lam=0.5, alpha=0.95)`` scores X by 0.5·E[X] + 0.5·CVaR_0.95[X].
    """

    kind: str = "mean"
    alpha: float = 0.95
    lam: float = 0.0
    kappa: float = 1.0
    regret: bool = False

    def __post_init__(self):
        if self.kind not in MEASURES:
            raise RiskError(f"kind: expected one of {MEASURES}, got {self.kind!r}")
        check_alpha(self.alpha)
        check_lam(self.lam)
        if self.kappa < 0:
            raise RiskError(f"kappa: expected >= 0, got {self.kappa!r}")

    def __call__(self, x, p=None) -> np.ndarray:
        """Score returns X[.., M]."""
        if self.kind == "mean":
            return mean(x, p)
        if self.kind == "cvar":
            return cvar(x, self.alpha, p)
        if self.kind == "worst_case":
            return worst_case(x)
        if self.kind == "mean_std":
            return mean_minus_std(x, self.kappa, p)
        return broil(x, self.lam, self.alpha, p)

    def of_policy(self, weights, mu, mu_expert=None, p=None) -> np.ndarray:
        """Score feature expectations μ[.., K] under posterior draws ``weights`` [M, K]."""
        if self.regret and mu_expert is None:
            raise RiskError("the regret form needs the demonstrator's feature expectations")
        return self(sample_returns(weights, mu, mu_expert if self.regret else None), p)
