"""The deep-RL stages of a study, beside the exact ones of :mod:`rewunc.study.tabular`:

    posterior → deep agent (trained, saved without pickle) → evaluation cell (+ exactness)

:func:`train_deep_agent` trains one :mod:`rewunc.agents.deep.train` agent per (study, seed,
spec) and keeps it in the run folder (``agents/<stage>/``: safetensors weights and JSON, and
SB3's ``progress.csv`` with the validation goal rate: the learning curve), so a
resumed run reads it back instead of training again; :func:`train_deep_agents` trains many at
once in worker processes. :func:`deep_evaluation_cell` rolls a deep agent out on evaluation
layouts and, on tabular layouts where its LP twin was planned, evaluates the agent's greedy
policy *exactly* on each layout's MDP under the twin's criterion: the gap to the LP optimum is
then measured without rollout noise (:func:`rewunc.study.report.exactness`). This module imports
torch only inside its functions (the ``deep`` extra).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rewunc.agents.tabular import LayoutPlans, make_agent
from rewunc.evaluate import EvalLayouts, evaluate, shift_name
from rewunc.posterior import RewardPosterior
from rewunc.risk import broil
from rewunc.runs import Run, slug
from rewunc.runtime import die_with_parent
from rewunc.study.common import planning_draws


@dataclass(frozen=True)
class DeepTask:
    """One deep agent to train: ``spec`` on (env, env_kwargs) for ``study`` and ``seed``, over
    ``posterior`` (None for TrueReward)."""

    study: str
    seed: int
    spec: str
    env_id: str
    env_kwargs: dict
    posterior: RewardPosterior | None

    @property
    def agent(self):
        """The parsed spec (:class:`rewunc.agents.deep.train.DeepAgent`)."""
        from rewunc.agents.deep.train import deep_agent

        return deep_agent(self.spec)

    @property
    def key(self) -> str:
        """The agent's stage key, ``<study>/seed<s>/deep/<spec>``."""
        return _key(self.study, self.seed, self.agent.spec)


def _key(study: str, seed: int, name: str) -> str:
    return f"{study}/seed{seed}/deep/{name}"


def _draws_for(agent, posterior: RewardPosterior | None, agent_samples: int):
    """The draws a deep agent trains on: the LP twins' thinned draws for CVaR, BROIL and
    Maximin (so the deep agent and its twin optimise one objective), all draws otherwise."""
    if posterior is None or agent.twin is None or agent.twin == "Oracle":
        return posterior
    return planning_draws(make_agent(agent.twin), posterior, agent_samples)


def train_deep_agent(run: Run, task: DeepTask, *, settings, agent_samples: int):
    """The trained deep agent of ``task``: read back from the run if that stage finished (files
    verified, posterior unchanged), else trained and saved. Returns the SB3 model."""
    import gymnasium as gym

    from rewunc.agents.deep import load_agent, save_agent
    from rewunc.agents.deep.train import train_agent

    agent, key = task.agent, task.key
    folder = f"agents/{slug(key)}"
    files = [f"{folder}/policy.safetensors", f"{folder}/agent.json", f"{folder}/progress.csv"]
    if agent.kind in ("risk", "usf"):
        files.append(f"{folder}/posterior.npz")
    inputs = [] if agent.kind == "true" else run.files_of(f"{task.study}/seed{task.seed}/posterior")

    def write(*paths):
        run.say(f"[{task.study} seed {task.seed}] training {agent.name} ({settings.steps} steps)")
        t0 = time.perf_counter()
        model = train_agent(
            agent.spec,
            task.env_id,
            task.env_kwargs,
            _draws_for(agent, task.posterior, agent_samples),
            task.seed,
            settings,
            log_dir=run.file(folder),
        )
        wall = time.perf_counter() - t0
        save_agent(
            model,
            run.file(folder),
            hyperparameters=settings.hyperparameters(agent.learner),
            force=True,
        )
        return {"train_seconds": round(wall, 2)}

    run.produce(
        key,
        files,
        write,
        inputs=inputs,
        kind="deep_agent",
        study=task.study,
        seed=task.seed,
        agent=agent.name,
        env=task.env_id,
        env_kwargs=task.env_kwargs,
        settings=dataclasses.asdict(settings),  # JSON writes tuples as lists
    )
    env = gym.make(task.env_id, **task.env_kwargs)
    try:
        return load_agent(run.file(folder), env)
    finally:
        env.close()


def _train_in_worker(path: str, quiet: bool, task: DeepTask, settings, agent_samples: int) -> None:
    run = Run(Path(path), quiet=quiet)
    train_deep_agent(run, task, settings=settings, agent_samples=agent_samples)


def train_deep_agents(
    run: Run, tasks: Sequence[DeepTask], *, settings, agent_samples: int, jobs: int = 1
) -> dict[str, object]:
    """Every task's trained agent, keyed by ``task.key``; unfinished ones are trained
    first, in ``jobs`` worker processes when ``jobs > 1`` (each worker writes only its own
    stage's files, so the run folder stays consistent if any is killed)."""
    pending = [t for t in tasks if not run.finished(t.key)]
    if jobs > 1 and len(pending) > 1:
        context = multiprocessing.get_context("spawn")  # no forked JAX or torch state
        workers = min(jobs, len(pending))
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=die_with_parent, initargs=(os.getpid(),)
        ) as pool:
            futures = [
                pool.submit(
                    _train_in_worker,
                    str(run.path),
                    run.quiet,
                    task,
                    settings,
                    agent_samples,
                )
                for task in pending
            ]
            for future in futures:
                future.result()
    return {
        t.key: train_deep_agent(run, t, settings=settings, agent_samples=agent_samples)
        for t in tasks
    }


