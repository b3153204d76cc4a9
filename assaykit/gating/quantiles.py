"""Medians and percentiles of large arrays, exactly numpy's, by bucket selection.

``numpy.median`` and ``numpy.percentile`` partition a copy of the whole array. Here the values
are first counted into 4,096 buckets between their minimum and maximum (the bucket index is
monotonic in the value, so every value of a lower bucket is at most every value of a higher one),
and only the bucket holding each wanted rank is partitioned. The order statistics are therefore
the ones numpy finds, and the interpolation between them is numpy's own formula (the ``linear``
method, Hyndman and Fan's 7th); tests compare the results bit for bit. Used by the automatic
gates, whose statistics run over every event of a tube. The selection is compiled
(``kernels.order_statistics``); without the compiled module, arrays of up to 20,000 values go to
numpy directly. Any array holding NaN or spanning more than the float range goes to numpy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .kernels import compiled, order_statistics

# at or below this many values numpy's partition is as fast as the bucket selection in numpy
# (the compiled one is faster at any size)
_SMALL = 0 if compiled() else 20_000


def median(values: np.ndarray) -> float:
    """``numpy.median`` of a 1-D float array.

    Parameters
    ----------
    values : ndarray
        The values (any units); not modified.
    """
    n = values.size
    middle = [n // 2] if n % 2 else [n // 2 - 1, n // 2]
    found = order_statistics(values, middle) if n > _SMALL else None
    if found is None:
        return float(np.median(values))
    if values.dtype != np.float64:  # numpy's mean in the values' own precision
        return float(np.mean(found))
    return float(found[0]) if n % 2 else (float(found[0]) + float(found[1])) / 2  # np.mean's sum, then / 2


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
    # numpy's virtual index (n - 1) * q / 100, its floor and the fraction above it; the two ranks
    # around it, both the end one beyond either end (numbers as numpy's float64 gives them)
    virtual = [(n - 1) * (float(p) / 100) for p in q]
    gamma = [v - math.floor(v) for v in virtual]
    previous = [n - 1 if v >= n - 1 else 0 if v < 0 else math.floor(v) for v in virtual]
    following = [n - 1 if v >= n - 1 else 0 if v < 0 else math.floor(v) + 1 for v in virtual]
    ranks = sorted({*previous, *following})
    found = order_statistics(values, ranks) if n > _SMALL else None
    if found is None:
        return tuple(float(v) for v in np.percentile(values, q))
    value_at = dict(zip(ranks, found.tolist(), strict=True))
    if values.dtype != np.float64:  # numpy's interpolation with the values in their own precision
        a = np.array([value_at[i] for i in previous], dtype=values.dtype)
        b = np.array([value_at[i] for i in following], dtype=values.dtype)
        g = np.array(gamma)
        diff = b - a
        result = a + diff * g
        np.subtract(b, diff * (1 - g), out=result, where=g >= 0.5)
        return tuple(float(v) for v in result)
    return tuple(_lerp(value_at[i], value_at[j], g) for i, j, g in zip(previous, following, gamma, strict=True))


def _lerp(a: float, b: float, gamma: float) -> float:
    """numpy's linear interpolation: from below when ``gamma`` < 0.5, from above otherwise."""
    diff = b - a
    return b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma
