"""Run folders: refusing to overwrite, resuming only the same config, per-stage markers that
verify their files (size + sha256), provenance, ordinary file permissions, and several processes
finishing stages of one run at once."""

import json
import os
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rewunc import io
from rewunc.io import write_json, write_npz, write_text
from rewunc.runs import Run, RunError, open_run, slug

ROOT = Path(__file__).resolve().parents[1]


def test_run_refuses_to_overwrite_and_resumes_only_the_same_config(tmp_path):
    run = Run.start(tmp_path, "exp", "a", {"x": 1, "seeds": (0, 1)})
    calls = []
    rows = run.cell("s/c", lambda: calls.append(1) or [{"v": 1.5}, {"v": 2.5}])
    assert list(rows["v"]) == [1.5, 2.5]
    with pytest.raises(RunError, match="--resume"):
        Run.start(tmp_path, "exp", "a", {"x": 1, "seeds": (0, 1)})
    with pytest.raises(RunError, match=r"differs in \['x'\]"):
        Run.start(tmp_path, "exp", "a", {"x": 2, "seeds": [0, 1]}, resume=True)
    before = sorted(p.relative_to(run.path) for p in run.path.rglob("*"))
    again = Run.start(tmp_path, "exp", "a", {"x": 1, "seeds": [0, 1]}, resume=True)
    assert sorted(p.relative_to(run.path) for p in run.path.rglob("*")) == before
    assert again.done("s/c") and not again.done("s/other")
    assert list(again.cell("s/c", lambda: calls.append(2) or [])["v"]) == [1.5, 2.5]
    assert calls == [1]  # the finished cell was read back, not recomputed
    with pytest.raises(RunError, match="exclusive"):
        Run.start(tmp_path, "exp", "a", {"x": 1}, force=True, resume=True)
    fresh = Run.start(tmp_path, "exp", "a", {"x": 3}, force=True)
    assert not fresh.done("s/c") and not (fresh.path / "cells").exists()
    assert fresh.stages() == {}


def test_resume_creates_a_missing_run_and_ignores_provenance(tmp_path):
    run = Run.start(tmp_path, "exp", "new", {"x": 1}, resume=True)
    assert run.stages() == {}
    config = json.loads((run.path / "config.json").read_text())
    config["provenance"]["packages"]["numpy"] = "0.0.1"  # an older numpy made it: still resumes
    write_json(run.path / "config.json", config, force=True)
    from rewunc.runs import RunProvenanceWarning

    with pytest.warns(RunProvenanceWarning):  # resumes, saying the code differs
        assert Run.start(tmp_path, "exp", "new", {"x": 1}, resume=True).path == run.path


def test_force_never_deletes_a_folder_that_is_not_a_run(tmp_path):
    victim = tmp_path / "exp" / "mine"
    victim.mkdir(parents=True)
    (victim / "thesis.tex").write_text("precious")
    (victim / "config.json").write_text("{}")  # a config.json alone does not make a run
    for flags in ({"force": True}, {"resume": True}, {}):
        with pytest.raises(RunError, match="not a rewunc run"):
            Run.start(tmp_path, "exp", "mine", {}, **flags)
    assert (victim / "thesis.tex").read_text() == "precious"
    assert sorted(p.name for p in victim.iterdir()) == ["config.json", "thesis.tex"]
    with pytest.raises(RunError, match="not a rewunc run"):
        open_run(victim)


def test_stages_cannot_overwrite_each_others_files(tmp_path):
    run = Run.start(tmp_path, "exp", "a", {})
    run.claim("one", "x.npz").write_text("1")
    run.finish("one", files=["x.npz"])
    assert run.claim("one", "x.npz") == run.path / "x.npz"  # its own file: fine (a redo)
    with pytest.raises(RunError, match="'two' would overwrite x.npz, which belongs to 'one'"):
        run.claim("two", "x.npz")
    with pytest.raises(RunError, match="not a path inside"):
        run.claim("two", "../outside.csv")
    with pytest.raises(RunError, match="missing"):
        run.finish("three", files=["never_written.csv"])
    assert not run.done("three")


def test_keys_that_slug_to_one_marker_are_refused(tmp_path):
    run = Run.start(tmp_path, "exp", "a", {})
    assert slug("a/b c") == slug("a-b_c") == "a-b_c"
    run.cell("a/b c", lambda: [{"v": 1}])
    with pytest.raises(RunError, match="'a-b_c' would overwrite cells/a-b_c.csv.*'a/b c'"):
        run.cell("a-b_c", lambda: [{"v": 2}])
    with pytest.raises(RunError, match=r"stages 'a/b c' and 'a-b_c' both make .*stages/a-b_c"):
        run.finish("a-b_c")
    assert not run.done("a-b_c") and run.stage("a/b c")["rows"] == 1
    assert list(run.read_table("cells/a-b_c.csv")["v"]) == [1]


