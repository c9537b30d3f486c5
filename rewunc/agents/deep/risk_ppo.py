"""Risk-averse PPO over a reward posterior, with a successor-feature critic.

Rewards are linear in features, r_m = w_m·φ(s'), with φ = ``info["features"]`` of the state
arrived in, and the posterior is a set of draws ``W[M, K]`` with probabilities ``p[M]``. Every
per-draw quantity is then linear in a K-vector:

* the critic has a K-dimensional head: successor features ψ(s) = E[Σ_t γ^t φ_{t+1} | s], so
  V_m(s) = w_m·ψ(s) for every draw at once;
* GAE is run once per feature (:class:`FeatureRolloutBuffer`), giving A_ψ[t, e, K]; since GAE is
  linear in (rewards, values), A_m = w_m·A_ψ *exactly* — the scalar GAE of reward w_m·φ and values
  w_m·ψ — for all M draws at O(K) cost (PG-BROIL trains M critics);
* the BROIL/CVaR policy gradient Σ_m c_m ∇J_m is an ordinary policy gradient with the scalar
  advantage Σ_m c_m A_m = w_c·A_ψ, w_c = Σ_m c_m w_m, where c are PG-BROIL's weights
  (:func:`broil_weights`) recomputed each batch from the per-draw returns X_m = w_m·μ̂.

The critic predicts ψ in a fixed *basis* B [K, K] (:func:`critic_basis`): y(s) = ψ(s)·B. The
default basis, √K·G^{1/2} with G = E_p[w wᵀ], makes the critic's outputs reward-scale numbers and
SB3's unchanged value loss (the MSE over the K outputs) equal to E_p[(w_m·(ψ − R_ψ))²], each
draw's own squared value error averaged over the posterior: with one draw, plain PPO's value loss.
Everything per-draw is exact for draws in the span of B (every draw, for this basis).

PPO's clip objective, advantage normalisation, value loss, optimiser, logger and callbacks are
SB3's own: :class:`RiskAversePPO` overrides ``collect_rollouts`` (K-dim values, φ from the infos,
the K-dim timeout bootstrap, the risk weights) and ``_setup_model`` (the basis); ``PPO.train``
runs unchanged.

α is the confidence level, as everywhere in rewunc: CVaR_α averages the worst (1 − α) of the
posterior mass; α = 1 is the worst case (Maximin); λ = 1 is the posterior mean (BayesMean).
"""

from __future__ import annotations

from collections.abc import Generator
from functools import partial
from typing import Any, ClassVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.policies import ActorCriticPolicy, BasePolicy
from stable_baselines3.common.type_aliases import RolloutBufferSamples, Schedule
from stable_baselines3.common.utils import explained_variance, obs_as_tensor
from stable_baselines3.common.vec_env import VecEnv
from torch import nn

from rewunc.risk import check_alpha, check_lam, check_probs, cvar, sample_returns
from rewunc.risk import mean as risk_mean

__all__ = [
    "FeatureRolloutBuffer",
    "RiskAversePPO",
    "SuccessorFeaturePolicy",
    "broil_weights",
    "critic_basis",
]


# ---- PG-BROIL's policy-gradient weights --------------------------------------------------------


