"""FlowJo 10 workspaces (``.wsp``): each sample's populations, gates, compensation and axis
transforms, read into the same gate model as GatingML (:mod:`.gatingml`) and evaluated per event.

FlowJo writes its gates as GatingML elements without compensation references: a dimension
named with the sample's compensation prefix (``Comp-FL1-A``) is the compensated channel. Rectangle
and polygon coordinates are scale values; ellipses are stored by foci and edge points in display
coordinates (the axis transform over ``length`` bins, 256 by default), so an ellipse is evaluated
on the transformed axes. Quadrants are written as four rectangles. A population's name path
(``Lymphocytes/Singlets``) is its id. FlowJo's own result for every population is its ``count``
attribute, kept beside the gates.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from xml.etree import ElementTree

import numpy as np

from ..errors import GatingError
from .gatingml import (
    DATATYPE,
    TRANSFORMS,
    UNCOMPENSATED,
    Dimension,
    GatingDocument,
    GmlGate,
    GmlTransform,
    SpectrumMatrix,
    _g,
    _Reader,
    evaluate,
    gate_order,
    read_xml,
)

MAX_WORKSPACE_BYTES = 256 * 1024 * 1024


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

    def sample_for(self, file_name: str, name: str | None = None) -> WorkspaceSample:
        """The sample named ``name``, else the one whose name or data file is ``file_name``."""
        if name is not None:
            if name not in self.samples:
                raise GatingError(f"no sample {name!r} in the workspace (samples: {', '.join(self.samples)})",
                                  self.path)
            return self.samples[name]
        found = [s for s in self.samples.values() if file_name in (s.name, s.file_name)]
        if len(found) != 1:
            raise GatingError(f"{'no' if not found else 'more than one'} workspace sample matches {file_name!r}; "
                              f"name one with --sample (samples: {', '.join(self.samples)})", self.path)
        return found[0]


def _d(tag: str) -> str:
    return f"{{{DATATYPE}}}{tag}"


def _t(tag: str) -> str:
    return f"{{{TRANSFORMS}}}{tag}"


class _WorkspaceReader(_Reader):
    """FlowJo's dialect: dimensions without compensation-ref, ellipses by foci and edges."""

    def __init__(self, path: Path, prefix: str, matrix_id: str | None,
                 axes: tuple[Mapping[str, GmlTransform], Mapping[str, str]]) -> None:
        super().__init__(path)
        self.prefix, self.matrix_id = prefix, matrix_id
        self.axes, self.curved = axes  # evaluable display transforms; channels on other non-linear axes

    def dimension(self, element: Any) -> Dimension:
        children = [c for c in element if c.tag == _d("fcs-dimension")]
        if len(children) != 1:
            raise self.fail(element, "expected one fcs-dimension")
        name = self.channel_name(children[0])
        compensated = self.matrix_id is not None and self.prefix and name.startswith(self.prefix)
        return Dimension(name, self.matrix_id if compensated else UNCOMPENSATED)

    def gate(self, element: Any) -> list[GmlGate]:
        """FlowJo draws a polygon's edges straight on the display axes: on a non-linear axis it is
        evaluated there (vertices and events transformed alike)."""
        gates = super().gate(element)
        for i, gate in enumerate(gates):
            if gate.kind != "polygon":
                continue
            dims, vertices = list(gate.dims), np.array(gate.geometry["vertices"], dtype=np.float64)
            for j, dim in enumerate(dims):
                if dim.channel in self.curved:
                    raise self.fail(element, f"a polygon on {dim.channel!r}, a {self.curved[dim.channel]} axis "
                                             "assaykit cannot evaluate yet")
                axis = self.axes.get(dim.channel)
                if axis is not None and axis.kind != "flin":  # linear axes: scale values are equivalent
                    vertices[:, j] = axis.apply(vertices[:, j])
                    dims[j] = Dimension(dim.channel, dim.compensation, transform=axis.id)
            gates[i] = GmlGate(gate.id, gate.kind, gate.parent, tuple(dims), {"vertices": vertices})
        return gates

    def ellipsoid(self, element: Any, ident: str, parent: str | None) -> GmlGate:
        dims = [self.dimension(d) for d in element.findall(_g("dimension"))]
        edge = [[self.number(c, _d("value")) for c in v.findall(_g("coordinate"))]
                for v in element.findall(f"{_g('edge')}/{_g('vertex')}")]
        foci = [[self.number(c, _d("value")) for c in v.findall(_g("coordinate"))]
                for v in element.findall(f"{_g('foci')}/{_g('vertex')}")]
        if len(dims) != 2 or len(edge) != 4 or len(foci) != 2 or any(len(v) != 2 for v in edge + foci):
            raise self.fail(element, "a FlowJo ellipse needs two dimensions, two foci and four edge points")
        axes = []
        for dim in dims:
            if dim.channel in self.axes and self.axes[dim.channel].kind == "flowjo-log":
                raise self.fail(element, f"an ellipse on {dim.channel!r}, a log axis (FlowJo's ellipse coordinates "
                                         "there are not verified); redraw it as a polygon")
            if dim.channel not in self.axes:
                raise self.fail(element, f"an ellipse on {dim.channel!r}, an axis whose transform FlowJo did not "
                                         "record or assaykit cannot evaluate (biex); redraw it as a polygon")
            axes.append(self.axes[dim.channel])
        edge_points, centre = np.asarray(edge), np.mean(np.asarray(foci), axis=0)
        major, minor = edge_points[0] - edge_points[1], edge_points[2] - edge_points[3]
        a, b = np.linalg.norm(major) / 2, np.linalg.norm(minor) / 2
        if a <= 0 or b <= 0:
            raise self.fail(element, "an ellipse with a zero axis")
        rotation = np.column_stack([major / (2 * a), np.array([-major[1], major[0]]) / (2 * a)])
        covariance = rotation @ np.diag([a**2, b**2]) @ rotation.T  # distance 1 on the ellipse itself
        dims = [Dimension(d.channel, d.compensation, transform=axis.id) for d, axis in zip(dims, axes, strict=True)]
        return GmlGate(ident, "ellipsoid", parent, tuple(dims), {"mean": centre, "covariance": covariance,
                                                                "distance2": 1.0})


