"""Gates as objects with one ``apply(data) -> bool mask``.

Geometry is held in display coordinates (each marker's transform applied; see ``transforms``),
as the gate is drawn; strategy files give it in scale values. Everything one gate type means
lives in its class: ``kind`` (its name in strategy files and ``to_dict``), ``from_spec`` (its
strategy-file fields, parsed once and placed per file), ``apply`` and ``outlines`` (what a
gating figure draws). :data:`GATE_TYPES` maps the names to the classes.

The same classes hold the gates read from GatingML documents and FlowJo workspaces
(:mod:`assaykit.interop`): there a gate's ``dims`` name a document's dimensions (a channel under
a compensation and a transform), and :class:`BoxGate` (a rectangle in any number of dimensions),
:class:`EllipsoidGate` (GatingML's ellipsoid, any number of dimensions, ``distanceSquare``) and
:class:`OutsideGate` (FlowJo's ``eventsInside="0"``) serve them. An event whose display
coordinate is NaN is in no geometric gate (every comparison with NaN is false).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np

from .._geometry import ellipse_outline, mahalanobis2
from .._io.validate import finite, invalid, shown
from ..errors import GatingError
from .transforms import Transform

Range = tuple[float, float]
#: ``to_display(value, i)``: a scale value on the gate's i-th dim in display coordinates (None stays None)
ToDisplay = Callable[[float | None, int], float | None]


class GateData(Protocol):
    """What a gate needs: scale values and display coordinates per marker, each marker's
    transform, and the masks found so far."""

    n_events: int

    @property
    def masks(self) -> Mapping[str, np.ndarray]: ...

    @property
    def missing(self) -> Mapping[str, str]:
        """The optional markers the sample lacks -> why."""
        ...

    findings: dict[str, Any]  # what automatic gates found while fitting, by gate method

    def scale(self, marker: str) -> np.ndarray: ...

    def display(self, marker: str) -> np.ndarray: ...

    def transform(self, marker: str) -> Transform: ...

    def inside(self, gate: Gate) -> np.ndarray:
        """``gate.apply(self)``, computed once per gate (a fit and its application ask alike)."""
        ...

    def selected(self, marker: str, mask: np.ndarray, display: bool = True) -> np.ndarray:
        """The marker's display coordinates (or scale values) of the events in ``mask``, selected
        once per mask (read-only)."""
        ...


class Gate(Protocol):
    @property
    def dims(self) -> tuple[str, ...]: ...

    def apply(self, data: GateData) -> np.ndarray: ...

    def to_dict(self) -> dict[str, Any]: ...


def numbers(value: Any, count: int, where: str, allow_none: bool = False) -> tuple:
    """``value`` as a tuple of ``count`` floats (None kept where ``allow_none``; a number written
    as text is refused); else an InvalidError naming ``where``."""
    if not isinstance(value, list | tuple) or len(value) != count:
        raise invalid(where, f"expected a list of {count} numbers, got {shown(value)}")
    out: list[float | None] = []
    for v in value:
        if v is None and allow_none:
            out.append(None)
            continue
        if isinstance(v, bool) or not isinstance(v, int | float):  # text (a quoted number too), true/false
            raise invalid(where, f"{shown(v)} is not a number")
        if not finite(v):  # inf, nan, an integer of 400 digits
            raise invalid(where, f"{shown(v)} is not a finite number")
        out.append(float(v))
    return tuple(out)


def _key(where: str, key: str) -> str:
    """The place of a gate's ``key`` (``population 'a': low``)."""
    return f"{where}: {key}"


def _ordered(low: Any, high: Any, where: str) -> None:
    """Refuse bounds the wrong way round (a gate that holds nothing)."""
    if low is not None and high is not None and low > high:
        raise invalid(where, f"low ({low:g}) is above high ({high:g})")


def _point(to_display: ToDisplay, values: tuple) -> tuple:
    return tuple(to_display(v, i) for i, v in enumerate(values))


