"""The clinical table against the plate map and its own rules (issue 28, review of family 7):
the join of its patients and time points to the plate map's, Mac Roman or cp1252 in files whose
lines end in CR alone, times with and without a UTC offset, dates without a time of day where a
delay is measured, the one table reader (XLSX; .xls refused), and the values errors quote.
Every case is generated: each way two spellings differ, each byte Mac Roman writes, each offset
form and column, each sign."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import shutil
import unicodedata
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assaykit._io.validate import quote
from assaykit.cli import app
from assaykit.errors import AssayKitError, PlateMapError
from assaykit.scoring.clinical import join_plate, read_clinical_table, unmatched_line
from assaykit.scoring.platemap import read_plate_map

NOW = dt.datetime(2026, 12, 1, 12, 0)
PLATE = ["well,patient,timepoint,condition,role", "A1,P01,D3,unstimulated,sample", "A2,P01,D3,IFN-g,sample",
         "A3,P01,Day 7,unstimulated,sample", "A4,Zoë,D3,unstimulated,sample", "H12,,,,beads"]
# (patient, time point) -> the plate map's first row holding it
ON_PLATE = {("P01", "D3"): 2, ("P01", "Day 7"): 4, ("Zoë", "D3"): 5}


def _plate(tmp_path: Path):
    path = tmp_path / "plate_map.csv"
    path.write_text("\n".join(PLATE) + "\n", encoding="utf-8")
    return read_plate_map(path)


def _clinical(tmp_path: Path, rows: list[tuple[str, str, str]], name: str = "clinical.csv") -> Path:
    path = tmp_path / name
    path.write_text("patient,timepoint,ferritin_ng_ml\n" + "".join(f"{p},{t},{f}\n" for p, t, f in rows),
                    encoding="utf-8")
    return path


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


VARIANTS = {"lower": str.lower, "upper": str.upper, "two spaces": lambda s: s.replace(" ", "  "),
            "no-break space": lambda s: s.replace(" ", "\u00a0"), "full width": _fullwidth, "swapcase": str.swapcase}


def _spellings(value: str) -> dict[str, str]:
    """The ways ``value`` can be written that differ from it only in case, spacing or width."""
    found = {}
    for name, change in VARIANTS.items():
        other = change(value)
        if other != value and unicodedata.normalize("NFC", other.strip()) != value:
            found[name] = other
    return found


@pytest.mark.parametrize(("column", "key"), [(c, k) for k in ON_PLATE for c in ("patient", "timepoint")])
def test_a_spelling_differing_only_in_case_spacing_or_width_is_refused_naming_both_rows(
        tmp_path: Path, column: str, key: tuple[str, str]) -> None:
    """Every ID of the plate map, each of its case/spacing/width variants written in the clinical
    table (after a study row that matches nothing): refused naming the clinical row and the plate
    map's row; the spelling as on the plate is joined, with nothing unmatched."""
    plate = _plate(tmp_path)
    value = key[0] if column == "patient" else key[1]
    first = min(row for k, row in ON_PLATE.items() if k[column == "timepoint"] == value)
    variants = _spellings(value)
    assert variants, value
    for name, other in variants.items():
        row = (other, key[1], "900") if column == "patient" else (key[0], other, "900")
        path = _clinical(tmp_path, [("P77", "D1", "5"), row])
        clinical = read_clinical_table(path, now=NOW)
        with pytest.raises(AssayKitError, match=rf"row 3: {column} .* and plate_map.csv row {first}: "
                                                rf"{quote(value)} differ only in case or spacing") as raised:
            join_plate(clinical, plate, path)
        assert raised.value.path == path and "\n" not in str(raised.value), name
    joined = join_plate(read_clinical_table(_clinical(tmp_path, [(key[0], key[1], "900")]), now=NOW), plate,
                        tmp_path / "clinical.csv")
    assert joined.unmatched == () and joined.ferritin == {key: 900.0}


