"""Figures (rewunc.plots) and the MCMC diagnostics they report (rewunc.birl.infer.diagnostics)."""

import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from rewunc import plots  # noqa: E402
from rewunc.birl.infer import diagnostics  # noqa: E402
from rewunc.posterior import RewardPosterior  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)  # ArviZ announces its refactor on import
    import arviz as az  # noqa: E402

RATES = ("goal_rate", "capability_rate", "misgeneralization_rate", "hazard_rate", "timeout_rate")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def ar1_draws(seed: int, C: int, N: int, K: int, rho: float = 0.6) -> np.ndarray:
    """Autocorrelated draws [C, N, K], chain c shifted by 0.1·c."""
    rng = np.random.default_rng(seed)
    x = np.zeros((C, N, K))
    eps = rng.normal(size=(C, N, K))
    for t in range(1, N):
        x[:, t] = rho * x[:, t - 1] + eps[:, t]
    return x + 0.1 * np.arange(C)[:, None, None]


# ---- diagnostics --------------------------------------------------------------------------


def test_diagnostics_are_arviz():
    x = ar1_draws(0, C=3, N=200, K=2)
    d = diagnostics(x)
    data = az.convert_to_dataset({"w": x})
    np.testing.assert_allclose(d["rhat"], az.rhat(data, method="rank")["w"].to_numpy())
    np.testing.assert_allclose(d["ess_bulk"], az.ess(data, method="bulk")["w"].to_numpy())
    np.testing.assert_allclose(d["ess_tail"], az.ess(data, method="tail")["w"].to_numpy())
    assert all(isinstance(v, np.ndarray) and v.shape == (2,) for v in d.values())


def test_diagnostics_of_a_fixed_weight_are_nan_and_the_others_arviz(recwarn):
    x = ar1_draws(4, C=4, N=200, K=3)
    x[..., 1] = 1.0  # a reference weight the parameterisation fixes
    d = diagnostics(x)
    free = az.convert_to_dataset({"w": x[..., [0, 2]]})
    np.testing.assert_allclose(d["rhat"][[0, 2]], az.rhat(free, method="rank")["w"].to_numpy())
    np.testing.assert_allclose(d["ess_bulk"][[0, 2]], az.ess(free, method="bulk")["w"])
    assert all(np.isnan(v[1]) for v in d.values())
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
    assert all(np.isnan(v).all() for v in diagnostics(np.ones((2, 50, 2))).values())


def test_diagnostics_single_and_short_chains():
    one = ar1_draws(1, C=1, N=100, K=2)
    d = diagnostics(one)
    halves = one[0].reshape(2, 50, 2)  # one chain: ArviZ's R-hat of its two halves
    expected = az.rhat(az.convert_to_dataset({"w": halves}), method="rank")["w"].to_numpy()
    np.testing.assert_allclose(d["rhat"], expected)
    assert np.isfinite(d["ess_bulk"]).all() and np.isfinite(d["ess_tail"]).all()
    short = diagnostics(ar1_draws(2, C=1, N=6, K=3))
    assert np.isnan(short["rhat"]).all() and np.isfinite(short["ess_bulk"]).all()
    tiny = diagnostics(ar1_draws(3, C=2, N=3, K=3))
    assert all(np.isnan(v).all() and v.shape == (3,) for v in tiny.values())
    with pytest.raises(ValueError, match=r"draws: expected an array \[chains, draws, K\]"):
        diagnostics(np.zeros((10, 2)))


# ---- styles -------------------------------------------------------------------------------


def test_agent_styles_distinct_and_stable():
    agents = [f"agent{i}" for i in range(20)]
    styles = plots.agent_styles(agents)
    pairs = {(s["color"], s["marker"]) for s in styles.values()}
    assert len(pairs) == 20
    assert len({styles[a]["color"] for a in agents[:10]}) == 10  # first ten: distinct colours
    assert plots.agent_styles(agents) == styles
    # an agent's style depends only on the agents before it
    assert plots.agent_styles(agents[:5]) == {a: styles[a] for a in agents[:5]}
    with_oracle = plots.agent_styles(["BayesMean", "Oracle", "MAP"])
    assert with_oracle["Oracle"] == {"color": "black", "marker": "*"}
    assert (with_oracle["BayesMean"]["color"], with_oracle["BayesMean"]["marker"]) not in {
        ("black", "*")
    }
    assert len({(s["color"], s["marker"]) for s in with_oracle.values()}) == 3


# ---- goal vs capability -------------------------------------------------------------------


