"""Universal successor features (Borsa et al., 2019) and risk-averse generalised policy
improvement over a reward posterior.

Rewards are linear in features, r = w·φ(s'), so one network that predicts the successor features

    ψ(s, a; z) = E[Σ_t γ^t φ_{t+1} | s, a, then π_z],   π_z(s) = argmax_a z·ψ(s, a; z),

for a *family* of weight vectors z gives every z-policy's value under every reward at once:
Q_w^{π_z}(s, a) = w·ψ(s, a; z). :class:`UniversalSF` learns ψ off-policy (SB3's DQN, its replay
buffer, ε-greedy exploration and target network), each episode acting for a z drawn from
:class:`WeightSampler` (posterior draws, jittered, so that every feature — lava included — gets
weights of both signs), and each sampled transition relabelled with fresh z's: the transition
(s, a, φ(s'), s') is evidence about ψ for every z.

At test time any posterior W [M, K] and any risk measure act with no retraining, by risk-averse
GPI over policies z_1..z_N (:func:`gpi_actions`):

    a(s) = argmax_a max_i Risk_m[w_m·ψ(s, a; z_i)],   Risk = λ·E + (1 − λ)·CVaR_α (BROIL).

GPI is a per-state rule: for the posterior mean (λ = 1) it improves on every z_i's policy
(Barreto et al., 2017); for CVaR over *returns* (what the LP twins maximise) it is a heuristic,
and the studies report its exact gap to the LP optimum.
"""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3 import DQN
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.buffers import DictReplayBuffer
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, create_mlp
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper
from stable_baselines3.dqn.policies import DQNPolicy
from torch import nn
from torch.nn import functional as F

from rewunc.agents.deep.extractors import GridCNN
from rewunc.agents.deep.reward import DeepAgentError
from rewunc.risk import broil, check_alpha, check_lam, check_probs

OBS, Z = "obs", "z"
USF_DEFAULTS = dict(
    batch_size=128,  # transitions per update, each trained for n_z weight vectors
    train_freq=4,  # vectorised steps between updates (32 transitions with 8 envs)
    gradient_steps=1,
    target_update_interval=1000,
    exploration_fraction=0.2,
    exploration_final_eps=0.05,
)
"""DQN settings of :class:`UniversalSF` where they differ from SB3's (one update of 128
transitions every 4 vectorised steps; the target network copied every 1000 steps)."""


# ---- the training family of weights -----------------------------------------------------------


class WeightSampler:
    """z ~ a posterior draw w_m (uniform over m) plus N(0, diag((noise·sd)²)), sd the draws'
    per-feature sd: the family of reward weights the successor features are trained for.

    Args:
        weights: [M, K] draws (e.g. a posterior's).
        noise: the jitter, in units of each feature's posterior sd (0: the draws themselves).
    """

    def __init__(self, weights, noise: float = 0.5):
        W = np.asarray(weights, dtype=np.float64)
        if W.ndim != 2 or W.shape[0] < 1 or not np.all(np.isfinite(W)):
            raise DeepAgentError(f"train_weights: expected a finite [M, K] array, got {W.shape}")
        if not (isinstance(noise, int | float) and np.isfinite(noise) and noise >= 0):
            raise DeepAgentError(f"z_noise: expected a number >= 0, got {noise!r}")
        self.weights, self.noise = W, float(noise)
        self.scale = self.noise * W.std(axis=0)

    @property
    def n_features(self) -> int:
        return self.weights.shape[1]

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """[n, K] float32 weight vectors."""
        z = self.weights[rng.integers(len(self.weights), size=n)]
        return (z + rng.standard_normal(z.shape) * self.scale).astype(np.float32)


