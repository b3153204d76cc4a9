"""The pages' side of issue 27: every page (index, patient HTML, patient PDF) says how many values
are reportable and why the others are withheld, shows a withheld or released bead calibration in
a banner, never an AB/C, fold change, state, responder or class for a withheld value (its MFI and
the reason instead), and counts responders over measured drugs only.

The verdict columns and manifest keys are written by scoring (issue 27, another branch). These
tests build them by hand, honestly: a simulated run is scored (tables and figure data, no pages),
its tables are rewritten with the verdict columns as scoring writes them and the manifest gets
the verdict keys, then the folder is sealed again with ``scoring.tables.seal`` (the function
``score`` seals with), so ``report.load`` checks the same hashes it checks on a scored folder.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from assaykit.report import build_reports
from assaykit.scoring import score_run
from assaykit.scoring.tables import MANIFEST, seal

from .test_report import _parse

PDFTOTEXT = shutil.which("pdftotext")
RELEASED = "J. Doe, 2026-12-05: lot certificate re-checked, bead values confirmed"


@pytest.fixture(scope="module")
def tables(simulated_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 2-patient run's tables and figure data (no pages), as ``score --no-report`` leaves them."""
    return score_run(simulated_run, out=tmp_path_factory.mktemp("verdicts") / "tables", jobs=1).out_dir


