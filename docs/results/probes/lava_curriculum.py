"""Probe (not an experiment): does a lava curriculum make procedural PPO competent?

Deep TrueReward with the default DeepSettings trains ``first`` steps on lava-free procedural
LavaLand, then 200k − ``first`` steps with lava (the same PPO, its envs swapped; exploring starts
as in train_agent), and is scored exactly (deep_competence.score: normalised gap of the greedy
policy to the LP optimum against the uniform policy) on layouts 7000–7029 of ``train`` and
``lava``. ``first`` 0 is the default training (lava from the start).

    python docs/results/probes/lava_curriculum.py SEED [FIRST]     # prints one JSON line
"""

import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch as th

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repository root

from stable_baselines3.common.env_util import make_vec_env  # noqa: E402

from experiments.deep_competence import score  # noqa: E402
from rewunc.agents.deep import train as T  # noqa: E402
from rewunc.agents.deep.exploring_starts import ExploringStarts  # noqa: E402

ENV, TOTAL, LAYOUTS = "rewunc/LavaLand-v0", 200_000, range(7000, 7030)


def main(seed: int, first: int) -> dict:
    th.set_num_threads(1)
    settings = T.DeepSettings()
    t0 = time.time()
    if first > 0:
        model = T.train_agent("TrueReward", ENV, {"shift": None}, None, seed,
                              replace(settings, steps=first))  # fmt: skip
        venv = make_vec_env(ENV, n_envs=settings.n_envs, seed=seed + 1000,
                            env_kwargs={"shift": "lava"}, wrapper_class=ExploringStarts,
                            wrapper_kwargs={"fraction": settings.exploring_starts})  # fmt: skip
        model.set_env(venv)
        model.learn(TOTAL - first, reset_num_timesteps=False)
    else:
        model = T.train_agent("TrueReward", ENV, {"shift": "lava"}, None, seed,
                              replace(settings, steps=TOTAL))  # fmt: skip
    out = {"seed": seed, "first": first, "seconds": round(time.time() - t0)}
    for split in ("train", "lava"):
        rows = [score(model, {"layout_seed": L, "shift": None if split == "train" else split},
                      settings.gamma) for L in LAYOUTS]  # fmt: skip
        gaps = np.array([r["gap_uniform_greedy"] for r in rows])
        out[split] = {
            "mean_gap": round(float(np.nanmean(gaps)), 3),
            "median_gap": round(float(np.nanmedian(gaps)), 3),
            "worst_gap": round(float(np.nanmax(gaps)), 3),
            "reaches_target": round(float(np.mean([r["target_greedy"] > 0 for r in rows])), 3),
        }
    return out


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 100_000)))
