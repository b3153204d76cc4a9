"""A lab's own per-tube results (``assaykit compare --manual``, docs/validation.md): one row per
FCS file with the file, the monocyte count and the HLA-DR MFI or AB/C, as exported by FACSDiva,
Kaluza, FCS Express or typed in a spreadsheet. Read as assaykit reads every table (bounded,
UTF-8 or cp1252 line by line, UTF-16 with BOM, the plate map's helpers); numbers by one rule
(:func:`read_numbers`) that never guesses between a thousands separator and a decimal mark."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import AssayKitError

KEYS = ("file", "monocytes", "hladr_mfi", "hladr_abc")
"""The columns a manual results file gives (``file``, ``monocytes``, and ``hladr_mfi`` or
``hladr_abc``), under these names or under the lab's (:func:`parse_columns`)."""
MISSING = frozenset({"", "na", "n/a", "nan", "-", "--", "none", "null"})
"""Cells read as no value (case-insensitive): a tube the lab could not measure."""
_GROUPING = " \u00a0\u202f\u2009'"  # thousands written as spaces (also non-breaking, thin) or apostrophes
GATE = "gate"
"""The key of the column naming each row's gate (Kaluza lists every gate's statistics), read
only to keep one gate's rows (``--gate``)."""
_SPLIT = re.compile(r",\s*(?=(?:" + "|".join((*KEYS, GATE)) + r")\s*=)")
_TEMPLATE = re.compile(r"\{([^{}]+)\}")
_EXPONENT = re.compile(r"[eE][+-]?\d+$")


@dataclass(frozen=True)
class ManualRow:
    """One row of a manual results file.

    Parameters
    ----------
    row : int
        The row's line in the file (the header is line 1).
    file : str
        The FCS file it names, as written (its last path component).
    monocytes : float or None
        The lab's monocyte count (a whole number), None when not given.
    hladr_mfi : float or None
        The lab's HLA-DR statistic (MFI) on the file's scale, None when not given.
    hladr_abc : float or None
        The lab's HLA-DR in AB/C (its own calibration), None when not given.
    """

    row: int
    file: str
    monocytes: float | None
    hladr_mfi: float | None
    hladr_abc: float | None


@dataclass(frozen=True)
class ManualTable:
    """A manual results file as read.

    Parameters
    ----------
    path : Path
        The file.
    rows : tuple of ManualRow
        Its rows with a file, in file order.
    columns : dict
        The column each key (:data:`KEYS`) was read from ("" for a key not given).
    decimal : str
        The decimal mark the numbers were read with (``.`` or ``,``; ``.`` when no cell tells).
    encoding : str
        How the bytes were decoded (``utf-8``, ``cp1252``, ...).
    """

    path: Path
    rows: tuple[ManualRow, ...]
    columns: dict[str, str]
    decimal: str
    encoding: str


def parse_columns(specs: Sequence[str]) -> dict[str, str]:
    """The lab's column names by key from ``--columns`` options: ``file=Sample,monocytes="Monocytes
    Count",hladr_mfi="PE-A Median"`` (one option or several; a value runs to the next ``, key=``,
    so it may hold commas; quotes around a value are dropped). ``file`` may also be a template of
    columns, ``{Specimen Name}_{Tube Name}.fcs`` (FACSDiva names exported files so). ValueError
    naming an unknown or repeated key.

    Parameters
    ----------
    specs : sequence of str
        The option values as given.
    """
    names: dict[str, str] = {}
    for spec in specs:
        for item in _SPLIT.split(spec.strip()):
            key, sep, value = item.partition("=")
            key, value = key.strip(), value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            if not sep or key not in (*KEYS, GATE):
                raise ValueError(f"--columns {item.strip()!r}: expected KEY=COLUMN with KEY one of "
                                 f"{', '.join((*KEYS, GATE))}")
            if key in names:
                raise ValueError(f"--columns names {key} twice")
            if not value:
                raise ValueError(f"--columns {key}= names no column")
            names[key] = value
    return names


def loose_key(name: str) -> str:
    """A column name as a key's own name is matched: :func:`~assaykit.scoring.platemap.column_key`
    (case, Unicode form, spacing) without spaces, hyphens and underscores, so ``hladr_abc``,
    ``HLADR ABC`` and ``Hladr-abc`` are one name. The lab's names given with ``--columns`` are
    matched by ``column_key`` alone.

    Parameters
    ----------
    name : str
        A column name.
    """
    from .platemap import column_key

    return re.sub(r"[\s_\-]+", "", column_key(name))


