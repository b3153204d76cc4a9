"""Passes over a tube's events: the compiled kernels (``_kernels.c``) when the module is built,
numpy otherwise. Both give the same numbers bit for bit (tests/gating/test_kernels.py compares
them): the C code does numpy's double arithmetic in numpy's order, without fused multiply-add, in
one pass where numpy makes several (a selection, an index, a count). The compiled path needs
C-contiguous float64 arrays; anything else takes numpy's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

from ..errors import GatingError

try:
    from . import _kernels
except ImportError:  # a source tree whose extension was not built: numpy's path, slower
    _kernels = None


def compiled() -> bool:
    """Whether the compiled kernels are in use (False: the numpy equivalents)."""
    return _kernels is not None


def _fast(*arrays: np.ndarray) -> bool:
    return _kernels is not None and all(a.dtype == np.float64 and a.flags.c_contiguous for a in arrays)


def select(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``values[mask]`` of a 1-D array (numpy's boolean selection mispredicts a branch per value
    when about half are kept; the compiled copy has no branch). When the mask keeps every value,
    ``values`` itself (no copy): read the result, do not modify it.

    Parameters
    ----------
    values : ndarray
        1-D values (any units).
    mask : ndarray of bool
        Which to keep, as long as ``values``.
    """
    kept = np.count_nonzero(mask)
    if mask.dtype == np.bool_ and mask.shape == values.shape and values.ndim == 1 and kept == values.size:
        return values
    if not (_fast(values) and mask.dtype == np.bool_ and mask.flags.c_contiguous and mask.shape == values.shape):
        return values[mask]
    out = np.empty(kept, dtype=np.float64)
    _kernels.compress(values, mask, out)
    return out


def extremes(values: np.ndarray, mask: np.ndarray) -> tuple[float, float, float, float, int, int]:
    """The smallest and largest finite values where ``mask`` holds and where it does not, and how
    many finite values each side has (+inf and -inf for a side without any), in one pass.

    Parameters
    ----------
    values : ndarray
        1-D values (any units).
    mask : ndarray of bool
        As long as ``values``.
    """
    if _fast(values) and mask.dtype == np.bool_ and mask.flags.c_contiguous and mask.shape == values.shape:
        out = np.empty(6)
        _kernels.extremes(values, mask, out)
        return float(out[0]), float(out[1]), float(out[2]), float(out[3]), int(out[4]), int(out[5])
    finite = np.isfinite(values)
    held, left = values[mask & finite], values[~mask & finite]
    return (float(held.min(initial=np.inf)), float(held.max(initial=-np.inf)), float(left.min(initial=np.inf)),
            float(left.max(initial=-np.inf)), int(held.size), int(left.size))


def count_in_boxes(x: np.ndarray, y: np.ndarray, cx: np.ndarray, wx: float, cy: np.ndarray, wy: float
                   ) -> np.ndarray:
    """How many events each box holds: ``|x - cx[k]| < wx`` and ``|y - cy[k]| < wy``, for every box
    k in one pass over the events.

    Parameters
    ----------
    x, y : ndarray
        The events' coordinates (display units), equal lengths.
    cx, cy : ndarray
        The boxes' centres (one per box).
    wx, wy : float
        Their half-widths (open bounds).

    Returns
    -------
    ndarray
        int64 counts, one per box.
    """
    cx, cy = np.asarray(cx, dtype=np.float64), np.asarray(cy, dtype=np.float64)
    counts = np.zeros(cx.size, dtype=np.int64)
    if _fast(x, y) and cx.size == cy.size:
        _kernels.count_in_boxes(x, y, np.ascontiguousarray(cx), np.ascontiguousarray(cy), float(wx), float(wy),
                                counts)
        return counts
    for k, (bx, by) in enumerate(zip(cx.tolist(), cy.tolist(), strict=True)):
        counts[k] = np.count_nonzero(in_box(x, y, bx, wx, by, wy))
    return counts


def in_box(x: np.ndarray, y: np.ndarray, cx: float, wx: float, cy: float, wy: float) -> np.ndarray:
    """Which events have ``|x - cx| < wx`` and ``|y - cy| < wy`` (a box of :func:`count_in_boxes`).

    Parameters
    ----------
    x, y : ndarray
        The events' coordinates (display units), equal lengths.
    cx, cy : float
        The box's centre.
    wx, wy : float
        Its half-widths (open bounds).
    """
    return (np.abs(x - cx) < wx) & (np.abs(y - cy) < wy)


def _scale(bins: int, value_range: tuple[float, float]) -> float:
    low, high = value_range
    return bins / (high - low)


