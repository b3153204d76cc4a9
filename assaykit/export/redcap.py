"""REDCap: a data dictionary (REDCap's 18 columns, in its order) and a records CSV to import
(docs/exports.md). One record per patient (``record_id``: the patient ID as the plate map gives
it) on a non-repeating form ``mhladr_patient``; one instance of the repeating form ``mhladr``
per time point (``redcap_repeat_instrument`` / ``redcap_repeat_instance``: the project must
enable repeating instruments for that form). The instance is numbered from the time point's day
(:func:`instance`), so that the exports of successive runs of one patient never overwrite each
other's instances."""

from __future__ import annotations

import csv
import io
import re

from ..errors import AssayKitError
from ..ledger import day_of_label
from .codes import TEST, UNIT, check_cell, indicator, number_text
from .values import ExportValue, Selection, order_values

DICTIONARY_COLUMNS = ("Variable / Field Name", "Form Name", "Section Header", "Field Type", "Field Label",
                      "Choices, Calculations, OR Slider Labels", "Field Note",
                      "Text Validation Type OR Show Slider Number", "Text Validation Min", "Text Validation Max",
                      "Identifier?", "Branching Logic (Show field only if...)", "Required Field?",
                      "Custom Alignment", "Question Number (surveys only)", "Matrix Group Name", "Matrix Ranking?",
                      "Field Annotation")
"""The header of a REDCap data dictionary, its 18 columns in REDCap's order."""
PATIENT_FORM = "mhladr_patient"
FORM = "mhladr"
"""The forms: the record's (non-repeating, first: it holds record_id) and the repeating one."""
MAX_FIELD_NAME = 100
"""REDCap's longest variable name (26 recommended)."""


def field_key(condition: str) -> str:
    """A REDCap variable-name part for a drug ``condition`` (lower-case letters, digits and
    underscores: ``IFN-gamma`` -> ``ifn_gamma``).

    Parameters
    ----------
    condition : str
        The plate map's condition.
    """
    key = re.sub(r"[^a-z0-9]+", "_", condition.lower()).strip("_")
    return key or "condition"


def keyword_field(name: str) -> str:
    """The REDCap variable of the FCS keyword ``name`` (``--include-keywords``): ``mhladr_kw_``
    and :func:`field_key` of it (``$CYT`` -> ``mhladr_kw_cyt``).

    Parameters
    ----------
    name : str
        The FCS keyword.
    """
    return f"mhladr_kw_{field_key(name)}"


def check_keyword_fields(names: tuple[str, ...] | list[str]) -> None:
    """AssayKitError (one line naming both keywords) when two keywords asked for make one REDCap
    variable (:func:`keyword_field`: ``$CYT`` and ``CYT``, or one keyword named twice): one
    column would silently hold one of them.

    Parameters
    ----------
    names : sequence of str
        The keywords (``--include-keywords``), in the order given.
    """
    seen: dict[str, str] = {}
    for name in names:
        field = keyword_field(name)
        if field in seen:
            same = "named twice" if seen[field] == name else f"and {name[:40]!r} make one REDCap field {field}"
            raise AssayKitError(f"--include-keywords {seen[field][:40]!r} {same}: name each keyword once")
        seen[field] = name


DAY_LABELS = {"admission": "Days since ICU admission",
              "label": "Day of the time point (the number in its label: D3 is 3)",
              "mixed": "Day: since ICU admission where the clinical CSV gives it, else the time point label's number",
              "unknown": "Day (since ICU admission, or the time point label's number)"}
"""The label of ``mhladr_day``, by what the run's day is (Selection.day_basis)."""
DRAWN_LABELS = {"utc": "Blood drawn at (UTC)", "local": "Blood drawn at (local time of the lab)",
                "none": "Blood drawn at (local time of the lab)",
                "unknown": "Blood drawn at (as the clinical CSV gave it)"}
"""The label of ``mhladr_drawn_at``, by how the clinical times were read (Selection.time_basis):
REDCap's datetime holds no zone, so the label says it."""


