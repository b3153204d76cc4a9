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
from .kernels import select
from .mixture import Mixture, fit_binned, histogram1d, histogram2d
from .plausibility import share_problem

_MAD = 1.4826
_WITHIN_2_SDS = 0.9545  # of a Gaussian's events, those within two SDs of its centre


def _robust(values: np.ndarray) -> tuple[float, float]:
    """Median and MAD-based robust SD of ``values`` (a selection of the caller's, reordered here:
    each median partitions it in place instead of a copy)."""
    center = float(np.median(values, overwrite_input=True))
    deviations = np.abs(values - center)
    spread = _MAD * float(np.median(deviations, overwrite_input=True))
    return center, spread


def _in_box(x: np.ndarray, y: np.ndarray, cx: float, wx: float, cy: float, wy: float) -> np.ndarray:
    """Which events have ``|x - cx| < wx`` and ``|y - cy| < wy`` (display units)."""
    return (np.abs(x - cx) < wx) & (np.abs(y - cy) < wy)


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


def density(values: np.ndarray, low: float, high: float, bins: int = 256, smooth: float = 2.0
            ) -> tuple[np.ndarray, np.ndarray]:
    """Bin centres and a Gaussian-smoothed histogram (``smooth`` in bins)."""
    counts, edges = histogram1d(values, bins, (low, high))
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
        scale = select(data.scale(self.dims[0]), parent)
        if scale.size < 50:
            raise GatingError(f"too few events ({scale.size}) to find debris on {self.dims[0]}")
        x = np.log10(np.maximum(scale, 1.0))
        low, high = np.percentile(x, [0.5, 99.9]).tolist()
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
        area = data.selected(self.dims[0], parent, display=False)  # the figure's outline reads it too
        height = select(data.scale(self.dims[1]), parent)
        if np.array_equal(area, height):  # one channel for both (a FACSCalibur has no pulse area)
            return RatioGate(self.dims, low=1.0, high=1.0)
        ok = (area > 0) & (height > 0)
        if np.count_nonzero(ok) < 50:
            raise GatingError(f"too few events ({np.count_nonzero(ok)}) to find singlets on {'/'.join(self.dims)}")
        log_ratio = np.log10(height / area if np.count_nonzero(ok) == ok.size else height[ok] / area[ok])
        center, spread = _robust(log_ratio)
        spread = max(spread, 0.005)
        return RatioGate(self.dims, low=float(10 ** (center - self.width * spread)),
                         high=float(10 ** (center + self.width * spread)))

    def to_dict(self) -> dict[str, Any]:
        return {"type": "auto", "method": "singlets", "dims": list(self.dims), "width": self.width}


Core = tuple[float, float, float, float]  # centre (x, y) and robust SDs of a population, display units


@dataclass(frozen=True)
class DrawnJudgement:
    """What :meth:`MonocyteGate.judge_drawn` found of a drawn monocyte gate:
    ``cd14_separation_sds`` (its cells' median CD14 above the lymphocytes', in lymphocyte SDs),
    ``purity`` (estimated monocyte fraction, 0-1) and ``problem`` ("" when its cells are
    plausibly monocytes; else why not, in words)."""

    cd14_separation_sds: float
    purity: float
    problem: str


