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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._io.validate import listed, quote
from ..errors import AssayKitError, PlateMapError

ROLES = ("sample", "beads", "isotype", "blank", "control")
BLOOD_ROLES = ("sample", "isotype", "control")  # the tubes that are gated and measured
"""``control``: a stabilised control blood (its ``patient`` cell names the control material), gated and
measured like a sample, tracked over runs for assay QC (docs/ledger.md), never paired with drugs."""
REQUIRED = ("patient", "timepoint", "condition", "role")
OPTIONAL = ("replicate", "donor_group")
"""Optional columns assaykit reads (docs/plate-map.md): a tube's replicate label and its donor's group."""
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
    """One row of the plate map (``row``: its line number in the file, header = 1); ``extra``: the
    map's own columns by the name samples.csv gives them (:func:`extra_names`)."""

    row: int
    well: str  # normalised, "" when the map names files instead
    file: str  # as written in the map, "" when it names wells
    patient: str
    timepoint: str
    condition: str
    role: str
    extra: Mapping[str, str] = field(default_factory=dict)
    replicate: str = ""  # the optional column's label ("" when none): replicates of one group differ in it
    donor_group: str = ""  # the optional column's group (e.g. healthy, septic), kept as written

    @property
    def group(self) -> tuple[str, str, str, str]:
        """What replicates share: (role, patient, time point, condition)."""
        return (self.role, self.patient, self.timepoint, self.condition)


@dataclass(frozen=True)
class PlateMap:
    path: Path
    rows: tuple[PlateRow, ...]
    extra_columns: tuple[str, ...]
    sha256: str
    read_as: str = ""  # the encoding (CSV/TSV) or sheet (XLSX) the table was read with


class TableDecodeError(ValueError):
    """A table's bytes that are no text assaykit reads (``str()``: the problem, naming the lines)."""


_LINE = re.compile(rb"\r\n|\r|\n")


