"""FlowJo 9 XML workspaces (``<Workspace version="2.0" flowJoVersion="9.x">``): FlowJo's own
gate, compensation and population elements, read into the same gates and documents as a FlowJo
10 workspace (:mod:`.flowjo`).

What a FlowJo 9 workspace holds, and how it is read:

* populations nest as ``<Population name count>`` directly under ``<SampleNode name count>``
  (and under each other), each with one ``<PolygonGate>``;
* a ``<PolygonGate>`` names its parameters on its shape (``xAxisName``/``yAxisName``, which
  place the vertices' x and y) and in ``<ParameterNames><StringArray><String>`` (read when the
  shape names none) and holds one shape: ``<Polygon>``,
  ``<PolyRect>``, ``<Ellipse>`` (four vertices, the ends of its two axes) or ``<Range>`` (a
  histogram gate, two vertices); the vertices ``<Vertex x y/>`` (in the shape, or in a
  ``<Polygon>`` inside it) are scale values; a shape ``negated`` holds the events outside it;
* the sample's ``compensationID`` (on ``<Sample>``, else on its ``<SampleNode>``) picks its matrix: ``n`` > 0 the n-th
  ``<CompensationMatrices><CompensationMatrix name prefix suffix>`` (rows
  ``<Channel name>`` of ``<ChannelValue name value/>``: the spillover of that channel into
  each detector), ``-1`` the FCS file's own ``$SPILLOVER`` ("Acquisition-defined"), ``-2`` or
  none uncompensated; a compensated parameter is written with the matrix's prefix and suffix
  (``<PE-CY7-A>``, ``Comp-PE-Cy7-A``), matched to the FCS file's channels ignoring case;
* display axes: the sample's ``<Parameter name log>``; a log axis is FlowJo's calibration
  table (``<CalibrationTables><Table name>``, pairs ``channel,value``), found by the
  parameter's name in the table's name (``Matrix <PE-CY7-A>``) or by the parameter's
  ``calibrationIndex``.

Rectangles (a ``<PolyRect>`` whose vertices are an axis-aligned rectangle) and ranges hold the
same events on any axis (display transforms are increasing): read as FlowJo 10's are
(``min <= x < max``). A polygon's edges and an ellipse are drawn on the display axes: on a
linear axis scale values are equivalent (an affine map), on a log axis the vertices and the
events are both placed on the calibration table (linear between its points, clamped at its
ends) and the gate evaluated there; a polygon or ellipse on a log axis without a table is
refused. Anything else (``<BooleanGate>``, another shape, a population without a gate,
FlowJo 8 and earlier, version 3.0 of FlowJo 9.7.2 and later) is refused by name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np

from .._io.xmlnumbers import MAX_COUNT, xml_double, xml_integer
from ..errors import GatingError
from ..fcs.compensation import (
    check_flowjo9,
    flowjo9_channels,
    flowjo9_compensation,
    flowjo9_keywords,
)
from ..gating.gates import EllipseGate, OutsideGate, PolygonGate
from ..gating.strategy import ROOT, Population
from .gatingml import FCS, UNCOMPENSATED, Dimension, GatingDocument, GmlTransform, SpectrumMatrix, box, check_references

SHAPES = ("Polygon", "PolyRect", "Ellipse", "Range")
ELLIPSE_TOLERANCE = 0.01
"""The two axes of a FlowJo 9 ellipse must share their midpoint within this fraction of the
longer axis (on the display axes), or the four vertices are not an ellipse's axis ends."""


@dataclass(frozen=True, eq=False)
class CalibrationAxis(GmlTransform):
    """A FlowJo 9 calibration table as a display axis: scale values -> display channels, linear
    between the table's points and clamped at its ends (as FlowJo's display is)."""

    values: np.ndarray = field(default_factory=lambda: np.zeros(2))
    bins: np.ndarray = field(default_factory=lambda: np.arange(2.0))

    def apply(self, x: np.ndarray) -> np.ndarray:
        return np.interp(x, self.values, self.bins)