def _one(dims: tuple[str, ...]) -> tuple[str]:
    """``dims`` of a one-marker gate type (the strategy checked their number against ``n_dims``)."""
    assert len(dims) == 1, dims
    return dims


def _two(dims: tuple[str, ...]) -> tuple[str, str]:
    """``dims`` of a two-marker gate type (the strategy checked their number against ``n_dims``)."""
    assert len(dims) == 2, dims
    return dims


def _bounds(values: np.ndarray, low: float | None, high: float | None) -> np.ndarray:
    mask = np.ones(values.shape, dtype=bool)
    if low is not None:
        mask &= values >= low
    if high is not None:
        mask &= values <= high
    return mask


@dataclass(frozen=True)
class _Placement:
    """How a fixed gate is placed on a file: ``cls(dims, *args)``, each argument as ``how`` says
    ("value": a scale value through ``to_display``; "point": a point through :func:`_point`;
    "points": a sequence of points; "as is"). An object, not a closure, so that a fixed gate
    (a strategy's, a gate override's) pickles to the worker processes."""

    cls: Any
    dims: tuple[str, ...]
    args: tuple[Any, ...]
    how: tuple[str, ...]

    def __call__(self, to_display: ToDisplay) -> Any:
        placed = {"value": lambda a: to_display(a, 0), "point": lambda a: _point(to_display, a),
                  "points": lambda a: tuple(_point(to_display, v) for v in a), "as is": lambda a: a}
        return self.cls(self.dims, *(placed[how](arg) for arg, how in zip(self.args, self.how, strict=True)))


@dataclass(frozen=True)
class FixedGate:
    """A gate written in scale values in a strategy file. Display coordinates depend on the
    file's channel ranges (transforms with ``t`` left to the channel), so the concrete gate is
    placed per file by :meth:`fit`, like an automatic one. ``place(to_display)`` builds it."""

    dims: tuple[str, ...]
    place: Callable[[ToDisplay], Any]

    def build(self, transforms: list[Transform]) -> Any:
        """The concrete gate under ``transforms`` (one per dim)."""
        return self.place(lambda value, i: None if value is None else float(transforms[i].forward(value)[0]))

    def fit(self, data: GateData, parent: np.ndarray) -> Any:
        """The concrete gate on this sample (``parent`` is unused: the geometry is fixed)."""
        return self.build([data.transform(d) for d in self.dims])


@dataclass(frozen=True)
class IntervalGate:
    """``low <= x <= high`` on one marker; either bound may be open (a threshold)."""

    # every gate class: ``kind`` (its type in a strategy), ``keys`` (its other keys there, besides
    # type and dims: anything else is refused), ``n_dims``

    kind: ClassVar[str] = "interval"
    keys: ClassVar[tuple[str, ...]] = ("low", "high")
    n_dims: ClassVar[int] = 1
    dims: tuple[str]
    low: float | None = None
    high: float | None = None

    @classmethod
    def from_spec(cls, dims: tuple[str, ...], spec: Mapping[str, Any], where: str) -> FixedGate:
        """``low``, ``high`` (scale values; either may be omitted)."""
        (low,) = numbers([spec.get("low")], 1, _key(where, "low"), allow_none=True)
        (high,) = numbers([spec.get("high")], 1, _key(where, "high"), allow_none=True)
        _ordered(low, high, where)
        one = _one(dims)
        return FixedGate(one, _Placement(cls, one, (low, high), ("value", "value")))

    def apply(self, data: GateData) -> np.ndarray:
        return _bounds(data.display(self.dims[0]), self.low, self.high)

    def outlines(self, data: GateData, parent: np.ndarray, x_range: Range, y_range: Range) -> tuple[np.ndarray, ...]:
        return ()  # a one-marker gate is drawn by its bounds

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "dims": list(self.dims), "low": self.low, "high": self.high}


