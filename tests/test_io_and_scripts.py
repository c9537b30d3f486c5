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
