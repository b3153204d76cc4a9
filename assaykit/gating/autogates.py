"""Data-driven gates, fitted per sample: ``fit(data, parent_mask) -> concrete gate``.

Each returns an ordinary gate (interval, ratio, polygon) so that the fitted geometry can be drawn,
stored and re-applied. All work is on display coordinates (the strategy's transforms), with
densities smoothed from fixed-bin histograms: deterministic, and linear in the number of events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

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

    n_dims: ClassVar[int] = 1
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
    """Events whose height/area ratio lies within ``width`` robust SDs of the singlets' ratio.
    A file without the height channel (pulse height not recorded; the marker optional in the
    strategy) keeps every event, and the readout's QC says doublets were not excluded."""

    n_dims: ClassVar[int] = 2
    dims: tuple[str, str]
    width: float = 5.0

    def fit(self, data: GateData, parent: np.ndarray) -> RatioGate | IntervalGate:
        """The singlets' ratio band; every event (an open interval on the area) when the file
        records no pulse height (the strategy's height marker is optional and absent)."""
        if self.dims[1] in data.missing:
            return IntervalGate((self.dims[0],))
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
    """Monocytes on CD14 (x) vs SSC (y), fitted per sample in display coordinates (the strategy's
    transforms: about 0..1 over the instrument's range; "units" below are display units).

    Steps: (1) side-scatter landmarks: the lowest SSC peak (lymphocytes) and the highest
    (granulocytes); (2) the classical monocytes: the CD14-brightest population holding enough
    events in the SSC band between them; their centre and spread from the bright side only;
    (3) a window around them, bounded below by the CD14-negative lymphocytes; (4) a Gaussian
    mixture in that window (classical and non-classical monocytes, immature granulocytes,
    neutrophils, eosinophils and doublets); the gate is the region where the granulocytic
    components' posterior is at most ``max_granulocyte_posterior`` (docs/gating-strategy.md).

    Every number the fit uses is a field (settable in a strategy's ``auto: monocytes`` gate):

    - ``max_granulocyte_posterior``: the gate's edge (probability, 0-1)
    - ``min_events``: fewer parent events refuse the gate
    - ``ssc_peak_height``: an SSC peak's minimum height (fraction of the highest)
    - ``min_ssc_separation``: lymphocyte and granulocyte peaks closer than this (units) are one
      population; the band is then placed ``single_population_offset`` above it
    - ``band_margin``: the monocyte SSC band leaves out this fraction of the lymphocyte-granulocyte
      distance at each end; ``min_band_events`` events are needed in it
    - ``cd14_peak_height``: a CD14 peak's minimum height in the band (fraction of the highest);
      ``cd14_window`` (units): half-width around a CD14 peak counted as its events (at least
      ``min_cd14_peak_events``) and taken as the monocyte core (at least ``min_core_events``)
    - ``initial_spread``, ``min_spread`` (units): the core's starting and smallest robust SD;
      ``spread_iterations`` refinements from the bright side, within ``spread_window_sds`` SDs,
      needing ``min_bright_events``
    - ``reference_window`` (units): half-width of the SSC slices taken as lymphocytes and
      granulocytes; ``min_reference_events`` needed, else the fallbacks ``fallback_cd14_below``
      (lymphocytes' CD14 under the monocytes') and ``fallback_granulocyte_cd14_below``
    - ``cd14_low_sds``, ``max_cd14_below``: the window's CD14 floor lies ``cd14_low_sds`` SDs above
      the lymphocytes, at most ``max_cd14_below`` units and at least ``cd14_low_sds`` monocyte SDs
      below the monocytes
    - ``ssc_low_sds``, ``ssc_low_fraction``: the window's SSC floor, in monocyte SDs below them
      and at least this fraction of the way up from the lymphocytes; ``ssc_top_sds``: the gate's
      SSC ceiling above the monocytes; ``granulocyte_margin``, ``granulocyte_sds``: the window
      covers the whole neutrophil cluster up to this far above its peak or SDs above the
      monocytes; ``cd14_high``: the window's right edge
    - ``nonclassical_shift``, ``nonclassical_sd``, ``immature_sd``, ``granulocyte_sd``,
      ``eosinophil_offset``: starting geometry of the non-classical, immature-granulocyte,
      neutrophil and eosinophil components (units); each component's mean is kept in a box of
      a few monocyte SDs around where it started
    """

    n_dims: ClassVar[int] = 2
    dims: tuple[str, str]
    max_granulocyte_posterior: float = 0.35
    min_events: int = 100
    ssc_peak_height: float = 0.1
    min_ssc_separation: float = 0.05
    single_population_offset: float = 0.2
    band_margin: float = 0.25
    min_band_events: int = 30
    cd14_peak_height: float = 0.02
    cd14_window: float = 0.04
    min_cd14_peak_events: int = 25
    min_core_events: int = 20
    initial_spread: float = 0.02
    min_spread: float = 0.01
    spread_iterations: int = 3
    spread_window_sds: float = 3.0
    min_bright_events: int = 10
    reference_window: float = 0.03
    min_reference_events: int = 20
    fallback_cd14_below: float = 0.4
    fallback_granulocyte_cd14_below: float = 0.3
    cd14_low_sds: float = 4.0
    max_cd14_below: float = 0.45
    ssc_low_sds: float = 4.0
    ssc_low_fraction: float = 0.5
    ssc_top_sds: float = 3.0
    granulocyte_margin: float = 0.06
    granulocyte_sds: float = 6.0
    cd14_high: float = 1.2
    nonclassical_shift: float = 0.2
    nonclassical_sd: float = 0.05
    immature_sd: float = 0.07
    granulocyte_sd: float = 0.06
    eosinophil_offset: float = 0.04

    def fit(self, data: GateData, parent: np.ndarray) -> PolygonGate:
        """The monocyte polygon of this sample (``parent``: mask of the events to gate)."""
        x = data.display(self.dims[0])[parent]
        y = data.display(self.dims[1])[parent]
        if x.size < self.min_events:
            raise GatingError(f"too few events ({x.size}) to find monocytes")
        y_lymph, y_gran = self._ssc_landmarks(y)
        mu_x, mu_y, s_x, s_y = self._classical_monocytes(x, y, y_lymph, y_gran)
        window = self._window(x, y, (mu_x, mu_y, s_x, s_y), y_lymph, y_gran)
        x_gran = self._reference_cd14(x, y, y_gran, mu_x - self.fallback_granulocyte_cd14_below)
        return self._mixture_gate(x, y, (mu_x, mu_y, s_x, s_y), window, x_gran, y_gran)

    def _ssc_landmarks(self, y: np.ndarray) -> tuple[float, float]:
        """SSC of the lymphocytes (lowest peak) and of the granulocytes (highest peak)."""
        centres, dens = density(y, *np.percentile(y, [0.5, 99.5]))
        found = peaks(centres, dens, self.ssc_peak_height)
        if not found:
            raise GatingError("monocyte gate not found: no side-scatter populations")
        y_lymph, y_gran = float(centres[found[0]]), float(centres[found[-1]])
        if y_gran - y_lymph < self.min_ssc_separation:  # one SSC population only: place the band around it
            y_gran = y_lymph + self.single_population_offset
        return y_lymph, y_gran

    def _classical_monocytes(self, x: np.ndarray, y: np.ndarray, y_lymph: float,
                             y_gran: float) -> tuple[float, float, float, float]:
        """Centre (x, y) and robust SDs of the CD14-brightest population of the SSC band."""
        margin = self.band_margin * (y_gran - y_lymph)
        band = (y > y_lymph + margin) & (y < y_gran - margin)
        if band.sum() < self.min_band_events:
            raise GatingError("monocyte gate not found: nothing between lymphocytes and granulocytes")
        xb = x[band]
        xc, xd = density(xb, *np.percentile(xb, [0.5, 99.9]), bins=128, smooth=3.0)
        # the CD14-brightest population holding enough events: classical monocytes, even when
        # immature granulocytes outnumber them at this side scatter
        x_peaks = [i for i in peaks(xc, xd, self.cd14_peak_height)
                   if np.sum(np.abs(xb - xc[i]) < self.cd14_window) >= self.min_cd14_peak_events]
        if not x_peaks:
            raise GatingError("monocyte gate not found: no CD14 population at monocyte side scatter")
        core = band & (np.abs(x - float(xc[x_peaks[-1]])) < self.cd14_window)
        if core.sum() < self.min_core_events:
            raise GatingError("monocyte gate not found: the CD14-bright cluster is too small")
        mu_x, mu_y = float(np.median(x[core])), float(np.median(y[core]))
        # spread from the CD14-bright side only: the dim side may hold far more immature
        # granulocytes or non-classical monocytes
        s_x = s_y = self.initial_spread
        reach = self.spread_window_sds
        for _ in range(self.spread_iterations):
            bright = (x >= mu_x) & (x < mu_x + reach * s_x) & (np.abs(y - mu_y) < reach * s_y)
            if bright.sum() < self.min_bright_events:
                raise GatingError("monocyte gate not found: the CD14-bright cluster is too small")
            s_x = max(_MAD * float(np.median(x[bright] - mu_x)), self.min_spread)
            mu_y, s_y = _robust(y[bright])
            s_y = max(s_y, self.min_spread)
        return mu_x, mu_y, s_x, s_y

    def _reference_cd14(self, x: np.ndarray, y: np.ndarray, y_level: float, fallback: float) -> float:
        """Median CD14 of the events at SSC ``y_level`` (within ``reference_window``), or ``fallback``."""
        near = np.abs(y - y_level) < self.reference_window
        return float(np.median(x[near])) if near.sum() > self.min_reference_events else fallback

    def _window(self, x: np.ndarray, y: np.ndarray, monocytes: tuple[float, float, float, float], y_lymph: float,
                y_gran: float) -> tuple[float, float, float, float]:
        """(CD14 floor, SSC floor, SSC ceiling of the gate, SSC ceiling of the mixture window)."""
        mu_x, mu_y, s_x, s_y = monocytes
        lymph = np.abs(y - y_lymph) < self.reference_window  # the CD14-negative reference
        if lymph.sum() > self.min_reference_events:
            x_neg, s_neg = _robust(x[lymph])
        else:
            x_neg, s_neg = mu_x - self.fallback_cd14_below, self.initial_spread
        x_lo = min(max(x_neg + self.cd14_low_sds * max(s_neg, self.min_spread), mu_x - self.max_cd14_below),
                   mu_x - self.cd14_low_sds * s_x)
        y_lo = max(mu_y - self.ssc_low_sds * s_y, y_lymph + self.ssc_low_fraction * (mu_y - y_lymph))
        y_top = mu_y + self.ssc_top_sds * s_y
        # the whole neutrophil cluster, not its lower half
        y_hi = max(y_gran + self.granulocyte_margin, mu_y + self.granulocyte_sds * s_y)
        return x_lo, y_lo, y_top, y_hi

    def _mixture_gate(self, x: np.ndarray, y: np.ndarray, monocytes: tuple[float, float, float, float],
                      window: tuple[float, float, float, float], x_gran: float, y_gran: float) -> PolygonGate:
        """Fit the mixture in the window; the polygon where granulocytes are unlikely enough."""
        mu_x, mu_y, s_x, s_y = monocytes
        x_lo, y_lo, y_top, y_hi = window
        x_hi = self.cd14_high
        inside = (x >= x_lo) & (y >= y_lo) & (y <= y_hi)
        # classical and non-classical monocytes, immature granulocytes (CD14-dim, SSC between
        # monocytes and neutrophils), neutrophils, eosinophils and granulocyte doublets
        means = np.array([[mu_x, mu_y], [mu_x - self.nonclassical_shift, mu_y - s_y],
                          [(mu_x + x_gran) / 2, (mu_y + y_gran) / 2], [x_gran, y_gran],
                          [x_gran, y_gran + self.eosinophil_offset]])
        g = self.granulocyte_sd
        covs = np.array([np.diag([s_x**2, s_y**2]), np.diag([self.nonclassical_sd**2, s_y**2]),
                         np.diag([self.immature_sd**2, s_y**2]), np.diag([g**2, (2 * s_y) ** 2]),
                         np.diag([g**2, (2 * s_y) ** 2])])
        bounds = np.array([
            [mu_x - 2 * s_x, mu_x + 2 * s_x, mu_y - 2 * s_y, mu_y + 2 * s_y],
            [x_lo, mu_x - 2 * s_x, mu_y - 3 * s_y, mu_y + 0.5 * s_y],
            [x_lo, mu_x, mu_y + 2 * s_y, y_gran],
            [x_lo, x_hi, mu_y + 3 * s_y, y_hi],
            [x_lo, x_hi, y_gran + 0.01, y_hi],
        ])
        mix = fit_binned(x[inside], y[inside], (x_lo, x_hi, y_lo, y_hi), means, covs, bounds)
        return _region_polygon(self.dims, mix, [2, 3, 4], (x_lo, x_hi, y_lo, y_top),
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
