"""rewunc's built-in gridworlds, installed as ``rewunc.envs`` and registered as
``rewunc/<Name>-v0`` by ``import rewunc`` (see :mod:`rewunc.registry`).

Each follows rewunc's environment protocol (:mod:`rewunc.protocol`): ``feature_names``,
``info["features"]``, ``info["outcome"]`` on the last step, ``SHIFTS`` and a ``shift=`` keyword,
and ``to_mdp()``.
"""

from rewunc.envs.color_goal import ColorGoal
from rewunc.envs.corner_goal import CornerGoal
from rewunc.envs.gridworld import GridWorld, Layout, LayoutError
from rewunc.envs.keys_chests import KeysChests
from rewunc.envs.lavaland import LavaLand
from rewunc.registry import BUILTIN, register_builtin, rewunc_env_ids

__all__ = [
    "BUILTIN",
    "ColorGoal",
    "CornerGoal",
    "GridWorld",
    "KeysChests",
    "LavaLand",
    "Layout",
    "LayoutError",
    "register_builtin",
    "rewunc_env_ids",
]
