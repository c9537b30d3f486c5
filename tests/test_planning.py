"""Planners against plain-numpy brute force on small random MDPs."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import logsumexp

from rewunc import planning
from tests.conftest import random_mdp

SEEDS = range(6)


def _np_policy_value(mdp, r, pi):
    """V^π by a dense linear solve: V = Σ_a π Σ_s' P (r' + γ V'), V = 0 at terminals."""
    P = mdp.transition_matrix()
    live = ~mdp.terminal
    P_pi = np.einsum("sa,sat->st", pi, P) * live[:, None]
    return np.linalg.solve(np.eye(mdp.n_states) - mdp.gamma * P_pi * live[None, :], P_pi @ r)


def _brute_force_optimal_value(mdp, r):
    """max over all deterministic policies of V^π (elementwise): the optimal value."""
    S, A = mdp.n_states, mdp.n_actions
    best = np.full(S, -np.inf)
    for actions in itertools.product(range(A), repeat=S):
        best = np.maximum(best, _np_policy_value(mdp, r, np.eye(A)[list(actions)]))
    return best


def _entropy_regularised_value(mdp, r, pi, beta):
    """V^π of the soft objective: E Σ γ^t [r(s_{t+1}) + H(π(·|s_t))/β], 0 at terminals."""
    P = mdp.transition_matrix()
    live = ~mdp.terminal
    ent = -np.sum(np.where(pi > 0, pi * np.log(np.maximum(pi, 1e-300)), 0.0), -1) / beta
    P_pi = np.einsum("sa,sat->st", pi, P) * live[:, None]
    rhs = P_pi @ r + ent * live
    return np.linalg.solve(np.eye(mdp.n_states) - mdp.gamma * P_pi * live[None, :], rhs)


@pytest.mark.parametrize("seed", SEEDS)
def test_value_iteration_matches_brute_force(seed):
    mdp = random_mdp(seed, S=6, A=2)
    r = mdp.state_rewards(np.random.default_rng(seed).normal(size=3))
    ref = _brute_force_optimal_value(mdp, r)
    # float32 carries ~7 digits: 1e-5 relative to the scale of V
    np.testing.assert_allclose(
        planning.value_iteration(mdp, r).v, ref, atol=1e-5 * max(1.0, np.abs(ref).max())
    )
    np.testing.assert_allclose(
        planning.value_iteration(mdp, r, dtype=np.float64).v, ref, atol=1e-10
    )


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("beta", [0.5, 3.0])
def test_soft_value_iteration_is_the_optimum_of_the_soft_objective(seed, beta):
    mdp = random_mdp(seed, S=6, A=3)
    r = mdp.state_rewards(np.random.default_rng(seed).normal(size=3))
    plan64 = planning.soft_value_iteration(mdp, r, beta, dtype=np.float64)
    # (1) its policy's entropy-regularised value (a dense solve) equals its V, to 1e-10
    live = ~mdp.terminal
    v_ref = _entropy_regularised_value(mdp, r, plan64.policy, beta)
    np.testing.assert_allclose(plan64.v[live], v_ref[live], atol=1e-10)
    # (2) the DESIGN.md equations hold at the fixed point
    P = mdp.transition_matrix()
    q = P @ (r + mdp.gamma * plan64.v)
    np.testing.assert_allclose(plan64.v[live], logsumexp(beta * q, -1)[live] / beta, atol=1e-10)
    np.testing.assert_allclose(
        plan64.policy[live], np.exp(beta * (q - plan64.v[:, None]))[live], atol=1e-10
    )
    # (3) no perturbed policy does better on the soft objective
    rng = np.random.default_rng(seed)
    for _ in range(20):
        other = rng.dirichlet(np.ones(mdp.n_actions), mdp.n_states)
        assert np.all(_entropy_regularised_value(mdp, r, other, beta) <= v_ref + 1e-9)
    # (4) float32 agrees to 1e-5 relative to the scale of V
    plan32 = planning.soft_value_iteration(mdp, r, beta)
    assert plan32.v.dtype == np.float32
    np.testing.assert_allclose(plan32.v, plan64.v, atol=1e-5 * max(1.0, np.abs(plan64.v).max()))


def test_batched_rewards_match_one_at_a_time():
    mdp = random_mdp(7, S=8, A=3)
    R = mdp.state_rewards(np.random.default_rng(0).normal(size=(4, 3)))
    batch = planning.soft_value_iteration(mdp, R, 2.0, dtype=np.float64)
    assert batch.v.shape == (4, 8) and batch.q.shape == (4, 8, 3)
    for m in range(4):
        one = planning.soft_value_iteration(mdp, R[m], 2.0, dtype=np.float64)
        np.testing.assert_allclose(batch.v[m], one.v, atol=1e-12)


def test_hard_value_iteration_is_the_large_beta_limit():
    mdp = random_mdp(8, S=6, A=3)
    r = mdp.state_rewards(np.array([1.0, -0.5, 0.2]))
    hard = planning.value_iteration(mdp, r, dtype=np.float64).v
    gaps = []
    for beta in [1.0, 10.0, 100.0, 1000.0]:
        soft = planning.soft_value_iteration(mdp, r, beta, dtype=np.float64).v
        gap = np.max(np.abs(soft - hard))
        # logsumexp overshoots max by at most log(A)/β per step, discounted
        assert gap <= np.log(3) / (beta * (1 - mdp.gamma)) + 1e-9
        gaps.append(gap)
    assert gaps == sorted(gaps, reverse=True) and gaps[-1] < 1e-2


