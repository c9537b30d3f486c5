"""One config base for every study, with its fields declared once and validated in one place.

:class:`StudyConfig` holds what every study shares (the env, seeds, the data's size, BIRL and
the evaluation); field groups add what a kind of study needs, as mix-ins an experiment's config
lists beside the base (inheritance one level deep)::

    @dataclass(frozen=True)
    class LavaLandConfig(TabularFields, StudyConfig): ...          # exact planners
    class PointLavaConfig(DeepFields, FeatureFields, StudyConfig): ...   # no MDP, deep agents

Every field is declared with :func:`option`: its default and a one-line help that ``--help``
prints (a subclass may give a field another default; the help is found up the MRO). Each class
validates its own fields in ``_check_fields``; :meth:`StudyConfig.__post_init__` runs every
class's check, base first, and raises :class:`~rewunc.config.ConfigError` naming the flag, so a
bad flag is refused before any work starts and before any folder is made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from rewunc.config import (
    ConfigError,
    field_help,  # noqa: F401  (re-exported: the help of a study's field)
    require,
    require_distinct,
    require_int,
    require_number,
)
from rewunc.study.checks import (  # noqa: F401  (re-exported: the studies import them here)
    MAX_SEED,
    TRAIN,
    anchored_prior,
    check_ps,
    check_study_env,
    contrast,
    env_options,
    make_env,
    prior_sds,
    require_anchor_prior,
    require_seeds,
)

# config fields that change how a run executes, not its results: not recorded in config.json,
# so a run may be resumed with other values
EXECUTION_ONLY = ("jobs",)
DATA = ("both", "preferences", "choices")
EXPERTS = ("soft", "hard", "epsilon")
# the studies' constructions of the choice likelihood (rewunc.birl.choice)
CHOICE_LIKELIHOODS = ("sampled", "mixture", "choice_set")


def option(default, help: str):
    """A config field: its default and the one line ``--help`` prints for it."""
    return field(default=default, metadata={"help": help})


# ---- the base ------------------------------------------------------------------------------


TARGET_ACCEPT_HELP = (
    "NUTS target acceptance probability in (0, 1): higher takes smaller steps (fewer divergent "
    "transitions, more leapfrog steps per draw)"
)


@dataclass(frozen=True)
class StudyConfig:
    """Flags every study shares; an experiment's config lists field groups beside it."""

    env: str = option("rewunc/LavaLand-v0", "registered env id (my_pkg:MyEnv-v0 imports my_pkg)")
    env_kwargs: str = option("{}", 'env constructor keywords as a JSON object, e.g. {"size": 8}')
    seeds: tuple[int, ...] = option((0,), "seeds; each runs the whole study, from data to agents")
    n_demos: int = option(20, "demonstrations per seed")
    birl_beta: float = option(50.0, "the demonstrator's rationality the learner assumes")
    prior_scale: float = option(1.0, "sd of every weight's N(0, sd^2) prior but the anchored one")
    prior_sd: tuple[str, ...] = option(
        (), "per-feature prior sds overriding --prior-scale, as name=sd (e.g. lava=3)"
    )
    hierarchical_prior: bool = option(
        False,
        "one-hot groups' free weights share a learnt mean and spread (an unseen member is "
        "centred on the seen ones) instead of independent N(0, sd^2) priors",
    )
    anchor_feature: str = option("step", "the weight anchored by --anchor-prior ('' for none)")
    anchor_prior: tuple[float, ...] = option(
        (-0.02, 0.002), "mean and sd of the anchored weight's normal prior (the reward's unit)"
    )
    num_warmup: int = option(500, "NUTS warm-up iterations per chain")
    num_samples: int = option(500, "NUTS draws kept per chain")
    num_chains: int = option(2, "NUTS chains (parallel, one host device each)")
    max_tree_depth: int = option(10, "NUTS maximum tree depth (at most 20)")
    target_accept: float = option(0.8, TARGET_ACCEPT_HELP)
    shifts: tuple[str, ...] = option((TRAIN,), "splits to evaluate on: train and shift names")
    n_episodes: int = option(100, "evaluation layouts (one episode each) per split and agent")
    agent_samples: int = option(200, "thinned posterior draws the LP and risk agents plan on")
    gamma: float = option(0.95, "discount of planning, regret and the deep agents")

    # what the env check needs (class attributes, not fields): a group that plans exactly
    # sets MDP_FOR to say why it needs to_mdp(); REWARD_FOR says what needs true_weights
    MDP_FOR = None
    REWARD_FOR = "the study's evaluation and teachers need the designer's reward"

    def __post_init__(self):
        for cls in reversed(type(self).__mro__):  # base first, then each group, then the study
            check = cls.__dict__.get("_check_fields")
            if check is not None:
                check(self)

    def _check_fields(self) -> None:
        require_seeds(self.seeds)
        for name in ("n_demos", "num_samples", "num_chains", "max_tree_depth"):
            require_int(getattr(self, name), name, 1)
        for name in ("n_episodes", "agent_samples"):
            require_int(getattr(self, name), name, 1)
        require_int(self.num_warmup, "num_warmup", 0)
        require(self.max_tree_depth <= 20, "max_tree_depth", "at most 20", self.max_tree_depth)
        for name in ("birl_beta", "prior_scale"):
            require_number(getattr(self, name), name, 0.0, math.inf, lo_open=True, hi_open=True)
        require_number(self.gamma, "gamma", 0.0, 1.0, lo_open=True, hi_open=True)
        require_number(self.target_accept, "target_accept", 0.0, 1.0, lo_open=True, hi_open=True)
        require_anchor_prior(self.anchor_prior)
        require(isinstance(self.hierarchical_prior, bool), "hierarchical_prior", "true or false",
                self.hierarchical_prior)  # fmt: skip
        names, known, groups = check_study_env(
            self.env,
            self.study_env_kwargs(),
            self.shifts,
            self.anchor_feature,
            reward_for=self.REWARD_FOR,
            tabular_for=self.MDP_FOR,
        )
        # kept outside the fields: birl_options and the groups' checks need them again,
        # without opening a second env
        object.__setattr__(self, "_feature_names", names)
        object.__setattr__(self, "_shifts", known)
        object.__setattr__(self, "_feature_groups", groups)
        prior_sds(self.prior_sd, names, self.anchor_feature)  # refuses bad entries now
        if self.hierarchical_prior:
            require(bool(groups), "hierarchical_prior", f"an env that declares one-hot "
                    f"feature_groups ({self.env} declares none)", True)  # fmt: skip

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The env's feature names (read when the config was validated)."""
        return self._feature_names

    def study_env_kwargs(self) -> dict:
        """The keywords of one study's env (a sweep over p adds its first ``p``), to validate."""
        return self.env_options()

    def env_options(self) -> dict:
        return env_options(self.env_kwargs)

    def birl_options(self) -> dict:
        """BIRL options: every weight N(0, prior_scale²) except ``anchor_feature``, which gets
        N(*anchor_prior), the designer's unit of reward. Demonstrations fix a reward only up to
        what changes behaviour (a scale, the value of ending an episode against the cost of
        going on), so one weight is anchored, as IRL usually fixes one weight or the norm.
        Everything else is BIRL's default numerics: the env's declared one-hot groups with the
        reference parameterisation (:mod:`rewunc.birl.parameterisation`), Anderson soft value
        iteration with warm starts."""
        loc, scale = anchored_prior(
            self.feature_names, self.prior_scale, self.anchor_feature, self.anchor_prior
        )
        sds = prior_sds(self.prior_sd, self.feature_names, self.anchor_feature)
        scale = tuple(sds.get(n, s) for n, s in zip(self.feature_names, scale, strict=True))
        extra = {"hierarchical": True} if self.hierarchical_prior else {}
        return dict(
            beta=self.birl_beta,
            prior_loc=loc,
            prior_scale=scale,
            num_warmup=self.num_warmup,
            num_samples=self.num_samples,
            num_chains=self.num_chains,
            max_tree_depth=self.max_tree_depth,
            target_accept_prob=self.target_accept,
            feature_groups=[list(g) for g in self._feature_groups],
            **extra,
        )


