"""Every experiment's --fast preset end to end: results, figures, re-plotting from disk,
refusing to overwrite, resuming a killed run, detecting a tampered cell, and refusing bad flags
before any folder is made. (Run folders themselves: tests/test_run_folders.py.)"""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _cmd(experiment, out, *extra):
    return [
        sys.executable,
        str(ROOT / "experiments" / f"{experiment}.py"),
        "--fast",
        "--quiet",
        "--out",
        str(out),
        *extra,
    ]


def _run(experiment, out, *extra, check=True):
    proc = subprocess.run(_cmd(experiment, out, *extra), capture_output=True, text=True, cwd=ROOT)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


FIGURES = {"goal_vs_capability.png", "risk_frontier.png"}


@pytest.mark.slow
def test_lavaland_fast_end_to_end_replot_refuse_and_resume(tmp_path):
    full = tmp_path / "full"
    t0 = time.perf_counter()
    proc = _run("lavaland", full)
    seconds = time.perf_counter() - t0
    run = full / "lavaland" / "fast"
    results = pd.read_csv(run / "results.csv")
    assert set(results["shift"]) == {"train", "lava", "harmless"}
    assert len(results) == 3 * 11 and "goal_rate_lo" in results
    # every agent paired with BayesMean on each split's layouts
    comparisons = pd.read_csv(run / "comparisons.csv")
    assert set(comparisons["agent"]) == set(results["agent"]) - {"BayesMean"}
    rates = comparisons[comparisons["metric"].str.endswith("_rate")]
    assert rates["diff_lo"].ge(-1).all() and rates["diff_hi"].le(1).all()
    assert rates["p_value"].between(0, 1).all()
    assert len(pd.read_csv(run / "seeds.csv")) == len(results)  # one seed
    assert (results["interval"].str.contains("Wilson")).all()
    # rates at 0 or 1 still get an interval of positive width
    assert (results["goal_rate_hi"] > results["goal_rate_lo"]).all()
    assert "lava" in proc.stdout and "BayesMean" in proc.stdout  # the summary table
    assert FIGURES | {"reward_map_lavaland.png", "trace_lavaland.png"} <= {
        p.name for p in (run / "figures").iterdir()
    }
    oracle = results[results["agent"] == "Oracle"]
    assert (oracle["goal_rate"] == 1.0).all() and (oracle["regret"].abs() < 1e-5).all()

    # re-plot from disk alone
    for png in (run / "figures").iterdir():
        png.unlink()
    replot = subprocess.run(
        [sys.executable, "-m", "rewunc.cli", "plot", str(run)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert replot.returncode == 0, replot.stderr
    assert FIGURES <= {p.name for p in (run / "figures").iterdir()}

    # a second run of the same name is refused and changes nothing
    before = (run / "episodes.csv").read_bytes()
    refused = _run("lavaland", full, check=False)
    assert refused.returncode == 2 and "--resume" in refused.stderr
    assert (run / "episodes.csv").read_bytes() == before

    # kill a run mid-way (after some evaluation cells), then resume it
    part = tmp_path / "part"
    proc = subprocess.Popen(
        _cmd("lavaland", part), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    markers = part / "lavaland" / "fast" / "stages"
    deadline = time.time() + 4 * seconds + 60
    while time.time() < deadline and proc.poll() is None:
        if markers.exists() and sum("-train-" in p.name for p in markers.iterdir()) >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (part / "lavaland" / "fast" / "results.csv").exists()
    _run("lavaland", part, "--resume")
    resumed = pd.read_csv(part / "lavaland" / "fast" / "episodes.csv")
    reference = pd.read_csv(run / "episodes.csv")
    assert not resumed.duplicated(["shift", "agent", "episode"]).any()
    pd.testing.assert_frame_equal(resumed, reference)

    # a cell cut short by hand is detected on resume, naming the file; nothing is rewritten
    cell = next((part / "lavaland" / "fast" / "cells").glob("*lava-BayesMean.csv"))
    cell.write_text("\n".join(cell.read_text().splitlines()[:5]) + "\n")
    before = (part / "lavaland" / "fast" / "results.csv").read_bytes()
    tampered = _run("lavaland", part, "--resume", check=False)
    assert tampered.returncode == 2
    assert cell.name in tampered.stderr and "size changed" in tampered.stderr
    assert (part / "lavaland" / "fast" / "results.csv").read_bytes() == before


@pytest.mark.slow
@pytest.mark.parametrize("experiment,shift", [("corner_goal", "anywhere"), ("color_goal", "swap")])
def test_sweep_experiments_fast_end_to_end(tmp_path, experiment, shift):
    _run(experiment, tmp_path)
    run = tmp_path / experiment / "fast"
    results = pd.read_csv(run / "results.csv")
    assert set(results["shift"]) == {"train", shift}
    assert sorted(set(results["p"])) == [0.0, 0.5]
    posteriors = pd.read_csv(run / "posteriors.csv")
    assert posteriors["ambiguity"].between(-1, 1).all()
    names = {p.name for p in (run / "figures").iterdir()}
    assert {"goal_vs_capability.png", "sweep.png", "risk_frontier_p=0.5.png"} <= names


REFUSED = [
    (["--seeds", "0", "0"], "--seeds: values must be distinct"),
    (["--seeds", "-1"], "--seeds: expected an integer >= 0"),
    (["--num-samples", "0"], "--num-samples: expected an integer >= 1"),
    (["--num-chains", "0"], "--num-chains: expected an integer >= 1"),
    (["--gamma", "1.5"], r"--gamma: expected a number in \(0, 1\)"),
    (["--gamma", "0"], r"--gamma: expected a number in \(0, 1\)"),
    (["--seeds", "99999999999999999999"], r"--seeds: expected at most 2147483647"),
    (["--anchor-prior", "nan", "0.05"], "--anchor-prior: expected two finite numbers"),
    (["--agents", "CVaR(alpha=0.9)", "CVaR(alpha=0.90)"], "name the same agent twice"),
    (["--agents", "CVaR(alpha=0.9, regret=1)"], "regret='1': expected true or false"),
    (["--agents", "CVaR(alpha=0.9, alpha=0.5)"], "alpha is given twice"),
    (["--name", ".hidden"], "--name: expected a plain folder name"),
    (["--expert-beta", "-5"], r"--expert-beta: expected a number in \(0, inf\)"),
    (["--max-tree-depth", "0"], "--max-tree-depth: expected an integer >= 1"),
    (["--target-accept", "1"], r"--target-accept: expected a number in \(0, 1\)"),
    (["--target-accept", "nan"], r"--target-accept: expected a number in \(0, 1\)"),
    (["--agents", "BROIL(lam=0.5, regret=true)"], "--agents: expected robust-form agents"),
    (["--agents", "CVaR(alpha=0)"], r"\(0, 1\]"),
    (["--agents", "Bogus"], "expected one of"),
    (["--agents", "Oracle", "Oracle"], "--agents: values must be distinct"),
    (["--shifts", "train", "mud"], "--shifts: expected names in"),
    (["--anchor-feature", "lava-ish"], "--anchor-feature: expected one of"),
    (["--n-episodes", "0"], "--n-episodes"),
    (["--n-ep", "7"], "unrecognized arguments: --n-ep 7"),
    (["--env", "nope/Nope-v0"], "--env: cannot make 'nope/Nope-v0'"),
    (["--env", "no_such_module:Env-v0"], "No module named 'no_such_module'"),
    (["--env-kwargs", '{"size": 2}'], "size: expected an int >= 4"),
    (["--env-kwargs", "[1]"], "--env-kwargs: expected a JSON object"),
    (["--name", "a/b"], "--name: expected a plain folder name"),
    (["--force", "--resume"], "exclusive"),
    (["--prior-sd", "lava"], "--prior-sd: expected entries name=sd"),
    (["--prior-sd", "mud=3"], "--prior-sd: expected a feature of"),
    (["--prior-sd", "lava=-1"], "--prior-sd: expected a finite sd > 0"),
    (["--prior-sd", "lava=1", "lava=2"], "--prior-sd: expected each feature once"),
    (["--prior-sd", "target=2"], "--prior-sd: expected a feature other than the anchored"),
    (["--expert", "greedy"], "--expert: expected one of"),
    (["--expert-epsilon", "1.5"], "--expert-epsilon"),
]


@pytest.mark.parametrize("args,message", REFUSED, ids=[" ".join(a) for a, _ in REFUSED])
def test_invalid_flags_are_refused_before_anything_runs(tmp_path, capsys, args, message):
    from rewunc.experiments import lavaland

    with pytest.raises(SystemExit) as exit_info:
        lavaland.main(["--fast", "--quiet", "--out", str(tmp_path / "out"), *args])
    assert exit_info.value.code == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "out").exists()  # no folder, nothing half-made


def test_sweeps_refuse_bad_ps_and_contrasts(tmp_path, capsys):
    from rewunc.experiments import color_goal, corner_goal

    for main, args, message in (
        (corner_goal.main, ["--ps", "0", "1.5"], r"--ps: expected a number in \[0, 1\]"),
        (corner_goal.main, ["--ps", "0.1", "0.1"], "--ps: values must be distinct"),
        (corner_goal.main, ["--ps", "0.5", "0.5000001"], "--ps: expected values distinct to 6"),
        (corner_goal.main, ["--env-kwargs", '{"p": 0.1}'], "'p' is the sweep's variable"),
        (corner_goal.main, ["--env", "rewunc/LavaLand-v0"], "unexpected keyword argument 'p'"),
        (color_goal.main, ["--ambiguity", "red-green", "circle"], "--ambiguity: contrast"),
    ):
        with pytest.raises(SystemExit):
            main(["--fast", "--quiet", "--out", str(tmp_path), *args])
        assert re.search(message, capsys.readouterr().err)
    assert not any(tmp_path.iterdir())


def test_cli_lists_environments_and_refuses_unknown_experiments(capsys):
    from rewunc.cli import main

    assert main(["envs"]) == 0
    out = capsys.readouterr().out
    assert "rewunc/LavaLand-v0" in out and "lava" in out and "target 1" in out
    with pytest.raises(SystemExit):
        main(["run", "nope"])
    with pytest.raises(SystemExit):
        main(["run", "lavaland", "--seeds", "0", "0"])
    assert main(["plot", "/nonexistent/run"]) == 2


def test_rewunc_and_the_flagship_need_neither_torch_nor_sb3():
    code = (
        "import sys\n"
        "class Block:  # any import of torch or stable_baselines3 now fails\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'stable_baselines3'):\n"
        "            raise ImportError('blocked ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import rewunc, rewunc.study.tabular, rewunc.plots, rewunc.agents, rewunc.envs\n"
        "from rewunc.experiments import lavaland, corner_goal, color_goal\n"
        "import gymnasium as gym\n"
        "gym.make('rewunc/LavaLand-v0')\n"
        "assert 'torch' not in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    # and importing rewunc imports no environment module (no import circle)
    code = "import sys, rewunc; assert 'rewunc.envs' not in sys.modules, sorted(sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.slow
def test_the_flagship_runs_on_a_users_gridworld(tmp_path, monkeypatch, capsys):
    """`rewunc run lavaland --env module:Id` imports the user's module and studies its env."""
    from rewunc.cli import main

    monkeypatch.syspath_prepend(str(ROOT / "docs" / "examples"))
    args = ["run", "lavaland", "--fast", "--quiet", "--out", str(tmp_path)]
    args += ["--env", "ice_pond:ice_pond/IcePond-v0", "--anchor-feature", "goal"]
    args += ["--shifts", "train", "thin_ice", "--agents", "BayesMean", "CVaR(alpha=0.9)"]
    args += ["--frontier-shift", "thin_ice"]  # lavaland draws it on lava by default
    assert main(args + ["--n-episodes", "4"]) == 0
    results = pd.read_csv(tmp_path / "lavaland" / "fast" / "results.csv")
    assert set(results["env"]) == {"ice_pond:ice_pond/IcePond-v0"}
    assert set(results["shift"]) == {"train", "thin_ice"} and "regret" in results
    # a non-tabular env is refused up front, naming --env, with no folder made
    with pytest.raises(SystemExit):
        main(["run", "lavaland", "--fast", "--out", str(tmp_path / "b"), "--env",
              "point_goal:point_goal/PointGoal-v0", "--anchor-feature", "goal"])  # fmt: skip
    assert "--env: point_goal:point_goal/PointGoal-v0 has no to_mdp()" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()
