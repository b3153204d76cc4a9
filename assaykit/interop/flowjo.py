"""FlowJo 10 workspaces (``.wsp``): each sample's populations, gates, compensation and axis
transforms, read into assaykit's gates (:mod:`assaykit.gating.gates`, a population tree as
GatingML's, :mod:`.gatingml`) and evaluated per event.

FlowJo writes its gates as GatingML elements without compensation references: a dimension
named with the sample's compensation prefix (``Comp-FL1-A``) is the compensated channel. Rectangle
and polygon coordinates are scale values; ellipses are stored by foci and edge points in display
coordinates (the axis transform over ``length`` bins, 256 by default), so an ellipse is evaluated
on the transformed axes. Quadrants are written as four rectangles. A population's name path
(``Lymphocytes/Singlets``) is its id. FlowJo's own result for every population is its ``count``
attribute, kept beside the gates. Axes (dimension transforms, not gates): linear, log, asinh,
logicle and FlowJo's biex (its own table). Boolean nodes (Or/And/Not) are ``BooleanGate``s
combining populations within their parent; a gate drawn "outside" is an ``OutsideGate``. A
group's gates are a template (``--sample GROUP``). FlowJo 9's XML workspaces (version 2.0) have
elements of their own: :mod:`.flowjo9`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import unquote
from xml.etree import ElementTree

import numpy as np

from .._io.names import escape_tree, unescape_tree
from .._io.read import WORKSPACE_LIMIT, read_xml
from .._io.xmlnumbers import MAX_COUNT, xml_integer
from ..errors import GatingError
from ..fcs.compensation import is_flowjo9
from ..gating.gates import BooleanGate, EllipseGate, OutsideGate, PolygonGate
from ..gating.strategy import ROOT, Population
from .flowjo9 import read_flowjo9
from .gatingml import (
    DATATYPE,
    TRANSFORMS,
    UNCOMPENSATED,
    Dimension,
    GatingDocument,
    GmlTransform,
    SpectrumMatrix,
    _g,
    _Reader,
    check_references,
    evaluate,
    evaluated_frame,
)

MAX_WORKSPACE_BYTES = WORKSPACE_LIMIT
MAX_NESTING = 256
"""Populations nested deeper than this are refused (FlowJo's own trees are a few levels deep): a
deeper one would exhaust the interpreter's recursion, and its paths grow with the square of it."""


@dataclass(frozen=True)
class WorkspaceSample:
    """One sample of a workspace: its name, the FCS file name it was made on, its gates as a
    document (ids: population paths), FlowJo's counts (population path -> events; None where
    FlowJo stored none) and the sample's own XML (``<Sample>``, as the workspace holds it)."""

    name: str
    file_name: str
    document: GatingDocument
    counts: Mapping[str, int | None]
    total: int | None
    xml: bytes = field(default=b"", repr=False)

    def population(self, name: str) -> str:
        """The population path named ``name``: a path (``Cells/Singlets/Monocytes``) or, when
        unique, its last part (``Monocytes``, case-insensitive). GatingError naming the choices."""
        if name in self.document.gates:
            return name
        found = [p for p in self.document.gates if p.rsplit("/", 1)[-1].casefold() == name.casefold()]
        if len(found) != 1:
            raise GatingError(f"{'no' if not found else 'more than one'} population {name!r} in workspace sample "
                              f"{self.name!r} (populations: {', '.join(self.document.gates) or 'none'})",
                              self.document.path)
        return found[0]


@dataclass(frozen=True)
class WorkspaceGate:
    """A population of a lab's workspace standing in for one of the strategy's gates (a gate set
    by hand, issue 15): it holds the events the workspace's gates put in ``population`` (their
    own compensation and ancestry). ``dims``: the markers it is drawn on (the replaced gate's);
    ``source``: where it comes from, for the tables; ``sample_xml``: the workspace sample, which
    run.wsp shows as the gate used."""

    kind: ClassVar[str] = "workspace"
    dims: tuple[str, ...]
    document: GatingDocument = field(repr=False)
    population: str
    source: str
    sample_xml: bytes = field(default=b"", repr=False)

    def apply(self, data: Any) -> np.ndarray:
        return evaluate(self.document, data.sample)[self.population]

    def outlines(self, data: Any, parent: np.ndarray, x_range: Any, y_range: Any) -> tuple[np.ndarray, ...]:
        """The convex hull of the gated events on the drawn axes (the workspace's own geometry
        may be on other axes and transforms)."""
        from .._geometry import hull_outline

        if len(self.dims) != 2:
            return ()
        held = self.apply(data) & parent
        outline = hull_outline(np.column_stack([data.display(d)[held] for d in self.dims]))
        return () if outline is None else (outline,)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "dims": list(self.dims), "source": self.source}