@dataclass(frozen=True)
class MonocyteGate:
    """Monocytes on CD14 (x) vs SSC (y), fitted per sample in display coordinates (the strategy's
    transforms: about 0..1 over the instrument's range; "units" below are display units).

    Monocytes are found by what defines them, not by where they usually sit: (1) the CD14-negative
    reference, the lymphocytes (the lowest side-scatter peak); (2) the classical monocytes, the
    CD14-brightest two-dimensional cluster among the events clearly above that reference, at
    whatever side scatter it lies; (3) granulocytes, if any: the events above the monocytes in
    side scatter (none in PBMC, most events in whole blood); (4) a window around the monocytes,
    bounded below by the CD14-negative cells; (5) a Gaussian mixture in that window: with
    granulocytes, classical and non-classical monocytes, immature granulocytes, neutrophils,
    eosinophils and doublets, the gate being the region where the granulocytic components'
    posterior is at most ``max_granulocyte_posterior``; without, the two monocyte components and
    a uniform background, the gate being where the monocytes' posterior is at least
    1 - ``max_granulocyte_posterior``; (6) plausibility: the gated cells must be a cluster, their
    CD14 well above the lymphocytes and their share plausible, or the gate is refused
    (docs/gating-strategy.md). What the fit found (granulocyte share, estimated purity, CD14
    separation) goes to ``data.findings`` (see :meth:`fit`).

    Every number the fit uses is a field (settable in a strategy's ``auto: monocytes`` gate):

    - ``max_granulocyte_posterior``: the gate's edge (probability, 0-1)
    - ``min_events``: fewer parent events refuse the gate
    - ``ssc_peak_height``: an SSC peak's minimum height (fraction of the highest)
    - ``reference_window`` (units): half-width of the SSC slices taken as lymphocytes and
      granulocytes; ``min_reference_events`` needed there
    - ``cd14_low_sds``: events more than this many lymphocyte SDs above the lymphocytes' CD14
      are CD14-positive (the monocyte candidates); ``min_band_events`` of them are needed
    - ``peak_bins``, ``peak_smooth``: the candidates' 2-D histogram (bins per axis) and its
      Gaussian smoothing (bins); ``cd14_window``, ``ssc_window`` (units): half-widths around a
      density peak counted as its events (at least ``min_cd14_peak_events`` and
      ``cd14_peak_height`` x the largest peak's) and taken as the monocyte core (at least
      ``min_core_events``)
    - ``initial_spread``, ``min_spread`` (units): the core's starting and smallest robust SD;
      ``spread_iterations`` refinements from the bright side, within ``spread_window_sds`` SDs,
      needing ``min_bright_events``
    - ``min_granulocyte_share``: granulocytes are modelled when at least this fraction of the
      parent lies above the monocytes in SSC (``ssc_top_sds`` monocyte SDs up) and below them in
      CD14; ``fallback_granulocyte_cd14_below``: their CD14 under the monocytes' when too few
      lie near their SSC peak
    - ``max_cd14_below``: the window's CD14 floor lies ``cd14_low_sds`` SDs above the
      lymphocytes, at most ``max_cd14_below`` units and at least ``cd14_low_sds`` monocyte SDs
      below the monocytes
    - ``ssc_low_sds``, ``ssc_low_fraction``: the window's SSC floor, in monocyte SDs below them
      and at least this fraction of the way up from the lymphocytes; ``ssc_top_sds``: the gate's
      SSC ceiling above the monocytes; ``granulocyte_margin``, ``granulocyte_sds``: the window
      covers the whole neutrophil cluster up to this far above its peak or SDs above the
      monocytes; ``cd14_high``: the window's right edge
    - ``nonclassical_shift``, ``nonclassical_sd``, ``immature_sd``, ``granulocyte_sd``,
      ``eosinophil_offset``: starting geometry of the non-classical, immature-granulocyte,
      neutrophil and eosinophil components (units); each component's mean is kept in a box of
      a few monocyte SDs around where it started; ``debris_below_sds``: in PBMC (no
      granulocytes) a component for the doublets and debris under the monocytes, its mean kept
      at least this many monocyte SSC SDs below theirs and CD14-dimmer
    - plausibility: ``min_cd14_separation_sds``: the CD14-brightest cluster's and the gated
      cells' median CD14 at least this many lymphocyte SDs above the lymphocytes', unless the
      other evidence sets a CD14-dim cluster apart (stimulated or cryopreserved monocytes): its
      SSC at least ``dim_ssc_sds`` of its SSC SDs above the lymphocytes' (with granulocytes:
      below theirs, and its CD14 that many of its SDs above theirs) and at most
      ``max_dim_ssc_ratio`` times theirs in scale values (a granulocyte's, not a monocyte's, beyond);
      without granulocytes, a side-scatter population of its own (its SSC density at least
      ``min_dim_ssc_dip_ratio`` times the lowest between it and the lymphocytes: not the top edge
      of a CD14 background rising with side scatter), the median CD14 of every
      event at its SSC and of the gated cells at least ``min_dim_cd14_separation_sds``
      lymphocyte SDs above the lymphocytes', and an estimated purity of at least
      ``min_dim_purity`` (in PBMC a CD14-bright cluster whose gated cells' median falls under
      ``min_cd14_separation_sds`` is judged so too, if that median lies within one cluster SD
      of the cluster's); ``min_dip_ratio``: along CD14 at the monocytes' SSC, the monocyte
      peak (within one of its SDs of its centre) at least this many times the lowest density
      between them and the lymphocytes (a cluster, not a tail; ``min_dim_dip_ratio`` for a
      CD14-dim cluster, whose CD14-dimmer non-classical monocytes fill the valley); ``min_share``, ``max_share``:
      the gated share of the parent (fractions; ``max_share`` without granulocytes is
      ``max_share_pbmc``); ``min_drawn_purity``: a gate drawn by a person whose cells are under
      this estimated monocyte fraction holds other cells (:meth:`judge_drawn`)
    - overlap (with granulocytes): when the gate's estimated purity is under
      ``overlap_purity``, the readout needs purity more than recall: the gate is redrawn at the
      least strict of ``overlap_steps`` cuts, evenly from ``max_granulocyte_posterior`` down to
      ``overlap_strictest``, where its events' estimated purity reaches ``overlap_purity``;
      what it left out is reported (``data.findings["monocytes"]["overlap"]``); a second fit
      whose classical monocyte component is pinned to the monocytes' CD14-bright side (their
      centre and SDs, twice the events at or above their centre) must find the gated events at
      least ``min_pinned_purity`` monocytes, else the tube is refused: the mixture's own
      purity reads components that may have widened over the cells they overlap
    - the readout's bias (whole blood, with a third dim: the readout marker, HLA-DR in the default
      strategy; docs/gating-strategy.md step 9): the cells that share the monocytes' CD14 and side
      scatter are HLA-DR-negative, so each one let in lies under the monocytes and with purity p
      the gated median sits at the monocytes' (1 - 0.5/p) quantile. The monocytes' HLA-DR level is
      the highest peak of the gated events' HLA-DR density, or a brighter peak (at least
      ``contamination_peak_height`` x the highest, holding ``min_core_events`` within
      ``contamination_window`` units) set apart from it by a valley under ``contamination_valley``
      x its height; the events more than ``contamination_sds`` of the monocytes' SDs under it are
      the contaminants (c); the bias is ``10^(s z(1 - 0.5/(1 - c))) - 1`` (s the monocytes' log10
      SD from their upper quartile), times the ratio of the monocytes' medians in the first and the
      purity-first gate; over ``max_contamination_bias`` (a fraction) the tube is refused. Not
      checked where the monocytes' level lies within ``contamination_sds`` lymphocyte SDs of the
      lymphocytes' HLA-DR (an isotype control), nor without granulocytes above the cluster
    """

    n_dims: ClassVar[int] = 2  # at least: CD14 and side scatter; a third, the readout marker, is checked
    variadic: ClassVar[bool] = True
    dims: tuple[str, ...]
    max_granulocyte_posterior: float = 0.38
    min_events: int = 100
    ssc_peak_height: float = 0.1
    reference_window: float = 0.03
    min_reference_events: int = 20
    cd14_low_sds: float = 4.0
    min_band_events: int = 30
    peak_bins: int = 96
    peak_smooth: float = 1.5
    cd14_window: float = 0.04
    ssc_window: float = 0.05
    cd14_peak_height: float = 0.005
    min_cd14_peak_events: int = 25
    min_core_events: int = 20
    initial_spread: float = 0.02
    min_spread: float = 0.01
    spread_iterations: int = 3
    spread_window_sds: float = 3.0
    min_bright_events: int = 10
    min_granulocyte_share: float = 0.05
    fallback_granulocyte_cd14_below: float = 0.3
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
    min_cd14_separation_sds: float = 8.0
    min_dim_cd14_separation_sds: float = 2.5
    dim_ssc_sds: float = 4.0
    max_dim_ssc_ratio: float = 6.0
    min_dim_purity: float = 0.9
    overlap_purity: float = 0.945
    debris_below_sds: float = 2.0
    min_pinned_purity: float = 0.87
    overlap_strictest: float = 0.1
    contamination_sds: float = 3.0
    contamination_peak_height: float = 0.02
    contamination_window: float = 0.02
    contamination_valley: float = 0.5
    max_contamination_bias: float = 0.025
    overlap_steps: int = 10
    min_dip_ratio: float = 1.5
    min_dim_dip_ratio: float = 1.2
    min_dim_ssc_dip_ratio: float = 1.5
    min_share: float = 0.001
    max_share: float = 0.4
    max_share_pbmc: float = 0.5

    min_drawn_purity: float = 0.5

    @property
    def drawn_dims(self) -> tuple[str, str]:
        """The plane the fitted polygon is drawn on (CD14, SSC): the third dim is only checked."""
        return self.dims[0], self.dims[1]

    def judge_drawn(self, data: GateData, parent: np.ndarray, gated: np.ndarray) -> DrawnJudgement | None:
        """A gate drawn by a person (``gated``: the events it holds, within ``parent``) judged by
        the rules of this gate that do not depend on its own polygon: the lymphocytes and the
        mixture are found on the same parent as :meth:`fit` finds them, then the gated cells'
        median CD14 in lymphocyte SDs above the lymphocytes' (at least
        ``min_dim_cd14_separation_sds``; under ``min_cd14_separation_sds`` a purity of
        ``min_dim_purity`` is needed, as for a CD14-dim cluster) and their estimated purity (the
        mixture's mean posterior of the monocyte components; events outside its window count as
        not monocytes; at least ``min_drawn_purity``). None when the parent holds no monocyte
        cluster to judge against (what :meth:`fit` would refuse: nothing to compare with).

        Parameters
        ----------
        data : GateData
            The sample's events.
        parent : numpy.ndarray of bool
            The parent population's events.
        gated : numpy.ndarray of bool
            The events the drawn gate holds.
        """
        x, y = data.selected(self.dims[0], parent), data.selected(self.dims[1], parent)
        if x.size < self.min_events:
            return None
        try:
            y_low, y_lymph_top, y_top = np.percentile(y, [0.5, 99.5, 99.9]).tolist()
            lymphocytes = self._lymphocytes(x, y, (y_low, y_lymph_top))
            monocytes = self._classical_monocytes(x, y, lymphocytes, (y_low, y_top))
            granulocytes, _ = self._granulocytes(x, y, monocytes)
            window = self._window(monocytes, lymphocytes, granulocytes)
            _, mix, members = self._mixture_gate(x, y, monocytes, window, granulocytes)
        except GatingError:
            return None
        inside = gated & parent
        gx, gy = data.display(self.dims[0])[inside], data.display(self.dims[1])[inside]
        if not gx.size:
            return DrawnJudgement(cd14_separation_sds=0.0, purity=0.0, problem="it holds no events")
        x_lo, y_lo, _, y_hi = window
        modelled = (gx >= x_lo) & (gx <= self.cd14_high) & (gy >= y_lo) & (gy <= y_hi)
        posterior = mix.posterior(np.column_stack([gx, gy]), members) * modelled
        purity = float(np.mean(posterior))
        x_neg, _, s_neg, _ = lymphocytes
        separation = (float(np.median(gx)) - x_neg) / s_neg if s_neg > 0 else 0.0
        problem = ""
        if separation < self.min_dim_cd14_separation_sds:
            problem = (f"its cells' CD14 is {separation:.1f} lymphocyte SDs above the lymphocytes' "
                       f"({self.min_dim_cd14_separation_sds:g} needed): they are not monocytes")
        elif purity < self.min_drawn_purity:
            problem = (f"its cells are {100 * purity:.0f} % monocytes by the mixture fitted on the same cells "
                       f"({100 * self.min_drawn_purity:g} % needed): most are not monocytes")
        elif separation < self.min_cd14_separation_sds and purity < self.min_dim_purity:
            problem = (f"its cells' CD14 is only {separation:.1f} lymphocyte SDs above the lymphocytes' and they "
                       f"are {100 * purity:.1f} % monocytes ({100 * self.min_dim_purity:g} % needed under "
                       f"{self.min_cd14_separation_sds:g} SDs)")
        return DrawnJudgement(cd14_separation_sds=round(separation, 3), purity=round(purity, 6), problem=problem)

    def fit(self, data: GateData, parent: np.ndarray) -> PolygonGate:
        """The monocyte polygon of this sample (``parent``: mask of the events to gate). What the
        fit found is stored as ``data.findings["monocytes"]``: ``granulocyte_share`` (fraction of
        the parent), ``granulocytes`` (modelled or not), ``purity`` (the mixture's mean
        posterior of the monocyte components over the gated events, 0-1) and
        ``cd14_separation_sds``, ``cd14_dim`` (the cluster was accepted on the CD14-dim
        evidence) and ``overlap`` (None, or what the purity-first gate left out of the first one:
        ``events``, the ``monocytes`` and ``immature_granulocytes`` the mixture expects among
        them, and the ``max_granulocyte_posterior`` cut used) and ``pinned_purity`` (with
        granulocytes, the gated events' purity under the fit pinned to the monocytes' CD14-bright
        side; else None). Raises GatingError, naming what is
        missing, when no plausible monocyte population is found."""
        x, y = data.selected(self.dims[0], parent), data.selected(self.dims[1], parent)  # the figure's too
        if x.size < self.min_events:
            raise GatingError(f"too few events ({x.size}) to find monocytes")
        y_low, y_lymph_top, y_top = np.percentile(y, [0.5, 99.5, 99.9]).tolist()  # one selection for both steps
        lymphocytes = self._lymphocytes(x, y, (y_low, y_lymph_top))
        monocytes = self._classical_monocytes(x, y, lymphocytes, (y_low, y_top))
        granulocytes, share = self._granulocytes(x, y, monocytes)
        ssc_ratio = self._ssc_ratio(data, monocytes, lymphocytes)
        dim = self._dim_evidence(x, y, monocytes, lymphocytes, granulocytes, monocytes[0],
                                 "the CD14-brightest cluster's", ssc_ratio)
        window = self._window(monocytes, lymphocytes, granulocytes)
        gate, mix, members = self._mixture_gate(x, y, monocytes, window, granulocytes)
        gated = data.inside(gate) & parent  # what apply_strategy keeps: the polygon tested once
        gated_x, gated_y = select(data.display(self.dims[0]), gated), select(data.display(self.dims[1]), gated)
        if not gated_x.size:
            raise GatingError("no CD14-bright population: monocyte gate not found (the gate holds no events)")
        gated_cd14 = float(np.median(gated_x))
        if dim is None and granulocytes is None and gated_cd14 >= monocytes[0] - monocytes[2]:
            # PBMC: a bright cluster whose gate reaches dimmer cells is judged as a dim one; a gate
            # more than one cluster SD dimmer than its cluster (or with granulocytes) holds other
            # cells and is refused below
            dim = self._dim_evidence(x, y, monocytes, lymphocytes, granulocytes, gated_cd14, "the gated cells'",
                                     ssc_ratio)
        separation = self._check(x, y, gated_x.size, gated_cd14, monocytes, lymphocytes, granulocytes is not None,
                                 dim)
        purity = float(np.mean(mix.posterior(np.column_stack([gated_x, gated_y]), members))) if gated_x.size else 0.0
        overlap, first = None, gated
        if granulocytes is not None and purity < self.overlap_purity:
            gate, gated, gated_x, purity, overlap = self._pure_gate(data, parent, mix, monocytes, window, gated)
        checked = None
        if granulocytes is not None:
            # the mixture's purity reads its own components: where immature granulocytes outnumber
            # the monocytes at their scatter, a monocyte component widened over them counts them as
            # monocytes (2 % monocytes: 95 % estimated, 45-78 % true); a second fit whose classical
            # component is pinned to the monocytes' CD14-bright side cannot
            checked = self._pinned_purity(x, y, monocytes, window, granulocytes, gated_x,
                                          select(data.display(self.dims[1]), gated))
            if checked < self.min_pinned_purity:
                raise GatingError(
                    f"monocyte gate not found: CD14-dimmer cells share the monocytes' scatter beyond what CD14 and "
                    f"side scatter separate (the gate is {100 * checked:.0f} % monocytes as their CD14-bright side "
                    f"counts them, {100 * self.min_pinned_purity:g} % needed; the mixture alone says "
                    f"{100 * purity:.0f} %): immature granulocytes? a third marker (CD15 or CD45; not CD16) "
                    "separates them")
        # the readout's bias from HLA-DR-negative cells, where granulocytes lie above the cluster in side
        # scatter (whole blood; in PBMC doublets and debris have a component of their own, step 8)
        above = np.count_nonzero(y > monocytes[1] + self.ssc_top_sds * monocytes[3]) / y.size
        # whole blood also when a step before (the third marker's) took its granulocytes out: the
        # immature granulocytes that step let through are what this check sees
        upstream = data.findings.get("granulocytes") or {}
        excluded_by = upstream.get("marker") if upstream.get("granulocytes") else None
        checked_blood = granulocytes is not None or above >= self.min_granulocyte_share or excluded_by is not None
        contamination = None
        if len(self.dims) > 2 and checked_blood and self.dims[2] not in data.missing:
            # the HLA-DR-negative reference: the lymphocytes (mostly T and NK cells)
            negative = select(data.display(self.dims[2]), parent)[np.abs(y - lymphocytes[1]) < self.reference_window]
            contamination = self._contamination(data, gated, first, negative)
        if contamination is not None and contamination["bias"] < -self.max_contamination_bias:
            raise GatingError(
                f"monocyte gate not found: {100 * contamination['fraction']:.0f} % of the gated events are "
                f"{self.dims[2]}-negative cells under the monocytes' {self.dims[2]}, which pulls the median "
                f"{100 * -contamination['bias']:.1f} % low ({100 * self.max_contamination_bias:g} % allowed): "
                + (f"CD14, side scatter and {excluded_by} do not separate them (immature granulocytes the "
                   f"{excluded_by} step let through?)" if excluded_by else
                   "CD14 and side scatter do not separate them (immature granulocytes? a third marker, CD15 or "
                   "CD45, does)"))
        if dim is not None and purity < self.min_dim_purity:
            raise GatingError(f"no CD14-bright population: monocyte gate not found (the CD14-dim cluster's "
                              f"estimated purity is {100 * purity:.1f} %, {100 * self.min_dim_purity:g} % needed "
                              "when CD14 is under 8 lymphocyte SDs)")
        data.findings["monocytes"] = {"granulocyte_share": round(share, 6), "granulocytes": granulocytes is not None,
                                      "purity": round(purity, 6), "cd14_separation_sds": round(separation, 3),
                                      "cd14_dim": dim is not None, "overlap": overlap,
                                      "pinned_purity": None if checked is None else round(checked, 6),
                                      "contamination": contamination}
        return gate

    def _contamination(self, data: GateData, gated: np.ndarray, first: np.ndarray, negative: np.ndarray
                       ) -> dict[str, float] | None:
        """The gated events' contamination by cells under the monocytes on the readout marker
        (``dims[2]``) and the bias it puts on their median: ``fraction`` (c, 0-1), ``bias`` (the
        gated median over the monocytes' own, minus 1) and ``level`` (the monocytes' median, scale
        units); None when the file lacks the marker or the gate holds fewer than
        ``min_core_events``. The monocytes' level is first the marker's brightest density peak
        (at least ``contamination_peak_height`` x the highest), their SD the median distance of
        the events above it / 0.6745; then, twice, from their quantiles given c: median the
        (0.5 + c/2) quantile, SD from their upper quartile. c counts the events more than
        ``contamination_sds`` SDs under the level (display units)."""
        marker = self.dims[2]
        if marker in data.missing:
            return None
        from scipy.special import ndtri

        counted = self._monocyte_level(data, gated)
        if counted is None:
            return None
        fraction, own, spread, level = counted
        if negative.size >= self.min_reference_events:
            centre, sd = _robust(negative.copy())
            if level <= centre + self.contamination_sds * sd:  # unstained (an isotype control): nothing under it
                return None
        if fraction < 0.5:  # the gated median at the monocytes' (1 - 0.5/p) quantile, p = 1 - c
            bias = 10 ** (spread * float(ndtri(1 - 0.5 / (1 - fraction)))) - 1
        else:  # the median is a contaminant's
            median = float(np.median(data.selected(marker, gated, display=False)))
            bias = median / own - 1 if own > 0 else -1.0
            return {"fraction": round(fraction, 6), "bias": round(bias, 6), "level": round(own, 3)}
        reference = self._monocyte_level(data, first) if first is not gated else None
        if reference is not None and reference[1] > 0 and own > 0:  # the monocytes the purity-first gate left out
            bias = (1 + bias) * own / reference[1] - 1
            own = reference[1]
        return {"fraction": round(fraction, 6), "bias": round(bias, 6), "level": round(own, 3)}

    def _monocyte_level(self, data: GateData, mask: np.ndarray) -> tuple[float, float, float, float] | None:
        """(c, the monocytes' own median in scale units, their log10 SD from their upper quartile,
        their peak in display units)
        of the events in ``mask`` on the readout marker (see :meth:`_contamination`); None for
        fewer than ``min_core_events``."""
        marker = self.dims[2]
        shown = data.selected(marker, mask)
        if shown.size < self.min_core_events:
            return None
        values = np.sort(shown)
        low, high = float(values[0]), float(values[-1])
        if high <= low:
            return None
        margin = 4 * self.contamination_window  # the smoothing's edges outside the events: no edge peaks
        centres, dens = density(values, low - margin, high + margin, smooth=3.0)
        main = int(np.argmax(dens))
        level = float(centres[main])
        # a brighter peak is the monocytes' only when a valley sets it apart from the highest one
        # (HLA-DR-negative cells the majority of the gate), never a ripple on the monocytes' flank
        for i in sorted(peaks(centres, dens, self.contamination_peak_height), reverse=True):
            if i <= main:
                break
            held = np.count_nonzero(np.abs(values - centres[i]) < self.contamination_window)
            if held >= self.min_core_events and float(dens[main:i].min()) < self.contamination_valley * dens[i]:
                level = float(centres[i])
                break
        above = values[values > level]
        spread = max(float(np.median(above - level)) / 0.6745 if above.size else 0.0, 1e-6)
        fraction = float(np.searchsorted(values, level - self.contamination_sds * spread)) / values.size
        for _ in range(2):
            centre, upper = np.quantile(values, [0.5 + fraction / 2, 0.5 + fraction / 2 + 0.25 * (1 - fraction)])
            spread = max(float(upper - centre) / 0.6745, 1e-6)
            fraction = float(np.searchsorted(values, centre - self.contamination_sds * spread)) / values.size
        fraction = min(fraction, 0.98)
        scale = data.selected(marker, mask, display=False)
        centre, upper = np.quantile(scale, [0.5 + fraction / 2, 0.5 + fraction / 2 + 0.25 * (1 - fraction)]).tolist()
        spread = float(np.log10(upper / centre)) / 0.6745 if centre > 0 and upper > centre else 0.0
        return fraction, centre, spread, level

    def _pure_gate(self, data: GateData, parent: np.ndarray, mix: Mixture, monocytes: Core,
                   window: tuple[float, float, float, float], gated: np.ndarray
                   ) -> tuple[PolygonGate, np.ndarray, np.ndarray, float, dict[str, Any]]:
        """Where granulocytic cells overlap the monocytes (the gate's estimated purity under
        ``overlap_purity``), the readout needs purity more than recall: the least strict of
        ``overlap_steps`` cuts of the granulocytic posterior, evenly from
        ``max_granulocyte_posterior`` down to ``overlap_strictest``, under which the gated events'
        mean monocyte posterior reaches ``overlap_purity`` (the strictest when none does), and the
        gate redrawn there. Returns that gate, its mask and CD14, its purity, and what it left out
        of the first gate (events; of them the monocytes and immature granulocytes the mixture
        expects; the cut)."""
        mu_x, mu_y, _, _ = monocytes
        x_lo, y_lo, y_top, _ = window
        display_x, display_y = data.display(self.dims[0]), data.display(self.dims[1])
        points = np.column_stack([select(display_x, gated), select(display_y, gated)])
        weighted = mix.component_densities(points)  # n x k
        total = np.maximum(weighted.sum(axis=1) + mix.background_weight * mix.background_density, 1e-300)
        monocyte, granulocytic = weighted[:, :2].sum(axis=1) / total, weighted[:, 2:5].sum(axis=1) / total
        cuts = np.linspace(self.max_granulocyte_posterior, self.overlap_strictest, self.overlap_steps + 1)[1:].tolist()
        cut = cuts[-1]
        for cut in cuts:  # the events' own posteriors choose the cut: one polygon is drawn
            below = granulocytic <= cut
            if below.any() and float(np.mean(monocyte[below])) >= self.overlap_purity:
                break
        strict = _region_polygon((self.dims[0], self.dims[1]), mix, [2, 3, 4], (x_lo, self.cd14_high, y_lo, y_top), cut,
                                 (mu_x, mu_y))
        kept = data.inside(strict) & parent
        kept_x = select(display_x, kept)
        kept_points = np.column_stack([kept_x, select(display_y, kept)])
        purity = float(np.mean(mix.posterior(kept_points, [0, 1]))) if kept_x.size else 0.0
        left = gated & ~kept
        left_points = np.column_stack([select(display_x, left), select(display_y, left)])
        excluded = {"events": int(np.count_nonzero(left)),
                    "monocytes": round(float(mix.posterior(left_points, [0, 1]).sum()), 1),
                    "immature_granulocytes": round(float(mix.posterior(left_points, [2]).sum()), 1),
                    "max_granulocyte_posterior": round(cut, 4)}
        return strict, kept, kept_x, purity, excluded

    def _pinned_purity(self, x: np.ndarray, y: np.ndarray, monocytes: Core, window: tuple[float, float, float, float],
                       granulocytes: tuple[float, float], gated_x: np.ndarray, gated_y: np.ndarray) -> float:
        """The gated events' (``gated_x``, ``gated_y``) mean monocyte posterior under a second fit of
        the mixture of :meth:`_mixture_gate` whose classical monocyte component is pinned: centre
        and SDs those of the CD14-bright cluster (:meth:`_classical_monocytes`, from its bright
        side), weight twice the events at or above its CD14 centre within two of its SSC SDs (its
        bright half, where neither immature granulocytes nor non-classical monocytes lie) over the
        window's events; the non-classical component's SDs capped at ``max(CD14 SD,
        nonclassical_sd)`` x the monocytes' SSC SD and its correlation at 0.2 (it cannot widen
        over the immature granulocytes either). 0 for no gated events."""
        mu_x, mu_y, s_x, s_y = monocytes
        x_lo, y_lo, _, y_hi = window
        inside = (x >= x_lo) & (x <= self.cd14_high) & (y >= y_lo) & (y <= y_hi)
        bright = int(np.count_nonzero(inside & (x >= mu_x) & (np.abs(y - mu_y) < 2 * s_y)))
        weight = min(2 * bright / _WITHIN_2_SDS / max(int(np.count_nonzero(inside)), 1), 0.9)
        means, covs, bounds = self._blood_components(monocytes, window, granulocytes)
        bounds[0] = [mu_x, mu_x, mu_y, mu_y]
        inf = np.inf
        rest = (1 - 0.02 - weight) / 4  # fit_binned's background starts at 0.02
        mix = fit_binned(x, y, (x_lo, self.cd14_high, y_lo, y_hi), np.array(means), np.array(covs), np.array(bounds),
                         fixed=np.array([True, False, False, False, False]),
                         weights=np.array([weight, rest, rest, rest, rest]),
                         max_sds=np.array([[inf, inf], [max(s_x, self.nonclassical_sd), s_y], [inf, inf], [inf, inf],
                                           [inf, inf]]),
                         max_correlation=np.array([1.0, 0.2, 1.0, 1.0, 1.0]))
        return float(np.mean(mix.posterior(np.column_stack([gated_x, gated_y]), [0, 1]))) if gated_x.size else 0.0

    def _blood_components(self, monocytes: Core, window: tuple[float, float, float, float],
                          granulocytes: tuple[float, float]) -> tuple[list[list[float]], list[np.ndarray],
                                                                      list[list[float]]]:
        """Starting means, covariances and mean bounds of the whole-blood mixture: classical and
        non-classical monocytes, immature granulocytes (CD14-dim, SSC between monocytes and
        neutrophils), neutrophils, eosinophils and granulocyte doublets."""
        mu_x, mu_y, s_x, s_y = monocytes
        x_lo, _, _, y_hi = window
        x_hi = self.cd14_high
        x_gran, y_gran = granulocytes
        g = self.granulocyte_sd
        means = [[mu_x, mu_y], [mu_x - self.nonclassical_shift, mu_y - s_y],
                 [(mu_x + x_gran) / 2, (mu_y + y_gran) / 2], [x_gran, y_gran],
                 [x_gran, y_gran + self.eosinophil_offset]]
        covs = [np.diag([s_x**2, s_y**2]), np.diag([self.nonclassical_sd**2, s_y**2]),
                np.diag([self.immature_sd**2, s_y**2]), np.diag([g**2, (2 * s_y) ** 2]),
                np.diag([g**2, (2 * s_y) ** 2])]
        bounds = [[mu_x - 2 * s_x, mu_x + 2 * s_x, mu_y - 2 * s_y, mu_y + 2 * s_y],
                  [x_lo, mu_x - 2 * s_x, mu_y - 3 * s_y, mu_y + 0.5 * s_y],
                  [x_lo, mu_x, mu_y + 2 * s_y, y_gran], [x_lo, x_hi, mu_y + 3 * s_y, y_hi],
                  [x_lo, x_hi, y_gran + 0.01, y_hi]]
        return means, covs, bounds

    def _ssc_ratio(self, data: GateData, monocytes: Core, lymphocytes: Core) -> float:
        """The cluster's side scatter over the lymphocytes' in scale values (whatever the display
        transform): monocytes lie 2-5 times the lymphocytes', neutrophils 6-15 times (inf when the
        lymphocytes' scale value is not positive)."""
        lymph, cluster = data.transform(self.dims[1]).inverse(np.array([lymphocytes[1], monocytes[1]])).tolist()
        return cluster / lymph if lymph > 0 else float("inf")

    def _dim_evidence(self, x: np.ndarray, y: np.ndarray, monocytes: Core, lymphocytes: Core,
                      granulocytes: tuple[float, float] | None, cd14: float, what: str,
                      ssc_ratio: float) -> float | None:
        """None when ``cd14`` (the median CD14 of the cluster or of the gated cells, ``what``: a
        possessive naming them) lies at least ``min_cd14_separation_sds`` lymphocyte SDs above
        the lymphocytes'. Under that, the other evidence that the cluster is a monocyte
        cluster, or GatingError naming what is missing: side scatter at least ``dim_ssc_sds`` of
        its SSC SDs above the lymphocytes' (and, with granulocytes, below theirs and CD14-brighter
        than them) and at most ``max_dim_ssc_ratio`` times theirs in scale values (``ssc_ratio``,
        :meth:`_ssc_ratio`: monocytes 2-5 times, granulocytes more; a tube whose CD14 was not
        stained has its brightest cluster where the background rises highest, with the
        granulocytes, and may have no granulocytes above it to model); without granulocytes, its
        side-scatter density (within one of its SSC SDs) at least ``min_dim_ssc_dip_ratio`` times
        the lowest between it and the lymphocytes (a population of its own, not the top edge of a
        CD14 background rising with side scatter); and the CD14 of every event at its side
        scatter (not only of those above the CD14-positive cut, whose median cannot lie under it)
        at least ``min_dim_cd14_separation_sds``
        lymphocyte SDs above the lymphocytes'; and at most ``max_share_pbmc`` of the events
        within two of its SSC SDs (more are granulocytes). Returns that whole-band separation
        (SDs)."""
        mu_x, mu_y, s_x, s_y = monocytes
        x_neg, y_lymph, s_neg, _ = lymphocytes
        separation = (cd14 - x_neg) / s_neg
        if separation >= self.min_cd14_separation_sds:
            return None
        refused = (f"no CD14-bright population: monocyte gate not found ({what} CD14 is only "
                   f"{separation:.1f} lymphocyte SDs above the lymphocytes', {self.min_cd14_separation_sds:g} "
                   "needed unless ")
        ssc_sds = (mu_y - y_lymph) / s_y
        if ssc_sds < self.dim_ssc_sds:
            raise GatingError(refused + f"its side scatter sets it apart: {ssc_sds:.1f} of its SDs above the "
                                        f"lymphocytes', {self.dim_ssc_sds:g} needed)")
        if granulocytes is not None and not (mu_y < granulocytes[1]
                                             and mu_x - self.dim_ssc_sds * s_x > granulocytes[0]):
            raise GatingError(refused + "it lies between lymphocytes and granulocytes in side scatter, "
                                        "CD14-brighter than the granulocytes)")
        in_band = np.abs(y - mu_y) < 2 * s_y
        crowd = np.count_nonzero(in_band) / in_band.size
        if crowd > self.max_share_pbmc:  # the majority at that scatter: granulocytes, never monocytes
            raise GatingError(refused + f"it is a minority: {100 * crowd:.0f} % of the cells lie at its side scatter, "
                                        f"at most {100 * self.max_share_pbmc:g} % can be monocytes)")
        if ssc_ratio > self.max_dim_ssc_ratio:
            raise GatingError(refused + f"its side scatter is a monocyte's: it is {ssc_ratio:.1f} times the "
                                        f"lymphocytes', at most {self.max_dim_ssc_ratio:g} for monocytes; more are "
                                        "granulocytes: is CD14 stained?)")
        if granulocytes is None:  # the highest-SSC cells: a side-scatter population, not an edge of the CD14 trend
            centres, dens = density(y, y_lymph, mu_y + 3 * s_y, bins=128, smooth=2.0)
            first, last = np.searchsorted(centres, [mu_y - s_y, mu_y + s_y]).tolist()
            between = (centres > y_lymph) & (centres < mu_y - 2 * s_y)
            valley = float(dens[between].min()) if between.any() else 0.0
            ssc_dip = float(dens[first:last + 1].max()) / valley if valley > 0 else float("inf")
            if ssc_dip < self.min_dim_ssc_dip_ratio:
                raise GatingError(refused + f"it is a side-scatter population of its own: its side-scatter density "
                                            f"is {ssc_dip:.2f} times the lowest between it and the lymphocytes', "
                                            f"{self.min_dim_ssc_dip_ratio:g} needed; CD14 rising with side scatter "
                                            "is background, not a stain)")
        band = select(x, np.abs(y - mu_y) < s_y)
        whole = (_robust(band)[0] - x_neg) / s_neg if band.size >= self.min_band_events else 0.0
        if whole < self.min_dim_cd14_separation_sds:
            raise GatingError(refused + f"all the events at its side scatter are CD14-positive: their median "
                                        f"CD14 is {whole:.1f} lymphocyte SDs above, "
                                        f"{self.min_dim_cd14_separation_sds:g} needed)")
        return whole

    def _lymphocytes(self, x: np.ndarray, y: np.ndarray, y_range: tuple[float, float]) -> Core:
        """The CD14-negative reference as a Core (CD14 centre, SSC centre, CD14 robust SD, 0: its
        SSC spread is not used): the lowest SSC peak with ``min_reference_events`` events around
        it, on the SSC density over ``y_range`` (the 0.5th and 99.5th percentiles)."""
        centres, dens = density(y, *y_range)
        found = peaks(centres, dens, self.ssc_peak_height)
        if not found:
            raise GatingError("monocyte gate not found: no side-scatter populations")
        for i in found:  # the lowest peak holding enough events (a sparse tube has noise peaks)
            y_lymph = float(centres[i])
            near = np.abs(y - y_lymph) < self.reference_window
            if np.count_nonzero(near) >= self.min_reference_events:
                break
        else:
            raise GatingError("monocyte gate not found: no lymphocytes to serve as the CD14-negative reference")
        x_neg, s_neg = _robust(x[near])
        return x_neg, y_lymph, max(s_neg, self.min_spread), 0.0

    def _classical_monocytes(self, x: np.ndarray, y: np.ndarray, lymphocytes: Core,
                             y_range: tuple[float, float]) -> Core:
        """Centre (x, y) and robust SDs of the CD14-brightest cluster clearly above the
        lymphocytes, searched over SSC ``y_range`` (the 0.5th and 99.9th percentiles)."""
        from scipy.ndimage import gaussian_filter, maximum_filter

        x_neg, _, s_neg, _ = lymphocytes
        positive = x > x_neg + self.cd14_low_sds * s_neg
        if np.count_nonzero(positive) < self.min_band_events:
            raise GatingError("no CD14-bright population: monocyte gate not found")
        xp, yp = select(x, positive), select(y, positive)
        x_low, x_high = np.percentile(xp, [0.5, 99.9]).tolist()
        x_range = (x_low, x_high)
        counts, xe, ye = histogram2d(xp, yp, self.peak_bins, x_range, y_range)
        smooth = gaussian_filter(counts.astype(np.float64), self.peak_smooth)  # float: not smoothed into integers
        # a peak is the highest point within a core's half-widths: ripples on a cluster's flank are not
        reach = (max(1, int(self.cd14_window / (xe[1] - xe[0]))), max(1, int(self.ssc_window / (ye[1] - ye[0]))))
        is_peak = (smooth == maximum_filter(smooth, size=(2 * reach[0] + 1, 2 * reach[1] + 1))) & (smooth > 0)
        i, j = np.nonzero(is_peak)
        centres_x, centres_y = (xe[i] + xe[i + 1]) / 2, (ye[j] + ye[j + 1]) / 2
        masses = np.array([np.count_nonzero(_in_box(xp, yp, bx, self.cd14_window, by, self.ssc_window))
                           for bx, by in zip(centres_x.tolist(), centres_y.tolist(), strict=True)], dtype=np.int64)
        candidates = list(zip(centres_x.tolist(), centres_y.tolist(), masses.tolist(), strict=True))
        largest = max((m for _, _, m in candidates), default=0)
        kept = [c for c in candidates if c[2] >= max(self.min_cd14_peak_events, self.cd14_peak_height * largest)]
        if not kept:
            raise GatingError("no CD14-bright population: monocyte gate not found")
        # the CD14-brightest clusters; of those within two core widths of the brightest, the
        # largest (monocyte-granulocyte doublets are as bright as monocytes but far fewer)
        brightest = max(c[0] for c in kept)
        cx, cy, _ = max((c for c in kept if c[0] >= brightest - 2 * self.cd14_window), key=lambda c: c[2])
        # the core and the bright side lie among the CD14-positive events (xp, yp): every event
        # at or above the core's median CD14 is one
        core = _in_box(xp, yp, cx, self.cd14_window, cy, self.ssc_window)
        if np.count_nonzero(core) < self.min_core_events:
            raise GatingError("no CD14-bright population: the CD14-bright cluster is too small")
        mu_x, mu_y = float(np.median(xp[core])), float(np.median(yp[core]))
        # spread from the CD14-bright side only: the dim side may hold far more immature
        # granulocytes or non-classical monocytes
        s_x = s_y = self.initial_spread
        sds = self.spread_window_sds
        for _ in range(self.spread_iterations):
            bright = (xp >= mu_x) & (xp < mu_x + sds * s_x) & (np.abs(yp - mu_y) < sds * s_y)
            if np.count_nonzero(bright) < self.min_bright_events:
                raise GatingError("no CD14-bright population: the CD14-bright cluster is too small")
            s_x = max(_MAD * float(np.median(xp[bright] - mu_x)), self.min_spread)
            mu_y, s_y = _robust(yp[bright])
            s_y = max(s_y, self.min_spread)
        return mu_x, mu_y, s_x, s_y

    def _granulocytes(self, x: np.ndarray, y: np.ndarray, monocytes: Core
                      ) -> tuple[tuple[float, float] | None, float]:
        """(CD14, SSC) of the granulocytes' peak, or None when fewer than ``min_granulocyte_share``
        of the events lie above the monocytes in SSC; and that share."""
        mu_x, mu_y, s_x, s_y = monocytes
        above = (y > mu_y + self.ssc_top_sds * s_y) & (x < mu_x - 2 * s_x)
        share = np.count_nonzero(above) / above.size
        if share < self.min_granulocyte_share:
            return None, share
        ya = select(y, above)
        centres, dens = density(ya, *np.percentile(ya, [0.5, 99.5]).tolist())
        y_gran = float(centres[int(np.argmax(dens))])
        near = np.abs(y - y_gran) < self.reference_window
        x_gran = float(np.median(x[near])) if np.count_nonzero(near) > self.min_reference_events \
            else mu_x - self.fallback_granulocyte_cd14_below
        return (x_gran, y_gran), share

    def _window(self, monocytes: Core, lymphocytes: Core, granulocytes: tuple[float, float] | None
                ) -> tuple[float, float, float, float]:
        """(CD14 floor, SSC floor, SSC ceiling of the gate, SSC ceiling of the mixture window)."""
        mu_x, mu_y, s_x, s_y = monocytes
        x_neg, y_lymph, s_neg, _ = lymphocytes
        x_lo = min(max(x_neg + self.cd14_low_sds * s_neg, mu_x - self.max_cd14_below), mu_x - self.cd14_low_sds * s_x)
        y_lo = max(mu_y - self.ssc_low_sds * s_y, y_lymph + self.ssc_low_fraction * (mu_y - y_lymph))
        y_top = mu_y + self.ssc_top_sds * s_y
        y_hi = mu_y + self.granulocyte_sds * s_y
        if granulocytes is not None:  # the whole neutrophil cluster, not its lower half
            y_hi = max(granulocytes[1] + self.granulocyte_margin, y_hi)
        return x_lo, y_lo, y_top, y_hi

    def _mixture_gate(self, x: np.ndarray, y: np.ndarray, monocytes: Core, window: tuple[float, float, float, float],
                      granulocytes: tuple[float, float] | None) -> tuple[PolygonGate, Mixture, list[int]]:
        """Fit the mixture in the window; the polygon where monocytes are likely enough; the
        mixture and the indices of its monocyte components. In PBMC a third component takes the
        doublets and debris under the monocytes in side scatter (``debris_below_sds`` of their
        SDs or more below them, CD14-dimmer): against the uniform background alone the
        non-classical component widened over them, the gate held them all and its purity
        estimate, read from the same components, could not see them."""
        mu_x, mu_y, s_x, s_y = monocytes
        x_lo, y_lo, y_top, y_hi = window
        x_hi = self.cd14_high
        means = [[mu_x, mu_y], [mu_x - self.nonclassical_shift, mu_y - s_y]]
        covs = [np.diag([s_x**2, s_y**2]), np.diag([self.nonclassical_sd**2, s_y**2])]
        bounds = [[mu_x - 2 * s_x, mu_x + 2 * s_x, mu_y - 2 * s_y, mu_y + 2 * s_y],
                  [x_lo, mu_x - 2 * s_x, mu_y - 3 * s_y, mu_y + 0.5 * s_y]]
        box = (x_lo, x_hi, y_lo, y_top)
        if granulocytes is None:  # PBMC: monocytes, doublets and debris, against a uniform background
            means += [[(x_lo + mu_x) / 2, mu_y - 3 * s_y]]
            covs += [np.diag([(mu_x - x_lo) ** 2 / 4, (2 * s_y) ** 2])]
            bounds += [[x_lo, mu_x, y_lo, mu_y - self.debris_below_sds * s_y]]
            mix = fit_binned(x, y, (x_lo, x_hi, y_lo, y_hi), np.array(means), np.array(covs),
                             np.array(bounds))
            return _region_polygon((self.dims[0], self.dims[1]), mix, [0, 1], box, self.max_granulocyte_posterior,
                                   (mu_x, mu_y),
                                   strict=True), mix, [0, 1]
        means, covs, bounds = self._blood_components(monocytes, window, granulocytes)
        mix = fit_binned(x, y, (x_lo, x_hi, y_lo, y_hi), np.array(means), np.array(covs),
                         np.array(bounds))
        return _region_polygon((self.dims[0], self.dims[1]), mix, [2, 3, 4], box, self.max_granulocyte_posterior,
                               (mu_x, mu_y)), mix, [0, 1]

    def _check(self, x: np.ndarray, y: np.ndarray, n_gated: int, gated_cd14: float, monocytes: Core,
               lymphocytes: Core, granulocytes: bool, dim: float | None) -> float:
        """Refuse an implausible gate (GatingError with the reason); the CD14 separation (SDs).
        ``x``, ``y``: the parent's events; ``n_gated``, ``gated_cd14``: how many the gate holds
        and their median CD14; ``dim``: the CD14-dim evidence (:meth:`_dim_evidence`), None for a
        CD14-bright cluster (which then needs ``min_dip_ratio``, a dim one ``min_dim_dip_ratio``)."""
        mu_x, mu_y, s_x, s_y = monocytes
        x_neg, _, s_neg, _ = lymphocytes
        needed = self.min_cd14_separation_sds if dim is None else self.min_dim_cd14_separation_sds
        separation = self._separation(gated_cd14, lymphocytes, "the gated cells'", needed)
        limit = self.max_share if granulocytes else self.max_share_pbmc
        problem = share_problem(n_gated, x.size, self.min_share, limit)  # the rule a drawn gate answers to too
        if problem:
            raise GatingError(f"monocyte gate not plausible: {problem}")
        band = np.abs(y - mu_y) < 2 * s_y
        low, high = x_neg, mu_x + 3 * s_x
        centres, dens = density(select(x, band), low, high, bins=128, smooth=2.0)
        # the cluster's peak within one of its SDs of its centre (a CD14-dim cluster's centre, found
        # among the events above the CD14-positive cut, lies above its peak)
        first, last = np.searchsorted(centres, [mu_x - s_x, mu_x + s_x]).tolist()
        peak = float(dens[max(first - 1, 0):last + 2].max())
        between = (centres > x_neg + s_neg) & (centres < mu_x - s_x)
        dip = float(dens[between].min()) if between.any() else 0.0
        dip_ratio = self.min_dip_ratio if dim is None else self.min_dim_dip_ratio
        if dip > 0 and peak / dip < dip_ratio:
            raise GatingError(f"monocyte gate not found: the CD14-bright events form a tail, not a cluster "
                              f"(peak/valley {peak / dip:.2f}, {dip_ratio:g} needed)")
        return separation

    def _separation(self, cd14: float, lymphocytes: Core, what: str, needed: float) -> float:
        """How many lymphocyte SDs ``cd14`` (display units) lies above the lymphocytes' CD14;
        GatingError naming ``what`` (a possessive) when fewer than ``needed``."""
        x_neg, _, s_neg, _ = lymphocytes
        separation = (cd14 - x_neg) / s_neg
        if separation < needed:
            raise GatingError(f"no CD14-bright population: monocyte gate not found ({what} CD14 is only "
                              f"{separation:.1f} lymphocyte SDs above the lymphocytes', {needed:g} needed)")
        return separation

    def to_dict(self) -> dict[str, Any]:
        return {"type": "auto", "method": "monocytes", "dims": list(self.dims),
                "max_granulocyte_posterior": self.max_granulocyte_posterior}


