"""Demonstration likelihoods that need no MDP: a trajectory-level Boltzmann model.

**The reference-tilted model (``normaliser="sampled"``, :func:`reference_rollouts`; the
default).** From each start s the demonstrator draws a whole trajectory from a reference
policy's trajectory distribution q_s tilted by the return,

    p(τ | w, s) = q_s(τ) exp(β·w·Φ(τ)) / Z_s(w),   Z_s(w) = E_{τ ~ q_s}[exp(β·w·Φ(τ))],

Φ(τ) = Σ_t γ^t φ_t (γ = 1 by default). It is maximum-entropy IRL relative to q (the KL-regularised
optimal trajectory distribution); q(τ_n) does not depend on w and drops out. Z_s is estimated by
importance sampling (Relative Entropy IRL, Boularias et al. 2011; Guided Cost Learning, Finn et al.
2016) from J alternatives τ_j drawn at the demonstration's start from a proposal r that does not
depend on which trajectory was demonstrated:

    Ẑ_s(w) = (1/J) Σ_j (q/r)(τ_j) exp(β·w·Φ(τ_j)),   log p(τ_n | w) ≈ β·w·Φ(τ_n) − log Ẑ_s(w).

:func:`reference_rollouts` draws them from the reference itself (uniform random actions, so
q/r = 1). Where random actions rarely reach what the demonstrator does (PointLava's target is
never reached by them, so every importance weight but one is ~0), :func:`mixture_rollouts` draws
from a *defensive mixture* (Hesterberg 1995) r = ρ·q + (1 − ρ)·replay_n, replay_n being noisy
replays of the demonstration's actions, and stores log q/r in ``log_weights``. Both q and replay_n
are open-loop policies whose densities over an action sequence are products over its steps, so
q/r of a realised episode is exact, and q/r ≤ 1/ρ bounds the weights. This proposal does depend
on the demonstration, unlike the reference; Ẑ_s(w) stays an unbiased estimate of the same Z_s(w)
(importance sampling is unbiased for any proposal that covers q), so the likelihood is consistent
as J → ∞; what that dependence costs at finite J is what the SBC test on env-simulated
demonstrations measures. Ẑ is unbiased, log Ẑ is biased low (Jensen: by about
Var(Ẑ)/2Z², O(1/J)), so the estimated likelihood is consistent as J → ∞ and over-confident at
small J wherever the alternatives rarely reach what the demonstrations do. What it assumes: the
start is reproduced from the reset seed (``Trajectory.layout_seed``); the reference covers the
demonstrator's trajectories; demonstrations are independent. The uniform reference puts more mass
on short trajectories than counting measure does: soft value iteration's Boltzmann demonstrator is
this model with a per-step reward of log|A|/β, which a per-step one-hot feature group absorbs.

**The perturbation contrast (``normaliser="choice_set"``, :func:`perturbed_replays`).** Each
demonstration beside noisy replays *of its own actions* (D-REX's noise injection), with a softmax
over that set. It is not the likelihood of a demonstrator model: the set depends on which
trajectory was demonstrated, so the softmax is not a sampled partition function. What it measures
is how the demonstration differs from its perturbations, a contrastive ranking (T-REX/D-REX style)
kept for comparison; on PointLava it got terrain costs 20-45× too large.

Both fix β (1.0 by default): only β·w enters, so w carries the scale. A feature that no trajectory
in a set ever touches does not enter the likelihood: its posterior stays its prior (the Inverse
Reward Design property).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
from gymnasium import spaces

from rewunc.data import DataError, Demonstrations, Trajectory, TrajectoryChoices
from rewunc.protocol import env_name, feature_names
from rewunc.rollout import run_episode


class ChoiceData(NamedTuple):
    """Static-shape choice data: chosen [N, K] and alternatives [N, J, K] feature counts,
    log_weights [N, J] (log q/r of each alternative) and chosen_in_set (a 0-d array: 1.0 for the
    perturbation contrast, whose normaliser includes the demonstration; 0.0 for the sampled
    normaliser)."""

    chosen: jax.Array
    alternatives: jax.Array
    log_weights: jax.Array
    chosen_in_set: jax.Array


def choice_log_likelihood(data: ChoiceData, w: jax.Array, beta):
    """Σ_n [β·w·Φ_n − logsumexp_j(β·w·Φ_nj + log_weights_nj)] (a scalar), the demonstration's
    own term inside the logsumexp for the perturbation contrast; the −log J of Ẑ is dropped (it
    does not depend on w)."""
    chosen = beta * data.chosen @ w  # [N]
    own = jnp.where(data.chosen_in_set > 0, chosen, -jnp.inf)[:, None]
    alternatives = beta * data.alternatives @ w + data.log_weights  # [N, J]
    every = jnp.concatenate([own, alternatives], axis=1)  # [N, 1+J]
    return jnp.sum(chosen - jax.nn.logsumexp(every, axis=1))


def normaliser_ess(data: ChoiceData, weights: np.ndarray, beta: float) -> np.ndarray:
    """Effective sample size (Σω)²/Σω² of the importance weights ω_j = (q/r)(τ_j)·exp(β·w·Φ_j)
    behind each demonstration's Ẑ(w), at each draw of ``weights`` [M, K]: [M, N], in 1..J. Small
    values mean a few alternatives carry Ẑ, so log Ẑ is biased low and the posterior is
    over-confident (more alternatives, or a proposal nearer the demonstrations, fix it)."""
    u = beta * np.einsum("njk,mk->mnj", np.asarray(data.alternatives), np.asarray(weights))
    u = u + np.asarray(data.log_weights)[None]
    v = np.exp(u - u.max(-1, keepdims=True))
    return v.sum(-1) ** 2 / (v**2).sum(-1)


def choice_data(choices: TrajectoryChoices | ChoiceData, n_features: int) -> ChoiceData:
    """TrajectoryChoices (or ChoiceData, passed through) as float32 arrays for the model."""
    if isinstance(choices, ChoiceData):
        return choices
    if not isinstance(choices, TrajectoryChoices):
        raise DataError(
            f"choices: expected TrajectoryChoices or ChoiceData, got {type(choices).__name__}"
        )
    if choices.chosen.shape[1] != n_features:
        raise DataError(f"choices: {choices.chosen.shape[1]} features, expected {n_features}")
    return ChoiceData(
        jnp.asarray(choices.chosen, jnp.float32),
        jnp.asarray(choices.alternatives, jnp.float32),
        jnp.asarray(choices.log_weights, jnp.float32),
        jnp.asarray(float(choices.normaliser == "choice_set"), jnp.float32),
    )


# ---- alternatives by noise injection ------------------------------------------------------


HORIZONS = ("episode", "demonstration")


def _counts(trajectory: Trajectory, gamma: float, steps: int | None) -> np.ndarray:
    """Σ_t γ^t φ_t over the first ``steps`` steps (all when None), [K]."""
    phi = trajectory.features[:steps]
    return ((gamma ** np.arange(len(phi)))[:, None] * phi).sum(0)


def _check_scale(scale, space: gym.Space) -> float:
    try:
        s = float(scale)
    except (TypeError, ValueError):
        s = float("nan")
    discrete = isinstance(space, spaces.Discrete)
    if not (np.isfinite(s) and s >= 0 and (s <= 1 or not discrete)):
        expected = "a probability in [0, 1] (Discrete actions)" if discrete else "an sd >= 0"
        raise DataError(f"noise_scales: expected {expected}, got {scale!r}")
    return s


def _random_action(space: gym.Space, scale: float, rng: np.random.Generator):
    """An action after the demonstration's ran out: uniform (Discrete; bounded Box), else
    N(0, scale²) clipped to the space."""
    if isinstance(space, spaces.Discrete):
        return int(space.start) + int(rng.integers(space.n))
    low, high = space.low.astype(np.float64), space.high.astype(np.float64)
    if np.isfinite(low).all() and np.isfinite(high).all():
        return rng.uniform(low, high)
    return np.clip(scale * rng.standard_normal(space.shape), low, high)


def replay(
    env: gym.Env, trajectory: Trajectory, noise_scale: float, rng: np.random.Generator
) -> Trajectory:
    """Replay ``trajectory``'s actions from its reset seed, with noise (see the module).

    Box: a_t + N(0, noise_scale²), clipped to the space. Discrete: a uniform random action with
    probability ``noise_scale``. After the demonstrated actions run out, random actions until
    the episode ends. ``noise_scale = 0`` reproduces the trajectory in a deterministic env.
    """
    space = env.action_space
    if not isinstance(space, spaces.Discrete | spaces.Box):
        raise DataError(
            f"{env_name(env)}: replays need a Discrete or Box action space, got {space}"
        )
    scale = _check_scale(noise_scale, space)
    actions = trajectory.actions
    step = [0]

    def act(obs, env):
        t = step[0]
        step[0] += 1
        if t >= len(actions):
            return _random_action(space, scale, rng)
        if scale == 0:
            return actions[t]
        if isinstance(space, spaces.Discrete):
            if rng.random() < scale:
                return int(space.start) + int(rng.integers(space.n))
            return actions[t]
        noisy = actions[t] + scale * rng.standard_normal(space.shape)
        return np.clip(noisy, space.low, space.high)

    return run_episode(env, trajectory.layout_seed, act).trajectory


def _demonstrations(env: gym.Env, demonstrations, n_alternatives, gamma):
    """(trajectories, feature names, env id) of ``demonstrations``, after checking them and
    the arguments every construction shares."""
    trajs = tuple(
        demonstrations.trajectories
        if isinstance(demonstrations, Demonstrations)
        else demonstrations
    )
    if not trajs:
        raise DataError("demonstrations: expected at least one trajectory, got none")
    if isinstance(n_alternatives, bool) or not (
        isinstance(n_alternatives, int | np.integer) and n_alternatives >= 1
    ):
        raise DataError(f"n_alternatives: expected an int >= 1, got {n_alternatives!r}")
    if not 0.0 < gamma <= 1.0:
        raise DataError(f"gamma: expected a discount in (0, 1], got {gamma!r}")
    names = feature_names(env)
    if isinstance(demonstrations, Demonstrations):
        if demonstrations.feature_names != names:
            raise DataError(
                f"demonstrations have features {demonstrations.feature_names}, "
                f"{env_name(env)} has {names}"
            )
        env_id = demonstrations.env_id
    else:
        env_id = env.spec.id if env.spec is not None else ""
    return trajs, names, env_id


# ---- alternatives from a reference policy (the sampled normaliser) -----------------------


def reference_rollout(
    env: gym.Env, layout_seed: int, rng: np.random.Generator, scale: float = 1.0
) -> Trajectory:
    """One episode of the reference policy from reset seed ``layout_seed``: uniform random
    actions (Discrete; a bounded Box), else N(0, scale²) clipped to an unbounded Box. It never
    sees a demonstration, so it is a proposal for the sampled normaliser."""
    space = env.action_space
    if not isinstance(space, spaces.Discrete | spaces.Box):
        raise DataError(
            f"{env_name(env)}: reference rollouts need a Discrete or Box action space, got {space}"
        )
    return run_episode(
        env, layout_seed, lambda obs, env: _random_action(space, scale, rng)
    ).trajectory


def reference_rollouts(
    env: gym.Env,
    demonstrations: Demonstrations | Sequence[Trajectory],
    n_alternatives: int,
    seed: int,
    *,
    gamma: float = 1.0,
) -> TrajectoryChoices:
    """Each demonstration beside ``n_alternatives`` rollouts of the reference policy
    (:func:`reference_rollout`) from its start: the sampled normaliser of the reference-tilted
    model (see the module). Alternative j of demonstration i draws from ``default_rng([seed, i,
    j])``; the alternatives depend on the demonstration only through its reset seed."""
    trajs, names, env_id = _demonstrations(env, demonstrations, n_alternatives, gamma)
    alternatives = [
        [
            _counts(
                reference_rollout(env, demo.layout_seed, np.random.default_rng([seed, i, j])),
                gamma,
                None,
            )  # fmt: skip
            for j in range(n_alternatives)
        ]
        for i, demo in enumerate(trajs)
    ]
    chosen = np.stack([demo.discounted_feature_counts(gamma) for demo in trajs])
    return TrajectoryChoices(chosen, np.array(alternatives), names, env_id, gamma, "sampled")


def _open_loop_space(env: gym.Env) -> tuple[gym.Space, float]:
    """The action space, if its uniform density exists (Discrete, or a bounded Box), and the
    reference's log density of one action."""
    space = env.action_space
    if isinstance(space, spaces.Discrete):
        return space, -math.log(space.n)
    if isinstance(space, spaces.Box):
        low, high = space.low.astype(np.float64), space.high.astype(np.float64)
        if np.isfinite(low).all() and np.isfinite(high).all() and (high > low).all():
            return space, -float(np.log(high - low).sum())
    raise DataError(
        f"{env_name(env)}: mixture_rollouts needs a Discrete or bounded Box action space "
        f"(where the uniform reference has a density), got {space}"
    )