def broil_weights(
    x, lam: float, alpha: float, p=None, *, return_var: bool = False
) -> np.ndarray | tuple[np.ndarray, float]:
    """PG-BROIL's policy-gradient weights over posterior draws, with the exact VaR straddle.

    PG-BROIL (Javed et al. 2021) weights draw m by c_m = p_m·(λ + (1−λ)/(1−α)·1[X_m ≤ VaR_α]).
    Here the tail term is made exact: the CVaR tail holds exactly 1 − α of the mass, so the draw
    straddling the (1−α)-quantile counts with the part of its mass inside the tail (as
    ``rewunc.risk.cvar`` does), and draws *tied* at the VaR share that part in proportion to p
    (so the weights never depend on the order of tied draws). Then

        c ≥ 0,   Σ_m c_m = 1,   Σ_m c_m X_m = λ·E_p[X] + (1−λ)·CVaR_α[X] = rewunc.risk.broil,

    and c differs from PG-BROIL's indicator weights only at the straddling draw(s).
    α = 1 (Maximin): the tail is the worst draw (tied minima split in proportion to p);
    λ = 1 (BayesMean): c = p.

    Args:
        x: [M] per-draw returns X_m.
        lam: λ ∈ [0, 1], the weight of the mean.
        alpha: α ∈ (0, 1], the CVaR confidence level.
        p: [M] draw probabilities (default uniform).
        return_var: also return VaR_α, the (1−α)-quantile of X under p (the worst X at α = 1).

    Returns:
        c [M] (float64), or (c, VaR) when ``return_var``.
    """
    lam, alpha = check_lam(lam), check_alpha(alpha)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or x.size == 0 or not np.all(np.isfinite(x)):
        raise ValueError(
            f"x: expected a non-empty 1-d array of finite returns, got shape {x.shape}"
        )
    M = x.size
    p = check_probs(p, M, "probs")
    tail = 1.0 - alpha
    values, inverse = np.unique(x, return_inverse=True)  # sorted distinct returns
    mass = np.bincount(inverse, weights=p, minlength=values.size)  # p-mass at each value
    if tail <= 0.0:
        j = 0  # α = 1: the worst value, whatever its mass
        below = 0.0
        share = 1.0  # the whole (limit) tail sits at the minimum
    else:
        cum = np.cumsum(mass)
        # First value whose cumulative mass reaches the tail (tolerance: 1 − 0.95 ≠ 0.05 in floats).
        j = int(np.searchsorted(cum, tail * (1.0 - 1e-12), side="left"))
        j = min(j, values.size - 1)
        below = float(cum[j] - mass[j])  # mass strictly below the VaR
        share = min(max(tail - below, 0.0), mass[j]) / tail  # tail fraction held at the VaR
    q = np.zeros(M)
    if tail > 0.0:
        q[inverse < j] = p[inverse < j] / tail
    at = inverse == j
    if mass[j] > 0:
        q[at] = share * p[at] / mass[j]
    else:  # only at α = 1, when every draw at the minimum has probability 0: split evenly
        q[at] = share / at.sum()
    q /= q.sum()  # exact to rounding already; guards the 1e-12 tolerance above
    c = lam * p + (1.0 - lam) * q
    return (c, float(values[j])) if return_var else c


def critic_basis(W, p=None, kind: str = "posterior", gamma: float = 0.99) -> np.ndarray:
    """The basis B [K, K] in which the critic predicts successor features: y(s) = ψ(s)·B.

    ``kind="posterior"``: B = √K·G^{1/2}, G = Σ_m p_m w_m w_mᵀ (symmetric square root). The MSE
    over the K outputs is then (1/K)·‖(ψ − R)·B‖² = E_p[(w_m·(ψ − R))²], the posterior-mean of
    each draw's squared value error in reward units, and the outputs are reward-scale numbers,
    as a plain PPO critic's are (one draw w: y = 2(w·ψ)·w/‖w‖ for K = 4, and the loss is plain
    PPO's). Directions no draw weighs (the null space of G) are not learned: per-draw values
    and advantages are exact for every w in the span of the draws.

    ``kind="features"``: B = (1 − γ)·I, the discounted feature occupancy (1 − γ)·ψ, every feature
    weighted alike whatever the posterior makes it worth. Measured (one seed, true weights,
    egocentric GridCNN, grass-free procedural LavaLand, 60k steps): goal rate 0.08 against 1.00
    with ``"posterior"`` — the small-weight features dominate the loss and the output scale.
    """
    W = np.asarray(W, dtype=np.float64)
    K = W.shape[1]
    if kind == "features":
        return (1.0 - gamma if gamma < 1.0 else 1.0) * np.eye(K)
    if kind != "posterior":
        raise ValueError(
            f"critic_basis: expected 'posterior', 'features' or a matrix, got {kind!r}"
        )
    p = check_probs(p, W.shape[0], "probs")
    G = (W * p[:, None]).T @ W
    evals, evecs = np.linalg.eigh(G)
    evals = np.where(evals > 1e-12 * max(evals.max(), 1e-300), evals, 0.0)
    B = np.sqrt(K) * (evecs * np.sqrt(evals)) @ evecs.T
    if not np.any(B):
        raise ValueError("posterior_weights: every draw is zero; there is no reward to learn")
    return B