def results_table(interval: str | None = "95% Wilson (rates) over 100 episodes") -> pd.DataFrame:
    """A LavaLand-like table: no proxy outcomes, some hazards and timeouts, no regret."""
    rows = []
    for shift in ("train", "lava"):
        for agent in ("BayesMean", "CVaR(alpha=0.9)", "Oracle"):
            lava = shift == "lava" and agent != "Oracle"
            rates = {
                "goal_rate": 0.6 if lava else 1.0,
                "misgeneralization_rate": 0.0,
                "hazard_rate": 0.3 if lava else 0.0,
                "timeout_rate": 0.1 if lava else 0.0,
            }
            rates["capability_rate"] = rates["goal_rate"]
            row = {"study": "lavaland", "env": "rewunc/LavaLand-v0", "shift": shift}
            row.update(agent=agent, episodes=100, seeds=1)
            if interval is not None:
                row["interval"] = interval
            for m in RATES:
                row.update({m: rates[m], f"{m}_lo": max(0, rates[m] - 0.05)})
                row[f"{m}_hi"] = min(1, rates[m] + 0.05)
            row.update({"return": 0.5, "return_lo": 0.4, "return_hi": 0.6})
            rows.append(row)
    return pd.DataFrame(rows)


def legend_texts(fig) -> list[str]:
    return [t.get_text() for leg in fig.legends for t in leg.get_texts()]


def test_goal_vs_capability_draws_only_informative_bars():
    table = results_table()
    assert "regret" not in table
    fig = plots.goal_vs_capability(table, "lavaland")
    assert legend_texts(fig) == ["goal", "hazard", "timeout"]
    assert "95% Wilson (rates) over 100 episodes" in fig.get_suptitle()
    # with a proxy outcome somewhere, capability and misgeneralization appear
    table.loc[3, "misgeneralization_rate"] = 0.2
    labels = legend_texts(plots.goal_vs_capability(table))
    assert labels[:3] == ["goal", "capability (goal ∪ proxy)", "misgeneralization (proxy)"]


def test_goal_vs_capability_old_tables():
    table = results_table(interval=None).drop(columns=["timeout_rate", "timeout_rate_lo"])
    fig = plots.goal_vs_capability(table)  # no interval, no regret, no timeout_hi
    assert legend_texts(fig) == ["goal", "hazard"]
    assert "95% intervals" in fig.get_suptitle()
    with pytest.raises(ValueError, match="missing column"):
        plots.goal_vs_capability(table.drop(columns=["goal_rate_hi"]))


def test_goal_vs_capability_shows_each_seed_with_several_seeds():
    outcomes = ["goal", "goal", "hazard", "goal", "timeout", "timeout"]
    episodes = pd.DataFrame(
        {
            "study": "lavaland",
            "shift": "lava",
            "agent": "BayesMean",
            "seed": [0, 0, 0, 1, 1, 1],
            "outcome": outcomes,
        }
    )
    rates = plots.per_seed_rates(episodes).set_index("seed")
    assert np.allclose(rates["goal_rate"], [2 / 3, 1 / 3])
    assert np.allclose(rates["hazard_rate"], [1 / 3, 0.0])
    assert np.allclose(rates["timeout_rate"], [0.0, 2 / 3])
    table = results_table()
    fig = plots.goal_vs_capability(table, episodes=episodes)
    assert legend_texts(fig)[0] == "one seed"
    assert len(plots.goal_vs_capability(table, episodes=episodes[episodes.seed == 0]).legends)
    assert "one seed" not in legend_texts(
        plots.goal_vs_capability(table, episodes=episodes[episodes.seed == 0])
    )


# ---- reward map ---------------------------------------------------------------------------


def small_posterior(names, C=2, N=40, seed=0, diagnostics=None):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(C * N, len(names)))
    return RewardPosterior(w, tuple(names), np.repeat(np.arange(C), N), diagnostics=diagnostics)


def test_reward_map_refuses_other_envs():
    post = small_posterior(("a", "b"))
    with pytest.raises(TypeError, match="not a rewunc GridWorld"):
        plots.reward_map(post, "CartPole-v1", {}, None, 0)


def test_reward_map_of_a_gridworld():
    post = small_posterior(("dirt", "grass", "lava", "target", "gravel"))
    fig = plots.reward_map(post, "rewunc/LavaLand-v0", {"size": 6}, "lava", 3)
    title = fig.get_suptitle()
    assert "LavaLand" in title and "'lava'" in title and "seed 3" in title and "80" in title
    tiles = {t.get_text() for leg in fig.axes[0].get_legend().get_texts() for t in [leg]}
    assert {"dirt", "target", "agent start"} <= tiles


# ---- MCMC plots ---------------------------------------------------------------------------


def test_trace_and_rank_name_the_chains():
    post = small_posterior(("goal", "corner"), C=3, diagnostics={"divergences": 2})
    ftrace, frank = plots.trace_and_rank(post)
    for fig in (ftrace, frank):
        assert isinstance(fig, plt.Figure)
        assert {"chain 0", "chain 1", "chain 2"} <= set(legend_texts(fig))
        assert "R-hat" in fig.get_suptitle() and "divergences 2" in fig.get_suptitle()
    assert "95%" in frank.get_suptitle() and "95% band if uniform" in legend_texts(frank)


# ---- frontier and sweep -------------------------------------------------------------------


