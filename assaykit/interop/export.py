"""Write the gates fitted on one file as GatingML 2.0: each population a gate (its id the
population's name, its parent the parent population), each dimension with the transform and the
compensation the fit used, so that any GatingML reader holds exactly the events assaykit held.

Exact on purpose: assaykit's bounds are inclusive where GatingML's upper bounds are exclusive, so
an upper bound is written as the next float above it; events assaykit removed before gating (at
the top of scale on scatter or readout, or with a NaN or infinite value) are left out by a first
gate, ``assaykit-events``, the parent of the strategy's first populations. A gate that GatingML
cannot express exactly (a bound at or below the floor of a log axis, where assaykit clamps) is
refused rather than approximated.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import numpy as np

from .._io.names import escape
from ..errors import GatingError
from ..gating.gates import BooleanGate, EllipseGate, IntervalGate, PolygonGate, QuadrantGate, RatioGate, RectangleGate
from .gatingml import DATATYPE, GATING, TRANSFORMS

EVENTS_GATE = "assaykit-events"
_MATRIX_ID = "assaykit-compensation"
_SMALLEST_POSITIVE = 5e-324


def _up(value: float) -> float:
    """The next float above ``value``: ``x <= value`` is ``x < _up(value)``."""
    return float(np.nextafter(value, math.inf))


def _num(value: float) -> str:
    return repr(float(value))


_SPACES = {"g_": GATING, "t_": TRANSFORMS, "d_": DATATYPE}


_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""A character XML 1.0 cannot carry, not even as a character reference (control characters, a
lone surrogate): ElementTree writes it as is, and every reader (ours too) refuses the document."""


def xml_bytes(root: Any, declaration: bool = False) -> bytes:
    """``root`` serialised by ElementTree as UTF-8 (GatingML's namespaces with their usual
    prefixes), with an XML declaration when ``declaration``. GatingError when a text or an
    attribute holds a character XML cannot carry (never for a value :func:`element` set: it
    escapes names): the document would be unreadable, by FlowJo and by assaykit itself."""
    for node in root.iter():
        for value in (node.text, node.tail, *node.attrib.keys(), *node.attrib.values()):
            bad = _NOT_XML.search(value) if value else None
            if bad is not None:  # a value set without element(), which escapes names: a bug
                raise GatingError(f"cannot write {escape(value[:80])!r} in XML: it holds the character "
                                  f"U+{ord(bad.group()):04X}, which XML cannot carry")
    register_namespaces()
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=declaration)


def element(parent: Any, tag: str, **attributes: str) -> Any:
    """A child ``tag`` of ``parent``. Attribute keys starting ``g_``, ``t_``, ``d_`` are in the
    gating, transforms and data-type namespaces, their other underscores written as hyphens
    (``g_compensation_ref``: ``gating:compensation-ref``) except GatingML's own ``parent_id`` and
    ``divider_ref``; other keys are plain attributes. Every value is written as names are
    (:func:`assaykit._io.names.escape`: a channel's ``$PnN``, a file or population name may hold
    any character; assaykit's readers read it back with :func:`assaykit._io.names.unescape`)."""
    node = ElementTree.SubElement(parent, tag)
    for key, value in attributes.items():
        space = _SPACES.get(key[:2])
        if space is None:
            node.set(key, escape(value))
            continue
        name = key[2:] if key[2:] in ("parent_id", "divider_ref") else key[2:].replace("_", "-")
        node.set(f"{{{space}}}{name}", escape(value))
    return node


