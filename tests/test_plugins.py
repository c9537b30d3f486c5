"""Plugging in an environment: rewunc.checks, ``rewunc check-env`` and the worked examples in
docs/examples (a GridWorld subclass and a non-tabular env)."""

import ast
import dataclasses
import importlib
import inspect
import json
import textwrap
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from rewunc.checks import (
    CheckResult,
    check_determinism,
    check_gymnasium,
    check_mdp,
    check_protocol,
    env_factory,
    run_checks,
)
from rewunc.cli import main
from rewunc.envs import GridWorld, LavaLand, Layout

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"


@pytest.fixture
def examples(monkeypatch):
    """docs/examples on sys.path; returns ``import_module``."""
    monkeypatch.syspath_prepend(str(EXAMPLES))
    return importlib.import_module


class _Corridor(GridWorld):
    """A user's env: a 2 × 6 corridor to a goal; under ``pits`` a pit blocks one lane."""

    TILES = ("wall", "floor", "goal", "pit")
    feature_names = ("goal", "pit", "step")
    TRUE_WEIGHTS = (1.0, -1.0, -0.05)
    TILE_FEATURES = {
        "floor": {"step": 1},
        "goal": {"goal": 1, "step": 1},
        "pit": {"pit": 1, "step": 1},
    }
    TERMINAL_TILES = {"goal"}
    HAZARD_TILES = {"pit"}
    SHIFTS = ("pits",)
    DEFAULT_MAX_STEPS = 20

    def _generate(self, rng):
        tiles = np.full((2, 6), self.TILES.index("floor"), dtype=np.int8)
        row = int(rng.integers(2))
        tiles[row, 5] = self.TILES.index("goal")
        if self.shift == "pits":
            tiles[row, int(rng.integers(2, 5))] = self.TILES.index("pit")
        return Layout(tiles=tiles, start=(int(rng.integers(2)), 0))


class _WrongReward(_Corridor):
    """Broken: the reward is not true_weights·features."""

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        return obs, reward + 0.5, terminated, truncated, info


class _LyingMDP(LavaLand):
    """Broken: to_mdp() swaps the actions up and right."""

    def to_mdp(self, gamma=0.95):
        mdp = super().to_mdp(gamma)
        next_states = mdp.next_states.copy()
        next_states[:, [0, 1]] = next_states[:, [1, 0]]
        return dataclasses.replace(mdp, next_states=next_states)


@pytest.fixture
def register():
    """Register ``rewunc_test/<name>-v0`` ids for one test."""
    ids = []

    def _register(name, entry_point):
        env_id = f"rewunc_test/{name}-v0"
        gym.register(id=env_id, entry_point=entry_point)
        ids.append(env_id)
        return env_id

    yield _register
    for env_id in ids:
        gym.registry.pop(env_id, None)


def _check_env(capsys, *args):
    code = main(["check-env", *args])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


# ---- rewunc check-env -------------------------------------------------------------------------


def test_check_env_on_a_builtin(capsys):
    code, lines, _ = _check_env(capsys, "rewunc/LavaLand-v0")
    assert code == 0
    for check in ("protocol", "gymnasium check_env", "determinism", "mdp"):
        for split in ("train", "lava", "harmless"):
            assert f"{check} [{split}]: ok" in lines
    assert lines[-1] == "rewunc/LavaLand-v0: all 12 checks passed"


def test_check_env_on_the_ice_pond_example_with_kwargs(capsys, examples):
    code, lines, _ = _check_env(
        capsys, "ice_pond:ice_pond/IcePond-v0", "--env-kwargs", json.dumps({"size": 6})
    )
    assert code == 0, lines
    assert "mdp [thin_ice]: ok" in lines


def test_check_env_on_the_point_goal_example(capsys, examples):
    code, lines, _ = _check_env(capsys, "point_goal:point_goal/PointGoal-v0")
    assert code == 0, lines
    assert "protocol [hazard]: ok" in lines
    assert "mdp [train]: skipped (no to_mdp())" in lines


def test_check_env_on_a_user_env(capsys, register):
    env_id = register("Corridor", _Corridor)
    code, lines, _ = _check_env(capsys, env_id, "--env-kwargs", '{"max_steps": 12}')
    assert code == 0, lines
    assert len(lines) == 9 and lines[-1].endswith("all 8 checks passed")


