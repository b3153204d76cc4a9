"""GatingML 2.0 (ISAC): read a document into gates and evaluate them on a sample's events.

Every gate type of the standard (rectangle and range, polygon, ellipsoid, quadrant, boolean
and/or/not, parents), its transforms (flin, flog, fasinh, logicle, hyperlog, fratio) and its
compensation references (``FCS``: the file's ``$SPILLOVER``; the id of a ``spectrumMatrix`` in the
document; ``uncompensated``).

The gates are assaykit's own (:mod:`assaykit.gating.gates`) in a tree of
:class:`~assaykit.gating.strategy.Population`, applied by the path strategy files take
(:func:`~assaykit.gating.strategy.population_masks`). Each gate dimension carries its own
compensation and transform, so a gate's ``dims`` name the document's dimensions
(:attr:`GatingDocument.dimensions`: a channel or ratio under a compensation and a transform), and
:class:`DocumentFrame` computes each one's values once per sample. A range of one dimension is an
``IntervalGate``, of two a ``RectangleGate``, of more a ``BoxGate``; a quadrant the range its
position names; a polygon a ``PolygonGate``; an ellipsoid an ``EllipsoidGate``; a boolean gate a
``BooleanGate``.

Boundaries follow the standard: a range holds ``min <= x < max`` (read as ``x <= m``, ``m`` the
float just below ``max``: the same events, in assaykit's inclusive bounds); a quadrant divider value
belongs to the interval above it; a polygon holds the points inside by the even-odd rule; an
ellipsoid holds ``(x - mean)' C^-1 (x - mean) <= distanceSquare``. A value a transform cannot map
(the log of a negative number, a ratio over zero) is in no gate.

The XML is parsed without entity expansion or network access (defusedxml). Anything unsupported
is an error naming the file, the element and what is unsupported: never a skipped gate.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np

from .._io.xmlnumbers import xml_double
from ..errors import GatingError
from ..gating.gates import BooleanGate, BoxGate, EllipsoidGate, IntervalGate, PolygonGate, RectangleGate
from ..gating.strategy import ROOT, Population, order_populations, population_masks

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

    @property
    def key(self) -> str:
        """Its name in a gate's ``dims``: the channel (or ``ratio:ID``), then the compensation and
        transform when there are any (``FL2-H [compensation FCS, transform Logicle_10000]``)."""
        extra = ([f"compensation {self.compensation}"] if self.compensation != UNCOMPENSATED else []) + \
            ([f"transform {self.transform}"] if self.transform else [])
        return f"{self.label} [{', '.join(extra)}]" if extra else self.label


@dataclass(frozen=True)
class GatingDocument:
    """A GatingML 2.0 document: its transforms, compensation matrices, the dimensions its gates
    are drawn on (by the name the gates' ``dims`` use) and its populations (in document order,
    each Quadrant a population of its own; ids are the names, a gate without a parent has
    :data:`~assaykit.gating.strategy.ROOT` as parent)."""

    path: Path
    transforms: Mapping[str, GmlTransform]
    matrices: Mapping[str, SpectrumMatrix]
    dimensions: Mapping[str, Dimension]
    populations: tuple[Population, ...]

    @functools.cached_property
    def gates(self) -> dict[str, Population]:
        """The populations by id (document order), built once (a reader looking up each of
        20,000 gates must not rebuild it per look-up)."""
        return {p.name: p for p in self.populations}


# --- reading --------------------------------------------------------------------------------------


class _Reader:
    """Reads one document; every problem is a GatingError naming the file and the element."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.dimensions: dict[str, Dimension] = {}

    def fail(self, element: Any, problem: str) -> GatingError:
        name = element.tag.rsplit("}", 1)[-1] if element is not None else "document"
        ident = element.get(_g("id")) or element.get(_t("id")) if element is not None else None
        return GatingError(f"GatingML <{name}{' ' + ident if ident else ''}>: {problem}", self.path)

    @overload
    def number(self, element: Any, attribute: str, required: Literal[True] = True) -> float: ...

    @overload
    def number(self, element: Any, attribute: str, required: bool) -> float | None: ...

    def number(self, element: Any, attribute: str, required: bool = True) -> float | None:
        text = element.get(attribute)
        if text is None:
            if required:
                raise self.fail(element, f"attribute {attribute.rsplit('}', 1)[-1]} missing")
            return None
        value = xml_double(text)  # the XML number rule: never Python's 1_000, Unicode digits or inf
        if value is None:
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

    def key(self, dim: Dimension) -> str:
        """``dim``'s name in a gate's ``dims``, recorded in :attr:`dimensions`."""
        self.dimensions.setdefault(dim.key, dim)
        return dim.key

    def keys(self, element: Any, tag: str = "dimension") -> tuple[str, ...]:
        return tuple(self.key(self.dimension(d)) for d in element.findall(_g(tag)))

    def gate(self, element: Any) -> list[Population]:
        kind = element.tag.rsplit("}", 1)[-1]
        ident, parent = element.get(_g("id")), element.get(_g("parent_id"))
        if not ident:
            raise self.fail(element, "gate without an id")
        if ident == ROOT:
            raise self.fail(element, f"the gate id {ROOT!r} is reserved by assaykit (the population above all gates)")
        unknown = [a.rsplit("}", 1)[-1] for a in element.attrib if a.startswith(f"{{{GATING}}}")
                   and a not in (_g("id"), _g("parent_id"), _g("name"), _g("distance"))]
        if unknown:  # a misspelt parent reference must not silently make a top-level gate
            raise self.fail(element, f"unknown attribute gating:{unknown[0]}")
        parent = parent or ROOT
        if kind == "RectangleGate":
            dims = self.keys(element)
            bounds = [(self.number(d, _g("min"), False), self.number(d, _g("max"), False))
                      for d in element.findall(_g("dimension"))]
            if not dims or any(lo is None and hi is None for lo, hi in bounds):
                raise self.fail(element, "each dimension of a rectangle needs a min or a max")
            return [Population(ident, parent, box(dims, [lo for lo, _ in bounds], [hi for _, hi in bounds]))]
        if kind == "PolygonGate":
            dims = self.keys(element)
            vertices = [[self.number(c, _d("value")) for c in v.findall(_g("coordinate"))]
                        for v in element.findall(_g("vertex"))]
            if len(dims) != 2 or len(vertices) < 3 or any(len(v) != 2 for v in vertices):
                raise self.fail(element, "a polygon needs two dimensions and at least three 2-D vertices")
            return [Population(ident, parent, PolygonGate(dims, tuple((x, y) for x, y in vertices)))]
        if kind == "EllipsoidGate":
            return [Population(ident, parent, self.ellipsoid(element))]
        if kind == "QuadrantGate":
            return self.quadrants(element, parent)
        if kind == "BooleanGate":
            return [Population(ident, parent, self.boolean(element))]
        raise self.fail(element, f"unsupported gate type {kind!r}")

    def ellipsoid(self, element: Any) -> Any:
        dims = self.keys(element)
        mean = [self.number(c, _d("value")) for c in element.findall(f"{_g('mean')}/{_g('coordinate')}")]
        rows = [[self.number(e, _d("value")) for e in r.findall(_g("entry"))]
                for r in element.findall(f"{_g('covarianceMatrix')}/{_g('row')}")]
        distance = element.find(_g("distanceSquare"))
        n = len(dims)
        if n < 2 or len(mean) != n or len(rows) != n or any(len(r) != n for r in rows) or distance is None:
            raise self.fail(element, f"an ellipsoid needs a mean, an {n}x{n} covariance matrix and a distanceSquare")
        try:
            return EllipsoidGate(dims, tuple(mean), tuple(tuple(r) for r in rows), self.number(distance, _d("value")))
        except GatingError as exc:
            raise self.fail(element, exc.message) from None

    def quadrants(self, element: Any, parent: str) -> list[Population]:
        """Each Quadrant: the range its positions name on the dividers they use (a divider's
        value belongs to the interval above it)."""
        dividers: dict[str, tuple[str, np.ndarray]] = {}
        for divider in element.findall(_g("divider")):
            values = []
            for v in divider.findall(_g("value")):
                number = xml_double(v.text)
                if number is None:
                    raise self.fail(divider, f"divider value {(v.text or '')[:30]!r} is not a finite number")
                values.append(number)
            if not values or not all(map(math.isfinite, values)):
                raise self.fail(divider, "a divider needs finite values")
            dividers[divider.get(_g("id"), "")] = (self.key(self.dimension(divider)), np.sort(np.asarray(values)))
        found = []
        for quadrant in element.findall(_g("Quadrant")):
            ident = quadrant.get(_g("id"))
            intervals = {}
            for position in quadrant.findall(_g("position")):
                ref = position.get(_g("divider_ref"))
                if ref not in dividers:
                    raise self.fail(position, f"divider_ref {ref!r} names no divider of the gate")
                location = self.number(position, _g("location"))
                intervals[ref] = int(np.searchsorted(dividers[ref][1], location, side="right"))
            if not ident or not intervals:
                raise self.fail(quadrant, "a quadrant needs an id and positions")
            used = [n for n in dividers if n in intervals]
            cuts = [dividers[n][1] for n in used]
            lows = [float(c[k - 1]) if k > 0 else None for c, k in zip(cuts, (intervals[n] for n in used), strict=True)]
            highs = [float(c[k]) if k < len(c) else None for c, k in zip(cuts, (intervals[n] for n in used),
                                                                          strict=True)]
            found.append(Population(ident, parent, box(tuple(dividers[n][0] for n in used), lows, highs)))
        if not found:
            raise self.fail(element, "a quadrant gate needs at least one Quadrant")
        return found

    def boolean(self, element: Any) -> BooleanGate:
        operators = [c for c in element if c.tag in (_g("and"), _g("or"), _g("not"))]
        if len(operators) != 1:
            raise self.fail(element, "a boolean gate needs exactly one of and, or, not")
        operator = operators[0]
        terms = [(r.get(_g("ref")), r.get(_g("use-as-complement"), "false").strip().lower() == "true")
                 for r in operator.findall(_g("gateReference"))]
        op = operator.tag.rsplit("}", 1)[-1]
        if any(not ref for ref, _ in terms) or (op == "not" and len(terms) != 1) or (op != "not" and len(terms) < 2):
            raise self.fail(operator, f"'{op}' needs {'one' if op == 'not' else 'two or more'} gate references")
        complement = tuple(c for _, c in terms)
        return BooleanGate(op, tuple(str(r) for r, _ in terms), complement=complement if any(complement) else ())


