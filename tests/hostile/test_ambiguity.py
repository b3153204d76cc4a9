"""Ambiguity is refused, not resolved silently (issue 28, family 7): plate maps and clinical
tables with mixed encodings, any line ending, colliding or case-paired column names, IDs that
differ only in case, contradicting clinical rows and implausible dates. Every case is generated:
each encoding pattern x line ending, each column assaykit writes, each ID column, a range of
dates."""

from __future__ import annotations

import datetime as dt
import itertools
import shutil
import unicodedata
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assaykit.cli import app
from assaykit.errors import AssayKitError, PlateMapError
from assaykit.ledger import ID_LENGTH
from assaykit.scoring.clinical import read_clinical_table
from assaykit.scoring.platemap import OPTIONAL, REQUIRED, read_plate_map
from assaykit.scoring.tables import SAMPLE_COLUMNS

HEADER = "well,patient,timepoint,condition,role"
ROWS = ["A1,Pé01,D3,unstimulated,sample", "A2,Pé01,D3,IFN-γ,sample", "A3,Zoë,D3,unstimulated,sample",
        "A4,Zoë,D3,IFN-γ,sample", "H12,,,,beads"]
ROWS_CP1252 = [r.replace("γ", "g") for r in ROWS]  # γ is not in cp1252: lines that may be either keep to Latin-1
ENDINGS = {"LF": b"\n", "CRLF": b"\r\n", "CR": b"\r"}


def _write(path: Path, lines: list[bytes], ending: bytes, bom: bool = False) -> Path:
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + ending.join(lines) + ending)
    return path


def _ids(plate) -> list[tuple[str, str, str]]:
    return [(r.patient, r.timepoint, r.condition) for r in plate.rows]


@pytest.mark.parametrize("ending", list(ENDINGS))
@pytest.mark.parametrize("bom", [False, True])
def test_each_line_is_decoded_on_its_own(tmp_path: Path, ending: str, bom: bool) -> None:
    """Every pattern of UTF-8 and cp1252 lines, with every line ending: the IDs read are the IDs
    written (never ``PÃ©01``), and the manifest's ``read_as`` names the cp1252 lines; with CR
    line ends alone (old Excel for Mac, whose Mac Roman bytes are cp1252 text too) a line that is
    not UTF-8 is refused, naming the lines."""
    expected = [tuple(r.split(",")[1:4]) for r in ROWS_CP1252]
    for pattern in itertools.product(("utf-8", "cp1252"), repeat=len(ROWS_CP1252)):
        lines = [HEADER.encode()] + [r.encode(e) for r, e in zip(ROWS_CP1252, pattern, strict=True)]
        legacy = [str(i + 2) for i, (row, e) in enumerate(zip(ROWS_CP1252, pattern, strict=True))
                  if e == "cp1252" and not row.isascii()]
        if ending == "CR" and legacy:
            lines_named = f"line{'s' if len(legacy) > 1 else ''} {', '.join(legacy)}: bytes that are not UTF-8"
            with pytest.raises(PlateMapError, match=rf"{lines_named} .*save it as CSV UTF-8"):
                read_plate_map(_write(tmp_path / "plate_map.csv", lines, ENDINGS[ending], bom))
            continue
        plate = read_plate_map(_write(tmp_path / "plate_map.csv", lines, ENDINGS[ending], bom))
        assert _ids(plate) == expected, pattern
        utf8 = any(e == "utf-8" and not r.isascii() for r, e in zip(ROWS_CP1252, pattern, strict=True))
        base = "utf-8-sig" if bom else "utf-8"
        if not legacy:
            assert plate.read_as == base
        elif not utf8 and not bom:
            assert plate.read_as == "cp1252"
        else:
            assert plate.read_as == f"{base} (cp1252 on lines {', '.join(legacy)})"


@pytest.mark.parametrize("ending", list(ENDINGS))
def test_utf8_and_utf16_files_with_any_line_ending(tmp_path: Path, ending: str) -> None:
    text = ENDINGS[ending].decode().join([HEADER, *ROWS]) + ENDINGS[ending].decode()
    for encoding in ("utf-8", "utf-16"):
        plate = read_plate_map(_write(tmp_path / "plate_map.csv", [text.encode(encoding)], b""))
        assert _ids(plate) == [tuple(r.split(",")[1:4]) for r in ROWS] and plate.read_as == encoding
        assert [r.row for r in plate.rows] == [2, 3, 4, 5, 6]


