"""RiskAversePPO: PG-BROIL weights, exact per-draw advantages, determinism, true reward."""

import gymnasium as gym
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("stable_baselines3")

import torch as th  # noqa: E402
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env

import rewunc  # noqa: F401  (registers rewunc/LavaLand-v0)
from rewunc.agents.deep import (  # noqa: E402
    FeatureRolloutBuffer,
    GridCNN,
    RiskAversePPO,
    SuccessorFeaturePolicy,
    broil_weights,
    critic_basis,
)
from rewunc.envs import LavaLand
from rewunc.risk import broil, cvar

th.set_num_threads(1)  # tiny nets: threads only contend on a 2-core machine

ENV_ID = "rewunc/LavaLand-v0"
TRUE_W = np.asarray(LavaLand.TRUE_WEIGHTS, dtype=float)
K = len(TRUE_W)  # the env's feature count, read from the env rather than written out


def lavaland(n_envs=4, seed=0, **env_kwargs):
    return make_vec_env(ENV_ID, n_envs=n_envs, seed=seed, env_kwargs=env_kwargs)


# ---- 1. PG-BROIL weights ---------------------------------------------------------------------


@pytest.mark.parametrize("M", [1, 2, 7, 20, 100])
@pytest.mark.parametrize("lam", [0.0, 0.3, 0.5, 1.0])
@pytest.mark.parametrize("alpha", [0.05, 0.5, 0.9, 0.95, 0.99, 1.0])
@pytest.mark.parametrize("weighted", [False, True])
def test_broil_weights_match_rewunc_broil(M, lam, alpha, weighted):
    rng = np.random.default_rng(M * 1000 + int(lam * 10) * 100 + int(alpha * 100))
    x = rng.normal(size=M)
    p = rng.dirichlet(np.ones(M)) if weighted else None
    c, var = broil_weights(x, lam, alpha, p, return_var=True)
    assert np.all(c >= 0)
    assert np.isclose(c.sum(), 1.0, atol=1e-12)
    assert np.isclose(c @ x, broil(x, lam, alpha, p), atol=1e-10)
    # the tail part alone is CVaR, and VaR is the (1-alpha)-quantile under p
    q = broil_weights(x, 0.0, alpha, p)
    assert np.isclose(q @ x, cvar(x, alpha, p), atol=1e-10)
    pp = np.full(M, 1 / M) if p is None else p
    if alpha == 1.0:
        assert var == x.min()
    else:
        assert pp[x < var].sum() <= 1 - alpha + 1e-12 <= pp[x <= var].sum() + 2e-12
    if lam == 1.0:
        np.testing.assert_allclose(c, pp, atol=1e-15)


