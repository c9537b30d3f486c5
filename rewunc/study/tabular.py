"""The stages of a study with exact planners, after the posterior (:mod:`rewunc.study.common`):

    posterior → agent plan (per layout, LP/VI) → evaluation cell → tables (study.report)
              → BROIL frontier on one shift

and :func:`p_sweep`, the whole study over a training fraction ``p`` that CornerGoal and ColorGoal
share. Every stage goes through :meth:`~rewunc.runs.Run.produce` (see :mod:`rewunc.study.common`).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from rewunc.agents.tabular import AgentError, LayoutPlans, agent_name, make_agent, plan_layouts
from rewunc.agents.tabular import risk_lp as broil_lp
from rewunc.evaluate import EvalLayouts, evaluate, format_summary, shift_name
from rewunc.posterior import RewardPosterior
from rewunc.risk import check_alpha, cvar, sample_returns
from rewunc.rollout import TabularPolicy
from rewunc.runs import Run, slug
from rewunc.study import common, report


def plan_agent(
    run: Run,
    agent: str,
    posterior: RewardPosterior,
    layouts: EvalLayouts,
    seed: int,
    *,
    study: str,
    agent_samples: int,
) -> LayoutPlans:
    """The tabular agent ``agent`` planned on every evaluation layout (LP agents on
    ``agent_samples`` thinned draws)."""
    name = agent_name(make_agent(agent))
    key = f"{study}/seed{seed}/{shift_name(layouts.shift)}/{name}/plan"
    if layouts.mdps is None:
        raise AgentError(f"{name} plans on each layout's MDP; {layouts.env_id} has none")

    def write(path):
        agent_obj = make_agent(agent)
        draws = common.planning_draws(agent_obj, posterior, agent_samples)
        plan_layouts(agent_obj, draws, layouts.mdps).save(path, force=True)

    inputs = run.files_of(f"{study}/seed{seed}/posterior")
    info = dict(kind="plan", study=study, seed=seed, agent=name)
    (path,) = run.produce(key, [f"plans/{slug(key)}.npz"], write, inputs=inputs, **info)
    return LayoutPlans.load(path)


def evaluation_cell(
    run: Run,
    policy,
    layouts: EvalLayouts,
    seed: int,
    *,
    study: str,
    agent: str | None = None,
    posterior: RewardPosterior | None = None,
    alpha: float = 0.95,
    tags: dict | None = None,
) -> pd.DataFrame:
    """The episodes of one evaluation cell (a policy or LayoutPlans on one shift).

    With LayoutPlans and a posterior, each episode also records its plan's objective and the
    plan's posterior mean and CVaR_α of the return (under every draw). ``tags`` are extra
    columns (e.g. the sweep's ``p``).
    """
    is_plans = isinstance(policy, LayoutPlans)
    name = policy.agent if is_plans else agent
    if name is None:
        raise ValueError("evaluation_cell: name the agent of a policy that is not a LayoutPlans")
    key = f"{study}/seed{seed}/{shift_name(layouts.shift)}/{name}"
    inputs = run.files_of(f"{key}/plan") + run.files_of(f"{study}/seed{seed}/posterior")

    def compute():
        run.say(f"[{study} seed {seed}] {shift_name(layouts.shift)}: {name}")
        extra = None
        if is_plans:
            extra = [{"objective": float(o)} for o in policy.objectives]
            if posterior is not None:
                x = sample_returns(posterior.weights, policy.mu)  # [N, M]
                for row, xi in zip(extra, x, strict=True):
                    row.update(
                        posterior_mean=float(xi.mean()), posterior_cvar=float(cvar(xi, alpha))
                    )
        pols = [TabularPolicy(p) for p in policy.policies] if is_plans else policy
        rows = evaluate(pols, layouts, name=name, seed=seed, extra=extra)
        return [{"study": study, **(tags or {}), **r} for r in rows]

    return run.cell(key, compute, inputs=inputs)


def broil_frontier(
    run: Run,
    posterior: RewardPosterior,
    layouts: EvalLayouts,
    lams: Sequence[float],
    alpha: float,
    seed: int,
    *,
    study: str,
    agent_samples: int,
) -> pd.DataFrame:
    """BROIL(λ, α) on every layout for each λ: the plan's posterior mean and CVaR_α of the
    return (under all draws) and its exact true value (needs a tabular env)."""
    check_alpha(alpha)
    key = f"{study}/seed{seed}/{shift_name(layouts.shift)}/frontier"
    lp_draws = posterior.thin(agent_samples).weights

    def compute():
        run.say(f"[{study} seed {seed}] BROIL frontier on {shift_name(layouts.shift)}")
        rows = []
        for i, mdp in enumerate(layouts.mdps):
            for lam in lams:
                planned = broil_lp(mdp, lp_draws, lam, alpha)
                x = sample_returns(posterior.weights, planned.mu)
                rows.append(
                    {
                        "study": study,
                        "seed": seed,
                        "shift": shift_name(layouts.shift),
                        "episode": i,
                        "lam": lam,
                        "alpha": alpha,
                        "posterior_mean": float(x.mean()),
                        "posterior_cvar": float(cvar(x, alpha)),
                        "true_value": float(planned.mu @ mdp.true_weights),
                        "oracle_value": float(layouts.oracle_values[i]),
                    }
                )
        return rows

    return run.cell(key, compute, inputs=run.files_of(f"{study}/seed{seed}/posterior"))


def p_sweep(experiment: str, cfg, flags, summary: Sequence[str]) -> int:
    """A tabular study at every training fraction p of ``cfg.ps`` and every seed: demonstrations
    → posterior → plans → cells (and the BROIL frontier on ``cfg.frontier_shift``); then tables
    and figures. Each p is one study, labelled "p=<p>" (CornerGoal and ColorGoal run this)."""
    from rewunc.plots import plot_run

    run = common.start(experiment, cfg, flags)
    expert = cfg.demonstrator()
    cells, frontiers, posteriors = [], [], []
    # fmt: off
    for seed in cfg.seeds:
        for p in cfg.ps:
            study, env, env_kwargs = f"p={p:g}", cfg.env, {**cfg.env_options(), "p": p}
            demos = common.collect_demonstrations(run, env, env_kwargs, expert, cfg.n_demos, seed,
                                                  study=study, gamma=cfg.gamma)
            posterior = common.fit_posterior(run, demos, cfg.birl_options(), seed, study=study,
                                             env_id=env, env_kwargs=env_kwargs)
            posteriors.append(report.posterior_row(study, seed, posterior, cfg.ambiguity,
                                                   {"p": p}))
            for shift in cfg.shifts:
                layouts = EvalLayouts.draw(env, shift, cfg.n_episodes, seed, cfg.gamma,
                                           **env_kwargs)
                for agent in cfg.agents:
                    plans = plan_agent(run, agent, posterior, layouts, seed, study=study,
                                       agent_samples=cfg.agent_samples)
                    cells.append(evaluation_cell(run, plans, layouts, seed, study=study,
                                                 posterior=posterior, alpha=cfg.frontier_alpha,
                                                 tags={"p": p}))
                if shift == cfg.frontier_shift:
                    frontiers.append(broil_frontier(run, posterior, layouts, cfg.frontier_lams,
                                                    cfg.frontier_alpha, seed, study=study,
                                                    agent_samples=cfg.agent_samples))
    # fmt: on
    by = ("study", "p", "env", "shift", "agent")
    results = report.write_tables(run, cells, frontiers=frontiers, posteriors=posteriors, by=by)
    figures = plot_run(run.path, run.figure_format)
    run.finish("complete")
    print(format_summary(results, summary))
    print(f"\nwrote {run.path}/results.csv, episodes.csv and {len(figures)} figures")
    return 0
