"""Deep LavaLand: does the Inverse-Reward-Design finding survive deep RL?

The flagship's study (``experiments/lavaland.py``) with deep agents beside the exact ones:
demonstrations on lava-free layouts → BIRL posterior → deep agents trained by PPO on procedural
lava-free layouts {BayesMean, CVaR(0.9), BROIL(0.5, 0.95) (RiskAversePPO over the posterior),
mean − κ·sd (PPO on the per-step lower bound), TrueReward (PPO on the designer's reward)} and the
exact tabular agents on the same posterior → rollouts on held-out training layouts and on the
``lava`` shift. Each deep agent with an LP twin is also checked against it: its greedy policy is
evaluated exactly on every evaluation layout's MDP and compared with the LP optimum
(``exactness.csv``).

A tabular planner sees each test layout's lava and plans around the posterior's uncertainty about
it; a deep agent acts on what it learnt in training, where lava never occurred.

    python experiments/deep_lavaland.py --jobs 2          # 5 seeds: runs/deep_lavaland/default/
    python experiments/deep_lavaland.py --fast            # under a minute: runs/deep_lavaland/fast/
    python experiments/deep_lavaland.py --deep-train-shift lava --name lava_in_training
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from rewunc.config import parse_flags
from rewunc.evaluate import EvalLayouts
from rewunc.study import common, deep, report, tabular
from rewunc.study.config import DeepFields, StudyConfig, TabularFields

DEEP_AGENTS = (
    "BayesMean",
    "CVaR(alpha=0.9)",
    "BROIL(lam=0.5, alpha=0.95)",
    "MeanStd(kappa=1.0)",
    "TrueReward",
)


@dataclass(frozen=True)
class DeepLavaLandConfig(DeepFields, TabularFields, StudyConfig):
    """Deep LavaLand: the flagship's posterior, deep agents beside the exact ones.

    ``deep_agents`` (specs of rewunc.agents.deep.train) train for ``deep_steps`` PPO steps each,
    ``jobs`` at a time in worker processes, on the training distribution (``deep_train_shift``
    "lava" trains them where lava occurs: the posterior's uncertainty about it then shapes
    what they learn); ``agents`` are the exact tabular agents (each deep agent's LP twin is
    added). See rewunc.study.config for every other flag.
    """

    env: str = "rewunc/LavaLand-v0"
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    anchor_feature: str = "target"
    anchor_prior: tuple[float, ...] = (1.0, 0.05)
    agents: tuple[str, ...] = ("CVaR(alpha=0.9)", "BROIL(lam=0.5, alpha=0.95)", "Oracle")
    shifts: tuple[str, ...] = ("train", "lava")
    deep_agents: tuple[str, ...] = DEEP_AGENTS
    deep_steps: int = 100_000


FAST = dict(
    seeds=(0,),
    n_demos=8,
    num_warmup=100,
    num_samples=100,
    max_tree_depth=6,
    n_episodes=8,
    agent_samples=40,
    deep_steps=1024,
)
STUDY = "deep_lavaland"
SUMMARY = ("goal_rate", "hazard_rate", "timeout_rate", "return", "regret")


def main(argv=None) -> int:
    cfg, flags = parse_flags(DeepLavaLandConfig, FAST, argv, prog="deep_lavaland")
    env, env_kwargs = cfg.env, cfg.env_options()
    run = common.start(STUDY, cfg, flags)
    expert = cfg.demonstrator()
    posteriors, rows, tasks = {}, [], []
    # fmt: off
    for seed in cfg.seeds:
        demos = common.collect_demonstrations(run, env, env_kwargs, expert, cfg.n_demos, seed,
                                              study=STUDY, gamma=cfg.gamma)
        posteriors[seed] = common.fit_posterior(run, demos, cfg.birl_options(), seed,
                                                study=STUDY, env_id=env, env_kwargs=env_kwargs)
        rows.append(report.posterior_row(STUDY, seed, posteriors[seed]))
        tasks += [deep.DeepTask(STUDY, seed, spec, env, cfg.deep_env_kwargs(), posteriors[seed])
                  for spec in cfg.deep_agents]
    models = deep.train_deep_agents(run, tasks, settings=cfg.settings(),
                                    agent_samples=cfg.agent_samples, jobs=cfg.jobs)
    cells = []
    for seed in cfg.seeds:
        for shift in cfg.shifts:
            layouts = EvalLayouts.draw(env, shift, cfg.n_episodes, seed, cfg.gamma, **env_kwargs)
            plans = {p.agent: p for p in (tabular.plan_agent(run, a, posteriors[seed], layouts,
                                                             seed, study=STUDY,
                                                             agent_samples=cfg.agent_samples)
                                          for a in deep.twins(cfg))}
            cells += [tabular.evaluation_cell(run, p, layouts, seed, study=STUDY,
                                              posterior=posteriors[seed],
                                              alpha=cfg.frontier_alpha)
                      for p in plans.values()]
            for task in (t for t in tasks if t.seed == seed):
                model, agent = models[task.key], task.agent
                cells.append(deep.deep_evaluation_cell(run, model, task.spec, layouts, seed,
                                                       study=STUDY, posterior=posteriors[seed],
                                                       twin=plans.get(agent.twin),
                                                       agent_samples=cfg.agent_samples))
    # fmt: on
    return report.conclude(run, cells, posteriors=rows, summary=SUMMARY)


if __name__ == "__main__":
    sys.exit(main())