# ---- the successor-feature critic ---------------------------------------------------------------


class SuccessorFeaturePolicy(ActorCriticPolicy):
    """SB3's ``ActorCriticPolicy`` whose ``value_net`` outputs K numbers: the successor features
    in the critic's basis, y(s) = ψ(s)·B (see :func:`critic_basis`; the buffer holds B).

    Every ActorCriticPolicy option works unchanged (``net_arch``, ``features_extractor_class``,
    ``share_features_extractor``, ...); ``n_features`` (K) is added by :class:`RiskAversePPO`.
    ``forward``, ``predict_values`` and ``evaluate_actions`` return y with shape [batch, K].
    """

    def __init__(self, *args, n_features: int, **kwargs):
        self.n_features = _check_n_features(n_features)
        super().__init__(*args, **kwargs)

    def _build(self, lr_schedule: Schedule) -> None:
        super()._build(lr_schedule)
        # Replace the scalar value head by a K-dim one (same init as SB3's: orthogonal, gain 1)
        # and rebuild the optimiser so that it holds the new head's parameters.
        self.value_net = nn.Linear(self.mlp_extractor.latent_dim_vf, self.n_features)
        if self.ortho_init:
            self.value_net.apply(partial(self.init_weights, gain=1))
        self.optimizer = self.optimizer_class(
            self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs
        )

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data["n_features"] = self.n_features
        return data


def _check_n_features(n_features) -> int:
    if isinstance(n_features, bool) or not isinstance(n_features, int | np.integer):
        raise ValueError(f"n_features: expected a positive int, got {n_features!r}")
    if n_features < 1:
        raise ValueError(f"n_features: expected a positive int, got {n_features!r}")
    return int(n_features)


# ---- the K-dim rollout buffer ----------------------------------------------------------------