def test_marker_format_and_config_provenance(tmp_path):
    run = Run.start(tmp_path, "exp", "a", {"alpha": 0.9, "agents": ("Mean", "CVaR")})
    run.cell("lava/CVaR(alpha=0.9)", lambda: [{"v": 1.0}])
    run.finish("complete", seconds=np.float64(1.5))
    marker = json.loads((run.path / "stages" / "lava-CVaR_alpha=0.9.json").read_text())
    data = (run.path / "cells" / "lava-CVaR_alpha=0.9.csv").read_bytes()
    assert marker["key"] == "lava/CVaR(alpha=0.9)" and marker["rows"] == 1
    assert marker["files"] == {
        "cells/lava-CVaR_alpha=0.9.csv": {
            "size": len(data),
            "sha256": __import__("hashlib").sha256(data).hexdigest(),
        }
    }
    assert abs(marker["finished"] - time.time()) < 60
    assert list(run.stages()) == ["lava/CVaR(alpha=0.9)", "complete"]  # in order of finishing
    assert run.stage("complete")["seconds"] == 1.5 and run.verify("complete") == []

    path, config, stages = open_run(run.path)
    assert path == run.path and stages == run.stages()
    assert config["experiment"] == "exp" and config["name"] == "a"
    assert config["config"] == {"alpha": 0.9, "agents": ["Mean", "CVaR"]}
    prov = config["provenance"]
    assert prov["python"] == sys.version.split()[0] and prov["platform"]
    for name in ("rewunc", "numpy", "scipy", "pandas", "jax", "numpyro", "gymnasium"):
        assert prov["packages"][name]
    assert prov["packages"]["numpy"] == np.__version__
    assert "git_commit" in prov and "git_dirty" in prov
    if prov["git_commit"] is not None:
        assert len(prov["git_commit"]) == 40 and isinstance(prov["git_dirty"], bool)