@dataclass(frozen=True)
class RectangleGate:
    """``low <= (x, y) <= high`` (display coordinates); a bound may be None (open)."""

    kind: ClassVar[str] = "rectangle"
    keys: ClassVar[tuple[str, ...]] = ("low", "high")
    n_dims: ClassVar[int] = 2
    dims: tuple[str, str]
    low: tuple[float | None, float | None]
    high: tuple[float | None, float | None]

    @classmethod
    def from_spec(cls, dims: tuple[str, ...], spec: Mapping[str, Any], where: str) -> FixedGate:
        """``low: [x, y]``, ``high: [x, y]`` (scale values; a bound may be null)."""
        low = numbers(spec.get("low"), 2, _key(where, "low"), allow_none=True)
        high = numbers(spec.get("high"), 2, _key(where, "high"), allow_none=True)
        for axis in (0, 1):
            _ordered(low[axis], high[axis], where)
        two = _two(dims)
        return FixedGate(two, _Placement(cls, two, (low, high), ("point", "point")))

    def apply(self, data: GateData) -> np.ndarray:
        return (_bounds(data.display(self.dims[0]), self.low[0], self.high[0])
                & _bounds(data.display(self.dims[1]), self.low[1], self.high[1]))

    def outlines(self, data: GateData, parent: np.ndarray, x_range: Range, y_range: Range) -> tuple[np.ndarray, ...]:
        x0 = self.low[0] if self.low[0] is not None else x_range[0]
        y0 = self.low[1] if self.low[1] is not None else y_range[0]
        x1 = self.high[0] if self.high[0] is not None else x_range[1]
        y1 = self.high[1] if self.high[1] is not None else y_range[1]
        return (np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]], dtype=np.float64),)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "dims": list(self.dims), "low": list(self.low), "high": list(self.high)}


DRAWING_EVENTS = 20_000  # a drawing's ranges are read off at most this many events


