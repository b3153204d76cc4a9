"""``assaykit gate``: one tube gated, by an assaykit strategy (:func:`assaykit.scoring.gate_tube`,
the function ``score`` measures every tube with) or by a lab's GatingML document or FlowJo
workspace (:func:`assaykit.scoring.gate_document`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import AssayKitError
from ._common import (
    BeadUnitOption,
    BeadValuesOption,
    CompensationOption,
    JsonOption,
    LotOption,
    SpecimenOption,
    StrategyOption,
    output_files,
    print_json,
    say,
)


def interop_kind(path: Path) -> str | None:
    """"gatingml" for a GatingML 2.0 document, "workspace" for a FlowJo workspace (.wsp, or XML
    whose root is <Workspace>), None for anything else (a strategy YAML or name)."""
    from .._io.read import document_kind

    kind = document_kind(path)  # by content, in any encoding (a UTF-16 document is XML, never YAML)
    if kind == "xml" and path.suffix.lower() == ".wsp":
        return "workspace"
    return kind if kind in ("gatingml", "workspace") else None


def _write_membership(path: Path, masks: dict[str, Any]) -> None:
    """A CSV of ``masks``: a header of population names (as tables write names: ``_io.names.cell``), one 0/1
    row per event."""
    import csv
    import io

    import numpy as np

    from .._io.atomic import atomic_output
    from .._io.names import cell

    names = list(masks)
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow([cell(n) for n in names])
    table = np.column_stack([masks[n] for n in names]).astype(np.int8)
    with atomic_output(path) as handle:
        handle.write(header.getvalue().encode("utf-8"))
        np.savetxt(handle, table, fmt="%d", delimiter=",")


def _say_document(tube: Any) -> None:
    """The text table of a tube gated by a lab's document (names never cut: the column fits them)."""
    workspace = tube.flowjo is not None
    names = tube.names
    width = max((len(n) for n in names.values()), default=4) + 2
    say(f"{tube.path}  ({tube.source}: {tube.document_path.name}, {tube.sample.n_events:,} events)")
    theirs_all = [v for v in (tube.flowjo or {}).values() if v is not None]
    # each number column as wide as its widest value (a workspace's count is bounded, not a tube's size)
    column = max([10, *(len(f"{v:,}") + 2 for v in [*tube.counts.values(), *theirs_all])])
    say(f"  {'gate':<{width}}{'type':<12}{'events':>{column}}" + (f"{'FlowJo':>{column}}{'on edge':>10}"
                                                                   if workspace else ""))
    for ident, count in tube.counts.items():
        extra = ""
        if workspace:
            theirs = tube.flowjo.get(ident)
            extra = f"{'-' if theirs is None else f'{theirs:,}':>{column}}{tube.edges.get(ident, ''):>10}"
        say(f"  {names[ident]:<{width}}{tube.kind(ident):<12}{count:>{column},}{extra}")
    if tube.edges:
        say("  on edge: events within one display bin of a polygon/ellipse edge, where FlowJo's binned count "
                   "may differ (assaykit docs interop)")


def _say_tube(tube: Any, beads: Path | None) -> None:
    """The text report of a tube gated by an assaykit strategy."""
    result, readout, calibrated = tube.result, tube.readout, tube.calibrated
    say(f"{tube.path}  (strategy: {tube.strategy.name}, compensation: {result.compensation})")
    name_width = max([15, *(len(p.name) for p in result.populations)]) + 1  # a name never runs into its parent
    parent_width = max([13, *(len(p.parent) for p in result.populations)]) + 1
    say(f"  {'population':<{name_width}}{'parent':<{parent_width}}{'events':>10}{'% of parent':>13}")
    for p in result.populations:
        say(f"  {p.name:<{name_width}}{p.parent:<{parent_width}}{p.count:>10,}{p.percent_of_parent:>12.2f}%")

    def value(v: float | None) -> str:
        return "-" if v is None else f"{v:,.1f}"

    say(f"  {readout.marker} ({readout.channel}) on {readout.population}: median {value(readout.median)}, "
               f"geometric mean {value(readout.geometric_mean)}, robust CV {value(readout.robust_cv)} %"
               + (f", positive {value(readout.percent_positive)} %" if readout.percent_positive is not None else ""))
    verdict = tube.calibration_verdict
    if verdict is not None and verdict.status != "reportable":
        say(f"  {verdict.describe()}")
    if calibrated is not None:
        shown = "-" if calibrated.value is None else f"{calibrated.value:,.0f}"
        why = f"; withheld: {', '.join(c.value for c in calibrated.withheld)}" if calibrated.withheld else ""
        say(f"  {readout.marker} {calibrated.statistic}: {shown} {calibrated.unit} (bead calibration {beads}{why})")
    for flag in tube.findings:
        say(f"  QC: {flag}")


