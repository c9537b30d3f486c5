"""Deep agents of a study, by name: spec string → a trained stable-baselines3 model.

The deep agents mirror the tabular ones (``rewunc.agents.tabular``) by criterion, so a study can
put them side by side and check each against its exact LP twin on tabular layouts:

=================================  ================================================  ============
spec                               learner                                           tabular twin
=================================  ================================================  ============
``BayesMean``                      RiskAversePPO, λ = 1 (the posterior-mean reward)  BayesMean
``CVaR(alpha=α)``                  RiskAversePPO, λ = 0                              CVaR(α)
``BROIL(lam=λ, alpha=α)``          RiskAversePPO                                     BROIL(λ, α)
``Maximin``                        RiskAversePPO, λ = 0, α = 1                       Maximin
``MeanStd(kappa=κ)``               PPO on the per-step mean − κ·sd reward            —
``PessimisticReward(q=q)``         PPO on the per-step q-quantile reward             —
``TrueReward``                     PPO on the env's own (true) reward                Oracle
``UniversalSF``                    universal successor features (DQN), acting by     —
                                   risk-averse GPI over any posterior (``usf``)
=================================  ================================================  ============

Results name them ``"Deep <spec>"`` (e.g. ``"Deep CVaR(alpha=0.9)"``). Every learner has the same
network (:class:`DeepSettings`: GridCNN features for (C, H, W) grids, SB3's MLP otherwise) and
PPO settings, and trains with one seed, one torch thread, on the CPU: the same seed gives the same
parameters bit for bit.

With ``DeepSettings(algorithm="sac")`` the agents whose criterion is one scalar reward per step
(BayesMean — the posterior-mean reward, exact because rewards are linear —, MeanStd,
PessimisticReward and TrueReward) train with SAC instead, on Box action spaces (the MuJoCo-lite
envs). CVaR, BROIL and Maximin weigh whole returns per posterior draw, which needs
RiskAversePPO: they are refused with SAC.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env

from rewunc.agents.deep.exploring_starts import ExploringStarts, supports_exploring_starts
from rewunc.agents.deep.extractors import GridCNN
from rewunc.agents.deep.reward import DeepAgentError, PosteriorReward
from rewunc.agents.deep.risk_ppo import RiskAversePPO
from rewunc.agents.deep.training_log import (
    VALIDATION_SEED,
    ValidationCallback,
    file_logger,
    finish_log,
    quiet_logger,
)
from rewunc.agents.deep.usf import ConditionedExtractor, UniversalSF
from rewunc.agents.specs import parse_spec
from rewunc.risk import RiskError, check_alpha, check_lam
from rewunc.runtime import check_interrupt

PREFIX = "Deep "
ALGORITHMS = ("ppo", "sac")
# name -> (parameters with defaults, learner kind)
DEEP_AGENTS: dict[str, tuple[dict[str, float], str]] = {
    "BayesMean": ({}, "risk"),
    "CVaR": ({"alpha": 0.95}, "risk"),
    "BROIL": ({"lam": 0.5, "alpha": 0.95}, "risk"),
    "Maximin": ({}, "risk"),
    "MeanStd": ({"kappa": 1.0}, "reward"),
    "PessimisticReward": ({"q": 0.05}, "reward"),
    "TrueReward": ({}, "true"),
    "UniversalSF": ({}, "usf"),
}


@dataclass(frozen=True)
class DeepSettings:
    """PPO and network settings shared by every deep agent of a study.

    ``gamma`` is the criterion's discount (the LP twins'; RiskAversePPO's per-draw returns);
    ``train_gamma`` is the learner's (PPO's GAE and critic, SAC's TD target). A training discount
    above the criterion's and ``exploring_starts`` (the fraction of training episodes begun in a
    uniformly drawn state, on tabular envs: :class:`ExploringStarts`; other envs start as usual)
    are what let PPO find detours around lava on fixed layouts (README, "Deep agents:
    competence"). ``egocentric`` re-centres grids on the agent (:class:`GridCNN`); ``net_arch``
    are the policy and value layers after the extractor. With a training log (``train_agent``'s
    ``log_dir``), the greedy policy is scored on ``validation_episodes`` fixed validation layouts
    every ``validation_every`` steps (0: never). ``unshifted_warmup``: the fraction of
    ``steps`` trained on the unshifted training distribution before the agent's own shift (a
    curriculum: lava-free layouts, then lava; README, "Deep agents: competence"); 0 (the
    default): the shift from the first step.
    """

    steps: int = 100_000
    n_envs: int = 8
    n_steps: int = 128
    batch_size: int = 256
    n_epochs: int = 4
    learning_rate: float = 3e-4
    ent_coef: float = 0.01
    gamma: float = 0.95
    train_gamma: float = 0.99
    exploring_starts: float = 0.5
    gae_lambda: float = 0.95
    net_arch: tuple[int, ...] = (64,)
    channels: int = 32
    features_dim: int = 128
    egocentric: bool = True
    algorithm: str = "ppo"
    buffer_size: int = 100_000
    learning_starts: int = 1_000
    validation_every: int = 10_000
    validation_episodes: int = 20
    unshifted_warmup: float = 0.0

    def __post_init__(self):
        if self.algorithm not in ALGORITHMS:
            raise DeepAgentError(f"algorithm: expected one of {ALGORITHMS}, got {self.algorithm!r}")
        for name in (
            "steps",
            "n_envs",
            "n_steps",
            "batch_size",
            "n_epochs",
            "channels",
            "buffer_size",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise DeepAgentError(f"{name}: expected an int >= 1, got {value!r}")
        for name in ("gamma", "train_gamma"):
            value = getattr(self, name)
            if not 0.0 < value < 1.0:
                raise DeepAgentError(f"{name}: expected a discount in (0, 1), got {value!r}")
        if not 0.0 <= self.exploring_starts <= 1.0:
            raise DeepAgentError(
                f"exploring_starts: expected a fraction in [0, 1], got {self.exploring_starts!r}"
            )
        if not 0.0 <= self.gae_lambda <= 1.0:
            raise DeepAgentError(f"gae_lambda: expected a value in [0, 1], got {self.gae_lambda}")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise DeepAgentError(f"learning_rate: expected > 0, got {self.learning_rate!r}")
        if not self.ent_coef >= 0:
            raise DeepAgentError(f"ent_coef: expected >= 0, got {self.ent_coef!r}")
        if not 0.0 <= self.unshifted_warmup < 1.0:
            raise DeepAgentError(
                f"unshifted_warmup: expected a fraction in [0, 1), got {self.unshifted_warmup!r}"
            )
        for name in ("validation_every", "validation_episodes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise DeepAgentError(f"{name}: expected an int >= 0, got {value!r}")

    def ppo_kwargs(self, observation_space: spaces.Space, learner: str | None = None) -> dict:
        """The learner's keyword arguments (the extractor only for (C, H, W) Box observations);
        ``learner`` as in :meth:`hyperparameters`."""
        policy_kwargs: dict = {"net_arch": list(self.net_arch)}
        grid = None
        if isinstance(observation_space, spaces.Box) and len(observation_space.shape) == 3:
            grid = {
                "features_dim": self.features_dim,
                "channels": self.channels,
                "egocentric": self.egocentric,
            }
            policy_kwargs.update(features_extractor_class=GridCNN, features_extractor_kwargs=grid)
        if learner == "usf":  # the extractor sees {"obs", "z"}: the grid's CNN, then z
            policy_kwargs.update(
                features_extractor_class=ConditionedExtractor,
                features_extractor_kwargs={"grid": grid},
            )
        return {**self.hyperparameters(learner), "policy_kwargs": policy_kwargs, "device": "cpu"}

    def hyperparameters(self, learner: str | None = None) -> dict:
        """The JSON-able learner arguments (no network kwargs): what ``load_agent`` rebuilds
        with; the learner's ``gamma`` is ``train_gamma``. ``learner`` is ``"usf"`` for
        :class:`UniversalSF` (learning rate, replay buffer and warm-up from these fields, and
        the criterion's ``gamma``: GPI's values w·ψ are the criterion's), else
        ``self.algorithm``. SAC takes ``batch_size`` and ``learning_rate`` from the PPO
        fields."""
        if learner == "usf":
            return dict(
                buffer_size=self.buffer_size,
                learning_starts=self.learning_starts,
                learning_rate=self.learning_rate,
                gamma=self.gamma,
            )
        if self.algorithm == "sac":
            return dict(
                buffer_size=self.buffer_size,
                learning_starts=self.learning_starts,
                batch_size=self.batch_size,
                learning_rate=self.learning_rate,
                gamma=self.train_gamma,
            )
        return dict(
            n_steps=self.n_steps,
            batch_size=self.batch_size,
            n_epochs=self.n_epochs,
            learning_rate=self.learning_rate,
            ent_coef=self.ent_coef,
            gamma=self.train_gamma,
            gae_lambda=self.gae_lambda,
        )


@dataclass(frozen=True)
class DeepAgent:
    """A parsed deep-agent spec.

    Attributes:
        spec: the canonical spec, e.g. ``"CVaR(alpha=0.9)"`` (floats as ``repr``).
        kind: ``"risk"`` (RiskAversePPO), ``"reward"`` (PPO on a scalarised posterior reward),
            ``"true"`` (PPO on the env's reward) or ``"usf"`` (UniversalSF over the posterior).
        params: the spec's parameters (λ, α, κ or q).
        twin: the tabular agent with the same criterion, or None.
        base: the agent's name without parameters (a key of :data:`DEEP_AGENTS`).
    """

    spec: str
    kind: str
    params: dict
    twin: str | None
    base: str

    @property
    def name(self) -> str:
        return PREFIX + self.spec

    @property
    def learner(self) -> str | None:
        """``"usf"`` for :class:`UniversalSF`, else None (the settings' algorithm)."""
        return "usf" if self.kind == "usf" else None

    @property
    def lam_alpha(self) -> tuple[float, float]:
        """(λ, α) of a ``"risk"`` agent."""
        if self.base == "BayesMean":
            return 1.0, 0.95
        if self.base == "Maximin":
            return 0.0, 1.0
        if self.base == "CVaR":
            return 0.0, self.params["alpha"]
        return self.params["lam"], self.params["alpha"]


def deep_agent(spec: str) -> DeepAgent:
    """Parse a deep-agent spec (see the module docstring); unknown names, unknown or repeated
    parameters and out-of-range values are refused with a :class:`DeepAgentError` naming them."""
    base, given = parse_spec(
        spec, {n: d for n, (d, _) in DEEP_AGENTS.items()}, what="deep agent", error=DeepAgentError
    )
    defaults, kind = DEEP_AGENTS[base]
    params = {**defaults, **given}
    try:
        if "alpha" in params:
            check_alpha(params["alpha"])
        if "lam" in params:
            check_lam(params["lam"])
    except RiskError as err:
        raise DeepAgentError(f"deep agent {spec!r}: {err}") from None
    if "kappa" in params and not (math.isfinite(params["kappa"]) and params["kappa"] >= 0):
        raise DeepAgentError(f"deep agent {spec!r}: kappa: expected >= 0, got {params['kappa']}")
    if "q" in params and not 0.0 < params["q"] < 1.0:
        raise DeepAgentError(f"deep agent {spec!r}: q: expected a quantile in (0, 1)")
    args = ", ".join(f"{k}={params[k]!r}" for k in defaults)
    canonical = f"{base}({args})" if args else base
    twin = "Oracle" if base == "TrueReward" else (canonical if kind == "risk" else None)
    return DeepAgent(canonical, kind, params, twin, base)


def check_feature_names(env: gym.Env, names) -> None:
    """Refuse a posterior whose feature names differ from the env's (before any training)."""
    env_names = tuple(getattr(env.unwrapped, "feature_names", ()) or ())
    if env_names and tuple(names) != env_names:
        raise DeepAgentError(
            f"posterior: its features {tuple(names)} differ from the env's {env_names}"
        )


def train_agent(
    spec: str,
    env_id: str,
    env_kwargs: dict,
    posterior,
    seed: int,
    settings: DeepSettings = DeepSettings(),
    *,
    verbose: int = 0,
    callback=None,
    log_dir=None,
    tensorboard: bool = False,
):
    """Train the deep agent ``spec`` on ``env_id``'s training distribution.

    Args:
        spec: a deep-agent spec (:func:`deep_agent`).
        env_id, env_kwargs: the env (``settings.n_envs`` copies in a DummyVecEnv, env i seeded
            with ``seed + i``).
        posterior: a :class:`rewunc.posterior.RewardPosterior` (its draws W [M, K] and feature
            names), or None for ``TrueReward``.
        seed: the one seed of the learner and the envs.
        settings: PPO and network settings.
        verbose: SB3's verbosity; 1 prints its table each update.
        callback: an SB3 callback (e.g. :class:`ValidationCallback`), passed to ``learn``.
        log_dir: a folder for SB3's CSV log, ``progress.csv`` (with the validation layouts'
            ``eval/goal_rate`` etc. every ``settings.validation_every`` steps), written there
            when training ends; None (the default) writes no files (:func:`quiet_logger`).
            UniversalSF acts by GPI over a posterior of the user's choice: its log has no
            validation columns.
        tensorboard: also write TensorBoard events into ``log_dir/tensorboard/``.

    Returns:
        the trained PPO or RiskAversePPO model.
    """
    agent = deep_agent(spec)
    if not isinstance(settings, DeepSettings):
        raise TypeError(f"settings: expected DeepSettings, got {type(settings).__name__}")
    sac = settings.algorithm == "sac"
    if sac and agent.kind == "usf":
        raise DeepAgentError(f"{agent.name}: learns by DQN on Discrete actions, not with SAC")
    if sac and agent.kind == "risk" and agent.base != "BayesMean":
        raise DeepAgentError(
            f"{agent.name}: SAC learns one scalar reward; the risk-averse criteria need "
            "RiskAversePPO (algorithm 'ppo'). With SAC use BayesMean, MeanStd, "
            "PessimisticReward or TrueReward."
        )
    probe = gym.make(env_id, **env_kwargs)
    try:
        if sac and not isinstance(probe.action_space, spaces.Box):
            raise DeepAgentError(
                f"{agent.name}: SAC needs a Box action space; {env_id} has {probe.action_space}"
            )
        if agent.kind != "true":
            if posterior is None:
                raise DeepAgentError(f"{agent.name}: needs a reward posterior")
            check_feature_names(probe, posterior.feature_names)
        if agent.kind == "usf" and not isinstance(probe.action_space, spaces.Discrete):
            raise DeepAgentError(
                f"{agent.name}: needs a Discrete action space; {env_id} has {probe.action_space}"
            )
        kwargs = settings.ppo_kwargs(probe.observation_space, agent.learner)
        explore = settings.exploring_starts > 0 and supports_exploring_starts(probe)
    finally:
        probe.close()
    th.set_num_threads(1)  # small networks: one thread is fastest, and deterministic
    wrapper = (
        dict(wrapper_class=ExploringStarts, wrapper_kwargs={"fraction": settings.exploring_starts})
        if explore
        else {}
    )
    shifted = env_kwargs.get("shift") is not None
    warmup = round(settings.steps * settings.unshifted_warmup) if shifted else 0
    if warmup and agent.kind == "usf":
        raise DeepAgentError(f"{agent.name}: unshifted_warmup is not supported for UniversalSF")

    def make_venv(kwargs: dict, first_seed: int):
        venv = make_vec_env(
            env_id, n_envs=settings.n_envs, seed=first_seed, env_kwargs=kwargs, **wrapper
        )
        if agent.kind == "reward" or (sac and agent.kind != "true"):
            venv = _scalarised(venv, agent, posterior, settings.gamma)
        return venv

    # with a warm-up, the first phase's envs see the unshifted training distribution
    venv = make_venv({**env_kwargs, "shift": None} if warmup else env_kwargs, seed)
    if sac:
        model = SAC("MlpPolicy", venv, seed=seed, verbose=verbose, **kwargs)
    elif agent.kind == "usf":
        model = UniversalSF(
            "MlpPolicy", venv, train_weights=posterior.weights, seed=seed, verbose=verbose, **kwargs
        )
    elif agent.kind == "risk":
        lam, alpha = agent.lam_alpha
        model = RiskAversePPO(
            "MlpPolicy",
            venv,
            posterior_weights=posterior.weights,
            lam=lam,
            alpha=alpha,
            feature_names=tuple(posterior.feature_names),
            criterion_gamma=settings.gamma,
            seed=seed,
            verbose=verbose,
            **kwargs,
        )
    else:
        model = PPO("MlpPolicy", venv, seed=seed, verbose=verbose, **kwargs)
    callbacks = [StopOnInterrupt()] + ([callback] if callback is not None else [])
    if log_dir is None:
        if tensorboard:
            raise DeepAgentError("tensorboard: needs a log_dir")
        model.set_logger(quiet_logger(verbose))
    else:
        model.set_logger(file_logger(log_dir, verbose=verbose, tensorboard=tensorboard))
        if settings.validation_every and settings.validation_episodes and agent.kind != "usf":
            layouts = validation_layouts(env_id, env_kwargs, seed, settings)
            callbacks.append(ValidationCallback(layouts, every=settings.validation_every))
    if warmup:  # then the agent's own shift, in fresh envs with seeds of their own
        model.learn(warmup, callback=callbacks)
        model.set_env(make_venv(env_kwargs, seed + settings.n_envs))
        model.learn(settings.steps - warmup, callback=callbacks, reset_num_timesteps=False)
    else:
        model.learn(settings.steps, callback=callbacks)
    if log_dir is not None:
        finish_log(model.logger, log_dir)
    return model


def validation_layouts(env_id: str, env_kwargs: dict, seed: int, settings: DeepSettings):
    """The layouts a training log scores the policy on: ``settings.validation_episodes`` from
    the training distribution (``env_kwargs``, its ``shift`` included), drawn from
    ``VALIDATION_SEED + seed`` (never a study's evaluation layouts)."""
    from rewunc.evaluate import EvalLayouts

    kwargs = dict(env_kwargs)
    shift = kwargs.pop("shift", None)
    n, gamma = settings.validation_episodes, settings.gamma
    return EvalLayouts.draw(env_id, shift, n, VALIDATION_SEED + seed, gamma, **kwargs)


def _scalarised(venv, agent: DeepAgent, posterior, gamma: float) -> PosteriorReward:
    """``venv`` rewarded by the agent's scalarisation of the posterior: the mean (BayesMean),
    mean − κ·sd (MeanStd) or the q-quantile (PessimisticReward) of w·φ each step."""
    scalarisation = {"BayesMean": "mean", "MeanStd": "mean_std"}.get(agent.base, "quantile")
    return PosteriorReward(
        venv,
        posterior.weights,
        scalarisation,
        kappa=agent.params.get("kappa", 1.0),
        q=agent.params.get("q", 0.05),
        gamma=gamma,
    )


def action_probabilities(model, env: gym.Env) -> np.ndarray:
    """π[S, A]: the model's action probabilities in every MDP state of the env's current layout
    (a tabular env with ``n_states`` and ``observation_of(state)``), in one batch. A policy with
    its own ``action_probabilities(env)`` (:class:`~rewunc.agents.deep.usf.GPIPolicy`) gives
    them itself."""
    if hasattr(model, "action_probabilities"):
        return model.action_probabilities(env)
    base = env.unwrapped
    obs = np.stack([base.observation_of(s) for s in range(base.n_states)])
    with th.no_grad():
        tensor, _ = model.policy.obs_to_tensor(obs)
        dist = model.policy.get_distribution(tensor)
        probs = dist.distribution.probs.cpu().numpy().astype(np.float64)
    return probs / probs.sum(axis=1, keepdims=True)


def greedy(probs: np.ndarray) -> np.ndarray:
    """The deterministic policy [S, A] that takes each row's most probable action (the first on
    ties, as ``argmax`` and SB3's ``predict(deterministic=True)`` do)."""
    out = np.zeros_like(probs)
    out[np.arange(len(probs)), probs.argmax(axis=1)] = 1.0
    return out


class StopOnInterrupt(BaseCallback):
    """Stop training at the next step once Ctrl-C was pressed, even if the KeyboardInterrupt
    was lost inside a garbage-collector callback (:func:`rewunc.runtime.remember_interrupts`)."""

    def _on_step(self) -> bool:
        check_interrupt()
        return True