@dataclass(frozen=True)
class GranulocyteGate:
    """The non-granulocytic events, on a third marker (CD15, CD45 or CD16) when the panel has one:
    granulocytes taken out before the monocyte gate, where side scatter and CD14 alone cannot set
    immature granulocytes apart from monocytes (septic blood).

    ``dims``: side scatter, CD14, then the third markers in order of preference (the default
    strategy: CD15, CD45, CD16); the first the file has is used. A file with none of them (the
    markers optional in the strategy) keeps every event, as the singlet gate does without a pulse
    height, and ``data.findings["granulocytes"]`` says so (``marker`` None).

    The marker's levels come from the sample, never from fixed channel values (display units;
    docs/gating-strategy.md, "The third marker"):

    1. lymphocytes: the lowest side-scatter peak (``ssc_peak_height``; ``reference_window`` wide,
       at least ``min_reference_events``): the CD14-negative reference and the non-granulocytic
       side of the marker;
    2. neutrophils: the densest side scatter, unless that is the lymphocytes' or CD14-bright
       (``cd14_bright_sds`` lymphocyte SDs up): then no granulocytes (PBMC) and every event is
       kept. Their level must lie ``lymphocyte_sds`` of their SDs from the lymphocytes';
    3. monocytes: the CD14-brighter half of the CD14-positive events (``cd14_low_sds`` lymphocyte
       SDs up) lying more than ``provisional_sds`` neutrophil SDs from the neutrophils' level;
       the two levels at least ``min_separation_sds`` SDs from the cut;
    4. the cut: as many monocyte SDs from the monocytes' level as neutrophil SDs from the
       neutrophils' (at least ``uncrowded_sds`` monocyte SDs out, short of one neutrophil SD from
       them); where CD14-positive events at the monocytes' side scatter (``ssc_top_sds``) crowd
       past it (more than ``max_crowd`` x the monocytes' core: immature granulocytes), at most
       ``monocyte_sds`` monocyte SDs out (purity before recall); above the monocytes' side
       scatter the stricter of the two. The granulocytic side is the neutrophils' (above the cut
       for CD15 and CD16, under it for CD45: decided by the data);
    5. a marker named in ``ssc_limited`` (CD16: non-classical monocytes are CD16-positive,
       immature granulocytes CD16-dim) excludes only events within ``neutrophil_sds`` of the
       neutrophils' level, at the monocytes' side scatter or lower: neutrophils, nothing else.

    Refused (GatingError naming the marker and its channel) when the channel is out of use -- more
    than ``max_at_top`` of the parent's events at its top of scale (saturated: a voltage too high)
    or more than ``max_one_value`` at one value (constant: not acquired) -- never gated as if it
    measured the marker; when the neutrophils' level is not set apart from the lymphocytes' or the
    monocytes' (unstained, mislabelled); when the pattern is not the one its label names
    (``granulocytic``, ``marker:bright|dim`` comma-separated: CD15 and CD16 bright on neutrophils,
    CD45 dim; a marker in ``lymphocyte_negative`` (CD15) with more than
    ``max_positive_lymphocytes`` of the lymphocytes on the neutrophils' side of the midpoint
    between their levels: CD16 data, whose NK cells are bright, labelled CD15), a marker in
    ``lymphocyte_positive`` (CD16) with fewer than ``min_positive_lymphocytes`` there (its NK cells
    missing: CD15 data labelled CD16); or either reference has too few events. ``min_events``:
    fewer parent events refuse the gate; ``min_spread``: the smallest robust SD (units).

    ``data.findings["granulocytes"]``: ``marker`` (None when stepped aside), ``granulocytes``
    (found or not), ``excluded`` (events), ``ssc_limited``, and when found
    ``granulocyte_share`` (fraction of the parent on the granulocytic side of the cut),
    ``separation_sds``, ``crowd``, ``purity_first`` and ``granulocytic`` (``bright``/``dim``).
    """

    n_dims: ClassVar[int] = 3  # at least: side scatter, CD14 and one third marker
    variadic: ClassVar[bool] = True
    dims: tuple[str, ...]
    min_events: int = 100
    ssc_peak_height: float = 0.1
    reference_window: float = 0.03
    min_reference_events: int = 20
    min_spread: float = 0.01
    cd14_low_sds: float = 4.0
    cd14_bright_sds: float = 8.0
    lymphocyte_sds: float = 3.0
    provisional_sds: float = 2.0
    min_separation_sds: float = 1.5
    ssc_limited: str = "CD16"  # markers (comma-separated) excluded only above the monocytes' side scatter
    monocyte_sds: float = 2.0
    max_crowd: float = 0.4
    uncrowded_sds: float = 3.0
    neutrophil_sds: float = 2.0
    ssc_top_sds: float = 3.0
    max_at_top: float = 0.05
    max_one_value: float = 0.5
    granulocytic: str = "CD15:bright,CD16:bright,CD45:dim"
    lymphocyte_negative: str = "CD15"
    max_positive_lymphocytes: float = 0.05
    lymphocyte_positive: str = "CD16"
    min_positive_lymphocytes: float = 0.02

    def fit(self, data: GateData, parent: np.ndarray) -> IntervalGate | PolygonGate:
        """The events kept (an open interval on side scatter when the file has none of the third
        markers or the tube no granulocytes); what was found goes to ``data.findings["granulocytes"]``."""
        ssc, cd14, *candidates = self.dims
        present = [m for m in candidates if m not in data.missing]
        keep_all = IntervalGate((cd14,))  # every event (open on CD14: an open interval on a log axis is not exportable)
        if not present:
            data.findings["granulocytes"] = {"marker": None, "granulocytes": None, "excluded": 0}
            return keep_all
        marker = present[0]
        limited = marker in [name.strip() for name in self.ssc_limited.split(",")]
        y, x, m = data.selected(ssc, parent), data.selected(cd14, parent), data.selected(marker, parent)
        if y.size < self.min_events:
            raise GatingError(f"too few events ({y.size}) to find granulocytes on {marker}")
        refused = f"granulocytes not excluded on {marker}: "
        fault = self._out_of_use(_as_acquired(data, marker, parent), data.transform(marker).top)
        if fault:
            raise GatingError(refused + f"its channel{_channel_of(data, marker)} has {fault}")
        # (1) the lymphocytes, the lowest side-scatter peak: the CD14-negative reference and the
        # marker's non-granulocytic side
        centres, dens = density(y, *np.percentile(y, [0.5, 99.5]).tolist())
        found_peaks = peaks(centres, dens, self.ssc_peak_height)
        lymph = next((near for near in (np.abs(y - centres[i]) < self.reference_window for i in found_peaks)
                      if np.count_nonzero(near) >= self.min_reference_events), None)
        if lymph is None:
            raise GatingError(refused + "no lymphocytes (a side-scatter peak) to serve as its reference")
        x_neg, s_neg = _robust(select(x, lymph))
        s_neg = max(s_neg, self.min_spread)
        level_l = float(np.median(select(m, lymph)))
        # (2) the granulocytes: the densest side scatter, when it is not the lymphocytes' nor CD14-bright
        y_gran = float(centres[int(np.argmax(dens))])
        near = np.abs(y - y_gran) < self.reference_window
        gran_cd14 = float(np.median(select(x, near)))
        found: dict[str, Any] = {"marker": marker, "granulocytes": False, "excluded": 0, "ssc_limited": limited}
        data.findings["granulocytes"] = found
        y_lymph = float(np.median(select(y, lymph)))
        if y_gran - y_lymph < 2 * self.reference_window or gran_cd14 > x_neg + self.cd14_bright_sds * s_neg:
            return keep_all  # PBMC: the densest cells are the lymphocytes or CD14-bright monocytes
        level_g, sd_g = _robust(select(m, near))
        sd_g = max(sd_g, self.min_spread)
        side = 1.0 if level_l > level_g else -1.0  # where the non-granulocytic cells lie on the marker
        if side * (level_l - level_g) < self.lymphocyte_sds * sd_g:
            raise GatingError(refused + f"it does not set them apart from the lymphocytes (the neutrophils' {marker} "
                                        f"lies {abs(level_l - level_g) / sd_g:.1f} of their SDs from the lymphocytes', "
                                        f"{self.lymphocyte_sds:g} needed): is the channel stained and labelled right?")
        expected = dict(item.split(":") for item in (part.strip() for part in self.granulocytic.split(",")) if item)
        observed = "dim" if side > 0 else "bright"
        if expected.get(marker, observed).strip() != observed:
            raise GatingError(refused + f"the neutrophils' {marker} lies {'under' if side > 0 else 'above'} the "
                                        f"lymphocytes' where {marker} is {expected[marker].strip()} on neutrophils: "
                                        f"is the channel labelled right?")
        positive_l = float(np.mean((select(m, lymph) - (level_l + level_g) / 2) * side < 0))
        if marker in [name.strip() for name in self.lymphocyte_negative.split(",")] \
                and positive_l > self.max_positive_lymphocytes:
            raise GatingError(refused + f"{100 * positive_l:.0f} % of the lymphocytes lie on the neutrophils' side "
                                        f"of {marker} ({100 * self.max_positive_lymphocytes:g} % at most: "
                                        f"{marker} is negative on lymphocytes; CD16, bright on NK cells?): is "
                                        f"the channel labelled right?")
        if marker in [name.strip() for name in self.lymphocyte_positive.split(",")] \
                and positive_l < self.min_positive_lymphocytes:
            raise GatingError(refused + f"only {100 * positive_l:.1f} % of the lymphocytes lie on the neutrophils' "
                                        f"side of {marker} ({100 * self.min_positive_lymphocytes:g} % at least: NK "
                                        f"cells are {marker}-bright; CD15, negative on every lymphocyte?): is the "
                                        f"channel labelled right?")
        # (3) the CD14-bright monocytes: the CD14-brighter half of the CD14-positive events away from
        # the neutrophils' level (immature granulocytes, at or beyond it, left out)
        away = (m - level_g) * side > self.provisional_sds * sd_g
        positive = away & (x > x_neg + self.cd14_low_sds * s_neg)
        if np.count_nonzero(positive) < 2 * self.min_reference_events:
            raise GatingError(refused + f"too few CD14-positive events away from the neutrophils' {marker} "
                                        f"({np.count_nonzero(positive)}) to serve as the monocytes' reference")
        core = positive & (x >= float(np.median(select(x, positive))))
        mu_y, s_y = _robust(select(y, core))
        # at the monocytes' own side scatter: cell pairs (a FACSCalibur records no pulse area, so
        # none are excluded) lie higher, with a granulocyte's marker, and widened the monocytes'
        # spread and the cut with it (septic 2 % monocytes: immature granulocytes let in, 3.5-6 % low)
        core &= np.abs(y - mu_y) < self.ssc_top_sds * max(s_y, self.min_spread)
        level_m, sd_m = _robust(select(m, core))
        mu_y, s_y = _robust(select(y, core))
        sd_m = max(sd_m, self.min_spread)
        separation = abs(level_g - level_m) / (sd_m + sd_g)
        if separation < self.min_separation_sds or (level_g - level_m) * side > 0:
            raise GatingError(refused + f"it does not set them apart from the monocytes (the neutrophils' {marker} "
                                        f"lies {separation:.1f} SDs from the CD14-bright monocytes' at the cut, "
                                        f"{self.min_separation_sds:g} needed)")
        # the cut: where an event is as many monocyte SDs from their level as neutrophil SDs from
        # theirs; where granulocytic events crowd the monocytes' place (CD14-positive, at their side
        # scatter, past that cut: more than max_crowd x the core's events, as immature granulocytes
        # in septic blood), no more than monocyte_sds of their SDs from them (purity before recall:
        # a granulocyte let in lowers the readout, a monocyte left out does not move it)
        balanced = level_m + (level_g - level_m) * sd_m / (sd_m + sd_g)
        band = (x > x_neg + self.cd14_low_sds * s_neg) & (np.abs(y - mu_y) < self.ssc_top_sds * s_y)
        crowd = np.count_nonzero(band & ((m - balanced) * side < 0)) / max(int(np.count_nonzero(core)), 1)
        crowded = crowd > self.max_crowd
        if crowded:
            # the crowding cells (immature granulocytes, pairs) in the core lie toward the
            # granulocytes: they pull its median and widen its two-sided spread, and the cut with
            # them (septic 2 % monocytes on a FACSCalibur: 3.5-6.1 % low). The monocytes' spread
            # from their side away from the granulocytes, their level the median within two of
            # those SDs (three refinements)
            level_m, sd_m = self._far_side(select(m, core), level_m, sd_m, side)
            balanced = level_m + (level_g - level_m) * sd_m / (sd_m + sd_g)
            reach = min(abs(balanced - level_m), self.monocyte_sds * sd_m)
        else:  # recall first: at least uncrowded_sds monocyte SDs, short of one neutrophil SD from theirs
            reach = max(abs(balanced - level_m), min(self.uncrowded_sds * sd_m, abs(level_g - level_m) - sd_g))
        cut = level_m - side * reach
        bright = level_g > level_m
        found["granulocyte_share"] = round(float(np.count_nonzero((m - cut) * side < 0)) / m.size, 6)
        gate: IntervalGate | PolygonGate
        if limited:  # only the neutrophils' level, and only at the monocytes' side scatter
            cut = level_g - side * self.neutrophil_sds * sd_g
            ceiling = mu_y + self.ssc_top_sds * s_y
            x_lo, x_hi = float(np.min(m)) - 0.1, float(np.max(m)) + 0.1
            y_lo, y_hi = self._ssc_range(data, y)
            far, kept = (x_hi, x_lo) if bright else (x_lo, x_hi)
            gate = PolygonGate((marker, ssc), ((kept, y_lo), (cut, y_lo), (cut, ceiling), (far, ceiling), (far, y_hi),
                                               (kept, y_hi)))
        else:  # above the monocytes' side scatter no monocyte lies: there the stricter cut, every neutrophil out
            ceiling = mu_y + self.ssc_top_sds * s_y
            strict = level_m - side * min(reach, self.monocyte_sds * sd_m)
            x_lo, x_hi = float(np.min(m)) - 0.1, float(np.max(m)) + 0.1
            y_lo, y_hi = self._ssc_range(data, y)
            kept = x_lo if bright else x_hi
            gate = PolygonGate((marker, ssc), ((kept, y_lo), (cut, y_lo), (cut, ceiling), (strict, ceiling),
                                               (strict, y_hi), (kept, y_hi)))
        excluded = int(np.count_nonzero(parent & ~data.inside(gate)))
        found.update({"granulocytes": True, "excluded": excluded, "separation_sds": round(separation, 3),
                      "crowd": round(float(crowd), 4), "purity_first": bool(crowded and not limited),
                      "granulocytic": "bright" if bright else "dim"})
        return gate

    def _out_of_use(self, values: np.ndarray, top_of_scale: float) -> str | None:
        """Why the marker's channel (scale ``values`` of the parent's events; ``top_of_scale``, its
        transform's) measures nothing: more than ``max_at_top`` of them at its top of scale
        (saturated: within 2 % of their maximum) or more than
        ``max_one_value`` at one value (constant; an integer channel piles its negative events at
        0, so the bar is high), else None."""
        top = float(np.max(values))
        at_top = float(np.mean(values >= top - 0.02 * abs(top))) if top > 0 else 0.0
        if at_top > self.max_at_top:
            return (f"{100 * at_top:.0f} % of the events at the top of scale ({top_of_scale:,.0f}; "
                    f"{100 * self.max_at_top:g} % at most): saturated (the voltage too high?)")
        levels, counts = np.unique(values, return_counts=True)
        if counts.max() > self.max_one_value * values.size:
            return (f"{100 * counts.max() / values.size:.0f} % of the events at one value "
                    f"({float(levels[np.argmax(counts)]):,.6g}; {100 * self.max_one_value:g} % at most): constant "
                    f"(not acquired?)")
        return None

    def _far_side(self, values: np.ndarray, level: float, spread: float, side: float) -> tuple[float, float]:
        """The level and robust SD of the monocytes' marker ``values`` (their core), the SD from
        the side away from the granulocytes (``side``: +1 when the non-granulocytic cells lie above
        them) and the level the median within two of those SDs, refined three times from ``level``
        and ``spread`` (returned unchanged when too few events lie on the far side)."""
        for _ in range(3):
            far = values[(values - level) * side > 0]
            if far.size < self.min_reference_events:
                break
            spread = max(_MAD * float(np.median(np.abs(far - level))), self.min_spread)
            near = values[np.abs(values - level) < 2 * spread]
            level = float(np.median(near)) if near.size else level
        return level, spread

    def _ssc_range(self, data: GateData, y: np.ndarray) -> tuple[float, float]:
        """The polygons' side-scatter reach (display units): beyond the events', above a log axis's
        floor (display 0: GatingML cannot say 'down to the floor'; the events there are never monocytes)."""
        low = float(np.min(y)) - 0.1
        if data.transform(self.dims[0]).kind == "log":
            low = max(low, 1e-6)
        return low, float(np.max(y)) + 0.1

    def to_dict(self) -> dict[str, Any]:
        return {"type": "auto", "method": "non_granulocytes", "dims": list(self.dims)}


