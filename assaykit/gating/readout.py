"""The readout of a gated sample: statistics of one marker on one population, and QC flags.

Statistics are computed on compensated scale values, never on transformed ones.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..errors import GatingError
from .apply import GatingResult
from .strategy import Strategy


@dataclass(frozen=True)
class ReadoutResult:
    population: str
    marker: str
    channel: str
    statistic: str
    n_events: int
    median: float | None
    geometric_mean: float | None
    robust_cv: float | None  # percent: (P84.13 - P15.87) / (2 x median) x 100
    percent_positive: float | None
    threshold: float | None

    @property
    def value(self) -> float | None:
        """The strategy's statistic (median by default)."""
        return self.median if self.statistic == "median" else self.geometric_mean

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def statistics(values: np.ndarray, threshold: float | None = None) -> dict[str, float | None]:
    """Median, geometric mean (of the positive values), robust CV (%) and % above ``threshold``."""
    if values.size == 0:
        return {"median": None, "geometric_mean": None, "robust_cv": None, "percent_positive": None}
    median = float(np.median(values))
    positive = values[values > 0]
    geometric = float(np.exp(np.mean(np.log(positive)))) if positive.size else None
    low, high = np.percentile(values, [15.865, 84.135])
    rcv = float(100.0 * (high - low) / (2.0 * median)) if median > 0 else None
    pos = percent_above(values, threshold) if threshold is not None else None
    return {"median": median, "geometric_mean": geometric, "robust_cv": rcv, "percent_positive": pos}


def percent_above(values: np.ndarray, threshold: float) -> float | None:
    """% of ``values`` strictly above ``threshold`` (both in scale units); None without values."""
    return float(100.0 * np.mean(values > threshold)) if values.size else None


def readout_values(result: GatingResult, strategy: Strategy) -> np.ndarray:
    """The compensated scale values (float64) of ``strategy``'s readout marker on its readout
    population in the gated sample ``result``."""
    readout = strategy.readout
    return result.frame.scale(readout.marker)[result.masks[readout.population]]


def measure(result: GatingResult, strategy: Strategy, threshold: float | None = None) -> ReadoutResult:
    """``strategy``'s readout on the gated sample ``result``; ``threshold`` (scale units) gives %
    positive."""
    readout = strategy.readout
    values = readout_values(result, strategy)
    stats = statistics(values, threshold)
    return ReadoutResult(readout.population, readout.marker, result.channels[readout.marker], readout.statistic,
                         int(values.size), threshold=threshold, **stats)


ISOTYPE_PERCENTILE = 99.0  # Lyon: 1 % of the isotype control's events above the cut-off


def isotype_cut(values: np.ndarray, percentile: float = ISOTYPE_PERCENTILE) -> float | None:
    """The positivity threshold (scale units) from an isotype or FMO control's readout values
    (scale units): their ``percentile`` (%, 99 by default). None when there are no values.
    The one place this rule lives: ``gate --isotype`` and ``score`` both use it."""
    values = np.asarray(values)
    return float(np.percentile(values, percentile)) if values.size else None


def isotype_threshold(isotype: GatingResult, strategy: Strategy, percentile: float = ISOTYPE_PERCENTILE) -> float:
    """The positivity threshold (scale units) of a gated ``isotype`` (or FMO) control: the
    :func:`isotype_cut` of ``strategy``'s readout on it (``percentile`` in %)."""
    readout = strategy.readout
    cut = isotype_cut(readout_values(isotype, strategy), percentile)
    if cut is None:
        raise GatingError(f"the isotype control has no {readout.population} to set a threshold",
                          isotype.frame.sample.path)
    return cut


def qc_flags(result: GatingResult, strategy: Strategy, readout: ReadoutResult) -> list[str]:
    """QC findings in plain words (empty when all is well) of a gated sample ``result`` and its
    ``readout``: too few events, doublets (on the strategy's ``singlets`` population, whatever
    its name), a saturated readout channel. Limits are the strategy's ``qc``."""
    singlets = strategy.singlets
    flags: list[str] = []
    qc = strategy.qc
    n = readout.n_events
    if n < qc.min_events_unreliable:
        flags.append(f"only {n} {readout.population}: fewer than {qc.min_events_unreliable}, the value is unreliable")
    elif n < qc.min_events_warning:
        flags.append(f"only {n} {readout.population} (fewer than {qc.min_events_warning} recommended)")
    names = [p.name for p in result.populations]
    if singlets in names:
        population = next(p for p in result.populations if p.name == singlets)
        dims = getattr(result.gates[singlets], "dims", ())
        if len(dims) == 2 and result.channels[dims[0]] == result.channels[dims[1]]:
            flags.append(f"doublets not excluded: {dims[0]} and {dims[1]} are the same channel "
                         f"({result.channels[dims[0]]}) in this file (no pulse area recorded)")
        doublets = 100.0 - population.percent_of_parent
        if doublets > qc.max_doublets_percent:
            flags.append(f"doublets are {doublets:.1f} % of {population.parent} (above {qc.max_doublets_percent:g} %)")
    sample = result.frame.sample
    column = result.frame.channels[readout.marker]
    top = sample.channel_ranges()[column]
    if top > 0 and n:
        raw = sample.raw[:, column][result.masks[readout.population]]
        saturated = 100.0 * float(np.mean(raw >= top - 1))
        if saturated > qc.max_saturated_percent:
            flags.append(f"{readout.channel} saturated: {saturated:.1f} % of {readout.population} "
                         "at the channel maximum")
    return flags