@pytest.mark.parametrize("byte", [0x81, 0x8D, 0x8F, 0x90, 0x9D])
def test_bytes_neither_encoding_defines_are_refused_naming_the_line(tmp_path: Path, byte: int) -> None:
    lines = [HEADER.encode(), *(r.encode() for r in ROWS)]
    lines[2] = lines[2].replace(b"IFN", b"IFN" + bytes([byte]))
    with pytest.raises(PlateMapError, match=r"line 3: bytes that are neither UTF-8 nor Windows cp1252"):
        read_plate_map(_write(tmp_path / "plate_map.csv", lines, b"\n"))


def test_utf16_without_its_bom_is_refused_not_read_with_nuls(tmp_path: Path) -> None:
    data = "\n".join([HEADER, *ROWS]).encode("utf-16-le")
    (tmp_path / "plate_map.csv").write_bytes(data)
    with pytest.raises(PlateMapError, match=r"lines 1, 2, .*NUL characters \(UTF-16 without its byte-order mark"):
        read_plate_map(tmp_path / "plate_map.csv")


def _table(tmp_path: Path, header: list[str], cells: list[str]) -> Path:
    lines = [",".join(header)] + [",".join(r.split(",") + cells) for r in ROWS]
    return _write(tmp_path / "plate_map.csv", [line.encode() for line in lines], b"\n")


@pytest.mark.parametrize("column", SAMPLE_COLUMNS)
def test_a_column_named_like_an_output_column_is_kept_under_its_plate_name(tmp_path: Path, column: str) -> None:
    """Every column samples.csv has, in three spellings: carried as ``plate_<name>`` with its
    values; beside a user column already named ``plate_<name>`` it is refused, naming both."""
    if column in ("well", "file", *REQUIRED, *OPTIONAL):
        return  # the plate map's own columns
    for spelled in (column, column.upper(), f" {column.title()} "):
        plate = read_plate_map(_table(tmp_path, [*HEADER.split(","), spelled], ["v"]))
        assert {k: v for r in plate.rows for k, v in r.extra.items()} == {f"plate_{spelled.strip()}": "v"}
    with pytest.raises(PlateMapError, match=rf"columns '{column}' and 'plate_{column}' would both be written"):
        read_plate_map(_table(tmp_path, [*HEADER.split(","), column, f"plate_{column}"], ["v", "w"]))


@pytest.mark.parametrize("column", ["well", "file", *REQUIRED, "ward", "error"])
def test_two_columns_that_normalise_to_one_name_are_refused_naming_both(tmp_path: Path, column: str) -> None:
    for other in (column.upper(), column.title(), f"  {column} ", unicodedata.normalize("NFKC", column).upper()):
        header = [*HEADER.split(","), other] if column in HEADER.split(",") else [*HEADER.split(","), column, other]
        cells = ["x"] if column in HEADER.split(",") else ["x", "y"]
        with pytest.raises(PlateMapError, match=r"columns \d+ '.*' and \d+ '.*' are one column"):
            read_plate_map(_table(tmp_path, header, cells))


def test_a_repeated_header_in_a_sheet_is_refused(tmp_path: Path) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append([*HEADER.split(","), "patient"])
    for row in ROWS:
        sheet.append([*row.split(","), "Q"])
    book.save(tmp_path / "plate.xlsx")
    with pytest.raises(PlateMapError, match=r"column 6 'patient' appears twice in the sheet"):
        read_plate_map(tmp_path / "plate.xlsx")


def test_a_column_with_values_but_no_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PlateMapError, match="column 6 hold values but no name"):
        read_plate_map(_table(tmp_path, [*HEADER.split(","), ""], ["x"]))
    assert read_plate_map(_table(tmp_path, [*HEADER.split(","), ""], [""])).extra_columns == ()  # Excel's trailing ,


@pytest.mark.parametrize(("column", "index", "pair"), [("patient", 1, "rows 2 and 3"), ("timepoint", 2, "rows 2 and 3"),
                                                      ("condition", 3, "rows 3 and 5")])
def test_ids_differing_only_in_case_are_refused_naming_both_rows(tmp_path: Path, column: str, index: int,
                                                                  pair: str) -> None:
    """``IFN-gamma`` and ``ifn-gamma`` (or ``Ｐé01`` and ``Pé01``) in one plate map are one ID
    spelled twice: refused, naming the first row of each spelling."""
    lines = [r.split(",") for r in ROWS]
    fullwidth = lambda s: chr(ord(s[0]) + 0xFEE0) + s[1:]  # noqa: E731 (Ｐé01: one ID under NFKC)
    for variant in (str.upper, str.lower, fullwidth):
        changed = [list(r) for r in lines]
        original = changed[1][index]
        changed[1][index] = variant(original)
        if changed[1][index] == original:
            continue
        path = _write(tmp_path / "plate_map.csv", [HEADER.encode(), *(",".join(r).encode() for r in changed)], b"\n")
        with pytest.raises(PlateMapError, match=rf"{pair}: {column} '.*' and '.*' differ only in case"):
            read_plate_map(path)
    nfd = [list(r) for r in lines]  # é as e + a combining accent: the same text, read as one ID
    nfd[1][1] = unicodedata.normalize("NFD", nfd[1][1])
    path = _write(tmp_path / "plate_map.csv", [HEADER.encode(), *(",".join(r).encode() for r in nfd)], b"\n")
    assert {r.patient for r in read_plate_map(path).rows if r.patient} == {"Pé01", "Zoë"}


