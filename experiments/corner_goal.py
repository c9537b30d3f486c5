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

from rewunc import stages
from rewunc.config import parse_flags
from rewunc.evaluate import EvalLayouts, format_summary
from rewunc.experts import BoltzmannExpert
from rewunc.plots import plot_run

AGENTS = (
    "BayesMean",
    "MAP",
    "Maximin",
    "CVaR(alpha=0.9)",
    "BROIL(lam=0.5, alpha=0.95)",
    "Oracle",
)


@dataclass(frozen=True)
class CornerGoalConfig(stages.StudyConfig):
    """CornerGoal: a sweep over p, the fraction of training layouts with the goal off the corner.

    ``ambiguity`` names the two posterior contrasts whose correlation measures how well the
    demonstrations told goal from proxy. The step cost is the anchored weight (the designer's
    unit); see rewunc.stages.StudyConfig for every other flag.
    """

    env: str = "rewunc/CornerGoal-v0"
    ps: tuple[float, ...] = (0.0, 0.1, 0.25, 0.5)
    # 40 layouts, so that p = 0.1 and p = 0.25 differ by a few decorrelated demonstrations
    n_demos: int = 40
    agents: tuple[str, ...] = AGENTS
    shifts: tuple[str, ...] = ("train", "anywhere")
    ambiguity: tuple[str, ...] = ("goal", "corner")

    def __post_init__(self):
        stages.check_ps(self.ps, self.env_options())
        super().__post_init__()

    def study_env_kwargs(self) -> dict:
        return {**self.env_options(), "p": self.ps[0]}


FAST = dict(
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


def sweep(experiment: str, cfg, flags) -> int:
    """Every p and seed through demonstrations → posterior → plans → cells; then aggregate.

    ``cfg`` is a StudyConfig with ``ps``; each p is one study, labelled "p=<p>"."""
    run = stages.start(experiment, cfg, flags)
    expert = BoltzmannExpert(beta=cfg.expert_beta)
    cells, frontiers, posteriors = [], [], []
    # fmt: off
    for seed in cfg.seeds:
        for p in cfg.ps:
            study, env, env_kwargs = f"p={p:g}", cfg.env, {**cfg.env_options(), "p": p}
            demos = stages.demonstrations(run, env, env_kwargs, expert, cfg.n_demos, seed,
                                          study=study, gamma=cfg.gamma)
            posterior = stages.posterior(run, demos, cfg.birl_options(), seed, study=study,
                                         env_id=env, env_kwargs=env_kwargs)
            posteriors.append(stages.posterior_row(study, seed, posterior, cfg.ambiguity, {"p": p}))
            for shift in cfg.shifts:
                layouts = EvalLayouts.draw(env, shift, cfg.n_episodes, seed, cfg.gamma,
                                           **env_kwargs)
                for agent in cfg.agents:
                    plans = stages.plan(run, agent, posterior, layouts, seed, study=study,
                                        agent_samples=cfg.agent_samples)
                    cells.append(stages.evaluation(run, plans, layouts, seed, study=study,
                                                   posterior=posterior, alpha=cfg.frontier_alpha,
                                                   tags={"p": p}))
            frontiers.append(stages.frontier(run, posterior, layouts, cfg.frontier_lams,
                                             cfg.frontier_alpha, seed, study=study,
                                             agent_samples=cfg.agent_samples))
    # fmt: on
    results = stages.aggregate(
        run,
        cells,
        frontiers=frontiers,
        posteriors=posteriors,
        by=("study", "p", "env", "shift", "agent"),
    )  # fmt: skip
    figures = plot_run(run.path)
    run.finish("complete")
    print(format_summary(results, SUMMARY))
    print(f"\nwrote {run.path}/results.csv, episodes.csv and {len(figures)} figures")
    return 0


def main(argv=None) -> int:
    cfg, flags = parse_flags(CornerGoalConfig, FAST, argv, prog="corner_goal")
    return sweep("corner_goal", cfg, flags)


if __name__ == "__main__":
    sys.exit(main())
