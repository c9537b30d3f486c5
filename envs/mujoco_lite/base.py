"""The MuJoCo-lite core: small continuous-control tasks on MuJoCo physics, with rewunc's protocol.

A subclass gives an MJCF model (``XML``), how a task is drawn (``_draw_task``: positions of
targets, objects and terrain, honouring ``self.shift``), how the task is shown in the model
(``_apply_task``), the features of a state (``features_at``) and the observation. The core
provides the gymnasium API: seeding from ``self.np_random`` only, ``FRAME_SKIP`` physics steps per
action in one ``mj_step`` call, the reward ``true_weights·φ``, the episode limit,
``info["features"]`` on every step and ``info["outcome"]`` and ``info["is_success"]`` on the last,
:class:`~rewunc.protocol.EpisodeEndedError` on a step with no episode running, a fixed task for
every reset with ``layout_seed``, and ``render_mode="rgb_array"`` through MuJoCo's own renderer.

Headless rendering: without a ``DISPLAY``, ``MUJOCO_GL`` defaults to ``egl`` (Mesa's EGL;
``scripts/system-deps.sh`` installs it). Set ``MUJOCO_GL=osmesa`` or ``glfw`` before the first
``import mujoco`` to choose otherwise.
"""

from __future__ import annotations

import os

if "MUJOCO_GL" not in os.environ and not os.environ.get("DISPLAY"):
    os.environ["MUJOCO_GL"] = "egl"

from typing import Any, ClassVar  # noqa: E402

import gymnasium as gym  # noqa: E402
import mujoco  # noqa: E402
import numpy as np  # noqa: E402
from gymnasium import spaces  # noqa: E402

from rewunc.protocol import EpisodeEndedError, mark_episode_end  # noqa: E402


