"""PointLava: Inverse Reward Design in continuous control, with no MDP anywhere.

A scripted expert crosses lava-free arenas → preferences (a B-Pref teacher over segment pairs) and
trajectory choices (each demonstration against noisy replays of itself) → a reward posterior by
NUTS, in which the lava weight keeps its prior → deep agents {BayesMean, CVaR(0.9),
BROIL(0.5, 0.95) (RiskAversePPO over the posterior), TrueReward (PPO on the designer's reward)}
trained in arenas *with* lava, where only the posterior tells them what lava costs → rollouts on
held-out lava-free and lava arenas.

    python experiments/point_lava.py --jobs 2        # 5 seeds: runs/point_lava/default/
    python experiments/point_lava.py --fast          # about a minute: runs/point_lava/fast/
    python experiments/point_lava.py --data preferences --teacher-mistake 0.1 --name noisy
    python experiments/point_lava.py --deep-train-shift train --name lava_free_training
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from rewunc.config import parse_flags
from rewunc.envs.mujoco_lite import PointLava
from rewunc.envs.mujoco_lite.experts import PointLavaExpert
from rewunc.study.config import DeepFields, FeatureFields, StudyConfig
from rewunc.study.feature import feature_study


@dataclass(frozen=True)
class PointLavaConfig(DeepFields, FeatureFields, StudyConfig):
    """PointLava: preferences and demonstrations without lava, deep agents with it.

    The target's weight is anchored (the designer's unit; it also pins the constant of the
    one-hot terrain, which segment preferences cannot see). See rewunc.study.config for every
    other flag.
    """

    env: str = "rewunc/PointLava-v0"
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    birl_beta: float = 1.0
    anchor_feature: str = "target"
    anchor_prior: tuple[float, ...] = (1.0, 0.05)
    deep_agents: tuple[str, ...] = (
        "BayesMean",
        "CVaR(alpha=0.9)",
        "BROIL(lam=0.5, alpha=0.95)",
        "TrueReward",
    )
    deep_steps: int = 500_000
    deep_train_shift: str = "lava"
    shifts: tuple[str, ...] = ("train", "lava")


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
STUDY = "point_lava"
SUMMARY = ("goal_rate", "hazard_rate", "timeout_rate", "return")


def expert(noise: float, seed) -> PointLavaExpert:
    """The scripted demonstrator: the designer's cheapest path, with action noise."""
    return PointLavaExpert(PointLava.TRUE_WEIGHTS, noise, seed)


def main(argv=None) -> int:
    cfg, flags = parse_flags(PointLavaConfig, FAST, argv, prog="point_lava")  # refuses bad flags
    return feature_study(STUDY, cfg, flags, expert=expert, summary=SUMMARY)


if __name__ == "__main__":
    sys.exit(main())
