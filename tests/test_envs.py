"""Registry-driven environment tests: every rewunc/ env, on training and on every shift."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from rewunc.registry import rewunc_env_ids
from rewunc.protocol import OUTCOMES


def _cases():
    cases = []
    for env_id in rewunc_env_ids():
        shifts = gym.spec(env_id).make().unwrapped.SHIFTS
        cases += [(env_id, shift) for shift in (None, *shifts)]
    return cases


CASES = _cases()
IDS = [f"{e.split('/')[1]}-{s or 'train'}" for e, s in CASES]


def test_all_builtin_envs_are_registered():
    assert {
        "rewunc/LavaLand-v0",
        "rewunc/CornerGoal-v0",
        "rewunc/ColorGoal-v0",
        "rewunc/KeysChests-v0",
    } <= set(rewunc_env_ids())


@pytest.mark.parametrize("env_id, shift", CASES, ids=IDS)
def test_check_env(env_id, shift):
    for mode in (None, "rgb_array", "ansi"):
        env = gym.make(env_id, shift=shift, render_mode=mode)
        check_env(env.unwrapped, skip_render_check=mode is None)


def _rollout(env_id, shift, seed, n_steps=120):
    env = gym.make(env_id, shift=shift)
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    trace = [obs.tobytes()]
    for _ in range(n_steps):
        obs, r, term, trunc, info = env.step(env.action_space.sample())
        trace.append(
            (obs.tobytes(), r, term, trunc, info["features"].tobytes(), info.get("outcome"))
        )
        if term or trunc:
            obs, _ = env.reset()
            trace.append(obs.tobytes())
    return trace


@pytest.mark.parametrize("env_id, shift", CASES, ids=IDS)
def test_same_seed_same_rollout(env_id, shift):
    assert _rollout(env_id, shift, 5) == _rollout(env_id, shift, 5)
    assert _rollout(env_id, shift, 5) != _rollout(env_id, shift, 6)


@pytest.mark.parametrize("env_id, shift", CASES, ids=IDS)
def test_protocol(env_id, shift):
    """feature_names, info['features'], reward = w·φ, outcome on (and only on) the last step."""
    env = gym.make(env_id, shift=shift)
    base = env.unwrapped
    K = len(base.feature_names)
    rng = np.random.default_rng(0)
    outcomes = set()
    for episode in range(15):
        env.reset(seed=episode)
        while True:
            _, reward, term, trunc, info = env.step(int(rng.integers(env.action_space.n)))
            assert info["features"].shape == (K,)
            assert reward == pytest.approx(info["features"] @ base.true_weights)
            if term or trunc:
                assert info["outcome"] in OUTCOMES
                outcomes.add(info["outcome"])
                break
            assert "outcome" not in info
    assert outcomes


@pytest.mark.parametrize("env_id, shift", CASES, ids=IDS)
@pytest.mark.parametrize("slip", [0.0, 0.2])
def test_env_agrees_with_its_mdp(env_id, shift, slip):
    """Stepping the env from state s with action a lands where to_mdp() says, with its reward."""
    rng = np.random.default_rng(1)
    stay = slip == 0.0  # exercise the stay action too
    for layout_seed in range(8 if slip == 0.0 else 3):
        env = gym.make(env_id, shift=shift, slip=slip, stay_action=stay, max_steps=10_000)
        base = env.unwrapped
        _, info = env.reset(seed=layout_seed)
        mdp = base.to_mdp()
        assert mdp.initial[info["state"]] == 1.0
        live = np.flatnonzero(~mdp.terminal)
        reward = mdp.state_rewards(base.true_weights)
        n_pairs = 40 if slip == 0.0 else 10
        for s in rng.choice(live, size=min(n_pairs, len(live)), replace=False):
            a = int(rng.integers(mdp.n_actions))
            if slip == 0.0:
                base.set_state(int(s))
                _, r, term, trunc, info = env.step(a)
                s2 = base.state_index()
                assert s2 == mdp.next_states[s, a, 0] and mdp.probs[s, a, 0] == 1.0
                assert r == pytest.approx(reward[s2])
                assert term == mdp.terminal[s2] and not trunc
                np.testing.assert_array_equal(info["features"], mdp.features[s2])
            else:
                n = 300
                counts = np.zeros(mdp.n_states)
                for _ in range(n):
                    base.set_state(int(s))
                    _, r, term, _, _ = env.step(a)
                    s2 = base.state_index()
                    counts[s2] += 1
                    assert r == pytest.approx(reward[s2]) and term == mdp.terminal[s2]
                expected = np.zeros(mdp.n_states)
                np.add.at(expected, mdp.next_states[s, a], mdp.probs[s, a])
                assert np.all(counts[expected == 0] == 0)
                sd = np.sqrt(n * expected * (1 - expected))
                assert np.all(np.abs(counts - n * expected) <= 5 * sd + 1)


@pytest.mark.parametrize("env_id, shift", CASES, ids=IDS)
def test_fixed_layout_option(env_id, shift):
    env = gym.make(env_id, shift=shift, layout_seed=3)
    a, _ = env.reset(seed=1)
    b, _ = env.reset(seed=2)
    np.testing.assert_array_equal(a, b)
    env2 = gym.make(env_id, shift=shift)
    c, _ = env2.reset(seed=1)
    d, _ = env2.reset(seed=2)
    assert not np.array_equal(c, d)


def test_unknown_shift_is_refused():
    for env_id in rewunc_env_ids():
        with pytest.raises(ValueError, match="unknown shift 'nope'"):
            gym.make(env_id, shift="nope")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(slip=1.0), "slip: expected a probability"),
        (dict(render_mode="rgb"), "render_mode: expected one of"),
        (dict(max_steps=0), "max_steps: expected a positive int"),
        (dict(layout_seed=1, ascii_map="A"), "layout_seed and ascii_map are exclusive"),
    ],
)
def test_bad_common_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gym.make("rewunc/LavaLand-v0", **kwargs)


def test_rgb_render_is_a_picture():
    env = gym.make("rewunc/LavaLand-v0", shift="lava", render_mode="rgb_array")
    env.reset(seed=0)
    img = env.render()
    assert img.dtype == np.uint8 and img.shape == (8 * 24, 8 * 24, 3)
    assert len(np.unique(img.reshape(-1, 3), axis=0)) >= 5  # terrain, lava, target, agent, lines
