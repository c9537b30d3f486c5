"""experiments/choice_recovery.py: refuses bad flags before any work, and runs end to end."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "experiments"))
import choice_recovery  # noqa: E402


@pytest.mark.parametrize(
    "flags, field",
    [
        (["--constructions", "bogus"], "--constructions"),
        (["--mix", "0"], "--mix"),
        (["--seeds", "1", "1"], "--seeds"),
        (["--n-alternatives", "0"], "--n-alternatives"),
    ],
)
def test_bad_flags_are_refused_before_any_folder_is_made(flags, field, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        choice_recovery.main([*flags, "--out", str(tmp_path / "out")])
    assert exit_.value.code == 2 and field in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_fast_recovery_writes_its_table(tmp_path, capsys):
    out = tmp_path / "out"
    assert choice_recovery.main(["--fast", "--constructions", "mixture", "--out", str(out)]) == 0
    rows = json.loads((out / "recovery.json").read_text())["rows"]
    assert [r["construction"] for r in rows] == ["mixture"]
    row = rows[0]
    for key in ("relerr_ground", "relerr_mud", "mud_over_ground", "regret_train", "regret_lava"):
        assert key in row
    assert row["normaliser_ess"] >= 1.0 and row["beta"] > 0
    assert "mixture" in capsys.readouterr().out
    assert choice_recovery.main(["--fast", "--out", str(out)]) == 2  # refuses to overwrite
