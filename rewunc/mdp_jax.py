"""A :class:`~rewunc.mdp.TabularMDP` as JAX arrays, and the plumbing every exact solver shares.

:func:`mdp_arrays` converts one MDP (transitions stored action-major, [A, B, S]), :func:`pad_mdp`
and :func:`stack_mdps` batch layouts of different sizes; ``prepare`` validates a reward and pads
eager solves to a shape bucket (one compiled solver for nearby sizes); ``finish`` turns a
non-converged solve into :class:`ConvergenceError` (NaN inside ``jit``/``grad``) and an eager
result into plain, unpadded numpy. Used by :mod:`rewunc.planning` (value iteration) and
:mod:`rewunc.policy_evaluation` (policy values and occupancy measures).
"""

from __future__ import annotations

import contextlib
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

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


def default_tol(dtype) -> float:
    return 1e-6 if jnp.dtype(dtype) == jnp.float32 else 1e-10


@contextlib.contextmanager
def precision(dtype):
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


def to_public(q_t: jax.Array) -> jax.Array:
    """[M, A, S] -> [M, S, A]."""
    return jnp.swapaxes(q_t, -1, -2)


def prepare(mdp: TabularMDP, reward, dtype):
    """Validated arrays for a solve; eager calls are padded to a shape bucket (see bucket)."""
    r = jnp.asarray(reward, dtype=dtype)
    if r.ndim not in (1, 2) or r.shape[-1] != mdp.n_states:
        raise ValueError(
            f"reward: expected shape [S] or [M, S] with S = {mdp.n_states}, got {tuple(r.shape)}"
        )
    squeeze, r = r.ndim == 1, jnp.atleast_2d(r)
    if is_traced(r):
        return mdp_arrays(mdp, dtype), r, squeeze
    if not bool(jnp.all(jnp.isfinite(r))):
        raise ValueError("reward: expected finite values, got NaN or inf")
    padded = bucket(mdp)
    r = jnp.pad(r, ((0, 0), (0, padded.n_states - mdp.n_states)))
    return mdp_arrays(padded, dtype), r, squeeze


# Eager solves pad S up to a multiple of this, so layouts of nearby sizes (a maze with more or
# fewer walls) share one compiled solver instead of compiling one per state count.
_STATE_BUCKET = 32


def bucket(mdp: TabularMDP) -> TabularMDP:
    return pad_mdp(mdp, -(-mdp.n_states // _STATE_BUCKET) * _STATE_BUCKET)


def is_traced(x) -> bool:
    return isinstance(x, jax.core.Tracer)


def finish(plan: Plan, squeeze: bool, tol: float, max_iters: int, what: str, n_states: int) -> Plan:
    # Inputs are checked finite, so NaN here means the solve did not converge (fixed_point).
    if not is_traced(plan.v) and not bool(jnp.all(jnp.isfinite(plan.v))):
        raise ConvergenceError(
            f"{what} did not converge to tol {tol:g}: relative change {float(plan.residual):.3g} "
            f"after {int(plan.iterations)} sweeps (max_iters={max_iters}); raise max_iters, "
            "loosen tol, or use dtype=np.float64"
        )
    if not is_traced(plan.v):  # eager: plain numpy (float64 survives the context), unpadded
        plan = Plan(
            *(np.asarray(x)[:, :n_states] for x in plan[:3]),
            np.asarray(plan.iterations),
            np.asarray(plan.residual),
        )
    if squeeze:
        plan = Plan(plan.q[0], plan.v[0], plan.policy[0], plan.iterations, plan.residual)
    return plan
