"""Gating strategies as data (YAML, docs/gating-strategy.md) and their application to a sample."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .autogates import AUTO_METHODS
from .compensation import compensate
from .errors import GatingError
from .fcs import Sample
from .gates import BooleanGate, EllipseGate, IntervalGate, PolygonGate, QuadrantGate, RatioGate, RectangleGate
from .panel import Marker, find_channel
from .transforms import Transform

ROOT = "root"
DEFAULT_STRATEGY = Path(__file__).resolve().parent.parent / "gating" / "monocyte-hladr.yaml"
STATISTICS = ("median", "geometric_mean")


@dataclass(frozen=True)
class Population:
    name: str
    parent: str
    gate: Any  # a gate (apply) or an automatic gate (fit)


@dataclass(frozen=True)
class Readout:
    population: str
    marker: str
    statistic: str = "median"


@dataclass(frozen=True)
class QCLimits:
    min_events_unreliable: int = 500
    min_events_warning: int = 3000
    max_doublets_percent: float = 10.0
    max_saturated_percent: float = 1.0


@dataclass(frozen=True)
class Strategy:
    name: str
    markers: Mapping[str, Marker]
    populations: tuple[Population, ...]
    readout: Readout
    qc: QCLimits = field(default_factory=QCLimits)
    source: str = ""


# --- loading -----------------------------------------------------------------------------------


def _transform(spec: Any, where: str) -> Transform:
    if spec is None:
        return Transform()
    if isinstance(spec, str):
        spec = {"kind": spec}
    if not isinstance(spec, dict):
        raise GatingError(f"{where}: transform must be a name or a mapping")
    try:
        return Transform(**{k: (float(v) if k != "kind" else v) for k, v in spec.items()})
    except (TypeError, ValueError) as exc:
        raise GatingError(f"{where}: bad transform ({exc})") from None


def _numbers(value: Any, count: int, where: str, allow_none: bool = False) -> tuple:
    if not isinstance(value, (list, tuple)) or len(value) != count:
        raise GatingError(f"{where}: expected a list of {count} numbers, got {value!r}")
    out = []
    for v in value:
        if v is None and allow_none:
            out.append(None)
            continue
        try:
            out.append(float(v))
        except (TypeError, ValueError):
            raise GatingError(f"{where}: {v!r} is not a number") from None
    return tuple(out)


def _gate(spec: Any, markers: Mapping[str, Marker], where: str) -> Any:
    if not isinstance(spec, dict):
        raise GatingError(f"{where}: gate must be a mapping")
    kind = spec.get("auto") or spec.get("type")
    if kind == "boolean" or "op" in spec:
        return BooleanGate(str(spec.get("op")), tuple(spec.get("populations") or ()))
    dims = tuple(spec.get("dims") or ())
    for d in dims:
        if d not in markers:
            raise GatingError(f"{where}: unknown marker {d!r} (declare it under markers)")
    try:
        if "auto" in spec:
            if kind not in AUTO_METHODS:
                raise GatingError(f"{where}: unknown automatic gate {kind!r} (one of {', '.join(AUTO_METHODS)})")
            expected = 1 if kind == "debris" else 2
            if len(dims) != expected:
                raise GatingError(f"{where}: automatic gate {kind!r} needs {expected} dims")
            options = {k: v for k, v in spec.items() if k not in ("auto", "dims")}
            return AUTO_METHODS[kind](dims, **options)
        fixed = _fixed_gate(kind, spec, dims, where)
        fixed.build([markers[d].transform for d in dims])  # geometry checked now, placed per file
        return fixed
    except GatingError as exc:
        if str(exc).startswith(where):
            raise
        raise GatingError(f"{where}: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise GatingError(f"{where}: bad gate geometry ({exc})") from None


@dataclass(frozen=True)
class FixedGate:
    """A gate written in scale values in the strategy file. Display coordinates depend on the
    file's channel ranges (transforms with ``t`` left to the channel), so the concrete gate is
    placed per file by :meth:`fit`, like an automatic one."""

    dims: tuple[str, ...]
    make: Any  # (to_display(value, i), point(values)) -> concrete gate

    def build(self, transforms: list[Transform]) -> Any:
        def to_display(value: float | None, i: int) -> float | None:
            return None if value is None else float(transforms[i].forward(value)[0])

        def point(values: tuple) -> tuple:
            return tuple(to_display(v, i) for i, v in enumerate(values))

        return self.make(to_display, point)

    def fit(self, data: Any, parent: np.ndarray) -> Any:
        return self.build([data.transform(d) for d in self.dims])


def _fixed_gate(kind: Any, spec: dict, dims: tuple[str, ...], where: str) -> FixedGate:
    """Parse a fixed gate's numbers now; the returned FixedGate places them per file."""
    if kind == "interval":
        if len(dims) != 1:
            raise GatingError(f"{where}: an interval gate has one dim")
        bounds = _numbers([spec.get("low"), spec.get("high")], 2, where, allow_none=True)
        return FixedGate(dims, lambda to_display, point: IntervalGate(dims, to_display(bounds[0], 0),
                                                                      to_display(bounds[1], 0)))
    if kind not in ("rectangle", "polygon", "ellipse", "quadrant", "ratio"):
        raise GatingError(f"{where}: unknown gate type {kind!r}")
    if len(dims) != 2:
        raise GatingError(f"{where}: a {kind} gate needs 2 dims")
    if kind == "ratio":  # scale values on both axes: no display coordinates involved
        ratio_low, ratio_high = float(spec["low"]), float(spec["high"])
        return FixedGate(dims, lambda to_display, point: RatioGate(dims, ratio_low, ratio_high))
    if kind == "rectangle":
        low = _numbers(spec.get("low"), 2, where, allow_none=True)
        high = _numbers(spec.get("high"), 2, where, allow_none=True)
        return FixedGate(dims, lambda to_display, point: RectangleGate(dims, point(low), point(high)))
    if kind == "polygon":
        vertices = [_numbers(v, 2, where) for v in spec.get("vertices") or []]
        return FixedGate(dims, lambda to_display, point: PolygonGate(dims, tuple(point(v) for v in vertices)))
    if kind == "ellipse":  # centre in scale values; covariance in display units
        centre = _numbers(spec.get("center"), 2, where)
        cov = tuple(_numbers(r, 2, where) for r in spec.get("covariance") or [])
        if len(cov) != 2:
            raise GatingError(f"{where}: covariance must be 2x2")
        distance = float(spec.get("distance", 1.0))
        return FixedGate(dims, lambda to_display, point: EllipseGate(dims, point(centre), cov, distance))
    split = _numbers(spec.get("split"), 2, where)
    quadrant = str(spec.get("quadrant"))
    return FixedGate(dims, lambda to_display, point: QuadrantGate(dims, point(split), quadrant))