def gate(
    file: Annotated[Path, typer.Argument(help="FCS file of a stained blood tube.", show_default=False)],
    strategy: StrategyOption = None,
    compensation: CompensationOption = None,
    specimen: SpecimenOption = None,
    isotype: Annotated[Path | None, typer.Option(
        help="Isotype/FMO control FCS: % positive above its 99th percentile.")] = None,
    threshold: Annotated[float | None, typer.Option(help="Positivity threshold (scale units) for % positive.")
                         ] = None,
    plot: Annotated[Path | None, typer.Option(help="Write a PNG of every gate and the readout histogram.")] = None,
    membership: Annotated[Path | None, typer.Option(
        help="Write a CSV: one row per event (file order), one 0/1 column per population.")] = None,
    as_json: JsonOption = False,
    gatingml: Annotated[Path | None, typer.Option(
        "--gatingml", help="Write the gates fitted on FILE, with their transforms and compensation, as GatingML 2.0 "
                           "(`assaykit docs interop`).")] = None,
    sample: Annotated[str | None, typer.Option(
        help="With a FlowJo workspace as --strategy: the workspace sample to apply, or a group (its gates as a "
             "template; default: the sample whose name or data file is FILE's name).")] = None,
    beads: Annotated[Path | None, typer.Option(
        help="Bead tube FCS (with --lot or --bead-values): report the readout in AB/C.")] = None,
    lot: LotOption = None,
    bead_values: BeadValuesOption = None,
    bead_unit: BeadUnitOption = "PE molecules/bead",
) -> None:
    """Gate the monocytes of one tube automatically and report the HLA-DR readout (in AB/C with --beads).

    The tube is measured exactly as `assaykit score` measures each tube of a run.

    --json has one shape for every --strategy (`assaykit docs gating-strategy`, "gate --json"):
    file, events, strategy, source, populations, channels, compensation, at_top_of_scale,
    removed_at_top_of_scale, readout_removed_at_top_of_scale, nonfinite_events, readout,
    findings, specimen, purity, calibrated, calibration_verdict (null where the source has none: a
    document has no readout, QC or calibration). Each population: name (unique), path (names from the top, /),
    parent (a name, or root), type (the gate's kind), auto (an automatic gate's method, else
    null), count, percent_of_parent (4 decimals), flowjo_count and edge_events (null unless from
    a FlowJo workspace). --membership columns are the populations' names.
    With --beads, the AB/C is judged as `score` judges each tube (`assaykit docs scoring`, "Verdicts"):
    a withheld calibration, beads read on another channel or at another voltage, or any other error
    finding withholds it -- no AB/C, the codes printed (calibrated.withheld in --json), exit 1.

    With --strategy DOC.xml, a GatingML 2.0 document: every gate of the document on FILE, with its
    own compensation and transforms, named by its gating:id (`assaykit docs interop`). With
    --strategy WORKSPACE.wsp (FlowJo 10, or FlowJo 9's WORKSPACE.xml), the gates of the workspace
    sample made on FILE (or --sample NAME), each named by its own name (its path where two share
    it), FlowJo's own count beside each. With a .xml or .wsp, --compensation, --specimen, --isotype,
    --threshold, --plot, --beads, --lot, --bead-values and --gatingml are refused (its gates carry
    their own compensation and transforms; it names no readout).

    Example: assaykit gate demo/Specimen_001_A1_A01.fcs --beads demo/Specimen_001_H12_H12.fcs
    --lot demo/beads_lot.yaml --plot A1.png   (demo: a run written by `assaykit simulate demo`)

    Example: assaykit gate data1.fcs --strategy gates.xml --membership members.csv

    Example: assaykit gate tube.fcs --strategy lab.wsp --json

    Example: assaykit gate tube.fcs --gatingml tube-gates.xml   (open in FlowKit, CytoML, ...)
    """
    from ..scoring.tube import gate_document, gate_tube

    output_files({"--plot": plot, "--membership": membership, "--gatingml": gatingml},
                 [file, strategy, compensation, isotype, beads, lot])
    kind = interop_kind(strategy) if strategy is not None else None
    if sample is not None and kind != "workspace":
        raise AssayKitError("--sample names a sample of a FlowJo workspace given as --strategy")
    if strategy is not None and kind is not None:
        extra = [n for n, v in (("--compensation", compensation), ("--specimen", specimen), ("--isotype", isotype),
                                ("--threshold", threshold), ("--plot", plot), ("--beads", beads), ("--lot", lot),
                                ("--bead-values", bead_values), ("--gatingml", gatingml)) if v is not None]
        if extra:
            raise AssayKitError(f"{', '.join(extra)}: not with a GatingML document or FlowJo workspace (its gates "
                                "carry their own compensation and transforms, and it has no readout)", strategy)
        document = gate_document(file, strategy, kind, sample)
        if membership is not None:
            _write_membership(membership, {document.names[i]: m for i, m in document.masks.items()})
        if as_json:
            print_json(document.to_dict())
        else:
            _say_document(document)
        return
    if beads is None and (lot is not None or bead_values is not None):
        raise AssayKitError("--lot/--bead-values need --beads BEADS.fcs (the bead tube to calibrate)")
    chosen, bead_lot = _inputs(strategy, specimen, beads, lot, bead_values, bead_unit)
    tube = gate_tube(file, chosen, compensation=compensation, threshold=threshold, isotype=isotype, beads=beads,
                     lot=bead_lot)
    result = tube.result
    if membership is not None:
        _write_membership(membership, {p.name: result.masks[p.name] for p in result.populations})
    if gatingml is not None:
        from ..interop import write_gatingml

        write_gatingml(result, gatingml)
    if plot is not None:
        from ..gating.plot import plot_gating

        plot_gating(result, tube.strategy, tube.readout, plot, title=str(file.name))
    if as_json:
        print_json(tube.to_dict())
    else:
        _say_tube(tube, beads)
    if tube.calibrated is not None and tube.calibrated.withheld:
        raise typer.Exit(1)  # withheld by the rule score applies (docs/scoring.md, "Verdicts"): no AB/C


def _inputs(strategy: Path | None, specimen: Any, beads: Path | None, lot: Path | None, bead_values: str | None,
            bead_unit: str) -> tuple[Any, Any]:
    """The options read: the strategy (with the declared specimen) and the bead lot (None without beads)."""
    from dataclasses import replace

    from ..beads import lot_from_options
    from ..gating import load_strategy

    chosen = load_strategy(strategy)
    if specimen is not None:
        chosen = replace(chosen, specimen=specimen.value)
    return chosen, lot_from_options(lot, bead_values, bead_unit) if beads is not None else None
