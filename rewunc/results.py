"""A finished run, or a whole sweep, in pandas: one call each.

- :func:`load_run`: a run folder's config, tables (``episodes``, ``results`` and every other
  top-level CSV: ``seeds``, ``comparisons``, ``exactness``, ...), posteriors, deep agents and
  their training logs (:class:`RunResults`);
- :func:`training_logs`: every deep agent's SB3 ``progress.csv`` in a run, one frame;
- :func:`load_sweep`: a sweep's tidy table, one row per cell × study × split × agent with the
  swept settings and the seed as columns (its ``cells.csv``).

Everything is read from files (CSV, JSON, .npz, safetensors): loading never runs code.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from rewunc.posterior import RewardPosterior
from rewunc.runs import open_run

PROGRESS = "progress.csv"  # a deep agent's SB3 log (rewunc.agents.deep.training_log)


def read_table(path) -> pd.DataFrame:
    """One of rewunc's CSV tables: empty strings stay strings, "NaN"/"nan"/"" are NaN."""
    return pd.read_csv(path, keep_default_na=False, na_values=["NaN", "nan", ""])


@dataclass(frozen=True, eq=False)
class RunResults:
    """A run folder, loaded.

    Attributes:
        path: the folder.
        experiment: the experiment's name.
        config: the run's settings (config.json's ``config``), replayable with ``--config``.
        tables: every top-level CSV by name without ``.csv`` (``episodes``, ``results``, ...).
        stages: the finished stages' markers, by key.
    """

    path: Path
    experiment: str
    config: dict
    tables: dict[str, pd.DataFrame]
    stages: dict = field(repr=False)

    @property
    def episodes(self) -> pd.DataFrame:
        return self.tables["episodes"]

    @property
    def results(self) -> pd.DataFrame:
        return self.tables["results"]

    @property
    def posteriors(self) -> dict[tuple[str, int], RewardPosterior]:
        """Every posterior of the run, by (study, seed)."""
        out = {}
        for marker in self.stages.values():
            if marker.get("kind") == "posterior":
                npz = next(f for f in marker["files"] if f.endswith(".npz"))
                out[(marker["study"], int(marker["seed"]))] = RewardPosterior.load(self.path / npz)
        return out

    def _deep_markers(self) -> dict[tuple[str, int, str], dict]:
        return {
            (m["study"], int(m["seed"]), m["agent"]): m
            for m in self.stages.values()
            if m.get("kind") == "deep_agent"
        }

    def agent_folders(self) -> dict[tuple[str, int, str], Path]:
        """Every deep agent's folder, by (study, seed, agent name)."""
        return {
            key: (
                self.path / next(f for f in m["files"] if f.endswith("policy.safetensors"))
            ).parent
            for key, m in self._deep_markers().items()
        }

    def agent(self, study: str, seed: int, name: str, env=None):
        """A deep agent of the run as a stable-baselines3 model (the ``deep`` extra), rebuilt
        on ``env`` (default: the env it trained on, as its stage recorded it, or the run's
        ``env``)."""
        import gymnasium as gym

        from rewunc.agents.deep import load_agent

        folders = self.agent_folders()
        if (study, seed, name) not in folders:
            raise KeyError(f"no deep agent {name!r} of {study} seed {seed}; have {list(folders)}")
        if env is None:
            marker = self._deep_markers()[(study, seed, name)]
            env_id = marker.get("env") or self.config.get("env")
            kwargs = marker.get("env_kwargs")
            if kwargs is None:
                kwargs = json.loads(self.config.get("env_kwargs") or "{}")
            env = gym.make(env_id, **kwargs)
        return load_agent(folders[(study, seed, name)], env)

    def training_logs(self) -> pd.DataFrame:
        """Every deep agent's SB3 ``progress.csv``, stacked (:func:`training_logs`)."""
        return training_logs(self.path)


def load_run(path: str | os.PathLike) -> RunResults:
    """A run folder (``runs/<experiment>/<name>``): its config, tables, posteriors and agents."""
    path, info, stages = open_run(path)
    tables = {p.stem: read_table(p) for p in sorted(path.glob("*.csv"))}
    missing = [t for t in ("episodes", "results") if t not in tables]
    if missing:
        raise FileNotFoundError(
            f"{path}: no {', '.join(t + '.csv' for t in missing)}; the run has not finished "
            "(continue it with --resume)"
        )
    return RunResults(path, str(info.get("experiment")), info.get("config", {}), tables, stages)


def training_logs(path) -> pd.DataFrame:
    """Every deep agent's ``progress.csv`` in the run folder ``path``, stacked: SB3's columns
    plus ``study``, ``seed`` and ``agent``. Empty (no rows) when no agent wrote one (runs made
    before the logs existed)."""
    path, _, stages = open_run(path)
    frames = []
    for marker in stages.values():
        if marker.get("kind") != "deep_agent":
            continue
        log = next((f for f in marker["files"] if f.endswith(PROGRESS)), None)
        if log is None or not (path / log).exists():
            continue
        frame = pd.read_csv(path / log)
        frame.insert(0, "agent", marker["agent"])
        frame.insert(0, "seed", marker["seed"])
        frame.insert(0, "study", marker["study"])
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def load_sweep(path: str | os.PathLike) -> pd.DataFrame:
    """A finished sweep's (``runs/sweeps/<name>``) results: one row per cell × study × split ×
    agent, with the cell id, the swept settings and the seed as the first columns."""
    from rewunc.sweep import SweepError
    from rewunc.sweep.results import load

    path, _ = load(path)
    if not (path / "cells.csv").exists():
        raise SweepError(f"{path}: no cells.csv; the sweep has not finished (run it with --resume)")
    return read_table(path / "cells.csv")