class WeightConditioned(VecEnvWrapper):
    """Observations ``{"obs": o, "z": z}``: each env acts for a z drawn at every episode start
    (its own generator, seeded by ``seed()``, so the env's layouts are unchanged). Terminal
    observations carry the finished episode's z."""

    def __init__(self, venv: VecEnv, sampler: WeightSampler):
        K = sampler.n_features
        space = spaces.Dict(
            {OBS: venv.observation_space, Z: spaces.Box(-np.inf, np.inf, (K,), np.float32)}
        )
        super().__init__(venv, observation_space=space)
        self.sampler = sampler
        self._rng = np.random.default_rng([0, 0x25F])
        self._z = np.zeros((venv.num_envs, K), dtype=np.float32)

    def seed(self, seed: int | None = None):
        self._rng = np.random.default_rng([0 if seed is None else int(seed), 0x25F])
        return self.venv.seed(seed)

    def reset(self):
        obs = self.venv.reset()
        self._z = self.sampler.sample(self._rng, self.num_envs)
        return {OBS: obs, Z: self._z.copy()}

    def step_wait(self):
        obs, rewards, dones, infos = self.venv.step_wait()
        for i in np.flatnonzero(dones):
            if "terminal_observation" in infos[i]:
                infos[i]["terminal_observation"] = {
                    OBS: infos[i]["terminal_observation"],
                    Z: self._z[i].copy(),
                }
            self._z[i] = self.sampler.sample(self._rng, 1)[0]
        return {OBS: obs, Z: self._z.copy()}, rewards, dones, infos


# ---- the network ------------------------------------------------------------------------------


class ConditionedExtractor(BaseFeaturesExtractor):
    """Features of ``{"obs", "z"}``: the observation's (GridCNN for (C, H, W) grids, else
    flattened) concatenated with z."""

    def __init__(self, observation_space: spaces.Dict, grid: dict | None = None):
        inner_space = observation_space[OBS]
        K = observation_space[Z].shape[0]
        if grid is not None:
            inner: nn.Module = GridCNN(inner_space, **grid)
            dim = inner.features_dim
        else:
            inner, dim = nn.Flatten(), int(np.prod(inner_space.shape))
        super().__init__(observation_space, dim + K)
        self.inner = inner

    def forward(self, observations: dict[str, th.Tensor]) -> th.Tensor:
        return th.cat([self.inner(observations[OBS].float()), observations[Z].float()], dim=1)


class SuccessorFeatureNetwork(BasePolicy):
    """ψ(s, a; z) [B, A, K] from ``{"obs", "z"}`` (SB3's QNetwork with A·K outputs); its greedy
    action is argmax_a z·ψ(s, a; z)."""

    action_space: spaces.Discrete

    def __init__(
        self,
        observation_space,
        action_space,
        features_extractor,
        features_dim: int,
        net_arch: list[int] | None = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        normalize_images: bool = False,
        *,
        n_features: int,
    ):
        super().__init__(
            observation_space,
            action_space,
            features_extractor=features_extractor,
            normalize_images=normalize_images,
        )
        self.net_arch = [64] if net_arch is None else list(net_arch)
        self.activation_fn, self.features_dim = activation_fn, features_dim
        self.n_actions, self.n_features = int(action_space.n), int(n_features)
        layers = create_mlp(features_dim, self.n_actions * self.n_features, self.net_arch,
                            activation_fn)  # fmt: skip
        self.q_net = nn.Sequential(*layers)

    def forward(self, obs) -> th.Tensor:
        out = self.q_net(self.extract_features(obs, self.features_extractor))
        return out.reshape(-1, self.n_actions, self.n_features)

    def for_weights(self, obs, z: th.Tensor) -> th.Tensor:
        """ψ(s_b, a; z_j) [B·n, A, K] for observations ``obs[OBS]`` [B, ...] and z [B·n, K]
        (row j·B + b is observation b with z_j): the observation's features are computed once
        and paired with each z, which is the same network as ``forward`` at 1/n the cost."""
        features = self.features_extractor.inner(obs[OBS].float())
        n = z.shape[0] // features.shape[0]
        out = self.q_net(th.cat([features.repeat(n, 1), z.float()], dim=1))
        return out.reshape(-1, self.n_actions, self.n_features)

    def _predict(self, observation, deterministic: bool = True) -> th.Tensor:
        psi = self(observation)
        return th.einsum("bak,bk->ba", psi, observation[Z].float()).argmax(dim=1)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(net_arch=self.net_arch, features_dim=self.features_dim,
                    activation_fn=self.activation_fn, n_features=self.n_features,
                    features_extractor=self.features_extractor)  # fmt: skip
        return data


