"""Run directories: ``runs/<experiment>/<name>/`` with a manifest of what finished.

    config.json          the experiment's configuration (a resumed run must match it)
    manifest.json        finished stages, in order, with their files
    demos_*.npz, posterior_*.{npz,json}, cells/*.csv   per-stage artefacts
    episodes.csv, results.csv, figures/*.png           the end products

Every file is written atomically (temp file + ``os.replace``) and a stage is recorded in the
manifest only after its files are on disk, so a run killed at any moment resumes (``resume=True``)
by redoing just the stage that was cut off: nothing is lost and nothing is counted twice. An
existing run is never overwritten unless ``force=True``.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import pandas as pd

from rewunc.io import atomic_write, write_json

MANIFEST = "manifest.json"


class RunError(RuntimeError):
    """A run directory cannot be created or resumed as asked."""


def slug(text: str) -> str:
    """A file-name-safe form of a stage key: "lava/CVaR(alpha=0.9)" -> "lava-CVaR_alpha=0.9"."""
    return re.sub(r"[^A-Za-z0-9.=-]+", "_", text.replace("/", "-")).strip("_")


class Run:
    """An experiment's run directory (use :meth:`start`)."""

    def __init__(self, path: Path, manifest: dict):
        self.path = path
        self._manifest = manifest

    @classmethod
    def start(
        cls,
        root: str | Path,
        experiment: str,
        name: str,
        config: dict,
        *,
        force: bool = False,
        resume: bool = False,
    ) -> Run:
        """Create ``root/experiment/name``, or continue it (``resume``) or replace it (``force``).

        Raises RunError if the run exists and neither flag is given, if ``resume`` meets a
        different configuration, or if ``force`` would delete a folder that is not a run.
        """
        if force and resume:
            raise RunError("--force and --resume are exclusive: start over, or continue")
        path = Path(root) / experiment / name
        config = json.loads(json.dumps(config))  # the JSON form is what is compared on resume
        manifest_path = path / MANIFEST
        if path.exists() and any(path.iterdir()):
            if not manifest_path.exists():
                raise RunError(
                    f"{path} exists and is not a rewunc run (no {MANIFEST}); not touching it"
                )
            if resume:
                old = json.loads((path / "config.json").read_text())
                if old != config:
                    raise RunError(
                        f"{path}: cannot resume with a different configuration (differs in "
                        f"{_differences(old, config)}); use another --name, or --force"
                    )
                return cls(path, json.loads(manifest_path.read_text()))
            if not force:
                raise RunError(
                    f"{path} already holds a run; pass --resume to continue it or --force to "
                    "replace it"
                )
            shutil.rmtree(path)
        path.mkdir(parents=True, exist_ok=True)
        write_json(path / "config.json", config, force=True)
        manifest = {"experiment": experiment, "name": name, "created": time.time(), "stages": {}}
        write_json(manifest_path, manifest, force=True)
        return cls(path, manifest)

    # ---- stages -------------------------------------------------------------------------

    def done(self, key: str) -> bool:
        return key in self._manifest["stages"]

    def finish(self, key: str, **info) -> None:
        """Record stage ``key`` as finished (after its files are written)."""
        self._manifest["stages"][key] = {"finished": time.time(), **info}
        write_json(self.path / MANIFEST, self._manifest, force=True)

    def claim(self, key: str, relative: str) -> Path:
        """The path stage ``key`` may write: refused if another finished stage owns that file,
        so two stages whose names collide can never overwrite each other's results."""
        for other, info in self._manifest["stages"].items():
            if other != key and info.get("file") == relative:
                raise RunError(
                    f"stage {key!r} would overwrite {relative}, which belongs to {other!r}"
                )
        return self.file(relative)

    def file(self, relative: str) -> Path:
        return self.path / relative

    # ---- tables -------------------------------------------------------------------------

    def write_table(self, relative: str, rows: list[dict]) -> Path:
        """Write rows as CSV atomically. Stage files are rewritten freely (a stage that did not
        finish may have left one); the end products are rewritten as the run completes."""
        frame = pd.DataFrame(rows)
        return atomic_write(
            self.file(relative), lambda tmp: frame.to_csv(tmp, index=False), force=True
        )

    def read_table(self, relative: str) -> pd.DataFrame:
        return pd.read_csv(self.file(relative), keep_default_na=False, na_values=["NaN", "nan"])

    def cell(self, key: str, compute) -> pd.DataFrame:
        """The episodes of cell ``key``: read back if finished, else ``compute()`` rows, save them
        (``cells/<slug>.csv``) and mark the cell finished."""
        relative = f"cells/{slug(key)}.csv"
        if not self.done(key):
            self.claim(key, relative)
            rows = compute()
            self.write_table(relative, rows)
            self.finish(key, file=relative, rows=len(rows))
        return self.read_table(relative)


def open_run(path: str | Path) -> tuple[Path, dict, dict]:
    """An existing run's folder, configuration and manifest (for re-plotting)."""
    path = Path(path)
    if not (path / MANIFEST).exists() or not (path / "config.json").exists():
        raise RunError(f"{path}: not a rewunc run directory (no {MANIFEST} / config.json)")
    return (
        path,
        json.loads((path / "config.json").read_text()),
        json.loads((path / MANIFEST).read_text()),
    )


def _differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k}")
    return out
