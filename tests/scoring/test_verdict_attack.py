"""Hostile tests of issue 27's verdicts, by family: inputs where a wrong number still got a
reportable verdict, or a release went through unseen. Each runs as a user would (`assaykit
score` on an `assaykit simulate` run) and asserts the values in the tables, the manifest and the
exit code."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assaykit.beads import make_lot
from assaykit.beads.fit import Calibration, PeakFit
from assaykit.cli import app
from assaykit.findings import FindingCode, finding
from assaykit.scoring.rows import SampleRow
from assaykit.scoring.verdicts import duplicate_findings, judge_calibration, release_reason_problem

TYPO = "474,53590,23843,62336"  # 5359 typed as 53590: a calibration the rules withhold


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One patient, four conditions, its bead tube (wells A1-A4, H12)."""
    folder = tmp_path_factory.mktemp("attack") / "run"
    result = CliRunner().invoke(app, ["simulate", str(folder), "--patients", "1", "--events", "20000"])
    assert result.exit_code == 0, result.output
    return folder


def _copy(run: Path, to: Path) -> Path:
    shutil.copytree(run, to, ignore=shutil.ignore_patterns("*.labels.npy"))
    return to


def _file(folder: Path, well: str) -> Path:
    return next(folder.glob(f"Specimen_*_{well}_*.fcs"))


def _score(folder: Path, out: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["score", str(folder), "--out", str(out), "--jobs", "2", "--no-report",
                                      "--no-ledger", *extra])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


# --- tubes: one file saved over another, its TEXT not the same ------------------------------------

def _edit_text(data: bytes, edit: str, target: str) -> bytes:
    """``data`` (an FCS file) with one TEXT value changed, keeping every offset: what a re-export
    or a copy under another name changes while the events stay the very same."""
    text_end = int(data[18:26])
    head, rest = data[: text_end + 1], data[text_end + 1:]
    if edit == "fil":  # the copy carries the name it was saved under
        source = head.split(b"$FIL/")[1].split(b"/")[0]
        new = target.encode()
        assert len(new) == len(source)
        head = head.replace(source, new)
    elif edit == "date":
        head = head.replace(b"$DATE/22-NOV-2026", b"$DATE/23-NOV-2026")
    elif edit == "creator":
        head = head.replace(b"CREATOR/assaykit simulate", b"CREATOR/assaykit simulatX")
    assert head != data[: text_end + 1] and len(head) == text_end + 1
    return head + rest


@pytest.mark.parametrize(("source", "target", "edit"), [
    ("A1", "A2", "fil"),  # the control over a drug: fold change exactly 1.0, "not a responder"
    ("A2", "A3", "date"),  # one drug over another
    ("A1", "A4", "creator"),
    ("H12", "A2", "creator"),  # the bead tube over a drug
])
def test_a_copy_under_another_text_is_withheld(run: Path, tmp_path: Path, source: str, target: str,
                                               edit: str) -> None:
    folder = _copy(run, tmp_path / "run")
    src, dst = _file(folder, source), _file(folder, target)
    dst.write_bytes(_edit_text(src.read_bytes(), edit, dst.name))
    assert src.read_bytes() != dst.read_bytes()
    code, output = _score(folder, tmp_path / "out")
    assert code == 1, output
    samples = {r["file"]: r for r in _rows(tmp_path / "out" / "samples.csv")}
    for name in (src.name, dst.name):
        row = samples[name]
        assert row["verdict"] == "withheld" and "duplicate_content" in row["verdict_reasons"], row
        assert row["hladr_abc"] == "" if row["role"] != "beads" else True
        assert "[duplicate_content]" in row["qc_flags"]
    restoration = _rows(tmp_path / "out" / "restoration.csv")
    target_condition = samples[dst.name]["condition"]
    compared = [r for r in restoration if r["condition"] == target_condition]
    assert compared and all(r["fold_change"] == "" and r["responder"] == "" for r in compared)
    assert all(r["verdict"] == "withheld" for r in compared)
    patients = _rows(tmp_path / "out" / "patients.csv")
    assert patients[0]["completeness"] == "incomplete"
    if source == "H12":
        manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
        assert manifest["calibration_verdict"]["status"] == "withheld"
        assert all(r["hladr_abc"] == "" for r in samples.values())
    assert "duplicate_content" in output


def test_duplicate_rule_reads_the_events_not_only_the_file() -> None:
    def row(file: str, sha: str) -> SampleRow:
        return SampleRow(file=file, sha256=sha, well=file[:2], patient="P01", timepoint="D3", condition=file,
                         role="sample", matched_by="file")

    rows = [row("A1.fcs", "a" * 64), row("A2.fcs", "b" * 64), row("A3.fcs", "c" * 64), row("A4.fcs", "c" * 64)]
    contents = {"A1.fcs": "d1", "A2.fcs": "d1", "A3.fcs": "d3", "A4.fcs": "d3"}
    found = duplicate_findings(rows, contents)
    assert set(found) == {"A1.fcs", "A2.fcs", "A3.fcs", "A4.fcs"}
    assert "A2.fcs" in found["A1.fcs"].message and "identical events" in found["A1.fcs"].message
    assert "identical content" in found["A3.fcs"].message  # the same file: named as such, once
    assert duplicate_findings(rows[:3], {"A1.fcs": "d1", "A2.fcs": "d2"}) == {}


