"""The step contract every rewunc/ env keeps (rewunc/protocol.py), on training and every shift:
seeded rollouts, no step past an episode's end, observations in their space, float rewards,
``is_success`` on the last step and the same reset info keys everywhere."""

import re

import gymnasium as gym
import numpy as np
import pytest

from rewunc.envs.mujoco_lite import PointLava
from rewunc.protocol import EpisodeEndedError, ProtocolError, check_protocol, is_tabular
from rewunc.registry import rewunc_env_ids

MAX_STEPS = 6  # short episodes: every env then ends several within a rollout


def _cases():
    return [
        (env_id, shift)
        for env_id in rewunc_env_ids()
        for shift in (None, *gym.spec(env_id).make().unwrapped.SHIFTS)
    ]


def _ids(cases):
    return [f"{e.split('/')[1]}-{s or 'train'}" for e, s in cases]


CASES = _cases()
IDS = _ids(CASES)


def _make(env_id, shift):
    return gym.make(env_id, shift=shift, max_steps=MAX_STEPS)


def _rollout(env_id, shift, seed, n_steps=20):
    """Observations and rewards of ``n_steps`` seeded random actions, resetting after each end."""
    env = _make(env_id, shift)
    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    observations, rewards = [obs], []
    for _ in range(n_steps):
        obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        observations.append(obs)
        rewards.append(reward)
        if terminated or truncated:
            obs, _ = env.reset()
            observations.append(obs)
    return np.concatenate([np.ravel(o) for o in observations]), np.array(rewards)


@pytest.mark.parametrize("env_id, shift", CASES, ids=IDS)
def test_same_seed_same_rollout_other_seed_other_layout(env_id, shift):
    obs, rewards = _rollout(env_id, shift, seed=3)
    obs_again, rewards_again = _rollout(env_id, shift, seed=3)
    assert obs.tobytes() == obs_again.tobytes() and rewards.tobytes() == rewards_again.tobytes()
    env = _make(env_id, shift)
    first, _ = env.reset(seed=1)
    other, _ = env.reset(seed=2)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("env_id, shift", CASES, ids=IDS)
def test_steps_have_the_declared_types_and_the_last_one_says_success(env_id, shift):
    env = _make(env_id, shift)
    env.action_space.seed(0)
    space = env.observation_space
    for episode in range(3):
        obs, _ = env.reset(seed=episode)
        assert obs.dtype == space.dtype and space.contains(obs)
        done = False
        while not done:
            obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
            assert obs.dtype == space.dtype and space.contains(obs)
            # gymnasium's checker takes float or np.floating (and ints, which rewunc never pays)
            assert isinstance(reward, float | np.floating) and np.isfinite(reward)
            assert isinstance(terminated, bool) and isinstance(truncated, bool)
            done = terminated or truncated
            if done:
                assert info["is_success"] is (info["outcome"] == "goal")
            else:
                assert "is_success" not in info


@pytest.mark.parametrize("env_id, shift", CASES, ids=IDS)
def test_stepping_with_no_episode_running_raises(env_id, shift):
    env = _make(env_id, shift)
    action = env.action_space.sample()
    # gym.make's OrderEnforcing refuses a step before reset first; the env itself refuses too
    with pytest.raises(EpisodeEndedError, match=re.escape(f"{env_id}: no episode has started")):
        env.unwrapped.step(action)
    env.reset(seed=0)
    ended = None
    while ended is None:
        _, _, terminated, truncated, _ = env.step(action)
        ended = "terminated" if terminated else "truncated" if truncated else None
    message = f"{env_id}: the episode has ended ({ended}); call reset() before step()"
    for _ in range(2):
        with pytest.raises(EpisodeEndedError, match=re.escape(message)):
            env.step(action)
    env.reset(seed=0)
    env.step(action)


TABULAR = [(e, s) for e, s in CASES if is_tabular(gym.make(e))]


@pytest.mark.parametrize("env_id, shift", TABULAR, ids=_ids(TABULAR))
def test_a_terminated_gridworld_episode_refuses_a_further_step(env_id, shift):
    env = gym.make(env_id, shift=shift)
    base = env.unwrapped
    env.reset(seed=0)
    mdp = base.to_mdp()
    live, action = np.argwhere(mdp.terminal[mdp.next_states[:, :, 0]] & ~mdp.terminal[:, None])[0]
    base.set_state(int(live))
    *_, terminated, _, info = env.step(int(action))
    assert terminated and info["is_success"] is (info["outcome"] == "goal")
    with pytest.raises(EpisodeEndedError, match=r"ended \(terminated\)"):
        env.step(int(action))


def test_a_terminated_mujoco_lite_episode_refuses_a_further_step():
    env = gym.make("rewunc/PointLava-v0")
    env.reset(seed=0)
    env.unwrapped.set_state(env.unwrapped.task.target)
    *_, terminated, _, info = env.step(np.zeros(2, dtype=np.float32))
    assert terminated and info["outcome"] == "goal" and info["is_success"] is True
    with pytest.raises(EpisodeEndedError, match=r"PointLava-v0: the episode has ended \(term"):
        env.step(np.zeros(2, dtype=np.float32))
    with pytest.raises(RuntimeError):  # callers that catch RuntimeError still do
        PointLava().step(np.zeros(2, dtype=np.float32))


def test_reset_info_has_the_same_keys_for_every_env():
    keys = {}
    for env_id, shift in CASES:
        env = _make(env_id, shift)
        base = env.unwrapped
        _, info = env.reset(seed=0)
        keys[env_id, shift] = sorted(info)
        np.testing.assert_array_equal(info["features"], np.zeros(len(base.feature_names)))
        if is_tabular(env):
            assert info["state"] == base.state_index()
        else:
            np.testing.assert_array_equal(
                info["state"], np.concatenate((base.data.qpos, base.data.qvel))
            )
    assert {tuple(k) for k in keys.values()} == {("features", "state")}, keys


class _SuccessOnTimeout(gym.Wrapper):
    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        if terminated or truncated:
            info["is_success"] = info["outcome"] == "timeout"
        return obs, reward, terminated, truncated, info


def test_the_protocol_check_refuses_an_is_success_that_is_not_the_goal():
    env = _SuccessOnTimeout(gym.make("rewunc/LavaLand-v0", max_steps=3))
    with pytest.raises(ProtocolError, match="info\\['is_success'\\] must be outcome == 'goal'"):
        check_protocol(env)
