"""Write the gates fitted on each tube as a FlowJo 10 workspace (``run.wsp``): one sample per
tube, referencing its FCS file, with the compensation and axis transforms the fit used and each
population's gate, so that the run opens in FlowJo showing assaykit's gates.

FlowJo's dialect (:mod:`.flowjo` reads the same): a compensated channel is named with the
matrix's prefix (``Comp-PE-A``); every channel has one display axis (linear, log, asinh or
logicle, ``length`` 256 bins); rectangles and polygons are stored in scale values, a polygon's
edges straight on the display axes; ellipses by foci and edge points in display bins.

Exact on purpose, as the GatingML export: a rectangle bound (assaykit's bounds are display
values, inclusive; FlowJo's are scale values, the upper one exclusive) is placed between the
tube's own events, so FlowJo holds the events assaykit held; the events assaykit removed before
gating are left out by a first population, ``assaykit-events``. The singlets' ratio gate (FSC-H
over FSC-A within bounds) is a wedge polygon from the origin on the two linear axes. A gate
FlowJo cannot show as fitted (a polygon or ellipse on a channel whose axis another gate
needs otherwise) is refused, and the tube is left out of the workspace with a flag.
Boolean gates are FlowJo Or/And/Not nodes naming their populations by path.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree

import numpy as np

from .._io.names import escape
from ..errors import GatingError
from ..gating.gates import BooleanGate, EllipseGate, IntervalGate, PolygonGate, QuadrantGate, RatioGate, RectangleGate
from ..gating.kernels import extremes
from .export import _LARGEST, _SMALLEST_POSITIVE, EVENTS_GATE, _num, _up, removed_limits, xml_bytes
from .export import element as _element
from .flowjo import WorkspaceGate
from .gatingml import DATATYPE, GATING, TRANSFORMS

LENGTH = 256.0  # FlowJo's display bins per axis
_PREFIX = "Comp-"
_MATRIX_ID = "assaykit-compensation"


def _dimension(gate: Any, channel: str, **bounds: str) -> None:
    """A gate dimension on ``channel`` (FlowJo's name), with its ``g_min``/``g_max`` if given."""
    node = _element(gate, f"{{{GATING}}}dimension", **bounds)
    _element(node, f"{{{DATATYPE}}}fcs-dimension", d_name=channel)


def _bound(scale: np.ndarray, display: np.ndarray, bound: float, upper: bool, nominal: float) -> float:
    """The scale value that splits the events as the display ``bound`` does (inclusive): for a
    lower bound the least included value, for an upper bound the next float above the greatest
    included one, ``nominal`` (the bound's inverse transform) whenever it already splits them."""
    inside = display <= bound if upper else display >= bound
    held_low, held_high, left_low, left_high, held, left = extremes(scale, inside)
    if upper:
        ok = (not held or nominal > held_high) and (not left or nominal <= left_low)
        return nominal if ok else (_up(held_high) if held else nominal)
    ok = (not held or nominal <= held_low) and (not left or nominal > left_high)
    return nominal if ok else (held_low if held else nominal)


def _gate_element(holder: Any, kind: str) -> Any:
    """FlowJo's gate element in ``holder`` (a ``<Gate>``), with the same ``gating:id``."""
    ident = holder.get(f"{{{GATING}}}id")
    return _element(holder, f"{{{GATING}}}{kind}", eventsInside="1", g_id=ident)


class _SampleWriter:
    """One tube's ``<Sample>``: compensation, axes, populations."""

    def __init__(self, result: Any) -> None:
        self.result = result
        self.frame = result.frame
        self.sample = self.frame.sample
        spill = self.frame.spillover
        self.compensated = set(spill.channels) if spill is not None else set()
        self.axes: dict[str, str] = {}  # channel (FlowJo's name) -> the marker whose display axis it is
        self.ids = 0
        self.root = ElementTree.Element("Sample")

    def fail(self, problem: str) -> GatingError:
        return GatingError(f"run.wsp: {problem}", self.sample.path)

    def name(self, marker: str) -> str:
        channel = self.result.channels[marker]
        return _PREFIX + channel if channel in self.compensated else channel

    def axis(self, marker: str) -> str:
        """``marker``'s channel as FlowJo names it; its axis is the marker's display transform."""
        name = self.name(marker)
        held = self.axes.setdefault(name, marker)
        if held != marker and self.frame.transform(held) != self.frame.transform(marker):
            raise self.fail(f"channel {name} is displayed as two markers ({held}, {marker}) on different axes")
        return name

    def bounds(self, marker: str, low: float | None, high: float | None) -> tuple[float | None, float | None]:
        """Display bounds (inclusive) -> FlowJo scale bounds [min, max) on this tube's events."""
        form, scale = self.frame.transform(marker), self.frame.scale(marker)
        display = self.frame.display(marker)
        out_low = None if low is None else _bound(scale, display, low, False, float(form.inverse(low)[0]))
        out_high = None
        if high is not None:
            out_high = _bound(scale, display, high, True, _up(float(form.inverse(high)[0])))
        return out_low, out_high

    def rectangle(self, holder: Any, names: Sequence[str], lows: Sequence[float | None],
                  highs: Sequence[float | None]) -> None:
        node = _gate_element(holder, "RectangleGate")
        for name, low, high in zip(names, lows, highs, strict=True):
            attributes = {}
            if low is not None:
                attributes["g_min"] = _num(low)
            if high is not None:
                attributes["g_max"] = _num(high)
            _dimension(node, name, **attributes)

    def polygon(self, holder: Any, names: Sequence[str], vertices: np.ndarray) -> None:
        node = _gate_element(holder, "PolygonGate")
        for name in names:
            _dimension(node, name)
        for vertex in vertices:
            point = _element(node, f"{{{GATING}}}vertex")
            for value in vertex:
                _element(point, f"{{{GATING}}}coordinate", d_value=_num(value))

    def gate(self, holder: Any, gate: Any) -> tuple[str, ...]:
        """Write ``gate`` (a :mod:`assaykit.gating.gates` object) into ``holder`` (a ``<Gate>``);
        the channels it is drawn on."""
        writers: dict[type, Callable[[Any, Any], tuple[str, ...]]] = {
            IntervalGate: self.interval, RectangleGate: self.box, QuadrantGate: self.box,
            PolygonGate: self.polygon_gate, EllipseGate: self.ellipse, RatioGate: self.ratio}
        write = writers.get(type(gate))
        if write is None:
            raise self.fail(f"a {getattr(gate, 'kind', type(gate).__name__)} gate is not written to a FlowJo workspace")
        return write(holder, gate)

    def interval(self, holder: Any, gate: IntervalGate) -> tuple[str, ...]:
        name = self.axis(gate.dims[0])
        if gate.low is None and gate.high is None:  # every (finite) event
            self.rectangle(holder, [name], [-_LARGEST], [None])
        else:
            self.rectangle(holder, [name], *zip(self.bounds(gate.dims[0], gate.low, gate.high), strict=True))
        return (name,)

    def box(self, holder: Any, gate: RectangleGate | QuadrantGate) -> tuple[str, ...]:
        """A rectangle, or a quadrant as the rectangle it is ('+': at or above the split; '-': below it)."""
        dims = gate.dims
        names = [self.axis(d) for d in dims]
        if isinstance(gate, QuadrantGate):
            lows = [s if q == "+" else None for s, q in zip(gate.split, gate.quadrant, strict=True)]
            highs = [None if q == "+" else float(np.nextafter(s, -math.inf))
                     for s, q in zip(gate.split, gate.quadrant, strict=True)]
        else:
            lows, highs = list(gate.low), list(gate.high)
        pairs = [self.bounds(d, lo, hi) for d, lo, hi in zip(dims, lows, highs, strict=True)]
        self.rectangle(holder, names, [p[0] for p in pairs], [p[1] for p in pairs])
        return tuple(names)

    def polygon_gate(self, holder: Any, gate: PolygonGate) -> tuple[str, ...]:
        names = [self.axis(d) for d in gate.dims]
        vertices = np.array(gate.vertices, dtype=np.float64)
        for j, marker in enumerate(gate.dims):
            form = self.frame.transform(marker)
            if form.kind == "log" and vertices[:, j].min() < 0:
                raise self.fail(f"a polygon below the floor of the log axis of {marker} (FlowJo clamps there)")
            vertices[:, j] = form.inverse(vertices[:, j])
        self.polygon(holder, names, vertices)
        return tuple(names)

    def ellipse(self, holder: Any, gate: EllipseGate) -> tuple[str, ...]:
        """Foci and edge points in display bins (the major axis's ends, then the minor's)."""
        names = [self.axis(d) for d in gate.dims]
        for marker in gate.dims:
            if self.frame.transform(marker).kind == "log":
                raise self.fail(f"an ellipse on the log axis of {marker}")
        values, vectors = np.linalg.eigh(np.asarray(gate.covariance, dtype=np.float64) * gate.distance**2)
        centre = np.asarray(gate.center, dtype=np.float64) * LENGTH
        minor, major = np.sqrt(values) * LENGTH
        u, v = vectors[:, 1], vectors[:, 0]
        focus = math.sqrt(max(major**2 - minor**2, 0.0)) * u
        node = _gate_element(holder, "EllipsoidGate")
        for name in names:
            _dimension(node, name)
        edges = (centre + major * u, centre - major * u, centre + minor * v, centre - minor * v)
        for group, points in (("foci", (centre + focus, centre - focus)), ("edge", edges)):
            holder_node = _element(node, f"{{{GATING}}}{group}")
            for point in points:
                vertex = _element(holder_node, f"{{{GATING}}}vertex")
                for value in point:
                    _element(vertex, f"{{{GATING}}}coordinate", d_value=_num(value))
        return tuple(names)

    def ratio(self, holder: Any, gate: RatioGate) -> tuple[str, ...]:
        """``low <= y / x <= high`` with x > 0: a wedge from the origin on linear axes."""
        for marker in gate.dims:
            if self.frame.transform(marker).kind != "linear":
                raise self.fail(f"a ratio gate on {marker}, whose axis is not linear")
        names = [self.axis(d) for d in gate.dims]
        if names[0] == names[1]:  # one channel on both axes (a FACSCalibur's FSC-H): y / x is 1 where x > 0
            held = gate.low <= 1.0 <= gate.high
            self.rectangle(holder, names[:1], [_SMALLEST_POSITIVE if held else 0.0], [None if held else 0.0])
            return tuple(names[:1])
        x_scale, y_scale = self.frame.scale(gate.dims[0]), self.frame.scale(gate.dims[1])
        with np.errstate(invalid="ignore", over="ignore"):  # finite sums: every value is finite
            every = bool(np.isfinite(x_scale.sum() + y_scale.sum()))
        largest = np.abs(x_scale).max(initial=1.0) if every \
            else np.abs(x_scale[np.isfinite(x_scale) & np.isfinite(y_scale)]).max(initial=1.0)
        far = 4.0 * max(float(largest), self.frame.transform(gate.dims[0]).top)
        self.polygon(holder, names, np.array([[0.0, 0.0], [far, gate.low * far], [far, _up(gate.high) * far]]))
        return tuple(names)

    # --- the sample ------------------------------------------------------------------------------

    def population(self, parent: Any, name: str, count: int) -> tuple[Any, Any]:
        subpopulations = parent.find("Subpopulations")
        if subpopulations is None:
            subpopulations = ElementTree.SubElement(parent, "Subpopulations")
        node = _element(subpopulations, "Population", name=name, owningGroup="", expanded="1", count=str(count))
        self.ids += 1
        return node, _element(node, "Gate", g_id=f"ID{self.ids}")

    def boolean(self, parent: Any, population: Any, gate: BooleanGate, paths: dict[str, str]) -> Any:
        """FlowJo's Or/And/Not node: its dependents by path from the sample, evaluated within the
        node's parent (assaykit's boolean gates are too)."""
        if any(gate.complement):
            raise self.fail(f"boolean population {population.name!r} takes a complement, which a FlowJo node cannot")
        subpopulations = parent.find("Subpopulations")
        if subpopulations is None:
            subpopulations = ElementTree.SubElement(parent, "Subpopulations")
        kind = {"or": "OrNode", "and": "AndNode", "not": "NotNode"}[gate.op]
        node = _element(subpopulations, kind, name=population.name, owningGroup="", expanded="1",
                        count=str(population.count))
        dependents = _element(node, "Dependents")
        for name in gate.populations:
            _element(dependents, "Dependent", name=paths[name])
        return node

    def graph(self, node: Any, names: tuple[str, ...]) -> None:
        graph = ElementTree.Element("Graph", type="Pseudocolor" if len(names) > 1 else "Histogram")
        for axis, name in zip(("x", "y"), names, strict=False):
            _element(graph, "Axis", dimension=axis, name=name)
        node.insert(0, graph)

    def write(self) -> Any:
        from ..gating.strategy import ROOT

        result = self.result
        self.spillover()
        ElementTree.SubElement(self.root, "Keywords")
        sample_node = _element(self.root, "SampleNode", name=self.sample.path.name, count=str(self.sample.n_events))
        nodes = {ROOT: sample_node}
        limits = removed_limits(result)
        if limits:
            node, gate = self.population(sample_node, EVENTS_GATE, self._events_count(limits))
            names = list(limits)
            self.rectangle(gate, names, [lo for lo, _ in limits.values()], [hi for _, hi in limits.values()])
            self.graph(node, tuple(names[:2]))
            nodes[ROOT] = node
        paths = {ROOT: EVENTS_GATE if limits else ""}
        for population in result.populations:
            parent_path = paths[population.parent]
            paths[population.name] = f"{parent_path}/{population.name}" if parent_path else population.name
            gate = result.gates[population.name]
            if isinstance(gate, BooleanGate):
                nodes[population.name] = self.boolean(nodes[population.parent], population, gate, paths)
                continue
            node, holder = self.population(nodes[population.parent], population.name, population.count)
            self.graph(node, self.gate(holder, gate))
            nodes[population.name] = node
        self.transformations()
        return self.root

    def _events_count(self, limits: dict[str, tuple[float | None, float | None]]) -> int:
        events = self.sample.events
        kept = np.ones(self.sample.n_events, dtype=bool)
        for channel, (low, high) in limits.items():
            values = events[:, self.sample.channels.index(channel)].astype(np.float64)
            if low is not None:
                kept &= values >= low
            if high is not None:
                kept &= values < high
        return int(kept.sum())

    def spillover(self) -> None:
        spill = self.frame.spillover
        if spill is None:
            return
        node = _element(self.root, f"{{{TRANSFORMS}}}spilloverMatrix", prefix=_PREFIX, suffix="", name=spill.keyword,
                        t_id=_MATRIX_ID)  # a child of the sample, where FlowJo 10 keeps it
        parameters = _element(node, f"{{{DATATYPE}}}parameters")
        for channel in spill.channels:
            _element(parameters, f"{{{DATATYPE}}}parameter", d_name=channel)
        for channel, row in zip(spill.channels, np.asarray(spill.matrix, dtype=np.float64), strict=True):
            line = _element(node, f"{{{TRANSFORMS}}}spillover", d_parameter=channel)
            for other, value in zip(spill.channels, row, strict=True):
                _element(line, f"{{{TRANSFORMS}}}coefficient", d_parameter=other, t_value=_num(value))

    def transformations(self) -> None:
        """Every drawn channel's axis, inserted before the sample node (FlowJo's order)."""
        holder = ElementTree.Element("Transformations")
        for name, marker in sorted(self.axes.items()):
            form = self.frame.transform(marker)
            if form.kind == "linear":
                node = _element(holder, f"{{{TRANSFORMS}}}linear", t_minRange="0.0", t_maxRange=_num(form.top),
                                gain="1")
            elif form.kind == "log":
                node = _element(holder, f"{{{TRANSFORMS}}}log", t_offset=_num(form.top * 10 ** -form.m),
                                t_decades=_num(form.m))
            elif form.kind == "asinh":
                node = _element(holder, f"{{{TRANSFORMS}}}fasinh", t_length=_num(LENGTH), t_maxRange=_num(form.top),
                                t_T=_num(form.top), t_M=_num(form.m), t_A=_num(form.a))
            else:
                node = _element(holder, f"{{{TRANSFORMS}}}logicle", t_length=_num(LENGTH), t_T=_num(form.top),
                                t_W=_num(form.w), t_M=_num(form.m), t_A=_num(form.a))
            _element(node, f"{{{DATATYPE}}}parameter", d_name=name)
        index = [child.tag for child in self.root].index("Keywords")
        self.root.insert(index, holder)


def flowjo_sample_bytes(result: Any) -> bytes:
    """The FlowJo ``<Sample>`` element of the gates in ``result`` (an
    :class:`assaykit.gating.GatingResult`), without its ``DataSet`` (added by
    :func:`workspace_bytes`). GatingError when a gate cannot be shown in FlowJo as fitted. When a
    population's gate was set by hand from a lab's workspace, that workspace's sample (the gates
    the tube was measured with)."""
    for gate in result.gates.values():
        if isinstance(gate, WorkspaceGate):  # a gate set by hand from a lab's workspace: its sample
            if not gate.sample_xml:  # a FlowJo 9 workspace's sample: not a FlowJo 10 <Sample>
                raise GatingError(f"the gate set from {gate.source} comes from a FlowJo 9 workspace, whose sample "
                                  "FlowJo 10 cannot read")
            return gate.sample_xml
    return xml_bytes(_SampleWriter(result).write())


@dataclass(frozen=True)
class WorkspaceEntry:
    """One sample of a workspace to write: its FCS file (``uri``, a ``file:`` URI), its name in
    FlowJo and its ``<Sample>`` element (:func:`flowjo_sample_bytes`, or a lab's own)."""

    uri: str
    name: str
    sample: bytes


def workspace_bytes(entries: Sequence[WorkspaceEntry]) -> bytes:
    """A FlowJo 10 workspace holding ``entries`` in order (sample ids 1, 2, ...), all in the
    group "All Samples"."""
    from defusedxml import ElementTree as SafeTree

    root = ElementTree.Element("Workspace", version="20.0", flowJoVersion="10.8.1", producer="assaykit")
    groups = _element(ElementTree.SubElement(root, "Groups"), "GroupNode", name="All Samples",
                      owningGroup="All Samples", count="-1")
    group = _element(groups, "Group", name="All Samples", live="1")
    refs = ElementTree.SubElement(group, "SampleRefs")
    samples = ElementTree.SubElement(root, "SampleList")
    for number, entry in enumerate(entries, start=1):
        _element(refs, "SampleRef", sampleID=str(number))
        sample = SafeTree.fromstring(entry.sample)
        for old in sample.findall("DataSet"):
            sample.remove(old)
        sample.insert(0, ElementTree.Element("DataSet", uri=entry.uri, sampleID=str(number)))
        node = sample.find("SampleNode")
        if node is None:
            raise GatingError(f"run.wsp: the sample of {entry.name} has no SampleNode")
        node.set("name", escape(entry.name))  # as element() writes names
        node.set("sampleID", str(number))
        samples.append(sample)
    ElementTree.indent(root)
    return xml_bytes(root, declaration=True) + b"\n"
