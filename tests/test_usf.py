"""Universal successor features and risk-averse GPI (rewunc.agents.deep.usf): the GPI action
against a brute-force argmax, ψ(s, a; z)·w against an independent exact evaluation of π_z on a
tiny chain, the conditioned env's z stream, train-twice determinism and save/load."""

import itertools

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("stable_baselines3")

import gymnasium as gym  # noqa: E402
import torch as th  # noqa: E402
from gymnasium import spaces  # noqa: E402
from gymnasium.wrappers import TimeLimit  # noqa: E402
from stable_baselines3.common.monitor import Monitor  # noqa: E402
from stable_baselines3.common.vec_env import DummyVecEnv  # noqa: E402

import rewunc  # noqa: E402,F401
from rewunc.agents.deep import DeepAgentError, load_agent, save_agent  # noqa: E402
from rewunc.agents.deep.train import DeepSettings, train_agent  # noqa: E402
from rewunc.agents.deep.usf import (  # noqa: E402
    GPIPolicy,
    UniversalSF,
    WeightConditioned,
    WeightSampler,
    gpi_actions,
)
from rewunc.posterior import RewardPosterior  # noqa: E402
from rewunc.risk import cvar  # noqa: E402

N, GAMMA = 4, 0.8


class Chain(gym.Env):
    """States 0..3 on a line, left/right, 3 terminal; φ(s') = one-hot of the state arrived in."""

    feature_names = tuple(f"s{i}" for i in range(N))
    observation_space = spaces.Box(0, 1, (N,), np.float32)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.s = int(self.np_random.integers(N - 1))
        return self._obs(), {"features": np.zeros(N)}

    def _obs(self):
        return np.eye(N, dtype=np.float32)[self.s]

    def step(self, action):
        self.s = max(0, self.s - 1) if action == 0 else self.s + 1
        return self._obs(), 0.0, self.s == N - 1, False, {"features": np.eye(N)[self.s]}


def exact_q(policy, w):
    """Q^π_w [N, 2] of a deterministic chain policy, by iterating its Bellman equation."""
    v = np.zeros(N)
    for _ in range(500):
        q = np.array([[w[n] + GAMMA * (0.0 if n == N - 1 else v[n])
                       for n in (max(0, s - 1), min(N - 1, s + 1))] for s in range(N)])  # fmt: skip
        v = q[np.arange(N), policy]
        v[N - 1] = 0.0
    return q


def chain_weights():
    rng = np.random.default_rng(0)
    goal = rng.normal([-0.1, -0.1, -0.1, 1.0], 0.1, (10, N))  # go right to the end
    avoid = rng.normal([0.1, -0.1, -0.1, -1.0], 0.1, (10, N))  # stay at the left wall
    return np.vstack([goal, avoid])


def chain_agent(steps=3000, seed=0):
    th.set_num_threads(1)
    venv = DummyVecEnv([lambda: Monitor(TimeLimit(Chain(), 20)) for _ in range(2)])
    dqn = dict(
        learning_rate=1e-3,
        learning_starts=100,
        train_freq=1,
        batch_size=32,
        target_update_interval=100,
        exploration_fraction=0.3,
        exploration_final_eps=0.3,
    )
    model = UniversalSF("MlpPolicy", venv, train_weights=chain_weights(), z_noise=0.5,
                        gamma=GAMMA, seed=seed, policy_kwargs={"net_arch": [64, 64]},
                        **dqn)  # fmt: skip
    return model.learn(steps)


def test_gpi_action_is_the_brute_force_argmax_over_policies_and_draws():
    rng = np.random.default_rng(3)
    B, Np, A, K, M = 5, 3, 4, 3, 7
    psi, W = rng.normal(size=(B, Np, A, K)), rng.normal(size=(M, K))
    p = rng.dirichlet(np.ones(M))
    for lam, alpha in ((1.0, 0.95), (0.0, 0.7), (0.5, 0.9), (0.0, 1.0)):
        got = gpi_actions(psi, W, lam, alpha, p)
        for b in range(B):
            best, best_a = -np.inf, None
            for a, i in itertools.product(range(A), range(Np)):
                x = np.array([W[m] @ psi[b, i, a] for m in range(M)])
                value = lam * (p @ x) + (1 - lam) * float(cvar(x, alpha, p))
                if value > best + 1e-12:
                    best, best_a = value, a
            assert got[b] == best_a


