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

Precision: float32 by default; pass ``dtype=np.float64`` for float64 (the call then runs under
``jax.enable_x64``; to differentiate in float64, trace your own function under that context).
"""

from __future__ import annotations

import contextlib
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rewunc.fixed_point import SOLVERS, iterate, relative_change, solver_named  # noqa: F401
from rewunc.mdp import TabularMDP


class ConvergenceError(RuntimeError):
    """An iterative solve did not reach its tolerance within the allowed sweeps."""


class MDPArrays(NamedTuple):
    """A TabularMDP as JAX arrays (a pytree, so it can be traced, vmapped over layouts, jitted).

    Transitions are stored action-major, [A, B, S]: XLA on the CPU vectorises reductions over
    leading axes far better than over a short trailing one (3× faster sweeps, measured in
    benchmarks/soft_vi.py). Public results are still [.., S, A].
    """

    next_states: jax.Array  # int32 [A, B, S]
    probs: jax.Array  # float [A, B, S]
    terminal: jax.Array  # bool [S]
    initial: jax.Array  # float [S]
    features: jax.Array  # float [S, K]
    gamma: jax.Array  # float []


class Plan(NamedTuple):
    """Result of a value-iteration solve.

    Attributes:
        q: [..., S, A] action values (0 at terminal states).
        v: [..., S] state values (0 at terminal states).
        policy: [..., S, A] the soft (Boltzmann) or greedy policy (uniform at terminal states).
        iterations: sweeps used.
        residual: final relative sup-norm change of V.
    """

    q: jax.Array
    v: jax.Array
    policy: jax.Array
    iterations: jax.Array
    residual: jax.Array


def _default_tol(dtype) -> float:
    return 1e-6 if jnp.dtype(dtype) == jnp.float32 else 1e-10


@contextlib.contextmanager
def _precision(dtype):
    if dtype is not None and jnp.dtype(dtype) == jnp.float64:
        with jax.enable_x64(True):
            yield jnp.float64
    else:
        yield jnp.float32 if dtype is None else jnp.dtype(dtype)


def mdp_arrays(mdp: TabularMDP, dtype=jnp.float32) -> MDPArrays:
    """Convert a TabularMDP to JAX arrays of the given float dtype."""
    return MDPArrays(
        next_states=jnp.asarray(
            np.ascontiguousarray(mdp.next_states.transpose(1, 2, 0)), dtype=jnp.int32
        ),
        probs=jnp.asarray(np.ascontiguousarray(mdp.probs.transpose(1, 2, 0)), dtype=dtype),
        terminal=jnp.asarray(mdp.terminal),
        initial=jnp.asarray(mdp.initial, dtype=dtype),
        features=jnp.asarray(mdp.features, dtype=dtype),
        gamma=jnp.asarray(mdp.gamma, dtype=dtype),
    )


def pad_mdp(mdp: TabularMDP, n_states: int, n_successors: int | None = None) -> TabularMDP:
    """The same MDP with extra unreachable, absorbing, terminal, zero-feature states (and
    zero-probability successor slots), so layouts of different sizes can be solved in one batch.
    Values, policies and likelihoods of the original states are unchanged."""
    S, A, B = mdp.next_states.shape
    B2 = n_successors or B
    if n_states < S or B2 < B:
        raise ValueError(f"pad_mdp: cannot shrink [S={S}, B={B}] to [{n_states}, {B2}]")
    if (n_states, B2) == (S, B):
        return mdp
    ns = np.zeros((n_states, A, B2), dtype=np.int64)
    ns[:] = np.arange(n_states)[:, None, None]
    ns[:S, :, :B] = mdp.next_states
    ns[:S, :, B:] = mdp.next_states[:, :, :1]
    p = np.zeros((n_states, A, B2))
    p[:, :, 0] = 1.0
    p[:S] = 0.0
    p[:S, :, :B] = mdp.probs
    phi = np.zeros((n_states, mdp.n_features))
    phi[:S] = mdp.features
    init = np.zeros(n_states)
    init[:S] = mdp.initial
    term = np.ones(n_states, dtype=bool)
    term[:S] = mdp.terminal
    return TabularMDP(
        ns, p, phi, mdp.feature_names, init, term, mdp.gamma, mdp.true_weights, mdp.action_names
    )


def stack_mdps(mdps: list[TabularMDP], dtype=jnp.float32) -> MDPArrays:
    """Stack MDPs along a new leading axis, for ``jax.vmap`` over layouts.

    MDPs with fewer states or successors are padded (:func:`pad_mdp`) to the largest.
    """
    if len({m.n_actions for m in mdps}) != 1 or len({m.feature_names for m in mdps}) != 1:
        raise ValueError("stack_mdps: all MDPs must share their actions and feature names")
    S = max(m.n_states for m in mdps)
    B = max(m.next_states.shape[2] for m in mdps)
    arrays = [mdp_arrays(pad_mdp(m, S, B), dtype) for m in mdps]
    return jax.tree.map(lambda *xs: jnp.stack(xs), *arrays)


# --------------------------------------------------------------------------------------------
# Bellman operators (pure, batched over a leading reward axis M)


def bellman_q(arrays: MDPArrays, reward: jax.Array, v: jax.Array) -> jax.Array:
    """Action-major Q[m, a, s] = Σ_b P(s'|s, a)·(r[m, s'] + γ·v[m, s'])."""
    target = reward + arrays.gamma * v  # [M, S], the value of arriving in s'
    return jnp.sum(arrays.probs * target[:, arrays.next_states], axis=2)


def _to_public(q_t: jax.Array) -> jax.Array:
    """[M, A, S] -> [M, S, A]."""
    return jnp.swapaxes(q_t, -1, -2)


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
    w = _policy_kernel(arrays, pi)
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
    q1 = _to_public(jnp.where(arrays.terminal, 0.0, bellman_q(arrays, scaled, v1)))
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
    q1 = _to_public(jnp.where(arrays.terminal, 0.0, bellman_q(arrays, scaled, v1)))
    return Plan(
        q=q1 / beta, v=v1 / beta, policy=jax.nn.softmax(q1, axis=-1), iterations=it, residual=res
    )


@jax.jit
def _hard_vi(arrays, reward, tol, max_iters):
    v, it, res = _value_fixed_point(_hard_backup, arrays, reward, tol, max_iters)
    q = _to_public(jnp.where(arrays.terminal, 0.0, bellman_q(arrays, reward, v)))
    return Plan(q=q, v=v, policy=greedy_policy(q), iterations=it, residual=res)


def _prepare(mdp: TabularMDP, reward, dtype):
    """Validated arrays for a solve; eager calls are padded to a shape bucket (see _bucket)."""
    r = jnp.asarray(reward, dtype=dtype)
    if r.ndim not in (1, 2) or r.shape[-1] != mdp.n_states:
        raise ValueError(
            f"reward: expected shape [S] or [M, S] with S = {mdp.n_states}, got {tuple(r.shape)}"
        )
    squeeze, r = r.ndim == 1, jnp.atleast_2d(r)
    if _is_traced(r):
        return mdp_arrays(mdp, dtype), r, squeeze
    if not bool(jnp.all(jnp.isfinite(r))):
        raise ValueError("reward: expected finite values, got NaN or inf")
    padded = _bucket(mdp)
    r = jnp.pad(r, ((0, 0), (0, padded.n_states - mdp.n_states)))
    return mdp_arrays(padded, dtype), r, squeeze


# Eager solves pad S up to a multiple of this, so layouts of nearby sizes (a maze with more or
# fewer walls) share one compiled solver instead of compiling one per state count.
_STATE_BUCKET = 32


def _bucket(mdp: TabularMDP) -> TabularMDP:
    return pad_mdp(mdp, -(-mdp.n_states // _STATE_BUCKET) * _STATE_BUCKET)


def _is_traced(x) -> bool:
    return isinstance(x, jax.core.Tracer)


def _finish(
    plan: Plan, squeeze: bool, tol: float, max_iters: int, what: str, n_states: int
) -> Plan:
    # Inputs are checked finite, so NaN here means the solve did not converge (fixed_point).
    if not _is_traced(plan.v) and not bool(jnp.all(jnp.isfinite(plan.v))):
        raise ConvergenceError(
            f"{what} did not converge to tol {tol:g}: relative change {float(plan.residual):.3g} "
            f"after {int(plan.iterations)} sweeps (max_iters={max_iters}); raise max_iters, "
            "loosen tol, or use dtype=np.float64"
        )
    if not _is_traced(plan.v):  # eager: plain numpy (float64 survives the context), unpadded
        plan = Plan(
            *(np.asarray(x)[:, :n_states] for x in plan[:3]),
            np.asarray(plan.iterations),
            np.asarray(plan.residual),
        )
    if squeeze:
        plan = Plan(plan.q[0], plan.v[0], plan.policy[0], plan.iterations, plan.residual)
    return plan


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
    with _precision(dtype) as dt:
        tol = _default_tol(dt) if tol is None else tol
        arrays, r, squeeze = _prepare(mdp, reward, dt)
        beta = jnp.asarray(beta, dt)
        if _is_traced(r) or _is_traced(beta):
            plan = soft_plan_arrays(arrays, r, beta, tol, max_iters, solver=solver)
        else:
            if not float(beta) > 0:
                raise ValueError(f"beta: expected a rationality > 0, got {float(beta)}")
            plan = _soft_vi(arrays, r, beta, jnp.asarray(tol, dt), max_iters, solver)
        return _finish(plan, squeeze, tol, max_iters, "soft_value_iteration", mdp.n_states)


def value_iteration(
    mdp: TabularMDP, reward, *, tol: float | None = None, max_iters: int = 100_000, dtype=None
) -> Plan:
    """Hard (optimal) value iteration; the policy is greedy, splitting ties uniformly.

    Args and returns as :func:`soft_value_iteration` (not differentiable).
    """
    with _precision(dtype) as dt:
        tol = _default_tol(dt) if tol is None else tol
        arrays, r, squeeze = _prepare(mdp, reward, dt)
        plan = _hard_vi(arrays, r, jnp.asarray(tol, dt), max_iters)
        return _finish(plan, squeeze, tol, max_iters, "value_iteration", mdp.n_states)


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


# --------------------------------------------------------------------------------------------
# Policy evaluation and occupancy measures


def _policy_kernel(arrays: MDPArrays, pi_t: jax.Array) -> jax.Array:
    """W[m,a,b,s] = (1 − term(s))·π(a|s)·P(s'_b|s,a), one step of the policy's dynamics.

    ``pi_t`` is the action-major policy [M, A, S].
    """
    return (~arrays.terminal) * pi_t[:, :, None, :] * arrays.probs[None]


@jax.jit
def _policy_eval(arrays, reward, policy, tol, max_iters):
    w = _policy_kernel(arrays, _to_public(policy))

    def step(v):
        target = reward + arrays.gamma * v
        return jnp.sum(w * target[:, arrays.next_states], axis=(1, 2))

    return iterate(step, jnp.zeros_like(reward), tol, arrays.gamma, max_iters)


@jax.jit
def _occupancy(arrays, policy, tol, max_iters):
    w = _policy_kernel(arrays, _to_public(policy))
    M, S = policy.shape[:2]
    flat_ns = arrays.next_states.reshape(-1)
    init = jnp.broadcast_to(arrays.initial, (M, S))

    def step(d):  # d(s') = init(s') + γ Σ d(s)·W[a,b,s]·1[ns = s'], counted only while not ended
        arrive = jnp.zeros_like(d).at[:, flat_ns].add((w * d[:, None, None, :]).reshape(M, -1))
        return init + arrays.gamma * jnp.where(arrays.terminal, 0.0, arrive)

    d, it, res = iterate(step, init, tol, arrays.gamma, max_iters)
    return d[..., None] * policy * (~arrays.terminal)[None, :, None], it, res


def _prepare_policy(mdp: TabularMDP, policy, dtype, n_states: int):
    """Validated policy [M, n_states, A]: padded states (see _bucket) act uniformly."""
    pi = jnp.asarray(policy, dtype=dtype)
    if pi.ndim not in (2, 3) or pi.shape[-2:] != (mdp.n_states, mdp.n_actions):
        raise ValueError(
            f"policy: expected shape [S, A] or [M, S, A] with (S, A) = "
            f"({mdp.n_states}, {mdp.n_actions}), got {tuple(pi.shape)}"
        )
    if not _is_traced(pi) and not bool(jnp.allclose(pi.sum(-1), 1.0, atol=1e-4)):
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
    with _precision(dtype) as dt:
        tol = _default_tol(dt) if tol is None else tol
        arrays, r, squeeze_r = _prepare(mdp, reward, dt)
        S = r.shape[-1]
        pi, squeeze_p = _prepare_policy(mdp, policy, dt, S)
        M = max(r.shape[0], pi.shape[0])
        r = jnp.broadcast_to(r, (M, S))
        pi = jnp.broadcast_to(pi, (M, S, mdp.n_actions))
        v, it, res = _policy_eval(arrays, r, pi, jnp.asarray(tol, dt), max_iters)
        plan = Plan(v, v, v, it, res)
        v = _finish(plan, False, tol, max_iters, "policy_evaluation", mdp.n_states).v
        return v[0] if (squeeze_r and squeeze_p) else v


def state_action_occupancy(
    mdp: TabularMDP, policy, *, tol: float | None = None, max_iters: int = 100_000, dtype=None
) -> np.ndarray:
    """x[.., S, A] = Σ_t γ^t P(s_t = s, a_t = a, episode not yet ended), from ``mdp.initial``.

    The expected return of π is Σ_{s,a} x(s, a)·Σ_{s'} P(s'|s, a)·r(s').
    """
    with _precision(dtype) as dt:
        tol = _default_tol(dt) if tol is None else tol
        padded = _bucket(mdp)
        pi, squeeze = _prepare_policy(mdp, policy, dt, padded.n_states)
        x, it, res = _occupancy(mdp_arrays(padded, dt), pi, jnp.asarray(tol, dt), max_iters)
        plan = Plan(x, x, x, it, res)
        x = _finish(plan, False, tol, max_iters, "state_action_occupancy", mdp.n_states).v
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
