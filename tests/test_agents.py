"""Tabular planners: the occupancy LPs against brute force over policies on tiny MDPs."""

import itertools

import numpy as np
import pytest
from conftest import random_mdp
from scipy.optimize import linprog

from rewunc import planning, risk
from rewunc.agents import (
    BROIL,
    MAP,
    AgentError,
    BayesMean,
    CVaR,
    Maximin,
    Oracle,
    PessimisticReward,
    agent_name,
    make_agent,
    risk_lp,
)
from rewunc.mdp import TabularMDP
from rewunc.posterior import RewardPosterior


def _posterior(mdp, W, log_density=None):
    return RewardPosterior(W, mdp.feature_names, np.zeros(len(W), int), log_density=log_density)


def _deterministic_mus(mdp):
    """μ of every deterministic policy (actions at live states enumerated)."""
    live = np.flatnonzero(~mdp.terminal)
    mus = []
    for choice in itertools.product(range(mdp.n_actions), repeat=len(live)):
        pi = np.full((mdp.n_states, mdp.n_actions), 1.0 / mdp.n_actions)
        pi[live] = np.eye(mdp.n_actions)[list(choice)]
        mus.append(planning.feature_expectations(mdp, pi, dtype=np.float64))
    return np.array(mus)


def _hull_optimum(mus, W, lam, alpha):
    """max over mixtures θ of deterministic policies of λ·E[X] + (1−λ)·CVaR_α[X] (dense LP)."""
    D, M = len(mus), len(W)
    R = W @ mus.T  # [M, D] return of each policy under each draw
    p = np.full(M, 1 / M)
    tail = 1 - alpha if alpha < 1 else 1.0
    # variables θ [D], σ, z [M]
    c = np.concatenate([-lam * p @ R, [-(1 - lam)], (1 - lam) * p / tail * (alpha < 1)])
    a_ub = np.hstack([-R, np.ones((M, 1)), -np.eye(M)])
    a_eq = np.concatenate([np.ones(D), [0], np.zeros(M)])[None]
    zb = (0, None) if alpha < 1 else (0, 0)
    bounds = [(0, None)] * D + [(None, None)] + [zb] * M
    res = linprog(c, a_ub, np.zeros(M), a_eq, [1.0], bounds=bounds, method="highs")
    assert res.status == 0
    return -res.fun


CASES = [(0.0, 1.0), (0.0, 0.9), (0.3, 0.5), (0.5, 0.95), (1.0, 0.7), (0.0, 1e-9)]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("lam,alpha", CASES)
def test_risk_lp_matches_brute_force(seed, lam, alpha):
    mdp = random_mdp(seed, S=5, A=2, B=2, K=3)
    W = np.random.default_rng(seed + 10).normal(size=(7, 3))
    mus = _deterministic_mus(mdp)
    planned = risk_lp(mdp, W, lam, alpha)
    best = _hull_optimum(mus, W, lam, alpha)
    assert planned.objective == pytest.approx(best, rel=1e-6, abs=1e-8)
    # no deterministic policy beats it
    det = risk.broil(risk.sample_returns(W, mus), lam, alpha)
    assert planned.objective >= det.max() - 1e-8
    # the extracted stationary policy really achieves it (evaluated independently)
    mu = planning.feature_expectations(mdp, planned.policy, dtype=np.float64)
    np.testing.assert_allclose(mu, planned.mu, atol=1e-7)
    x = risk.sample_returns(W, mu)
    assert risk.broil(x, lam, alpha) == pytest.approx(planned.objective, abs=1e-7)


def test_cvar_limits_reduce_to_mean_and_worst_case():
    mdp = random_mdp(3, S=6, A=3, B=2, K=3)
    W = np.random.default_rng(3).normal(size=(9, 3))
    post = _posterior(mdp, W)
    worst = Maximin().plan(mdp, post)
    assert CVaR(alpha=1.0).plan(mdp, post).objective == pytest.approx(worst.objective, abs=1e-9)
    mean_opt = BayesMean().plan(mdp, post).objective
    assert CVaR(alpha=1e-9).plan(mdp, post).objective == pytest.approx(mean_opt, abs=1e-7)
    assert BROIL(lam=1.0, alpha=0.9).plan(mdp, post).objective == pytest.approx(mean_opt, abs=1e-7)


def _fork_mdp():
    """One decision: action 0 ends in a state with φ = e1, action 1 in one with φ = e2."""
    ns = np.array([[[1], [2]], [[1], [1]], [[2], [2]]])
    return TabularMDP(
        next_states=ns,
        probs=np.ones((3, 2, 1)),
        features=np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]),
        feature_names=("a", "b"),
        initial=np.array([1.0, 0.0, 0.0]),
        terminal=np.array([False, True, True]),
        gamma=0.9,
        true_weights=np.array([1.0, 0.0]),
    )


