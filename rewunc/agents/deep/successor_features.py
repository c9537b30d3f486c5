"""The K-dimensional pieces of :class:`~rewunc.agents.deep.risk_ppo.RiskAversePPO`: a policy whose
critic predicts successor features ψ(s) in a basis (:class:`SuccessorFeaturePolicy`), and a
rollout buffer that runs GAE once per feature (:class:`FeatureRolloutBuffer`)."""

from __future__ import annotations

from collections.abc import Generator
from functools import partial
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.type_aliases import RolloutBufferSamples, Schedule
from torch import nn


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