@pytest.mark.parametrize("size", [1, 4, 9])
def test_rows_matching_no_plate_row_are_counted_and_named_not_refused(tmp_path: Path, size: int) -> None:
    """A study-wide table: rows of other patients, other time points of a patient on the plate,
    and a patient-wide row of an absent patient are counted and named (first five) in the order
    of the table; rows matching the plate -- by time point or patient-wide -- are not."""
    plate = _plate(tmp_path)
    others = list(itertools.islice(itertools.cycle([("P9{}", "D1"), ("P01", "D{}0"), ("Q{}", "")]), size))
    rows = [("P01", "D3", "100"), ("Zoë", "", "200")]
    rows += [(p.format(i), t.format(i), str(i)) for i, (p, t) in enumerate(others)]
    path = _clinical(tmp_path, rows)
    joined = join_plate(read_clinical_table(path, now=NOW), plate, path)
    expected = [(i + 2, p, t) for i, (p, t, _) in enumerate(rows) if i >= 2]
    assert list(joined.unmatched) == expected
    entry = joined.manifest_entry()
    assert entry["rows"] == size and [tuple(r.values()) for r in entry["first"]] == expected[:5]
    line = unmatched_line(entry, "clinical.csv")
    assert line.startswith(f"clinical: {size} row{'s' if size > 1 else ''} of clinical.csv match")
    assert ("more" in line) == (size > 5) and "\n" not in line
    assert joined.ferritin[("P01", "D3")] == 100.0 and joined.ferritin[("Zoë", "")] == 200.0
    assert unmatched_line(join_plate(read_clinical_table(_clinical(tmp_path, rows[:2]), now=NOW), plate, path)
                          .manifest_entry(), "clinical.csv") == ""


@pytest.mark.parametrize("cells", [",D3,900", ",,900", " ,D3,", ",D1,100"])
def test_a_row_with_values_but_no_patient_is_refused_naming_it(tmp_path: Path, cells: str) -> None:
    """A row whose patient cell is empty (or blank) but which holds a time point or a value is
    joined to nothing: refused naming the row, never dropped."""
    path = tmp_path / "clinical.csv"
    path.write_text(f"patient,timepoint,ferritin_ng_ml\nP01,D3,100\n{cells}\n,,\n")
    with pytest.raises(AssayKitError, match=r"clinical.csv: row 3: values but no patient"):
        read_clinical_table(path, now=NOW)


def test_the_join_as_a_user_would(simulated_run: Path, tmp_path: Path) -> None:
    """The review's example through ``assaykit score``: ``p01`` for the plate's ``P01`` is refused
    with exit 2 before any output exists; a study row ``P2`` is named on the console and in the
    manifest (``clinical.unmatched``), the run scored with exit 0."""
    run = Path(shutil.copytree(simulated_run, tmp_path / "run"))
    clinical = tmp_path / "clin.csv"
    clinical.write_text("patient,timepoint,ferritin_ng_ml\np01,D3,9000\nP2,D3,9000\n")
    runner = CliRunner()
    common = ["--jobs", "1", "--no-report", "--ledger", "none", "--clinical", str(clinical)]
    refused = runner.invoke(app, ["score", str(run), "--out", str(tmp_path / "refused"), *common])
    assert refused.exit_code == 2, refused.output
    assert "clin.csv: row 2: patient 'p01' and plate_map.csv row 2: 'P01' differ only in case" in refused.output
    assert not (tmp_path / "refused").exists() and "[1/" not in refused.output  # no tube measured
    clinical.write_text("patient,timepoint,ferritin_ng_ml\nP01,D3,9000\nP2,D3,9000\n")
    scored = runner.invoke(app, ["score", str(run), "--out", str(tmp_path / "out"), *common])
    assert scored.exit_code == 0, scored.output
    assert f"clinical: 1 row of {clinical} matches no patient and time point of the plate map, not used " \
           "(row 3: 'P2' at 'D3')" in scored.output
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["clinical"]["unmatched"] == {"rows": 1, "first": [{"row": 3, "patient": "P2", "timepoint": "D3"}]}
    assert runner.invoke(app, ["verify", str(tmp_path / "out")]).exit_code == 0


