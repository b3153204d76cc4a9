"""Checks for the JSON documents assaykit reads back from an output folder (figure data, the
manifest): each returns the value when it has the expected shape and raises :class:`InvalidError`,
naming where in the document and what was expected, when it does not. A document that passes
can be drawn without further checks: numbers are finite and in range, arrays have their shapes."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

MAX_COUNT = 1e12
"""More events than any tube holds: a count above it is not one assaykit wrote."""


class InvalidError(ValueError):
    """A document value of the wrong type, shape or range; ``str()`` names where and what."""


def mapping(value: Any, where: str) -> dict[str, Any]:
    """``value`` when it is a JSON object."""
    if not isinstance(value, dict):
        raise InvalidError(f"{where}: expected an object, found {type(value).__name__}")
    return value


def field(doc: dict[str, Any], key: str, where: str) -> Any:
    """``doc[key]``; InvalidError naming ``where.key`` when it is absent."""
    if key not in doc:
        raise InvalidError(f"{where}.{key}: missing")
    return doc[key]


def text(value: Any, where: str) -> str:
    """``value`` when it is a string."""
    if not isinstance(value, str):
        raise InvalidError(f"{where}: expected text, found {type(value).__name__}")
    return value


def number(value: Any, where: str, low: float = -math.inf, high: float = math.inf, integer: bool = False) -> float:
    """``value`` as a float when it is a finite JSON number in [``low``, ``high``] (a whole number
    when ``integer``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidError(f"{where}: expected a finite number, found {value!r:.40}")
    if not low <= value <= high or (integer and value != int(value)):
        kind = "a whole number" if integer else "a number"
        raise InvalidError(f"{where}: expected {kind} in [{low:g}, {high:g}], found {value!r:.40}")
    return float(value)


def array(value: Any, where: str, shape: tuple[int | None, ...], low: float = -math.inf, high: float = math.inf,
          integer: bool = False) -> np.ndarray:
    """``value`` (nested JSON lists) as a float64 array of ``shape`` (None: any length), every
    element finite and in [``low``, ``high``] (whole numbers when ``integer``)."""
    if not isinstance(value, list):
        raise InvalidError(f"{where}: expected a list, found {type(value).__name__}")
    try:
        values = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidError(f"{where}: expected numbers in a regular array") from None
    if values.ndim != len(shape) or any(n is not None and n != m for n, m in zip(shape, values.shape, strict=True)):
        wanted = " x ".join("N" if n is None else str(n) for n in shape)
        raise InvalidError(f"{where}: expected an array of shape {wanted}, found {' x '.join(map(str, values.shape))}")
    if values.size and (not np.isfinite(values).all() or values.min() < low or values.max() > high
                        or (integer and not (values == np.round(values)).all())):
        kind = "whole numbers" if integer else "finite numbers"
        raise InvalidError(f"{where}: expected {kind} in [{low:g}, {high:g}]")
    return values


def items(value: Any, where: str) -> list[Any]:
    """``value`` when it is a JSON list."""
    if not isinstance(value, list):
        raise InvalidError(f"{where}: expected a list, found {type(value).__name__}")
    return value
