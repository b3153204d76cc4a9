"""One tube, one module: how a blood tube is read, gated and measured.

:func:`gate_tube` is the one composition of a tube's measurement (compensation, the strategy's
gates, the readout values, the readout, its QC flags; optionally an isotype control's threshold
and the bead calibration): ``assaykit gate`` calls it for one file, and a ``score`` worker calls
it through :func:`measure_tube`, which turns every AssayKitError into the tube's row
(:class:`TubeResult`) instead of stopping the run. :class:`TubeTask` is what an executor sends a
worker (paths and the strategy, no event arrays; :mod:`.executors` sees it only through its
``Task`` protocol). :func:`gate_document` gates a tube with a lab's GatingML document or FlowJo
workspace instead of an assaykit strategy (``assaykit gate --strategy DOC``).

Nothing here imports the run (:mod:`.pipeline`) or the executors: they import this.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..beads import BeadLot
from ..errors import AssayKitError
from ..fcs import Sample, read_fcs
from ..findings import Finding, FindingCode, finding
from ..gating import GatingResult, ReadoutResult, Strategy
from .quantify import Calibrated
from .verdicts import CalibrationVerdict, content_digest


@dataclass(frozen=True)
class GatedTube:
    """A tube gated and measured by :func:`gate_tube`: the file (``path``), its events
    (``sample``), the ``strategy``, the gated sample (``result``), the readout marker's
    compensated scale values on the readout population (``values``), the ``readout``, the QC
    findings (gating, readout and, with beads, the calibration's), and the readout in the bead
    lot's unit (``calibrated``, None without beads)."""

    path: Path
    sample: Sample = field(repr=False)
    strategy: Strategy = field(repr=False)
    result: GatingResult = field(repr=False)
    values: np.ndarray = field(repr=False)
    readout: ReadoutResult
    findings: tuple[Finding, ...] = ()
    calibrated: Calibrated | None = None
    calibration_verdict: CalibrationVerdict | None = None  # with beads: the calibration's verdict

    @property
    def verdict(self) -> tuple[str, tuple[FindingCode, ...]]:
        """The tube's verdict as ``score`` decides it (:func:`.verdicts.tube_status` of its
        findings): ``(status, codes)``, ``withheld`` with the error codes that withhold it."""
        from .verdicts import tube_status

        return tube_status(self.findings)

    @property
    def specimen(self) -> dict[str, str | None]:
        """``{"detected": ..., "declared": ...}`` (:func:`assaykit.gating.readout.tube_specimen`)."""
        from ..gating.readout import tube_specimen

        return tube_specimen(self.result, self.strategy)

    @property
    def purity(self) -> float | None:
        """The monocyte gate's estimated purity (0-1), None without an automatic monocyte gate."""
        from ..gating.readout import tube_purity

        return tube_purity(self.result)

    def to_dict(self) -> dict[str, Any]:
        """What ``assaykit gate --json`` prints, in the one shape of :data:`TUBE_KEYS` (shared with
        :meth:`DocumentTube.to_dict`): the file, its events, the strategy, every population
        (:data:`POPULATION_KEYS`; ``type`` the fitted gate's kind, ``auto`` the automatic gate's
        method), the channels, compensation and events removed before gating, the readout, QC
        findings, specimen, purity the calibrated readout and the calibration's verdict (None without beads)."""
        from ..gating.strategy import ROOT

        gated = self.result.to_dict()
        parents = {p.name: p.parent for p in self.result.populations}
        methods = {p.name: p.gate.to_dict().get("method") if p.kind == "auto" else None
                   for p in self.strategy.populations}
        populations = [population_dict(p.name, _path(p.name, parents, ROOT), p.parent, str(p.gate.get("type")),
                                       methods.get(p.name), p.count, p.percent_of_parent)
                       for p in self.result.populations]
        doc = {"file": str(self.path), "events": self.sample.n_events, "strategy": self.strategy.identity(),
               "source": "assaykit strategy", "populations": populations, "channels": gated["channels"],
               "compensation": gated["compensation"], "at_top_of_scale": gated["at_top_of_scale"],
               "removed_at_top_of_scale": gated["removed_at_top_of_scale"],
               "readout_removed_at_top_of_scale": gated["readout_removed_at_top_of_scale"],
               "nonfinite_events": gated["nonfinite_events"], "readout": self.readout.to_dict(),
               "findings": [f.to_dict() for f in self.findings], "specimen": self.specimen, "purity": self.purity,
               "calibrated": None if self.calibrated is None else self.calibrated.to_dict(),
               "calibration_verdict": None if self.calibration_verdict is None else self.calibration_verdict.to_dict()}
        assert tuple(doc) == TUBE_KEYS
        return doc


TUBE_KEYS = ("file", "events", "strategy", "source", "populations", "channels", "compensation", "at_top_of_scale",
             "removed_at_top_of_scale", "readout_removed_at_top_of_scale", "nonfinite_events", "readout", "findings",
             "specimen", "purity", "calibrated", "calibration_verdict")
"""The keys of ``assaykit gate --json`` for every source (a strategy, a GatingML document, a
FlowJo workspace); None where a source has none (a document: no readout, QC or calibration)."""

POPULATION_KEYS = ("name", "path", "parent", "type", "auto", "count", "percent_of_parent", "flowjo_count",
                   "edge_events")
"""The keys of every population of ``assaykit gate --json`` (:func:`population_dict`)."""


def population_dict(name: str, path: str, parent: str, kind: str, auto: str | None, count: int,
                    percent_of_parent: float, flowjo_count: int | None = None,
                    edge_events: int | None = None) -> dict[str, Any]:
    """One population of ``assaykit gate --json`` (:data:`POPULATION_KEYS`): its ``name``
    (unique in the tube), ``path`` (names from the top, ``/``-separated), ``parent`` (a name, or
    ``root``), gate ``type`` (the gate class's kind), ``auto`` (the automatic gate's method, None
    for a drawn gate), ``count``, ``percent_of_parent`` (4 decimals), FlowJo's stored count (None
    unless from a FlowJo workspace) and the events on a polygon's or ellipse's edge (None unless
    a workspace's polygon or ellipse)."""
    return {"name": name, "path": path, "parent": parent, "type": kind, "auto": auto, "count": count,
            "percent_of_parent": round(percent_of_parent, 4), "flowjo_count": flowjo_count,
            "edge_events": edge_events}


def _path(name: str, parents: Mapping[str, str], root: str) -> str:
    """``name``'s path from the top population (``a/b/name``), following ``parents``."""
    chain = [name]
    while parents.get(chain[-1], root) != root and len(chain) <= len(parents):
        chain.append(parents[chain[-1]])
    return "/".join(reversed(chain))


def gate_tube(source: str | os.PathLike[str] | Sample, strategy: Strategy, *,
              compensation: str | os.PathLike[str] | None = None, threshold: float | None = None,
              isotype: str | os.PathLike[str] | None = None, beads: str | os.PathLike[str] | None = None,
              lot: BeadLot | None = None) -> GatedTube:
    """Gate and measure one tube; raises AssayKitError for anything wrong with the inputs.

    Parameters
    ----------
    source : path or Sample
        The tube's FCS file, or its events already read.
    strategy : Strategy
        The gating strategy (its readout, QC limits and declared specimen).
    compensation : path or None
        A spillover CSV or FlowJo workspace applied instead of the file's own matrix (None: the
        file's own).
    threshold : float or None
        Positivity threshold (scale units) for % positive.
    isotype : path or None
        An isotype/FMO control tube, gated the same way: its 99th percentile is the threshold
        (replacing ``threshold``).
    beads : path or None
        A bead tube: the readout is also given in ``lot``'s unit (AB/C for QuantiBRITE PE).
    lot : BeadLot or None
        The lot of ``beads`` (given with ``beads`` only).
    """
    from ..fcs.compensation import read_compensation
    from ..gating import apply_strategy, isotype_threshold, measure, qc_findings
    from ..gating.readout import readout_values

    if (beads is None) != (lot is None):
        raise AssayKitError("a bead tube and its lot go together (--beads with --lot or --bead-values)")
    sample = source if isinstance(source, Sample) else read_fcs(source)
    path = Path(sample.path)
    spillover = read_compensation(compensation, path.name) if compensation is not None else "file"
    result = apply_strategy(sample, strategy, spillover)
    if isotype is not None:
        threshold = isotype_threshold(apply_strategy(read_fcs(isotype), strategy, spillover), strategy)
    values = readout_values(result, strategy)  # float64; the readout and % positive read the same values
    readout = measure(result, strategy, threshold, values=values)
    flags = tuple(qc_findings(result, strategy, readout))
    calibrated = verdict = None
    if beads is not None and lot is not None:
        from ..beads import calibrate_file
        from .quantify import calibrate_readout
        from .verdicts import WITHHELD, calibration_flag, judge_calibration, tube_status, with_verdict_findings

        calibration = with_verdict_findings(calibrate_file(beads, lot).calibration, lot)
        verdict = judge_calibration(calibration, lot)
        calibrated = calibrate_readout(readout, calibration, sample)
        withheld = calibration_flag(verdict)
        if withheld is not None:
            calibrated = replace(calibrated, findings=(*calibrated.findings, withheld))
        flags = (*flags, *calibrated.findings)
        # the one verdict rule score applies to each tube (verdicts.tube_status): any error finding
        # of the tube -- a withheld calibration, beads read on another channel or voltage, a
        # readout that is no value -- withholds its calibrated value
        status, codes = tube_status(flags)
        if status == WITHHELD:
            calibrated = replace(calibrated, value=None, withheld=codes)
    return GatedTube(path=path, sample=sample, strategy=strategy, result=result, values=values, readout=readout,
                     findings=flags, calibrated=calibrated, calibration_verdict=verdict)


@dataclass(frozen=True)
class TubeResult:
    """What a worker returns for one blood tube (sample or isotype control). Counts are events;
    ``monocytes_pct`` is the readout population's share of its parent (%); ``hladr_mfi`` is the
    strategy's statistic (``hladr_statistic``: median or geometric_mean) of the readout marker
    on the readout population, in compensated scale units (MFI)."""

    path: Path
    sha256: str = ""
    data_sha256: str = ""  # of the DATA segment alone (verdicts.content_digest): a copy under another TEXT
    events: int | None = None
    singlets: int | None = None  # the strategy's singlets population (None when it has none)
    monocytes: int | None = None  # the readout population
    monocytes_pct: float | None = None  # of the readout population's parent
    hladr_mfi: float | None = None
    hladr_statistic: str = ""
    compensation: str = ""  # the matrix applied ("none" when none)
    specimen_detected: str | None = None
    specimen_declared: str | None = None
    purity: float | None = None  # the monocyte gate's estimated purity (0-1)
    removed_at_top: int | None = None  # events at the top of scale (scatter or readout), removed before gating
    channel: str = ""
    voltage: str = ""
    qc_flags: tuple[Finding, ...] = ()
    error: str = ""
    values: np.ndarray | None = field(default=None, repr=False)  # readout values, for % positive
    figure: str | None = field(default=None, repr=False)  # gating panels + histogram, as JSON text (figure_data.py)
    gatingml: bytes | None = field(default=None, repr=False)  # the fitted gates as GatingML 2.0 (gates/<tube>.xml)
    flowjo: bytes | None = field(default=None, repr=False)  # the tube's <Sample> of run.wsp (FlowJo 10)


def measure_tube(path: Path, strategy: Strategy, figure: bool = True, compensation: Path | None = None,
                 sample: Sample | None = None) -> TubeResult:
    """Read, gate and measure one blood tube (:func:`gate_tube`); any AssayKitError becomes the
    result's error (with the file's SHA-256 and events when it could be read).

    Parameters
    ----------
    path : Path
        The tube's FCS file.
    strategy : Strategy
        The gating strategy.
    figure : bool
        Also the tube's figure data for the reports (figure_data.py) and its gates as GatingML
        and as a FlowJo workspace sample (what is written goes with the figure data).
    compensation : Path or None
        A spillover CSV or FlowJo workspace applied instead of the file's own matrix (None: the
        file's own).
    sample : Sample or None
        The tube's events already read from ``path`` (``assaykit review`` keeps them between
        re-measurements); None: read here.
    """
    if sample is None:
        try:
            sample = read_fcs(path)
        except AssayKitError as error:
            return TubeResult(path=path, error=error.message)
    try:
        tube = gate_tube(sample, strategy, compensation=compensation)
    except AssayKitError as error:
        return TubeResult(path=path, sha256=sample.sha256, data_sha256=content_digest(sample), events=sample.n_events,
                          error=error.message)
    return _tube_result(path, tube, figure)


def _tube_result(path: Path, tube: GatedTube, figure: bool) -> TubeResult:
    """The row of a measured tube (with its figure data and gate exports when ``figure``)."""
    from .figure_data import tube_figure_json

    sample, result, strategy, readout, flags = tube.sample, tube.result, tube.strategy, tube.readout, tube.findings
    names = {p.name: p for p in result.populations}
    population = names[readout.population]
    parent = result.count(population.parent) if population.parent in names else sample.n_events
    specimen = tube.specimen
    gates = flowjo = None
    if figure:  # what is written goes with the figure data: only when the outputs are written
        from ..interop import flowjo_sample_bytes, gatingml_bytes

        try:
            gates = gatingml_bytes(result)
        except AssayKitError as error:
            flags = (*flags, finding(FindingCode.GATES_NOT_EXPORTED, f"gates not written as GatingML: {error.message}"))
        try:
            flowjo = flowjo_sample_bytes(result)
        except AssayKitError as error:
            flags = (*flags, finding(FindingCode.NOT_IN_WORKSPACE, f"not in the FlowJo workspace: {error.message}"))
    return TubeResult(
        path=path, sha256=sample.sha256, data_sha256=content_digest(sample), events=sample.n_events,
        singlets=names[strategy.singlets].count if strategy.singlets else None,
        monocytes=population.count, monocytes_pct=100.0 * population.count / parent if parent else None,
        hladr_mfi=readout.value, hladr_statistic=readout.statistic, channel=readout.channel,
        compensation=result.compensation, specimen_detected=specimen["detected"],
        specimen_declared=specimen["declared"], purity=tube.purity, removed_at_top=result.removed,
        voltage=sample.voltage(result.frame.channels[readout.marker]), qc_flags=flags, values=tube.values,
        figure=tube_figure_json(result, tube.values) if figure else None, gatingml=gates, flowjo=flowjo)


@dataclass(frozen=True)
class TubeTask:
    """What measures one tube, as an executor sends it to a worker (paths, no arrays): the
    tube's file (``path``), the ``strategy``, whether to keep the ``figure`` data, the run's
    ``compensation`` file (None: each file's own matrix) and, for a task sent to another
    machine, the path the run names the tube by (``shown``: its result carries that one)."""

    path: Path
    strategy: Strategy = field(repr=False)
    figure: bool = True
    compensation: Path | None = None
    shown: Path | None = None

    def run(self) -> TubeResult:
        """The tube measured (:func:`measure_task`)."""
        return measure_task(self)

    def portable(self) -> TubeTask:
        """This task for a worker that may run in another working folder (a cluster sharing the
        run's file system): its paths absolute, its result named as this task names the tube."""
        return replace(self, path=Path(self.path).resolve(), shown=self.shown or self.path,
                       compensation=None if self.compensation is None else Path(self.compensation).resolve())

    def failed(self, reason: str) -> TubeResult:
        """The tube's row when it could not be measured at all (``reason``: why)."""
        return TubeResult(path=self.shown or self.path, error=reason)


def measure_task(task: TubeTask) -> TubeResult:
    """:func:`measure_tube` of one task, in the worker process that runs it.

    Parameters
    ----------
    task : TubeTask
        The tube's file, strategy, figure flag and compensation file.
    """
    from .._workers import keep_freed_memory

    keep_freed_memory()  # a process measuring many tubes reuses their memory
    outcome = measure_tube(task.path, task.strategy, task.figure, task.compensation)
    return outcome if task.shown is None else replace(outcome, path=task.shown)


# --- a lab's own gates --------------------------------------------------------------------------


@dataclass(frozen=True)
class DocumentTube:
    """A tube gated by every gate of a lab's GatingML 2.0 document or FlowJo workspace sample
    (:func:`gate_document`): the file (``path``) and its events (``sample``), the document and
    where it came from (``document_path``; ``source``: "GatingML" or "FlowJo sample 'NAME'"),
    each gate's membership (``masks``, by gate id in document order), FlowJo's own counts
    (``flowjo``; None for a GatingML document) and, for a workspace's polygons and ellipses, the
    events within one display bin of their edge (``edges``)."""

    path: Path
    sample: Sample = field(repr=False)
    document: Any = field(repr=False)
    document_path: Path
    source: str
    masks: Mapping[str, np.ndarray] = field(repr=False)
    flowjo: Mapping[str, int | None] | None = None
    edges: Mapping[str, int] = field(default_factory=dict)
    document_sha256: str = ""  # of the document's bytes, as Strategy.identity() gives a strategy's

    @property
    def counts(self) -> dict[str, int]:
        """Events in each gate, by gate id."""
        return {ident: int(np.count_nonzero(mask)) for ident, mask in self.masks.items()}

    def parent(self, ident: str) -> str:
        """The parent gate id of gate ``ident`` ("root": all events)."""
        from ..gating.strategy import ROOT

        return self.document.gates[ident].parent or ROOT

    def kind(self, ident: str) -> str:
        """The type of gate ``ident`` (rectangle, polygon, ellipsoid, quadrant, boolean ...)."""
        return str(self.document.gates[ident].kind)

    @property
    def names(self) -> dict[str, str]:
        """Each gate's name as shown (``gate --json`` ``name``, the text table, --membership), by
        gate id: a GatingML gate's id; a FlowJo population's own name, or its whole path where
        two populations of the sample share that name (the id of a workspace population is its
        path)."""
        from collections import Counter

        from ..gating.strategy import ROOT

        if self.flowjo is None:
            return {ident: ident for ident in self.masks}
        own = {}
        for ident in self.masks:
            parent = self.parent(ident)
            own[ident] = ident[len(parent) + 1:] if parent != ROOT and ident.startswith(parent + "/") else ident
        shared = Counter(own.values())
        return {ident: name if shared[name] == 1 else ident for ident, name in own.items()}

    def paths(self) -> dict[str, str]:
        """Each gate's path from the top (``a/b/c``), by gate id: a workspace population's id,
        a GatingML gate's chain of ids."""
        from ..gating.strategy import ROOT

        if self.flowjo is not None:
            return {ident: ident for ident in self.masks}
        parents = {ident: self.parent(ident) for ident in self.masks}
        return {ident: _path(ident, parents, ROOT) for ident in self.masks}

    def to_dict(self) -> dict[str, Any]:
        """What ``assaykit gate --strategy DOC --json`` prints: the shape of
        :meth:`GatedTube.to_dict` (:data:`TUBE_KEYS`, :data:`POPULATION_KEYS`), every gate a
        population with FlowJo's count (``flowjo_count``) and the events on a polygon's or
        ellipse's edge (``edge_events``) from a workspace; ``channels``: each gate dimension's
        channel; ``compensation``: the compensations the dimensions name; None for what a
        document has not (events removed before gating, readout, QC, specimen, calibration)."""
        from ..gating.strategy import ROOT

        counts, names, paths = self.counts, self.names, self.paths()
        populations = []
        for ident, count in counts.items():
            parent = self.parent(ident)
            of = counts.get(parent, self.sample.n_events)
            populations.append(population_dict(
                names[ident], paths[ident], names.get(parent, ROOT), self.kind(ident), None, count,
                100.0 * count / of if of else 0.0, None if self.flowjo is None else self.flowjo.get(ident),
                self.edges.get(ident)))
        dimensions = getattr(self.document, "dimensions", {})
        compensation = sorted({str(d.compensation) for d in dimensions.values()})
        identity = {"name": self.document_path.stem, "path": str(self.document_path), "sha256": self.document_sha256}
        doc = {"file": str(self.path), "events": self.sample.n_events, "strategy": identity,
               "source": self.source, "populations": populations,
               "channels": {key: d.label for key, d in dimensions.items()},
               "compensation": ", ".join(compensation) if compensation else None, "at_top_of_scale": None,
               "removed_at_top_of_scale": None, "readout_removed_at_top_of_scale": None, "nonfinite_events": None,
               "readout": None, "findings": None, "specimen": None, "purity": None, "calibrated": None,
               "calibration_verdict": None}
        assert tuple(doc) == TUBE_KEYS
        return doc


def gate_document(path: str | os.PathLike[str], document: str | os.PathLike[str], kind: str,
                  sample_name: str | None = None) -> DocumentTube:
    """Every gate of a lab's document on one tube, with the document's own compensation and
    transforms; raises AssayKitError for anything wrong with the inputs.

    Parameters
    ----------
    path : path
        The tube's FCS file.
    document : path
        A GatingML 2.0 document or a FlowJo 10 workspace.
    kind : str
        ``gatingml`` or ``workspace``.
    sample_name : str or None
        With a workspace: the sample (or group, as a template) to apply; None: the sample whose
        name or data file is the tube's file name.
    """
    from ..interop import evaluate, read_gatingml, read_workspace
    from ..interop.flowjo import MAX_WORKSPACE_BYTES, edge_events
    from ..interop.gatingml import MAX_DOCUMENT_BYTES

    tube, where = Path(path), Path(document)
    flowjo: Mapping[str, int | None] | None = None
    if kind == "workspace":
        chosen = read_workspace(where).sample_for(tube.name, sample_name)
        gates, flowjo, source = chosen.document, dict(chosen.counts), f"FlowJo sample {chosen.name!r}"
    elif kind == "gatingml":
        if sample_name is not None:
            raise AssayKitError("--sample names a sample of a FlowJo workspace given as --strategy")
        gates, source = read_gatingml(where), "GatingML"
    else:
        raise AssayKitError(f"not a GatingML document or FlowJo workspace ({kind!r})", where)
    sample = read_fcs(tube)
    masks = evaluate(gates, sample)
    edges = edge_events(gates, sample) if kind == "workspace" else {}
    digest = _file_sha256(where, MAX_WORKSPACE_BYTES if kind == "workspace" else MAX_DOCUMENT_BYTES)
    return DocumentTube(path=tube, sample=sample, document=gates, document_path=where, source=source, masks=masks,
                        flowjo=flowjo, edges=edges, document_sha256=digest)


def _file_sha256(path: Path, limit: int) -> str:
    """The SHA-256 of the file at ``path`` (a regular file of at most ``limit`` bytes, as its reader took it)."""
    import hashlib

    from .._io.read import read_input

    return hashlib.sha256(read_input(path, AssayKitError, "document", limit)).hexdigest()
