"""Bayesian IRL against independent references (brute-force posteriors, PolicyWalk)."""

import warnings

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import logsumexp

from rewunc import planning
from rewunc.birl import BIRL, DemoData, MCMCDiagnosticsWarning, demo_data, infer
from rewunc.birl.policywalk import policy_walk
from rewunc.demos import BoltzmannExpert, DemonstrationError, collect
from rewunc.mdp import TabularMDP


def chain_mdp() -> TabularMDP:
    """5 states in a line, left/right moves; two features; state 4 is terminal."""
    S = 5
    ns = np.zeros((S, 2, 1), dtype=int)
    for s in range(S):
        ns[s, 0, 0] = max(s - 1, 0)
        ns[s, 1, 0] = min(s + 1, S - 1)
    phi = np.array([[1, 0], [0, 0], [0, 1], [0, 0], [1, 1]], dtype=float)
    init = np.array([0.25, 0.25, 0.25, 0.25, 0.0])
    term = np.array([False] * 4 + [True])
    return TabularMDP(ns, np.ones((S, 2, 1)), phi, ("a", "b"), init, term, 0.9)


COUNTS = np.array([[1, 3], [0, 2], [1, 2], [0, 3], [0, 0]], dtype=float)  # N[s, a]
PRIOR_SD = 1.5


def brute_force_posterior(mdp, counts, beta=1.0, half_width=6.0, n=161):
    g = np.linspace(-half_width, half_width, n)
    W = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    plan = planning.soft_value_iteration(mdp, W @ mdp.features.T, beta, dtype=np.float64)
    logpi = beta * plan.q - logsumexp(beta * plan.q, axis=-1, keepdims=True)
    logpost = np.einsum("msa,sa->m", logpi, counts) - 0.5 * (W**2).sum(1) / PRIOR_SD**2
    p = np.exp(logpost - logpost.max())
    p /= p.sum()
    mean = p @ W
    sd = np.sqrt(p @ (W - mean) ** 2)
    return mean, sd


def _data(mdp, counts):
    return DemoData(planning.stack_mdps([mdp]), jnp.asarray(counts[None], jnp.float32))


@pytest.mark.slow
def test_nuts_matches_the_brute_force_posterior():
    mdp = chain_mdp()
    mean, sd = brute_force_posterior(mdp, COUNTS)
    post = BIRL(
        prior_scale=PRIOR_SD, num_warmup=500, num_samples=1500, num_chains=2, progress_bar=False
    ).fit(_data(mdp, COUNTS), feature_names=("a", "b"), seed=1)
    ess = np.asarray(post.diagnostics["ess_bulk"])
    assert np.all(ess > 400) and post.diagnostics["divergences"] == 0
    # Monte Carlo error of the mean is sd/sqrt(ESS); allow 4 of them. sd: 10%.
    np.testing.assert_array_less(np.abs(post.mean() - mean), 4 * sd / np.sqrt(ess))
    np.testing.assert_allclose(post.std(), sd, rtol=0.1)


@pytest.mark.slow
def test_policywalk_agrees_with_nuts_on_a_tiny_mdp():
    mdp = chain_mdp()
    mean, sd = brute_force_posterior(mdp, COUNTS)
    res = policy_walk(
        _data(mdp, COUNTS),
        ("a", "b"),
        n_samples=6000,
        burn_in=500,
        step=0.1,
        r_max=6.0,
        q="soft",
        num_chains=2,
        seed=0,
        log_prior=lambda w: -0.5 * float(w @ w) / PRIOR_SD**2,
    )
    ess = np.asarray(res.posterior.diagnostics["ess_bulk"])
    assert 0.2 < res.acceptance_rate < 0.95
    np.testing.assert_array_less(np.abs(res.posterior.mean() - mean), 4 * sd / np.sqrt(ess) + 0.05)
    np.testing.assert_allclose(res.posterior.std(), sd, rtol=0.15)


@pytest.mark.slow
def test_unseen_feature_stays_at_its_prior_on_lavaland_training_layouts():
    demos = collect("rewunc/LavaLand-v0", BoltzmannExpert(beta=50.0), 4, seed=0)
    post = infer(
        demos,
        beta=50.0,
        prior_scale=1.0,
        num_warmup=300,
        num_samples=600,
        num_chains=1,
        progress_bar=False,
        seed=0,
    )
    lava = post.feature_names.index("lava")
    assert abs(post.mean()[lava]) < 0.25
    assert 0.8 < post.std()[lava] < 1.2  # the prior's sd is 1
    # Step costs are learned; the target, collected once at the end of each episode, only needs
    # to be "large enough to head for", so it stays weakly identified (no assertion on it).
    for name in ("dirt", "grass"):
        assert post.std()[post.feature_names.index(name)] < 0.5


@pytest.mark.slow
def test_preferences_recover_a_weight_direction():
    rng = np.random.default_rng(0)
    w_true = np.array([1.0, -2.0, 0.5])
    a, b = rng.normal(size=(150, 3)), rng.normal(size=(150, 3))
    prefer_a = rng.random(150) < 1 / (1 + np.exp(-(a - b) @ w_true))
    pairs = [(x, y) if p else (y, x) for x, y, p in zip(a, b, prefer_a, strict=True)]
    post = infer(
        preferences=pairs,
        feature_names=("x", "y", "z"),
        num_warmup=300,
        num_samples=600,
        num_chains=1,
        progress_bar=False,
        seed=0,
    )
    m = post.mean()
    assert m @ w_true / np.linalg.norm(m) / np.linalg.norm(w_true) > 0.95
    # each coordinate inside its 99% interval (three 90% intervals jointly cover only ~73%)
    lo, hi = post.credible_interval(0.99).T
    assert np.all((lo <= w_true) & (w_true <= hi))


def test_diagnostics_warn_loudly():
    mdp = chain_mdp()
    with pytest.warns(MCMCDiagnosticsWarning, match="bulk ESS"):
        BIRL(num_warmup=20, num_samples=20, num_chains=1, progress_bar=False).fit(
            _data(mdp, COUNTS), feature_names=("a", "b")
        )


def test_bad_inputs():
    with pytest.raises(DemonstrationError, match="give demonstrations, preferences or both"):
        infer()
    with pytest.raises(ValueError, match="prior: expected one of"):
        BIRL(prior="cauchy")
    with pytest.raises(ValueError, match="beta: expected a rationality > 0"):
        BIRL(beta=0.0)
    with pytest.raises(DemonstrationError, match="feature_names are needed"):
        infer(preferences=[(np.ones(2), np.zeros(2))])
    with pytest.raises(DemonstrationError, match="expected finite feature counts of shape"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            infer(preferences=[(np.ones(3), np.zeros(2))], feature_names=("a", "b"))
    demos = collect("rewunc/ColorGoal-v0", BoltzmannExpert(beta=50.0), 2, seed=0)
    d = demo_data(demos)
    assert d.counts.shape == (2, 36, 4)
