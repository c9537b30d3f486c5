"""Intervals for the quantities rewunc reports: rates over episodes, means over episodes, means
over seeds (the unit of replication).

- :func:`wilson_interval`: a binomial proportion; never zero-width at 0 or 1, always in [0, 1].
- :func:`bootstrap_interval`: the mean of one sample, percentile bootstrap.
- :func:`t_interval`: the mean over replicates (seeds' means), Student-t with R - 1 df.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

LEVEL = 0.95


def wilson_interval(successes: float, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (never zero-width at 0 or 1)."""
    if n == 0:
        return np.nan, np.nan
    z = stats.norm.ppf(0.5 + level / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    lo = 0.0 if successes == 0 else max(0.0, centre - half)  # exact at the ends, not 1e-17
    hi = 1.0 if successes == n else min(1.0, centre + half)
    return float(lo), float(hi)


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
    """Student-t interval of the mean over replicates (e.g. seeds' means) [R], R >= 2."""
    means = np.asarray(means, dtype=np.float64)
    centre, sem = means.mean(), means.std(ddof=1) / np.sqrt(len(means))
    half = stats.t.ppf(0.5 + level / 2, df=len(means) - 1) * sem
    return float(centre - half), float(centre + half)