@dataclass(frozen=True)
class Workspace:
    """A FlowJo workspace: its samples by name, in workspace order."""

    path: Path
    samples: Mapping[str, WorkspaceSample]
    groups: Mapping[str, WorkspaceSample | GatingError] = field(default_factory=dict)

    def sample_for(self, file_name: str, name: str | None = None) -> WorkspaceSample:
        """The sample named ``name`` (else the group of that name, as a template: its gates with
        its first member sample's compensation and axes, no FlowJo counts), else the sample whose
        name or data file is ``file_name``."""
        if name is not None:
            if name in self.samples:
                return self.samples[name]
            group = self.groups.get(name)
            if isinstance(group, GatingError):
                raise group
            if group is None:
                raise GatingError(f"no sample {name!r} in the workspace (samples: {', '.join(self.samples)}"
                                  + (f"; groups with gates: {', '.join(self.groups)}" if self.groups else "") + ")",
                                  self.path)
            return group
        found = [s for s in self.samples.values() if file_name in (s.name, s.file_name)]
        if len(found) != 1:
            names = list(self.samples)
            shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
            raise GatingError(f"{'no' if not found else 'more than one'} workspace sample matches {file_name!r} "
                              f"by its name or data file (samples: {shown or 'none'})", self.path)
        return found[0]


def _d(tag: str) -> str:
    return f"{{{DATATYPE}}}{tag}"


def _t(tag: str) -> str:
    return f"{{{TRANSFORMS}}}{tag}"


class _WorkspaceReader(_Reader):
    """FlowJo's dialect: dimensions without compensation-ref, ellipses by foci and edges."""

    def __init__(self, path: Path, prefix: str, matrix_id: str | None,
                 axes: tuple[Mapping[str, GmlTransform], Mapping[str, str]], axes_known: bool = True) -> None:
        super().__init__(path)
        self.prefix, self.matrix_id = prefix, matrix_id
        self.axes, self.curved = axes  # evaluable display transforms; channels on other non-linear axes
        self.axes_known = axes_known  # False: a group template without member samples

    def dimension(self, element: Any) -> Dimension:
        children = [c for c in element if c.tag == _d("fcs-dimension")]
        if len(children) != 1:
            raise self.fail(element, "expected one fcs-dimension")
        name = self.channel_name(children[0])
        compensated = self.matrix_id is not None and self.prefix and name.startswith(self.prefix)
        return Dimension(name, self.matrix_id if compensated and self.matrix_id is not None else UNCOMPENSATED)

    def gate(self, element: Any) -> list[Population]:
        """FlowJo draws a polygon's edges straight on the display axes: on a non-linear axis it is
        evaluated there (vertices and events transformed alike)."""
        found = super().gate(element)
        for i, population in enumerate(found):
            gate = population.gate
            if not isinstance(gate, PolygonGate):
                continue
            if not self.axes_known:
                raise self.fail(element, "a polygon in a group without member samples: its display axes are unknown "
                                         "(choose a sample of the group)")
            dims, vertices = list(gate.dims), np.array(gate.vertices, dtype=np.float64)
            for j, key in enumerate(dims):
                dim = self.dimensions[key]
                assert dim.channel is not None  # a FlowJo dimension is a channel (dimension())
                if dim.channel in self.curved:
                    raise self.fail(element, f"a polygon on {dim.channel!r}, a {self.curved[dim.channel]} axis "
                                             "assaykit cannot evaluate yet")
                axis = self.axes.get(dim.channel)
                if axis is not None and axis.kind != "flin":  # linear axes: scale values are equivalent
                    vertices[:, j] = axis.apply(vertices[:, j])
                    dims[j] = self.key(Dimension(dim.channel, dim.compensation, transform=axis.id))
            found[i] = replace(population, gate=PolygonGate((dims[0], dims[1]),
                                                            tuple((float(x), float(y)) for x, y in vertices)))
        return found

    def ellipsoid(self, element: Any) -> Any:
        dims = [self.dimension(d) for d in element.findall(_g("dimension"))]
        edge = [[self.number(c, _d("value")) for c in v.findall(_g("coordinate"))]
                for v in element.findall(f"{_g('edge')}/{_g('vertex')}")]
        foci = [[self.number(c, _d("value")) for c in v.findall(_g("coordinate"))]
                for v in element.findall(f"{_g('foci')}/{_g('vertex')}")]
        if len(dims) != 2 or len(edge) != 4 or len(foci) != 2 or any(len(v) != 2 for v in edge + foci):
            raise self.fail(element, "a FlowJo ellipse needs two dimensions, two foci and four edge points")
        axes = []
        for dim in dims:
            assert dim.channel is not None  # a FlowJo dimension is a channel (dimension())
            if dim.channel in self.axes and self.axes[dim.channel].kind == "flowjo-log":
                raise self.fail(element, f"an ellipse on {dim.channel!r}, a log axis (FlowJo's ellipse coordinates "
                                         "there are not verified); redraw it as a polygon")
            if not self.axes_known:
                raise self.fail(element, "an ellipse in a group without member samples: its display axes are "
                                         "unknown (choose a sample of the group)")
            if dim.channel not in self.axes:
                raise self.fail(element, f"an ellipse on {dim.channel!r}, an axis whose transform FlowJo did not "
                                         "record or assaykit cannot evaluate; redraw it as a polygon")
            axes.append(self.axes[dim.channel])
        edge_points, centre = np.asarray(edge), np.mean(np.asarray(foci), axis=0)
        major, minor = edge_points[0] - edge_points[1], edge_points[2] - edge_points[3]
        a, b = np.linalg.norm(major) / 2, np.linalg.norm(minor) / 2
        if a <= 0 or b <= 0:
            raise self.fail(element, "an ellipse with a zero axis")
        rotation = np.column_stack([major / (2 * a), np.array([-major[1], major[0]]) / (2 * a)])
        covariance = rotation @ np.diag([a**2, b**2]) @ rotation.T  # distance 1 on the ellipse itself
        keys = [self.key(Dimension(d.channel, d.compensation, transform=axis.id))
                for d, axis in zip(dims, axes, strict=True)]
        return EllipseGate((keys[0], keys[1]), (float(centre[0]), float(centre[1])),
                           ((float(covariance[0, 0]), float(covariance[0, 1])),
                            (float(covariance[1, 0]), float(covariance[1, 1]))), 1.0)


