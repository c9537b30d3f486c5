"""Risk measures against hand-computed values and the Rockafellar–Uryasev definition."""

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from rewunc import risk
from rewunc.risk import RiskError, RiskMeasure

X = np.array([3.0, 1.0, 4.0, 2.0])


def test_hand_computed_values():
    assert risk.mean(X) == pytest.approx(2.5)
    assert risk.worst_case(X) == 1.0
    assert risk.cvar(X, 0.5) == pytest.approx(1.5)  # mean of the worst half {1, 2}
    assert risk.cvar(X, 0.75) == pytest.approx(1.0)  # the worst quarter {1}
    # worst 40%: all of x=1 (0.25) and 0.15 of x=2
    assert risk.cvar(X, 0.6) == pytest.approx((0.25 * 1 + 0.15 * 2) / 0.4)
    assert risk.mean_minus_std(X, 1.0) == pytest.approx(2.5 - np.sqrt(1.25))
    assert risk.broil(X, 0.5, 0.5) == pytest.approx(0.5 * 2.5 + 0.5 * 1.5)


def test_cvar_limits_in_alpha():
    """α → 0 is the mean, α = 1 the worst case, and CVaR falls as α grows."""
    assert risk.cvar(X, 1e-12) == pytest.approx(risk.mean(X))
    assert risk.cvar(X, 1.0) == risk.worst_case(X)
    alphas = np.linspace(0.01, 1.0, 50)
    values = [risk.cvar(X, a) for a in alphas]
    assert np.all(np.diff(values) <= 1e-12)


def test_weighted_draws():
    x, p = np.array([0.0, 10.0]), np.array([0.9, 0.1])
    assert risk.mean(x, p) == pytest.approx(1.0)
    assert risk.cvar(x, 0.5, p) == pytest.approx(0.0)
    assert risk.cvar(x, 0.05, p) == pytest.approx(0.1 * 10 * (0.05 / 0.1) / 0.95)


@pytest.mark.parametrize("alpha", [0.1, 0.5, 0.9, 0.95])
def test_cvar_matches_rockafellar_uryasev(alpha):
    rng = np.random.default_rng(int(alpha * 100))
    x = rng.normal(size=37)
    p = rng.dirichlet(np.ones(37))

    def neg(sigma):
        return -(sigma - np.sum(p * np.maximum(sigma - x, 0)) / (1 - alpha))

    best = minimize_scalar(
        neg, bounds=(x.min(), x.max()), method="bounded", options={"xatol": 1e-12}
    )
    assert risk.cvar(x, alpha, p) == pytest.approx(-best.fun, abs=1e-8)


def test_batched_rows():
    rows = np.stack([X, X + 1, -X])
    np.testing.assert_allclose(risk.cvar(rows, 0.5), [1.5, 2.5, -3.5])
    np.testing.assert_allclose(risk.mean(rows), [2.5, 3.5, -2.5])


def test_regret_form():
    w = np.array([[1.0, 0.0], [0.0, 2.0]])
    mu, mu_e = np.array([3.0, 1.0]), np.array([1.0, 1.0])
    np.testing.assert_allclose(risk.sample_returns(w, mu), [3.0, 2.0])
    np.testing.assert_allclose(risk.sample_returns(w, mu, mu_e), [2.0, 0.0])
    m = RiskMeasure("worst_case", regret=True)
    assert m.of_policy(w, mu, mu_e) == 0.0
    with pytest.raises(RiskError, match="demonstrator"):
        m.of_policy(w, mu)


@pytest.mark.parametrize("alpha", [0.0, -0.1, 1.5, float("nan"), "0.5"])
def test_alpha_outside_unit_interval_is_refused(alpha):
    with pytest.raises(RiskError, match=r"\(0, 1\]"):
        risk.cvar(X, alpha)
    with pytest.raises(RiskError, match="alpha"):
        RiskMeasure("cvar", alpha=alpha)


def test_other_bad_parameters():
    with pytest.raises(RiskError, match="lam"):
        risk.broil(X, 1.5, 0.9)
    with pytest.raises(RiskError, match="kappa"):
        risk.mean_minus_std(X, -1)
    with pytest.raises(RiskError, match="kind"):
        RiskMeasure("var")
    with pytest.raises(RiskError, match="probabilities"):
        risk.mean(X, [0.5, 0.5])


def test_measure_objects_agree_with_functions():
    assert RiskMeasure("broil", lam=0.3, alpha=0.9)(X) == pytest.approx(risk.broil(X, 0.3, 0.9))
    assert RiskMeasure("mean_std", kappa=2)(X) == pytest.approx(risk.mean_minus_std(X, 2))
    assert RiskMeasure("cvar", alpha=0.5)(X) == pytest.approx(1.5)
