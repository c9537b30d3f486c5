"""Trajectories, demonstrations, preferences and posteriors: collection for any space, .npz
round trips, and corrupt files refused with an error naming the file."""

import json

import gymnasium as gym
import numpy as np
import pytest
from conftest import Drift

from rewunc.data import DataError, Demonstrations, Preferences, Trajectory
from rewunc.experts import (
    BoltzmannExpert,
    NoisyExpert,
    OptimalExpert,
    PreferenceTeacher,
    label_preferences,
)
from rewunc.io import CorruptFileError
from rewunc.mdp import TabularMDP
from rewunc.posterior import PosteriorError, RewardPosterior
from rewunc.rollout import collect


@pytest.fixture(scope="module")
def demos():
    return collect("rewunc/CornerGoal-v0", OptimalExpert(), 5, seed=3)


def test_collect_is_seeded_and_optimal(demos):
    again = collect("rewunc/CornerGoal-v0", OptimalExpert(), 5, seed=3)
    assert [t.layout_seed for t in demos.trajectories] == [
        t.layout_seed for t in again.trajectories
    ]
    for a, b in zip(demos.trajectories, again.trajectories, strict=True):
        np.testing.assert_array_equal(a.observations, b.observations)
    assert all(t.outcome == "goal" for t in demos.trajectories)
    counts = demos.state_action_counts()
    assert counts.shape == (5, demos.mdps[0].n_states, 4)
    assert counts.sum() == sum(len(t.actions) for t in demos.trajectories)


def test_trajectories_hold_observations_and_states_lie_beside_them(demos):
    env = gym.make("rewunc/CornerGoal-v0")
    t, states = demos.trajectories[0], demos.tabular.states[0]
    assert t.observations.shape == (len(t) + 1, *env.observation_space.shape)
    assert t.observations.dtype == env.observation_space.dtype
    assert states.shape == (len(t) + 1,) and not hasattr(t, "states")
    # the state ids are the MDP's: the agent's cell in the observation is the state's cell
    env.reset(seed=t.layout_seed)
    base = env.unwrapped
    for obs, s in zip(t.observations, states, strict=True):
        r, c = np.argwhere(obs[0])[0]
        assert base.cell_of_state(int(s)) == (r, c)


def test_experts_policies_are_distributions(demos):
    mdp = demos.mdps[0]
    for expert in (OptimalExpert(), BoltzmannExpert(5.0), NoisyExpert(0.2)):
        pi = expert.policy(mdp)
        np.testing.assert_allclose(pi.sum(-1), 1.0, atol=1e-6)
    assert NoisyExpert(0.2).policy(mdp).min() >= 0.05 - 1e-9
    with pytest.raises(DataError, match="beta"):
        BoltzmannExpert(-5.0)


def test_save_load_round_trip(demos, tmp_path):
    path = demos.save(tmp_path / "demos.npz")
    loaded = Demonstrations.load(path)
    assert loaded.feature_names == demos.feature_names and len(loaded) == len(demos)
    for a, b in zip(loaded.trajectories, demos.trajectories, strict=True):
        np.testing.assert_array_equal(a.observations, b.observations)
        np.testing.assert_array_equal(a.features, b.features)
        assert a.outcome == b.outcome and a.layout_seed == b.layout_seed
        assert a.terminated is b.terminated and isinstance(a.terminated, bool)
        assert a.truncated is (not a.terminated)
    for a, b in zip(loaded.tabular.states, demos.tabular.states, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.state_action_counts(), demos.state_action_counts())
    assert [m.n_states for m in loaded.mdps] == [m.n_states for m in demos.mdps]
    np.testing.assert_array_equal(loaded.mdps[0].true_weights, demos.mdps[0].true_weights)
    with pytest.raises(FileExistsError):
        demos.save(path)


