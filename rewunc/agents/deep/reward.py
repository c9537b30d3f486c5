"""The posterior-reward VecEnv wrapper: any stable-baselines3 learner (PPO, DQN, SAC) gets the
reward of a scalarisation of the posterior, computed from ``info["features"]`` (rewards are
linear: r_m = w_m·φ), and each finished episode's discounted feature counts μ̂ are recorded, so
that every draw's return X_m = w_m·μ̂ is known.

Scalarisations of the per-step reward (``r_m = w_m·φ(s')`` for every draw m):

- ``"mean"``: the posterior mean, w̄·φ;
- ``"draw"``: one draw's reward, w_d·φ;
- ``"mean_std"``: mean_m r_m − κ·sd_m r_m per step (imitation's ``AddSTDRewardWrapper`` with a
  negative coefficient: a per-step lower bound, not a risk measure over returns); the sd is the
  population sd over draws, computed as sqrt(φᵀ Σ φ) with Σ the draws' covariance;
- ``"quantile"``: the per-step q-quantile over draws of r_m (cached per distinct φ, up to
  ``_QUANTILE_CACHE`` of them).
"""

from __future__ import annotations

import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from rewunc.risk import sample_returns

SCALARISATIONS = ("mean", "draw", "mean_std", "quantile")
_QUANTILE_CACHE = 65_536  # distinct feature vectors whose quantile is kept


class DeepAgentError(ValueError):
    """A deep agent, wrapper or saved-agent file is invalid."""


class PosteriorReward(VecEnvWrapper):
    """Rewards from a reward posterior's draws ``weights`` [M, K], scalarised per step.

    Every step's ``info["features"]`` (K) is required (rewunc's environment protocol). When an
    episode ends, its info gets ``"episode_features"``: Σ_t γ^t φ_{t+1} (K), and
    :attr:`episode_features` keeps every finished episode's, in order; :meth:`draw_returns` gives
    X[E, M] = μ̂_e·w_m for them.

    Args:
        venv: a VecEnv of a protocol env.
        weights: float [M, K] posterior draws.
        scalarisation: one of :data:`SCALARISATIONS`.
        draw: the draw's index for ``"draw"``.
        kappa: κ ≥ 0 for ``"mean_std"``.
        q: the quantile in (0, 1) for ``"quantile"``.
        gamma: the discount of the recorded feature counts (use the learner's γ).
    """

    def __init__(
        self,
        venv: VecEnv,
        weights: np.ndarray,
        scalarisation: str = "mean",
        *,
        draw: int = 0,
        kappa: float = 1.0,
        q: float = 0.05,
        gamma: float = 0.99,
    ):
        super().__init__(venv)
        W = np.asarray(weights, dtype=np.float64)
        if W.ndim != 2 or W.shape[0] < 1 or not np.isfinite(W).all():
            raise DeepAgentError(f"weights: expected a finite [M, K] array, got shape {W.shape}")
        if scalarisation not in SCALARISATIONS:
            raise DeepAgentError(
                f"scalarisation: expected one of {SCALARISATIONS}, got {scalarisation!r}"
            )
        if scalarisation == "draw" and not 0 <= draw < W.shape[0]:
            raise DeepAgentError(f"draw: expected an index in [0, {W.shape[0]}), got {draw}")
        if not kappa >= 0:
            raise DeepAgentError(f"kappa: expected >= 0, got {kappa}")
        if not 0.0 < q < 1.0:
            raise DeepAgentError(f"q: expected a quantile in (0, 1), got {q}")
        if not 0.0 < gamma <= 1.0:
            raise DeepAgentError(f"gamma: expected a discount in (0, 1], got {gamma}")
        self.weights, self.scalarisation = W, scalarisation
        self.draw, self.kappa, self.q, self.gamma = int(draw), float(kappa), float(q), gamma
        self._mean = W.mean(0)
        self._cov = np.cov(W.T, bias=True).reshape(W.shape[1], W.shape[1])
        self._quantiles: dict[bytes, float] = {}
        self.episode_features: list[np.ndarray] = []
        self._reset_counts()

    def _reset_counts(self) -> None:
        K = self.weights.shape[1]
        self._counts = np.zeros((self.num_envs, K))
        self._discount = np.ones(self.num_envs)

    def reset(self):
        self._reset_counts()
        return self.venv.reset()

    def step_wait(self):
        obs, _, dones, infos = self.venv.step_wait()
        K = self.weights.shape[1]
        try:
            phi = np.stack([np.asarray(info["features"], dtype=np.float64) for info in infos])
        except KeyError as err:
            raise DeepAgentError("the env's step info has no 'features' (rewunc protocol)") from err
        if phi.shape != (self.num_envs, K):
            raise DeepAgentError(f"features: expected shape ({K},) per env, got {phi.shape[1:]}")
        rewards = self.scalarise(phi)
        self._counts += self._discount[:, None] * phi
        self._discount *= self.gamma
        for e in np.flatnonzero(dones):
            infos[e]["episode_features"] = self._counts[e].copy()
            self.episode_features.append(self._counts[e].copy())
            self._counts[e] = 0.0
            self._discount[e] = 1.0
        return obs, rewards.astype(np.float32), dones, infos

    def scalarise(self, phi: np.ndarray) -> np.ndarray:
        """Per-step rewards [E] for features φ [E, K] under the wrapper's scalarisation."""
        if self.scalarisation == "mean":
            return phi @ self._mean
        if self.scalarisation == "draw":
            return phi @ self.weights[self.draw]
        if self.scalarisation == "mean_std":
            sd = np.sqrt(np.maximum(np.einsum("ek,kl,el->e", phi, self._cov, phi), 0.0))
            return phi @ self._mean - self.kappa * sd
        return np.array([self._quantile(row) for row in phi])

    def _quantile(self, phi: np.ndarray) -> float:
        key = phi.tobytes()
        value = self._quantiles.get(key)
        if value is None:
            value = float(np.quantile(self.weights @ phi, self.q))
            # one-hot features have a handful of distinct φ; continuous ones (MuJoCo-lite) never
            # repeat, so the cache stays small rather than growing with every step
            if len(self._quantiles) < _QUANTILE_CACHE:
                self._quantiles[key] = value
        return value

    def draw_returns(self, last: int | None = None) -> np.ndarray:
        """X[E, M] = w_m·μ̂_e for the last ``last`` finished episodes (all when None)."""
        mu = np.array(self.episode_features[-last:] if last else self.episode_features)
        return sample_returns(self.weights, mu.reshape(-1, self.weights.shape[1]))
