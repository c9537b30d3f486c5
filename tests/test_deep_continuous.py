"""Deep agents on the MuJoCo-lite envs: PPO, RiskAversePPO and SAC over a posterior, saved
without pickle, trained twice to the same parameters; refusals before training."""

import numpy as np
import pytest

pytest.importorskip("torch")

import gymnasium as gym  # noqa: E402
import torch as th  # noqa: E402

import rewunc  # noqa: E402, F401
from rewunc.agents.deep import load_agent, save_agent  # noqa: E402
from rewunc.agents.deep.reward import DeepAgentError  # noqa: E402
from rewunc.agents.deep.train import DeepSettings, train_agent  # noqa: E402
from rewunc.envs.mujoco_lite import PointLava  # noqa: E402
from rewunc.posterior import RewardPosterior  # noqa: E402

ENV = "rewunc/PointLava-v0"


def _posterior(names=PointLava.feature_names, n=40):
    rng = np.random.default_rng(0)
    W = np.asarray(PointLava.TRUE_WEIGHTS) + 0.2 * rng.standard_normal((n, len(names)))
    return RewardPosterior(weights=W, feature_names=tuple(names), chain=np.zeros(n, int))


def _parameters(model):
    return th.cat([p.detach().flatten() for p in model.policy.parameters()]).numpy()


@pytest.mark.parametrize(
    "spec, settings",
    [
        ("CVaR(alpha=0.9)", DeepSettings(steps=256, n_envs=2, n_steps=64, batch_size=64)),
        (
            "BayesMean",
            DeepSettings(steps=300, n_envs=1, algorithm="sac", learning_starts=100, batch_size=32),
        ),
    ],
    ids=["RiskAversePPO", "SAC"],
)
def test_trains_twice_to_the_same_parameters_and_saves_without_pickle(spec, settings, tmp_path):
    posterior = _posterior()
    a = train_agent(spec, ENV, {"shift": "lava"}, posterior, 3, settings)
    b = train_agent(spec, ENV, {"shift": "lava"}, posterior, 3, settings)
    np.testing.assert_array_equal(_parameters(a), _parameters(b))
    save_agent(a, tmp_path / "agent", hyperparameters=settings.hyperparameters())
    assert not list(tmp_path.rglob("*.pkl")) and not list(tmp_path.rglob("*.zip"))
    back = load_agent(tmp_path / "agent", gym.make(ENV))
    obs = np.random.default_rng(0).uniform(-1, 1, (5, PointLava.OBS_DIM)).astype(np.float32)
    np.testing.assert_array_equal(
        a.predict(obs, deterministic=True)[0], back.predict(obs, deterministic=True)[0]
    )


def test_sac_refuses_risk_criteria_and_discrete_actions():
    with pytest.raises(DeepAgentError, match="need RiskAversePPO"):
        train_agent("CVaR(alpha=0.9)", ENV, {}, _posterior(), 0, DeepSettings(algorithm="sac"))
    with pytest.raises(DeepAgentError, match="SAC needs a Box action space"):
        train_agent("TrueReward", "rewunc/LavaLand-v0", {}, None, 0, DeepSettings(algorithm="sac"))
    with pytest.raises(DeepAgentError, match="algorithm: expected one of"):
        DeepSettings(algorithm="ddpg")


def test_a_posterior_over_other_features_is_refused():
    with pytest.raises(DeepAgentError, match="differ from the env's"):
        train_agent("BayesMean", ENV, {}, _posterior(("a", "b", "c", "d", "e")), 0, DeepSettings())
