"""The built-in environments' gymnasium ids, registered by ``import rewunc``.

Entry points are strings, so registering imports no environment code: ``rewunc`` never imports
``rewunc.envs`` at import time, and ``rewunc.envs`` may import any part of ``rewunc``.
"""

from __future__ import annotations

import gymnasium as gym

BUILTIN = {
    "rewunc/LavaLand-v0": "rewunc.envs.lavaland:LavaLand",
    "rewunc/CornerGoal-v0": "rewunc.envs.corner_goal:CornerGoal",
    "rewunc/ColorGoal-v0": "rewunc.envs.color_goal:ColorGoal",
    "rewunc/KeysChests-v0": "rewunc.envs.keys_chests:KeysChests",
    "rewunc/PointLava-v0": "rewunc.envs.mujoco_lite.point_lava:PointLava",
    "rewunc/PointColor-v0": "rewunc.envs.mujoco_lite.point_color:PointColor",
    "rewunc/ReacherCorner-v0": "rewunc.envs.mujoco_lite.reacher_corner:ReacherCorner",
}


def register_builtin() -> None:
    """Register the built-in environments (idempotent)."""
    for env_id, entry_point in BUILTIN.items():
        if env_id not in gym.registry:
            # The envs truncate themselves (max_steps) so that info["outcome"] is set on the
            # last step; a gymnasium TimeLimit would cut episodes without it.
            gym.register(id=env_id, entry_point=entry_point, disable_env_checker=False)


def rewunc_env_ids() -> list[str]:
    """Every registered ``rewunc/`` environment id (built-in and plugged in)."""
    return sorted(env_id for env_id in gym.registry if env_id.startswith("rewunc/"))
