"""From bead peaks to a calibration: assign peaks to the lot's values from the bright end, fit
``log10(value) = slope x log10(MFI) + intercept`` by least squares, and judge the fit.

Rules (docs/bead-calibration.md):
- the brightest detected peak takes the brightest value, the next one the next, and so on; peaks
  dimmer than the dimmest value are left unassigned, values dimmer than the dimmest peak are
  reported as not found (dim peaks are the ones lost in noise or merged with the blank);
- a peak is used in the fit unless its value is 0 (blank), it is saturated, or its MFI is <= 0;
- while the fit's r^2 is below the lot's ``min_r_squared`` and more than ``min_peaks`` peaks are
  used, the dimmest used peak is dropped (the dim end is where bead autofluorescence bends the
  log-log line and where a blank merges with the first peak);
- fewer than ``min_peaks`` used peaks is a CalibrationError; r^2 and slope outside the lot's
  limits are QC flags, and so is an assignment that fits as well shifted by one peak.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import CalibrationError
from ..findings import Finding, FindingCode, finding
from .lot import BeadLot
from .peaks import Peak, cv_percent


class PeaksNotResolvedError(CalibrationError):
    """Too few bead peaks resolved to fit a calibration (its ``code``: the finding a run's
    calibration verdict names)."""

    code = FindingCode.PEAKS_NOT_RESOLVED


MAX_SLOPE, MAX_INTERCEPT = 10.0, 50.0
"""The widest calibration assaykit accepts (a real one has a log-log slope near 1 and an intercept
near 0-1): beyond them an MFI's AB/C overflows. A fit outside is a CalibrationError."""


PeakStatus = Literal["used", "unassigned", "blank", "saturated", "below_scale", "not_positive", "dim_end"]
"""Why a detected peak was or was not used in the fit (``reason`` says it in words)."""

_REASONS: dict[PeakStatus, str] = {
    "used": "",
    "unassigned": "unassigned: dimmer than the dimmest lot value",
    "blank": "blank",
    "saturated": "saturated: at the top of scale",
    "below_scale": "off scale: piled at the bottom of scale",
    "not_positive": "MFI <= 0",
    "dim_end": "dim end off the line (bead autofluorescence or a merged blank)",
}


@dataclass(frozen=True)
class PeakFit:
    """One detected peak in the calibration: its MFI, the value assigned to it (None when
    unassigned), whether the fit used it, its ``status`` (why not, as a code) and ``reason`` (the
    same in words), and its residual (log10 value - fitted)."""

    mfi: float
    value: float | None
    used: bool
    reason: str  # "" when used
    residual: float | None  # decades (log10 of value / fitted value)
    n_events: int
    robust_cv_percent: float
    status: PeakStatus = "used"

    def to_dict(self) -> dict[str, Any]:
        return {"mfi": self.mfi, "value": self.value, "used": self.used, "status": self.status, "reason": self.reason,
                "residual_log10": self.residual, "n_events": self.n_events,
                "robust_cv_percent": self.robust_cv_percent}