def bin_counts_2d(x: np.ndarray, y: np.ndarray, bins: int, x_range: tuple[float, float],
                  y_range: tuple[float, float]) -> np.ndarray:
    """Counts (int64, ``bins`` x ``bins``) of the events (x, y) within the closed ranges, by
    uniform bins: bin ``min(int((v - low) * (bins / (high - low))), bins - 1)``.

    Parameters
    ----------
    x, y : ndarray
        The events' coordinates (display units), equal lengths.
    bins : int
        Bins per axis.
    x_range, y_range : tuple of float
        (low, high) of each axis, both bounds included.
    """
    if _fast(x, y):
        counts = np.zeros(bins * bins, dtype=np.int64)
        _kernels.histogram2d(x, y, counts, float(x_range[0]), float(x_range[1]), _scale(bins, x_range),
                             float(y_range[0]), float(y_range[1]), _scale(bins, y_range), bins)
        return counts.reshape(bins, bins)
    inside = (x >= x_range[0]) & (x <= x_range[1]) & (y >= y_range[0]) & (y <= y_range[1])
    index = _bin_index(x[inside], bins, x_range) * bins + _bin_index(y[inside], bins, y_range)
    return np.bincount(index, minlength=bins * bins).reshape(bins, bins)


def bin_counts_1d(x: np.ndarray, bins: int, value_range: tuple[float, float]) -> np.ndarray:
    """Counts (int64, ``bins``) of the values within the closed ``value_range``, by the bins of
    :func:`bin_counts_2d`.

    Parameters
    ----------
    x : ndarray
        The values (any units).
    bins : int
        Number of bins.
    value_range : tuple of float
        (low, high), both included.
    """
    if _fast(x):
        counts = np.zeros(bins, dtype=np.int64)
        _kernels.histogram1d(x, counts, float(value_range[0]), float(value_range[1]), _scale(bins, value_range),
                             bins)
        return counts
    inside = x[(x >= value_range[0]) & (x <= value_range[1])]
    return np.bincount(_bin_index(inside, bins, value_range), minlength=bins)


def _bin_index(values: np.ndarray, bins: int, value_range: tuple[float, float]) -> np.ndarray:
    """Bin of each value (all within the closed ``value_range``; the top edge in the last bin)."""
    return np.minimum(((values - value_range[0]) * _scale(bins, value_range)).astype(np.int64), bins - 1)


def order_statistics(values: np.ndarray, ranks: Sequence[int] | np.ndarray) -> np.ndarray | None:
    """The values at 0-based ``ranks`` (ascending, distinct) of the sorted ``values``; None when
    a value is NaN or infinite or their span overflows or is subnormal.

    Parameters
    ----------
    values : ndarray
        1-D float values (any units); not modified.
    ranks : sequence or ndarray of int
        Ascending distinct ranks, each below ``values.size``.
    """
    ranks = np.asarray(ranks, dtype=np.int64)
    if _kernels is not None and values.dtype in (np.float64, np.float32) and values.size:
        out = np.empty(ranks.size, dtype=np.float64)  # float32 values are exact in float64
        if not _kernels.order_statistics(np.ascontiguousarray(values, dtype=np.float64), ranks, out):
            return None
        return out.astype(values.dtype, copy=False)
    return _bucket_order_statistics(values, ranks)


_BUCKETS = 4096


def _bucket_order_statistics(values: np.ndarray, ranks: np.ndarray) -> np.ndarray | None:
    """:func:`order_statistics` by numpy: the values counted into 4,096 buckets between their
    minimum and maximum (a bucket index monotonic in the value), only the buckets holding a
    wanted rank partitioned."""
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


def json_integers(values: np.ndarray) -> str:
    """A 1-D or 2-D integer array as compact JSON text, as
    ``json.dumps(values.tolist(), separators=(",", ":"))`` writes it.

    Parameters
    ----------
    values : ndarray
        Integers (counts), 1-D or 2-D.
    """
    values = np.asarray(values)
    if _kernels is not None and values.ndim in (1, 2) and values.dtype.kind in "iu" and values.size \
            and (values.dtype.kind == "i" or values.max() <= np.iinfo(np.int64).max):
        rows = values.shape[0] if values.ndim == 2 else 0
        if values.ndim == 1 or values.shape[1]:
            return str(_kernels.json_integers(np.ascontiguousarray(values, dtype=np.int64), rows))
    return json.dumps(values.tolist(), separators=(",", ":"))