def box(dims: tuple[str, ...], lows: Sequence[float | None], highs: Sequence[float | None]) -> Any:
    """The gate of GatingML's range ``low <= x < high`` on each of ``dims`` (None: open): an
    IntervalGate (one dim), a RectangleGate (two) or a BoxGate, whose inclusive upper bound is the
    float just below ``high`` (for floats, ``x < high`` exactly when ``x <= below(high)``)."""
    below = [None if h is None else float(np.nextafter(h, -math.inf)) for h in highs]
    low = tuple(None if v is None else float(v) for v in lows)
    if len(dims) == 1:
        return IntervalGate((dims[0],), low[0], below[0])
    if len(dims) == 2:
        return RectangleGate((dims[0], dims[1]), (low[0], low[1]), (below[0], below[1]))
    return BoxGate(tuple(dims), low, tuple(below))


_SKIPPED = {_d("custom_info")}


def read_gatingml(path: str | Path) -> GatingDocument:
    """The GatingML 2.0 document at ``path``; GatingError naming the file and the element for
    anything malformed or unsupported."""
    file_path = Path(path)
    from .._io.names import unescape_tree
    from .._io.read import read_xml

    root = read_xml(file_path, GatingError, "GatingML document", MAX_DOCUMENT_BYTES)
    return parse_gatingml(unescape_tree(root), file_path)  # names as written (export: _io.names.escape)


