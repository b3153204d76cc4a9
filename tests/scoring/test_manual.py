"""`assaykit compare --manual` (issue 29, point 5): a lab's own per-tube results from any software
against a scored simulated run. The agreement statistics are checked against numpy and the
Passing-Bablok slope written out, on a manual file derived from the simulator's truth with known
perturbations; the example exports in FACSDiva (French locale), Kaluza and FCS Express layouts are
read to known values; the number rule and the refusals name what they refuse."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from assaykit.cli import app
from assaykit.errors import AssayKitError
from assaykit.scoring import score_run
from assaykit.scoring.agreement import compare_manual
from assaykit.scoring.manual import parse_columns, read_manual, read_numbers
from assaykit.scoring.tables import verify_outputs

EXPORTS = Path(__file__).parent / "manual_exports"
ABC_ERRORS = (0.03, -0.02, 0.05, -0.04)  # the lab's AB/C: the truth times 1 + these
COUNT_ERRORS = (-14, 9, 3, -6)


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory, simulated_run: Path) -> tuple[Path, Path]:
    """The simulated run (copied) and its scored output folder."""
    run = Path(shutil.copytree(simulated_run, tmp_path_factory.mktemp("manual") / "run"))
    return run, score_run(run, out=run.parent / "out", jobs=1).out_dir


def _rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return {r["file"]: r for r in csv.DictReader(handle)}


def _truth(run: Path) -> list[dict[str, str]]:
    return [r for r in _rows(run / "truth.csv").values() if r["role"] == "sample"]


def _calibration(out: Path) -> tuple[float, float]:
    doc = json.loads((out / "manifest.json").read_text())["calibration"]
    return float(doc["slope"]), float(doc["intercept"])


def _mfi(abc: float, calibration: tuple[float, float]) -> float:
    """The MFI the run's calibration turns into ``abc`` (log10 AB/C = slope log10 MFI + intercept)."""
    slope, intercept = calibration
    return float(10 ** ((math.log10(abc) - intercept) / slope))


# --- the agreement statistics against independent computations -------------------------------------