def decode_table(data: bytes) -> tuple[str, str]:
    """(text, encoding) of a CSV/TSV table's bytes as Excel and LibreOffice write them, with every
    line ending (CR LF, LF, or Excel for Mac's lone CR) made LF: UTF-16 with BOM; else each line
    on its own, UTF-8 (a BOM at the start skipped) when it is valid UTF-8, else Windows cp1252 (a
    legacy Excel export, or a line pasted from one into a UTF-8 file). The encoding is ``utf-8``,
    ``utf-8-sig``, ``utf-16``, ``cp1252`` (every non-ASCII line), or ``utf-8 (cp1252 on lines
    3, 7)`` for a mix. TableDecodeError naming the lines for bytes neither encoding defines, for
    NUL characters (UTF-16 without its BOM), and for lines that are not UTF-8 in a file whose
    lines end in CR alone: old Excel for Mac wrote those in Mac Roman, whose bytes are also
    cp1252 text (``Pé01`` would read ``PŽ01``), so which one was meant cannot be known.

    Parameters
    ----------
    data : bytes
        The file's bytes.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise TableDecodeError("not valid UTF-16 text (it starts with a UTF-16 byte-order mark)") from None
        encoding = "utf-16"
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    else:
        encoding = "utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8"
        raw = _LINE.split(data[3:] if encoding == "utf-8-sig" else data)
        if b"\r" in data and b"\n" not in data:  # old Excel for Mac: Mac Roman, or cp1252? Not to be guessed
            foreign = [number for number, line in enumerate(raw, start=1) if not _is_utf8(line)]
            if foreign:
                raise TableDecodeError(f"line{'s' if len(foreign) > 1 else ''} {_numbers(foreign)}: bytes that are "
                                       "not UTF-8 in a file whose lines end in CR alone (old Excel for Mac: Mac "
                                       "Roman or Windows cp1252 cannot be told apart); save it as CSV UTF-8")
        lines, legacy, utf8, broken = [], [], 0, []
        for number, line in enumerate(raw, start=1):
            try:
                lines.append(line.decode("utf-8"))
                utf8 += not line.isascii()
            except UnicodeDecodeError:
                try:
                    lines.append(line.decode("cp1252"))
                    legacy.append(number)
                except UnicodeDecodeError:
                    broken.append(number)
        if broken:
            raise TableDecodeError(f"line{'s' if len(broken) > 1 else ''} {_numbers(broken)}: bytes that are neither "
                                   "UTF-8 nor Windows cp1252 text; save the table as UTF-8")
        if legacy:
            mixed = f"{encoding} (cp1252 on lines {_numbers(legacy)})"
            encoding = "cp1252" if not utf8 and encoding == "utf-8" else mixed
    nul = [n for n, line in enumerate(lines, start=1) if "\x00" in line]
    if nul:
        raise TableDecodeError(f"line{'s' if len(nul) > 1 else ''} {_numbers(nul)}: NUL characters (UTF-16 without its "
                               "byte-order mark?); save the table as UTF-8")
    return "\n".join(lines), encoding


def _is_utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _numbers(numbers: Sequence[int], most: int = 8) -> str:
    shown = ", ".join(map(str, numbers[:most]))
    return shown + (f" (and {len(numbers) - most} more)" if len(numbers) > most else "")


def _header_fits(columns: Any) -> bool:
    lowered = {str(c).strip().lower() for c in columns}
    return all(c in lowered for c in REQUIRED) and bool({"well", "file"} & lowered)


XLSX_BYTES = 16 << 20
"""Bytes a plate map workbook (.xlsx) may hold once uncompressed, checked before it is parsed."""
XLSX_CELLS = 100_000
"""Cells a plate map workbook may hold (a 384-well plate of 20 columns has 7,680)."""
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # an Excel 97-2003 workbook (.xls)


def check_workbook(data: bytes, path: Path, error: type[AssayKitError] = PlateMapError,
                   what: str = "plate map") -> None:
    """``error`` naming ``path`` unless the bytes ``data`` are an XLSX workbook (a ZIP archive)
    of at most :data:`XLSX_BYTES` uncompressed and :data:`XLSX_CELLS` cells, counted while
    decompressing in chunks (the sizes an archive declares are not trusted) and before any
    spreadsheet parser sees it: a 7.5 MB workbook once took 63 s and 1.5 GB to parse. An Excel
    97-2003 workbook (.xls) is refused with what to do instead.

    Parameters
    ----------
    data : bytes
        The file's bytes.
    path : Path
        The file, for messages.
    error : type of AssayKitError
        The error raised (PlateMapError for a plate map).
    what : str
        What the file is, for messages (``plate map``, ``clinical table``).
    """
    import io
    import zipfile
    import zlib

    if data.startswith(_OLE2) or path.suffix.lower() == ".xls":
        raise error("an Excel 97-2003 workbook (.xls), which assaykit does not read: save it as .xlsx "
                    "(Excel Workbook) or CSV", path)
    total = cells = 0
    alone = f"save the {what} alone as .xlsx or CSV"
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            if len(members) > 1000:
                raise error(f"the workbook holds {len(members):,} parts, more than a {what}'s", path)
            for info in members:
                sheet = info.filename.startswith("xl/worksheets/")
                tail = b""
                with archive.open(info) as member:
                    while chunk := member.read(1 << 20):
                        total += len(chunk)
                        if total > XLSX_BYTES:
                            raise error(f"the workbook holds more than {XLSX_BYTES:,} bytes once uncompressed, more "
                                        f"than a {what}'s ({alone})", path)
                        if sheet:
                            window = tail + chunk
                            cells += window.count(b"<c ") + window.count(b"<c>") - \
                                tail.count(b"<c ") - tail.count(b"<c>")
                            tail = chunk[-2:]
                if cells > XLSX_CELLS:
                    raise error(f"the workbook holds more than {XLSX_CELLS:,} cells, more than a {what}'s ({alone})",
                                path)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError) as exc:
        raise error(f"not a readable XLSX workbook ({type(exc).__name__}); save it as .xlsx or CSV", path) from None


def read_table(path: Path, sheet: str | None = None, error: type[AssayKitError] = PlateMapError,
               what: str = "plate map", fits: Callable[[Any], bool] | None = None) -> tuple[Any, str, str]:
    """The one reader of the tables lab staff write (the plate map, the clinical table): the
    cells of the CSV/TSV (:func:`decode_table`, :func:`csv_table`) or XLSX workbook (bounded by
    :func:`check_workbook`; .xls refused) at ``path`` as text, what was read (``utf-8``,
    ``cp1252``, ``sheet 'Plate'`` ...) and the sha256 of the bytes read (once: the file is never
    read a second time); ``error`` naming the file when it cannot be read.

    Parameters
    ----------
    path : Path
        The table (``.tsv``/``.tab``: tab-separated; ``.xlsx``/``.xlsm`` or a ZIP: a workbook).
    sheet : str or None
        The workbook's sheet to read; None: the first whose header ``fits``, else the first.
    error : type of AssayKitError
        The error raised (PlateMapError for a plate map).
    what : str
        What the file is, for messages (``plate map``, ``clinical table``).
    fits : callable or None
        Whether a sheet's columns are the table's (default: a plate map's).
    """
    import hashlib
    import io

    import pandas as pd

    from .._io.read import TABLE_LIMIT, read_input
    from .._io.validate import quote

    data = read_input(path, error, what, TABLE_LIMIT)
    digest = hashlib.sha256(data).hexdigest()
    suffix = path.suffix.lower()
    excel = suffix in (".xlsx", ".xlsm", ".xls") or data.startswith((b"PK\x03\x04", _OLE2))
    if not data.strip():
        raise error(f"the {what} is empty", path)
    if excel:
        check_workbook(data, path, error, what)
    try:
        if excel:
            book = pd.read_excel(io.BytesIO(data), sheet_name=None, dtype=str, keep_default_na=False,
                                 engine="openpyxl")
            if sheet is not None:
                if sheet not in book:
                    raise error(f"no sheet {quote(sheet)} (sheets: {', '.join(map(str, book))})", path)
                return book[sheet], f"sheet {sheet!r}", digest
            fitting = fits or _header_fits
            name = next((n for n, t in book.items() if fitting(t.columns)), next(iter(book)))
            return book[name], f"sheet {str(name)!r}", digest
        try:
            text, encoding = decode_table(data)
        except TableDecodeError as problem:
            raise error(str(problem), path) from None
        if not text.strip():
            raise error(f"the {what} is empty", path)
        sep = "\t" if suffix in (".tsv", ".tab") else None
        return csv_table(text, sep), encoding, digest
    except AssayKitError:
        raise
    except Exception as exc:  # pandas raises many types for unreadable tables
        raise error(f"cannot read the {what} as {'XLSX' if excel else 'CSV/TSV'} "
                    f"({type(exc).__name__}: {quote(exc)})", path) from None


def csv_table(text: str, sep: str | None) -> Any:
    """A CSV/TSV text as a table whose columns are its first line's cells exactly as written
    (duplicates kept, never renamed ``patient.1``) and whose blank lines are kept as empty rows
    (row numbers count them, as a spreadsheet does)."""
    import io

    import pandas as pd

    table = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, sep=sep, engine="python", header=None,
                        skip_blank_lines=False).fillna("")
    header = [str(c) for c in table.iloc[0]] if len(table) else []
    body = table.iloc[1:].reset_index(drop=True)
    body.columns = header
    return body


def column_key(name: str) -> str:
    """The identity of a column name or an ID: Unicode NFKC, spaces at the ends dropped, runs of
    white space as one space, case folded (``Patient``, ``PATIENT`` and `` patient `` are one).

    Parameters
    ----------
    name : str
        A column name, patient, time point or condition.
    """
    import unicodedata

    return " ".join(unicodedata.normalize("NFKC", name).split()).casefold()


_MANGLED = re.compile(r"^(.*)\.([1-9][0-9]*)$")


def column_problems(columns: Sequence[str], excel: bool) -> list[str]:
    """Two columns whose names are one (:func:`column_key`), named with their positions; in an
    XLSX sheet, also a ``name.1`` beside ``name`` (pandas' renaming of a repeated header)."""
    problems = []
    first: dict[str, int] = {}
    for index, name in enumerate(columns, start=1):
        key = column_key(name)
        if not key:
            continue
        if key in first:
            problems.append(f"columns {first[key]} {quote(columns[first[key] - 1])} and {index} {quote(name)} are one "
                            "column (names are read without case and spacing); rename one")
        else:
            first[key] = index
    if excel:
        for index, name in enumerate(columns, start=1):
            match = _MANGLED.match(name)
            if match and column_key(match.group(1)) in first and first[column_key(match.group(1))] != index:
                problems.append(f"column {index} {quote(match.group(1))} appears twice in the sheet; rename one")
    return problems


def extra_names(extra_columns: Sequence[str], written: Sequence[str], path: Path) -> dict[str, str]:
    """The name each of a plate map's own columns has in samples.csv: its own, or ``plate_`` and
    its own when it is (without case and spacing) a column assaykit writes (``error`` ->
    ``plate_error``). PlateMapError naming both columns when two would be written under one name.

    Parameters
    ----------
    extra_columns : sequence of str
        The plate map's own columns (:attr:`PlateMap.extra_columns`).
    written : sequence of str
        The columns assaykit writes in the same table.
    path : Path
        The plate map (for the error).
    """
    reserved = {column_key(c): c for c in written}
    names: dict[str, str] = {}
    taken: dict[str, str] = {}
    problems = []
    for column in extra_columns:
        name = f"plate_{column}" if column_key(column) in reserved else column
        key = column_key(name)
        if key in reserved:
            problems.append(f"column {quote(column)} would be written as {quote(name)}, a column assaykit writes; "
                            "rename it")
        elif key in taken:
            problems.append(f"columns {quote(taken[key])} and {quote(column)} would both be written as {quote(name)} "
                            f"in samples.csv; rename one")
        taken.setdefault(key, column)
        names[column] = name
    if problems:
        raise PlateMapError(listed(problems), path)
    return names


def id_problem(value: str, what: str) -> str:
    """Why ``value`` cannot be a patient, time point or condition ("" when it can): the one rule
    of both ledger back-ends (SQLite and PostgreSQL store the same IDs): at most
    :data:`~assaykit.ledger.ID_LENGTH` characters, no NUL (PostgreSQL stores no NUL in text).

    Parameters
    ----------
    value : str
        The cell.
    what : str
        Its column, for the message.
    """
    from ..ledger import ID_LENGTH

    if len(value) > ID_LENGTH:
        return f"{what} is {len(value)} characters long (at most {ID_LENGTH})"
    if "\x00" in value:
        return f"{what} {quote(value)} holds a NUL character"
    if any(0xD800 <= ord(c) < 0xE000 for c in value):
        return f"{what} {quote(value)} holds an unpaired surrogate (not Unicode text)"
    return ""


def read_plate_map(path: str | os.PathLike[str], sheet: str | None = None) -> PlateMap:
    """Read and check the plate map at ``path`` (CSV/TSV in UTF-8, UTF-16 with BOM or cp1252,
    or XLSX: the ``sheet`` named, else the first sheet with the required columns); every problem
    in one PlateMapError."""
    from .._io.validate import quote

    file_path = Path(path)
    table, read_as, digest = read_table(file_path, sheet)
    columns = [str(c).strip() for c in table.columns]
    keys = [column_key(c) for c in columns]
    problems = column_problems(columns, file_path.suffix.lower() in (".xlsx", ".xlsm", ".xls"))
    if problems:
        raise PlateMapError(listed(problems), file_path)
    missing = [c for c in REQUIRED if c not in keys]
    if "well" not in keys and "file" not in keys:
        missing.insert(0, "well or file")
    if missing:
        ours = any(k in keys for k in ("well", "file", *REQUIRED))  # else perhaps not a plate map at all
        found = (", ".join(quote(c) for c in columns[:20]) + (", ..." if len(columns) > 20 else "")) if ours \
            else f"{len(columns)}, none a plate map has"  # a foreign file's first line is not quoted
        raise PlateMapError(f"missing column(s): {', '.join(missing)} (columns: {found or 'none'})", file_path)
    known = {"well", "file", *REQUIRED, *OPTIONAL}
    cells = table.astype(str).to_numpy().tolist() if len(table) else []
    unnamed = [i + 1 for i, key in enumerate(keys) if not key and any(str(r[i]).strip() for r in cells)]
    if unnamed:
        raise PlateMapError(f"column{'s' if len(unnamed) > 1 else ''} {_numbers(unnamed)} hold values but no name "
                            "in the header row; name them", file_path)
    extra_columns = tuple(c for c, key in zip(columns, keys, strict=True) if key and key not in known)
    from .tables import SAMPLE_COLUMNS

    written_as = extra_names(extra_columns, SAMPLE_COLUMNS, file_path)
    rows = []
    seen_wells: dict[str, int] = {}
    seen_files: dict[str, int] = {}
    spellings: dict[tuple[str, str], tuple[str, int]] = {}  # (column, identity) -> first spelling and its row
    for index, record in enumerate(cells):
        number = index + 2
        values = {key: cell_text(v) for key, v in zip(keys, record, strict=True) if key}
        extra = {written_as[c]: cell_text(v) for c, key, v in zip(columns, keys, record, strict=True)
                 if key and key not in known}
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
        for column in ("patient", "timepoint", "condition"):
            value = values.get(column, "")
            problem = id_problem(value, column)
            if problem:
                problems.append(f"row {number}: {problem}")
                continue
            first, where = spellings.setdefault((column, column_key(value)), (value, number))
            if first != value:
                problems.append(f"rows {where} and {number}: {column} {quote(first)} and {quote(value)} differ only "
                                "in case or spacing; write one spelling")
        for column in OPTIONAL:
            problem = id_problem(values.get(column, ""), column)
            if problem:
                problems.append(f"row {number}: {problem}")
        rows.append(PlateRow(row=number, well=well, file=raw_file, patient=values.get("patient", ""),
                             timepoint=values.get("timepoint", ""), condition=values.get("condition", ""), role=role,
                             extra=extra, replicate=values.get("replicate", ""),
                             donor_group=values.get("donor_group", "")))
    if not rows:
        problems.append("no rows")
    problems.extend(replicate_problems(rows, "replicate" in keys))
    if problems:
        raise PlateMapError(listed(problems), file_path)
    return PlateMap(file_path, tuple(rows), extra_columns, digest, read_as)


def replicate_problems(rows: Sequence[PlateRow], labelled: bool) -> list[str]:
    """The plate map's replicate errors, naming the rows: in a map with a ``replicate`` column
    (``labelled``), blood tubes of one (role, patient, time point, condition) are replicates when
    each has its own non-empty label; one label twice in a group, or a group mixing labelled and
    unlabelled rows, is an error. Without the column nothing is checked here (a repeated
    condition stays :func:`match_files`'s error).

    Parameters
    ----------
    rows : sequence of PlateRow
        The map's rows.
    labelled : bool
        Whether the map has a ``replicate`` column.
    """
    if not labelled:
        return []
    groups: dict[tuple[str, str, str, str], list[PlateRow]] = {}
    for row in rows:
        if row.role in BLOOD_ROLES:
            groups.setdefault(row.group, []).append(row)
    problems = []
    for (role, patient, timepoint, condition), members in groups.items():
        if len(members) < 2:
            continue
        where = f"{role} {patient or '(no patient)'}" + (f" at {timepoint}" if timepoint else "") + \
            (f", {condition}" if condition else "")
        unlabelled = [r for r in members if not r.replicate]
        if unlabelled:
            problems.append(f"rows {', '.join(str(r.row) for r in members)}: {where} is on several rows but row"
                            f"{'s' if len(unlabelled) > 1 else ''} {', '.join(str(r.row) for r in unlabelled)} "
                            f"{'name' if len(unlabelled) > 1 else 'names'} no replicate; label each replicate")
            continue
        seen: dict[str, int] = {}
        for r in members:
            if r.replicate in seen:
                problems.append(f"rows {seen[r.replicate]} and {r.row}: {where} has replicate {quote(r.replicate)} "
                                "twice; label each replicate once")
            seen.setdefault(r.replicate, r.row)
    return problems


def cell_text(value: Any) -> str:
    """A cell as text: spaces at the ends dropped, Unicode NFC (``é`` typed as e and a combining
    accent is the ``é`` another file holds)."""
    import unicodedata

    return unicodedata.normalize("NFC", str(value).strip())


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
        replicated = {r.condition for r in rows if r.replicate}  # replicate_problems checked their labels
        controls = [r for r in controls if not r.replicate] + \
            [r for r in controls if r.replicate][:1]  # one control, however many replicates
        where = f"patient {patient}" + (f" at {timepoint}" if timepoint else "")
        if not controls:
            near = sorted({r.condition for r in rows if column_key(r.condition) == column_key(control)})
            hint = f" ({', '.join(map(repr, near))} differs in case: condition names are exact)" if near else ""
            problems.append(f"rows {', '.join(str(r.row) for r in rows)}: {where} has no {control!r} control{hint}")
        elif len(controls) > 1:
            problems.append(f"rows {', '.join(str(r.row) for r in controls)}: {where} has several {control!r} controls")
        conditions = [r.condition for r in rows]
        for condition in sorted({c for c in conditions if conditions.count(c) > 1 and c != control
                                 and c not in replicated}):
            duplicates = ", ".join(str(r.row) for r in rows if r.condition == condition)
            problems.append(f"rows {duplicates}: {where} has {condition!r} more than once")
    if problems:
        raise PlateMapError(listed(problems), plate.path)
    return assignments
