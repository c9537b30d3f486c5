"""Intervals for the quantities rewunc reports: rates over episodes, means over episodes, means
over seeds (the unit of replication).

- :func:`wilson_interval`: a binomial proportion; never zero-width at 0 or 1, always in [0, 1].
- :func:`bootstrap_interval`: the mean of one sample, percentile bootstrap.
- :func:`t_interval`: the mean over replicates (seeds' means), Student-t with R - 1 df.
- :func:`two_level_bootstrap`: the mean over seeds of each seed's mean over its episodes,
  resampling seeds, then episodes within each drawn seed (the two sources of variation a study
  has); a percentile interval, so inside the quantity's bounds whatever the number of seeds.
- :func:`mcnemar`: the exact McNemar test of two paired binary outcomes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

LEVEL = 0.95


def wilson_interval(successes: float, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (never zero-width at 0 or 1), scipy's
    ``binomtest(...).proportion_ci(method="wilson")``; ``successes`` a whole number."""
    if n == 0:
        return np.nan, np.nan
    k = int(round(float(successes)))
    if abs(k - float(successes)) > 1e-9 or not 0 <= k <= n:
        raise ValueError(f"successes: expected a whole number in [0, {n}], got {successes!r}")
    ci = stats.binomtest(k, int(n)).proportion_ci(confidence_level=level, method="wilson")
    return float(ci.low), float(ci.high)


def bootstrap_interval(
    values: np.ndarray, rng: np.random.Generator, n_boot: int = 2000, level: float = LEVEL
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` [N]."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return np.nan, np.nan
    means = values[rng.integers(len(values), size=(n_boot, len(values)))].mean(1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def t_interval(means: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """Student-t interval of the mean over replicates (e.g. seeds' means) [R], R >= 2:
    scipy's ``t.interval`` at the standard error of the mean."""
    means = np.asarray(means, dtype=np.float64)
    lo, hi = stats.t.interval(level, len(means) - 1, loc=means.mean(), scale=stats.sem(means))
    return float(lo), float(hi)


def two_level_draws(
    values: np.ndarray, groups: Sequence, rng: np.random.Generator, n_boot: int = 2000
) -> np.ndarray:
    """Bootstrap draws [n_boot] of the mean over groups (seeds) of each group's mean of
    ``values`` [N]: each draw resamples the groups with replacement, then, within each drawn
    group, its values with replacement (a group drawn twice is resampled twice)."""
    values = np.asarray(values, dtype=np.float64)
    groups = np.asarray(groups)
    members = [values[groups == g] for g in dict.fromkeys(groups.tolist())]
    R = len(members)
    picks = rng.integers(R, size=(n_boot, R))
    draws = np.zeros(n_boot)
    for r, x in enumerate(members):  # the draws that picked group r, resampled within it
        rows, count = np.unique(np.nonzero(picks == r)[0], return_counts=True)
        times = np.repeat(rows, count)  # one within-group resample per time it was picked
        means = x[rng.integers(len(x), size=(len(times), len(x)))].mean(1)
        np.add.at(draws, times, means)
    return draws / R


def two_level_bootstrap(
    values: np.ndarray,
    groups: Sequence,
    rng: np.random.Generator,
    n_boot: int = 2000,
    level: float = LEVEL,
) -> tuple[float, float]:
    """Percentile interval of :func:`two_level_draws`: the mean over seeds of the seeds' means,
    with seeds and the episodes within them both resampled. Every draw is a mean of the values,
    so the interval never leaves their range (a rate stays in [0, 1], a gap above 0)."""
    if len(values) == 0:
        return np.nan, np.nan
    draws = two_level_draws(values, groups, rng, n_boot)
    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def mcnemar(a: np.ndarray, b: np.ndarray) -> dict:
    """Exact McNemar test of paired binary outcomes a, b [N] (the same layouts): under H0 the
    discordant pairs split evenly, so ``a_only`` ~ Binomial(a_only + b_only, 1/2). Returns
    ``a_only`` (a and not b), ``b_only`` and the two-sided ``p_value`` (1 with no discordant
    pair)."""
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"mcnemar: paired outcomes need one shape, got {a.shape} and {b.shape}")
    a_only, b_only = int((a & ~b).sum()), int((b & ~a).sum())
    n = a_only + b_only
    p = 1.0 if n == 0 else float(stats.binomtest(a_only, n, 0.5).pvalue)
    return {"a_only": a_only, "b_only": b_only, "p_value": p}
