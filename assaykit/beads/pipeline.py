"""One bead tube to a calibration, keeping every intermediate result (for plots and reports):
channel -> singlet-bead gate -> peaks -> assignment and fit."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import numpy as np

from ..errors import AssayKitError, CalibrationError
from ..fcs import Sample, read_fcs
from ..fcs.channels import Marker, channel_index, find_fluorochrome_channel
from ..fcs.compensation import compensate
from ..findings import Finding, FindingCode, finding
from .fit import Calibration, PeaksNotResolvedError, calibrate_peaks
from .lot import BeadLot
from .peaks import MAX_SPREAD, PeakSearch, cv_percent, find_peaks
from .scatter import BeadSingletGate, fit_singlet_gate

MAX_BEAD_SCATTER_CV = 12.0
"""% : the singlet cluster's FSC or SSC coefficient of variation above which a tube's scatter is
that of cells, not beads (beads of one size: 4-8 % on every file tested; lysed blood's densest
cluster: 14-21 %)."""


class NotBeadsError(CalibrationError):
    """The bead tube's scatter and fluorescence are those of cells, not beads (its ``code``: the
    finding a run's calibration verdict names)."""

    code = FindingCode.CELLS_NOT_BEADS


FSC_NAMES = ("FSC-A", "FSC", "FS INT", "FS", "FSC-H", "FS PEAK", "FSC-HLIN", "FS LIN", "FS LOG")
SSC_NAMES = ("SSC-A", "SSC", "SS INT", "SS", "SSC-H", "SS PEAK", "SSC-HLIN", "SS LIN", "SS LOG", "SIDE SCATTER")


@dataclass(frozen=True)
class BeadRun:
    """Everything computed on one bead tube."""

    sample: Sample
    channel: str
    channel_index: int
    scatter: tuple[int, int] | None  # FSC and SSC column indices (None: no scatter channels)
    gate: BeadSingletGate | None
    singlets: np.ndarray  # mask over the events
    values: np.ndarray  # the bead channel (scale units), all events
    search: PeakSearch
    calibration: Calibration


def bead_channel(sample: Sample, lot: BeadLot, channel: str | None = None, *, option: str = "") -> int:
    """Column index of the bead channel in ``sample``: ``channel`` (a ``$PnN`` name) when given,
    else ``lot``'s fluorochrome by one of its channel aliases or its ``$PnS`` label
    (:func:`~assaykit.fcs.channels.find_fluorochrome_channel`). Not found: CalibrationError saying
    what the user can do: add the channel to the lot file's ``channel_aliases`` (``score`` reads
    no other), or name it with the command's ``option`` (``--channel`` of ``calibrate``) when given."""
    if channel is not None:
        lowered = [c.strip().lower() for c in sample.channels]
        if channel.strip().lower() not in lowered:
            raise CalibrationError(f"channel {channel!r} not in the file (channels: {', '.join(sample.channels)})",
                                   sample.path)
        return lowered.index(channel.strip().lower())
    try:
        return find_fluorochrome_channel(Marker(lot.marker, lot.channel_aliases), sample.channels, sample.markers)
    except AssayKitError as error:
        where = f"the lot file {lot.source}" if lot.source else "a lot file (--lot)"
        raise CalibrationError(f"bead channel not found: {error.message}; if the bead tube has a {lot.marker} channel "
                               f"under another name, add that name to channel_aliases in {where}"
                               + (f", or name it with {option}" if option else ""), sample.path) from None


def scatter_channels(sample: Sample) -> tuple[int, int] | None:
    """FSC and SSC columns (area preferred), or None when the file has no scatter."""
    found = []
    for names in (FSC_NAMES, SSC_NAMES):  # names compared as tokens: R's FSC.A is FSC-A
        index = next((i for i in (channel_index(n, sample.channels) for n in names) if i is not None), None)
        if index is None:
            return None
        found.append(index)
    return found[0], found[1]


def _compensated(sample: Sample, column: int) -> np.ndarray:
    """The bead channel with the file's own spillover matrix applied (as for the samples)."""
    spill = sample.spillover
    if spill is None or sample.channels[column] not in spill.channels:
        return sample.events[:, column].astype(np.float64)
    return compensate(sample, spill.matrix, spill.channels, CalibrationError)[column]


