"""The clinical CSV (docs/scoring.md): per patient and time point, ferritin (ImmunoSep classes)
and the times that give a tube its day and its pre-analytical delay: ``drawn_at`` (blood drawn),
``stained_at`` (staining started), ``admitted_at`` (ICU admission: day 0). A row without a time
point applies to every time point of its patient."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path

from .._io.validate import listed
from ..errors import AssayKitError
from ..ledger import parse_timestamp

TIME_COLUMNS = ("drawn_at", "stained_at", "admitted_at")
VALUE_COLUMNS = ("ferritin_ng_ml", *TIME_COLUMNS)


@dataclass(frozen=True)
class Clinical:
    """Ferritin (ng/mL) and times per (patient, time point); ("P01", "") for every time point."""

    ferritin: dict[tuple[str, str], float] = field(default_factory=dict)
    times: dict[tuple[str, str], dict[str, dt.datetime]] = field(default_factory=dict)

    def time(self, patient: str, timepoint: str, what: str) -> dt.datetime | None:
        """``what`` (a :data:`TIME_COLUMNS` name) of a patient's time point, else of the patient."""
        for key in ((patient, timepoint), (patient, "")):
            found = self.times.get(key, {}).get(what)
            if found is not None:
                return found
        return None


EARLIEST = dt.datetime(1900, 1, 1)
"""Clinical times before this are refused (a typing error: no patient of this assay was admitted then)."""
ADMISSION_BEFORE_DRAW = (dt.timedelta(days=-7), dt.timedelta(days=730))
"""``drawn_at - admitted_at`` accepted: blood drawn up to 7 days before the ICU admission (at the
emergency department) and up to two years after it; outside, the row is refused."""
STAIN_AFTER_DRAW = (dt.timedelta(days=-1), dt.timedelta(days=30))
"""``stained_at - drawn_at`` accepted (a delay within it is judged by the pre-analytical rules,
docs/ledger.md); outside, the row is refused."""


def read_clinical_table(path: Path, now: dt.datetime | None = None) -> Clinical:
    """The clinical CSV at ``path``: ``patient``, optional ``timepoint``, and any of
    ``ferritin_ng_ml``, ``drawn_at``, ``stained_at``, ``admitted_at`` (ISO dates-times). An empty
    cell is no value; anything else unreadable is an AssayKitError naming the rows, and so is an
    ambiguity: two rows for one patient and time point that give one column different values
    (equal values are one value), two spellings of one patient or time point differing only in
    case or spacing, a column twice, a time before 1900 or after ``now`` (default: the clock) by
    more than a day, and admission, draw and staining times too far apart to be one stay
    (:data:`ADMISSION_BEFORE_DRAW`, :data:`STAIN_AFTER_DRAW`).

    Parameters
    ----------
    path : Path
        The clinical CSV.
    now : datetime or None
        The latest plausible time (local, naive), for tests; default the clock's.
    """
    from .._io.read import TABLE_LIMIT, read_input
    from .._io.validate import quote
    from .platemap import TableDecodeError, cell_text, column_key, column_problems, csv_table, decode_table

    try:
        text, _ = decode_table(read_input(path, AssayKitError, "clinical file", TABLE_LIMIT))
    except TableDecodeError as error:
        raise AssayKitError(str(error), path) from None
    if not text.strip():
        raise AssayKitError("the clinical file is empty", path)
    try:
        table = csv_table(text, None)
    except Exception as exc:
        raise AssayKitError(f"cannot read the clinical CSV ({type(exc).__name__})", path) from None
    names = [str(c).strip() for c in table.columns]
    duplicated = column_problems(names, excel=False)
    if duplicated:
        raise AssayKitError("; ".join(duplicated), path)
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
    for i, values in enumerate(table.astype(str).to_numpy().tolist()):
        number = i + 2
        record = {c: cell_text(v) for c, v in zip(columns, values, strict=True) if c}
        if not any(record.values()):
            continue
        key = (record.get("patient", ""), record.get("timepoint", ""))
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
                problems.append(f"row {number}: ferritin_ng_ml {quote(cell)} is not a finite number of at least 0")
        for column in TIME_COLUMNS:
            try:
                stamp = parse_timestamp(record.get(column, ""), column, f"row {number}")
            except AssayKitError as error:
                problems.append(error.message)
                continue
            if stamp is None:
                continue
            if not EARLIEST <= stamp <= latest:
                problems.append(f"row {number}: {column} {quote(record[column])} is not a plausible time (from "
                                f"{EARLIEST:%Y-%m-%d} to today)")
                continue
            _give(given, problems, key, column, stamp, number, record[column])
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


def read_clinical(path: Path) -> dict[tuple[str, str], float]:
    """Ferritin (ng/mL) per (patient, time point) of the clinical CSV at ``path``
    (:func:`read_clinical_table`)."""
    return read_clinical_table(path).ferritin
