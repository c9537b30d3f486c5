"""Evaluation metrics against hand-built episodes, intervals, rollouts against the exact MDP,
and any policy (callables, an SB3 model as it is) on any env (regret only where tabular)."""

import numpy as np
import pytest

from rewunc.agents import Oracle
from rewunc.agents.tabular import plan_layouts
from rewunc.evaluate import EvalLayouts, aggregate, evaluate
from rewunc.rollout import TabularPolicy
from rewunc.stats import wilson_interval


def _episode(outcome, ret, regret=0.0, agent="a", shift="train"):
    return {
        "env": "e",
        "shift": shift,
        "agent": agent,
        "outcome": outcome,
        "return": ret,
        "regret": regret,
    }


def test_rates_and_means_by_hand():
    eps = [
        _episode("goal", 1.0, 0.0),
        _episode("proxy", 0.5, 0.5),
        _episode("hazard", -2.0, 3.0),
        _episode("timeout", -1.0, 2.0),
        _episode("goal", 1.0, 0.0, agent="b"),
    ]
    rows = aggregate(eps)
    assert [(r["agent"], r["episodes"]) for r in rows] == [("a", 4), ("b", 1)]
    a = rows[0]
    assert a["goal_rate"] == 0.25
    assert a["capability_rate"] == 0.5
    assert a["misgeneralization_rate"] == 0.25
    assert a["hazard_rate"] == 0.25
    assert a["timeout_rate"] == 0.25
    assert a["return"] == pytest.approx(-1.5 / 4)
    assert a["regret"] == pytest.approx(5.5 / 4)
    for m in ("goal_rate", "capability_rate", "return", "regret"):
        assert a[f"{m}_lo"] <= a[m] <= a[f"{m}_hi"]
    assert 0.0 <= a["goal_rate_lo"] and a["capability_rate_hi"] <= 1.0
    # Wilson: never zero-width at 1 (one goal in one episode is weak evidence)
    assert rows[1]["goal_rate_hi"] == 1.0 and rows[1]["goal_rate_lo"] < 0.25
    assert "Wilson" in a["interval"] and a["seeds"] == 1
    assert aggregate(eps) == rows  # seeded: the same intervals every time


def test_several_seeds_give_intervals_over_seeds():
    eps = [
        {**_episode("goal" if (s + i) % 3 else "hazard", float(s), 0.0), "seed": s, "episode": i}
        for s in range(3)
        for i in range(10)
    ]
    (row,) = aggregate(eps)
    assert row["seeds"] == 3 and row["episodes"] == 30 and "over 3 seeds" in row["interval"]
    # the seeds' returns are 0, 1 and 2: a two-level bootstrap's percentile interval stays
    # inside them (Student-t with 2 df gives [-1.48, 3.48])
    assert 0.0 <= row["return_lo"] < 1.0 < row["return_hi"] <= 2.0
    assert "two-level bootstrap" in row["interval"]


def test_unknown_outcome_is_refused():
    with pytest.raises(ValueError, match="outcome"):
        aggregate([_episode("won", 1.0)])


@pytest.mark.parametrize("shift", [None, "lava"])
def test_oracle_rollouts_agree_with_the_mdp(shift):
    """The Oracle's rollout earns exactly its planned value: env and MDP agree, regret is 0."""
    layouts = EvalLayouts.draw("rewunc/LavaLand-v0", shift, 6, seed=1)
    plans = plan_layouts(Oracle(), None, layouts.mdps)
    np.testing.assert_allclose(plans.objectives, layouts.oracle_values)
    policies = [TabularPolicy(p) for p in plans.policies]
    rows = evaluate(policies, layouts, name="Oracle", seed=1)
    assert len(rows) == 6
    for r in rows:
        assert r["regret"] == pytest.approx(0.0, abs=1e-5)
        assert r["outcome"] == "goal" and r["hazard_visits"] == 0
        assert r["steps"] == pytest.approx(r["phi_dirt"] + r["phi_grass"] + r["phi_target"])


def test_layouts_are_paired_and_seeded():
    a = EvalLayouts.draw("rewunc/CornerGoal-v0", "anywhere", 4, seed=3)
    b = EvalLayouts.draw("rewunc/CornerGoal-v0", "anywhere", 4, seed=3)
    c = EvalLayouts.draw("rewunc/CornerGoal-v0", None, 4, seed=3)
    np.testing.assert_array_equal(a.layout_seeds, b.layout_seeds)
    assert not np.array_equal(a.layout_seeds, c.layout_seeds)
    with pytest.raises(ValueError, match="n_episodes"):
        EvalLayouts.draw("rewunc/CornerGoal-v0", None, 0, seed=3)


def test_callable_policies_are_evaluated_too():
    layouts = EvalLayouts.draw("rewunc/ColorGoal-v0", "swap", 3, seed=0)
    rows = evaluate(lambda obs: 1, layouts, name="always-right", seed=0)
    assert [r["agent"] for r in rows] == ["always-right"] * 3
    assert all(r["outcome"] in ("goal", "proxy", "timeout") for r in rows)
    assert all(r["regret"] >= -1e-6 for r in rows)


def test_an_sb3_model_is_evaluated_as_it_is():
    """Today's regression: model.predict returns (action, state), which int() refused."""
    sb3 = pytest.importorskip("stable_baselines3")
    import gymnasium as gym

    model = sb3.PPO("MlpPolicy", gym.make("rewunc/LavaLand-v0"), n_steps=64, seed=0, device="cpu")
    layouts = EvalLayouts.draw("rewunc/LavaLand-v0", "lava", 3, seed=0)
    rows = evaluate(model, layouts, name="PPO", seed=0)
    assert len(rows) == 3 and all(r["outcome"] in ("goal", "hazard", "timeout") for r in rows)
    assert rows == evaluate(model, layouts, name="PPO", seed=0)  # deterministic=True


def test_a_non_tabular_env_has_no_regret_column():
    import gymnasium as gym
    from conftest import Drift

    if "test/Drift-v0" not in gym.registry:
        gym.register("test/Drift-v0", entry_point=Drift)
    layouts = EvalLayouts.draw("test/Drift-v0", "far", 5, seed=0)
    assert layouts.mdps is None and layouts.oracle_values is None
    rows = evaluate(lambda obs: np.array([1.0], np.float32), layouts, name="push", seed=0)
    assert all("regret" not in r and "oracle_value" not in r for r in rows)
    (row,) = aggregate(rows)
    assert "regret" not in row and row["goal_rate"] + row["timeout_rate"] == 1.0


def test_seeds_that_agree_exactly_still_get_an_interval_of_positive_width():
    """Two seeds with 10/12 goals each: a bootstrap over seeds alone would say [0.83, 0.83];
    the interval holds at least the Wilson interval of all 24 episodes."""
    eps = [
        {**_episode("goal" if i < 10 else "hazard", 1.0), "seed": s, "episode": i}
        for s in range(2)
        for i in range(12)
    ]
    (row,) = aggregate(eps)
    assert row["goal_rate"] == pytest.approx(10 / 12)
    w_lo, w_hi = wilson_interval(20, 24)
    assert 0.0 <= row["goal_rate_lo"] <= w_lo < w_hi <= row["goal_rate_hi"] <= 1.0
    assert "at least the Wilson interval" in row["interval"]
