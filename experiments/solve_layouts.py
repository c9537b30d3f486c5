"""Solve every built-in gridworld's training and shift layouts exactly, and draw them.

For each registered tabular ``rewunc/`` environment and each split (training and every held-out
shift), draw layouts from one seed, plan with value iteration for the environment's true reward,
roll the optimal policy out in the environment itself, and draw each layout with the path taken.
Prints a table of outcomes and returns and writes ``<out>/<Env>.png`` and ``<out>/solved.json``.

    python experiments/solve_layouts.py --out runs/solve_layouts [--layouts 4] [--seed 0]
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import gymnasium as gym
import matplotlib.pyplot as plt
import numpy as np

import rewunc  # noqa: F401  (registers the environments)
from rewunc import planning
from rewunc.config import parse_config, require_int, require_number
from rewunc.io import OverwriteError, save_figure, write_json
from rewunc.protocol import is_tabular
from rewunc.registry import rewunc_env_ids
from rewunc.runtime import file_backend


@dataclass(frozen=True)
class SolveConfig:
    """Solve each built-in env's layouts with the exact planner and draw them."""

    layouts: int = 3
    seed: int = 0
    gamma: float = 0.95

    def __post_init__(self):
        require_int(self.layouts, "layouts", 1)
        require_int(self.seed, "seed", 0)
        require_number(self.gamma, "gamma", 0.0, 1.0, hi_open=True)


def solve_split(env_id: str, shift: str | None, cfg: SolveConfig):
    env = gym.make(env_id, shift=shift, render_mode="rgb_array")
    base = env.unwrapped
    rows, pictures = [], []
    for i in range(cfg.layouts):
        _, info = env.reset(seed=cfg.seed * 1000 + i)
        mdp = base.to_mdp(cfg.gamma)
        plan = planning.value_iteration(mdp, mdp.state_rewards(base.true_weights))
        path, ret, steps = [base.cell_of_state(info["state"])], 0.0, 0
        while True:
            # the greedy policy, ties broken towards the lowest action index (deterministic)
            action = int(np.argmax(plan.policy[base.state_index()]))
            _, reward, term, trunc, info = env.step(action)
            ret += reward
            steps += 1
            path.append(base.cell_of_state(info["state"]))
            if term or trunc:
                break
        base.set_state(int(np.flatnonzero(mdp.initial)[0]))
        pictures.append(base.render_rgb(path=path))
        rows.append(
            {
                "env": env_id,
                "shift": shift or "train",
                "layout": i,
                "outcome": info["outcome"],
                "return": round(ret, 4),
                "steps": steps,
                "value": round(float(mdp.initial @ plan.v), 4),
                "states": mdp.n_states,
            }
        )
    return rows, pictures


def main(argv=None) -> int:
    file_backend()
    cfg, opts = parse_config(
        SolveConfig,
        argv,
        out=dict(default="runs/solve_layouts", help="output folder"),
        force=dict(action="store_true", help="overwrite existing results"),
    )
    out = Path(opts.out)
    if (out / "solved.json").exists() and not opts.force:
        print(f"error: {out}/solved.json exists; pass --force to overwrite", file=sys.stderr)
        return 2
    all_rows = []
    for env_id in rewunc_env_ids():
        probe = gym.spec(env_id).make()
        if not is_tabular(probe):  # the MuJoCo-lite envs have no MDP to solve
            continue
        shifts = (None, *probe.unwrapped.SHIFTS)
        fig, axes = plt.subplots(
            len(shifts), cfg.layouts, squeeze=False, figsize=(2.6 * cfg.layouts, 2.8 * len(shifts))
        )
        for row, shift in enumerate(shifts):
            rows, pictures = solve_split(env_id, shift, cfg)
            all_rows += rows
            for col, (r, img) in enumerate(zip(rows, pictures, strict=True)):
                ax = axes[row, col]
                ax.imshow(img)
                ax.set_xticks([])
                ax.set_yticks([])
                ax.set_title(
                    f"{r['shift']} #{col}: {r['outcome']}, G={r['return']:.2f}", fontsize=8
                )
        fig.suptitle(f"{env_id}: optimal paths for the true reward", fontsize=10)
        name = env_id.split("/")[1].removesuffix("-v0")
        try:
            save_figure(out / f"{name}.png", fig, force=opts.force)
        except OverwriteError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        plt.close(fig)
    header = (
        f"{'env':26s} {'shift':10s} {'layout':>6s} {'outcome':>8s} {'return':>7s} {'steps':>5s}"
    )
    print(header)
    for r in all_rows:
        print(
            f"{r['env']:26s} {r['shift']:10s} {r['layout']:6d} {r['outcome']:>8s} "
            f"{r['return']:7.3f} {r['steps']:5d}"
        )
    write_json(out / "solved.json", {"config": asdict(cfg), "rows": all_rows}, force=opts.force)
    print(f"wrote {out}/solved.json and one picture per environment")
    return 0


if __name__ == "__main__":
    sys.exit(main())
