"""The stages of a study that needs no MDP (the MuJoCo-lite envs, or any env with features):

    demonstrations (a scripted expert) ──► perturbed replays ──► trajectory choices ─┐
    rollouts at several noise levels ──► segment pairs ──► B-Pref teacher ──► preferences ─┤
                                                              posterior (NUTS) ◄───────┘
        ──► deep agents (trained where ``deep_train_shift`` says) ──► evaluation on every shift

Each stage is keyed like those of :mod:`rewunc.stages` (``<study>/seed<s>/<stage>``), writes its
files atomically and reads them back on resume; the posterior is :func:`rewunc.stages.posterior`.
:class:`FeatureStudyConfig` holds the flags such a study shares; an experiment's config
subclasses it (one level).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rewunc.config import ConfigError, require, require_distinct, require_int, require_number
from rewunc.data import Demonstrations, Preferences, TrajectoryChoices
from rewunc.experts import PreferenceTeacher, label_segment_preferences
from rewunc.rollout import collect
from rewunc.runs import Run, slug
from rewunc.stages import (
    STUDY_SOFT_VI,
    TRAIN,
    anchored_prior,
    check_study_env,
    env_options,
    make_env,
    require_anchor_prior,
    require_seeds,
    say,
)

DATA = ("both", "preferences", "choices")


@dataclass(frozen=True)
class FeatureStudyConfig:
    """Flags every MDP-free study shares (an experiment's config subclasses it, one level).

    Data (``data``: "preferences", "choices" or "both"):

    - choices: ``n_demos`` demonstrations by the scripted expert with action noise
      ``demo_noise``, each beside ``n_alternatives`` noisy replays (noise ``replay_noise``),
      summed over ``replay_horizon`` (the demonstration's length, or each replay's episode);
    - preferences: ``n_rollouts`` expert rollouts per noise level of ``rollout_noise``, cut into
      ``n_pairs`` pairs of ``segment_length``-step segments labelled by a B-Pref teacher:
      ``teacher_beta`` rationality (``inf``: perfectly rational), ``teacher_mistake``,
      ``teacher_gamma`` myopia, ``teacher_skip`` and ``teacher_equal`` thresholds (0: off).

    BIRL: β = ``birl_beta``, N(0, ``prior_scale``²) priors except ``anchor_feature`` (if any):
    N(*``anchor_prior``), the designer's unit of reward; NUTS with ``num_chains`` ×
    (``num_warmup`` + ``num_samples``). Deep agents: ``deep_agents`` trained for ``deep_steps``
    steps by ``algorithm`` (``net_arch`` layers) on ``deep_train_shift``, ``jobs`` at a time;
    evaluated on ``shifts`` with ``n_episodes`` layouts each.
    """

    env: str = ""
    env_kwargs: str = "{}"
    seeds: tuple[int, ...] = (0, 1, 2)
    data: str = "both"
    n_demos: int = 20
    demo_noise: float = 0.3
    n_alternatives: int = 8
    replay_noise: tuple[float, ...] = (0.5, 2.0)
    replay_horizon: str = "demonstration"
    n_rollouts: int = 15
    rollout_noise: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0)
    n_pairs: int = 300
    segment_length: int = 25
    teacher_beta: float = 1.0
    teacher_mistake: float = 0.0
    teacher_gamma: float = 1.0
    teacher_skip: float = 0.0
    teacher_equal: float = 0.0
    birl_beta: float = 1.0
    prior_scale: float = 1.0
    anchor_feature: str = ""
    anchor_prior: tuple[float, ...] = (1.0, 0.05)
    num_warmup: int = 500
    num_samples: int = 500
    num_chains: int = 2
    max_tree_depth: int = 10
    deep_agents: tuple[str, ...] = ("BayesMean", "CVaR(alpha=0.9)", "TrueReward")
    deep_steps: int = 150_000
    deep_train_shift: str = TRAIN
    algorithm: str = "ppo"
    net_arch: tuple[int, ...] = (64, 64)
    shifts: tuple[str, ...] = (TRAIN,)
    n_episodes: int = 100
    agent_samples: int = 200
    gamma: float = 0.95
    jobs: int = 1

    def __post_init__(self):
        require_seeds(self.seeds)
        require(self.data in DATA, "data", f"one of {list(DATA)}", self.data)
        horizons = ("episode", "demonstration")
        require(self.replay_horizon in horizons, "replay_horizon", f"one of {horizons}",
                self.replay_horizon)  # fmt: skip
        for name in ("n_demos", "n_alternatives", "n_rollouts", "n_pairs", "segment_length"):
            require_int(getattr(self, name), name, 1)
        for name in ("num_samples", "num_chains", "max_tree_depth", "n_episodes"):
            require_int(getattr(self, name), name, 1)
        require_int(self.agent_samples, "agent_samples", 1)
        require_int(self.num_warmup, "num_warmup", 0)
        require(self.max_tree_depth <= 20, "max_tree_depth", "at most 20", self.max_tree_depth)
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
        require_anchor_prior(self.anchor_prior)
        for name in ("birl_beta", "prior_scale"):
            require_number(getattr(self, name), name, 0.0, math.inf, lo_open=True, hi_open=True)
        require_number(self.gamma, "gamma", 0.0, 1.0, lo_open=True, hi_open=True)
        for width in self.net_arch:
            require_int(width, "net_arch", 1)
        self._check_env()
        self._check_deep()

    def _check_env(self) -> None:
        """The env exists, emits features, has the named shifts and the designer's reward
        (the teacher labels by it)."""
        names, known = check_study_env(
            self.env,
            self.env_options(),
            self.shifts,
            self.anchor_feature,
            reward_for="the simulated teacher labels preferences by the designer's reward",
        )
        object.__setattr__(self, "_feature_names", names)
        require(
            self.deep_train_shift in known,
            "deep_train_shift",
            f"one of {list(known)}",
            self.deep_train_shift,
        )

    def _check_deep(self) -> None:
        from rewunc.deep_stages import check_deep_flags

        check_deep_flags(self, exact=False)
        require(self.algorithm in ("ppo", "sac"), "algorithm", "ppo or sac", self.algorithm)
        from rewunc.agents.deep.train import deep_agent

        for spec in self.deep_agents:
            agent = deep_agent(spec)
            if self.algorithm == "sac" and agent.kind == "risk" and agent.base != "BayesMean":
                raise ConfigError(
                    f"--deep-agents: {agent.name} needs RiskAversePPO (--algorithm ppo); SAC "
                    "takes BayesMean, MeanStd, PessimisticReward and TrueReward"
                )

    def env_options(self) -> dict:
        return env_options(self.env_kwargs)

    def deep_env_kwargs(self) -> dict:
        """The deep agents' training env: the study's, on ``deep_train_shift``."""
        shift = None if self.deep_train_shift == TRAIN else self.deep_train_shift
        return {**self.env_options(), "shift": shift}

    def teacher(self) -> PreferenceTeacher:
        return PreferenceTeacher(
            beta=None if math.isinf(self.teacher_beta) else self.teacher_beta,
            mistake=self.teacher_mistake,
            gamma=self.teacher_gamma,
            skip_threshold=self.teacher_skip or None,
            equal_threshold=self.teacher_equal,
        )

    def settings(self):
        """The deep agents' :class:`~rewunc.agents.deep.train.DeepSettings`."""
        from rewunc.agents.deep.train import DeepSettings

        return DeepSettings(
            steps=self.deep_steps,
            gamma=self.gamma,
            algorithm=self.algorithm,
            net_arch=tuple(self.net_arch),
        )

    def birl_options(self) -> dict:
        """BIRL options. Preferences between equally long segments cannot see a constant
        added to every step's reward (a feature that is 1 in every state, or a one-hot group),
        yet a planner's behaviour depends on it; anchoring one weight of it, as the gridworld
        studies do, fixes it (and the scale)."""
        names = self._feature_names
        loc, scale = anchored_prior(names, self.prior_scale, self.anchor_feature, self.anchor_prior)
        return dict(
            beta=self.birl_beta,
            prior_loc=loc,
            prior_scale=scale,
            num_warmup=self.num_warmup,
            num_samples=self.num_samples,
            num_chains=self.num_chains,
            max_tree_depth=self.max_tree_depth,
            **STUDY_SOFT_VI,  # no soft VI without demonstrations; recorded as the studies' own
        )


# ---- stages ------------------------------------------------------------------------------------


def choices(
    run: Run,
    env_id: str,
    env_kwargs: dict,
    demos: Demonstrations,
    n_alternatives: int,
    noise_scales,
    seed: int,
    *,
    study: str,
    horizon: str = "demonstration",
) -> TrajectoryChoices:
    """Each demonstration beside ``n_alternatives`` noisy replays of it (the choice sets; see
    :func:`rewunc.birl.choice.perturbed_replays` for ``horizon``)."""
    from rewunc.birl.choice import perturbed_replays

    key = f"{study}/seed{seed}/choices"
    relative = f"choices_{slug(f'{study}/seed{seed}')}.npz"
    if not run.finished(key):
        say(run, f"[{study} seed {seed}] {n_alternatives} perturbed replays per demonstration")
        env = make_env(env_id, None, env_kwargs)
        try:
            data = perturbed_replays(
                env, demos, n_alternatives, noise_scales, seed, horizon=horizon
            )
        finally:
            env.close()
        data.save(run.claim(key, relative), force=True)
        inputs = run.files_of(f"{study}/seed{seed}/demonstrations")
        run.finish(key, files=[relative], inputs=inputs, kind="choices", study=study, seed=seed)
    return TrajectoryChoices.load(run.file(relative))


def preferences(
    run: Run,
    env_id: str,
    env_kwargs: dict,
    make_expert,
    noise_levels,
    n_rollouts: int,
    teacher: PreferenceTeacher,
    n_pairs: int,
    segment_length: int,
    seed: int,
    *,
    study: str,
) -> Preferences:
    """``n_pairs`` segment pairs from ``n_rollouts`` rollouts of ``make_expert(noise, seed)``
    per noise level, labelled by ``teacher`` on the env's (true) rewards."""
    key = f"{study}/seed{seed}/preferences"
    relative = f"preferences_{slug(f'{study}/seed{seed}')}.npz"
    if not run.finished(key):
        say(run, f"[{study} seed {seed}] {n_pairs} preferences from {teacher}")
        trajectories = []
        for i, noise in enumerate(noise_levels):
            policy = make_expert(noise, [seed, i])
            demos = collect(env_id, policy, n_rollouts, seed + 10_000 * (i + 1), **env_kwargs)
            trajectories += demos.trajectories
        data = label_segment_preferences(
            trajectories, teacher, n_pairs, segment_length, seed, demos.feature_names, env_id
        )
        data.save(run.claim(key, relative), force=True)
        run.finish(key, files=[relative], kind="preferences", study=study, seed=seed)
    return Preferences.load(run.file(relative))
