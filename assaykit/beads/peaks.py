"""Bead peaks in one fluorescence channel: a smoothed histogram on a log-like axis, its local
maxima, and per peak the median of the events around it.

The axis is ``u = log10(c) + asinh(x / 2c) / ln 10`` with ``c`` 10^-4.5 of the channel's top of
scale: u = log10(x) for bright events, linear near zero, so a blank peak at 0 on linear digital data
is one peak instead of a smear over several decades of log noise.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

STEP = 0.004  # histogram bin on the u axis (decades)
SMOOTHING = 0.012  # Gaussian smoothing of the histogram (decades); a bead peak's sd is ~0.015-0.04
MIN_PROMINENCE = 0.05  # of the highest smoothed bin
MIN_AREA = 0.2  # of the median area of the candidate peaks
MAX_SPREAD = 0.1  # decades: a bead peak is narrower (robust sd) than this; cells are broader
SATURATION_MARGIN = 0.005  # decades below the top of scale that count as "at the top"
HEADROOM = 0.05  # decades: a peak whose median is closer to the top of scale is compressed (saturating)


@dataclass(frozen=True)
class Peak:
    """One bead population in the channel (scale units)."""

    mfi: float  # median of the events around the peak
    mode: float  # where the smoothed histogram peaks
    n_events: int
    spread: float  # robust sd of the events on the u axis (decades)
    low: float  # the window of events that belong to it
    high: float
    at_top_percent: float  # % of its events at the top of scale
    saturated: bool
    at_bottom_percent: float = 0.0  # % of its events piled at the bottom of scale
    below_scale: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PeakSearch:
    """Every intermediate of the search, for plots: the u axis, the smoothed histogram, the
    offset ``c`` of the axis, the top of scale, and the peaks found (dimmest first)."""

    grid: np.ndarray  # bin centres on the u axis
    density: np.ndarray  # smoothed counts per bin
    c: float
    top: float
    peaks: tuple[Peak, ...]
    rejected: tuple[Peak, ...]  # local maxima too small or too broad to be bead peaks

    def to_u(self, values: np.ndarray | float) -> np.ndarray:
        return to_u(values, self.c)

    def from_u(self, u: np.ndarray | float) -> np.ndarray:
        return from_u(u, self.c)


def cv_percent(spread_log10: float | np.ndarray) -> float | np.ndarray:
    """Coefficient of variation (%) of a log-normal population with this sd of log10 values."""
    out = 100 * np.sqrt(np.expm1((np.asarray(spread_log10, dtype=np.float64) * np.log(10)) ** 2))
    return float(out) if out.ndim == 0 else out


def to_u(values: np.ndarray | float, c: float) -> np.ndarray:
    return np.log10(c) + np.arcsinh(np.asarray(values, dtype=np.float64) / (2 * c)) / np.log(10)


def from_u(u: np.ndarray | float, c: float) -> np.ndarray:
    return 2 * c * np.sinh((np.asarray(u, dtype=np.float64) - np.log10(c)) * np.log(10))


def _robust_window(u: np.ndarray, centre: float, low: float, high: float) -> tuple[np.ndarray, float]:
    """The events of one peak: inside its valley-to-valley window and, refined twice, within
    3 robust sd of their median."""
    inside = u[(u >= low) & (u < high)]
    centre_now, spread = centre, np.inf
    for _ in range(3):
        if inside.size == 0:
            break
        near = inside[np.abs(inside - centre_now) <= 3 * spread] if np.isfinite(spread) else inside
        if near.size < 3:
            break
        centre_now = float(np.median(near))
        spread = max(float(1.4826 * np.median(np.abs(near - centre_now))), STEP / 2)
    keep = (u >= low) & (u < high)
    if np.isfinite(spread):
        keep &= np.abs(u - centre_now) <= 3 * spread
    return keep, spread


def peak_median(values: np.ndarray, c: float) -> float:
    """The median of one peak's events. On quantized data (many events share a value, as in
    10-bit log-amplified files, where a channel is 0.9 % wide) it is the grouped-data median:
    interpolated within the median channel on the u axis, channels bounded halfway between
    neighbouring values, instead of snapping to a channel value."""
    unique, counts = np.unique(values, return_counts=True)
    if unique.size >= 0.5 * values.size or unique.size < 2:
        return float(np.median(values))
    u = to_u(unique, c)
    bounds = np.concatenate([[u[0] - (u[1] - u[0]) / 2], (u[:-1] + u[1:]) / 2, [u[-1] + (u[-1] - u[-2]) / 2]])
    cumulative = np.concatenate([[0], np.cumsum(counts)])
    half = values.size / 2
    k = int(np.searchsorted(cumulative, half, side="right")) - 1
    k = min(k, unique.size - 1)
    inside = (half - cumulative[k]) / counts[k]
    return float(from_u(bounds[k] + inside * (bounds[k + 1] - bounds[k]), c))


def prominent_maxima(y: np.ndarray, min_prominence: float) -> np.ndarray:
    """Indices of the local maxima of ``y`` whose topographic prominence is at least
    ``min_prominence``: the height above the higher of the two lowest points that separate the
    maximum from higher ground (or from the ends of the array) on either side. A plateau counts
    once, at its middle."""
    n = y.size
    if n < 3:
        return np.zeros(0, dtype=int)
    rising = np.flatnonzero(np.diff(y) > 0) + 1  # candidate starts of plateaus/peaks
    maxima = []
    for start in rising:
        if start > 0 and y[start - 1] >= y[start]:
            continue
        end = start
        while end + 1 < n and y[end + 1] == y[start]:
            end += 1
        if end + 1 < n and y[end + 1] < y[start]:
            maxima.append((start + end) // 2)
    out = []
    for m in maxima:
        height = y[m]
        left = m
        left_min = height
        while left > 0 and y[left - 1] <= height:
            left -= 1
            left_min = min(left_min, y[left])
        right = m
        right_min = height
        while right < n - 1 and y[right + 1] <= height:
            right += 1
            right_min = min(right_min, y[right])
        if height - max(left_min, right_min) >= min_prominence:
            out.append(m)
    return np.asarray(out, dtype=int)


def _piles(values: np.ndarray) -> tuple[float | None, float | None]:
    """The maximum and minimum values when events pile up on them (at least 5 events and 0.2 %):
    an ADC or log amplifier clipping at its top or bottom channel."""
    needed = max(5, int(0.002 * values.size))
    piles = []
    for edge in (values.max(), values.min()):
        piles.append(float(edge) if int(np.count_nonzero(values == edge)) >= needed else None)
    return piles[0], piles[1]


def find_peaks(values: np.ndarray, top: float) -> PeakSearch:
    """Bead peaks among ``values`` (one channel, singlet beads, scale units); ``top`` is the
    channel's top of scale (0 when unknown: then no peak is called saturated)."""
    from scipy.ndimage import gaussian_filter1d

    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    reference = top if top > 0 else (float(np.max(np.abs(values))) if values.size else 1.0)
    c = max(reference, 1e-12) / 10**4.5
    if values.size < 10:
        return PeakSearch(np.zeros(0), np.zeros(0), c, top, (), ())
    u = to_u(values, c)
    pad = 5 * SMOOTHING
    edges = np.arange(float(np.percentile(u, 0.05)) - pad, float(u.max()) + pad + STEP, STEP)
    counts, _ = np.histogram(u, edges)
    density = gaussian_filter1d(counts.astype(np.float64), SMOOTHING / STEP, mode="constant")
    grid = (edges[:-1] + edges[1:]) / 2
    maxima = prominent_maxima(density, MIN_PROMINENCE * float(density.max()))
    if maxima.size == 0:
        return PeakSearch(grid, density, c, top, (), ())
    valleys = [int(a + np.argmin(density[a:b + 1])) for a, b in itertools.pairwise(maxima)]
    bounds = [-np.inf, *(float(edges[v]) for v in valleys), np.inf]
    ceiling, floor = _piles(values)
    u_top = float(to_u(top, c)) - SATURATION_MARGIN if top > 0 else np.inf
    if ceiling is not None:  # events piled at one maximum value: the real top, whatever $PnR says
        u_top = min(u_top, float(to_u(ceiling, c)))
    candidates = []
    for k, m in enumerate(maxima):
        keep, spread = _robust_window(u, float(grid[m]), bounds[k], bounds[k + 1])
        members = values[keep]
        if members.size == 0:
            continue
        centre = float(np.median(u[keep]))
        at_top = float(100 * np.mean(u[keep] >= u_top))
        saturated = at_top >= 2.0 or centre + max(3 * spread, HEADROOM) >= u_top + SATURATION_MARGIN
        at_bottom = float(100 * np.mean(members <= floor)) if floor is not None else 0.0
        low, high = (float(from_u(b, c)) if np.isfinite(b) else float(b) for b in (bounds[k], bounds[k + 1]))
        candidates.append(Peak(peak_median(members, c), float(from_u(grid[m], c)), int(members.size),
                               spread, low, high, at_top, bool(saturated), at_bottom, at_bottom >= 2.0))
    median_area = float(np.median([p.n_events for p in candidates]))
    peaks = tuple(p for p in candidates if p.n_events >= MIN_AREA * median_area
                  and (p.spread <= MAX_SPREAD or p.saturated or p.below_scale))
    rejected = tuple(p for p in candidates if p not in peaks)
    return PeakSearch(grid, density, c, top, peaks, rejected)
