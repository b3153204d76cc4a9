"""The clinical CSV (docs/scoring.md): per patient and time point, ferritin (ImmunoSep classes)
and the times that give a tube its day and its pre-analytical delay: ``drawn_at`` (blood drawn),
``stained_at`` (staining started), ``admitted_at`` (ICU admission: day 0). A row without a time
point applies to every time point of its patient."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path

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


def read_clinical_table(path: Path) -> Clinical:
    """The clinical CSV at ``path``: ``patient``, optional ``timepoint``, and any of
    ``ferritin_ng_ml``, ``drawn_at``, ``stained_at``, ``admitted_at`` (ISO dates-times). An empty
    cell is no value; anything else unreadable is an AssayKitError naming the rows."""
    import io

    import pandas as pd

    from .._io.read import TABLE_LIMIT, read_input
    from .._io.validate import quote
    from .platemap import decode_table

    text, _ = decode_table(read_input(path, AssayKitError, "clinical file", TABLE_LIMIT))
    if not text.strip():
        raise AssayKitError("the clinical file is empty", path)
    try:
        table = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except Exception as exc:
        raise AssayKitError(f"cannot read the clinical CSV ({type(exc).__name__})", path) from None
    table.columns = [str(c).strip().lower() for c in table.columns]
    if "patient" not in table.columns or not any(c in table.columns for c in VALUE_COLUMNS):
        missing = ["patient"] if "patient" not in table.columns else []
        missing += [] if any(c in table.columns for c in VALUE_COLUMNS) else ["ferritin_ng_ml (or drawn_at, "
                                                                               "stained_at, admitted_at)"]
        raise AssayKitError(f"missing column(s) {', '.join(missing)}", path)
    clinical = Clinical()
    problems = []
    for i, record in enumerate(table.to_dict("records")):
        key = (str(record["patient"]).strip(), str(record.get("timepoint", "")).strip())
        cell = str(record.get("ferritin_ng_ml", "")).strip()
        if cell:
            try:
                value = float(cell)
            except ValueError:
                value = float("nan")
            if math.isfinite(value) and value >= 0:
                clinical.ferritin[key] = value
            else:
                problems.append(f"row {i + 2}: ferritin_ng_ml {quote(cell)} is not a finite number of at least 0")
        for column in TIME_COLUMNS:
            try:
                stamp = parse_timestamp(str(record.get(column, "")), column, f"row {i + 2}")
            except AssayKitError as error:
                problems.append(error.message)
                continue
            if stamp is not None:
                clinical.times.setdefault(key, {})[column] = stamp
    if problems:
        raise AssayKitError("; ".join(problems[:5]) + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""),
                        path)
    return clinical


def read_clinical(path: Path) -> dict[tuple[str, str], float]:
    """Ferritin (ng/mL) per (patient, time point) of the clinical CSV at ``path``
    (:func:`read_clinical_table`)."""
    return read_clinical_table(path).ferritin