def instance(timepoint: str) -> int | None:
    """The repeat instance of a time point: its day (:func:`assaykit.ledger.day_of_label`,
    ``D3`` -> 3, ``H48`` -> 2) plus one (``D0``, the admission day, is instance 1), so that
    one time point has the same instance in every run's export; None when the label names no
    whole day (``baseline``, ``H12``).

    Parameters
    ----------
    timepoint : str
        The plate map's time point.
    """
    day = day_of_label(timepoint)
    return int(day) + 1 if day is not None and day == int(day) else None


def _fields(selection: Selection) -> list[tuple[str, str, str, str, str]]:
    """(name, label, validation, note, choices) of each field of the repeating form."""
    fields = [("mhladr_timepoint", "Time point (visit)", "", "As in the plate map", ""),
              ("mhladr_day", DAY_LABELS.get(selection.day_basis, DAY_LABELS["unknown"]), "number", "days", ""),
              ("mhladr_drawn_at", DRAWN_LABELS.get(selection.time_basis, DRAWN_LABELS["unknown"]), "datetime_ymd",
               "From the clinical CSV", ""),
              ("mhladr_abc", TEST["abc"] + " (unstimulated)", "number", UNIT["abc"], ""),
              ("mhladr_nrind", "Reference range indicator", "", "", "LOW, LOW | NORMAL, NORMAL"),
              ("mhladr_warnings", "Warning codes of the value", "", "Finding codes; empty when none", "")]
    if selection.replicates:
        fields += [("mhladr_n_replicates", "Replicate tubes averaged", "integer", "", ""),
                   ("mhladr_replicate_cv", "Replicate CV", "number", "%", "")]
    check_keyword_fields(selection.keywords)
    for name in selection.keywords:
        fields.append((keyword_field(name), f"FCS keyword {name} (unstimulated tube)", "", "", ""))
    keys: dict[str, str] = {}
    for drug in selection.drugs:
        key = field_key(drug)
        other = next((name for name, made in keys.items() if made == key), None)
        if other is not None:
            raise AssayKitError(f"the conditions {other!r} and {drug!r} both make the REDCap field name "
                                f"mhladr_{key}_abc: rename one of them in the plate map (or export to SDTM or FHIR)")
        keys[drug] = key
        fields += [(f"mhladr_{key}_abc", f"{TEST['abc']} ({drug})", "number", UNIT["abc"], ""),
                   (f"mhladr_{key}_fold", f"Fold change {drug} vs unstimulated", "number", "ratio", ""),
                   (f"mhladr_{key}_warnings", f"Warning codes ({drug})", "", "", "")]
        if selection.replicates:
            fields += [(f"mhladr_{key}_n_replicates", f"Replicate tubes averaged ({drug})", "integer", "", ""),
                       (f"mhladr_{key}_replicate_cv", f"Replicate CV ({drug})", "number", "%", "")]
    for name, *_ in fields:
        if len(name) > MAX_FIELD_NAME:
            raise AssayKitError(f"the REDCap field name {name[:40]!r}... is longer than {MAX_FIELD_NAME} characters: "
                                "shorten the condition's name in the plate map")
    return fields


def dictionary(selection: Selection) -> bytes:
    """The data dictionary CSV (:data:`DICTIONARY_COLUMNS`): record_id first (its own form), then
    the repeating form's fields; numbers validated as ``number``.

    Parameters
    ----------
    selection : Selection
        The values exported.
    """
    rows = [{"Variable / Field Name": "record_id", "Form Name": PATIENT_FORM, "Field Type": "text",
             "Field Label": "Patient ID (pseudonymised, as in the plate map)", "Identifier?": ""}]
    for name, label, validation, note, choices in _fields(selection):
        rows.append({"Variable / Field Name": name, "Form Name": FORM,
                     "Field Type": "dropdown" if choices else "text", "Field Label": label,
                     "Choices, Calculations, OR Slider Labels": choices, "Field Note": note,
                     "Text Validation Type OR Show Slider Number": validation})
    return _csv(DICTIONARY_COLUMNS, rows)


