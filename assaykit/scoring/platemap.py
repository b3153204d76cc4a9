"""Plate maps: which well or file holds which patient, time point, condition and role, and the
match of the map's rows to a run's FCS files (docs/plate-map.md).

Rows are matched to files by the ``WELL ID`` / ``$WELL ID`` keyword first, then by a well ID in
the file name (``A01``, ``A1``, ``Well_A3``, ``Specimen_001_A1_A01.fcs``), or by the ``file``
column. Validation collects every problem, with the map's row numbers (the header is row 1),
before anything is scored.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import PlateMapError

ROLES = ("sample", "beads", "isotype", "blank", "control")
BLOOD_ROLES = ("sample", "isotype", "control")  # the tubes that are gated and measured
"""``control``: a stabilised control blood (its ``patient`` cell names the control material), gated and
measured like a sample, tracked over runs for assay QC (docs/ledger.md), never paired with drugs."""
REQUIRED = ("patient", "timepoint", "condition", "role")
_WELL = re.compile(r"^([A-Pa-p])0*([1-9]|1[0-9]|2[0-4])$")
# a well ID as a token of a file name: a 96-well row letter A-H and a column 1-12 (zero-padded or
# not), not glued to other letters or digits ("Well_A3", "_A01_", "A1.fcs"; not "PBS12", "D3x" or
# a patient "P01"); 384-well files need a WELL ID keyword or the map's `file` column
_WELL_IN_NAME = re.compile(r"(?<![A-Za-z0-9])([A-Ha-h])0*([1-9]|1[0-2])(?![0-9A-Za-z])")
WELL_KEYWORDS = ("WELL ID", "$WELL ID", "$WELLID", "WELLID", "$SMNO_WELL")


def normalise_well(text: str) -> str | None:
    """``"a01"`` / ``"A1"`` -> ``"A1"``; None when the text is not a well ID."""
    match = _WELL.match(text.strip())
    return f"{match.group(1).upper()}{int(match.group(2))}" if match else None


def wells_in_name(name: str) -> list[str]:
    """The distinct well IDs a file name holds, in order of appearance."""
    stem = Path(name).stem.replace("-", "_").replace(" ", "_")
    found: list[str] = []
    for match in _WELL_IN_NAME.finditer(stem):
        well = f"{match.group(1).upper()}{int(match.group(2))}"
        if well not in found:
            found.append(well)
    return found


@dataclass(frozen=True)
class PlateRow:
    """One row of the plate map (``row``: its line number in the file, header = 1)."""

    row: int
    well: str  # normalised, "" when the map names files instead
    file: str  # as written in the map, "" when it names wells
    patient: str
    timepoint: str
    condition: str
    role: str
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PlateMap:
    path: Path
    rows: tuple[PlateRow, ...]
    extra_columns: tuple[str, ...]
    sha256: str
    read_as: str = ""  # the encoding (CSV/TSV) or sheet (XLSX) the table was read with


def decode_table(data: bytes) -> tuple[str, str]:
    """(text, encoding) of a CSV/TSV table's bytes as Excel and LibreOffice write them: UTF-8 with
    or without BOM, UTF-16 with BOM, else Windows cp1252 (a legacy Excel export)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace"), "cp1252"


def _header_fits(columns: Any) -> bool:
    lowered = {str(c).strip().lower() for c in columns}
    return all(c in lowered for c in REQUIRED) and bool({"well", "file"} & lowered)


def _read_table(path: Path, sheet: str | None = None) -> tuple[Any, str]:
    """The plate map's cells as text and what was read ("utf-8", "cp1252", "sheet 'Plate'" ...)."""
    import io

    import pandas as pd

    from .._io.read import TABLE_LIMIT, read_input
    from .._io.validate import quote

    data = read_input(path, PlateMapError, "plate map", TABLE_LIMIT)
    suffix = path.suffix.lower()
    excel = suffix in (".xlsx", ".xlsm", ".xls")
    if not data.strip():
        raise PlateMapError("the plate map is empty", path)
    try:
        if excel:
            book = pd.read_excel(io.BytesIO(data), sheet_name=None, dtype=str, keep_default_na=False)
            if sheet is not None:
                if sheet not in book:
                    raise PlateMapError(f"no sheet {quote(sheet)} (sheets: {', '.join(map(str, book))})", path)
                return book[sheet], f"sheet {sheet!r}"
            name = next((n for n, t in book.items() if _header_fits(t.columns)), next(iter(book)))
            return book[name], f"sheet {str(name)!r}"
        text, encoding = decode_table(data)
        if not text.strip():
            raise PlateMapError("the plate map is empty", path)
        sep = "\t" if suffix in (".tsv", ".tab") else None
        return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, sep=sep, engine="python"), encoding
    except PlateMapError:
        raise
    except Exception as exc:  # pandas raises many types for unreadable tables
        raise PlateMapError(f"cannot read the plate map as {'XLSX' if excel else 'CSV/TSV'} "
                            f"({type(exc).__name__}: {quote(exc)})", path) from None


