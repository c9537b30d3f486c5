import json
import sys
from pathlib import Path

import numpy as np
import pytest

from rewunc.config import parse_config
from rewunc.envs import ColorGoal, CornerGoal, KeysChests, LavaLand
from rewunc.io import CorruptFileError, OverwriteError, read_npz, write_json, write_npz

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
import solve_layouts  # noqa: E402


def test_atomic_writes_refuse_to_overwrite(tmp_path):
    path = write_json(tmp_path / "a.json", {"x": 1})
    with pytest.raises(OverwriteError, match="exists; pass force=True"):
        write_json(path, {"x": 2})
    assert json.loads(path.read_text()) == {"x": 1}
    write_json(path, {"x": 2}, force=True)
    assert json.loads(path.read_text()) == {"x": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]  # no temp files left


def test_npz_round_trip_and_no_pickle(tmp_path):
    path = write_npz(tmp_path / "a.npz", {"w": np.arange(3.0), "names": np.array(["a", "b"])})
    data = read_npz(path)
    np.testing.assert_array_equal(data["w"], [0, 1, 2])
    with pytest.raises(TypeError, match="object array"):
        write_npz(tmp_path / "b.npz", {"bad": np.array([{}, 1], dtype=object)})
    np.savez(tmp_path / "evil.npz", bad=np.array([{"a": 1}], dtype=object))
    with pytest.raises(CorruptFileError, match="evil.npz: holds pickled objects"):
        read_npz(tmp_path / "evil.npz")


def test_config_parsing():
    cfg, rest = parse_config(
        solve_layouts.SolveConfig, ["--layouts", "2", "--gamma", "0.9"], out=dict(default="x")
    )
    assert cfg.layouts == 2 and cfg.gamma == 0.9 and rest.out == "x"
    with pytest.raises(SystemExit) as exit_info:
        parse_config(solve_layouts.SolveConfig, ["--lay", "2"])  # no abbreviations
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit):
        parse_config(solve_layouts.SolveConfig, ["--gamma", "1.5"])


@pytest.mark.slow
def test_solve_layouts_end_to_end(tmp_path, capsys):
    out = tmp_path / "solve"
    assert solve_layouts.main(["--layouts", "1", "--out", str(out)]) == 0
    rows = json.loads((out / "solved.json").read_text())["rows"]
    gridworlds = (LavaLand, CornerGoal, ColorGoal, KeysChests)
    assert len(rows) == sum(1 + len(env.SHIFTS) for env in gridworlds)  # each on every split
    assert all(r["outcome"] == "goal" for r in rows)  # the optimal policy for the true reward
    assert {p.name for p in out.glob("*.png")} == {
        "LavaLand.png",
        "CornerGoal.png",
        "ColorGoal.png",
        "KeysChests.png",
    }
    assert solve_layouts.main(["--layouts", "1", "--out", str(out)]) == 2  # refuses to overwrite
    assert "pass --force" in capsys.readouterr().err


def _recorded_config(tmp_path, experiment="lavaland", **extra):
    """A run's config.json as common.start writes it, for the --fast preset of lavaland."""
    import dataclasses

    from experiments import lavaland
    from rewunc.config import parse_flags
    from rewunc.study.config import EXECUTION_ONLY

    cfg, _ = parse_flags(lavaland.LavaLandConfig, lavaland.FAST, ["--fast"], prog="lavaland")
    recorded = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in EXECUTION_ONLY}
    path = tmp_path / "config.json"
    info = {"format": "rewunc.run.v1", "experiment": experiment, "name": "fast",
            "config": recorded, **extra}  # fmt: skip
    path.write_text(json.dumps(info))
    return cfg, path


def test_config_json_replays_a_run(tmp_path):
    from experiments import lavaland
    from rewunc.config import parse_flags

    cfg, path = _recorded_config(tmp_path)
    replayed, flags = parse_flags(lavaland.LavaLandConfig, lavaland.FAST, ["--config", str(path)],
                                  prog="lavaland")  # fmt: skip
    assert replayed == cfg and flags.name == "fast"
    changed, flags = parse_flags(
        lavaland.LavaLandConfig,
        lavaland.FAST,
        ["--config", str(path), "--seeds", "3", "4", "--name", "other"],
        prog="lavaland",
    )
    assert changed.seeds == (3, 4) and changed.n_demos == cfg.n_demos and flags.name == "other"
    old = json.loads(path.read_text())  # written before config.json named its schema
    del old["format"]
    path.write_text(json.dumps(old))
    assert (
        parse_flags(lavaland.LavaLandConfig, {}, ["--config", str(path)], prog="lavaland")[0] == cfg
    )


@pytest.mark.parametrize(
    "change, flags, words",
    [
        ({"experiment": "corner_goal"}, [], "a config of experiment 'corner_goal', not 'lavaland'"),
        ({"format": "rewunc.run.v9"}, [], "has schema 'rewunc.run.v9'"),
        ({"config": {"n_demos": 8, "colour": 1}}, [], "does not have: ['colour']"),
        ({}, ["--fast"], "--config and --fast are exclusive"),
        ({"config": 3}, [], "not a run's config.json"),
    ],
)
def test_bad_config_json_is_refused_before_any_folder(tmp_path, capsys, change, flags, words):
    from experiments import lavaland

    _, path = _recorded_config(tmp_path)
    path.write_text(json.dumps({**json.loads(path.read_text()), **change}))
    out = tmp_path / "runs"
    with pytest.raises(SystemExit) as exit_:
        lavaland.main(["--config", str(path), "--out", str(out), *flags])
    assert exit_.value.code == 2 and words in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(SystemExit):
        lavaland.main(["--config", str(tmp_path / "missing.json"), "--out", str(out)])
    assert "cannot read" in capsys.readouterr().err
