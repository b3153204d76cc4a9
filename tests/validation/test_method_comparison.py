"""Method comparison (assaykit/scoring/agreement.py's bland_altman, reused by validation): its
confidence intervals and the mean % difference.

Published example: Bland & Altman 1986 (Lancet 327:307-310), Table 1, peak expiratory flow rate
(l/min) of 17 subjects, the first reading with the Wright and the mini Wright meter: mean
difference -2.1, SD 38.8; its 95 % CI -2.1 +- 2.12 x 9.4 = -22.0 to 17.8; the limits' approximate
standard error sqrt(3 s^2 / n) = 16.3 and the CI of the lower limit (mean - 2 SD = -79.7) from -114.3
to -45.1 (the paper's section "Precision of estimated limits of agreement"; reused by Bland & Altman
1999 and Carkeet 2015)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from assaykit.scoring.agreement import bland_altman, loa_ci

WRIGHT = [494, 395, 516, 434, 476, 557, 413, 442, 650, 433, 417, 656, 267, 478, 178, 423, 427]
MINI = [512, 430, 520, 428, 500, 600, 364, 380, 658, 445, 432, 626, 260, 477, 259, 350, 451]


def test_bland_altman_reproduces_the_lancet_example() -> None:
    ba = bland_altman(np.array(MINI, float), np.array(WRIGHT, float))  # differences Wright - mini
    assert ba.n == 17
    assert ba.bias == pytest.approx(-2.1, abs=0.05) and ba.sd == pytest.approx(38.8, abs=0.05)
    assert ba.bias_ci == pytest.approx((-22.0, 17.8), abs=0.15)
    # the paper's approximate interval of the lower limit (2 SD), by its own formula from our SD ...
    se = math.sqrt(3 * ba.sd ** 2 / 17)
    assert se == pytest.approx(16.3, abs=0.05)
    t = stats.t.ppf(0.975, 16)
    lower_2sd = ba.bias - 2 * ba.sd
    assert (lower_2sd - t * se, lower_2sd + t * se) == pytest.approx((-114.3, -45.1), abs=0.2)
    # ... and the exact (noncentral t) interval of the same limit, checked by a second computation:
    # the quantiles of the pivot (mean + 2 SD) / s of 400 000 simulated normal samples of 17 give
    # the limit's interval mean - q SD; at n = 17 it lies further out than the approximation
    (low, high), _ = loa_ci(ba.bias, ba.sd, 17, 0.95, z=2.0)
    rng = np.random.default_rng(1986)
    samples = rng.normal(size=(400_000, 17))
    pivot = (samples.mean(axis=1) + 2.0) / samples.std(axis=1, ddof=1)
    q_low, q_high = np.quantile(pivot, [0.025, 0.975])
    assert (low, high) == pytest.approx((ba.bias - q_high * ba.sd, ba.bias - q_low * ba.sd), abs=1.0)
    assert low < -114.3 and high < -45.1


def test_exact_limit_intervals_cover_and_approach_the_approximation() -> None:
    """Ground truth: normal differences (mean 5, SD 10): the exact 95 % intervals of the upper limit
    mean + 1.96 SD cover it about 95 % of the time at n = 15; at n = 2000 they equal Bland & Altman's
    approximation limit +- t sqrt(3 s^2 / n) closely (a second computation)."""
    rng = np.random.default_rng(12)
    truth = 5 + 1.96 * 10
    covered = 0
    for _ in range(2000):
        d = rng.normal(5, 10, 15)
        _, (low, high) = loa_ci(float(d.mean()), float(d.std(ddof=1)), 15)
        covered += low <= truth <= high
    assert 0.935 <= covered / 2000 <= 0.965
    n, mean, sd = 2000, 5.0, 10.0
    (l_low, l_high), (u_low, u_high) = loa_ci(mean, sd, n)
    # the approximation's SE uses 1 + z^2/2 ~ 3 (Bland & Altman round 1.96^2 / 2 + 1 = 2.92 up)
    half = stats.t.ppf(0.975, n - 1) * math.sqrt((1 / n + 1.96 ** 2 / (2 * (n - 1))) * sd ** 2)
    assert (u_low, u_high) == pytest.approx((mean + 1.96 * sd - half, mean + 1.96 * sd + half), abs=0.02)
    assert (l_low, l_high) == pytest.approx((mean - 1.96 * sd - half, mean - 1.96 * sd + half), abs=0.02)


def test_mean_percent_difference_from_the_reference() -> None:
    x = np.array([100.0, 200.0, 400.0, 800.0])
    y = np.array([110.0, 210.0, 440.0, 800.0])
    ba = bland_altman(x, y)
    assert ba.mean_difference_pct == pytest.approx((10 + 5 + 10 + 0) / 4)
    by_hand = 100 * (y - x) / x
    half = stats.t.ppf(0.975, 3) * by_hand.std(ddof=1) / 2
    assert ba.mean_difference_pct_ci == pytest.approx((by_hand.mean() - half, by_hand.mean() + half))
    assert ba.bias_pct_ci[0] < ba.bias_pct < ba.bias_pct_ci[1]
    assert math.isnan(bland_altman(np.array([0.0, 1.0]), np.array([1.0, 2.0])).mean_difference_pct)