def simplify(points: np.ndarray, tolerance: float) -> np.ndarray:
    """Ramer-Douglas-Peucker: drop the vertices of an open polyline that lie within ``tolerance``
    of the simplified line.

    Parameters
    ----------
    points : ndarray
        n x 2 vertices (display units).
    tolerance : float
        The largest distance a dropped vertex may lie from the line kept (display units).
    """
    points = np.asarray(points, dtype=np.float64)
    keep = np.zeros(len(points), dtype=bool)
    if _kernels is not None:
        _kernels.simplify(np.ascontiguousarray(points[:, 0]), np.ascontiguousarray(points[:, 1]), float(tolerance),
                          keep)
        return points[keep]
    keep[[0, -1]] = True
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        if last - first < 2:
            continue
        chord = points[last] - points[first]
        inner = points[first + 1:last] - points[first]
        length = float(np.hypot(*chord))
        if length > 0:
            dist = np.abs(chord[0] * inner[:, 1] - chord[1] * inner[:, 0]) / length
        else:
            dist = np.hypot(inner[:, 0], inner[:, 1])
        worst = int(np.argmax(dist))
        if dist[worst] > tolerance:
            split = first + 1 + worst
            keep[split] = True
            stack += [(first, split), (split, last)]
    return points[keep]


def em_fit(features: np.ndarray, counts: np.ndarray, params: np.ndarray, box: np.ndarray | None,
           background: tuple[float, float], iterations: int, tolerance: float) -> tuple[np.ndarray, float] | None:
    """The EM loop of :func:`~assaykit.gating.mixture.fit_binned`, compiled; None when the
    extension is not built (the caller then runs that loop in numpy, ``mixture._em_steps``).
    The same numbers bit for bit: numpy still does what it did there (matrix products, exp, log,
    the dot product and the pairwise sum, called from the loop), the C code the arithmetic that
    Python did on floats and numpy's element-wise steps, in their order.

    Parameters
    ----------
    features : ndarray
        6 x n: 1, x, y, x^2, xy, y^2 of each occupied bin's centre (display units).
    counts : ndarray
        The n bins' event counts (float64).
    params : ndarray
        k x 6 starting parameters per component: mean x, mean y, covariance xx, xy, yy (display
        units), weight (fraction).
    box : ndarray or None
        k x 4 bounds of each mean (x low, x high, y low, y high), or None.
    background : tuple of float
        The uniform background's starting weight (fraction) and density (1 / window area).
    iterations : int
        At most this many steps.
    tolerance : float
        Stop when the mean log-likelihood per event gains less.

    Returns
    -------
    tuple or None
        The fitted parameters (k x 6) and background weight.
    """
    if _kernels is None:
        return None
    k, n = len(params), features.shape[1]
    fitted = np.array(params, dtype=np.float64, order="C")
    bounds = np.zeros(0) if box is None else np.ascontiguousarray(box, dtype=np.float64)
    counts = np.ascontiguousarray(counts, dtype=np.float64)
    state = np.array([background[0], background[1], float(counts.sum())])
    scaled = np.empty((6, n))
    try:
        _kernels.em_fit(np.ascontiguousarray(features, dtype=np.float64), counts, fitted, bounds, state,
                        np.empty((k, 6)), np.empty(k), np.empty((k, n)), np.empty(n), np.empty(n), scaled,
                        np.empty((k, 6)), scaled.T, np.matmul, np.exp, np.log, int(iterations), float(tolerance))
    except ArithmeticError as error:
        raise GatingError(f"mixture fit failed: {error}") from None
    return fitted, float(state[0])


def table_interpolate(u: np.ndarray, table: np.ndarray, u0: float, per_step: float
                      ) -> tuple[np.ndarray, np.ndarray]:
    """A function tabulated at ``u0 + i / per_step`` (i = 0 .. len(table) - 1), interpolated
    linearly at ``u``; and the mask of the ``u`` outside the table (NaN included), whose values
    the caller computes otherwise.

    Parameters
    ----------
    u : ndarray
        Where to interpolate (the table's units).
    table : ndarray
        The function's values at the evenly spaced points (float64).
    u0 : float
        The first point.
    per_step : float
        1 / the spacing of the points.
    """
    if _fast(u, table):
        out = np.empty(u.size, dtype=np.float64)
        outside = np.empty(u.size, dtype=np.bool_)
        _kernels.table_interpolate(u, table, float(u0), float(per_step), out, outside)
        return out, outside
    position = (u - u0) * per_step
    last = len(table) - 2
    outside = ~((position >= 0) & (position <= last + 1))
    index = np.nan_to_num(np.clip(position, 0, last), nan=0.0).astype(np.int64)
    fraction = position - index
    return table[index] + fraction * (table[index + 1] - table[index]), outside