def test_risk_frontier_labels_do_not_overlap():
    lams = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]
    cvar = [-0.79, -0.79, -0.789, -0.785, -0.9, -2.0, -26.0]
    mean = [0.0, 0.0, 0.004, 0.02, 0.16, 0.48, 2.0]
    frontier = pd.DataFrame(
        {"study": "s", "seed": 0, "shift": "lava", "episode": 0, "lam": lams, "alpha": 0.95}
        | {"posterior_cvar": cvar, "posterior_mean": mean, "true_value": 0.0, "oracle_value": 1}
    )
    episodes = pd.DataFrame(
        {
            "shift": "lava",
            "agent": ["BayesMean", "CVaR(alpha=0.9)", "Oracle"],
            "posterior_cvar": [-26.0, -0.79, -0.8],
            "posterior_mean": [2.0, 0.0, -0.1],
        }
    )
    fig = plots.risk_frontier(frontier, episodes)
    ax = fig.axes[0]
    labels = [t for t in ax.texts if t.get_text().startswith("λ=")]
    assert any(t.get_text().startswith("λ=0, 0.1") for t in labels)  # coincident: one label
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in labels]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b)
    assert {"BayesMean", "Oracle"} <= set(legend_texts(fig))


def test_sweep_shows_seeds_and_intervals():
    rows, post = [], []
    for p in (0.0, 0.5):
        post += [{"p": p, "seed": s, "ambiguity": -0.9 + p + 0.01 * s} for s in range(3)]
        for agent in ("BayesMean", "Oracle"):
            row = {"p": p, "shift": "anywhere", "agent": agent, "interval": "95% t over 3 seeds"}
            for m in ("goal_rate", "misgeneralization_rate"):
                row.update({m: 0.5, f"{m}_lo": 0.4, f"{m}_hi": 0.6})
            rows.append(row)
    posteriors = pd.DataFrame(post).assign(ambiguity_of="corr(goal, corner)")
    fig = plots.sweep(pd.DataFrame(rows), posteriors, "anywhere")
    assert "95% t over 3 seeds" in fig.get_suptitle()
    assert "3 seeds" in fig.axes[0].get_title()
    assert legend_texts(fig) == ["BayesMean", "Oracle"]
    plt.close(fig)
    per_seed = pd.DataFrame(
        [
            {
                "p": p,
                "shift": "anywhere",
                "agent": a,
                "seed": s,
                "goal_rate": 0.1 * s,
                "misgeneralization_rate": 0.2,
            }
            for p in (0.0, 0.5)
            for a in ("BayesMean", "Oracle")
            for s in range(3)
        ]
    )
    fig = plots.sweep(pd.DataFrame(rows), posteriors, "anywhere", per_seed=per_seed)
    # each agent's seeds in each rate panel: 2 ps x 3 seeds, at the seeds' own rates
    goal_dots = [c for c in fig.axes[1].collections if len(c.get_offsets()) == 6]
    assert len(goal_dots) == 2
    assert sorted(goal_dots[0].get_offsets()[:, 1]) == pytest.approx([0, 0, 0.1, 0.1, 0.2, 0.2])
    assert "each seed" in fig.get_suptitle()


def test_importing_plots_leaves_the_backend_to_the_user():
    """A notebook keeps its backend: only the command-line entry points choose Agg."""
    import subprocess
    import sys

    code = (
        "import matplotlib; matplotlib.use('svg'); import rewunc.plots; "
        "print(matplotlib.get_backend())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "svg"


def test_learning_curves_draw_one_line_per_seed_and_agent():
    rows = []
    for agent in ("Deep TrueReward", "Deep CVaR(alpha=0.9)"):
        for seed in (0, 1, 2):
            for step in (1000, 2000, 3000):
                rows.append({"study": "s", "seed": seed, "agent": agent, "eval/timesteps": step,
                             "time/total_timesteps": step, "eval/goal_rate": step / 4000,
                             "risk/objective": -1.0 if "CVaR" in agent else np.nan})  # fmt: skip
    fig = plots.learning_curves(pd.DataFrame(rows))
    goal, risk = fig.axes
    assert len(goal.lines) == 6 and len(risk.lines) == 3  # TrueReward logs no risk objective
    assert [t.get_text() for t in goal.get_legend().get_texts()] == [
        "Deep TrueReward",
        "Deep CVaR(alpha=0.9)",
    ]
    plt.close(fig)
    with pytest.raises(ValueError, match="eval/goal_rate"):
        plots.learning_curves(pd.DataFrame(rows).drop(columns="eval/goal_rate"))


@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_figures_save_in_each_format_with_the_same_bytes_each_time(tmp_path, fmt):
    from rewunc.io import save_figure

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    a = save_figure(tmp_path / "rank_p=0.1", fig, fmt=fmt)  # a dot in the name is kept
    b = save_figure(tmp_path / "again.png", fig, fmt=fmt)
    plt.close(fig)
    assert a.name == f"rank_p=0.1.{fmt}" and b.name == f"again.{fmt}"
    assert a.read_bytes() == b.read_bytes()  # no dates, no random SVG ids
    with pytest.raises(ValueError, match="figure format"):
        save_figure(tmp_path / "x", fig, fmt="gif")