@pytest.mark.parametrize(("column", "index"), [("patient", 1), ("timepoint", 2), ("condition", 3)])
def test_one_id_rule_for_both_ledgers(tmp_path: Path, column: str, index: int) -> None:
    """IDs up to the ledger's length are read; one character longer, or a NUL, is refused
    naming the row (PostgreSQL would refuse them where SQLite took them)."""
    for value, refused in (("x" * ID_LENGTH, ""), ("é" * ID_LENGTH, ""), ("x" * (ID_LENGTH + 1), "characters long"),
                           (" ☃\tP01", "")):
        changed = [r.split(",") for r in ROWS]
        for row in ([1] if column == "condition" else [0, 1]):  # a patient's rows: both tubes of Pé01 at D3
            changed[row][index] = value
        path = _write(tmp_path / "plate_map.csv", [HEADER.encode(), *(",".join(r).encode() for r in changed)], b"\n")
        if refused:
            with pytest.raises(PlateMapError, match=rf"row [23]: {column} is {ID_LENGTH + 1} {refused}"):
                read_plate_map(path)
        else:
            assert value.strip() in {getattr(r, column) for r in read_plate_map(path).rows}
    changed = [r.split(",") for r in ROWS]
    changed[1][index] = "P\x0001"  # a NUL: refused where the text is read (PostgreSQL stores none)
    path = _write(tmp_path / "plate_map.csv", [HEADER.encode(), *(",".join(r).encode() for r in changed)], b"\n")
    with pytest.raises(PlateMapError, match="line 3: NUL characters"):
        read_plate_map(path)
    from assaykit.scoring.platemap import id_problem

    assert "holds a NUL" in id_problem("P\x0001", column)  # the rule an XLSX cell meets too


NOW = dt.datetime(2026, 12, 1, 12, 0)


