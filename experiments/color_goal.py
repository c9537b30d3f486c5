"""ColorGoal: was the goal the circle, or the red thing?

In training the goal is a red circle and the distractor a blue square, except in a fraction ``p``
of layouts where the colours are swapped. With p = 0 colour and shape agree in every
demonstration, so the posterior cannot tell "red" from "circle" (their weights are
anti-correlated); under the shift ``swap`` the circle is blue and a red square stands beside it,
and agents reveal what they learnt: the circle (goal), the red square (proxy: goal
misgeneralization) or neither (timeout). The sweep over p shows how the ambiguity and the outcome
rates change as training decorrelates colour and shape.

    python experiments/color_goal.py [--fast] [--ps 0 0.1 0.25 0.5] [--seeds 0 1]
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from experiments.corner_goal import AGENTS, FAST
from rewunc.experiment import main_for
from rewunc.study import sweep_studies


@dataclass(frozen=True)
class ColorGoalConfig:
    """ColorGoal: a sweep over p, the fraction of training layouts with the colours swapped."""

    seeds: tuple[int, ...] = (0,)
    ps: tuple[float, ...] = (0.0, 0.1, 0.25, 0.5)
    size: int = 6
    n_demos: int = 20
    expert_beta: float = 50.0
    birl_beta: float = 50.0
    prior_scale: float = 1.0  # N(0, prior_scale²) on every weight but the anchor
    anchor_feature: str = "step"  # the designer's unit: the cost of a step
    anchor_prior: tuple[float, ...] = (-0.02, 0.002)
    num_warmup: int = 500
    num_samples: int = 500
    num_chains: int = 2
    max_tree_depth: int = 10
    agents: tuple[str, ...] = AGENTS
    shifts: tuple[str, ...] = ("train", "swap")
    n_episodes: int = 100
    agent_samples: int = 200
    gamma: float = 0.95
    frontier_alpha: float = 0.95
    # colour and shape contrasts: each object has one colour and one shape, so only these
    # differences (not red or circle alone) are what demonstrations can pin down
    ambiguity: tuple[str, ...] = ("red-blue", "circle-square")


def studies(cfg: ColorGoalConfig):
    return sweep_studies(cfg, "rewunc/ColorGoal-v0", {"size": cfg.size})


def main(argv=None) -> int:
    return main_for("color_goal", ColorGoalConfig, studies, FAST, argv)


if __name__ == "__main__":
    sys.exit(main())