@dataclass(frozen=True)
class Calibration:
    """A bead calibration of one channel: value = 10^(slope x log10(MFI) + intercept)."""

    slope: float
    intercept: float
    r_squared: float
    unit: str
    channel: str
    peaks: tuple[PeakFit, ...]  # dimmest first
    missing_values: tuple[float, ...]  # lot values with no detected peak
    findings: tuple[Finding, ...]
    kit: str = ""
    lot: str = ""
    lot_source: str = ""
    lot_sha256: str = ""
    file: str = ""
    file_sha256: str = ""
    n_singlets: int = 0
    n_events: int = 0
    voltage: str = ""  # the bead channel's $PnV (detector voltage), when the file records it

    @property
    def cell_unit(self) -> str:
        """The unit of a converted cell MFI: antibodies bound per cell (AB/C) for PE molecules
        (QuantiBRITE antibodies carry one PE each), else the lot's unit (MEFL, MEPE ...)."""
        return "AB/C" if self.unit.strip().lower().startswith("pe molecules") else self.unit

    @property
    def lot_label(self) -> str:
        """``kit lot X`` as far as known."""
        return " ".join(part for part in (self.kit, f"lot {self.lot}" if self.lot else "") if part)

    @property
    def qc_flags(self) -> tuple[str, ...]:
        """The findings' messages (for display; code reads ``findings``)."""
        return tuple(f.message for f in self.findings)

    @property
    def n_used(self) -> int:
        return sum(p.used for p in self.peaks)

    def convert(self, mfi: float | np.ndarray | Sequence[float]) -> float | np.ndarray:
        """Calibrated value(s) (``unit``) of MFI(s); NaN for an MFI <= 0 (no log)."""
        m = np.asarray(mfi, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(m > 0, 10.0 ** (self.slope * np.log10(np.where(m > 0, m, 1.0)) + self.intercept), np.nan)
        return float(out) if out.ndim == 0 else out

    def to_dict(self) -> dict[str, Any]:
        return {
            "slope": self.slope, "intercept": self.intercept, "r_squared": self.r_squared, "unit": self.unit,
            "channel": self.channel, "peaks": [p.to_dict() for p in self.peaks],
            "missing_values": list(self.missing_values), "findings": [f.to_dict() for f in self.findings],
            "kit": self.kit, "lot": self.lot, "lot_source": self.lot_source, "lot_sha256": self.lot_sha256,
            "file": self.file, "file_sha256": self.file_sha256, "n_events": self.n_events,
            "n_singlets": self.n_singlets, "voltage": self.voltage,
        }


def fit_line(mfi: np.ndarray, values: np.ndarray) -> tuple[float, float, float]:
    """Least-squares slope, intercept and r^2 of log10(values) on log10(mfi)."""
    x, y = np.log10(mfi), np.log10(values)
    slope, intercept = np.polyfit(x, y, 1)
    total = float(np.sum((y - y.mean()) ** 2))
    residual = float(np.sum((y - (slope * x + intercept)) ** 2))
    r_squared = 1.0 - residual / total if total > 0 else 0.0
    return float(slope), float(intercept), r_squared


def _describe(peaks: Sequence[Peak]) -> str:
    return ", ".join(f"{p.mfi:.4g}" for p in peaks) if peaks else "none"


def calibrate_peaks(peaks: Sequence[Peak], lot: BeadLot, channel: str, path: str | Path | None = None,
                    hint: str = "", **provenance: Any) -> Calibration:
    """Assign ``peaks`` (dimmest first, MFI in scale units) to ``lot``'s values and fit the
    calibration of ``channel`` (its ``$PnN`` name); ``path`` names the bead file in errors;
    ``hint`` is added to the error raised when too few peaks are usable; ``provenance`` (file,
    file_sha256, n_singlets, n_events, voltage) is kept on the Calibration."""
    values = lot.values
    n = min(len(peaks), len(values))
    assigned: list[float | None] = [None] * (len(peaks) - n) + list(values[len(values) - n:])
    missing = tuple(values[: len(values) - n])
    reasons: list[PeakStatus] = []
    for peak, value in zip(peaks, assigned, strict=True):
        if value is None:
            reasons.append("unassigned")
        elif value == 0:
            reasons.append("blank")
        elif peak.saturated:
            reasons.append("saturated")
        elif peak.below_scale:
            reasons.append("below_scale")
        elif peak.mfi <= 0:
            reasons.append("not_positive")
        else:
            reasons.append("used")
    used = [r == "used" for r in reasons]
    n_usable = sum(used)
    if n_usable < lot.qc.min_peaks:
        looks = "" if len(peaks) >= lot.qc.min_peaks else " (is this a bead tube, and is the channel right?)"
        raise PeaksNotResolvedError(
            f"found {len(peaks)} bead peak(s) in {channel} (MFI {_describe(peaks)}), {n_usable} usable with the "
            f"lot's values; a calibration needs at least {lot.qc.min_peaks}{looks}{hint}", path)

    def fit(mask: list[bool]) -> tuple[float, float, float]:
        idx = [i for i, u in enumerate(mask) if u]
        return fit_line(np.array([peaks[i].mfi for i in idx]), np.array([assigned[i] for i in idx], dtype=float))

    slope, intercept, r2 = fit(used)
    while r2 < lot.qc.min_r_squared and sum(used) > lot.qc.min_peaks:
        dimmest = used.index(True)
        used[dimmest] = False
        reasons[dimmest] = "dim_end"
        slope, intercept, r2 = fit(used)

    flags = []
    if lot.example:
        flags.append(finding(FindingCode.EXAMPLE_LOT, "example lot values, not a certificate: use your own lot's file"))

    def left_out(status: PeakStatus) -> list[Peak]:
        return [p for p, r in zip(peaks, reasons, strict=True) if r == status]

    saturated = left_out("saturated")
    if saturated:
        flags.append(finding(FindingCode.SATURATED_PEAK_DROPPED,
                             f"saturated brightest peak dropped (MFI {_describe(saturated)})"))
    below = left_out("below_scale")
    if below:
        flags.append(finding(FindingCode.PEAKS_BELOW_SCALE_DROPPED,
                             f"peak(s) piled at the bottom of scale dropped (MFI {_describe(below)})"))
    positive_missing = [v for v in missing if v > 0]
    if positive_missing:
        flags.append(finding(FindingCode.DIM_PEAKS_NOT_FOUND,
                             f"dim peak(s) not found: values {', '.join(f'{v:g}' for v in positive_missing)}"))
    dropped = left_out("dim_end")
    if dropped:
        flags.append(finding(FindingCode.DIM_PEAKS_LEFT_OUT, f"{len(dropped)} dim peak(s) left out of the fit to "
                                                             f"reach r^2 >= {lot.qc.min_r_squared:g}"))
    if r2 < lot.qc.min_r_squared:
        flags.append(finding(FindingCode.LOW_R_SQUARED, f"r^2 {r2:.4f} below {lot.qc.min_r_squared:g}"))
    low, high = lot.qc.slope_range
    if not (0 < slope <= MAX_SLOPE and abs(intercept) <= MAX_INTERCEPT):
        raise CalibrationError(f"the bead fit gives slope {slope:.4g}, intercept {intercept:.4g}: not a calibration "
                               f"(slope in (0, {MAX_SLOPE:g}], |intercept| <= {MAX_INTERCEPT:g}); check the lot's "
                               "values and the bead channel")
    if not low <= slope <= high:
        flags.append(finding(FindingCode.SLOPE_OUT_OF_RANGE, f"slope {slope:.3f} outside {low:g}-{high:g}"))
    flags.extend(_ambiguity(peaks, values, used, assigned, r2, low, high))

    fits = []
    for peak, value, u, reason in zip(peaks, assigned, used, reasons, strict=True):
        residual = None
        if value is not None and value > 0 and peak.mfi > 0:
            residual = float(np.log10(value) - (slope * np.log10(peak.mfi) + intercept))
        fits.append(PeakFit(mfi=peak.mfi, value=value, used=u, reason=_REASONS[reason], residual=residual,
                            n_events=peak.n_events, robust_cv_percent=float(cv_percent(peak.spread)), status=reason))
    return Calibration(slope=slope, intercept=intercept, r_squared=r2, unit=lot.unit, channel=channel,
                       peaks=tuple(fits), missing_values=missing, findings=tuple(flags),
                       kit=lot.kit, lot=lot.lot, lot_source=lot.source, lot_sha256=lot.sha256, **provenance)


def _ambiguity(peaks: Sequence[Peak], values: Sequence[float], used: list[bool], assigned: list[float | None],
               r2: float, low: float, high: float) -> list[Finding]:
    """A flag when the used peaks, shifted one lot value up or down, fit at least as well: then the
    bright-end assignment is not evidently right (a peak may be missing at the top)."""
    idx = [i for i, u in enumerate(used) if u]
    mfi = np.array([peaks[i].mfi for i in idx])
    positions = [values.index(value) for i in idx if (value := assigned[i]) is not None]  # used: all assigned
    for shift in (-1, 1):
        shifted = [p + shift for p in positions]
        if min(shifted) < 0 or max(shifted) >= len(values) or values[shifted[0]] <= 0:
            continue
        slope, _, other = fit_line(mfi, np.array([values[p] for p in shifted]))
        if other >= r2 and low <= slope <= high:
            return [finding(FindingCode.AMBIGUOUS_ASSIGNMENT,
                            f"peak assignment ambiguous: shifted {'down' if shift < 0 else 'up'} by one value the "
                            f"peaks fit as well (r^2 {other:.4f}); check that no bright peak is off scale")]
    return []
