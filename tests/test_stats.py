"""Intervals (rewunc.stats) by hand and by coverage."""

import numpy as np
import pytest

from rewunc.stats import bootstrap_interval, t_interval, wilson_interval


def test_wilson_interval_by_hand_and_never_degenerate():
    # 100 hazards in 100 episodes: [0.963, 1], not [1, 1]
    lo, hi = wilson_interval(100, 100)
    assert hi == 1.0 and lo == pytest.approx(0.96300, abs=1e-4)
    lo, hi = wilson_interval(0, 12)
    assert lo == 0.0 and hi == pytest.approx(0.2425, abs=1e-3)
    # by hand: p = 0.3, n = 50, z = 1.96
    z, p, n = 1.959964, 0.3, 50
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert wilson_interval(15, 50) == pytest.approx((centre - half, centre + half))


def test_coverage_of_the_wilson_interval():
    rng = np.random.default_rng(0)
    p, n = 0.93, 100
    hits = sum(
        lo <= p <= hi for lo, hi in (wilson_interval(k, n) for k in rng.binomial(n, p, 2000))
    )
    assert 0.92 <= hits / 2000 <= 0.98


def test_bootstrap_interval_covers_a_known_mean():
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(200):
        x = rng.normal(3.0, 1.0, size=60)
        lo, hi = bootstrap_interval(x, rng, n_boot=500)
        hits += lo <= 3.0 <= hi
    assert 0.88 <= hits / 200 <= 0.99  # nominal 95%, percentile bootstrap at n=60
    assert bootstrap_interval(np.full(5, 2.0), rng) == (2.0, 2.0)


def test_t_interval_over_replicates_by_hand_and_by_coverage():
    means = np.array([0.2, 0.4, 0.3])
    half = 4.302653 * means.std(ddof=1) / np.sqrt(3)  # t_{0.975, 2}
    assert t_interval(means) == pytest.approx((0.3 - half, 0.3 + half), rel=1e-5)
    rng = np.random.default_rng(1)
    hits = sum(
        lo <= 1.0 <= hi for lo, hi in (t_interval(rng.normal(1.0, 2.0, 5)) for _ in range(2000))
    )
    assert 0.93 <= hits / 2000 <= 0.97
