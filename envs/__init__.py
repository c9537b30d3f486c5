"""rewunc's built-in environments, registered with gymnasium as ``rewunc/<Name>-v0``.

Importing this package (``import envs`` or ``import rewunc``) registers them. Each environment
follows rewunc's environment protocol (DESIGN.md): ``feature_names``, ``info["features"]``,
``info["outcome"]`` on the last step, ``SHIFTS`` and a ``shift=`` keyword, and ``to_mdp()``.
"""

import gymnasium as gym

from envs.color_goal import ColorGoal
from envs.corner_goal import CornerGoal
from envs.gridworld import GridWorld, Layout, LayoutError
from envs.keys_chests import KeysChests
from envs.lavaland import LavaLand

BUILTIN = {
    "rewunc/LavaLand-v0": LavaLand,
    "rewunc/CornerGoal-v0": CornerGoal,
    "rewunc/ColorGoal-v0": ColorGoal,
    "rewunc/KeysChests-v0": KeysChests,
}


def register_builtin() -> None:
    """Register the built-in environments (idempotent)."""
    for env_id, cls in BUILTIN.items():
        if env_id not in gym.registry:
            # The envs truncate themselves (max_steps) so that info["outcome"] is set on the
            # last step; a gymnasium TimeLimit would cut episodes without it.
            gym.register(
                id=env_id, entry_point=f"{cls.__module__}:{cls.__name__}", disable_env_checker=False
            )


def rewunc_env_ids() -> list[str]:
    """Every registered ``rewunc/`` environment id (built-in and plugged in)."""
    return sorted(env_id for env_id in gym.registry if env_id.startswith("rewunc/"))


register_builtin()

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
