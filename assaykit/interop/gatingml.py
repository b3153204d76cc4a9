"""GatingML 2.0 (ISAC): read a document into gates and evaluate them on a sample's events.

Every gate type of the standard (rectangle and range, polygon, ellipsoid, quadrant, boolean
and/or/not, parents), its transforms (flin, flog, fasinh, logicle, hyperlog, fratio) and its
compensation references (``FCS``: the file's ``$SPILLOVER``; the id of a ``spectrumMatrix`` in the
document; ``uncompensated``). Each gate dimension carries its own compensation and transform, so
a GatingML document is evaluated here, dimension by dimension, rather than squeezed into a
strategy's one-transform-per-marker model.

Boundaries follow the standard: a range holds ``min <= x < max``; a quadrant divider value
belongs to the interval above it; a polygon holds the points inside by the even-odd rule; an
ellipsoid holds ``(x - mean)' C^-1 (x - mean) <= distanceSquare``. A value a transform cannot map
(the log of a negative number, a ratio over zero) is in no gate.

The XML is parsed without entity expansion or network access (defusedxml). Anything unsupported
is an error naming the file, the element and what is unsupported: never a skipped gate.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import GatingError

GATING = "http://www.isac-net.org/std/Gating-ML/v2.0/gating"
TRANSFORMS = "http://www.isac-net.org/std/Gating-ML/v2.0/transformations"
DATATYPE = "http://www.isac-net.org/std/Gating-ML/v2.0/datatypes"
UNCOMPENSATED = "uncompensated"
FCS = "FCS"
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024


def _g(tag: str) -> str:
    return f"{{{GATING}}}{tag}"


def _t(tag: str) -> str:
    return f"{{{TRANSFORMS}}}{tag}"


def _d(tag: str) -> str:
    return f"{{{DATATYPE}}}{tag}"


# --- transforms -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GmlTransform:
    """A GatingML transformation: ``kind`` (flin, flog, fasinh, logicle, hyperlog, fratio), its
    parameters (T, W, M, A; A, B, C for fratio) and, for fratio, the two channels it divides."""

    id: str
    kind: str
    params: tuple[tuple[str, float], ...]
    channels: tuple[str, ...] = ()

    @property
    def p(self) -> dict[str, float]:
        return dict(self.params)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Scale values (one channel) -> transformed values; NaN where undefined."""
        p = self.p
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if self.kind == "flin":
                return (x + p["A"]) / (p["T"] + p["A"])
            if self.kind == "flog":
                return np.where(x > 0, np.log10(np.where(x > 0, x, 1.0) / p["T"]) / p["M"] + 1.0, np.nan)
        from flowutils import transforms  # the functions assaykit's own gating transforms use

        column = np.ascontiguousarray(x, dtype=np.float64).reshape(-1, 1)
        if self.kind == "fasinh":  # (asinh(x sinh(M ln10) / T) + A ln10) / ((M + A) ln10)
            return transforms.asinh(column, [0], t=p["T"], m=p["M"], a=p["A"]).ravel()
        function = transforms.logicle if self.kind == "logicle" else transforms.hyperlog
        return function(column, [0], t=p["T"], m=p["M"], w=p["W"], a=p["A"]).ravel()

    def ratio(self, x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
        """fratio of two channels' values: A (x1 - B) / (x2 - C); NaN where x2 = C."""
        p = self.p
        with np.errstate(divide="ignore", invalid="ignore"):
            out = p["A"] * (x1 - p["B"]) / (x2 - p["C"])
        return np.where(np.isfinite(out), out, np.nan)


_TRANSFORM_PARAMS = {"flin": ("T", "A"), "flog": ("T", "M"), "fasinh": ("T", "M", "A"),
                     "logicle": ("T", "W", "M", "A"), "hyperlog": ("T", "W", "M", "A"), "fratio": ("A", "B", "C")}


@dataclass(frozen=True)
class SpectrumMatrix:
    """A compensation matrix of the document: rows are fluorochromes, columns detectors;
    ``inverted``: the coefficients already are the compensation (inverse) matrix."""

    id: str
    fluorochromes: tuple[str, ...]
    detectors: tuple[str, ...]
    matrix: np.ndarray
    inverted: bool = False


# --- gates ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dimension:
    """One gate dimension: a channel (or a ratio: ``ratio`` names the fratio transform), under
    the compensation ``compensation`` and the transform ``transform`` (an id, or None)."""

    channel: str | None
    compensation: str
    transform: str | None = None
    ratio: str | None = None

    @property
    def label(self) -> str:
        return self.channel if self.channel is not None else f"ratio:{self.ratio}"


@dataclass(frozen=True)
class GmlGate:
    """A gate of the document: ``kind`` one of rectangle, polygon, ellipsoid, quadrant (one
    quadrant of a quadrant gate), boolean; ``dims`` its dimensions; ``geometry`` what the kind
    needs (bounds, vertices, mean and inverse covariance, divider positions, boolean terms)."""

    id: str
    kind: str
    parent: str | None
    dims: tuple[Dimension, ...]
    geometry: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GatingDocument:
    """A GatingML 2.0 document: its transforms, compensation matrices and gates (in document
    order, quadrants as gates of their own)."""

    path: Path
    transforms: Mapping[str, GmlTransform]
    matrices: Mapping[str, SpectrumMatrix]
    gates: Mapping[str, GmlGate]


# --- reading --------------------------------------------------------------------------------------


class _Reader:
    """Reads one document; every problem is a GatingError naming the file and the element."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, element: Any, problem: str) -> GatingError:
        name = element.tag.rsplit("}", 1)[-1] if element is not None else "document"
        ident = element.get(_g("id")) or element.get(_t("id")) if element is not None else None
        return GatingError(f"GatingML <{name}{' ' + ident if ident else ''}>: {problem}", self.path)

    def number(self, element: Any, attribute: str, required: bool = True) -> float | None:
        text = element.get(attribute)
        if text is None:
            if required:
                raise self.fail(element, f"attribute {attribute.rsplit('}', 1)[-1]} missing")
            return None
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise self.fail(element, f"{attribute.rsplit('}', 1)[-1]}={text[:30]!r} is not a finite number")
        return value

    def transform(self, element: Any) -> GmlTransform:
        ident = element.get(_t("id"))
        children = list(element)
        if not ident or len(children) != 1:
            raise self.fail(element, "a transformation needs an id and exactly one function")
        function = children[0]
        kind = function.tag.rsplit("}", 1)[-1]
        if function.tag.split("}")[0][1:] != TRANSFORMS or kind not in _TRANSFORM_PARAMS:
            raise self.fail(function, f"unsupported transformation {kind!r} (supported: "
                                      f"{', '.join(_TRANSFORM_PARAMS)})")
        params = tuple((p, self.number(function, _t(p))) for p in _TRANSFORM_PARAMS[kind])
        channels: tuple[str, ...] = ()
        if kind == "fratio":
            channels = tuple(self.channel_name(c) for c in function)
            if len(channels) != 2:
                raise self.fail(function, "fratio needs exactly two fcs-dimensions")
        transform = GmlTransform(ident, kind, params, channels)
        p = transform.p
        if kind != "fratio" and (p["T"] <= 0 or p.get("M", 1) <= 0 or p.get("W", 0) < 0):
            raise self.fail(function, "T and M must be positive, W not negative")
        return transform

    def channel_name(self, element: Any) -> str:
        if element.tag != _d("fcs-dimension") or not element.get(_d("name")):
            raise self.fail(element, "expected an fcs-dimension with a name")
        return element.get(_d("name"))

    def matrix(self, element: Any) -> SpectrumMatrix:
        ident = element.get(_t("id"))
        fluorochromes = tuple(self.channel_name(c) for c in element.findall(f"{_t('fluorochromes')}/*"))
        detectors = tuple(self.channel_name(c) for c in element.findall(f"{_t('detectors')}/*"))
        rows = [[self.number(c, _t("value")) for c in s.findall(_t("coefficient"))]
                for s in element.findall(_t("spectrum"))]
        if not ident or not fluorochromes or any(len(r) != len(detectors) for r in rows) or \
                len(rows) != len(fluorochromes):
            raise self.fail(element, "a spectrumMatrix needs an id, fluorochromes, detectors and one spectrum "
                                     "(a coefficient per detector) per fluorochrome")
        inverted = element.get(_t("matrix-inverted-already"), "false").strip().lower() == "true"
        return SpectrumMatrix(ident, fluorochromes, detectors, np.asarray(rows, dtype=np.float64), inverted)

    def dimension(self, element: Any) -> Dimension:
        compensation = element.get(_g("compensation-ref"))
        if not compensation:
            raise self.fail(element, "compensation-ref missing (use 'uncompensated' for none)")
        children = [c for c in element if c.tag in (_d("fcs-dimension"), _d("new-dimension"))]
        if len(children) != 1:
            raise self.fail(element, "expected one fcs-dimension or new-dimension")
        child = children[0]
        if child.tag == _d("new-dimension"):
            ratio = child.get(_d("transformation-ref"))
            if not ratio:
                raise self.fail(child, "a new-dimension needs a transformation-ref")
            return Dimension(None, compensation, element.get(_g("transformation-ref")), ratio)
        return Dimension(self.channel_name(child), compensation, element.get(_g("transformation-ref")))

    def gate(self, element: Any) -> list[GmlGate]:
        kind = element.tag.rsplit("}", 1)[-1]
        ident, parent = element.get(_g("id")), element.get(_g("parent_id"))
        if not ident:
            raise self.fail(element, "gate without an id")
        unknown = [a.rsplit("}", 1)[-1] for a in element.attrib if a.startswith(f"{{{GATING}}}")
                   and a not in (_g("id"), _g("parent_id"), _g("name"), _g("distance"))]
        if unknown:  # a misspelt parent reference must not silently make a top-level gate
            raise self.fail(element, f"unknown attribute gating:{unknown[0]}")
        if kind == "RectangleGate":
            dims = [self.dimension(d) for d in element.findall(_g("dimension"))]
            bounds = [(self.number(d, _g("min"), False), self.number(d, _g("max"), False))
                      for d in element.findall(_g("dimension"))]
            if not dims or any(lo is None and hi is None for lo, hi in bounds):
                raise self.fail(element, "each dimension of a rectangle needs a min or a max")
            return [GmlGate(ident, "rectangle", parent, tuple(dims), {"bounds": tuple(bounds)})]
        if kind == "PolygonGate":
            dims = [self.dimension(d) for d in element.findall(_g("dimension"))]
            vertices = [[self.number(c, _d("value")) for c in v.findall(_g("coordinate"))]
                        for v in element.findall(_g("vertex"))]
            if len(dims) != 2 or len(vertices) < 3 or any(len(v) != 2 for v in vertices):
                raise self.fail(element, "a polygon needs two dimensions and at least three 2-D vertices")
            return [GmlGate(ident, "polygon", parent, tuple(dims), {"vertices": np.asarray(vertices)})]
        if kind == "EllipsoidGate":
            return [self.ellipsoid(element, ident, parent)]
        if kind == "QuadrantGate":
            return self.quadrants(element, parent)
        if kind == "BooleanGate":
            return [self.boolean(element, ident, parent)]
        raise self.fail(element, f"unsupported gate type {kind!r}")

    def ellipsoid(self, element: Any, ident: str, parent: str | None) -> GmlGate:
        dims = [self.dimension(d) for d in element.findall(_g("dimension"))]
        mean = [self.number(c, _d("value")) for c in element.findall(f"{_g('mean')}/{_g('coordinate')}")]
        rows = [[self.number(e, _d("value")) for e in r.findall(_g("entry"))]
                for r in element.findall(f"{_g('covarianceMatrix')}/{_g('row')}")]
        distance = element.find(_g("distanceSquare"))
        n = len(dims)
        if n < 2 or len(mean) != n or len(rows) != n or any(len(r) != n for r in rows) or distance is None:
            raise self.fail(element, f"an ellipsoid needs a mean, an {n}x{n} covariance matrix and a distanceSquare")
        covariance = np.asarray(rows, dtype=np.float64)
        try:
            np.linalg.inv(covariance)
        except np.linalg.LinAlgError:
            raise self.fail(element, "the covariance matrix cannot be inverted") from None
        return GmlGate(ident, "ellipsoid", parent, tuple(dims), {"mean": np.asarray(mean), "covariance": covariance,
                                                                 "distance2": self.number(distance, _d("value"))})

    def quadrants(self, element: Any, parent: str | None) -> list[GmlGate]:
        dividers: dict[str, tuple[Dimension, np.ndarray]] = {}
        for divider in element.findall(_g("divider")):
            values = []
            for v in divider.findall(_g("value")):
                try:
                    values.append(float((v.text or "").strip()))
                except ValueError:
                    raise self.fail(divider, f"divider value {(v.text or '')[:30]!r} is not a number") from None
            if not values or not all(map(math.isfinite, values)):
                raise self.fail(divider, "a divider needs finite values")
            dividers[divider.get(_g("id"), "")] = (self.dimension(divider), np.sort(np.asarray(values)))
        names = list(dividers)
        gates = []
        for quadrant in element.findall(_g("Quadrant")):
            ident = quadrant.get(_g("id"))
            positions = {}
            for position in quadrant.findall(_g("position")):
                ref = position.get(_g("divider_ref"))
                if ref not in dividers:
                    raise self.fail(position, f"divider_ref {ref!r} names no divider of the gate")
                location = self.number(position, _g("location"))
                positions[ref] = int(np.searchsorted(dividers[ref][1], location, side="right"))
            if not ident or not positions:
                raise self.fail(quadrant, "a quadrant needs an id and positions")
            used = [n for n in names if n in positions]
            gates.append(GmlGate(ident, "quadrant", parent, tuple(dividers[n][0] for n in used),
                                 {"values": tuple(dividers[n][1] for n in used),
                                  "intervals": tuple(positions[n] for n in used)}))
        if not gates:
            raise self.fail(element, "a quadrant gate needs at least one Quadrant")
        return gates

    def boolean(self, element: Any, ident: str, parent: str | None) -> GmlGate:
        operators = [c for c in element if c.tag in (_g("and"), _g("or"), _g("not"))]
        if len(operators) != 1:
            raise self.fail(element, "a boolean gate needs exactly one of and, or, not")
        operator = operators[0]
        terms = tuple((r.get(_g("ref")), r.get(_g("use-as-complement"), "false").strip().lower() == "true")
                      for r in operator.findall(_g("gateReference")))
        op = operator.tag.rsplit("}", 1)[-1]
        if any(not ref for ref, _ in terms) or (op == "not" and len(terms) != 1) or (op != "not" and len(terms) < 2):
            raise self.fail(operator, f"'{op}' needs {'one' if op == 'not' else 'two or more'} gate references")
        return GmlGate(ident, "boolean", parent, (), {"operator": op, "terms": terms})


_SKIPPED = {_d("custom_info")}


def read_xml(path: Path, what: str, limit: int) -> Any:
    """The root element of the XML file at ``path`` (a ``what``, at most ``limit`` bytes, a
    regular file), parsed without a DTD, entity expansion or network access; GatingError naming
    the file otherwise."""
    from defusedxml import ElementTree
    from defusedxml.common import DefusedXmlException

    from .._io.read import read_input

    data = read_input(path, GatingError, what, limit)
    try:
        return ElementTree.fromstring(data, forbid_dtd=True)
    except (ElementTree.ParseError, DefusedXmlException, ValueError) as exc:
        raise GatingError(f"not a readable XML document ({str(exc)[:80]})", path) from None


def read_gatingml(path: str | Path) -> GatingDocument:
    """The GatingML 2.0 document at ``path``; GatingError naming the file and the element for
    anything malformed or unsupported."""
    file_path = Path(path)
    return parse_gatingml(read_xml(file_path, "GatingML document", MAX_DOCUMENT_BYTES), file_path)


def _elements(parent: Any) -> list[Any]:
    """The document's top-level GatingML elements; the contents of an element outside the
    GatingML namespaces (a tool's own wrapper) are read as if at the top."""
    found = []
    for element in parent:
        if not isinstance(element.tag, str) or element.tag in _SKIPPED:
            continue
        if not element.tag.startswith("{"):
            found += _elements(element)
        else:
            found.append(element)
    return found


def parse_gatingml(root: Any, path: Path) -> GatingDocument:
    """The document whose root element is ``root`` (read from ``path``)."""
    reader = _Reader(path)
    if root.tag != _g("Gating-ML"):
        raise reader.fail(root, "not a GatingML 2.0 document (root is not gating:Gating-ML in the 2.0 namespace)")
    transforms: dict[str, GmlTransform] = {}
    matrices: dict[str, SpectrumMatrix] = {}
    gates: dict[str, GmlGate] = {}
    for element in _elements(root):
        if element.tag == _t("transformation"):
            transform = reader.transform(element)
            transforms[transform.id] = transform
        elif element.tag == _t("spectrumMatrix"):
            matrix = reader.matrix(element)
            matrices[matrix.id] = matrix
        elif element.tag.startswith(f"{{{GATING}}}"):
            for gate in reader.gate(element):
                if gate.id in gates:
                    raise reader.fail(element, f"gate id {gate.id!r} used twice")
                gates[gate.id] = gate
        else:
            raise reader.fail(element, "unsupported element")
    _check_references(reader, transforms, matrices, gates)
    return GatingDocument(path=path, transforms=transforms, matrices=matrices, gates=gates)


def _check_references(reader: _Reader, transforms: Mapping[str, GmlTransform],
                      matrices: Mapping[str, SpectrumMatrix], gates: Mapping[str, GmlGate]) -> None:
    for gate in gates.values():
        where = f"gate {gate.id!r}"
        for dim in gate.dims:
            if dim.compensation not in (FCS, UNCOMPENSATED) and dim.compensation not in matrices:
                raise GatingError(f"GatingML {where}: compensation-ref {dim.compensation!r} names no spectrumMatrix "
                                  "of the document", reader.path)
            for ref in (dim.transform, dim.ratio):
                if ref is not None and ref not in transforms:
                    raise GatingError(f"GatingML {where}: transformation-ref {ref!r} names no transformation",
                                      reader.path)
            if dim.ratio is not None and transforms[dim.ratio].kind != "fratio":
                raise GatingError(f"GatingML {where}: new-dimension {dim.ratio!r} is not an fratio", reader.path)
            if dim.transform is not None and transforms[dim.transform].kind == "fratio":
                raise GatingError(f"GatingML {where}: an fratio is a new-dimension, not a dimension's transform",
                                  reader.path)
        refs = [gate.parent] if gate.parent else []
        refs += [ref for ref, _ in gate.geometry.get("terms", ())]
        for ref in refs:
            if ref not in gates:
                raise GatingError(f"GatingML {where}: refers to gate {ref!r}, which the document does not hold",
                                  reader.path)
    order = gate_order(gates)
    if len(order) != len(gates):
        raise GatingError("GatingML: gates refer to each other in a cycle", reader.path)


def gate_order(gates: Mapping[str, GmlGate]) -> list[str]:
    """Gate ids so that every gate comes after its parent and the gates it combines (a cycle
    leaves its gates out)."""
    order: list[str] = []
    placed: set[str] = set()
    pending = list(gates)
    while pending:
        ready = [g for g in pending if all(r in placed for r in _needs(gates[g]))]
        if not ready:
            break
        order += ready
        placed.update(ready)
        pending = [g for g in pending if g not in placed]
    return order


def _needs(gate: GmlGate) -> list[str]:
    return ([gate.parent] if gate.parent else []) + [ref for ref, _ in gate.geometry.get("terms", ())]


# --- evaluation -----------------------------------------------------------------------------------


@dataclass
class _Values:
    """Compensated, transformed values of a sample's dimensions, computed once each."""

    sample: Any
    document: GatingDocument
    cache: dict[Any, np.ndarray] = field(default_factory=dict)

    def channel(self, name: str, compensation: str) -> np.ndarray:
        key = ("channel", name, compensation)
        if key not in self.cache:
            self.cache[key] = self._compensated(name, compensation)
        return self.cache[key]

    def _compensated(self, name: str, compensation: str) -> np.ndarray:
        sample, path = self.sample, self.document.path
        if compensation == UNCOMPENSATED or (compensation == FCS and sample.spillover is None):
            return self._raw(name)
        if compensation == FCS:
            spill = sample.spillover
            if name not in spill.channels:
                return self._raw(name)
            return self._solve(name, spill.channels, spill.matrix, spill.channels, False, compensation)
        matrix = self.document.matrices[compensation]
        if name not in matrix.fluorochromes:
            if name in matrix.detectors:
                raise GatingError(f"GatingML: {name!r} is a detector of {matrix.id!r}; under that compensation "
                                  f"gates name its fluorochromes ({', '.join(matrix.fluorochromes)})", path)
            return self._raw(name)
        return self._solve(name, matrix.detectors, matrix.matrix, matrix.fluorochromes, matrix.inverted,
                           compensation)

    def _raw(self, name: str) -> np.ndarray:
        if name not in self.sample.channels:
            raise GatingError(f"GatingML names channel {name!r}, which {self.sample.path.name} does not have "
                              f"(channels: {', '.join(self.sample.channels)})", self.document.path)
        return self.sample.events[:, self.sample.channels.index(name)].astype(np.float64)

    def _solve(self, name: str, detectors: tuple[str, ...], matrix: np.ndarray, outputs: tuple[str, ...],
               inverted: bool, compensation: str) -> np.ndarray:
        """Unmix ``detectors`` with ``matrix`` (rows: ``outputs``); caches every output."""
        observed = np.column_stack([self._raw(d) for d in detectors])
        if inverted:  # the coefficients already are the compensation matrix
            unmixed = observed @ matrix
        elif matrix.shape[0] == matrix.shape[1]:
            try:
                unmixed = observed @ np.linalg.inv(matrix)
            except np.linalg.LinAlgError:
                raise GatingError("GatingML: a compensation matrix cannot be inverted", self.document.path) from None
        else:  # more detectors than fluorochromes: least squares (ordinary unmixing)
            unmixed = observed @ np.linalg.pinv(matrix)
        for i, output in enumerate(outputs):
            self.cache[("channel", output, compensation)] = unmixed[:, i]
        return unmixed[:, outputs.index(name)]

    def dimension(self, dim: Dimension) -> np.ndarray:
        key = ("dim", dim)
        if key not in self.cache:
            transforms = self.document.transforms
            if dim.ratio is not None:
                ratio = transforms[dim.ratio]
                values = ratio.ratio(*(self.channel(c, dim.compensation) for c in ratio.channels))
            else:
                values = self.channel(dim.channel, dim.compensation)
            if dim.transform is not None:
                values = transforms[dim.transform].apply(values)
            self.cache[key] = values
        return self.cache[key]


def _in_range(values: np.ndarray, low: float | None, high: float | None) -> np.ndarray:
    mask = np.isfinite(values)
    if low is not None:
        mask &= values >= low
    if high is not None:
        mask &= values < high
    return mask


def _membership(gate: GmlGate, values: _Values, members: Mapping[str, np.ndarray]) -> np.ndarray:
    geometry = gate.geometry
    if gate.kind == "boolean":
        masks = [~members[ref] if complement else members[ref] for ref, complement in geometry["terms"]]
        if geometry["operator"] == "not":
            return ~masks[0]
        combine: Callable[[np.ndarray, np.ndarray], np.ndarray] = np.logical_and if geometry["operator"] == "and" \
            else np.logical_or
        out = masks[0]
        for mask in masks[1:]:
            out = combine(out, mask)
        return out
    columns = [values.dimension(d) for d in gate.dims]
    finite = np.all(np.isfinite(np.column_stack(columns)), axis=1)
    inside = _inside(gate, columns, finite)
    return finite & ~inside if geometry.get("outside") else inside  # FlowJo's eventsInside=0


def _inside(gate: GmlGate, columns: list[np.ndarray], finite: np.ndarray) -> np.ndarray:
    geometry = gate.geometry
    if gate.kind == "rectangle":
        mask = finite.copy()
        for column, (low, high) in zip(columns, geometry["bounds"], strict=True):
            mask &= _in_range(column, low, high)
        return mask
    if gate.kind == "quadrant":
        mask = finite.copy()
        for column, cuts, interval in zip(columns, geometry["values"], geometry["intervals"], strict=True):
            mask &= np.searchsorted(cuts, column, side="right") == interval
        return mask
    points = np.column_stack([np.where(finite, c, 0.0) for c in columns])
    if gate.kind == "polygon":
        from flowutils.gating import points_in_polygon

        return finite & np.asarray(points_in_polygon(geometry["vertices"], points), dtype=bool)
    from .._geometry import mahalanobis2

    return finite & (mahalanobis2(points, geometry["mean"], geometry["covariance"]) <= geometry["distance2"])


def evaluate(document: GatingDocument, sample: Any) -> dict[str, np.ndarray]:
    """Membership (a boolean per event) of every gate of ``document`` on ``sample`` (an
    :class:`assaykit.fcs.Sample`), by gate id in document order; a gate with a parent holds only
    its parent's events."""
    values = _Values(sample, document)
    members: dict[str, np.ndarray] = {}
    for ident in gate_order(document.gates):
        gate = document.gates[ident]
        mask = _membership(gate, values, members)
        if gate.parent:
            mask = mask & members[gate.parent]
        members[ident] = mask
    return {ident: members[ident] for ident in document.gates}
