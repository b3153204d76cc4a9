"""The rows that pass between the stages of a run, typed: one tube (samples.csv), one bead peak
of the calibration (calibration.csv), one drug against its control (restoration.csv), one
patient time point (patients.csv). Each is a frozen dataclass built with keywords; ``to_dict()``
gives its table row (columns in the table's order, findings as one readable cell)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from ..findings import Finding, FindingCode, codes_cell, findings_cell

State = Literal["immunoparalysis", "immunosuppressed", "intermediate", "normal", ""]
"""A monocyte HLA-DR state; "" when there is no AB/C."""
ImmunoSepClass = Literal["hyperinflammation", "immunoparalysis", "intermediate", ""]
"""An ImmunoSep class; "" when an input is missing or no clinical file was given."""
VerdictStatus = Literal["reportable", "reportable_with_warnings", "withheld", "released", ""]
"""A row's verdict (scoring.verdicts): a value's status; the bead tube's is its calibration's
(``reportable``, ``withheld``, ``released``); "" where there is no value (a blank)."""
Completeness = Literal["complete", "incomplete"]
"""A patient time point: every condition has a value, or not (scoring.verdicts)."""


def _table_row(row: Any, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(row):
        if f.name == "extra":
            continue
        value = getattr(row, f.name)
        if f.name == "qc_flags":
            value = findings_cell(value)
        elif f.name in ("verdict_reasons", "control_verdict_reasons", "drug_verdict_reasons"):
            value = codes_cell(value)
        out[f.name] = value
    return {**out, **(extra or {})}


@dataclass(frozen=True, kw_only=True)
class SampleRow:
    """One plate-map row with its tube's measures (samples.csv; columns in docs/scoring.md):
    counts in events, ``hladr_mfi`` in compensated scale units, ``hladr_abc`` in the
    calibration's cell unit, percentages in %, ``day`` in days, ``draw_to_stain_h`` in hours,
    ``qc_flags`` the tube's findings, ``error`` why it was not measured ("" when it was),
    ``verdict`` and ``verdict_reasons`` (scoring.verdicts: withheld, no ``hladr_abc``),
    ``replicate`` and ``donor_group`` the plate map's optional columns ("" when none),
    ``extra`` the plate map's own columns."""

    file: str
    sha256: str = ""
    well: str
    patient: str
    timepoint: str
    day: float | None = None
    condition: str
    replicate: str = ""  # the plate map's replicate label, "" when none
    role: str  # one of platemap.ROLES
    donor_group: str = ""  # the plate map's donor group (e.g. healthy), "" when none
    matched_by: str
    acquisition_date: str = ""
    instrument: str = ""
    instrument_serial: str = ""
    events: int | None = None
    singlets: int | None = None
    monocytes: int | None = None
    monocytes_pct: float | None = None
    hladr_mfi: float | None = None
    hladr_statistic: str = ""
    hladr_abc: float | None = None
    hladr_pos_pct: float | None = None
    compensation: str = ""
    specimen_declared: str = ""
    specimen_detected: str = ""
    monocyte_purity_pct: float | None = None
    removed_at_top: int | None = None
    drawn_at: str = ""
    stained_at: str = ""
    draw_to_stain_h: float | None = None
    qc_flags: tuple[Finding, ...] = ()
    error: str = ""
    verdict: VerdictStatus = ""
    verdict_reasons: tuple[FindingCode, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The samples.csv row: every column, then the plate map's own."""
        return _table_row(self, self.extra)


@dataclass(frozen=True, kw_only=True)
class CalibrationRow:
    """One detected bead peak of the run's calibration (calibration.csv), or the bead tube's
    ``error`` alone when it could not be calibrated: MFI in scale units, values in the lot's
    ``unit``, residuals in decades."""

    file: str
    sha256: str | None = None
    kit: str | None = None
    lot: str | None = None
    unit: str | None = None
    channel: str | None = None
    voltage: str | None = None
    slope: float | None = None
    intercept: float | None = None
    r_squared: float | None = None
    n_peaks_used: int | None = None
    peak: int | None = None
    peak_mfi: float | None = None
    peak_value: float | None = None
    peak_fitted_value: float | None = None
    peak_used: bool | None = None
    peak_reason: str | None = None
    peak_residual_log10: float | None = None
    peak_events: int | None = None
    qc_flags: tuple[Finding, ...] = ()
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The calibration.csv row (a failed tube's row: ``file`` and ``error``, the rest empty)."""
        return _table_row(self)


@dataclass(frozen=True, kw_only=True)
class RestorationRow:
    """One drug tube against its patient's unstimulated control at one time point
    (restoration.csv): AB/C values, fold change, states, the responder call (None when not
    scored), the findings of both tubes, and the comparison's verdict (the worse of the two
    tubes': withheld, no fold change, state or responder call)."""

    patient: str
    timepoint: str
    day: float | None = None
    condition: str
    control_abc: float | None
    abc: float | None
    fold_change: float | None = None
    log2_fold_change: float | None = None
    delta_abc: float | None = None
    gap_closed: float | None = None
    state_control: State
    state_drug: State
    responder: bool | None = None
    immunosep_class: ImmunoSepClass
    control_file: str
    file: str
    qc_flags: tuple[Finding, ...] = ()
    verdict: VerdictStatus = ""
    verdict_reasons: tuple[FindingCode, ...] = ()
    control_n_replicates: int = 1
    control_replicate_cv_pct: float | None = None
    n_replicates: int = 1
    replicate_cv_pct: float | None = None
    drug_verdict: VerdictStatus = ""
    drug_verdict_reasons: tuple[FindingCode, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The restoration.csv row."""
        return _table_row(self)


@dataclass(frozen=True, kw_only=True)
class PatientRow:
    """One patient at one time point (patients.csv): the unstimulated AB/C and its state,
    ferritin (ng/mL) and the ImmunoSep class with its rule, the responding drugs (``;``-joined),
    the best measured drug and its fold change, every tube's findings, and whether every
    condition has a value (``completeness``; ``missing``: ``condition: code, code; ...``);
    ``n_replicates`` the unstimulated tubes whose mean ``control_abc`` is (0 without a value),
    ``replicate_cv_pct`` their CV in % (None under two tubes); ``control_verdict`` and
    ``control_verdict_reasons``: the verdict of ``control_abc`` (the value that assigns an
    ImmunoSep class), decided here once for the pages and the exports."""

    patient: str
    timepoint: str
    day: float | None = None
    control_abc: float | None
    state: State
    ferritin_ng_ml: float | None
    immunosep_class: ImmunoSepClass
    immunosep_rule: str
    responders: str
    best_condition: str
    best_fold_change: float | None
    qc_flags: tuple[Finding, ...] = ()
    completeness: Completeness = "complete"
    missing: str = ""
    n_replicates: int = 1
    replicate_cv_pct: float | None = None
    control_verdict: VerdictStatus = ""
    control_verdict_reasons: tuple[FindingCode, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The patients.csv row."""
        return _table_row(self)