def thinned(values: np.ndarray, at_most: int = DRAWING_EVENTS) -> np.ndarray:
    """Every k-th of ``values``, at most ``at_most`` of them (evenly spaced, deterministic): what
    a drawing's axis ranges and outlines are read from (drawings only, never a gate or a result)."""
    return values[::-(-values.size // at_most)] if values.size > at_most else values


def in_polygon(vertices: Sequence[tuple[float, float]], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Which points (``x``, ``y``: display coordinates) lie inside the polygon ``vertices``
    (FlowUtils' test), asked only of the points within its bounding box."""
    from flowutils.gating import points_in_polygon

    corners = np.asarray(vertices, dtype=np.float64)
    (x_low, y_low), (x_high, y_high) = corners.min(axis=0), corners.max(axis=0)
    candidates = np.flatnonzero((x >= x_low) & (x <= x_high) & (y >= y_low) & (y <= y_high))
    inside = np.zeros(len(x), dtype=bool)
    if candidates.size:
        points = np.column_stack([x[candidates], y[candidates]])
        inside[candidates] = np.asarray(points_in_polygon(corners, points), dtype=bool)
    return inside


@dataclass(frozen=True)
class PolygonGate:
    """Points inside the polygon ``vertices`` (display coordinates)."""

    kind: ClassVar[str] = "polygon"
    keys: ClassVar[tuple[str, ...]] = ("vertices",)
    n_dims: ClassVar[int] = 2
    dims: tuple[str, str]
    vertices: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        if len(self.vertices) < 3:
            raise GatingError(f"a polygon needs at least 3 vertices, got {len(self.vertices)}")

    @classmethod
    def from_spec(cls, dims: tuple[str, ...], spec: Mapping[str, Any], where: str) -> FixedGate:
        """``vertices: [[x, y], ...]`` (scale values, at least 3)."""
        vertices = [numbers(v, 2, _key(where, f"vertices[{i}]")) for i, v in enumerate(spec.get("vertices") or [])]
        two = _two(dims)
        return FixedGate(two, _Placement(cls, two, (tuple(vertices),), ("points",)))

    def apply(self, data: GateData) -> np.ndarray:
        """Inside the polygon (:func:`in_polygon`)."""
        return in_polygon(self.vertices, data.display(self.dims[0]), data.display(self.dims[1]))

    def outlines(self, data: GateData, parent: np.ndarray, x_range: Range, y_range: Range) -> tuple[np.ndarray, ...]:
        return (np.asarray((*self.vertices, self.vertices[0]), dtype=np.float64),)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "dims": list(self.dims), "vertices": [list(v) for v in self.vertices]}


@dataclass(frozen=True)
class EllipseGate:
    """Points whose Mahalanobis distance to ``center`` under ``covariance`` is at most ``distance``."""

    kind: ClassVar[str] = "ellipse"
    keys: ClassVar[tuple[str, ...]] = ("center", "covariance", "distance")
    n_dims: ClassVar[int] = 2
    dims: tuple[str, str]
    center: tuple[float, float]
    covariance: tuple[tuple[float, float], tuple[float, float]]
    distance: float

    def __post_init__(self) -> None:
        cov = np.asarray(self.covariance, dtype=np.float64)
        if cov.shape != (2, 2) or np.linalg.det(cov) <= 0 or self.distance <= 0:
            raise GatingError("an ellipse needs a positive-definite 2x2 covariance and a positive distance")

    @classmethod
    def from_spec(cls, dims: tuple[str, ...], spec: Mapping[str, Any], where: str) -> FixedGate:
        """``center: [x, y]`` (scale values), ``covariance`` (2x2, display units), ``distance``."""
        centre = numbers(spec.get("center"), 2, _key(where, "center"))
        rows = spec.get("covariance")
        if not isinstance(rows, list) or len(rows) != 2:
            raise invalid(_key(where, "covariance"), f"expected 2 rows of 2 numbers, got {shown(rows)}")
        cov = (numbers(rows[0], 2, _key(where, "covariance")), numbers(rows[1], 2, _key(where, "covariance")))
        (distance,) = numbers([spec.get("distance", 1.0)], 1, _key(where, "distance"))
        two = _two(dims)
        return FixedGate(two, _Placement(cls, two, (centre, cov, distance), ("point", "as is", "as is")))

    def apply(self, data: GateData) -> np.ndarray:
        points = np.column_stack([data.display(self.dims[0]), data.display(self.dims[1])])
        return mahalanobis2(points, self.center, self.covariance) <= self.distance**2

    def outlines(self, data: GateData, parent: np.ndarray, x_range: Range, y_range: Range) -> tuple[np.ndarray, ...]:
        return (ellipse_outline(self.center, self.covariance, self.distance),)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "dims": list(self.dims), "center": list(self.center),
                "covariance": [list(r) for r in self.covariance], "distance": self.distance}


@dataclass(frozen=True)
class QuadrantGate:
    """One quadrant of a split at (x, y): ``quadrant`` is '++', '+-', '-+' or '--' (x sign first)."""

    kind: ClassVar[str] = "quadrant"
    keys: ClassVar[tuple[str, ...]] = ("split", "quadrant")
    n_dims: ClassVar[int] = 2
    dims: tuple[str, str]
    split: tuple[float, float]
    quadrant: str

    def __post_init__(self) -> None:
        if self.quadrant not in ("++", "+-", "-+", "--"):
            raise GatingError(f"quadrant must be one of ++, +-, -+, --; got {self.quadrant!r}")

    @classmethod
    def from_spec(cls, dims: tuple[str, ...], spec: Mapping[str, Any], where: str) -> FixedGate:
        """``split: [x, y]`` (scale values), ``quadrant``."""
        split = numbers(spec.get("split"), 2, _key(where, "split"))
        quadrant = spec.get("quadrant")
        if not isinstance(quadrant, str):
            raise invalid(_key(where, "quadrant"), f"expected ++, +-, -+ or -- (quoted), got {shown(quadrant)}")
        two = _two(dims)
        return FixedGate(two, _Placement(cls, two, (split, quadrant), ("point", "as is")))

    def apply(self, data: GateData) -> np.ndarray:
        x, y = data.display(self.dims[0]), data.display(self.dims[1])
        on_x = x >= self.split[0] if self.quadrant[0] == "+" else x < self.split[0]
        on_y = y >= self.split[1] if self.quadrant[1] == "+" else y < self.split[1]
        return on_x & on_y

    def outlines(self, data: GateData, parent: np.ndarray, x_range: Range, y_range: Range) -> tuple[np.ndarray, ...]:
        x, y = self.split
        return (np.array([[x, y_range[0]], [x, y_range[1]]]), np.array([[x_range[0], y], [x_range[1], y]]))

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "dims": list(self.dims), "split": list(self.split), "quadrant": self.quadrant}


@dataclass(frozen=True)
class RatioGate:
    """``low <= y / x <= high`` in scale values (singlets: FSC-H over FSC-A)."""

    kind: ClassVar[str] = "ratio"
    keys: ClassVar[tuple[str, ...]] = ("low", "high")
    n_dims: ClassVar[int] = 2
    dims: tuple[str, str]
    low: float
    high: float

    @classmethod
    def from_spec(cls, dims: tuple[str, ...], spec: Mapping[str, Any], where: str) -> FixedGate:
        """``low``, ``high``: the ratio's bounds (scale values on both axes: nothing to place)."""
        (low,) = numbers([spec.get("low")], 1, _key(where, "low"))
        (high,) = numbers([spec.get("high")], 1, _key(where, "high"))
        _ordered(low, high, where)
        two = _two(dims)
        return FixedGate(two, _Placement(cls, two, (low, high), ("as is", "as is")))

    def apply(self, data: GateData) -> np.ndarray:
        x, y = data.scale(self.dims[0]), data.scale(self.dims[1])
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(x > 0, y / x, np.nan)
        return (ratio >= self.low) & (ratio <= self.high)

    def outlines(self, data: GateData, parent: np.ndarray, x_range: Range, y_range: Range) -> tuple[np.ndarray, ...]:
        """The two bounding lines, drawn over the parent's scale range on x (up to its 99.9th
        percentile, read off :func:`thinned` events)."""
        top = float(np.percentile(thinned(data.selected(self.dims[0], parent, display=False)), 99.9)) \
            if parent.any() else 1.0
        xs = np.linspace(0, max(top, 1e-9), 50)
        x_form, y_form = data.transform(self.dims[0]), data.transform(self.dims[1])
        return tuple(np.column_stack([x_form.forward(xs), y_form.forward(xs * r)]) for r in (self.low, self.high))

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "dims": list(self.dims), "low": self.low, "high": self.high}