class _Writer:
    def __init__(self, result: Any) -> None:
        self.result = result
        self.frame = result.frame
        self.sample = self.frame.sample
        self.root = ElementTree.Element(f"{{{GATING}}}Gating-ML")
        self.transforms: dict[str, str] = {}
        spill = self.frame.spillover
        self.matrix_channels = set(spill.channels) if spill is not None else set()
        if spill is None:
            self.compensation = "uncompensated"
        elif spill is self.sample.spillover:
            self.compensation = "FCS"
        else:
            self.compensation = _MATRIX_ID
            self._matrix(spill)

    def element(self, parent: Any, namespace: str, tag: str, **attributes: str) -> Any:
        return element(parent, f"{{{namespace}}}{tag}", **attributes)

    def _matrix(self, spill: Any) -> None:
        node = self.element(self.root, TRANSFORMS, "spectrumMatrix", t_id=_MATRIX_ID)
        for group in ("fluorochromes", "detectors"):
            holder = self.element(node, TRANSFORMS, group)
            for name in spill.channels:
                self.element(holder, DATATYPE, "fcs-dimension", d_name=name)
        for row in np.asarray(spill.matrix, dtype=np.float64):
            spectrum = self.element(node, TRANSFORMS, "spectrum")
            for value in row:
                self.element(spectrum, TRANSFORMS, "coefficient", t_value=_num(value))

    def transform(self, marker: str) -> str:
        """The id of ``marker``'s transformation (written once)."""
        if marker in self.transforms:
            return self.transforms[marker]
        form = self.frame.transform(marker)
        ident = f"assaykit-{form.kind}-{len(self.transforms) + 1}"
        node = self.element(self.root, TRANSFORMS, "transformation", t_id=ident)
        if form.kind == "linear":
            self.element(node, TRANSFORMS, "flin", t_T=_num(form.top), t_A="0.0")
        elif form.kind == "log":
            self.element(node, TRANSFORMS, "flog", t_T=_num(form.top), t_M=_num(form.m))
        elif form.kind == "asinh":
            self.element(node, TRANSFORMS, "fasinh", t_T=_num(form.top), t_M=_num(form.m), t_A=_num(form.a))
        else:
            self.element(node, TRANSFORMS, "logicle", t_T=_num(form.top), t_W=_num(form.w), t_M=_num(form.m),
                         t_A=_num(form.a))
        self.transforms[marker] = ident
        return ident

    def channel(self, marker: str) -> str:
        return self.result.channels[marker]

    def compensation_of(self, channel: str) -> str:
        return self.compensation if channel in self.matrix_channels else "uncompensated"

    def dimension(self, gate: Any, marker: str, low: float | None = None, high: float | None = None) -> Any:
        """A gate dimension on ``marker``'s display axis; ``low``/``high``: inclusive display bounds."""
        attributes = {"g_compensation_ref": self.compensation_of(self.channel(marker)),
                      "g_transformation_ref": self.transform(marker)}
        if low is not None:
            attributes["g_min"] = _num(low)
        if high is not None:
            attributes["g_max"] = _num(_up(high))
        node = self.element(gate, GATING, "dimension", **attributes)
        self.element(node, DATATYPE, "fcs-dimension", d_name=self.channel(marker))
        return node

    def events_gate(self) -> str | None:
        """The first gate: the events assaykit gates at all (not at the top of scale on a scatter
        or the readout channel, every value finite); None when that is every event."""
        limits = removed_limits(self.result)
        if not limits:
            return None
        gate = self.element(self.root, GATING, "RectangleGate", g_id=EVENTS_GATE)
        for channel, (low, high) in limits.items():
            attributes = {"g_compensation_ref": "uncompensated"}
            if low is not None:
                attributes["g_min"] = _num(low)
            if high is not None:
                attributes["g_max"] = _num(high)
            node = self.element(gate, GATING, "dimension", **attributes)
            self.element(node, DATATYPE, "fcs-dimension", d_name=channel)
        return EVENTS_GATE

    def gate(self, name: str, parent: str | None, gate: Any) -> None:
        """Write ``gate`` (a :mod:`assaykit.gating.gates` object) as the GatingML gate ``name``."""
        attributes = {"g_id": name, **({"g_parent_id": parent} if parent else {})}
        writers: dict[type, Callable[[dict[str, str], Any], None]] = {
            IntervalGate: self._interval, RectangleGate: self._rectangle, PolygonGate: self._polygon,
            EllipseGate: self._ellipse, QuadrantGate: self._quadrant, RatioGate: self._ratio,
            BooleanGate: self._boolean}
        write = writers.get(type(gate))
        if write is None:
            kind = getattr(gate, "kind", type(gate).__name__)
            raise GatingError(f"population {name!r}: a {kind} gate cannot be written as GatingML", self.sample.path)
        write(attributes, gate)

    def _interval(self, attributes: dict[str, str], gate: IntervalGate) -> None:
        node = self.element(self.root, GATING, "RectangleGate", **attributes)
        self._check_log(gate.dims[0], gate.low)
        low = -_LARGEST if gate.low is None and gate.high is None else gate.low  # every (finite) event
        self.dimension(node, gate.dims[0], low, gate.high)

    def _rectangle(self, attributes: dict[str, str], gate: RectangleGate) -> None:
        node = self.element(self.root, GATING, "RectangleGate", **attributes)
        for i, marker in enumerate(gate.dims):
            self._check_log(marker, gate.low[i])
            self.dimension(node, marker, gate.low[i], gate.high[i])

    def _polygon(self, attributes: dict[str, str], gate: PolygonGate) -> None:
        node = self.element(self.root, GATING, "PolygonGate", **attributes)
        for i, marker in enumerate(gate.dims):
            self._check_log(marker, min(v[i] for v in gate.vertices))
            self.dimension(node, marker)
        for vertex in gate.vertices:
            holder = self.element(node, GATING, "vertex")
            for value in vertex:
                self.element(holder, GATING, "coordinate", d_value=_num(value))

    def _boolean(self, attributes: dict[str, str], gate: BooleanGate) -> None:
        node = self.element(self.root, GATING, "BooleanGate", **attributes)
        operator = self.element(node, GATING, gate.op)
        for i, population in enumerate(gate.populations):
            complement = {"g_use_as_complement": "true"} if gate.complement and gate.complement[i] else {}
            self.element(operator, GATING, "gateReference", g_ref=population, **complement)

    def _check_log(self, marker: str, low: float | None) -> None:
        if self.frame.transform(marker).kind == "log" and (low is None or low <= 0):
            raise GatingError(f"a gate reaching the floor of the log axis of {marker} cannot be written exactly "
                              "in GatingML (assaykit clamps below the floor)", self.sample.path)

    def _ellipse(self, attributes: dict[str, str], gate: EllipseGate) -> None:
        node = self.element(self.root, GATING, "EllipsoidGate", **attributes)
        for i, marker in enumerate(gate.dims):  # the ellipse's lowest point on each axis
            self._check_log(marker, gate.center[i] - gate.distance * math.sqrt(gate.covariance[i][i]))
            self.dimension(node, marker)
        mean = self.element(node, GATING, "mean")
        for value in gate.center:
            self.element(mean, GATING, "coordinate", d_value=_num(value))
        matrix = self.element(node, GATING, "covarianceMatrix")
        for row in gate.covariance:
            holder = self.element(matrix, GATING, "row")
            for value in row:
                self.element(holder, GATING, "entry", d_value=_num(value))
        self.element(node, GATING, "distanceSquare", d_value=_num(gate.distance**2))

    def _quadrant(self, attributes: dict[str, str], gate: QuadrantGate) -> None:
        node = self.element(self.root, GATING, "QuadrantGate", g_id=f"{attributes['g_id']}-split",
                            **({"g_parent_id": attributes["g_parent_id"]} if "g_parent_id" in attributes else {}))
        for i, marker in enumerate(gate.dims):
            divider = self.element(node, GATING, "divider", g_id=f"d{i}",
                                   g_compensation_ref=self.compensation_of(self.channel(marker)),
                                   g_transformation_ref=self.transform(marker))
            self.element(divider, DATATYPE, "fcs-dimension", d_name=self.channel(marker))
            self.element(divider, GATING, "value").text = _num(gate.split[i])
        quadrant = self.element(node, GATING, "Quadrant", g_id=attributes["g_id"])
        for i, sign in enumerate(gate.quadrant):
            location = gate.split[i] if sign == "+" else float(np.nextafter(gate.split[i], -math.inf))
            self.element(quadrant, GATING, "position", g_divider_ref=f"d{i}", g_location=_num(location))

    def _ratio(self, attributes: dict[str, str], gate: RatioGate) -> None:
        """y / x within [low, high] where x > 0 (scale values): an fratio dimension and x itself."""
        x_channel, y_channel = self.channel(gate.dims[0]), self.channel(gate.dims[1])
        ident = f"assaykit-ratio-{attributes['g_id']}"
        node = self.element(self.root, TRANSFORMS, "transformation", t_id=ident)
        ratio = self.element(node, TRANSFORMS, "fratio", t_A="1.0", t_B="0.0", t_C="0.0")
        self.element(ratio, DATATYPE, "fcs-dimension", d_name=y_channel)
        self.element(ratio, DATATYPE, "fcs-dimension", d_name=x_channel)
        compensations = {self.compensation_of(x_channel), self.compensation_of(y_channel)}
        reference = "uncompensated" if compensations == {"uncompensated"} else self.compensation
        gate_node = self.element(self.root, GATING, "RectangleGate", **attributes)
        dim = self.element(gate_node, GATING, "dimension", g_compensation_ref=reference, g_min=_num(gate.low),
                           g_max=_num(_up(gate.high)))
        self.element(dim, DATATYPE, "new-dimension", d_transformation_ref=ident)
        positive = self.element(gate_node, GATING, "dimension", g_compensation_ref=self.compensation_of(x_channel),
                                g_min=_num(_SMALLEST_POSITIVE))
        self.element(positive, DATATYPE, "fcs-dimension", d_name=x_channel)


