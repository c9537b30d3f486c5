"""The demonstrations → posterior → agents → shifts pipeline shared by the experiment scripts.

A :class:`Study` is one environment configuration; :func:`run_study` carries it through a
:class:`~rewunc.runs.Run` stage by stage (demos, posterior, one cell per shift and agent), so an
interrupted run resumes where it stopped. Experiment scripts choose the studies (one for the
flagship, one per p for the sweeps) and what to print and plot.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from functools import partial

import numpy as np
import pandas as pd
from numpyro.infer import NUTS
from tqdm.auto import tqdm

from rewunc.agents.tabular import BROIL, CVaR, Maximin, agent_name, make_agent
from rewunc.birl import BIRL, MCMCDiagnosticsWarning
from rewunc.demos import BoltzmannExpert, Demonstrations, collect
from rewunc.evaluate import TestLayouts, evaluate_agent
from rewunc.posterior import RewardPosterior
from rewunc.risk import check_alpha, cvar, sample_returns
from rewunc.runs import Run, slug

TRAIN = "train"


class StudyError(ValueError):
    """A study's configuration names something that does not exist."""


@dataclass(frozen=True)
class Study:
    """One BIRL study: demonstrations on the training distribution, then every agent on every
    split in ``shifts`` ("train" is held-out training layouts).

    ``birl`` holds :class:`~rewunc.birl.BIRL` options; ``agent_samples`` thins the posterior the
    linear-programming agents see (evenly over chains); ``frontier_alpha`` is the α of the
    per-episode ``posterior_cvar`` column used by the risk-frontier plot.
    """

    label: str
    env_id: str
    agents: tuple[str, ...]
    shifts: tuple[str, ...]
    env_kwargs: dict = field(default_factory=dict)
    n_demos: int = 20
    expert_beta: float = 50.0
    birl: dict = field(default_factory=dict)
    n_episodes: int = 100
    agent_samples: int = 200
    gamma: float = 0.95
    frontier_alpha: float = 0.95

    def __post_init__(self):
        import gymnasium as gym

        try:
            env = gym.make(self.env_id, **self.env_kwargs)
        except gym.error.Error as err:
            raise StudyError(f"env {self.env_id!r}: {err}") from err
        known = (TRAIN, *env.unwrapped.SHIFTS)
        env.close()
        for s in self.shifts:
            if s not in known:
                raise StudyError(f"shift {s!r}: {self.env_id} has {list(known)}")
        for a in self.agents:
            make_agent(a)  # raises AgentError naming the bad spec
        check_alpha(self.frontier_alpha)
        for name in ("n_demos", "n_episodes", "agent_samples"):
            if getattr(self, name) < 1:
                raise StudyError(f"{name}: expected >= 1, got {getattr(self, name)}")


def thin(posterior: RewardPosterior, n: int) -> RewardPosterior:
    """``n`` draws evenly spaced over the (chain-major) draws."""
    if n >= posterior.n_samples:
        return posterior
    idx = np.linspace(0, posterior.n_samples - 1, n).round().astype(int)
    return RewardPosterior(
        posterior.weights[idx],
        posterior.feature_names,
        posterior.chain[idx],
        None if posterior.beta is None else posterior.beta[idx],
        None if posterior.log_density is None else posterior.log_density[idx],
        posterior.diagnostics,
        posterior.config,
    )


def fit_posterior(demos: Demonstrations, options: dict, seed: int, progress: bool):
    opts = dict(options)
    dense = opts.pop("dense_mass", True)
    target = opts.pop("target_accept_prob", 0.9)
    depth = opts.pop("max_tree_depth", 10)
    birl = BIRL(
        kernel=partial(NUTS, dense_mass=dense, target_accept_prob=target, max_tree_depth=depth),
        progress_bar=progress,
        **opts,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MCMCDiagnosticsWarning)
        posterior = birl.fit(demos, seed=seed)
    for w in caught:  # shown once, with the run's context, not from deep inside
        tqdm.write(f"warning: {w.message}")
    return posterior


