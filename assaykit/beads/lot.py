"""Bead lots: the per-peak values printed on a calibration-bead certificate (docs/bead-calibration.md).

A lot file is YAML, edited by lab staff::

    kit: BD QuantiBRITE PE
    lot: "12345"
    unit: PE molecules/bead
    marker: PE
    channel_aliases: [PE-A, FL2-H, FL2-A, FL2 INT]
    values: [474, 5359, 23843, 62336]
    qc: {min_r_squared: 0.99, slope_range: [0.8, 1.2], min_peaks: 3, max_residual_log10: 0.04}
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .._io.validate import checking, integer, invalid, items, known, mapping, number
from ..errors import CalibrationError

DEFAULT_ALIASES = ("PE-A", "PE-H", "FL2-A", "FL2-H", "FL2 INT", "FL2", "PE")
_KEYS = {"kit", "lot", "unit", "marker", "channel_aliases", "values", "qc", "example", "note"}
COMMAND_LINE_KIT = "bead values given on the command line"

QUANTIBRITE_MAX_RESIDUAL_LOG10 = 0.04
"""Decades: a QuantiBRITE PE lot's default ``qc.max_residual_log10`` (a peak 9.6 % off the line
withholds the calibration). On 1,004 good simulated four-peak tubes (FACSCanto, Navios,
FACSCalibur; 25 seeds; slopes 0.9-1.1, the dim bead at 70-400 MFI, bead CV 8-12 %) the largest
residual was 0.0038 decade with 10,000 events and 0.0295 with 3,000; the typos ``744`` for 474
and ``32843`` for 23843 lie at 0.060-0.070 and >= 0.088 on 95 % and all of 411 such tubes
(docs/bead-calibration.md, "QuantiBRITE residual limit")."""

QUANTIBRITE_RANGES: tuple[tuple[float, float], ...] = ((200.0, 1800.0), (1800.0, 25000.0), (8000.0, 100000.0),
                                                       (25000.0, 220000.0))
"""PE molecules per bead a QuantiBRITE PE certificate can plausibly give its low, medium-low,
medium-high and high bead (published lots: 474/5,359/23,843/62,336 and 638/6,930/31,008/67,601),
each bound at least 2.5x from those values. The low and high ranges are each narrower than 10x,
so no lot within them stays within them multiplied or divided by 10 (a unit mix-up: values in
thousands, or a digit added to each)."""


def is_quantibrite(kit: str) -> bool:
    """Whether a lot's ``kit`` names BD QuantiBRITE PE beads (four PE beads, no blank)."""
    return "quantibrite" in kit.replace(" ", "").replace("-", "").lower()


def is_pe_molecules(unit: str) -> bool:
    """Whether ``unit`` is PE molecules (per bead): the QuantiBRITE unit, which makes a cell's value AB/C."""
    return unit.strip().lower().startswith("pe molecules")


def quantibrite_problem(values: Sequence[float]) -> str:
    """Why ``values`` cannot be a QuantiBRITE PE certificate ("" when they can): not four bead
    values (a blank 0 aside), or a value outside its bead's :data:`QUANTIBRITE_RANGES` (every
    value x10 or x1000, or in thousands, keeps the slope and r^2 and moves every AB/C by that
    factor)."""
    positive = sorted(v for v in values if v > 0)
    if len(positive) != len(QUANTIBRITE_RANGES):
        return (f"QuantiBRITE PE certifies {len(QUANTIBRITE_RANGES)} beads (low, medium-low, medium-high, high); "
                f"got {len(positive)} values ({', '.join(f'{v:g}' for v in positive)})")
    names = ("low", "medium-low", "medium-high", "high")
    off = [f"{name} {v:g} (expected {low:,.0f}-{high:,.0f})"
           for name, v, (low, high) in zip(names, positive, QUANTIBRITE_RANGES, strict=True) if not low <= v <= high]
    if off:
        return ("QuantiBRITE PE values outside the range of any certificate, in PE molecules per bead: "
                + "; ".join(off) + ": a unit mix-up (every value x10, x1000 or in thousands) or a typo; "
                "enter the four values exactly as printed on the lot's certificate")
    return ""