_LARGEST = float(np.finfo(np.float64).max)


def removed_limits(result: Any) -> dict[str, tuple[float | None, float | None]]:
    """Per channel, the scale-value range ``[low, high)`` outside which ``result`` removed events
    before gating: at the top of scale (below the lowest value stored there:
    :func:`~assaykit.gating.apply.at_top_of_scale`) on the
    scatter and readout channels, and not finite on any channel. GatingError when a limit cannot
    separate them (a scale that is not increasing in the stored value)."""
    frame = result.frame
    if "removed_limits" not in frame.cache:  # both exports of a tube ask: computed once
        frame.cache["removed_limits"] = _removed_limits(frame)
    return dict(frame.cache["removed_limits"])


def _removed_limits(frame: Any) -> dict[str, tuple[float | None, float | None]]:
    from ..fcs.channels import is_scatter
    from ..gating.apply import at_top_of_scale, nonfinite
    from ..gating.kernels import extremes

    sample = frame.sample
    events = sample.events
    columns = [i for i in frame.channels.values() if is_scatter(sample.channels[i])]
    columns.append(frame.channels[frame.strategy.readout.marker])
    limits: dict[str, tuple[float | None, float | None]] = {}
    rows = frame.cache.get("nonfinite")  # apply_strategy's per-event mask: look only at those rows
    flagged = nonfinite(events, axis=0) if rows is None else ~np.isfinite(events[rows]).all(axis=0)
    for column in np.flatnonzero(flagged):
        limits[sample.channels[column]] = (-_LARGEST, _LARGEST)
    tops = frame.cache.get("at_top") or at_top_of_scale(sample, columns)  # apply_strategy keeps its masks
    for column in dict.fromkeys(columns):
        top = tops.get(column)
        if top is None or not top.any():
            continue
        # the least value at the top (none there is NaN: the stored values are), the greatest kept
        high, _, _, kept_high, _, kept = extremes(np.ascontiguousarray(events[:, column], dtype=np.float64), top)
        if kept and kept_high >= high:
            raise GatingError(f"events at the top of scale on {sample.channels[column]} cannot be told apart by "
                              "value: the gates cannot be written exactly as GatingML", sample.path)
        low = limits.get(sample.channels[column], (None, None))[0]
        limits[sample.channels[column]] = (low, high)
    return limits


