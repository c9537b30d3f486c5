"""Deep CornerGoal: Langosco et al.'s goal-misgeneralization curve, beside the posterior's view.

PPO with the designer's (true) reward is trained on CornerGoal layouts where the goal sits in the
top-right corner except in a fraction p of them, for each p in ``--ps``, and evaluated where the
goal is placed ``anywhere``: does it go to the goal, to the corner (the proxy: goal
misgeneralization) or nowhere (timeout)? On the same axis, the BIRL posterior from demonstrations
at that p: how strongly it confuses the goal and corner weights (their posterior correlation).
Then, at p = ``risk_p`` (0: goal and corner coincide in training), the risk-averse deep agents over
that posterior, beside their exact tabular twins.

    python experiments/deep_corner_goal.py --jobs 2       # runs/deep_corner_goal/default/
    python experiments/deep_corner_goal.py --fast         # under a minute
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from rewunc import deep_stages, stages
from rewunc.agents.deep.train import deep_agent
from rewunc.agents.tabular import agent_name, make_agent
from rewunc.config import parse_flags, require
from rewunc.deep_stages import DeepTask
from rewunc.evaluate import EvalLayouts
from rewunc.experts import BoltzmannExpert

RISK_AGENTS = ("BayesMean", "CVaR(alpha=0.9)", "BROIL(lam=0.5, alpha=0.95)", "MeanStd(kappa=1.0)")


@dataclass(frozen=True)
class DeepCornerGoalConfig(stages.StudyConfig):
    """Deep CornerGoal: TrueReward PPO at every p; ``deep_agents`` (over the posterior) and the
    tabular ``agents`` (plus the deep agents' LP twins) at p = ``risk_p``; the Oracle at every p.
    ``curve_agent`` is the agent whose outcome rates against p the curve figure draws. See
    rewunc.stages.StudyConfig for every other flag."""

    env: str = "rewunc/CornerGoal-v0"
    ps: tuple[float, ...] = (0.0, 0.02, 0.05, 0.1, 0.25)
    seeds: tuple[int, ...] = (0, 1, 2)
    n_demos: int = 40
    agents: tuple[str, ...] = ("Oracle",)
    shifts: tuple[str, ...] = ("train", "anywhere")
    ambiguity: tuple[str, ...] = ("goal", "corner")
    deep_agents: tuple[str, ...] = RISK_AGENTS
    deep_steps: int = 100_000
    jobs: int = 1
    risk_p: float = 0.0
    curve_agent: str = "Deep TrueReward"

    def __post_init__(self):
        stages.check_ps(self.ps, self.env_options())
        require(self.risk_p in self.ps, "risk_p", f"one of --ps {list(self.ps)}", self.risk_p)
        super().__post_init__()
        deep_stages.check_deep_flags(self)
        names = [deep_agent(s).name for s in self.deep_agents]
        require("Deep TrueReward" not in names, "deep_agents",
                "agents over the posterior (TrueReward is trained at every p already)",
                self.deep_agents)  # fmt: skip
        known = {"Deep TrueReward", *names, *(agent_name(make_agent(a)) for a in self.agents)}
        require(self.curve_agent in known, "curve_agent", f"one of {sorted(known)}",
                self.curve_agent)  # fmt: skip

    def study_env_kwargs(self) -> dict:
        return {**self.env_options(), "p": self.ps[0]}


FAST = dict(
    ps=(0.0, 0.25),
    seeds=(0,),
    n_demos=6,
    num_warmup=80,
    num_samples=80,
    max_tree_depth=6,
    n_episodes=8,
    agent_samples=40,
    deep_steps=1024,
)
SUMMARY = ("goal_rate", "misgeneralization_rate", "timeout_rate", "return", "regret")


def main(argv=None) -> int:
    cfg, flags = parse_flags(DeepCornerGoalConfig, FAST, argv, prog="deep_corner_goal")
    run = stages.start("deep_corner_goal", cfg, flags)
    expert = BoltzmannExpert(beta=cfg.expert_beta)
    studies = {p: (f"p={p:g}", {**cfg.env_options(), "p": p}) for p in cfg.ps}
    posteriors, rows, tasks = {}, [], []
    specs_at = {p: ("TrueReward", *cfg.deep_agents) if p == cfg.risk_p else ("TrueReward",)
                for p in cfg.ps}  # fmt: skip
    # fmt: off
    for seed in cfg.seeds:
        for p, (study, env_kwargs) in studies.items():
            demos = stages.demonstrations(run, cfg.env, env_kwargs, expert, cfg.n_demos, seed,
                                          study=study, gamma=cfg.gamma)
            posteriors[p, seed] = stages.posterior(run, demos, cfg.birl_options(), seed,
                                                   study=study, env_id=cfg.env,
                                                   env_kwargs=env_kwargs)
            rows.append(stages.posterior_row(study, seed, posteriors[p, seed], cfg.ambiguity,
                                             {"p": p}))
            tasks += [DeepTask(study, seed, s, cfg.env, env_kwargs, posteriors[p, seed])
                      for s in specs_at[p]]
    models = deep_stages.deep_agents(run, tasks, settings=deep_stages.deep_settings(cfg),
                                     agent_samples=cfg.agent_samples, jobs=cfg.jobs)
    cells, evaluated = [], {}  # (p, seed, shift) -> the layouts and the tabular plans on them
    for task in tasks:
        p = task.env_kwargs["p"]
        tabular = deep_stages.twins(cfg, specs_at[p]) if p == cfg.risk_p else ("Oracle",)
        for shift in cfg.shifts:
            if (p, task.seed, shift) not in evaluated:  # first task of (p, seed): tabular cells
                layouts = EvalLayouts.draw(cfg.env, shift, cfg.n_episodes, task.seed, cfg.gamma,
                                           **task.env_kwargs)
                plans = {lp.agent: lp for lp in (stages.plan(run, a, task.posterior, layouts,
                                                             task.seed, study=task.study,
                                                             agent_samples=cfg.agent_samples)
                                                 for a in tabular)}
                cells += [stages.evaluation(run, plan, layouts, task.seed, study=task.study,
                                            posterior=task.posterior, alpha=cfg.frontier_alpha,
                                            tags={"p": p})
                          for plan in plans.values()]
                evaluated[p, task.seed, shift] = layouts, plans
            layouts, plans = evaluated[p, task.seed, shift]
            cells.append(deep_stages.deep_evaluation(run, models[task.key], task.spec, layouts,
                                                     task.seed, study=task.study,
                                                     posterior=task.posterior,
                                                     twin=plans.get(task.agent.twin),
                                                     agent_samples=cfg.agent_samples,
                                                     tags={"p": p}))
    # fmt: on
    return deep_stages.conclude(
        run, cells, posteriors=rows, summary=SUMMARY, by=("study", "p", "env", "shift", "agent")
    )


if __name__ == "__main__":
    sys.exit(main())