def _channel_of(data: GateData, marker: str) -> str:
    """' CHANNEL': the file's channel measuring ``marker`` where ``data`` knows it, else ''."""
    column = getattr(data, "channels", {}).get(marker)
    sample = getattr(data, "sample", None)
    if column is None or sample is None:
        return ""
    return f" {sample.channels[column]}"


def _as_acquired(data: GateData, marker: str, mask: np.ndarray) -> np.ndarray:
    """``marker``'s values as the file holds them (before compensation: a saturated or constant
    channel is one value there) for the events in ``mask``, where ``data`` has the file; else its
    scale values."""
    column = getattr(data, "channels", {}).get(marker)
    sample = getattr(data, "sample", None)
    if column is None or sample is None:
        return data.selected(marker, mask, display=False)
    return np.asarray(select(sample.events[:, column], mask), dtype=np.float64)


def _region_polygon(dims: tuple[str, str], mix: Mixture, members: list[int], box: tuple[float, float, float, float],
                    max_posterior: float, anchor: tuple[float, float], grid: int = 160,
                    strict: bool = False) -> PolygonGate:
    """The polygon around ``anchor`` enclosing the points of ``box`` (x_low, x_high, y_low,
    y_high) whose posterior probability of belonging to the ``members`` components is at most
    ``max_posterior``; with ``strict``, whose posterior of belonging to them is at least
    1 - ``max_posterior`` (the background counts against the points)."""
    import contourpy
    from flowutils.gating import points_in_polygon

    x_low, x_high, y_low, y_high = box
    gx = np.linspace(x_low, x_high, grid)
    gy = np.linspace(y_low, y_high, grid)
    xx, yy = np.meshgrid(gx, gy)
    grid_points = np.column_stack([xx.ravel(), yy.ravel()])
    if strict:
        kept = mix.posterior(grid_points, members).reshape(grid, grid)
    else:
        kept = 1.0 - mix.posterior(grid_points, members).reshape(grid, grid)
    kept = np.pad(kept, 1)  # zero outside the box: closed contours
    gx = np.concatenate([[x_low - 1e-9], gx, [x_high + 1e-9]])
    gy = np.concatenate([[y_low - 1e-9], gy, [y_high + 1e-9]])
    lines = contourpy.contour_generator(gx, gy, kept).lines(1.0 - max_posterior)
    assert isinstance(lines, list)  # the serial algorithm's default LineType.Separate: one array per line
    for line in sorted(lines, key=len, reverse=True):
        if len(line) >= 4 and points_in_polygon(np.asarray(line, dtype=np.float64), np.array([anchor]))[0]:
            return PolygonGate(dims, tuple((float(a), float(b)) for a, b in simplify(line[:-1], 5e-4)))
    raise GatingError("monocyte gate not found: granulocytes dominate the monocytes' place")


AUTO_METHODS: dict[str, type[DebrisGate | SingletGate | MonocyteGate | GranulocyteGate]] = {
    "debris": DebrisGate, "singlets": SingletGate, "monocytes": MonocyteGate, "non_granulocytes": GranulocyteGate}
