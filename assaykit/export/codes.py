"""The local test codes, names and units every export format uses (one place: docs/exports.md
states them). There is no LOINC code and no CDISC controlled-terminology code for monocyte
HLA-DR in antibodies bound per cell: the codes here are assaykit's local ones."""

from __future__ import annotations

from collections.abc import Mapping

from .values import ExportValue

TESTCD = {"abc": "MHLADR", "fold_change": "MHLADRFC"}
"""SDTM LBTESTCD (at most 8 characters) and the local code of the other formats, by measure."""
TEST = {"abc": "Monocyte HLA-DR Antibodies per Cell", "fold_change": "Monocyte HLA-DR Fold Change vs Control"}
"""SDTM LBTEST (at most 40 characters) and the code's text, by measure."""
UNIT = {"abc": "antibodies/cell", "fold_change": ""}
"""The unit as text (REDCap field note, SDTM LBORRESU / LBSTRESU, FHIR valueQuantity.unit)."""
UCUM = {"abc": "{AB}/{cell}", "fold_change": "1"}
"""The UCUM code (FHIR valueQuantity.code): annotations in braces are unit 1 in UCUM, so
``{AB}/{cell}`` is a count per cell with its meaning written in; a ratio is ``1``."""
CODE_SYSTEM = "urn:assaykit:local-test-codes"
"""The default FHIR code system of the local codes (``--code-system`` names the lab's own URI)."""


def low_limit(thresholds: Mapping[str, float]) -> float | None:
    """The lower limit of the reference (normal) range in AB/C: the run's ``normal_abc``
    threshold (at or above it a monocyte HLA-DR is normal; docs/exports.md); None when the
    manifest records none.

    Parameters
    ----------
    thresholds : mapping
        The run's thresholds (AB/C).
    """
    value = thresholds.get("normal_abc")
    return float(value) if value is not None else None


def indicator(value: ExportValue, thresholds: Mapping[str, float]) -> str:
    """``LOW`` (below the reference range: AB/C under the run's ``normal_abc``), ``NORMAL`` (at or
    above it) or "" (a fold change, or no threshold recorded): SDTM LBNRIND; FHIR's
    interpretation L / N follows it.

    Parameters
    ----------
    value : ExportValue
        The exported value.
    thresholds : mapping
        The run's thresholds (AB/C).
    """
    low = low_limit(thresholds)
    if value.measure != "abc" or low is None:
        return ""
    return "LOW" if value.value < low else "NORMAL"


def number_text(number: float) -> str:
    """``number`` as text that reads back as the same float: the shortest such digits, never in
    exponent form (REDCap's ``number`` validation takes none): ``12000.0`` is ``12000``,
    ``1e-05`` is ``0.00001``.

    Parameters
    ----------
    number : float
        The value.
    """
    import numpy as np

    return str(np.format_float_positional(float(number), trim="-"))