MAC_ROMAN_HIGH = [bytes([b]) for b in range(0x80, 0x100)]


@pytest.mark.parametrize("reader", ["plate map", "clinical table"])
def test_cr_only_files_with_bytes_that_are_not_utf8_are_refused(tmp_path: Path, reader: str) -> None:
    """Every byte Mac Roman writes above ASCII, in an ID of a file whose lines end in CR alone:
    refused naming the line and saying "save it as CSV UTF-8" (Mac Roman ``é`` is cp1252 ``Ž``);
    the same characters saved as UTF-8 with CR line ends are read as written; with CR LF the
    legacy line is still read as cp1252 (no Mac wrote it)."""
    lines = PLATE if reader == "plate map" else ["patient,timepoint,ferritin_ng_ml", "Zoë,D3,20", "P01,D3,10"]

    def read(data: bytes):
        path = tmp_path / "table.csv"
        path.write_bytes(data)
        if reader == "plate map":
            return {r.patient for r in read_plate_map(path).rows if r.patient}
        return {p for p, _ in read_clinical_table(path, now=NOW).ferritin}

    for byte in MAC_ROMAN_HIGH:
        char = byte.decode("mac_roman")
        encoded = [line.encode("utf-8") for line in lines]
        encoded[2] = encoded[2].replace(b"P01", b"P" + byte + b"01")
        with pytest.raises(AssayKitError, match=r"table.csv: line 3: bytes that are not UTF-8 .*CR alone.*save it as "
                                                r"CSV UTF-8") as raised:
            read(b"\r".join(encoded) + b"\r")
        assert isinstance(raised.value, PlateMapError) == (reader == "plate map")
        as_utf8 = [line.encode("utf-8") for line in lines]
        as_utf8[2] = as_utf8[2].replace(b"P01", ("P" + char + "01").encode("utf-8"))
        assert f"P{char}01" in read(b"\r".join(as_utf8) + b"\r"), char
        try:
            legacy = byte.decode("cp1252")
        except UnicodeDecodeError:
            continue
        assert f"P{legacy}01" in read(b"\r\n".join(encoded) + b"\r\n"), char


OFFSETS = ["Z", "+01:00", "-05:00", "+0530", "+00:00"]


@pytest.mark.parametrize("offset", OFFSETS)
@pytest.mark.parametrize(("zoned", "local"), [("drawn_at", "drawn_at"), ("drawn_at", "stained_at"),
                                              ("stained_at", "admitted_at"), ("admitted_at", "drawn_at")])
def test_times_with_and_without_a_utc_offset_are_not_mixed(tmp_path: Path, offset: str, zoned: str,
                                                            local: str) -> None:
    """A time with each offset form in one column and a time without in another (or the same)
    column of a later row: refused naming one row of each; all with an offset, or none, are read
    (with an offset: as UTC; without: as written). A date alone (admitted_at) has no zone."""
    def table(first: str, second: str) -> Path:
        path = tmp_path / "clinical.csv"
        rows = {"drawn_at": "", "stained_at": "", "admitted_at": ""}
        row2, row3 = dict(rows), dict(rows)
        row2[zoned], row3[local] = first, second
        path.write_text("patient,timepoint,drawn_at,stained_at,admitted_at\n"
                        f"P01,D3,{row2['drawn_at']},{row2['stained_at']},{row2['admitted_at']}\n"
                        f"P02,D3,{row3['drawn_at']},{row3['stained_at']},{row3['admitted_at']}\n")
        return path

    with pytest.raises(AssayKitError, match=rf"row 2: {zoned} '2026-11-20 08:00{re.escape(offset)}' has a UTC offset "
                                            rf"and row 3: {local} '2026-11-20 09:00' has none"):
        read_clinical_table(table(f"2026-11-20 08:00{offset}", "2026-11-20 09:00"), now=NOW)
    utc = read_clinical_table(table(f"2026-11-20 08:00{offset}", f"2026-11-20 09:00{offset}"), now=NOW)
    shift = dt.datetime.fromisoformat(f"2026-11-20 08:00{offset}").utcoffset()
    assert utc.time("P01", "D3", zoned) == dt.datetime(2026, 11, 20, 8, 0) - shift
    local_only = read_clinical_table(table("2026-11-20 08:00", "2026-11-20 09:00"), now=NOW)
    assert local_only.time("P02", "D3", local) == dt.datetime(2026, 11, 20, 9, 0)
    if local == "admitted_at":  # a date is no local time: beside offsets it is read
        dated = read_clinical_table(table(f"2026-11-20 08:00{offset}", "2026-11-20"), now=NOW)
        assert dated.time("P02", "D3", "admitted_at") == dt.datetime(2026, 11, 20)


