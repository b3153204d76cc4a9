"""Cohort statistics: order-statistic CI of the median, Holm adjustment, Wilcoxon."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom, wilcoxon

from assaykit.scoring.cohort import drug_statistics, holm, median_ci


def test_median_ci_coverage_is_exact() -> None:
    values = np.arange(1.0, 21.0)  # n = 20: the classic interval is (x_6, x_15), coverage 0.9586
    low, high, coverage = median_ci(values)
    assert (low, high) == (6.0, 15.0)
    assert coverage == pytest.approx(binom.cdf(14, 20, 0.5) - binom.cdf(5, 20, 0.5))
    low, high, coverage = median_ci([3.0, 1.0, 2.0])  # too few for 95 %: the range and its coverage
    assert (low, high, coverage) == (1.0, 3.0, 0.75)


def test_holm_against_hand_computation() -> None:
    assert holm([0.01, 0.04, 0.03, None]) == pytest.approx([0.03, 0.06, 0.06, None])
    assert holm([0.5, 0.9]) == [1.0, 1.0]


def test_drug_statistics() -> None:
    pairs = {"IFN-gamma": [(1000.0, 3000.0), (2000.0, 5000.0), (4000.0, 6000.0), (3000.0, 9000.0),
                           (5000.0, 9000.0), (2500.0, 7000.0)],
             "IL-7": [(1000.0, 1100.0)]}
    rows = {r.condition: r for r in drug_statistics(pairs)}
    ifn = rows["IFN-gamma"]
    folds = [3.0, 2.5, 1.5, 3.0, 1.8, 2.8]
    assert ifn.n_pairs == 6 and ifn.median_fold_change == pytest.approx(np.median(folds))
    diffs = [np.log(d) - np.log(c) for c, d in pairs["IFN-gamma"]]
    assert ifn.wilcoxon_p == pytest.approx(wilcoxon(diffs).pvalue)
    assert rows["IL-7"].wilcoxon_p is None and rows["IL-7"].n_pairs == 1
    assert ifn.holm_p == pytest.approx(ifn.wilcoxon_p)  # the only drug with a test
