"""Run directories, and every experiment's --fast preset end to end: results, figures,
re-plotting from disk, refusing to overwrite, resuming a killed run, refusing bad configs."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from rewunc.runs import Run, RunError, slug

ROOT = Path(__file__).resolve().parents[1]


def test_run_refuses_to_overwrite_and_resumes_only_the_same_config(tmp_path):
    run = Run.start(tmp_path, "exp", "a", {"x": 1})
    calls = []
    rows = run.cell("s/c", lambda: calls.append(1) or [{"v": 1.5}, {"v": 2.5}])
    assert list(rows["v"]) == [1.5, 2.5]
    with pytest.raises(RunError, match="--resume"):
        Run.start(tmp_path, "exp", "a", {"x": 1})
    with pytest.raises(RunError, match=r"differs in \['x'\]"):
        Run.start(tmp_path, "exp", "a", {"x": 2}, resume=True)
    again = Run.start(tmp_path, "exp", "a", {"x": 1}, resume=True)
    assert again.done("s/c")
    assert list(again.cell("s/c", lambda: calls.append(2) or [])["v"]) == [1.5, 2.5]
    assert calls == [1]  # the finished cell was read back, not recomputed
    with pytest.raises(RunError, match="exclusive"):
        Run.start(tmp_path, "exp", "a", {"x": 1}, force=True, resume=True)
    fresh = Run.start(tmp_path, "exp", "a", {"x": 3}, force=True)
    assert not fresh.done("s/c") and not (fresh.path / "cells").exists()


def test_stages_cannot_overwrite_each_others_files(tmp_path):
    run = Run.start(tmp_path, "exp", "a", {})
    run.claim("one", "x.npz").write_text("1")
    run.finish("one", file="x.npz")
    assert run.claim("one", "x.npz") == run.path / "x.npz"  # its own file: fine (a redo)
    with pytest.raises(RunError, match="belongs to 'one'"):
        run.claim("two", "x.npz")


def test_force_never_deletes_a_folder_that_is_not_a_run(tmp_path):
    victim = tmp_path / "exp" / "mine"
    victim.mkdir(parents=True)
    (victim / "thesis.tex").write_text("precious")
    with pytest.raises(RunError, match="not a rewunc run"):
        Run.start(tmp_path, "exp", "mine", {}, force=True)
    assert (victim / "thesis.tex").read_text() == "precious"


def test_slugs_are_file_names():
    assert slug("p=0.5/seed0/lava/BROIL(lam=0.5, alpha=0.95)") == (
        "p=0.5-seed0-lava-BROIL_lam=0.5_alpha=0.95"
    )


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
    assert set(results["shift"]) == {"train", "lava"}
    assert len(results) == 2 * 11 and "goal_rate_lo" in results
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
    manifest = part / "lavaland" / "fast" / "manifest.json"
    deadline = time.time() + 4 * seconds + 60
    while time.time() < deadline and proc.poll() is None:
        if manifest.exists():
            try:
                stages = json.loads(manifest.read_text())["stages"]
            except json.JSONDecodeError:
                stages = {}
            if sum("/train/" in k for k in stages) >= 3:
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


@pytest.mark.parametrize(
    "args,message",
    [
        (["--agents", "CVaR(alpha=0)"], r"\(0, 1\]"),
        (["--agents", "CVaR(alpha=1.5)"], r"\(0, 1\]"),
        (["--agents", "Bogus"], "expected one of"),
        (["--shifts", "train", "mud"], "shift 'mud'"),
        (["--anchor-feature", "lava-ish"], "anchor_feature"),
        (["--n-episodes", "0"], "n_episodes"),
        (["--force", "--resume"], "exclusive"),
    ],
)
def test_invalid_configs_are_refused_before_anything_runs(tmp_path, capsys, args, message):
    from rewunc.experiments import lavaland

    assert lavaland.main(["--fast", "--quiet", "--out", str(tmp_path), *args]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "lavaland").exists()


def test_cli_lists_environments_and_refuses_unknown_experiments(capsys):
    from rewunc.cli import main

    assert main(["envs"]) == 0
    out = capsys.readouterr().out
    assert "rewunc/LavaLand-v0" in out and "lava" in out and "target 1" in out
    with pytest.raises(SystemExit):
        main(["run", "nope"])
    assert main(["plot", "/nonexistent/run"]) == 2
