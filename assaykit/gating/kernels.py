"""Plain-numpy helpers over a tube's events: a selection by mask that stays fast when about half
the events are kept (the gates, the figure panels), and each side's extremes of a mask (the
exports, ``interop.export`` and ``interop.wsp_export``)."""

from __future__ import annotations

import numpy as np


def extremes(values: np.ndarray, mask: np.ndarray) -> tuple[float, float, float, float, int, int]:
    """The smallest and largest finite values where ``mask`` holds and where it does not, and how
    many finite values each side has (+inf and -inf for a side without any).

    Parameters
    ----------
    values : ndarray
        1-D values (any units).
    mask : ndarray of bool
        As long as ``values``.
    """
    finite = np.isfinite(values)
    held, left = values[mask & finite], values[~mask & finite]
    return (float(held.min(initial=np.inf)), float(held.max(initial=-np.inf)), float(left.min(initial=np.inf)),
            float(left.max(initial=-np.inf)), int(held.size), int(left.size))


def select(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``values[mask]`` of a 1-D array, gathered through the indices of ``mask``: numpy's boolean
    selection takes a branch per value, mispredicted when about half are kept (several times
    slower there); the index array fills without one. The same values in the same order.

    Parameters
    ----------
    values : ndarray
        1-D values (any units).
    mask : ndarray of bool
        Which to keep, as long as ``values``.
    """
    return values[np.flatnonzero(mask)]
