"""The ``assaykit`` command line: thin wrappers over the library.

Errors in the user's input print one line naming the file on stderr and exit with code 2;
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from . import __version__
from .errors import AssayKitError

app = typer.Typer(
    name="assaykit",
    help="Monocyte HLA-DR (AB/C) and ex vivo immune restoration from flow cytometry runs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

_state: dict[str, bool] = {"debug": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"assaykit {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Monocyte HLA-DR (AB/C) and ex vivo immune restoration from flow cytometry runs."""
    _state["debug"] = debug


def _fail(error: BaseException) -> None:
    if _state["debug"]:
        raise error
    typer.echo(f"error: {error}", err=True)


def _abort(error: AssayKitError) -> NoReturn:
    _fail(error)
    raise typer.Exit(2)


def _specimen(name: str) -> str | None:
    from .gating.specimen import check_specimen

    try:
        return check_specimen(name, "--specimen")
    except ValueError as exc:
        raise AssayKitError(str(exc)) from None


def _run(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except AssayKitError as error:
        _abort(error)


LotOption = Annotated[Path | None, typer.Option(
    "--lot", help="Bead lot YAML (docs/bead-calibration.md), or the name of a shipped lot such as "
                  "quantibrite-pe-example (`assaykit lots` lists them).")]
StrategyOption = Annotated[Path | None, typer.Option(
    "--strategy", help="Gating strategy YAML (docs/gating-strategy.md), or the name of a shipped strategy "
                       "(`assaykit strategy list`); default: monocyte-hladr.")]
BeadValuesOption = Annotated[str | None, typer.Option(
    "--bead-values", help="Per-peak values from the lot certificate, comma-separated (0 = blank peak).")]
CompensationOption = Annotated[Path | None, typer.Option(
    "--compensation", help="Spillover matrix instead of each file's own (for files whose matrix is empty, an identity "
                           "matrix or not the lab's): a CSV (header: channel names) or a FlowJo workspace (.wsp).")]
SpecimenOption = Annotated[str | None, typer.Option(
    "--specimen", help="Declared specimen: whole_blood, pbmc or lyse_no_wash (flagged when the events disagree).")]
LedgerOption = Annotated[str | None, typer.Option(
    "--ledger", help="The results ledger: a SQLite file, or postgresql://user@host/db (docs/ledger.md); default: "
                     "$ASSAYKIT_LEDGER, else assaykit-ledger.sqlite beside the reports.", show_default=False)]
BeadUnitOption = Annotated[str, typer.Option(
    "--bead-unit", help="Unit of --bead-values (PE molecules/bead gives AB/C; MEFL, MEPE ... for rainbow beads).")]


# --- inspect -----------------------------------------------------------------------------------


def _describe(sample: Any, keywords: bool) -> str:
    info = sample.to_dict()
    lines = [
        f"{sample.path}",
        f"  FCS {info['version']}  instrument: {info['cytometer'] or '-'}  date: {info['date'] or '-'}",
        f"  events: {info['events']}  dataset: {info['dataset'] + 1} of {info['n_datasets']}  "
        f"spillover: {'yes (' + sample.spillover.keyword + ')' if sample.spillover else 'no'}",
        "  #   $PnN                      $PnS                      range",
    ]
    for channel in info["channels"]:
        lines.append(f"  {channel['index']:<3} {channel['name']:<25} {channel['marker'] or '-':<25} "
                     f"{channel['range']:g}")
    for note in sample.notes:
        lines.append(f"  note: {note}")
    if keywords:
        lines.append("  TEXT keywords:")
        lines.extend(f"    {key} = {value}" for key, value in sample.keywords.items())
    return "\n".join(lines)


@app.command()
def inspect(
    files: Annotated[list[Path], typer.Argument(help="FCS files (.fcs, .lmd).", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
    keywords: Annotated[bool, typer.Option("--keywords", help="Also dump every TEXT keyword.")] = False,
    dataset: Annotated[int | None, typer.Option(help="Dataset to read (0-based; default: see docs).")] = None,
) -> None:
    """Describe FCS files: version, instrument, date, events, datasets, channels, spillover.

    Example: assaykit inspect sample_fcs/*.fcs --json
    """
    from .fcs import read_fcs

    failed = False
    described: list[dict] = []
    for path in files:
        try:
            sample = read_fcs(path, dataset=dataset)
        except AssayKitError as error:
            _fail(error)
            failed = True
            continue
        if as_json:
            entry = sample.to_dict()
            if keywords:
                entry["keywords"] = dict(sample.keywords)
            described.append(entry)
        else:
            typer.echo(_describe(sample, keywords))
    if as_json:
        typer.echo(json.dumps(described if len(files) != 1 else (described[0] if described else None), indent=1))
    if failed:
        raise typer.Exit(2)


# --- convert -----------------------------------------------------------------------------------


def _unique(names: tuple[str, ...]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return out


@app.command()
def convert(
    file: Annotated[Path, typer.Argument(help="FCS file to read.", show_default=False)],
    out: Annotated[Path, typer.Argument(help="Output: .csv (header = channel names) or .npy.",
                                        show_default=False)],
    raw: Annotated[bool, typer.Option("--raw", help="Values as stored (no log decoding, gain).")] = False,
    dataset: Annotated[int | None, typer.Option(help="Dataset to read (0-based).")] = None,
) -> None:
    """Write the events of an FCS file to CSV or NumPy (scale values unless --raw).

    Example: assaykit convert sample_fcs/Specimen_001_A1_A01.fcs A1.csv
    """
    from ._files import atomic_output
    from .fcs import read_fcs

    suffix = out.suffix.lower()
    if suffix not in (".csv", ".npy"):
        _abort(AssayKitError("output must end in .csv or .npy", out))
    sample = _run(lambda: read_fcs(file, dataset=dataset))
    values = sample.raw if raw else sample.events

    import numpy as np

    with atomic_output(out) as handle:  # written straight to the file: no second copy in memory
        if suffix == ".npy":
            np.save(handle, np.ascontiguousarray(values), allow_pickle=False)
        else:
            header = ",".join(f'"{n}"' if "," in n else n for n in _unique(sample.channels))
            fmt = "%d" if values.dtype.kind in "ui" else "%.9g"
            np.savetxt(handle, values, delimiter=",", fmt=fmt, header=header, comments="")
    typer.echo(f"wrote {out} ({sample.n_events} events x {sample.n_channels} channels)")


# --- gate --------------------------------------------------------------------------------------


def _interop_kind(path: Path) -> str | None:
    """"gatingml" for a GatingML 2.0 document, "workspace" for a FlowJo workspace (.wsp, or XML
    whose root is <Workspace>), None for anything else (a strategy YAML or name)."""
    if path.suffix.lower() not in (".xml", ".wsp") or not path.is_file():
        return None
    with path.open("rb") as handle:
        head = handle.read(4096)
    if b"<Workspace" in head or path.suffix.lower() == ".wsp":
        return "workspace"
    return "gatingml" if b"Gating-ML" in head else None


def _write_membership(path: Path, masks: dict[str, Any]) -> None:
    """A CSV of ``masks``: a header of population names (spreadsheet-safe), one 0/1 row per event."""
    import csv
    import io

    import numpy as np

    from ._files import atomic_output, neutralise

    names = list(masks)
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow([neutralise(n) for n in names])
    table = np.column_stack([masks[n] for n in names]).astype(np.int8)
    with atomic_output(path) as handle:
        handle.write(header.getvalue().encode("utf-8"))
        np.savetxt(handle, table, fmt="%d", delimiter=",")


def _gate_document(file: Path, document_path: Path, kind: str, sample_name: str | None, membership: Path | None,
                   as_json: bool) -> None:
    """``assaykit gate FILE --strategy DOC``: every gate of a GatingML 2.0 document or of a FlowJo
    workspace's sample (FlowJo's own counts beside assaykit's) on FILE."""
    from .fcs import read_fcs
    from .interop import evaluate, read_gatingml, read_workspace
    from .interop.flowjo import edge_events

    flowjo: dict[str, int | None] = {}
    if kind == "workspace":
        chosen = _run(lambda: read_workspace(document_path).sample_for(file.name, sample_name))
        document, flowjo, label = chosen.document, dict(chosen.counts), f"FlowJo sample {chosen.name!r}"
    else:
        document, label = _run(lambda: read_gatingml(document_path)), "GatingML"
    sample = _run(lambda: read_fcs(file))
    masks = _run(lambda: evaluate(document, sample))
    if membership is not None:
        _write_membership(membership, masks)
    counts = {ident: int(mask.sum()) for ident, mask in masks.items()}
    edges = _run(lambda: edge_events(document, sample)) if kind == "workspace" else {}
    if as_json:
        gates = [{"id": ident, "type": document.gates[ident].kind, "parent": document.gates[ident].parent,
                  "count": counts[ident], **({"flowjo_count": flowjo.get(ident)} if kind == "workspace" else {}),
                  **({"edge_events": edges[ident]} if ident in edges else {})}
                 for ident in masks]
        typer.echo(json.dumps({"file": str(file), "events": sample.n_events, "strategy": str(document_path),
                               "source": label, "gates": gates}, indent=1))
        return
    typer.echo(f"{file}  ({label}: {document_path.name}, {sample.n_events:,} events)")
    typer.echo(f"  {'gate':<28}{'type':<12}{'events':>10}"
               + (f"{'FlowJo':>10}{'on edge':>10}" if kind == "workspace" else ""))
    for ident, count in counts.items():
        theirs = flowjo.get(ident)
        extra = (f"{'-' if theirs is None else f'{theirs:,}':>10}{edges.get(ident, ''):>10}"
                 if kind == "workspace" else "")
        typer.echo(f"  {ident[:27]:<28}{document.gates[ident].kind:<12}{count:>10,}{extra}")
    if edges:
        typer.echo("  on edge: events within one display bin of a polygon/ellipse edge, where FlowJo's binned count "
                   "may differ (docs/interop.md)")


@app.command()
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
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
    gatingml: Annotated[Path | None, typer.Option(
        "--gatingml", help="Write the gates fitted on FILE, with their transforms and compensation, as GatingML 2.0 "
                           "(docs/interop.md).")] = None,
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

    With --strategy DOC.xml, a GatingML 2.0 document: every gate of the document on FILE, with
    its own compensation and transforms; --membership writes one 0/1 column per gate, named by
    its gating:id (docs/interop.md). With --strategy WORKSPACE.wsp (FlowJo 10), the gates of the
    workspace sample made on FILE (or --sample NAME), with FlowJo's own count beside each.

    Example: assaykit gate sample_fcs/Specimen_001_A1_A01.fcs --beads sample_fcs/Specimen_001_H12_H12.fcs
    --lot sample_fcs/beads_lot.yaml --plot A1.png

    Example: assaykit gate data1.fcs --strategy gates.xml --membership members.csv

    Example: assaykit gate tube.fcs --strategy lab.wsp --json

    Example: assaykit gate tube.fcs --gatingml tube-gates.xml   (open in FlowKit, CytoML, ...)
    """
    from dataclasses import replace

    from .fcs import read_fcs
    from .fcs.compensation import read_compensation
    from .gating import apply_strategy, isotype_threshold, load_strategy, measure, qc_flags

    def work() -> tuple:
        chosen = load_strategy(strategy)
        if specimen is not None:
            chosen = replace(chosen, specimen=_run(lambda: _specimen(specimen)))
        spill = read_compensation(compensation, file.name) if compensation is not None else "file"
        result = apply_strategy(read_fcs(file), chosen, spill)
        cut = threshold
        if isotype is not None:
            cut = isotype_threshold(apply_strategy(read_fcs(isotype), chosen, spill), chosen)
        readout = measure(result, chosen, cut)
        calibrated = None
        if beads is not None:
            from .beads import calibrate_file, lot_from_options
            from .scoring.quantify import calibrate_readout

            calibration = calibrate_file(beads, lot_from_options(lot, bead_values, bead_unit)).calibration
            calibrated = calibrate_readout(readout, calibration, result.frame.sample)
        elif lot is not None or bead_values is not None:
            raise AssayKitError("--lot/--bead-values need --beads BEADS.fcs (the bead tube to calibrate)")
        return chosen, result, readout, qc_flags(result, chosen, readout), calibrated

    interop = _run(lambda: _interop_kind(strategy)) if strategy is not None else None
    if sample is not None and interop != "workspace":
        _abort(AssayKitError("--sample names a sample of a FlowJo workspace given as --strategy"))
    if interop is not None:
        extra = [n for n, v in (("--compensation", compensation), ("--specimen", specimen), ("--isotype", isotype),
                                ("--threshold", threshold), ("--plot", plot), ("--beads", beads), ("--lot", lot),
                                ("--bead-values", bead_values), ("--gatingml", gatingml)) if v is not None]
        if extra:
            _abort(AssayKitError(f"{', '.join(extra)}: not with a GatingML document or FlowJo workspace (its gates "
                                 "carry their own compensation and transforms, and it has no readout)", strategy))
        _gate_document(file, strategy, interop, sample, membership, as_json)
        return
    chosen, result, readout, flags, calibrated = _run(work)
    if calibrated is not None:
        flags = [*flags, *calibrated.qc_flags]
    if membership is not None:
        _write_membership(membership, {p.name: result.masks[p.name] for p in result.populations})
    if gatingml is not None:
        from .interop import write_gatingml

        _run(lambda: write_gatingml(result, gatingml))
    if plot is not None:
        from .gating.plot import plot_gating

        plot_gating(result, chosen, readout, plot, title=str(file.name))
    if as_json:
        from .gating.readout import tube_purity, tube_specimen

        payload = {**result.to_dict(), "readout": readout.to_dict(), "qc_flags": flags,
                   "specimen": tube_specimen(result, chosen), "purity": tube_purity(result)}
        if calibrated is not None:
            payload["calibrated"] = calibrated.to_dict()
        typer.echo(json.dumps(payload, indent=1))
        return
    typer.echo(f"{file}  (strategy: {chosen.name}, compensation: {result.compensation})")
    typer.echo(f"  {'population':<16}{'parent':<14}{'events':>10}{'% of parent':>13}")
    for p in result.populations:
        typer.echo(f"  {p.name:<16}{p.parent:<14}{p.count:>10,}{p.percent_of_parent:>12.2f}%")
    value = lambda v: "-" if v is None else f"{v:,.1f}"  # noqa: E731
    typer.echo(f"  {readout.marker} ({readout.channel}) on {readout.population}: median {value(readout.median)}, "
               f"geometric mean {value(readout.geometric_mean)}, robust CV {value(readout.robust_cv)} %"
               + (f", positive {value(readout.percent_positive)} %" if readout.percent_positive is not None else ""))
    if calibrated is not None:
        shown = "-" if calibrated.value is None else f"{calibrated.value:,.0f}"
        typer.echo(f"  {readout.marker} {calibrated.statistic}: {shown} {calibrated.unit} (bead calibration {beads})")
    for flag in flags:
        typer.echo(f"  QC: {flag}")


# --- calibrate ---------------------------------------------------------------------------------

def _print_calibration(cal: Any) -> None:
    typer.echo(f"{cal.file}  ({cal.lot_label}; channel {cal.channel}; "
               f"{cal.n_singlets:,} singlet beads of {cal.n_events:,} events)")
    typer.echo(f"  {'MFI':>12}{'value':>14}{'residual':>10}{'CV %':>8}{'events':>9}  used")
    for p in cal.peaks:
        value = "-" if p.value is None else f"{p.value:,.0f}"
        residual = "-" if p.residual is None else f"{100 * (10 ** p.residual - 1):+.1f}%"
        used = "yes" if p.used else f"no: {p.reason}"
        typer.echo(f"  {p.mfi:>12,.1f}{value:>14}{residual:>10}{p.robust_cv_percent:>8.1f}{p.n_events:>9,}  {used}")
    typer.echo(f"  log10({cal.unit or 'value'}) = {cal.slope:.4f} x log10(MFI) + {cal.intercept:.4f}   "
               f"r^2 = {cal.r_squared:.5f}   ({cal.n_used} peaks)")
    for flag in cal.qc_flags:
        typer.echo(f"  QC: {flag}")


@app.command()
def calibrate(
    beads: Annotated[Path, typer.Argument(help="FCS file of the bead tube.", show_default=False)],
    lot: LotOption = None,
    bead_values: BeadValuesOption = None,
    bead_unit: BeadUnitOption = "PE molecules/bead",
    channel: Annotated[str | None, typer.Option(
        help="Bead channel ($PnN), when the lot's marker and aliases do not find it.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Write a PNG: bead gate, peaks, fit and residuals.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
    convert: Annotated[str | None, typer.Option(
        help="MFI values to convert, comma-separated; prints the calibrated values.")] = None,
) -> None:
    """Calibrate a bead tube: find the bead peaks, fit log10(value) = slope x log10(MFI) + intercept.

    Works for QuantiBRITE PE (AB/C) and rainbow beads (MEF) in any channel. Exit code 2 when
    the tube cannot be calibrated (fewer than 3 usable peaks), with the reason.

    Example: assaykit calibrate sample_fcs/Specimen_001_H12_H12.fcs --lot sample_fcs/beads_lot.yaml --convert 1500,4200
    """
    from .beads import calibrate_file, lot_from_options, parse_values

    def work() -> tuple:
        chosen = lot_from_options(lot, bead_values, bead_unit)
        mfis = parse_values(convert) if convert is not None else ()
        return calibrate_file(beads, chosen, channel), mfis

    run, mfis = _run(work)
    cal = run.calibration
    if plot is not None:
        from .beads.plot import plot_calibration

        plot_calibration(run, plot, title=str(beads.name))
    converted = [{"mfi": m, "value": _finite(cal.convert(m))} for m in mfis]
    if as_json:
        payload = {"slope": cal.slope, "intercept": cal.intercept, "r_squared": cal.r_squared, "unit": cal.unit,
                   "channel": cal.channel,
                   "peaks": [{"mfi": p.mfi, "value": p.value, "fitted_value": _finite(cal.convert(p.mfi)),
                              "used": p.used, "reason": p.reason, "residual_log10": p.residual,
                              "n_events": p.n_events} for p in cal.peaks],
                   "qc_flags": list(cal.qc_flags), "missing_values": list(cal.missing_values),
                   "kit": cal.kit, "lot": cal.lot, "file": cal.file, "n_events": cal.n_events,
                   "n_singlets": cal.n_singlets}
        if mfis:
            payload["converted"] = converted
        typer.echo(json.dumps(payload, indent=1))
        return
    _print_calibration(cal)
    for item in converted:
        value = "-" if item["value"] is None else f"{item['value']:,.1f}"
        typer.echo(f"  MFI {item['mfi']:,.1f} -> {value} {cal.unit}")


def _finite(value: float) -> float | None:
    import math

    return value if math.isfinite(value) else None


# --- score -------------------------------------------------------------------------------------


@app.command()
def score(
    run_dirs: Annotated[list[Path], typer.Argument(
        help="Run folder(s): FCS files + plate map; several, or a folder of runs, score a study.",
        show_default=False, metavar="RUN_DIR...")],
    plate_map: Annotated[Path | None, typer.Option(
        help="Plate map CSV/TSV/XLSX (default: RUN_DIR/plate_map.csv).")] = None,
    strategy: StrategyOption = None,
    lot: LotOption = None,
    bead_values: BeadValuesOption = None,
    bead_unit: Annotated[str | None, typer.Option("--bead-unit", help="Unit of --bead-values.")] = None,
    clinical: Annotated[Path | None, typer.Option(
        help="Clinical CSV: patient, optional timepoint, ferritin_ng_ml (ImmunoSep classes).")] = None,
    control: Annotated[str | None, typer.Option(help="Condition of the control [default: unstimulated].")] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder (default: reports/<run name>).")] = None,
    jobs: Annotated[int | None, typer.Option(min=1, help="Worker processes (default: number of cores).")] = None,
    compensation: CompensationOption = None,
    specimen: SpecimenOption = None,
    no_report: Annotated[bool, typer.Option(
        "--no-report", help="Tables and figure data only; no HTML/PDF reports (`assaykit report` draws them later).")]
    = False,
    ledger: LedgerOption = None,
    no_ledger: Annotated[bool, typer.Option("--no-ledger", help="Do not consult or record in any ledger.")] = False,
    executor: Annotated[str, typer.Option(
        help="Where tubes are measured: local (worker processes) or dask (a cluster, with --scheduler; "
             "the dask extra).")] = "local",
    scheduler: Annotated[str | None, typer.Option(
        help="The Dask scheduler's address, e.g. tcp://10.0.0.5:8786 (with --executor dask).")] = None,
) -> None:
    """Score a plate run: gate every tube, AB/C through the bead tube, restoration per drug and patient.

    Options not given are read from RUN_DIR/run.yaml when it exists. Writes samples.csv,
    calibration.csv, restoration.csv, patients.csv, cohort.csv, manifest.json, figure_data.json and,
    unless --no-report, index.html (run summary) and patients/<patient>.html + .pdf, all at once
    (the folder is replaced as one unit). Exit code 0 when every file scored, 1 when some failed
    (their rows say why), the run is rejected by QC over time, or the ledger could not be read or
    written (the outputs are written all the same), 2 for usage or input errors (nothing written),
    3 for an internal error, 130 when interrupted.

    The run is recorded in the ledger (docs/ledger.md): --ledger FILE or URL, else run.yaml
    ledger:, else $ASSAYKIT_LEDGER, else assaykit-ledger.sqlite beside the output folder.

    A study (several RUN_DIRs, or a folder of runs): every tube of every run measured by one pool
    of workers (or a Dask cluster), each run written to OUT/<run name> (default OUT: reports) as
    soon as its tubes are measured, its pages drawn at the end, and OUT/study.csv summarising the
    runs; a run that cannot be read is a row with its error, the others are scored (docs/scoring.md).

    Example: assaykit score sample_fcs --out reports/sample_fcs --jobs 2;  assaykit score runs/ --out reports
    """
    from .scoring import score_run
    from .scoring.executors import make_executor
    from .scoring.study import is_study, score_study

    update, close = console_progress()
    overrides = {"plate_map": plate_map, "strategy": strategy, "lot": lot,
                 "bead_values": None if bead_values is None else _run(lambda: _values(bead_values)),
                 "bead_unit": bead_unit, "clinical": clinical, "control": control, "jobs": jobs,
                 "compensation": compensation, "specimen": specimen, "ledger": "none" if no_ledger else ledger}
    runner = _run(lambda: make_executor(executor, jobs if executor == "local" else None, scheduler))
    if is_study(run_dirs):

        def reports(folder: Path) -> None:
            from .report import build_reports

            build_reports(folder, jobs=jobs)

        try:
            study = _run(lambda: score_study(run_dirs, out=out, executor=runner, progress=update,
                                             reports=None if no_report else reports, use_default_ledger=True,
                                             **overrides))
        finally:
            close()
        _say_study(study)
        raise typer.Exit(study.exit_code)

    def pages(stage: Path) -> None:
        from .report import render_reports

        render_reports(stage, stage, jobs=jobs, progress=update)

    try:
        result = _run(lambda: score_run(run_dirs[0], out=out, progress=update, pages=None if no_report else pages,
                                        use_default_ledger=True, executor=runner, **overrides))
    finally:
        close()
    failed = result.samples[result.samples["error"].fillna("") != ""]
    typer.echo(f"scored {len(result.samples) - len(failed)} of {len(result.samples)} files; "
               f"results in {result.out_dir}/")
    for _, row in failed.iterrows():
        typer.echo(f"  failed: {row['file']}: {row['error']}")
    if not no_report:
        typer.echo(f"reports: {result.out_dir}/index.html and {result.out_dir}/patients/")
    _say_ledger(result)
    raise typer.Exit(result.exit_code)


def _say_study(study: Any) -> None:
    """score's lines about a study: one per run, then where the summary is."""
    for row in study.rows:
        if row["error"]:
            typer.echo(f"  {row['run']}: {row['error']}")
            continue
        extra = [f"{row['failed']} failed" if row["failed"] else "",
                 f"QC {row['qc_status']}" if row["qc_status"] in ("rejected", "warning") else "",
                 row["ledger"] if row["ledger"].startswith("error") else ""]
        typer.echo(f"  {row['run']}: {row['files']} files, {row['patients']} patients -> {row['out_dir']}/"
                   + "".join(f"; {e}" for e in extra if e))
    scored = sum(1 for r in study.rows if not r["error"])
    typer.echo(f"scored {scored} of {len(study.rows)} runs; summary in {study.out_dir}/study.csv")


def _say_ledger(result: Any) -> None:
    """score's lines about QC over time and the ledger."""
    where = result.manifest.get("ledger", {}).get("location", "")
    if result.qc_status in ("rejected", "warning"):
        typer.echo(f"QC: {result.qc_status}, {result.qc_reason}" + (" (the run is held: every page says so)"
                                                                    if result.qc_status == "rejected" else ""))
    elif result.qc_status != "not evaluated":
        typer.echo(f"QC over time: {result.qc_status}" + (f" ({result.qc_reason})" if result.qc_reason else ""))
    if result.ledger_error:
        typer.echo(f"ledger: {result.ledger_error}", err=True)
    elif result.recorded is not None:
        typer.echo(f"ledger: recorded in {where}" + (" (replacing this run's earlier recording)"
                                                     if result.recorded.replaced else ""))
        for file, run in sorted(result.recorded.elsewhere.items()):
            typer.echo(f"  {file}: also recorded under run {run!r}")


@app.command()
def report(
    out_dir: Annotated[Path, typer.Argument(help="Output folder of `assaykit score`.", show_default=False)],
    jobs: Annotated[int | None, typer.Option(min=1, help="Worker processes (default: number of cores).")] = None,
) -> None:
    """Re-render the reports of a scored run from its tables (no FCS file is read).

    Writes OUT_DIR/index.html (run summary) and OUT_DIR/patients/<patient>.html and .pdf from
    samples.csv, calibration.csv, restoration.csv, patients.csv, cohort.csv, manifest.json and
    figure_data.json.

    Example: assaykit report reports/sample_fcs --jobs 2
    """
    from .report import build_reports

    update, close = console_progress()
    try:
        written = _run(lambda: build_reports(out_dir, jobs=jobs, progress=update))
    finally:
        close()
    typer.echo(f"wrote {len(written)} files: {out_dir}/index.html and {out_dir}/patients/")


@app.command()
def compare(
    out_dir: Annotated[Path, typer.Argument(help="Output folder of `assaykit score`.", show_default=False)],
    workspace: Annotated[Path, typer.Option("--workspace", "-w", help="The lab's FlowJo 10 workspace (.wsp) "
                                            "gated by hand on the same FCS files.", show_default=False)],
    population: Annotated[str, typer.Option(help="The workspace population to compare with assaykit's readout "
                                                 "population: a path (Cells/Singlets/Monocytes) or a unique name "
                                                 "(case-insensitive).")] = "Monocytes",
    run_dir: Annotated[Path | None, typer.Option("--run", help="Where the run's FCS files are (default: the run "
                                                 "folder the manifest records).", show_default=False)] = None,
    strategy: Annotated[Path | None, typer.Option(help="The strategy the run was scored with (default: the "
                                                  "manifest's; its sha256 must match).", show_default=False)] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for agreement.csv and agreement.html (default: "
                                             "OUT_DIR-agreement beside OUT_DIR).", show_default=False)] = None,
) -> None:
    """Agreement of assaykit's gates with a lab's manual gating (CLSI EP09 practice; docs/validation.md).

    Matches the run's tubes to the workspace's samples (by file name) and writes agreement.csv
    (per tube: F1 of the two gates, both counts, both HLA-DR statistics, both AB/C, difference %)
    and agreement.html (Bland-Altman bias and 95 % limits of agreement, Passing-Bablok regression
    with 95 % confidence intervals, thumbnails with both gates' outlines). The scored folder is
    not changed. A tube the workspace lacks is a row with a note.

    Example: assaykit compare reports/run-2026-11-22 --workspace lab.wsp --population Monocytes
    """
    from .report.agreement import write_agreement
    from .scoring.agreement import compare_run

    if not out_dir.is_dir():
        _abort(AssayKitError("output folder not found", out_dir))
    target = out if out is not None else out_dir.parent / f"{out_dir.name}-agreement"
    agreement = _run(lambda: compare_run(out_dir, workspace, population, run_dir, strategy))
    _run(lambda: write_agreement(agreement, target))
    compared = sum(1 for t in agreement.tubes if t.row["f1"] is not None)
    line = f"compared {compared} of {len(agreement.tubes)} tubes"
    if agreement.bland_altman is not None:
        ba = agreement.bland_altman
        line += f"; {agreement.unit} bias {ba.bias:,.1f} (95 % limits {ba.lower:,.1f} to {ba.upper:,.1f})"
    typer.echo(f"{line}: {target}/agreement.csv, {target}/agreement.html")


@app.command()
def verify(
    out_dir: Annotated[Path, typer.Argument(help="Output folder of `assaykit score` or `report`.",
                                            show_default=False)],
) -> None:
    """Check an output folder against its manifest: every file listed, unchanged, nothing else.

    Exit 0 when the folder is whole, 1 when not (each problem on its own line), 2 when it is
    not an output folder.

    Example: assaykit verify reports/sample_fcs
    """
    from .scoring.tables import read_manifest, verify_outputs

    if not out_dir.is_dir():
        _abort(AssayKitError("output folder not found", out_dir))
    problems = _run(lambda: verify_outputs(out_dir))
    run_id = _run(lambda: read_manifest(out_dir)).get("run_id", "")
    for problem in problems:
        typer.echo(f"{out_dir}: {problem}")
    if problems:
        raise typer.Exit(1)
    typer.echo(f"{out_dir}: whole (run {run_id})")


def console_progress() -> tuple[Callable[[int, int, str], None], Callable[[], None]]:
    """A rich progress bar on a terminal, plain log lines otherwise: (update, close)."""
    if sys.stderr.isatty():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        bar = Progress(TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                       TextColumn("{task.description}"), transient=True)
        bar.start()
        task = bar.add_task("", total=None)

        def update(done: int, total: int, name: str) -> None:
            bar.update(task, completed=done, total=total, description=name)

        return update, bar.stop

    def log(done: int, total: int, name: str) -> None:
        print(f"[{done}/{total}] {name}", file=sys.stderr, flush=True)

    return log, lambda: None


def _values(text: str) -> tuple[float, ...]:
    from .beads import parse_values

    return parse_values(text)


# --- shipped strategies and lots -----------------------------------------------------------------

strategy_app = typer.Typer(help="The gating strategies assaykit ships: list them, print one to copy and edit.",
                           no_args_is_help=True, rich_markup_mode=None)
app.add_typer(strategy_app, name="strategy")


def _shipped_text(name: str, folder: str, what: str) -> str:
    from ._files import shipped_bytes, shipped_names

    data = shipped_bytes(name, folder)
    if data is None:
        _abort(AssayKitError(f"no shipped {what} named {name!r} (shipped: {', '.join(shipped_names(folder))})"))
    return data.decode("utf-8")


@strategy_app.command("list")
def strategy_list() -> None:
    """List the shipped gating strategies (name and title).

    Example: assaykit strategy list
    """
    from ._files import shipped_names
    from .gating import load_strategy

    for name in shipped_names():
        typer.echo(f"{name:<24}{_run(lambda n=name: load_strategy(n)).name}")


@strategy_app.command("show")
def strategy_show(
    name: Annotated[str, typer.Argument(help="Name of a shipped strategy.")] = "monocyte-hladr",
) -> None:
    """Print a shipped gating strategy (YAML) for a lab to copy and edit, then pass with --strategy FILE.

    Example: assaykit strategy show monocyte-hladr > my-lab.yaml
    """
    typer.echo(_shipped_text(name, "", "strategy"), nl=False)


@app.command()
def lots(
    name: Annotated[str | None, typer.Argument(help="Print this shipped lot's YAML instead of the list.",
                                               show_default=False)] = None,
) -> None:
    """List the shipped bead lots (name, kit, lot, unit, values), or print one to copy and edit.

    The shipped lots are EXAMPLES: calibrate with the values on your own lot's certificate.

    Example: assaykit lots;  assaykit lots quantibrite-pe-example > my-lot.yaml
    """
    if name is not None:
        typer.echo(_shipped_text(name, "beads", "bead lot"), nl=False)
        return
    from ._files import shipped_names
    from .beads import load_lot

    for lot_name in shipped_names("beads"):
        lot = _run(lambda n=lot_name: load_lot(n))
        values = ", ".join(f"{v:g}" for v in lot.values)
        typer.echo(f"{lot_name:<40}{lot.kit} lot {lot.lot} ({lot.unit}): {values}"
                   + ("  [example values]" if lot.example else ""))


# --- the ledger --------------------------------------------------------------------------------

ledger_app = typer.Typer(help="The results ledger across runs: runs, a patient over time, assay QC over time, export.",
                         no_args_is_help=True, rich_markup_mode=None)
app.add_typer(ledger_app, name="ledger")


def _open_ledger(target: str | None) -> Any:
    """The ledger a ledger command reads: --ledger, else $ASSAYKIT_LEDGER, else
    reports/assaykit-ledger.sqlite (score's default for reports/<run>); a missing file is an error,
    never an empty ledger."""
    import os

    from .ledger import DEFAULT_NAME, ENVIRONMENT, open_ledger

    chosen = target or os.environ.get(ENVIRONMENT) or str(Path("reports") / DEFAULT_NAME)
    if "://" not in chosen and not Path(chosen).expanduser().is_file():
        _abort(AssayKitError("no ledger here: score a run first, or name one with --ledger", chosen))
    return _run(lambda: open_ledger(chosen))


def _print_json(doc: Any) -> None:
    typer.echo(json.dumps(doc, indent=1, default=str))


@ledger_app.command("runs")
def ledger_runs(
    ledger: LedgerOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> None:
    """List the runs the ledger holds, oldest first: name, date, instrument, bead lot, tubes, QC status.

    Example: assaykit ledger runs --ledger reports/assaykit-ledger.sqlite
    """
    with _open_ledger(ledger) as opened:
        runs = _run(opened.runs)
    if as_json:
        _print_json(runs)
        return
    typer.echo(f"{'run':<28}{'acquired':<12}{'instrument':<24}{'lot':<16}{'tubes':>6}{'failed':>7}  QC")
    for r in runs:
        instrument = f"{r['instrument']} {r['instrument_serial']}".strip()
        typer.echo(f"{r['run_name'][:27]:<28}{r['acquired_on'][:10]:<12}{instrument[:23]:<24}{r['lot'][:15]:<16}"
                   f"{r['n_tubes']:>6}{r['n_failed']:>7}  {r['qc_status']}"
                   + (f" ({r['qc_reason']})" if r["qc_status"] in ("rejected", "warning") else ""))


@ledger_app.command("patient")
def ledger_patient(
    patient: Annotated[str, typer.Argument(help="The patient id, as in the plate maps.", show_default=False)],
    ledger: LedgerOption = None,
    control: Annotated[str, typer.Option(help="Condition of the unstimulated control.")] = "unstimulated",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> None:
    """Every measure of one patient across runs: unstimulated AB/C per day, each drug's restoration,
    ImmunoSep class, and the trajectory findings (slope per day, low at days 5-7, trajectory class).

    Example: assaykit ledger patient P01 --json
    """
    from .ledger.trajectory import patient_trajectory, timeline

    with _open_ledger(ledger) as opened:
        found = _run(lambda: opened.patient_rows([patient]))
    rows = timeline(found["patients"], found["restoration"], control)
    if not rows:
        _abort(AssayKitError(f"no patient {patient!r} in the ledger"))
    course = patient_trajectory(rows, control)
    if as_json:
        _print_json({"patient": patient, "control": control, "measures": rows,
                     "trajectory": {"slope_per_day": course.slope_per_day, "trajectory": course.trajectory,
                                    "reason": course.reason, "low_late": [list(p) for p in course.low_late],
                                    "findings": course.findings()}})
        return
    typer.echo(f"patient {patient}")
    typer.echo(f"  {'day':>6}  {'time point':<12}{'condition':<16}{'AB/C':>10}{'fold':>8}  {'ImmunoSep':<18}run")
    for r in rows:
        day = "" if r["day"] is None else f"{r['day']:g}"
        abc = "" if r["abc"] is None else f"{r['abc']:,.0f}"
        fold = "" if r["fold_change"] is None else f"{r['fold_change']:.2f}"
        typer.echo(f"  {day:>6}  {r['timepoint'][:11]:<12}{r['condition'][:15]:<16}{abc:>10}{fold:>8}  "
                   f"{r['immunosep_class'][:17]:<18}{r['run']}" + ("  [QC rejected]" if r["qc_status"] == "rejected"
                                                                 else ""))
    for finding in course.findings():
        typer.echo(f"  {finding}")


@ledger_app.command("qc")
def ledger_qc(
    ledger: LedgerOption = None,
    instrument: Annotated[str | None, typer.Option(help="Only this instrument ($CYT, or '$CYT $CYTNUM').")] = None,
    out: Annotated[Path | None, typer.Option(help="Write qc.html (Levey-Jennings charts) and qc.csv here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> None:
    """Assay QC over time: per instrument, bead lot and series (bead slope, intercept, r2, each peak's
    MFI, control blood AB/C), every run's value, z-score and the Westgard rules it broke.

    Example: assaykit ledger qc --instrument "FACSCanto II" --out reports/qc
    """
    from .report.ledger_qc import qc_series, write_qc_page

    with _open_ledger(ledger) as opened:
        points = _run(lambda: opened.qc_points(instrument))
    series = qc_series(points)
    if as_json:
        _print_json(series)
    else:
        for one in series:
            last = one["points"][-1]
            typer.echo(f"{one['instrument']} | lot {one['lot']} | {one['series']}: {len(one['points'])} runs, "
                       f"last {last['value']:.4g} ({last['status']}"
                       + (f", {last['rules']}" if last["rules"] else "") + ")")
        if not series:
            typer.echo("no QC series in the ledger" + (f" for {instrument}" if instrument else ""))
    if out is not None:
        _run(lambda: write_qc_page(out, series))
        if not as_json:
            typer.echo(f"wrote {out}/qc.html and {out}/qc.csv")


@ledger_app.command("export")
def ledger_export(
    out: Annotated[Path, typer.Option(help="Folder to write one CSV per table into (replaced as one unit).")],
    ledger: LedgerOption = None,
) -> None:
    """Export every table of the ledger as CSV, one file per table (runs, tubes, bead_peaks,
    restoration, patients, qc_checks).

    Example: assaykit ledger export --out ledger-export
    """
    from ._files import output_unit, write_atomic

    with _open_ledger(ledger) as opened:
        tables = _run(opened.export)
    import hashlib

    with output_unit(out) as stage:
        for name, content in tables.items():
            write_atomic(stage / f"{name}.csv", content)
        listing = {f"{n}.csv": {"sha256": hashlib.sha256(c).hexdigest()} for n, c in tables.items()}
        write_atomic(stage / "manifest.json", (json.dumps({"kind": "assaykit ledger export", "ledger": opened.shown,
                                                           "files": listing}, indent=1) + "\n").encode())
    typer.echo(f"wrote {len(tables)} tables to {out}/")


# --- simulate ----------------------------------------------------------------------------------


@app.command()
def simulate(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the run into.", show_default=False)],
    patients: Annotated[int, typer.Option(min=1, max=23, help="Number of patients.")] = 4,
    conditions: Annotated[str, typer.Option(help="Comma-separated; the first is the control.")] = (
        "unstimulated,IFN-gamma,GM-CSF,IL-7"),
    events: Annotated[int, typer.Option(min=1000, help="Events per blood tube.")] = 20000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives identical files.")] = 1,
    monocytes: Annotated[str, typer.Option(
        help="Range of each patient's monocytes, % of events, LOW,HIGH (drawn uniformly per patient).")] = "4,10",
    instrument: Annotated[str, typer.Option(
        help="Instrument style: canto (FCS 3.1 float, 0-262,144), navios (FCS 3.0 integer, 0-1,048,576, "
             "FS INT/FL2 INT names), calibur (FCS 2.0, 10-bit, log-amplified FL2-H/FL3-H) or lsr (LSRII "
             "DC/monocyte panel: MHCII on PerCP-Cy5.5, CD14 PE-Cy7, no FSC-H, identity $SPILLOVER, the lab's "
             "matrix in compensation.csv).")] = "canto",
    specimen: Annotated[str, typer.Option(
        help="Specimen: whole_blood, pbmc (no granulocytes; use --monocytes 10,30) or lyse_no_wash.")] = "whole_blood",
) -> None:
    """Simulate a plate run with ground truth, as a FACSCanto II (default), Navios or FACSCalibur writes it.

    Writes one FCS file per well (lysed whole blood by default, or --specimen, stained for HLA-DR
    and CD14), a QuantiBRITE bead tube, plate_map.csv, truth.csv, per-event labels
    (*.labels.npy, legend in labels.json) and the bead lot file (beads_lot.yaml).

    Example: assaykit simulate sample_fcs --patients 4 --events 20000 --seed 1
    """
    from .simulate import STYLES, RunSpec, write_run

    if instrument not in STYLES:
        _abort(AssayKitError(f"--instrument must be one of {', '.join(STYLES)}, not {instrument!r}"))
    names = tuple(c.strip() for c in conditions.split(",") if c.strip())
    if not names:
        _abort(AssayKitError("--conditions is empty"))
    if patients * len(names) > 95:
        _abort(AssayKitError(f"{patients} patients x {len(names)} conditions do not fit a 96-well plate"))
    try:
        low, high = (float(v) for v in monocytes.split(","))
    except ValueError:
        _abort(AssayKitError(f"--monocytes must be two percentages LOW,HIGH, not {monocytes!r}"))
    if not 0 < low <= high <= 30:
        _abort(AssayKitError(f"--monocytes must satisfy 0 < LOW <= HIGH <= 30 (% of events), not {monocytes!r}"))
    from .gating.specimen import SPECIMENS

    if specimen not in SPECIMENS:
        _abort(AssayKitError(f"--specimen must be one of {', '.join(SPECIMENS)}, not {specimen!r}"))
    folder = write_run(out_dir, RunSpec(patients=patients, conditions=names, events=events, seed=seed,
                                        style=instrument, monocyte_percent=(low, high), specimen=specimen))
    typer.echo(f"wrote {patients * len(names)} blood tubes + 1 bead tube to {folder}")


EXIT_CODES = {0: "every file scored", 1: "some files failed; every output complete",
              2: "usage or input error; nothing written", 3: "internal error; the traceback is logged",
              130: "interrupted (Ctrl-C, SIGTERM)"}
"""The exit codes of every command (docs/reliability.md)."""


def _log_crash(error: BaseException) -> Path:
    """Write ``error``'s traceback to a new file under the temporary folder; its path."""
    import tempfile
    import traceback

    with tempfile.NamedTemporaryFile("w", prefix="assaykit-crash-", suffix=".log", delete=False,
                                     encoding="utf-8") as handle:
        handle.write(" ".join(sys.argv) + "\n")
        handle.write("".join(traceback.format_exception(error)))
    return Path(handle.name)


def _without_arrow() -> None:
    """Keep pyarrow out of the command's process: pandas 3 imports it whenever it is installed
    (about 40 MB and 0.1 s, shared with every worker) though assaykit reads and writes CSV only.
    ``ASSAYKIT_PYARROW=1`` lets pandas load it (docs/benchmarks.md)."""
    import os

    if os.environ.get("ASSAYKIT_PYARROW") != "1" and "pyarrow" not in sys.modules:
        sys.modules["pyarrow"] = None  # type: ignore[assignment]  # an import of it raises ImportError


def main() -> None:
    """Console-script entry point: runs the command and maps every ending to a documented exit
    code (:data:`EXIT_CODES`); an unexpected exception is one line naming the logged traceback."""
    import signal

    _without_arrow()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a SIGTERM ends like Ctrl-C
    try:
        code = app(standalone_mode=False)
    except KeyboardInterrupt:
        _interrupted()
    except Exception as error:
        if type(error).__name__ == "Abort":  # Click's (vendored by Typer) Ctrl-C
            _interrupted()
        if hasattr(error, "show") and isinstance(getattr(error, "exit_code", None), int):  # a usage error
            error.show()
            sys.exit(2)
        if _state.get("debug"):
            raise
        log = _log_crash(error)
        typer.echo(f"internal error ({type(error).__name__}): a bug in assaykit, not in your data; the traceback "
                   f"is in {log}", err=True)
        sys.exit(3)
    code = code if isinstance(code, int) else 0
    if code == 130:  # Typer turns a KeyboardInterrupt inside a command into exit 130
        _interrupted()
    sys.exit(code)


def _interrupted() -> NoReturn:
    """Ctrl-C or SIGTERM: stop the workers, say so in one line, exit 130 at once. The outputs
    were already cleaned up as the interruption unwound (staging folder removed, lock released);
    exiting without the interpreter's exit handlers avoids waiting on a worker pool's internal
    threads, which can block forever once its workers are killed (seen as a hang after
    "interrupted")."""
    import contextlib
    import os

    from ._workers import stop_workers

    stop_workers()
    typer.echo("interrupted", err=True)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(130)


if __name__ == "__main__":
    main()
