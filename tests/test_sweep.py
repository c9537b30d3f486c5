"""``rewunc sweep``: a grid of lavaland cells run locally and on a real local Ray cluster (the
files bit for bit equal), a sweep killed mid-way and resumed (nothing lost, nothing redone), and
bad flags or a changed grid refused before anything is written."""

import hashlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from rewunc.cli import main
from rewunc.experiments import REGISTRY
from rewunc.results import load_run, load_sweep
from rewunc.sweep import (
    LOCK_FILE,
    CellsFailed,
    SweepError,
    cell_id,
    check_options,
    define,
    parse_grid,
    run_sweep,
)

ROOT = Path(__file__).resolve().parents[1]
# lavaland's --fast preset shrunk further, so that a cell takes seconds
FLAGS = (
    "--fast",
    *("--n-demos", "3", "--num-warmup", "20", "--num-samples", "20", "--num-chains", "1"),
    *("--max-tree-depth", "4", "--n-episodes", "3", "--agent-samples", "10"),
    *("--agents", "BayesMean", "Oracle", "--shifts", "lava", "--frontier-lams", "0", "1"),
)
GRID = ("expert_beta=10,50",)
SEEDS = (0, 1)
TABLES = ("results.csv", "cells.csv", "episodes.csv")
needs_ray = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None,
    reason='Ray is not installed (pip install -e ".[ray]"; CI installs it)',
)


def _sweep():
    return define("lavaland", GRID, SEEDS, FLAGS)


