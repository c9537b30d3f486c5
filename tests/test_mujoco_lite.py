"""MuJoCo-lite envs: features on hand-placed states, shifts as documented, physics determinism.

The registry-driven tests (tests/test_envs.py) already run gymnasium's checker, the protocol check
and same-seed rollouts on every split of these envs; here are the per-env claims of their
docstrings."""

import math

import gymnasium as gym
import numpy as np
import pytest

import rewunc  # noqa: F401  (registers the envs)
from rewunc.envs.mujoco_lite import PointColor, PointLava, ReacherCorner
from rewunc.envs.mujoco_lite.point_lava import GROUND, LAVA, MUD, TARGET, TARGET_RADIUS
from rewunc.envs.mujoco_lite.reacher_corner import (
    REACH,
    REGION_CENTRE,
    REGION_RADIUS,
    fingertip,
)

STILL = np.zeros(2, dtype=np.float32)


def _step_from(env, qpos):
    """Place the system at ``qpos`` at rest and take one zero-force step."""
    env.set_state(qpos)
    return env.step(STILL)


def _inside(disc, shrink=0.5):
    x, y, r = disc
    return np.array([x + shrink * r, y])


# ---- PointLava ---------------------------------------------------------------------------------


def test_point_lava_features_on_hand_placed_states():
    env = PointLava(shift="lava")
    env.reset(seed=4)
    task = env.task
    names = env.feature_names
    cases = [(_inside(task.mud[0]), MUD), (_inside(task.lava[0]), LAVA), (task.target, TARGET)]
    for where, _ in cases:
        env.reset(seed=4)
        # the highest-priority disc containing the point decides its terrain
        before = math.dist(env.data.qpos, task.target)
        _, reward, terminated, _, info = _step_from(env, where)
        phi = info["features"]
        expected = np.eye(4)[env.terrain_at(where)]
        np.testing.assert_array_equal(phi[:4], expected)
        assert phi[names.index("progress")] == pytest.approx(before - math.dist(where, task.target))
        assert reward == pytest.approx(env.true_weights @ phi)
        assert terminated == (env.terrain_at(where) == TARGET)
    # a point far from every disc is on ground
    env.reset(seed=4)
    far = np.array([0.98, 0.98]) * -np.sign(task.target)
    assert env.terrain_at(far) == GROUND or any(
        math.dist(far, d[:2]) < d[2] for d in (*task.mud, *task.lava)
    )


def test_point_lava_mud_slows_and_costs():
    env = PointLava(layout_seed=11)
    env.reset(seed=0)
    disc = env.task.mud[np.argmax(env.task.mud[:, 2])]
    speeds = {}
    for name, start in (("mud", disc[:2]), ("ground", None)):
        env.reset(seed=0)
        if start is None:  # a ground point: try until one is found
            rng = np.random.default_rng(0)
            start = next(p for p in rng.uniform(-0.9, 0.9, (1000, 2)) if env.terrain_at(p) == 0)
        env.set_state(start)
        env._set_damping(env.terrain_at(start))
        for _ in range(8):  # time constants: 10 steps on ground, 2 in mud
            env.step(np.array([1.0, 0.0], dtype=np.float32))
        speeds[name] = abs(env.data.qvel[0])
    assert speeds["mud"] < 0.5 * speeds["ground"]


def test_point_lava_lava_only_under_the_shift_and_on_the_straight_path():
    train, shifted = PointLava(), PointLava(shift="lava")
    for seed in range(40):
        obs, _ = train.reset(seed=seed)
        assert (train.task.lava == 0).all() and (obs[15:] == 0).all()
        shifted.reset(seed=seed)
        t = shifted.task
        x, y, r = t.lava[0]
        assert r > 0
        # the first lava disc meets the segment start → target
        d = t.target - t.start
        f = np.clip(np.dot([x, y] - t.start, d) / np.dot(d, d), 0, 1)
        assert math.dist(t.start + f * d, (x, y)) < r
        # neither end lies in any disc
        for disc in (*t.mud, *t.lava):
            if disc[2] > 0:
                assert math.dist(disc[:2], t.start) > disc[2]
                assert math.dist(disc[:2], t.target) > disc[2] + TARGET_RADIUS * 0


