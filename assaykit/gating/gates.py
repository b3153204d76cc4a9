"""Gates as objects with one ``apply(data) -> bool mask``.

Geometry is held in display coordinates (each marker's transform applied; see ``transforms``),
as the gate is drawn; strategy files give it in scale values and the loader converts it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..errors import GatingError
from .transforms import Transform


class GateData(Protocol):
    """What a gate needs: scale values and display coordinates per marker, each marker's
    transform, and the masks found so far."""

    n_events: int
    masks: Mapping[str, np.ndarray]

    def scale(self, marker: str) -> np.ndarray: ...

    def display(self, marker: str) -> np.ndarray: ...

    def transform(self, marker: str) -> Transform: ...


class Gate(Protocol):
    dims: tuple[str, ...]

    def apply(self, data: GateData) -> np.ndarray: ...

    def to_dict(self) -> dict[str, Any]: ...


def _bounds(values: np.ndarray, low: float | None, high: float | None) -> np.ndarray:
    mask = np.ones(values.shape, dtype=bool)
    if low is not None:
        mask &= values >= low
    if high is not None:
        mask &= values <= high
    return mask


@dataclass(frozen=True)
class IntervalGate:
    """``low <= x <= high`` on one marker; either bound may be open (a threshold)."""

    dims: tuple[str]
    low: float | None = None
    high: float | None = None

    def apply(self, data: GateData) -> np.ndarray:
        return _bounds(data.display(self.dims[0]), self.low, self.high)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "interval", "dims": list(self.dims), "low": self.low, "high": self.high}


@dataclass(frozen=True)
class RectangleGate:
    dims: tuple[str, str]
    low: tuple[float | None, float | None]
    high: tuple[float | None, float | None]

    def apply(self, data: GateData) -> np.ndarray:
        return (_bounds(data.display(self.dims[0]), self.low[0], self.high[0])
                & _bounds(data.display(self.dims[1]), self.low[1], self.high[1]))

    def to_dict(self) -> dict[str, Any]:
        return {"type": "rectangle", "dims": list(self.dims), "low": list(self.low), "high": list(self.high)}


@dataclass(frozen=True)
class PolygonGate:
    dims: tuple[str, str]
    vertices: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        if len(self.vertices) < 3:
            raise GatingError(f"a polygon needs at least 3 vertices, got {len(self.vertices)}")

    def apply(self, data: GateData) -> np.ndarray:
        from flowutils.gating import points_in_polygon

        points = np.column_stack([data.display(self.dims[0]), data.display(self.dims[1])])
        return np.asarray(points_in_polygon(np.asarray(self.vertices, dtype=np.float64), points), dtype=bool)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "polygon", "dims": list(self.dims), "vertices": [list(v) for v in self.vertices]}


@dataclass(frozen=True)
class EllipseGate:
    """Points whose Mahalanobis distance to ``center`` under ``covariance`` is at most ``distance``."""

    dims: tuple[str, str]
    center: tuple[float, float]
    covariance: tuple[tuple[float, float], tuple[float, float]]
    distance: float

    def __post_init__(self) -> None:
        cov = np.asarray(self.covariance, dtype=np.float64)
        if cov.shape != (2, 2) or np.linalg.det(cov) <= 0 or self.distance <= 0:
            raise GatingError("an ellipse needs a positive-definite 2x2 covariance and a positive distance")

    def apply(self, data: GateData) -> np.ndarray:
        d = np.column_stack([data.display(self.dims[0]), data.display(self.dims[1])]) - np.asarray(self.center)
        inv = np.linalg.inv(np.asarray(self.covariance, dtype=np.float64))
        return np.einsum("ij,jk,ik->i", d, inv, d) <= self.distance**2

    def to_dict(self) -> dict[str, Any]:
        return {"type": "ellipse", "dims": list(self.dims), "center": list(self.center),
                "covariance": [list(r) for r in self.covariance], "distance": self.distance}


@dataclass(frozen=True)
class QuadrantGate:
    """One quadrant of a split at (x, y): ``quadrant`` is '++', '+-', '-+' or '--' (x sign first)."""

    dims: tuple[str, str]
    split: tuple[float, float]
    quadrant: str

    def __post_init__(self) -> None:
        if self.quadrant not in ("++", "+-", "-+", "--"):
            raise GatingError(f"quadrant must be one of ++, +-, -+, --; got {self.quadrant!r}")

    def apply(self, data: GateData) -> np.ndarray:
        x = data.display(self.dims[0]) >= self.split[0]
        y = data.display(self.dims[1]) >= self.split[1]
        return (x if self.quadrant[0] == "+" else ~x) & (y if self.quadrant[1] == "+" else ~y)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "quadrant", "dims": list(self.dims), "split": list(self.split), "quadrant": self.quadrant}


@dataclass(frozen=True)
class RatioGate:
    """``low <= y / x <= high`` in scale values (singlets: FSC-H over FSC-A)."""

    dims: tuple[str, str]
    low: float
    high: float

    def apply(self, data: GateData) -> np.ndarray:
        x, y = data.scale(self.dims[0]), data.scale(self.dims[1])
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(x > 0, y / x, np.nan)
        return (ratio >= self.low) & (ratio <= self.high)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "ratio", "dims": list(self.dims), "low": self.low, "high": self.high}


@dataclass(frozen=True)
class BooleanGate:
    """``and`` / ``or`` of populations, or ``not`` of one."""

    op: str
    populations: tuple[str, ...]
    dims: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.op not in ("and", "or", "not"):
            raise GatingError(f"boolean gate op must be and, or or not; got {self.op!r}")
        if self.op == "not" and len(self.populations) != 1:
            raise GatingError("a 'not' gate takes exactly one population")
        if not self.populations:
            raise GatingError("a boolean gate needs populations")

    def apply(self, data: GateData) -> np.ndarray:
        masks = [data.masks[p] for p in self.populations]
        if self.op == "not":
            return ~masks[0]
        out = masks[0].copy()
        for m in masks[1:]:
            out = out & m if self.op == "and" else out | m
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"type": "boolean", "op": self.op, "populations": list(self.populations)}