def _reading(text: str, decimal: str, whole: bool) -> float | None:
    """``text`` as a number when ``decimal`` is the decimal mark (the other mark, a space or an
    apostrophe then separating groups of three digits), None when it is not one so written;
    ``whole``: a count, so a fraction is not a reading."""
    sign = text[0] if text[:1] in "+-" else ""
    body = text[len(sign):]
    exponent = _EXPONENT.search(body)
    mantissa = body[:exponent.start()] if exponent else body
    if mantissa.count(decimal) > 1:
        return None
    integer, _, fraction = mantissa.partition(decimal)
    if (fraction and not fraction.isascii()) or (fraction and not fraction.isdigit()) or not (integer or fraction):
        return None
    separators = ("," if decimal == "." else ".") + _GROUPING
    if any(c in separators for c in integer):
        grouped = re.fullmatch(r"[1-9]\d{0,2}([" + re.escape(separators) + r"])\d{3}(?:\1\d{3})*", integer)
        if grouped is None:
            return None
        integer = integer.replace(grouped.group(1), "")
    if integer and not (integer.isascii() and integer.isdigit()):
        return None
    value = float(f"{sign}{integer or '0'}.{fraction or '0'}{exponent.group() if exponent else ''}")
    if not math.isfinite(value) or (whole and (value < 0 or not value.is_integer())):
        return None
    return value


def read_numbers(cells: Sequence[tuple[str, str, bool]], others: Sequence[str] = (),
                 limits: Sequence[float | None] = ()) -> tuple[list[float | None], str]:
    """The numbers of ``cells`` (text, where for messages, whether a count) and the decimal mark
    they were read with, by one rule for the whole file: each cell is read with ``.`` and with
    ``,`` as the decimal mark (the other mark, a space or an apostrophe separating thousands in
    groups of three); a cell only one reading fits tells the file's mark (``1.234,5``, ``12,5``,
    ``2234.41``; a count ``1,846`` cannot be 1.846 monocytes). Cells both fit alike (``1846``)
    need none; a cell both fit differently (``1,234`` MFI) is read with the file's mark, and
    refused when no cell tells it. When none of ``cells`` tells the mark, the file's other cells
    (``others``, the columns not read) tell it if all that tell one tell the same. A file whose
    cells tell both marks, and a cell that no reading fits, are refused: ValueError naming the
    cells. A :data:`MISSING` cell is None. A reading above a cell's limit (``limits``: an MFI on
    Kaluza's 0-1,024 scale cannot be 18,324) does not fit it: ``18.324`` then tells a point.

    Parameters
    ----------
    cells : sequence of (str, str, bool)
        Each cell's text, its place (``row 3 monocytes``) and whether it is a count.
    others : sequence of str
        The file's other cells (dates, names, other statistics), for the decimal mark only.
    limits : sequence of float or None
        Per cell (in order; missing or None: none), the largest value it may hold.
    """
    from .._io.validate import listed, quote

    readings: list[tuple[float | None, float | None] | None] = []
    told: dict[str, str] = {}
    problems: list[str] = []
    for i, (text, where, whole) in enumerate(cells):
        text = text.strip()
        if text.casefold() in MISSING:
            readings.append(None)
            continue
        dot, comma = _reading(text, ".", whole), _reading(text, ",", whole)
        limit = limits[i] if i < len(limits) else None
        if limit is not None and (dot is not None or comma is not None):
            dot, comma = (v if v is None or abs(v) <= limit else None for v in (dot, comma))
            if dot is None and comma is None:
                problems.append(f"{where} {quote(text)} is above {limit:,g}, the top of the MFI's scale")
                readings.append(None)
                continue
        if dot is None and comma is None:
            kind = "a whole number of at least 0" if whole else "a number"
            problems.append(f"{where} {quote(text)} is not {kind}")
        elif dot is None or comma is None:
            told.setdefault("." if comma is None else ",", f"{where} {quote(text)}")
        readings.append((dot, comma))
    if len(told) == 2:
        problems.append(f"the numbers are written with both decimal marks ({told['.']} has a decimal point, "
                        f"{told[',']} a decimal comma); write them one way")
    if not told:
        hinted = set()
        for text in others:
            text = text.strip()
            if text and text.casefold() not in MISSING:
                dot, comma = _reading(text, ".", False), _reading(text, ",", False)
                if (dot is None) != (comma is None):
                    hinted.add("." if comma is None else ",")
        if len(hinted) == 1:
            told[hinted.pop()] = "another column"
    decimal = next(iter(told), ".")
    values: list[float | None] = []
    for (text, where, _), reading in zip(cells, readings, strict=True):
        if reading is None:
            values.append(None)
            continue
        dot, comma = reading
        if dot is not None and comma is not None and dot != comma and not told:
            problems.append(f"{where} {quote(text.strip())} could be {dot:g} or {comma:g}: no cell of the file tells "
                            "the decimal mark (as 12.5, 1,234.5 or 12,5 would)")
        values.append(dot if decimal == "." else comma)
    if problems:
        raise ValueError(listed(problems))
    return values, decimal


