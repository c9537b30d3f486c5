"""CornerGoal: when the goal always sat in the corner, which one did the posterior learn?

In training the goal lies in the top-right corner except in a fraction ``p`` of layouts, where it
is placed anywhere. With p = 0 the goal and corner features coincide in every demonstration, so
the posterior cannot tell them apart (their weights are strongly anti-correlated); under the shift
``anywhere`` the goal leaves the corner and agents reveal what they learnt: the goal, the corner
(the proxy: goal misgeneralization) or neither (timeout). The sweep over p shows how the
posterior's ambiguity and the outcome rates change as training decorrelates goal and corner.

    python experiments/corner_goal.py [--fast] [--ps 0 0.1 0.25 0.5] [--seeds 0 1]
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
class CornerGoalConfig(TabularFields, StudyConfig):
    """CornerGoal: a sweep over p, the fraction of training layouts with the goal off the corner.

    ``ambiguity`` names the two posterior contrasts whose correlation measures how well the
    demonstrations told goal from proxy. The step cost is the anchored weight (the designer's
    unit); the BROIL frontier is drawn on ``anywhere``. See rewunc.study.config for every
    other flag.
    """

    env: str = "rewunc/CornerGoal-v0"
    ps: tuple[float, ...] = option((0.0, 0.1, 0.25, 0.5), "training fractions p, one study each")
    # 40 layouts, so that p = 0.1 and p = 0.25 differ by a few decorrelated demonstrations
    n_demos: int = 40
    agents: tuple[str, ...] = AGENTS
    shifts: tuple[str, ...] = ("train", "anywhere")
    ambiguity: tuple[str, ...] = ("goal", "corner")
    frontier_shift: str = "anywhere"

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
# the sweeps' question: goal, proxy (misgeneralization) or neither (timeout)?
SUMMARY = ("goal_rate", "misgeneralization_rate", "timeout_rate", "return", "regret")


def main(argv=None) -> int:
    cfg, flags = parse_flags(CornerGoalConfig, FAST, argv, prog="corner_goal")
    return p_sweep("corner_goal", cfg, flags, SUMMARY)


if __name__ == "__main__":
    sys.exit(main())