class FeatureRolloutBuffer(RolloutBuffer):
    """SB3's ``RolloutBuffer`` with K-dim values, returns and advantages (one GAE per feature).

    The critic predicts y = ψ·B in the basis B = ``critic_basis`` [K, K] (default identity);
    B⁺ is its pseudo-inverse. Extra or K-dim arrays ([n_steps, n_envs, ...]):

    * ``features`` [.., K]: φ of the state arrived in (``info["features"]``), as observed;
    * ``timeout_values`` [.., K]: y(terminal_observation) where the episode was truncated, else
      0. GAE's K-dim reward is ``features·B + γ·timeout_values``: the K-dim analogue of SB3's
      timeout bootstrap, which adds γ·V(terminal_observation) to the reward;
    * ``truncated`` [..] (bool): where that bootstrap was applied;
    * ``values``, ``returns``, ``critic_advantages`` [.., K]: y, its TD(λ) returns (the critic's
      targets) and its GAE, all in the basis;
    * ``feature_advantages`` [.., K]: A_ψ = ``critic_advantages``·B⁺, in ψ units: for every w in
      the span of B, ``feature_advantages @ w`` is exactly the scalar GAE of reward w·φ and values
      w·ψ (reward units);
    * ``advantages`` [..]: the scalar advantage w_c·A_ψ, set by :meth:`set_advantage_weights`.

    ``rewards`` keeps the env's own scalar rewards for reference (the learner does not use them).

    ``get`` and ``_get_samples`` are SB3's: ``values[idx].flatten()`` and ``returns[idx].flatten()``
    give [B·K] in sample-major order, the same order as ``evaluate_actions(...)[0].flatten()`` in
    ``PPO.train``, so SB3's value loss F.mse_loss(returns, values_pred) is the MSE over the K
    outputs (and ``clip_range_vf`` clips each output), with no change to ``train``.
    """

    features: np.ndarray
    timeout_values: np.ndarray
    truncated: np.ndarray
    critic_advantages: np.ndarray
    feature_advantages: np.ndarray

    def __init__(self, *args, n_features: int, critic_basis: np.ndarray | None = None, **kwargs):
        self.n_features = K = _check_n_features(n_features)
        B = np.eye(K) if critic_basis is None else np.asarray(critic_basis, dtype=np.float64)
        if B.shape != (K, K) or not np.all(np.isfinite(B)):
            raise ValueError(f"critic_basis: expected a finite [{K}, {K}] matrix, got {B.shape}")
        self.critic_basis = B
        self.critic_basis_pinv = np.linalg.pinv(B, rcond=1e-10)
        super().__init__(*args, **kwargs)

    def reset(self) -> None:
        super().reset()
        shape = (self.buffer_size, self.n_envs, self.n_features)
        self.features = np.zeros(shape, dtype=np.float32)
        self.timeout_values = np.zeros(shape, dtype=np.float32)
        self.truncated = np.zeros((self.buffer_size, self.n_envs), dtype=bool)
        self.values = np.zeros(shape, dtype=np.float32)
        self.returns = np.zeros(shape, dtype=np.float32)
        self.critic_advantages = np.zeros(shape, dtype=np.float32)
        self.feature_advantages = np.zeros(shape, dtype=np.float32)
        self.advantage_weights: np.ndarray | None = None

    def add(  # type: ignore[override]
        self,
        obs: np.ndarray,
        action: np.ndarray,
        reward: np.ndarray,
        episode_start: np.ndarray,
        value: th.Tensor,
        log_prob: th.Tensor,
        *,
        features: np.ndarray,
        timeout_values: np.ndarray,
        truncated: np.ndarray,
    ) -> None:
        """SB3's ``add`` plus ``features`` φ [n_envs, K], ``timeout_values`` [n_envs, K] and
        ``truncated`` [n_envs]; ``value`` is the critic's y [n_envs, K]."""
        # SB3's RolloutBuffer.add, except that ``value`` is stored as a [n_envs, K] row.
        if len(log_prob.shape) == 0:
            log_prob = log_prob.reshape(-1, 1)
        if isinstance(self.observation_space, spaces.Discrete):
            obs = obs.reshape((self.n_envs, *self.obs_shape))
        action = action.reshape((self.n_envs, self.action_dim))
        self.observations[self.pos] = np.array(obs)
        self.actions[self.pos] = np.array(action)
        self.rewards[self.pos] = np.array(reward)
        self.episode_starts[self.pos] = np.array(episode_start)
        self.values[self.pos] = value.clone().cpu().numpy().reshape(self.n_envs, self.n_features)
        self.log_probs[self.pos] = log_prob.clone().cpu().numpy()
        self.features[self.pos] = features
        self.timeout_values[self.pos] = timeout_values
        self.truncated[self.pos] = truncated
        self.pos += 1
        if self.pos == self.buffer_size:
            self.full = True

    def compute_returns_and_advantage(self, last_values: th.Tensor, dones: np.ndarray) -> None:
        """GAE(λ) per output: SB3's recursion with K-dim rewards ``features·B + γ·timeout_values``
        and K-dim values y. ``last_values`` is y of the observation after the last step
        [n_envs, K]. Sets ``critic_advantages``, ``returns`` (= A_y + y, the critic's targets) and
        ``feature_advantages`` (A_ψ = A_y·B⁺); the scalar ``advantages`` wait for
        :meth:`set_advantage_weights`."""
        K = self.n_features
        last = last_values.clone().cpu().numpy().reshape(self.n_envs, K).astype(np.float64)
        phi = self.features.astype(np.float64)
        rewards = phi @ self.critic_basis + self.gamma * self.timeout_values.astype(np.float64)
        values = self.values.astype(np.float64)
        adv = np.zeros_like(values)
        last_gae = np.zeros((self.n_envs, K))
        for step in reversed(range(self.buffer_size)):
            if step == self.buffer_size - 1:
                next_non_terminal = 1.0 - dones.astype(np.float64)
                next_values = last
            else:
                next_non_terminal = 1.0 - self.episode_starts[step + 1].astype(np.float64)
                next_values = values[step + 1]
            nnt = next_non_terminal[:, None]
            delta = rewards[step] + self.gamma * next_values * nnt - values[step]
            last_gae = delta + self.gamma * self.gae_lambda * nnt * last_gae
            adv[step] = last_gae
        self.critic_advantages = adv.astype(np.float32)
        self.feature_advantages = (adv @ self.critic_basis_pinv).astype(np.float32)
        self.returns = (adv + values).astype(np.float32)
        self.advantages = np.zeros((self.buffer_size, self.n_envs), dtype=np.float32)
        self.advantage_weights = None

    def set_advantage_weights(self, w: np.ndarray) -> None:
        """Scalarise: ``advantages = feature_advantages @ w`` (w [K], e.g. w_c = Σ_m c_m w_m)."""
        w = np.asarray(w, dtype=np.float64)
        if w.shape != (self.n_features,):
            raise ValueError(f"w: expected shape ({self.n_features},), got {w.shape}")
        self.advantage_weights = w
        adv = self.critic_advantages.astype(np.float64) @ (self.critic_basis_pinv @ w)
        self.advantages = adv.astype(np.float32)

    def get(self, batch_size: int | None = None) -> Generator[RolloutBufferSamples, None, None]:
        if self.advantage_weights is None:
            raise RuntimeError("call set_advantage_weights(w) after compute_returns_and_advantage")
        yield from super().get(batch_size)

    def to_features(self, y: np.ndarray) -> np.ndarray:
        """Critic-basis vectors [.., K] to ψ units: y·B⁺ (exact against every w in B's span)."""
        return np.asarray(y, dtype=np.float64) @ self.critic_basis_pinv

    def episode_start_returns(self) -> np.ndarray:
        """The K-dim TD(λ) returns at the episode starts in the buffer, in ψ units [n, K] (at step
        0 of every env when no episode starts in it): ψ-bootstrapped discounted feature sums of the
        partial trajectories, the fallback estimate of μ when no episode finished in the batch."""
        returns = self.returns
        if self.generator_ready:  # flattened by get(): [n_envs * n_steps, K], env-major
            returns = returns.reshape(self.n_envs, self.buffer_size, self.n_features).swapaxes(0, 1)
        starts = self.episode_starts.astype(bool)  # never flattened by get()
        out = returns[starts] if starts.any() else returns[0]
        return self.to_features(out)


