"""rewunc's environment protocol and the Policy protocol (DESIGN.md, "The environment protocol").

An environment plugs into rewunc when its unwrapped env has

- ``feature_names: tuple[str, ...]`` (K names): the reward is linear, r = w·φ;
- ``info["features"]``, float [K], φ of the state arrived in, on every ``step``;
- ``info["outcome"]`` ∈ :data:`OUTCOMES` on the last step of an episode (and not before);
- ``SHIFTS``, a tuple of held-out shift names, and a ``shift=`` constructor keyword
  (None: the training distribution);
- optionally ``true_weights`` [K] (the designer's reward: rollouts then report true returns),
  ``to_mdp(gamma) -> TabularMDP`` (exact planning, exact BIRL and exact regret) and
  ``feature_groups`` (one-hot groups whose constant shift the data cannot identify).

rewunc's own envs also keep one step contract, which a plugged-in env may follow too (rewunc
never steps past an episode's end, so it relies on none of it):

- ``step`` with no episode running, after one returned ``terminated`` or ``truncated`` or before
  the first ``reset``, raises :class:`EpisodeEndedError` (gymnasium leaves it undefined);
- ``reset``'s info has the keys ``"features"``, zeros [K] (the start state's φ is never paid),
  and ``"state"``: the ``to_mdp()`` state index on tabular envs, the physics state
  ``(qpos, qvel)`` concatenated on MuJoCo-lite;
- the last step's ``info["is_success"]`` is ``outcome == "goal"``, a bool (the success rate of
  stable-baselines3's ``EvalCallback`` and ``rollout/success_rate``).

:func:`check_protocol` checks a live env against this list. A *policy* is anything that acts:
a :class:`Policy` (``predict`` as in stable-baselines3, so an SB3 model works as it is) or a
plain callable ``obs -> action``; see :func:`rewunc.rollout.as_actor`.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

OUTCOMES = ("goal", "proxy", "hazard", "timeout")
"""goal: the intended goal was achieved; proxy: what stood in for the goal in training was
achieved instead; hazard: an unsafe failure; timeout: nothing achieved.
Capability = goal ∪ proxy."""


class ProtocolError(ValueError):
    """An environment does not follow rewunc's environment protocol."""


class EpisodeEndedError(RuntimeError):
    """``step()`` with no episode running: the last one ended, or none was started by reset()."""

    @classmethod
    def of(cls, env: gym.Env, ended: str | None) -> EpisodeEndedError:
        """The error for stepping ``env``; ``ended``: how its episode ended ("terminated" or
        "truncated"), None before the first reset."""
        if ended is None:
            return cls(f"{env_name(env)}: no episode has started; call reset() before step()")
        return cls(f"{env_name(env)}: the episode has ended ({ended}); call reset() before step()")

    @classmethod
    def check(cls, env: gym.Env, started: bool, ended: str | None) -> None:
        """Raise unless an episode of ``env`` is running (the first lines of a ``step``)."""
        if not started or ended is not None:
            raise cls.of(env, ended if started else None)


def mark_episode_end(info: dict, terminated: bool, truncated: bool) -> str | None:
    """On an episode's last step, set ``info["is_success"]`` from its ``"outcome"``; returns how
    the episode ended ("terminated" or "truncated"), None while it runs."""
    if not (terminated or truncated):
        return None
    info["is_success"] = info["outcome"] == "goal"
    return "terminated" if terminated else "truncated"


@runtime_checkable
class Policy(Protocol):
    """Anything with stable-baselines3's ``predict``: ``(action, state)`` for one observation."""

    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = False,
    ) -> tuple[Any, Any]: ...


def is_tabular(env: gym.Env) -> bool:
    """Whether the env offers an exact ``to_mdp()`` (and ``state_index()`` to follow it)."""
    base = env.unwrapped
    return callable(getattr(base, "to_mdp", None)) and callable(getattr(base, "state_index", None))


def feature_names(env: gym.Env) -> tuple[str, ...]:
    """The env's feature names, checked: a non-empty tuple of distinct strings."""
    names = getattr(env.unwrapped, "feature_names", None)
    if names is None:
        raise ProtocolError(f"{env_name(env)}: no feature_names (a tuple of K feature names)")
    names = tuple(names)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ProtocolError(
            f"{env_name(env)}: feature_names must be non-empty strings, got {names}"
        )
    if len(set(names)) != len(names):
        raise ProtocolError(f"{env_name(env)}: feature_names repeat: {names}")
    return names


