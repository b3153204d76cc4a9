"""The local test codes, names and units every export format uses (one place: docs/exports.md
states them). There is no LOINC code and no CDISC controlled-terminology code for monocyte
HLA-DR in antibodies bound per cell: the codes here are assaykit's local ones."""

from __future__ import annotations

from collections.abc import Mapping

from .._io.names import FORMULA_STARTS
from ..errors import AssayKitError
from .values import ExportValue

TESTCD = {"abc": "MHLADR", "abc_stimulated": "MHLADRX", "fold_change": "MHLADRFC"}
"""SDTM LBTESTCD (at most 8 characters) and the local code of the other formats, by test
(:func:`test_key`): the unstimulated AB/C, an ex vivo stimulated AB/C (the condition in SDTM
LBTSTDTL, FHIR ``method``), a fold change."""
TEST = {"abc": "Monocyte HLA-DR Antibodies per Cell", "abc_stimulated": "Mono HLA-DR Ab per Cell, Ex Vivo Stim",
        "fold_change": "Monocyte HLA-DR Fold Change vs Control"}
"""SDTM LBTEST (at most 40 characters) and the code's text, by test (:func:`test_key`)."""
UNIT = {"abc": "antibodies/cell", "fold_change": ""}
"""The unit as text (REDCap field note, SDTM LBORRESU / LBSTRESU, FHIR valueQuantity.unit)."""
UCUM = {"abc": "{AB}/{cell}", "fold_change": "1"}
"""The UCUM code (FHIR valueQuantity.code): annotations in braces are unit 1 in UCUM, so
``{AB}/{cell}`` is a count per cell with its meaning written in; a ratio is ``1``."""
CODE_SYSTEM = "urn:assaykit:local-test-codes"
"""The default FHIR code system of the local codes (``--code-system`` names the lab's own URI)."""


def test_key(value: ExportValue) -> str:
    """The test of ``value`` (the key of :data:`TESTCD` and :data:`TEST`): ``abc`` (the
    unstimulated AB/C), ``abc_stimulated`` (a drug condition's AB/C) or ``fold_change``.

    Parameters
    ----------
    value : ExportValue
        The exported value.
    """
    if value.measure == "abc" and value.stimulated:
        return "abc_stimulated"
    return value.measure


def reference_low(value: ExportValue, thresholds: Mapping[str, float]) -> float | None:
    """The lower limit of ``value``'s reference range (AB/C): :func:`low_limit` for the
    unstimulated AB/C only; None for a stimulated AB/C (the range is the unstimulated blood's)
    and a fold change.

    Parameters
    ----------
    value : ExportValue
        The exported value.
    thresholds : mapping
        The run's thresholds (AB/C).
    """
    return low_limit(thresholds) if test_key(value) == "abc" else None


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
    above it) or "" (a fold change, a stimulated AB/C, or no threshold recorded): SDTM LBNRIND;
    FHIR's interpretation L / N and REDCap's ``mhladr_nrind`` follow it.

    Parameters
    ----------
    value : ExportValue
        The exported value.
    thresholds : mapping
        The run's thresholds (AB/C).
    """
    low = reference_low(value, thresholds)
    if low is None:
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


FORMULA = tuple(c for c in FORMULA_STARTS if c.isprintable() and c != "'")
"""How a cell starts that a spreadsheet runs as a formula (_io.names.FORMULA_STARTS, less the
control characters the formats refuse on their own and the harmless apostrophe)."""


def check_cell(value: str, what: str) -> None:
    """AssayKitError naming ``value`` (``what``: patient ID, time point ...) when it starts as a
    spreadsheet formula. The tables assaykit writes neutralise such a cell with a leading
    apostrophe; an import file must carry the value exactly, so it is refused instead (a
    database that stores ``=HYPERLINK(...)`` as a record name hands it to the next
    spreadsheet that opens an export of it).

    Parameters
    ----------
    value : str
        The text written in a CSV cell.
    what : str
        What it is, for the message.
    """
    if value.startswith(FORMULA):
        raise AssayKitError(f"{what} {value[:60]!r} starts like a spreadsheet formula ({value[0]}): an import file "
                            "carries it exactly, so it is refused; rename it in the plate map")