def test_non_tabular_env_box_spaces_collect_and_round_trip(tmp_path):
    def policy(obs):
        return np.array([np.clip(obs[1] - obs[0], -1, 1)], np.float32)

    demos = collect(Drift(), policy, 4, seed=0)
    assert demos.tabular is None and demos.mdps is None
    t = demos.trajectories[0]
    assert t.observations.shape == (len(t) + 1, 2) and t.actions.shape == (len(t), 1)
    assert t.actions.dtype == np.float32
    np.testing.assert_allclose(t.rewards, t.features @ Drift.true_weights)
    loaded = Demonstrations.load(demos.save(tmp_path / "d.npz"))
    assert loaded.tabular is None
    np.testing.assert_array_equal(loaded.trajectories[2].actions, demos.trajectories[2].actions)
    with pytest.raises(DataError, match="state_action_counts needs tabular"):
        demos.state_action_counts()
    with pytest.raises(DataError, match="plans on each layout's MDP"):
        collect(Drift(), OptimalExpert(), 2, seed=0)


def test_an_sb3_style_policy_is_collected_as_it_is():
    class Predictor:  # stable-baselines3's predict: (action array, state)
        def predict(self, obs, state=None, episode_start=None, deterministic=False):
            return np.array(1), None

    demos = collect("rewunc/LavaLand-v0", Predictor(), 2, seed=0)
    assert all((t.actions == 1).all() for t in demos.trajectories)


def test_preferences_from_a_teacher_and_round_trip(tmp_path):
    demos = collect(Drift(), lambda obs: np.array([0.6], np.float32), 6, seed=1)
    prefs = label_preferences(
        demos.trajectories, PreferenceTeacher(), 20, seed=0, feature_names=demos.feature_names
    )
    returns_better = prefs.better @ Drift.true_weights
    returns_worse = prefs.worse @ Drift.true_weights
    assert (returns_better > returns_worse).all()  # a perfectly rational teacher
    loaded = Preferences.load(prefs.save(tmp_path / "p.npz"))
    np.testing.assert_array_equal(loaded.better, prefs.better)
    assert loaded.feature_names == ("goal", "step")
    with pytest.raises(DataError, match="at least 2"):
        label_preferences(demos.trajectories[:1], PreferenceTeacher(), 3, 0, ("goal", "step"))


def _corrupt(path, how):
    data = path.read_bytes()
    if how == "empty":
        path.write_bytes(b"")
    elif how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    else:  # one bit flipped in the middle of the compressed data
        i = len(data) // 3
        path.write_bytes(data[:i] + bytes([data[i] ^ 0x10]) + data[i + 1 :])


@pytest.mark.parametrize("how", ["empty", "truncated", "bitflip"])
def test_corrupt_files_raise_our_error_naming_the_file(demos, tmp_path, how):
    paths = [demos.save(tmp_path / "demos.npz")]
    post = _posterior()
    paths.append(post.save(tmp_path / "post")[0])
    prefs = Preferences(np.ones((2, 2)), np.zeros((2, 2)), ("a", "b"))
    paths.append(prefs.save(tmp_path / "prefs.npz"))
    loaders = [Demonstrations.load, lambda p: RewardPosterior.load(p), Preferences.load]
    for path, load in zip(paths, loaders, strict=True):
        _corrupt(path, how)
        with pytest.raises((CorruptFileError, PosteriorError)) as info:
            load(path)
        assert path.name in str(info.value)


def test_tampered_file_is_refused(demos, tmp_path):
    path = demos.save(tmp_path / "demos.npz")
    data = dict(np.load(path))
    data["lengths"] = data["lengths"] + 1
    np.savez(tmp_path / "bad.npz", **data)
    with pytest.raises(DataError, match="lengths do not add up"):
        Demonstrations.load(tmp_path / "bad.npz")
    data = dict(np.load(path))
    data["states"] = data["states"] + 10_000
    np.savez(tmp_path / "bad2.npz", **data)
    with pytest.raises(DataError, match="bad2.npz.*states out of range"):
        Demonstrations.load(tmp_path / "bad2.npz")
    np.savez(tmp_path / "evil.npz", format=np.array([{"x": 1}], dtype=object))
    with pytest.raises(CorruptFileError, match="evil.npz"):
        Demonstrations.load(tmp_path / "evil.npz")


