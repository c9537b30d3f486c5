"""PointGoal: a non-tabular environment plugged into rewunc (no GridWorld, no ``to_mdp``).

A worked example for docs/plugging_in.md. Importing this module registers
``point_goal/PointGoal-v0``, so with this folder on ``sys.path``::

    gym.make("point_goal:point_goal/PointGoal-v0")
    rewunc check-env point_goal:point_goal/PointGoal-v0

or run ``python docs/examples/point_goal.py`` to check it.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

ENV_ID = "point_goal/PointGoal-v0"
NO_HAZARD = (-1.0, -1.0)  # the observed hazard centre when there is no hazard zone


class PointGoal(gym.Env):
    """Move a point to a goal disc in the unit square; at test time a hazard zone blocks the way.

    ## Description
    A point starts somewhere in the unit square, at least 0.5 from the centre of a goal disc
    (radius ``GOAL_RADIUS``). Under the shift ``hazard`` a hazard disc (radius
    ``HAZARD_RADIUS``) lies on the straight line from the start to the goal, around its middle;
    in training there is none, so demonstrations say nothing about the hazard's weight.

    ## Action Space
    ``Discrete(5)``: 0 up (+y), 1 right (+x), 2 down, 3 left, each a move of ``STEP`` (0.05),
    clipped to the square; 4 stays.

    ## Observation Space
    ``Box(low, high, (6,), float32)``: the point's position (x, y), the goal's centre, and the
    hazard's centre; position and goal lie in [0, 1], the hazard centre is (-1, -1) when there
    is no hazard zone (so ``low`` is -1 there).

    ## Rewards
    Features ``(goal, hazard, step)`` of the position arrived in: ``goal`` 1 inside the goal
    disc, ``hazard`` 1 inside the hazard disc (one per step spent there), ``step`` 1 on every
    step. True weights ``(1.0, -1.0, -0.02)``: reward = w·φ.

    ## Starting State
    Start, goal (and hazard under the shift) are drawn from ``self.np_random`` on reset.

    ## Episode End
    Terminates on entering the goal disc; truncates after ``max_steps`` (default 60).
    Outcome (``info["outcome"]`` on the last step): ``hazard`` if the point was ever inside the
    hazard disc; else ``goal`` on reaching the goal and ``timeout`` otherwise.
    ``info["hazard_visits"]`` counts the steps spent in the hazard.

    ## Arguments
    ``shift``: None (training) or ``"hazard"``; ``max_steps`` (default 60); ``render_mode``:
    None or ``"rgb_array"`` (a 64 × 64 picture).

    ## Version History
    * v0: the example of docs/plugging_in.md.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    # rewunc's protocol: feature names, held-out shifts, the designer's weights.
    feature_names = ("goal", "hazard", "step")
    SHIFTS = ("hazard",)
    TRUE_WEIGHTS = (1.0, -1.0, -0.02)

    STEP = 0.05
    GOAL_RADIUS = 0.06
    HAZARD_RADIUS = 0.1
    MOVES = np.array([(0.0, 1.0), (1.0, 0.0), (0.0, -1.0), (-1.0, 0.0), (0.0, 0.0)])

    def __init__(
        self, shift: str | None = None, *, max_steps: int = 60, render_mode: str | None = None
    ):
        if shift is not None and shift not in self.SHIFTS:
            raise ValueError(
                f"PointGoal: unknown shift {shift!r}; expected None or one of {list(self.SHIFTS)}"
            )
        if not isinstance(max_steps, int) or max_steps < 1:
            raise ValueError(f"max_steps: expected a positive int, got {max_steps!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode: expected None or 'rgb_array', got {render_mode!r}")
        self.shift, self.max_steps, self.render_mode = shift, max_steps, render_mode
        self.true_weights = np.asarray(self.TRUE_WEIGHTS, dtype=np.float64)
        self.action_space = spaces.Discrete(5)
        low = np.array([0, 0, 0, 0, -1, -1], dtype=np.float32)
        self.observation_space = spaces.Box(low, np.float32(1.0), (6,), dtype=np.float32)
        self._pos = self._goal = None

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        rng = self.np_random  # the only source of randomness
        self._pos = rng.uniform(0.05, 0.95, 2)
        while True:
            self._goal = rng.uniform(0.05, 0.95, 2)
            if np.linalg.norm(self._goal - self._pos) >= 0.5:
                break
        self._hazard = None
        if self.shift == "hazard":
            u = rng.uniform(0.4, 0.6)
            self._hazard = self._pos + u * (self._goal - self._pos)
        self._steps = self._hazard_visits = 0
        return self._observation(), {"features": np.zeros(len(self.feature_names))}

    def step(self, action):
        if self._pos is None:
            raise RuntimeError("call reset() before step()")
        move = self.MOVES[int(action)]
        self._pos = np.clip(self._pos + self.STEP * move, 0.0, 1.0)
        self._steps += 1
        at_goal = np.linalg.norm(self._pos - self._goal) <= self.GOAL_RADIUS
        in_hazard = (
            self._hazard is not None
            and np.linalg.norm(self._pos - self._hazard) <= self.HAZARD_RADIUS
        )
        self._hazard_visits += int(in_hazard)
        phi = np.array([at_goal, in_hazard, 1.0], dtype=np.float64)
        reward = float(phi @ self.true_weights)
        terminated = bool(at_goal)
        truncated = not terminated and self._steps >= self.max_steps
        info: dict[str, Any] = {"features": phi, "hazard_visits": self._hazard_visits}
        if terminated or truncated:
            achieved = "goal" if terminated else "timeout"
            info["outcome"] = "hazard" if self._hazard_visits else achieved
        return self._observation(), reward, terminated, truncated, info

    def _observation(self) -> np.ndarray:
        hazard = NO_HAZARD if self._hazard is None else self._hazard
        return np.concatenate([self._pos, self._goal, hazard]).astype(np.float32)

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        px = 64
        yy, xx = (np.mgrid[px - 1 : -1 : -1, 0:px] + 0.5) / px  # y up
        img = np.full((px, px, 3), 245, dtype=np.uint8)
        discs = [(self._goal, self.GOAL_RADIUS, (40, 170, 60)), (self._pos, 0.03, (30, 30, 200))]
        if self._hazard is not None:
            discs.insert(0, (self._hazard, self.HAZARD_RADIUS, (220, 50, 30)))
        for (x, y), radius, rgb in discs:
            img[(xx - x) ** 2 + (yy - y) ** 2 <= radius**2] = rgb
        return img


if ENV_ID not in gym.registry:  # importing twice registers once
    gym.register(id=ENV_ID, entry_point=PointGoal)


if __name__ == "__main__":
    import sys

    from rewunc.cli import main

    sys.exit(main(["check-env", ENV_ID]))
