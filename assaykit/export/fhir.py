"""HL7 FHIR R4 (4.0.1): a Bundle of type ``collection`` holding one Observation per exported
value (docs/exports.md maps every element). Plain JSON built here (no FHIR library at run time);
the tests parse and validate it with fhir.resources."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from .codes import CODE_SYSTEM, TEST, TESTCD, UCUM, UNIT, indicator, low_limit
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


def subject(patient: str, patient_system: str) -> dict[str, Any]:
    """The Observation's subject: the patient's identifier as given (``patient_system``), and a
    literal reference ``Patient/<id>`` when the ID is a valid FHIR id (letters, digits, ``-``,
    ``.``; at most 64): other IDs (a space, comma, non-ASCII ...) stay whole in the identifier.

    Parameters
    ----------
    patient : str
        The patient ID.
    patient_system : str
        The identifier system URI.
    """
    ref: dict[str, Any] = {"identifier": {"system": patient_system, "value": patient}}
    if FHIR_ID.fullmatch(patient):
        ref = {"reference": f"Patient/{patient}", **ref}
    return ref


def _quantity(value: float, measure: str) -> dict[str, Any]:
    return {"value": value, "unit": UNIT[measure] or "ratio", "system": UCUM_SYSTEM, "code": UCUM[measure]}


def observation(v: ExportValue, selection: Selection, code_system: str, patient_system: str, run_id: str,
                study: str) -> dict[str, Any]:
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
    """
    condition = "unstimulated" if v.condition == selection.control else f"ex vivo {v.condition}"
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": str(uuid.uuid5(NAMESPACE, json.dumps([run_id, study, v.patient, v.timepoint, v.condition, v.measure]))),
        "status": "final",
        "category": [{"coding": [{"system": CATEGORY_SYSTEM, "code": "laboratory", "display": "Laboratory"}]}],
        "code": {"coding": [{"system": code_system, "code": TESTCD[v.measure], "display": TEST[v.measure]}],
                 "text": f"{TEST[v.measure]} ({condition})"},
        "subject": subject(v.patient, patient_system),
    }
    if v.drawn_at:
        obs["effectiveDateTime"] = v.drawn_at[:10]  # a time needs a zone in FHIR; the clinical CSV's has none
    obs["valueQuantity"] = _quantity(v.value, v.measure)
    flag = indicator(v, selection.thresholds)
    if flag:
        code, display = INTERPRETATION[flag]
        obs["interpretation"] = [{"coding": [{"system": INTERPRETATION_SYSTEM, "code": code, "display": display}]}]
    notes = [f"Visit {v.timepoint}" + (f", day {v.day:g}" if v.day is not None else "")]
    if v.warnings:
        notes.append("Reportable with warnings: " + ", ".join(v.warnings))
    if v.n_replicates is not None:
        notes.append(f"Mean of {v.n_replicates} replicate tubes"
                     + (f", CV {v.replicate_cv_pct:g} %" if v.replicate_cv_pct is not None else ""))
    notes += [f"FCS keyword {k}: {text}" for k, text in v.keywords]
    obs["note"] = [{"text": text} for text in notes]
    obs["method"] = {"text": "Flow cytometry (QuantiBRITE PE bead calibration)"}
    obs["specimen"] = {"display": "Whole blood, monocytes (CD14+)"}
    low = low_limit(selection.thresholds)
    if v.measure == "abc" and low is not None:
        obs["referenceRange"] = [{"low": _quantity(low, "abc"),
                                  "text": f"Normal at or above {low:g} antibodies/cell (the lab's threshold)"}]
    return obs


def bundle(selection: Selection, study: str, run_id: str, code_system: str = CODE_SYSTEM,
           patient_system: str = PATIENT_SYSTEM) -> bytes:
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
    """
    entries = [observation(v, selection, code_system, patient_system, run_id, study) for v in selection.values]
    doc = {"resourceType": "Bundle", "id": str(uuid.uuid5(NAMESPACE, json.dumps([run_id, study]))),
           "type": "collection",
           "entry": [{"fullUrl": f"urn:uuid:{e['id']}", "resource": e} for e in entries]}
    return (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