def test_check_env_on_a_broken_env(capsys, register):
    env_id = register("WrongReward", _WrongReward)
    code, lines, _ = _check_env(capsys, env_id)
    assert code == 1
    assert any(
        line.startswith("protocol [train]: FAILED: ") and "is not true_weights·features" in line
        for line in lines
    ), lines
    assert any(line.startswith("mdp [pits]: FAILED: ") and "reward" in line for line in lines)
    assert "determinism [train]: ok" in lines
    assert lines[-1] == f"{env_id}: 4 of 8 checks FAILED"


@pytest.mark.parametrize(
    "args, message",
    [
        (["rewunc/NoSuchEnv-v0"], "unknown environment id 'rewunc/NoSuchEnv-v0'"),
        (["no_such_pkg:Env-v0"], "unknown environment id 'no_such_pkg:Env-v0'"),
        (["rewunc/LavaLand-v0", "--env-kwargs", "{size: 6}"], "--env-kwargs is not valid JSON"),
        (["rewunc/LavaLand-v0", "--env-kwargs", "[6]"], "--env-kwargs must be a JSON object"),
    ],
)
def test_check_env_refuses_unknown_ids_and_bad_kwargs(capsys, args, message):
    code, lines, err = _check_env(capsys, *args)
    assert code == 2 and message in err and not lines


def test_check_env_reports_an_env_that_cannot_be_made(capsys):
    code, lines, _ = _check_env(capsys, "rewunc/LavaLand-v0", "--env-kwargs", '{"size": 1}')
    assert code == 1
    assert lines[0].startswith("make: FAILED: ValueError: size: expected an int >= 4")


# ---- each check can fail ----------------------------------------------------------------------


def _failed(results, name):
    failed = [r for r in results if r.status == "failed"]
    assert failed and all(r.name.startswith(name) for r in failed), [str(r) for r in results]
    return failed


def test_protocol_check_fails_on_a_wrong_reward():
    failed = _failed(check_protocol(_WrongReward), "protocol")
    assert "reward" in failed[0].detail and "true_weights·features" in failed[0].detail


def test_gymnasium_check_turns_warnings_into_failures(examples):
    PointGoal = examples("point_goal").PointGoal

    class IntTruncated(PointGoal):
        def step(self, action):
            obs, reward, terminated, truncated, info = super().step(action)
            return obs, reward, terminated, int(truncated), info  # gymnasium only warns

    make = IntTruncated
    assert all(r.ok for r in check_protocol(make) + check_determinism(make))
    failed = _failed(check_gymnasium(make), "gymnasium check_env")
    assert failed[0].detail.startswith("warning: Expects `truncated` signal to be a boolean")


def test_gymnasium_check_fails_on_observations_outside_the_space(examples):
    PointGoal = examples("point_goal").PointGoal

    class Float64Obs(PointGoal):
        def _observation(self):
            return super()._observation().astype(np.float64)

    _failed(check_gymnasium(Float64Obs), "gymnasium check_env")


def test_determinism_check_fails_on_unseeded_randomness(examples):
    PointGoal = examples("point_goal").PointGoal

    class Unseeded(PointGoal):
        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            self._goal = np.random.default_rng().uniform(0.05, 0.95, 2)  # not self.np_random
            return self._observation(), {"features": np.zeros(3)}

    failed = _failed(check_determinism(Unseeded, [None]), "determinism")
    assert "differ" in failed[0].detail


def test_mdp_check_fails_on_a_lying_mdp():
    failed = _failed(check_mdp(_LyingMDP), "mdp")
    assert "state" in failed[0].detail and "action" in failed[0].detail


def test_mdp_check_without_set_state_follows_episodes():
    class NoSetState(LavaLand):
        set_state = None

    assert all(r.status == "ok" for r in check_mdp(NoSetState, pairs=60))

    class NoSetStateLying(_LyingMDP):
        set_state = None

    _failed(check_mdp(NoSetStateLying, pairs=60), "mdp")


def test_run_checks_on_a_factory_and_on_one_that_fails():
    results = run_checks(_Corridor)
    assert len(results) == 8 and all(r.status == "ok" for r in results)
    assert str(results[0]) == "protocol [train]: ok"

    def cannot_make(**kwargs):
        raise RuntimeError("no display")

    assert run_checks(cannot_make) == [CheckResult("make", "failed", "RuntimeError: no display")]
    assert str(CheckResult("x", "failed", "why")) == "x: FAILED: why"


