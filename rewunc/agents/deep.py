"""Deep RL agents over a reward posterior, on stable-baselines3 (the ``deep`` extra).

This is the only rewunc module that imports torch. It holds

- :class:`PosteriorReward`, a VecEnv wrapper that gives a learner the reward of a scalarisation
  of the posterior, computed from ``info["features"]`` (rewards are linear: r_m = w_m·φ), and
  records each finished episode's discounted feature counts μ̂, so that every draw's return
  X_m = w_m·μ̂ is known;
- :class:`GridCNN`, a features extractor for the gridworlds' one-hot (C, H, W) observations;
- :func:`save_agent` / :func:`load_agent`: trained agents as a ``state_dict`` in safetensors
  plus a JSON config, never pickled (stable-baselines3's own ``save`` pickles).

Scalarisations of the per-step reward (``r_m = w_m·φ(s')`` for every draw m):

- ``"mean"``: the posterior mean, w̄·φ;
- ``"draw"``: one draw's reward, w_d·φ;
- ``"mean_std"``: mean_m r_m − κ·sd_m r_m per step (imitation's ``AddSTDRewardWrapper`` with a
  negative coefficient: a per-step lower bound, not a risk measure over returns); the sd is the
  population sd over draws, computed as sqrt(φᵀ Σ φ) with Σ the draws' covariance;
- ``"quantile"``: the per-step q-quantile over draws of r_m (cached per distinct φ).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from rewunc.io import atomic_write, write_json

SCALARISATIONS = ("mean", "draw", "mean_std", "quantile")


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
            if len(self._quantiles) < 1_000_000:  # one-hot features: a handful of keys
                self._quantiles[key] = value
        return value

    def draw_returns(self, last: int | None = None) -> np.ndarray:
        """X[E, M] = w_m·μ̂_e for the last ``last`` finished episodes (all when None)."""
        mu = np.array(self.episode_features[-last:] if last else self.episode_features)
        return mu.reshape(-1, self.weights.shape[1]) @ self.weights.T


class GridCNN(BaseFeaturesExtractor):
    """A small CNN for one-hot (C, H, W) grid observations (rewunc's gridworlds).

    Two 3×3 convolutions keep the grid's size (padding 1), so every cell keeps its own
    features, then a linear layer over the whole grid: what is where, and where the agent is.
    """

    def __init__(self, observation_space: spaces.Box, features_dim: int = 128, channels=32):
        if not isinstance(observation_space, spaces.Box) or len(observation_space.shape) != 3:
            raise DeepAgentError(
                f"GridCNN needs a (C, H, W) Box observation, got {observation_space}"
            )
        super().__init__(observation_space, features_dim)
        C, H, W = observation_space.shape
        self.net = torch.nn.Sequential(
            torch.nn.Conv2d(C, channels, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.Conv2d(channels, channels, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.Flatten(),
            torch.nn.Linear(channels * H * W, features_dim),
            torch.nn.ReLU(),
        )

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.net(observations.float())


# ---- saving without pickle ----------------------------------------------------------------

EXTRACTORS = {"GridCNN": GridCNN}
AGENT_FORMAT = "rewunc.deep_agent.v1"


def _algorithms() -> dict:
    from stable_baselines3 import DQN, PPO, SAC

    return {"PPO": PPO, "DQN": DQN, "SAC": SAC}


def save_agent(model, path, *, hyperparameters: dict | None = None, force: bool = False):
    """Write ``path/policy.safetensors`` (the policy's ``state_dict``) and ``path/agent.json``
    (algorithm, policy kwargs, hyperparameters to rebuild it). Nothing is pickled.

    Only policy kwargs that are JSON or a features extractor of :data:`EXTRACTORS` are saved.
    """
    from safetensors.torch import save_model

    path = Path(path)
    algorithm = type(model).__name__
    if algorithm not in _algorithms():
        raise DeepAgentError(f"save_agent: {algorithm} is not one of {sorted(_algorithms())}")
    kwargs = dict(getattr(model, "policy_kwargs", {}) or {})
    extractor = kwargs.pop("features_extractor_class", None)
    if extractor is not None:
        name = getattr(extractor, "__name__", str(extractor))
        if EXTRACTORS.get(name) is not extractor:
            raise DeepAgentError(f"save_agent: features extractor {name} is not in EXTRACTORS")
        kwargs["features_extractor_class"] = name
    try:
        json.dumps(kwargs)
    except TypeError as err:
        raise DeepAgentError(f"save_agent: policy_kwargs are not JSON ({err})") from err
    config = {
        "format": AGENT_FORMAT,
        "algorithm": algorithm,
        "policy_kwargs": kwargs,
        "hyperparameters": hyperparameters or {},
        "observation_space": repr(model.observation_space),
        "action_space": repr(model.action_space),
    }
    path.mkdir(parents=True, exist_ok=True)
    # save_model, not save_file: SB3 policies share one features extractor between the actor
    # and the critic, and safetensors stores such shared tensors once
    atomic_write(
        path / "policy.safetensors", lambda tmp: save_model(model.policy, tmp), force=force
    )
    write_json(path / "agent.json", config, force=force)
    return path


def load_agent(path, env, *, device: str = "cpu"):
    """Rebuild a saved agent on ``env`` (its spaces must match) and load its weights."""
    from safetensors.torch import load_model

    path = Path(path)
    try:
        config = json.loads((path / "agent.json").read_text())
    except (OSError, ValueError) as err:
        raise DeepAgentError(f"{path}/agent.json: cannot read the saved agent ({err})") from err
    if not isinstance(config, dict) or config.get("format") != AGENT_FORMAT:
        raise DeepAgentError(f"{path}/agent.json: not a {AGENT_FORMAT} file")
    algorithm = _algorithms().get(config.get("algorithm"))
    if algorithm is None:
        raise DeepAgentError(f"{path}/agent.json: unknown algorithm {config.get('algorithm')!r}")
    kwargs = dict(config.get("policy_kwargs") or {})
    if "features_extractor_class" in kwargs:
        kwargs["features_extractor_class"] = EXTRACTORS[kwargs["features_extractor_class"]]
    model = algorithm(
        "MlpPolicy", env, policy_kwargs=kwargs, device=device, **config["hyperparameters"]
    )
    if (
        repr(model.observation_space) != config["observation_space"]
        or repr(model.action_space) != config["action_space"]
    ):
        raise DeepAgentError(
            f"{path}: saved for {config['observation_space']} / {config['action_space']}, "
            f"not this env's {model.observation_space} / {model.action_space}"
        )
    try:
        load_model(model.policy, str(path / "policy.safetensors"), device=device)
    except Exception as err:  # missing file, corrupt header (SafetensorError), shape mismatch
        raise DeepAgentError(f"{path}/policy.safetensors: cannot load the weights ({err})") from err
    return model