def _replay_step(space, demo_action, scale: float, rng, action=None):
    """Sample (when ``action`` is None) a noisy replay of one demonstrated action, and return
    (action, its log density under the replay): Discrete, the demonstrated action with
    probability 1 − scale, else uniform; Box, a Gaussian of sd ``scale`` around it truncated to
    the space (so that the density is exact; clipping would put atoms on the bounds)."""
    if isinstance(space, spaces.Discrete):
        if action is None:
            take_random = rng.random() < scale
            action = int(space.start) + int(rng.integers(space.n)) if take_random else demo_action
        same = float(int(action) == int(demo_action))
        return action, math.log((1.0 - scale) * same + scale / space.n)
    from scipy.special import ndtr, ndtri

    # by hand rather than scipy.stats.truncnorm, whose per-call overhead dominated the rollouts
    low, high = space.low.astype(np.float64), space.high.astype(np.float64)
    mu = np.clip(np.asarray(demo_action, np.float64), low, high)
    cdf_lo, cdf_hi = ndtr((low - mu) / scale), ndtr((high - mu) / scale)
    if action is None:  # inverse-CDF sampling
        u = cdf_lo + rng.random(mu.shape) * (cdf_hi - cdf_lo)
        action = np.clip(mu + scale * ndtri(u), low, high)
    z = (np.asarray(action, np.float64) - mu) / scale
    log_pdf = -0.5 * z**2 - 0.5 * math.log(2 * math.pi) - math.log(scale) - np.log(cdf_hi - cdf_lo)
    return action, float(log_pdf.sum())


