"""Bucket-selection medians and percentiles give numpy's results bit for bit: random arrays of
many shapes (ties, constant runs, clusters far apart, heavy tails, float32), every percentile the
gates ask for and random ones, and the edges (0 and 100, NaN, an overflowing span)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assaykit.gating.quantiles import median, percentiles


def _arrays(rng: np.random.Generator, n: int) -> list[np.ndarray]:
    return [rng.normal(0, 1, n), rng.lognormal(0, 3, n), np.round(rng.normal(0, 1, n), 2),
            np.concatenate([rng.normal(0, 1e-9, n // 2), rng.normal(1e6, 1, n - n // 2)]),
            rng.integers(0, 5, n).astype(np.float64), rng.uniform(-1, 1, n).astype(np.float32),
            np.concatenate([np.zeros(max(n - 3, 0)), [1.0, 2.0, -1.0]]), rng.standard_cauchy(n)]


@pytest.mark.parametrize("n", [1, 2, 19_999, 20_000, 20_001, 20_002, 33_333, 100_000])
def test_equal_to_numpy(n: int) -> None:
    rng = np.random.default_rng(n)
    for values in _arrays(rng, n):
        before = values.copy()
        for q in ([0.5, 99.9], [0.5, 99.5, 99.9], [0.5, 99.5], [0.1, 99.9], [15.865, 84.135], [0.0, 50.0, 100.0],
                  list(rng.uniform(0, 100, 7))):
            assert percentiles(values, q) == tuple(float(v) for v in np.percentile(values, q)), (n, q)
        assert median(values) == float(np.median(values))
        assert median(np.abs(values - median(values))) == float(np.median(np.abs(values - np.median(values))))
        np.testing.assert_array_equal(values, before)  # the input is not touched


def test_nan_huge_and_subnormal_spans_go_to_numpy() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(0, 1, 50_000)
    values[[5, 77]] = np.nan
    assert np.isnan(median(values)) and np.isnan(percentiles(values, [50])[0])
    huge = np.concatenate([rng.normal(0, 1, 30_000), [-1.7e308, 1.7e308]])  # max - min overflows
    assert percentiles(huge, [0.5, 50, 99.5]) == tuple(float(v) for v in np.percentile(huge, [0.5, 50, 99.5]))
    assert median(huge) == float(np.median(huge))
    tiny32 = np.resize(np.array([0.0, 1e-44, 3e-40], dtype=np.float32), 30_001)  # single precision too
    assert percentiles(tiny32, [0, 40, 100]) == tuple(float(v) for v in np.percentile(tiny32, [0, 40, 100]))
    assert median(tiny32) == float(np.median(tiny32))
    tiny = np.resize([0.0, 5e-324, 1e-320], 30_001)  # a subnormal span (found by hypothesis)
    assert percentiles(tiny, [0, 40, 100]) == tuple(float(v) for v in np.percentile(tiny, [0, 40, 100]))
    assert median(tiny) == float(np.median(tiny))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=40),
       st.integers(20_001, 40_000), st.lists(st.floats(0, 100), min_size=1, max_size=5))
def test_equal_to_numpy_on_drawn_values(pool: list[float], n: int, q: list[float]) -> None:
    # few distinct values repeated: long runs of ties across bucket edges
    values = np.resize(np.asarray(pool), n)
    assert percentiles(values, q) == tuple(float(v) for v in np.percentile(values, q))
    assert median(values) == float(np.median(values))