@dataclass(frozen=True)
class BooleanGate:
    """``and`` / ``or`` of populations, or ``not`` of one. ``complement``: per population, whether
    its complement is taken instead (GatingML's ``use-as-complement``; empty: none is)."""

    kind: ClassVar[str] = "boolean"
    keys: ClassVar[tuple[str, ...]] = ("op", "populations")
    op: str
    populations: tuple[str, ...]
    dims: tuple[str, ...] = ()
    complement: tuple[bool, ...] = ()

    def __post_init__(self) -> None:
        if self.op not in ("and", "or", "not"):
            raise GatingError(f"boolean gate op must be and, or or not; got {self.op!r}")
        if self.op == "not" and len(self.populations) != 1:
            raise GatingError("a 'not' gate takes exactly one population")
        if not self.populations:
            raise GatingError("a boolean gate needs populations")
        if self.complement and len(self.complement) != len(self.populations):
            raise GatingError("a boolean gate's complement flags must match its populations one for one")

    def apply(self, data: GateData) -> np.ndarray:
        masks = [data.masks[p] for p in self.populations]
        if any(self.complement):
            masks = [~m if c else m for m, c in zip(masks, self.complement, strict=True)]
        if self.op == "not":
            return ~masks[0]
        out = masks[0].copy()
        for m in masks[1:]:
            out = out & m if self.op == "and" else out | m
        return out

    def outlines(self, data: GateData, parent: np.ndarray, x_range: Range, y_range: Range) -> tuple[np.ndarray, ...]:
        return ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.kind, "op": self.op, "populations": list(self.populations)}
        if any(self.complement):
            out["complement"] = list(self.complement)
        return out