def _axes(sample: Any, reader: _Reader) -> tuple[dict[str, GmlTransform], dict[str, str]]:
    """Each channel's display transform (to FlowJo's bins, 0..length), where assaykit can evaluate
    it: linear, asinh and logicle as GatingML transforms scaled by ``length``, FlowJo's log; and
    the channels on other, non-linear axes (biex), with the transform's name."""
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
            params = (("T", high), ("A", -low))
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
        else:  # biex and anything else: not evaluated on display coordinates
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


def _populations(node: Any, parent: str | None, reader: _WorkspaceReader, gates: dict[str, GmlGate],
                 counts: dict[str, int | None]) -> None:
    for population in node.findall("Subpopulations/*"):
        kind = population.tag
        if kind != "Population":
            raise reader.fail(population, f"unsupported FlowJo node {kind!r} (boolean and derived nodes are not "
                                          "read yet)")
        name = population.get("name", "")
        path = f"{parent}/{name}" if parent else name
        gate_node = population.find("Gate")
        elements = [c for c in gate_node] if gate_node is not None else []
        if len(elements) != 1:
            raise reader.fail(population, f"population {path!r} has no gate assaykit can read")
        element = elements[0]
        found = reader.gate(element)
        if len(found) != 1:
            raise reader.fail(element, f"population {path!r}: one gate expected")
        gate = found[0]
        if element.get("eventsInside", "1") == "0":
            raise reader.fail(element, f"population {path!r}: an 'outside' gate (eventsInside=0) is not read yet")
        if path in gates:
            raise reader.fail(population, f"two populations at {path!r}")
        gates[path] = GmlGate(path, gate.kind, parent, gate.dims, gate.geometry)
        count = int(population.get("count", "-1"))
        counts[path] = count if count >= 0 else None
        _populations(population, path, reader, gates, counts)


def read_workspace(path: str | Path) -> Workspace:
    """The FlowJo 10 workspace at ``path``: every sample with its gates and FlowJo's counts."""
    from .export import register_namespaces

    register_namespaces()
    file_path = Path(path)
    root = read_xml(file_path, "FlowJo workspace", MAX_WORKSPACE_BYTES)
    if root.tag != "Workspace":
        raise GatingError("not a FlowJo workspace (its root is not <Workspace>)", file_path)
    samples: dict[str, WorkspaceSample] = {}
    for sample in root.findall("SampleList/Sample"):
        node = sample.find("SampleNode")
        if node is None:
            continue
        matrix, prefix = _matrix(sample, file_path)
        base = _Reader(file_path)
        reader = _WorkspaceReader(file_path, prefix, matrix.id if matrix else None, _axes(sample, base))
        gates: dict[str, GmlGate] = {}
        counts: dict[str, int | None] = {}
        _populations(node, None, reader, gates, counts)
        if len(gate_order(gates)) != len(gates):
            raise GatingError("workspace populations refer to each other in a cycle", file_path)
        dataset = sample.find("DataSet")
        uri = dataset.get("uri", "") if dataset is not None else ""
        name = node.get("name", "")
        transforms = {t.id: t for t in reader.axes.values()}
        document = GatingDocument(path=file_path, transforms=transforms,
                                  matrices={matrix.id: matrix} if matrix else {}, gates=gates)
        total = int(node.get("count", "-1"))
        samples[name] = WorkspaceSample(name=name, file_name=uri.replace("\\", "/").rsplit("/", 1)[-1],
                                        document=document, counts=counts, total=total if total >= 0 else None,
                                        xml=ElementTree.tostring(sample, encoding="utf-8"))
    if not samples:
        raise GatingError("the workspace holds no sample", file_path)
    return Workspace(path=file_path, samples=samples)
