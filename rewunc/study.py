"""The demonstrations → posterior → agents → shifts pipeline shared by the experiment scripts.

A :class:`Study` is one environment configuration; :func:`run_study` carries it through a
:class:`~rewunc.runs.Run` stage by stage (demos, posterior, one cell per shift and agent), so an
interrupted run resumes where it stopped. Experiment scripts choose the studies (one for the
flagship, one per p for the sweeps) and what to print and plot.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from rewunc.agents.tabular import BROIL, CVaR, Maximin, agent_name, make_agent, risk_lp
from rewunc.birl import BIRL, MCMCDiagnosticsWarning
from rewunc.demos import BoltzmannExpert, Demonstrations, collect
from rewunc.evaluate import EvalLayouts, evaluate_agent, shift_name
from rewunc.posterior import RewardPosterior
from rewunc.risk import check_alpha, check_lam, cvar, sample_returns
from rewunc.runs import Run, slug

TRAIN = "train"


class StudyError(ValueError):
    """A study's configuration names something that does not exist."""


@dataclass(frozen=True)
class Study:
    """One BIRL study: demonstrations on the training distribution, then every agent on every
    split in ``shifts`` ("train" is held-out training layouts).

    ``birl`` holds :class:`~rewunc.birl.BIRL` options; ``agent_samples`` thins the posterior the
    linear-programming agents see (evenly over chains). The risk frontier is traced on the
    test layouts of the last split in ``shifts``: BROIL(λ, ``frontier_alpha``) for each λ in
    ``frontier_lams``; episodes also record each plan's posterior mean and CVaR at that α.
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
    frontier_lams: tuple[float, ...] = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)
    ambiguity: tuple[str, ...] = ()

    def __post_init__(self):
        import gymnasium as gym

        try:
            env = gym.make(self.env_id, **self.env_kwargs)
        except (gym.error.Error, ValueError, TypeError) as err:
            raise StudyError(f"env {self.env_id!r} with {self.env_kwargs}: {err}") from err
        known = (TRAIN, *env.unwrapped.SHIFTS)
        for s in self.shifts:
            if s not in known:
                raise StudyError(f"shift {s!r}: {self.env_id} has {list(known)}")
        for a in self.agents:
            make_agent(a)  # raises AgentError naming the bad spec
        check_alpha(self.frontier_alpha)
        for lam in self.frontier_lams:
            check_lam(lam)
        if self.ambiguity:
            names = env.unwrapped.feature_names
            if len(self.ambiguity) != 2:
                raise StudyError(f"ambiguity: expected two contrasts, got {self.ambiguity}")
            for term in self.ambiguity:
                contrast(term, names)
        env.close()
        for name in ("n_demos", "n_episodes", "agent_samples"):
            if getattr(self, name) < 1:
                raise StudyError(f"{name}: expected >= 1, got {getattr(self, name)}")


def contrast(term: str, names: tuple[str, ...]) -> np.ndarray:
    """The weight vector of a contrast such as "goal" or "red-blue" over ``names``."""
    vec = np.zeros(len(names))
    for sign, name in zip((1.0, -1.0), term.split("-"), strict=False):
        if name not in names:
            raise StudyError(f"contrast {term!r}: {name!r} is not one of {names}")
        vec[names.index(name)] += sign
    if term.count("-") > 1:
        raise StudyError(f"contrast {term!r}: expected 'a' or 'a-b'")
    return vec


def thin(posterior: RewardPosterior, n: int) -> RewardPosterior:
    """``n`` draws evenly spaced over the (chain-major) draws."""
    if n >= posterior.n_samples:
        return posterior
    idx = np.linspace(0, posterior.n_samples - 1, n).round().astype(int)
    return dataclasses.replace(
        posterior,
        weights=posterior.weights[idx],
        chain=posterior.chain[idx],
        beta=None if posterior.beta is None else posterior.beta[idx],
        log_density=None if posterior.log_density is None else posterior.log_density[idx],
    )


def fit_posterior(demos: Demonstrations, options: dict, seed: int, progress: bool):
    birl = BIRL(progress_bar=progress, **options)
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
        demos.save(run.claim(f"{prefix}/demos", demos_file), force=True)
        run.finish(f"{prefix}/demos", file=demos_file)
    demos = Demonstrations.load(run.file(demos_file))
    if not run.done(f"{prefix}/posterior"):
        posterior = fit_posterior(demos, study.birl, seed, progress)
        posterior.save(run.claim(f"{prefix}/posterior", post_file), force=True)
        run.finish(
            f"{prefix}/posterior", file=post_file, divergences=posterior.diagnostics["divergences"]
        )
    posterior = RewardPosterior.load(run.file(post_file))
    lp_posterior = thin(posterior, study.agent_samples)
    agents = [make_agent(a) for a in study.agents]

    layouts: dict[str, EvalLayouts] = {}

    def layouts_of(shift: str) -> EvalLayouts:  # drawn once, only if some cell needs them
        if shift not in layouts:
            layouts[shift] = EvalLayouts.draw(
                study.env_id,
                None if shift == TRAIN else shift,
                study.n_episodes,
                seed,
                study.gamma,
                **study.env_kwargs,
            )
        return layouts[shift]

    episodes = []
    cells = [(s, a) for s in study.shifts for a in agents]
    bar = tqdm(cells, desc=f"{study.label} seed {seed}", disable=not progress, leave=False)
    for shift, agent in bar:
        name = agent_name(agent)
        bar.set_postfix_str(f"{shift}: {name}")

        def compute(shift=shift, agent=agent, name=name):
            uses_lp = isinstance(agent, Maximin | CVaR | BROIL)
            rows = evaluate_agent(
                layouts_of(shift),
                agent,
                lp_posterior if uses_lp else posterior,
                name=name,
                seed=seed,
                score=partial(_posterior_scores, posterior.weights, study.frontier_alpha),
            )
            return [{"study": study.label, **r} for r in rows]

        episodes.append(run.cell(f"{prefix}/{shift}/{name}", compute))
    shift = study.shifts[-1]
    frontier = run.cell(
        f"{prefix}/{shift}/frontier",
        lambda: risk_frontier(study, seed, layouts_of(shift), lp_posterior, posterior.weights),
    )
    return {
        "episodes": pd.concat(episodes, ignore_index=True),
        "posterior": posterior,
        "frontier": frontier,
    }


def risk_frontier(
    study: Study, seed: int, layouts: EvalLayouts, lp_posterior: RewardPosterior, weights
) -> list[dict]:
    """BROIL(λ, α) on every test layout for each λ: the plan's posterior mean and CVaR_α of the
    return (under all draws ``weights``) and its exact true value (expected discounted return
    under the env's true reward)."""
    rows = []
    for i, mdp in enumerate(layouts.mdps):
        for lam in study.frontier_lams:
            planned = risk_lp(mdp, lp_posterior.weights, lam, study.frontier_alpha)
            rows.append(
                {
                    "study": study.label,
                    "seed": seed,
                    "shift": shift_name(layouts.shift),
                    "episode": i,
                    "lam": lam,
                    "alpha": study.frontier_alpha,
                    **_posterior_scores(weights, study.frontier_alpha, planned),
                    "true_value": float(planned.mu @ mdp.true_weights),
                    "oracle_value": float(layouts.oracle_values[i]),
                }
            )
    return rows


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
    if study.ambiguity:
        a, b = (w @ contrast(t, names) for t in study.ambiguity)
        row["ambiguity"] = float(np.corrcoef(a, b)[0, 1])
        row["ambiguity_of"] = "corr({}, {})".format(*study.ambiguity)
    row.update(
        max_rhat=float(np.max(d.get("rhat", [np.nan]))),
        min_ess_bulk=float(np.min(d.get("ess_bulk", [np.nan]))),
        divergences=int(d.get("divergences", -1)),
        draws=posterior.n_samples,
    )
    return row


@dataclass(frozen=True)
class StudyConfig:
    """The fields every experiment config shares (scripts subclass it and set their defaults).

    Demonstrations: ``n_demos`` Boltzmann demonstrations at ``expert_beta``. BIRL: ``birl_beta``
    (the rationality the learner assumes), N(0, ``prior_scale``²) priors except the anchored
    weight (see :func:`birl_options`), NUTS with ``num_chains`` × (``num_warmup`` +
    ``num_samples``) and ``max_tree_depth``. Evaluation: ``agents`` (spec strings, see
    ``rewunc.agents.make_agent``) on ``shifts`` ("train" and shift names), ``n_episodes``
    layouts each, LP agents on ``agent_samples`` thinned draws.
    """

    seeds: tuple[int, ...] = (0,)
    n_demos: int = 20
    expert_beta: float = 50.0
    birl_beta: float = 50.0
    prior_scale: float = 1.0
    anchor_feature: str = "step"
    anchor_prior: tuple[float, ...] = (-0.02, 0.002)
    num_warmup: int = 500
    num_samples: int = 500
    num_chains: int = 2
    max_tree_depth: int = 10
    agents: tuple[str, ...] = ("BayesMean", "MAP", "Maximin", "CVaR(alpha=0.9)", "Oracle")
    shifts: tuple[str, ...] = ("train",)
    n_episodes: int = 100
    agent_samples: int = 200
    gamma: float = 0.95
    frontier_alpha: float = 0.95


def birl_options(cfg, env_id: str) -> dict:
    """BIRL options from an experiment config's standard fields.

    Every weight gets N(0, prior_scale²) except ``cfg.anchor_feature``, which gets
    N(*cfg.anchor_prior): the designer's unit of reward. Demonstrations fix a reward only up to
    what changes behaviour (a scale, the value of ending an episode against the cost of going
    on), so one weight is anchored, as IRL usually fixes one weight or the norm.
    """
    import gymnasium as gym

    names = gym.spec(env_id).make().unwrapped.feature_names
    loc, scale = [0.0] * len(names), [float(cfg.prior_scale)] * len(names)
    if cfg.anchor_feature:
        if cfg.anchor_feature not in names:
            raise StudyError(f"anchor_feature {cfg.anchor_feature!r}: {env_id} has {names}")
        if len(cfg.anchor_prior) != 2 or cfg.anchor_prior[1] <= 0:
            raise StudyError(f"anchor_prior: expected (mean, sd > 0), got {cfg.anchor_prior}")
        k = names.index(cfg.anchor_feature)
        loc[k], scale[k] = cfg.anchor_prior
    return dict(
        beta=cfg.birl_beta,
        prior_loc=tuple(loc),
        prior_scale=tuple(scale),
        num_warmup=cfg.num_warmup,
        num_samples=cfg.num_samples,
        num_chains=cfg.num_chains,
        max_tree_depth=cfg.max_tree_depth,
        dense_mass=True,
        target_accept_prob=0.9,
    )


def study_from(cfg: StudyConfig, label: str, env_id: str, env_kwargs: dict) -> Study:
    """The Study an experiment config describes, for one env configuration."""
    return Study(
        label=label,
        env_id=env_id,
        env_kwargs=env_kwargs,
        agents=cfg.agents,
        shifts=cfg.shifts,
        n_demos=cfg.n_demos,
        expert_beta=cfg.expert_beta,
        birl=birl_options(cfg, env_id),
        n_episodes=cfg.n_episodes,
        agent_samples=cfg.agent_samples,
        gamma=cfg.gamma,
        frontier_alpha=cfg.frontier_alpha,
        ambiguity=getattr(cfg, "ambiguity", ()),
    )


def sweep_studies(cfg, env_id: str, env_kwargs: dict) -> list[Study]:
    """One study per value of ``cfg.ps`` (the env's ``p``), otherwise alike."""
    return [study_from(cfg, f"p={p:g}", env_id, {**env_kwargs, "p": float(p)}) for p in cfg.ps]