@pytest.mark.parametrize("date", ["2026-11-17", "20261117"])
@pytest.mark.parametrize("column", ["drawn_at", "stained_at", "admitted_at"])
def test_a_date_without_a_time_of_day_is_refused_where_a_delay_is_measured(tmp_path: Path, date: str,
                                                                           column: str) -> None:
    """A date alone in ``drawn_at`` or ``stained_at`` (which would give a 0 h delay read as
    measured) is refused naming the row; in ``admitted_at`` it is read as the day's start (days
    since admission need dates)."""
    cells = {"drawn_at": "2026-11-17 06:00", "stained_at": "2026-11-17 08:00", "admitted_at": "2026-11-15"}
    cells[column] = date
    path = tmp_path / "clinical.csv"
    path.write_text("patient,timepoint,drawn_at,stained_at,admitted_at\nP01,D3,,,\n"
                    f"P02,D3,{cells['drawn_at']},{cells['stained_at']},{cells['admitted_at']}\n")
    if column == "admitted_at":
        clinical = read_clinical_table(path, now=NOW)
        assert clinical.time("P02", "D3", "admitted_at") == dt.datetime(2026, 11, 17)
        assert clinical.time("P02", "D3", "stained_at") - clinical.time("P02", "D3", "drawn_at") == \
            dt.timedelta(hours=2)
        return
    with pytest.raises(AssayKitError, match=rf"row 3: {column} '{date}' has no time of day; the delay from draw "
                                            r"to staining needs the time of day of both"):
        read_clinical_table(path, now=NOW)