def test_broil_weights_equal_pg_broil_indicator_without_straddle():
    """When the tail holds whole draws, c is PG-BROIL's c_m = p_m(λ + (1−λ)/(1−α)·1[X_m ≤ VaR])."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=20)
    lam, alpha = 0.5, 0.9  # tail = 0.1 = two whole draws
    c, var = broil_weights(x, lam, alpha, return_var=True)
    assert var == np.sort(x)[1]
    by_hand = (1 / 20) * (lam + (1 - lam) / (1 - alpha) * (x <= var))
    np.testing.assert_allclose(c, by_hand, atol=1e-12)


def test_broil_weights_straddle_and_ties():
    # uniform M=4, alpha=0.7: tail 0.3 = the worst draw (0.25) + 0.05 of the second
    x = np.array([3.0, 1.0, 2.0, 4.0])
    c = broil_weights(x, 0.0, 0.7)
    np.testing.assert_allclose(c, [0, 0.25 / 0.3, 0.05 / 0.3, 0], atol=1e-12)
    # ties at the VaR share the straddling mass in proportion to p (order-independent)
    x = np.array([0.0, 1.0, 1.0, 5.0])
    c = broil_weights(x, 0.0, 0.5)  # tail 0.5: draw 0 (0.25) + 0.25 shared by the tie
    np.testing.assert_allclose(c, [0.5, 0.25, 0.25, 0.0], atol=1e-12)
    # maximin with tied minima: the worst mass split in proportion to p
    c = broil_weights(np.array([2.0, -1.0, -1.0]), 0.0, 1.0, p=[0.2, 0.2, 0.6])
    np.testing.assert_allclose(c, [0.0, 0.25, 0.75], atol=1e-12)
    c = broil_weights(np.array([2.0, -1.0, 0.5]), 0.25, 1.0)
    np.testing.assert_allclose(c, [0.25 / 3, 0.25 / 3 + 0.75, 0.25 / 3], atol=1e-12)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"lam": 1.5}, "lam"),
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": 1.2}, "alpha"),
        ({"p": [0.5, 0.6]}, "probs"),
    ],
)
def test_broil_weights_refuses_bad_parameters(kwargs, field):
    args = {"lam": 0.5, "alpha": 0.9, **kwargs}
    with pytest.raises(ValueError, match=field):
        broil_weights(np.zeros(2), **args)


# ---- 2. exactness of the K-dim critic's advantages ---------------------------------------------


class Recorder(BaseCallback):
    """Copies what the rollout saw: φ, rewards, terminal observations; the buffer at the end."""

    def __init__(self):
        super().__init__()
        self.steps = []

    def _on_step(self):
        infos, dones = self.locals["infos"], self.locals["dones"]
        self.steps.append(
            {
                "phi": np.stack([info["features"] for info in infos]),
                "reward": np.array(self.locals["rewards"], dtype=np.float64),
                "dones": dones.copy(),
                "truncated": np.array(
                    [
                        bool(d) and info.get("TimeLimit.truncated", False)
                        for d, info in zip(dones, infos, strict=True)
                    ]
                ),
                "terminal_obs": {
                    i: info["terminal_observation"] for i, info in enumerate(infos) if dones[i]
                },
            }
        )
        return True

    def _on_rollout_end(self):
        b = self.model.rollout_buffer
        self.buffer = {
            k: np.array(getattr(b, k))
            for k in (
                "observations",
                "episode_starts",
                "values",
                "returns",
                "features",
                "timeout_values",
                "truncated",
                "feature_advantages",
                "advantages",
                "rewards",
            )
        }
        self.last_values = self.locals["values"].numpy().copy()
        self.last_dones = self.locals["dones"].copy()
        self.risk = dict(self.model.last_risk)
        self.logged = dict(self.model.logger.name_to_value)


def scalar_gae(rewards, values, episode_starts, last_values, last_dones, gamma, lam):
    """Plain numpy GAE for one scalar reward, SB3's convention, [T, n] arrays."""
    T, n = rewards.shape
    adv = np.zeros((T, n))
    for e in range(n):
        gae = 0.0
        for t in reversed(range(T)):
            if t == T - 1:
                nonterm, v_next = 1.0 - last_dones[e], last_values[e]
            else:
                nonterm, v_next = 1.0 - episode_starts[t + 1, e], values[t + 1, e]
            delta = rewards[t, e] + gamma * v_next * nonterm - values[t, e]
            gae = delta + gamma * lam * nonterm * gae
            adv[t, e] = gae
    return adv


ROLLOUT_CASES = {
    "posterior-basis, 5 draws": ("posterior", np.random.default_rng(1).normal(size=(5, K))),
    "features-basis, 5 draws": ("features", np.random.default_rng(1).normal(size=(5, K))),
    "posterior-basis, 1 draw (rank 1)": ("posterior", TRUE_W[None]),
}


@pytest.fixture(scope="module", params=list(ROLLOUT_CASES))
def rollout(request):
    """One rollout (8 envs × 120 steps) of an untrained RiskAversePPO on 6×6 LavaLand."""
    basis, W = ROLLOUT_CASES[request.param]
    env = lavaland(n_envs=8, seed=3, size=6)  # small: random walks reach the target
    model = RiskAversePPO(
        "SuccessorFeaturePolicy",
        env,
        posterior_weights=W,
        lam=0.5,
        alpha=0.8,
        critic_basis=basis,
        n_steps=120,
        batch_size=240,
        n_epochs=1,
        gamma=0.9,
        gae_lambda=0.8,
        seed=0,
    )
    rec = Recorder()
    policy_before = {k: v.clone() for k, v in model.policy.state_dict().items()}
    model.learn(total_timesteps=120 * 8, callback=rec)
    return model, rec, policy_before, W