def _hashes(path: Path) -> dict[str, str]:
    """sha256 of the sweep's tables and of every cell's results and episodes."""
    files = [path / t for t in TABLES]
    for cell in sorted((path / "cells" / "lavaland").iterdir()):
        files += [cell / "results.csv", cell / "episodes.csv"]
    return {str(f.relative_to(path)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def _markers(path: Path) -> dict[str, float]:
    """Every stage marker of every cell -> the time it finished."""
    return {
        str(m.relative_to(path)): json.loads(m.read_text())["finished"]
        for m in sorted(path.glob("cells/lavaland/*/stages/*.json"))
    }


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    """The 2 settings x 2 seeds sweep on the local backend, in this process."""
    out = tmp_path_factory.mktemp("local")
    return run_sweep(_sweep(), out, "s", quiet=True)


# ---- defining a sweep (no cells run) -----------------------------------------------------


def test_grid_values_and_cell_ids():
    assert parse_grid(["agents=CVaR(alpha=0.9),BROIL(lam=0.5, alpha=0.95)", "--n-demos=3,5"]) == {
        "agents": ("CVaR(alpha=0.9)", "BROIL(lam=0.5, alpha=0.95)"),
        "n_demos": ("3", "5"),
    }
    assert cell_id({"expert_beta": "10"}, 2) == "expert_beta=10-seed2"
    odd = cell_id({"agents": "CVaR(alpha=0.9)"}, 0)  # not a file name as it is: hashed
    assert odd.startswith("agents=CVaR_alpha=0.9-seed0-") and len(odd.split("-")[-1]) == 8
    assert odd != cell_id({"agents": "CVaR_alpha=0.9"}, 0)
    grid = {"gamma": [0.9, 0.95], "anchor_prior": ["1 0.05"]}  # anchor_prior: a tuple flag
    sweep = define("lavaland", grid, [0, 3], FLAGS)
    assert [c.id for c in sweep.cells] == [
        cell_id({"gamma": "0.9", "anchor_prior": "1 0.05"}, 0),
        cell_id({"gamma": "0.9", "anchor_prior": "1 0.05"}, 3),
        cell_id({"gamma": "0.95", "anchor_prior": "1 0.05"}, 0),
        cell_id({"gamma": "0.95", "anchor_prior": "1 0.05"}, 3),
    ]
    assert sweep.cells[0].id.startswith("gamma=0.9-anchor_prior=1_0.05-seed0-")
    assert sweep.cells[0].argv[-7:] == (
        "--gamma",
        "0.9",
        "--anchor-prior",
        "1",
        "0.05",
        "--seeds",
        "0",
    )
    assert sweep.cells[2].values == {"gamma": 0.95, "anchor_prior": "1.0 0.05"}


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_registered_experiment_defines_a_sweep(name):
    sweep = define(name, {"n_episodes": [2, 3]}, (0, 1), ["--fast"])
    assert len(sweep.cells) == 4 and sweep.experiment == name
    assert {c.values["n_episodes"] for c in sweep.cells} == {2, 3}
    assert all(
        c.argv[0] == "--fast" and c.argv[-2:] == ("--seeds", str(c.seed)) for c in sweep.cells
    )


def test_a_feature_study_sweeps_end_to_end(tmp_path):
    """point_color: a FeatureStudyConfig experiment (once refused by the sweep) runs as cells."""
    path = run_sweep(define("point_color", (), (0,), ["--fast"]), tmp_path, "s", quiet=True)
    results = pd.read_csv(path / "results.csv")
    assert set(results["shift"]) >= {"train"} and len(results) > 0
    assert (path / "cells" / "point_color").is_dir()


@pytest.mark.parametrize(
    "args, expected",
    [
        (["nope", "--seeds", "0"], "invalid choice"),
        (["lavaland", "--seeds", "0", "--grid", "expert_beta"], "--grid: expected key=value1"),
        (["lavaland", "--seeds", "0", "--grid", "expert_beta=1,,2"], "a value is empty"),
        (["lavaland", "--seeds", "0", "--grid", "bogus=1,2"], "--grid bogus: not a flag"),
        (["lavaland", "--seeds", "0", "--grid", "seeds=1,2"], "give the seeds with --seeds"),
        (["lavaland", "--seeds", "0", "--grid", "expert_beta=1,1"], "values must be distinct"),
        (["lavaland", "--seeds", "0", "--grid", "expert_beta=10,10.0"], "the same lavaland"),
        (["lavaland", "--seeds", "0", "--grid", "expert_beta=10,-1"], "--expert-beta: expected"),
        (["lavaland", "--seeds", "0", "--grid", "expert_beta=x"], "invalid float value: 'x'"),
        (["lavaland", "--seeds", "0", "--grid", "n_demos=2", "--n-demos", "3"], "one place"),
        (["lavaland", "--seeds", "0", "0"], "--seeds: values must be distinct"),
        (["lavaland", "--seeds", "-1"], "--seeds: expected integers >= 0"),
        (["lavaland", "--seeds", "zero"], "invalid int value"),
        (["lavaland", "--seeds", "0", "--workers", "0"], "--workers: expected an integer >= 1"),
        (["lavaland", "--seeds", "0", "--backend", "slurm"], "--backend: expected one of"),
        (["lavaland", "--seeds", "0", "--address", "auto"], "--address: joins a Ray cluster"),
        (["lavaland", "--seeds", "0", "--resume", "--force"], "exclusive"),
        (["lavaland", "--seeds", "0", "--name", "../x"], "--name: expected a plain folder"),
        (["lavaland", "--seeds", "0", "--n-episodes", "0"], "--n-episodes: expected"),
        (["lavaland", "--seeds", "0", "--n-ep", "3"], "unrecognized arguments: --n-ep"),
        pytest.param(
            ["deep_lavaland", "--seeds", "0", "--jobs", "3", "--backend", "ray", "--workers", "2"],
            "a cell runs 3 processes (--jobs) and reserves a CPU for each",
            marks=needs_ray,
        ),
    ],
)
def test_bad_flags_refused_before_any_folder(tmp_path, capsys, args, expected):
    out = tmp_path / "out"
    try:
        code = main(["sweep", *args, "--out", str(out)])
    except SystemExit as exit_:  # argparse's own refusals
        code = exit_.code
    assert code == 2 and expected in capsys.readouterr().err
    assert not out.exists()


def test_cell_flags_owned_by_the_sweep_and_missing_ray(monkeypatch):
    with pytest.raises(SweepError, match="--out: the sweep sets it"):
        define("lavaland", GRID, SEEDS, ["--out", "elsewhere"])
    with pytest.raises(SweepError, match="experiment: expected one of"):
        define("lava", GRID, SEEDS)
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(SweepError, match=r'pip install -e "\.\[ray\]"'):
        check_options("ray", 2, None)


def test_a_cell_reserves_a_cpu_per_process_it_runs():
    sweep = define("deep_lavaland", ("deep_steps=64,128",), (0,), ["--fast", "--jobs", "2"])
    assert [c.cpus for c in sweep.cells] == [2, 2]
    assert [c.cpus for c in define("lavaland", GRID, SEEDS).cells] == [1] * 4


def test_importing_the_sweep_imports_no_ray():
    code = "import sys, rewunc.cli, rewunc.sweep; print('ray' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.strip() == "False", proc.stderr


# ---- running one --------------------------------------------------------------------------


def test_local_sweep_tables_figure_and_refusals(local, capsys):
    results = pd.read_csv(local / "results.csv")
    # one row per (setting, shift, agent), over both seeds
    assert len(results) == 2 * 1 * 2 and set(results["expert_beta"]) == {10.0, 50.0}
    assert (results["seeds"] == 2).all() and (results["episodes"] == 2 * 3).all()
    assert results["interval"].str.contains("bootstrap over 2 seeds").all()
    cells = pd.read_csv(local / "cells.csv")
    assert len(cells) == 4 * 2 and {"cell", "expert_beta", "seed"} <= set(cells)
    tidy = load_sweep(local)  # the one-call loader: settings and seed as columns
    assert list(tidy.columns[:3]) == ["cell", "expert_beta", "seed"]
    pd.testing.assert_frame_equal(tidy[cells.columns], cells, check_dtype=False)
    run = load_run(next((local / "cells").glob("*/*")))  # any cell is a run
    assert {"episodes", "results", "seeds"} <= set(run.tables) and run.posteriors
    # the mean over seeds is the mean of the seeds' rates
    means = cells.groupby(["expert_beta", "agent"])["goal_rate"].mean()
    assert means.to_dict() == pytest.approx(
        results.set_index(["expert_beta", "agent"])["goal_rate"].to_dict()
    )
    assert (local / "figures" / "seed_spread.png").stat().st_size > 10_000
    info = json.loads((local / "sweep.json").read_text())
    assert info["grid"] == {"expert_beta": ["10", "50"]} and len(info["cells"]) == 4

    # resuming a complete sweep recomputes nothing and rewrites the same tables
    hashes, markers = _hashes(local), _markers(local)
    run_sweep(_sweep(), local.parents[1], "s", resume=True, quiet=True)
    assert _hashes(local) == hashes and _markers(local) == markers

    # the same name again, or a resumed sweep with another grid, is refused and changes nothing
    args = ["sweep", "lavaland", "--seeds", "0", "1", *FLAGS, "--out", str(local.parents[1])]
    assert main([*args, "--name", "s", "--grid", "expert_beta=10,50"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main([*args, "--name", "s", "--grid", "expert_beta=10,20", "--resume"]) == 2
    assert "differs in ['grid']" in capsys.readouterr().err
    assert _hashes(local) == hashes and _markers(local) == markers
    assert not (local / LOCK_FILE).exists()  # released by every driver above
    assert main(["plot", str(local)]) == 0  # a sweep's figure redrawn from its files


def test_killed_sweep_resumes_losing_and_redoing_nothing(local, tmp_path):
    # the local sweep with its last two cells not yet run; then killed while running them
    path = tmp_path / "sweeps" / "s"
    shutil.copytree(local, path)
    cells = [path / "cells" / "lavaland" / c.id for c in _sweep().cells]
    for cell in cells[2:]:
        shutil.rmtree(cell)
    grid = [a for g in GRID for a in ("--grid", g)]
    command = [sys.executable, "-m", "rewunc.cli", "sweep", "lavaland", *grid, "--seeds"]
    command += [*map(str, SEEDS), *FLAGS, "--out", str(tmp_path), "--name", "s", "--resume"]
    with open(tmp_path / "log", "w") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=log, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if any(any(c.glob("stages/*.json")) for c in cells[2:]):  # a cell is part-way
                break
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    log = (tmp_path / "log").read_text()
    assert proc.returncode == -signal.SIGKILL and "1 to run" not in log, log[-3000:]
    done = [c for c in cells if (c / "stages" / "complete.json").exists()]
    assert done == cells[:2], log[-3000:]  # killed before the third cell completed
    before = _markers(path)
    assert len(before) > len(_markers(local)) // 2  # some stages of the third cell finished
    # the killed driver's lock is left behind: this host, a pid no longer running
    assert json.loads((path / LOCK_FILE).read_text())["pid"] == proc.pid

    run_sweep(_sweep(), tmp_path, "s", resume=True, quiet=True)  # takes the stale lock over
    assert not (path / LOCK_FILE).exists()
    after = _markers(path)
    assert {k: after[k] for k in before} == before  # finished stages were not redone
    assert all((c / "stages" / "complete.json").exists() for c in cells)
    assert _hashes(path) == _hashes(local)  # nothing lost or counted twice


def test_failing_cells_do_not_stop_the_others(tmp_path, monkeypatch):
    from rewunc.sweep import backends as module

    calls = []

    def run_cell(experiment, argv, devices=1):  # one fails, one "finishes" writing nothing
        calls.append(argv[argv.index("--name") + 1])
        code = 2 if len(calls) == 1 else 0
        return {"code": code, "seconds": 0.0, "error": "error: boom", "host": "elsewhere"}

    monkeypatch.setattr(module, "run_cell", run_cell)
    with pytest.raises(CellsFailed) as err:
        run_sweep(_sweep(), tmp_path, "s", quiet=True)
    assert calls == [c.id for c in _sweep().cells]
    message = str(err.value)
    assert "4 of 4 cells failed" in message and "expert_beta=10-seed0: error: boom" in message
    assert "finished on elsewhere" in message and "every node shares" in message
    assert not (tmp_path / "sweeps" / "s" / "results.csv").exists()


# Ray against local, bit for bit: tests/test_kill_resume.py's Ray sweep, killed and resumed, must
# end with every file of the local backend's uninterrupted run (a superset of these hashes), so
# a second full Ray sweep here would only repeat it (and cost five minutes of the suite).


# ---- one driver at a time ----------------------------------------------------------------


def _tree(path: Path) -> dict[str, bytes]:
    files = sorted(f for f in path.rglob("*") if f.is_file())
    return {str(f.relative_to(path)): f.read_bytes() for f in files}


def _write_lock(folder: Path, pid: int, host: str | None = None, **extra) -> Path:
    lock = folder / LOCK_FILE
    holder = {"host": host or socket.gethostname(), "pid": pid, "started": "2025-01-01T00:00:00"}
    holder.update(extra)
    lock.write_text(json.dumps(holder) + "\n")
    return lock


@pytest.fixture
def fake_cells(monkeypatch):
    """Cells that finish at once, "complete", and tables not written: the driver's own work.
    Returns the cells run, each with the lock's contents seen while it ran."""
    from rewunc.runs import Run
    from rewunc.sweep import backends, driver

    ran = []

    def run_cell(experiment, argv, devices=1):
        folder = Path(argv[argv.index("--out") + 1]).parent
        ran.append((argv[argv.index("--name") + 1], json.loads((folder / LOCK_FILE).read_text())))
        return {"code": 0, "seconds": 0.0, "stderr": "", "host": socket.gethostname()}

    monkeypatch.setattr(backends, "run_cell", run_cell)
    monkeypatch.setattr(Run, "is_complete", lambda run: any(c[0] == run.path.name for c in ran))
    monkeypatch.setattr(driver, "collect", lambda path, sweep=None: None)
    return ran


def test_a_running_driver_refuses_a_second_one_changing_nothing(tmp_path, capsys, fake_cells):
    path = run_sweep(_sweep(), tmp_path, "s", quiet=True)
    assert len(fake_cells) == 4 and not (path / LOCK_FILE).exists()
    sleeper = subprocess.Popen(["sleep", "60"])  # another driver, still running
    try:
        lock = _write_lock(path, sleeper.pid)
        before = _tree(tmp_path)
        args = ["sweep", "lavaland", *(a for g in GRID for a in ("--grid", g)), "--seeds", "0", "1"]
        args += [*FLAGS, "--out", str(tmp_path), "--name", "s"]
        for extra in (["--resume"], ["--force"]):
            assert main([*args, *extra]) == 2
            err = capsys.readouterr().err
            assert f"{lock}: another driver is running this sweep" in err, err
            assert f"host {socket.gethostname()}, pid {sleeper.pid}, started" in err
            assert "if that process is gone, delete that file" in err
        # a driver on another host cannot be checked: refused, even with a pid not running here
        _write_lock(path, 2**22 + 1, host="elsewhere.example")
        with pytest.raises(SweepError, match="host elsewhere.example"):
            run_sweep(_sweep(), tmp_path, "s", resume=True, quiet=True)
        _write_lock(path, sleeper.pid)
        assert _tree(tmp_path) == before and len(fake_cells) == 4  # no cell ran

        # a new sweep whose driver is still creating it (only its lock yet) is refused too
        fresh = tmp_path / "sweeps" / "t"
        fresh.mkdir()
        _write_lock(fresh, sleeper.pid)
        with pytest.raises(SweepError, match="another driver is running this sweep"):
            run_sweep(_sweep(), tmp_path, "t", quiet=True)
        assert [f.name for f in fresh.iterdir()] == [LOCK_FILE]
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_dead_drivers_lock_is_taken_over(tmp_path, capsys, fake_cells):
    path = run_sweep(_sweep(), tmp_path, "s", quiet=True)
    dead = subprocess.Popen(["true"])
    dead.wait()  # finished and reaped: its pid runs nothing
    _write_lock(path, dead.pid)
    capsys.readouterr()
    fake_cells.clear()
    run_sweep(_sweep(), tmp_path, "s", resume=True, quiet=True)
    err = capsys.readouterr().err
    assert f"{path / LOCK_FILE}: its driver (host {socket.gethostname()}, pid {dead.pid}" in err
    assert "taking the sweep over" in err
    assert len(fake_cells) == 4 and all(lock["pid"] == os.getpid() for _, lock in fake_cells)
    assert not (path / LOCK_FILE).exists()


@pytest.mark.skipif(not Path("/proc/self/ns/pid").exists(), reason="Linux /proc only")
def test_pids_are_judged_in_their_own_namespace_and_a_reused_pid_is_stale(tmp_path, fake_cells):
    from rewunc.sweep.lock import _pid_namespace, _process_start, _stale

    path = run_sweep(_sweep(), tmp_path, "s", quiet=True)
    dead = subprocess.Popen(["true"])
    dead.wait()
    # another container with this host name: its pid means nothing here, so it is refused
    _write_lock(path, dead.pid, pid_ns="pid:[1]")
    with pytest.raises(SweepError, match="another driver is running this sweep"):
        run_sweep(_sweep(), tmp_path, "s", resume=True, quiet=True)
    with subprocess.Popen(["sleep", "60"]) as live:
        try:
            own = json.loads(_write_lock(path, live.pid).read_text())
            assert not _stale(own)  # no start recorded: a live pid is a live driver
            start = _process_start(live.pid)
            assert not _stale({**own, "pid_ns": _pid_namespace(), "pid_start": start})
            assert _stale({**own, "pid_start": str(int(start) - 1)})  # the pid was reused
        finally:
            live.kill()


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_the_lock_is_released_when_the_driver_fails(tmp_path, monkeypatch, error):
    from rewunc.sweep import backends as module

    def run_cell(experiment, argv, devices=1):
        assert (tmp_path / "sweeps" / "s" / LOCK_FILE).is_file()
        raise error

    monkeypatch.setattr(module, "run_cell", run_cell)
    with pytest.raises(type(error)):
        run_sweep(_sweep(), tmp_path, "s", quiet=True)
    path = tmp_path / "sweeps" / "s"
    assert (path / "sweep.json").is_file() and not (path / LOCK_FILE).exists()
