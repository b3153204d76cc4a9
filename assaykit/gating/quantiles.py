"""Medians and percentiles of large arrays, exactly numpy's, by bucket selection.

``numpy.median`` and ``numpy.percentile`` partition a copy of the whole array. Here the values
are first counted into 4,096 buckets between their minimum and maximum (the bucket index is
monotonic in the value, so every value of a lower bucket is at most every value of a higher one),
and only the bucket holding each wanted rank is partitioned. The order statistics are therefore
the ones numpy finds, and the interpolation between them is numpy's own formula (the ``linear``
method, Hyndman and Fan's 7th); tests compare the results bit for bit. Used by the automatic
gates, whose statistics run over every event of a tube; arrays of up to 20,000 values, and any
array holding NaN or spanning more than the float range, go to numpy directly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_BUCKETS = 4096
_SMALL = 20_000  # at or below this many values numpy's partition is as fast


def median(values: np.ndarray) -> float:
    """``numpy.median`` of a 1-D float array.

    Parameters
    ----------
    values : ndarray
        The values (any units); not modified.
    """
    n = values.size
    middle = [n // 2] if n % 2 else [n // 2 - 1, n // 2]
    found = _order_statistics(values, middle) if n > _SMALL else None
    return float(np.median(values)) if found is None else float(np.mean(found))


def percentiles(values: np.ndarray, q: Sequence[float]) -> tuple[float, ...]:
    """``numpy.percentile(values, q)`` (method ``linear``) of a 1-D float array.

    Parameters
    ----------
    values : ndarray
        The values (any units); not modified.
    q : sequence of float
        Percentiles, 0-100.
    """
    n = values.size
    virtual = (n - 1) * np.true_divide(np.asarray(q, dtype=np.float64), 100)
    floor = np.floor(virtual)
    gamma = virtual - floor
    previous, following = floor.copy(), floor + 1
    above, below = virtual >= n - 1, virtual < 0
    previous[above], following[above] = n - 1, n - 1
    previous[below], following[below] = 0, 0
    previous, following = previous.astype(np.intp), following.astype(np.intp)
    ranks = np.unique(np.concatenate([previous, following]))
    found = _order_statistics(values, ranks) if n > _SMALL else None
    if found is None:
        return tuple(float(v) for v in np.percentile(values, q))
    value_at = dict(zip(ranks.tolist(), found.tolist(), strict=True))
    a = np.array([value_at[i] for i in previous.tolist()], dtype=values.dtype)
    b = np.array([value_at[i] for i in following.tolist()], dtype=values.dtype)
    diff = b - a
    result = a + diff * gamma
    np.subtract(b, diff * (1 - gamma), out=result, where=gamma >= 0.5)
    return tuple(float(v) for v in result)


def _order_statistics(values: np.ndarray, ranks: Sequence[int] | np.ndarray) -> np.ndarray | None:
    """The values at 0-based ``ranks`` of sorted ``values``, in the order of ``ranks``; None when
    the values hold NaN or infinity or their span overflows or is subnormal (numpy's own
    functions then)."""
    ranks = np.asarray(ranks, dtype=np.intp)
    low, high = float(values.min()), float(values.max())
    if not np.isfinite(high - low):  # NaN, infinite values or an overflowing span
        return None
    if low == high:
        return np.full(ranks.size, low, dtype=values.dtype)
    per_unit = _BUCKETS / (high - low)
    if not np.isfinite(per_unit):  # a span of a few subnormal numbers
        return None
    offsets = np.subtract(values, low, dtype=np.float64)  # in double precision whatever the input
    offsets *= per_unit
    bucket = offsets.astype(np.intp)
    np.minimum(bucket, _BUCKETS - 1, out=bucket)
    counts = np.bincount(bucket, minlength=_BUCKETS)
    ends = np.cumsum(counts)  # values in this bucket and every lower one
    holding = np.searchsorted(ends, ranks, side="right")
    out = np.empty(ranks.size, dtype=values.dtype)
    for b in np.unique(holding).tolist():
        members = values[bucket == b]
        local = ranks[holding == b] - (ends[b] - counts[b])
        out[holding == b] = np.partition(members, local)[local]
    return out
