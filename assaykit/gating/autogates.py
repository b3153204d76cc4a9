"""Data-driven gates, fitted per sample: ``fit(data, parent_mask) -> concrete gate``.

Each returns an ordinary gate (interval, ratio, polygon) so that the fitted geometry can be drawn,
stored and re-applied. All work is on display coordinates (the strategy's transforms), with
densities smoothed from fixed-bin histograms: deterministic, and linear in the number of events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import GatingError
from .gates import GateData, IntervalGate, PolygonGate, RatioGate
from .mixture import Mixture, fit_binned

_MAD = 1.4826


def _robust(values: np.ndarray) -> tuple[float, float]:
    center = float(np.median(values))
    spread = float(_MAD * np.median(np.abs(values - center)))
    return center, spread


def density(values: np.ndarray, low: float, high: float, bins: int = 256, smooth: float = 2.0
            ) -> tuple[np.ndarray, np.ndarray]:
    """Bin centres and a Gaussian-smoothed histogram (``smooth`` in bins)."""
    counts, edges = np.histogram(values, bins=bins, range=(low, high))
    radius = int(4 * smooth)
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / smooth) ** 2)
    smoothed = np.convolve(counts, kernel / kernel.sum(), mode="same")
    return (edges[:-1] + edges[1:]) / 2, smoothed


def peaks(centres: np.ndarray, dens: np.ndarray, min_height: float) -> list[int]:
    """Indices of local maxima at least ``min_height`` x the highest one."""
    if dens.max() <= 0:
        return []
    inner = (dens[1:-1] > dens[:-2]) & (dens[1:-1] >= dens[2:]) & (dens[1:-1] >= min_height * dens.max())
    return [int(i) + 1 for i in np.flatnonzero(inner)]


@dataclass(frozen=True)
class DebrisGate:
    """Cells above the density valley under the lowest cell peak of forward scatter.

    Works on log10 of the scale values whatever the display transform. Cell peaks are those
    within ``cell_span`` decades below the highest peak (lymphocytes lie ~0.3 decades under
    granulocytes, even when few); debris lies lower, as a broad peak or a ramp.
    """

    dims: tuple[str]
    cell_span: float = 0.45

    def fit(self, data: GateData, parent: np.ndarray) -> IntervalGate:
        scale = data.scale(self.dims[0])[parent]
        if scale.size < 50:
            raise GatingError(f"too few events ({scale.size}) to find debris on {self.dims[0]}")
        x = np.log10(np.maximum(scale, 1.0))
        low, high = np.percentile(x, [0.5, 99.9])
        centres, dens = density(x, low, high, smooth=3.0)
        found = peaks(centres, dens, 0.05)
        transform = data.transform(self.dims[0])
        floor = IntervalGate(self.dims, low=float(transform.forward(10 ** low)[0]))
        if not found:
            return floor
        main = max(found, key=lambda i: dens[i])
        first_cell = min(i for i in found if centres[i] >= centres[main] - self.cell_span)
        limit = int(np.searchsorted(centres, centres[first_cell] - 0.15))
        if limit < 2:
            return floor
        debris_top = int(np.argmax(dens[:limit]))
        valley = debris_top + int(np.argmin(dens[debris_top:limit]))
        if valley > debris_top and dens[debris_top] > 1.5 * dens[valley]:
            return IntervalGate(self.dims, low=float(transform.forward(10 ** centres[valley])[0]))
        return floor

    def to_dict(self) -> dict[str, Any]:
        return {"type": "auto", "method": "debris", "dims": list(self.dims)}


@dataclass(frozen=True)
class SingletGate:
    """Events whose height/area ratio lies within ``width`` robust SDs of the singlets' ratio."""

    dims: tuple[str, str]
    width: float = 5.0

    def fit(self, data: GateData, parent: np.ndarray) -> RatioGate:
        area = data.scale(self.dims[0])[parent]
        height = data.scale(self.dims[1])[parent]
        if np.array_equal(area, height):  # one channel for both (a FACSCalibur has no pulse area)
            return RatioGate(self.dims, low=1.0, high=1.0)
        ok = (area > 0) & (height > 0)
        if ok.sum() < 50:
            raise GatingError(f"too few events ({int(ok.sum())}) to find singlets on {'/'.join(self.dims)}")
        log_ratio = np.log10(height[ok] / area[ok])
        center, spread = _robust(log_ratio)
        spread = max(spread, 0.005)
        return RatioGate(self.dims, low=float(10 ** (center - self.width * spread)),
                         high=float(10 ** (center + self.width * spread)))

    def to_dict(self) -> dict[str, Any]:
        return {"type": "auto", "method": "singlets", "dims": list(self.dims), "width": self.width}


