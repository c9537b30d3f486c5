"""Deep agents in a study: spec parsing, training by name, exact evaluation of a learnt policy on
a layout's MDP against its LP twin, and both deep experiments' --fast presets end to end."""

import importlib
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")
pytest.importorskip("stable_baselines3")

import gymnasium as gym  # noqa: E402
import torch as th  # noqa: E402

import rewunc  # noqa: E402,F401
from rewunc import plots  # noqa: E402
from rewunc.agents.deep import DeepAgentError, RiskAversePPO  # noqa: E402
from rewunc.agents.deep.train import (  # noqa: E402
    DeepSettings,
    action_probabilities,
    deep_agent,
    greedy,
    quiet_logger,
    train_agent,
)
from rewunc.agents.tabular import (  # noqa: E402
    make_agent,
    plan_layouts,
    pooled_risk_lp,
    risk_lp,
)
from rewunc.evaluate import EvalLayouts, evaluate  # noqa: E402
from rewunc.planning import feature_expectations  # noqa: E402
from rewunc.posterior import RewardPosterior  # noqa: E402
from rewunc.results import load_run  # noqa: E402
from rewunc.risk import broil  # noqa: E402
from rewunc.study import deep as deep_stages  # noqa: E402
from rewunc.study.report import exactness  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ENV = "rewunc/LavaLand-v0"
NAMES = ("dirt", "grass", "lava", "target", "gravel")
TINY = DeepSettings(steps=256, n_envs=2, n_steps=64, batch_size=64, n_epochs=1)


def posterior(M=30, seed=0, names=NAMES):
    rng = np.random.default_rng(seed)
    w = rng.normal([-0.05, -0.25, 0.0, 1.0, 0.0], [0.02, 0.05, 1.0, 0.05, 1.0], size=(M, 5))
    return RewardPosterior(weights=w, feature_names=names, chain=np.zeros(M, dtype=int))


# ---- specs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, canonical, kind, twin",
    [
        ("BayesMean", "BayesMean", "risk", "BayesMean"),
        ("CVaR(alpha=0.9)", "CVaR(alpha=0.9)", "risk", "CVaR(alpha=0.9)"),
        ("CVaR( alpha = 0.90 )", "CVaR(alpha=0.9)", "risk", "CVaR(alpha=0.9)"),
        ("BROIL(alpha=0.95, lam=0.5)", "BROIL(lam=0.5, alpha=0.95)", "risk", None),
        ("Maximin", "Maximin", "risk", "Maximin"),
        ("MeanStd(kappa=2)", "MeanStd(kappa=2.0)", "reward", None),
        ("PessimisticReward", "PessimisticReward(q=0.05)", "reward", None),
        ("TrueReward", "TrueReward", "true", "Oracle"),
    ],
)
def test_deep_agent_specs_are_canonical_and_name_their_twin(spec, canonical, kind, twin):
    agent = deep_agent(spec)
    assert agent.spec == canonical and agent.kind == kind
    assert agent.name == "Deep " + canonical
    assert agent.twin == (canonical if twin is None and kind == "risk" else twin)
    if agent.twin and agent.twin != "Oracle":
        make_agent(agent.twin)  # the twin is a valid tabular agent


def test_lam_alpha_of_the_risk_agents():
    assert deep_agent("BayesMean").lam_alpha[0] == 1.0
    assert deep_agent("Maximin").lam_alpha == (0.0, 1.0)
    assert deep_agent("CVaR(alpha=0.9)").lam_alpha == (0.0, 0.9)
    assert deep_agent("BROIL(lam=0.25, alpha=0.8)").lam_alpha == (0.25, 0.8)


@pytest.mark.parametrize(
    "spec, words",
    [
        ("PPO", "expected one of"),
        ("CVaR(beta=0.9)", "unknown parameter"),
        ("CVaR(alpha=0.9, alpha=0.5)", "given twice"),
        ("CVaR(alpha=1.5)", "alpha"),
        ("BROIL(lam=-0.1)", "lam"),
        ("MeanStd(kappa=-1)", "kappa"),
        ("PessimisticReward(q=1)", "q"),
        ("CVaR(alpha=high)", "not a number"),
    ],
)
def test_bad_deep_agent_specs_are_refused_by_name(spec, words):
    with pytest.raises(DeepAgentError, match=words):
        deep_agent(spec)