def test_point_lava_lava_is_a_hazard_not_an_end():
    env = PointLava(shift="lava", max_steps=3)
    env.reset(seed=2)
    _, _, terminated, truncated, info = _step_from(env, env.task.lava[0][:2])
    assert info["features"][LAVA] == 1 and not terminated and not truncated
    env.step(STILL)
    *_, truncated, info = env.step(STILL)
    assert truncated and info["outcome"] == "hazard"


# ---- PointColor --------------------------------------------------------------------------------


def test_point_color_features_and_outcomes_on_hand_placed_states():
    for shift, sphere_colour, box_outcome in ((None, "red", "timeout"), ("swap", "blue", "proxy")):
        box_colour = "blue" if sphere_colour == "red" else "red"
        env = PointColor(shift=shift)
        names = env.feature_names
        env.reset(seed=1)
        t = env.task
        nowhere = next(
            p
            for p in np.random.default_rng(0).uniform(-0.9, 0.9, (1000, 2))
            if min(math.dist(p, t.sphere), math.dist(p, t.box)) > 0.3
        )
        for where, touched, outcome in (
            (t.sphere, "sphere", "goal"),
            (t.box, "box", box_outcome),
            (nowhere, None, None),
        ):
            env.reset(seed=1)
            closer = {  # decrease of the distance to each object
                "sphere": math.dist(t.start, t.sphere) - math.dist(where, t.sphere),
                "box": math.dist(t.start, t.box) - math.dist(where, t.box),
            }
            _, reward, terminated, _, info = _step_from(env, where)
            phi = dict(zip(names, info["features"], strict=True))
            expected = dict.fromkeys(names, 0.0)
            expected["step"] = 1.0
            for shape, colour in (("sphere", sphere_colour), ("box", box_colour)):
                expected[f"to_{shape}"] += closer[shape]
                expected[f"to_{colour}"] += closer[shape]
                if touched == shape:
                    expected[shape] = expected[colour] = 1.0
            assert phi == pytest.approx(expected)
            assert reward == pytest.approx(env.true_weights @ info["features"])
            assert terminated == (touched is not None)
            if touched:
                assert info["outcome"] == outcome


def test_point_color_shift_and_p_as_documented():
    def red_spheres(env, n=200):
        reds = []
        for seed in range(n):
            obs, _ = env.reset(seed=seed)
            slots = obs[4:].reshape(2, 4)
            sphere = slots[slots[:, 2] == 1][0]
            assert sphere[3] == float(env.task.sphere_red)  # the observation tells the colour
            reds.append(env.task.sphere_red)
        return np.mean(reds)

    assert red_spheres(PointColor()) == 1.0
    assert red_spheres(PointColor(shift="swap")) == 0.0
    assert 0.4 < red_spheres(PointColor(p=0.5)) < 0.6


# ---- ReacherCorner -----------------------------------------------------------------------------


def _joint_angles_reaching(point):
    """Inverse kinematics of the two-link arm (elbow-up solution)."""
    x, y = point
    l0, l1 = 0.1, 0.11
    c = (x * x + y * y - l0 * l0 - l1 * l1) / (2 * l0 * l1)
    elbow = math.acos(np.clip(c, -1, 1))
    shoulder = math.atan2(y, x) - math.atan2(l1 * math.sin(elbow), l0 + l1 * math.cos(elbow))
    return np.array([shoulder, elbow])


def test_reacher_corner_features_on_hand_placed_states():
    env = ReacherCorner(shift="anywhere", max_steps=5)
    for seed in range(10):
        env.reset(seed=seed)
        q = _joint_angles_reaching(env.task.target)
        np.testing.assert_allclose(fingertip(q), env.task.target, atol=1e-9)
        _, reward, terminated, _, info = _step_from(env, q)
        in_region = math.dist(env.task.target, REGION_CENTRE) < REGION_RADIUS
        assert terminated and info["outcome"] == "goal"
        np.testing.assert_array_equal(info["features"], [1, int(in_region), 1])
        assert reward == pytest.approx(env.true_weights @ info["features"])
    # in the region, away from the target: region only, and the proxy when the episode ends there
    env = ReacherCorner(shift="anywhere", max_steps=1)
    seed = next(s for s in range(100) if math.dist(_target(s), REGION_CENTRE) > 0.1)
    env.reset(seed=seed)
    _, _, terminated, truncated, info = _step_from(env, _joint_angles_reaching(REGION_CENTRE))
    assert not terminated and truncated and info["outcome"] == "proxy"
    np.testing.assert_array_equal(info["features"], [0, 1, 1])


