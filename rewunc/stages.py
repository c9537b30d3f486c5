"""The stages of a study, each a function of (config, seed) that writes its own files:

    demonstrations → posterior → agent plan → evaluation cell → aggregate

Each stage is keyed ``<study>/seed<s>/...`` in a :class:`~rewunc.runs.Run`: if the run already
holds that stage (finished, its files intact and the inputs it was computed from unchanged), its
files are read back; otherwise it is computed, its files are written atomically and only then is
it marked finished. So a killed run resumes with ``--resume`` by redoing only what was cut off,
and processes that share a run folder never lose each other's finished stages (two processes
that start the same stage at once both compute it, and the last marker wins: the results are
the same, since a stage is a function of its config and seed). Experiment scripts call these
functions in plain loops (see ``experiments/lavaland.py``).

:class:`StudyConfig` holds the flags every BIRL study shares and validates them up front.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import pandas as pd

from rewunc.agents.tabular import (
    BROIL,
    AgentError,
    CVaR,
    LayoutPlans,
    Maximin,
    agent_name,
    is_regret_form,
    make_agent,
    plan_layouts,
    risk_lp,
)
from rewunc.config import (
    ConfigError,
    flag,
    require,
    require_distinct,
    require_int,
    require_number,
)
from rewunc.data import Demonstrations, Preferences, TrajectoryChoices
from rewunc.evaluate import EvalLayouts, evaluate, shift_name
from rewunc.evaluate import aggregate as aggregate_episodes
from rewunc.posterior import RewardPosterior
from rewunc.protocol import feature_names, is_tabular, shifts
from rewunc.risk import RiskError, check_alpha, cvar, sample_returns
from rewunc.rollout import TabularPolicy, collect
from rewunc.runs import Run, RunError, slug

TRAIN = "train"
# config fields that change how a run executes, not its results: not recorded in config.json,
# so a run may be resumed with other values
EXECUTION_ONLY = ("jobs",)
MAX_SEED = 2**31 - 1  # seeds become PRNG keys and reset seeds; larger ones would wrap or fail


# ---- configuration -----------------------------------------------------------------------


@dataclass(frozen=True)
class StudyConfig:
    """Flags every BIRL study shares (an experiment's config subclasses it, one level).

    Env: ``env`` (a registered id; ``my_pkg:MyEnv-v0`` imports ``my_pkg``) made with
    ``env_kwargs`` (JSON). Demonstrations: ``n_demos`` Boltzmann demonstrations at
    ``expert_beta``. BIRL: ``birl_beta`` (the rationality the learner assumes), N(0,
    ``prior_scale``²) priors except the anchored weight (N(*``anchor_prior``) on
    ``anchor_feature``), NUTS with ``num_chains`` × (``num_warmup`` + ``num_samples``) and
    ``max_tree_depth``. Evaluation: ``agents`` (spec strings) on ``shifts`` ("train" and shift
    names), ``n_episodes`` layouts each; LP agents see ``agent_samples`` thinned draws. The
    risk frontier: BROIL(λ, ``frontier_alpha``) for each of ``frontier_lams``. ``ambiguity``:
    two contrasts ("goal", "red-blue") whose posterior correlation posteriors.csv reports.
    """

    env: str = "rewunc/LavaLand-v0"
    env_kwargs: str = "{}"
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
    shifts: tuple[str, ...] = (TRAIN,)
    n_episodes: int = 100
    agent_samples: int = 200
    gamma: float = 0.95
    frontier_alpha: float = 0.95
    frontier_lams: tuple[float, ...] = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)
    ambiguity: tuple[str, ...] = ()

    def __post_init__(self):
        require_seeds(self.seeds)
        for name in ("n_demos", "num_samples", "num_chains", "max_tree_depth"):
            require_int(getattr(self, name), name, 1)
        for name in ("n_episodes", "agent_samples"):
            require_int(getattr(self, name), name, 1)
        require_int(self.num_warmup, "num_warmup", 0)
        require(self.max_tree_depth <= 20, "max_tree_depth", "at most 20", self.max_tree_depth)
        for name in ("expert_beta", "birl_beta", "prior_scale"):
            require_number(getattr(self, name), name, 0.0, math.inf, lo_open=True, hi_open=True)
        require_number(self.gamma, "gamma", 0.0, 1.0, lo_open=True, hi_open=True)
        require_number(self.frontier_alpha, "frontier_alpha", 0.0, 1.0, lo_open=True)
        require_distinct(self.frontier_lams, "frontier_lams")
        for lam in self.frontier_lams:
            require_number(lam, "frontier_lams", 0.0, 1.0)
        require_anchor_prior(self.anchor_prior)
        require_distinct(self.agents, "agents")
        for spec in self.agents:
            try:
                regret = is_regret_form(spec)
            except (AgentError, RiskError) as err:
                raise ConfigError(f"--agents: {err}") from err
            require(
                not regret,
                "agents",
                "robust-form agents (a study has no demonstrator feature expectations on its "
                "evaluation layouts, which the regret form needs)",
                spec,
            )
        names = [agent_name(make_agent(spec)) for spec in self.agents]
        if len(set(names)) < len(names):
            raise ConfigError(f"--agents: {list(self.agents)} name the same agent twice ({names})")
        self._check_env()

    def _check_env(self) -> None:
        """The env exists, is tabular (Boltzmann demonstrations, LP agents) and has the shifts,
        anchor feature and contrasts the flags name."""
        names, known = check_study_env(
            self.env,
            self.study_env_kwargs(),
            self.shifts,
            self.anchor_feature,
            reward_for="this study's expert, Oracle, regret and risk frontier need the "
            "designer's reward",
            tabular_for="this study's Boltzmann demonstrations and exact planners need a "
            "tabular env (see docs/plugging_in.md for preference-based inference on any env)",
        )
        # kept outside the fields: birl_options needs them again, without a second env
        object.__setattr__(self, "_feature_names", names)
        object.__setattr__(self, "_shifts", known)
        self._check_features(names)

    def _check_features(self, names: tuple[str, ...]) -> None:
        if not self.ambiguity:
            return
        require(len(self.ambiguity) == 2, "ambiguity", "two contrasts", self.ambiguity)
        for term in self.ambiguity:
            try:
                contrast(term, names)
            except ConfigError as err:
                raise ConfigError(f"--ambiguity: {err}") from err

    def study_env_kwargs(self) -> dict:
        """The keywords of one study's env (a sweep adds its ``p``), for validation."""
        return self.env_options()

    def env_options(self) -> dict:
        return env_options(self.env_kwargs)

    def birl_options(self) -> dict:
        """BIRL options: every weight N(0, prior_scale²) except ``anchor_feature``, which gets
        N(*anchor_prior), the designer's unit of reward. Demonstrations fix a reward only up to
        what changes behaviour (a scale, the value of ending an episode against the cost of
        going on), so one weight is anchored, as IRL usually fixes one weight or the norm."""
        names = self._feature_names  # read from the env when the config was validated
        loc, scale = anchored_prior(names, self.prior_scale, self.anchor_feature, self.anchor_prior)
        return dict(
            beta=self.birl_beta,
            prior_loc=loc,
            prior_scale=scale,
            num_warmup=self.num_warmup,
            num_samples=self.num_samples,
            num_chains=self.num_chains,
            max_tree_depth=self.max_tree_depth,
            dense_mass=True,
            target_accept_prob=0.9,
            **STUDY_SOFT_VI,
        )


# The soft VI numerics the studies' committed results were made with; BIRL's fast default
# (Anderson, warm starts, a 1e-3 adjoint) samples the same posterior with other draws.
STUDY_SOFT_VI = dict(solver="sweeps", warm_start=False, grad_tol=None)


def check_study_env(
    env_id: str,
    env_kwargs: dict,
    study_shifts: Sequence[str],
    anchor_feature: str | None,
    *,
    reward_for: str,
    tabular_for: str | None = None,
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Open a study's env once: (feature names, shifts with the training one first). Refuses
    an env without ``true_weights`` (``reward_for`` says what needs them), one without
    ``to_mdp()`` when ``tabular_for`` says what needs it, and flag ``shifts`` or an
    ``anchor_feature`` the env does not have (ConfigError naming the flag)."""
    require(bool(env_id), "env", "a registered env id", env_id)
    env = make_env(env_id, None, env_kwargs, field="env")
    try:
        names, known = feature_names(env), (TRAIN, *shifts(env))
        if tabular_for and not is_tabular(env):
            raise ConfigError(f"--env: {env_id} has no to_mdp(); {tabular_for}")
        if getattr(env.unwrapped, "true_weights", None) is None:
            raise ConfigError(f"--env: {env_id} has no true_weights; {reward_for}")
    finally:
        env.close()
    require_distinct(study_shifts, "shifts")
    for s in study_shifts:
        require(s in known, "shifts", f"names in {list(known)}", s)
    if anchor_feature:
        require(anchor_feature in names, "anchor_feature", f"one of {names}", anchor_feature)
    return names, known


def require_seeds(seeds: Sequence[int]) -> None:
    """``--seeds``: distinct integers in [0, 2^31 − 1]."""
    require_distinct(seeds, "seeds")
    for s in seeds:
        require_int(s, "seeds", 0)
        require(s <= MAX_SEED, "seeds", f"at most {MAX_SEED} (2^31 - 1)", s)


def require_anchor_prior(prior: Sequence[float]) -> None:
    """``--anchor-prior``: a mean and an sd > 0."""
    ok = len(prior) == 2 and all(math.isfinite(x) for x in prior) and prior[1] > 0
    require(ok, "anchor_prior", "two finite numbers: mean and sd > 0", prior)


def env_options(env_kwargs: str) -> dict:
    """The ``--env-kwargs`` JSON object, checked."""
    try:
        kwargs = json.loads(env_kwargs)
    except json.JSONDecodeError as err:
        raise ConfigError(f"--env-kwargs: not JSON ({err}): {env_kwargs!r}") from err
    require(isinstance(kwargs, dict), "env_kwargs", 'a JSON object such as {"size": 8}', kwargs)
    return kwargs


def anchored_prior(
    names: Sequence[str], prior_scale: float, anchor_feature: str, anchor_prior: Sequence[float]
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-weight prior (loc, scale): N(0, prior_scale²), except N(*anchor_prior) on
    ``anchor_feature`` (if any)."""
    loc, scale = [0.0] * len(names), [float(prior_scale)] * len(names)
    if anchor_feature:
        k = list(names).index(anchor_feature)
        loc[k], scale[k] = (float(x) for x in anchor_prior)
    return tuple(loc), tuple(scale)


def check_ps(ps: Sequence[float], env_kwargs: dict) -> None:
    """A sweep's ``--ps``: probabilities distinct in their study labels ("p=<p:g>"), and not
    also given in ``--env-kwargs``."""
    require_distinct(ps, "ps")
    for p in ps:
        require_number(p, "ps", 0.0, 1.0)
    labels = [f"p={p:g}" for p in ps]
    require(len(set(labels)) == len(labels), "ps", "values distinct to 6 digits", list(ps))
    if "p" in env_kwargs:
        raise ConfigError("--env-kwargs: 'p' is the sweep's variable; give it with --ps")


def make_env(env_id: str, shift: str | None, kwargs: dict, *, field: str = "env") -> gym.Env:
    """``gym.make`` with errors that name the flag (an unknown id, a module that does not
    import, a keyword the env refuses)."""
    try:
        return gym.make(env_id, shift=shift, **kwargs)
    except (gym.error.Error, ImportError, TypeError, ValueError) as err:
        raise ConfigError(
            f"{flag(field)}: cannot make {env_id!r} with --env-kwargs {json.dumps(kwargs)}: {err}"
        ) from err


def contrast(term: str, names: Sequence[str]) -> np.ndarray:
    """The weight vector of a contrast such as "goal" or "red-blue" over ``names``."""
    parts = term.split("-")
    if not 1 <= len(parts) <= 2:
        raise ConfigError(f"contrast {term!r}: expected 'a' or 'a-b'")
    vec = np.zeros(len(names))
    for sign, name in zip((1.0, -1.0), parts, strict=False):
        if name not in names:
            raise ConfigError(f"contrast {term!r}: {name!r} is not one of {tuple(names)}")
        vec[list(names).index(name)] += sign
    return vec


# ---- the run -----------------------------------------------------------------------------


def start(experiment: str, config, flags) -> Run:
    """The run folder ``<out>/<experiment>/<name>`` for a validated config (RUN_FLAGS)."""
    name = flags.name or ("fast" if flags.fast else "default")
    recorded = {k: v for k, v in dataclasses.asdict(config).items() if k not in EXECUTION_ONLY}
    try:
        run = Run.start(
            flags.out,
            experiment,
            name,
            recorded,
            force=flags.force,
            resume=flags.resume,
        )
    except RunError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from err
    run.quiet = flags.quiet
    # Parallel chains on the CPU need JAX to see several host devices before it first runs.
    import numpyro

    numpyro.set_host_device_count(max(1, min(os.cpu_count() or 1, config.num_chains)))
    return run


def say(run: Run, message: str) -> None:
    """Print a stage's progress line unless the run is quiet (``--quiet``)."""
    if not getattr(run, "quiet", False):
        print(message, flush=True)


# ---- stages ------------------------------------------------------------------------------


def demonstrations(
    run: Run,
    env_id: str,
    env_kwargs: dict,
    expert,
    n_episodes: int,
    seed: int,
    *,
    study: str,
    gamma: float = 0.95,
) -> Demonstrations:
    """``n_episodes`` demonstrations by ``expert`` on the training distribution."""
    key = f"{study}/seed{seed}/demonstrations"
    relative = f"demos_{slug(f'{study}/seed{seed}')}.npz"
    if not run.finished(key):
        say(run, f"[{study} seed {seed}] {n_episodes} demonstrations by {expert}")
        demos = collect(env_id, expert, n_episodes, seed, gamma=gamma, **env_kwargs)
        demos.save(run.claim(key, relative), force=True)
        run.finish(key, files=[relative], kind="demonstrations", study=study, seed=seed)
    return Demonstrations.load(run.file(relative))


def posterior(
    run: Run,
    data: Demonstrations | Preferences | None,
    birl_options: dict,
    seed: int,
    *,
    study: str,
    env_id: str,
    env_kwargs: dict,
    choices: TrajectoryChoices | None = None,
    feature_names: Sequence[str] | None = None,
) -> RewardPosterior:
    """The BIRL posterior (NUTS) given demonstrations or preferences, and/or trajectory choices
    (the MDP-free demonstration likelihood); ``feature_names`` when no demonstrations are given.
    Its inputs are the seed's demonstrations, preferences and choices stages, where they exist."""
    from rewunc.birl import BIRL, MCMCDiagnosticsWarning

    key = f"{study}/seed{seed}/posterior"
    stem = f"posterior_{slug(f'{study}/seed{seed}')}"
    files = [f"{stem}.npz", f"{stem}.json"]
    inputs = [
        f
        for stage in ("demonstrations", "preferences", "choices")
        for f in run.files_of(f"{study}/seed{seed}/{stage}")
    ]
    if not run.finished(key):
        say(run, f"[{study} seed {seed}] BIRL posterior (NUTS)")
        birl = BIRL(progress_bar=not getattr(run, "quiet", False), **birl_options)
        demos = data if isinstance(data, Demonstrations) else None
        prefs = data if isinstance(data, Preferences) else None
        names = feature_names or (data or choices).feature_names
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", MCMCDiagnosticsWarning)
            post = birl.fit(demos, prefs, choices, seed=seed, feature_names=tuple(names))
        for w in caught:  # shown once, with the run's context, not from deep inside
            print(f"warning: [{study} seed {seed}] {w.message}", file=sys.stderr)
        for f in files:
            run.claim(key, f)
        post.save(run.file(stem), force=True)
        run.finish(
            key,
            files=files,
            inputs=inputs,
            kind="posterior",
            study=study,
            seed=seed,
            env=env_id,
            env_kwargs=env_kwargs,
            divergences=post.diagnostics.get("divergences"),
        )
    return RewardPosterior.load(run.file(stem))


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


def planning_draws(agent, posterior: RewardPosterior, agent_samples: int) -> RewardPosterior:
    """The draws a planner sees: ``agent_samples`` thinned draws for the LP agents (Maximin,
    CVaR, BROIL), every draw otherwise."""
    uses_lp = isinstance(agent, Maximin | CVaR | BROIL)
    return thin(posterior, agent_samples) if uses_lp else posterior


def plan(
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
    relative = f"plans/{slug(key)}.npz"
    inputs = run.files_of(f"{study}/seed{seed}/posterior")
    if not run.finished(key):
        if layouts.mdps is None:
            raise AgentError(f"{name} plans on each layout's MDP; {layouts.env_id} has none")
        agent_obj = make_agent(agent)
        plans = plan_layouts(
            agent_obj, planning_draws(agent_obj, posterior, agent_samples), layouts.mdps
        )
        plans.save(run.claim(key, relative), force=True)
        run.finish(
            key, files=[relative], inputs=inputs, kind="plan", study=study, seed=seed, agent=name
        )
    return LayoutPlans.load(run.file(relative))


def evaluation(
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
        raise ValueError("evaluation: name the agent of a policy that is not a LayoutPlans")
    key = f"{study}/seed{seed}/{shift_name(layouts.shift)}/{name}"
    inputs = run.files_of(f"{key}/plan") + run.files_of(f"{study}/seed{seed}/posterior")

    def compute():
        say(run, f"[{study} seed {seed}] {shift_name(layouts.shift)}: {name}")
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


def frontier(
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
    lp_draws = thin(posterior, agent_samples).weights

    def compute():
        say(run, f"[{study} seed {seed}] BROIL frontier on {shift_name(layouts.shift)}")
        rows = []
        for i, mdp in enumerate(layouts.mdps):
            for lam in lams:
                planned = risk_lp(mdp, lp_draws, lam, alpha)
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


def posterior_row(study: str, seed: int, post: RewardPosterior, ambiguity=(), tags=None) -> dict:
    """One row of ``posteriors.csv``: means, sds, pairwise correlations and diagnostics."""
    w, names, d = post.weights, post.feature_names, post.diagnostics
    row = {"study": study, "seed": seed, **(tags or {})}
    for k, n in enumerate(names):
        row[f"mean_{n}"] = float(w[:, k].mean())
        row[f"sd_{n}"] = float(w[:, k].std(ddof=1))
    corr = np.corrcoef(w.T)
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            row[f"corr_{names[i]}_{names[j]}"] = float(corr[i, j])
    if ambiguity:
        a, b = (w @ contrast(t, names) for t in ambiguity)
        row["ambiguity"] = float(np.corrcoef(a, b)[0, 1])
        row["ambiguity_of"] = "corr({}, {})".format(*ambiguity)
    row.update(
        max_rhat=_finite_extreme(np.nanmax, d.get("rhat", [])),  # NaN: a fixed weight
        min_ess_bulk=_finite_extreme(np.nanmin, d.get("ess_bulk", [])),
        divergences=int(d.get("divergences", -1)),
        draws=post.n_samples,
    )
    return row


def _finite_extreme(reduce, values) -> float:
    """max/min over the values that are not NaN (NaN: too few draws, or a fixed weight)."""
    x = np.asarray(values, dtype=float)
    return float(reduce(x)) if (~np.isnan(x)).any() else float("nan")


def aggregate(
    run: Run,
    cells: Sequence[pd.DataFrame],
    *,
    frontiers: Sequence[pd.DataFrame] = (),
    posteriors: Sequence[dict] = (),
    by: Sequence[str] = ("study", "env", "shift", "agent"),
) -> pd.DataFrame:
    """Write ``episodes.csv`` (every cell's episodes), ``results.csv`` (one row per distinct
    ``by``, with intervals; a sweep adds its tag, e.g. ``("study", "p", "env", "shift",
    "agent")``), ``frontier.csv`` and ``posteriors.csv``; returns results.

    Refuses episodes recorded twice (the same study, seed, shift, agent and episode)."""
    if not cells:
        raise ValueError(f"{run.path}: no evaluation cells to aggregate")
    episodes = pd.concat(cells, ignore_index=True)
    if episodes.duplicated(["study", "seed", "shift", "agent", "episode"]).any():
        raise ValueError(f"{run.path}: an episode is recorded twice")
    results = pd.DataFrame(aggregate_episodes(episodes.to_dict("records"), by=by))
    run.write_table("episodes.csv", episodes.to_dict("records"))
    run.write_table("results.csv", results.to_dict("records"))
    if frontiers:
        run.write_table("frontier.csv", pd.concat(frontiers).to_dict("records"))
    if posteriors:
        run.write_table("posteriors.csv", list(posteriors))
    return results