def mixture_rollout(
    env: gym.Env,
    demo: Trajectory,
    noise_scale: float,
    mix: float,
    rng: np.random.Generator,
) -> tuple[Trajectory, float]:
    """One draw from the defensive mixture r = mix·q + (1 − mix)·replay(demo) (see the module)
    from the demonstration's reset seed, and log q/r of the episode it made."""
    space, log_q_step = _open_loop_space(env)
    scale = _check_scale(noise_scale, space)
    if not isinstance(space, spaces.Discrete) and scale <= 0:
        raise DataError(f"noise_scale: expected an sd > 0 for Box actions, got {noise_scale!r}")
    replaying = rng.random() >= mix
    actions, log_replay = [], [0.0]

    def act(obs, env):
        t = len(actions)
        if t >= len(demo.actions):  # past the demonstration both components are the reference
            action = _random_action(space, 1.0, rng)
        elif replaying:
            action, _ = _replay_step(space, demo.actions[t], scale, rng)
        else:
            action = _random_action(space, 1.0, rng)
        if t < len(demo.actions):
            log_replay[0] += _replay_step(space, demo.actions[t], scale, rng, action)[1]
        else:
            log_replay[0] += log_q_step
        actions.append(action)
        return action

    trajectory = run_episode(env, demo.layout_seed, act).trajectory
    log_q = log_q_step * len(actions)
    log_r = np.logaddexp(math.log(mix) + log_q, math.log1p(-mix) + log_replay[0])
    return trajectory, float(log_q - log_r)