def read_plate_map(path: str | os.PathLike[str], sheet: str | None = None) -> PlateMap:
    """Read and check the plate map at ``path`` (CSV/TSV in UTF-8, UTF-16 with BOM or cp1252,
    or XLSX: the ``sheet`` named, else the first sheet with the required columns); every problem
    in one PlateMapError."""
    import hashlib

    from .._io.validate import quote

    file_path = Path(path)
    table, read_as = _read_table(file_path, sheet)
    columns = [str(c).strip() for c in table.columns]
    lowered = [c.lower() for c in columns]
    problems = []
    missing = [c for c in REQUIRED if c not in lowered]
    if "well" not in lowered and "file" not in lowered:
        missing.insert(0, "well or file")
    if missing:
        ours = any(c in lowered for c in ("well", "file", *REQUIRED))  # else perhaps not a plate map at all
        found = (", ".join(quote(c) for c in columns[:20]) + (", ..." if len(columns) > 20 else "")) if ours \
            else f"{len(columns)}, none a plate map has"  # a foreign file's first line is not quoted
        raise PlateMapError(f"missing column(s): {', '.join(missing)} (columns: {found or 'none'})", file_path)
    table.columns = lowered
    known = {"well", "file", *REQUIRED}
    extra_columns = tuple(c for c, low in zip(columns, lowered, strict=True) if low not in known)
    rows = []
    seen_wells: dict[str, int] = {}
    seen_files: dict[str, int] = {}
    for index, record in enumerate(table.to_dict("records")):
        number = index + 2
        values = {k: str(v).strip() for k, v in record.items()}
        if not any(values.values()):
            continue  # blank line
        raw_well, raw_file = values.get("well", ""), values.get("file", "")
        well = ""
        if raw_well:
            well = normalise_well(raw_well) or ""
            if not well:
                problems.append(f"row {number}: {quote(raw_well)} is not a well ID (A1-P24)")
            elif well in seen_wells:
                problems.append(f"row {number}: duplicate well {well} (also row {seen_wells[well]})")
            else:
                seen_wells[well] = number
        elif not raw_file:
            problems.append(f"row {number}: neither a well nor a file")
        if raw_file:
            if raw_file in seen_files:
                problems.append(f"row {number}: duplicate file {raw_file} (also row {seen_files[raw_file]})")
            seen_files[raw_file] = number
        role = values.get("role", "").lower()
        if role not in ROLES:
            problems.append(f"row {number}: unknown role {quote(values.get('role', ''))} (one of {', '.join(ROLES)})")
        if role in ("sample", "isotype") and not values.get("patient"):
            problems.append(f"row {number}: a {role} needs a patient")
        if role == "sample" and not values.get("condition"):
            problems.append(f"row {number}: a sample needs a condition")
        extra = {c: values.get(c.lower(), "") for c in extra_columns}
        rows.append(PlateRow(number, well, raw_file, values.get("patient", ""), values.get("timepoint", ""),
                             values.get("condition", ""), role, extra))
    if not rows:
        problems.append("no rows")
    if problems:
        raise PlateMapError("; ".join(problems), file_path)
    return PlateMap(file_path, tuple(rows), extra_columns, hashlib.sha256(file_path.read_bytes()).hexdigest(),
                    read_as)


@dataclass(frozen=True)
class Assignment:
    """A plate-map row and the file it was matched to, and how."""

    row: PlateRow
    path: Path
    matched_by: str  # "keyword", "file name" or "file column"


