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

import dataclasses
import multiprocessing
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rewunc.agents.tabular import LayoutPlans, make_agent
from rewunc.evaluate import EvalLayouts, bootstrap_interval, evaluate, shift_name, t_interval
from rewunc.posterior import RewardPosterior
from rewunc.risk import broil
from rewunc.runs import Run, slug
from rewunc.stages import planning_draws, say


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


def deep_agent(run: Run, task: DeepTask, *, settings, agent_samples: int):
    """The trained deep agent of ``task``: read back from the run if that stage finished (files
    verified, posterior unchanged), else trained and saved. Returns the SB3 model."""
    import gymnasium as gym

    from rewunc.agents.deep import load_agent, save_agent
    from rewunc.agents.deep.train import train_agent

    agent, key = task.agent, task.key
    folder = f"agents/{slug(key)}"
    files = [f"{folder}/policy.safetensors", f"{folder}/agent.json"]
    if agent.kind == "risk":
        files.append(f"{folder}/posterior.npz")
    inputs = [] if agent.kind == "true" else run.files_of(f"{task.study}/seed{task.seed}/posterior")
    if not run.finished(key):
        say(run, f"[{task.study} seed {task.seed}] training {agent.name} ({settings.steps} steps)")
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
        save_agent(model, run.file(folder), hyperparameters=settings.hyperparameters(), force=True)
        run.finish(
            key,
            files=files,
            inputs=inputs,
            kind="deep_agent",
            study=task.study,
            seed=task.seed,
            agent=agent.name,
            settings=dataclasses.asdict(settings),  # JSON writes tuples as lists
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
        say(run, f"[{study} seed {seed}] {shift_name(layouts.shift)}: {agent.name}")
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


def exactness(episodes: pd.DataFrame, *, level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Deep agents against their exact LP twins, per (study, shift, agent).

    Per layout: the mean gap J* − J of the greedy policy to the twin's optimum on each layout,
    the objective scale J* − J_random (the optimum's margin over a uniform random policy) and
    the normalised gap = gap / scale (also for the stochastic policy). Pooled: the same for the
    criterion of the layout-averaged returns (one LP over all the cell's layouts; for CVaR and
    BROIL this, not the per-layout optimum, is what a deep agent trained on the layout
    distribution maximises). A normalised gap of 0.1: the deep agent falls short of the exact
    optimum by 10% of what separates the optimum from acting at random.

    Intervals (``level``): with one seed, a percentile bootstrap over layouts for the per-layout
    numbers and none for the pooled ones (one LP per cell); with several seeds, Student-t over
    the seeds' values, and the point estimate is the mean over seeds.
    """
    if "optimum" not in episodes:
        return pd.DataFrame()
    pct = f"{level:.0%}"
    rows = []
    data = episodes.dropna(subset=["optimum"])
    for (study, shift, agent), cell in data.groupby(["study", "shift", "agent"], sort=False):
        seeds = np.unique(cell["seed"])
        per_seed = []
        for s in seeds:
            c = cell[cell["seed"] == s]
            gap = (c["optimum"] - c["objective"]).to_numpy()
            scale = (c["optimum"] - c["random_objective"]).to_numpy()
            stoch = (c["optimum"] - c["objective_stochastic"]).to_numpy()
            first = c.iloc[0]
            pooled_gap = first["pooled_optimum"] - first["pooled_objective"]
            pooled_scale = first["pooled_optimum"] - first["pooled_random_objective"]
            per_seed.append(
                {
                    "gap": gap,
                    "scale": scale,
                    "normalised_gap": gap.mean() / scale.mean(),
                    "normalised_gap_stochastic": stoch.mean() / scale.mean(),
                    "pooled_gap": pooled_gap,
                    "pooled_normalised_gap": pooled_gap / pooled_scale,
                    "pooled_optimum": first["pooled_optimum"],
                    "pooled_objective": first["pooled_objective"],
                }
            )
        row = {
            "study": study,
            "shift": shift,
            "agent": agent,
            "layouts": len(cell) // len(seeds),
            "seeds": len(seeds),
            "optimum": float(cell["optimum"].mean()),
            "objective": float(cell["objective"].mean()),
            "random_objective": float(cell["random_objective"].mean()),
        }
        for name in ("normalised_gap_stochastic", "pooled_optimum", "pooled_objective"):
            row[name] = float(np.mean([r[name] for r in per_seed]))
        if len(seeds) > 1:
            for name in ("gap", "normalised_gap", "pooled_gap", "pooled_normalised_gap"):
                values = np.array(
                    [r[name].mean() if name == "gap" else r[name] for r in per_seed], dtype=float
                )
                row[name] = float(values.mean())
                row[f"{name}_lo"], row[f"{name}_hi"] = t_interval(values, level)
            row["interval"] = f"{pct} Student-t over {len(seeds)} seeds"
        else:
            only = per_seed[0]
            gap, scale = only["gap"], only["scale"]
            rng = np.random.default_rng(seed)
            row["gap"] = float(gap.mean())
            row["gap_lo"], row["gap_hi"] = bootstrap_interval(gap, rng, level=level)
            idx = rng.integers(len(gap), size=(2000, len(gap)))
            ratios = gap[idx].mean(1) / scale[idx].mean(1)
            row["normalised_gap"] = float(only["normalised_gap"])
            row["normalised_gap_lo"], row["normalised_gap_hi"] = (
                float(v) for v in np.quantile(ratios, [(1 - level) / 2, (1 + level) / 2])
            )
            for name in ("pooled_gap", "pooled_normalised_gap"):
                row[name] = float(only[name])
                row[f"{name}_lo"] = row[f"{name}_hi"] = np.nan
            row["interval"] = f"{pct} bootstrap over {len(gap)} layouts (pooled: none, one seed)"
        rows.append(row)
    return pd.DataFrame(rows)


# ---- flags shared by the deep experiments ----------------------------------------------------


def check_deep_flags(config, *, exact: bool = True) -> None:
    """Validate a deep study's ``deep_agents``, ``deep_steps`` and ``jobs`` (ConfigError naming
    the flag); the deep agents need the ``deep`` extra (torch, stable-baselines3). ``exact``:
    the study checks its agents against LP twins, so the env must show the network every
    MDP state (``observation_of``)."""
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
    if not exact:
        return
    from rewunc.stages import make_env

    # StudyConfig has refused envs without to_mdp() already
    env = make_env(config.env, None, config.study_env_kwargs(), field="env")
    try:
        if not callable(getattr(env.unwrapped, "observation_of", None)):
            raise ConfigError(
                f"--env: {config.env} has to_mdp() but no observation_of(state): the deep agents' "
                "exact check against their LP twins reads the network's policy in every state"
            )
    finally:
        env.close()


def deep_settings(config):
    """The study's :class:`DeepSettings`: ``deep_steps`` at the study's discount γ (the LP twins'
    γ, so that a deep agent and its twin optimise one objective)."""
    from rewunc.agents.deep.train import DeepSettings

    return DeepSettings(steps=config.deep_steps, gamma=config.gamma)


def twins(config, deep_agents: Sequence[str] | None = None) -> tuple[str, ...]:
    """The study's tabular agents plus the LP twin of every deep agent (``deep_agents``, default
    ``config.deep_agents``) not already among them."""
    from rewunc.agents.deep.train import deep_agent
    from rewunc.agents.tabular import agent_name

    have = {agent_name(make_agent(a)) for a in config.agents}
    specs = config.deep_agents if deep_agents is None else deep_agents
    extra = [deep_agent(s).twin for s in specs]
    return (*config.agents, *dict.fromkeys(t for t in extra if t and t not in have))


def write_exactness(run: Run, cells: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """``exactness.csv``: :func:`exactness` of every deep agent with an LP twin."""
    table = exactness(pd.concat(cells, ignore_index=True))
    if len(table):
        run.write_table("exactness.csv", table.to_dict("records"))
    return table


def conclude(
    run: Run,
    cells: Sequence[pd.DataFrame],
    *,
    posteriors: Sequence[dict],
    summary: Sequence[str],
    by: Sequence[str] = ("study", "env", "shift", "agent"),
) -> int:
    """The end of a deep study: ``results.csv`` (aggregated by ``by``), ``exactness.csv``, the
    figures, the run marked complete, and the summary and exactness tables printed."""
    from rewunc.evaluate import format_summary
    from rewunc.plots import plot_run
    from rewunc.stages import aggregate

    results = aggregate(run, cells, posteriors=posteriors, by=by)
    exact = write_exactness(run, cells)
    figures = plot_run(run.path)
    run.finish("complete")
    print(format_summary(results, summary))
    print(format_exactness(exact))
    print(f"\nwrote {run.path}/results.csv, exactness.csv and {len(figures)} figures")
    return 0


def format_exactness(table: pd.DataFrame) -> str:
    """A plain-text table of :func:`exactness`: per study, shift and agent, the normalised gap to
    the LP optimum per layout and pooled over layouts, with their intervals."""
    if table is None or not len(table):
        return "no deep agent has an LP twin: no exactness table"

    def interval(r, name):
        lo, hi = getattr(r, f"{name}_lo"), getattr(r, f"{name}_hi")
        value = getattr(r, name)
        return f"{value:6.3f}" + ("" if np.isnan(lo) else f" [{lo:6.3f}, {hi:6.3f}]")

    w = max(5, *(len(str(x)) for x in table["study"]))
    lines = [
        f"deep agents against their exact LP twins ({table['interval'].iloc[0]}); "
        "gaps as a fraction of the optimum's margin over a random policy:",
        f"{'study':<{w}s} {'shift':<9s} {'agent':<34s} {'optimum':>8s} {'deep':>8s} "
        f"{'normalised gap per layout':>27s} {'pooled over layouts':>27s}",
    ]
    for r in table.itertuples():
        lines.append(
            f"{r.study:<{w}s} {r.shift:<9s} {r.agent:<34s} {r.optimum:8.3f} {r.objective:8.3f} "
            f"{interval(r, 'normalised_gap'):>27s} {interval(r, 'pooled_normalised_gap'):>27s}"
        )
    return "\n".join(lines)