def mixture_rollouts(
    env: gym.Env,
    demonstrations: Demonstrations | Sequence[Trajectory],
    n_alternatives: int,
    seed: int,
    *,
    noise_scale: float = 0.5,
    mix: float = 0.5,
    gamma: float = 1.0,
) -> TrajectoryChoices:
    """Each demonstration beside ``n_alternatives`` draws from the defensive mixture of the
    reference and noisy replays of it (:func:`mixture_rollout`), with their importance weights:
    the sampled normaliser of the reference-tilted model with a proposal that reaches what the
    demonstrator reaches (see the module).

    Args:
        noise_scale: the replays' noise: the probability of a uniform action (Discrete), or the
            sd of a Gaussian truncated to the bounds (Box).
        mix: ρ in (0, 1], the reference's share of the mixture; q/r ≤ 1/ρ.
        seed: alternative j of demonstration i draws from ``default_rng([seed, i, j])``.
    """
    trajs, names, env_id = _demonstrations(env, demonstrations, n_alternatives, gamma)
    if not (isinstance(mix, int | float) and 0.0 < mix <= 1.0):
        raise DataError(f"mix: expected the reference's share in (0, 1], got {mix!r}")
    alternatives, log_weights = [], []
    for i, demo in enumerate(trajs):
        row = [mixture_rollout(env, demo, noise_scale, mix, np.random.default_rng([seed, i, j]))
               for j in range(n_alternatives)]  # fmt: skip
        alternatives.append([_counts(t, gamma, None) for t, _ in row])
        log_weights.append([lw for _, lw in row])
    chosen = np.stack([demo.discounted_feature_counts(gamma) for demo in trajs])
    return TrajectoryChoices(
        chosen, np.array(alternatives), names, env_id, gamma, "sampled", np.array(log_weights)
    )


