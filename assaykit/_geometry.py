"""Ellipse geometry shared by the gating and bead gates: the squared Mahalanobis distance and an
ellipse's outline."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def mahalanobis2(points: np.ndarray, center: Sequence[float] | np.ndarray,
                 covariance: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """Squared Mahalanobis distance of each of ``points`` (n x 2) to ``center`` (2) under
    ``covariance`` (2 x 2); all in the same units (display or log10 scale units)."""
    d = np.asarray(points, dtype=np.float64) - np.asarray(center, dtype=np.float64)
    return np.einsum("ij,jk,ik->i", d, np.linalg.inv(np.asarray(covariance, dtype=np.float64)), d)


def ellipse_outline(center: Sequence[float] | np.ndarray, covariance: Sequence[Sequence[float]] | np.ndarray,
                    distance: float, n: int = 120) -> np.ndarray:
    """The closed outline ((n x 2), first point repeated last) of the points at Mahalanobis
    ``distance`` from ``center`` under ``covariance`` (the units of both)."""
    angles = np.linspace(0, 2 * np.pi, n)
    circle = np.column_stack([np.cos(angles), np.sin(angles)]) * distance
    return circle @ np.linalg.cholesky(np.asarray(covariance, dtype=np.float64)).T + np.asarray(center)


def hull_outline(points: np.ndarray) -> np.ndarray | None:
    """The closed convex hull ((k x 2), first point repeated last) of ``points`` (n x 2, finite
    values only are used): the outline drawn for a gate known only by its events (a hand-set
    workspace gate). None when fewer than three distinct points span an area."""
    from scipy.spatial import ConvexHull, QhullError

    points = np.asarray(points, dtype=np.float64)
    points = points[np.isfinite(points).all(axis=1)]
    if len(np.unique(points, axis=0)) < 3:
        return None
    try:
        hull = ConvexHull(points)
    except QhullError:  # every point on one line
        return None
    corners = points[hull.vertices]
    return np.vstack([corners, corners[:1]])