@dataclass(frozen=True)
class BoxGate:
    """``low <= x <= high`` on every one of any number of dims (display coordinates; a bound may
    be None, open): a GatingML rectangle or quadrant beyond two dimensions."""

    kind: ClassVar[str] = "box"
    dims: tuple[str, ...]
    low: tuple[float | None, ...]
    high: tuple[float | None, ...]

    def __post_init__(self) -> None:
        if not self.dims or len(self.low) != len(self.dims) or len(self.high) != len(self.dims):
            raise GatingError("a box needs a low and a high bound (or None) per dim")

    def apply(self, data: GateData) -> np.ndarray:
        mask = np.ones(data.n_events, dtype=bool)
        for dim, low, high in zip(self.dims, self.low, self.high, strict=True):
            mask &= _bounds(data.display(dim), low, high)
        return mask

    def outlines(self, data: GateData, parent: np.ndarray, x_range: Range, y_range: Range) -> tuple[np.ndarray, ...]:
        return ()

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "dims": list(self.dims), "low": list(self.low), "high": list(self.high)}


@dataclass(frozen=True)
class EllipsoidGate:
    """Points whose squared Mahalanobis distance to ``mean`` under ``covariance`` is at most
    ``distance_square``, in any number of dims (GatingML's EllipsoidGate, as the standard states it)."""

    kind: ClassVar[str] = "ellipsoid"
    dims: tuple[str, ...]
    mean: tuple[float, ...]
    covariance: tuple[tuple[float, ...], ...]
    distance_square: float

    def __post_init__(self) -> None:
        cov = np.asarray(self.covariance, dtype=np.float64)
        n = len(self.dims)
        if n < 2 or len(self.mean) != n or cov.shape != (n, n):
            raise GatingError("an ellipsoid needs a mean and an n x n covariance (n >= 2 dims)")
        try:
            np.linalg.inv(cov)
        except np.linalg.LinAlgError:
            raise GatingError("the covariance matrix cannot be inverted") from None

    def apply(self, data: GateData) -> np.ndarray:
        points = np.column_stack([data.display(d) for d in self.dims])
        finite = np.all(np.isfinite(points), axis=1)
        points = np.where(finite[:, None], points, 0.0)
        return finite & (mahalanobis2(points, self.mean, self.covariance) <= self.distance_square)

    def outlines(self, data: GateData, parent: np.ndarray, x_range: Range, y_range: Range) -> tuple[np.ndarray, ...]:
        if len(self.dims) != 2:
            return ()
        return (ellipse_outline(self.mean, self.covariance, float(np.sqrt(self.distance_square))),)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "dims": list(self.dims), "mean": list(self.mean),
                "covariance": [list(r) for r in self.covariance], "distance_square": self.distance_square}


@dataclass(frozen=True)
class OutsideGate:
    """The events not inside ``gate`` whose display coordinates are finite on its dims (FlowJo's
    gate drawn with ``eventsInside="0"``)."""

    kind: ClassVar[str] = "outside"
    gate: Any

    @property
    def dims(self) -> tuple[str, ...]:
        """The inner gate's dims."""
        return tuple(self.gate.dims)

    def apply(self, data: GateData) -> np.ndarray:
        finite = np.ones(data.n_events, dtype=bool)
        for dim in self.dims:
            finite &= np.isfinite(data.display(dim))
        return finite & ~self.gate.apply(data)

    def outlines(self, data: GateData, parent: np.ndarray, x_range: Range, y_range: Range) -> tuple[np.ndarray, ...]:
        return tuple(self.gate.outlines(data, parent, x_range, y_range))

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "gate": self.gate.to_dict()}


#: The fixed gate types of strategy files, by ``type:`` name.
GATE_TYPES: dict[str, Any] = {cls.kind: cls for cls in (IntervalGate, RectangleGate, PolygonGate, EllipseGate,
                                                          QuadrantGate, RatioGate)}
