"""Rolling policies out: any policy on any protocol env, one seeded episode at a time.

A policy is one of

- a :class:`~rewunc.protocol.Policy` (``predict(obs, deterministic=...) -> (action, state)``):
  a stable-baselines3 model works as it is;
- a plain callable ``obs -> action``;
- a :class:`TabularPolicy`, π[S, A] on the current layout of a tabular env;
- (for :func:`collect`) an expert with ``policy(mdp) -> π[S, A]``, planned on each episode's
  layout (:mod:`rewunc.experts`).

:func:`as_actor` turns each into an *actor* ``act(obs, env) -> action``; :func:`run_episode`
plays one episode and returns its :class:`~rewunc.data.Trajectory` (and MDP states where tabular).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rewunc.data import DataError, Demonstrations, TabularLayouts, Trajectory
from rewunc.protocol import Policy, ProtocolError, env_name, feature_names, is_tabular

Actor = Callable[[object, gym.Env], object]


@dataclass(frozen=True, eq=False)
class TabularPolicy:
    """A stochastic policy π[S, A] over the MDP states of the env's current layout."""

    probs: np.ndarray


def is_expert(policy) -> bool:
    """An expert plans on each layout's MDP: ``policy(mdp) -> π[S, A]``, not a Policy."""
    return callable(getattr(policy, "policy", None)) and not isinstance(policy, Policy)


def as_actor(policy, rng: np.random.Generator, deterministic: bool = True) -> Actor:
    """``act(obs, env) -> action`` for a Policy, a TabularPolicy or an ``obs -> action`` callable.

    ``rng`` draws the actions of stochastic tabular policies; ``deterministic`` is passed to
    ``predict``.
    """
    if isinstance(policy, TabularPolicy):
        pi = np.asarray(policy.probs, dtype=np.float64)

        def act(obs, env):
            row = pi[env.unwrapped.state_index()]
            return int(rng.choice(len(row), p=row / row.sum()))

        return act
    if isinstance(policy, Policy):
        return lambda obs, env: policy.predict(obs, deterministic=deterministic)[0]
    if is_expert(policy):
        raise TypeError(
            f"{type(policy).__name__} is an expert (policy(mdp)): plan it on a layout's MDP "
            "first, or pass it to collect(), which does"
        )
    if callable(policy):
        return lambda obs, env: policy(obs)
    raise TypeError(
        f"expected a Policy (with predict), a TabularPolicy or a callable obs -> action, "
        f"got {type(policy).__name__}"
    )


def to_env_action(action, space: gym.Space):
    """An action as the env expects it: a Python int for Discrete, an array for Box.

    Policies return numpy scalars, 0-d or 1-element arrays (stable-baselines3's ``predict``)."""
    if isinstance(space, spaces.Discrete):
        a = np.asarray(action)
        if a.size != 1:
            raise ValueError(f"a Discrete action must be one integer, got shape {a.shape}")
        return int(a.reshape(()))
    if isinstance(space, spaces.Box):
        return np.asarray(action, dtype=space.dtype).reshape(space.shape)
    return action


@dataclass(frozen=True, eq=False)
class Episode:
    """One rolled-out episode: the trajectory, the MDP states (tabular envs) and the last info."""

    trajectory: Trajectory
    states: np.ndarray | None
    info: dict