def feature_groups(env: gym.Env) -> tuple[tuple[str, ...], ...]:
    """The env's declared one-hot feature groups (``feature_groups``; none: ``()``)."""
    return tuple(tuple(g) for g in getattr(env.unwrapped, "feature_groups", ()) or ())


def shifts(env: gym.Env) -> tuple[str, ...]:
    """The env's named held-out shifts (``SHIFTS``), checked."""
    value = getattr(env.unwrapped, "SHIFTS", None)
    if value is None or isinstance(value, str):
        raise ProtocolError(
            f"{env_name(env)}: SHIFTS must be a tuple of shift names, got {value!r}"
        )
    value = tuple(value)
    if not all(isinstance(s, str) and s for s in value) or "train" in value:
        raise ProtocolError(
            f"{env_name(env)}: SHIFTS must be non-empty names other than 'train', got {value}"
        )
    return value


def check_protocol(env: gym.Env, *, seed: int = 0, episodes: int = 3, max_steps: int = 100_000):
    """Run ``episodes`` random-action episodes and check every rule of the protocol.

    Raises :class:`ProtocolError` naming the first broken rule. Checks: feature names and
    shifts; ``info["features"]`` of shape (K,), finite, on reset's absence-tolerant info and on
    every step; ``info["outcome"]`` in OUTCOMES on the last step only, and the last step's
    ``info["is_success"]``, where the env sets it, ``outcome == "goal"``; the reward equals
    ``true_weights·φ`` where the env declares ``true_weights``; episodes end within
    ``max_steps``; ``feature_groups`` (if any) name known features.
    """
    names = feature_names(env)
    shifts(env)
    K = len(names)
    base = env.unwrapped
    weights = getattr(base, "true_weights", None)
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != (K,):
            raise ProtocolError(
                f"{env_name(env)}: true_weights has shape {weights.shape}, expected ({K},)"
            )
    for group in getattr(base, "feature_groups", ()) or ():
        unknown = [g for g in group if g not in names]
        if unknown:
            raise ProtocolError(f"{env_name(env)}: feature_groups name unknown features {unknown}")
    env.action_space.seed(seed)
    for episode in range(episodes):
        env.reset(seed=seed + episode)
        for t in range(max_steps):
            _, reward, terminated, truncated, info = env.step(env.action_space.sample())
            where = f"{env_name(env)}, episode {episode}, step {t}"
            phi = info.get("features")
            if phi is None:
                raise ProtocolError(f"{where}: info has no 'features'")
            phi = np.asarray(phi, dtype=np.float64)
            if phi.shape != (K,) or not np.isfinite(phi).all():
                raise ProtocolError(
                    f"{where}: info['features'] must be finite with shape ({K},), got {phi}"
                )
            if weights is not None and not np.isclose(reward, weights @ phi, rtol=1e-6, atol=1e-9):
                raise ProtocolError(
                    f"{where}: reward {reward} is not true_weights·features = {weights @ phi}"
                )
            done = terminated or truncated
            if done and info.get("outcome") not in OUTCOMES:
                raise ProtocolError(
                    f"{where}: the last step's info['outcome'] must be one of {OUTCOMES}, "
                    f"got {info.get('outcome')!r}"
                )
            if not done and "outcome" in info:
                raise ProtocolError(f"{where}: info['outcome'] set before the episode ended")
            success = info.get("is_success")
            if done and success is not None:
                is_bool = isinstance(success, bool | np.bool_)
                if not is_bool or success != (info["outcome"] == "goal"):
                    raise ProtocolError(
                        f"{where}: info['is_success'] must be outcome == 'goal' (a bool), got "
                        f"{success!r} with outcome {info['outcome']!r}"
                    )
            if done:
                break
        else:
            raise ProtocolError(f"{env_name(env)}: an episode did not end within {max_steps} steps")


def env_name(env: gym.Env) -> str:
    """The env's registered id, or its class name (for messages)."""
    return env.spec.id if env.spec is not None else type(env.unwrapped).__name__
