import json

import numpy as np
import pytest

from rewunc.demos import (
    BoltzmannExpert,
    DemonstrationError,
    Demonstrations,
    NoisyExpert,
    OptimalExpert,
    Trajectory,
    collect,
)
from rewunc.mdp import TabularMDP
from rewunc.posterior import PosteriorError, RewardPosterior


@pytest.fixture(scope="module")
def demos():
    return collect("rewunc/CornerGoal-v0", OptimalExpert(), 5, seed=3)


def test_collect_is_seeded_and_optimal(demos):
    again = collect("rewunc/CornerGoal-v0", OptimalExpert(), 5, seed=3)
    assert [t.layout_seed for t in demos.trajectories] == [
        t.layout_seed for t in again.trajectories
    ]
    assert all(t.outcome == "goal" for t in demos.trajectories)
    counts = demos.state_action_counts()
    assert counts.shape == (5, demos.mdps[0].n_states, 4)
    assert counts.sum() == sum(len(t.actions) for t in demos.trajectories)


def test_experts_policies_are_distributions(demos):
    mdp = demos.mdps[0]
    for expert in (OptimalExpert(), BoltzmannExpert(5.0), NoisyExpert(0.2)):
        pi = expert.policy(mdp)
        np.testing.assert_allclose(pi.sum(-1), 1.0, atol=1e-6)
    assert NoisyExpert(0.2).policy(mdp).min() >= 0.05 - 1e-9


def test_save_load_round_trip(demos, tmp_path):
    path = demos.save(tmp_path / "demos.npz")
    loaded = Demonstrations.load(path)
    assert loaded.feature_names == demos.feature_names and len(loaded) == len(demos)
    for a, b in zip(loaded.trajectories, demos.trajectories, strict=True):
        np.testing.assert_array_equal(a.states, b.states)
        np.testing.assert_array_equal(a.features, b.features)
        assert a.outcome == b.outcome and a.layout_seed == b.layout_seed
    np.testing.assert_array_equal(loaded.state_action_counts(), demos.state_action_counts())
    assert [m.n_states for m in loaded.mdps] == [m.n_states for m in demos.mdps]
    with pytest.raises(FileExistsError):
        demos.save(path)


def test_tampered_file_is_refused(demos, tmp_path):
    path = demos.save(tmp_path / "demos.npz")
    data = dict(np.load(path))
    data["lengths"] = data["lengths"] + 1
    np.savez(tmp_path / "bad.npz", **data)
    with pytest.raises(DemonstrationError, match="lengths do not add up"):
        Demonstrations.load(tmp_path / "bad.npz")
    data = dict(np.load(path))
    data["states"] = data["states"] + 10_000
    np.savez(tmp_path / "bad2.npz", **data)
    with pytest.raises(DemonstrationError, match="states out of range"):
        Demonstrations.load(tmp_path / "bad2.npz")
    np.savez(tmp_path / "evil.npz", format=np.array([{"x": 1}], dtype=object))
    with pytest.raises(DemonstrationError, match="not a rewunc demonstrations file"):
        Demonstrations.load(tmp_path / "evil.npz")


def _traj(T=3, K=3, **kw):
    base = dict(
        states=np.zeros(T + 1, int),
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
        (dict(states=np.zeros(2, int)), "states: expected shape"),
        (dict(features=np.full((3, 3), np.nan)), "contain NaN"),
        (dict(features=np.zeros((3, 2))), "features: expected shape"),
        (dict(actions=np.array([0, 0, -1])), "actions must be >= 0"),
    ],
)
def test_bad_trajectories(kwargs, message):
    with pytest.raises(DemonstrationError, match=message):
        Demonstrations((_traj(**kwargs),), ("a", "b", "c"))


def test_empty_demonstrations():
    with pytest.raises(DemonstrationError, match="at least one trajectory"):
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
        "posterior_p=0.1.npz",
        "posterior_p=0.5.json",
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
