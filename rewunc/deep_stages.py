"""The deep-RL stages of a study, beside the tabular ones of :mod:`rewunc.stages`:

    posterior → deep agent (trained, saved without pickle) → evaluation cell (+ exactness)

``deep_agent`` trains one :mod:`rewunc.agents.deep.train` agent per (study, seed, spec) and keeps
it in the run folder (``agents/<stage>/``: safetensors weights and JSON), so a resumed run reads
it back instead of training again; ``deep_agents`` trains many at once in worker processes.
``deep_evaluation`` rolls a deep agent out on evaluation layouts and, on tabular layouts where its
LP twin was planned, evaluates the agent's greedy policy *exactly* on each layout's MDP under the
twin's criterion: the gap to the LP optimum is then measured without rollout noise
(:func:`exactness`). This module imports torch only inside its functions (the ``deep`` extra).
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rewunc.agents.tabular import BROIL, CVaR, LayoutPlans, Maximin, make_agent
from rewunc.evaluate import EvalLayouts, bootstrap_interval, evaluate, shift_name, t_interval
from rewunc.posterior import RewardPosterior
from rewunc.risk import broil
from rewunc.runs import Run, slug
from rewunc.stages import _say, thin


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
    uses_lp = isinstance(make_agent(agent.twin), Maximin | CVaR | BROIL)
    return thin(posterior, agent_samples) if uses_lp else posterior


def deep_agent(run: Run, task: DeepTask, *, settings, agent_samples: int):
    """The trained deep agent of ``task``: read back from the run if that stage finished (files
    verified, posterior unchanged), else trained and saved. Returns the SB3 model."""
    import gymnasium as gym

    from rewunc.agents.deep import load_agent, save_agent
    from rewunc.agents.deep.train import hyperparameters, settings_dict, train_agent

    agent, key = task.agent, task.key
    folder = f"agents/{slug(key)}"
    files = [f"{folder}/policy.safetensors", f"{folder}/agent.json"]
    if agent.kind == "risk":
        files.append(f"{folder}/posterior.npz")
    inputs = [] if agent.kind == "true" else run.files_of(f"{task.study}/seed{task.seed}/posterior")
    if not run.finished(key):
        _say(run, f"[{task.study} seed {task.seed}] training {agent.name} ({settings.steps} steps)")
        for f in files:
            run.claim(key, f)
        t0 = time.perf_counter()
        model = train_agent(
            agent.spec,
            task.env_id,
            task.env_kwargs,
            _draws_for(agent, task.posterior, agent_samples),
            task.seed,
            settings,
        )
        wall = time.perf_counter() - t0
        save_agent(model, run.file(folder), hyperparameters=hyperparameters(settings), force=True)
        run.finish(
            key,
            files=files,
            inputs=inputs,
            kind="deep_agent",
            study=task.study,
            seed=task.seed,
            agent=agent.name,
            settings=settings_dict(settings),
            train_seconds=round(wall, 2),
        )
    env = gym.make(task.env_id, **task.env_kwargs)
    try:
        return load_agent(run.file(folder), env)
    finally:
        env.close()


def _train_in_worker(path: str, quiet: bool, task: DeepTask, settings, agent_samples: int) -> None:
    run = Run(Path(path))
    run.quiet = quiet
    deep_agent(run, task, settings=settings, agent_samples=agent_samples)


def deep_agents(
    run: Run, tasks: Sequence[DeepTask], *, settings, agent_samples: int, jobs: int = 1
) -> dict[str, object]:
    """Every task's trained agent, keyed by ``task.key``; unfinished ones are trained
    first, in ``jobs`` worker processes when ``jobs > 1`` (each worker writes only its own
    stage's files, so the run folder stays consistent if any is killed)."""
    pending = [t for t in tasks if not run.finished(t.key)]
    if jobs > 1 and len(pending) > 1:
        context = multiprocessing.get_context("spawn")  # no forked JAX or torch state
        with ProcessPoolExecutor(min(jobs, len(pending)), mp_context=context) as pool:
            futures = [
                pool.submit(
                    _train_in_worker,
                    str(run.path),
                    getattr(run, "quiet", False),
                    task,
                    settings,
                    agent_samples,
                )
                for task in pending
            ]
            for future in futures:
                future.result()
    return {
        t.key: deep_agent(run, t, settings=settings, agent_samples=agent_samples) for t in tasks
    }


def criterion(agent, posterior: RewardPosterior | None, agent_samples: int, true_weights):
    """The twin's objective of feature expectations μ [.., K] → [..]: what the LP twin maximised
    (the posterior-mean value, λ·E + (1 − λ)·CVaR_α over the twin's thinned draws, or the true
    value for TrueReward / Oracle)."""
    if agent.twin == "Oracle":
        w = np.asarray(true_weights, dtype=np.float64)
        return lambda mu: np.asarray(mu) @ w
    draws = _draws_for(agent, posterior, agent_samples)
    if agent.spec == "BayesMean":
        w = draws.mean()
        return lambda mu: np.asarray(mu) @ w
    lam, alpha = agent.lam_alpha
    return lambda mu: broil(np.asarray(mu) @ draws.weights.T, lam, alpha)


def deep_evaluation(
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
    each episode also records, computed exactly on the layout's MDP under the twin's criterion:
    ``objective`` (the agent's greedy policy), ``objective_stochastic`` (its sampled policy),
    ``optimum`` (the twin's) and ``random_objective`` (a uniform random policy's)."""
    import gymnasium as gym

    from rewunc.agents.deep.train import action_probabilities, greedy
    from rewunc.agents.deep.train import deep_agent as parse
    from rewunc.planning import feature_expectations

    agent = parse(spec)
    key = f"{study}/seed{seed}/{shift_name(layouts.shift)}/{agent.name}"
    inputs = run.files_of(_key(study, seed, agent.spec))
    if twin is not None:
        inputs += run.files_of(f"{study}/seed{seed}/{shift_name(layouts.shift)}/{twin.agent}/plan")

    def compute():
        _say(run, f"[{study} seed {seed}] {shift_name(layouts.shift)}: {agent.name}")
        extra = None
        if twin is not None:
            if layouts.mdps is None or len(twin.objectives) != len(layouts):
                raise ValueError(f"{agent.name}: its twin's plans do not match these layouts")
            score = criterion(agent, posterior, agent_samples, layouts.mdps[0].true_weights)
            env = gym.make(layouts.env_id, shift=layouts.shift, **layouts.env_kwargs)
            extra = []
            for i, (mdp, layout_seed) in enumerate(
                zip(layouts.mdps, layouts.layout_seeds, strict=True)
            ):
                env.reset(seed=int(layout_seed))
                probs = action_probabilities(model, env)
                uniform = np.full_like(probs, 1.0 / probs.shape[1])
                mus = feature_expectations(
                    mdp, np.stack([greedy(probs), probs, uniform]), dtype=np.float64
                )
                values = score(mus)
                extra.append(
                    {
                        "objective": float(values[0]),
                        "objective_stochastic": float(values[1]),
                        "optimum": float(twin.objectives[i]),
                        "random_objective": float(values[2]),
                    }
                )
            env.close()
        rows = evaluate(model, layouts, name=agent.name, seed=seed, extra=extra)
        return [{"study": study, **(tags or {}), **r} for r in rows]

    return run.cell(key, compute, inputs=inputs)


def exactness(episodes: pd.DataFrame, *, level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Deep agents against their LP twins, per (study, shift, agent): the mean gap J* − J of the
    greedy policy (and of the stochastic one), the objective scale J* − J_random (the optimum
    above a uniform random policy) and the normalised gap = mean gap / mean scale, with a 95%
    interval: a percentile bootstrap over layouts with one seed, Student-t over the seeds'
    normalised gaps with several. A normalised gap of 0.1 means the deep agent falls short of the
    exact optimum by 10% of what separates the optimum from acting at random."""
    if "optimum" not in episodes:
        return pd.DataFrame()
    rows = []
    data = episodes.dropna(subset=["optimum"])
    for (study, shift, agent), cell in data.groupby(["study", "shift", "agent"], sort=False):
        gap = (cell["optimum"] - cell["objective"]).to_numpy()
        gap_stochastic = (cell["optimum"] - cell["objective_stochastic"]).to_numpy()
        scale = (cell["optimum"] - cell["random_objective"]).to_numpy()
        seeds = cell["seed"].to_numpy()
        normalised = gap.mean() / scale.mean()
        if len(np.unique(seeds)) > 1:
            per_seed = [gap[seeds == s].mean() / scale[seeds == s].mean() for s in np.unique(seeds)]
            lo, hi = t_interval(np.array(per_seed), level)
            label = f"95% Student-t over {len(per_seed)} seeds"
        else:
            rng = np.random.default_rng(seed)
            idx = rng.integers(len(gap), size=(2000, len(gap)))
            ratios = gap[idx].mean(1) / scale[idx].mean(1)
            lo, hi = (float(v) for v in np.quantile(ratios, [(1 - level) / 2, (1 + level) / 2]))
            label = f"95% bootstrap over {len(gap)} layouts"
        glo, ghi = (
            t_interval(np.array([gap[seeds == s].mean() for s in np.unique(seeds)]), level)
            if len(np.unique(seeds)) > 1
            else bootstrap_interval(gap, np.random.default_rng(seed), level=level)
        )
        rows.append(
            {
                "study": study,
                "shift": shift,
                "agent": agent,
                "layouts": len(gap),
                "seeds": len(np.unique(seeds)),
                "optimum": float(cell["optimum"].mean()),
                "objective": float(cell["objective"].mean()),
                "random_objective": float(cell["random_objective"].mean()),
                "gap": float(gap.mean()),
                "gap_lo": glo,
                "gap_hi": ghi,
                "gap_stochastic": float(gap_stochastic.mean()),
                "scale": float(scale.mean()),
                "normalised_gap": float(normalised),
                "normalised_gap_lo": lo,
                "normalised_gap_hi": hi,
                "interval": label,
            }
        )
    return pd.DataFrame(rows)


# ---- flags shared by the deep experiments ----------------------------------------------------


def check_deep_flags(config) -> None:
    """Validate a deep study's ``deep_agents``, ``deep_steps`` and ``jobs`` (ConfigError naming
    the flag); the deep agents need the ``deep`` extra (torch, stable-baselines3)."""
    from rewunc.config import ConfigError, require_distinct, require_int

    try:
        from rewunc.agents.deep.reward import DeepAgentError
        from rewunc.agents.deep.train import deep_agent
    except ImportError as err:
        raise ConfigError(
            f"--deep-agents: deep agents need the 'deep' extra ({err}); install it with "
            "pip install torch==2.13.0 && pip install -e '.[deep]'"
        ) from err
    require_int(config.deep_steps, "deep_steps", 1)
    require_int(config.jobs, "jobs", 1)
    require_distinct(config.deep_agents, "deep_agents")
    names = []
    for spec in config.deep_agents:
        try:
            names.append(deep_agent(spec).name)
        except DeepAgentError as err:
            raise ConfigError(f"--deep-agents: {err}") from err
    if len(set(names)) < len(names):
        raise ConfigError(
            f"--deep-agents: {list(config.deep_agents)} name the same agent twice ({names})"
        )


def deep_settings(config):
    """The study's :class:`DeepSettings`: ``deep_steps`` at the study's discount γ (the LP twins'
    γ, so that a deep agent and its twin optimise one objective)."""
    from rewunc.agents.deep.train import DeepSettings

    return DeepSettings(steps=config.deep_steps, gamma=config.gamma)


def twins(config) -> tuple[str, ...]:
    """The study's tabular agents plus every deep agent's LP twin not already among them."""
    from rewunc.agents.deep.train import deep_agent
    from rewunc.agents.tabular import agent_name

    have = {agent_name(make_agent(a)) for a in config.agents}
    extra = [deep_agent(s).twin for s in config.deep_agents]
    return (*config.agents, *dict.fromkeys(t for t in extra if t and t not in have))


def write_exactness(run: Run, cells: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """``exactness.csv``: :func:`exactness` of every deep agent with an LP twin."""
    table = exactness(pd.concat(cells, ignore_index=True))
    if len(table):
        run.write_table("exactness.csv", table.to_dict("records"))
    return table


def format_exactness(table: pd.DataFrame) -> str:
    """A plain-text table of :func:`exactness`: per shift and agent, the gap to the LP optimum and
    the normalised gap with their intervals."""
    if table is None or not len(table):
        return "no deep agent has an LP twin: no exactness table"
    lines = [
        f"deep agents against their exact LP twins ({table['interval'].iloc[0]}):",
        f"{'study':<15s} {'shift':<9s} {'agent':<34s} {'optimum':>8s} {'deep':>8s} "
        f"{'random':>8s} {'gap [95% interval]':>26s} {'normalised gap':>26s}",
    ]
    for r in table.itertuples():
        lines.append(
            f"{r.study:<15s} {r.shift:<9s} {r.agent:<34s} {r.optimum:8.3f} {r.objective:8.3f} "
            f"{r.random_objective:8.3f} {r.gap:8.3f} [{r.gap_lo:6.3f}, {r.gap_hi:6.3f}] "
            f"{r.normalised_gap:8.3f} [{r.normalised_gap_lo:6.3f}, {r.normalised_gap_hi:6.3f}]"
        )
    return "\n".join(lines)
