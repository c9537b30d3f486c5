"""A demonstration likelihood that needs no MDP: a trajectory-level Boltzmann choice.

The model. Each demonstrated trajectory τ_n was *chosen* from a choice set
C_n = {τ_n} ∪ {τ'_n1, …, τ'_nJ} of trajectories from the same start, with

    p(τ_n | w) = exp(β·w·Φ(τ_n)) / Σ_{τ ∈ C_n} exp(β·w·Φ(τ)),   Φ(τ) = Σ_t γ^t φ_t

(γ = 1 by default: undiscounted feature sums, as the preference likelihood uses). With J = 1 it
is Bradley–Terry between the demonstration and one alternative (Bayesian REX's likelihood).

Where the alternatives come from. :func:`perturbed_replays` replays each demonstration's own
actions from its reset seed with injected noise (D-REX's noise injection, here used as the
normaliser's samples, not for ranking): Box actions get Gaussian noise, Discrete actions are
replaced by a uniform random action with probability = the noise scale, and once the
demonstration's actions run out the episode is finished with random actions. It needs only the
simulator and the demonstrations: no demonstrator, no ``to_mdp()``.

Assumptions (each one a way the posterior can be wrong):

* The env is deterministic given the reset seed (``Trajectory.layout_seed``) and the actions,
  so a replay starts where the demonstration started (``verify=True`` replays each one once
  without noise and refuses when it does not reproduce it).
* The J alternatives stand in for the partition function over *all* trajectories from that
  start. They are an unweighted sample of what the perturbations reach, not of the whole
  trajectory space, so the posterior says how the demonstration differs from its perturbations.
  A feature that neither the demonstration nor any alternative ever touches (lava in LavaLand's
  training layouts) does not enter the likelihood: its posterior stays its prior (the Inverse
  Reward Design property). Behaviour no perturbation tries is neither rewarded nor penalised.
* The choice sets are drawn independently of w (the noise ignores the reward), so the product
  over demonstrations is a proper conditional likelihood given the sets; demonstrations are
  independent choices. An alternative identical to the demonstration (the noise changed nothing
  that mattered) is kept: the set is a multiset, as a sample of the partition function is.
* β is fixed (by default 1.0, as for the other likelihoods): only β·w enters, so w carries the
  scale; inferring β runs along the (β, |w|) ridge (see :mod:`rewunc.birl.model`).
"""

from __future__ import annotations

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
    """Static-shape choice data: chosen [N, K] and alternatives [N, J, K] feature counts."""

    chosen: jax.Array
    alternatives: jax.Array


def choice_log_likelihood(data: ChoiceData, w: jax.Array, beta):
    """Σ_n [β·w·Φ_n − logsumexp(β·w·Φ over {Φ_n} ∪ alternatives_n)] (a scalar)."""
    chosen = beta * data.chosen @ w  # [N]
    every = jnp.concatenate([chosen[:, None], beta * data.alternatives @ w], axis=1)  # [N, 1+J]
    return jnp.sum(chosen - jax.nn.logsumexp(every, axis=1))


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
        jnp.asarray(choices.chosen, jnp.float32), jnp.asarray(choices.alternatives, jnp.float32)
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
    scales = [
        _check_scale(s, env.action_space) for s in np.atleast_1d(np.asarray(noise_scales, float))
    ]
    if not scales:
        raise DataError("noise_scales: expected at least one scale, got none")
    if not 0.0 < gamma <= 1.0:
        raise DataError(f"gamma: expected a discount in (0, 1], got {gamma!r}")
    if horizon not in HORIZONS:
        raise DataError(f"horizon: expected one of {HORIZONS}, got {horizon!r}")
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
    return TrajectoryChoices(np.stack(chosen), np.array(alternatives), names, env_id, gamma)