class SuccessorFeaturePolicyDQN(DQNPolicy):
    """SB3's ``DQNPolicy`` with :class:`SuccessorFeatureNetwork` as online and target network."""

    def __init__(self, *args, n_features: int, **kwargs):
        self.n_features = int(n_features)
        kwargs.setdefault("features_extractor_class", ConditionedExtractor)
        kwargs.setdefault("normalize_images", False)
        super().__init__(*args, **kwargs)

    def make_q_net(self) -> SuccessorFeatureNetwork:
        net_args = self._update_features_extractor(self.net_args, features_extractor=None)
        return SuccessorFeatureNetwork(**net_args, n_features=self.n_features).to(self.device)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data["n_features"] = self.n_features
        return data


# ---- the replay buffer ------------------------------------------------------------------------


class FeatureSamples(NamedTuple):
    observations: dict[str, th.Tensor]
    actions: th.Tensor
    next_observations: dict[str, th.Tensor]
    dones: th.Tensor
    features: th.Tensor  # [B, K]: φ of the state arrived in


class FeatureReplayBuffer(DictReplayBuffer):
    """SB3's ``DictReplayBuffer`` that also keeps each transition's ``info["features"]``."""

    def __init__(self, *args, n_features: int, seed: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        self.features = np.zeros((self.buffer_size, self.n_envs, n_features), dtype=np.float32)
        self.rng = np.random.default_rng([int(seed), 0xB0F])  # draws the sampled transitions

    def add(self, obs, next_obs, action, reward, done, infos) -> None:  # type: ignore[override]
        try:
            self.features[self.pos] = np.stack([info["features"] for info in infos])
        except KeyError:
            raise DeepAgentError("UniversalSF: every step's info needs 'features'") from None
        super().add(obs, next_obs, action, reward, done, infos)

    def sample(self, batch_size: int, env=None) -> FeatureSamples:  # type: ignore[override]
        """SB3's uniform draw of stored transitions (and of their envs), from ``self.rng``."""
        upper = self.buffer_size if self.full else self.pos
        return self._get_samples(self.rng.integers(upper, size=batch_size), env)

    def _get_samples(self, batch_inds, env=None) -> FeatureSamples:  # type: ignore[override]
        # SB3's DictReplayBuffer._get_samples, plus the features.
        env_indices = self.rng.integers(self.n_envs, size=len(batch_inds))
        obs = {k: self.to_torch(v[batch_inds, env_indices]) for k, v in self.observations.items()}
        nxt = {
            k: self.to_torch(v[batch_inds, env_indices]) for k, v in self.next_observations.items()
        }
        done = self.dones[batch_inds, env_indices] * (1 - self.timeouts[batch_inds, env_indices])
        return FeatureSamples(
            observations=obs,
            actions=self.to_torch(self.actions[batch_inds, env_indices]),
            next_observations=nxt,
            dones=self.to_torch(done).reshape(-1, 1),
            features=self.to_torch(self.features[batch_inds, env_indices]),
        )


# ---- the algorithm ----------------------------------------------------------------------------


class UniversalSF(DQN):
    """Universal successor features by SB3's DQN: ψ(s, a; z) for z ~ :class:`WeightSampler`.

    Args:
        policy: ``"MlpPolicy"`` (alias of :class:`SuccessorFeaturePolicyDQN`); ``policy_kwargs``
            as in SB3, e.g. ``features_extractor_kwargs={"grid": {...GridCNN kwargs}}``.
        env: a VecEnv, env or env id of a protocol env (``info["features"]`` every step); it is
            wrapped in :class:`WeightConditioned` here.
        train_weights: [M, K], the draws the training family jitters (a posterior's).
        z_noise: the jitter in posterior sd's (:class:`WeightSampler`).
        n_z: weight vectors each sampled transition is trained for: its episode's z and
            ``n_z − 1`` fresh draws.
        **dqn_kwargs: any ``DQN`` argument (``gamma``, ``batch_size``, ``seed``, ...).

    The loss is SB3's Huber loss on every feature of the double-DQN target
    φ(s') + γ·ψ_target(s', argmax_a z·ψ(s', a; z); z) (no bootstrap at termination).
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": SuccessorFeaturePolicyDQN,
        "MultiInputPolicy": SuccessorFeaturePolicyDQN,
    }
    policy: SuccessorFeaturePolicyDQN
    q_net: SuccessorFeatureNetwork
    q_net_target: SuccessorFeatureNetwork
    replay_buffer: FeatureReplayBuffer

    def __init__(
        self,
        policy,
        env,
        *,
        train_weights,
        z_noise: float = 0.5,
        n_z: int = 4,
        **dqn_kwargs,
    ):
        self.sampler = WeightSampler(train_weights, z_noise)
        if isinstance(n_z, bool) or not isinstance(n_z, int | np.integer) or n_z < 1:
            raise DeepAgentError(f"n_z: expected an int >= 1, got {n_z!r}")
        self.n_z, self.z_noise = int(n_z), float(z_noise)
        for name, default in USF_DEFAULTS.items():
            dqn_kwargs.setdefault(name, default)
        K = self.sampler.n_features
        if isinstance(env, str):
            from stable_baselines3.common.env_util import make_vec_env

            env = make_vec_env(env)
        if not isinstance(env, VecEnv):
            env = BaseAlgorithm._wrap_env(env, dqn_kwargs.get("verbose", 0), True)
        env = WeightConditioned(env, self.sampler)
        dqn_kwargs["replay_buffer_class"] = FeatureReplayBuffer
        seed = dqn_kwargs.get("seed")
        dqn_kwargs["replay_buffer_kwargs"] = {"n_features": K, "seed": 0 if seed is None else seed}
        policy_kwargs = dict(dqn_kwargs.pop("policy_kwargs", None) or {})
        policy_kwargs["n_features"] = K
        if policy == "MlpPolicy":  # SB3 wants this name for Dict observations; same class
            policy = "MultiInputPolicy"
        super().__init__(policy, env, policy_kwargs=policy_kwargs, **dqn_kwargs)

    def _setup_model(self) -> None:
        super()._setup_model()
        self._relabel_rng = np.random.default_rng([0 if self.seed is None else self.seed, 0x2E1])

    def train(self, gradient_steps: int, batch_size: int = 100) -> None:
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        losses = []
        for _ in range(gradient_steps):
            data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)
            B, n = data.actions.shape[0], self.n_z
            fresh = self.sampler.sample(self._relabel_rng, B * (n - 1))
            z = th.cat([data.observations[Z], th.as_tensor(fresh, device=self.device)])

            obs, nxt = data.observations, data.next_observations
            rows = th.arange(B * n, device=self.device)
            with th.no_grad():
                a_next = th.einsum("bak,bk->ba", self.q_net.for_weights(nxt, z), z).argmax(dim=1)
                psi_next = self.q_net_target.for_weights(nxt, z)[rows, a_next]
                keep = 1.0 - data.dones.repeat(n, 1)
                target = data.features.repeat(n, 1) + keep * self.gamma * psi_next
            actions = data.actions.long().reshape(-1).repeat(n)
            psi = self.q_net.for_weights(obs, z)[rows, actions]
            loss = F.smooth_l1_loss(psi, target)
            losses.append(loss.item())
            self.policy.optimizer.zero_grad()
            loss.backward()
            th.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
            self.policy.optimizer.step()
        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/loss", float(np.mean(losses)))

    def successor_features(self, observations: np.ndarray, z: np.ndarray) -> np.ndarray:
        """ψ(s, a; z_i) [B, N, A, K] for raw observations [B, ...] and policies z [N, K]."""
        z = np.asarray(z, dtype=np.float32)
        obs = np.asarray(observations)
        B, N = len(obs), len(z)
        self.policy.set_training_mode(False)
        with th.no_grad():
            tensor = {OBS: th.as_tensor(obs, device=self.device)}
            zs = th.as_tensor(np.repeat(z, B, axis=0), device=self.device)  # row j·B + b
            psi = self.q_net.for_weights(tensor, zs).cpu().numpy().astype(np.float64)
        return psi.reshape(N, B, *psi.shape[1:]).swapaxes(0, 1)


# ---- risk-averse GPI --------------------------------------------------------------------------


def gpi_values(psi, weights, lam: float, alpha: float, probs=None) -> np.ndarray:
    """max_i Risk_m[w_m·ψ(s, a; z_i)] [B, A] for ψ [B, N, A, K] and draws ``weights`` [M, K],
    Risk = λ·E_p + (1 − λ)·CVaR_α (:func:`rewunc.risk.broil`)."""
    psi = np.asarray(psi, dtype=np.float64)
    W = np.asarray(weights, dtype=np.float64)
    q = np.einsum("bnak,mk->bnam", psi, W)  # every draw's value of every policy's action
    return broil(q, lam, alpha, probs).max(axis=1)


def gpi_actions(psi, weights, lam: float, alpha: float, probs=None) -> np.ndarray:
    """a(s) = argmax_a max_i Risk_m[w_m·ψ(s, a; z_i)] [B] (the first action on ties)."""
    return gpi_values(psi, weights, lam, alpha, probs).argmax(axis=1)


class GPIPolicy:
    """A :class:`UniversalSF` acting by risk-averse GPI: policies ``policies`` z [N, K], the
    criterion λ·E + (1 − λ)·CVaR_α over draws ``weights`` [M, K] with ``probs``. A
    :class:`rewunc.protocol.Policy` (``predict``) with exact :meth:`action_probabilities`."""

    def __init__(self, model: UniversalSF, policies, weights, lam: float = 1.0,
                 alpha: float = 0.95, probs=None):  # fmt: skip
        self.model = model
        self.policies = np.asarray(policies, dtype=np.float32)
        self.weights = np.asarray(weights, dtype=np.float64)
        K = model.sampler.n_features
        for name, a in (("policies", self.policies), ("weights", self.weights)):
            if a.ndim != 2 or a.shape[1] != K or len(a) < 1:
                raise DeepAgentError(f"GPI {name}: expected [N, {K}], got {a.shape}")
        self.lam, self.alpha = check_lam(lam), check_alpha(alpha)
        self.probs = None if probs is None else check_probs(probs, len(self.weights))

    def actions(self, observations) -> np.ndarray:
        psi = self.model.successor_features(observations, self.policies)
        return gpi_actions(psi, self.weights, self.lam, self.alpha, self.probs)

    def predict(self, observation, state=None, episode_start=None, deterministic: bool = True):
        obs = np.asarray(observation)
        single = obs.shape == self.model.observation_space[OBS].shape
        actions = self.actions(obs[None] if single else obs)
        return (actions[0] if single else actions), state

    def action_probabilities(self, env) -> np.ndarray:
        """π[S, A] (one-hot) in every MDP state of a tabular env's current layout."""
        base = env.unwrapped
        obs = np.stack([base.observation_of(s) for s in range(base.n_states)])
        out = np.zeros((base.n_states, self.model.action_space.n))
        out[np.arange(base.n_states), self.actions(obs)] = 1.0
        return out