def _file_name(text: str) -> str:
    """The last path component of a file cell (``D:\\BDExport\\A1.fcs`` -> ``A1.fcs``)."""
    return re.split(r"[\\/]", text.strip())[-1].strip()


def read_manual(path: str | Path, columns: Mapping[str, str] | None = None, gate: str | None = None,
                mfi_top: float | None = None) -> ManualTable:
    """Read the manual results file at ``path`` (CSV or, named ``.tsv``/``.tab``, TSV; separators
    ``,``, ``;`` or tab found from the text): columns ``file``, ``monocytes`` and ``hladr_mfi``
    or ``hladr_abc`` (names compared by :func:`loose_key`: case, spaces, hyphens and
    underscores aside), or the lab's names for them in ``columns``. A row without a file, a
    number no rule reads, two rows for one file (named with both rows) and a column twice are
    refused: AssayKitError naming the file and every problem.

    Parameters
    ----------
    path : str or Path
        The file.
    columns : mapping or None
        The lab's column name per key (:func:`parse_columns`); keys not given keep their own names.
    gate : str or None
        Keep only the rows whose :data:`GATE` column (``columns["gate"]``, else a column named
        ``gate``) names this gate (compared as column names are); None: every row.
    mfi_top : float or None
        The top of the scale the MFI are on (``--mfi-range``): a reading above it does not fit
        (:func:`read_numbers`).
    """
    from .._io.read import TABLE_LIMIT, read_input
    from .._io.validate import listed, quote
    from .platemap import TableDecodeError, cell_text, column_key, column_problems, csv_table, decode_table

    file_path = Path(path)
    data = read_input(file_path, AssayKitError, "manual results file", TABLE_LIMIT)
    if data.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise AssayKitError("an Excel workbook, which --manual does not read: save the sheet as CSV", file_path)
    try:
        text, encoding = decode_table(data)
    except TableDecodeError as error:
        raise AssayKitError(str(error), file_path) from None
    if not text.strip():
        raise AssayKitError("the manual results file is empty", file_path)
    try:
        table = csv_table(text, "\t" if file_path.suffix.lower() in (".tsv", ".tab") else None)
    except Exception as exc:  # pandas raises many types for unreadable tables
        raise AssayKitError(f"cannot read the manual results file as CSV ({type(exc).__name__})", file_path) from None
    header = [cell_text(c) for c in table.columns]
    duplicated = column_problems(header, excel=False)
    if duplicated:
        raise AssayKitError(listed(duplicated), file_path)
    index = {column_key(c): i for i, c in enumerate(header) if c}
    wanted = {key: (columns or {}).get(key, key) for key in KEYS}
    if gate is not None:
        wanted[GATE] = (columns or {}).get(GATE, GATE)
    elif GATE in (columns or {}):
        raise AssayKitError("--columns names a gate column: give the gate whose rows to read with --gate", file_path)
    for key in set(wanted) - set(columns or {}):  # a key's own name, however spaced, hyphenated or cased
        spelled = [c for c in header if c and loose_key(c) == loose_key(key)]
        if len(spelled) > 1:
            raise AssayKitError(f"columns {' and '.join(map(quote, spelled))} both name {key}: name the one to read "
                                f"with --columns {key}=COLUMN", file_path)
        wanted[key] = spelled[0] if spelled else key
    found: dict[str, str] = {}
    missing = []
    mapped = set(columns or {})
    for key, name in wanted.items():
        needed = _TEMPLATE.findall(name) if key == "file" and _TEMPLATE.search(name) else [name]
        absent = [n for n in needed if column_key(n) not in index]
        if not absent:
            found[key] = name
        elif key in mapped or key in ("file", "monocytes"):
            missing.append(" and ".join(quote(n) for n in absent) + (f" (for {key})" if name != key else ""))
    if gate is not None and GATE not in found and GATE not in mapped:
        missing.append(f"{quote(wanted[GATE])} (for --gate)")
    if not {"hladr_mfi", "hladr_abc"} & (set(found) | mapped):
        missing.append("hladr_mfi or hladr_abc")
    if missing:
        raise AssayKitError(f"missing column(s) {', '.join(missing)} (columns: {', '.join(map(quote, header))}; "
                            "name the lab's with --columns)", file_path)
    records = [[cell_text(v) for v in values] for values in table.astype(str).to_numpy().tolist()]
    problems: list[str] = []
    kept: list[tuple[int, str, list[str]]] = []
    for i, values in enumerate(records):
        number = i + 2
        if not any(values) or (gate is not None and column_key(values[index[column_key(found[GATE])]])
                                != column_key(gate)):
            continue

        def cell(name: str, values: list[str] = values) -> str:
            return values[index[column_key(name)]]

        spec = found["file"]
        name = (_TEMPLATE.sub(lambda m: cell(m.group(1)), spec) if _TEMPLATE.search(spec) else cell(spec))
        name = _file_name(name)
        if not name:
            problems.append(f"row {number}: no file")
            continue
        kept.append((number, name, [cell(found[k]) if k in found else "" for k in KEYS[1:]]))
    cells = [(v, f"row {n} {k}", k == "monocytes") for n, _, vs in kept for k, v in zip(KEYS[1:], vs, strict=True)]
    try:
        used = {index[column_key(n)] for k, spec in found.items()
                for n in (_TEMPLATE.findall(spec) if k == "file" and _TEMPLATE.search(spec) else [spec])}
        numbers, decimal = read_numbers(cells, [v for values in records for i, v in enumerate(values) if i not in used],
                                        [mfi_top if where.endswith("hladr_mfi") else None for _, where, _ in cells])
    except ValueError as error:
        problems.append(str(error))
        numbers, decimal = [None] * len(cells), "."
    rows = []
    for j, (number, name, _) in enumerate(kept):
        count, mfi, abc = numbers[3 * j:3 * j + 3]
        rows.append(ManualRow(row=number, file=name, monocytes=count, hladr_mfi=mfi, hladr_abc=abc))
    seen: dict[str, int] = {}
    for row in rows:
        key = _match_key(row.file)
        if key in seen:
            problems.append(f"rows {seen[key]} and {row.row} both give file {quote(row.file)}; keep one row")
        seen.setdefault(key, row.row)
    gates = [c for c in header if c and loose_key(c) == GATE]
    if len(seen) < len(rows) and gate is None and gates:
        problems.append(f"the file has a {quote(gates[0])} column: read one gate's rows with --gate NAME")
    if not rows and not problems:
        named = sorted({v[index[column_key(found[GATE])]] for v in records} - {""}) if gate is not None else []
        problems.append("no rows" if gate is None else f"no row of the gate {quote(gate)} (gates: "
                        f"{', '.join(map(quote, named[:8]))}{' ...' if len(named) > 8 else ''})")
    if problems:
        raise AssayKitError(listed(problems), file_path)
    return ManualTable(path=file_path, rows=tuple(rows), columns={k: found.get(k, "") for k in KEYS},
                       decimal=decimal, encoding=encoding)