def run_study(run: Run, study: Study, seed: int, *, progress: bool = True) -> dict:
    """Carry ``study`` through ``run`` for one seed; returns its episodes and posterior summary.

    Stage keys: ``<label>/seed<s>/demos``, ``.../posterior`` and ``.../<shift>/<agent>``.
    """
    prefix = f"{study.label}/seed{seed}"
    stem = slug(prefix)
    demos_file, post_file = f"demos_{stem}.npz", f"posterior_{stem}"
    if not run.done(f"{prefix}/demos"):
        demos = collect(
            study.env_id,
            BoltzmannExpert(study.expert_beta),
            study.n_demos,
            seed,
            **study.env_kwargs,
        )
        demos.save(run.file(demos_file), force=True)
        run.finish(f"{prefix}/demos", file=demos_file)
    demos = Demonstrations.load(run.file(demos_file))
    if not run.done(f"{prefix}/posterior"):
        posterior = fit_posterior(demos, study.birl, seed, progress)
        posterior.save(run.file(post_file), force=True)
        run.finish(
            f"{prefix}/posterior", file=post_file, divergences=posterior.diagnostics["divergences"]
        )
    posterior = RewardPosterior.load(run.file(post_file))
    lp_posterior = thin(posterior, study.agent_samples)
    agents = [make_agent(a) for a in study.agents]

    episodes = []
    cells = [(s, a) for s in study.shifts for a in agents]
    bar = tqdm(cells, desc=f"{study.label} seed {seed}", disable=not progress, leave=False)
    layouts: dict[str, TestLayouts] = {}
    for shift, agent in bar:
        name = agent_name(agent)
        bar.set_postfix_str(f"{shift}: {name}")

        def compute(shift=shift, agent=agent, name=name):
            if shift not in layouts:
                layouts[shift] = TestLayouts.draw(
                    study.env_id,
                    None if shift == TRAIN else shift,
                    study.n_episodes,
                    seed,
                    study.gamma,
                    **study.env_kwargs,
                )
            uses_lp = isinstance(agent, Maximin | CVaR | BROIL)
            rows = evaluate_agent(
                layouts[shift],
                agent,
                lp_posterior if uses_lp else posterior,
                name=name,
                seed=seed,
                score=partial(_posterior_scores, posterior.weights, study.frontier_alpha),
            )
            return [{"study": study.label, **r} for r in rows]

        episodes.append(run.cell(f"{prefix}/{shift}/{name}", compute))
    return {"episodes": pd.concat(episodes, ignore_index=True), "posterior": posterior}


def _posterior_scores(weights, alpha, planned) -> dict:
    """The planned policy's posterior-expected return and CVaR_α (for the risk frontier)."""
    x = sample_returns(weights, planned.mu)
    return {"posterior_mean": float(x.mean()), "posterior_cvar": float(cvar(x, alpha))}


def posterior_row(study: Study, seed: int, posterior: RewardPosterior) -> dict:
    """One row of ``posteriors.csv``: means, sds, pairwise correlations and diagnostics."""
    w, names, d = posterior.weights, posterior.feature_names, posterior.diagnostics
    row = {"study": study.label, "seed": seed, **study.env_kwargs}
    for k, n in enumerate(names):
        row[f"mean_{n}"] = float(w[:, k].mean())
        row[f"sd_{n}"] = float(w[:, k].std(ddof=1))
    corr = np.corrcoef(w.T)
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            row[f"corr_{names[i]}_{names[j]}"] = float(corr[i, j])
    row.update(
        max_rhat=float(np.max(d.get("rhat", [np.nan]))),
        min_ess_bulk=float(np.min(d.get("ess_bulk", [np.nan]))),
        divergences=int(d.get("divergences", -1)),
        draws=posterior.n_samples,
    )
    return row


def study_config(study: Study) -> dict:
    return asdict(study)