def _elements(parent: Any) -> list[Any]:
    """The document's top-level GatingML elements; the contents of an element outside the
    GatingML namespaces (a tool's own wrapper) are read as if at the top."""
    found = []
    stack = list(reversed(parent))  # walked without recursion, in document order
    while stack:
        element = stack.pop()
        if not isinstance(element.tag, str) or element.tag in _SKIPPED:
            continue
        if not element.tag.startswith("{"):
            stack.extend(reversed(element))
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
    populations: dict[str, Population] = {}
    for element in _elements(root):
        if element.tag == _t("transformation"):
            transform = reader.transform(element)
            transforms[transform.id] = transform
        elif element.tag == _t("spectrumMatrix"):
            matrix = reader.matrix(element)
            matrices[matrix.id] = matrix
        elif element.tag.startswith(f"{{{GATING}}}"):
            for population in reader.gate(element):
                if population.name in populations:
                    raise reader.fail(element, f"gate id {population.name!r} used twice")
                populations[population.name] = population
        else:
            raise reader.fail(element, "unsupported element")
    document = GatingDocument(path=path, transforms=transforms, matrices=matrices, dimensions=reader.dimensions,
                              populations=tuple(populations.values()))
    check_references(document, "GatingML", "gate")
    return document


def check_references(document: GatingDocument, what: str, noun: str) -> None:
    """GatingError naming ``document``'s file for a dimension whose compensation or transform the
    document does not hold, a population whose parent or combined population it does not hold,
    or populations that refer to each other in a cycle (``what``, ``noun``: how the messages
    name the document and a population)."""
    transforms, matrices, path = document.transforms, document.matrices, document.path
    names = {p.name for p in document.populations}
    for population in document.populations:
        where = f"{what} {noun} {population.name!r}"
        for key in population.gate.dims:
            dim = document.dimensions[key]
            if dim.compensation not in (FCS, UNCOMPENSATED) and dim.compensation not in matrices:
                raise GatingError(f"{where}: compensation-ref {dim.compensation!r} names no spectrumMatrix "
                                  "of the document", path)
            for ref in (dim.transform, dim.ratio):
                if ref is not None and ref not in transforms:
                    raise GatingError(f"{where}: transformation-ref {ref!r} names no transformation", path)
            if dim.ratio is not None and transforms[dim.ratio].kind != "fratio":
                raise GatingError(f"{where}: new-dimension {dim.ratio!r} is not an fratio", path)
            if dim.transform is not None and transforms[dim.transform].kind == "fratio":
                raise GatingError(f"{where}: an fratio is a new-dimension, not a dimension's transform", path)
        refs = [population.parent] if population.parent != ROOT else []
        refs += list(getattr(population.gate, "populations", ()))
        for ref in refs:
            if ref not in names:
                raise GatingError(f"{where}: refers to {noun} {ref!r}, which the document does not hold", path)
    try:
        order_populations(document.populations)
    except GatingError as exc:
        raise GatingError(f"{what}: {noun}s refer to each other in a cycle ({exc.message})", path) from None


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
                assert dim.channel is not None  # a dimension is a channel or a ratio
                values = self.channel(dim.channel, dim.compensation)
            if dim.transform is not None:
                values = transforms[dim.transform].apply(values)
            if not np.isfinite(values).all():  # a value a transform cannot map, or not finite: in no gate
                values = np.where(np.isfinite(values), values, np.nan)
            self.cache[key] = values
        return self.cache[key]