def test_settings_are_validated():
    with pytest.raises(DeepAgentError, match="steps"):
        DeepSettings(steps=0)
    with pytest.raises(DeepAgentError, match="gamma"):
        DeepSettings(gamma=1.0)


# ---- training by name --------------------------------------------------------------------


def test_a_posterior_with_other_feature_names_is_refused_before_training():
    wrong = posterior(names=("dirt", "grass", "water", "target", "gravel"))
    for spec in ("CVaR(alpha=0.9)", "MeanStd(kappa=1.0)"):
        with pytest.raises(DeepAgentError, match="differ from the env's"):
            train_agent(spec, ENV, {}, wrong, 0, TINY)
    with pytest.raises(DeepAgentError, match="needs a reward posterior"):
        train_agent("BayesMean", ENV, {}, None, 0, TINY)


@pytest.mark.parametrize("spec", ["CVaR(alpha=0.9)", "MeanStd(kappa=1.0)", "TrueReward"])
def test_train_agent_is_deterministic_with_one_seed(spec):
    post = posterior()
    a = train_agent(spec, ENV, {}, post, 3, TINY)
    b = train_agent(spec, ENV, {}, post, 3, TINY)
    for (name, x), (_, y) in zip(
        a.policy.state_dict().items(), b.policy.state_dict().items(), strict=True
    ):
        assert th.equal(x, y), name
    assert isinstance(a, RiskAversePPO) == (spec == "CVaR(alpha=0.9)")


def test_lambda_one_ascends_the_posterior_mean_rewards_advantage():
    """BayesMean (λ = 1): the scalar advantage is w̄·A_ψ whatever the batch's returns, i.e. the
    policy gradient of the posterior-mean reward."""
    post = posterior(M=7)
    model = train_agent("BayesMean", ENV, {}, post, 0, TINY)
    np.testing.assert_allclose(model.last_risk["c"], np.full(7, 1 / 7))
    np.testing.assert_allclose(model.last_risk["w_c"], post.weights.mean(0), atol=1e-12)
    # the buffer's scalar advantages are feature_advantages @ w (tests/test_risk_ppo.py)
    np.testing.assert_allclose(model.rollout_buffer.advantage_weights, post.weights.mean(0))


@pytest.mark.parametrize("spec, verbose", [("CVaR(alpha=0.9)", 0), ("TrueReward", 1)])
def test_training_makes_no_sb3_log_folder_and_keeps_the_logged_values(
    spec, verbose, capsys, monkeypatch
):
    """Without a logger of its own SB3 makes an empty tempdir/SB3-<date> folder every learn();
    train_agent's logger writes no files, yet records the values (``risk/...``) as before and
    prints SB3's table with verbose=1 only."""
    from stable_baselines3.common.callbacks import BaseCallback

    class Peek(BaseCallback):
        def __init__(self):
            super().__init__()
            self.logged: list[dict] = []

        def _on_step(self):
            return True

        def _on_rollout_end(self):
            self.logged.append(dict(self.model.logger.name_to_value))

    monkeypatch.delenv("SB3_LOGDIR", raising=False)  # conftest's: SB3 would log there instead
    tmp = Path(tempfile.gettempdir())
    before = {p.name for p in tmp.glob("SB3-*")}
    peek = Peek()
    model = train_agent(spec, ENV, {}, posterior(), 0, TINY, verbose=verbose, callback=peek)
    assert {p.name for p in tmp.glob("SB3-*")} - before == set()
    assert model.logger.get_dir() is None
    assert len(peek.logged) == 2  # 256 steps, 2 envs x 64 per rollout
    if spec.startswith("CVaR"):
        assert {"risk/cvar_X", "risk/objective"} <= set(peek.logged[-1])
    assert "train/loss" in peek.logged[-1]  # the first update's values, before its dump
    out = capsys.readouterr().out
    assert ("total_timesteps" in out) == (verbose == 1)


