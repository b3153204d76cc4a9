"""QC findings as data (assaykit/findings.py): every code has one severity, a table cell reads
back to the same findings, and text written before codes existed still reads."""

from __future__ import annotations

import pytest

from assaykit.findings import (
    SEVERITY,
    Finding,
    FindingCode,
    finding,
    findings_cell,
    parse_findings,
    worst,
)


def test_every_code_has_a_severity_and_a_stable_spelling() -> None:
    assert set(SEVERITY) == set(FindingCode)
    assert all(code.value == code.value.lower() and " " not in code.value for code in FindingCode)
    assert FindingCode("too_few_events") is FindingCode.TOO_FEW_EVENTS  # the value written in tables


def test_cell_round_trip_keeps_code_severity_and_message() -> None:
    found = (finding(FindingCode.FEW_EVENTS, "only 312 monocytes (fewer than 500 recommended)"),
             # a message holding the separator and brackets survives
             finding(FindingCode.TUBE_FAILED, "A1.fcs: gating failed; [see] the log: x"),
             finding(FindingCode.QC_REJECTED, "QC: rejected, rule 2-2s on bead slope").about("A2.fcs"))
    cell = findings_cell(found)
    assert cell == ("[few_events] only 312 monocytes (fewer than 500 recommended); "
                    "[tube_failed] A1.fcs: gating failed; [see] the log: x; "
                    "[qc_rejected] A2.fcs: QC: rejected, rule 2-2s on bead slope")
    assert parse_findings(cell) == found
    assert [f.severity for f in parse_findings(cell)] == ["warning", "error", "error"]
    assert parse_findings("") == ()


def test_text_without_codes_reads_as_uncoded_and_unknown_codes_are_refused() -> None:
    assert parse_findings("doublets are 12.0 % of Leukocytes; r^2 0.9811 below 0.99") == (
        Finding(code=FindingCode.UNCODED, severity="warning", message="doublets are 12.0 % of Leukocytes"),
        Finding(code=FindingCode.UNCODED, severity="warning", message="r^2 0.9811 below 0.99"))
    with pytest.raises(ValueError, match="unknown finding code 'made_up'"):
        parse_findings("[made_up] something")


def test_worst_severity_and_display() -> None:
    info = finding(FindingCode.GATE_SET_BY_HAND, "gate set by hand: checked")
    error = finding(FindingCode.LOW_R_SQUARED, "r^2 0.9811 below 0.99")
    assert worst([]) is None and worst([info]) == "info" and worst([info, error]) == "error"
    assert str(error) == "r^2 0.9811 below 0.99"  # pages and the console show the message
    assert error.to_dict() == {"code": "low_r_squared", "severity": "error", "message": "r^2 0.9811 below 0.99"}


def test_the_documented_codes_are_the_codes(project_root) -> None:
    """docs/scoring.md lists every code under its severity, and nothing else."""
    import re

    doc = (project_root / "docs" / "scoring.md").read_text()
    for severity in ("error", "warning", "info"):
        line = next(line for line in doc.splitlines() if line.startswith(f"| {severity} |"))
        assert set(re.findall(r"`([a-z_]+)`", line)) == {c.value for c, s in SEVERITY.items() if s == severity}


def test_every_code_has_a_phrase() -> None:
    """One mapping from code to a short human phrase, for the console (``code (phrase)``)."""
    from assaykit.findings import PHRASE, described

    assert set(PHRASE) == set(FindingCode) and all(PHRASE.values())
    assert described("reused_file") == "reused_file (same file as a tube of an earlier run)"
    assert described(FindingCode.SLOPE_OUT_OF_RANGE) == "slope_out_of_range (bead slope outside the lot's range)"
    assert described("not_a_code") == "not_a_code"
    assert SEVERITY[FindingCode.REUSED_FILE] == "error"
