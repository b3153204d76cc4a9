"""A strategy applied to one sample: the sample seen through the strategy's markers
(:class:`GatingFrame`: compensated scale values and display coordinates, computed once), every
population's mask with the automatic gates fitted to this sample, counts and fitted gates."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ChannelNotFoundError, GatingError
from ..fcs import Sample, Spillover
from ..fcs.channels import find_channel, is_scatter
from ..fcs.compensation import compensate, is_identity
from .gates import Gate
from .kernels import select
from .strategy import ROOT, Strategy, population_masks
from .transforms import Transform


class GatingFrame:
    """A sample seen through a strategy: compensated scale values and display coordinates per
    marker (computed once, on first use), and the population masks found so far."""

    def __init__(self, sample: Sample, strategy: Strategy, spillover: Spillover | str | None = "file"):
        self.sample = sample
        self.strategy = strategy
        self.n_events = sample.n_events
        self.masks: dict[str, np.ndarray] = {}
        self.channels: dict[str, int] = {}
        self.missing: dict[str, str] = {}  # optional markers this file lacks -> why
        self.findings: dict[str, Any] = {}  # what automatic gates found while fitting
        self.cache: dict[str, Any] = {}  # what readers of the result compute once (interop.export)
        lacking: list[tuple[str, str]] = []  # required markers not found: every one named in one line
        refused: list[tuple[str, str]] = []  # required markers whose channel cannot measure them alone
        for name, marker in strategy.markers.items():
            try:
                self.channels[name] = find_channel(marker, sample.channels, sample.markers,
                                                   others=list(strategy.markers.values()))
            except ChannelNotFoundError as exc:  # an optional marker may be absent from the file
                if name not in strategy.optional:
                    lacking.append((name, exc.message))
                    continue
                self.missing[name] = exc.message
            except GatingError as exc:  # a channel naming it that cannot measure it alone (a lineage cocktail)
                if name not in strategy.optional or strategy.markers[name].aliases:
                    refused.append((name, exc.message))
                    continue
                self.missing[name] = exc.message  # an optional marker found by label only: as if absent
        problems = dict([*lacking, *refused])
        if problems:  # the first in the strategy's order in full, then every other one by name
            order = [name for name in strategy.markers if name in problems]
            more = [repr(name) for name in order[1:] if name in dict(lacking)]
            also = [repr(name) for name in order[1:] if name in dict(refused)]
            raise GatingError(problems[order[0]] + (f"; not found either: {', '.join(more)}" if more else "")
                              + (f"; refused too: {', '.join(also)} (an alias labelled otherwise)" if also else ""),
                              sample.path)
        self._scale: dict[str, np.ndarray] = {}
        self._display: dict[str, np.ndarray] = {}
        self._transforms: dict[str, Transform] = {}
        self._inside: dict[Any, np.ndarray] = {}
        self._selected: dict[tuple[str, bool, int], tuple[np.ndarray, np.ndarray]] = {}
        self._tops = sample.scale_tops()
        used, self.flags = choose_spillover(sample, spillover)
        self.spillover: Spillover | None = used  # the matrix applied (None: none)
        self._compensated: dict[int, np.ndarray] = compensate(sample, used.matrix, used.channels) if used else {}
        if used is not None:  # a fluorescence marker the matrix leaves out is measured as acquired: said
            left = [f"{name} ({sample.channels[c]})" for name, c in self.channels.items()
                    if not is_scatter(sample.channels[c]) and c not in self._compensated]
            if left:
                self.flags.append(f"uncompensated: {', '.join(left)} not in the spillover matrix applied "
                                  f"({used.keyword}: {', '.join(used.channels)})")
        self.compensation = f"{used.keyword} ({len(used.channels)} channels)" if used else "none"

    def compensated(self, marker: str) -> bool:
        """True when ``marker``'s values are compensated (its channel is in the matrix applied)."""
        return self.channels[marker] in self._compensated

    def scale(self, marker: str) -> np.ndarray:
        if marker in self.missing:
            raise GatingError(self.missing[marker], self.sample.path)
        if marker not in self._scale:
            column = self.channels[marker]
            values = self._compensated.get(column)
            self._scale[marker] = values if values is not None else self.sample.events[:, column].astype(np.float64)
        return self._scale[marker]

    def transform(self, marker: str) -> Transform:
        """The marker's transform, with ``t`` set to its channel's top of scale where left open."""
        if marker not in self._transforms:
            top = self._tops[self.channels[marker]]
            self._transforms[marker] = self.strategy.transforms.get(marker, Transform()).resolve(top)
        return self._transforms[marker]

    def display(self, marker: str) -> np.ndarray:
        if marker not in self._display:
            self._display[marker] = self.transform(marker).forward(self.scale(marker))
        return self._display[marker]

    def selected(self, marker: str, mask: np.ndarray, display: bool = True) -> np.ndarray:
        """``marker``'s display coordinates (``display``) or scale values of the events in
        ``mask``, kept for that mask array: a fit and the figure drawn from it read the same
        events, selected once (read-only)."""
        key = (marker, display, id(mask))
        kept = self._selected.get(key)
        if kept is not None and kept[0] is mask:
            return kept[1]
        values = select(self.display(marker) if display else self.scale(marker), mask)
        values.flags.writeable = False
        self._selected[key] = (mask, values)
        return values

    def inside(self, gate: Gate) -> np.ndarray:
        """Which events ``gate`` holds (``gate.apply(self)``), computed once per gate: a fitted
        gate's fit measures its events and :func:`apply_strategy` keeps them (do not modify)."""
        try:
            return self._inside[gate]
        except KeyError:
            mask = self._inside[gate] = gate.apply(self)
            return mask
        except TypeError:  # a gate holding unhashable values
            return gate.apply(self)