class _Reader9:
    """Reads one FlowJo 9 workspace; every problem a GatingError naming the file and the element."""

    def __init__(self, path: Path, root: Any) -> None:
        self.path = path
        self.matrices = root.findall("CompensationMatrices/CompensationMatrix")
        self.tables = root.findall("CalibrationTables/Table")

    def fail(self, element: Any, problem: str) -> GatingError:
        name = element.get("name") if element is not None else None
        tag = element.tag if element is not None else "Workspace"
        return GatingError(f"FlowJo 9 <{tag}{' ' + repr(name) if name else ''}>: {problem}", self.path)

    def number(self, element: Any, attribute: str) -> float:
        text = element.get(attribute)
        value = xml_double(text)  # the XML number rule: never Python's 1_000, Unicode digits or inf
        if value is None:
            raise self.fail(element, f"{attribute}={(text or '')[:30]!r} is not a finite number")
        return value


@dataclass
class _Sample9:
    """One sample's context: its channels, compensation (matrix id, prefix, suffix) and axes."""

    reader: _Reader9
    canon: Any  # a name as the FCS file writes it (flowjo9_channels)
    compensation: str
    prefix: str
    suffix: str
    matrix: SpectrumMatrix | None
    logs: dict[str, Any]  # channel (as the FCS file names it) -> its <Parameter log="1">
    matrix_name: str
    dimensions: dict[str, Dimension] = field(default_factory=dict)
    transforms: dict[str, GmlTransform] = field(default_factory=dict)

    def channel(self, name: str) -> str:
        """``name`` as the FCS file writes it (:func:`~assaykit.fcs.compensation.flowjo9_channels`)."""
        return str(self.canon(name))

    def dimension(self, written: str) -> tuple[Dimension, str]:
        """The dimension a gate parameter ``written`` names (compensated when it carries the
        matrix's prefix and suffix), and its channel."""
        prefix, suffix = self.prefix, self.suffix
        wrapped = (prefix or suffix) and written.startswith(prefix) and written.endswith(suffix) and \
            len(written) > len(prefix) + len(suffix)
        bare = self.channel(written[len(prefix):len(written) - len(suffix)] if wrapped else written)
        if not wrapped or self.compensation == UNCOMPENSATED:
            return Dimension(bare, UNCOMPENSATED), bare
        if self.compensation == FCS:
            return Dimension(bare, FCS), bare
        assert self.matrix is not None  # a named compensation has its matrix
        name = prefix + bare + suffix
        if name not in self.matrix.fluorochromes:
            return Dimension(bare, UNCOMPENSATED), bare  # a channel outside the matrix: as recorded
        return Dimension(name, self.compensation), bare

    def key(self, dim: Dimension) -> str:
        self.dimensions.setdefault(dim.key, dim)
        return dim.key

    def axis(self, element: Any, channel: str, written: str, shape: str) -> CalibrationAxis | None:
        """The display axis of ``channel`` for a polygon or ellipse: None on a linear axis, the
        calibration table on a log one; refused when FlowJo's log axis has no table."""
        parameter = self.logs.get(channel)
        if parameter is None:
            return None
        table = self._table(channel, parameter)
        if table is None:
            raise self.reader.fail(element, f"{'an' if shape[0] in 'aeiou' else 'a'} {shape} on {written!r}, a log "
                                            "axis without a calibration table (FlowJo draws it on its display, "
                                            "which the workspace does not record); redraw it as a rectangle")
        ident = f"table:{channel}"
        if ident not in self.transforms:
            self.transforms[ident] = self._calibration(table, ident)
        axis = self.transforms[ident]
        assert isinstance(axis, CalibrationAxis)
        return axis

    def _table(self, channel: str, parameter: Any) -> Any | None:
        tables = self.reader.tables
        named = []
        for table in tables:
            name = table.get("name", "")
            if "<" in name and name.endswith(">"):
                group, inside = name[:name.index("<")].strip(), name[name.index("<") + 1:-1]
                if self.channel(inside) == channel or inside.casefold() == channel.casefold():
                    named.append((group != self.matrix_name, table))
        if named:
            return sorted(named, key=lambda t: t[0])[0][1]
        index = parameter.get("calibrationIndex", "").strip()
        if index.isdigit() and 0 < int(index) <= len(tables):
            return tables[int(index) - 1]
        return None

    def _calibration(self, table: Any, ident: str) -> CalibrationAxis:
        parsed = [xml_double(t) for t in re.split(r"[,\s]+", table.text or "") if t]
        if any(v is None for v in parsed):
            raise self.reader.fail(table, "a calibration table of numbers 'channel,value,...' expected")
        numbers = np.array(parsed, dtype=np.float64)
        pairs = numbers[: len(numbers) // 2 * 2].reshape(-1, 2)
        if len(numbers) % 2 or len(pairs) < 2 or not np.all(np.isfinite(pairs)) or \
                np.any(np.diff(pairs[:, 0]) <= 0) or np.any(np.diff(pairs[:, 1]) < 0):
            raise self.reader.fail(table, "a calibration table needs two or more 'channel,value' pairs, channels "
                                          "increasing and values not decreasing")
        return CalibrationAxis(ident, "flowjo9-table", (), (), values=pairs[:, 1].copy(), bins=pairs[:, 0].copy())

    # --- gates ----------------------------------------------------------------------------------

    def gate(self, population: Any, path: str) -> Any:
        kinds = [c for c in population if c.tag.endswith("Gate")]
        if len(kinds) != 1 or kinds[0].tag != "PolygonGate":
            named = ", ".join(f"<{c.tag}>" for c in kinds) or "none"
            raise self.reader.fail(population, f"population {path!r}: one <PolygonGate> expected, found {named} "
                                               "(boolean and other gates are not read)")
        holder = kinds[0]
        shapes = [c for c in holder if c.tag in SHAPES]
        others = [c for c in holder if c.tag not in SHAPES and next(c.iter("Vertex"), None) is not None]
        if others or len(shapes) != 1:
            found = ", ".join(f"<{c.tag}>" for c in others + shapes) or "none"
            raise self.reader.fail(holder, f"population {path!r}: one of <{'>, <'.join(SHAPES)}> expected, found "
                                           f"{found}")
        shape = shapes[0]
        written = self._parameters(holder, shape, path)
        vertices = self._vertices(shape, len(written), path)
        negated = shape.get("negated", "").strip().lower()
        if negated not in ("", "0", "1", "false", "true"):
            raise self.reader.fail(shape, f"population {path!r}: negated={negated[:20]!r} (0 or 1 expected)")
        gate = self._shape(shape, written, vertices, path)
        return OutsideGate(gate) if negated in ("1", "true") else gate

    def _parameters(self, holder: Any, shape: Any, path: str) -> list[str]:
        listed = [(s.text or "").strip() for s in holder.findall("ParameterNames/StringArray/String")]
        named = [n for n in (shape.get("xAxisName"), shape.get("yAxisName")) if n]
        needed = 1 if shape.tag == "Range" else 2
        written = named if len(named) >= needed else listed  # the shape's own axes first, as CytoML reads them
        if len(written) < needed or not all(written[:needed]):
            raise self.reader.fail(holder, f"population {path!r}: <{shape.tag}> needs {needed} parameter "
                                           f"name{'s' if needed > 1 else ''}, found {written}")
        return written[:needed]

    def _vertices(self, shape: Any, n_dims: int, path: str) -> np.ndarray:
        direct, nested = shape.findall("Vertex"), shape.findall("Polygon/Vertex")
        if bool(direct) == bool(nested):
            raise self.reader.fail(shape, f"population {path!r}: vertices expected in <{shape.tag}> or in its "
                                          "<Polygon>, in one of them")
        points = np.array([[self.reader.number(v, "x"), self.reader.number(v, "y") if n_dims == 2 else 0.0]
                           for v in direct or nested], dtype=np.float64)
        return points

    def _shape(self, shape: Any, written: list[str], vertices: np.ndarray, path: str) -> Any:
        reader, kind = self.reader, shape.tag
        resolved = [self.dimension(w) for w in written]
        if kind == "Range":
            if len(vertices) != 2:
                raise reader.fail(shape, f"population {path!r}: a range needs 2 vertices, found {len(vertices)}")
            key = self.key(resolved[0][0])
            return box((key,), [float(vertices[:, 0].min())], [float(vertices[:, 0].max())])
        if kind == "PolyRect":
            xs, ys = np.unique(vertices[:, 0]), np.unique(vertices[:, 1])
            corners = {(x, y) for x in xs for y in ys}
            if len(vertices) == 4 and len(xs) == 2 and len(ys) == 2 and \
                    {(x, y) for x, y in vertices} == corners:
                return box(tuple(self.key(d) for d, _ in resolved), [float(xs[0]), float(ys[0])],
                           [float(xs[1]), float(ys[1])])
            kind = "Polygon"  # a rectangle that is not axis-aligned: its polygon
        axes = [self.axis(shape, channel, w, "polygon" if kind == "Polygon" else "ellipse")
                for (_, channel), w in zip(resolved, written, strict=True)]
        display = vertices.copy()
        keys = []
        for j, ((dim, _), axis) in enumerate(zip(resolved, axes, strict=True)):
            if axis is not None:
                display[:, j] = axis.apply(display[:, j])
                dim = Dimension(dim.channel, dim.compensation, transform=axis.id)
            keys.append(self.key(dim))
        if kind == "Polygon":
            if len(display) < 3:
                raise reader.fail(shape, f"population {path!r}: a polygon needs 3 or more vertices")
            return PolygonGate((keys[0], keys[1]), tuple((float(x), float(y)) for x, y in display))
        if len(display) != 4:
            raise reader.fail(shape, f"population {path!r}: an ellipse needs 4 vertices (its axes' ends), found "
                                     f"{len(display)}")
        centre, covariance = ellipse_from_axes(display)
        if centre is None:
            raise reader.fail(shape, f"population {path!r}: the 4 vertices are not the ends of two axes with one "
                                     "centre (on the display axes)")
        return EllipseGate((keys[0], keys[1]), (float(centre[0]), float(centre[1])),
                           ((float(covariance[0, 0]), float(covariance[0, 1])),
                            (float(covariance[1, 0]), float(covariance[1, 1]))), 1.0)


def ellipse_from_axes(points: np.ndarray, tolerance: float = ELLIPSE_TOLERANCE) -> tuple[Any, Any]:
    """The centre and covariance (distance 1 on the curve) of the ellipse whose two axes (or any
    two conjugate diameters) end at the four ``points``, in any order: the pairing whose two
    midpoints coincide (within ``tolerance`` of the longer diameter) gives the semi-axes ``p``
    and ``q``, the ellipse is ``c + p cos t + q sin t`` and its covariance ``p p' + q q'``.
    ``(None, None)`` when no pairing shares a midpoint or the ellipse is flat.

    Parameters
    ----------
    points : ndarray
        Four points (4 x 2), the ends of the ellipse's two axes, in display coordinates.
    tolerance : float
        The largest distance between the two axes' midpoints, as a fraction of the longer axis.
    """
    points = np.asarray(points, dtype=np.float64)
    best = None
    for (a, b), (c, d) in (((0, 1), (2, 3)), ((0, 2), (1, 3)), ((0, 3), (1, 2))):
        gap = np.linalg.norm((points[a] + points[b]) / 2 - (points[c] + points[d]) / 2)
        longest = max(np.linalg.norm(points[a] - points[b]), np.linalg.norm(points[c] - points[d]))
        if longest > 0 and gap <= tolerance * longest and (best is None or gap < best[0]):
            best = (gap, (points[a] - points[b]) / 2, (points[c] - points[d]) / 2)
    if best is None:
        return None, None
    _, p, q = best
    covariance = np.outer(p, p) + np.outer(q, q)
    scale = max(float(np.trace(covariance)), 1e-300)
    if np.linalg.det(covariance) <= 1e-12 * scale**2:
        return None, None
    return points.mean(axis=0), covariance


def _matrix(path: Path, root: Any, sample: Any, canon: Any) -> tuple[str, str, str, SpectrumMatrix | None, str]:
    """The sample's compensation (:func:`~assaykit.fcs.compensation.flowjo9_compensation`): (id,
    prefix, suffix, matrix, name); id ``FCS`` for the file's own, ``uncompensated`` for none."""
    kind, prefix, suffix, spill, names, name = flowjo9_compensation(root, sample, path, canon)
    if kind in (FCS, UNCOMPENSATED):
        return kind, prefix, suffix, None, name
    assert spill is not None  # a matrix of the workspace
    matrix = SpectrumMatrix(f"flowjo9:{kind}", tuple(prefix + n + suffix for n in names), names, spill)
    return matrix.id, prefix, suffix, matrix, name


def read_flowjo9(root: Any, path: Path) -> dict[str, dict[str, Any]]:
    """The samples of the FlowJo 9 workspace ``root`` (read from ``path``), each as the fields of
    a :class:`~.flowjo.WorkspaceSample` (name, file_name, document, counts, total).

    Parameters
    ----------
    root : Element
        The workspace's ``<Workspace version="2.0">`` element.
    path : Path
        The workspace file, named in errors.
    """
    check_flowjo9(root, path)
    reader = _Reader9(path, root)
    samples: dict[str, dict[str, Any]] = {}
    for sample in root.findall("SampleList/Sample"):
        node = sample.find("SampleNode")
        if node is None:
            continue
        keywords = flowjo9_keywords(sample)
        canon = flowjo9_channels(sample)
        compensation, prefix, suffix, matrix, matrix_name = _matrix(path, root, sample, canon)
        logs = {canon(p.get("name", "")): p for p in [*sample.findall("Parameter"), *node.findall("Parameter")]
                if p.get("log", "0").strip() == "1"}
        context = _Sample9(reader, canon, compensation, prefix, suffix, matrix, logs, matrix_name)
        gates: dict[str, Population] = {}
        counts: dict[str, int | None] = {}
        _populations(node, None, context, gates, counts, 0)
        document = GatingDocument(path=path, transforms=dict(context.transforms),
                                  matrices={matrix.id: matrix} if matrix else {},
                                  dimensions=context.dimensions, populations=tuple(gates.values()))
        check_references(document, "FlowJo 9 workspace", "population")
        name = node.get("name", "") or sample.get("name", "")
        dataset = sample.find("DataSet")
        uri = dataset.get("uri", "") if dataset is not None else ""
        file_name = unquote(uri.replace("\\", "/").rsplit("/", 1)[-1], errors="surrogateescape") if uri else \
            keywords.get("$FIL", "") or name
        if name in samples:
            raise reader.fail(node, "two samples of this name")
        samples[name] = {"name": name, "file_name": file_name, "document": document, "counts": counts,
                         "total": _count(reader, node)}
    return samples


MAX_NESTING = 256


def _count(reader: _Reader9, node: Any) -> int | None:
    text = node.get("count", "-1")
    count = xml_integer(text, low=-1)
    if count is None:
        raise reader.fail(node, f"count={text[:40]!r} is not a whole number of events from -1 (none stored) to "
                                f"{MAX_COUNT:,}")
    return count if count >= 0 else None


def _populations(node: Any, parent: str | None, context: _Sample9, gates: dict[str, Population],
                 counts: dict[str, int | None], depth: int) -> None:
    reader = context.reader
    for child in node:
        if child.tag in ("Subpopulations",):
            raise reader.fail(child, "FlowJo 10's <Subpopulations> in a FlowJo 9 workspace (version 2.0)")
        if child.tag != "Population":
            if child.tag.endswith("Node"):  # a FlowJo node that is not a population (a derived parameter ...)
                raise reader.fail(child, "unsupported FlowJo 9 node (only <Population> is read)")
            continue
        if depth >= MAX_NESTING:
            raise reader.fail(child, f"populations nested more than {MAX_NESTING} deep")
        name = child.get("name", "")
        path = f"{parent}/{name}" if parent else name
        if not name or path in gates or path == ROOT:
            raise reader.fail(child, "a population without a name" if not name else
                              f"two populations at {path!r}" if path in gates else
                              f"a population named {ROOT!r} (a name assaykit reserves)")
        gates[path] = Population(path, parent or ROOT, context.gate(child, path))
        counts[path] = _count(reader, child)
        _populations(child, path, context, gates, counts, depth + 1)
