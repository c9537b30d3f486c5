"""PolicyWalk (Ramachandran & Amir, 2007): the classic Bayesian IRL sampler, as a baseline.

Metropolis–Hastings on a grid of reward weights with spacing δ inside the box [−R_max, R_max]^K:
each step proposes a uniformly chosen neighbour (one coordinate ± δ), re-plans for the proposed
reward, and accepts with the usual ratio. The likelihood is Boltzmann over Q:
p(a|s, w) ∝ exp(α·Q*(s, a)) with the optimal Q* (the paper's), or with ``q="soft"`` over the
soft Q of DESIGN.md, so that it targets the same posterior as rewunc's NUTS model. The prior is
uniform on the box unless a ``log_prior`` is given. The paper re-uses the previous policy to warm
start policy iteration; here ``warm_start=True`` starts each proposal's value iteration from the
current state's V (the same values, fewer sweeps), and ``solver`` picks the fixed-point solver
(rewunc.planning), so the baseline runs on the same code as the NUTS model. ``fixed`` holds some
weights constant (e.g. the references of BIRL's ``parameterisation="reference"``), so both
samplers can target the same posterior.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from rewunc.birl.infer import diagnostics
from rewunc.birl.model import DemoData
from rewunc.planning import (
    _hard_backup,
    _value_fixed_point,
    bellman_q,
    soft_plan_arrays,
    to_public,
)
from rewunc.posterior import RewardPosterior


@dataclass(frozen=True)
class PolicyWalkResult:
    posterior: RewardPosterior
    acceptance_rate: float
    wall_seconds: float


def _make_log_likelihood(data: DemoData, alpha: float, q: str, tol: float, solver: str):
    """(w, V guess [L, S]) -> (log-likelihood, V [L, S]), jitted."""
    if q == "soft":  # exactly the NUTS model's likelihood (demo_log_likelihood), keeping V

        @jax.jit
        def soft_q_loglik(w, v0):
            def one_layout(mdp, counts, v0):
                reward = (mdp.features @ w)[None]
                plan = soft_plan_arrays(mdp, reward, alpha, tol, 20_000, v0=v0, solver=solver)
                ll = jnp.sum(counts * jax.nn.log_softmax(alpha * plan.q[0], axis=-1))
                return ll, plan.v[0]

            ll, v = jax.vmap(one_layout)(data.mdps, data.counts, v0)
            return jnp.sum(ll), v

        return soft_q_loglik

    @jax.jit
    def optimal_q_loglik(w, v0):  # the paper's: Boltzmann over the optimal Q*
        def one_layout(mdp, counts, v0):
            reward = (mdp.features @ w)[None]
            v, _, _ = _value_fixed_point(_hard_backup, mdp, reward, tol, 20_000, v0[None], solver)
            q_star = to_public(bellman_q(mdp, reward, v))[0]
            return jnp.sum(counts * jax.nn.log_softmax(alpha * q_star, axis=-1)), v[0]

        ll, v = jax.vmap(one_layout)(data.mdps, data.counts, v0)
        return jnp.sum(ll), v

    return optimal_q_loglik


def policy_walk(
    data: DemoData,
    feature_names: tuple[str, ...],
    *,
    n_samples: int = 2000,
    burn_in: int = 500,
    step: float = 0.1,
    r_max: float = 3.0,
    alpha: float = 1.0,
    q: str = "optimal",
    log_prior: Callable[[np.ndarray], float] | None = None,
    num_chains: int = 1,
    seed: int = 0,
    tol: float = 1e-6,
    solver: str = "sweeps",
    warm_start: bool = False,
    fixed: Mapping[int, float] | None = None,
) -> PolicyWalkResult:
    """Run PolicyWalk chains; returns their draws after burn-in as a RewardPosterior.

    Args:
        data: demonstration counts and layouts (``rewunc.birl.demo_data``).
        step: the grid spacing δ.
        r_max: the box half-width.
        alpha: the demonstrator's confidence (β in rewunc's notation).
        q: "optimal" (the paper) or "soft" (the same likelihood as rewunc's NUTS model).
        log_prior: log density on the grid (default: uniform on the box).
        solver: the value iteration's fixed-point solver ("sweeps" or "anderson").
        warm_start: start each proposal's solve from the current state's V.
        fixed: {feature index: value} held constant; the walk moves the other weights.
    """
    if q not in ("optimal", "soft"):
        raise ValueError(f"q: expected 'optimal' or 'soft', got {q!r}")
    if solver not in ("sweeps", "anderson"):
        raise ValueError(f"solver: expected 'sweeps' or 'anderson', got {solver!r}")
    K = len(feature_names)
    fixed = dict(fixed or {})
    if any(not 0 <= k < K for k in fixed):
        raise ValueError(f"fixed: feature indices must be in [0, {K}), got {sorted(fixed)}")
    free = np.array([k for k in range(K) if k not in fixed])
    loglik = _make_log_likelihood(data, alpha, q, tol, solver)
    n_grid = int(round(r_max / step))
    rng = np.random.default_rng(seed)
    prior = log_prior or (lambda w: 0.0)
    draws, chains, accepted = [], [], 0
    cold = jnp.zeros(data.counts.shape[:2], data.counts.dtype)

    def weights_of(idx):
        w = idx * step
        for k, value in fixed.items():
            w[k] = value
        return w

    jax.block_until_ready(loglik(jnp.zeros(K, jnp.float32), cold))  # compile outside the timing
    t0 = time.perf_counter()
    for c in range(num_chains):
        idx = rng.integers(-n_grid, n_grid + 1, size=K)
        w = weights_of(idx)
        ll, v = loglik(jnp.asarray(w, jnp.float32), cold)
        logp = float(ll) + prior(w)
        for t in range(burn_in + n_samples):
            prop = idx.copy()
            k = free[rng.integers(len(free))]
            prop[k] += rng.choice((-1, 1))
            if abs(prop[k]) <= n_grid:  # proposals off the box are rejected (prior 0 there)
                w_prop = weights_of(prop)
                ll, v_prop = loglik(jnp.asarray(w_prop, jnp.float32), v if warm_start else cold)
                logp_prop = float(ll) + prior(w_prop)
                if np.log(rng.random()) < logp_prop - logp:
                    idx, logp, v = prop, logp_prop, v_prop
                    accepted += t >= burn_in
            if t >= burn_in:
                draws.append(weights_of(idx))
                chains.append(c)
    wall = time.perf_counter() - t0
    weights = np.array(draws, dtype=np.float64)
    diag = diagnostics(weights.reshape(num_chains, n_samples, K))  # fixed weights: NaN
    diag["wall_seconds"] = wall
    post = RewardPosterior(
        weights,
        feature_names,
        np.array(chains),
        diagnostics=diag,
        config=dict(
            sampler="PolicyWalk",
            step=step,
            r_max=r_max,
            alpha=alpha,
            q=q,
            solver=solver,
            warm_start=warm_start,
            fixed={int(k): float(v) for k, v in fixed.items()},
            n_samples=n_samples,
            burn_in=burn_in,
            seed=seed,
        ),
    )
    return PolicyWalkResult(post, accepted / (num_chains * n_samples), wall)