@dataclass(frozen=True)
class PopulationResult:
    name: str
    parent: str
    count: int
    percent_of_parent: float
    gate: dict[str, Any]


@dataclass(frozen=True)
class GatingResult:
    """Masks per population (file order), fitted gates, counts, and the channels used.

    ``at_top`` counts, per checked channel (scatter and the readout), the events at its top of
    scale; ``removed`` the events taken out before gating for that (any checked channel);
    ``readout_removed`` those the readout population would have held but for a saturated
    readout; ``nonfinite`` the events with a NaN or infinite value in any channel, excluded before
    gating. ``flags``: what was found while gating (compensation), in plain words."""

    populations: tuple[PopulationResult, ...]
    masks: Mapping[str, np.ndarray]
    gates: Mapping[str, Any]
    channels: Mapping[str, str]
    compensation: str
    frame: GatingFrame = field(repr=False, compare=False)
    at_top: Mapping[str, int] = field(default_factory=dict)
    removed: int = 0
    readout_removed: int = 0
    nonfinite: int = 0
    flags: tuple[str, ...] = ()
    findings: Mapping[str, Any] = field(default_factory=dict)

    def count(self, name: str) -> int:
        return int(np.count_nonzero(self.masks[name]))

    def to_dict(self) -> dict[str, Any]:
        return {"populations": [{"name": p.name, "parent": p.parent, "count": p.count,
                                 "percent_of_parent": p.percent_of_parent} for p in self.populations],
                "channels": dict(self.channels), "compensation": self.compensation,
                "at_top_of_scale": dict(self.at_top), "removed_at_top_of_scale": self.removed,
                "readout_removed_at_top_of_scale": self.readout_removed, "nonfinite_events": self.nonfinite,
                "findings": dict(self.findings)}


def choose_spillover(sample: Sample, spillover: Spillover | str | None) -> tuple[Spillover | None, list[str]]:
    """The spillover matrix to apply to ``sample`` and QC flags about it. ``spillover``: "file"
    (the file's own; an identity matrix on a multi-colour file is not applied and flagged, an
    unreadable one fails the tube), a matrix named for the run (applied), or None (none applied;
    flagged when the file declares one)."""
    declared = sample.spillover
    if isinstance(spillover, Spillover):
        return spillover, []
    if spillover is None:
        if (declared is not None and not is_identity(declared)) or sample.spillover_problem:
            return None, ["uncompensated: the file declares a spillover matrix but none was applied"]
        return None, []
    if sample.spillover_problem:
        raise GatingError(f"{sample.spillover_problem}; name the run's matrix (compensation: in run.yaml, "
                          "--compensation) to measure it", sample.path)
    if declared is not None and len(declared.channels) > 1 and is_identity(declared):
        return None, [f"uncompensated: the file's spillover matrix ({declared.keyword}) is an identity matrix; "
                      "name the lab's matrix (compensation: in run.yaml, --compensation)"]
    return declared, []


TOP_CHANNEL = 1024
"""A channel's top of scale is its range's top 1/TOP_CHANNEL (one channel of a 10-bit scale)."""


def at_top_of_scale(sample: Sample, columns: list[int]) -> dict[int, np.ndarray]:
    """Per column of ``sample``: mask of the events at its top of scale, where events pile up at
    the top of the range: stored value at least ``$PnR`` - 1, or equal to the column's largest
    stored value when that lies within the range's top 1/:data:`TOP_CHANNEL` (a Beckman LMD's
    FCS 3.0 copy stores 15-bit values x 32, its top 1,048,544 of 1,048,576; a file rescaled from
    a smaller range tops out a few steps under its ``$PnR``). Columns without a ``$PnR`` are left
    out."""
    ranges = sample.channel_ranges()
    tops: dict[int, np.ndarray] = {}
    for c in dict.fromkeys(columns):
        if ranges[c] <= 0:
            continue
        raw = sample.raw[:, c]
        limit = ranges[c] - 1
        finite = raw if raw.dtype.kind != "f" else raw[np.isfinite(raw)]
        if finite.size:
            largest = float(finite.max())
            if ranges[c] * (1 - 1 / TOP_CHANNEL) <= largest < limit:
                limit = largest
        tops[c] = raw >= limit
    return tops