def file_well(path: Path, keywords: Mapping[str, str]) -> tuple[str | None, str]:
    """The well of a file and how it was found: a well keyword, else a single well ID in its name.
    ``(None, reason)`` when there is none or the name is ambiguous."""
    for key in WELL_KEYWORDS:
        value = keywords.get(key, "").strip()
        if value and normalise_well(value):
            return normalise_well(value), "keyword"
    wells = wells_in_name(path.name)
    if len(wells) == 1:
        return wells[0], "file name"
    if len(wells) > 1:
        return None, f"ambiguous: its name holds wells {', '.join(wells)} and no well keyword"
    return None, "no well keyword and no well ID in its name"


def match_files(plate: PlateMap, files: Sequence[Path], keywords: Mapping[Path, Mapping[str, str]],
                control: str = "unstimulated") -> list[Assignment]:
    """Match ``plate``'s rows to ``files`` (with each file's TEXT ``keywords``) and check the
    design (each patient and time point has one ``control`` condition); every problem in one
    PlateMapError."""
    problems: list[str] = []
    by_well: dict[str, list[tuple[Path, str]]] = {}
    unplaced: dict[Path, str] = {}
    by_name = {f.name: f for f in files}
    named = {Path(r.file).name for r in plate.rows if r.file}
    for f in files:
        if f.name in named:
            continue
        well, how = file_well(f, keywords.get(f, {}))
        if well is None:
            unplaced[f] = how
        else:
            by_well.setdefault(well, []).append((f, how))
    assignments: list[Assignment] = []
    used: dict[Path, int] = {}  # file -> the row it was given to

    def assign(row: PlateRow, target: Path, how: str) -> None:
        if target in used:  # one tube scored twice (e.g. as control and drug) would be a silent wrong result
            problems.append(f"rows {used[target]} and {row.row} both resolve to the file {target.name}")
            return
        assignments.append(Assignment(row, target, how))
        used[target] = row.row

    for row in plate.rows:
        if row.file:
            target = by_name.get(Path(row.file).name)
            if target is None:
                problems.append(f"row {row.row}: file {row.file} not found in the run folder")
                continue
            assign(row, target, "file column")
            continue
        candidates = by_well.get(row.well, [])
        if not candidates:
            problems.append(f"row {row.row}: no file for well {row.well}")
        elif len(candidates) > 1:
            names = ", ".join(f"{p.name} ({how})" for p, how in candidates)
            problems.append(f"row {row.row}: well {row.well} matches several files: {names}")
        else:
            assign(row, candidates[0][0], candidates[0][1])
    well_of = {p: w for w, ps in by_well.items() for p, _ in ps}
    shared = {p for ps in by_well.values() if len(ps) > 1 for p, _ in ps}
    rowed = {r.well for r in plate.rows if r.well}
    for well, placed in sorted(by_well.items()):
        if len(placed) > 1 and well not in rowed:
            problems.append(f"files {', '.join(p.name for p, _ in placed)}: no row for their well {well}")
    for f in files:
        if f in used or f in shared:  # files sharing a well are reported with their row or just above
            continue
        if f in unplaced:
            problems.append(f"file {f.name}: no row ({unplaced[f]})")
        else:
            problems.append(f"file {f.name}: no row for its well {well_of[f]}")
    bead_rows = [str(r.row) for r in plate.rows if r.role == "beads"]
    if not bead_rows:
        problems.append("no bead tube (a row with role 'beads')")
    elif len(bead_rows) > 1:
        problems.append(f"several bead tubes (rows {', '.join(bead_rows)}); one calibration per run is supported")
    groups: dict[tuple[str, str], list[PlateRow]] = {}
    for r in plate.rows:
        if r.role == "sample":
            groups.setdefault((r.patient, r.timepoint), []).append(r)
    for (patient, timepoint), rows in groups.items():
        controls = [r for r in rows if r.condition == control]
        where = f"patient {patient}" + (f" at {timepoint}" if timepoint else "")
        if not controls:
            problems.append(f"rows {', '.join(str(r.row) for r in rows)}: {where} has no {control!r} control")
        elif len(controls) > 1:
            problems.append(f"rows {', '.join(str(r.row) for r in controls)}: {where} has several {control!r} controls")
        conditions = [r.condition for r in rows]
        for condition in sorted({c for c in conditions if conditions.count(c) > 1 and c != control}):
            duplicates = ", ".join(str(r.row) for r in rows if r.condition == condition)
            problems.append(f"rows {duplicates}: {where} has {condition!r} more than once")
    if problems:
        raise PlateMapError("; ".join(problems), plate.path)
    return assignments
