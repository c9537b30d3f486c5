"""Env steps per second: each rewunc env against its field's reference env, side by side.

Gridworlds against Minigrid (MiniGrid-Empty-8x8-v0, MiniGrid-DistShift1-v0; target of issue #2:
at least 3×); the MuJoCo-lite envs against Gymnasium's Reacher-v5 (target of issue #10: at least
2×). All made with ``gym.make`` (so with Gymnasium's wrappers), random actions drawn beforehand,
resets included (every reset draws a fresh layout), median of several interleaved repeats.

    pip install -e ".[bench]" && python benchmarks/env_steps.py [--steps 20000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import gymnasium as gym
import numpy as np
from gymnasium import spaces

import rewunc  # noqa: F401  (registers the rewunc/ environments)
from rewunc.protocol import is_tabular
from rewunc.registry import rewunc_env_ids

GRID_BASELINES = ["MiniGrid-Empty-8x8-v0", "MiniGrid-DistShift1-v0"]
MUJOCO_BASELINES = ["Reacher-v5"]


def steps_per_second(env_id: str, n_steps: int, seed: int = 0) -> float:
    env = gym.make(env_id)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    space = env.action_space
    if isinstance(space, spaces.Discrete):
        n = min(int(space.n), 4)  # Minigrid: 0-2 turn/forward, 3 pick up
        actions = [int(a) for a in rng.integers(n, size=n_steps)]
    else:
        actions = list(
            rng.uniform(space.low, space.high, (n_steps, *space.shape)).astype(space.dtype)
        )
    t0 = time.perf_counter()
    for a in actions:
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset()
    elapsed = time.perf_counter() - t0
    env.close()
    return n_steps / elapsed


def table(ids: list[str], baselines: list[str], med: dict[str, float]) -> str:
    lines = [
        f"{'environment':28s} {'steps/s (median)':>17s} "
        + " ".join(f"{'× ' + b.split('-')[-2 if b.count('-') > 1 else 0]:>12s}" for b in baselines)
    ]
    for env_id in ids + baselines:
        ratios = " ".join(f"{med[env_id] / med[b]:12.2f}" for b in baselines)
        lines.append(f"{env_id:28s} {med[env_id]:17,.0f} {ratios}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    try:
        import gymnasium.envs.mujoco  # noqa: F401
        import minigrid  # noqa: F401
    except ImportError as err:
        raise SystemExit('benchmarks need Minigrid and MuJoCo: pip install -e ".[bench]"') from err
    grids = [i for i in rewunc_env_ids() if is_tabular(gym.make(i))]
    mujoco = [i for i in rewunc_env_ids() if i not in grids]
    ids = grids + GRID_BASELINES + mujoco + MUJOCO_BASELINES
    results = {i: [] for i in ids}
    for _ in range(args.repeats):  # interleaved, so machine noise hits every env alike
        for env_id in ids:
            results[env_id].append(steps_per_second(env_id, args.steps))
    med = {i: statistics.median(v) for i, v in results.items()}
    print(f"random actions, {args.steps} steps, median of {args.repeats} interleaved repeats\n")
    print(table(grids, GRID_BASELINES, med))
    print()
    print(table(mujoco, MUJOCO_BASELINES, med))


if __name__ == "__main__":
    main()