def parse_strategy(doc: Any, source: str = "") -> Strategy:
    """Build and validate a strategy from its parsed YAML document."""
    if not isinstance(doc, dict):
        raise GatingError("a strategy file must be a YAML mapping", source or None)
    try:
        markers: dict[str, Marker] = {}
        for name, spec in (doc.get("markers") or {}).items():
            spec = spec or {}
            aliases = tuple(str(a) for a in spec.get("aliases") or ())
            markers[str(name)] = Marker(str(name), aliases, _transform(spec.get("transform"), f"marker {name}"))
        populations: list[Population] = []
        names: set[str] = set()
        for i, spec in enumerate(doc.get("populations") or []):
            if not isinstance(spec, dict) or "name" not in spec:
                raise GatingError(f"population #{i + 1}: needs a name")
            name = str(spec["name"])
            where = f"population {name!r}"
            if name in names or name == ROOT:
                raise GatingError(f"{where}: the name is used twice")
            names.add(name)
            populations.append(Population(name, str(spec.get("parent", ROOT)), _gate(spec.get("gate"), markers, where)))
        if not populations:
            raise GatingError("the strategy has no populations")
        for p in populations:
            if p.parent != ROOT and p.parent not in names:
                raise GatingError(f"population {p.name!r}: unknown parent {p.parent!r}")
            if isinstance(p.gate, BooleanGate):
                for other in p.gate.populations:
                    if other not in names:
                        raise GatingError(f"population {p.name!r}: boolean gate names unknown population {other!r}")
        ordered = _order(populations)
        readout_doc = doc.get("readout") or {}
        readout = Readout(str(readout_doc.get("population", ordered[-1].name)),
                          str(readout_doc.get("marker", "")), str(readout_doc.get("statistic", "median")))
        if readout.population not in names:
            raise GatingError(f"readout: unknown population {readout.population!r}")
        if readout.marker not in markers:
            raise GatingError(f"readout: unknown marker {readout.marker!r}")
        if readout.statistic not in STATISTICS:
            raise GatingError(f"readout: statistic must be one of {', '.join(STATISTICS)}")
        qc = QCLimits(**{k: v for k, v in (doc.get("qc") or {}).items()})
    except GatingError as exc:
        raise GatingError(exc.message, source or None) from None
    except TypeError as exc:
        raise GatingError(f"invalid strategy ({exc})", source or None) from None
    return Strategy(str(doc.get("name", "")), markers, tuple(ordered), readout, qc, source)