@dataclass(frozen=True)
class MonocyteGate:
    """Monocytes on CD14 (x) vs SSC (y). The classical monocytes are found as the CD14-brightest
    population between the lymphocytes' and the granulocytes' side scatter; a Gaussian mixture
    (classical and non-classical monocytes, immature granulocytes, neutrophils, eosinophils and
    doublets) is then fitted around them, and the gate is the region where the granulocytic
    components' posterior is at most ``max_granulocyte_posterior`` (docs/gating-strategy.md)."""

    dims: tuple[str, str]
    max_granulocyte_posterior: float = 0.35

    def fit(self, data: GateData, parent: np.ndarray) -> PolygonGate:
        x_all = data.display(self.dims[0])[parent]
        y_all = data.display(self.dims[1])[parent]
        if x_all.size < 100:
            raise GatingError(f"too few events ({x_all.size}) to find monocytes")
        y_lo_p, y_hi_p = np.percentile(y_all, [0.5, 99.5])
        centres, dens = density(y_all, y_lo_p, y_hi_p)
        found = peaks(centres, dens, 0.1)
        if not found:
            raise GatingError("monocyte gate not found: no side-scatter populations")
        y_lymph, y_gran = float(centres[found[0]]), float(centres[found[-1]])
        if y_gran - y_lymph < 0.05:  # one SSC population only: place the band around it
            y_gran = y_lymph + 0.2
        band = (y_all > y_lymph + 0.25 * (y_gran - y_lymph)) & (y_all < y_gran - 0.25 * (y_gran - y_lymph))
        if band.sum() < 30:
            raise GatingError("monocyte gate not found: nothing between lymphocytes and granulocytes")
        xb = x_all[band]
        xc, xd = density(xb, *np.percentile(xb, [0.5, 99.9]), bins=128, smooth=3.0)
        # the CD14-brightest population holding enough events: classical monocytes, even when
        # immature granulocytes outnumber them at this side scatter
        x_peaks = [i for i in peaks(xc, xd, 0.02) if np.sum(np.abs(xb - xc[i]) < 0.04) >= 25]
        if not x_peaks:
            raise GatingError("monocyte gate not found: no CD14 population at monocyte side scatter")
        mu_x = float(xc[x_peaks[-1]])
        # centre and spread of the classical monocytes from their CD14-bright side only: the
        # dim side may hold far more immature granulocytes or non-classical monocytes
        core = band & (np.abs(x_all - mu_x) < 0.04)
        if core.sum() < 20:
            raise GatingError("monocyte gate not found: the CD14-bright cluster is too small")
        mu_x = float(np.median(x_all[core]))
        mu_y = float(np.median(y_all[core]))
        s_x = s_y = 0.02
        for _ in range(3):
            bright = (x_all >= mu_x) & (x_all < mu_x + 3 * s_x) & (np.abs(y_all - mu_y) < 3 * s_y)
            if bright.sum() < 10:
                raise GatingError("monocyte gate not found: the CD14-bright cluster is too small")
            s_x = max(_MAD * float(np.median(x_all[bright] - mu_x)), 0.01)
            mu_y, s_y = _robust(y_all[bright])
            s_y = max(s_y, 0.01)
        # CD14-negative level: the lymphocytes (lowest SSC peak)
        lymph = np.abs(y_all - y_lymph) < 0.03
        x_neg, s_neg = _robust(x_all[lymph]) if lymph.sum() > 20 else (mu_x - 0.4, 0.02)
        x_lo = min(max(x_neg + 4 * max(s_neg, 0.01), mu_x - 0.45), mu_x - 4 * s_x)
        y_lo = max(mu_y - 4 * s_y, y_lymph + 0.5 * (mu_y - y_lymph))
        y_top = mu_y + 3 * s_y
        gran = np.abs(y_all - y_gran) < 0.03
        x_gran = float(np.median(x_all[gran])) if gran.sum() > 20 else mu_x - 0.3
        y_hi = max(y_gran + 0.06, mu_y + 6 * s_y)  # the whole neutrophil cluster, not its lower half
        inside = (x_all >= x_lo) & (y_all >= y_lo) & (y_all <= y_hi)
        # a mixture of classical and non-classical monocytes, immature granulocytes (CD14-dim,
        # SSC between monocytes and neutrophils) and neutrophils, started from what was found above
        means = np.array([[mu_x, mu_y], [mu_x - 0.2, mu_y - s_y], [(mu_x + x_gran) / 2, (mu_y + y_gran) / 2],
                          [x_gran, y_gran], [x_gran, y_gran + 0.04]])
        covs = np.array([np.diag([s_x**2, s_y**2]), np.diag([0.05**2, s_y**2]), np.diag([0.07**2, s_y**2]),
                         np.diag([0.06**2, (2 * s_y) ** 2]), np.diag([0.06**2, (2 * s_y) ** 2])])
        bounds = np.array([
            [mu_x - 2 * s_x, mu_x + 2 * s_x, mu_y - 2 * s_y, mu_y + 2 * s_y],
            [x_lo, mu_x - 2 * s_x, mu_y - 3 * s_y, mu_y + 0.5 * s_y],
            [x_lo, mu_x, mu_y + 2 * s_y, y_gran],
            [x_lo, 1.2, mu_y + 3 * s_y, y_hi],
            [x_lo, 1.2, y_gran + 0.01, y_hi],  # eosinophils and granulocyte doublets
        ])
        mix = fit_binned(x_all[inside], y_all[inside], (x_lo, 1.2, y_lo, y_hi), means, covs, bounds)
        return _region_polygon(self.dims, mix, [2, 3, 4], (x_lo, 1.2, y_lo, y_top),
                               self.max_granulocyte_posterior, (mu_x, mu_y))

    def to_dict(self) -> dict[str, Any]:
        return {"type": "auto", "method": "monocytes", "dims": list(self.dims),
                "max_granulocyte_posterior": self.max_granulocyte_posterior}


