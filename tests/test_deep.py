"""Deep agents over a posterior (the deep extra): the reward wrapper is exact, the grid
features extractor works with SB3, and agents save and load without pickle."""

import json

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("torch")
sb3 = pytest.importorskip("stable_baselines3")

from stable_baselines3.common.env_util import make_vec_env  # noqa: E402

from rewunc.agents.deep import (  # noqa: E402
    DeepAgentError,
    GridCNN,
    PosteriorReward,
    load_agent,
    save_agent,
)
from rewunc.envs import LavaLand  # noqa: E402

ENV = "rewunc/LavaLand-v0"
K = len(LavaLand.feature_names)
# the seen features near their true weights; the unseen ones (lava, gravel) at their N(0, 1) prior
LOC = np.array([-0.05, -0.25, 0.0, 1.0, 0.0])
SCALE = np.array([0.02, 0.05, 1.0, 0.05, 1.0])


def _draws(M=50, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(LOC, SCALE, size=(M, K))


def _rollout(wrapper, steps, seed=0):
    """Seeded random actions; returns the rewards [T, E] and the raw features [T, E, K]."""
    rng = np.random.default_rng(seed)
    wrapper.seed(seed)
    wrapper.reset()
    rewards, feats = [], []
    for _ in range(steps):
        actions = rng.integers(4, size=wrapper.num_envs)
        _, r, _, infos = wrapper.step(actions)
        rewards.append(r)
        feats.append([info["features"] for info in infos])
    return np.array(rewards), np.array(feats)


@pytest.mark.parametrize("scalarisation", ["mean", "draw", "mean_std", "quantile"])
def test_wrapper_rewards_equal_the_scalarised_posterior_reward(scalarisation):
    W = _draws()
    wrapper = PosteriorReward(
        make_vec_env(ENV, n_envs=3, seed=0), W, scalarisation, draw=7, kappa=1.5, q=0.1
    )
    rewards, feats = _rollout(wrapper, 120)
    r = feats @ W.T  # [T, E, M]: every draw's reward, by brute force
    expected = {
        "mean": r.mean(-1),
        "draw": r[..., 7],
        "mean_std": r.mean(-1) - 1.5 * r.std(-1),
        "quantile": np.quantile(r, 0.1, axis=-1),
    }[scalarisation]
    np.testing.assert_allclose(rewards, expected.astype(np.float32), rtol=1e-5, atol=1e-6)


def test_recorded_draw_returns_equal_w_times_discounted_feature_counts():
    W, gamma = _draws(M=20), 0.9
    wrapper = PosteriorReward(make_vec_env(ENV, n_envs=2, seed=1), W, gamma=gamma)
    rng = np.random.default_rng(0)
    wrapper.seed(1)
    wrapper.reset()
    running = [[] for _ in range(2)]
    expected = []
    for _ in range(300):
        _, _, dones, infos = wrapper.step(rng.integers(4, size=2))
        for e in range(2):
            running[e].append(infos[e]["features"])
            if dones[e]:
                phi = np.array(running[e])
                mu = (gamma ** np.arange(len(phi))) @ phi
                np.testing.assert_allclose(infos[e]["episode_features"], mu)
                expected.append(mu)
                running[e] = []
    assert len(expected) >= 4
    np.testing.assert_allclose(wrapper.draw_returns(), np.array(expected) @ W.T)


def test_wrapper_refuses_bad_arguments():
    venv = make_vec_env(ENV, n_envs=1)
    for kwargs, message in (
        (dict(weights=np.zeros(K)), "weights"),
        (dict(weights=_draws(), scalarisation="median"), "scalarisation"),
        (dict(weights=_draws(M=3), scalarisation="draw", draw=3), "draw"),
        (dict(weights=_draws(), q=1.0), "q"),
    ):
        with pytest.raises(DeepAgentError, match=message):
            PosteriorReward(venv, **kwargs)


def test_ppo_with_the_grid_cnn_learns_on_the_wrapper_and_saves_without_pickle(tmp_path):
    venv = PosteriorReward(make_vec_env(ENV, n_envs=2, seed=0), _draws(), "mean")
    kwargs = dict(features_extractor_class=GridCNN, features_extractor_kwargs=dict(features_dim=32))
    hyper = dict(n_steps=64, batch_size=64, n_epochs=1, seed=0)
    model = sb3.PPO("MlpPolicy", venv, policy_kwargs=kwargs, device="cpu", **hyper)
    model.learn(128)
    path = save_agent(model, tmp_path / "agent", hyperparameters=hyper)
    assert sorted(p.name for p in path.iterdir()) == ["agent.json", "policy.safetensors"]
    assert json.loads((path / "agent.json").read_text())["algorithm"] == "PPO"
    assert b"pickle" not in (path / "policy.safetensors").read_bytes()[:4096]
    loaded = load_agent(path, make_vec_env(ENV, n_envs=1))
    obs = make_vec_env(ENV, n_envs=1, seed=5).reset()
    assert (
        loaded.predict(obs, deterministic=True)[0] == model.predict(obs, deterministic=True)[0]
    ).all()
    for a, b in zip(model.policy.parameters(), loaded.policy.parameters(), strict=True):
        assert np.array_equal(a.detach().numpy(), b.detach().numpy())
    with pytest.raises(DeepAgentError, match="not this env's"):
        load_agent(path, make_vec_env("rewunc/CornerGoal-v0", n_envs=1))


def test_dqn_and_sac_take_the_same_wrapper():
    venv = PosteriorReward(make_vec_env(ENV, n_envs=1, seed=0), _draws(), "quantile", q=0.05)
    sb3.DQN("MlpPolicy", venv, learning_starts=16, buffer_size=500, seed=0, device="cpu").learn(64)
    from conftest import Drift

    weights = np.random.default_rng(0).normal(size=(10, 2))
    box = PosteriorReward(make_vec_env(Drift, n_envs=1, seed=0), weights, "mean_std")
    sb3.SAC("MlpPolicy", box, learning_starts=16, buffer_size=500, seed=0, device="cpu").learn(64)


def test_grid_cnn_refuses_flat_observations():
    with pytest.raises(ValueError, match="expected a \\(C, H, W\\) Box"):
        GridCNN(gym.spaces.Box(0, 1, (6,)))


def test_a_risk_averse_ppo_saves_and_loads_with_its_posterior(tmp_path):
    from rewunc.agents.deep import RiskAversePPO

    W = _draws(M=30)
    hyper = dict(n_steps=32, batch_size=32, n_epochs=1, seed=0)
    model = RiskAversePPO(
        "SuccessorFeaturePolicy", make_vec_env(ENV, n_envs=2, seed=0), posterior_weights=W,
        lam=0.5, alpha=0.9, device="cpu", **hyper,
    )  # fmt: skip
    model.learn(64)
    path = save_agent(model, tmp_path / "rppo", hyperparameters=hyper)
    assert sorted(p.name for p in path.iterdir()) == [
        "agent.json",
        "policy.safetensors",
        "posterior.npz",
    ]
    loaded = load_agent(path, make_vec_env(ENV, n_envs=1))
    assert (loaded.lam, loaded.alpha) == (0.5, 0.9)
    np.testing.assert_array_equal(loaded.posterior_weights, W)
    obs = make_vec_env(ENV, n_envs=1, seed=3).reset()
    assert (
        loaded.predict(obs, deterministic=True)[0] == model.predict(obs, deterministic=True)[0]
    ).all()


def test_sb3_reports_the_success_rate_of_rewunc_episodes(tmp_path):
    """EvalCallback's eval/success_rate and PPO's rollout/success_rate read info["is_success"]."""
    from stable_baselines3.common.callbacks import EvalCallback
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    corridor = dict(ascii_map="###\n#AT\n###", max_steps=50)  # a stochastic policy gets there
    in_lava = dict(ascii_map=".L.\nLAL\nTL.", max_steps=2)  # every first move enters lava

    def venv():
        envs = [lambda kw=kw: Monitor(gym.make(ENV, **kw)) for kw in (corridor, in_lava)]
        return DummyVecEnv(envs)

    evaluation = EvalCallback(
        venv(), n_eval_episodes=4, eval_freq=16, log_path=str(tmp_path), deterministic=False
    )
    model = sb3.PPO(
        "MlpPolicy", venv(), n_steps=16, batch_size=32, n_epochs=1, seed=0, device="cpu"
    )
    model.learn(32, callback=evaluation)
    successes = np.load(tmp_path / "evaluations.npz")["successes"]  # [evaluations, episodes]
    assert successes.shape == (1, 4) and successes.sum() == 2
    assert set(model.ep_success_buffer) == {True, False}