# ---- field groups (mix-ins listed beside StudyConfig) ----------------------------------------


@dataclass(frozen=True)
class TabularFields:
    """A study with exact planners: Boltzmann demonstrations, LP agents, the BROIL frontier."""

    seeds: tuple[int, ...] = option(
        tuple(range(10)), "seeds; each runs the whole study, from data to agents (10 by default)"
    )
    target_accept: float = option(0.9, TARGET_ACCEPT_HELP)
    expert: str = option(
        "soft",
        "the demonstrator: soft (Boltzmann over soft Q, BIRL's own model), hard (Boltzmann "
        "over the optimal Q) or epsilon (optimal, a uniform action w.p. --expert-epsilon)",
    )
    expert_beta: float = option(50.0, "the Boltzmann demonstrator's rationality")
    expert_epsilon: float = option(0.1, "the epsilon demonstrator's probability of a random act")
    agents: tuple[str, ...] = option(
        ("BayesMean", "MAP", "Maximin", "CVaR(alpha=0.9)", "Oracle"),
        "exact (tabular) agents, e.g. BayesMean 'CVaR(alpha=0.9)' 'BROIL(lam=0.5, alpha=0.95)'",
    )
    frontier_shift: str = option("", "split to draw the BROIL frontier on ('' for none)")
    frontier_alpha: float = option(0.95, "alpha of the BROIL frontier and of posterior CVaR")
    frontier_lams: tuple[float, ...] = option(
        (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0), "the frontier's lambdas, each in [0, 1]"
    )
    ambiguity: tuple[str, ...] = option(
        (), "two contrasts ('goal' 'corner', 'red-blue' ...) whose posterior correlation is shown"
    )

    MDP_FOR = (
        "this study's Boltzmann demonstrations and exact planners need a tabular env (see "
        "docs/plugging_in.md for preference-based inference on any env)"
    )
    REWARD_FOR = "this study's expert, Oracle, regret and risk frontier need the designer's reward"

    def demonstrator(self):
        """The demonstrator ``expert`` names, at ``expert_beta`` or ``expert_epsilon``."""
        from rewunc.experts import BoltzmannExpert, HardBoltzmannExpert, NoisyExpert

        if self.expert == "epsilon":
            return NoisyExpert(epsilon=self.expert_epsilon)
        kind = BoltzmannExpert if self.expert == "soft" else HardBoltzmannExpert
        return kind(beta=self.expert_beta)

    def birl_options(self) -> dict:
        """The base's options, with a dense mass matrix (the gridworld posteriors' correlated
        weights)."""
        return {**super().birl_options(), "dense_mass": True}

    def _check_fields(self) -> None:
        from rewunc.agents.tabular import AgentError, agent_name, is_regret_form, make_agent
        from rewunc.risk import RiskError

        require(self.expert in EXPERTS, "expert", f"one of {list(EXPERTS)}", self.expert)
        require_number(self.expert_beta, "expert_beta", 0.0, math.inf, lo_open=True, hi_open=True)
        require_number(self.expert_epsilon, "expert_epsilon", 0.0, 1.0)
        require_number(self.frontier_alpha, "frontier_alpha", 0.0, 1.0, lo_open=True)
        require_distinct(self.frontier_lams, "frontier_lams")
        for lam in self.frontier_lams:
            require_number(lam, "frontier_lams", 0.0, 1.0)
        if self.frontier_shift:
            require(self.frontier_shift in self.shifts, "frontier_shift",
                    f"one of --shifts {list(self.shifts)}, or ''", self.frontier_shift)  # fmt: skip
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
        if self.ambiguity:
            require(len(self.ambiguity) == 2, "ambiguity", "two contrasts", self.ambiguity)
            for term in self.ambiguity:
                try:
                    contrast(term, self.feature_names)
                except ConfigError as err:
                    raise ConfigError(f"--ambiguity: {err}") from err


