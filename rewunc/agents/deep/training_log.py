"""What a deep agent's training leaves behind: SB3's own logs and a validation curve.

- :func:`quiet_logger`: an SB3 logger that writes no files (the default of ``train_agent``);
- :func:`file_logger`: SB3's CSV log (``progress.csv``, the file every SB3 user reads; without
  its wall-clock columns, so the same training gives the same bytes), and
  TensorBoard on request, written into a partial folder and moved into place when training ends
  (:func:`finish_log`), so a killed run never leaves half a ``progress.csv`` that looks whole;
- :class:`ValidationCallback`: every ``every`` steps the greedy policy on fixed validation
  layouts (:class:`rewunc.evaluate.EvalLayouts`): ``eval/timesteps`` (the step it was scored
  at; SB3 writes one row per rollout), ``eval/goal_rate``, ``eval/hazard_rate``,
  ``eval/return`` and, on tabular layouts, ``eval/regret`` go into the log beside SB3's own
  columns (``rollout/ep_rew_mean``, RiskAversePPO's ``risk/...``); optionally it stops training
  once the goal rate reaches ``stop_at``.

Evaluating draws nothing from the learner's random streams (the policy is greedy, the layouts
have their own seeds), so an agent trained with a log has the same parameters as one without.
"""

from __future__ import annotations

import csv
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import (
    HumanOutputFormat,
    KVWriter,
    Logger,
    filter_excluded_keys,
    make_output_format,
)

PROGRESS = "progress.csv"
TENSORBOARD = "tensorboard"
_PARTIAL = ".training-log.partial"
# validation layouts are drawn from VALIDATION_SEED + the learner's seed: never a study's
# evaluation layouts (drawn from the study seed itself)
VALIDATION_SEED = 1_000_000


# wall-clock columns: left out of progress.csv, a stage file (nothing timed goes into one, so a
# stage redone after a kill has the same bytes); TensorBoard and the printed table keep them
TIMING = frozenset({"time/fps", "time/time_elapsed"})


class TimelessCSV(KVWriter):
    """SB3's CSV log, with its columns in sorted order (SB3's own adds new columns in set
    order, which varies between processes) and without the wall-clock columns (``TIMING``)."""

    def __init__(self, filename: str):
        self.filename = filename
        self.keys: list[str] = []
        self.rows: list[dict] = []

    def write(self, key_values, key_excluded, step=0):
        row = filter_excluded_keys(key_values, key_excluded, "csv")
        row = {k: v for k, v in row.items() if k not in TIMING}
        self.keys += sorted(row.keys() - set(self.keys))
        self.rows.append(row)
        with open(self.filename, "w", newline="") as fh:  # a few hundred rows: rewrite all
            out = csv.writer(fh)
            out.writerow(self.keys)
            out.writerows(
                [["" if r.get(k) is None else str(r[k]) for k in self.keys] for r in self.rows]
            )

    def close(self) -> None:
        pass


def quiet_logger(verbose: int = 0) -> Logger:
    """An SB3 logger that writes no files: values are recorded as usual (``logger.name_to_value``,
    e.g. RiskAversePPO's ``risk/...``), and printed as SB3's table with ``verbose >= 1``.

    Without a logger of its own, every ``learn()`` makes an empty ``SB3-<date>`` folder in the
    temp dir (SB3's ``configure_logger`` → ``logger.configure(folder=None)``)."""
    return Logger(folder=None, output_formats=[HumanOutputFormat(sys.stdout)] if verbose else [])


def file_logger(folder, *, verbose: int = 0, tensorboard: bool = False) -> Logger:
    """An SB3 logger writing ``progress.csv`` (and TensorBoard events with ``tensorboard``) into
    ``folder/.training-log.partial/``; :func:`finish_log` moves them into ``folder``."""
    partial = Path(folder) / _PARTIAL
    shutil.rmtree(partial, ignore_errors=True)  # a killed run's leftovers
    partial.mkdir(parents=True)
    formats = [TimelessCSV(str(partial / PROGRESS))]
    if tensorboard:
        formats.append(make_output_format("tensorboard", str(partial / TENSORBOARD)))
    if verbose:
        formats.append(HumanOutputFormat(sys.stdout))
    return Logger(folder=str(partial), output_formats=formats)


def finish_log(logger: Logger, folder) -> Path:
    """Close ``logger`` (from :func:`file_logger`) and move its files into ``folder``; returns
    the path of ``progress.csv``."""
    logger.close()
    folder = Path(folder)
    partial = folder / _PARTIAL
    if (partial / TENSORBOARD).exists():
        shutil.rmtree(folder / TENSORBOARD, ignore_errors=True)
        os.replace(partial / TENSORBOARD, folder / TENSORBOARD)
    os.replace(partial / PROGRESS, folder / PROGRESS)  # atomic: one file system
    shutil.rmtree(partial, ignore_errors=True)
    return folder / PROGRESS


class ValidationCallback(BaseCallback):
    """Every ``every`` steps and when training ends, the greedy policy on ``layouts``
    (:class:`rewunc.evaluate.EvalLayouts`), recorded in the model's logger as ``eval/...``;
    stops training once the goal rate reaches ``stop_at`` (None: never).

    ``history`` holds (steps, training seconds, goal rate) per check; training seconds exclude
    the time spent evaluating."""

    def __init__(self, layouts, every: int = 10_000, stop_at: float | None = None):
        super().__init__()
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every: expected an int >= 1, got {every!r}")
        self.layouts, self.every = layouts, every
        self.stop_at = None if stop_at is None else float(stop_at)
        self.history: list[tuple[int, float, float]] = []
        self._next = self.every
        self._evaluating = 0.0
        self._checked_at = -1

    def _on_training_start(self) -> None:
        self._t0 = time.perf_counter()

    def _check(self) -> float:
        from rewunc.evaluate import evaluate

        start = time.perf_counter()
        train_seconds = start - self._t0 - self._evaluating
        rows = evaluate(self.model, self.layouts, name="validation", seed=0)
        outcomes = np.array([r["outcome"] for r in rows])
        rate = float(np.mean(outcomes == "goal"))
        self.logger.record("eval/timesteps", self.num_timesteps)  # SB3 dumps once per rollout
        self.logger.record("eval/goal_rate", rate)
        self.logger.record("eval/hazard_rate", float(np.mean(outcomes == "hazard")))
        self.logger.record("eval/return", float(np.mean([r["return"] for r in rows])))
        if all("regret" in r for r in rows):
            self.logger.record("eval/regret", float(np.mean([r["regret"] for r in rows])))
        self._evaluating += time.perf_counter() - start
        self.history.append((self.num_timesteps, train_seconds, rate))
        self._checked_at = self.num_timesteps
        return rate

    def _on_step(self) -> bool:
        if self.num_timesteps < self._next:
            return True
        self._next += self.every
        if self.num_timesteps >= self.model._total_timesteps:
            return True  # the last update is still to come: checked when training ends
        rate = self._check()
        return self.stop_at is None or rate < self.stop_at

    def _on_training_end(self) -> None:
        if self._checked_at != self.num_timesteps:  # the final policy, in its own row
            self._check()
            self.logger.record("time/total_timesteps", self.num_timesteps)
            self.logger.dump(self.num_timesteps)