# ---- the worked examples ----------------------------------------------------------------------


def test_examples_register_once_and_make_through_module_ids(examples):
    for module, env_id in (("ice_pond", "IcePond-v0"), ("point_goal", "PointGoal-v0")):
        env = gym.make(f"{module}:{module}/{env_id}")
        assert env.spec.id == f"{module}/{env_id}"
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # re-registering would warn
            importlib.reload(examples(module))


def test_ice_pond_needs_only_the_required_declarations(examples):
    IcePond = examples("ice_pond").IcePond
    body = ast.parse(textwrap.dedent(inspect.getsource(IcePond))).body[0].body
    assigned = {t.id for node in body if isinstance(node, ast.Assign) for t in node.targets}
    methods = {node.name for node in body if isinstance(node, ast.FunctionDef)}
    assert methods == {"__init__", "_generate"}
    assert assigned == {
        "TILES",
        "feature_names",
        "TRUE_WEIGHTS",
        "TILE_FEATURES",
        "SHIFTS",
        "TERMINAL_TILES",
        "HAZARD_TILES",
    }
    make = env_factory("ice_pond:ice_pond/IcePond-v0")
    ice = IcePond.TILES.index("ice")
    for seed in range(20):
        train, shifted = make(), make(shift="thin_ice")
        train.reset(seed=seed)
        shifted.reset(seed=seed)
        assert not (train.unwrapped.layout.tiles == ice).any()
        assert (shifted.unwrapped.layout.tiles == ice).any()


def _walk_straight(env, seed):
    """Step towards the goal along the larger coordinate gap; return the last info."""
    obs, _ = env.reset(seed=seed)
    while True:
        dx, dy = obs[2] - obs[0], obs[3] - obs[1]
        action = (1 if dx > 0 else 3) if abs(dx) >= abs(dy) else (0 if dy > 0 else 2)
        obs, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            return info


def test_point_goal_hazard_appears_only_under_the_shift(examples):
    examples("point_goal")
    train = gym.make("point_goal/PointGoal-v0")
    shifted = gym.make("point_goal/PointGoal-v0", shift="hazard")
    assert all(_walk_straight(train, s)["outcome"] == "goal" for s in range(20))
    outcomes = [_walk_straight(shifted, s)["outcome"] for s in range(20)]
    assert outcomes.count("hazard") >= 15
    obs, _ = train.reset(seed=0)
    assert obs.dtype == np.float32 and obs.shape == (6,) and tuple(obs[4:]) == (-1.0, -1.0)


@pytest.mark.slow
def test_both_examples_go_through_the_whole_pipeline(examples):
    """collect → preferences → posterior → agents → evaluation, on a non-tabular env (PointGoal:
    Selector agents over two controllers) and on a GridWorld subclass (IcePond: LP planners)."""
    pipeline = examples("pipeline")
    results, posterior = pipeline.point_goal_study(fast=True)
    assert "regret" not in results  # no MDP, no regret column: not a crash
    names = posterior.feature_names
    # the hazard never occurs in training: its weight keeps its N(0, 1) prior
    assert 0.7 < posterior.std()[names.index("hazard")] < 1.3
    assert posterior.mean()[names.index("step")] < 0 < posterior.mean()[names.index("goal")]
    lava = results[results["shift"] == "hazard"].set_index("agent")
    mean, risk_averse = lava.loc["Select[BayesMean]"], lava.loc["Select[CVaR(alpha=0.9)]"]
    assert mean["hazard_rate"] >= 0.5 and risk_averse["hazard_rate"] <= 0.2
    train = results[results["shift"] == "train"]
    assert (train["goal_rate"] == 1.0).all()

    results, posterior = pipeline.ice_pond_study(fast=True)
    assert "regret" in results  # a GridWorld subclass has to_mdp(): exact regret
    oracle = results[results["agent"] == "Oracle"]
    assert (oracle["goal_rate"] == 1.0).all() and (oracle["regret"].abs() < 1e-4).all()
    names = posterior.feature_names
    assert 0.7 < posterior.std()[names.index("ice")] < 1.3
