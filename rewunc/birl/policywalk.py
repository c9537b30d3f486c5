"""PolicyWalk (Ramachandran & Amir, 2007): the classic Bayesian IRL sampler, as a baseline.

Metropolis–Hastings on a grid of reward weights with spacing δ inside the box [−R_max, R_max]^K:
each step proposes a uniformly chosen neighbour (one coordinate ± δ), re-plans for the proposed
reward, and accepts with the usual ratio. The likelihood is Boltzmann over Q:
p(a|s, w) ∝ exp(α·Q*(s, a)) with the optimal Q* (the paper's), or with ``q="soft"`` over the
soft Q of DESIGN.md, so that it targets the same posterior as rewunc's NUTS model. The prior is
uniform on the box unless a ``log_prior`` is given. (The paper re-uses the previous policy to warm
start policy iteration; we re-plan from scratch with the jitted value iteration, which is faster
here.)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from rewunc.birl.infer import diagnostics
from rewunc.birl.model import DemoData, demo_log_likelihood
from rewunc.planning import _hard_backup, _to_public, _value_fixed_point, bellman_q
from rewunc.posterior import RewardPosterior


@dataclass(frozen=True)
class PolicyWalkResult:
    posterior: RewardPosterior
    acceptance_rate: float
    wall_seconds: float


def _make_log_likelihood(data: DemoData, alpha: float, q: str, tol: float):
    if q == "soft":  # exactly the NUTS model's likelihood
        return jax.jit(lambda w: demo_log_likelihood(data, w, alpha, tol))

    @jax.jit
    def optimal_q_loglik(w):  # the paper's: Boltzmann over the optimal Q*
        def one_layout(mdp, counts):
            reward = (mdp.features @ w)[None]
            v, _, _ = _value_fixed_point(_hard_backup, mdp, reward, tol, 20_000)
            q_star = _to_public(bellman_q(mdp, reward, v))[0]
            return jnp.sum(counts * jax.nn.log_softmax(alpha * q_star, axis=-1))

        return jnp.sum(jax.vmap(one_layout)(data.mdps, data.counts))

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
) -> PolicyWalkResult:
    """Run PolicyWalk chains; returns their draws after burn-in as a RewardPosterior.

    Args:
        data: demonstration counts and layouts (``rewunc.birl.demo_data``).
        step: the grid spacing δ.
        r_max: the box half-width.
        alpha: the demonstrator's confidence (β in rewunc's notation).
        q: "optimal" (the paper) or "soft" (the same likelihood as rewunc's NUTS model).
        log_prior: log density on the grid (default: uniform on the box).
    """
    if q not in ("optimal", "soft"):
        raise ValueError(f"q: expected 'optimal' or 'soft', got {q!r}")
    loglik = _make_log_likelihood(data, alpha, q, tol)
    K = len(feature_names)
    n_grid = int(round(r_max / step))
    rng = np.random.default_rng(seed)
    prior = log_prior or (lambda w: 0.0)
    draws, chains, accepted = [], [], 0
    jax.block_until_ready(loglik(jnp.zeros(K, jnp.float32)))  # compile outside the timing
    t0 = time.perf_counter()
    for c in range(num_chains):
        idx = rng.integers(-n_grid, n_grid + 1, size=K)
        w = idx * step
        logp = float(loglik(jnp.asarray(w, jnp.float32))) + prior(w)
        for t in range(burn_in + n_samples):
            prop = idx.copy()
            k = rng.integers(K)
            prop[k] += rng.choice((-1, 1))
            if abs(prop[k]) <= n_grid:  # proposals off the box are rejected (prior 0 there)
                w_prop = prop * step
                logp_prop = float(loglik(jnp.asarray(w_prop, jnp.float32))) + prior(w_prop)
                if np.log(rng.random()) < logp_prop - logp:
                    idx, logp = prop, logp_prop
                    accepted += t >= burn_in
            if t >= burn_in:
                draws.append(idx * step)
                chains.append(c)
    wall = time.perf_counter() - t0
    weights = np.array(draws, dtype=np.float64)
    diag = diagnostics(weights.reshape(num_chains, n_samples, K))
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
            n_samples=n_samples,
            burn_in=burn_in,
            seed=seed,
        ),
    )
    return PolicyWalkResult(post, accepted / (num_chains * n_samples), wall)
