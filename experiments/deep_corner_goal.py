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

from rewunc.agents.tabular import agent_name, make_agent
from rewunc.config import parse_flags, require
from rewunc.evaluate import EvalLayouts
from rewunc.study import common, deep, report, tabular
from rewunc.study.config import DeepFields, StudyConfig, TabularFields, check_ps, option

RISK_AGENTS = ("BayesMean", "CVaR(alpha=0.9)", "BROIL(lam=0.5, alpha=0.95)", "MeanStd(kappa=1.0)")


@dataclass(frozen=True)
class DeepCornerGoalConfig(DeepFields, TabularFields, StudyConfig):
    """Deep CornerGoal: TrueReward PPO at every p; ``deep_agents`` (over the posterior) and the
    tabular ``agents`` (plus the deep agents' LP twins) at p = ``risk_p``; the Oracle at every p.
    ``curve_agent`` is the agent whose outcome rates against p the curve figure draws. See
    rewunc.study.config for every other flag."""

    env: str = "rewunc/CornerGoal-v0"
    ps: tuple[float, ...] = option(
        (0.0, 0.02, 0.05, 0.1, 0.25), "training fractions p, one study each"
    )
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    n_demos: int = 40
    agents: tuple[str, ...] = ("Oracle",)
    shifts: tuple[str, ...] = ("train", "anywhere")
    ambiguity: tuple[str, ...] = ("goal", "corner")
    deep_agents: tuple[str, ...] = RISK_AGENTS
    deep_steps: int = 100_000
    risk_p: float = option(0.0, "the p at which the deep agents over the posterior train")
    curve_agent: str = option("Deep TrueReward", "the agent whose rates against p are drawn")

    def __post_init__(self):  # before the base: its env check opens the env at ps[0]
        check_ps(self.ps, self.env_options())
        require(self.risk_p in self.ps, "risk_p", f"one of --ps {list(self.ps)}", self.risk_p)
        super().__post_init__()

    def _check_fields(self) -> None:
        from rewunc.agents.deep.train import deep_agent  # the deep extra: DeepFields checked it

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
    run = common.start("deep_corner_goal", cfg, flags)
    expert = cfg.demonstrator()
    studies = {p: (f"p={p:g}", {**cfg.env_options(), "p": p}) for p in cfg.ps}
    posteriors, rows, tasks = {}, [], []
    specs_at = {p: ("TrueReward", *cfg.deep_agents) if p == cfg.risk_p else ("TrueReward",)
                for p in cfg.ps}  # fmt: skip
    # fmt: off
    for seed in cfg.seeds:
        for p, (study, env_kwargs) in studies.items():
            demos = common.collect_demonstrations(run, cfg.env, env_kwargs, expert, cfg.n_demos,
                                                  seed, study=study, gamma=cfg.gamma)
            posteriors[p, seed] = common.fit_posterior(run, demos, cfg.birl_options(), seed,
                                                       study=study, env_id=cfg.env,
                                                       env_kwargs=env_kwargs)
            rows.append(report.posterior_row(study, seed, posteriors[p, seed], cfg.ambiguity,
                                             {"p": p}))
            tasks += [deep.DeepTask(study, seed, s, cfg.env, cfg.deep_env_kwargs(env_kwargs),
                                    posteriors[p, seed])
                      for s in specs_at[p]]
    models = deep.train_deep_agents(run, tasks, settings=cfg.settings(),
                                    agent_samples=cfg.agent_samples, jobs=cfg.jobs)
    cells, evaluated = [], {}  # (p, seed, shift) -> the layouts and the tabular plans on them
    for task in tasks:
        p = next(p for p, (study, _) in studies.items() if study == task.study)
        env_kwargs = studies[p][1]  # evaluation: the study's env (training may use a shift)
        exact = deep.twins(cfg, specs_at[p]) if p == cfg.risk_p else ("Oracle",)
        for shift in cfg.shifts:
            if (p, task.seed, shift) not in evaluated:  # first task of (p, seed): tabular cells
                layouts = EvalLayouts.draw(cfg.env, shift, cfg.n_episodes, task.seed, cfg.gamma,
                                           **env_kwargs)
                plans = {lp.agent: lp for lp in (tabular.plan_agent(run, a, task.posterior,
                                                                    layouts, task.seed,
                                                                    study=task.study,
                                                                    agent_samples=cfg.agent_samples)
                                                 for a in exact)}
                cells += [tabular.evaluation_cell(run, plan, layouts, task.seed, study=task.study,
                                                  posterior=task.posterior,
                                                  alpha=cfg.frontier_alpha, tags={"p": p})
                          for plan in plans.values()]
                evaluated[p, task.seed, shift] = layouts, plans
            layouts, plans = evaluated[p, task.seed, shift]
            cells.append(deep.deep_evaluation_cell(run, models[task.key], task.spec, layouts,
                                                   task.seed, study=task.study,
                                                   posterior=task.posterior,
                                                   twin=plans.get(task.agent.twin),
                                                   agent_samples=cfg.agent_samples,
                                                   tags={"p": p}))
    # fmt: on
    return report.conclude(
        run, cells, posteriors=rows, summary=SUMMARY, by=("study", "p", "env", "shift", "agent")
    )


if __name__ == "__main__":
    sys.exit(main())
