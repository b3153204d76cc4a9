"""Time points as days: the plate map's labels (``D1``, ``day 3``, ``J7``, ``H48``) or the clinical
CSV's ``drawn_at`` and ``admitted_at``. A day is the time since admission in days: ``D3`` is day 3,
``H36`` (36 hours) day 1.5; from timestamps, ``(drawn_at - admitted_at) / 24 h``."""

from __future__ import annotations

import datetime as dt
import math
import re

from ..errors import AssayKitError

_LABEL = re.compile(r"(?P<unit>d|day|days|j|jour|h|hour|hours)\s*[-_ ]?\s*(?P<n>\d+(?:[.,]\d+)?)", re.IGNORECASE)
_HOURS = {"h", "hour", "hours"}
MAX_DAY = 3650.0  # ten years: anything later is a typing error, not a time point


def day_of_label(label: str) -> float | None:
    """The day a time-point label names: ``D1``/``Day 3``/``day-3``/``J7`` (French *jour*) -> that
    day; ``H48``/``48h`` -> hours / 24. None when the label names no day (empty, ``baseline``).

    Parameters
    ----------
    label : str
        The plate map's ``timepoint`` text.
    """
    text = label.strip()
    if not text:
        return None
    match = _LABEL.fullmatch(text)
    hours_after = re.fullmatch(r"(?P<n>\d+(?:[.,]\d+)?)\s*(?:h|hours?)", text, re.IGNORECASE)
    if match:
        unit, number = match.group("unit").lower(), match.group("n")
    elif hours_after:
        unit, number = "h", hours_after.group("n")
    else:
        return None
    value = float(number.replace(",", "."))
    day = value / 24.0 if unit in _HOURS else value
    return day if 0 <= day <= MAX_DAY else None


def parse_timestamp(text: str, what: str, where: str) -> dt.datetime | None:
    """An ISO 8601 date or date-time (``2026-11-23``, ``2026-11-23 08:30``, ``2026-11-23T08:30:00``);
    None for an empty cell; AssayKitError naming ``what`` (the column) and ``where`` (file and
    row) otherwise. A time zone, when given, is honoured; times without one are local lab time.

    Parameters
    ----------
    text : str
        The cell's text.
    what : str
        The column name, for the error.
    where : str
        The file and row, for the error.
    """
    value = text.strip()
    if not value:
        return None
    try:
        stamp = dt.datetime.fromisoformat(value)
    except ValueError:
        raise AssayKitError(f"{where}: {what} {value!r} is not an ISO date-time (2026-11-23 08:30)") from None
    try:
        return stamp.replace(tzinfo=None) if stamp.tzinfo is None else stamp.astimezone(dt.UTC).replace(tzinfo=None)
    except OverflowError:  # 9999-12-31T23:00-05:00 is after the last time Python holds
        raise AssayKitError(f"{where}: {what} {value[:40]!r} is not a plausible date-time") from None


def hours_between(start: dt.datetime | None, end: dt.datetime | None) -> float | None:
    """``end - start`` in hours, None when either is missing.

    Parameters
    ----------
    start, end : datetime or None
        Naive timestamps on one clock (see :func:`parse_timestamp`).
    """
    if start is None or end is None:
        return None
    hours = (end - start).total_seconds() / 3600.0
    return hours if math.isfinite(hours) else None
