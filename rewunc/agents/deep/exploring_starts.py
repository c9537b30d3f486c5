"""Exploring starts for deep agents on tabular envs (Sutton & Barto, 2018, §5.3).

With one fixed start and lava on the short routes, PPO's own exploration almost never finds the
clean detour: a uniform policy reaches LavaLand's target without entering lava in 0.2–3% of
episodes, so the learner settles on the safe loop of walking into a wall. Beginning a fraction
of the training episodes in a uniformly drawn state lets the critic see every state's value; the
policy is still scored from the env's own start.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

FLAG = "exploring_start"
"""The info key set (True) on every step of an episode begun by an exploring start."""


def supports_exploring_starts(env: gym.Env) -> bool:
    """Whether ``env`` has the tabular state API the wrapper needs (``set_state``,
    ``terminal_states``, ``observation_of``, ``n_states``)."""
    base = env.unwrapped
    return all(
        hasattr(base, name)
        for name in ("set_state", "state_index", "terminal_states", "observation_of")
    ) and hasattr(type(base), "n_states")


class ExploringStarts(gym.Wrapper):
    """Begin a fraction ``fraction`` of episodes in a uniformly drawn non-terminal state.

    The draw has its own generator (seeded from ``reset(seed=...)``), so the env's own stream
    — the procedural layouts — is the same with and without the wrapper. Such an episode's reset
    info and every step info hold ``info["exploring_start"] = True``: a learner whose criterion
    is defined from the env's start (RiskAversePPO's per-draw returns) leaves those episodes out.
    """

    def __init__(self, env: gym.Env, fraction: float):
        if not (isinstance(fraction, int | float) and 0.0 <= fraction <= 1.0):
            raise ValueError(f"fraction: expected a value in [0, 1], got {fraction!r}")
        if not supports_exploring_starts(env):
            raise ValueError(
                f"{env.unwrapped.__class__.__name__}: exploring starts need a tabular env "
                "(set_state, state_index, terminal_states, observation_of, n_states)"
            )
        super().__init__(env)
        self.fraction = float(fraction)
        self._rng: np.random.Generator | None = None
        self._exploring = False

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        if seed is not None or self._rng is None:
            entropy = seed if seed is not None else int(self.env.np_random.integers(2**63))
            self._rng = np.random.default_rng([int(entropy), 0x5EED])
        self._exploring = bool(self._rng.random() < self.fraction)
        if self._exploring:
            base = self.env.unwrapped
            states = np.flatnonzero(~base.terminal_states())
            base.set_state(int(states[self._rng.integers(len(states))]))
            obs = base.observation_of(base.state_index())
            info = {**info, "state": base.state_index(), FLAG: True}
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        if self._exploring:
            info[FLAG] = True
        return obs, reward, terminated, truncated, info
