"""PointColor: colour or shape? Goal misgeneralization in continuous control, with no MDP.

A scripted expert touches the red sphere of training arenas → preferences (a B-Pref teacher over
segment pairs) and/or trajectory choices → a reward posterior by NUTS, which cannot tell ``red``
from ``sphere`` (they always coincide in training) → deep agents {BayesMean, CVaR(0.9),
TrueReward} trained on the training distribution → rollouts on held-out training arenas and on
``swap`` (a red box and a blue sphere: the goal is the sphere; touching the red box is the proxy).

    python experiments/point_color.py --jobs 2       # 5 seeds: runs/point_color/default/
    python experiments/point_color.py --fast         # about a minute: runs/point_color/fast/
    python experiments/point_color.py --env-kwargs '{"p": 0.1}' --name p0.1
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from rewunc.config import parse_flags
from rewunc.envs.mujoco_lite import PointColor
from rewunc.envs.mujoco_lite.experts import PointColorExpert
from rewunc.study.config import DeepFields, FeatureFields, StudyConfig
from rewunc.study.feature import feature_study


@dataclass(frozen=True)
class PointColorConfig(DeepFields, FeatureFields, StudyConfig):
    """PointColor: a red sphere in training, a red box and a blue sphere under the shift.

    The step cost is anchored (the designer's time cost: preferences between equally long
    segments cannot see it). See rewunc.study.config for every other flag.
    """

    env: str = "rewunc/PointColor-v0"
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    birl_beta: float = 1.0
    anchor_feature: str = "step"
    anchor_prior: tuple[float, ...] = (-0.02, 0.005)
    deep_agents: tuple[str, ...] = ("BayesMean", "CVaR(alpha=0.9)", "TrueReward")
    deep_steps: int = 300_000
    shifts: tuple[str, ...] = ("train", "swap")


FAST = dict(
    seeds=(0,),
    n_demos=6,
    n_alternatives=4,
    n_rollouts=4,
    n_pairs=60,
    num_warmup=150,
    num_samples=150,
    deep_steps=2048,
    n_episodes=8,
    agent_samples=40,
)
STUDY = "point_color"
SUMMARY = ("goal_rate", "misgeneralization_rate", "timeout_rate", "return")


def expert(noise: float, seed) -> PointColorExpert:
    """The scripted demonstrator: to the sphere, around the other object, with action noise."""
    return PointColorExpert(PointColor.TRUE_WEIGHTS, noise, seed)


def main(argv=None) -> int:
    cfg, flags = parse_flags(PointColorConfig, FAST, argv, prog="point_color")  # refuses bad flags
    return feature_study(STUDY, cfg, flags, expert=expert, summary=SUMMARY)


if __name__ == "__main__":
    sys.exit(main())