_EXTENSIONS = (".fcs", ".lmd")


def _match_key(name: str) -> str:
    """The name a file is matched by: its name without an FCS extension (``A1.fcs``, ``A1.FCS``
    and ``A1`` name one file)."""
    stem, dot, suffix = name.rpartition(".")
    return stem if dot and f".{suffix.lower()}" in _EXTENSIONS else name


def match_rows(table: ManualTable, files: Sequence[str]) -> tuple[dict[str, ManualRow], list[ManualRow]]:
    """The manual row of each run file (by name, with or without its ``.fcs``/``.lmd``
    extension) and the rows naming no file of the run. AssayKitError when two run files would
    take one row (``A1.fcs`` and ``A1.lmd`` named ``A1``).

    Parameters
    ----------
    table : ManualTable
        The manual results (:func:`read_manual`).
    files : sequence of str
        The run's tube file names (samples.csv ``file``).
    """
    from .._io.validate import quote

    by_key: dict[str, str] = {}
    for name in files:
        key = _match_key(name)
        if key in by_key and by_key[key] != name:
            raise AssayKitError(f"the run's files {quote(by_key[key])} and {quote(name)} are one name without their "
                                "extension; name the file with its extension", table.path)
        by_key[key] = name
    matched: dict[str, ManualRow] = {}
    unknown: list[ManualRow] = []
    for row in table.rows:
        exact = row.file if row.file in files else by_key.get(_match_key(row.file))
        if exact is None:
            unknown.append(row)
        else:
            matched[exact] = row
    return matched, unknown
