"""Intervals (rewunc.stats) by hand and by coverage."""

import numpy as np
import pytest

from rewunc.stats import (
    bootstrap_interval,
    mcnemar,
    t_interval,
    two_level_bootstrap,
    two_level_draws,
    wilson_interval,
)


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


def _exact_two_level(groups):
    """The exact distribution of the two-level bootstrap mean, by enumeration: every draw of
    the groups, then every within-group resample of each drawn group."""
    import itertools
    from collections import Counter

    R = len(groups)
    dist = Counter()
    for picks in itertools.product(range(R), repeat=R):
        within = [
            [np.mean(x) for x in itertools.product(groups[r], repeat=len(groups[r]))] for r in picks
        ]
        for means in itertools.product(*within):
            dist[round(float(np.mean(means)), 9)] += 1
    total = sum(dist.values())
    return {v: c / total for v, c in sorted(dist.items())}


def test_two_level_bootstrap_matches_the_distribution_enumerated_by_hand():
    # seed A's episodes 0, 1; seed B's 1, 1. By hand: the draw (A, A) (prob 1/4) averages two
    # resamples of A, each 0, 1/2, 1 w.p. 1/4, 1/2, 1/4; (B, B) is 1; (A, B) and (B, A) give
    # (mean of an A resample + 1) / 2. P(0) = 1/4 · 1/16 = 1/64; P(1) = 1/4 · 1/16 + 1/4 +
    # 1/2 · 1/4 = 25/64.
    exact = _exact_two_level([[0.0, 1.0], [1.0, 1.0]])
    assert exact[0.0] == pytest.approx(1 / 64) and exact[1.0] == pytest.approx(25 / 64)
    values, seeds = np.array([0.0, 1.0, 1.0, 1.0]), np.array([0, 0, 1, 1])
    draws = two_level_draws(values, seeds, np.random.default_rng(0), n_boot=40_000)
    for v, p in exact.items():
        assert np.mean(np.isclose(draws, v)) == pytest.approx(p, abs=0.01)
    assert np.isin(np.round(draws, 9), list(exact)).all()  # no value the bootstrap cannot make
    # the percentile interval: exact quantiles of that distribution
    cdf = np.cumsum(list(exact.values()))
    support = np.array(list(exact))
    lo, hi = support[np.searchsorted(cdf, 0.025)], support[np.searchsorted(cdf, 0.975)]
    assert two_level_bootstrap(values, seeds, np.random.default_rng(1), 40_000) == (lo, hi)


def test_two_level_bootstrap_stays_in_bounds_where_student_t_does_not():
    # three seeds' hazard rates 0.09, 0.14, 0.88 (100 episodes each): Student-t leaves [0, 1]
    rng = np.random.default_rng(0)
    rates = (0.09, 0.14, 0.88)
    values = np.concatenate([(np.arange(100) < 100 * r).astype(float) for r in rates])
    seeds = np.repeat([0, 1, 2], 100)
    lo, hi = two_level_bootstrap(values, seeds, rng)
    assert 0.0 <= lo < np.mean(rates) < hi <= 1.0
    assert t_interval(np.array(rates))[0] < 0.0
    # one seed: the ordinary bootstrap over its episodes
    one = two_level_bootstrap(values[:100], seeds[:100], np.random.default_rng(2))
    assert one == pytest.approx(
        bootstrap_interval(values[:100], np.random.default_rng(3)), abs=0.02
    )


def test_mcnemar_by_hand():
    a = np.array([1, 1, 1, 1, 1, 0, 0, 1], bool)
    b = np.array([0, 0, 0, 0, 0, 0, 1, 1], bool)
    test = mcnemar(a, b)
    # 5 discordant a-only, 1 b-only: two-sided exact p = 2 · P(X ≥ 5 | n=6, 1/2) = 2 · 7/64
    assert (test["a_only"], test["b_only"]) == (5, 1)
    assert test["p_value"] == pytest.approx(14 / 64)
    assert mcnemar(a, a)["p_value"] == 1.0
    with pytest.raises(ValueError, match="one shape"):
        mcnemar(a, b[:3])
