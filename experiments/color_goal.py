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

from rewunc import stages
from rewunc.config import parse_flags
from rewunc.experiments.corner_goal import AGENTS, FAST, sweep


@dataclass(frozen=True)
class ColorGoalConfig(stages.StudyConfig):
    """ColorGoal: a sweep over p, the fraction of training layouts with the colours swapped.

    Each object has one colour and one shape, so demonstrations can pin down only the contrasts
    red − blue and circle − square, not "red" or "circle" alone: ``ambiguity`` is their
    posterior correlation. See rewunc.stages.StudyConfig for every other flag.
    """

    env: str = "rewunc/ColorGoal-v0"
    ps: tuple[float, ...] = (0.0, 0.1, 0.25, 0.5)
    n_demos: int = 40
    agents: tuple[str, ...] = AGENTS
    shifts: tuple[str, ...] = ("train", "swap")
    ambiguity: tuple[str, ...] = ("red-blue", "circle-square")

    def __post_init__(self):
        stages.check_ps(self.ps, self.env_options())
        super().__post_init__()

    def study_env_kwargs(self) -> dict:
        return {**self.env_options(), "p": self.ps[0]}


def main(argv=None) -> int:
    cfg, flags = parse_flags(ColorGoalConfig, FAST, argv, prog="color_goal")
    return sweep("color_goal", cfg, flags)


if __name__ == "__main__":
    sys.exit(main())
