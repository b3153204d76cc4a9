"""States, restoration measures and ImmunoSep classes at and around their thresholds."""

from __future__ import annotations

import pytest

from assaykit.findings import FindingCode, finding
from assaykit.scoring.restoration import (
    ResponderRule,
    Thresholds,
    immunosep_class,
    pair_with_controls,
    restoration,
    state,
)
from assaykit.scoring.rows import SampleRow
from assaykit.scoring.tables import PATIENT_COLUMNS

T = Thresholds()


@pytest.mark.parametrize(("abc", "expected"), [
    (4999.9, "immunoparalysis"), (5000.0, "immunosuppressed"), (7999.0, "immunosuppressed"),
    (8000.0, "intermediate"), (14999.0, "intermediate"), (15000.0, "normal"), (None, ""), (float("nan"), "")])
def test_state_boundaries(abc, expected) -> None:
    assert state(abc, T) == expected


def test_thresholds_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="thresholds"):
        Thresholds(normal_abc=4000)


def test_restoration_measures() -> None:
    r = restoration(4000.0, 10000.0, T, ResponderRule())
    assert (r.fold_change, r.delta_abc) == (2.5, 6000.0)
    assert r.log2_fold_change == pytest.approx(1.3219281)
    assert r.gap_closed == pytest.approx(6000 / 11000)
    assert (r.state_control, r.state_drug, r.responder) == ("immunoparalysis", "intermediate", True)
    # fold change reached but the state did not improve
    same = restoration(9000.0, 14000.0, T, ResponderRule())
    assert same.fold_change >= 1.5 and not same.responder
    assert restoration(9000.0, 14000.0, T, ResponderRule(require_state_improvement=False)).responder
    # a control already normal: no gap to close
    assert restoration(16000.0, 20000.0, T, ResponderRule()).gap_closed is None


@pytest.mark.parametrize(("ferritin", "abc", "expected"), [
    (5000.0, 3000.0, "hyperinflammation"),  # both findings: hyper-inflammation wins
    (5000.0, 20000.0, "hyperinflammation"),
    (4420.0, 4999.0, "immunoparalysis"),  # ferritin at the cut-off is not above it
    (4420.0, 5000.0, "intermediate"),
    (None, 3000.0, ""),
    (1000.0, None, ""),
])
def test_immunosep(ferritin, abc, expected) -> None:
    klass, rule = immunosep_class(ferritin, abc, T)
    assert klass == expected and rule


def _tube(file: str, condition: str, abc: float | None, *found, error: str = "") -> SampleRow:
    return SampleRow(file=file, well="", patient="P01", timepoint="D1", condition=condition, role="sample",
                     matched_by="file name", hladr_abc=abc, qc_flags=tuple(found), error=error)


def test_typed_rows_pair_each_drug_with_its_control() -> None:
    few = finding(FindingCode.FEW_EVENTS, "only 400 monocytes (fewer than 500 recommended)")
    samples = [_tube("c.fcs", "unstimulated", 4000.0, few), _tube("g.fcs", "IFN-gamma", 8000.0),
               _tube("x.fcs", "GM-CSF", None, error="no CD14-bright population")]
    rows, patients = pair_with_controls(samples, "unstimulated", T, ResponderRule(), {("P01", ""): 3000.0})
    gamma, lost = rows
    # by hand: 8000 / 4000 = 2 >= 1.5 and the state improves (immunoparalysis -> intermediate)
    assert (gamma.fold_change, gamma.log2_fold_change, gamma.delta_abc) == (2.0, 1.0, 4000.0)
    assert gamma.gap_closed == pytest.approx(4000.0 / 11000.0)
    assert (gamma.state_control, gamma.state_drug, gamma.responder) == ("immunoparalysis", "intermediate", True)
    assert gamma.qc_flags == (few.about("control"),) and gamma.qc_flags[0].message.startswith("control: only 400")
    assert lost.fold_change is None and lost.responder is None
    assert [f.code for f in lost.qc_flags] == [FindingCode.DRUG_NO_VALUE, FindingCode.FEW_EVENTS]
    assert lost.qc_flags[0].message == "x.fcs has no AB/C (no CD14-bright population)"
    (patient,) = patients
    # ferritin 3,000 <= 4,420 ng/mL and the control's AB/C 4,000 < 5,000: immunoparalysis
    assert (patient.state, patient.immunosep_class, patient.responders) == ("immunoparalysis", "immunoparalysis",
                                                                            "IFN-gamma")
    assert (patient.best_condition, patient.best_fold_change) == ("IFN-gamma", 2.0)
    # every tube's findings, not the control's only; the drug without a value named with its reason
    assert patient.qc_flags == (few.about("c.fcs"), finding(FindingCode.TUBE_FAILED, "no CD14-bright population")
                                .about("x.fcs"))
    assert (patient.completeness, patient.missing) == ("incomplete", "GM-CSF: tube_failed")
    assert (gamma.verdict, gamma.verdict_reasons) == ("reportable_with_warnings", (FindingCode.FEW_EVENTS,))
    assert (lost.verdict, lost.verdict_reasons) == ("withheld", (FindingCode.TUBE_FAILED,))
    # the table row: the columns in order, the findings as one readable cell
    assert gamma.to_dict()["qc_flags"] == "[few_events] control: only 400 monocytes (fewer than 500 recommended)"
    assert list(patient.to_dict()) == PATIENT_COLUMNS
