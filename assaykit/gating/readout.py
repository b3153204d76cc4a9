"""The readout of a gated sample: statistics of one marker on one population, and QC flags.

Statistics are computed on compensated scale values, never on transformed ones.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from ..errors import GatingError
from ..findings import Finding, FindingCode, finding
from .apply import GatingResult
from .autogates import AUTO_METHODS, DebrisGate, DrawnJudgement, MonocyteGate
from .plausibility import share_problem
from .specimen import detect_specimen, specimen_flags
from .strategy import ROOT, Strategy


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
    low, high = np.percentile(values, [15.865, 84.135]).tolist()
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


def measure(result: GatingResult, strategy: Strategy, threshold: float | None = None,
            values: np.ndarray | None = None) -> ReadoutResult:
    """``strategy``'s readout on the gated sample ``result``; ``threshold`` (scale units) gives %
    positive; ``values``: the :func:`readout_values` of ``result`` when the caller has them."""
    readout = strategy.readout
    values = readout_values(result, strategy) if values is None else values
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


def qc_findings(result: GatingResult, strategy: Strategy, readout: ReadoutResult) -> list[Finding]:
    """QC findings (empty when all is well) of a gated sample ``result`` and its ``readout``:
    what gating found (compensation), too few events, a drawn readout gate of implausible share
    (:func:`drawn_gate_findings`), doublets (on the strategy's ``singlets``
    population, whatever its name) or no pulse height to exclude them, the specimen, the monocyte
    gate's purity, events at the top of scale (scatter or readout; removed before gating).
    Limits are the strategy's ``qc``."""
    found = [finding(FindingCode.COMPENSATION, text) for text in result.flags]
    if result.nonfinite:
        found.append(finding(FindingCode.NONFINITE_EVENTS, f"{result.nonfinite} events with a missing or infinite "
                                                           "value (NaN, inf) excluded before gating"))
    qc = strategy.qc
    n = readout.n_events
    if n < qc.min_events_unreliable:
        found.append(finding(FindingCode.TOO_FEW_EVENTS, f"only {n} {readout.population}: fewer than "
                                                         f"{qc.min_events_unreliable}, the value is unreliable"))
    elif n < qc.min_events_warning:
        found.append(finding(FindingCode.FEW_EVENTS, f"only {n} {readout.population} (fewer than "
                                                     f"{qc.min_events_warning} recommended)"))
    found += drawn_gate_findings(result, strategy)  # a drawn readout gate: the automatic gate's share rule
    found += _doublet_findings(result, strategy)
    specimen = tube_specimen(result, strategy)
    found += [finding(FindingCode.SPECIMEN_MISMATCH, text)
              for text in specimen_flags(specimen["detected"], specimen["declared"])]
    found += _low_purity(tube_purity(result), strategy)
    found += _overlap_findings(result)
    sample = result.frame.sample
    share = 100.0 * result.removed / sample.n_events if sample.n_events else 0.0
    if share > qc.max_saturated_percent:
        channels = ", ".join(c for c, k in result.at_top.items() if k)
        found.append(finding(FindingCode.SATURATED_EVENTS, f"{share:.1f} % of events at the top of scale on "
                                                           f"{channels}, removed before gating (above "
                                                           f"{qc.max_saturated_percent:g} %)"))
    lost = result.readout_removed
    if lost and 100.0 * lost / (n + lost) > qc.max_saturated_percent:
        found.append(finding(FindingCode.READOUT_SATURATED,
                             f"{readout.channel} saturated: {100.0 * lost / (n + lost):.1f} % of "
                             f"{readout.population} at the channel maximum (removed; the statistic is biased low)"))
    return found


def _low_purity(purity: float | None, strategy: Strategy) -> list[Finding]:
    """The warning ``low_purity`` when the monocyte gate's estimated ``purity`` (0-1; None: not
    estimated) is under the strategy's ``qc.min_purity_percent``: the one rule for an automatic
    gate and a drawn one."""
    qc = strategy.qc
    if purity is None or 100.0 * purity >= qc.min_purity_percent:
        return []
    return [finding(FindingCode.LOW_PURITY, f"estimated monocyte purity {100.0 * purity:.1f} % (below "
                                            f"{qc.min_purity_percent:g} %): granulocytes or other cells "
                                            "share the gate")]


def _drawn_readout(strategy: Strategy) -> Any:
    """The readout population of ``strategy`` when a drawn gate (not an automatic one) gates it;
    None otherwise."""
    name = strategy.readout.population
    population = next((p for p in strategy.populations if p.name == name), None)
    if population is None or isinstance(population.gate, tuple(AUTO_METHODS.values())):
        return None
    return population