@dataclass(frozen=True)
class BeadQC:
    """Acceptance limits of a calibration: below ``min_r_squared``, outside ``slope_range`` or a
    used peak more than ``max_residual_log10`` decades off the line (0.1: 26 %; a QuantiBRITE
    lot's default is :data:`QUANTIBRITE_MAX_RESIDUAL_LOG10`), the calibration is withheld
    (scoring.verdicts); fewer than ``min_peaks`` usable peaks is an error."""

    min_r_squared: float = 0.99
    slope_range: tuple[float, float] = (0.8, 1.2)
    min_peaks: int = 3
    max_residual_log10: float = 0.1


@dataclass(frozen=True)
class BeadLot:
    """One lot of calibration beads: ``values`` (ascending; a blank peak is 0) in ``unit``."""

    kit: str
    lot: str
    unit: str
    values: tuple[float, ...]
    marker: str = "PE"
    channel_aliases: tuple[str, ...] = DEFAULT_ALIASES
    qc: BeadQC = field(default_factory=BeadQC)
    example: bool = False
    source: str = ""  # the file it came from ("" for values given on the command line)
    sha256: str = ""  # of the file's bytes

    @property
    def quantibrite(self) -> bool:
        """A QuantiBRITE PE lot: its kit says so, or four values in PE molecules given on the
        command line (``--bead-values``, run.yaml ``bead_values:``). Its values were checked
        against :data:`QUANTIBRITE_RANGES`; a peak the dim-end rule left out is judged against
        the residual limit too (scoring.verdicts)."""
        return is_quantibrite(self.kit) or (self.kit == COMMAND_LINE_KIT and _four_pe_values(self.unit, self.values))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


QC_KEYS = ("min_r_squared", "slope_range", "min_peaks", "max_residual_log10")


def parse_lot(doc: Any, path: Path | None = None, sha256: str = "") -> BeadLot:
    """A :class:`BeadLot` from a parsed YAML document ``doc`` (the file at ``path``, whose bytes
    have ``sha256``); every problem is a CalibrationError naming the file and the key."""
    if not isinstance(doc, dict):
        raise CalibrationError("a bead lot file must be a mapping (kit, lot, unit, values ...)", path)
    with checking(CalibrationError, path):
        known(doc, _KEYS, "")
        raw_values = doc.get("values")
        if not isinstance(raw_values, list) or not raw_values:
            raise invalid("values", "expected a list of the per-peak values on the certificate")
        values = [number(v, f"values[{i}]") for i, v in enumerate(raw_values)]
        qc_doc = known(mapping(doc.get("qc"), "qc", optional=True), QC_KEYS, "qc")
        default_residual = (QUANTIBRITE_MAX_RESIDUAL_LOG10 if is_quantibrite(str(doc.get("kit", "")))
                            else BeadQC().max_residual_log10)
        slope_range = items(qc_doc.get("slope_range", [0.8, 1.2]), "qc.slope_range")
        if len(slope_range) != 2:
            raise invalid("qc.slope_range", f"expected [low, high], got {len(slope_range)} values")
        qc = BeadQC(min_r_squared=number(qc_doc.get("min_r_squared", 0.99), "qc.min_r_squared"),
                    slope_range=(number(slope_range[0], "qc.slope_range[0]"),
                                 number(slope_range[1], "qc.slope_range[1]")),
                    min_peaks=integer(qc_doc.get("min_peaks", 3), "qc.min_peaks", low=2),
                    max_residual_log10=number(qc_doc.get("max_residual_log10", default_residual),
                                              "qc.max_residual_log10", 0, 10))
        aliases = items(doc.get("channel_aliases", list(DEFAULT_ALIASES)), "channel_aliases")
        if not all(isinstance(a, str) for a in aliases):
            raise invalid("channel_aliases", "expected a list of channel names (text)")
    return make_lot(
        values, kit=str(doc.get("kit", "")), lot=str(doc.get("lot", "")), unit=str(doc.get("unit", "")),
        marker=str(doc.get("marker", "PE")), channel_aliases=tuple(aliases), qc=qc,
        example=bool(doc.get("example", False)), source=str(path or ""), sha256=sha256, path=path)


