"""A plain-numpy helper over a tube's events that the exports share (``interop.export`` and
``interop.wsp_export``): each side's extremes of a mask."""

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
