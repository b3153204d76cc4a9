"""HL7 FHIR R4 (4.0.1): a Bundle of type ``collection`` holding one Observation per exported
value (docs/exports.md maps every element). Plain JSON built here (no FHIR library at run time);
the tests parse and validate it with fhir.resources."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from typing import Any

from ..errors import AssayKitError
from .codes import CODE_SYSTEM, TEST, TESTCD, UCUM, UNIT, indicator, reference_low, test_key
from .values import ExportValue, Selection

UCUM_SYSTEM = "http://unitsofmeasure.org"
CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
INTERPRETATION = {"LOW": ("L", "Low"), "NORMAL": ("N", "Normal")}
"""SDTM's indicator -> the v3 ObservationInterpretation code and display."""
PATIENT_SYSTEM = "urn:assaykit:patient-id"
"""The default system of the patients' identifiers (the plate map's IDs; ``--patient-system``)."""
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
"""A FHIR resource id (R4 datatype ``id``): only such a patient ID can be a literal reference."""
NAMESPACE = uuid.UUID("4c1c8f6e-8a36-5d0c-9a51-61c2d9a6f0a1")
"""The namespace of the Observations' name-based UUIDs (the same value, the same id)."""


def subject(patient: str, patient_system: str, reference: bool = False) -> dict[str, Any]:
    """The Observation's subject: the patient's identifier as given (``patient_system``); with
    ``reference`` (``--patient-reference``: the receiving server holds Patient resources with
    the plate map's IDs as their ids) also a literal reference ``Patient/<id>`` when the ID is a
    valid FHIR id (letters, digits, ``-``, ``.``; at most 64): other IDs (a space, comma,
    non-ASCII ...) stay whole in the identifier. By default no reference: the Bundle holds no
    Patient, and a guessed one would point at nothing (or at another patient).

    Parameters
    ----------
    patient : str
        The patient ID.
    patient_system : str
        The identifier system URI.
    reference : bool
        Add the literal reference.
    """
    ref: dict[str, Any] = {"identifier": {"system": patient_system, "value": patient}}
    if reference and FHIR_ID.fullmatch(patient):
        ref = {"reference": f"Patient/{patient}", **ref}
    return ref


def parse_zone(text: str) -> dt.tzinfo:
    """The time zone ``text`` names: an offset (``+01:00``, ``-05:00``), ``UTC`` or an IANA name
    (``Europe/Berlin``); AssayKitError naming it otherwise.

    Parameters
    ----------
    text : str
        The zone as the user typed it (``--timezone``).
    """
    import zoneinfo

    value = text.strip()
    if value.upper() in ("UTC", "Z"):
        return dt.UTC
    match = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", value)
    if match:
        sign, hours, minutes = match.groups()
        offset = dt.timedelta(hours=int(hours), minutes=int(minutes))
        if offset > dt.timedelta(hours=14):
            raise AssayKitError(f"time zone {value!r}: an offset is at most 14:00")
        return dt.timezone(-offset if sign == "-" else offset)
    try:
        return zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise AssayKitError(f"time zone {value[:60]!r} is neither an offset (+01:00), UTC nor a known IANA name "
                            "(Europe/Berlin)") from None


def effective(drawn_at: str, zone: dt.tzinfo | None, time_basis: str = "local") -> str:
    """FHIR's effectiveDateTime for a draw time ``drawn_at`` (ISO 8601 without zone, "" when not
    known): recorded in UTC (``time_basis`` ``utc``), the date-time with ``Z``; local times with
    the ``zone`` they are in, the date-time with its offset; local times without one, the date
    alone (FHIR requires a zone with a time, and none is invented); "" when not known.

    Parameters
    ----------
    drawn_at : str
        The draw time as the tables hold it.
    zone : tzinfo or None
        The zone of the tables' local times (``--timezone``), or None.
    time_basis : str
        Selection.time_basis (``utc``: the tables hold UTC).
    """
    if not drawn_at:
        return ""
    if time_basis == "utc":
        return dt.datetime.fromisoformat(drawn_at).replace(tzinfo=dt.UTC).isoformat().replace("+00:00", "Z")
    if zone is None:
        return drawn_at[:10]
    return dt.datetime.fromisoformat(drawn_at).replace(tzinfo=zone).isoformat()


def _quantity(value: float, measure: str) -> dict[str, Any]:
    return {"value": value, "unit": UNIT[measure] or "ratio", "system": UCUM_SYSTEM, "code": UCUM[measure]}