def _target(seed):
    env = ReacherCorner(shift="anywhere")
    env.reset(seed=seed)
    return env.task.target


def test_reacher_corner_targets_as_documented():
    def targets(env, n=300):
        out = []
        for seed in range(n):
            env.reset(seed=seed)
            out.append(env.task.target)
        return np.array(out)

    inside = lambda t: np.hypot(*(t - REGION_CENTRE).T) < REGION_RADIUS  # noqa: E731
    assert inside(targets(ReacherCorner())).all()
    anywhere = targets(ReacherCorner(shift="anywhere"))
    radius = np.hypot(*anywhere.T)
    assert (radius >= REACH[0]).all() and (radius <= REACH[1]).all()
    assert inside(anywhere).mean() < 0.15
    assert 0.55 < inside(targets(ReacherCorner(p=0.4))).mean() < 0.75  # 0.6 + 0.4·area ratio


# ---- all three ---------------------------------------------------------------------------------

IDS = ("rewunc/PointLava-v0", "rewunc/PointColor-v0", "rewunc/ReacherCorner-v0")


@pytest.mark.parametrize("env_id", IDS)
def test_same_seed_same_physics_bit_for_bit(env_id):
    def trace(seed):
        env = gym.make(env_id)
        env.action_space.seed(seed)
        obs, _ = env.reset(seed=seed)
        out = [obs]
        for _ in range(60):
            obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
            out += [obs, np.float64(reward), info["features"]]
            if terminated or truncated:
                obs, _ = env.reset()
                out.append(obs)
        return np.concatenate([np.ravel(x) for x in out])

    a, b = trace(3), trace(3)
    assert a.tobytes() == b.tobytes()
    assert trace(4).tobytes() != a.tobytes()


@pytest.mark.parametrize("env_id", IDS)
def test_rgb_array_renders_headless(env_id):
    env = gym.make(env_id, render_mode="rgb_array", width=96, height=80)
    env.reset(seed=0)
    img = env.render()
    env.close()
    assert img.dtype == np.uint8 and img.shape == (80, 96, 3)
    assert len(np.unique(img.reshape(-1, 3), axis=0)) >= 4


@pytest.mark.parametrize(
    "env_id, kwargs, message",
    [
        ("rewunc/PointColor-v0", dict(p=1.5), "p: expected a probability in"),
        ("rewunc/ReacherCorner-v0", dict(p=-0.1), "p: expected a probability in"),
        ("rewunc/PointLava-v0", dict(shift="mud"), "unknown shift 'mud'"),
        ("rewunc/PointLava-v0", dict(render_mode="rgb"), "render_mode: expected one of"),
        ("rewunc/PointLava-v0", dict(max_steps=0), "max_steps: expected a positive int"),
        ("rewunc/PointLava-v0", dict(width=3), "width: expected an int in"),
    ],
)
def test_bad_options_are_refused(env_id, kwargs, message):
    with pytest.raises(ValueError, match=message):
        gym.make(env_id, **kwargs)


def test_fixed_layout_gives_the_same_task_every_reset():
    env = PointLava(shift="lava", layout_seed=7)
    a, _ = env.reset(seed=1)
    b, _ = env.reset(seed=2)
    np.testing.assert_array_equal(a, b)


def test_tabular_studies_refuse_a_continuous_env(tmp_path):
    from rewunc.experiments import lavaland

    with pytest.raises(SystemExit):
        lavaland.main(["--env", "rewunc/PointLava-v0", "--out", str(tmp_path / "runs")])
    assert not (tmp_path / "runs").exists()