class DocumentFrame:
    """A sample seen through a document's dimensions (the :class:`~assaykit.gating.gates.GateData`
    its gates are applied to): each dimension's compensated, transformed values, computed once
    (NaN where the transform cannot map a value, or the value is not finite), and the population
    masks found so far."""

    def __init__(self, sample: Any, document: GatingDocument) -> None:
        self.sample, self.document = sample, document
        self.n_events = sample.n_events
        self.masks: dict[str, np.ndarray] = {}
        self.missing: dict[str, str] = {}
        self.findings: dict[str, Any] = {}
        self.values = _Values(sample, document)

    def display(self, marker: str) -> np.ndarray:
        """The values of the dimension named ``marker`` (a key of ``document.dimensions``)."""
        return self.values.dimension(self.document.dimensions[marker])

    def scale(self, marker: str) -> np.ndarray:
        """The dimension's values before its transform (compensated; a ratio's ratio)."""
        dim = self.document.dimensions[marker]
        return self.values.dimension(Dimension(dim.channel, dim.compensation, None, dim.ratio))

    def transform(self, marker: str) -> Any:
        raise GatingError(f"{marker!r} is a dimension of a document: it carries the document's own transform, "
                          "not an assaykit one", self.document.path)

    def inside(self, gate: Any) -> np.ndarray:
        """``gate.apply(self)``."""
        return gate.apply(self)

    def selected(self, marker: str, mask: np.ndarray, display: bool = True) -> np.ndarray:
        """The values (``display``) or untransformed values of the events in ``mask``."""
        return (self.display(marker) if display else self.scale(marker))[mask]


def evaluate(document: GatingDocument, sample: Any) -> dict[str, np.ndarray]:
    """Membership (a boolean per event) of every gate of ``document`` on ``sample`` (an
    :class:`assaykit.fcs.Sample`), by gate id in document order; a gate with a parent holds only
    its parent's events. Applied as a strategy's populations are
    (:func:`~assaykit.gating.strategy.population_masks`)."""
    frame = evaluated_frame(document, sample)
    return {p.name: frame.masks[p.name] for p in document.populations}


def evaluated_frame(document: GatingDocument, sample: Any) -> DocumentFrame:
    """The :class:`DocumentFrame` of ``document`` on ``sample`` with every gate applied (its
    ``masks``): what :func:`evaluate` reads, for a reader that also needs the display values."""
    frame = DocumentFrame(sample, document)
    population_masks(order_populations(document.populations), frame, np.ones(sample.n_events, dtype=bool))
    return frame
