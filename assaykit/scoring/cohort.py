"""Cohort statistics per drug: paired drug vs unstimulated across patients (docs/scoring.md)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from .rows import RestorationRow


@dataclass(frozen=True)
class DrugStatistics:
    condition: str
    n_pairs: int
    median_fold_change: float | None
    ci_low: float | None  # distribution-free CI of the median (order statistics)
    ci_high: float | None
    ci_coverage: float | None  # the CI's exact coverage (>= 0.95 when n >= 6; less below)
    wilcoxon_p: float | None  # two-sided signed-rank test on log AB/C (drug - control)
    holm_p: float | None  # Holm-adjusted over the drugs tested


def median_ci(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """Distribution-free CI of a median from order statistics: the narrowest symmetric pair
    (x_(k), x_(n+1-k)) whose binomial coverage is >= ``level``; with too few values for that
    level, the range (min, max) and its coverage 1 - 2^(1-n)."""
    from scipy.stats import binom

    x = np.sort(np.asarray(values, dtype=np.float64))
    n = x.size
    best = (float(x[0]), float(x[-1]), float(1 - 2.0 ** (1 - n)))
    for k in range(1, n // 2 + 1):
        coverage = float(binom.cdf(n - k, n, 0.5) - binom.cdf(k - 1, n, 0.5))
        if coverage < level:
            break
        best = (float(x[k - 1]), float(x[n - k]), coverage)
    return best


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm step-down adjusted p-values (None stays None)."""
    indexed = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(indexed)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(indexed):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def drug_statistics(pairs: dict[str, list[tuple[float, float]]]) -> list[DrugStatistics]:
    """Per drug, from (control AB/C, drug AB/C) pairs: n, median fold change with its CI,
    Wilcoxon signed-rank p on log AB/C and Holm-adjusted p. Drugs in sorted order."""
    from scipy.stats import wilcoxon

    rows = []
    for condition in sorted(pairs):
        data = [(c, d) for c, d in pairs[condition] if c > 0 and d > 0]
        n = len(data)
        if n == 0:
            rows.append(DrugStatistics(condition, 0, None, None, None, None, None, None))
            continue
        folds = [d / c for c, d in data]
        low, high, coverage = median_ci(folds)
        diffs = [math.log(d) - math.log(c) for c, d in data]
        p = None
        if n >= 2 and any(v != 0 for v in diffs):
            p = float(wilcoxon(diffs, alternative="two-sided").pvalue)
        rows.append(DrugStatistics(condition, n, float(np.median(folds)), low, high, coverage, p, None))
    adjusted = holm([r.wilcoxon_p for r in rows])
    return [replace(r, holm_p=a) for r, a in zip(rows, adjusted, strict=True)]


def drug_pairs(restoration_rows: Sequence[RestorationRow]) -> dict[str, list[tuple[float, float]]]:
    """(control AB/C, drug AB/C) per drug condition, from ``restoration_rows`` where both exist."""
    pairs: dict[str, list[tuple[float, float]]] = {}
    for r in restoration_rows:
        if r.control_abc is not None and r.abc is not None:
            pairs.setdefault(r.condition, []).append((r.control_abc, r.abc))
    return pairs