@pytest.mark.parametrize("spec", ["CVaR(alpha=0.9)", "TrueReward"])
def test_a_training_log_is_sb3s_csv_with_validation_and_changes_no_parameter(spec, tmp_path):
    """log_dir: SB3's progress.csv with the validation goal rate at its checks and at the end;
    the checks draw nothing from the learner's streams, so the parameters are those of a run
    without a log; nothing partial is left behind."""
    from dataclasses import replace

    settings = replace(TINY, validation_every=100, validation_episodes=3)
    post = posterior()
    logged = train_agent(spec, ENV, {}, post, 3, settings, log_dir=tmp_path)
    plain = train_agent(spec, ENV, {}, post, 3, settings)
    for (name, x), (_, y) in zip(
        logged.policy.state_dict().items(), plain.policy.state_dict().items(), strict=True
    ):
        assert th.equal(x, y), name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["progress.csv"]  # nothing partial
    log = pd.read_csv(tmp_path / "progress.csv")
    checks = log.dropna(subset=["eval/goal_rate"])
    # checks at 100 and 200 (dumped with their rollouts), the final policy at 256
    assert checks["eval/timesteps"].tolist() == [100, 200, 256]
    assert checks["eval/goal_rate"].between(0, 1).all()
    assert checks["eval/regret"].ge(-1e-9).all()  # tabular layouts: regret to the Oracle
    assert ("risk/objective" in log) == spec.startswith("CVaR")
    assert log["rollout/success_rate"].dropna().between(0, 1).all()  # info["is_success"]
    assert "time/fps" not in log and "time/total_timesteps" in log  # no wall clock: same bytes
    train_agent(spec, ENV, {}, post, 3, settings, log_dir=tmp_path / "again")
    assert (tmp_path / "again" / "progress.csv").read_bytes() == (
        tmp_path / "progress.csv"
    ).read_bytes()


@pytest.mark.parametrize("spec", ["CVaR(alpha=0.9)", "MeanStd(kappa=1.0)", "TrueReward"])
def test_an_unshifted_warmup_trains_on_the_training_layouts_first(spec):
    """unshifted_warmup: the first fraction of the steps on lava-free layouts, then the agent's
    own shift (a curriculum); deterministic; refused outside [0, 1)."""
    from dataclasses import replace

    from stable_baselines3.common.callbacks import BaseCallback

    class Shifts(BaseCallback):
        def __init__(self):
            super().__init__()
            self.seen: list[tuple[int, str | None]] = []

        def _on_rollout_start(self):
            self.seen.append((self.num_timesteps, self.training_env.get_attr("shift")[0]))

        def _on_step(self):
            return True

    settings = replace(TINY, unshifted_warmup=0.5)
    seen = Shifts()
    a = train_agent(spec, ENV, {"shift": "lava"}, posterior(), 3, settings, callback=seen)
    assert seen.seen == [(0, None), (128, "lava")]  # 2 rollouts of 128 steps: one each
    assert a.num_timesteps == 256
    b = train_agent(spec, ENV, {"shift": "lava"}, posterior(), 3, settings)
    for (name, x), (_, y) in zip(
        a.policy.state_dict().items(), b.policy.state_dict().items(), strict=True
    ):
        assert th.equal(x, y), name
    for bad in (1.0, -0.1):
        with pytest.raises(DeepAgentError, match="unshifted_warmup"):
            replace(TINY, unshifted_warmup=bad)


def test_tensorboard_needs_a_log_dir():
    with pytest.raises(DeepAgentError, match="tensorboard: needs a log_dir"):
        train_agent("TrueReward", ENV, {}, None, 0, TINY, tensorboard=True)


def test_sb3s_own_save_and_load_round_trip_a_risk_averse_ppo(tmp_path):
    """For users who choose SB3's zip format (it pickles; rewunc's save_agent does not): the
    loaded RiskAversePPO acts as the saved one, keeps its posterior and criterion, and trains
    on."""
    from stable_baselines3.common.env_util import make_vec_env

    model = train_agent("CVaR(alpha=0.9)", ENV, {}, posterior(), 0, TINY)
    model.save(tmp_path / "agent.zip")
    venv = make_vec_env(ENV, n_envs=2, seed=1)
    back = RiskAversePPO.load(tmp_path / "agent.zip", env=venv, device="cpu")
    np.testing.assert_array_equal(back.posterior_weights, model.posterior_weights)
    assert (back.lam, back.alpha, back.criterion_gamma) == (0.0, 0.9, model.criterion_gamma)
    venv.reset()
    obs = np.stack([venv.envs[0].unwrapped.observation_of(s) for s in range(20)])
    np.testing.assert_array_equal(
        back.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0]
    )
    back.learn(128)  # the buffer, critic basis and feature bookkeeping are set up again
    assert back.last_risk["x"].shape == (30,)
    with pytest.raises(TypeError, match="posterior_weights: required"):
        RiskAversePPO("MlpPolicy", venv)