def _axes(sample: Any, reader: _Reader) -> tuple[dict[str, GmlTransform], dict[str, str]]:
    """Each channel's display transform (to FlowJo's bins, 0..length), where assaykit can evaluate
    it: linear, asinh and logicle as GatingML transforms scaled by ``length``, FlowJo's log and
    FlowJo's biex (its table); and the channels on other axes, with the transform's name."""
    axes: dict[str, GmlTransform] = {}
    curved: dict[str, str] = {}
    for node in sample.findall("Transformations/*"):
        kind = node.tag.rsplit("}", 1)[-1]
        parameter = node.find(_d("parameter"))
        if parameter is None or not parameter.get(_d("name")):
            continue
        channel = parameter.get(_d("name"))

        def number(key: str, default: float | None = None, _node: Any = node) -> float:
            value = _node.get(_t(key))
            if value is None and default is not None:
                return default
            return reader.number(_node, _t(key))

        length = number("length", 256.0)
        if kind == "linear":
            low, high = number("minRange", 0.0), number("maxRange")
            params: tuple[tuple[str, float], ...] = (("T", high), ("A", -low))
            gml = "flin"
        elif kind == "fasinh":
            params = (("T", number("T")), ("M", number("M")), ("A", number("A")))
            gml = "fasinh"
        elif kind == "logicle":
            params = (("T", number("T")), ("W", number("W")), ("M", number("M")), ("A", number("A")))
            gml = "logicle"
        elif kind == "log":  # FlowJo's own: clamped at the offset, no bins (polygons only)
            offset, decades = number("offset"), number("decades")
            if offset <= 0 or decades <= 0:
                raise reader.fail(node, "a log axis needs a positive offset and positive decades")
            axes[channel] = _FlowJoLog(f"axis:{channel}", "flowjo-log", (("offset", offset), ("decades", decades)))
            continue
        elif kind == "biex":  # FlowJo's own biexponential: a 4,096-channel table, display = channel / 4,096
            table = biex_table(pos=number("pos", 4.418539922), neg=number("neg", 0.0),
                               width=number("width", -10.0), top=number("maxRange", 262144.0))
            axes[channel] = _FlowJoBiex(f"axis:{channel}", "flowjo-biex", (), (), length, table)
            continue
        else:  # anything else: not evaluated on display coordinates
            curved[channel] = kind
            continue
        axes[channel] = _ScaledTransform(f"axis:{channel}", gml, params, (), length)
    return axes, curved


