"""MDP-free studies on the MuJoCo-lite envs: recovery on the envs themselves, the --fast
experiments end to end (and resumed), and bad flags refused before any folder exists."""

import json
import warnings

import gymnasium as gym
import numpy as np
import pytest

import rewunc  # noqa: F401
from rewunc.birl import BIRL
from rewunc.birl.choice import perturbed_replays
from rewunc.envs.mujoco_lite import PointLava
from rewunc.envs.mujoco_lite.experts import PointLavaExpert
from rewunc.experts import PreferenceTeacher, label_segment_preferences
from rewunc.rollout import collect

ENV = "rewunc/PointLava-v0"
TRUE = np.asarray(PointLava.TRUE_WEIGHTS)
SEEN = [0, 1, 3, 4]  # every feature but lava, which never occurs in training


def _fit(**data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        birl = BIRL(num_warmup=300, num_samples=300, num_chains=2, progress_bar=False)
        return birl.fit(seed=0, feature_names=PointLava.feature_names, **data)


def _cosine(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


@pytest.fixture(scope="module")
def demos():
    return collect(ENV, PointLavaExpert(TRUE, 0.3, 0), 12, 0)


def test_preferences_on_point_lava_recover_the_seen_weights_and_leave_lava_at_its_prior():
    rollouts = []
    for i, noise in enumerate((0.0, 0.5, 1.0, 2.0)):
        rollouts += collect(ENV, PointLavaExpert(TRUE, noise, i), 10, 100 * (i + 1)).trajectories
    prefs = label_segment_preferences(
        rollouts, PreferenceTeacher(beta=1.0), 200, 25, 0, PointLava.feature_names, ENV
    )
    post = _fit(preferences=prefs)
    assert _cosine(post.mean()[SEEN], TRUE[SEEN]) > 0.9
    lava = post.weights[:, 2]
    assert abs(lava.mean()) < 0.2 and 0.8 < lava.std() < 1.2  # its N(0, 1) prior


def test_choices_on_point_lava_recover_the_seen_weights_and_leave_lava_at_its_prior(demos):
    choices = perturbed_replays(gym.make(ENV), demos, 8, (0.5, 2.0), 0, horizon="demonstration")
    assert (choices.alternatives[..., 2] == 0).all()  # no replay ever touched lava
    post = _fit(choices=choices)
    mean = post.mean()
    assert _cosine(mean[SEEN], TRUE[SEEN]) > 0.8
    assert mean[1] < mean[0]  # mud costs more than ground
    lava = post.weights[:, 2]
    assert abs(lava.mean()) < 0.2 and 0.8 < lava.std() < 1.2


def test_whole_episode_replays_are_separated_by_their_length(demos):
    """The measured reason for horizon="demonstration": random tails make every alternative
    longer than its demonstration, whatever it did."""
    env = gym.make(ENV)
    whole = perturbed_replays(env, demos, 4, (0.5, 2.0), 0)
    cut = perturbed_replays(env, demos, 4, (0.5, 2.0), 0, horizon="demonstration")
    steps = lambda c: c[..., :4].sum(-1)  # noqa: E731  (one-hot terrain: 1 per step)
    assert (steps(whole.alternatives).mean(1) > 2 * steps(whole.chosen)).mean() > 0.8
    assert (steps(cut.alternatives) <= steps(cut.chosen)[:, None]).all()


SMALL = ["--n-episodes", "4", "--deep-steps", "512", "--num-warmup", "60", "--num-samples", "60"]


@pytest.mark.parametrize("script", ["point_lava", "point_color"])
def test_fast_experiment_end_to_end_then_resumed(script, tmp_path, capsys):
    import importlib

    module = importlib.import_module(f"rewunc.experiments.{script}")
    out = str(tmp_path / "runs")
    argv = ["--fast", "--out", out, "--quiet", *SMALL]
    assert module.main(argv) == 0
    run = tmp_path / "runs" / script / "fast"
    results = (run / "results.csv").read_text()
    assert "Deep BayesMean" in results and "Deep TrueReward" in results
    shifts = {"point_lava": "lava", "point_color": "swap"}[script]
    assert f",{shifts}," in results
    assert (run / "figures" / "goal_vs_capability.png").is_file()
    config = json.loads((run / "config.json").read_text())["config"]
    assert config["env"] == f"rewunc/{'PointLava' if script == 'point_lava' else 'PointColor'}-v0"
    agents = sorted((run / "agents").iterdir())
    mtimes = [p.stat().st_mtime_ns for p in agents]
    assert module.main([*argv, "--resume"]) == 0  # everything read back, nothing retrained
    assert [p.stat().st_mtime_ns for p in sorted((run / "agents").iterdir())] == mtimes
    assert (run / "results.csv").read_text() == results


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--data", "demos"], "--data: expected one of"),
        (["--teacher-mistake", "0.7"], "--teacher-mistake: expected a number in [0, 0.5]"),
        (["--teacher-beta", "0"], "--teacher-beta: expected a rationality > 0"),
        (["--deep-train-shift", "mud"], "--deep-train-shift: expected one of"),
        (["--shifts", "train", "swap"], "--shifts: expected names in"),
        (["--algorithm", "sac"], "needs RiskAversePPO"),
        (["--anchor-feature", "wind"], "--anchor-feature: expected one of"),
        (["--replay-noise", "-1"], "--replay-noise: expected a number in"),
        (["--env", "rewunc/PointLava-v0", "--env-kwargs", '{"p": 2}'], "--env"),
        (["--deep-agents", "CVaR(alpha=0)"], "--deep-agents"),
    ],
)
def test_bad_flags_are_refused_before_any_folder(flags, message, tmp_path, capsys):
    from rewunc.experiments import point_lava

    with pytest.raises(SystemExit) as exit_:
        point_lava.main(["--out", str(tmp_path / "runs"), *flags])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
