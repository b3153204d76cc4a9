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
    """The values at 0-based ``ranks`` (ascending, distinct) of sorted ``values``, in the order of
    ``ranks``; None when the values hold NaN or infinity or their span overflows or is subnormal
    (numpy's own functions then)."""
    return order_statistics(values, np.asarray(ranks, dtype=np.int64))
