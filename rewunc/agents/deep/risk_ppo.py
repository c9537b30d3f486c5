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

from typing import Any, ClassVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.utils import explained_variance, obs_as_tensor
from stable_baselines3.common.vec_env import VecEnv

from rewunc.agents.deep.broil import broil_weights, critic_basis
from rewunc.agents.deep.exploring_starts import FLAG as EXPLORING_START
from rewunc.agents.deep.successor_features import FeatureRolloutBuffer, SuccessorFeaturePolicy
from rewunc.risk import check_alpha, check_lam, check_probs, cvar, sample_returns
from rewunc.risk import mean as risk_mean

__all__ = [
    "FeatureRolloutBuffer",
    "RiskAversePPO",
    "SuccessorFeaturePolicy",
    "broil_weights",
    "critic_basis",
]


# ---- the algorithm ------------------------------------------------------------------------------


class RiskAversePPO(PPO):
    """PPO that maximises λ·E_p[X] + (1 − λ)·CVaR_α[X] over posterior draws of a linear reward.

    Args:
        policy: ``"SuccessorFeaturePolicy"`` (alias ``"MlpPolicy"``) or a subclass of
            :class:`SuccessorFeaturePolicy`; ``policy_kwargs`` are passed on as in SB3 (e.g.
            ``features_extractor_class=GridCNN``).
        env: a VecEnv, gymnasium env or env id whose every step's ``info["features"]`` is φ [K].
        posterior_weights: W [M, K], the posterior draws (numpy array-like); required, except
            inside SB3's own ``load`` (which restores them from the zip).
        lam: λ ∈ [0, 1] (1: BayesMean; 0: CVaR_α).
        alpha: α ∈ (0, 1] (1: Maximin, the worst draw).
        probs: p [M] draw probabilities (default uniform).
        feature_names: optional, the posterior's feature names; refused if they differ from the
            env's ``feature_names``.
        critic_basis: ``"posterior"`` (default), ``"features"`` or a [K, K] matrix B; the critic
            predicts y = ψ·B (see :func:`critic_basis`). Per-draw numbers are exact for every
            draw in B's span (every draw, for ``"posterior"``).
        criterion_gamma: the discount of the per-draw returns X_m (the criterion's, e.g. the LP
            twin's); default PPO's ``gamma``, which may be larger (a longer training horizon).
        **ppo_kwargs: any ``PPO`` argument (``n_steps``, ``batch_size``, ``gamma``, ``seed``, ...).

    Each batch: per-draw returns X_m = w_m·μ̂, where μ̂ is the mean discounted feature count
    Σ_t γ_c^t φ_{t+1} (γ_c = ``criterion_gamma``) of the episodes that *finished* during the batch
    (an episode begun in an earlier batch counts whole) and began at the env's own start (not by
    an :class:`~rewunc.agents.deep.exploring_starts.ExploringStarts` draw); if there are none, μ̂ is
    the mean K-dim TD(λ) return (at PPO's γ) at the episode starts in the buffer (at step 0 of
    every env if none started there), i.e. the ψ-bootstrapped discounted feature sums of the
    partial trajectories. Then c = :func:`broil_weights`\\ (X, λ, α,
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
        posterior_weights=None,
        lam: float = 1.0,
        alpha: float = 0.95,
        probs=None,
        feature_names: tuple[str, ...] | None = None,
        critic_basis: str | np.ndarray = "posterior",
        criterion_gamma: float | None = None,
        **ppo_kwargs,
    ):
        if posterior_weights is None:
            if ppo_kwargs.get("_init_setup_model", True):
                raise TypeError("posterior_weights: required, the posterior draws W [M, K]")
            # SB3's own load(): it restores every saved attribute after this, then sets up
            super().__init__(policy, env, **ppo_kwargs)
            return
        self.lam, self.alpha = check_lam(lam), check_alpha(alpha)
        if criterion_gamma is not None and not 0.0 < criterion_gamma < 1.0:
            raise ValueError(
                f"criterion_gamma: expected a discount in (0, 1), got {criterion_gamma!r}"
            )
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
        self.criterion_gamma = float(self.gamma if criterion_gamma is None else criterion_gamma)
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
            self._ep_discount *= self.criterion_gamma
            for idx in np.flatnonzero(dones):
                if not infos[idx].get(EXPLORING_START, False):  # the criterion's start only
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
