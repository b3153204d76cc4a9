"""A strategy applied to one sample: the sample seen through the strategy's markers
(:class:`GatingFrame`: compensated scale values and display coordinates, computed once), every
population's mask with the automatic gates fitted to this sample, counts and fitted gates."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import GatingError
from ..fcs import Sample
from ..fcs.channels import find_channel
from ..fcs.compensation import compensate
from .strategy import ROOT, Strategy
from .transforms import Transform


class GatingFrame:
    """A sample seen through a strategy: compensated scale values and display coordinates per
    marker (computed once, on first use), and the population masks found so far."""

    def __init__(self, sample: Sample, strategy: Strategy, spillover: tuple[np.ndarray, tuple[str, ...]] | None):
        self.sample = sample
        self.strategy = strategy
        self.n_events = sample.n_events
        self.masks: dict[str, np.ndarray] = {}
        self.channels: dict[str, int] = {}
        for name, marker in strategy.markers.items():
            try:
                self.channels[name] = find_channel(marker, sample.channels, sample.markers)
            except GatingError as exc:
                raise GatingError(exc.message, sample.path) from None
        self._scale: dict[str, np.ndarray] = {}
        self._display: dict[str, np.ndarray] = {}
        self._transforms: dict[str, Transform] = {}
        self._tops = sample.scale_tops()
        self._compensated: dict[int, np.ndarray] = {}
        self.compensation: str = "none"
        if spillover is not None:
            self._compensated = compensate(sample, *spillover)
            self.compensation = f"{len(self._compensated)} channels"

    def scale(self, marker: str) -> np.ndarray:
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


@dataclass(frozen=True)
class PopulationResult:
    name: str
    parent: str
    count: int
    percent_of_parent: float
    gate: dict[str, Any]


@dataclass(frozen=True)
class GatingResult:
    """Masks per population (file order), fitted gates, counts, and the channels used."""

    populations: tuple[PopulationResult, ...]
    masks: Mapping[str, np.ndarray]
    gates: Mapping[str, Any]
    channels: Mapping[str, str]
    compensation: str
    frame: GatingFrame = field(repr=False, compare=False)

    def count(self, name: str) -> int:
        return int(self.masks[name].sum())

    def to_dict(self) -> dict[str, Any]:
        return {"populations": [{"name": p.name, "parent": p.parent, "count": p.count,
                                 "percent_of_parent": p.percent_of_parent} for p in self.populations],
                "channels": dict(self.channels), "compensation": self.compensation}


def file_spillover(sample: Sample) -> tuple[np.ndarray, tuple[str, ...]] | None:
    """(matrix, channel names) of ``sample``'s own spillover keyword, or None when it has none."""
    return (sample.spillover.matrix, sample.spillover.channels) if sample.spillover is not None else None


def apply_strategy(sample: Sample, strategy: Strategy,
                   spillover: tuple[np.ndarray, tuple[str, ...]] | str | None = "file") -> GatingResult:
    """Gate ``sample`` with ``strategy``: every population's mask, automatic gates fitted to it.
    ``spillover`` is "file" (the file's own matrix), None (no compensation) or (matrix, channels)."""
    spill = file_spillover(sample) if isinstance(spillover, str) else spillover
    frame = GatingFrame(sample, strategy, spill)
    root = np.ones(sample.n_events, dtype=bool)
    gates: dict[str, Any] = {}
    results: list[PopulationResult] = []
    for population in strategy.populations:
        parent = frame.masks[population.parent] if population.parent != ROOT else root
        gate = population.gate
        if hasattr(gate, "fit"):
            try:
                gate = gate.fit(frame, parent)
            except GatingError as exc:
                raise GatingError(f"population {population.name!r}: {exc.message}", sample.path) from None
        mask = gate.apply(frame) & parent
        frame.masks[population.name] = mask
        gates[population.name] = gate
        n_parent = int(parent.sum())
        count = int(mask.sum())
        results.append(PopulationResult(population.name, population.parent, count,
                                        round(100.0 * count / n_parent, 4) if n_parent else 0.0, gate.to_dict()))
    channels = {m: sample.channels[i] for m, i in frame.channels.items()}
    return GatingResult(tuple(results), dict(frame.masks), gates, channels, frame.compensation, frame)