def test_manual_abc_agreement_against_numpy(scored: tuple[Path, Path], tmp_path: Path) -> None:
    """The lab gives AB/C (the truth +3, -2, +5, -4 %) and counts (the truth -14, +9, +3, -6): each
    row holds them as given beside assaykit's own samples.csv values; the difference, the
    Bland-Altman bias, SD, limits (and in %) equal numpy's, the Passing-Bablok slope the median of the six
    pairwise slopes written out here."""
    run, out = scored
    truth = _truth(run)
    lab = {r["file"]: (int(r["true_monocytes"]) + dc, float(r["true_abc"]) * (1 + e))
           for r, e, dc in zip(truth, ABC_ERRORS, COUNT_ERRORS, strict=True)}
    with (tmp_path / "lab.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "monocytes", "hladr_abc"])
        writer.writerows([f, c, f"{a:.2f}"] for f, (c, a) in lab.items())
    agreement = compare_manual(out, tmp_path / "lab.csv")
    samples = _rows(out / "samples.csv")
    assert agreement.source == "manual" and len(agreement.tubes) == 4
    x, y = [], []
    for tube in agreement.tubes:
        row, name = tube.row, tube.row["file"]
        count, abc = lab[name]
        assert row["f1"] is None and row["events_in_both"] is None  # no events: no F1
        assert row["manual_count"] == count and row["manual_abc"] == pytest.approx(round(abc, 2), abs=1e-9)
        assert row["assaykit_abc"] == float(samples[name]["hladr_abc"])
        assert row["assaykit_count"] == int(samples[name]["monocytes"])
        assert type(row["assaykit_count"]) is int and type(row["manual_count"]) is int  # shown as counts
        expected = 100 * (row["assaykit_abc"] - row["manual_abc"]) / row["manual_abc"]
        assert row["abc_difference_pct"] == pytest.approx(expected, rel=1e-12)
        x.append(row["manual_abc"])
        y.append(row["assaykit_abc"])
    xs, ys = np.array(x), np.array(y)
    d, pct = ys - xs, 100 * (ys - xs) / ((xs + ys) / 2)
    ba = agreement.bland_altman
    assert ba is not None and ba.n == 4
    assert ba.bias == pytest.approx(d.mean(), rel=1e-12) and ba.sd == pytest.approx(d.std(ddof=1), rel=1e-12)
    assert (ba.lower, ba.upper) == pytest.approx((d.mean() - 1.96 * d.std(ddof=1), d.mean() + 1.96 * d.std(ddof=1)))
    assert ba.bias_pct == pytest.approx(pct.mean(), rel=1e-12)
    pb = agreement.passing_bablok
    slopes = sorted((y[j] - y[i]) / (x[j] - x[i]) for i in range(4) for j in range(i + 1, 4))  # no ties, none -1
    shift = sum(1 for s in slopes if s < -1)
    slope = (slopes[2 + shift] + slopes[3 + shift]) / 2 if shift == 0 else float("nan")  # 6 slopes: ranks 3, 4
    assert pb is not None and pb.slope == pytest.approx(slope, rel=1e-12)
    assert pb.intercept == pytest.approx(float(np.median(ys - slope * xs)), rel=1e-9)
    # the perturbations are known: assaykit's AB/C against the truth is within 3 %, so each row's
    # difference is the lab's error seen from the other side, within those 3 %
    for tube, error in zip(agreement.tubes, ABC_ERRORS, strict=True):
        assert tube.row["abc_difference_pct"] == pytest.approx(-100 * error / (1 + error), abs=3.5)


def test_manual_mfi_in_a_french_export_through_the_cli(scored: tuple[Path, Path], tmp_path: Path) -> None:
    """The lab gives MFI (the MFI of the truth's AB/C times 1 + the errors) in a French Excel export
    (';', decimal comma, a space before the thousands, cp1252 names in another column, CR LF):
    each manual AB/C is the MFI through the run's calibration, computed here with math.log10;
    the folder is written with a manifest and the scored folder is unchanged."""
    run, out = scored
    calibration = _calibration(out)
    truth = _truth(run)
    mfi = {r["file"]: _mfi(float(r["true_abc"]) * (1 + e), calibration) for r, e in zip(truth, ABC_ERRORS, strict=True)}
    lines = ["Fichier;Monocytes (nombre);Médiane HLA-DR PE-A;Opérateur"]
    for r in truth:
        value = f"{mfi[r['file']]:,.1f}".replace(",", " ").replace(".", ",")
        lines.append(f"{r['file'][:-4]};{r['true_monocytes']};{value};Hélène")
    (tmp_path / "lab.csv").write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    result = CliRunner().invoke(app, ["compare", str(out), "--manual", str(tmp_path / "lab.csv"), "--columns",
                                      "file=Fichier,monocytes=Monocytes (nombre),hladr_mfi=Médiane HLA-DR PE-A",
                                      "--out", str(tmp_path / "agreement")])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("compared 4 tubes (4 of 4 lab rows matched a tube of the run; AB/C from both; "
                                    "no F1 without events); AB/C bias ")
    rows = _rows(tmp_path / "agreement" / "agreement.csv")
    slope, intercept = calibration
    for r, error in zip(truth, ABC_ERRORS, strict=True):
        row = rows[r["file"]]
        given = round(mfi[r["file"]], 1)
        assert float(row["manual_hladr"]) == pytest.approx(given, rel=1e-6)
        assert float(row["manual_abc"]) == pytest.approx(10 ** (slope * math.log10(given) + intercept), rel=1e-6)
        assert float(row["manual_abc"]) == pytest.approx(float(r["true_abc"]) * (1 + error), rel=1e-4)
        assert row["f1"] == "" and row["note"] == ""
    html = (tmp_path / "agreement" / "agreement.html").read_text()
    assert "Manual results" in html and "Bland-Altman (n = 4)" in html and "Passing-Bablok (n = 4)" in html
    assert "monocytes=Monocytes (nombre), hladr_mfi=Médiane HLA-DR PE-A" in html
    assert f"<td>{truth[0]['true_monocytes']}</td>" in html  # a count, not 2135.0
    assert html.count('src="data:image/png;base64,') == 2  # the two plots; no gate thumbnails without events
    manifest = json.loads((tmp_path / "agreement" / "manifest.json").read_text())
    assert manifest["source"] == "manual" and sorted(manifest["files"]) == ["agreement.csv", "agreement.html"]
    assert verify_outputs(out) == []


# --- the example exports ---------------------------------------------------------------------------

LAYOUTS = {
    "facsdiva_fr.csv": ("file={Specimen Name}_{Tube Name}.fcs,monocytes=Monocytes #Events,"
                        "hladr_mfi=Monocytes PE-A Median", [], ",", "cp1252",
                        [(2118, 868.3), (2161, 2149.4), (1261, 1895.7), (1265, 5551.7)]),
    "kaluza.csv": ("file=File Name,monocytes=Number,hladr_mfi=HLA-DR PE X-Med", ["--mfi-scale", "256"], ".",
                   "utf-8", [(2132, 3.292), (2152, 8.916), (1258, 7.185), (1271, 21.269)]),
    "fcs_express.csv": ("file=Filename,monocytes=Monocytes - # of Events,hladr_mfi=Monocytes - Median HLA-DR PE-A", [],
                        ".", "utf-8", [(2132, 893.83), (2152, 2127.29), (1258, 1876.94), (1271, 5391.6)]),
}


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_example_exports(name: str, scored: tuple[Path, Path], tmp_path: Path) -> None:
    """Each layout read to the values written in it (FACSDiva's file from specimen and tube names,
    FCS Express's Windows path cut to the file name, Kaluza's 0-1,024 values times 256 for an
    18-bit channel) and compared on all four tubes; FACSDiva's bead-tube row is named as not compared."""
    _, out = scored
    spec, extra, decimal, encoding, values = LAYOUTS[name]
    table = read_manual(EXPORTS / name, parse_columns([spec]))
    assert (table.decimal, table.encoding) == (decimal, encoding)
    blood = [r for r in table.rows if not r.file.startswith("Specimen_001_H12")]
    assert [r.file for r in blood] == [f"Specimen_001_A{i}_A0{i}.fcs" for i in range(1, 5)]
    assert [(r.monocytes, r.hladr_mfi) for r in blood] == values
    result = CliRunner().invoke(app, ["compare", str(out), "--manual", str(EXPORTS / name), "--columns", spec, *extra,
                                      "--out", str(tmp_path / "agreement")])
    assert result.exit_code == 0, result.output
    n = len(table.rows)  # the bead tube's row too: it names a tube of the run
    assert f"compared 4 tubes ({n} of {n} lab rows matched a tube of the run" in result.output
    rows = _rows(tmp_path / "agreement" / "agreement.csv")
    scale = 256 if extra else 1
    for r, (count, mfi) in zip(blood, values, strict=True):
        assert int(rows[r.file]["manual_count"]) == count
        assert float(rows[r.file]["manual_hladr"]) == pytest.approx(mfi * scale, rel=1e-6)
        assert abs(float(rows[r.file]["abc_difference_pct"])) < 8  # the exports are within 5 % of assaykit's MFI
    html = (tmp_path / "agreement" / "agreement.html").read_text()
    assert ("not compared, not blood tubes: &#39;Specimen_001_H12_H12.fcs&#39; (beads)" in html) == \
        (name == "facsdiva_fr.csv")


def test_kaluza_scale_is_refused_without_the_factor(scored: tuple[Path, Path], tmp_path: Path) -> None:
    _, out = scored
    spec = LAYOUTS["kaluza.csv"][0]
    result = CliRunner().invoke(app, ["compare", str(out), "--manual", str(EXPORTS / "kaluza.csv"), "--columns", spec,
                                      "--out", str(tmp_path / "agreement")])
    assert result.exit_code == 2 and "the manual MFI are 0.0039" in result.output
    assert "--mfi-scale" in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "agreement").exists()