def _workbook(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


@pytest.mark.parametrize("first_sheet", [False, True])
def test_a_clinical_workbook_is_read_by_the_plate_maps_reader(tmp_path: Path, first_sheet: bool) -> None:
    """A clinical table saved as .xlsx (as its own sheet or after another) is read with its
    values and times; an .xls, by suffix or by its bytes, is refused saying what to save it as,
    never an encoding message; a repeated header in the sheet is refused."""
    rows: list[list[object]] = [["patient", "timepoint", "ferritin_ng_ml", "drawn_at", "stained_at"],
                                ["P01", "D3", 9000, dt.datetime(2026, 11, 20, 8, 0), "2026-11-20 09:30"],
                                ["Zoë", "", 250.5, None, None]]
    sheets = {"Clinical": rows} if first_sheet else {"Notes": [["a note"]], "Clinical": rows}
    clinical = read_clinical_table(_workbook(tmp_path / "clinical.xlsx", sheets), now=NOW)
    assert clinical.ferritin == {("P01", "D3"): 9000.0, ("Zoë", ""): 250.5}
    assert clinical.time("P01", "D3", "drawn_at") == dt.datetime(2026, 11, 20, 8, 0)
    assert clinical.time("P01", "D3", "stained_at") == dt.datetime(2026, 11, 20, 9, 30)
    ole2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 1000
    for name, data in (("clinical.xls", ole2), ("clinical.csv", ole2),
                       ("clinical.xls", (tmp_path / "clinical.xlsx").read_bytes())):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(AssayKitError, match=r"Excel 97-2003 workbook \(.xls\).*save it as .xlsx") as raised:
            read_clinical_table(tmp_path / name, now=NOW)
        assert "UTF-8" not in str(raised.value) and not isinstance(raised.value, PlateMapError)
    doubled = [[*rows[0], "Patient"], *[[*r, "x"] for r in rows[1:]]]
    with pytest.raises(AssayKitError, match="are one column"):
        read_clinical_table(_workbook(tmp_path / "doubled.xlsx", {"Clinical": doubled}), now=NOW)


SIGNS = "-+<>~"


@pytest.mark.parametrize("sign", list(SIGNS))
def test_a_value_with_a_leading_sign_is_quoted(tmp_path: Path, sign: str) -> None:
    """Each sign alone and before a number or a word is quoted in the error (``<10``, ``-5``,
    ``-``), and the ferritin error says to leave the cell empty; two signs, or a sign before a
    space or punctuation, are described by length."""
    for body in ("", "10", "5.5", "abc", "1e3x"):
        value = sign + body
        assert quote(value) == repr(value)
    for value in (sign * 2 + "10", sign + " 10", sign + ":x", sign + "/etc"):
        assert quote(value) == f"a text of {len(value)} characters"
    for body in ("", "10", "abc"):
        value = sign + body
        if value in ("+10",):  # a number float() reads
            continue
        path = tmp_path / "clinical.csv"
        path.write_text(f"patient,ferritin_ng_ml\nP01,{value}\n")
        with pytest.raises(AssayKitError, match=rf"row 2: ferritin_ng_ml {re.escape(repr(value))} is not a finite "
                                                r"number of at least 0; leave the cell empty when there is no value"):
            read_clinical_table(path, now=NOW)


FOREIGN = [f"-----{edge} {kind}PRIVATE KEY-----" for edge in ("BEGIN", "END")
           for kind in ("RSA ", "EC ", "OPENSSH ", "ENCRYPTED ", "")]
FOREIGN += ["root:x:0:0:root:/root:/bin/bash", "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin",
            "-:x:0:0::/:/bin/sh", "+::::::", "+@netgroup::::::", "-@netgroup", "~:$6$salt$hash:19000:0:99999:7:::"]


def test_lines_of_foreign_files_are_still_described_by_length() -> None:
    """PEM armour lines of every key kind and /etc/passwd and /etc/shadow lines -- including the
    NIS ``+``/``-`` entries that start with a sign -- and the lines of this machine's
    /etc/passwd are never quoted."""
    lines = list(FOREIGN)
    passwd = Path("/etc/passwd")
    if passwd.is_file():
        lines += [line for line in passwd.read_text(errors="replace").splitlines() if line.strip()]
    for line in lines:
        assert quote(line) == f"a text of {len(line)} characters", line



def test_a_workbook_date_cell_without_a_time_is_refused_where_a_delay_is_measured(tmp_path: Path) -> None:
    """An Excel date cell (no time part) reads as midnight, which cannot be told from a date
    alone: in drawn_at or stained_at it is refused naming the row, not read as a 0 h delay."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(("patient", "timepoint", "drawn_at", "stained_at"))
    sheet.append(("P01", "D3", dt.datetime(2026, 11, 17), dt.datetime(2026, 11, 17)))
    sheet.append(("P02", "D3", dt.datetime(2026, 11, 17, 6, 30), dt.datetime(2026, 11, 17, 8, 0)))
    book.save(tmp_path / "clinical.xlsx")
    with pytest.raises(AssayKitError, match=r"row 2: drawn_at '2026-11-17 00:00:00' has no time of day; row 2: "
                                            r"stained_at .* type 00:01"):
        read_clinical_table(tmp_path / "clinical.xlsx", now=NOW)
