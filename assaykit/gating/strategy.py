"""Gating strategies as data (YAML, docs/gating-strategy.md): loading and validation.
Applying a strategy to a sample is :mod:`.apply`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import GatingError
from ..fcs.channels import Marker
from .autogates import AUTO_METHODS
from .gates import BooleanGate, EllipseGate, IntervalGate, PolygonGate, QuadrantGate, RatioGate, RectangleGate
from .transforms import Transform

ROOT = "root"
#: What a population is for the pipeline, whatever the strategy calls it: ``singlets`` (the
#: doublet check and the ``singlets`` column). A population declares it with ``role:``; without
#: any declaration the population gated by the automatic singlets gate has it.
ROLES = ("singlets",)
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
    transforms: Mapping[str, Transform] = field(default_factory=dict)  # per marker; linear when absent
    sha256: str = ""  # of the strategy file's bytes
    roles: Mapping[str, str] = field(default_factory=dict)  # role (ROLES) -> population name

    @property
    def singlets(self) -> str | None:
        """The population that holds the singlets (the doublet check runs on it), or None."""
        return self.roles.get("singlets")


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


def _gate(spec: Any, markers: Mapping[str, Marker], transforms: Mapping[str, Transform], where: str) -> Any:
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
        fixed.build([transforms[d] for d in dims])  # geometry checked now, placed per file
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
        transforms: dict[str, Transform] = {}
        for name, spec in (doc.get("markers") or {}).items():
            spec = spec or {}
            aliases = tuple(str(a) for a in spec.get("aliases") or ())
            markers[str(name)] = Marker(str(name), aliases)
            transforms[str(name)] = _transform(spec.get("transform"), f"marker {name}")
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
            gate = _gate(spec.get("gate"), markers, transforms, where)
            populations.append(Population(name, str(spec.get("parent", ROOT)), gate))
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
        roles = _roles(doc.get("populations") or [], populations)
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
    return Strategy(name=str(doc.get("name", "")), markers=markers, populations=tuple(ordered), readout=readout,
                    qc=qc, source=source, transforms=transforms, roles=roles)


def _roles(specs: list[Any], populations: list[Population]) -> dict[str, str]:
    """Role -> population: declared with ``role:``, else inferred from the automatic gates."""
    from .autogates import SingletGate

    roles: dict[str, str] = {}
    for spec in specs:
        role = spec.get("role") if isinstance(spec, dict) else None
        if role is None:
            continue
        if role not in ROLES:
            raise GatingError(f"population {spec['name']!r}: unknown role {role!r} (one of {', '.join(ROLES)})")
        if role in roles:
            raise GatingError(f"role {role!r} is given to two populations: {roles[role]!r} and {spec['name']!r}")
        roles[role] = str(spec["name"])
    if "singlets" not in roles:
        found = [p.name for p in populations if isinstance(p.gate, SingletGate)]
        if len(found) == 1:
            roles["singlets"] = found[0]
    return roles


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


DEFAULT_STRATEGY = "monocyte-hladr"  # a shipped strategy (the repository's gating/ folder)


def load_strategy(path: str | os.PathLike[str] | None = None) -> Strategy:
    """Load a strategy: ``path`` is a YAML file or the name of a shipped strategy (``assaykit
    strategy show`` lists them); None loads the default, ``monocyte-hladr``."""
    from .._files import read_config

    config = read_config(DEFAULT_STRATEGY if path is None else path, folder="", error=GatingError,
                         what="strategy file")
    return replace(parse_strategy(config.doc, config.source), sha256=config.sha256)
