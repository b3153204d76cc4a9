"""The clinical CSV (docs/scoring.md): per patient and time point, ferritin (ImmunoSep classes)
and the times that give a tube its day and its pre-analytical delay: ``drawn_at`` (blood drawn),
``stained_at`` (staining started), ``admitted_at`` (ICU admission: day 0). A row without a time
point applies to every time point of its patient."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .._io.validate import listed
from ..errors import AssayKitError
from ..ledger import parse_timestamp

if TYPE_CHECKING:
    from .platemap import PlateMap

TIME_COLUMNS = ("drawn_at", "stained_at", "admitted_at")
TIMES_OF_DAY = ("drawn_at", "stained_at")
"""The times a delay is measured between: a date alone is refused in them (``admitted_at`` may be a
date: days since admission need dates only)."""
UNMATCHED_LISTED = 5
"""Rows matching no plate-map row that the manifest and the console name (all are counted)."""
VALUE_COLUMNS = ("ferritin_ng_ml", *TIME_COLUMNS)


DayBasis = Literal["admission", "label", "mixed"]
"""What a run's ``day`` column is, recorded in ``manifest.json`` (``clinical.days``): ``admission``:
days since ICU admission (the clinical CSV's ``drawn_at - admitted_at``); ``label``: the number in
the time-point label (``D3`` -> 3), no admission time given; ``mixed``: some of each."""
TimeBasis = Literal["utc", "local", "none"]
"""How the clinical CSV's times were read, recorded in ``manifest.json`` (``clinical.times``):
``utc``: the CSV gave UTC offsets, and the times were converted to UTC (held without an offset,
``2026-11-22 07:00:00`` meaning 07:00Z); ``local``: no offsets, the times are the lab's local time
as typed (a zone unknown to assaykit); ``none``: no time given."""


@dataclass(frozen=True)
class Clinical:
    """Ferritin (ng/mL) and times per (patient, time point); ("P01", "") for every time point.
    ``rows``: the table's row numbers (header = 1) of each (patient, time point); ``unmatched``:
    (row, patient, time point) of each row no plate-map row matches (:func:`join_plate`);
    ``time_basis``: how its times were read (:data:`TimeBasis`)."""

    ferritin: dict[tuple[str, str], float] = field(default_factory=dict)
    times: dict[tuple[str, str], dict[str, dt.datetime]] = field(default_factory=dict)
    rows: dict[tuple[str, str], tuple[int, ...]] = field(default_factory=dict)
    unmatched: tuple[tuple[int, str, str], ...] = ()
    time_basis: TimeBasis = "none"

    def time(self, patient: str, timepoint: str, what: str) -> dt.datetime | None:
        """``what`` (a :data:`TIME_COLUMNS` name) of a patient's time point, else of the patient."""
        for key in ((patient, timepoint), (patient, "")):
            found = self.times.get(key, {}).get(what)
            if found is not None:
                return found
        return None

    def day_basis(self, keys: Iterable[tuple[str, str]]) -> DayBasis:
        """What the ``day`` of the (patient, time point) ``keys`` is (:data:`DayBasis`): days since
        ICU admission where the CSV gives both ``admitted_at`` and ``drawn_at``, else the number
        in the time-point label (history.tube_days, the one rule).

        Parameters
        ----------
        keys : iterable of (str, str)
            The blood tubes' (patient, time point).
        """
        found = {"admission" if self.time(*key, "admitted_at") is not None and self.time(*key, "drawn_at") is not None
                 else "label" for key in keys}
        return "mixed" if len(found) > 1 else "admission" if found == {"admission"} else "label"

    def manifest_entry(self, most: int = UNMATCHED_LISTED) -> dict[str, object]:
        """The manifest's ``clinical.unmatched``: how many rows no plate-map row matches and the
        first ``most`` of them (row, patient, time point)."""
        return {"rows": len(self.unmatched),
                "first": [{"row": row, "patient": patient, "timepoint": timepoint}
                          for row, patient, timepoint in self.unmatched[:most]]}


EARLIEST = dt.datetime(1900, 1, 1)
"""Clinical times before this are refused (a typing error: no patient of this assay was admitted then)."""
ADMISSION_BEFORE_DRAW = (dt.timedelta(days=-7), dt.timedelta(days=730))
"""``drawn_at - admitted_at`` accepted: blood drawn up to 7 days before the ICU admission (at the
emergency department) and up to two years after it; outside, the row is refused."""
STAIN_AFTER_DRAW = (dt.timedelta(days=-1), dt.timedelta(days=30))
"""``stained_at - drawn_at`` accepted (a delay within it is judged by the pre-analytical rules,
docs/ledger.md); outside, the row is refused."""


def read_clinical_table(path: Path, now: dt.datetime | None = None) -> Clinical:
    """The clinical table at ``path`` (CSV/TSV or XLSX, read as a plate map is:
    :func:`~assaykit.scoring.platemap.read_table`): ``patient``, optional ``timepoint``, and any of
    ``ferritin_ng_ml``, ``drawn_at``, ``stained_at``, ``admitted_at`` (ISO dates-times). An empty
    cell is no value; anything else unreadable is an AssayKitError naming the rows, and so is an
    ambiguity: two rows for one patient and time point that give one column different values
    (equal values are one value), two spellings of one patient or time point differing only in
    case or spacing, a column twice, a row with values but no patient, a time before 1900 or
    after ``now`` (default: the clock) by more than a day, times with a UTC offset beside times
    without one (a local time would be taken for UTC), a date without a time of day in
    ``drawn_at`` or ``stained_at`` (the delay between them would read 0 h), and admission, draw
    and staining times too far apart to be one stay (:data:`ADMISSION_BEFORE_DRAW`, :data:`STAIN_AFTER_DRAW`).

    Parameters
    ----------
    path : Path
        The clinical table.
    now : datetime or None
        The latest plausible time (local, naive), for tests; default the clock's.
    """
    from .._io.validate import quote
    from .platemap import cell_text, column_key, column_problems, read_table

    def fits(columns: Any) -> bool:
        keys = {column_key(str(c)) for c in columns}
        return "patient" in keys and bool(keys & set(VALUE_COLUMNS))

    table, _, _ = read_table(Path(path), None, AssayKitError, "clinical table", fits)
    names = [str(c).strip() for c in table.columns]
    workbook = Path(path).suffix.lower() in (".xlsx", ".xlsm")
    duplicated = column_problems(names, excel=workbook)
    if duplicated:
        raise AssayKitError(listed(duplicated), path)
    dated = False
    columns = [column_key(c) for c in names]
    if "patient" not in columns or not any(c in columns for c in VALUE_COLUMNS):
        missing = ["patient"] if "patient" not in columns else []
        missing += [] if any(c in columns for c in VALUE_COLUMNS) else ["ferritin_ng_ml (or drawn_at, "
                                                                         "stained_at, admitted_at)"]
        raise AssayKitError(f"missing column(s) {', '.join(missing)}", path)
    latest = (now or dt.datetime.now()) + dt.timedelta(days=1)
    clinical = Clinical()
    problems: list[str] = []
    given: dict[tuple[tuple[str, str], str], tuple[object, int, str]] = {}  # (key, column) -> value, row, cell
    spellings: dict[tuple[str, str], tuple[str, int]] = {}
    zoned: dict[bool, tuple[int, str, str]] = {}  # with a UTC offset or not -> the first such time
    for i, values in enumerate(table.astype(str).to_numpy().tolist()):
        number = i + 2
        record = {c: cell_text(v) for c, v in zip(columns, values, strict=True) if c}
        if not any(record.values()):
            continue
        key = (record.get("patient", ""), record.get("timepoint", ""))
        if not key[0]:
            problems.append(f"row {number}: values but no patient; fill in the patient or delete the row")
            continue
        clinical.rows[key] = (*clinical.rows.get(key, ()), number)
        for column, spelled in zip(("patient", "timepoint"), key, strict=True):
            first, where = spellings.setdefault((column, column_key(spelled)), (spelled, number))
            if first != spelled:
                problems.append(f"rows {where} and {number}: {column} {quote(first)} and {quote(spelled)} differ only "
                                "in case or spacing; write one spelling")
        cell = record.get("ferritin_ng_ml", "")
        if cell:
            try:
                value = float(cell)
            except ValueError:
                value = float("nan")
            if math.isfinite(value) and value >= 0:
                _give(given, problems, key, "ferritin_ng_ml", value, number, cell)
            else:
                problems.append(f"row {number}: ferritin_ng_ml {quote(cell)} is not a finite number of at least 0; "
                                "leave the cell empty when there is no value")
        for column in TIME_COLUMNS:
            text = record.get(column, "")
            try:
                stamp = parse_timestamp(text, column, f"row {number}")
            except AssayKitError as error:
                problems.append(error.message)
                continue
            if stamp is None:
                continue
            if not EARLIEST <= stamp <= latest:
                problems.append(f"row {number}: {column} {quote(text)} is not a plausible time (from "
                                f"{EARLIEST:%Y-%m-%d} to today)")
                continue
            if _date_only(text) or (workbook and column in TIMES_OF_DAY and text.endswith(" 00:00:00")):
                if column in TIMES_OF_DAY:  # a workbook's date cell reads as midnight: told apart from none
                    problems.append(f"row {number}: {column} {quote(text)} has no time of day")
                    dated = True
                    continue
            else:
                zoned.setdefault(dt.datetime.fromisoformat(text).tzinfo is not None, (number, column, text))
            _give(given, problems, key, column, stamp, number, text)
    if dated:
        problems.append("the delay from draw to staining needs the time of day of both (2026-11-17 06:30; a "
                        "workbook's 00:00 reads as a date alone: type 00:01)")
    if len(zoned) == 2:
        (with_row, with_column, with_text), (local_row, local_column, local_text) = zoned[True], zoned[False]
        problems.append(f"row {with_row}: {with_column} {quote(with_text)} has a UTC offset and row {local_row}: "
                        f"{local_column} {quote(local_text)} has none; give every time an offset or none")
    basis: TimeBasis = "utc" if True in zoned else "local" if False in zoned else "none"
    clinical = replace(clinical, time_basis=basis)
    for (key, column), (kept, _, _) in given.items():
        if isinstance(kept, dt.datetime):
            clinical.times.setdefault(key, {})[column] = kept
        elif isinstance(kept, float):
            clinical.ferritin[key] = kept
    if not problems:
        problems = _implausible_spans(clinical, given)
    if problems:
        raise AssayKitError(listed(problems), path)
    return clinical


def _date_only(text: str) -> bool:
    """Whether ``text`` is an ISO date without a time of day (``2026-11-17``)."""
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def join_plate(clinical: Clinical, plate: PlateMap, path: Path) -> Clinical:
    """``clinical`` (read from ``path``) joined to the run's plate map: AssayKitError naming both
    files' rows when a clinical patient, or a time point of a patient on the plate, differs from
    the plate map's only in case, spacing or character width (:func:`~assaykit.scoring.platemap.column_key`:
    the rule within one file); else ``clinical`` with :attr:`Clinical.unmatched`: the rows that
    match no plate-map patient and time point (a table kept for a whole study holds other
    patients: counted and named, not an error). A row without a time point matches every time
    point of its patient. IDs are otherwise compared exactly, as the ledger keys them.

    Parameters
    ----------
    clinical : Clinical
        The clinical table's values (:func:`read_clinical_table`).
    plate : PlateMap
        The run's plate map.
    path : Path
        The clinical table, for the error.
    """
    from .._io.validate import quote
    from .platemap import column_key

    keys: set[tuple[str, str]] = set()
    spelled: dict[tuple[str, str], tuple[str, int]] = {}  # (column, identity) -> the plate map's spelling, row
    for r in plate.rows:
        if r.patient:
            keys.add((r.patient, r.timepoint))
            spelled.setdefault(("patient", column_key(r.patient)), (r.patient, r.row))
            spelled.setdefault(("timepoint", column_key(r.timepoint)), (r.timepoint, r.row))
    patients = {p for p, _ in keys}
    problems: list[str] = []
    unmatched: list[tuple[int, str, str]] = []
    for (patient, timepoint), rows in sorted(clinical.rows.items(), key=lambda item: item[1]):
        checked = [("patient", patient)] + ([("timepoint", timepoint)] if timepoint and patient in patients else [])
        refused = False
        for column, value in checked:
            theirs, row = spelled.get((column, column_key(value)), (value, 0))
            if theirs != value:
                refused = True
                problems.append(f"row {rows[0]}: {column} {quote(value)} and {plate.path.name} row {row}: "
                                f"{quote(theirs)} differ only in case or spacing; write one spelling")
        if not refused and not (patient in patients if not timepoint else (patient, timepoint) in keys):
            unmatched.extend((row, patient, timepoint) for row in rows)
    if problems:
        raise AssayKitError(listed(problems), path)
    return replace(clinical, unmatched=tuple(sorted(unmatched)))


def unmatched_line(entry: Mapping[str, Any], path: str) -> str:
    """The console line about a manifest's ``clinical.unmatched`` ``entry`` ("" when every row of
    the clinical table at ``path`` matched).

    Parameters
    ----------
    entry : mapping
        The manifest's ``clinical.unmatched``.
    path : str
        The clinical table, as the manifest names it.
    """
    from .._io.validate import quote

    count = int(entry.get("rows", 0))
    if not count:
        return ""
    first = "; ".join(f"row {r['row']}: {quote(r['patient'])}" + (f" at {quote(r['timepoint'])}" if r["timepoint"]
                                                                  else "") for r in entry.get("first", []))
    more = f" and {count - len(entry.get('first', []))} more" if count > len(entry.get("first", [])) else ""
    return (f"clinical: {count} row{'s' if count > 1 else ''} of {path} match{'' if count > 1 else 'es'} no patient "
            f"and time point of the plate map, not used ({first}{more}); manifest.json: clinical.unmatched")


def _give(given: dict[tuple[tuple[str, str], str], tuple[object, int, str]], problems: list[str],
          key: tuple[str, str], column: str, value: object, number: int, cell: str) -> None:
    """Keep ``value`` for ``key`` and ``column``; a second row giving another value is a problem
    naming both rows (never the last row winning)."""
    from .._io.validate import quote

    earlier = given.setdefault((key, column), (value, number, cell))
    if earlier[0] != value:
        where = f"patient {quote(key[0])}" + (f" at {quote(key[1])}" if key[1] else " (every time point)")
        problems.append(f"rows {earlier[1]} and {number}: {where} has {column} {quote(earlier[2])} and {quote(cell)}; "
                        "keep one row")


def _implausible_spans(clinical: Clinical, given: dict[tuple[tuple[str, str], str], tuple[object, int, str]]
                       ) -> list[str]:
    """Draws too long before or after the admission, staining too long before or after the draw,
    naming the rows the times come from."""
    def row_of(key: tuple[str, str], column: str) -> int:
        for candidate in (key, (key[0], "")):
            if (candidate, column) in given:
                return given[(candidate, column)][1]
        return 0

    problems = []
    keys = sorted({key for key, column in given if column == "drawn_at"})
    for key in keys:
        drawn = clinical.time(*key, "drawn_at")
        for column, (low, high), earlier in (("admitted_at", ADMISSION_BEFORE_DRAW, True),
                                             ("stained_at", STAIN_AFTER_DRAW, False)):
            other = clinical.time(*key, column)
            if drawn is None or other is None:
                continue
            span = drawn - other if earlier else other - drawn
            if not low <= span <= high:
                rows = sorted({row_of(key, "drawn_at"), row_of(key, column)})
                what = "drawn_at - admitted_at" if earlier else "stained_at - drawn_at"
                problems.append(f"row{'s' if len(rows) > 1 else ''} {' and '.join(map(str, rows))}: {what} is "
                                f"{span.total_seconds() / 86400:.1f} days (accepted {low.days} to {high.days}); "
                                "check the dates")
    return problems


def load_clinical(path: Path | None, plate: PlateMap) -> Clinical:
    """The run's clinical table at ``path`` (none: no values) read (:func:`read_clinical_table`)
    and joined to its plate map (:func:`join_plate`), before any tube is measured.

    Parameters
    ----------
    path : Path or None
        The clinical table (run.yaml ``clinical:`` or ``--clinical``).
    plate : PlateMap
        The run's plate map.
    """
    return join_plate(read_clinical_table(path), plate, path) if path is not None else Clinical()


def read_clinical(path: Path) -> dict[tuple[str, str], float]:
    """Ferritin (ng/mL) per (patient, time point) of the clinical CSV at ``path``
    (:func:`read_clinical_table`)."""
    return read_clinical_table(path).ferritin
