"""Two-dimensional Gaussian mixtures fitted by EM on a weighted grid of bins.

Binning first makes a fit cost the same for 10,000 or 1,000,000 events and makes it
deterministic: the data enter only through bin counts. A uniform background component over the
binned window absorbs what no Gaussian describes (doublets, debris, stray events).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_VAR_FLOOR = 1e-6  # display units squared: no component collapses onto a single bin


@dataclass(frozen=True)
class Mixture:
    """Fitted components (means k x 2, covariances k x 2 x 2, weights k) plus the background's
    weight and its constant density over the window."""

    means: np.ndarray
    covariances: np.ndarray
    weights: np.ndarray
    background_weight: float
    background_density: float

    def component_densities(self, points: np.ndarray) -> np.ndarray:
        """Weighted densities (n x k) of each Gaussian at ``points`` (n x 2)."""
        return _densities(points, self.means, self.covariances, self.weights)

    def posterior(self, points: np.ndarray, members: list[int]) -> np.ndarray:
        """Probability that each point (n x 2) belongs to one of the components ``members``
        (indices; the background is never a member)."""
        dens = self.component_densities(points)
        total = dens.sum(axis=1) + self.background_weight * self.background_density
        return dens[:, members].sum(axis=1) / np.maximum(total, 1e-300)


def _densities(points: np.ndarray, means: np.ndarray, covs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    dx = points[:, 0, None] - means[None, :, 0]
    dy = points[:, 1, None] - means[None, :, 1]
    return _deviation_densities(dx, dy, covs, weights)


def _deviation_densities(dx: np.ndarray, dy: np.ndarray, covs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted Gaussian densities (n x k) from the deviations ``dx``, ``dy`` (n x k) of the
    points from each component's mean."""
    det = covs[:, 0, 0] * covs[:, 1, 1] - covs[:, 0, 1] ** 2
    half_xx, half_yy, xy = -0.5 * covs[:, 1, 1] / det, -0.5 * covs[:, 0, 0] / det, covs[:, 0, 1] / det
    exponent = (half_xx * dx + xy * dy) * dx + half_yy * dy * dy
    return np.exp(exponent) * (weights / (2 * np.pi * np.sqrt(det)))


def histogram2d(x: np.ndarray, y: np.ndarray, bins: int, x_range: tuple[float, float],
                y_range: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``numpy.histogram2d`` for uniform bins over closed ranges (same counts; a bin index by
    arithmetic instead of a search, about 4x faster on 100,000 events)."""
    x_edges = np.linspace(*x_range, bins + 1)
    y_edges = np.linspace(*y_range, bins + 1)
    inside = (x >= x_range[0]) & (x <= x_range[1]) & (y >= y_range[0]) & (y <= y_range[1])
    ix = np.minimum(((x[inside] - x_range[0]) * (bins / (x_range[1] - x_range[0]))).astype(np.int64), bins - 1)
    iy = np.minimum(((y[inside] - y_range[0]) * (bins / (y_range[1] - y_range[0]))).astype(np.int64), bins - 1)
    counts = np.bincount(ix * bins + iy, minlength=bins * bins).reshape(bins, bins)
    return counts, x_edges, y_edges


def fit_binned(
    x: np.ndarray, y: np.ndarray, window: tuple[float, float, float, float],
    means: np.ndarray, covariances: np.ndarray, bounds: np.ndarray | None = None,
    bins: int = 64, iterations: int = 50, background: float = 0.02, tolerance: float = 1e-4,
) -> Mixture:
    """EM fit of Gaussians initialised at ``means``/``covariances`` to the events (x, y) inside
    ``window`` = (x_low, x_high, y_low, y_high), on a ``bins`` x ``bins`` histogram, until the
    mean log-likelihood per event gains less than ``tolerance``.

    ``bounds`` (k x 4: x_low, x_high, y_low, y_high per component) keep each mean inside a box
    after every step, so that each component stays on the population it was started on."""
    x_low, x_high, y_low, y_high = window
    counts, x_edges, y_edges = histogram2d(x, y, bins, (x_low, x_high), (y_low, y_high))
    ix, iy = np.nonzero(counts)
    w = counts[ix, iy]
    points = np.column_stack([(x_edges[ix] + x_edges[ix + 1]) / 2, (y_edges[iy] + y_edges[iy + 1]) / 2])
    area = (x_high - x_low) * (y_high - y_low)
    k = len(means)
    mu = np.array(means, dtype=np.float64)
    cov = np.array(covariances, dtype=np.float64)
    weights = np.full(k, (1 - background) / k)
    bg_weight, bg_density = background, 1.0 / area
    total = w.sum()
    previous = -np.inf
    px, py = points[:, 0, None], points[:, 1, None]
    dx, dy = px - mu[None, :, 0], py - mu[None, :, 1]  # n x k deviations, reused by the next step's densities
    for _ in range(iterations):
        dens = _deviation_densities(dx, dy, cov, weights)
        norm = dens.sum(axis=1) + bg_weight * bg_density
        log_likelihood = float(w @ np.log(np.maximum(norm, 1e-300))) / total
        if log_likelihood - previous < tolerance:
            break
        previous = log_likelihood
        scale = w / np.maximum(norm, 1e-300)
        resp = dens * scale[:, None]
        n_k = np.maximum(resp.sum(axis=0), 1e-12)
        weights = n_k / total
        bg_weight = float(bg_weight * bg_density * scale.sum() / total)
        mu = (resp.T @ points) / n_k[:, None]
        if bounds is not None:
            mu = np.clip(mu, bounds[:, [0, 2]], bounds[:, [1, 3]])
        dx, dy = px - mu[None, :, 0], py - mu[None, :, 1]
        rx, ry = resp * dx, resp * dy
        cov[:, 0, 0] = np.maximum((rx * dx).sum(axis=0) / n_k, _VAR_FLOOR)
        cov[:, 1, 1] = np.maximum((ry * dy).sum(axis=0) / n_k, _VAR_FLOOR)
        cov[:, 0, 1] = cov[:, 1, 0] = (rx * dy).sum(axis=0) / n_k
    return Mixture(mu.copy(), cov.copy(), weights.copy(), bg_weight, bg_density)
