"""MuJoCo-lite: rewunc's continuous-control envs on MuJoCo physics (``rewunc.envs.mujoco_lite``).

Registered as ``rewunc/PointLava-v0``, ``rewunc/PointColor-v0`` and ``rewunc/ReacherCorner-v0``
by ``import rewunc``. They follow rewunc's environment protocol but have no ``to_mdp()``: the
exact tabular planners refuse them; the deep agents and the MDP-free reward inference
(preferences, trajectory choices) work on them.
"""

from rewunc.envs.mujoco_lite.base import MujocoLiteEnv
from rewunc.envs.mujoco_lite.point_color import PointColor
from rewunc.envs.mujoco_lite.point_lava import PointLava
from rewunc.envs.mujoco_lite.reacher_corner import ReacherCorner

__all__ = ["MujocoLiteEnv", "PointColor", "PointLava", "ReacherCorner"]