def _traj(T=3, K=3, **kw):
    base = dict(
        observations=np.zeros((T + 1, 2)),
        actions=np.zeros(T, int),
        features=np.zeros((T, K)),
        rewards=np.zeros(T),
        outcome="goal",
        layout_seed=0,
    )
    return Trajectory(**(base | kw))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(observations=np.zeros((2, 2))), "observations: expected shape"),
        (dict(features=np.full((3, 3), np.nan)), "contain NaN"),
        (dict(features=np.zeros((3, 2))), "features: expected shape"),
        (dict(rewards=np.zeros(2)), "rewards: expected shape"),
    ],
)
def test_bad_trajectories(kwargs, message):
    with pytest.raises(DataError, match=message):
        Demonstrations((_traj(**kwargs),), ("a", "b", "c"))


def test_empty_demonstrations():
    with pytest.raises(DataError, match="at least one trajectory"):
        Demonstrations((), ("a",))


def _posterior():
    rng = np.random.default_rng(0)
    return RewardPosterior(
        rng.normal(size=(100, 2)),
        ("a", "b"),
        np.repeat([0, 1], 50),
        diagnostics={"rhat": np.ones(2), "ess_bulk": np.full(2, 500.0), "divergences": 0},
        config={"seed": 0},
    )


def test_posterior_save_load_and_summary(tmp_path):
    post = _posterior()
    post.save(tmp_path / "post")
    loaded = RewardPosterior.load(tmp_path / "post")
    np.testing.assert_array_equal(loaded.weights, post.weights)
    assert loaded.feature_names == ("a", "b") and loaded.config == {"seed": 0}
    assert "r_hat" in loaded.summary()
    ci = post.credible_interval(0.9)
    assert ci.shape == (2, 2) and np.all(ci[:, 0] < ci[:, 1])
    meta = json.loads((tmp_path / "post.json").read_text())
    meta["n_samples"] = 7
    (tmp_path / "post.json").write_text(json.dumps(meta))
    with pytest.raises(PosteriorError, match=".npz holds 100 draws, .json says 7"):
        RewardPosterior.load(tmp_path / "post")


def test_posterior_names_with_dots_keep_their_own_files(tmp_path):
    """Regression: with_suffix turned "posterior_p=0.1" and "posterior_p=0.5" into one file."""
    a = _posterior()
    b = RewardPosterior(a.weights + 1, a.feature_names, a.chain, log_density=-np.arange(100.0))
    a.save(tmp_path / "posterior_p=0.1")
    b.save(tmp_path / "posterior_p=0.5")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "posterior_p=0.1.json",
        "posterior_p=0.1.nc",
        "posterior_p=0.1.npz",
        "posterior_p=0.5.json",
        "posterior_p=0.5.nc",
        "posterior_p=0.5.npz",
    ]
    np.testing.assert_array_equal(
        RewardPosterior.load(tmp_path / "posterior_p=0.1").weights, a.weights
    )
    loaded = RewardPosterior.load(tmp_path / "posterior_p=0.5.npz")  # either spelling
    np.testing.assert_array_equal(loaded.weights, b.weights)
    np.testing.assert_array_equal(loaded.log_density, b.log_density)
    assert loaded.map_weights().tolist() == b.weights[0].tolist()


def test_posterior_refuses_mismatched_features():
    post = _posterior()
    mdp = TabularMDP(
        np.zeros((1, 1, 1), int),
        np.ones((1, 1, 1)),
        np.ones((1, 2)),
        ("a", "c"),
        np.ones(1),
        np.zeros(1, bool),
        0.9,
    )
    with pytest.raises(PosteriorError, match="feature names differ"):
        post.rewards(mdp)
    with pytest.raises(PosteriorError, match="weights: contain NaN"):
        RewardPosterior(np.full((2, 2), np.nan), ("a", "b"), np.zeros(2))