def test_rollout_has_both_episode_ends(rollout):
    model, rec, _, _ = rollout
    truncated = np.stack([s["truncated"] for s in rec.steps])
    dones = np.stack([s["dones"] for s in rec.steps])
    assert truncated.sum() >= 2, "need episodes that end by truncation"
    assert (dones & ~truncated).sum() >= 2, "need episodes that end by termination"
    np.testing.assert_array_equal(rec.buffer["truncated"], truncated)


def test_buffer_features_and_timeout_bootstrap(rollout):
    model, rec, policy_before, _ = rollout
    np.testing.assert_array_equal(
        rec.buffer["features"], np.stack([s["phi"] for s in rec.steps]).astype(np.float32)
    )
    # y(terminal_observation) where truncated, with the rollout's (pre-update) critic
    policy = SuccessorFeaturePolicy(
        model.observation_space, model.action_space, lambda _: 3e-4, n_features=K
    )
    policy.load_state_dict(policy_before)
    n_checked = 0
    for t, s in enumerate(rec.steps):
        for e in range(len(s["dones"])):
            if s["truncated"][e]:
                obs = policy.obs_to_tensor(s["terminal_obs"][e])[0]
                with th.no_grad():
                    y = policy.predict_values(obs)[0].numpy()
                np.testing.assert_allclose(rec.buffer["timeout_values"][t, e], y, atol=1e-6)
                n_checked += 1
            else:
                assert not rec.buffer["timeout_values"][t, e].any()
    assert n_checked > 0
    # the stored values are y(obs) of that critic
    obs = rec.buffer["observations"].reshape(-1, *model.observation_space.shape)
    with th.no_grad():
        y = policy.predict_values(th.as_tensor(obs)).numpy()
    np.testing.assert_allclose(rec.buffer["values"].reshape(-1, K), y, atol=1e-5)


def _draws_to_check(model, W):
    """Random w in the span of the critic basis (all of R^K when it has full rank)."""
    B = model.rollout_buffer.critic_basis
    rng = np.random.default_rng(7)
    if np.linalg.matrix_rank(B) == B.shape[0]:
        return [*rng.normal(size=(4, K)), TRUE_W, *W]
    return [*W, *(rng.normal(size=(3, 1)) * W[0])]


def test_per_draw_advantages_are_exact(rollout):
    """w·A_ψ = the scalar GAE of reward w·φ and values w·ψ, computed independently."""
    model, rec, _, W = rollout
    b = rec.buffer
    truncated = np.stack([s["truncated"] for s in rec.steps])
    phi = np.stack([s["phi"] for s in rec.steps]).astype(np.float64)
    Bpinv = model.rollout_buffer.critic_basis_pinv
    for w in _draws_to_check(model, W):
        a = Bpinv @ w  # the critic predicts y = ψ·B, so w·ψ = a·y
        v = b["values"].astype(np.float64) @ a
        v_last = rec.last_values.astype(np.float64) @ a
        # SB3's convention: on truncation the reward gets γ·V(terminal_observation)
        r = phi @ w + model.gamma * (b["timeout_values"].astype(np.float64) @ a) * truncated
        expected = scalar_gae(
            r, v, b["episode_starts"], v_last, rec.last_dones, model.gamma, model.gae_lambda
        )
        got = b["feature_advantages"].astype(np.float64) @ w
        np.testing.assert_allclose(got, expected, atol=2e-5, rtol=1e-5)
        # ... and SB3's own scalar RolloutBuffer agrees, returns included
        sb3 = RolloutBuffer(
            len(r),
            model.observation_space,
            model.action_space,
            gamma=model.gamma,
            gae_lambda=model.gae_lambda,
            n_envs=r.shape[1],
        )
        sb3.rewards[:], sb3.values[:], sb3.episode_starts[:] = r, v, b["episode_starts"]
        sb3.compute_returns_and_advantage(th.as_tensor(v_last), rec.last_dones)
        np.testing.assert_allclose(got, sb3.advantages, atol=2e-5, rtol=1e-5)
        np.testing.assert_allclose(
            b["returns"].astype(np.float64) @ a, sb3.returns, atol=5e-5, rtol=1e-5
        )