def test_sb3s_eval_callback_reports_a_success_rate_on_a_rewunc_env(tmp_path):
    """Every env sets info["is_success"] on an episode's last step, which EvalCallback reads."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import EvalCallback
    from stable_baselines3.common.env_util import make_vec_env

    model = PPO("MlpPolicy", make_vec_env(ENV, n_envs=2, seed=0), n_steps=64, seed=0)
    model.set_logger(quiet_logger())
    eval_env = make_vec_env(ENV, n_envs=1, seed=5)
    check = EvalCallback(eval_env, n_eval_episodes=4, eval_freq=32, log_path=str(tmp_path))
    model.learn(128, callback=check)
    assert len(check.evaluations_successes) == 2
    assert all(len(s) == 4 and set(s) <= {0.0, 1.0} for s in check.evaluations_successes)


# ---- exact evaluation of a learnt policy -------------------------------------------------


@pytest.fixture(scope="module")
def trained():
    model = train_agent("TrueReward", ENV, {}, None, 0, DeepSettings(steps=2048, n_envs=4))
    layouts = EvalLayouts.draw(ENV, "train", 6, 0, 0.95)
    return model, layouts


def test_action_probabilities_match_predict_in_every_state(trained):
    model, layouts = trained
    env = gym.make(ENV)
    env.reset(seed=int(layouts.layout_seeds[0]))
    base = env.unwrapped
    before = base.state_index()
    probs = action_probabilities(model, env)
    assert base.state_index() == before  # observation_of leaves the env as it was
    assert probs.shape == (base.n_states, 4)
    np.testing.assert_allclose(probs.sum(1), 1.0)
    for s in range(0, base.n_states, 7):
        action, _ = model.predict(base.observation_of(s), deterministic=True)
        assert greedy(probs)[s, int(action)] == 1.0


def test_exact_objective_equals_the_rollouts_discounted_return(trained):
    """The greedy policy evaluated on each layout's MDP (TrueReward's criterion: the true value)
    equals the discounted return of its own rollout on the env (deterministic env and policy):
    env ↔ MDP ↔ network consistency. The step limit is raised to 2000 so that the MDP's infinite
    horizon and the rollout differ by at most γ^2000·max|r|/(1 − γ) ≈ 1e-44."""
    model, _ = trained
    layouts = EvalLayouts.draw(ENV, "train", 4, 1, 0.95, max_steps=2000)
    rows = evaluate(model, layouts, name="x", seed=0)
    env = gym.make(ENV, max_steps=2000)
    for mdp, layout_seed, row in zip(layouts.mdps, layouts.layout_seeds, rows, strict=True):
        env.reset(seed=int(layout_seed))
        mu = feature_expectations(mdp, greedy(action_probabilities(model, env)), dtype=np.float64)
        assert np.isclose(mu @ mdp.true_weights, row["discounted_return"], rtol=1e-9, atol=1e-9)


def test_twin_objective_of_the_twins_plan_is_the_twins_objective(trained):
    """The deep agent's score and the LP optimum are one objective: the twin's criterion applied
    to the twin's own plan gives the twin's objective; pooled over layouts, the joint LP is at
    least the pooled score of the per-layout plans (and equal for a linear criterion)."""
    _, layouts = trained
    post = posterior(M=40)
    for spec in ("BayesMean", "CVaR(alpha=0.9)", "BROIL(lam=0.5, alpha=0.95)", "TrueReward"):
        agent = deep_agent(spec)
        plans = plan_layouts(
            make_agent(agent.twin), deep_stages._draws_for(agent, post, 20), layouts.mdps
        )
        W, lam, alpha = deep_stages.twin_objective(agent, post, 20, layouts.mdps[0].true_weights)
        np.testing.assert_allclose(broil(plans.mu @ W.T, lam, alpha), plans.objectives, atol=1e-6)
        pooled, mu = pooled_risk_lp(layouts.mdps, W, lam, alpha)
        assert np.isclose(broil(mu.mean(0) @ W.T, lam, alpha), pooled, atol=1e-7)
        of_plans = broil(plans.mu.mean(0) @ W.T, lam, alpha)
        assert pooled >= of_plans - 1e-7
        if lam == 1.0:
            assert np.isclose(pooled, plans.objectives.mean(), atol=1e-7)


def test_pooled_risk_lp_on_one_layout_is_risk_lp(trained):
    _, layouts = trained
    W = posterior(M=25).weights
    for lam, alpha in ((0.0, 0.9), (0.5, 0.95), (0.0, 1.0)):
        pooled, mu = pooled_risk_lp(layouts.mdps[:1], W, lam, alpha)
        single = risk_lp(layouts.mdps[0], W, lam, alpha)
        assert np.isclose(pooled, single.objective, atol=1e-8)


def test_exactness_table_by_hand():
    episodes = pd.DataFrame(
        {
            "study": "s",
            "shift": "train",
            "agent": "Deep CVaR(alpha=0.9)",
            "seed": [0, 0, 0, 0],
            "optimum": [1.0, 2.0, 1.0, 2.0],
            "objective": [0.9, 1.5, 1.0, 2.0],
            "objective_stochastic": [0.5, 1.0, 1.0, 1.0],
            "random_objective": [0.0, 0.0, -1.0, 0.0],
            "pooled_optimum": 1.6,
            "pooled_objective": 1.2,
            "pooled_objective_stochastic": 1.0,
            "pooled_random_objective": -0.4,
        }
    )
    row = exactness(episodes).iloc[0]
    assert np.isclose(row["gap"], 0.15)
    assert np.isclose(row["normalised_gap"], 0.15 / 1.75)
    assert row["normalised_gap_lo"] <= row["normalised_gap"] <= row["normalised_gap_hi"]
    assert np.isclose(row["normalised_gap_stochastic"], 0.625 / 1.75)
    assert np.isclose(row["pooled_gap"], 0.4) and np.isclose(row["pooled_normalised_gap"], 0.2)
    assert np.isnan(row["pooled_normalised_gap_lo"])  # one seed: no interval for one LP
    other = episodes.assign(seed=1, objective=episodes["optimum"], pooled_objective=1.6)
    row = exactness(pd.concat([episodes, other])).iloc[0]
    assert row["seeds"] == 2 and "bootstrap over 2 seeds" in row["interval"]
    assert np.isclose(row["normalised_gap"], 0.15 / 1.75 / 2)  # the mean over seeds
    assert np.isclose(row["pooled_normalised_gap"], 0.1)
    assert row["pooled_normalised_gap_lo"] <= 0.1 <= row["pooled_normalised_gap_hi"]


# ---- the experiments -----------------------------------------------------------------------


def _run(experiment, out, *extra):
    cmd = [sys.executable, str(ROOT / "experiments" / f"{experiment}.py"), "--fast"]
    return subprocess.run(
        [*cmd, "--out", str(out), *extra], capture_output=True, text=True, cwd=ROOT
    )


@pytest.mark.slow
def test_deep_lavaland_fast_end_to_end_in_two_workers_then_resumed(tmp_path):
    proc = _run("deep_lavaland", tmp_path, "--jobs", "2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "deep_lavaland" / "fast"
    results = pd.read_csv(run / "results.csv")
    deep = {a for a in results["agent"] if a.startswith("Deep ")}
    assert deep == {
        "Deep BayesMean",
        "Deep CVaR(alpha=0.9)",
        "Deep BROIL(lam=0.5, alpha=0.95)",
        "Deep MeanStd(kappa=1.0)",
        "Deep TrueReward",
    }
    # every deep agent's twin is evaluated beside it
    assert {"BayesMean", "CVaR(alpha=0.9)", "BROIL(lam=0.5, alpha=0.95)", "Oracle"} <= set(
        results["agent"]
    )
    exact = pd.read_csv(run / "exactness.csv")
    assert set(exact["agent"]) == deep - {"Deep MeanStd(kappa=1.0)"}
    assert (exact["gap"] >= -1e-6).all()  # no policy beats the exact optimum
    episodes = pd.read_csv(run / "episodes.csv")
    with_twin = episodes.dropna(subset=["optimum"])
    assert (with_twin["optimum"] >= with_twin["objective"] - 1e-6).all()
    assert len(list((run / "agents").glob("*/policy.safetensors"))) == 5
    logs = plots.training_logs(run)  # every agent's SB3 log, its learning curve
    assert set(logs["agent"]) == deep and logs["eval/goal_rate"].notna().any()
    assert (run / "figures" / "learning_curves.png").exists()
    loaded = load_run(run)  # one call: tables, posteriors, agents as SB3 models
    assert {"episodes", "results", "exactness"} <= set(loaded.tables)
    model = loaded.agent("deep_lavaland", 0, "Deep CVaR(alpha=0.9)")
    assert isinstance(model, RiskAversePPO) and model.lam == 0.0
    env = gym.make(ENV)
    obs, _ = env.reset(seed=0)
    assert env.action_space.contains(int(model.predict(obs, deterministic=True)[0]))
    assert not list(run.rglob("*.pkl")) and not list(run.rglob("*.zip"))
    assert "deep agents against their exact LP twins" in proc.stdout
    # resumed with another --jobs: the agents are read back, not trained again
    again = _run("deep_lavaland", tmp_path, "--resume")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "training" not in again.stdout
    pd.testing.assert_frame_equal(pd.read_csv(run / "episodes.csv"), episodes)


@pytest.mark.slow
def test_deep_corner_goal_fast_end_to_end(tmp_path):
    proc = _run("deep_corner_goal", tmp_path, "--quiet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "deep_corner_goal" / "fast"
    results = pd.read_csv(run / "results.csv")
    true = results[results["agent"] == "Deep TrueReward"]
    assert sorted(true["p"].unique()) == [0.0, 0.25]
    risk = results[results["agent"] == "Deep CVaR(alpha=0.9)"]
    assert list(risk["p"].unique()) == [0.0]
    posteriors = pd.read_csv(run / "posteriors.csv")
    assert sorted(posteriors["p"]) == [0.0, 0.25] and posteriors["ambiguity"].notna().all()
    figures = {p.name for p in (run / "figures").iterdir()}
    assert {"misgeneralization_curve.png", "sweep.png", "goal_vs_capability.png"} <= figures


@pytest.mark.parametrize(
    "experiment, flags, words",
    [
        ("deep_lavaland", ["--deep-agents", "CVaR(alpha=2)"], "--deep-agents: deep agent"),
        ("deep_lavaland", ["--deep-agents", "PPO"], "--deep-agents"),
        ("deep_lavaland", ["--deep-agents", "UniversalSF"], "is not a study agent yet"),
        ("deep_lavaland", ["--deep-steps", "0"], "--deep-steps: expected an integer >= 1"),
        ("deep_lavaland", ["--jobs", "0"], "--jobs: expected an integer >= 1"),
        (
            "deep_lavaland",
            ["--deep-agents", "CVaR(alpha=0.9)", "CVaR(alpha=0.90)"],
            "name the same agent twice",
        ),
        ("deep_corner_goal", ["--risk-p", "0.3"], "--risk-p: expected one of --ps"),
        ("deep_corner_goal", ["--deep-agents", "TrueReward"], "--deep-agents: expected agents"),
        ("deep_corner_goal", ["--curve-agent", "Deep PPO"], "--curve-agent: expected one of"),
    ],
)
def test_bad_deep_flags_are_refused_before_any_folder(tmp_path, capsys, experiment, flags, words):
    module = importlib.import_module(f"rewunc.experiments.{experiment}")
    with pytest.raises(SystemExit) as exit_:
        module.main(["--fast", "--out", str(tmp_path), *flags])
    assert exit_.value.code == 2
    assert words in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
