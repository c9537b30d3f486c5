"""Registry-driven environment tests: every rewunc/ env, on training and on every shift.

The checks themselves live in rewunc.checks (they are what ``rewunc check-env`` runs)."""

import gymnasium as gym
import numpy as np
import pytest

from rewunc.checks import (
    check_determinism,
    check_gymnasium,
    check_mdp,
    check_protocol,
    env_factory,
    rollout_trace,
    traces_differ,
)
from rewunc.protocol import is_tabular
from rewunc.registry import rewunc_env_ids


def _cases(tabular_only=False):
    cases = []
    for env_id in rewunc_env_ids():
        env = gym.spec(env_id).make()
        if tabular_only and not is_tabular(env):
            continue
        cases += [(env_id, shift) for shift in (None, *env.unwrapped.SHIFTS)]
    return cases


def _ids(cases):
    return [f"{e.split('/')[1]}-{s or 'train'}" for e, s in cases]


CASES, TABULAR = _cases(), _cases(tabular_only=True)
IDS = _ids(CASES)


def _assert_ok(results):
    assert results and all(r.status == "ok" for r in results), [str(r) for r in results]


def test_all_builtin_envs_are_registered():
    assert {
        "rewunc/LavaLand-v0",
        "rewunc/CornerGoal-v0",
        "rewunc/ColorGoal-v0",
        "rewunc/KeysChests-v0",
        "rewunc/PointLava-v0",
        "rewunc/PointColor-v0",
        "rewunc/ReacherCorner-v0",
    } <= set(rewunc_env_ids())


@pytest.mark.parametrize("env_id, shift", CASES, ids=IDS)
def test_check_env(env_id, shift):
    """gymnasium's check_env, warnings as failures, every render mode (through the spec)."""
    _assert_ok(check_gymnasium(env_factory(env_id), [shift]))


@pytest.mark.parametrize("env_id, shift", CASES, ids=IDS)
def test_same_seed_same_rollout(env_id, shift):
    make = env_factory(env_id)
    _assert_ok(check_determinism(make, [shift]))
    a, b = rollout_trace(make, shift, seed=5), rollout_trace(make, shift, seed=6)
    assert traces_differ(a, b) is not None


@pytest.mark.parametrize("env_id, shift", CASES, ids=IDS)
def test_protocol(env_id, shift):
    """feature_names, info['features'], reward = w·φ, outcome on (and only on) the last step."""
    _assert_ok(check_protocol(env_factory(env_id), [shift], episodes=15))


@pytest.mark.parametrize("env_id, shift", TABULAR, ids=_ids(TABULAR))
@pytest.mark.parametrize("slip", [0.0, 0.2])
def test_env_agrees_with_its_mdp(env_id, shift, slip):
    """Stepping the env from state s with action a lands where to_mdp() says, with its reward."""
    stay = slip == 0.0  # exercise the stay action too
    make = env_factory(env_id, slip=slip, stay_action=stay, max_steps=10_000)
    if slip == 0.0:
        _assert_ok(check_mdp(make, [shift], layouts=8, pairs=40))
    else:
        _assert_ok(check_mdp(make, [shift], layouts=3, pairs=10, samples=300))


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