def _clinical(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "clinical.csv"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("column", ["ferritin_ng_ml", "admitted_at", "drawn_at", "stained_at"])
@pytest.mark.parametrize("timepoint", ["", "D3"])
def test_contradicting_clinical_rows_are_refused_naming_both(tmp_path: Path, column: str, timepoint: str) -> None:
    values = {"ferritin_ng_ml": ("100", "9000"), "admitted_at": ("2026-11-17 06:00", "2026-11-18 06:00"),
              "drawn_at": ("2026-11-20 08:00", "2026-11-20 09:00"),
              "stained_at": ("2026-11-20 10:00", "2026-11-20 11:00")}[column]
    rows = [f"Pé01,{timepoint},{values[0]}", "Zoë,D3,", f"Pé01,{timepoint},{values[0]}"]
    same = read_clinical_table(_clinical(tmp_path, f"patient,timepoint,{column}\n" + "\n".join(rows) + "\n"), now=NOW)
    kept = same.ferritin if column == "ferritin_ng_ml" else {k: v[column] for k, v in same.times.items()}
    assert list(kept) == [("Pé01", timepoint)]  # the same value twice is one value
    rows[2] = f"Pé01,{timepoint},{values[1]}"
    path = _clinical(tmp_path, f"patient,timepoint,{column}\n" + "\n".join(rows) + "\n")
    with pytest.raises(AssayKitError, match=rf"rows 2 and 4: patient 'Pé01'.* has {column} '{values[0]}' and "
                                            rf"'{values[1]}'; keep one row"):
        read_clinical_table(path, now=NOW)


@pytest.mark.parametrize("stamp", ["9999-12-31", "9999-12-31T23:00:00-05:00", "0001-01-01", "1899-12-31 23:59",
                                   "2026-12-03", "2126-01-01"])
@pytest.mark.parametrize("column", ["admitted_at", "drawn_at", "stained_at"])
def test_implausible_dates_are_refused_naming_the_row(tmp_path: Path, stamp: str, column: str) -> None:
    path = _clinical(tmp_path, f"patient,timepoint,{column}\nP01,D1,2026-11-20\nP02,D1,{stamp}\n")
    with pytest.raises(AssayKitError, match=rf"row 3: {column} '.*' is not a plausible"):
        read_clinical_table(path, now=NOW)


@pytest.mark.parametrize(("admitted", "drawn", "stained", "rows"), [
    ("2026-11-20", "2022-11-20", "", "rows 2 and 3: drawn_at - admitted_at"),  # admission years after the draw
    ("1950-01-01", "2026-11-20", "", "rows 2 and 3: drawn_at - admitted_at"),  # a stay of 76 years
    ("2026-11-28", "2026-11-20", "", "rows 2 and 3: drawn_at - admitted_at"),  # 8 days before admission
    ("", "2026-11-20", "2020-11-20", "row 3: stained_at - drawn_at"),  # stained years before the draw
    ("", "2016-11-20", "2026-11-20", "row 3: stained_at - drawn_at")])  # stained ten years later
def test_times_too_far_apart_to_be_one_stay_are_refused(tmp_path: Path, admitted: str, drawn: str, stained: str,
                                                         rows: str) -> None:
    drawn, stained = (f"{d} 08:00" if d else "" for d in (drawn, stained))  # a delay needs times of day
    text = f"patient,timepoint,admitted_at,drawn_at,stained_at\nP01,,{admitted},,\nP01,D3,,{drawn},{stained}\n"
    with pytest.raises(AssayKitError, match=rf"{rows} is -?\d+\.\d days \(accepted"):
        read_clinical_table(_clinical(tmp_path, text), now=NOW)
    plausible = "patient,timepoint,admitted_at,drawn_at,stained_at\nP01,,2026-11-17 06:00,,\n" \
                "P01,D3,,2026-11-16 20:00,2026-11-20 23:30\n"  # drawn at the emergency department, stained late
    assert read_clinical_table(_clinical(tmp_path, plausible), now=NOW).time("P01", "D3", "admitted_at")


def test_as_a_user_would(simulated_run: Path, tmp_path: Path) -> None:
    """The issue's examples through ``assaykit score``: a CR-only plate map in UTF-8 with an
    ``error`` column, and an LF one with a cp1252 line, are scored with their IDs and column kept
    (a CR-only one with a cp1252 line -- Mac Roman or cp1252? -- is refused naming the line);
    contradicting ferritin values and a case pair are refused with exit 2 and nothing written."""
    run = Path(shutil.copytree(simulated_run, tmp_path / "run"))
    lines = (run / "plate_map.csv").read_text().splitlines()
    lines = [lines[0] + ",error"] + [line.replace("P01", "Pé01") + ",e" for line in lines[1:]]
    runner = CliRunner()
    (run / "clinical.csv").write_text("patient,ferritin_ng_ml\nPé01,100\nP02,300\n")
    data = b"\r".join(line.encode("cp1252" if i == 2 else "utf-8") for i, line in enumerate(lines)) + b"\r"
    (run / "plate_map.csv").write_bytes(data)
    refused = runner.invoke(app, ["score", str(run), "--out", str(tmp_path / "out0"), "--jobs", "1", "--no-report",
                                  "--ledger", "none", "--clinical", str(run / "clinical.csv")])
    assert refused.exit_code == 2 and "line 3: bytes that are not UTF-8" in refused.output, refused.output
    assert "save it as CSV UTF-8" in refused.output and not (tmp_path / "out0").exists()
    for ending, encodings in ((b"\r", ("utf-8",)), (b"\n", ("utf-8", "cp1252"))):
        data = ending.join(line.encode(encodings[-1] if i == 2 else "utf-8") for i, line in enumerate(lines)) + ending
        (run / "plate_map.csv").write_bytes(data)
        out = tmp_path / f"out-{len(encodings)}-encodings"
        result = runner.invoke(app, ["score", str(run), "--out", str(out), "--jobs", "1", "--no-report",
                                     "--ledger", "none", "--clinical", str(run / "clinical.csv")])
        assert result.exit_code == 0, result.output
        import csv

        with (out / "samples.csv").open(newline="", encoding="utf-8") as handle:
            samples = list(csv.DictReader(handle))
        assert {r["patient"] for r in samples if r["role"] == "sample"} == {"Pé01", "P02"}
    result = runner.invoke(app, ["score", str(run), "--out", str(out), "--jobs", "1", "--no-report", "--ledger", "none",
                                 "--clinical", str(run / "clinical.csv")])
    assert {r["plate_error"] for r in samples} == {"e"} and {r["error"] for r in samples} == {""}
    (run / "clinical.csv").write_text("patient,ferritin_ng_ml\nPé01,100\nP02,300\nPé01,9000\n")
    refused = runner.invoke(app, ["score", str(run), "--out", str(tmp_path / "out2"), "--jobs", "1", "--ledger",
                                  "none", "--clinical", str(run / "clinical.csv")])
    assert refused.exit_code == 2 and "rows 2 and 4: patient 'Pé01'" in refused.output
    assert not (tmp_path / "out2").exists()