def perturbed_replays(
    env: gym.Env,
    demonstrations: Demonstrations | Sequence[Trajectory],
    n_alternatives: int,
    noise_scales: float | Sequence[float],
    seed: int,
    *,
    gamma: float = 1.0,
    verify: bool = True,
    horizon: str = "episode",
) -> TrajectoryChoices:
    """Each demonstration beside ``n_alternatives`` noisy replays of it (:func:`replay`).

    Args:
        env: the env the demonstrations came from (same shift and options).
        demonstrations: Demonstrations, or a sequence of Trajectory.
        n_alternatives: J, alternatives per demonstration; the j-th uses
            ``noise_scales[j % len(noise_scales)]``.
        noise_scales: one scale or several (Gaussian sd for Box actions; the probability of a
            random action, in [0, 1], for Discrete).
        seed: one integer; alternative j of demonstration i draws from ``default_rng([seed, i,
            j])``, so it does not depend on the others.
        gamma: Φ = Σ_t γ^t φ_t (1.0: feature sums).
        verify: first replay each demonstration without noise and refuse, naming it, when the
            env does not reproduce it (not deterministic given seed and actions, or another env).
        horizon: ``"episode"`` sums each alternative's features to the end of its episode;
            ``"demonstration"`` only over as many steps as its demonstration took, so every
            trajectory of a choice set spans the same time. Use the latter where a step has a
            cost: an alternative finished by random actions is mostly a long random tail, and
            its length alone then separates it from the demonstration (measured on PointLava:
            the posterior kept target and progress at their priors).
    """
    trajs, names, env_id = _demonstrations(env, demonstrations, n_alternatives, gamma)
    scales = [
        _check_scale(s, env.action_space) for s in np.atleast_1d(np.asarray(noise_scales, float))
    ]
    if not scales:
        raise DataError("noise_scales: expected at least one scale, got none")
    if horizon not in HORIZONS:
        raise DataError(f"horizon: expected one of {HORIZONS}, got {horizon!r}")
    chosen, alternatives = [], []
    for i, demo in enumerate(trajs):
        if verify:
            again = replay(env, demo, 0.0, np.random.default_rng([seed, i]))
            if len(again) != len(demo) or not np.array_equal(again.features, demo.features):
                raise DataError(
                    f"trajectory {i}: replaying its actions from reset seed {demo.layout_seed} "
                    f"did not reproduce it: {env_name(env)} is not deterministic given the seed "
                    "and the actions, or it is not the env (shift, options) the demo came from"
                )
        chosen.append(demo.discounted_feature_counts(gamma))
        alternatives.append(
            [
                _counts(
                    replay(env, demo, scales[j % len(scales)], np.random.default_rng([seed, i, j])),
                    gamma,
                    len(demo) if horizon == "demonstration" else None,
                )
                for j in range(n_alternatives)
            ]
        )
    return TrajectoryChoices(
        np.stack(chosen), np.array(alternatives), names, env_id, gamma, "choice_set"
    )