def test_successor_features_dotted_with_w_are_the_exact_q_of_their_own_policy():
    model = chain_agent()
    obs = np.eye(N, dtype=np.float32)
    W = chain_weights()
    policies = set()
    for z in (W[0], W[4], W[12], W[17]):
        psi = model.successor_features(obs, z[None])[:, 0]  # [S, A, K]
        policy = (psi @ z).argmax(axis=1)
        policies.add(tuple(policy[: N - 1]))
        for w in (z, W[3], W[15], np.eye(N)[3], np.eye(N)[0]):
            q = exact_q(policy, w)
            error = np.abs(psi @ w - q)[: N - 1]
            assert error.max() <= 0.1 * np.abs(q[: N - 1]).max() + 0.05, (z, w, error)
    assert policies == {(1, 1, 1), (0, 0, 0)}  # both behaviours of the family were learnt


def test_each_episode_acts_for_its_own_z_and_terminal_observations_keep_it():
    venv = WeightConditioned(DummyVecEnv([lambda: TimeLimit(Chain(), 3)]), WeightSampler(
        chain_weights(), 0.0))  # fmt: skip
    venv.seed(0)
    obs = venv.reset()
    z0 = obs["z"][0].copy()
    assert any(np.allclose(z0, w) for w in chain_weights())
    for _ in range(3):
        obs, _, done, info = venv.step(np.array([0]))
        if done[0]:
            break
    assert done[0] and np.array_equal(info[0]["terminal_observation"]["z"], z0)
    venv.seed(0)
    assert np.array_equal(venv.reset()["z"], z0[None])


def test_training_twice_gives_identical_parameters_and_save_load_keeps_gpi():
    a, b = chain_agent(400), chain_agent(400)
    for (name, x), (_, y) in zip(a.policy.state_dict().items(), b.policy.state_dict().items(),
                                 strict=True):  # fmt: skip
        assert th.equal(x, y), name


def test_train_agent_universal_sf_on_lavaland_and_its_saved_copy(tmp_path):
    rng = np.random.default_rng(1)
    names = ("dirt", "grass", "lava", "target", "gravel")
    W = np.array([-0.05, -0.25, -2.0, 1.0, -0.05]) + rng.normal(0, 0.3, (12, 5))
    post = RewardPosterior(weights=W, feature_names=names, chain=np.zeros(12, int))
    kwargs = {"layout_seed": 5, "shift": "lava", "size": 5}
    settings = DeepSettings(steps=600, learning_starts=200, n_envs=2)
    model = train_agent("UniversalSF", "rewunc/LavaLand-v0", kwargs, post, 0, settings)
    save_agent(model, tmp_path / "usf", hyperparameters=settings.hyperparameters("usf"))
    env = gym.make("rewunc/LavaLand-v0", **kwargs)
    obs, _ = env.reset(seed=0)
    loaded = load_agent(tmp_path / "usf", env)
    for lam, alpha in ((1.0, 0.95), (0.0, 0.9)):
        g1, g2 = GPIPolicy(model, W[:4], W, lam, alpha), GPIPolicy(loaded, W[:4], W, lam, alpha)
        assert np.array_equal(g1.action_probabilities(env), g2.action_probabilities(env))
        assert g1.predict(obs)[0] == g2.predict(obs)[0]
    with pytest.raises(DeepAgentError, match="SAC"):
        train_agent("UniversalSF", "rewunc/LavaLand-v0", kwargs, post, 0,
                    DeepSettings(steps=10, algorithm="sac"))  # fmt: skip
    with pytest.raises(DeepAgentError, match="posterior"):
        train_agent("UniversalSF", "rewunc/LavaLand-v0", kwargs, None, 0, settings)
    with pytest.raises(DeepAgentError, match="policies"):
        GPIPolicy(model, W[:, :3], W)