def test_posterior_basis_value_loss_is_the_mean_per_draw_value_loss():
    rng = np.random.default_rng(3)
    for M in (1, 3, 10):
        W, p = rng.normal(size=(M, K)), rng.dirichlet(np.ones(M))
        B = critic_basis(W, p)
        err = rng.normal(size=(50, K))  # ψ − R for 50 samples
        mse = np.mean((err @ B) ** 2)  # SB3's F.mse_loss over the K outputs
        assert np.isclose(mse, np.mean((err @ W.T) ** 2 @ p))
    B = critic_basis(TRUE_W[None])  # one draw: y = √K (w·ψ)·w/|w|
    np.testing.assert_allclose(B, np.sqrt(K) * np.outer(TRUE_W, TRUE_W) / np.linalg.norm(TRUE_W))
    np.testing.assert_allclose(critic_basis(W, kind="features", gamma=0.9), 0.1 * np.eye(K))


def test_scalar_advantage_is_risk_weighted(rollout):
    model, rec, _, W = rollout
    risk = rec.risk
    np.testing.assert_allclose(risk["w_c"], risk["c"] @ W)
    np.testing.assert_allclose(
        rec.buffer["advantages"], rec.buffer["feature_advantages"] @ risk["w_c"], atol=1e-5
    )
    np.testing.assert_allclose(risk["x"], W @ risk["mu"])
    assert np.isclose(risk["objective"], broil(risk["x"], 0.5, 0.8))
    assert np.isclose(risk["cvar_X"], cvar(risk["x"], 0.8))
    assert risk["n_episodes"] > 0
    for key in ("mean_X", "cvar_X", "var_X", "n_episodes", "objective", "explained_variance"):
        key = "risk/" + key
        assert key in rec.logged
    assert rec.logged["risk/n_episodes"] == risk["n_episodes"]


def test_mu_hat_is_mean_discounted_feature_count_of_finished_episodes(rollout):
    model, rec, _, _ = rollout
    n = len(rec.steps[0]["dones"])
    acc, disc, done_counts = np.zeros((n, K)), np.ones(n), []
    for s in rec.steps:  # the first rollout starts with fresh episodes
        acc += disc[:, None] * s["phi"]
        disc *= model.gamma
        for e in np.flatnonzero(s["dones"]):
            done_counts.append(acc[e].copy())
            acc[e], disc[e] = 0.0, 1.0
    np.testing.assert_allclose(rec.risk["mu"], np.mean(done_counts, axis=0), atol=1e-9)
    assert rec.risk["n_episodes"] == len(done_counts)


def test_fallback_when_no_episode_finishes():
    model = RiskAversePPO(
        "MlpPolicy",
        lavaland(2),
        posterior_weights=TRUE_W[None],
        n_steps=8,
        batch_size=16,
        n_epochs=1,
        seed=0,
    )
    rec = Recorder()
    model.learn(16, callback=rec)
    assert rec.risk["n_episodes"] == 0
    starts = rec.buffer["episode_starts"].astype(bool)
    np.testing.assert_allclose(
        rec.risk["mu"],
        model.rollout_buffer.to_features(rec.buffer["returns"][starts]).mean(axis=0),
        atol=1e-5,
    )


# ---- 3. learn() on LavaLand, determinism ---------------------------------------------------------


def _train(seed, **kw):
    W = np.random.default_rng(0).normal(size=(10, K))
    model = RiskAversePPO(
        "SuccessorFeaturePolicy",
        lavaland(4, seed=seed),
        posterior_weights=W,
        lam=0.5,
        alpha=0.9,
        n_steps=128,
        batch_size=128,
        n_epochs=4,
        seed=seed,
        **kw,
    )
    model.learn(total_timesteps=2048)
    return model