def _csv(columns: tuple[str, ...] | list[str], rows: list[dict[str, str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writeheader()
    writer.writerows([{c: row.get(c, "") for c in columns} for row in rows])
    return buffer.getvalue().encode("utf-8")


def check_patient(patient: str) -> None:
    """AssayKitError naming ``patient`` when REDCap could not take it as a record name: empty,
    or holding a line break, tab or other control character (a comma or quote is quoted in
    the CSV and kept).

    Parameters
    ----------
    patient : str
        The patient ID.
    """
    if not patient.strip() or any(not ch.isprintable() for ch in patient):
        raise AssayKitError(f"patient ID {patient[:60]!r} holds a line break or control character (or is empty): "
                            "REDCap takes no such record name; rename it in the plate map")


def records(selection: Selection) -> bytes:
    """The records CSV to import: per patient a row of the record form, then one row per time
    point of the repeating form, its instance numbered by :func:`instance` (the time point's day
    + 1); AssayKitError naming the time point when its label names no whole day, or two time
    points of a patient make one instance.

    Parameters
    ----------
    selection : Selection
        The values exported.
    """
    fields = _fields(selection)
    columns = ["record_id", "redcap_repeat_instrument", "redcap_repeat_instance", *(f[0] for f in fields)]
    by_visit: dict[str, dict[str, list[ExportValue]]] = {}
    for v in order_values(selection.values, selection):
        check_patient(v.patient)
        check_cell(v.patient, "patient ID")
        check_cell(v.timepoint, "time point")
        by_visit.setdefault(v.patient, {}).setdefault(v.timepoint, []).append(v)
    rows: list[dict[str, str]] = []
    for patient, visits in by_visit.items():
        rows.append({"record_id": patient})
        taken: dict[int, str] = {}
        for timepoint, values in visits.items():
            number = instance(timepoint)
            if number is None:
                raise AssayKitError(f"time point {timepoint[:60]!r} (patient {patient[:60]!r}) names no whole day "
                                    "(D3, Day 7, H48): REDCap's repeat instance is numbered from the day so that "
                                    "successive runs do not overwrite each other; rename it in the plate map (or "
                                    "export to SDTM or FHIR)")
            if number in taken:
                raise AssayKitError(f"time points {taken[number][:60]!r} and {timepoint[:60]!r} of patient "
                                    f"{patient[:60]!r} name the same day, so the same REDCap repeat instance "
                                    f"{number}: rename one in the plate map")
            taken[number] = timepoint
            row = {"record_id": patient, "redcap_repeat_instrument": FORM, "redcap_repeat_instance": str(number),
                   "mhladr_timepoint": timepoint}
            for v in values:
                row["mhladr_day"] = number_text(v.day) if v.day is not None else ""
                row["mhladr_drawn_at"] = v.drawn_at[:16].replace("T", " ")
                prefix = "mhladr" if v.condition == selection.control else f"mhladr_{field_key(v.condition)}"
                if v.measure == "fold_change":
                    row[f"{prefix}_fold"] = number_text(v.value)
                    continue
                row[f"{prefix}_abc"] = number_text(v.value)
                row[f"{prefix}_warnings"] = "; ".join(v.warnings)
                if v.condition == selection.control:
                    row["mhladr_nrind"] = indicator(v, selection.thresholds)
                    for k, text in v.keywords:
                        check_cell(text, f"FCS keyword {k}")
                        row[keyword_field(k)] = text
                if selection.replicates:
                    row[f"{prefix}_n_replicates"] = str(v.n_replicates) if v.n_replicates is not None else ""
                    row[f"{prefix}_replicate_cv"] = number_text(v.replicate_cv_pct) \
                        if v.replicate_cv_pct is not None else ""
            rows.append(row)
    return _csv(columns, rows)