class MujocoLiteEnv(gym.Env):
    """Base class of rewunc's MuJoCo-lite envs (see the module docstring); not registered."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 20}
    XML: ClassVar[str]
    feature_names: ClassVar[tuple[str, ...]]
    TRUE_WEIGHTS: ClassVar[tuple[float, ...]]
    SHIFTS: ClassVar[tuple[str, ...]]
    OBS_DIM: ClassVar[int]
    OBS_BOUND: ClassVar[float] = 4.0  # every observation entry lies in [-OBS_BOUND, OBS_BOUND]
    FRAME_SKIP: ClassVar[int] = 5
    DEFAULT_MAX_STEPS: ClassVar[int] = 150
    CAMERA: ClassVar[str] = "top"

    def __init__(
        self,
        shift: str | None = None,
        *,
        layout_seed: int | None = None,
        max_steps: int | None = None,
        render_mode: str | None = None,
        width: int = 240,
        height: int = 240,
    ):
        if shift is not None and shift not in self.SHIFTS:
            raise ValueError(
                f"{type(self).__name__}: unknown shift {shift!r}; expected None "
                f"(training distribution) or one of {list(self.SHIFTS)}"
            )
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode: expected one of {self.metadata['render_modes']} or "
                f"None, got {render_mode!r}"
            )
        if max_steps is not None and (not isinstance(max_steps, int | np.integer) or max_steps < 1):
            raise ValueError(f"max_steps: expected a positive int, got {max_steps!r}")
        if layout_seed is not None and not isinstance(layout_seed, int | np.integer):
            raise ValueError(f"layout_seed: expected an int or None, got {layout_seed!r}")
        for name, value in (("width", width), ("height", height)):
            if not isinstance(value, int | np.integer) or not 16 <= value <= 2048:
                raise ValueError(f"{name}: expected an int in [16, 2048], got {value!r}")
        self.shift = shift
        self.render_mode = render_mode
        self.max_steps = int(max_steps or self.DEFAULT_MAX_STEPS)
        self.width, self.height = int(width), int(height)
        self.true_weights = np.asarray(self.TRUE_WEIGHTS, dtype=np.float64)
        self.model = mujoco.MjModel.from_xml_string(self.XML)
        self.data = mujoco.MjData(self.model)
        low, high = self.model.actuator_ctrlrange.T.astype(np.float32)
        self.action_space = spaces.Box(low, high, dtype=np.float32)
        bound = np.float32(self.OBS_BOUND)
        self.observation_space = spaces.Box(-bound, bound, (self.OBS_DIM,), dtype=np.float32)
        self._fixed_task = (
            None if layout_seed is None else self._draw_task(np.random.default_rng(layout_seed))
        )
        self.task = None
        self._steps = 0
        self._ended: str | None = None  # how the last episode ended; None while one runs
        self._renderer = None

    # ---- hooks for subclasses ---------------------------------------------------------------

    def _draw_task(self, rng: np.random.Generator):
        """Draw a task (start state, targets, objects, terrain) from ``rng``; honour the shift."""
        raise NotImplementedError

    def _apply_task(self, task) -> None:
        """Show ``task`` in the model (geom positions, sizes, colours) and set the start state."""
        raise NotImplementedError

    def _after_step(self) -> tuple[np.ndarray, float, bool]:
        """φ [K] of the state arrived in, the reward ``true_weights·φ`` (computed the subclass's
        fast way; the protocol tests check it) and whether the state is terminal. Updates the
        episode's memory (hazards entered, goals reached)."""
        raise NotImplementedError

    def _outcome(self, terminated: bool) -> str:
        """The episode's outcome (called once, on its last step)."""
        raise NotImplementedError

    def _observation(self) -> np.ndarray:
        raise NotImplementedError

    # ---- gymnasium API ----------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.task = (
            self._fixed_task if self._fixed_task is not None else self._draw_task(self.np_random)
        )
        mujoco.mj_resetData(self.model, self.data)
        self._apply_task(self.task)
        mujoco.mj_forward(self.model, self.data)
        self._steps = 0
        self._ended = None
        info = {
            "features": np.zeros(len(self.feature_names)),
            "state": np.concatenate((self.data.qpos, self.data.qvel)),
        }
        return self._observation(), info

    def step(self, action):
        EpisodeEndedError.check(self, self.task is not None, self._ended)
        # The actuators are ctrllimited: MuJoCo clamps the controls to the action space.
        self.data.ctrl[:] = action
        mujoco.mj_step(self.model, self.data, self.FRAME_SKIP)
        phi, reward, terminated = self._after_step()
        self._steps += 1
        truncated = not terminated and self._steps >= self.max_steps
        info = {"features": phi}
        if terminated or truncated:
            info["outcome"] = self._outcome(terminated)
        self._ended = mark_episode_end(info, terminated, truncated)
        return self._observation(), reward, terminated, truncated, info

    def set_state(self, qpos, qvel=None) -> None:
        """Place the system by hand (tests, figures): joint positions and velocities. As a
        gridworld's ``set_state``, it lets an ended episode go on from there."""
        self._ended = None
        self.data.qpos[:] = qpos
        self.data.qvel[:] = 0.0 if qvel is None else qvel
        mujoco.mj_forward(self.model, self.data)

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        if self._renderer is None:
            self._renderer = mujoco.Renderer(self.model, self.height, self.width)
        mujoco.mj_forward(self.model, self.data)  # kinematics of the current state
        self._renderer.update_scene(self.data, camera=self.CAMERA)
        return self._renderer.render()

    def close(self):
        # MuJoCo's Renderer errors in its destructor at interpreter exit unless closed.
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        super().close()


# ---- shared MJCF and checks --------------------------------------------------------------------

VISUAL = """<visual>
    <global offwidth="1024" offheight="1024"/>
    <headlight ambient="0.55 0.55 0.55" diffuse="0.35 0.35 0.35" specular="0 0 0"/>
  </visual>"""
"""Offscreen buffers for large renders, and a soft headlight (no glare on the top view)."""


def point_mass(damping: float, size: float, rgba: str) -> tuple[str, str]:
    """The point envs' point mass: its ``<body>`` (two slide joints over the arena [-1, 1]²,
    no contacts) and its two motors (gear 4, controls clamped to [-1, 1] by MuJoCo)."""
    body = f"""<body name="point" pos="0 0 0.05">
      <joint name="x" type="slide" axis="1 0 0" limited="true" range="-1 1" damping="{damping}"/>
      <joint name="y" type="slide" axis="0 1 0" limited="true" range="-1 1" damping="{damping}"/>
      <geom name="point" type="sphere" size="{size}" mass="1" rgba="{rgba}"
            contype="0" conaffinity="0"/>
    </body>"""
    motors = """<motor joint="x" gear="4" ctrlrange="-1 1" ctrllimited="true"/>
    <motor joint="y" gear="4" ctrlrange="-1 1" ctrllimited="true"/>"""
    return body, motors


def check_probability(p, name: str = "p") -> float:
    """``p`` as a float in [0, 1], or a ValueError naming it."""
    if isinstance(p, bool) or not isinstance(p, int | float | np.floating) or not 0 <= p <= 1:
        raise ValueError(f"{name}: expected a probability in [0, 1], got {p!r}")
    return float(p)