def test_atomic_writers_give_ordinary_permissions(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rewunc.io import save_figure

    old = os.umask(0o022)
    try:
        run = Run.start(tmp_path, "exp", "a", {})
        run.cell("c", lambda: [{"v": 1}])
        fig = plt.figure()
        written = [
            write_json(tmp_path / "a.json", {"a": 1}),
            write_text(tmp_path / "a.txt", "a"),
            write_npz(tmp_path / "a.npz", {"w": np.zeros(3)}),
            save_figure(tmp_path / "a.png", fig),
            run.write_table("results.csv", [{"v": 1}]),
            run.path / "config.json",
            run.path / "cells" / "c.csv",
            run.path / "stages" / "c.json",
        ]
        plt.close(fig)
    finally:
        os.umask(old)
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
    for folder in (run.path, run.path / "stages", run.path / "cells"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o755, folder
    assert not [p for p in tmp_path.rglob(".*")]  # no temporary files or folders left


def test_a_truncated_cell_is_caught_on_resume_and_when_read_back(tmp_path):
    run = Run.start(tmp_path, "exp", "a", {"x": 1})
    run.cell("p=0.5/seed0/lava/Mean", lambda: [{"episode": i, "v": i / 3} for i in range(5)])
    csv = run.path / "cells" / "p=0.5-seed0-lava-Mean.csv"
    size = csv.stat().st_size
    csv.write_text("".join(csv.read_text().splitlines(keepends=True)[:3]))  # cut short by hand
    assert run.verify("p=0.5/seed0/lava/Mean") == [
        f"cells/p=0.5-seed0-lava-Mean.csv: size changed (recorded {size} bytes, "
        f"now {csv.stat().st_size}) (stage 'p=0.5/seed0/lava/Mean')"
    ]
    with pytest.raises(RunError) as err:
        Run.start(tmp_path, "exp", "a", {"x": 1}, resume=True)
    message = str(err.value)
    assert "cells/p=0.5-seed0-lava-Mean.csv: size changed" in message
    assert "(stage 'p=0.5/seed0/lava/Mean')" in message
    assert "stages/p=0.5-seed0-lava-Mean.json" in message and "--force" in message
    with pytest.raises(RunError, match=r"cells/p=0.5-seed0-lava-Mean.csv: size changed"):
        run.cell("p=0.5/seed0/lava/Mean", lambda: pytest.fail("must not recompute"))


def test_a_flipped_byte_in_a_posterior_is_caught_and_its_marker_deleted_redoes_it(tmp_path):
    run = Run.start(tmp_path, "exp", "a", {"x": 1})
    rng = np.random.default_rng(0)
    arrays = {"weights": rng.normal(size=(200, 3)), "chain": np.repeat(np.arange(2), 100)}
    write_npz(run.claim("lava/posterior", "posterior_lava.npz"), arrays)
    write_json(run.file("posterior_lava.json"), {"feature_names": ["a", "b", "c"]})
    run.finish("lava/posterior", files=["posterior_lava.npz", "posterior_lava.json"], divergences=0)
    run.cell("lava/train/Mean", lambda: [{"v": 1}])

    npz = run.path / "posterior_lava.npz"
    data = bytearray(npz.read_bytes())
    data[len(data) // 2] ^= 0xFF
    npz.write_bytes(bytes(data))
    with pytest.raises(RunError) as err:
        Run.start(tmp_path, "exp", "a", {"x": 1}, resume=True)
    message = str(err.value)
    assert "posterior_lava.npz: sha256 changed (same size, different content) (stage " in message
    assert "'lava/posterior'" in message and "posterior_lava.json" not in message
    assert "delete stages/lava-posterior.json to redo" in message

    (run.path / "stages" / "lava-posterior.json").unlink()  # redo that stage
    again = Run.start(tmp_path, "exp", "a", {"x": 1}, resume=True)
    assert not again.done("lava/posterior") and again.done("lava/train/Mean")
    write_npz(again.claim("lava/posterior", "posterior_lava.npz"), arrays, force=True)
    again.finish("lava/posterior", files=["posterior_lava.npz", "posterior_lava.json"])
    assert again.verify("lava/posterior") == []
    assert Run.start(tmp_path, "exp", "a", {"x": 1}, resume=True).done("lava/posterior")


def test_a_missing_file_is_named(tmp_path):
    run = Run.start(tmp_path, "exp", "a", {})
    run.cell("c", lambda: [{"v": 1}])
    (run.path / "cells" / "c.csv").unlink()
    assert run.verify("c") == ["cells/c.csv: missing (stage 'c')"]
    with pytest.raises(RunError, match=r"cells/c.csv: missing \(stage 'c'\)"):
        Run.start(tmp_path, "exp", "a", {}, resume=True)


WORKER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from rewunc.runs import Run

    root, prefix, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    (root / f"ready-{prefix}").touch()
    deadline = time.time() + 30
    while not (root / "go").exists() and time.time() < deadline:
        time.sleep(0.005)
    run = Run.start(root, "exp", "shared", {"x": 1}, resume=True)
    for i in range(n):
        rows = run.cell(f"{prefix}{i}", lambda i=i: [{"who": prefix, "i": i, "v": i / 7}])
        assert list(rows["i"]) == [i]
        assert run.done(f"{prefix}{i}")
    print(sum(k.startswith(prefix) for k in run.stages()))
    """
)


def _together(root: Path, prefixes, n: int) -> list[subprocess.Popen]:
    """Launch one worker per prefix, and let them start at the same moment."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(root), p, str(n)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in prefixes
    ]
    deadline = time.time() + 60
    while not all((root / f"ready-{p}").exists() for p in prefixes) and time.time() < deadline:
        time.sleep(0.01)
    (root / "go").touch()
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-3000:]
        assert int(out.split()[-1]) == n
    return procs


def test_two_processes_finish_stages_of_one_run_at_once(tmp_path):
    Run.start(tmp_path, "exp", "shared", {"x": 1})
    _together(tmp_path, ["a", "b"], 30)
    path, config, stages = open_run(tmp_path / "exp" / "shared")
    keys = [f"{p}{i}" for p in "ab" for i in range(30)]
    assert sorted(stages) == sorted(keys) and len(stages) == 60
    assert len(list((path / "stages").glob("*.json"))) == 60
    run = Run.start(tmp_path, "exp", "shared", {"x": 1}, resume=True)  # verifies all 60
    for key in keys:
        assert run.verify(key) == []
        table = run.read_table(f"cells/{key}.csv")
        assert table.to_dict("records") == [{"who": key[0], "i": int(key[1:]), "v": table["v"][0]}]
    finished = [m["finished"] for m in stages.values()]
    assert finished == sorted(finished)
    assert not [p for p in path.rglob(".*")]  # no temporary files left behind


def test_processes_starting_a_missing_run_at_once_share_it(tmp_path):
    _together(tmp_path, ["a", "b", "c"], 3)  # each passes resume=True on a run nobody made yet
    path, config, stages = open_run(tmp_path / "exp" / "shared")
    assert len(stages) == 9 and config["config"] == {"x": 1}
    assert [p.name for p in (tmp_path / "exp").iterdir()] == ["shared"]  # no leftovers


def test_open_run_refuses_an_older_manifest_run(tmp_path):
    old = tmp_path / "exp" / "old"
    old.mkdir(parents=True)
    (old / "config.json").write_text("{}")
    (old / "manifest.json").write_text('{"stages": {}}')
    with pytest.raises(RunError, match="not a rewunc run directory"):
        open_run(old)
    with pytest.raises(RunError, match="older rewunc run with manifest.json"):
        Run.start(tmp_path, "exp", "old", {}, resume=True)
    assert pd.Series(sorted(p.name for p in old.iterdir())).tolist() == [
        "config.json",
        "manifest.json",
    ]


def test_a_run_made_by_another_process_meanwhile_is_resumed_or_refused(tmp_path, monkeypatch):
    import rewunc.runs as runs

    build = runs._build

    def slow_build(path, *args):  # another process creates the run while this one builds
        if not path.exists():
            build(path, *args).rename(path)
        return build(path, *args)

    monkeypatch.setattr(runs, "_build", slow_build)
    run = Run.start(tmp_path, "exp", "a", {"x": 1}, resume=True)
    assert run.stages() == {}
    (tmp_path / "exp" / "a" / "stages").rmdir()
    (tmp_path / "exp" / "a" / "config.json").unlink()
    (tmp_path / "exp" / "a").rmdir()
    with pytest.raises(RunError, match="already holds a run"):
        Run.start(tmp_path, "exp", "a", {"x": 1})
    (tmp_path / "exp" / "b").mkdir()
    monkeypatch.setattr(runs, "_build", build)
    assert Run.start(tmp_path, "exp", "b", {}).stages() == {}  # an empty folder is taken over
    assert sorted(p.name for p in (tmp_path / "exp").iterdir()) == ["a", "b"]  # no leftovers


def test_a_stage_whose_input_changed_is_stale(tmp_path):
    """A plan computed from a posterior that was later redone differently is not reused."""
    run = Run.start(tmp_path, "exp", "a", {"x": 1})
    run.file("post.npz").write_bytes(b"first posterior")
    run.finish("post", files=["post.npz"])
    run.file("plan.npz").write_bytes(b"plan from the first posterior")
    run.finish("plan", files=["plan.npz"], inputs=["post.npz"])
    assert run.verify("plan") == []
    run.file("post.npz").write_bytes(b"other posterior")  # the posterior stage is redone
    run.finish("post", files=["post.npz"])
    assert run.verify("post") == []
    (problem,) = run.verify("plan")
    assert "post.npz: changed since stage 'plan' was computed from it (stale)" in problem
    with pytest.raises(RunError, match="stale"):
        Run.start(tmp_path, "exp", "a", {"x": 1}, resume=True)


def test_resuming_with_other_code_warns(tmp_path):
    from rewunc.runs import RunProvenanceWarning

    run = Run.start(tmp_path, "exp", "a", {"x": 1})
    config = json.loads(run.file("config.json").read_text())
    config["provenance"]["packages"]["numpy"] = "0.0.1"
    run.file("config.json").write_text(json.dumps(config))
    with pytest.warns(RunProvenanceWarning, match="numpy 0.0.1 ->"):
        Run.start(tmp_path, "exp", "a", {"x": 1}, resume=True)


def test_out_that_is_a_file_is_refused_cleanly(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(RunError, match="cannot create the run"):
        Run.start(tmp_path / "afile", "exp", "a", {})


def test_resuming_removes_what_a_killed_writer_left_half_written(tmp_path):
    run = Run.start(tmp_path, "exp", "a", {"x": 1})
    run.produce("s", ["f.txt"], lambda p: write_text(p, "done", force=True) and None)
    (run.path / "figures").mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    host = io._host()
    leftover = run.path / "figures" / f".outcomes.png.{host}-{dead}-0123456789ab.png"
    leftover.write_bytes(b"")  # as atomic_write names a temporary file: this one's writer died
    live = run.path / f".results.csv.{host}-{os.getpid()}-0123456789ab.csv"  # a live writer's
    kept = [live, run.path / ".notes", run.path / "stages" / ".s.json.lock"]
    for p in kept:
        p.write_text("mine")
    Run.start(tmp_path, "exp", "a", {"x": 1}, resume=True)
    assert not leftover.exists() and all(p.exists() for p in kept)
