"""Risk-averse selection among candidate policies, checked against exact tabular planning."""

import numpy as np
import pytest

from rewunc import planning
from rewunc.agents import BayesMean, Oracle, PessimisticReward, Selector
from rewunc.agents.tabular import AgentError, risk_lp
from rewunc.evaluate import EvalLayouts
from rewunc.posterior import RewardPosterior
from rewunc.risk import cvar, sample_returns
from rewunc.rollout import TabularPolicy

LAYOUT = 12345  # one fixed lava layout: candidates planned on its MDP act on every episode


def _posterior(seed=0, M=200):
    rng = np.random.default_rng(seed)
    w = np.column_stack(
        [
            rng.normal(-0.05, 0.02, M),  # dirt
            rng.normal(-0.25, 0.05, M),  # grass
            rng.normal(0.0, 1.0, M),  # lava: never seen, prior only
            rng.normal(1.0, 0.05, M),  # target
            rng.normal(0.0, 1.0, M),  # gravel: never seen in training either
        ]
    )
    return RewardPosterior(w, ("dirt", "grass", "lava", "target", "gravel"), np.zeros(M, int))


def test_selection_picks_the_candidate_with_the_best_exact_score():
    post = _posterior()
    layouts = EvalLayouts.draw(
        "rewunc/LavaLand-v0", "lava", 2, seed=0, gamma=0.95, layout_seed=LAYOUT
    )
    mdp = layouts.mdps[0]
    plans = {
        "Oracle": Oracle().plan(mdp),
        "BayesMean": BayesMean().plan(mdp, post),
        "Pessimistic": PessimisticReward(0.05).plan(mdp, post),
    }
    candidates = {name: TabularPolicy(p.policy) for name, p in plans.items()}
    selection = Selector("CVaR(alpha=0.9)").select(candidates, post, layouts)
    exact_mu = np.stack([p.mu for p in plans.values()])
    # deterministic policies on a deterministic layout that reach the target: μ̂ is exact
    np.testing.assert_allclose(selection.mu[0], exact_mu, atol=1e-9)
    exact = cvar(sample_returns(post.weights, exact_mu), 0.9)
    assert selection.names == (list(plans)[int(np.argmax(exact))],) * 2
    # the LP optimises over every policy: it can only do better than the best candidate
    lp = risk_lp(mdp, post.weights, 0.0, 0.9)
    assert lp.objective >= exact.max() - 1e-6
    # and a posterior-mean selector prefers the mean planner's plan
    mean_sel = Selector("BayesMean").select(candidates, post, layouts)
    scores = sample_returns(post.weights, exact_mu).mean(1)
    assert mean_sel.names[0] == list(plans)[int(np.argmax(scores))]


def test_selection_refuses_what_it_cannot_score():
    with pytest.raises(AgentError, match="needs a risk measure"):
        Selector("MAP")
    with pytest.raises(AgentError, match="regret form"):
        Selector("CVaR(alpha=0.9, regret=true)")
    with pytest.raises(AgentError, match="rollouts"):
        Selector("BayesMean", rollouts=0)
    layouts = EvalLayouts.draw("rewunc/CornerGoal-v0", None, 1, seed=0)
    with pytest.raises(AgentError, match="feature names differ"):
        Selector("BayesMean").select({"right": lambda obs: 1}, _posterior(), layouts)


def test_feature_expectations_by_rollout_match_the_mdp_for_a_stochastic_policy():
    """Averaged rollouts of a stochastic policy converge to its exact feature expectations."""
    layouts = EvalLayouts.draw("rewunc/LavaLand-v0", None, 1, seed=3)
    mdp = layouts.mdps[0]
    pi = 0.7 * np.asarray(Oracle().plan(mdp).policy) + 0.3 / mdp.n_actions
    exact = np.asarray(planning.feature_expectations(mdp, pi, dtype=np.float64))
    sel = Selector("BayesMean", rollouts=400).select(
        {"noisy": TabularPolicy(pi)}, _posterior(), layouts
    )
    # up to Monte Carlo error and the env's 40-step limit (rare for this near-optimal policy)
    np.testing.assert_allclose(sel.mu[0, 0], exact, atol=0.08)
