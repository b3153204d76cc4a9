"""Every number carries a verdict (issue 27): each case of the issue's "Why", run as a new user
would (`assaykit score` on an `assaykit simulate` run), asserting the values in every table, the
manifest, the ledger and the console; and the rules of assaykit.scoring.verdicts one by one."""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assaykit.beads import make_lot
from assaykit.beads.fit import Calibration, PeakFit
from assaykit.cli import app
from assaykit.findings import FindingCode, finding, parse_findings
from assaykit.scoring.rows import SampleRow
from assaykit.scoring.verdicts import (
    CalibrationVerdict,
    duplicate_findings,
    judge_calibration,
    judge_tubes,
    run_verdicts,
    tube_status,
)

TYPO = "474,53590,23843,62336"  # 5359 typed as 53590
BLOOD = ("sample", "isotype", "control")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The issue's run: `assaykit simulate` defaults (4 patients x 4 conditions, 20,000 events,
    seed 1) and its bead tube."""
    folder = tmp_path_factory.mktemp("verdicts") / "run"
    result = CliRunner().invoke(app, ["simulate", str(folder)])
    assert result.exit_code == 0, result.output
    return folder


@pytest.fixture(scope="module")
def truth(run: Path) -> dict[str, dict[str, str]]:
    with open(run / "truth.csv", newline="") as handle:
        return {r["file"]: r for r in csv.DictReader(handle)}


def _copy(run: Path, to: Path) -> Path:
    shutil.copytree(run, to, ignore=shutil.ignore_patterns("*.labels.npy"))
    return to


def _score(run: Path, out: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["score", str(run), "--out", str(out), "--jobs", "2", "--no-report", *extra])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


@pytest.fixture(scope="module")
def clean(run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("clean") / "out"
    code, output = _score(run, out, "--no-ledger")
    assert code == 0, output
    return out


def test_a_clean_run_is_all_reportable(clean: Path, truth) -> None:
    samples = _rows(clean / "samples.csv")
    blood = [r for r in samples if r["role"] in BLOOD]
    assert len(blood) == 16
    assert {r["verdict"] for r in blood} == {"reportable_with_warnings"}  # few monocytes (20,000 events)
    assert {r["verdict_reasons"] for r in blood} == {"few_events"}
    assert [r["verdict"] for r in samples if r["role"] == "beads"] == ["reportable"]
    for r in blood:  # AB/C reported, within 3 % of the simulator's truth
        assert float(r["hladr_abc"]) == pytest.approx(float(truth[r["file"]]["true_abc"]), rel=0.03)
    manifest = _manifest(clean)
    assert manifest["verdicts"] == {"values": 16, "reportable": 16, "withheld": 0, "reasons": {}}
    assert manifest["calibration_verdict"] == {"status": "reportable", "findings": [], "released_reason": ""}
    assert {r["completeness"] for r in _rows(clean / "patients.csv")} == {"complete"}
    assert {r["missing"] for r in _rows(clean / "patients.csv")} == {""}


def _nothing_reported(out: Path) -> None:
    """No AB/C, fold change, state, responder or class anywhere; the MFI stays."""
    for r in _rows(out / "samples.csv"):
        if r["role"] in BLOOD:
            assert r["hladr_abc"] == "" and r["hladr_mfi"] != "" and r["verdict"] == "withheld", r
    for r in _rows(out / "restoration.csv"):
        assert all(r[k] == "" for k in ("control_abc", "abc", "fold_change", "log2_fold_change", "delta_abc",
                                        "gap_closed", "state_control", "state_drug", "responder",
                                        "immunosep_class")), r
        assert r["verdict"] == "withheld"
    for r in _rows(out / "patients.csv"):
        assert all(r[k] == "" for k in ("control_abc", "state", "responders", "best_condition",
                                        "best_fold_change")), r
        assert r["completeness"] == "incomplete"
    assert all(r["n_pairs"] in ("0", "") and r["median_fold_change"] == "" for r in _rows(out / "cohort.csv"))
    assert all(r["abc"] == "" and r["fold_change"] == "" for r in _rows(out / "trajectories.csv"))


def test_bead_value_typo_withholds_the_calibration(run: Path, clean: Path, tmp_path: Path) -> None:
    """Why 1: 53590 for 5359. Slope 0.41 and r^2 0.937: withheld; no AB/C in any table, the
    trajectories, the ledger or QC over time; the MFI stays; the console says so; exit 1."""
    targets = tmp_path / "targets.yaml"
    targets.write_text("- {series: bead slope, target: 1.02, sd: 0.01}\n- {series: bead r2, target: 1.0, sd: 0.001}\n")
    ledger = tmp_path / "lab.sqlite"
    out = tmp_path / "out"
    code, output = _score(run, out, "--bead-values", TYPO, "--ledger", str(ledger))
    assert code == 1
    assert "0 of 16 values reportable; 16 withheld: calibration_withheld (16)" in output
    assert "calibration withheld: [low_r_squared] r^2 0.9371 below 0.99; [slope_out_of_range] slope 0.412 " \
           "outside 0.8-1.2" in output
    manifest = _manifest(out)
    assert manifest["verdicts"] == {"values": 16, "reportable": 0, "withheld": 16,
                                    "reasons": {"calibration_withheld": 16}}
    verdict = manifest["calibration_verdict"]
    assert verdict["status"] == "withheld" and verdict["released_reason"] == ""
    assert [f["code"] for f in verdict["findings"]] == ["low_r_squared", "slope_out_of_range", "residual_too_high"]
    _nothing_reported(out)
    clean_mfi = {r["file"]: r["hladr_mfi"] for r in _rows(clean / "samples.csv")}
    samples = _rows(out / "samples.csv")
    assert all(r["hladr_mfi"] == clean_mfi[r["file"]] for r in samples if r["role"] in BLOOD)
    assert [r["verdict"] for r in samples if r["role"] == "beads"] == ["withheld"]
    first = parse_findings(samples[0]["qc_flags"])
    assert finding(FindingCode.CALIBRATION_WITHHELD, "no AB/C: the bead calibration is withheld (low_r_squared, "
                                                     "slope_out_of_range, residual_too_high)") in first
    assert all(r["missing"].startswith("unstimulated: calibration_withheld; IFN-gamma: calibration_withheld")
               for r in _rows(out / "patients.csv"))
    with sqlite3.connect(ledger) as db:
        assert db.execute("SELECT count(*), count(hladr_abc) FROM tubes WHERE role = 'sample'").fetchone() == (16, 0)
        assert db.execute("SELECT count(*), count(control_abc) FROM patients").fetchone() == (4, 0)
        assert db.execute("SELECT count(fold_change) FROM restoration").fetchone() == (0,)
        assert db.execute("SELECT calibration_status, calibration_released FROM runs").fetchone() == ("withheld", "")
        assert {v for (v,) in db.execute("SELECT verdict FROM tubes WHERE role = 'sample'")} == {"withheld"}
        assert db.execute("SELECT count(*) FROM qc_checks WHERE series LIKE 'bead%'").fetchone() == (0,)


def test_three_values_for_a_four_peak_lot_are_withheld(run: Path, tmp_path: Path) -> None:
    """Why 2: a value missing shifts every assignment (P01 would read 551 AB/C, truth 5,839)."""
    out = tmp_path / "out"
    code, output = _score(run, out, "--bead-values", "474,5359,23843", "--no-ledger")
    assert code == 1 and "0 of 16 values reportable; 16 withheld" in output
    codes = [f["code"] for f in _manifest(out)["calibration_verdict"]["findings"]]
    assert "peak_count_mismatch" in codes and "slope_out_of_range" in codes
    message = next(f["message"] for f in _manifest(out)["calibration_verdict"]["findings"]
                   if f["code"] == "peak_count_mismatch")
    assert message.startswith("3 lot values for 4 bead peaks resolved")
    _nothing_reported(out)
    # calibration.csv keeps the fit and its findings for people to see
    calibration = _rows(out / "calibration.csv")
    assert len(calibration) == 4 and "[peak_count_mismatch]" in calibration[0]["qc_flags"]


def test_a_blood_tube_as_the_bead_tube_is_withheld(run: Path, tmp_path: Path) -> None:
    """Why 3: a blood tube (of another run: not a duplicate) in the bead well: its scatter and
    PE are those of cells; no AB/C anywhere, exit 1."""
    other = tmp_path / "other"
    assert CliRunner().invoke(app, ["simulate", str(other), "--patients", "1", "--seed", "7"]).exit_code == 0
    folder = _copy(run, tmp_path / "run")
    shutil.copy(other / "Specimen_001_A1_A01.fcs", folder / "Specimen_001_H12_H12.fcs")
    out = tmp_path / "out"
    code, output = _score(folder, out, "--no-ledger")
    assert code == 1 and "0 of 16 values reportable; 16 withheld: no_calibration (16)" in output
    verdict = _manifest(out)["calibration_verdict"]
    assert verdict["status"] == "withheld" and [f["code"] for f in verdict["findings"]] == ["cells_not_beads"]
    assert verdict["findings"][0]["message"].startswith("not a bead tube: the scatter cluster has CVs of")
    bead = next(r for r in _rows(out / "samples.csv") if r["role"] == "beads")
    assert (bead["verdict"], bead["verdict_reasons"]) == ("withheld", "cells_not_beads")
    _nothing_reported(out)
    # and released by a person? there is no calibration to release: still withheld
    code, output = _score(folder, tmp_path / "again", "--no-ledger", "--accept-calibration", "JD: it is fine")
    assert code == 1 and _manifest(tmp_path / "again")["calibration_verdict"]["status"] == "withheld"


def test_a_truncated_drug_tube_leaves_the_patient_incomplete(run: Path, clean: Path, truth, tmp_path: Path) -> None:
    """Why 4: P01's IFN-gamma tube truncated: P01 is incomplete, naming IFN-gamma and why;
    responders and the best drug over the measured drugs only; patients.csv carries every tube's
    findings; the other patients are as in the clean run."""
    folder = _copy(run, tmp_path / "run")
    tube = folder / "Specimen_001_A2_A02.fcs"
    data = tube.read_bytes()
    tube.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    code, output = _score(folder, out, "--no-ledger")
    assert code == 1
    assert "15 of 16 values reportable; 1 withheld: tube_failed (1)" in output
    assert "  incomplete: P01 D3: IFN-gamma: tube_failed" in output
    patients = {r["patient"]: r for r in _rows(out / "patients.csv")}
    before = {r["patient"]: r for r in _rows(clean / "patients.csv")}
    p01 = patients["P01"]
    assert (p01["completeness"], p01["missing"]) == ("incomplete", "IFN-gamma: tube_failed")
    assert before["P01"]["responders"] == "IFN-gamma;GM-CSF" and before["P01"]["best_condition"] == "IFN-gamma"
    restoration = {r["condition"]: r for r in _rows(out / "restoration.csv") if r["patient"] == "P01"}
    measured = {c: float(r["fold_change"]) for c, r in restoration.items() if r["fold_change"]}
    assert sorted(measured) == ["GM-CSF", "IL-7"]  # IFN-gamma was never measured
    assert p01["responders"] == "GM-CSF"
    assert p01["best_condition"] == max(measured, key=measured.__getitem__) == "GM-CSF"
    assert float(p01["best_fold_change"]) == pytest.approx(measured["GM-CSF"])
    # the fold change is the truth's, within 5 %
    true = float(truth["Specimen_001_A3_A03.fcs"]["true_abc"]) / float(truth["Specimen_001_A1_A01.fcs"]["true_abc"])
    assert measured["GM-CSF"] == pytest.approx(true, rel=0.05)
    gamma = restoration["IFN-gamma"]
    assert (gamma["fold_change"], gamma["responder"], gamma["verdict"], gamma["verdict_reasons"]) == \
           ("", "", "withheld", "tube_failed")
    flags = parse_findings(p01["qc_flags"])
    files = {f.message.split(":")[0] for f in flags}
    assert files == {f"Specimen_001_A{i}_A0{i}.fcs" for i in range(1, 5)}  # every tube's, not the control's only
    assert any(f.code == FindingCode.TUBE_FAILED and f.message.startswith("Specimen_001_A2_A02.fcs: ") for f in flags)
    for patient in ("P02", "P03", "P04"):
        assert patients[patient]["control_abc"] == before[patient]["control_abc"]
        assert patients[patient]["responders"] == before[patient]["responders"]
        assert patients[patient]["completeness"] == "complete"


def test_the_control_copied_over_a_drug_withholds_both(run: Path, clean: Path, tmp_path: Path) -> None:
    """Why 5: P02's control file saved over its IFN-gamma tube (one SHA-256 twice): both withheld
    from any comparison, each naming the other; no fold change 1.0, no "not a responder"."""
    folder = _copy(run, tmp_path / "run")
    shutil.copy(folder / "Specimen_001_A5_A05.fcs", folder / "Specimen_001_A6_A06.fcs")
    out = tmp_path / "out"
    code, output = _score(folder, out, "--no-ledger")
    assert code == 1 and "14 of 16 values reportable; 2 withheld: duplicate_content (2)" in output
    samples = {r["file"]: r for r in _rows(out / "samples.csv")}
    control, drug = samples["Specimen_001_A5_A05.fcs"], samples["Specimen_001_A6_A06.fcs"]
    assert control["sha256"] == drug["sha256"]
    for row, other in ((control, "Specimen_001_A6_A06.fcs (well A6)"), (drug, "Specimen_001_A5_A05.fcs (well A5)")):
        assert (row["verdict"], row["verdict_reasons"], row["hladr_abc"]) == ("withheld", "duplicate_content", "")
        (dup,) = [f for f in parse_findings(row["qc_flags"]) if f.code == FindingCode.DUPLICATE_CONTENT]
        assert other in dup.message and dup.severity == "error"
    restoration = [r for r in _rows(out / "restoration.csv") if r["patient"] == "P02"]
    assert len(restoration) == 3
    assert all(r["fold_change"] == "" and r["responder"] == "" and r["verdict"] == "withheld" for r in restoration)
    p02 = next(r for r in _rows(out / "patients.csv") if r["patient"] == "P02")
    assert p02["missing"] == ("unstimulated: duplicate_content; IFN-gamma: duplicate_content; "
                              "GM-CSF: control_no_value; IL-7: control_no_value")
    assert (p02["control_abc"], p02["state"], p02["responders"], p02["best_condition"]) == ("", "", "", "")
    manifest = _manifest(out)
    assert manifest["verdicts"]["reasons"] == {"duplicate_content": 2}
    cohort = {r["condition"]: r for r in _rows(out / "cohort.csv")}
    assert cohort["IFN-gamma"]["n_pairs"] == "3" and cohort["GM-CSF"]["n_pairs"] == "3"
    # every other tube as in the clean run
    before = {r["file"]: r for r in _rows(clean / "samples.csv")}
    for name, row in samples.items():
        if name not in ("Specimen_001_A5_A05.fcs", "Specimen_001_A6_A06.fcs"):
            assert row["hladr_abc"] == before[name]["hladr_abc"]


def test_accept_calibration_releases_and_records(run: Path, tmp_path: Path) -> None:
    """A person releases the typo'd calibration (command line, then run.yaml): values are
    converted with it, each tube says so, and the manifest, ledger and console record who and why."""
    reason = "JD 2026-11-23: values checked against the certificate"
    ledger = tmp_path / "lab.sqlite"
    out = tmp_path / "out"
    code, output = _score(run, out, "--bead-values", TYPO, "--ledger", str(ledger), "--accept-calibration", reason)
    assert code == 0, output
    assert f"calibration released by a person: {reason} (withheld for: [low_r_squared]" in output
    assert "16 of 16 values reportable; 0 withheld" in output
    manifest = _manifest(out)
    verdict = manifest["calibration_verdict"]
    assert verdict["status"] == "released" and verdict["released_reason"] == reason
    assert [f["code"] for f in verdict["findings"]] == ["low_r_squared", "slope_out_of_range", "residual_too_high"]
    assert manifest["options"]["accept_calibration"] == reason
    blood = [r for r in _rows(out / "samples.csv") if r["role"] in BLOOD]
    assert all(r["hladr_abc"] != "" and "calibration_released" in r["verdict_reasons"] for r in blood)
    assert all(any(f.code == FindingCode.CALIBRATION_RELEASED and reason in f.message
                   for f in parse_findings(r["qc_flags"])) for r in blood)
    with sqlite3.connect(ledger) as db:
        assert db.execute("SELECT calibration_status, calibration_released FROM runs").fetchone() == ("released",
                                                                                                       reason)
    # the same from run.yaml
    folder = _copy(run, tmp_path / "run")
    with open(folder / "run.yaml", "a") as handle:
        handle.write(f"bead_values: [{TYPO}]\naccept_calibration: '{reason}'\n")
    (folder / "run.yaml").write_text((folder / "run.yaml").read_text().replace("lot: beads_lot.yaml\n", ""))
    code, output = _score(folder, tmp_path / "yaml", "--no-ledger")
    assert code == 0 and _manifest(tmp_path / "yaml")["calibration_verdict"]["released_reason"] == reason
    # a study: one reason never releases several runs' calibrations
    result = CliRunner().invoke(app, ["score", str(run), str(folder), "--out", str(tmp_path / "study"),
                                      "--accept-calibration", reason])
    assert result.exit_code == 2 and "run.yaml of the run a person checked" in result.output
    # an empty reason releases nothing
    code, output = _score(run, tmp_path / "empty", "--no-ledger", "--bead-values", TYPO, "--accept-calibration", " ")
    assert code == 2 and "accept_calibration" in output


def test_calibrate_and_gate_give_no_value_with_a_withheld_calibration(run: Path) -> None:
    beads, tube = str(run / "Specimen_001_H12_H12.fcs"), str(run / "Specimen_001_A1_A01.fcs")
    result = CliRunner().invoke(app, ["calibrate", beads, "--bead-values", TYPO, "--convert", "2000"])
    assert result.exit_code == 1
    assert "  verdict: withheld\n    [low_r_squared] r^2 0.9371 below 0.99" in result.output
    assert "MFI 2,000.0 -> - PE molecules/bead (calibration withheld: no value)" in result.output
    doc = json.loads(CliRunner().invoke(app, ["calibrate", beads, "--bead-values", TYPO, "--json", "--convert",
                                              "2000"]).output)
    assert doc["calibration"]["verdict"]["status"] == "withheld" and doc["converted"] == [{"mfi": 2000.0,
                                                                                          "value": None}]
    good = CliRunner().invoke(app, ["calibrate", beads, "--lot", str(run / "beads_lot.yaml")])
    assert good.exit_code == 0 and "  verdict: reportable" in good.output
    gated = CliRunner().invoke(app, ["gate", tube, "--beads", beads, "--bead-values", TYPO])
    assert gated.exit_code == 1
    assert "calibration withheld: [low_r_squared]" in gated.output and "HLA-DR median: - AB/C" in gated.output
    doc = json.loads(CliRunner().invoke(app, ["gate", tube, "--beads", beads, "--bead-values", TYPO, "--json"]).output)
    assert doc["calibrated"]["value"] is None and doc["calibration_verdict"]["status"] == "withheld"
    assert doc["readout"]["median"] > 0  # the MFI stays


# --- the rules one by one ---------------------------------------------------------------------------


def _calibration(peaks: list[tuple[float, float | None, bool, float | None]], missing: tuple[float, ...] = (),
                 findings: tuple = ()) -> Calibration:
    return Calibration(slope=1.0, intercept=0.3, r_squared=0.999, unit="PE molecules/bead", channel="PE-A",
                       peaks=tuple(PeakFit(mfi=m, value=v, used=u, reason="", residual=r, n_events=1000,
                                           robust_cv_percent=8.0) for m, v, u, r in peaks),
                       missing_values=missing, findings=findings)


def test_calibration_rules() -> None:
    lot = make_lot([474, 5359, 23843, 62336])
    good = _calibration([(200, 474, True, 0.01), (2000, 5359, True, -0.02), (9000, 23843, True, 0.0),
                         (23000, 62336, True, 0.01)])
    assert judge_calibration(good, lot) == CalibrationVerdict("reportable")
    # a used peak 0.15 decade (41 %) off the line: above the lot's 0.1
    off = _calibration([(200, 474, True, 0.15), (2000, 5359, True, -0.02), (9000, 23843, True, 0.0),
                        (23000, 62336, True, 0.01)])
    verdict = judge_calibration(off, lot)
    assert verdict.status == "withheld" and verdict.codes == (FindingCode.RESIDUAL_TOO_HIGH,)
    # a peak left out of the fit may be off the line: only used peaks are judged
    dropped = _calibration([(200, 474, False, -1.3), (2000, 5359, True, -0.02), (9000, 23843, True, 0.0),
                            (23000, 62336, True, 0.01)])
    assert judge_calibration(dropped, lot).status == "reportable"
    # a dim peak not found: 4 values for 3 peaks
    lost = _calibration([(2000, 5359, True, 0.0), (9000, 23843, True, 0.0), (23000, 62336, True, 0.0)],
                        missing=(474.0,))
    assert judge_calibration(lost, lot).codes == (FindingCode.PEAK_COUNT_MISMATCH,)
    # an extra peak, unassigned
    extra = _calibration([(20, None, False, None), (200, 474, True, 0.0), (2000, 5359, True, 0.0),
                          (9000, 23843, True, 0.0), (23000, 62336, True, 0.0)])
    assert judge_calibration(extra, lot).codes == (FindingCode.PEAK_COUNT_MISMATCH,)
    # a warning does not withhold; an error does; a person releases
    ambiguous = _calibration(good and [(200, 474, True, 0.0), (2000, 5359, True, 0.0), (9000, 23843, True, 0.0),
                                       (23000, 62336, True, 0.0)],
                             findings=(finding(FindingCode.AMBIGUOUS_ASSIGNMENT, "shifted"),
                                       finding(FindingCode.SLOPE_OUT_OF_RANGE, "slope 0.7 outside 0.8-1.2")))
    assert judge_calibration(ambiguous, lot).codes == (FindingCode.SLOPE_OUT_OF_RANGE,)
    released = judge_calibration(ambiguous, lot, accepted="JD: checked")
    assert (released.status, released.released_reason, released.usable) == ("released", "JD: checked", True)
    assert judge_calibration(ambiguous, lot, accepted="  ").status == "withheld"
    missing = judge_calibration(None, lot, error="not a bead tube", error_code=FindingCode.CELLS_NOT_BEADS,
                                accepted="JD")
    assert (missing.status, missing.codes) == ("withheld", (FindingCode.CELLS_NOT_BEADS,))


def _row(file: str, sha: str = "", *found, role: str = "sample", error: str = "", abc: float | None = 5000.0,
         condition: str = "unstimulated") -> SampleRow:
    return SampleRow(file=file, sha256=sha, well=file[:2], patient="P01", timepoint="D1", condition=condition,
                     role=role, matched_by="file name", hladr_mfi=2000.0, hladr_abc=abc, hladr_pos_pct=90.0,
                     qc_flags=tuple(found), error=error)


def test_tube_rules() -> None:
    few = finding(FindingCode.FEW_EVENTS, "only 900 monocytes")
    hand = finding(FindingCode.GATE_SET_BY_HAND, "gate set by hand: checked")
    assert tube_status([hand]) == ("reportable", ())
    assert tube_status([hand, few]) == ("reportable_with_warnings", (FindingCode.FEW_EVENTS,))
    too_few = finding(FindingCode.TOO_FEW_EVENTS, "only 90 monocytes")
    assert tube_status([few, too_few]) == ("withheld", (FindingCode.TOO_FEW_EVENTS,))
    assert tube_status([], failed=True) == ("withheld", (FindingCode.TUBE_FAILED,))
    rows = [_row("A1.fcs", "aa", few), _row("A2.fcs", "bb", too_few, condition="IFN-gamma"),
            _row("A3.fcs", "aa", condition="GM-CSF"), _row("H12.fcs", "cc", role="beads", abc=None),
            _row("H11.fcs", role="blank", abc=None)]
    duplicates = duplicate_findings(rows)
    assert sorted(duplicates) == ["A1.fcs", "A3.fcs"]
    assert "A3.fcs (well A3)" in duplicates["A1.fcs"].message
    marked = [r if r.file not in duplicates else SampleRow(**{**r.__dict__, "qc_flags": (*r.qc_flags,
                                                                                           duplicates[r.file])})
              for r in rows]
    judged = judge_tubes(marked, CalibrationVerdict("reportable"))
    verdicts = {r.file: (r.verdict, r.verdict_reasons, r.hladr_abc, r.hladr_pos_pct, r.hladr_mfi) for r in judged}
    assert verdicts["A1.fcs"] == ("withheld", (FindingCode.DUPLICATE_CONTENT,), None, None, 2000.0)
    assert verdicts["A2.fcs"] == ("withheld", (FindingCode.TOO_FEW_EVENTS,), None, None, 2000.0)
    assert verdicts["A3.fcs"][0] == "withheld"
    assert verdicts["H12.fcs"][:2] == ("reportable", ())
    assert verdicts["H11.fcs"][:2] == ("", ())
    # QC over time rejecting the run withholds every value
    rejected = finding(FindingCode.QC_REJECTED, "QC: rejected, rule 2-2s on bead slope")
    again = judge_tubes([_row("A1.fcs")], CalibrationVerdict("reportable"), [rejected])
    assert (again[0].verdict, again[0].verdict_reasons, again[0].hladr_abc) == ("withheld",
                                                                                (FindingCode.QC_REJECTED,), None)
    # % positive is read against the isotype tube: none when it is withheld
    isotype = judge_tubes([_row("A1.fcs"), _row("A4.fcs", "", too_few, role="isotype", condition="isotype")],
                          CalibrationVerdict("reportable"))
    assert [(r.verdict, r.hladr_abc, r.hladr_pos_pct) for r in isotype] == [("reportable", 5000.0, None),
                                                                             ("withheld", None, None)]
    summary = run_verdicts(judged)
    assert summary.to_dict() == {"values": 3, "reportable": 0, "withheld": 3,
                                 "reasons": {"duplicate_content": 2, "too_few_events": 1}}
    assert summary.line() == "0 of 3 values reportable; 3 withheld: duplicate_content (2), too_few_events (1)"


# --- review of issue 27: what a release may unlock, typos the residual catches, withheld comparisons --------


def test_a_release_never_unlocks_a_structural_finding() -> None:
    """cells_not_beads, duplicate_content, peaks_not_resolved and peak_count_mismatch mean the
    assignment itself is wrong: a release is refused, naming the codes and what to fix; quality
    findings (slope, r^2, residual) stay releasable; a release with nothing to release says so."""
    from assaykit.scoring.verdicts import RELEASABLE, STRUCTURAL, release_refusal

    assert set(RELEASABLE) == {FindingCode.SLOPE_OUT_OF_RANGE, FindingCode.LOW_R_SQUARED,
                               FindingCode.RESIDUAL_TOO_HIGH}
    assert set(STRUCTURAL) == {FindingCode.CELLS_NOT_BEADS, FindingCode.DUPLICATE_CONTENT,
                               FindingCode.PEAKS_NOT_RESOLVED, FindingCode.PEAK_COUNT_MISMATCH}
    lot = make_lot([474, 5359, 23843, 62336])
    peaks = [(200, 474, True, 0.0), (2000, 5359, True, 0.0), (9000, 23843, True, 0.0), (23000, 62336, True, 0.0)]
    # a blood tube as the bead tube: slope 4.4 and cells, released -> still withheld
    blood = _calibration(peaks, findings=(finding(FindingCode.SLOPE_OUT_OF_RANGE, "slope 4.400 outside 0.8-1.2"),
                                          finding(FindingCode.CELLS_NOT_BEADS, "not a bead tube")))
    verdict = judge_calibration(blood, lot, accepted="JD: it is fine")
    assert (verdict.status, verdict.usable, verdict.released_reason) == ("withheld", False, "")
    assert verdict.release_note.startswith("release refused: cells_not_beads means the peaks' assignment itself is "
                                           "wrong, which no person can vouch for; instead, cells_not_beads: give the "
                                           "run's bead tube")
    assert "release refused: cells_not_beads" in verdict.describe()
    assert verdict.to_dict()["release_note"] == verdict.release_note
    # three values for a four-peak lot
    three = _calibration([(20, None, False, None), *peaks[1:]])
    verdict = judge_calibration(three, make_lot([5359, 23843, 62336]), accepted="JD: it is fine")
    assert verdict.status == "withheld" and verdict.codes == (FindingCode.PEAK_COUNT_MISMATCH,)
    assert "peak_count_mismatch: enter the lot's values exactly as on its certificate" in verdict.release_note
    # a duplicate bead file
    copy = finding(FindingCode.DUPLICATE_CONTENT, "identical content to A5.fcs")
    good = _calibration(peaks)
    assert judge_calibration(good, lot, extra=[copy], accepted="JD").status == "withheld"
    assert release_refusal([FindingCode.LOW_R_SQUARED, FindingCode.DUPLICATE_CONTENT]).startswith(
        "release refused: duplicate_content means")
    assert release_refusal(RELEASABLE) == ""
    # quality alone: released
    steep = _calibration(peaks, findings=(finding(FindingCode.SLOPE_OUT_OF_RANGE, "slope 1.3"),))
    assert judge_calibration(steep, lot, accepted="JD: checked").status == "released"
    # no calibration at all: the release is refused, saying why
    none = judge_calibration(None, lot, error="found 1 bead peak", error_code=FindingCode.PEAKS_NOT_RESOLVED,
                             accepted="JD")
    assert none.status == "withheld" and none.release_note.startswith(
        "release refused: no calibration was fitted, so there is nothing to release; instead, peaks_not_resolved: "
        "re-acquire the bead tube")
    # nothing withheld: said, not ignored
    fine = judge_calibration(good, lot, accepted="JD")
    assert fine.status == "reportable" and fine.release_note.startswith("release not needed: the calibration is "
                                                                        "reportable")
    assert judge_calibration(good, lot).release_note == "" and "release_note" not in judge_calibration(good,
                                                                                                        lot).to_dict()


def test_three_values_released_stay_withheld(run: Path, tmp_path: Path) -> None:
    """Three values for a four-peak lot, released by a person: AB/C 74 before; now refused, exit 1."""
    out = tmp_path / "out"
    code, output = _score(run, out, "--bead-values", "474,5359,23843", "--no-ledger", "--accept-calibration",
                          "JD: it is fine")
    assert code == 1 and "0 of 16 values reportable; 16 withheld: calibration_withheld (16)" in output
    assert "release refused: peak_count_mismatch means the peaks' assignment itself is wrong" in output
    verdict = _manifest(out)["calibration_verdict"]
    assert verdict["status"] == "withheld" and verdict["released_reason"] == ""
    assert verdict["release_note"].startswith("release refused: peak_count_mismatch")
    _nothing_reported(out)


def test_an_empty_release_in_run_yaml_names_the_file(run: Path, tmp_path: Path) -> None:
    for written in ("accept_calibration:\n", "accept_calibration: '   '\n"):
        folder = _copy(run, tmp_path / f"run{len(written)}")
        with open(folder / "run.yaml", "a") as handle:
            handle.write(written)
        code, output = _score(folder, tmp_path / "out", "--no-ledger")
        assert code == 2 and "run.yaml" in output and "accept_calibration:" in output, output
        assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("values", "residual", "worst"), [
    ("744,5359,23843,62336", "-0.063 (value 5359)", "MFI 2,053"),  # 474 typed 744: slope 0.926, r^2 0.997
    ("474,5359,32843,62336", "+0.093 (value 32843)", "MFI 8,865"),  # 23843 typed 32843: r^2 0.995
    ("474,8359,23843,62336", "-0.379 (value 474) (left out of the fit by the dim-end rule)", "MFI 192"),
])
def test_one_digit_typos_are_withheld_by_the_residual(run: Path, tmp_path: Path, values: str, residual: str,
                                                      worst: str) -> None:
    """QuantiBRITE's four peaks fit within 0.004 decade on this tube: a typo'd value is off the
    line by 0.06-0.4 decade, above the QuantiBRITE limit of 0.04 (these passed at 0.1)."""
    out = tmp_path / "out"
    code, output = _score(run, out, "--bead-values", values, "--no-ledger")
    assert code == 1 and "0 of 16 values reportable; 16 withheld: calibration_withheld (16)" in output
    verdict = _manifest(out)["calibration_verdict"]
    off = next(f for f in verdict["findings"] if f["code"] == "residual_too_high")
    assert f"off the line by more than 0.04 decade: the peak at {worst} by {residual}" in off["message"]
    assert verdict["status"] == "withheld"
    _nothing_reported(out)
    # a quality finding: a person may release it
    code, output = _score(run, tmp_path / "released", "--bead-values", values, "--no-ledger",
                          "--accept-calibration", "JD: certificate re-read")
    assert code == 0 and _manifest(tmp_path / "released")["calibration_verdict"]["status"] == "released"


@pytest.mark.parametrize("values", ["4740,53590,238430,623360", "474000,5359000,23843000,62336000",
                                    "0.474,5.359,23.843,62.336"])
def test_quantibrite_values_off_by_a_unit_are_refused(run: Path, tmp_path: Path, values: str) -> None:
    """Every value x10, x1000 or in thousands keeps slope and r^2: refused before any tube is
    measured (exit 2), on the command line, in run.yaml and in a QuantiBRITE lot file."""
    code, output = _score(run, tmp_path / "out", "--bead-values", values, "--no-ledger")
    assert code == 2 and "--bead-values: QuantiBRITE PE values outside the range of any certificate" in output
    assert "low " in output and "(expected 200-1,800)" in output and not (tmp_path / "out").exists()
    folder = _copy(run, tmp_path / "run")
    (folder / "run.yaml").write_text((folder / "run.yaml").read_text().replace("lot: beads_lot.yaml\n", "")
                                     + f"bead_values: [{values}]\n")
    code, output = _score(folder, tmp_path / "out", "--no-ledger")
    assert code == 2 and "run.yaml" in output and "bead_values: QuantiBRITE PE values outside" in output
    lot = folder / "beads_lot.yaml"
    lot.write_text(lot.read_text().replace("values: [474, 5359, 23843, 62336]", f"values: [{values}]"))
    code, output = _score(folder, tmp_path / "out", "--no-ledger", "--lot", str(lot))
    assert code == 2 and "beads_lot.yaml" in output and "values: QuantiBRITE PE values outside" in output


def test_a_bead_tube_copied_from_a_blood_tube_is_a_duplicate(run: Path, tmp_path: Path) -> None:
    """`cp Specimen_001_A5_A05.fcs Specimen_001_H12_H12.fcs`: the calibration fails (cells), and
    both tubes carry duplicate_content naming each other."""
    folder = _copy(run, tmp_path / "run")
    shutil.copy(folder / "Specimen_001_A5_A05.fcs", folder / "Specimen_001_H12_H12.fcs")
    out = tmp_path / "out"
    code, output = _score(folder, out, "--no-ledger")
    assert code == 1 and "duplicate_content" in output
    samples = {r["file"]: r for r in _rows(out / "samples.csv")}
    bead, blood = samples["Specimen_001_H12_H12.fcs"], samples["Specimen_001_A5_A05.fcs"]
    assert bead["sha256"] == blood["sha256"] != ""
    assert "Specimen_001_A5_A05.fcs (well A5)" in next(f.message for f in parse_findings(bead["qc_flags"])
                                                       if f.code == FindingCode.DUPLICATE_CONTENT)
    assert "Specimen_001_H12_H12.fcs (well H12)" in next(f.message for f in parse_findings(blood["qc_flags"])
                                                         if f.code == FindingCode.DUPLICATE_CONTENT)
    assert bead["verdict_reasons"] == "cells_not_beads; duplicate_content"
    assert blood["verdict"] == "withheld" and "duplicate_content" in blood["verdict_reasons"]
    codes = [f["code"] for f in _manifest(out)["calibration_verdict"]["findings"]]
    assert codes == ["cells_not_beads", "duplicate_content"]


def test_a_withheld_control_withholds_each_comparison_cleanly() -> None:
    """The control withheld, the drug reportable: no fold change, delta, gap, responder or class;
    the drug's own AB/C and state stay; the reason is control_no_value, naming the control's file.
    The patient: no AB/C, state or ImmunoSep class (ferritin 6,000 alone would say
    hyperinflammation)."""
    from assaykit.scoring.restoration import ResponderRule, Thresholds, pair_with_controls

    rows = [_row("A1.fcs", error="truncated file", abc=None), _row("A2.fcs", condition="IFN-gamma", abc=19694.56),
            _row("A3.fcs", condition="GM-CSF", abc=None, error="no gate")]
    judged = judge_tubes(rows, CalibrationVerdict("reportable"))
    restoration, patients = pair_with_controls(judged, "unstimulated", Thresholds(), ResponderRule(),
                                               {("P01", ""): 6000.0})
    gamma, gm = restoration
    assert (gamma.control_abc, gamma.abc, gamma.state_control, gamma.state_drug) == (None, 19694.56, "", "normal")
    assert (gamma.fold_change, gamma.log2_fold_change, gamma.delta_abc, gamma.gap_closed, gamma.responder) == (
        None, None, None, None, None)
    assert (gamma.immunosep_class, gamma.verdict, gamma.verdict_reasons) == ("", "withheld",
                                                                             (FindingCode.CONTROL_NO_VALUE,))
    assert gamma.qc_flags[0].code == FindingCode.CONTROL_NO_VALUE
    assert gamma.qc_flags[0].message == ("control A1.fcs has no reportable value (tube_failed: truncated file): the "
                                         "comparison is withheld")
    # the drug itself withheld: no AB/C, no state; its own codes, then the control's
    assert (gm.abc, gm.state_drug, gm.immunosep_class) == (None, "", "")
    assert gm.verdict_reasons == (FindingCode.TUBE_FAILED, FindingCode.CONTROL_NO_VALUE)
    patient = patients[0]
    assert (patient.control_abc, patient.state, patient.immunosep_class, patient.ferritin_ng_ml) == (None, "", "",
                                                                                                      6000.0)
    assert patient.immunosep_rule == "no class: the unstimulated control A1.fcs is withheld (tube_failed)"
    assert patient.missing == "unstimulated: tube_failed; IFN-gamma: control_no_value; GM-CSF: tube_failed"
    # with a reportable control, ferritin 6,000 is hyperinflammation on every row
    fine = judge_tubes([_row("A1.fcs", abc=3000.0), _row("A2.fcs", condition="IFN-gamma", abc=9000.0)],
                       CalibrationVerdict("reportable"))
    restoration, patients = pair_with_controls(fine, "unstimulated", Thresholds(), ResponderRule(),
                                               {("P01", ""): 6000.0})
    assert restoration[0].immunosep_class == patients[0].immunosep_class == "hyperinflammation"
    assert restoration[0].fold_change == 3.0


def test_a_blood_tube_with_peaks_released_stays_withheld(run: Path, tmp_path: Path) -> None:
    """A lyse-no-wash blood tube in the bead well gives three 'peaks' (slope 1.45, r^2 0.85):
    cells_not_beads and peak_count_mismatch. Released by a person it used to give AB/C through
    it (exit 0); now the release is refused, no AB/C anywhere, exit 1."""
    other = tmp_path / "other"
    assert CliRunner().invoke(app, ["simulate", str(other), "--patients", "2", "--specimen",
                                    "lyse_no_wash"]).exit_code == 0
    folder = _copy(run, tmp_path / "run")
    shutil.copy(other / "Specimen_001_A5_A05.fcs", folder / "Specimen_001_H12_H12.fcs")
    out = tmp_path / "out"
    code, output = _score(folder, out, "--no-ledger", "--accept-calibration", "JD: it is fine")
    assert code == 1 and "0 of 16 values reportable; 16 withheld: calibration_withheld (16)" in output
    verdict = _manifest(out)["calibration_verdict"]
    codes = [f["code"] for f in verdict["findings"]]
    assert "cells_not_beads" in codes and "peak_count_mismatch" in codes
    assert verdict["status"] == "withheld" and verdict["released_reason"] == ""
    assert verdict["release_note"].startswith("release refused: cells_not_beads, peak_count_mismatch mean the "
                                              "peaks' assignment itself is wrong")
    assert "instead, cells_not_beads: give the run's bead tube" in output
    _nothing_reported(out)


def test_a_release_of_a_reportable_calibration_says_it_released_nothing(run: Path, tmp_path: Path) -> None:
    """--accept-calibration on a run whose calibration is reportable is not silently ignored: the
    console and the manifest say the release was not needed; the values are the clean run's."""
    code, output = _score(_copy(run, tmp_path / "run"), tmp_path / "out", "--accept-calibration", "JD checked")
    assert code == 0, output
    assert "calibration reportable; release not needed" in output
    verdict = _manifest(tmp_path / "out")["calibration_verdict"]
    assert verdict["status"] == "reportable" and verdict["release_note"].startswith("release not needed")