def calibrate_sample(sample: Sample, lot: BeadLot, channel: str | None = None, *, option: str = "") -> BeadRun:
    """Calibrate ``lot`` against the bead tube ``sample`` in ``channel`` (a ``$PnN`` name; None:
    the lot's marker or aliases); raises CalibrationError when it cannot. ``option``: the
    command's option naming the channel, offered when the channel is not found (:func:`bead_channel`)."""
    column = bead_channel(sample, lot, channel, option=option)
    name = sample.channels[column]
    if sample.n_events == 0:
        raise CalibrationError("the bead tube holds no events", sample.path)
    values = _compensated(sample, column)
    scatter = scatter_channels(sample)
    gate = None
    singlets = np.ones(sample.n_events, dtype=bool)
    if scatter is not None:
        fsc = sample.events[:, scatter[0]].astype(np.float64)
        ssc = sample.events[:, scatter[1]].astype(np.float64)
        gate = fit_singlet_gate(fsc, ssc, (sample.channels[scatter[0]], sample.channels[scatter[1]]))
        if gate is not None:
            singlets = gate.apply(fsc, ssc)
    top = sample.scale_tops()[column]
    search = find_peaks(values[singlets], top)
    broad = [p for p in search.rejected if p.spread > MAX_SPREAD]
    hint = (f"; {len(broad)} broad population(s) with a robust CV above {cv_percent(MAX_SPREAD):.0f} % were not taken "
            "for bead peaks: cells rather than beads?") if broad else ""
    cells = cells_evidence(gate, search)
    try:
        calibration = calibrate_peaks(
            search.peaks, lot, name, sample.path, hint, file=str(sample.path), file_sha256=sample.sha256,
            n_singlets=int(singlets.sum()), n_events=sample.n_events, voltage=sample.voltage(column))
    except PeaksNotResolvedError:
        if cells:
            raise NotBeadsError(f"not a bead tube: {cells}; {len(search.peaks)} bead peak(s) resolved, a calibration "
                                f"needs at least {lot.qc.min_peaks}", sample.path) from None
        raise
    if cells:
        calibration = _with_finding(calibration, finding(FindingCode.CELLS_NOT_BEADS, f"not a bead tube: {cells}"))
    if scatter is None or gate is None:
        calibration = _with_finding(calibration, finding(FindingCode.NO_SINGLET_GATE, "no FSC/SSC singlet-bead gate "
                                                                                      "(no scatter channels): all "
                                                                                      "events used"))
    return BeadRun(sample, name, column, scatter, gate, singlets, values, search, calibration)


def cells_evidence(gate: BeadSingletGate | None, search: PeakSearch) -> str:
    """Why a bead tube's events look like cells rather than beads ("" when they look like
    beads): the singlet cluster's scatter CV above :data:`MAX_BEAD_SCATTER_CV` (beads of one size
    form a tight cluster), or more events in broad populations (robust CV above 23 %) than in
    bead peaks."""
    reasons = []
    if gate is not None:
        fsc_cv, ssc_cv = gate.cv_percent
        if max(fsc_cv, ssc_cv) > MAX_BEAD_SCATTER_CV:
            reasons.append(f"the scatter cluster has CVs of {fsc_cv:.0f} % (FSC) and {ssc_cv:.0f} % (SSC), beads of "
                           f"one size at most {MAX_BEAD_SCATTER_CV:g} %")
    broad = sum(p.n_events for p in search.rejected if p.spread > MAX_SPREAD)
    narrow = sum(p.n_events for p in search.peaks)
    if broad > narrow:
        reasons.append(f"{broad:,} events in broad populations (cells) against {narrow:,} in bead peaks")
    return "; ".join(reasons)


def _with_finding(calibration: Calibration, found: Finding) -> Calibration:
    return replace(calibration, findings=(*calibration.findings, found))


def calibrate_file(path: str | os.PathLike[str], lot: BeadLot, channel: str | None = None, *,
                   option: str = "") -> BeadRun:
    """Read the bead tube at ``path`` and calibrate ``lot`` against it in ``channel`` (a ``$PnN``
    name; None: found from the lot); see :func:`calibrate_sample` (``option``: the command's
    option naming the channel)."""
    return calibrate_sample(read_fcs(path), lot, channel, option=option)