@dataclass(frozen=True)
class _ScaledTransform(GmlTransform):
    """A GatingML transform times ``length``: FlowJo's display bins."""

    length: float = 256.0

    def apply(self, x: np.ndarray) -> np.ndarray:
        return GmlTransform.apply(self, x) * self.length


@dataclass(frozen=True)
class _FlowJoLog(GmlTransform):
    """FlowJo's log axis: ``(log10(max(x, offset)) - log10(offset)) / decades``."""

    def apply(self, x: np.ndarray) -> np.ndarray:
        p = self.p
        offset = p["offset"]
        return (np.log10(np.maximum(x, offset)) - math.log10(offset)) / p["decades"]


@dataclass(frozen=True, eq=False)
class _FlowJoBiex(_ScaledTransform):
    """FlowJo's biex axis: scale values -> channels by the table (linear between its points,
    clamped at both ends as FlowJo's display is), times ``length / channels``."""

    table: np.ndarray = field(default_factory=lambda: np.zeros(2))

    def apply(self, x: np.ndarray) -> np.ndarray:
        channels = len(self.table) - 1
        return np.interp(x, self.table, np.arange(channels + 1.0)) * (self.length / channels)


BIEX_CHANNELS = 4096


def biex_table(*, pos: float, neg: float, width: float, top: float, channels: int = BIEX_CHANNELS) -> np.ndarray:
    """FlowJo's biexponential ("biex") transform as FlowJo tabulates it: the scale value at each
    of ``channels`` + 1 display channels (channel 0 at the bottom of the axis, ``channels`` at the
    top).

    The axis is ``top * exp(-P) * (exp(c P / n) - s exp(-c N / n) - offset)`` above the zero
    channel and its mirror image below it (n = channels + 1), with ``P`` the positive range in
    natural-log units, ``N`` the negative range solving ``2 ln(N / P) + w (P + N) = 0`` (the
    hyperlog/logicle width relation), ``s`` placing the zero channel and ``offset`` making the
    zero channel exactly 0. Checked against FlowJo's own table in
    ``../shared/interop/flowjo/flowjo_xforms`` (tests/interop/test_flowjo.py).

    Parameters
    ----------
    pos : float
        Positive decades of the axis (FlowJo's ``pos``, e.g. 4.42 for a 262,144 top).
    neg : float
        Extra negative decades (FlowJo's ``neg``, 0 or more).
    width : float
        FlowJo's width basis (negative, e.g. -10; its log10 magnitude is the linear region's
        width in decades).
    top : float
        The top of scale, in scale values (FlowJo's ``maxRange``).
    channels : int
        Number of display channels the table resolves (FlowJo: 4,096).
    """
    if not (pos > 0 and width < 0 and top > 0 and channels >= 2 and math.isfinite(neg)):
        raise ValueError("biex needs pos > 0, width < 0, top > 0")
    linear = math.log10(-width)
    decades, extra = pos - linear / 2, max(neg, 0.0) + linear / 2
    zero = min(int(extra * channels / (extra + decades)), channels // 2)
    if zero > 0:
        decades = extra * channels / zero
    w = linear / (2 * decades)
    positive = math.log(10) * decades
    negative = positive if w == 0 else _biex_negative_range(positive, w)
    n = channels + 1
    c = np.arange(n, dtype=np.float64)
    shift = math.exp((positive + negative) * (w + extra / decades))
    values = np.exp(c * positive / n) - shift * np.exp(-c * negative / n)
    values = top * math.exp(-positive) * (values - values[zero])
    below = np.arange(zero)
    values[below] = -values[2 * zero - below]
    return values


def _biex_negative_range(positive: float, w: float) -> float:
    """The root N in (0, P] of ``2 ln(N / P) + w (P + N) = 0`` (w > 0)."""
    from scipy.optimize import brentq

    def f(d: float) -> float:
        return 2 * math.log(d / positive) + w * (positive + d)

    low = positive * 1e-12
    while f(low) > 0:
        low *= 1e-6
    return float(brentq(f, low, positive, xtol=1e-15, rtol=4 * np.finfo(float).eps))


def _matrix(sample: Any, path: Path) -> tuple[SpectrumMatrix | None, str]:
    from ..fcs.compensation import _matrix_of

    node = sample.find(f"Transformations/{_t('spilloverMatrix')}")
    if node is None:
        node = next(sample.iter(_t("spilloverMatrix")), None)
    if node is None:
        return None, ""
    matrix, names = _matrix_of(node, path)
    prefix = node.get("prefix", "Comp-")
    ident = node.get(_t("id")) or "workspace"
    return SpectrumMatrix(ident, tuple(prefix + n for n in names), tuple(names), matrix), prefix


_BOOLEAN_NODES = {"OrNode": "or", "AndNode": "and", "NotNode": "not"}


def _populations(node: Any, parent: str | None, reader: _WorkspaceReader, gates: dict[str, Population],
                 counts: dict[str, int | None], depth: int = 0) -> None:
    for population in node.findall("Subpopulations/*"):
        if depth >= MAX_NESTING:
            raise reader.fail(population, f"populations nested more than {MAX_NESTING} deep")
        kind = population.tag
        if kind != "Population" and kind not in _BOOLEAN_NODES:
            raise reader.fail(population, f"unsupported FlowJo node {kind!r} (derived parameters and other "
                                          "nodes are not read)")
        name = population.get("name", "")
        path = f"{parent}/{name}" if parent else name
        if path in gates or path == ROOT:
            raise reader.fail(population, f"two populations at {path!r}" if path in gates else
                              f"a population named {ROOT!r} (a name assaykit reserves)")
        if kind in _BOOLEAN_NODES:
            gates[path] = Population(path, parent or ROOT, _boolean(population, path, reader))
        else:
            gates[path] = Population(path, parent or ROOT, _population_gate(population, path, reader))
        count = xml_integer(population.get("count", "-1"), low=-1)
        if count is None:
            raise reader.fail(population, f"count={population.get('count', '')[:40]!r} is not a whole number of "
                                          f"events from -1 (none stored) to {MAX_COUNT:,}")
        counts[path] = count if count >= 0 else None
        _populations(population, path, reader, gates, counts, depth + 1)


def _population_gate(population: Any, path: str, reader: _WorkspaceReader) -> Any:
    gate_node = population.find("Gate")
    elements = [c for c in gate_node] if gate_node is not None else []
    if len(elements) != 1:
        raise reader.fail(population, f"population {path!r} has no gate assaykit can read")
    element = elements[0]
    if not element.get(_g("id")):  # a group's template gate: its id is on <Gate> (the path identifies it anyway)
        element.set(_g("id"), gate_node.get(_g("id")) or path)
    found = reader.gate(element)
    if len(found) != 1:
        raise reader.fail(element, f"population {path!r}: one gate expected")
    inside = element.get("eventsInside", "1").strip()
    if inside not in ("0", "1"):
        raise reader.fail(element, f"population {path!r}: eventsInside={inside!r} (0 or 1 expected)")
    return OutsideGate(found[0].gate) if inside == "0" else found[0].gate


def _boolean(node: Any, path: str, reader: _WorkspaceReader) -> BooleanGate:
    """A FlowJo boolean node: the or/and/not of the populations its Dependents name (paths from
    the sample, or names beside the node), within the node's parent population."""
    operator = _BOOLEAN_NODES[node.tag]
    terms = []
    for dependent in node.findall("Dependents/Dependent"):
        name = (dependent.get("name") or "").strip().strip("/")
        if not name:
            raise reader.fail(dependent, f"boolean population {path!r}: a Dependent without a name")
        terms.append(name)
    if (operator == "not" and len(terms) != 1) or (operator != "not" and len(terms) < 2):
        raise reader.fail(node, f"boolean population {path!r}: '{operator}' needs "
                                f"{'one population' if operator == 'not' else 'two or more populations'}")
    return BooleanGate(operator, tuple(terms))


def _resolve_dependents(gates: dict[str, Population], reader: _WorkspaceReader, element: Any) -> None:
    """Dependents named relative to the boolean node's parent become full population paths."""
    for path, population in list(gates.items()):
        gate = population.gate
        if not isinstance(gate, BooleanGate):
            continue
        terms = []
        for name in gate.populations:
            beside = f"{population.parent}/{name}" if population.parent != ROOT else name
            found = name if name in gates else beside if beside in gates else None
            if found is None or found == path:
                raise reader.fail(element, f"boolean population {path!r} depends on {name!r}, which is not a "
                                           "population of this sample")
            terms.append(found)
        gates[path] = replace(population, gate=replace(gate, populations=tuple(terms)))


def edge_events(document: GatingDocument, sample: Any) -> dict[str, int]:
    """For each polygon and ellipse of a workspace ``document`` (drawn inside or outside): how
    many of its parent's events lie within one display bin of its boundary (the square of one bin
    centred on the event holds points on both sides). FlowJo evaluates these gates on binned
    display coordinates, so its count can differ from assaykit's exact one by at most this many
    events (docs/interop.md).

    Parameters
    ----------
    document : GatingDocument
        A sample's gates as :func:`read_workspace` read them.
    sample : Sample
        The FCS file the gates are evaluated on.
    """
    from flowutils.gating import points_in_polygon

    from .._geometry import mahalanobis2

    frame = evaluated_frame(document, sample)  # one frame: the display values and the memberships
    members = frame.masks
    found: dict[str, int] = {}
    for population in document.populations:
        gate = population.gate.gate if isinstance(population.gate, OutsideGate) else population.gate
        if not isinstance(gate, PolygonGate | EllipseGate):
            continue
        dims = [document.dimensions[key] for key in gate.dims]
        axes = [a for d in dims if (a := document.transforms.get(f"axis:{d.channel}")) is not None]
        if len(axes) != len(dims):
            continue
        display = np.column_stack([frame.display(key) if d.transform else axis.apply(frame.display(key))
                                   for key, d, axis in zip(gate.dims, dims, axes, strict=True)])
        parent = members[population.parent] if population.parent != ROOT else np.ones(len(display), dtype=bool)
        display = display[parent & np.all(np.isfinite(display), axis=1)]
        if isinstance(gate, PolygonGate):
            vertices = np.array(gate.vertices, dtype=np.float64)
            for j, (dim, axis) in enumerate(zip(dims, axes, strict=True)):
                if not dim.transform:
                    vertices[:, j] = axis.apply(vertices[:, j])

            inside: Callable[[np.ndarray], np.ndarray]

            def inside(points: np.ndarray, _v: np.ndarray = vertices) -> np.ndarray:
                return np.asarray(points_in_polygon(_v, points), dtype=bool)
        else:
            def inside(points: np.ndarray, _e: EllipseGate = gate) -> np.ndarray:
                return mahalanobis2(points, _e.center, _e.covariance) <= _e.distance**2
        corners = [inside(display + np.array([dx, dy])) for dx in (-0.5, 0.5) for dy in (-0.5, 0.5)]
        found[population.name] = int(np.sum(np.any(corners, axis=0) & ~np.all(corners, axis=0)))
    return found


def _check_version(root: Any, path: Path) -> None:
    """FlowJo 10 (version 20.0) stores its gates as GatingML elements, read here; FlowJo 9's
    version 2.0 has its own elements (:mod:`.flowjo9`). Refused by version: FlowJo 9.7.2 and
    later for Mac (3.0, renamed attributes: not read yet) and FlowJo 7 for Windows and earlier
    (below 2.0)."""
    version = root.get("version", "").strip()
    try:
        number = float(version)
    except ValueError:
        raise GatingError(f"FlowJo workspace without a readable version ({version!r})", path) from None
    if number < 2.0 or 3.0 <= number < 4.0:
        writer = "FlowJo 9.7.2 or later for Mac" if number >= 3.0 else "FlowJo 7 or earlier"
        raise GatingError(f"FlowJo workspace version {version} ({writer}) is not read (FlowJo 9's version 2.0 "
                          "and FlowJo 10's .wsp are); open it in FlowJo 10 and save it as .wsp", path)


def read_workspace(path: str | Path) -> Workspace:
    """The FlowJo workspace at ``path`` (FlowJo 10 ``.wsp``, or FlowJo 9's ``.xml`` of version 2.0,
    :mod:`.flowjo9`): every sample with its gates and FlowJo's counts.

    Parameters
    ----------
    path : str or Path
        The workspace file (XML, at most 256 MiB; parsed without entities or network access).
    """
    from .export import register_namespaces

    register_namespaces()
    file_path = Path(path)
    root = read_xml(file_path, GatingError, "FlowJo workspace", MAX_WORKSPACE_BYTES)
    if root.tag != "Workspace":
        raise GatingError("not a FlowJo workspace (its root is not <Workspace>)", file_path)
    _check_version(root, file_path)
    if is_flowjo9(root):
        found = read_flowjo9(root, file_path)
        if not found:
            raise GatingError("the workspace holds no sample", file_path)
        return Workspace(path=file_path, samples={name: WorkspaceSample(**fields) for name, fields in found.items()})
    read: dict[str, tuple[Any, dict[str, Any]]] = {}  # sample name -> its element, what it holds
    by_id: dict[str, Any] = {}
    unescape_tree(root)  # names as written (assaykit's run.wsp: _io.names.escape)
    for sample in root.findall("SampleList/Sample"):
        node = sample.find("SampleNode")
        if node is None:
            continue
        document, counts = _document(node, sample, file_path)
        dataset = sample.find("DataSet")
        uri = dataset.get("uri", "") if dataset is not None else ""
        name = node.get("name", "")
        ident = (dataset.get("sampleID") if dataset is not None else None) or node.get("sampleID")
        if ident:
            by_id.setdefault(ident, sample)
        total = xml_integer(node.get("count", "-1"), low=-1)
        if total is None:
            raise GatingError(f"FlowJo sample {name!r}: count={node.get('count', '')[:40]!r} is not a whole number "
                              f"of events from -1 (none stored) to {MAX_COUNT:,}", file_path)
        file_name = unquote(uri.replace("\\", "/").rsplit("/", 1)[-1], errors="surrogateescape")  # os.fsdecode's
        read[name] = (sample, {"name": name, "file_name": file_name, "document": document, "counts": counts,
                               "total": total if total >= 0 else None})
    if not read:
        raise GatingError("the workspace holds no sample", file_path)
    groups = _groups(root, by_id, file_path)
    escape_tree(root)  # each sample's XML as a workspace holds it (names escaped), to be written again
    samples = {name: WorkspaceSample(**fields, xml=ElementTree.tostring(sample, encoding="utf-8"))
               for name, (sample, fields) in read.items()}
    return Workspace(path=file_path, samples=samples, groups=groups)


def _document(node: Any, sample: Any | None, path: Path) -> tuple[GatingDocument, dict[str, int | None]]:
    """The gates under ``node`` (a SampleNode or GroupNode) with the compensation and display
    axes of ``sample`` (None: a group without member samples, whose axes are unknown)."""
    matrix, prefix = _matrix(sample, path) if sample is not None else (None, "Comp-")
    axes = _axes(sample, _Reader(path)) if sample is not None else ({}, {})
    reader = _WorkspaceReader(path, prefix, matrix.id if matrix else None, axes, axes_known=sample is not None)
    gates: dict[str, Population] = {}
    counts: dict[str, int | None] = {}
    _populations(node, None, reader, gates, counts)
    _resolve_dependents(gates, reader, node)
    transforms = {t.id: t for t in reader.axes.values()}
    document = GatingDocument(path=path, transforms=transforms, matrices={matrix.id: matrix} if matrix else {},
                              dimensions=reader.dimensions, populations=tuple(gates.values()))
    check_references(document, "FlowJo workspace", "population")
    return document, counts


def _groups(root: Any, by_id: Mapping[str, Any], path: Path) -> dict[str, WorkspaceSample | GatingError]:
    """Each group holding gates, as a template: its gates with the compensation and axes of its
    first member sample; a group that cannot be read keeps its error until it is chosen."""
    groups: dict[str, WorkspaceSample | GatingError] = {}
    for node in root.findall("Groups/GroupNode"):
        if node.find("Subpopulations") is None:
            continue
        name = node.get("name", "")
        refs = [r.get("sampleID") for r in node.findall("Group/SampleRefs/SampleRef")]
        member = next((by_id[r] for r in refs if r in by_id), None)
        try:
            document, counts = _document(node, member, path)
        except GatingError as error:
            groups[name] = error
            continue
        groups[name] = WorkspaceSample(name=name, file_name="", document=document,
                                       counts=dict.fromkeys(counts), total=None)
    return groups
