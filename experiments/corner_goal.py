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

from rewunc.experiment import main_for
from rewunc.study import StudyConfig, sweep_studies

AGENTS = (
    "BayesMean",
    "MAP",
    "Maximin",
    "CVaR(alpha=0.9)",
    "BROIL(lam=0.5, alpha=0.95)",
    "Oracle",
)


@dataclass(frozen=True)
class CornerGoalConfig(StudyConfig):
    """CornerGoal: a sweep over p, the fraction of training layouts with the goal off the corner.

    The step cost is the anchored weight (the designer's unit); see StudyConfig for the rest.
    """

    ps: tuple[float, ...] = (0.0, 0.1, 0.25, 0.5)
    # 40 layouts, so that p = 0.1 and p = 0.25 differ by a few decorrelated demonstrations
    n_demos: int = 40
    size: int = 7
    k: int = 1
    agents: tuple[str, ...] = AGENTS
    shifts: tuple[str, ...] = ("train", "anywhere")
    ambiguity: tuple[str, ...] = ("goal", "corner")  # corr of these posterior contrasts


# the sweeps' question: goal, proxy (misgeneralization) or neither (timeout)?
SUMMARY = ("goal_rate", "misgeneralization_rate", "timeout_rate", "return", "regret")

FAST = dict(
    ps=(0.0, 0.5),
    n_demos=6,
    num_warmup=80,
    num_samples=80,
    max_tree_depth=6,
    n_episodes=10,
    agent_samples=40,
)


def studies(cfg: CornerGoalConfig):
    return sweep_studies(cfg, "rewunc/CornerGoal-v0", {"size": cfg.size, "k": cfg.k})


def main(argv=None) -> int:
    return main_for("corner_goal", CornerGoalConfig, studies, FAST, argv, SUMMARY)


if __name__ == "__main__":
    sys.exit(main())