@dataclass(frozen=True)
class FeatureFields:
    """A study with no MDP: preferences and/or trajectory choices from a scripted expert.

    Choices: ``n_demos`` demonstrations with action noise ``demo_noise``, each beside
    ``n_alternatives`` alternatives from its start: reference rollouts that estimate the
    partition function (``choice_normaliser="sampled"``), or noisy replays of the demonstration
    (``"choice_set"``, the perturbation contrast; see :mod:`rewunc.birl.choice`).
    Preferences: ``n_rollouts`` expert rollouts per noise level, cut into ``n_pairs`` segment
    pairs labelled by a B-Pref teacher."""

    data: str = option("both", "the evidence: preferences, choices, or both")
    demo_noise: float = option(0.3, "the demonstrator's action noise (choices)")
    # 'choice_set' stays the studies' default for now: the sampled normaliser's uniform
    # reference never reaches PointLava's target, and its importance weights degenerate (an
    # effective 1 of 512 alternatives); see rewunc.birl.choice
    choice_normaliser: str = option(
        "choice_set",
        "choices' likelihood: 'sampled' (reference rollouts estimate the partition function), "
        "'mixture' (the same from a defensive mixture of the reference and replays of the demo "
        "with noise replay_noise[0], importance-weighted) or 'choice_set' (softmax over the demo "
        "and its noisy replays: a contrast, not a model)",
    )
    n_alternatives: int = option(8, "alternatives beside each demonstration (choices)")
    replay_noise: tuple[float, ...] = option((0.5, 2.0), "action noise scales of the replays")
    replay_horizon: str = option(
        "demonstration", "replays summed over the demonstration's length, or each 'episode'"
    )
    n_rollouts: int = option(15, "expert rollouts per noise level (preferences)")
    rollout_noise: tuple[float, ...] = option(
        (0.0, 0.5, 1.0, 2.0), "action noise levels of the rollouts preferences are cut from"
    )
    n_pairs: int = option(300, "segment pairs the teacher labels")
    segment_length: int = option(25, "steps per segment")
    teacher_beta: float = option(1.0, "B-Pref teacher's rationality (inf: perfectly rational)")
    teacher_mistake: float = option(0.0, "probability the teacher flips a label, in [0, 0.5]")
    teacher_gamma: float = option(1.0, "teacher's myopia: discount within a segment, in (0, 1]")
    teacher_skip: float = option(0.0, "teacher skips pairs whose returns are below this (0: off)")
    teacher_equal: float = option(0.0, "teacher says 'equal' below this return gap (0: off)")
    algorithm: str = option("ppo", "deep agents' algorithm: ppo, or sac (scalar rewards only)")
    net_arch: tuple[int, ...] = option((64, 64), "hidden layer widths of the deep agents' MLPs")

    REWARD_FOR = "the simulated teacher labels preferences by the designer's reward"

    def _check_fields(self) -> None:
        require(self.data in DATA, "data", f"one of {list(DATA)}", self.data)
        require(self.choice_normaliser in CHOICE_LIKELIHOODS, "choice_normaliser",
                f"one of {list(CHOICE_LIKELIHOODS)}", self.choice_normaliser)  # fmt: skip
        horizons = ("episode", "demonstration")
        require(self.replay_horizon in horizons, "replay_horizon", f"one of {horizons}",
                self.replay_horizon)  # fmt: skip
        for name in ("n_alternatives", "n_rollouts", "n_pairs", "segment_length"):
            require_int(getattr(self, name), name, 1)
        require_number(self.demo_noise, "demo_noise", 0.0, math.inf, hi_open=True)
        for name in ("replay_noise", "rollout_noise"):
            require_distinct(getattr(self, name), name)
            for x in getattr(self, name):
                require_number(x, name, 0.0, math.inf, hi_open=True)
        require(
            isinstance(self.teacher_beta, int | float) and self.teacher_beta > 0,
            "teacher_beta",
            "a rationality > 0 (inf: perfectly rational)",
            self.teacher_beta,
        )
        require_number(self.teacher_mistake, "teacher_mistake", 0.0, 0.5)
        require_number(self.teacher_gamma, "teacher_gamma", 0.0, 1.0, lo_open=True)
        for name in ("teacher_skip", "teacher_equal"):
            require_number(getattr(self, name), name, 0.0, math.inf, hi_open=True)
        for width in self.net_arch:
            require_int(width, "net_arch", 1)
        require(self.algorithm in ("ppo", "sac"), "algorithm", "ppo or sac", self.algorithm)

    def teacher(self):
        """The B-Pref teacher of the preferences."""
        from rewunc.experts import PreferenceTeacher

        return PreferenceTeacher(
            beta=None if math.isinf(self.teacher_beta) else self.teacher_beta,
            mistake=self.teacher_mistake,
            gamma=self.teacher_gamma,
            skip_threshold=self.teacher_skip or None,
            equal_threshold=self.teacher_equal,
        )


