"""Env steps per second: each rewunc gridworld against Minigrid, side by side in one run.

Random actions, resets included (every reset draws a fresh layout), median of several repeats.
Target (issue #2): at least 3× Minigrid's MiniGrid-Empty-8x8-v0 and MiniGrid-DistShift1-v0.

    pip install -e ".[bench]" && python benchmarks/env_steps.py [--steps 20000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import gymnasium as gym
import numpy as np

import rewunc  # noqa: F401  (registers the rewunc/ environments)
from rewunc.registry import rewunc_env_ids


def steps_per_second(env_id: str, n_steps: int, seed: int = 0) -> float:
    env = gym.make(env_id)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    n_actions = int(env.action_space.n)
    actions = rng.integers(min(n_actions, 4), size=n_steps)  # Minigrid: 0-2 turn/forward
    t0 = time.perf_counter()
    for a in actions:
        _, _, term, trunc, _ = env.step(int(a))
        if term or trunc:
            env.reset()
    return n_steps / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    try:
        import minigrid  # noqa: F401
    except ImportError as err:
        raise SystemExit('benchmarks need Minigrid: pip install -e ".[bench]"') from err
    baselines = ["MiniGrid-Empty-8x8-v0", "MiniGrid-DistShift1-v0"]
    ids = rewunc_env_ids() + baselines
    results = {i: [] for i in ids}
    for _ in range(args.repeats):  # interleaved, so machine noise hits every env alike
        for env_id in ids:
            results[env_id].append(steps_per_second(env_id, args.steps))
    med = {i: statistics.median(v) for i, v in results.items()}
    print(
        f"{'environment':28s} {'steps/s (median)':>17s} "
        + " ".join(f"{'× ' + b.split('-')[1]:>12s}" for b in baselines)
    )
    for env_id in ids:
        ratios = " ".join(f"{med[env_id] / med[b]:12.2f}" for b in baselines)
        print(f"{env_id:28s} {med[env_id]:17,.0f} {ratios}")


if __name__ == "__main__":
    main()
