"""LavaLand, the flagship: do risk-averse agents avoid lava they were never told about?

Demonstrations on lava-free layouts → Bayesian IRL posterior (NUTS) → agents {BayesMean, MAP,
Maximin, CVaR_α for α ∈ {0.5, 0.9, 0.95}, a BROIL λ sweep, PessimisticReward, Oracle} → rollouts
on held-out training layouts and on the ``lava`` shift → results, figures and a summary table.

The demonstrations never show lava, so the posterior over the lava weight stays at its prior
(Inverse Reward Design's test-time surprise). An agent that plans for the posterior mean sees lava
as no worse than dirt; one that plans for the bad tail of the posterior should keep away.

    python experiments/lavaland.py                 # runs/lavaland/default/
    python experiments/lavaland.py --fast          # under a minute: runs/lavaland/fast/
    python experiments/lavaland.py --seeds 0 1 2 --name three_seeds
    rewunc plot runs/lavaland/default              # redraw the figures from disk
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from rewunc.experiment import main_for
from rewunc.study import Study, StudyConfig, study_from

AGENTS = (
    "BayesMean",
    "MAP",
    "Maximin",
    "CVaR(alpha=0.5)",
    "CVaR(alpha=0.9)",
    "CVaR(alpha=0.95)",
    "BROIL(lam=0.25, alpha=0.95)",
    "BROIL(lam=0.5, alpha=0.95)",
    "BROIL(lam=0.75, alpha=0.95)",
    "PessimisticReward(q=0.05)",
    "Oracle",
)


@dataclass(frozen=True)
class LavaLandConfig(StudyConfig):
    """LavaLand: demonstrations without lava, evaluation with it.

    The target's weight is anchored (the designer's unit: reaching it is worth about 1); see
    StudyConfig for the rest.
    """

    size: int = 8
    anchor_feature: str = "target"
    anchor_prior: tuple[float, ...] = (1.0, 0.05)
    agents: tuple[str, ...] = AGENTS
    shifts: tuple[str, ...] = ("train", "lava")


FAST = dict(
    n_demos=8,
    num_warmup=150,
    num_samples=150,
    max_tree_depth=6,
    n_episodes=12,
    agent_samples=50,
)


def studies(cfg: LavaLandConfig) -> list[Study]:
    return [study_from(cfg, "lavaland", "rewunc/LavaLand-v0", {"size": cfg.size})]


def main(argv=None) -> int:
    return main_for("lavaland", LavaLandConfig, studies, FAST, argv)


if __name__ == "__main__":
    sys.exit(main())