def run_episode(env: gym.Env, reset_seed: int, act: Actor, *, max_steps: int = 100_000) -> Episode:
    """Play one episode from ``env.reset(seed=reset_seed)`` with ``act``.

    Raises ProtocolError if the env breaks the protocol on the way (no features, no outcome on
    the last step, an episode longer than ``max_steps``).
    """
    base = env.unwrapped
    tabular = is_tabular(env)
    K = len(feature_names(env))
    obs, info = env.reset(seed=int(reset_seed))
    observations, actions, feats, rewards = [obs], [], [], []
    states = [base.state_index()] if tabular else None
    for _ in range(max_steps):
        action = to_env_action(act(obs, env), env.action_space)
        obs, reward, terminated, truncated, info = env.step(action)
        if "features" not in info:
            raise ProtocolError(f"{env_name(env)}: step info has no 'features'")
        observations.append(obs)
        actions.append(action)
        feats.append(np.asarray(info["features"], dtype=np.float64).reshape(K))
        rewards.append(float(reward))
        if tabular:
            states.append(base.state_index())
        if terminated or truncated:
            break
    else:
        raise ProtocolError(f"{env_name(env)}: an episode did not end within {max_steps} steps")
    if info.get("outcome") is None:
        raise ProtocolError(f"{env_name(env)}: the last step's info has no 'outcome'")
    trajectory = Trajectory(
        observations=np.stack(observations),
        actions=np.stack(actions)
        if isinstance(env.action_space, spaces.Box)
        else np.array(actions),
        features=np.stack(feats),
        rewards=np.array(rewards, dtype=np.float64),
        outcome=str(info["outcome"]),
        layout_seed=int(reset_seed),
        shift=getattr(base, "shift", None) or "",
        terminated=bool(terminated),
    )
    return Episode(trajectory, None if states is None else np.array(states), info)


def collect(
    env_or_id: gym.Env | str,
    policy,
    n_episodes: int,
    seed: int,
    shift: str | None = None,
    *,
    gamma: float = 0.95,
    **env_kwargs,
) -> Demonstrations:
    """Roll out ``policy`` for ``n_episodes`` seeded episodes (one fresh layout each).

    Args:
        env_or_id: a gymnasium env or a registered id (made with ``shift`` and ``env_kwargs``;
            ``"module:Id-v0"`` imports ``module`` first).
        policy: an expert (``policy(mdp) -> π[S, A]``, planned on each layout's MDP; needs
            ``to_mdp()``), a :class:`~rewunc.protocol.Policy` such as a stable-baselines3
            model, or a callable ``obs -> action``.
        n_episodes: number of episodes.
        seed: one integer; layouts and action noise are drawn from it.
        shift: the shift to collect under (None: training distribution).
        gamma: the discount of the layouts' MDPs (tabular envs).

    Returns Demonstrations with TabularLayouts (MDP states and each layout's MDP) when the env
    has ``to_mdp()``.
    """
    if n_episodes < 1:
        raise DataError(f"n_episodes: expected >= 1, got {n_episodes}")
    own = isinstance(env_or_id, str)
    env = gym.make(env_or_id, shift=shift, **env_kwargs) if own else env_or_id
    base = env.unwrapped
    names = feature_names(env)
    tabular = is_tabular(env)
    expert = is_expert(policy)
    if expert and not tabular:
        raise DataError(
            f"{type(policy).__name__} plans on each layout's MDP, but {env_name(env)} has no "
            "to_mdp(); demonstrate with a Policy or an obs -> action callable instead"
        )
    env_id = env_or_id if own else (env.spec.id if env.spec else "")
    rng = np.random.default_rng(seed)
    layout_seeds = rng.integers(2**31 - 1, size=n_episodes)
    trajs, states, mdps = [], [], []
    for layout_seed in layout_seeds:
        if expert:
            env.reset(seed=int(layout_seed))  # the layout, to plan on before the episode
            mdp = base.to_mdp(gamma)
            act = as_actor(TabularPolicy(policy.policy(mdp)), rng)
        else:
            act = as_actor(policy, rng)
        episode = run_episode(env, int(layout_seed), act)
        trajs.append(episode.trajectory)
        if tabular:
            states.append(episode.states)
            mdps.append(mdp if expert else base.to_mdp(gamma))
    if own:
        env.close()
    tab = TabularLayouts(tuple(states), tuple(mdps)) if tabular else None
    return Demonstrations(tuple(trajs), names, env_id, tab)
