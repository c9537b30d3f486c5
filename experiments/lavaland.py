"""LavaLand, the flagship: do risk-averse agents avoid lava they were never told about?

Demonstrations on lava-free layouts → Bayesian IRL posterior (NUTS) → exact agents {BayesMean,
MAP, Maximin, CVaR_α for α ∈ {0.5, 0.9, 0.95}, a BROIL λ sweep, PessimisticReward, Oracle} →
rollouts on held-out training layouts, on the ``lava`` shift and on ``harmless`` (gravel: as
unseen as lava, as cheap as dirt) → results, paired comparisons, figures, a summary; 10 seeds.

The demonstrations never show lava, so the posterior over the lava weight stays at its prior
(Inverse Reward Design's test-time surprise). An agent that plans for the posterior mean sees lava
as no worse than dirt; one that plans for the bad tail of the posterior should keep away.

    python experiments/lavaland.py                 # runs/lavaland/default/
    python experiments/lavaland.py --fast          # about a minute: runs/lavaland/fast/
    python experiments/lavaland.py --seeds 0 --name one_seed
    rewunc run lavaland --env my_pkg:MyGrid-v0 --anchor-feature goal   # a tabular env of yours
    rewunc plot runs/lavaland/default              # redraw the figures from disk
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from rewunc.config import parse_flags
from rewunc.evaluate import EvalLayouts, format_summary
from rewunc.plots import plot_run
from rewunc.study import common, report, tabular
from rewunc.study.config import StudyConfig, TabularFields

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
class LavaLandConfig(TabularFields, StudyConfig):
    """LavaLand: demonstrations without lava, evaluation with it.

    The target's weight is anchored (the designer's unit: reaching it is worth about 1); the
    BROIL frontier is drawn on ``lava``. See rewunc.study.config for every other flag.
    """

    env: str = "rewunc/LavaLand-v0"
    anchor_feature: str = "target"
    anchor_prior: tuple[float, ...] = (1.0, 0.05)
    agents: tuple[str, ...] = AGENTS
    shifts: tuple[str, ...] = ("train", "lava", "harmless")
    n_episodes: int = 50  # per seed: 500 episodes per split and agent over the 10 seeds
    frontier_shift: str = "lava"


FAST = dict(
    seeds=(0,),
    n_demos=8,
    num_warmup=150,
    num_samples=150,
    max_tree_depth=6,
    n_episodes=12,
    agent_samples=50,
)
STUDY = "lavaland"
SUMMARY = ("goal_rate", "hazard_rate", "timeout_rate", "return", "regret")


def main(argv=None) -> int:
    cfg, flags = parse_flags(LavaLandConfig, FAST, argv, prog="lavaland")  # refuses bad flags
    env, env_kwargs = cfg.env, cfg.env_options()
    run = common.start(STUDY, cfg, flags)
    expert = cfg.demonstrator()
    cells, frontiers, posteriors = [], [], []
    # fmt: off
    for seed in cfg.seeds:
        demos = common.collect_demonstrations(run, env, env_kwargs, expert, cfg.n_demos, seed,
                                              study=STUDY, gamma=cfg.gamma)
        posterior = common.fit_posterior(run, demos, cfg.birl_options(), seed, study=STUDY,
                                         env_id=env, env_kwargs=env_kwargs)
        posteriors.append(report.posterior_row(STUDY, seed, posterior, cfg.ambiguity))
        for shift in cfg.shifts:
            layouts = EvalLayouts.draw(env, shift, cfg.n_episodes, seed, cfg.gamma, **env_kwargs)
            for agent in cfg.agents:
                plans = tabular.plan_agent(run, agent, posterior, layouts, seed, study=STUDY,
                                           agent_samples=cfg.agent_samples)
                cells.append(tabular.evaluation_cell(run, plans, layouts, seed, study=STUDY,
                                                     posterior=posterior,
                                                     alpha=cfg.frontier_alpha))
            if shift == cfg.frontier_shift:
                frontiers.append(tabular.broil_frontier(run, posterior, layouts,
                                                        cfg.frontier_lams, cfg.frontier_alpha,
                                                        seed, study=STUDY,
                                                        agent_samples=cfg.agent_samples))
    # fmt: on
    results = report.write_tables(run, cells, frontiers=frontiers, posteriors=posteriors)
    figures = plot_run(run.path, run.figure_format)
    run.finish("complete")
    print(format_summary(results, SUMMARY))
    print(f"\nwrote {run.path}/results.csv, episodes.csv and {len(figures)} figures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
