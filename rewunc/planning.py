"""Exact planners for a :class:`~rewunc.mdp.TabularMDP`, in JAX, batched over reward vectors.

Every planner takes a state reward ``reward`` of shape [S] or [M, S] (r(s') = w·φ(s'), the reward
of *arriving* in s') and returns arrays with the same leading batch axis (squeezed for [S] input).

Soft (Boltzmann) value iteration with rationality β (DESIGN.md):

    Q(s, a) = Σ_{s'} P(s'|s, a) [r(s') + γ·V(s')],      V(s') = 0 for terminal s'
    V(s)    = (1/β)·logsumexp_a β·Q(s, a),              π(a|s) = exp(β·(Q(s, a) − V(s)))

It is solved in the scaled form V_β(r) = V_1(β·r)/β, so β stays differentiable. Gradients with
respect to the reward use implicit differentiation of the fixed point: the backward pass solves the
adjoint linear system (I − γ·Wᵀ)·u = ḡ by its own contraction, instead of backpropagating through
the hundreds of sweeps of the forward solve.

Solvers: ``solver="sweeps"`` (the default) is plain value iteration, whose error shrinks by about γ
per sweep; ``solver="anderson"`` extrapolates from the last few sweeps (Anderson acceleration) and
needs several times fewer sweeps on LavaLand grids at γ = 0.95 (benchmarks/soft_vi.py). The
solver is used for the forward fixed point and for the backward adjoint system alike, and both
solvers stop by the rule below, so they agree to the tolerance. ``v0`` warm-starts the forward
solve: any finite guess converges to the same fixed point, a close one in fewer sweeps. In the
traced core it is an array argument, so a new guess does not recompile.

Convergence: ``tol`` bounds the error of V relative to its scale. A solve stops when the sup-norm
change ρ of V between sweeps satisfies γ/(1−γ)·ρ ≤ tol·max(1, ‖V‖∞) (the contraction's error
bound), or when ρ reaches the dtype's rounding floor (4 ulp of max(1, ‖V‖∞)), or when ρ is at
rounding level (≤ 1024 ulp) and has stopped shrinking: sweeps cannot improve V any further.
A solve that does not converge within ``max_iters`` sweeps raises
:class:`ConvergenceError` when called eagerly, and returns NaN (never a silently wrong number)
when traced inside ``jit``/``grad``.

Policy evaluation and occupancy measures live in :mod:`rewunc.policy_evaluation`, the array
conversion and solve plumbing in :mod:`rewunc.mdp_jax`; both are re-exported here.

Precision: float32 by default; pass ``dtype=np.float64`` for float64 (the call then runs under
``jax.enable_x64``; to differentiate in float64, trace your own function under that context).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from rewunc.fixed_point import SOLVERS, iterate, relative_change, solver_named  # noqa: F401
from rewunc.mdp import TabularMDP
from rewunc.mdp_jax import (  # noqa: F401  (re-exported: planning's public API since the start)
    ConvergenceError,
    MDPArrays,
    Plan,
    bucket,
    default_tol,
    finish,
    is_traced,
    mdp_arrays,
    pad_mdp,
    precision,
    prepare,
    stack_mdps,
    to_public,
)
from rewunc.policy_evaluation import (  # noqa: F401  (re-exported, as above)
    feature_expectations,
    policy_evaluation,
    policy_kernel,
    state_action_occupancy,
    state_occupancy,
)

# --------------------------------------------------------------------------------------------
# Bellman operators (pure, batched over a leading reward axis M)


def bellman_q(arrays: MDPArrays, reward: jax.Array, v: jax.Array) -> jax.Array:
    """Action-major Q[m, a, s] = Σ_b P(s'|s, a)·(r[m, s'] + γ·v[m, s'])."""
    target = reward + arrays.gamma * v  # [M, S], the value of arriving in s'
    return jnp.sum(arrays.probs * target[:, arrays.next_states], axis=2)


def _mask_terminal(arrays: MDPArrays, v: jax.Array) -> jax.Array:
    return jnp.where(arrays.terminal, 0.0, v)


def _soft_backup(arrays, reward, v):
    return _mask_terminal(arrays, jax.nn.logsumexp(bellman_q(arrays, reward, v), axis=1))


def _hard_backup(arrays, reward, v):
    return _mask_terminal(arrays, jnp.max(bellman_q(arrays, reward, v), axis=1))


def _value_fixed_point(backup, arrays, reward, tol, max_iters, v0=None, solver="sweeps"):
    """Iterate V ← backup(arrays, reward, V) from v0 (default 0); returns (V, sweeps, residual)."""
    v0 = jnp.zeros_like(reward) if v0 is None else jnp.broadcast_to(v0, reward.shape)
    solve = solver_named(solver)
    return solve(lambda v: backup(arrays, reward, v), v0, tol, arrays.gamma, max_iters)


# --------------------------------------------------------------------------------------------
# The soft fixed point with implicit differentiation


@partial(jax.custom_vjp, nondiff_argnums=(5, 6))
def _soft_fixed_point(reward, v0, arrays, tol, grad_tol, max_iters, solver):
    """V_1(reward): the β = 1 soft value function, [M, S], solved from the guess v0 [M, S];
    its backward pass solves the adjoint system to ``grad_tol``."""
    v, _, _ = _value_fixed_point(_soft_backup, arrays, reward, tol, max_iters, v0, solver)
    return v


def _soft_fixed_point_fwd(reward, v0, arrays, tol, grad_tol, max_iters, solver):
    v = _soft_fixed_point(reward, v0, arrays, tol, grad_tol, max_iters, solver)
    return v, (v, reward, arrays, grad_tol)


def _soft_fixed_point_bwd(max_iters, solver, res, g):
    v, reward, arrays, grad_tol = res
    r_bar = _soft_adjoint(v, reward, arrays, grad_tol, max_iters, solver, g)[0]
    return r_bar, None, None, None, None


def _soft_adjoint(v, reward, arrays, tol, max_iters, solver, g):
    """The implicit-differentiation backward pass: (r̄, sweeps) for the cotangent ḡ of V_1."""
    # dV = W·(dr + γ dV) with W[m,a,b,s] = (1 − term(s))·π(a|s)·P(s'_b|s,a); so
    # r̄ = Wᵀ u where u = ḡ + γ·Wᵀ u.
    pi = jax.nn.softmax(bellman_q(arrays, reward, v), axis=1)  # [M, A, S]
    w = policy_kernel(arrays, pi)
    M = reward.shape[0]
    flat_ns = arrays.next_states.reshape(-1)

    def w_transpose(x):  # (Wᵀ x)[m, s'] = Σ_{a,b,s: ns = s'} W[m,a,b,s]·x[m,s]
        contrib = (w * x[:, None, None, :]).reshape(M, -1)
        return jnp.zeros_like(x).at[:, flat_ns].add(contrib)

    u, it, _ = solver_named(solver)(
        lambda u: g + arrays.gamma * w_transpose(u), g, tol, arrays.gamma, max_iters
    )
    return w_transpose(u), it


_soft_fixed_point.defvjp(_soft_fixed_point_fwd, _soft_fixed_point_bwd)


def soft_plan_arrays(
    arrays: MDPArrays,
    reward: jax.Array,
    beta,
    tol,
    max_iters,
    *,
    v0=None,
    solver="sweeps",
    grad_tol=None,
) -> Plan:
    """Soft value iteration on MDPArrays; reward [M, S]. Differentiable in reward and beta.

    This is the traceable core (use it inside jit, vmap over layouts, and NumPyro models).
    ``v0`` [S] or [M, S] is a guess of V (the returned ``v``'s units) to start the forward solve
    from (default 0); it changes the sweeps needed, not the result beyond ``tol``, and carries no
    gradient. ``solver`` is "sweeps" or "anderson" (module docstring), for both passes.
    ``grad_tol`` (default ``tol``) is the tolerance of the backward pass's adjoint solve: a
    looser one gives a cheaper, approximate gradient (HMC stays exact with any deterministic
    approximate gradient: leapfrog remains reversible and volume-preserving, and the
    acceptance uses the values, solved to ``tol``).
    """
    scaled = beta * reward
    start = jnp.zeros_like(scaled) if v0 is None else jnp.broadcast_to(beta * v0, scaled.shape)
    grad_tol = tol if grad_tol is None else grad_tol
    v1 = _soft_fixed_point(
        scaled, jax.lax.stop_gradient(start), arrays, tol, grad_tol, max_iters, solver
    )
    q1 = to_public(jnp.where(arrays.terminal, 0.0, bellman_q(arrays, scaled, v1)))
    policy = jax.nn.softmax(q1, axis=-1)
    residual = relative_change(_soft_backup(arrays, scaled, v1), v1)
    return Plan(
        q=q1 / beta, v=v1 / beta, policy=policy, iterations=jnp.asarray(-1), residual=residual
    )


@partial(jax.jit, static_argnames=("max_iters", "solver"))
def _soft_vi(arrays, reward, beta, tol, max_iters, solver="sweeps"):
    # Eager entry point: report iterations too (the differentiable core does not expose them).
    scaled = beta * reward
    v1, it, res = _value_fixed_point(_soft_backup, arrays, scaled, tol, max_iters, None, solver)
    q1 = to_public(jnp.where(arrays.terminal, 0.0, bellman_q(arrays, scaled, v1)))
    return Plan(
        q=q1 / beta, v=v1 / beta, policy=jax.nn.softmax(q1, axis=-1), iterations=it, residual=res
    )


@jax.jit
def _hard_vi(arrays, reward, tol, max_iters):
    v, it, res = _value_fixed_point(_hard_backup, arrays, reward, tol, max_iters)
    q = to_public(jnp.where(arrays.terminal, 0.0, bellman_q(arrays, reward, v)))
    return Plan(q=q, v=v, policy=greedy_policy(q), iterations=it, residual=res)


def soft_value_iteration(
    mdp: TabularMDP,
    reward,
    beta: float = 1.0,
    *,
    tol: float | None = None,
    max_iters: int = 100_000,
    dtype=None,
    solver: str = "sweeps",
) -> Plan:
    """Soft (Boltzmann-rational) value iteration, exactly as DESIGN.md defines it.

    Args:
        mdp: the MDP.
        reward: [S] or [M, S] reward of arriving in each state.
        beta: rationality β > 0 (β → ∞ recovers hard value iteration).
        tol: relative convergence tolerance (default 1e-6 in float32, 1e-10 in float64).
        max_iters: sweep budget; exceeding it raises ConvergenceError.
        dtype: np.float32 (default) or np.float64.
        solver: "sweeps" (plain value iteration) or "anderson" (module docstring).

    Returns:
        Plan with q [.., S, A], v [.., S] and the Boltzmann policy [.., S, A]. Differentiable in
        ``reward`` (implicit differentiation) and in ``beta``.
    """
    solver_named(solver)  # refuses an unknown solver before any work
    with precision(dtype) as dt:
        tol = default_tol(dt) if tol is None else tol
        arrays, r, squeeze = prepare(mdp, reward, dt)
        beta = jnp.asarray(beta, dt)
        if is_traced(r) or is_traced(beta):
            plan = soft_plan_arrays(arrays, r, beta, tol, max_iters, solver=solver)
        else:
            if not float(beta) > 0:
                raise ValueError(f"beta: expected a rationality > 0, got {float(beta)}")
            plan = _soft_vi(arrays, r, beta, jnp.asarray(tol, dt), max_iters, solver)
        return finish(plan, squeeze, tol, max_iters, "soft_value_iteration", mdp.n_states)


def value_iteration(
    mdp: TabularMDP, reward, *, tol: float | None = None, max_iters: int = 100_000, dtype=None
) -> Plan:
    """Hard (optimal) value iteration; the policy is greedy, splitting ties uniformly.

    Args and returns as :func:`soft_value_iteration` (not differentiable).
    """
    with precision(dtype) as dt:
        tol = default_tol(dt) if tol is None else tol
        arrays, r, squeeze = prepare(mdp, reward, dt)
        plan = _hard_vi(arrays, r, jnp.asarray(tol, dt), max_iters)
        return finish(plan, squeeze, tol, max_iters, "value_iteration", mdp.n_states)


def optimal_value(mdp: TabularMDP, weights) -> float:
    """V*(s₀): the exact optimal discounted value under ``mdp.initial`` for linear ``weights`` [F]
    (float64 value iteration; the Oracle's objective)."""
    plan = value_iteration(mdp, mdp.state_rewards(weights), dtype=np.float64)
    return float(mdp.initial @ plan.v)


def greedy_policy(q: jax.Array, atol: float = 1e-6) -> jax.Array:
    """π[.., S, A], uniform over the actions within ``atol`` of the best (ties split evenly)."""
    best = q >= jnp.max(q, axis=-1, keepdims=True) - atol
    return best / jnp.sum(best, axis=-1, keepdims=True)


def boltzmann_policy(q: jax.Array, beta: float) -> jax.Array:
    """π(a|s) ∝ exp(β·Q(s, a)), [.., S, A]."""
    return jax.nn.softmax(beta * q, axis=-1)