def _read(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(folder / f"{name}.csv", dtype=str, keep_default_na=False)


def with_verdicts(source: Path, target: Path, samples: dict[tuple[str, str], tuple[str, str]],
                  restoration: dict[tuple[str, str], tuple[str, str]], missing: dict[str, str],
                  calibration: dict | None, blank_restoration: bool = True) -> Path:
    """A copy of ``source`` with verdicts: ``samples`` and ``restoration`` map (patient,
    condition) to (verdict, reasons) for the rows withheld (every other row reportable),
    ``missing`` patient -> patients.csv's ``missing``; withheld rows blanked as scoring blanks
    them (restoration rows only when ``blank_restoration``: a table that still held the values
    must not show them either); the manifest's ``verdicts`` counted from samples.csv, its
    ``calibration_verdict`` = ``calibration``; sealed again."""
    shutil.copytree(source, target)
    frame = _read(target, "samples")
    frame["verdict"], frame["verdict_reasons"] = "reportable", ""
    for (patient, condition), (verdict, why) in samples.items():
        rows = (frame["patient"] == patient) & (frame["condition"] == condition)
        assert rows.any(), (patient, condition)
        frame.loc[rows, ["verdict", "verdict_reasons"]] = verdict, why
        if verdict == "withheld":
            frame.loc[rows, ["hladr_abc", "hladr_pos_pct"]] = ""
    frame.loc[frame["role"] == "beads", "verdict"] = ""
    frame.to_csv(target / "samples.csv", index=False)
    blood = frame[frame["role"] == "sample"]
    held = blood[blood["verdict"] == "withheld"]
    reasons: dict[str, int] = {}
    for cell in held["verdict_reasons"]:
        for code in cell.split("; "):
            reasons[code] = reasons.get(code, 0) + 1
    rest = _read(target, "restoration")
    rest["verdict"], rest["verdict_reasons"] = "reportable", ""
    for (patient, condition), (verdict, why) in restoration.items():
        rows = (rest["patient"] == patient) & (rest["condition"] == condition)
        assert rows.any(), (patient, condition)
        rest.loc[rows, ["verdict", "verdict_reasons"]] = verdict, why
        if verdict == "withheld" and blank_restoration:
            rest.loc[rows, ["abc", "fold_change", "log2_fold_change", "delta_abc", "gap_closed", "state_drug",
                            "responder", "immunosep_class"]] = ""
    rest.to_csv(target / "restoration.csv", index=False)
    patients = _read(target, "patients")
    patients["completeness"] = ["incomplete" if p in missing else "complete" for p in patients["patient"]]
    patients["missing"] = [missing.get(p, "") for p in patients["patient"]]
    controls = {p: samples.get((p, "unstimulated"), ("reportable", "")) for p in patients["patient"]}
    patients["control_verdict"] = [controls[p][0] for p in patients["patient"]]  # as scoring decides it
    patients["control_verdict_reasons"] = [controls[p][1] for p in patients["patient"]]
    patients.to_csv(target / "patients.csv", index=False)
    manifest = json.loads((target / MANIFEST).read_text())
    manifest["verdicts"] = {"values": len(blood), "reportable": len(blood) - len(held), "withheld": len(held),
                            "reasons": reasons}
    if calibration is not None:
        manifest["calibration_verdict"] = calibration
    seal(target, manifest)
    return target


def _texts(folder: Path) -> dict[str, str]:
    pages = {"index": " ".join(_parse(folder / "index.html").text),
             "P01": " ".join(_parse(folder / "patients" / "P01.html").text)}
    if PDFTOTEXT:
        pages["P01.pdf"] = subprocess.run([PDFTOTEXT, "-layout", str(folder / "patients" / "P01.pdf"), "-"],
                                          check=True, capture_output=True, text=True, timeout=60).stdout
    return {k: " ".join(v.split()) for k, v in pages.items()}


@pytest.fixture(scope="module")
def drug_withheld(tables: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """P01's IFN-gamma tube withheld (the same content as its control: a code this branch's
    findings do not know yet), the calibration released by a person."""
    folder = with_verdicts(
        tables, tmp_path_factory.mktemp("drug") / "out",
        samples={("P01", "IFN-gamma"): ("withheld", "duplicate_content")},
        restoration={("P01", "IFN-gamma"): ("withheld", "duplicate_content")},
        missing={"P01": "IFN-gamma: duplicate_content: the same file content as the unstimulated tube"},
        calibration={"status": "released", "released_reason": RELEASED,
                     "findings": [{"code": "slope_out_of_range", "severity": "error",
                                   "message": "slope 0.41 outside the lot's range 0.8-1.2"}]},
        blank_restoration=False)
    build_reports(folder, jobs=1)
    return folder


def test_every_page_says_how_many_values_are_reportable(drug_withheld: Path) -> None:
    line = "3 of 4 values reportable; 1 withheld: duplicate_content (1)"
    for name, text in _texts(drug_withheld).items():
        assert line in text, name
        assert "RELEASED by a person" in text and RELEASED in text, name
        assert "slope 0.41 outside the lot's range" in text, name
        assert "No verdicts recorded" not in text, name


def test_a_withheld_value_shows_its_mfi_and_reason_never_its_result(tables: Path, drug_withheld: Path) -> None:
    scored = _read(tables, "restoration")
    row = scored[(scored["patient"] == "P01") & (scored["condition"] == "IFN-gamma")].iloc[0]
    samples = _read(tables, "samples")
    tube = samples[(samples["patient"] == "P01") & (samples["condition"] == "IFN-gamma")].iloc[0]
    abc, fold, mfi = float(row["abc"]), float(row["fold_change"]), float(tube["hladr_mfi"])
    assert row["fold_change"] and row["abc"]  # the scored table had them: the pages must not show them
    for name, text in _texts(drug_withheld).items():
        if name == "index":
            assert f"{abc:,.0f}" not in text  # QC table: AB/C "withheld"
            continue
        assert f"{abc:,.0f}" not in text and f"{fold:,.2f}" not in text, name
        assert f"{mfi:,.0f}" in text and "withheld" in text, name
        assert "duplicate_content" in text, name
    other = scored[(scored["patient"] == "P02") & (scored["condition"] == "IFN-gamma")].iloc[0]
    assert f"{float(other['abc']):,.0f}" in " ".join(_parse(drug_withheld / "patients" / "P02.html").text)


def test_the_summary_counts_responders_over_measured_drugs_only(drug_withheld: Path) -> None:
    index = (drug_withheld / "index.html").read_text()
    text = _texts(drug_withheld)["index"]
    assert "Best drug" not in index and "Highest fold change (measured drugs)" in index
    assert "no drug measured" in text  # P01: its only drug is withheld
    assert "IFN-gamma: duplicate_content: the same file content as the unstimulated tube" in text
    assert "incomplete" in text


def test_gap_closed_is_defined_where_it_is_shown(drug_withheld: Path) -> None:
    for name, text in _texts(drug_withheld).items():
        if name != "index":
            assert "above 100 % the drug brought the patient above the normal limit" in text, name
            assert "15,000 AB/C" in text, name


def test_a_withheld_calibration_withholds_every_ab_c(tables: Path, tmp_path: Path) -> None:
    samples = _read(tables, "samples")
    blood = samples[samples["role"] == "sample"]
    everything = {(p, c): ("withheld", "calibration_withheld") for p, c in zip(blood["patient"], blood["condition"],
                                                                            strict=True)}
    folder = with_verdicts(tables, tmp_path / "out", samples=everything,
                           restoration={k: v for k, v in everything.items() if k[1] != "unstimulated"},
                           missing={}, calibration={"status": "withheld", "released_reason": None, "findings": [
                               {"code": "low_r_squared", "severity": "error", "message": "r2 0.937 below 0.98"}]})
    build_reports(folder, jobs=1)
    texts = _texts(folder)
    for name, text in texts.items():
        assert "0 of 4 values reportable; 4 withheld: calibration_withheld (4)" in text, name
        assert "Bead calibration WITHHELD: [low_r_squared] r2 0.937 below 0.98" in text, name
        for abc in blood["hladr_abc"]:
            assert f"{float(abc):,.0f}" not in text, (name, abc)
    p01 = blood[blood["patient"] == "P01"]
    for mfi in p01["hladr_mfi"]:
        assert f"{float(mfi):,.0f}" in texts["P01"]
    assert "no drug measured" in texts["index"]


def without_verdicts(source: Path, target: Path) -> Path:
    """A copy of ``source`` as a folder scored before verdicts: no verdict columns, no verdict
    keys in the manifest; sealed again."""
    shutil.copytree(source, target)
    for table, columns in (("samples", ["verdict", "verdict_reasons"]), ("restoration", ["verdict", "verdict_reasons"]),
                           ("patients", ["completeness", "missing"])):
        frame = _read(target, table)
        assert set(columns) <= set(frame.columns), (table, columns)  # scoring writes them today
        frame.drop(columns=columns).to_csv(target / f"{table}.csv", index=False)
    manifest = json.loads((target / MANIFEST).read_text())
    del manifest["verdicts"], manifest["calibration_verdict"]
    seal(target, manifest)
    return target


def test_an_older_folder_says_no_verdicts_were_recorded(tables: Path, tmp_path: Path) -> None:
    folder = without_verdicts(tables, tmp_path / "old")
    build_reports(folder, jobs=1)
    for name, text in _texts(folder).items():
        assert "No verdicts recorded" in text, name
        assert "values reportable" not in text, name


def test_a_folder_scored_before_replicates_is_read_and_drawn(tables: Path, tmp_path: Path) -> None:
    """samples.csv without replicate and donor_group, restoration.csv and patients.csv without the
    replicate counts and CVs (scored before issue 31): the pages are drawn, each value one tube's."""
    target = tmp_path / "before-replicates"
    shutil.copytree(tables, target)
    for table, columns in (("samples", ["replicate", "donor_group"]),
                           ("restoration", ["control_n_replicates", "control_replicate_cv_pct", "n_replicates",
                                            "replicate_cv_pct"]),
                           ("patients", ["n_replicates", "replicate_cv_pct"])):
        frame = _read(target, table)
        assert set(columns) <= set(frame.columns), (table, columns)  # scoring writes them today
        frame.drop(columns=columns).to_csv(target / f"{table}.csv", index=False)
    seal(target, json.loads((target / MANIFEST).read_text()))
    build_reports(target, jobs=1)
    for name, text in _texts(target).items():
        assert "replicates" not in text, name


def test_a_damaged_verdict_is_refused(tables: Path, tmp_path: Path) -> None:
    from assaykit.errors import AssayKitError

    folder = with_verdicts(tables, tmp_path / "bad", samples={}, restoration={}, missing={},
                           calibration={"status": "approved", "findings": [], "released_reason": None})
    with pytest.raises(AssayKitError, match=r"calibration_verdict\.status"):
        build_reports(folder, jobs=1)


@pytest.mark.skipif(PDFTOTEXT is None, reason="no pdftotext on this machine (Debian package `poppler-utils`)")
def test_a_pdf_keeps_every_character_of_a_patient_id(tables: Path, tmp_path: Path) -> None:
    """Beyond Windows-1252 (the standard PDF fonts' encoding) the PDF embeds DejaVu Sans."""
    folder = tmp_path / "unicode"
    shutil.copytree(tables, folder)
    for name in ("samples", "restoration", "patients"):
        frame = _read(folder, name)
        frame.loc[frame["patient"] == "P01", "patient"] = "P\u03b3-01 \u60a3\u8005"
        frame.to_csv(folder / f"{name}.csv", index=False)
    seal(folder, json.loads((folder / MANIFEST).read_text()))
    build_reports(folder, jobs=1)
    pdf = next(p for p in (folder / "patients").glob("*.pdf") if not p.name.startswith("P02"))
    text = subprocess.run([PDFTOTEXT, str(pdf), "-"], check=True, capture_output=True, text=True, timeout=60).stdout
    assert "P\u03b3-01" in text
    ascii_only = subprocess.run([PDFTOTEXT, str(folder / "patients" / "P02.pdf"), "-"], check=True,
                                capture_output=True, text=True, timeout=60).stdout
    assert "Research use; not a diagnostic device." in ascii_only