def _order(populations: list[Population]) -> list[Population]:
    """Parents (and populations a boolean gate uses) before children; a cycle is an error."""
    by_name = {p.name: p for p in populations}
    done: list[Population] = []
    state: dict[str, str] = {}

    def visit(p: Population, path: list[str]) -> None:
        if state.get(p.name) == "done":
            return
        if state.get(p.name) == "visiting":
            raise GatingError(f"population {p.name!r}: cycle ({' -> '.join([*path, p.name])})")
        state[p.name] = "visiting"
        needs = [p.parent] if p.parent != ROOT else []
        if isinstance(p.gate, BooleanGate):
            needs += list(p.gate.populations)
        for n in needs:
            visit(by_name[n], [*path, p.name])
        state[p.name] = "done"
        done.append(p)

    for p in populations:
        visit(p, [])
    return done


def load_strategy(path: str | os.PathLike[str] | None = None) -> Strategy:
    """Load a strategy file (default: ``gating/monocyte-hladr.yaml``)."""
    import yaml

    file_path = Path(path) if path is not None else DEFAULT_STRATEGY
    try:
        doc = yaml.safe_load(file_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GatingError("strategy file not found", file_path) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        raise GatingError(f"not valid YAML{line}", file_path) from None
    return parse_strategy(doc, str(file_path))


# --- applying ----------------------------------------------------------------------------------


class GatingFrame:
    """A sample seen through a strategy: compensated scale values and display coordinates per
    marker (computed once, on first use), and the population masks found so far."""

    def __init__(self, sample: Sample, strategy: Strategy, spillover: tuple[np.ndarray, tuple[str, ...]] | None):
        self.sample = sample
        self.strategy = strategy
        self.n_events = sample.n_events
        self.masks: dict[str, np.ndarray] = {}
        self.channels: dict[str, int] = {}
        for name, marker in strategy.markers.items():
            try:
                self.channels[name] = find_channel(marker, sample.channels, sample.markers)
            except GatingError as exc:
                raise GatingError(exc.message, sample.path) from None
        self._scale: dict[str, np.ndarray] = {}
        self._display: dict[str, np.ndarray] = {}
        self._transforms: dict[str, Transform] = {}
        self._tops = sample.scale_tops()
        self._compensated: dict[int, np.ndarray] = {}
        self.compensation: str = "none"
        if spillover is not None:
            self._compensated = compensate(sample, *spillover)
            self.compensation = f"{len(self._compensated)} channels"

    def scale(self, marker: str) -> np.ndarray:
        if marker not in self._scale:
            column = self.channels[marker]
            values = self._compensated.get(column)
            self._scale[marker] = values if values is not None else self.sample.events[:, column].astype(np.float64)
        return self._scale[marker]

    def transform(self, marker: str) -> Transform:
        """The marker's transform, with ``t`` set to its channel's top of scale where left open."""
        if marker not in self._transforms:
            top = self._tops[self.channels[marker]]
            self._transforms[marker] = self.strategy.markers[marker].transform.resolve(top)
        return self._transforms[marker]

    def display(self, marker: str) -> np.ndarray:
        if marker not in self._display:
            self._display[marker] = self.transform(marker).forward(self.scale(marker))
        return self._display[marker]


@dataclass(frozen=True)
class PopulationResult:
    name: str
    parent: str
    count: int
    percent_of_parent: float
    gate: dict[str, Any]


@dataclass(frozen=True)
class GatingResult:
    """Masks per population (file order), fitted gates, counts, and the channels used."""

    populations: tuple[PopulationResult, ...]
    masks: Mapping[str, np.ndarray]
    gates: Mapping[str, Any]
    channels: Mapping[str, str]
    compensation: str
    frame: GatingFrame = field(repr=False, compare=False)

    def count(self, name: str) -> int:
        return int(self.masks[name].sum())

    def to_dict(self) -> dict[str, Any]:
        return {"populations": [{"name": p.name, "parent": p.parent, "count": p.count,
                                 "percent_of_parent": p.percent_of_parent} for p in self.populations],
                "channels": dict(self.channels), "compensation": self.compensation}


def file_spillover(sample: Sample) -> tuple[np.ndarray, tuple[str, ...]] | None:
    return (sample.spillover.matrix, sample.spillover.channels) if sample.spillover is not None else None


def read_compensation(path: str | os.PathLike[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    """A spillover matrix from CSV: a header of channel names, then one row per dye."""
    import csv

    file_path = Path(path)
    try:
        with open(file_path, newline="", encoding="utf-8") as handle:
            rows = [r for r in csv.reader(handle) if r]
        names = tuple(n.strip() for n in rows[0] if n.strip())
        matrix = np.array([[float(v) for v in r[-len(names):]] for r in rows[1:]], dtype=np.float64)
    except FileNotFoundError:
        raise GatingError("compensation file not found", file_path) from None
    except (ValueError, IndexError):
        raise GatingError("compensation CSV must be a header of channel names and a square matrix of numbers",
                          file_path) from None
    if matrix.shape != (len(names), len(names)):
        raise GatingError(f"compensation matrix is {matrix.shape}, expected {len(names)}x{len(names)}", file_path)
    return matrix, names


def apply_strategy(sample: Sample, strategy: Strategy,
                   spillover: tuple[np.ndarray, tuple[str, ...]] | str | None = "file") -> GatingResult:
    """Gate ``sample``: every population's mask, with automatic gates fitted to this sample.
    ``spillover`` is "file" (the file's own matrix), None (no compensation) or (matrix, channels)."""
    spill = file_spillover(sample) if isinstance(spillover, str) else spillover
    frame = GatingFrame(sample, strategy, spill)
    root = np.ones(sample.n_events, dtype=bool)
    gates: dict[str, Any] = {}
    results: list[PopulationResult] = []
    for population in strategy.populations:
        parent = frame.masks[population.parent] if population.parent != ROOT else root
        gate = population.gate
        if hasattr(gate, "fit"):
            try:
                gate = gate.fit(frame, parent)
            except GatingError as exc:
                raise GatingError(f"population {population.name!r}: {exc.message}", sample.path) from None
        mask = gate.apply(frame) & parent
        frame.masks[population.name] = mask
        gates[population.name] = gate
        n_parent = int(parent.sum())
        count = int(mask.sum())
        results.append(PopulationResult(population.name, population.parent, count,
                                        round(100.0 * count / n_parent, 4) if n_parent else 0.0, gate.to_dict()))
    channels = {m: sample.channels[i] for m, i in frame.channels.items()}
    return GatingResult(tuple(results), dict(frame.masks), gates, channels, frame.compensation, frame)