def drawn_judgement(result: GatingResult, strategy: Strategy) -> DrawnJudgement | None:
    """The readout population's drawn gate (a review change, a run.yaml ``gate_overrides:``
    polygon, a FlowJo or GatingML population) judged by the default automatic monocyte gate's
    rules that do not depend on its own polygon (:meth:`MonocyteGate.judge_drawn`: CD14 above
    the lymphocytes, purity against the mixture fitted on the same parent), computed once per
    result; None for an automatic gate, a gate not on two markers, or a parent with no monocyte
    cluster to judge against.

    Parameters
    ----------
    result : GatingResult
        The gated sample.
    strategy : Strategy
        The strategy ``result`` was gated with.
    """
    from .plausibility import gate_plot_dims

    name = strategy.readout.population
    population = _drawn_readout(strategy)
    if population is None:
        return None
    dims = gate_plot_dims(population.gate)
    if len(dims) != 2 or name not in result.masks:
        return None
    cache = result.frame.cache
    key = f"drawn_judgement:{name}"
    if key not in cache:
        parent = population.parent
        mask = np.ones(result.frame.n_events, dtype=bool) if parent == ROOT else result.masks.get(parent)
        cache[key] = None if mask is None else \
            MonocyteGate(dims=dims).judge_drawn(result.frame, mask, result.masks[name])
    judged: DrawnJudgement | None = cache[key]
    return judged


def drawn_gate_findings(result: GatingResult, strategy: Strategy) -> list[Finding]:
    """The finding ``drawn_gate_implausible`` (an error: the value is withheld) when the readout
    population of ``strategy`` is gated by a drawn gate (not an automatic one) whose share of its
    parent in ``result`` lies outside the range the default automatic monocyte gate accepts
    (``min_share``..``max_share_pbmc``: the wider one, as a drawn gate's parent may hold the
    granulocytes or not), or whose cells are not monocytes by that gate's other rules
    (:func:`drawn_judgement`); the warning ``low_purity`` when their estimated purity is under the
    strategy's ``qc.min_purity_percent``, as for the automatic gate; [] for an automatic gate or
    a plausible one.

    Parameters
    ----------
    result : GatingResult
        The gated sample.
    strategy : Strategy
        The strategy ``result`` was gated with.
    """
    name = strategy.readout.population
    population = _drawn_readout(strategy)
    if population is None:
        return []
    count = result.count(name)
    parent = population.parent
    parent_count = result.frame.sample.n_events - result.removed - result.nonfinite if parent == ROOT \
        else result.count(parent)
    defaults: dict[str, Any] = {f.name: f.default for f in fields(MonocyteGate)}
    problem = share_problem(count, parent_count, defaults["min_share"], defaults["max_share_pbmc"])
    where = "all events" if parent == ROOT else parent
    if problem:
        problem = problem.replace("the cells", where)
    judged = None if problem else drawn_judgement(result, strategy)
    if judged is not None and not judged.problem:
        return _low_purity(judged.purity, strategy)
    if judged is not None:
        problem = judged.problem
    if not problem:
        return []
    return [finding(FindingCode.DRAWN_GATE_IMPLAUSIBLE,
                    f"the drawn {name} gate is not plausible: {problem}; "
                    "the automatic gate would refuse it, so no value is reported")]


def qc_flags(result: GatingResult, strategy: Strategy, readout: ReadoutResult) -> list[str]:
    """The messages of :func:`qc_findings` of ``result``, ``strategy`` and ``readout`` (for
    display only: code decides on the findings' codes)."""
    return [f.message for f in qc_findings(result, strategy, readout)]


def tube_purity(result: GatingResult) -> float | None:
    """The monocyte gate's estimated purity (0-1: the mixture's mean posterior of the monocyte
    components over the gated events), None when no automatic monocyte gate was fitted."""
    found = result.findings.get("monocytes")
    return float(found["purity"]) if found else None


def tube_specimen(result: GatingResult, strategy: Strategy) -> dict[str, str | None]:
    """``{"detected": ..., "declared": ...}``: the specimen detected from the gated sample
    ``result`` (:func:`~assaykit.gating.specimen.detect_specimen`; None without an automatic
    monocyte gate) and the one ``strategy`` declares (None when it declares none)."""
    found = result.findings.get("monocytes")
    detected = None
    if found:
        debris = next((p for p in result.populations if isinstance(_declared_gate(strategy, p.name), DebrisGate)),
                      None)
        share = None if debris is None or debris.parent != ROOT else 1.0 - debris.percent_of_parent / 100.0
        third = result.findings.get("granulocytes") or {}
        granulocytes = third["granulocyte_share"] if third.get("granulocytes") else found["granulocyte_share"]
        detected = detect_specimen(granulocytes, share)  # granulocytes excluded before the monocyte gate: counted
    return {"detected": detected, "declared": strategy.specimen}


