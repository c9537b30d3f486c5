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
from rewunc.study import Study, birl_options

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
class LavaLandConfig:
    """LavaLand: demonstrations without lava, evaluation with it."""

    seeds: tuple[int, ...] = (0,)
    size: int = 8
    n_demos: int = 20
    expert_beta: float = 50.0  # the demonstrator's rationality (near-optimal at this scale)
    birl_beta: float = 50.0  # the rationality BIRL assumes (the demonstrator's, known)
    prior_scale: float = 1.0  # N(0, prior_scale²) on every weight but the anchor
    anchor_feature: str = "target"  # the designer's unit: reaching the target is worth about 1
    anchor_prior: tuple[float, ...] = (1.0, 0.05)  # N(mean, sd²) of the anchored weight
    num_warmup: int = 500
    num_samples: int = 500
    num_chains: int = 2
    max_tree_depth: int = 10
    agents: tuple[str, ...] = AGENTS
    shifts: tuple[str, ...] = ("train", "lava")
    n_episodes: int = 100
    agent_samples: int = 200
    gamma: float = 0.95
    frontier_alpha: float = 0.95


FAST = dict(
    n_demos=8,
    num_warmup=150,
    num_samples=150,
    max_tree_depth=6,
    n_episodes=12,
    agent_samples=50,
)


def studies(cfg: LavaLandConfig) -> list[Study]:
    return [
        Study(
            label="lavaland",
            env_id="rewunc/LavaLand-v0",
            env_kwargs={"size": cfg.size},
            agents=cfg.agents,
            shifts=cfg.shifts,
            n_demos=cfg.n_demos,
            expert_beta=cfg.expert_beta,
            birl=birl_options(cfg, "rewunc/LavaLand-v0"),
            n_episodes=cfg.n_episodes,
            agent_samples=cfg.agent_samples,
            gamma=cfg.gamma,
            frontier_alpha=cfg.frontier_alpha,
        )
    ]


def main(argv=None) -> int:
    return main_for("lavaland", LavaLandConfig, studies, FAST, argv)


if __name__ == "__main__":
    sys.exit(main())