def apply_strategy(sample: Sample, strategy: Strategy, spillover: Spillover | str | None = "file") -> GatingResult:
    """Gate ``sample`` with ``strategy``: every population's mask, automatic gates fitted to it.
    ``spillover`` is "file" (the file's own matrix), None (no compensation) or a Spillover (the
    run's matrix); see :func:`choose_spillover`. Events at the top of scale on a scatter channel
    or the readout channel, and events with a NaN or infinite value in any channel, are removed
    first (counted in the result)."""
    frame = GatingFrame(sample, strategy, spillover)
    scatter = [i for i in frame.channels.values() if is_scatter(sample.channels[i])]
    readout = frame.channels[strategy.readout.marker]
    top = at_top_of_scale(sample, [*scatter, readout])
    frame.cache["at_top"] = top  # the exports' removed-event limits read the same masks ...
    on_scatter = np.zeros(sample.n_events, dtype=bool)
    for column in scatter:
        on_scatter |= top.get(column, False)
    on_readout = top.get(readout, np.zeros(sample.n_events, dtype=bool))
    nonfinite_events = nonfinite(sample.events)
    frame.cache["nonfinite"] = nonfinite_events  # and the non-finite events (exports)
    removed = on_scatter | on_readout
    if sample.n_events and removed.mean() > 0.5:
        raise GatingError(f"{100 * removed.mean():.0f} % of events are at the top of scale on "
                          f"{', '.join(sample.channels[c] for c, m in top.items() if m.any())}: "
                          "the channel range ($PnR) does not fit the data or the tube is saturated", sample.path)
    gates: dict[str, Any] = {}
    results: list[PopulationResult] = []
    root = ~(removed | nonfinite_events)
    population_masks(strategy.populations, frame, root, fitted=gates, path=sample.path)
    for population in strategy.populations:
        gate = gates[population.name]
        parent = frame.masks[population.parent] if population.parent != ROOT else root
        n_parent = int(np.count_nonzero(parent))
        count = int(np.count_nonzero(frame.masks[population.name]))
        results.append(PopulationResult(population.name, population.parent, count,
                                        round(100.0 * count / n_parent, 4) if n_parent else 0.0, gate.to_dict()))
    readout_only = ~on_scatter & on_readout & ~nonfinite_events  # saturated on the readout alone
    readout_removed = _members(strategy, gates, frame, readout_only)[strategy.readout.population] \
        if readout_only.any() else readout_only
    channels = {m: sample.channels[i] for m, i in frame.channels.items()}
    return GatingResult(tuple(results), dict(frame.masks), gates, channels, frame.compensation, frame,
                        at_top={sample.channels[c]: int(np.count_nonzero(m)) for c, m in top.items()},
                        removed=int(np.count_nonzero(removed)), readout_removed=int(np.count_nonzero(readout_removed)),
                        nonfinite=int(np.count_nonzero(nonfinite_events)),
                        flags=tuple(frame.flags), findings=dict(frame.findings))


def nonfinite(events: np.ndarray, axis: int = 1) -> np.ndarray:
    """Which events (``axis`` 1: rows) or channels (``axis`` 0: columns) hold a NaN or infinite
    value: those whose sum (in the data's own precision) is not finite, each then checked value
    by value (a sum of huge finite values may overflow). Integer data hold none.

    Parameters
    ----------
    events : ndarray
        Events x channels.
    axis : int
        1 for one flag per event, 0 for one per channel.
    """
    out = np.zeros(events.shape[1 - axis], dtype=bool)
    if events.dtype.kind != "f":
        return out
    with np.errstate(over="ignore", invalid="ignore"):  # an overflowing sum is re-checked below
        suspect = np.flatnonzero(~np.isfinite(_sums(events, axis)))
    chosen = events[suspect] if axis == 1 else events[:, suspect]
    out[suspect] = ~np.isfinite(chosen).all(axis=axis)
    return out


def _sums(events: np.ndarray, axis: int) -> np.ndarray:
    """Sums along ``axis`` of a float array; per row, column by column (one pass each: numpy's
    row reduction over a few channels is several times slower)."""
    if axis == 0 or events.shape[1] == 0:
        return events.sum(axis=axis)
    sums = events[:, 0].copy()
    for column in range(1, events.shape[1]):
        sums += events[:, column]
    return sums


def _members(strategy: Strategy, gates: Mapping[str, Any], frame: GatingFrame, root: np.ndarray
             ) -> dict[str, np.ndarray]:
    """Every population's mask with the already fitted ``gates`` starting from ``root``."""
    masks: dict[str, np.ndarray] = {}
    for population in strategy.populations:
        parent = masks[population.parent] if population.parent != ROOT else root
        masks[population.name] = gates[population.name].apply(frame) & parent
    return masks
