"""NumPyro model functions for Bayesian IRL (plain functions; inference lives in ``infer``).

Likelihoods:

* demonstrations: every demonstrated action is Boltzmann-rational under the soft Q of its own
  layout's MDP, log p(a|s) = β·(Q(s, a) − V(s)) (DESIGN.md). Data enter as counts N[L, S, A] of
  (state, action) pairs per layout; the L layouts share w and are solved together with
  ``jax.vmap`` (one batched solve, not a Python loop).
* preferences: Bradley–Terry over trajectory feature counts (as in Bayesian REX),
  p(τ_i ≻ τ_j) = σ(β·w·(Φ_i − Φ_j)), for any env that emits ``info["features"]``; a pair
  labelled equal contributes B-Pref's 0.5 target, ½·log σ(β·d) + ½·log σ(−β·d) (a
  pseudo-likelihood: no generative teacher gives it, so calibration is checked on strict labels).
* trajectory choices (no MDP needed): each demonstration was chosen from itself and sampled
  alternatives from the same start, p(τ) ∝ exp(β·w·Φ(τ)) over the set (:mod:`rewunc.birl.choice`).

What the data cannot identify, and how the defaults handle it:

* Scale. Only β·w enters the demonstration likelihood, so with β inferred the posterior runs
  along a ridge in (β, |w|). Default: β fixed (1.0), so w carries the scale. With ``beta=None``,
  use ``prior="sphere"`` (unit-norm w: only the direction is inferred) or accept that the
  priors decide where on the ridge the posterior sits.
* Constants. Adding c to every weight of features that sum to one in every state (LavaLand's
  terrain one-hot) adds c to every step's reward; in a discounted MDP with terminal states this
  changes returns only through episode length, so it is weakly identified (not at all when no
  demonstration ends). It is not behaviour-neutral: it is a per-step reward, so it cannot simply
  be centred away before planning. ``feature_groups`` (index tuples; envs declare them by name)
  and ``parameterisation`` say how it is treated (:mod:`rewunc.birl.parameterisation`):
  ``"raw"`` samples w directly, and its posterior keeps the constant wherever prior and the weak
  data put it, often along a flat ridge that ends in a wall where the constant starts to change
  behaviour (NUTS diverges there); ``"rotated"`` is the same posterior with the constant as its
  own coordinate (helps a diagonal mass matrix only); ``"reference"`` fixes each group's
  reference feature (its tightest prior, e.g. an anchor) at its prior location, i.e. the raw
  posterior conditioned on w_ref = prior_loc[ref]. Under reference the returned w are still
  weights for r = w·φ, but they mean "rewards with the per-step constant pinned by the
  reference": contrasts w_k − w_ref are inferred, w_ref is the designer's value.
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

from rewunc.birl.choice import ChoiceData, choice_log_likelihood
from rewunc.birl.parameterisation import sample_weights
from rewunc.planning import MDPArrays, soft_plan_arrays

PRIORS = ("normal", "laplace", "sphere")


class DemoData(NamedTuple):
    """Static-shape demonstration data: layouts [L, ...] and counts [L, S, A]; ``v0`` [L, S]
    (optional) a guess of each layout's soft V to warm-start the solves from (no effect on the
    likelihood beyond the solver's tolerance; an array, so a new guess does not recompile)."""

    mdps: MDPArrays
    counts: jax.Array
    v0: jax.Array | None = None


class PreferenceData(NamedTuple):
    """Pairs of trajectory feature counts, the preferred one first: [N, K] each; ``equal``
    float [N], 1.0 where the pair was judged equal (None: no equal pairs)."""

    better: jax.Array
    worse: jax.Array
    equal: jax.Array | None = None