def test_soft_vi_gradient_matches_finite_differences():
    mdp = random_mdp(9, S=6, A=3)
    rng = np.random.default_rng(1)
    r0 = mdp.state_rewards(rng.normal(size=3))
    demo_s, demo_a = np.array([0, 1, 2, 3]), np.array([0, 2, 1, 1])

    def loglik(r, beta):  # the BIRL use: log π(a|s) at demonstrated pairs
        plan = planning.soft_value_iteration(mdp, r, beta, dtype=np.float64)
        return jnp.sum(jnp.log(plan.policy[demo_s, demo_a]))

    with jax.enable_x64(True):
        r = jnp.asarray(r0)
        g_r, g_b = jax.grad(loglik, argnums=(0, 1))(r, 1.7)
        eps = 1e-6
        fd_r = np.array(
            [
                (loglik(r + eps * e, 1.7) - loglik(r - eps * e, 1.7)) / (2 * eps)
                for e in np.eye(len(r0))
            ]
        )
        fd_b = (loglik(r, 1.7 + eps) - loglik(r, 1.7 - eps)) / (2 * eps)
    np.testing.assert_allclose(np.asarray(g_r), fd_r, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(float(g_b), float(fd_b), rtol=1e-5)


def test_gradient_of_batched_values_under_jit_and_vmap():
    mdp = random_mdp(10, S=5, A=2)
    arrays = planning.mdp_arrays(mdp)
    R = jnp.asarray(mdp.state_rewards(np.random.default_rng(2).normal(size=(3, 3))), jnp.float32)

    @jax.jit
    def total(R):
        return planning.soft_plan_arrays(arrays, R, 1.0, 1e-6, 10_000).v.sum()

    g = jax.grad(total)(R)
    eps = 1e-2
    fd = (total(R.at[1, 2].add(eps)) - total(R.at[1, 2].add(-eps))) / (2 * eps)
    assert g.shape == R.shape
    np.testing.assert_allclose(float(g[1, 2]), float(fd), rtol=2e-3)


@pytest.mark.parametrize("seed", SEEDS)
def test_policy_evaluation_and_occupancy_match_dense_solves(seed):
    mdp = random_mdp(seed, S=6, A=3)
    rng = np.random.default_rng(seed)
    r = mdp.state_rewards(rng.normal(size=3))
    pi = rng.dirichlet(np.ones(3), 6)
    v = planning.policy_evaluation(mdp, r, pi, dtype=np.float64)
    np.testing.assert_allclose(v, _np_policy_value(mdp, r, pi), atol=1e-10)
    x = planning.state_action_occupancy(mdp, pi, dtype=np.float64)
    # dense: d = init + γ P_πᵀ d restricted to live states
    P = mdp.transition_matrix()
    live = ~mdp.terminal
    P_pi = np.einsum("sa,sat->st", pi, P) * live[:, None] * live[None, :]
    d = np.linalg.solve(np.eye(6) - mdp.gamma * P_pi.T, mdp.initial)
    np.testing.assert_allclose(x, d[:, None] * pi * live[:, None], atol=1e-10)
    # the return two ways: Σ x·r(s,a) = initial·V
    mu = planning.feature_expectations(mdp, pi, dtype=np.float64)
    w = rng.normal(size=3)
    np.testing.assert_allclose(
        mu @ w,
        mdp.initial @ planning.policy_evaluation(mdp, mdp.state_rewards(w), pi, dtype=np.float64),
        atol=1e-10,
    )
    np.testing.assert_allclose(planning.state_occupancy(mdp, pi, dtype=np.float64), x.sum(-1))


def test_non_convergence_is_an_error_not_a_wrong_answer():
    mdp = random_mdp(11, S=6, A=2, gamma=0.99)
    r = mdp.state_rewards(np.ones(3))
    with pytest.raises(planning.ConvergenceError, match="did not converge"):
        planning.soft_value_iteration(mdp, r, max_iters=4)
    with pytest.raises(planning.ConvergenceError):
        planning.value_iteration(mdp, r, max_iters=4)
    # traced: NaN, never a silently wrong number
    v = jax.jit(
        lambda r: planning.soft_plan_arrays(planning.mdp_arrays(mdp), r[None], 1.0, 1e-6, 4).v
    )(jnp.asarray(r, jnp.float32))
    assert np.isnan(np.asarray(v)).all()


def test_bad_inputs_are_named():
    mdp = random_mdp(12)
    with pytest.raises(ValueError, match=r"reward: expected shape \[S\] or \[M, S\] with S = 5"):
        planning.soft_value_iteration(mdp, np.zeros(4))
    with pytest.raises(ValueError, match="beta: expected a rationality > 0"):
        planning.soft_value_iteration(mdp, np.zeros(5), beta=0.0)
    with pytest.raises(ValueError, match="policy: expected shape"):
        planning.policy_evaluation(mdp, np.zeros(5), np.ones((5, 3)) / 3)
    with pytest.raises(ValueError, match="must sum to 1"):
        planning.policy_evaluation(mdp, np.zeros(5), np.ones((5, 2)))


def test_greedy_policy_splits_ties():
    pi = np.asarray(planning.greedy_policy(jnp.array([[1.0, 1.0, 0.0], [0.0, 2.0, 1.0]])))
    np.testing.assert_allclose(pi, [[0.5, 0.5, 0.0], [0.0, 1.0, 0.0]])
