"""Paired comparisons (rewunc.comparisons): differences by hand, McNemar, refusals."""

import numpy as np
import pandas as pd
import pytest

from rewunc.comparisons import paired_comparisons, reference_agent


def _episodes(agent, outcomes, returns, seeds, layout_offset=0):
    return pd.DataFrame(
        {
            "study": "s",
            "shift": "lava",
            "agent": agent,
            "seed": seeds,
            "episode": [i % 4 for i in range(len(seeds))],
            "layout_seed": [100 * s + i % 4 + layout_offset for i, s in enumerate(seeds)],
            "outcome": outcomes,
            "return": returns,
        }
    )


def test_paired_differences_and_mcnemar_by_hand():
    seeds = [0] * 4 + [1] * 4
    base = _episodes(
        "BayesMean",
        ["hazard", "hazard", "goal", "goal", "hazard", "goal", "goal", "goal"],
        [0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0],
        seeds,
    )
    cvar = _episodes(
        "CVaR(alpha=0.9)",
        ["goal", "goal", "goal", "timeout", "goal", "goal", "goal", "goal"],
        [1.0, 0.5, 1.0, 0.0, 0.5, 1.0, 1.0, 1.0],
        seeds,
    )
    table = paired_comparisons(pd.concat([base, cvar]), n_boot=4000)
    assert set(table["agent"]) == {"CVaR(alpha=0.9)"} and (table["reference"] == "BayesMean").all()
    row = table.set_index("metric")
    # hazard: seed 0 goes from 2/4 to 0/4 (-0.5), seed 1 from 1/4 to 0 (-0.25): mean -0.375
    assert row.loc["hazard_rate", "diff"] == pytest.approx(-0.375)
    assert (row.loc["hazard_rate", "agent_only"], row.loc["hazard_rate", "reference_only"]) == (
        0,
        3,
    )
    assert row.loc["hazard_rate", "p_value"] == pytest.approx(0.25)  # 2 · (1/2)^3
    # return: seed 0's differences 1, .5, 0, -1 (mean .125); seed 1's .5, 0, 0, 0 (.125)
    assert row.loc["return", "diff"] == pytest.approx(0.125)
    for metric in ("goal_rate", "hazard_rate", "timeout_rate"):
        lo, hi = row.loc[metric, ["diff_lo", "diff_hi"]]
        assert -1.0 <= lo <= row.loc[metric, "diff"] <= hi <= 1.0
    assert (row["pairs"] == 8).all() and (row["seeds"] == 2).all()
    # seeded: the same table twice
    pd.testing.assert_frame_equal(table, paired_comparisons(pd.concat([base, cvar]), n_boot=4000))


def test_agents_on_other_layouts_are_refused():
    seeds = [0] * 4
    base = _episodes("BayesMean", ["goal"] * 4, [1.0] * 4, seeds)
    other = _episodes("MAP", ["goal"] * 4, [1.0] * 4, seeds, layout_offset=7)
    with pytest.raises(ValueError, match="same layouts"):
        paired_comparisons(pd.concat([base, other]))
    with pytest.raises(ValueError, match="reference agent 'Oracle'"):
        paired_comparisons(pd.concat([base, base.assign(agent="MAP")]), "Oracle")


def test_reference_is_bayes_mean_where_evaluated():
    assert reference_agent(["MAP", "BayesMean", "Oracle"]) == "BayesMean"
    assert reference_agent(np.array(["PPO", "TrueReward"])) == "PPO"


def test_each_cell_compares_with_its_own_reference():
    """A study that evaluates BayesMean in one cell and not another (deep_corner_goal's p = 0.25
    runs only TrueReward and the Oracle) compares each cell with the reference it has."""
    seeds = [0] * 4
    with_mean = pd.concat(
        [_episodes("BayesMean", ["goal"] * 4, [1.0] * 4, seeds),
         _episodes("Oracle", ["goal"] * 4, [1.0] * 4, seeds)]
    )  # fmt: skip
    without = pd.concat(
        [_episodes("TrueReward", ["hazard"] * 4, [0.0] * 4, seeds),
         _episodes("Oracle", ["goal"] * 4, [1.0] * 4, seeds)]
    ).assign(study="t")  # fmt: skip
    table = paired_comparisons(pd.concat([with_mean, without]))
    refs = table.groupby("study")["reference"].unique()
    assert list(refs["s"]) == ["BayesMean"] and list(refs["t"]) == ["TrueReward"]
    # a named reference skips the cells that lack it
    named = paired_comparisons(pd.concat([with_mean, without]), "BayesMean")
    assert set(named["study"]) == {"s"}
