"""rewunc demonstrations through the imitation library and back (run where imitation is
installed: ``pip install --no-deps imitation==1.0.1``)."""

import gymnasium as gym
import numpy as np
import pytest

imitation = pytest.importorskip("imitation")
th = pytest.importorskip("torch")

import rewunc  # noqa: E402,F401
from rewunc.data import DataError, Demonstrations  # noqa: E402
from rewunc.evaluate import EvalLayouts, evaluate  # noqa: E402
from rewunc.experts import BoltzmannExpert  # noqa: E402
from rewunc.imitation_data import from_imitation, to_imitation  # noqa: E402
from rewunc.rollout import collect  # noqa: E402

ENV = "rewunc/LavaLand-v0"


def test_round_trip_keeps_every_array_and_how_each_episode_ended():
    demos = collect(ENV, BoltzmannExpert(beta=50.0), 12, seed=0, max_steps=8)
    ended = {t.terminated for t in demos.trajectories}
    assert ended == {True, False}  # some reach the target, some time out
    trajs = to_imitation(demos)
    assert [t.terminal for t in trajs] == [t.terminated for t in demos.trajectories]
    back = from_imitation(trajs, demos.feature_names, ENV)
    for a, b in zip(demos.trajectories, back.trajectories, strict=True):
        for field in ("observations", "actions", "features"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
        np.testing.assert_allclose(a.rewards, b.rewards, rtol=1e-6)  # imitation keeps float32
        assert (a.outcome, a.layout_seed, a.terminated) == (b.outcome, b.layout_seed, b.terminated)


def test_unknown_ends_and_missing_features_are_refused():
    demos = collect(ENV, BoltzmannExpert(beta=50.0), 2, seed=0)
    unknown = Demonstrations(
        tuple(
            type(t)(t.observations, t.actions, t.features, t.rewards, t.outcome, t.layout_seed)
            for t in demos.trajectories
        ),
        demos.feature_names,
    )
    with pytest.raises(DataError, match="terminated or was truncated"):
        to_imitation(unknown)
    from imitation.data.types import TrajectoryWithRew

    bare = [TrajectoryWithRew(t.obs, t.acts, None, t.terminal, t.rews) for t in to_imitation(demos)]
    with pytest.raises(DataError, match="no 'features'"):
        from_imitation(bare, demos.feature_names)


@pytest.mark.parametrize("layout", [30, 31])
def test_imitations_bc_learns_from_rewunc_demonstrations(layout):
    """imitation's BC on rewunc demonstrations of one fixed layout (starts vary), with rewunc's
    egocentric GridCNN as its policy, scored by rewunc's evaluation against the Oracle."""
    from imitation.algorithms import bc
    from imitation.data import rollout
    from stable_baselines3.common.policies import ActorCriticPolicy

    from rewunc.agents.deep import GridCNN

    th.set_num_threads(1)
    th.manual_seed(0)
    demos = collect(ENV, BoltzmannExpert(beta=50.0), 20, seed=0, layout_seed=layout)
    env = gym.make(ENV, layout_seed=layout)
    policy = ActorCriticPolicy(
        env.observation_space,
        env.action_space,
        lambda _: 1e-3,
        features_extractor_class=GridCNN,
        features_extractor_kwargs={"egocentric": True},
    )
    trainer = bc.BC(
        observation_space=env.observation_space,
        action_space=env.action_space,
        demonstrations=rollout.flatten_trajectories(to_imitation(demos)),
        rng=np.random.default_rng(0),
        policy=policy,
        device="cpu",
    )
    trainer.train(n_epochs=20, progress_bar=False, log_interval=10**9)
    layouts = EvalLayouts.draw(ENV, "train", 20, 123, 0.95, layout_seed=layout)  # other starts
    rows = evaluate(trainer.policy, layouts, name="BC", seed=0)
    assert np.mean([r["outcome"] == "goal" for r in rows]) >= 0.9
    assert np.mean([r["regret"] for r in rows]) < 0.1