def make_lot(values: Sequence[float], *, kit: str = "", lot: str = "", unit: str = "", marker: str = "PE",
             channel_aliases: Sequence[str] = DEFAULT_ALIASES, qc: BeadQC | None = None, example: bool = False,
             source: str = "", sha256: str = "", path: Path | None = None) -> BeadLot:
    """A validated lot from ``values`` (per bead, in ``unit``: non-negative, distinct, at most
    one blank 0; sorted), with the certificate's ``kit`` and ``lot``, the bead ``marker`` and
    ``channel_aliases`` (``$PnN`` names), ``qc`` limits, whether the values are an ``example``,
    and the file it came from (``source``, its ``sha256``; ``path`` names it in errors)."""
    ordered = sorted(float(v) for v in values)
    qc = qc or BeadQC()
    if any(v < 0 or not math.isfinite(v) for v in ordered):
        raise CalibrationError("bead values must be finite and >= 0 (0 marks a blank peak)", path)
    if len(set(ordered)) != len(ordered):
        raise CalibrationError(f"bead values must be distinct, got {', '.join(f'{v:g}' for v in values)}", path)
    positive = [v for v in ordered if v > 0]
    if len(positive) < qc.min_peaks:
        raise CalibrationError(
            f"a calibration needs at least {qc.min_peaks} non-blank bead values, got {len(positive)}", path)
    low, high = qc.slope_range
    if not low < high:
        raise CalibrationError("qc.slope_range must be [low, high] with low < high", path)
    if is_quantibrite(kit):
        problem = quantibrite_problem(ordered)
        if problem:
            raise CalibrationError(f"values: {problem}", path)
    return BeadLot(kit, lot, unit, tuple(ordered), marker, tuple(channel_aliases), qc, example, source, sha256)


def load_lot(path: str | os.PathLike[str]) -> BeadLot:
    """Read a lot file: ``path`` is a YAML file or the name of a shipped lot
    (``quantibrite-pe-example``; ``assaykit lots`` lists them)."""
    from .._io.config import read_config

    config = read_config(path, folder="beads", error=CalibrationError, what="bead lot file")
    return parse_lot(config.doc, Path(config.source), config.sha256)


def parse_values(text: str, option: str = "--bead-values") -> tuple[float, ...]:
    """Values from ``text`` such as ``"474,5359,23843,62336"`` (``option``, named in the error:
    ``--bead-values``, ``--convert``)."""
    try:
        return tuple(float(v) for v in text.replace(";", ",").split(",") if v.strip())
    except ValueError:
        raise CalibrationError(f"{option} must be numbers separated by commas, got {text!r}") from None


def _four_pe_values(unit: str, values: Sequence[float]) -> bool:
    """Values given without a lot file that are QuantiBRITE PE's: four positive values in PE molecules."""
    return is_pe_molecules(unit) and sum(1 for v in values if v > 0) == len(QUANTIBRITE_RANGES)


def lot_from_options(path: str | os.PathLike[str] | None, values: str | Sequence[float] | None,
                     unit: str = "PE molecules/bead", option: str = "--bead-values",
                     where: Path | None = None) -> BeadLot:
    """The lot at ``path`` (a file or a shipped name, ``--lot``) or given as ``values``
    (``--bead-values V1,V2,...``, per bead in ``unit``): exactly one of the two. Four values in
    PE molecules are QuantiBRITE PE: each must lie in its bead's :data:`QUANTIBRITE_RANGES`
    (else a CalibrationError naming ``option`` and the file ``where`` they were given in) and
    the residual limit is :data:`QUANTIBRITE_MAX_RESIDUAL_LOG10`."""
    if (path is None) == (values is None):
        raise CalibrationError("give the bead lot as either --lot FILE or --bead-values V1,V2,... (one of them)")
    if path is not None:
        return load_lot(path)
    numbers = parse_values(values) if isinstance(values, str) else tuple(float(v) for v in values or ())
    qc = None
    if _four_pe_values(unit, numbers):
        problem = quantibrite_problem(numbers)  # four values in PE molecules: QuantiBRITE PE
        if problem:
            raise CalibrationError(f"{option}: {problem}", where)
        qc = BeadQC(max_residual_log10=QUANTIBRITE_MAX_RESIDUAL_LOG10)
    return make_lot(numbers, kit=COMMAND_LINE_KIT, unit=unit, qc=qc)