def test_maximin_randomises_when_it_must():
    mdp = _fork_mdp()
    post = _posterior(mdp, np.eye(2))
    planned = Maximin().plan(mdp, post)
    assert planned.objective == pytest.approx(0.5)
    np.testing.assert_allclose(planned.policy[0], [0.5, 0.5], atol=1e-9)
    # every deterministic policy has worst case 0
    assert _deterministic_mus(mdp).min(axis=1).max() == 0.0


def test_regret_form_uses_the_demonstrator_baseline():
    mdp = _fork_mdp()
    W = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.4]])
    post = _posterior(mdp, W)
    mu_e = np.array([1.0, 0.0])  # the demonstrator took action 0
    planned = BROIL(lam=0.5, alpha=0.9, regret=True).plan(mdp, post, mu_expert=mu_e)
    x = risk.sample_returns(W, planned.mu, mu_e)
    assert planned.objective == pytest.approx(risk.broil(x, 0.5, 0.9), abs=1e-9)
    with pytest.raises(AgentError, match="demonstrator"):
        CVaR(alpha=0.9, regret=True).plan(mdp, post)


def test_point_planners():
    mdp = random_mdp(4, S=6, A=2, B=2, K=2)
    mdp = TabularMDP(**{**mdp.__dict__, "true_weights": np.array([1.0, -1.0])})
    W = np.random.default_rng(4).normal(size=(50, 2))
    post = _posterior(mdp, W, log_density=-np.sum(W**2, axis=1))
    vi = planning.value_iteration(mdp, mdp.state_rewards(W.mean(0)), dtype=np.float64)
    assert BayesMean().plan(mdp, post).objective == pytest.approx(mdp.initial @ vi.v)
    best = W[np.argmax(-np.sum(W**2, axis=1))]
    vi = planning.value_iteration(mdp, mdp.state_rewards(best), dtype=np.float64)
    assert MAP().plan(mdp, post).objective == pytest.approx(mdp.initial @ vi.v)
    q_reward = np.quantile(W @ mdp.features.T, 0.1, axis=0)
    vi = planning.value_iteration(mdp, q_reward, dtype=np.float64)
    assert PessimisticReward(q=0.1).plan(mdp, post).objective == pytest.approx(mdp.initial @ vi.v)
    vi = planning.value_iteration(mdp, mdp.state_rewards(mdp.true_weights), dtype=np.float64)
    assert Oracle().plan(mdp).objective == pytest.approx(mdp.initial @ vi.v)


def test_planners_refuse_what_they_cannot_use():
    mdp = random_mdp(5, K=2)
    with pytest.raises(AgentError, match="log_density"):
        MAP().plan(mdp, _posterior(mdp, np.zeros((3, 2))))
    with pytest.raises(AgentError, match="true_weights"):
        Oracle().plan(mdp)
    other = RewardPosterior(np.zeros((3, 2)), ("x", "y"), np.zeros(3, int))
    with pytest.raises(AgentError, match="feature names"):
        BayesMean().plan(mdp, other)
    with pytest.raises(AgentError, match="quantile"):
        PessimisticReward(q=1.0)


def test_agent_specs_round_trip_and_refuse_bad_input():
    for spec in [
        "BayesMean",
        "MAP",
        "Maximin",
        "CVaR(alpha=0.9)",
        "BROIL(lam=0.25, alpha=0.95)",
        "PessimisticReward(q=0.05)",
        "Oracle",
        "BROIL(lam=0.5, alpha=0.9, regret=True)",
    ]:
        assert agent_name(make_agent(spec)) == spec
    assert make_agent(" CVaR( alpha = 0.5 ) ") == CVaR(alpha=0.5)
    with pytest.raises(AgentError, match="expected one of"):
        make_agent("Bogus")
    with pytest.raises(AgentError, match="unknown parameter"):
        make_agent("CVaR(beta=0.5)")
    with pytest.raises(AgentError, match=r"\(0, 1\]"):
        make_agent("CVaR(alpha=0)")
    with pytest.raises(AgentError, match=r"\(0, 1\]"):
        make_agent("BROIL(lam=0.5, alpha=1.5)")
    with pytest.raises(AgentError, match="not a number"):
        make_agent("CVaR(alpha=high)")
    with pytest.raises(AgentError, match="expected true or false"):
        make_agent("CVaR(alpha=0.9, regret=1)")  # once silently the robust form
    with pytest.raises(AgentError, match="given twice"):
        make_agent("CVaR(alpha=0.9, alpha=0.5)")
    # names keep every digit, so distinct parameters never share a name (or a stage key)
    assert agent_name(make_agent("PessimisticReward(q=0.050000001)")) != "PessimisticReward(q=0.05)"
