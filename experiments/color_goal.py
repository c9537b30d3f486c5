"""ColorGoal: was the goal the circle, or the red thing?

In training the goal is a red circle and the distractor a blue square, except in a fraction ``p``
of layouts where the colours are swapped. With p = 0 colour and shape agree in every
demonstration, so the posterior cannot tell "red" from "circle" (their weights are
anti-correlated); under the shift ``swap`` the circle is blue and a red square stands beside it,
and agents reveal what they learnt: the circle (goal), the red square (proxy: goal
misgeneralization) or neither (timeout). The same sweep as ``corner_goal.py``, on ColorGoal.

    python experiments/color_goal.py [--fast] [--ps 0 0.1 0.25 0.5] [--seeds 0 1]
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from rewunc.config import parse_flags
from rewunc.study.config import StudyConfig, TabularFields, check_ps, option
from rewunc.study.tabular import p_sweep

AGENTS = (
    "BayesMean",
    "MAP",
    "Maximin",
    "CVaR(alpha=0.9)",
    "BROIL(lam=0.5, alpha=0.95)",
    "Oracle",
)


@dataclass(frozen=True)
class ColorGoalConfig(TabularFields, StudyConfig):
    """ColorGoal: a sweep over p, the fraction of training layouts with the colours swapped.

    Each object has one colour and one shape, so demonstrations can pin down only the contrasts
    red − blue and circle − square, not "red" or "circle" alone: ``ambiguity`` is their
    posterior correlation. The BROIL frontier is drawn on ``swap``. See rewunc.study.config for
    every other flag.
    """

    env: str = "rewunc/ColorGoal-v0"
    ps: tuple[float, ...] = option((0.0, 0.1, 0.25, 0.5), "training fractions p, one study each")
    n_demos: int = 40
    agents: tuple[str, ...] = AGENTS
    shifts: tuple[str, ...] = ("train", "swap")
    ambiguity: tuple[str, ...] = ("red-blue", "circle-square")
    frontier_shift: str = "swap"

    def __post_init__(self):  # before the base: its env check opens the env at ps[0]
        check_ps(self.ps, self.env_options())
        super().__post_init__()

    def study_env_kwargs(self) -> dict:
        return {**self.env_options(), "p": self.ps[0]}


FAST = dict(
    seeds=(0,),
    ps=(0.0, 0.5),
    n_demos=6,
    num_warmup=80,
    num_samples=80,
    max_tree_depth=6,
    n_episodes=10,
    agent_samples=40,
)
SUMMARY = ("goal_rate", "misgeneralization_rate", "timeout_rate", "return", "regret")


def main(argv=None) -> int:
    cfg, flags = parse_flags(ColorGoalConfig, FAST, argv, prog="color_goal")
    return p_sweep("color_goal", cfg, flags, SUMMARY)


if __name__ == "__main__":
    sys.exit(main())