# ---- the algorithm ------------------------------------------------------------------------------


class RiskAversePPO(PPO):
    """PPO that maximises λ·E_p[X] + (1 − λ)·CVaR_α[X] over posterior draws of a linear reward.

    Args:
        policy: ``"SuccessorFeaturePolicy"`` (alias ``"MlpPolicy"``) or a subclass of
            :class:`SuccessorFeaturePolicy`; ``policy_kwargs`` are passed on as in SB3 (e.g.
            ``features_extractor_class=GridCNN``).
        env: a VecEnv, gymnasium env or env id whose every step's ``info["features"]`` is φ [K].
        posterior_weights: W [M, K], the posterior draws (numpy array-like).
        lam: λ ∈ [0, 1] (1: BayesMean; 0: CVaR_α).
        alpha: α ∈ (0, 1] (1: Maximin, the worst draw).
        probs: p [M] draw probabilities (default uniform).
        feature_names: optional, the posterior's feature names; refused if they differ from the
            env's ``feature_names``.
        critic_basis: ``"posterior"`` (default), ``"features"`` or a [K, K] matrix B; the critic
            predicts y = ψ·B (see :func:`critic_basis`). Per-draw numbers are exact for every
            draw in B's span (every draw, for ``"posterior"``).
        **ppo_kwargs: any ``PPO`` argument (``n_steps``, ``batch_size``, ``gamma``, ``seed``, ...).

    Each batch: per-draw returns X_m = w_m·μ̂, where μ̂ is the mean discounted feature count
    Σ_t γ^t φ_{t+1} of the episodes that *finished* during the batch (an episode begun in an
    earlier batch counts whole); if none finished, μ̂ is the mean K-dim TD(λ) return at the episode
    starts in the buffer (at step 0 of every env if none started there), i.e. the ψ-bootstrapped
    discounted feature sums of the partial trajectories. Then c = :func:`broil_weights`\\ (X, λ, α,
    p), w_c = cᵀW, and PPO's scalar advantage is w_c·A_ψ (normalised by PPO as usual).

    Logged each batch (SB3 logger, ``risk/``): ``mean_X``, ``cvar_X``, ``var_X``, ``objective``
    (λ·mean + (1−λ)·CVaR), ``n_episodes`` (finished episodes used; 0 = fallback),
    ``explained_variance`` (of the critic's w_c-value). The latest batch's numbers are also kept
    in ``self.last_risk`` (dict of numpy arrays and floats).
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "SuccessorFeaturePolicy": SuccessorFeaturePolicy,
        "MlpPolicy": SuccessorFeaturePolicy,
    }
    rollout_buffer: FeatureRolloutBuffer
    policy: SuccessorFeaturePolicy

    def __init__(
        self,
        policy: str | type[SuccessorFeaturePolicy],
        env,
        *,
        posterior_weights,
        lam: float = 1.0,
        alpha: float = 0.95,
        probs=None,
        feature_names: tuple[str, ...] | None = None,
        critic_basis: str | np.ndarray = "posterior",
        **ppo_kwargs,
    ):
        self.lam, self.alpha = check_lam(lam), check_alpha(alpha)
        W = np.asarray(posterior_weights, dtype=np.float64)
        if W.ndim != 2 or W.shape[0] < 1 or W.shape[1] < 1 or not np.all(np.isfinite(W)):
            raise ValueError(
                f"posterior_weights: expected a finite [M, K] array, got shape {W.shape}"
            )
        self.posterior_weights = W
        self.probs = check_probs(probs, W.shape[0], "probs")
        self.n_features = K = int(W.shape[1])
        if isinstance(critic_basis, str):
            if critic_basis not in ("posterior", "features"):
                raise ValueError(
                    f"critic_basis: expected 'posterior', 'features' or a [{K}, {K}] matrix, "
                    f"got {critic_basis!r}"
                )
        elif np.shape(critic_basis) != (K, K):
            raise ValueError(
                f"critic_basis: expected a [{K}, {K}] matrix, got {np.shape(critic_basis)}"
            )
        self.critic_basis_kind = critic_basis
        if feature_names is not None and len(feature_names) != K:
            raise ValueError(
                f"feature_names: expected {K} names (posterior_weights has K={K}), "
                f"got {feature_names!r}"
            )
        self.feature_names = None if feature_names is None else tuple(feature_names)

        if isinstance(policy, str) and policy not in self.policy_aliases:
            raise ValueError(
                f"policy: expected one of {sorted(self.policy_aliases)} or a "
                f"SuccessorFeaturePolicy subclass, got {policy!r}"
            )
        if not isinstance(policy, str) and not (
            isinstance(policy, type) and issubclass(policy, SuccessorFeaturePolicy)
        ):
            raise TypeError(f"policy: expected a SuccessorFeaturePolicy subclass, got {policy!r}")
        policy_kwargs = dict(ppo_kwargs.pop("policy_kwargs", None) or {})
        if policy_kwargs.setdefault("n_features", K) != K:
            raise ValueError(
                f"policy_kwargs: n_features={policy_kwargs['n_features']} but "
                f"posterior_weights has K={K}"
            )
        buffer_class = ppo_kwargs.pop("rollout_buffer_class", None) or FeatureRolloutBuffer
        if not (isinstance(buffer_class, type) and issubclass(buffer_class, FeatureRolloutBuffer)):
            raise TypeError(
                "rollout_buffer_class: expected a FeatureRolloutBuffer subclass, "
                f"got {buffer_class!r}"
            )
        buffer_kwargs = dict(ppo_kwargs.pop("rollout_buffer_kwargs", None) or {})
        buffer_kwargs["n_features"] = K

        super().__init__(
            policy,
            env,
            policy_kwargs=policy_kwargs,
            rollout_buffer_class=buffer_class,
            rollout_buffer_kwargs=buffer_kwargs,
            **ppo_kwargs,
        )
        if isinstance(self.observation_space, spaces.Dict):
            raise ValueError(
                "env: Dict observation spaces are not supported (no K-dim DictRolloutBuffer)"
            )
        if self.env is not None:
            self._check_env_features(self.env)
        self._ep_features: np.ndarray | None = None  # running discounted φ sums per env [n_envs, K]
        self._ep_discount: np.ndarray | None = None  # γ^t per env
        self.last_risk: dict[str, Any] = {}

    def _setup_model(self) -> None:
        """SB3's, with the critic basis B handed to the rollout buffer (it needs γ)."""
        kind = self.critic_basis_kind
        B = (
            critic_basis(self.posterior_weights, self.probs, kind, self.gamma)
            if isinstance(kind, str)
            else np.asarray(kind, dtype=np.float64)
        )
        self.rollout_buffer_kwargs["critic_basis"] = B
        super()._setup_model()

    def _check_env_features(self, env: VecEnv) -> None:
        """Refuse a posterior whose K (or feature names) differ from the env's, before training."""
        try:
            names = env.get_attr("feature_names", indices=[0])[0]
        except AttributeError:
            return  # no feature_names: K is checked against info["features"] on the first step
        names = tuple(names)
        if len(names) != self.n_features:
            raise ValueError(
                f"posterior_weights: expected K={len(names)} columns for the env's features "
                f"{names}, got {self.n_features}"
            )
        if self.feature_names is not None and self.feature_names != names:
            raise ValueError(
                f"feature_names: the posterior's {self.feature_names} differ from the env's {names}"
            )

    def _step_features(self, infos: list[dict]) -> np.ndarray:
        try:
            phi = np.stack(
                [np.asarray(info["features"], dtype=np.float32).reshape(-1) for info in infos]
            )
        except KeyError as err:
            raise KeyError(
                "env: every step's info must hold 'features' (φ of the state arrived in)"
            ) from err
        if phi.shape[1] != self.n_features:
            raise ValueError(
                f"posterior_weights: expected K={phi.shape[1]} columns to match "
                f"info['features'], got {self.n_features}"
            )
        return phi

    def collect_rollouts(
        self,
        env: VecEnv,
        callback: BaseCallback,
        rollout_buffer: RolloutBuffer,
        n_rollout_steps: int,
    ) -> bool:
        """SB3's ``OnPolicyAlgorithm.collect_rollouts`` (2.x) with four changes, marked [rewunc]:
        φ read from the infos; the timeout bootstrap is K-dim (the critic's y(terminal_observation)
        goes to the buffer's ``timeout_values``, which adds γ·y to the step's K-dim reward); each
        env's discounted feature count is accumulated to estimate μ̂; after GAE, the risk weights
        scalarise the advantages and are logged."""
        assert self._last_obs is not None, "No previous observation was provided"
        assert isinstance(rollout_buffer, FeatureRolloutBuffer)
        self.policy.set_training_mode(False)

        n_steps = 0
        rollout_buffer.reset()
        if self.use_sde:
            self.policy.reset_noise(env.num_envs)

        # [rewunc] per-env running discounted feature counts; episodes that finish in this batch
        n_envs, K = env.num_envs, self.n_features
        if self._ep_features is None or self._ep_features.shape != (n_envs, K):
            self._ep_features = np.zeros((n_envs, K))
            self._ep_discount = np.ones(n_envs)
        finished: list[np.ndarray] = []

        callback.on_rollout_start()

        while n_steps < n_rollout_steps:
            if self.use_sde and self.sde_sample_freq > 0 and n_steps % self.sde_sample_freq == 0:
                self.policy.reset_noise(env.num_envs)

            with th.no_grad():
                obs_tensor = obs_as_tensor(self._last_obs, self.device)  # type: ignore[arg-type]
                actions, values, log_probs = self.policy(obs_tensor)
            actions = actions.cpu().numpy()

            clipped_actions = actions
            if isinstance(self.action_space, spaces.Box):
                if self.policy.squash_output:
                    clipped_actions = self.policy.unscale_action(clipped_actions)
                else:
                    clipped_actions = np.clip(
                        actions, self.action_space.low, self.action_space.high
                    )

            new_obs, rewards, dones, infos = env.step(clipped_actions)

            self.num_timesteps += env.num_envs

            callback.update_locals(locals())
            if not callback.on_step():
                return False

            self._update_info_buffer(infos, dones)
            n_steps += 1

            if isinstance(self.action_space, spaces.Discrete):
                actions = actions.reshape(-1, 1)

            # [rewunc] φ of the state arrived in, and this step's share of each episode's μ
            phi = self._step_features(infos)
            starts = np.asarray(self._last_episode_starts, dtype=bool)
            self._ep_features[starts] = 0.0
            self._ep_discount[starts] = 1.0
            self._ep_features += self._ep_discount[:, None] * phi
            self._ep_discount *= self.gamma
            for idx in np.flatnonzero(dones):
                finished.append(self._ep_features[idx].copy())

            # [rewunc] timeout bootstrap, K-dim: the buffer adds γ·y(terminal_observation)
            timeout_values = np.zeros((n_envs, K), dtype=np.float32)
            truncated = np.array(
                [
                    bool(done)
                    and infos[idx].get("terminal_observation") is not None
                    and bool(infos[idx].get("TimeLimit.truncated", False))
                    for idx, done in enumerate(dones)
                ]
            )
            for idx in np.flatnonzero(truncated):
                terminal_obs = self.policy.obs_to_tensor(infos[idx]["terminal_observation"])[0]
                with th.no_grad():
                    y = self.policy.predict_values(terminal_obs)[0]  # type: ignore[arg-type]
                timeout_values[idx] = y.cpu().numpy()

            rollout_buffer.add(
                self._last_obs,  # type: ignore[arg-type]
                actions,
                rewards,
                self._last_episode_starts,  # type: ignore[arg-type]
                values,
                log_probs,
                features=phi,
                timeout_values=timeout_values,
                truncated=truncated,
            )
            self._last_obs = new_obs  # type: ignore[assignment]
            self._last_episode_starts = dones

        with th.no_grad():
            values = self.policy.predict_values(obs_as_tensor(new_obs, self.device))  # type: ignore[arg-type]

        rollout_buffer.compute_returns_and_advantage(last_values=values, dones=dones)
        self._set_risk_weights(rollout_buffer, finished)  # [rewunc]

        callback.update_locals(locals())

        callback.on_rollout_end()

        return True

    def _set_risk_weights(self, buffer: FeatureRolloutBuffer, finished: list[np.ndarray]) -> None:
        """X_m = w_m·μ̂ → PG-BROIL weights c → w_c = cᵀW → scalar advantages; log the risk."""
        mu = (
            np.mean(finished, axis=0)
            if finished
            else buffer.episode_start_returns().astype(np.float64).mean(axis=0)
        )
        W, p = self.posterior_weights, self.probs
        x = sample_returns(W, mu)
        c, var = broil_weights(x, self.lam, self.alpha, p, return_var=True)
        w_c = c @ W
        buffer.set_advantage_weights(w_c)
        a_c = buffer.critic_basis_pinv @ w_c  # w_c·ψ = a_c·y
        ev = explained_variance(
            (buffer.values.astype(np.float64) @ a_c).ravel(),
            (buffer.returns.astype(np.float64) @ a_c).ravel(),
        )
        logged = {
            "mean_X": float(risk_mean(x, p)),
            "cvar_X": float(cvar(x, self.alpha, p)),
            "var_X": var,
            "objective": float(c @ x),
            "n_episodes": len(finished),
            "explained_variance": float(ev),
        }
        self.last_risk = {"mu": mu, "x": x, "c": c, "w_c": w_c, **logged}
        for name, value in logged.items():
            self.logger.record(f"risk/{name}", value)