def demo_log_likelihood(
    data: DemoData, w: jax.Array, beta, tol=1e-6, max_iters=20_000, solver="sweeps", grad_tol=None
):
    """Σ_l Σ_{s,a} N[l, s, a]·log π_l(a|s; w, β) (a scalar); ``solver`` and ``grad_tol`` as in
    :func:`rewunc.planning.soft_plan_arrays`."""

    def one_layout(mdp: MDPArrays, counts, v0):
        reward = (mdp.features @ w)[None]
        plan = soft_plan_arrays(
            mdp, reward, beta, tol, max_iters, v0=v0, solver=solver, grad_tol=grad_tol
        )
        return jnp.sum(counts * jax.nn.log_softmax(beta * plan.q[0], axis=-1))

    v0 = data.v0 if data.v0 is not None else jnp.zeros(data.counts.shape[:2], data.counts.dtype)
    return jnp.sum(jax.vmap(one_layout)(data.mdps, data.counts, v0))


def preference_log_likelihood(data: PreferenceData, w: jax.Array, beta):
    """Σ_pairs log σ(β·d), d = w·(Φ_better − Φ_worse); an equal pair contributes B-Pref's
    0.5 target, ½·log σ(β·d) + ½·log σ(−β·d) (a mask, so shapes stay static)."""
    d = beta * (data.better - data.worse) @ w
    if data.equal is None:
        return jnp.sum(jax.nn.log_sigmoid(d))
    half = 0.5 * data.equal
    return jnp.sum((1.0 - half) * jax.nn.log_sigmoid(d) + half * jax.nn.log_sigmoid(-d))


def reward_model(
    demos: DemoData | None,
    preferences: PreferenceData | None,
    choices: ChoiceData | None = None,
    *,
    prior: str = "normal",
    prior_scale: float | tuple[float, ...] = 1.0,
    beta: float | None = 1.0,
    beta_prior: tuple[float, float] = (0.0, 1.0),
    tol: float = 1e-6,
    prior_loc: float | tuple[float, ...] = 0.0,
    feature_groups: tuple[tuple[int, ...], ...] = (),
    parameterisation: str = "raw",
    solver: str = "sweeps",
    grad_tol: float | None = None,
    hierarchical: bool = False,
):
    """Reward weights w [K] (and β if ``beta`` is None) given demonstrations, preferences and
    trajectory choices.

    Args:
        demos, preferences, choices: data, any may be None (K is read from their static
            shapes).
        prior: "normal" (N(loc, scale²) per weight), "laplace" (Laplace(loc, scale)) or
            "sphere" (w = z/|z| with z ~ N(0, I): uniform on the unit sphere).
        prior_loc, prior_scale: one number for every weight, or K numbers (normal and laplace),
            e.g. to anchor a weight whose value the designer fixes (a tight scale).
        beta: fixed rationality, or None to infer it under LogNormal(*beta_prior).
        feature_groups: one-hot groups as feature indices; parameterisation: "raw", "rotated"
            or "reference"; hierarchical: partial pooling within each group (module
            docstring, :mod:`rewunc.birl.parameterisation`).
        solver: the soft value iteration's fixed-point solver, "sweeps" or "anderson";
            grad_tol: its backward pass's tolerance (None: ``tol``).
    """
    if demos is not None:
        n_features = demos.mdps.features.shape[-1]
    else:
        n_features = (preferences.better if preferences is not None else choices.chosen).shape[-1]
    if prior not in PRIORS:
        raise ValueError(f"prior: expected one of {PRIORS}, got {prior!r}")
    w = sample_weights(
        n_features,
        prior=prior,
        prior_loc=prior_loc,
        prior_scale=prior_scale,
        groups=feature_groups,
        parameterisation=parameterisation,
        hierarchical=hierarchical,
    )
    if beta is None:
        beta = numpyro.sample("beta", dist.LogNormal(*beta_prior))
    if demos is not None:
        loglik = demo_log_likelihood(demos, w, beta, tol, solver=solver, grad_tol=grad_tol)
        numpyro.factor("demonstrations", loglik)
    if preferences is not None:
        numpyro.factor("preferences", preference_log_likelihood(preferences, w, beta))
    if choices is not None:
        numpyro.factor("choices", choice_log_likelihood(choices, w, beta))
