"""Evaluation metrics against hand-built episodes, and rollouts against the exact MDP."""

import numpy as np
import pytest

from rewunc.agents import Oracle
from rewunc.evaluate import (
    EvalLayouts,
    aggregate,
    bootstrap_interval,
    evaluate_agent,
    evaluate_policy,
)


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
    assert rows[1]["goal_rate_lo"] == rows[1]["goal_rate_hi"] == 1.0
    assert aggregate(eps) == rows  # seeded: the same intervals every time


def test_bootstrap_interval_covers_a_known_mean():
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(200):
        x = rng.normal(3.0, 1.0, size=60)
        lo, hi = bootstrap_interval(x, rng, n_boot=500)
        hits += lo <= 3.0 <= hi
    assert 0.88 <= hits / 200 <= 0.99  # nominal 95%, percentile bootstrap at n=60
    assert bootstrap_interval(np.full(5, 2.0), rng) == (2.0, 2.0)


def test_unknown_outcome_is_refused():
    with pytest.raises(ValueError, match="outcome"):
        aggregate([_episode("won", 1.0)])


@pytest.mark.parametrize("shift", [None, "lava"])
def test_oracle_rollouts_agree_with_the_mdp(shift):
    """The Oracle's rollout earns exactly its planned value: env and MDP agree, regret is 0."""
    layouts = EvalLayouts.draw("rewunc/LavaLand-v0", shift, 6, seed=1)
    rows = evaluate_agent(layouts, Oracle(), None, name="Oracle", seed=1)
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
    rows = evaluate_policy(layouts, lambda obs: 1, name="always-right", seed=0)
    assert [r["agent"] for r in rows] == ["always-right"] * 3
    assert all(r["outcome"] in ("goal", "proxy", "timeout") for r in rows)
    assert all(r["regret"] >= -1e-6 for r in rows)