def observation(v: ExportValue, selection: Selection, code_system: str, patient_system: str, run_id: str,
                study: str, zone: dt.tzinfo | None = None, patient_reference: bool = False) -> dict[str, Any]:
    """One Observation (R4) for the value ``v``.

    Parameters
    ----------
    v : ExportValue
        The value.
    selection : Selection
        Every value exported (its control and thresholds).
    code_system : str
        The URI of the local test codes.
    patient_system : str
        The URI of the patient identifiers.
    run_id : str
        The scored run's id (in the Observation's id seed: the same run, the same ids).
    study : str
        The study identifier.
    zone : tzinfo or None
        The zone of the draw times (None: the draw date alone).
    patient_reference : bool
        Add ``subject.reference`` (:func:`subject`).
    """
    condition = "unstimulated" if v.condition == selection.control else f"ex vivo {v.condition}"
    key = test_key(v)
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": str(uuid.uuid5(NAMESPACE, json.dumps([run_id, study, v.patient, v.timepoint, v.condition, v.measure]))),
        "status": "final",
        "category": [{"coding": [{"system": CATEGORY_SYSTEM, "code": "laboratory", "display": "Laboratory"}]}],
        "code": {"coding": [{"system": code_system, "code": TESTCD[key], "display": TEST[key]}],
                 "text": f"{TEST[key]} ({condition})"},
        "subject": subject(v.patient, patient_system, patient_reference),
    }
    if v.drawn_at:
        obs["effectiveDateTime"] = effective(v.drawn_at, zone, selection.time_basis)
    obs["valueQuantity"] = _quantity(v.value, v.measure)
    flag = indicator(v, selection.thresholds)
    if flag:
        code, display = INTERPRETATION[flag]
        obs["interpretation"] = [{"coding": [{"system": INTERPRETATION_SYSTEM, "code": code, "display": display}]}]
    notes = [f"Visit {v.timepoint}" + (f", {day_text(v.day, selection.day_basis)}" if v.day is not None else "")]
    if v.warnings:
        notes.append("Reportable with warnings: " + ", ".join(v.warnings))
    if v.n_replicates is not None:
        notes.append(f"Mean of {v.n_replicates} replicate tubes"
                     + (f", CV {v.replicate_cv_pct:g} %" if v.replicate_cv_pct is not None else ""))
    notes += [f"FCS keyword {k}: {text}" for k, text in v.keywords]
    obs["note"] = [{"text": text} for text in notes]
    obs["method"] = {"text": "Flow cytometry (QuantiBRITE PE bead calibration)"
                     + (f", ex vivo stimulation: {v.condition}" if v.stimulated else "")}
    obs["specimen"] = {"display": "Whole blood, monocytes (CD14+)"}
    low = reference_low(v, selection.thresholds)
    if low is not None:
        obs["referenceRange"] = [{"low": _quantity(low, "abc"),
                                  "text": f"Normal at or above {low:g} antibodies/cell (the lab's threshold)"}]
    return obs


def day_text(day: float, day_basis: str) -> str:
    """A value's day as its note says it: ``day 3 since ICU admission`` or ``day 3 (time-point
    label)``, by what the run's day is (Selection.day_basis).

    Parameters
    ----------
    day : float
        The day.
    day_basis : str
        ``admission``, ``label``, ``mixed`` or ``unknown``.
    """
    return f"day {day:g}" + {"admission": " since ICU admission", "label": " (time-point label)"}.get(day_basis, "")


def bundle(selection: Selection, study: str, run_id: str, code_system: str = CODE_SYSTEM,
           patient_system: str = PATIENT_SYSTEM, zone: dt.tzinfo | None = None,
           patient_reference: bool = False) -> bytes:
    """The Bundle (type ``collection``) of every value's Observation, as JSON.

    Parameters
    ----------
    selection : Selection
        The values exported.
    study : str
        The study identifier.
    run_id : str
        The scored run's id.
    code_system : str
        The URI of the local test codes.
    patient_system : str
        The URI of the patient identifiers.
    zone : tzinfo or None
        The zone of the draw times (None: the draw date alone).
    patient_reference : bool
        Add each subject's literal reference (:func:`subject`).
    """
    entries = [observation(v, selection, code_system, patient_system, run_id, study, zone, patient_reference)
               for v in selection.values]
    doc = {"resourceType": "Bundle", "id": str(uuid.uuid5(NAMESPACE, json.dumps([run_id, study]))),
           "type": "collection",
           "entry": [{"fullUrl": f"urn:uuid:{e['id']}", "resource": e} for e in entries]}
    return (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
