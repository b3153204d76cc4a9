"""CDISC SDTM LB: the laboratory test results domain as CSV and as SAS transport (XPT version 5,
what FDA takes, through pyreadstat), with the SUPPLB supplemental qualifiers (warning codes,
replicates) beside it (docs/exports.md maps every variable)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from ..errors import AssayKitError
from .codes import TEST, TESTCD, UNIT, check_cell, indicator, number_text, reference_low, test_key
from .values import Selection

LB_LABELS = {
    "STUDYID": "Study Identifier", "DOMAIN": "Domain Abbreviation", "USUBJID": "Unique Subject Identifier",
    "LBSEQ": "Sequence Number", "LBTESTCD": "Lab Test or Examination Short Name",
    "LBTEST": "Lab Test or Examination Name", "LBTSTDTL": "Lab Test Detail", "LBCAT": "Category for Lab Test",
    "LBORRES": "Result or Finding in Original Units", "LBORRESU": "Original Units",
    "LBORNRLO": "Reference Range Lower Limit in Orig Unit", "LBSTRESC": "Character Result/Finding in Std Format",
    "LBSTRESN": "Numeric Result/Finding in Standard Units", "LBSTRESU": "Standard Units",
    "LBSTNRLO": "Reference Range Lower Limit-Std Units", "LBNRIND": "Reference Range Indicator",
    "LBSPEC": "Specimen Type", "LBMETHOD": "Method of Test or Examination", "VISIT": "Visit Name",
    "LBDTC": "Date/Time of Specimen Collection"}
"""The LB variables written, in order, with their SDTMIG labels (at most 40 characters)."""
SUPP_LABELS = {"STUDYID": "Study Identifier", "RDOMAIN": "Related Domain Abbreviation",
               "USUBJID": "Unique Subject Identifier", "IDVAR": "Identifying Variable",
               "IDVARVAL": "Identifying Variable Value", "QNAM": "Qualifier Variable Name",
               "QLABEL": "Qualifier Variable Label", "QVAL": "Data Value", "QORIG": "Origin"}
"""The SUPPLB variables (SDTMIG's supplemental qualifiers), in order, with their labels."""
NUMERIC = {"LBSEQ", "LBSTRESN", "LBSTNRLO"}
MAX_CHARS = 200
"""The longest character value a version 5 transport file holds (bytes)."""
CATEGORY = "IMMUNOLOGY"
SPECIMEN = "BLOOD"
METHOD = "FLOW CYTOMETRY"


def check_text(value: str, variable: str) -> None:
    """AssayKitError naming ``value`` and ``variable`` when XPT version 5 cannot hold it: a
    character other than printable ASCII, or longer than :data:`MAX_CHARS`.

    Parameters
    ----------
    value : str
        The text (a USUBJID, visit, condition ...).
    variable : str
        Its SDTM variable.
    """
    if not (value.isascii() and value.isprintable()):
        raise AssayKitError(f"{variable} {value[:60]!r} holds a character other than printable ASCII, which a SAS "
                            "version 5 transport file cannot hold: rename it in the plate map (or export to REDCap "
                            "or FHIR)")
    if len(value) > MAX_CHARS:
        raise AssayKitError(f"{variable} {value[:40]!r}... is {len(value)} characters long; a SAS version 5 "
                            f"transport file holds at most {MAX_CHARS}: shorten it in the plate map")


def usubjid(study: str, patient: str) -> str:
    """The unique subject identifier: ``STUDYID-patient`` (the patient ID as given).

    Parameters
    ----------
    study : str
        The study identifier (``--study``).
    patient : str
        The patient ID.
    """
    return f"{study}-{patient}"


def lbdtc(drawn_at: str, time_basis: str) -> str:
    """LBDTC (ISO 8601) for a draw time ``drawn_at`` (as the tables hold it, no offset): with
    ``Z`` when the times were recorded in UTC (``time_basis`` ``utc``), as given (the lab's local
    time, no offset) otherwise; "" when not known.

    Parameters
    ----------
    drawn_at : str
        The draw time (``2026-11-22T07:00:00``).
    time_basis : str
        Selection.time_basis.
    """
    return drawn_at + "Z" if drawn_at and time_basis == "utc" else drawn_at


def lb_rows(selection: Selection, study: str) -> list[dict[str, Any]]:
    """The LB records, one per exported value, LBSEQ 1, 2 ... within each subject.

    Parameters
    ----------
    selection : Selection
        The values exported.
    study : str
        The study identifier.
    """
    rows: list[dict[str, Any]] = []
    seq: dict[str, int] = {}
    for v in selection.values:
        subject = usubjid(study, v.patient)
        seq[subject] = seq.get(subject, 0) + 1
        low = reference_low(v, selection.thresholds)
        row = {"STUDYID": study, "DOMAIN": "LB", "USUBJID": subject, "LBSEQ": float(seq[subject]),
               "LBTESTCD": TESTCD[test_key(v)], "LBTEST": TEST[test_key(v)],
               "LBTSTDTL": "UNSTIMULATED" if v.condition == selection.control else f"EX VIVO {v.condition}".upper(),
               "LBCAT": CATEGORY, "LBORRES": number_text(v.value), "LBORRESU": UNIT[v.measure],
               "LBORNRLO": number_text(low) if low is not None else "",
               "LBSTRESC": number_text(v.value), "LBSTRESN": v.value, "LBSTRESU": UNIT[v.measure],
               "LBSTNRLO": low,
               "LBNRIND": indicator(v, selection.thresholds), "LBSPEC": SPECIMEN, "LBMETHOD": METHOD,
               "VISIT": v.timepoint, "LBDTC": lbdtc(v.drawn_at, selection.time_basis)}
        for name in ("USUBJID", "LBTSTDTL", "VISIT"):
            check_text(str(row[name]), name)
        check_cell(v.timepoint, "VISIT")
        rows.append(row)
    return rows


def supp_rows(selection: Selection, lb: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """SUPPLB: per LB record its warning codes (QNAM ``LBWARN``) and, where the run has
    replicates, their number and CV (``LBNREP``, ``LBREPCV``, %).

    Parameters
    ----------
    selection : Selection
        The values exported (in ``lb``'s order).
    lb : list of dict
        :func:`lb_rows`.
    """
    out: list[dict[str, Any]] = []
    for v, row in zip(selection.values, lb, strict=True):
        quals = [("LBWARN", "Assay Warning Codes", "; ".join(v.warnings))]
        if v.n_replicates is not None:
            quals.append(("LBNREP", "Number of Replicate Tubes Averaged", str(v.n_replicates)))
        if v.replicate_cv_pct is not None:
            quals.append(("LBREPCV", "Replicate CV (%)", number_text(v.replicate_cv_pct)))
        quals += [(f"FCSKW{i}", f"FCS Keyword {k}"[:40], text) for i, (k, text) in enumerate(v.keywords, start=1)]
        for qnam, label, value in quals:
            if value:
                check_text(value, f"SUPPLB QVAL ({qnam})")
                check_cell(value, f"SUPPLB QVAL ({qnam})")
                out.append({"STUDYID": row["STUDYID"], "RDOMAIN": "LB", "USUBJID": row["USUBJID"], "IDVAR": "LBSEQ",
                            "IDVARVAL": str(int(row["LBSEQ"])), "QNAM": qnam, "QLABEL": label, "QVAL": value,
                            "QORIG": "Assigned"})
    return out


def frame(rows: list[dict[str, Any]], labels: dict[str, str]) -> Any:
    """The rows as a pandas DataFrame with the columns of ``labels`` in order (numbers float,
    text str).

    Parameters
    ----------
    rows : list of dict
        The records.
    labels : dict
        Variable -> label.
    """
    import pandas as pd

    table = pd.DataFrame(rows, columns=list(labels))
    for name in labels:
        if name in NUMERIC:
            table[name] = table[name].astype("float64")
        else:
            table[name] = table[name].fillna("").astype(str)
    return table


def csv_bytes(table: Any) -> bytes:
    """``table`` as CSV (UTF-8, every value as written, numbers in their round-trip form).

    Parameters
    ----------
    table : DataFrame
        :func:`frame`.
    """
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(list(table.columns))
    for record in table.itertuples(index=False):
        writer.writerow(["" if isinstance(x, float) and x != x else number_text(x) if isinstance(x, float) else x
                         for x in record])
    return buffer.getvalue().encode("utf-8")


def xpt_bytes(table: Any, labels: dict[str, str], name: str, file_label: str) -> bytes:
    """``table`` as a SAS transport file, version 5 (pyreadstat.write_xport), dataset ``name``.

    Parameters
    ----------
    table : DataFrame
        :func:`frame`.
    labels : dict
        Variable -> label.
    name : str
        The dataset name (``LB``, ``SUPPLB``).
    file_label : str
        The dataset label.
    """
    import pyreadstat

    with tempfile.TemporaryDirectory(prefix="assaykit-xpt-") as folder:
        path = Path(folder) / f"{name.lower()}.xpt"
        try:
            named: dict[str, str | None] = dict(labels)
            pyreadstat.write_xport(table, os.fspath(path), file_label=file_label, column_labels=named,
                                   table_name=name, file_format_version=5)
        except Exception as exc:  # pyreadstat's own error types: a value it cannot write
            raise AssayKitError(f"cannot write the SDTM {name} transport file ({' '.join(str(exc).split())[:200]})",
                                Path(f"{name.lower()}.xpt")) from None
        return path.read_bytes()


def files(selection: Selection, study: str) -> dict[str, bytes]:
    """lb.csv, lb.xpt, supplb.csv and supplb.xpt for ``selection``.

    Parameters
    ----------
    selection : Selection
        The values exported.
    study : str
        The study identifier (STUDYID), printable ASCII.
    """
    check_text(study, "STUDYID")
    check_cell(study, "STUDYID")
    lb = lb_rows(selection, study)
    supp = supp_rows(selection, lb)
    lb_table, supp_table = frame(lb, LB_LABELS), frame(supp, SUPP_LABELS)
    return {"lb.csv": csv_bytes(lb_table), "lb.xpt": xpt_bytes(lb_table, LB_LABELS, "LB", "Laboratory Test Results"),
            "supplb.csv": csv_bytes(supp_table),
            "supplb.xpt": xpt_bytes(supp_table, SUPP_LABELS, "SUPPLB", "Supplemental Qualifiers for LB")}
