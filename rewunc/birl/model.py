"""NumPyro model functions for Bayesian IRL (plain functions; inference lives in ``infer``).

Likelihoods:

* demonstrations: every demonstrated action is Boltzmann-rational under the soft Q of its own
  layout's MDP, log p(a|s) = β·(Q(s, a) − V(s)) (DESIGN.md). Data enter as counts N[L, S, A] of
  (state, action) pairs per layout; the L layouts share w and are solved together with
  ``jax.vmap`` (one batched solve, not a Python loop).
* preferences: Bradley–Terry over trajectory feature counts (as in Bayesian REX),
  p(τ_i ≻ τ_j) = σ(β·w·(Φ_i − Φ_j)), for any env that emits ``info["features"]``.

What the data cannot identify, and how the defaults handle it:

* Scale. Only β·w enters the demonstration likelihood, so with β inferred the posterior runs
  along a ridge in (β, |w|). Default: β fixed (1.0), so w carries the scale. With ``beta=None``,
  use ``prior="sphere"`` (unit-norm w: only the direction is inferred) or accept that the
  priors decide where on the ridge the posterior sits.
* Constants. Adding c to every weight of features that sum to one in every state (LavaLand's
  terrain one-hot) adds c to every step's reward; in a discounted MDP with terminal states this
  changes returns only through episode length, so it is weakly identified. The Normal prior
  keeps it proper; interpret such weights relative to each other.
* Unseen features. A feature that is zero in every state of every demonstrated layout (lava in
  LavaLand's training layouts) does not enter the likelihood: its posterior is its prior. This is
  the point of Inverse Reward Design, and tests check it.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from rewunc.planning import MDPArrays, soft_plan_arrays

PRIORS = ("normal", "laplace", "sphere")


class DemoData(NamedTuple):
    """Static-shape demonstration data: layouts [L, ...] and counts [L, S, A]."""

    mdps: MDPArrays
    counts: jax.Array


class PreferenceData(NamedTuple):
    """Pairs of trajectory feature counts, the preferred one first: [N, K] each."""

    better: jax.Array
    worse: jax.Array


def demo_log_likelihood(data: DemoData, w: jax.Array, beta, tol=1e-6, max_iters=20_000):
    """Σ_l Σ_{s,a} N[l, s, a]·log π_l(a|s; w, β) (a scalar)."""

    def one_layout(mdp: MDPArrays, counts):
        reward = (mdp.features @ w)[None]
        plan = soft_plan_arrays(mdp, reward, beta, tol, max_iters)
        return jnp.sum(counts * jax.nn.log_softmax(beta * plan.q[0], axis=-1))

    return jnp.sum(jax.vmap(one_layout)(data.mdps, data.counts))


def preference_log_likelihood(data: PreferenceData, w: jax.Array, beta):
    """Σ_pairs log σ(β·w·(Φ_better − Φ_worse))."""
    return jnp.sum(jax.nn.log_sigmoid(beta * (data.better - data.worse) @ w))


def reward_model(
    demos: DemoData | None,
    preferences: PreferenceData | None,
    *,
    prior: str = "normal",
    prior_scale: float | tuple[float, ...] = 1.0,
    beta: float | None = 1.0,
    beta_prior: tuple[float, float] = (0.0, 1.0),
    tol: float = 1e-6,
    prior_loc: float | tuple[float, ...] = 0.0,
):
    """Reward weights w [K] (and β if ``beta`` is None) given demonstrations and preferences.

    Args:
        demos, preferences: data, either may be None (K is read from their static shapes).
        prior: "normal" (N(loc, scale²) per weight), "laplace" (Laplace(loc, scale)) or
            "sphere" (w = z/|z| with z ~ N(0, I): uniform on the unit sphere).
        prior_loc, prior_scale: one number for every weight, or K numbers (normal and laplace),
            e.g. to anchor a weight whose value the designer fixes (a tight scale).
        beta: fixed rationality, or None to infer it under LogNormal(*beta_prior).
    """
    n_features = (demos.mdps.features if demos is not None else preferences.better).shape[-1]
    loc = jnp.broadcast_to(jnp.asarray(prior_loc, jnp.float32), (n_features,))
    scale = jnp.broadcast_to(jnp.asarray(prior_scale, jnp.float32), (n_features,))
    if prior == "normal":
        w = numpyro.sample("w", dist.Normal(loc, scale).to_event(1))
    elif prior == "laplace":
        w = numpyro.sample("w", dist.Laplace(loc, scale).to_event(1))
    elif prior == "sphere":
        z = numpyro.sample("z", dist.Normal(0.0, 1.0).expand([n_features]).to_event(1))
        w = numpyro.deterministic("w", z / jnp.linalg.norm(z))
    else:
        raise ValueError(f"prior: expected one of {PRIORS}, got {prior!r}")
    if beta is None:
        beta = numpyro.sample("beta", dist.LogNormal(*beta_prior))
    if demos is not None:
        numpyro.factor("demonstrations", demo_log_likelihood(demos, w, beta, tol))
    if preferences is not None:
        numpyro.factor("preferences", preference_log_likelihood(preferences, w, beta))