def test_learn_is_deterministic_with_a_seed():
    a, b = _train(5), _train(5)
    assert a.num_timesteps >= 2048
    sa, sb = a.policy.state_dict(), b.policy.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert th.equal(sa[k], sb[k]), k
    assert a.policy.value_net.out_features == K
    c = _train(6)
    assert not all(th.equal(sa[k], c.policy.state_dict()[k]) for k in sa)


def test_grid_cnn_and_clipped_value_loss_run():
    model = RiskAversePPO(
        SuccessorFeaturePolicy,
        gym.make(ENV_ID),
        posterior_weights=np.stack([TRUE_W, TRUE_W * 0.5]),
        lam=0.0,
        alpha=1.0,
        n_steps=64,
        batch_size=32,
        n_epochs=1,
        seed=0,
        clip_range_vf=0.2,
        policy_kwargs={
            "features_extractor_class": GridCNN,
            "features_extractor_kwargs": {"features_dim": 32},
        },
    )
    assert isinstance(model.policy.features_extractor, GridCNN)
    model.learn(128)
    assert np.isclose(model.last_risk["c"].sum(), 1.0)


# ---- 4. one draw at the true weights = the env's true reward -------------------------------------


@pytest.mark.parametrize("lam, alpha", [(1.0, 0.95), (0.0, 0.9), (0.3, 1.0)])
def test_single_true_draw_optimises_the_true_reward(lam, alpha):
    model = RiskAversePPO(
        "MlpPolicy",
        lavaland(4),
        posterior_weights=TRUE_W[None],
        lam=lam,
        alpha=alpha,
        n_steps=64,
        batch_size=128,
        n_epochs=1,
        seed=0,
    )
    rec = Recorder()
    model.learn(256, callback=rec)
    np.testing.assert_array_equal(rec.risk["c"], [1.0])
    np.testing.assert_allclose(rec.risk["w_c"], TRUE_W, rtol=0, atol=0)
    # the scalar reward w_c·φ is the env's own (true) reward, step by step
    phi = np.stack([s["phi"] for s in rec.steps])
    reward = np.stack([s["reward"] for s in rec.steps])
    np.testing.assert_allclose(phi @ rec.risk["w_c"], reward, atol=1e-12)


# ---- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"lam": -0.1}, "lam"),
        ({"lam": True}, "lam"),
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": 1.01}, "alpha"),
        ({"posterior_weights": np.zeros((3, K + 1))}, "posterior_weights"),
        ({"posterior_weights": np.zeros(K)}, "posterior_weights"),
        ({"posterior_weights": np.full((2, K), np.nan)}, "posterior_weights"),
        ({"probs": [0.5, 0.4]}, "probs"),
        ({"feature_names": ("dirt", "grass", "water", "target")}, "feature_names"),
        ({"policy": "CnnPolicy"}, "policy"),
        ({"policy_kwargs": {"n_features": 3}}, "policy_kwargs"),
        ({"critic_basis": "psi"}, "critic_basis"),
        ({"critic_basis": np.eye(3)}, "critic_basis"),
        ({"posterior_weights": np.zeros((2, K))}, "posterior_weights"),
    ],
)
def test_bad_arguments_are_refused_by_name(kwargs, field):
    args = {"policy": "MlpPolicy", "posterior_weights": np.ones((2, K)), **kwargs}
    policy = args.pop("policy")
    with pytest.raises(ValueError, match=field):
        RiskAversePPO(policy, lavaland(1), n_steps=8, batch_size=8, **args)


def test_policy_class_must_have_a_feature_head():
    from stable_baselines3.common.policies import ActorCriticPolicy

    with pytest.raises(TypeError, match="policy"):
        RiskAversePPO(ActorCriticPolicy, lavaland(1), posterior_weights=np.zeros((2, K)))


def test_buffer_refuses_training_before_weights():
    buf = FeatureRolloutBuffer(2, gym.spaces.Box(0, 1, (3,)), gym.spaces.Discrete(2), n_features=3)
    buf.full = True
    with pytest.raises(RuntimeError, match="set_advantage_weights"):
        next(buf.get(1))