def register_namespaces() -> None:
    """Write GatingML's namespaces with their usual prefixes (gating, transforms, data-type)."""
    ElementTree.register_namespace("gating", GATING)
    ElementTree.register_namespace("transforms", TRANSFORMS)
    ElementTree.register_namespace("data-type", DATATYPE)


def gatingml_bytes(result: Any) -> bytes:
    """The GatingML 2.0 document of the gates in ``result`` (an
    :class:`assaykit.gating.GatingResult`): populations in strategy order, ids their names."""
    from ..gating.strategy import ROOT

    writer = _Writer(result)
    first = writer.events_gate()
    for population in result.populations:
        parent = first if population.parent == ROOT else population.parent
        writer.gate(population.name, parent, result.gates[population.name])
    ElementTree.indent(writer.root)
    return xml_bytes(writer.root, declaration=True) + b"\n"


def write_gatingml(result: Any, path: str | Path) -> Path:
    """Write :func:`gatingml_bytes` of ``result`` to ``path`` (atomically); the path written."""
    from .._io.atomic import write_atomic

    try:
        data = gatingml_bytes(result)
    except GatingError as error:  # named by the FCS file whose channel or gate cannot be written
        raise GatingError(error.message, error.path or getattr(result.frame.sample, "path", None) or path) from None
    return write_atomic(Path(path), data)