# --- release: a reason no person can see is no reason --------------------------------------------

HIDDEN_REASONS = ["\x00", "\u200b", "\u200b\u200b JD", "\x1b[2J", "ok\nscored 4 of 4 files", "JD\u2028checked",
                  "\u202eJD", "---", "?!"]


@pytest.mark.parametrize("reason", HIDDEN_REASONS)
def test_an_invisible_reason_releases_nothing(run: Path, tmp_path: Path, reason: str) -> None:
    code, output = _score(run, tmp_path / "out", "--bead-values", TYPO, "--accept-calibration", reason)
    assert code == 2, output
    assert "accept_calibration" in output and not (tmp_path / "out").exists()
    assert release_reason_problem(reason)
    # the rule itself, as judge_calibration applies it to a Python caller's reason
    lot = make_lot([474, 5359, 23843, 62336])
    withheld = Calibration(slope=0.7, intercept=0.3, r_squared=0.999, unit="u", channel="PE-A",
                           peaks=tuple(PeakFit(mfi=m, value=v, used=True, reason="", residual=0.0, n_events=900,
                                               robust_cv_percent=8.0)
                                       for m, v in ((200, 474), (2000, 5359), (9000, 23843), (23000, 62336))),
                           missing_values=(), findings=(finding(FindingCode.SLOPE_OUT_OF_RANGE, "slope 0.7"),))
    assert judge_calibration(withheld, lot, accepted=reason).status == "withheld"


@pytest.mark.parametrize("reason", [r'"\u200b"', r'"\0"', r'"JD\nreleased"', r'"\e[31mJD"'])
def test_an_invisible_reason_in_run_yaml_is_refused(run: Path, tmp_path: Path, reason: str) -> None:
    folder = _copy(run, tmp_path / "run")
    with open(folder / "run.yaml", "a") as handle:
        handle.write(f"accept_calibration: {reason}\n")
    code, output = _score(folder, tmp_path / "out", "--bead-values", TYPO)
    assert code == 2, output
    assert "accept_calibration" in output and not (tmp_path / "out").exists()


def test_a_plain_reason_still_releases(run: Path, tmp_path: Path) -> None:
    reason = "Dr. Müller – certificate re-read, slope checked"
    code, output = _score(run, tmp_path / "out", "--bead-values", TYPO, "--accept-calibration", reason)
    assert code == 0, output  # released: nothing withheld (each value carries calibration_released)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["calibration_verdict"]["status"] == "released", output
    assert manifest["calibration_verdict"]["released_reason"] == reason
    assert release_reason_problem(reason) == ""


# --- the ledger: QC over time takes values through a calibration the rules found reportable -------

@pytest.mark.parametrize(("values", "release", "in_history"), [
    (None, None, True),  # the lot's own values: reportable, the control blood's AB/C is a QC value
    (TYPO, None, False),  # withheld: no AB/C
    (TYPO, "JD: certificate re-read", False),  # released by a person: reported, but no QC value
])
def test_qc_over_time_takes_no_control_value_through_a_released_calibration(
        run: Path, tmp_path: Path, values: str | None, release: str | None, in_history: bool) -> None:
    import sqlite3

    folder = _copy(run, tmp_path / "run")
    plate = folder / "plate_map.csv"
    control = _file(folder, "A4").name
    plate.write_text(plate.read_text().replace(f"A4,{control},P01,D3,IL-7,sample", f"A4,{control},CTRL-A,,,control"))
    ledger = tmp_path / "ledger.sqlite"
    extra = [*(["--bead-values", values] if values else []), *(["--accept-calibration", release] if release else [])]
    result = CliRunner().invoke(app, ["score", str(folder), "--out", str(tmp_path / "out"), "--jobs", "2",
                                      "--no-report", "--ledger", str(ledger), *extra])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    samples = {r["file"]: r for r in _rows(tmp_path / "out" / "samples.csv")}
    withheld = values == TYPO and release is None
    assert (samples[control]["hladr_abc"] == "") == withheld
    qc = {r["series"] for r in _rows(tmp_path / "out" / "qc.csv")}
    with sqlite3.connect(ledger) as db:
        recorded = {s for (s,) in db.execute("SELECT series FROM qc_checks")}
    assert ("control AB/C (CTRL-A)" in qc) == in_history
    assert ("control AB/C (CTRL-A)" in recorded) == in_history
