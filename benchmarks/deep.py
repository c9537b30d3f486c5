"""Deep RL: PPO steps per second plain against the posterior-reward wrapper, and the time PPO
takes to reach 95% goal on LavaLand's held-out training layouts, side by side in one run.

The same PPO (stable-baselines3, GridCNN features, 8 LavaLand envs in a DummyVecEnv, CPU) learns
for ``--steps`` steps on the env's own reward, then through :class:`rewunc.agents.deep.
PosteriorReward` with M = 1, 100 and 1000 posterior draws under each scalarisation. Medians over
``--repeats``; the ratio is wrapped / plain steps per second. Target (issue #9): M = 1000 costs at
most 10% of PPO's steps per second (ratio ≥ 0.90). PPO's ratios are noisy on a shared machine, so
the wrapper's own cost is also timed alone: random-action VecEnv steps per second, no learner.

Time to goal: rewunc's PPO settings (``DeepSettings``: egocentric GridCNN, 8 envs, one torch
thread) on the true reward, checked every ``--goal-every`` steps on 100 held-out procedural
training layouts (greedy actions) until 95% of them end at the target; wall time excludes the
checks. Beside it, SB3's default ``MlpPolicy`` PPO with SB3's default settings for the same
number of steps (the new user's first try), and its goal rate there. Target (issue #9): at most
5 minutes on 2 cores.

    python benchmarks/deep.py [--steps 8192] [--repeats 3] [--draws 1 100 1000]
                              [--goal-seeds 0 1] [--goal-cap 300000] [--skip-throughput]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

import rewunc  # noqa: F401  (registers the environments)
from rewunc.agents.deep import SCALARISATIONS, GridCNN, PosteriorReward
from rewunc.agents.deep.train import DeepSettings, ValidationCallback, quiet_logger, train_agent
from rewunc.evaluate import EvalLayouts, evaluate

ENV = "rewunc/LavaLand-v0"


def steps_per_second(venv, steps: int, seed: int) -> float:
    model = PPO(
        "MlpPolicy",
        venv,
        n_steps=256,
        batch_size=256,
        n_epochs=4,
        policy_kwargs=dict(features_extractor_class=GridCNN),
        seed=seed,
        device="cpu",
    )
    model.set_logger(quiet_logger())  # no SB3-<date> folder per learn()
    t0 = time.perf_counter()
    model.learn(steps)
    return steps / (time.perf_counter() - t0)


def env_steps_per_second(venv, steps: int) -> float:
    """Random-action VecEnv steps per second (no learner): the wrapper's own cost."""
    rng = np.random.default_rng(0)
    venv.reset()
    actions = rng.integers(4, size=(steps // venv.num_envs, venv.num_envs))
    t0 = time.perf_counter()
    for a in actions:
        venv.step(a)
    return len(actions) * venv.num_envs / (time.perf_counter() - t0)


def time_to_goal(seeds, cap: int, every: int) -> None:
    layouts = EvalLayouts.draw(ENV, "train", 100, 12345, 0.95)  # held out: other reset seeds
    print(f"\nPPO to 95% goal on 100 held-out training layouts of {ENV} (checks every {every})")
    print(
        f"{'seed':>4s} {'rewunc steps':>12s} {'seconds':>8s} {'goal':>5s}   "
        f"{'SB3 default MlpPolicy, same steps':>34s}"
    )
    walls, steps = [], []
    for seed in seeds:
        check = ValidationCallback(layouts, every=every, stop_at=0.95)
        train_agent("TrueReward", ENV, {}, None, seed, DeepSettings(steps=cap), callback=check)
        if not check.history:
            raise SystemExit(f"--goal-cap {cap} is below --goal-every {every}: no check ran")
        n, wall, rate = check.history[-1]
        reached = rate >= 0.95
        plain = PPO("MlpPolicy", make_vec_env(ENV, n_envs=1, seed=seed), seed=seed, device="cpu")
        plain.set_logger(quiet_logger())
        t0 = time.perf_counter()
        plain.learn(n)
        plain_wall = time.perf_counter() - t0
        plain_rate = np.mean(
            [r["outcome"] == "goal" for r in evaluate(plain, layouts, name="p", seed=0)]
        )
        print(
            f"{seed:>4d} {n:>12d} {wall:8.0f} {rate:5.2f}{'' if reached else ' (cap)'} "
            f"  goal {plain_rate:4.2f} after {plain_wall:5.0f} s"
        )
        if reached:
            walls.append(wall)
            steps.append(n)
    if walls:
        print(
            f"median over seeds that reached 95%: {statistics.median(steps):.0f} steps, "
            f"{statistics.median(walls):.0f} s ({len(walls)}/{len(seeds)} seeds reached it)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    parser.add_argument("--steps", type=int, default=8192)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--draws", type=int, nargs="+", default=[1, 100, 1000])
    parser.add_argument("--envs", type=int, default=8)
    parser.add_argument("--goal-seeds", type=int, nargs="*", default=[0, 1])
    parser.add_argument("--goal-cap", type=int, default=300_000)
    parser.add_argument("--goal-every", type=int, default=8192)
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if not args.skip_throughput:
        throughput(args)
    if args.goal_seeds:
        time_to_goal(args.goal_seeds, args.goal_cap, args.goal_every)


def throughput(args) -> None:
    rng = np.random.default_rng(0)
    variants = {"plain (env reward)": None}
    for M in args.draws:
        # dirt, grass, lava, target, gravel: the unseen ones at their N(0, 1) prior
        loc, sd = [-0.05, -0.25, 0.0, 1.0, 0.0], [0.02, 0.05, 1.0, 0.05, 1.0]
        weights = rng.normal(loc, sd, size=(M, 5))
        for scalarisation in SCALARISATIONS:
            variants[f"M={M} {scalarisation}"] = (weights, scalarisation)

    # Interleaved: each repeat times every variant once, so slow drifts of a shared machine
    # hit them all; ratios are taken within a repeat, then the median over repeats.
    def make(spec):
        venv = make_vec_env(ENV, n_envs=args.envs, seed=0)
        return venv if spec is None else PosteriorReward(venv, *spec)

    sps = {name: [] for name in variants}
    steps_only = {name: [] for name in variants}
    for r in range(args.repeats):
        for name, spec in variants.items():
            sps[name].append(steps_per_second(make(spec), args.steps, r))
            steps_only[name].append(env_steps_per_second(make(spec), 4 * args.steps))
    plain = np.array(sps["plain (env reward)"])
    print(f"PPO on {ENV}, {args.envs} envs, {args.steps} steps, {args.repeats} interleaved repeats")
    print(f"{'reward':>24s} {'PPO steps/s':>12s} {'ratio':>6s} {'env steps/s':>12s} {'ratio':>6s}")
    env_plain = np.array(steps_only["plain (env reward)"])
    for name, values in sps.items():
        ratio = statistics.median(np.array(values) / plain)
        env_ratio = statistics.median(np.array(steps_only[name]) / env_plain)
        print(
            f"{name:>24s} {statistics.median(values):12.0f} {ratio:6.2f} "
            f"{statistics.median(steps_only[name]):12.0f} {env_ratio:6.2f}"
        )


if __name__ == "__main__":
    main()
