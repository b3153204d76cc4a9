"""What a gating figure shows, as data: per population, its parent's events binned on the gate's
axes (display coordinates), the gate's outline and the axis ticks in scale values.

Drawn by :func:`assaykit.gating.plot.draw_panel` (``assaykit gate --plot``) and, from the copy
that ``score`` keeps in ``figure_data.json``, by the report's gating thumbnails, so that a report
can be re-drawn without the FCS files.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, TypedDict

import numpy as np

from ..fcs.channels import is_scatter
from .apply import GatingResult
from .gates import thinned
from .kernels import select
from .mixture import histogram1d, histogram2d
from .strategy import ROOT
from .transforms import Transform


class _PanelHead(TypedDict):
    """The fields every panel of a gating result shares (its population's)."""

    population: str
    parent: str
    count: int
    percent_of_parent: float


@dataclass(frozen=True)
class Panel:
    """One gate on its parent. ``counts`` is (x bins,) for a one-marker gate, else (x bins, y bins);
    ``outlines`` are polylines (N x 2, display coordinates); a one-marker gate's bounds are
    ``bounds`` (display coordinates)."""

    population: str
    parent: str
    count: int
    percent_of_parent: float
    x_label: str
    y_label: str
    x_edges: np.ndarray
    y_edges: np.ndarray
    counts: np.ndarray
    outlines: tuple[np.ndarray, ...] = ()
    bounds: tuple[float, ...] = ()
    x_ticks: tuple[tuple[float, str], ...] = ()
    y_ticks: tuple[tuple[float, str], ...] = ()

    @property
    def title(self) -> str:
        return f"{self.population}: {self.count:,} ({self.percent_of_parent:.1f} % of {self.parent})"

    def to_dict(self) -> dict[str, Any]:
        """The panel as JSON-ready values (what :meth:`from_dict` reads)."""
        return {"population": self.population, "parent": self.parent, "count": self.count,
                "percent_of_parent": round(self.percent_of_parent, 4), "x_label": self.x_label,
                "y_label": self.y_label, "x_edges": _round(self.x_edges), "y_edges": _round(self.y_edges),
                "outlines": [_round(o) for o in self.outlines], "bounds": [round(float(b), 6) for b in self.bounds],
                "x_ticks": [[round(v, 6), s] for v, s in self.x_ticks],
                "y_ticks": [[round(v, 6), s] for v, s in self.y_ticks],
                "counts": self.counts.astype(np.int64).tolist()}

    @classmethod
    def from_dict(cls, doc: Any, where: str = "panel") -> Panel:
        """The panel ``to_dict`` wrote; :class:`assaykit._io.validate.InvalidError` naming ``where`` and the
        key when ``doc`` does not have that shape (an edited or damaged figure-data file)."""
        from .._io import validate as schema

        doc = schema.mapping(doc, where)

        def get(key: str) -> Any:
            return schema.field(doc, key, where)

        x_edges = schema.array(get("x_edges"), f"{where}.x_edges", (None,))
        y_edges = schema.array(get("y_edges"), f"{where}.y_edges", (None,))
        bins = (x_edges.size - 1,) if y_edges.size == 0 else (x_edges.size - 1, y_edges.size - 1)
        if x_edges.size < 2 or (np.diff(x_edges) <= 0).any() or (np.diff(y_edges) <= 0).any():
            raise schema.InvalidError(f"{where}: bin edges must be increasing, at least two on x")
        return cls(population=schema.text(get("population"), f"{where}.population"),
                   parent=schema.text(get("parent"), f"{where}.parent"),
                   count=int(schema.number(get("count"), f"{where}.count", 0, schema.MAX_COUNT, integer=True)),
                   percent_of_parent=schema.number(get("percent_of_parent"), f"{where}.percent_of_parent", 0, 100),
                   x_label=schema.text(get("x_label"), f"{where}.x_label"),
                   y_label=schema.text(get("y_label"), f"{where}.y_label"), x_edges=x_edges, y_edges=y_edges,
                   counts=schema.array(get("counts"), f"{where}.counts", bins, 0, schema.MAX_COUNT,
                                       integer=True).astype(np.int64),
                   outlines=tuple(schema.array(o, f"{where}.outlines[{i}]", (None, 2))
                                  for i, o in enumerate(schema.items(get("outlines"), f"{where}.outlines"))),
                   bounds=tuple(schema.array(get("bounds"), f"{where}.bounds", (None,)).tolist()),
                   x_ticks=_ticks(get("x_ticks"), f"{where}.x_ticks"),
                   y_ticks=_ticks(get("y_ticks"), f"{where}.y_ticks"))


def _ticks(value: Any, where: str) -> tuple[tuple[float, str], ...]:
    from .._io import validate as schema

    ticks = []
    for i, tick in enumerate(schema.items(value, where)):
        if not isinstance(tick, list) or len(tick) != 2:
            raise schema.InvalidError(f"{where}[{i}]: expected [value, label]")
        ticks.append((schema.number(tick[0], f"{where}[{i}]"), schema.text(tick[1], f"{where}[{i}]")))
    return tuple(ticks)


def _round(values: np.ndarray) -> list:
    return np.round(np.asarray(values, dtype=np.float64), 6).tolist()


@functools.lru_cache(maxsize=64)
def axis_ticks(transform: Transform) -> tuple[tuple[float, str], ...]:
    """Ticks in scale values at display positions: round steps on a linear axis, decades otherwise
    (made once per transform: the tubes of a run share them)."""
    top = transform.top
    if transform.kind == "linear":
        step = 10 ** np.floor(np.log10(top / 5))
        scale_ticks = np.arange(0, top + 1, step * max(1, round(top / 5 / step)))
        labels = [f"{v / 1000:g}k" if v >= 1000 else f"{v:g}" for v in scale_ticks]
    else:
        high = int(np.floor(np.log10(top)))
        low = max(int(np.ceil(np.log10(top) - transform.m)), high - 5) if transform.kind == "log" else high - 3
        scale_ticks = 10.0 ** np.arange(low, high + 1)
        labels = [f"$10^{{{k}}}$" for k in range(low, high + 1)]
        if transform.kind != "log":
            scale_ticks, labels = np.concatenate([[0.0], scale_ticks]), ["0", *labels]
    return tuple(zip(transform.forward(scale_ticks).tolist(), labels, strict=True))


def _range(values: np.ndarray) -> tuple[float, float]:
    """Display range: 0..1 (the instrument's range) widened to the 0.1-99.9 % of the events
    (of the :func:`~assaykit.gating.gates.thinned` events)."""
    if values.size == 0:
        return 0.0, 1.0
    low, high = np.percentile(thinned(values), [0.1, 99.9]).tolist()
    return min(0.0, float(low)), max(1.0, float(high))


def axis_label(result: GatingResult, marker: str) -> str:
    """``marker (channel)`` of the gated sample ``result``, with ", compensated" or
    ", uncompensated" for a fluorescence channel: what was actually applied."""
    channel = result.channels[marker]
    if is_scatter(channel):
        return f"{marker} ({channel})"
    return f"{marker} ({channel}), {'compensated' if result.frame.compensated(marker) else 'uncompensated'}"


def gating_panels(result: GatingResult, bins: int = 200) -> list[Panel]:
    """One panel per population of the gated sample ``result`` (file order), its parent binned
    in ``bins`` x ``bins`` bins (display coordinates)."""
    frame = result.frame
    root = np.ones(frame.n_events, dtype=bool)
    panels = []
    for population in result.populations:
        gate = result.gates[population.name]
        parent = result.masks.get(population.parent, root) if population.parent != ROOT else root
        dims = list(getattr(gate, "dims", ()) or ())
        common: _PanelHead = {"population": population.name, "parent": population.parent,
                              "count": population.count, "percent_of_parent": population.percent_of_parent}
        labels = [axis_label(result, d) for d in dims]
        if len(dims) == 1:
            x = frame.display(dims[0]) if parent is root else select(frame.display(dims[0]), parent)
            counts, edges = histogram1d(x, bins, _range(x))
            bounds = tuple(float(b) for b in (gate.low, gate.high) if b is not None)
            panels.append(Panel(**common, x_label=labels[0], y_label="events", x_edges=edges,
                                y_edges=np.zeros(0), counts=counts, bounds=bounds,
                                x_ticks=axis_ticks(frame.transform(dims[0]))))
        elif len(dims) == 2:
            x, y = frame.selected(dims[0], parent), frame.selected(dims[1], parent)  # a fit's, if it read them
            x_range, y_range = ((0.0, 1.0), (0.0, 1.0)) if gate.kind == "ratio" else (_range(x), _range(y))
            counts, xe, ye = histogram2d(x, y, bins, x_range, y_range)
            panels.append(Panel(**common, x_label=labels[0], y_label=labels[1], x_edges=xe, y_edges=ye,
                                counts=counts,
                                outlines=gate.outlines(frame, parent, x_range, y_range),
                                x_ticks=axis_ticks(frame.transform(dims[0])),
                                y_ticks=axis_ticks(frame.transform(dims[1]))))
    return panels
