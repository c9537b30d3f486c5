"""Exact policy evaluation and occupancy measures of a stochastic policy on a TabularMDP, in JAX.

:func:`policy_evaluation` gives V^π, :func:`state_action_occupancy` the discounted occupancy
x(s, a) = Σ_t γ^t P(s_t = s, a_t = a), and :func:`state_occupancy`, :func:`feature_expectations`
what follows from it (μ = E[Σ_t γ^t φ(s_{t+1})]). Each iterates its contraction to ``tol`` as the
planners do (:mod:`rewunc.fixed_point`); float32 by default, ``dtype=np.float64`` on request.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from rewunc.fixed_point import iterate
from rewunc.mdp import TabularMDP
from rewunc.mdp_jax import (
    MDPArrays,
    Plan,
    bucket,
    default_tol,
    finish,
    is_traced,
    mdp_arrays,
    precision,
    prepare,
    to_public,
)


def policy_kernel(arrays: MDPArrays, pi_t: jax.Array) -> jax.Array:
    """W[m,a,b,s] = (1 − term(s))·π(a|s)·P(s'_b|s,a), one step of the policy's dynamics.

    ``pi_t`` is the action-major policy [M, A, S].
    """
    return (~arrays.terminal) * pi_t[:, :, None, :] * arrays.probs[None]


@jax.jit
def _policy_eval(arrays, reward, policy, tol, max_iters):
    w = policy_kernel(arrays, to_public(policy))

    def step(v):
        target = reward + arrays.gamma * v
        return jnp.sum(w * target[:, arrays.next_states], axis=(1, 2))

    return iterate(step, jnp.zeros_like(reward), tol, arrays.gamma, max_iters)


@jax.jit
def _occupancy(arrays, policy, tol, max_iters):
    w = policy_kernel(arrays, to_public(policy))
    M, S = policy.shape[:2]
    flat_ns = arrays.next_states.reshape(-1)
    init = jnp.broadcast_to(arrays.initial, (M, S))

    def step(d):  # d(s') = init(s') + γ Σ d(s)·W[a,b,s]·1[ns = s'], counted only while not ended
        arrive = jnp.zeros_like(d).at[:, flat_ns].add((w * d[:, None, None, :]).reshape(M, -1))
        return init + arrays.gamma * jnp.where(arrays.terminal, 0.0, arrive)

    d, it, res = iterate(step, init, tol, arrays.gamma, max_iters)
    return d[..., None] * policy * (~arrays.terminal)[None, :, None], it, res


def _prepare_policy(mdp: TabularMDP, policy, dtype, n_states: int):
    """Validated policy [M, n_states, A]: padded states (see bucket) act uniformly."""
    pi = jnp.asarray(policy, dtype=dtype)
    if pi.ndim not in (2, 3) or pi.shape[-2:] != (mdp.n_states, mdp.n_actions):
        raise ValueError(
            f"policy: expected shape [S, A] or [M, S, A] with (S, A) = "
            f"({mdp.n_states}, {mdp.n_actions}), got {tuple(pi.shape)}"
        )
    if not is_traced(pi) and not bool(jnp.allclose(pi.sum(-1), 1.0, atol=1e-4)):
        raise ValueError("policy: each row π[s, :] must sum to 1")
    pi2 = pi.reshape((-1,) + pi.shape[-2:])
    pad = n_states - mdp.n_states
    if pad:
        pi2 = jnp.concatenate(
            [pi2, jnp.full((pi2.shape[0], pad, mdp.n_actions), 1 / mdp.n_actions, dtype)], 1
        )
    return pi2, pi.ndim == 2


def policy_evaluation(
    mdp: TabularMDP,
    reward,
    policy,
    *,
    tol: float | None = None,
    max_iters: int = 100_000,
    dtype=None,
) -> np.ndarray:
    """V^π[.., S] for a stochastic policy π[.., S, A] (0 at terminal states).

    ``reward`` [S] or [M, S] and ``policy`` [S, A] or [M, S, A] broadcast along M.
    """
    with precision(dtype) as dt:
        tol = default_tol(dt) if tol is None else tol
        arrays, r, squeeze_r = prepare(mdp, reward, dt)
        S = r.shape[-1]
        pi, squeeze_p = _prepare_policy(mdp, policy, dt, S)
        M = max(r.shape[0], pi.shape[0])
        r = jnp.broadcast_to(r, (M, S))
        pi = jnp.broadcast_to(pi, (M, S, mdp.n_actions))
        v, it, res = _policy_eval(arrays, r, pi, jnp.asarray(tol, dt), max_iters)
        plan = Plan(v, v, v, it, res)
        v = finish(plan, False, tol, max_iters, "policy_evaluation", mdp.n_states).v
        return v[0] if (squeeze_r and squeeze_p) else v


def state_action_occupancy(
    mdp: TabularMDP, policy, *, tol: float | None = None, max_iters: int = 100_000, dtype=None
) -> np.ndarray:
    """x[.., S, A] = Σ_t γ^t P(s_t = s, a_t = a, episode not yet ended), from ``mdp.initial``.

    The expected return of π is Σ_{s,a} x(s, a)·Σ_{s'} P(s'|s, a)·r(s').
    """
    with precision(dtype) as dt:
        tol = default_tol(dt) if tol is None else tol
        padded = bucket(mdp)
        pi, squeeze = _prepare_policy(mdp, policy, dt, padded.n_states)
        x, it, res = _occupancy(mdp_arrays(padded, dt), pi, jnp.asarray(tol, dt), max_iters)
        plan = Plan(x, x, x, it, res)
        x = finish(plan, False, tol, max_iters, "state_action_occupancy", mdp.n_states).v
        return x[0] if squeeze else x


def state_occupancy(mdp: TabularMDP, policy, **kwargs) -> np.ndarray:
    """d[.., S] = Σ_a x(s, a): discounted expected visits of each non-terminal state."""
    return state_action_occupancy(mdp, policy, **kwargs).sum(-1)


def feature_expectations(mdp: TabularMDP, policy, **kwargs) -> np.ndarray:
    """μ[.., K] = E[Σ_t γ^t φ(s_{t+1})], the discounted features of the states arrived in."""
    x = np.asarray(state_action_occupancy(mdp, policy, **kwargs), dtype=np.float64)
    # features of the state arrived in, averaged over successors: [S, A, K]
    phi_next = np.einsum("sab,sabk->sak", mdp.probs, mdp.features[mdp.next_states])
    return np.einsum("...sa,sak->...k", x, phi_next)