def _region_polygon(dims: tuple[str, str], mix: Mixture, excluded: list[int], box: tuple[float, float, float, float],
                    max_posterior: float, anchor: tuple[float, float], grid: int = 160) -> PolygonGate:
    """The polygon around ``anchor`` enclosing the points of ``box`` (x_low, x_high, y_low,
    y_high) whose posterior probability of belonging to the ``excluded`` components is at most
    ``max_posterior``."""
    import contourpy
    from flowutils.gating import points_in_polygon

    x_low, x_high, y_low, y_high = box
    gx = np.linspace(x_low, x_high, grid)
    gy = np.linspace(y_low, y_high, grid)
    xx, yy = np.meshgrid(gx, gy)
    kept = 1.0 - mix.posterior(np.column_stack([xx.ravel(), yy.ravel()]), excluded).reshape(grid, grid)
    kept = np.pad(kept, 1)  # zero outside the box: closed contours
    gx = np.concatenate([[x_low - 1e-9], gx, [x_high + 1e-9]])
    gy = np.concatenate([[y_low - 1e-9], gy, [y_high + 1e-9]])
    lines = contourpy.contour_generator(gx, gy, kept).lines(1.0 - max_posterior)
    for line in sorted(lines, key=len, reverse=True):
        if len(line) >= 4 and points_in_polygon(np.asarray(line, dtype=np.float64), np.array([anchor]))[0]:
            return PolygonGate(dims, tuple((float(a), float(b)) for a, b in simplify(line[:-1], 5e-4)))
    raise GatingError("monocyte gate not found: granulocytes dominate the monocytes' place")


def simplify(points: np.ndarray, tolerance: float) -> np.ndarray:
    """Ramer-Douglas-Peucker: drop the vertices of an open polyline that lie within
    ``tolerance`` of the simplified line (here: display units)."""
    keep = np.zeros(len(points), dtype=bool)
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


AUTO_METHODS = {"debris": DebrisGate, "singlets": SingletGate, "monocytes": MonocyteGate}
