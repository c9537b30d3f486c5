"""Draw every built-in env on its training distribution and on each shift, for the README.

python docs/examples/env_gallery.py        # writes docs/figures/envs/<Name>.png
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import rewunc  # noqa: E402, F401  (registers the envs)
from rewunc.io import save_figure  # noqa: E402
from rewunc.registry import BUILTIN  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "figures" / "envs"


def picture(env_id: str, shift: str | None, seed: int):
    env = gym.make(env_id, shift=shift, render_mode="rgb_array")
    env.reset(seed=seed)
    image = env.render()
    env.close()
    return image


SEEDS = {"rewunc/ReacherCorner-v0": 0}  # a layout whose shifted target lies outside the region


def main(default_seed: int = 3) -> None:
    for env_id in BUILTIN:
        seed = SEEDS.get(env_id, default_seed)
        splits = (None, *gym.make(env_id).unwrapped.SHIFTS)
        fig, axes = plt.subplots(1, len(splits), figsize=(2.2 * len(splits), 2.45))
        for ax, shift in zip(axes, splits, strict=True):
            ax.imshow(picture(env_id, shift, seed))
            ax.set_title(shift or "train", fontsize=10)
            ax.axis("off")
        fig.suptitle(env_id, fontsize=10)
        fig.tight_layout()
        path = save_figure(OUT / f"{env_id.split('/')[1].removesuffix('-v0')}.png", fig, force=True)
        plt.close(fig)
        print(path)


if __name__ == "__main__":
    main()
