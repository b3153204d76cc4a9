"""QC findings as data: a stable code, a severity and a sentence for people.

Every QC finding assaykit makes (of a tube's gating, a bead calibration, pairing a tube with
its calibration, pre-analytics, restoration, QC over time) is a :class:`Finding`. Code decides
on ``code`` (and the ``severity`` the code carries); ``message`` is only shown. Tables write a
row's findings as one readable cell, ``[code] message; [code] message``, which
:func:`parse_findings` reads back.

This module sits at the bottom of the package (beside ``errors``): gating and beads produce
findings, scoring and report consume them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Literal

Severity = Literal["info", "warning", "error"]
"""``info``: recorded, the value stands; ``warning``: the value stands, with the finding shown
beside it; ``error``: the value is not to be reported as it is."""

SEVERITIES: tuple[Severity, ...] = ("info", "warning", "error")


class FindingCode(StrEnum):
    """The stable code of every QC finding (the values are written in tables and the ledger:
    never renamed, only added)."""

    # a tube's gating and readout (gating.readout)
    COMPENSATION = "compensation"
    NONFINITE_EVENTS = "nonfinite_events"
    TOO_FEW_EVENTS = "too_few_events"
    FEW_EVENTS = "few_events"
    DOUBLETS_NOT_EXCLUDED = "doublets_not_excluded"
    HIGH_DOUBLETS = "high_doublets"
    SPECIMEN_MISMATCH = "specimen_mismatch"
    LOW_PURITY = "low_purity"
    MONOCYTES_OVERLAP = "monocytes_overlap"
    MONOCYTES_DIM = "monocytes_dim"
    GRANULOCYTES_EXCLUDED = "granulocytes_excluded"
    GRANULOCYTES_NOT_EXCLUDED = "granulocytes_not_excluded"
    THIRD_MARKER_FOUND_NO_GRANULOCYTES = "third_marker_found_no_granulocytes"
    SATURATED_EVENTS = "saturated_events"
    READOUT_SATURATED = "readout_saturated"
    # the tube's outputs and overrides (scoring)
    GATES_NOT_EXPORTED = "gates_not_exported"
    NOT_IN_WORKSPACE = "not_in_workspace"
    GATE_SET_BY_HAND = "gate_set_by_hand"
    DRAWN_GATE_IMPLAUSIBLE = "drawn_gate_implausible"
    EXCLUDED_BY_REVIEWER = "excluded_by_reviewer"
    # a tube with its calibration (scoring.quantify)
    NO_CALIBRATION = "no_calibration"
    BEAD_CHANNEL_MISMATCH = "bead_channel_mismatch"
    VOLTAGE_MISMATCH = "voltage_mismatch"
    MFI_NOT_POSITIVE = "mfi_not_positive"
    EXTRAPOLATED_LOW = "extrapolated_low"
    EXTRAPOLATED_HIGH = "extrapolated_high"
    # a bead calibration (beads.fit, beads.pipeline)
    EXAMPLE_LOT = "example_lot"
    SATURATED_PEAK_DROPPED = "saturated_peak_dropped"
    PEAKS_BELOW_SCALE_DROPPED = "peaks_below_scale_dropped"
    DIM_PEAKS_NOT_FOUND = "dim_peaks_not_found"
    DIM_PEAKS_LEFT_OUT = "dim_peaks_left_out"
    LOW_R_SQUARED = "low_r_squared"
    SLOPE_OUT_OF_RANGE = "slope_out_of_range"
    AMBIGUOUS_ASSIGNMENT = "ambiguous_assignment"
    NO_SINGLET_GATE = "no_singlet_gate"
    CELLS_NOT_BEADS = "cells_not_beads"
    # a calibration's and a tube's verdict (scoring.verdicts)
    RESIDUAL_TOO_HIGH = "residual_too_high"
    PEAK_COUNT_MISMATCH = "peak_count_mismatch"
    PEAKS_NOT_RESOLVED = "peaks_not_resolved"
    CALIBRATION_WITHHELD = "calibration_withheld"
    CALIBRATION_RELEASED = "calibration_released"
    DUPLICATE_CONTENT = "duplicate_content"
    # pre-analytics, the ledger, QC over time (scoring.history)
    LATE_STAINING = "late_staining"
    STAINED_BEFORE_DRAW = "stained_before_draw"
    ALREADY_IN_LEDGER = "already_in_ledger"  # read back from older tables; a re-used file is now reused_file
    REUSED_FILE = "reused_file"
    QC_WARNING = "qc_warning"
    QC_REJECTED = "qc_rejected"
    # restoration and patient rows (scoring.restoration)
    CONTROL_NO_VALUE = "control_no_value"
    DRUG_NO_VALUE = "drug_no_value"
    TUBE_FAILED = "tube_failed"
    # replicate tubes of one patient, time point and condition (scoring.verdicts)
    REPLICATE_CV = "replicate_cv"
    REPLICATE_WITHHELD = "replicate_withheld"
    REPLICATES_DISAGREE = "replicates_disagree"
    REPLICATE_CV_WITHHELD = "replicate_cv_withheld"
    # read back from a table written before findings had codes
    UNCODED = "uncoded"


SEVERITY: dict[FindingCode, Severity] = {
    FindingCode.COMPENSATION: "warning",
    FindingCode.NONFINITE_EVENTS: "info",
    FindingCode.TOO_FEW_EVENTS: "error",
    FindingCode.FEW_EVENTS: "warning",
    FindingCode.DOUBLETS_NOT_EXCLUDED: "warning",
    FindingCode.HIGH_DOUBLETS: "warning",
    FindingCode.SPECIMEN_MISMATCH: "warning",
    FindingCode.LOW_PURITY: "warning",
    FindingCode.MONOCYTES_OVERLAP: "info",
    FindingCode.MONOCYTES_DIM: "info",
    FindingCode.GRANULOCYTES_EXCLUDED: "info",
    FindingCode.GRANULOCYTES_NOT_EXCLUDED: "info",
    FindingCode.THIRD_MARKER_FOUND_NO_GRANULOCYTES: "warning",
    FindingCode.SATURATED_EVENTS: "warning",
    FindingCode.READOUT_SATURATED: "warning",
    FindingCode.GATES_NOT_EXPORTED: "info",
    FindingCode.NOT_IN_WORKSPACE: "info",
    FindingCode.GATE_SET_BY_HAND: "info",
    FindingCode.DRAWN_GATE_IMPLAUSIBLE: "error",
    FindingCode.EXCLUDED_BY_REVIEWER: "error",
    FindingCode.NO_CALIBRATION: "error",
    FindingCode.BEAD_CHANNEL_MISMATCH: "error",
    FindingCode.VOLTAGE_MISMATCH: "error",
    FindingCode.MFI_NOT_POSITIVE: "error",
    FindingCode.EXTRAPOLATED_LOW: "warning",
    FindingCode.EXTRAPOLATED_HIGH: "warning",
    FindingCode.EXAMPLE_LOT: "warning",
    FindingCode.SATURATED_PEAK_DROPPED: "info",
    FindingCode.PEAKS_BELOW_SCALE_DROPPED: "info",
    FindingCode.DIM_PEAKS_NOT_FOUND: "info",
    FindingCode.DIM_PEAKS_LEFT_OUT: "info",
    FindingCode.LOW_R_SQUARED: "error",
    FindingCode.SLOPE_OUT_OF_RANGE: "error",
    FindingCode.AMBIGUOUS_ASSIGNMENT: "warning",
    FindingCode.NO_SINGLET_GATE: "info",
    FindingCode.CELLS_NOT_BEADS: "error",
    FindingCode.RESIDUAL_TOO_HIGH: "error",
    FindingCode.PEAK_COUNT_MISMATCH: "error",
    FindingCode.PEAKS_NOT_RESOLVED: "error",
    FindingCode.CALIBRATION_WITHHELD: "error",
    FindingCode.CALIBRATION_RELEASED: "warning",
    FindingCode.DUPLICATE_CONTENT: "error",
    FindingCode.LATE_STAINING: "warning",
    FindingCode.STAINED_BEFORE_DRAW: "warning",
    FindingCode.ALREADY_IN_LEDGER: "warning",
    FindingCode.REUSED_FILE: "error",
    FindingCode.QC_WARNING: "warning",
    FindingCode.QC_REJECTED: "error",
    FindingCode.CONTROL_NO_VALUE: "error",
    FindingCode.DRUG_NO_VALUE: "error",
    FindingCode.TUBE_FAILED: "error",
    FindingCode.REPLICATE_CV: "warning",
    FindingCode.REPLICATE_WITHHELD: "warning",
    FindingCode.REPLICATES_DISAGREE: "error",
    FindingCode.REPLICATE_CV_WITHHELD: "error",
    FindingCode.UNCODED: "warning",
}
"""Each code's severity: one code, one severity, so a verdict read back from a table's codes
is the one decided when the run was scored."""


PHRASE: dict[FindingCode, str] = {
    FindingCode.COMPENSATION: "compensation not applied as expected",
    FindingCode.NONFINITE_EVENTS: "events with non-finite values dropped",
    FindingCode.TOO_FEW_EVENTS: "too few events to gate",
    FindingCode.FEW_EVENTS: "few events",
    FindingCode.DOUBLETS_NOT_EXCLUDED: "doublets not excluded",
    FindingCode.HIGH_DOUBLETS: "many doublets",
    FindingCode.SPECIMEN_MISMATCH: "specimen not as declared",
    FindingCode.LOW_PURITY: "low monocyte purity",
    FindingCode.MONOCYTES_OVERLAP: "gate tightened where granulocytes overlap the monocytes",
    FindingCode.MONOCYTES_DIM: "CD14-dim monocytes gated on scatter and shape",
    FindingCode.GRANULOCYTES_EXCLUDED: "granulocytes excluded on a third marker",
    FindingCode.GRANULOCYTES_NOT_EXCLUDED: "no third marker to exclude overlapping granulocytes",
    FindingCode.THIRD_MARKER_FOUND_NO_GRANULOCYTES: "third marker found no granulocytes where the monocyte gate did",
    FindingCode.SATURATED_EVENTS: "saturated events",
    FindingCode.READOUT_SATURATED: "HLA-DR readout saturated",
    FindingCode.GATES_NOT_EXPORTED: "gates not exported",
    FindingCode.NOT_IN_WORKSPACE: "not in the workspace",
    FindingCode.GATE_SET_BY_HAND: "gate set by hand",
    FindingCode.DRAWN_GATE_IMPLAUSIBLE: "drawn gate holds an implausible share of its parent",
    FindingCode.EXCLUDED_BY_REVIEWER: "tube excluded by the reviewer",
    FindingCode.NO_CALIBRATION: "no bead calibration",
    FindingCode.BEAD_CHANNEL_MISMATCH: "bead tube read on another channel",
    FindingCode.VOLTAGE_MISMATCH: "detector voltage differs from the bead tube's",
    FindingCode.MFI_NOT_POSITIVE: "HLA-DR MFI not positive",
    FindingCode.EXTRAPOLATED_LOW: "below the lowest bead peak",
    FindingCode.EXTRAPOLATED_HIGH: "above the highest bead peak",
    FindingCode.EXAMPLE_LOT: "example bead lot values",
    FindingCode.SATURATED_PEAK_DROPPED: "saturated bead peak dropped",
    FindingCode.PEAKS_BELOW_SCALE_DROPPED: "bead peaks below scale dropped",
    FindingCode.DIM_PEAKS_NOT_FOUND: "dim bead peaks not found",
    FindingCode.DIM_PEAKS_LEFT_OUT: "dim bead peaks left out",
    FindingCode.LOW_R_SQUARED: "bead fit r2 below its limit",
    FindingCode.SLOPE_OUT_OF_RANGE: "bead slope outside the lot's range",
    FindingCode.AMBIGUOUS_ASSIGNMENT: "bead peaks ambiguously assigned",
    FindingCode.NO_SINGLET_GATE: "no singlet gate",
    FindingCode.CELLS_NOT_BEADS: "the bead tube holds cells, not beads",
    FindingCode.RESIDUAL_TOO_HIGH: "a bead peak off the fit",
    FindingCode.PEAK_COUNT_MISMATCH: "bead values not the peaks resolved",
    FindingCode.PEAKS_NOT_RESOLVED: "bead peaks not resolved",
    FindingCode.CALIBRATION_WITHHELD: "bead calibration withheld",
    FindingCode.CALIBRATION_RELEASED: "calibration released by a person",
    FindingCode.DUPLICATE_CONTENT: "same file as another tube of the run",
    FindingCode.LATE_STAINING: "stained late after the draw",
    FindingCode.STAINED_BEFORE_DRAW: "stained before the draw",
    FindingCode.ALREADY_IN_LEDGER: "file already in the ledger",
    FindingCode.REUSED_FILE: "same file as a tube of an earlier run",
    FindingCode.QC_WARNING: "QC over time: warning",
    FindingCode.QC_REJECTED: "QC over time: run rejected",
    FindingCode.CONTROL_NO_VALUE: "control without a value",
    FindingCode.DRUG_NO_VALUE: "drug tube without a value",
    FindingCode.TUBE_FAILED: "tube failed",
    FindingCode.REPLICATE_CV: "replicates' CV above the lab's limit",
    FindingCode.REPLICATE_WITHHELD: "a replicate withheld: the mean of the others",
    FindingCode.REPLICATES_DISAGREE: "replicates on different sides of a decision threshold",
    FindingCode.REPLICATE_CV_WITHHELD: "replicates' CV above the lab's hard limit",
    FindingCode.UNCODED: "finding without a code",
}
"""A short phrase for each code (the console says ``code (phrase)``): one mapping, beside the codes."""


def described(code: FindingCode | str) -> str:
    """``code (phrase)`` for people; an unknown code as it is.

    Parameters
    ----------
    code : FindingCode or str
        A finding code (or its value).
    """
    try:
        known = FindingCode(code)
    except ValueError:
        return str(code)
    return f"{known.value} ({PHRASE[known]})"


@dataclass(frozen=True)
class Finding:
    """One QC finding: its stable ``code``, its ``severity`` (the code's, :data:`SEVERITY`) and
    ``message``, a sentence for people that no code reads. ``str()`` is the message."""

    code: FindingCode
    severity: Severity
    message: str

    def __str__(self) -> str:
        return self.message

    def about(self, subject: str) -> Finding:
        """The same finding said of ``subject`` (the message prefixed ``subject: ``; the code
        and severity kept).

        Parameters
        ----------
        subject : str
            What the finding is about, e.g. ``control`` or a file name.
        """
        return replace(self, message=f"{subject}: {self.message}")

    def cell(self) -> str:
        """The finding as written in a table cell: ``[code] message``."""
        return f"[{self.code.value}] {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """``{"code", "severity", "message"}`` (JSON)."""
        return {"code": self.code.value, "severity": self.severity, "message": self.message}


def finding(code: FindingCode, message: str) -> Finding:
    """A :class:`Finding` of ``code`` with the code's severity.

    Parameters
    ----------
    code : FindingCode
        The finding's code.
    message : str
        The sentence shown to people.
    """
    return Finding(code=code, severity=SEVERITY[code], message=message)


def codes_cell(codes: Iterable[FindingCode], separator: str = "; ") -> str:
    """Finding codes as one cell (``verdict_reasons``: ``code; code``), or joined by ``separator``
    inside a message (``", "``).

    Parameters
    ----------
    codes : iterable of FindingCode
        The codes, in order.
    separator : str
        What stands between two codes.
    """
    return separator.join(code.value for code in codes)


def findings_cell(findings: Iterable[Finding]) -> str:
    """``findings`` as one table cell: each :meth:`Finding.cell`, joined by ``"; "``.

    Parameters
    ----------
    findings : iterable of Finding
        A row's findings, in order.
    """
    return "; ".join(f.cell() for f in findings)


_CODES = "|".join(code.value for code in FindingCode)
_CELL_START = re.compile(rf"; (?=\[(?:{_CODES})\] )")
"""Where the next finding of a cell starts: ``; [code] `` with a known code (a message may hold
``; `` and brackets of its own)."""
_ONE = re.compile(r"\[([a-z0-9_]+)\] (.*)", re.DOTALL)


def parse_findings(text: str) -> tuple[Finding, ...]:
    """The findings of a table cell written by :func:`findings_cell`. Text without a code (a
    table written before findings had codes) reads as ``uncoded`` findings, one per ``"; "``
    part; an unknown code is a ValueError.

    Parameters
    ----------
    text : str
        The cell.
    """
    if not text:
        return ()
    if _ONE.match(text) is None:
        return tuple(finding(FindingCode.UNCODED, part) for part in text.split("; ") if part)
    found = []
    for part in _CELL_START.split(text):
        match = _ONE.fullmatch(part)
        if match is None:
            raise ValueError(f"{part[:40]!r} is not a finding assaykit writes ([code] message)")
        try:
            code = FindingCode(match.group(1))
        except ValueError:
            raise ValueError(f"unknown finding code {match.group(1)!r}") from None
        found.append(finding(code, match.group(2)))
    return tuple(found)


def worst(findings: Iterable[Finding]) -> Severity | None:
    """The highest severity among ``findings`` (None when there are none).

    Parameters
    ----------
    findings : iterable of Finding
        Findings of one value.
    """
    levels = [SEVERITIES.index(f.severity) for f in findings]
    return SEVERITIES[max(levels)] if levels else None


__all__ = ["PHRASE", "SEVERITY", "Finding", "FindingCode", "Severity", "codes_cell", "described", "finding",
           "findings_cell",
           "parse_findings", "worst"]
