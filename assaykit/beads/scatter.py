"""The singlet-bead gate: the densest forward/side-scatter cluster, fitted as a Gaussian.

Beads of one size form one tight cluster in log FSC x log SSC; bead doublets sit about
log10(2) = 0.3 decade higher in FSC, debris lower. The gate starts at the mode of a smoothed 2D
histogram and iterates a Gaussian fitted to the events within Mahalanobis distance 3 (the
covariance corrected for that truncation), then keeps the events within ``distance`` (default
3.035, the 99 % contour of a 2D Gaussian).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._geometry import ellipse_outline, mahalanobis2
from .peaks import cv_percent

_TRUNCATION = 9.0  # squared Mahalanobis distance of the events that refine the fit
# a 2D Gaussian truncated at d^2 <= q has covariance P(chi2_4 <= q) / P(chi2_2 <= q) times the full one
_SHRINK = (1 - np.exp(-_TRUNCATION / 2) * (1 + _TRUNCATION / 2)) / (1 - np.exp(-_TRUNCATION / 2))


@dataclass(frozen=True)
class BeadSingletGate:
    """An ellipse in (log10 FSC, log10 SSC): events within ``distance`` of ``center``."""

    channels: tuple[str, str]
    center: tuple[float, float]  # log10 scale units
    covariance: tuple[tuple[float, float], tuple[float, float]]
    distance: float = 3.035

    def apply(self, fsc: np.ndarray, ssc: np.ndarray) -> np.ndarray:
        """Mask of the singlet beads among events with these FSC and SSC values (scale units)."""
        points = _log_points(fsc, ssc)
        return mahalanobis2(points, np.asarray(self.center), np.asarray(self.covariance)) <= self.distance**2

    @property
    def cv_percent(self) -> tuple[float, float]:
        """The cluster's FSC and SSC coefficients of variation (%), from its log-normal spread."""
        sd = np.sqrt(np.diag(np.asarray(self.covariance)))
        return float(cv_percent(sd[0])), float(cv_percent(sd[1]))

    def outline(self, n: int = 200) -> np.ndarray:
        """The gate's boundary in (log10 FSC, log10 SSC), closed (n x 2)."""
        return ellipse_outline(self.center, self.covariance, self.distance, n)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "bead_singlets", "channels": list(self.channels), "center_log10": list(self.center),
                "covariance_log10": [list(r) for r in self.covariance], "distance": self.distance}


def _log_points(fsc: np.ndarray, ssc: np.ndarray) -> np.ndarray:
    # non-positive scatter (debris at the threshold) is put far below any bead
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.column_stack([np.log10(np.where(fsc > 0, fsc, 1e-9)), np.log10(np.where(ssc > 0, ssc, 1e-9))])


def fit_singlet_gate(fsc: np.ndarray, ssc: np.ndarray, channels: tuple[str, str] = ("FSC", "SSC"),
                     distance: float = 3.035, bins: int = 128) -> BeadSingletGate | None:
    """Fit the singlet-bead gate to events with forward ``fsc`` and side ``ssc`` scatter (scale
    units), named ``channels``; ``distance`` is the gate's Mahalanobis radius (3.035: the 99 %
    contour), ``bins`` the starting histogram's bins per axis. None when there are too few
    on-scale events to fit one."""
    from scipy.ndimage import gaussian_filter

    points = _log_points(np.asarray(fsc, dtype=np.float64), np.asarray(ssc, dtype=np.float64))
    usable = (fsc > 0) & (ssc > 0)
    if usable.sum() < 50:
        return None
    low = np.percentile(points[usable], 0.5, axis=0)
    high = np.percentile(points[usable], 99.5, axis=0)
    high = np.where(high > low, high, low + 1e-3)
    hist, xe, ye = np.histogram2d(points[usable, 0], points[usable, 1], bins=bins,
                                  range=[[low[0], high[0]], [low[1], high[1]]])
    hist = gaussian_filter(hist, 2.0)
    i, j = np.unravel_index(int(np.argmax(hist)), hist.shape)
    center = np.array([(xe[i] + xe[i + 1]) / 2, (ye[j] + ye[j + 1]) / 2])
    covariance = np.diag(((high - low) / 20) ** 2)
    for _ in range(50):
        inside = usable & (mahalanobis2(points, center, covariance) <= _TRUNCATION)
        if inside.sum() < 10:
            return None
        new_center = points[inside].mean(axis=0)
        new_cov = np.cov(points[inside].T) / _SHRINK
        if np.linalg.det(new_cov) <= 0:
            new_cov = new_cov + np.eye(2) * 1e-8
        converged = np.allclose(new_center, center, atol=1e-6) and np.allclose(new_cov, covariance, rtol=1e-4)
        center, covariance = new_center, new_cov
        if converged:
            break
    cov = tuple(tuple(float(v) for v in row) for row in covariance)
    return BeadSingletGate(channels, (float(center[0]), float(center[1])), cov, distance)  # type: ignore[arg-type]