@dataclass(frozen=True)
class DeepFields:
    """A study with deep agents (the ``deep`` extra: torch, stable-baselines3)."""

    deep_agents: tuple[str, ...] = option(
        ("BayesMean", "CVaR(alpha=0.9)", "TrueReward"),
        "deep agents, e.g. BayesMean 'CVaR(alpha=0.9)' 'MeanStd(kappa=1.0)' TrueReward",
    )
    deep_steps: int = option(100_000, "environment steps each deep agent trains for")
    deep_train_shift: str = option(TRAIN, "split the deep agents train on (train, or a shift)")
    jobs: int = option(1, "deep agents trained at once, in worker processes")

    def _check_fields(self) -> None:
        try:
            from rewunc.agents.deep.reward import DeepAgentError
            from rewunc.agents.deep.train import deep_agent
        except ImportError as err:
            raise ConfigError(
                f"--deep-agents: deep agents need the 'deep' extra ({err}); install it with "
                "pip install torch==2.13.0 && pip install -e '.[deep]'"
            ) from err
        require_int(self.deep_steps, "deep_steps", 1)
        require_int(self.jobs, "jobs", 1)
        require_distinct(self.deep_agents, "deep_agents")
        agents = []
        for spec in self.deep_agents:
            try:
                agents.append(deep_agent(spec))
            except DeepAgentError as err:
                raise ConfigError(f"--deep-agents: {err}") from err
        for agent in agents:
            if agent.kind == "usf":  # it acts by GPI over a chosen posterior and risk measure
                raise ConfigError(
                    f"--deep-agents: {agent.name} is not a study agent yet (it acts by GPI, "
                    "rewunc.agents.deep.usf.GPIPolicy); train it with train_agent"
                )
        names = [a.name for a in agents]
        if len(set(names)) < len(names):
            raise ConfigError(
                f"--deep-agents: {list(self.deep_agents)} name the same agent twice ({names})"
            )
        known = self._shifts
        require(self.deep_train_shift in known, "deep_train_shift", f"one of {list(known)}",
                self.deep_train_shift)  # fmt: skip
        if getattr(self, "algorithm", "ppo") == "sac":
            for agent in agents:
                if agent.kind == "risk" and agent.base != "BayesMean":
                    raise ConfigError(
                        f"--deep-agents: {agent.name} needs RiskAversePPO (--algorithm ppo); SAC "
                        "takes BayesMean, MeanStd, PessimisticReward and TrueReward"
                    )
        if self.MDP_FOR is None:
            return
        # an exact study checks its agents against LP twins: the network must be shown
        # every MDP state (the base has refused envs without to_mdp() already)
        env = make_env(self.env, None, self.study_env_kwargs(), field="env")
        try:
            if not callable(getattr(env.unwrapped, "observation_of", None)):
                raise ConfigError(
                    f"--env: {self.env} has to_mdp() but no observation_of(state): the deep "
                    "agents' exact check against their LP twins reads the network's policy in "
                    "every state"
                )
        finally:
            env.close()

    def deep_env_kwargs(self, env_kwargs: dict | None = None) -> dict:
        """The deep agents' training env: the study's (or ``env_kwargs``) on
        ``deep_train_shift``."""
        shift = None if self.deep_train_shift == TRAIN else self.deep_train_shift
        return {**(self.env_options() if env_kwargs is None else env_kwargs), "shift": shift}

    def settings(self):
        """The deep agents' :class:`~rewunc.agents.deep.train.DeepSettings`: ``deep_steps`` at
        the study's γ (the LP twins' γ, so a deep agent and its twin optimise one objective),
        and the feature studies' ``algorithm`` and ``net_arch``."""
        from rewunc.agents.deep.train import DeepSettings

        extra = {}
        if hasattr(self, "algorithm"):
            extra = dict(algorithm=self.algorithm, net_arch=tuple(self.net_arch))
        return DeepSettings(steps=self.deep_steps, gamma=self.gamma, **extra)