# --- the number rule ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("cells", "values", "decimal"), [
    ([("1.234,5", False), ("1846", True)], [1234.5, 1846.0], ","),  # German
    ([("1 234,5", False), ("12,5", False)], [1234.5, 12.5], ","),  # French, a space before the thousands
    ([("1\u202f234,5", False)], [1234.5], ","),  # a narrow no-break space (Excel in French)
    ([("1,234.5", False), ("2,001", True)], [1234.5, 2001.0], "."),  # US
    ([("1'234.5", False)], [1234.5], "."),  # Swiss
    ([("1,846", True), ("2,234", False)], [1846.0, 2234.0], "."),  # a count cannot be 1.846: the comma groups
    ([("1.846", True), ("2,234", False)], [1846.0, 2.234], ","),  # ... nor here: the point groups
    ([("0,123", False)], [0.123], ","),  # a group never starts with 0
    ([("1.5e3", False), ("N/A", False), ("", True), ("-", False)], [1500.0, None, None, None], "."),
    ([("1846", True), ("2234", False)], [1846.0, 2234.0], "."),
])
def test_number_rule(cells: list[tuple[str, bool]], values: list[float | None], decimal: str) -> None:
    assert read_numbers([(c, "c", w) for c, w in cells]) == (values, decimal)


@pytest.mark.parametrize(("cells", "message"), [
    ([("1,234", False)], "'1,234' could be 1234 or 1.234: no cell of the file tells the decimal mark"),
    ([("12,5", False), ("2234.41", False)], "written with both decimal marks"),
    ([("1.2.3", False)], "'1.2.3' is not a number"),
    ([("12,34,567", False)], "'12,34,567' is not a number"),  # Indian grouping is not read
    ([("12.5", True)], "'12.5' is not a whole number of at least 0"),
    ([("-3", True)], "is not a whole number of at least 0"),
    ([("#DIV/0!", False)], "is not a number"),
    ([("inf", False)], "'inf' is not a number"),
])
def test_number_rule_refuses(cells: list[tuple[str, bool]], message: str) -> None:
    with pytest.raises(ValueError, match="^.*" + message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        read_numbers([(c, "c", w) for c, w in cells])


def test_other_columns_tell_the_decimal_mark() -> None:
    assert read_numbers([("3.292", "c", False)], ["7.11", "22/11/2026"]) == ([3.292], ".")
    assert read_numbers([("3.292", "c", False)], ["7,11"]) == ([3292.0], ",")
    with pytest.raises(ValueError, match="could be"):
        read_numbers([("3.292", "c", False)], ["7,11", "7.11"])  # the other columns disagree: they tell nothing


# --- refusals and rows -------------------------------------------------------------------------------


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_duplicates_missing_and_unknown_files(scored: tuple[Path, Path], tmp_path: Path) -> None:
    """Two rows for one file (with and without its extension) are refused naming both rows; a
    missing column is named with the file's columns; a row naming no tube is a row with a note,
    and a tube with no row is a row with a note."""
    _, out = scored
    twice = _write(tmp_path / "twice.csv", "file,monocytes,hladr_mfi\nSpecimen_001_A1_A01.fcs,10,100\n"
                   "Specimen_001_A2_A02.fcs,10,100\nSpecimen_001_A1_A01,11,101\n")
    with pytest.raises(AssayKitError, match="rows 2 and 4 both give file 'Specimen_001_A1_A01'"):
        compare_manual(out, twice)
    lacking = _write(tmp_path / "lacking.csv", "Sample,Count\nA1,10\n")
    with pytest.raises(AssayKitError, match=r"missing column\(s\) 'file', 'monocytes', hladr_mfi or hladr_abc "
                                            r"\(columns: 'Sample', 'Count'"):
        compare_manual(out, lacking)
    samples = _rows(out / "samples.csv")
    a1, a2 = (float(samples[f"Specimen_001_A{i}_A0{i}.fcs"]["hladr_mfi"]) for i in (1, 2))
    partial = _write(tmp_path / "partial.csv", f"file,monocytes,hladr_mfi\nSpecimen_001_A1_A01.fcs,10,{a1}\n"
                     f"Specimen_001_A2_A02.fcs,11,{a2}\nSpecimen_009_B7_B07.fcs,12,{a2}\n")
    agreement = compare_manual(out, partial)
    rows = {t.row["file"]: t.row for t in agreement.tubes}
    assert len(rows) == 5 and rows["Specimen_009_B7_B07.fcs"]["note"] == ("row 4 of the manual file: not a tube of "
                                                                          "the scored run")
    assert rows["Specimen_001_A3_A03.fcs"]["note"] == "no row in the manual file"
    assert rows["Specimen_001_A1_A01.fcs"]["manual_count"] == 10
    assert any("1 row(s) of the manual file name no tube of the scored run: 'Specimen_009_B7_B07.fcs'" in n
               for n in agreement.notes)
    assert agreement.bland_altman is not None and agreement.bland_altman.n == 2 and agreement.passing_bablok is None


def test_rows_naming_no_tube_listed_up_to_a_bound(scored: tuple[Path, Path], tmp_path: Path) -> None:
    """A manual file of 20,000 rows naming no tube (an export of another study) gives the run's tubes
    and 50 of those rows, the rest counted in the note: the review of issue 29 found 400,000 such rows
    written into an 85 MB agreement.html."""
    from assaykit.scoring.agreement import MAX_UNKNOWN_ROWS

    _, out = scored
    lines = ["file,monocytes,hladr_mfi"] + [f"Other_{i:05d}.fcs,10,100" for i in range(20000)]
    agreement = compare_manual(out, _write(tmp_path / "other.csv", "\n".join(lines) + "\n"))
    strangers = [t for t in agreement.tubes if t.row["note"].endswith("not a tube of the scored run")]
    assert MAX_UNKNOWN_ROWS == 50 and len(strangers) == 50
    assert strangers[0].row["file"] == "Other_00000.fcs" and strangers[-1].row["file"] == "Other_00049.fcs"
    assert any(n.startswith("20000 row(s) of the manual file name no tube of the scored run: 'Other_00000.fcs'")
               and n.endswith("(the first 50 listed as rows)") for n in agreement.notes)
    assert len(agreement.tubes) == len(strangers) + len(_truth(scored[0]))


def test_cli_usage_errors(scored: tuple[Path, Path], tmp_path: Path) -> None:
    _, out = scored
    lab = _write(tmp_path / "lab.csv", "file,monocytes,hladr_abc\nSpecimen_001_A1_A01.fcs,10,5000\n")
    book = tmp_path / "lab.xlsx"
    book.write_bytes(b"PK\x03\x04" + bytes(60))
    for args, text in ((["--manual", str(lab), "--workspace", str(out / "run.wsp")], "one of them"),
                       ([], "one of them"),
                       (["--manual", str(lab), "--columns", "count=Number"], "KEY one of file, monocytes"),
                       (["--manual", str(lab), "--columns", "file=A,file=B"], "names file twice"),
                       (["--workspace", str(out / "run.wsp"), "--columns", "file=A"], "describe a --manual file"),
                       (["--manual", str(tmp_path / "none.csv")], "manual results file not found"),
                       (["--manual", str(book)], "an Excel workbook, which --manual does not read"),
                       (["--manual", str(lab), "--mfi-scale", "0"], "is not a number above 0")):
        result = CliRunner().invoke(app, ["compare", str(out), *args, "--out", str(tmp_path / "agreement")])
        assert result.exit_code == 2 and text in result.output, (args, result.output)
    assert not (tmp_path / "agreement").exists()


def test_parse_columns() -> None:
    assert parse_columns(['file=Sample,monocytes="Monocytes, Count",hladr_mfi=PE-A Median']) == {
        "file": "Sample", "monocytes": "Monocytes, Count", "hladr_mfi": "PE-A Median"}
    assert parse_columns(["file={Specimen Name}_{Tube Name}.fcs", "hladr_abc='HLA-DR AB/C'"]) == {
        "file": "{Specimen Name}_{Tube Name}.fcs", "hladr_abc": "HLA-DR AB/C"}


def test_bounded_read_encodings_and_escaped_names(scored: tuple[Path, Path], tmp_path: Path) -> None:
    """A FIFO is refused before it is opened; a line pasted in cp1252 into a UTF-8 file is read by
    the plate map's per-line rule; a file name with a control character is written escaped in
    agreement.csv and read back as it was."""
    import os

    from assaykit._io.names import read_cell

    _, out = scored
    fifo = tmp_path / "lab.csv"
    os.mkfifo(fifo)
    with pytest.raises(AssayKitError, match="manual results file is a FIFO"):
        compare_manual(out, fifo)
    mixed = tmp_path / "mixed.csv"
    mixed.write_bytes("file,monocytes,hladr_abc,opérateur\nSpecimen_001_A1_A01.fcs,10,5000,Hélène\n".encode()
                      + "Specimen_001_A2_A02.fcs,11,6000,Hélène\n".encode("cp1252")
                      + b"Specimen\x1b_A9.fcs,12,7000,x\n")
    table = read_manual(mixed)
    assert table.encoding == "utf-8 (cp1252 on lines 3)" and [r.hladr_abc for r in table.rows] == [5000, 6000, 7000]
    result = CliRunner().invoke(app, ["compare", str(out), "--manual", str(mixed), "--out", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "a" / "agreement.csv").read_text()
    assert "Specimen\\x1b_A9.fcs" in text and "\x1b" not in text
    assert "Specimen\x1b_A9.fcs" in {read_cell(r) for r in _rows(tmp_path / "a" / "agreement.csv")}
    assert "\x1b" not in (tmp_path / "a" / "agreement.html").read_text()


@pytest.fixture(scope="module")
def uncalibrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An LSRII-style run (HLA-DR on PerCP-Cy5.5: QuantiBRITE PE does not calibrate it), scored."""
    from assaykit.simulate import RunSpec, write_run

    folder = tmp_path_factory.mktemp("lsr")
    run = write_run(folder / "run", RunSpec(patients=2, conditions=("unstimulated", "IFN-gamma"), events=20000,
                                            seed=5, style="lsr"))
    return score_run(run, out=folder / "out", jobs=1).out_dir


def test_a_run_without_calibration_compares_mfi(uncalibrated: Path, tmp_path: Path) -> None:
    """Issue 29 review: without a bead calibration the lab's MFI are compared with assaykit's (many
    labs report MFI without QuantiBRITE): Bland-Altman of MFI against numpy, each row's note and
    the CLI line saying why; a manual file giving AB/C only is compared on nothing, the reason
    in the CLI line and in every row's note."""
    samples = [r for r in _rows(uncalibrated / "samples.csv").values() if r["role"] == "sample"]
    assert all(r["hladr_mfi"] and not r["hladr_abc"] for r in samples)
    factors = (1.02, 0.97, 1.05, 0.99)
    lab = [float(r["hladr_mfi"]) * f for r, f in zip(samples, factors, strict=True)]
    path = _write(tmp_path / "lab.csv", "file,monocytes,hladr_mfi\n" + "".join(
        f"{r['file']},{r['monocytes']},{m:.3f}\n" for r, m in zip(samples, lab, strict=True)))
    result = CliRunner().invoke(app, ["compare", str(uncalibrated), "--manual", str(path), "--out",
                                      str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    assert ("compared 4 tubes (4 of 4 lab rows matched a tube of the run; HLA-DR MFI from both: the run has no bead "
            "calibration") in result.output
    rows = _rows(tmp_path / "a" / "agreement.csv")
    ours = np.array([float(r["hladr_mfi"]) for r in samples])
    theirs = np.array([round(m, 3) for m in lab])
    d = ours - theirs
    agreement = compare_manual(uncalibrated, path)
    assert agreement.measure == "mfi" and agreement.unit == "MFI"
    assert agreement.bland_altman.bias == pytest.approx(d.mean(), rel=1e-9)
    assert agreement.bland_altman.sd == pytest.approx(d.std(ddof=1), rel=1e-9)
    for r, f in zip(samples, factors, strict=True):
        assert float(rows[r["file"]]["hladr_difference_pct"]) == pytest.approx(100 * (1 / f - 1), abs=1e-3)
        assert rows[r["file"]]["note"] == "the run has no bead calibration: MFI compared"
        assert rows[r["file"]]["abc_difference_pct"] == ""
    path = _write(tmp_path / "abc.csv", "file,monocytes,hladr_abc\n" + "".join(
        f"{r['file']},{r['monocytes']},12000\n" for r in samples))
    result = CliRunner().invoke(app, ["compare", str(uncalibrated), "--manual", str(path), "--out",
                                      str(tmp_path / "b")])
    assert result.exit_code == 1
    assert "no tube was compared: the run has no bead calibration and the manual file gives AB/C, not MFI" \
        in result.output
    assert {r["note"] for r in _rows(tmp_path / "b" / "agreement.csv").values()} == {
        "the run has no bead calibration and the manual file gives AB/C, not MFI: nothing to compare"}


def _kaluza(out: Path, path: Path, factor: float) -> Path:
    """A Kaluza-like export: each tube's MFI times ``factor`` (X-Med on the 0-1,024 scale: 1024 / 262,144
    for the Canto's 18-bit PE-A) and 0.97 (the lab's gate 3 % lower)."""
    rows = [r for r in _rows(out / "samples.csv").values() if r["role"] == "sample"]
    return _write(path, "File Name,Gate,Number,HLA-DR PE X-Med\n" + "".join(
        f"{r['file']},Monocytes,{r['monocytes']},{float(r['hladr_mfi']) * 0.97 * factor:.2f}\n" for r in rows))


def test_kaluza_factor_from_the_tubes_ranges(scored: tuple[Path, Path], tmp_path: Path) -> None:
    """Issue 29 review: --mfi-range 1024 takes each tube's factor from its PE-A $PnR (262,144 / 1,024 = 256:
    every tube -3 % as written); the Gallios factor 1024 on Canto tubes, once exit 0 with -75 % on every tube,
    is refused naming 256; without the FCS files the constant ratio near 4 is a warning naming the factor."""
    from assaykit.fcs import read_fcs_text

    run, out = scored
    spec = "file=File Name,monocytes=Number,hladr_mfi=HLA-DR PE X-Med"
    ranges = set()
    for fcs in run.glob("*_A*.fcs"):
        text = read_fcs_text(fcs)
        ranges |= {text[f"$P{n}R"] for n in range(1, int(text["$PAR"]) + 1) if text[f"$P{n}N"] == "PE-A"}
    assert ranges == {"262144"}
    path = _kaluza(out, tmp_path / "k.csv", 1024 / 262144)
    result = CliRunner().invoke(app, ["compare", str(out), "--manual", str(path), "--columns", spec,
                                      "--mfi-range", "1024", "--out", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    rows = [r for r in _rows(tmp_path / "a" / "agreement.csv").values()]
    assert len(rows) == 4
    for r in rows:  # assaykit's MFI is the lab's / 0.97 (up to the 2 decimals written)
        assert float(r["hladr_difference_pct"]) == pytest.approx(100 * (1 / 0.97 - 1), abs=0.5)
        assert float(r["abc_difference_pct"]) == pytest.approx(100 * (1 / 0.97 - 1), abs=1.0)
    result = CliRunner().invoke(app, ["compare", str(out), "--manual", str(path), "--columns", spec,
                                      "--mfi-scale", "1024", "--out", str(tmp_path / "b")])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
    assert "--mfi-scale 1024 disagrees with the tubes' HLA-DR channel: PE-A runs to 262,144, so a 0-1,024 " \
           "export's factor is 256" in result.output and "--mfi-range 1024" in result.output
    assert not (tmp_path / "b").exists()
    result = CliRunner().invoke(app, ["compare", str(out), "--manual", str(path), "--columns", spec,
                                      "--mfi-scale", "256", "--out", str(tmp_path / "c")])
    assert result.exit_code == 0 and "warning" not in result.output
    # the FCS files elsewhere: the factor cannot be checked, the constant ratio (x 3.88) is named
    agreement = compare_manual(out, path, parse_columns([spec]), mfi_scale=1024, run_dir=tmp_path / "nowhere")
    assert len(agreement.warnings) == 1 and agreement.warnings[0] in agreement.notes
    assert "are 3.88 times assaykit's on every tube (a constant +288 %): a scale off by a factor 4? " \
           "--mfi-scale 256 would make them 0.97 times" in agreement.warnings[0]
    with pytest.raises(AssayKitError, match="--mfi-range takes each tube's factor from its FCS file's range, which "
                                            "is unknown for 4 tube"):
        compare_manual(out, path, parse_columns([spec]), mfi_range=1024, run_dir=tmp_path / "nowhere")
    result = CliRunner().invoke(app, ["compare", str(out), "--manual", str(path), "--columns", spec,
                                      "--mfi-scale", "256", "--mfi-range", "1024", "--out", str(tmp_path / "d")])
    assert result.exit_code == 2 and "not both" in result.output


def test_a_factor_of_two_is_named(scored: tuple[Path, Path], tmp_path: Path) -> None:
    """An ordinary export at half assaykit's MFI on every tube (a constant -50 %) is compared with a warning
    on the command line naming --mfi-scale 2; a 10 % difference is not warned about."""
    _, out = scored
    spec = "file=File Name,monocytes=Number,hladr_mfi=HLA-DR PE X-Med"
    result = CliRunner().invoke(app, ["compare", str(out), "--manual", str(_kaluza(out, tmp_path / "h.csv", 0.5)),
                                      "--columns", spec, "--out", str(tmp_path / "a")])
    assert result.exit_code == 0
    assert "warning: the manual MFI (--mfi-scale 1) are 0.485 times assaykit's on every tube (a constant -52 %): a " \
           "scale off by a factor 2? --mfi-scale 2 would make them 0.97 times" in result.output
    result = CliRunner().invoke(app, ["compare", str(out), "--manual", str(_kaluza(out, tmp_path / "n.csv", 0.9)),
                                      "--columns", spec, "--out", str(tmp_path / "b")])
    assert result.exit_code == 0 and "warning" not in result.output


@pytest.mark.parametrize("names", [("File", "Monocytes", "hladr abc"), ("FILE", "MONO-CYTES", "Hladr-abc"),
                                   (" file ", "monocytes", "HLADR_ABC"), ("file", "monocytes", "hladrabc")])
def test_own_column_names_whatever_their_spacing(names: tuple[str, str, str], tmp_path: Path) -> None:
    """Issue 29 review: the keys' own names are read whatever their case, spaces, hyphens and
    underscores (`hladr abc` and `Hladr-abc` were refused); two such spellings in one file are refused."""
    path = _write(tmp_path / "lab.csv", ",".join(names) + "\nA1.fcs,1846,12000\n")
    table = read_manual(path)
    assert [(r.file, r.monocytes, r.hladr_abc) for r in table.rows] == [("A1.fcs", 1846.0, 12000.0)]
    assert table.columns["hladr_abc"] == names[2].strip()
    path = _write(tmp_path / "two.csv", "file,monocytes,hladr_abc,HLA-DR ABC\nA1.fcs,1846,12000,12\n")
    with pytest.raises(AssayKitError, match="columns 'hladr_abc' and 'HLA-DR ABC' both name hladr_abc"):
        read_manual(path)


def test_gate_keeps_one_gates_rows(scored: tuple[Path, Path], tmp_path: Path) -> None:
    """Issue 29 review: a Kaluza export lists every gate's rows; --gate Monocytes keeps the monocyte
    gate's (compared as column names are: case aside), a gate with no row is refused naming the gates,
    and the duplicate rows without --gate are refused pointing to --gate."""
    _, out = scored
    lines = _kaluza(out, tmp_path / "k.csv", 1024 / 262144).read_text().splitlines()
    mixed = [lines[0]] + [x for line in lines[1:] for x in (line, line.split(",")[0] + ",Lymphocytes,15000,0.51")]
    path = _write(tmp_path / "all.csv", "\n".join(mixed) + "\n")
    spec = "file=File Name,monocytes=Number,hladr_mfi=HLA-DR PE X-Med"
    table = read_manual(path, parse_columns([spec]), gate="monocytes")
    assert [r.monocytes for r in table.rows] == [float(x.split(",")[2]) for x in lines[1:]]
    result = CliRunner().invoke(app, ["compare", str(out), "--manual", str(path), "--columns", spec, "--gate",
                                      "MONOCYTES", "--mfi-range", "1024", "--out", str(tmp_path / "a")])
    assert result.exit_code == 0 and "compared 4 tubes (4 of 4 lab rows matched" in result.output, result.output
    with pytest.raises(AssayKitError, match=r"no row of the gate 'Monos' \(gates: 'Lymphocytes', 'Monocytes'\)"):
        read_manual(path, parse_columns([spec]), gate="Monos")
    with pytest.raises(AssayKitError, match="the file has a 'Gate' column: read one gate's rows with --gate NAME"):
        read_manual(path, parse_columns([spec]))
    with pytest.raises(AssayKitError, match=r"missing column\(s\) 'Population' \(for gate\)"):
        read_manual(path, parse_columns([spec + ",gate=Population"]), gate="Monocytes")


def test_the_scale_top_tells_the_decimal_mark(scored: tuple[Path, Path], tmp_path: Path) -> None:
    """Kaluza writes X-Med with three decimals: `18.324` could be 18,324 with a thousands point, unless
    the scale's top is known (--mfi-range 1024: no MFI above 1,024), which then tells the point; a
    value above the top is refused naming it."""
    _, out = scored
    rows = [r for r in _rows(out / "samples.csv").values() if r["role"] == "sample"]
    mfi = [round(float(r["hladr_mfi"]) * 1024 / 262144, 3) for r in rows]
    text = "File Name,Number,HLA-DR PE X-Med\n" + "".join(
        f"{r['file']},{r['monocytes']},{m:.3f}\n" for r, m in zip(rows, mfi, strict=True))
    path = _write(tmp_path / "k.csv", text)
    spec = parse_columns(["file=File Name,monocytes=Number,hladr_mfi=HLA-DR PE X-Med"])
    assert any(len(f"{m:.3f}".split(".")[0]) <= 3 for m in mfi)  # an ambiguous cell is there
    with pytest.raises(AssayKitError, match="could be"):
        read_manual(path, spec)
    table = read_manual(path, spec, mfi_top=1024)
    assert table.decimal == "." and [r.hladr_mfi for r in table.rows] == mfi
    agreement = compare_manual(out, path, spec, mfi_range=1024)
    assert all(abs(t.row["hladr_difference_pct"]) < 0.1 for t in agreement.tubes)
    assert read_numbers([("2000", "row 2 hladr_mfi", False)], limits=[None])[0] == [2000.0]
    with pytest.raises(ValueError, match="row 2 hladr_mfi '2000' is above 1,024, the top of the MFI's scale"):
        read_numbers([("2000", "row 2 hladr_mfi", False)], limits=[1024.0])