def _overlap_findings(result: GatingResult) -> list[Finding]:
    """What the automatic monocyte gate found beyond the usual (none for a manual gate): a
    CD14-dim cluster gated on the other evidence (``cd14_dim``), and what it left out where
    granulocytes overlap the monocytes (``overlap``)."""
    found = result.findings.get("monocytes") or {}
    out = _granulocyte_findings(result)
    if found.get("cd14_dim"):
        out.append(finding(FindingCode.MONOCYTES_DIM,
                           f"CD14-dim monocytes: their CD14 only {found['cd14_separation_sds']:.1f} lymphocyte SDs "
                           "above the lymphocytes' (8 usual), gated on their side scatter, cluster shape and purity"))
    overlap = found.get("overlap")
    if not overlap:
        return out
    third = result.findings.get("granulocytes")
    if third is not None and third.get("marker") is None:  # the step stepped aside where it would have helped
        out.append(finding(FindingCode.GRANULOCYTES_NOT_EXCLUDED,
                           "granulocytes overlap the monocytes and the panel has no third marker to exclude them "
                           "(CD15 or CD45 would; the gate put purity before recall instead)"))
    return [*out, finding(FindingCode.MONOCYTES_OVERLAP,
                    f"granulocytes overlap the monocytes: the gate kept only events at most "
                    f"{100 * overlap['max_granulocyte_posterior']:.0f} % likely granulocytic (purity before recall), "
                    f"leaving out {overlap['events']} events (by the mixture about {overlap['monocytes']:.0f} "
                    f"monocytes and {overlap['immature_granulocytes']:.0f} immature granulocytes)")]


def _granulocyte_findings(result: GatingResult) -> list[Finding]:
    """What the automatic non_granulocytes step did with a third marker (none when it stepped
    aside for want of one, or found no granulocytes where the monocyte gate found none either);
    a warning when it found none where the monocyte gate found whole blood's (the step kept every
    event: its marker, or CD14 at the densest side scatter, did not say granulocyte)."""
    third = result.findings.get("granulocytes") or {}
    if third.get("marker") and third.get("granulocytes") is False:
        monocytes = result.findings.get("monocytes") or {}
        share = monocytes.get("granulocyte_share")
        if share is not None and detect_specimen(share, None) != "pbmc":
            return [finding(FindingCode.THIRD_MARKER_FOUND_NO_GRANULOCYTES,
                            f"the {third['marker']} step found no granulocytes (it took the densest side scatter "
                            f"for monocytes or lymphocytes and kept every event) where the monocyte gate found "
                            f"{100 * share:.0f} % granulocytes: is the {third['marker']} channel stained and "
                            f"compensated right?")]
    if not third.get("granulocytes"):
        return []
    if not third.get("excluded"):  # nothing excluded: said only where the reason is not plain (CD16's SSC limit)
        if not third.get("ssc_limited"):
            return []
        return [finding(FindingCode.GRANULOCYTES_EXCLUDED,
                        f"no event excluded on {third['marker']}: it excludes only events at the neutrophils' level "
                        f"at or below the monocytes' side scatter ({third['marker']} is also on non-classical "
                        "monocytes), and none lay there")]
    where = " at the monocytes' side scatter only (neutrophils; CD16-dim immature granulocytes stay)" \
        if third.get("ssc_limited") else ""
    purity = "; purity before recall: granulocytic events crowd the monocytes' place" \
        if third.get("purity_first") else ""
    return [finding(FindingCode.GRANULOCYTES_EXCLUDED,
                    f"{third['excluded']} granulocytic events excluded on {third['marker']} "
                    f"({third['granulocytic']} on granulocytes) before the monocyte gate{where}{purity}")]


def _declared_gate(strategy: Strategy, name: str) -> object:
    return next(p.gate for p in strategy.populations if p.name == name)


def _doublet_findings(result: GatingResult, strategy: Strategy) -> list[Finding]:
    singlets = strategy.singlets
    population = next((p for p in result.populations if p.name == singlets), None)
    if singlets is None or population is None:
        return []
    dims: tuple[str, ...] = tuple(getattr(_declared_gate(strategy, singlets), "dims", ()))
    missing = [d for d in dims if d in result.frame.missing]
    if missing:
        return [finding(FindingCode.DOUBLETS_NOT_EXCLUDED, f"doublets not excluded: this file records no "
                                                           f"{missing[0]} (pulse height), so the singlet gate was "
                                                           "skipped")]
    if len(dims) == 2 and result.channels[dims[0]] == result.channels[dims[1]]:
        return [finding(FindingCode.DOUBLETS_NOT_EXCLUDED, f"doublets not excluded: {dims[0]} and {dims[1]} are the "
                                                           f"same channel ({result.channels[dims[0]]}) in this file "
                                                           "(no pulse area recorded)")]
    doublets = 100.0 - population.percent_of_parent
    if doublets > strategy.qc.max_doublets_percent:
        return [finding(FindingCode.HIGH_DOUBLETS, f"doublets are {doublets:.1f} % of {population.parent} (above "
                                                   f"{strategy.qc.max_doublets_percent:g} %)")]
    return []