def twin_objective(agent, posterior: RewardPosterior | None, agent_samples: int, true_weights):
    """The LP twin's criterion as (W [M, K], λ, α): the twin maximised broil(μ·Wᵀ, λ, α) —
    λ·E + (1 − λ)·CVaR_α over its thinned draws for CVaR, BROIL and Maximin; the posterior-mean
    value for BayesMean (W = [w̄], λ = 1); the true value for TrueReward / Oracle."""
    if agent.twin == "Oracle":
        return np.asarray(true_weights, dtype=np.float64)[None], 1.0, 1.0
    draws = _draws_for(agent, posterior, agent_samples)
    if agent.base == "BayesMean":
        return draws.mean()[None], 1.0, 1.0
    lam, alpha = agent.lam_alpha
    return np.asarray(draws.weights, dtype=np.float64), lam, alpha


def deep_evaluation_cell(
    run: Run,
    model,
    spec: str,
    layouts: EvalLayouts,
    seed: int,
    *,
    study: str,
    posterior: RewardPosterior | None = None,
    twin: LayoutPlans | None = None,
    agent_samples: int = 200,
    tags: dict | None = None,
) -> pd.DataFrame:
    """The episodes of deep agent ``spec`` on ``layouts`` (greedy actions, as SB3's
    ``predict(deterministic=True)``). With ``twin`` (its LP twin's plans on the same layouts),
    each episode also records, computed exactly on the layout's MDP under the twin's criterion
    (:func:`twin_objective`): ``objective`` (the agent's greedy policy), ``objective_stochastic``
    (its sampled policy), ``optimum`` (the twin's) and ``random_objective`` (a uniform random
    policy's); and, the same on every row, the criterion of the returns averaged over the
    cell's layouts — what one agent trained on the layout distribution maximises —
    ``pooled_objective``, ``pooled_objective_stochastic``, ``pooled_random_objective`` and
    ``pooled_optimum`` (:func:`rewunc.agents.tabular.pooled_risk_lp`, one LP over all layouts)."""
    from rewunc.agents.deep.train import action_probabilities, greedy
    from rewunc.agents.deep.train import deep_agent as parse
    from rewunc.agents.tabular import pooled_risk_lp
    from rewunc.planning import feature_expectations

    agent = parse(spec)
    key = f"{study}/seed{seed}/{shift_name(layouts.shift)}/{agent.name}"
    inputs = run.files_of(_key(study, seed, agent.spec))
    if twin is not None:
        inputs += run.files_of(f"{study}/seed{seed}/{shift_name(layouts.shift)}/{twin.agent}/plan")

    def compute():
        run.say(f"[{study} seed {seed}] {shift_name(layouts.shift)}: {agent.name}")
        extra = None
        if twin is not None:
            if layouts.mdps is None or len(twin.objectives) != len(layouts):
                raise ValueError(f"{agent.name}: its twin's plans do not match these layouts")
            W, lam, alpha = twin_objective(
                agent, posterior, agent_samples, layouts.mdps[0].true_weights
            )
            env = layouts.make_env()
            mus = []  # [N, 3, K]: greedy, stochastic, uniform random
            try:
                for mdp, layout_seed in zip(layouts.mdps, layouts.layout_seeds, strict=True):
                    env.reset(seed=int(layout_seed))
                    probs = action_probabilities(model, env)
                    uniform = np.full_like(probs, 1.0 / probs.shape[1])
                    policies = np.stack([greedy(probs), probs, uniform])
                    mus.append(feature_expectations(mdp, policies, dtype=np.float64))
            finally:
                env.close()
            mus = np.array(mus)
            values = broil(mus @ W.T, lam, alpha)  # [N, 3]
            pooled = broil(mus.mean(0) @ W.T, lam, alpha)  # [3]
            pooled_optimum, _ = pooled_risk_lp(layouts.mdps, W, lam, alpha)
            extra = [
                {
                    "objective": float(v[0]),
                    "objective_stochastic": float(v[1]),
                    "optimum": float(opt),
                    "random_objective": float(v[2]),
                    "pooled_objective": float(pooled[0]),
                    "pooled_objective_stochastic": float(pooled[1]),
                    "pooled_optimum": pooled_optimum,
                    "pooled_random_objective": float(pooled[2]),
                }
                for v, opt in zip(values, twin.objectives, strict=True)
            ]
        rows = evaluate(model, layouts, name=agent.name, seed=seed, extra=extra)
        return [{"study": study, **(tags or {}), **r} for r in rows]

    return run.cell(key, compute, inputs=inputs)


def twins(config, deep_agents: Sequence[str] | None = None) -> tuple[str, ...]:
    """The study's tabular agents plus the LP twin of every deep agent (``deep_agents``, default
    ``config.deep_agents``) not already among them."""
    from rewunc.agents.deep.train import deep_agent
    from rewunc.agents.tabular import agent_name

    have = {agent_name(make_agent(a)) for a in config.agents}
    specs = config.deep_agents if deep_agents is None else deep_agents
    extra = [deep_agent(s).twin for s in specs]
    return (*config.agents, *dict.fromkeys(t for t in extra if t and t not in have))
