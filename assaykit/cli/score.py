"""``assaykit score``: a plate run, or a study of several (:func:`assaykit.scoring.score_run`,
:func:`assaykit.scoring.study.score_study`)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated, Any

import typer

from ._common import (
    BeadValuesOption,
    CompensationOption,
    ExecutorKind,
    JobsOption,
    LedgerOption,
    LotOption,
    SpecimenOption,
    StrategyOption,
    console_progress,
    say,
)


def score(
    run_dirs: Annotated[list[Path], typer.Argument(
        help="Run folder(s): FCS files + plate map; several, or a folder of runs, score a study.",
        show_default=False, metavar="RUN_DIR...")],
    plate_map: Annotated[Path | None, typer.Option(
        help="Plate map CSV/TSV/XLSX (default: RUN_DIR/plate_map.csv; `assaykit docs plate-map`).")] = None,
    strategy: StrategyOption = None,
    lot: LotOption = None,
    bead_values: BeadValuesOption = None,
    bead_unit: Annotated[str | None, typer.Option("--bead-unit", help="Unit of --bead-values.")] = None,
    clinical: Annotated[Path | None, typer.Option(
        help="Clinical CSV: patient, optional timepoint, ferritin_ng_ml (ImmunoSep classes).")] = None,
    control: Annotated[str | None, typer.Option(help="Condition of the control [default: unstimulated].")] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder (default: reports/<run name>).")] = None,
    jobs: JobsOption = None,
    compensation: CompensationOption = None,
    specimen: SpecimenOption = None,
    no_report: Annotated[bool, typer.Option(
        "--no-report", help="Tables and figure data only; no HTML/PDF reports (`assaykit report` draws them later).")]
    = False,
    ledger: LedgerOption = None,
    no_ledger: Annotated[bool, typer.Option("--no-ledger", help="Do not consult or record in any ledger.")] = False,
    executor: Annotated[ExecutorKind, typer.Option(
        help="Where tubes are measured: local (worker processes) or dask (a cluster, with --scheduler; "
             "the dask extra).")] = ExecutorKind.local,
    scheduler: Annotated[str | None, typer.Option(
        help="The Dask scheduler's address, e.g. tcp://10.0.0.5:8786 (with --executor dask).")] = None,
    accept_calibration: Annotated[str | None, typer.Option(
        "--accept-calibration", metavar="REASON",
        help="Release a bead calibration withheld for its slope, r^2 or a residual, with who and why (recorded in "
             "the manifest, the ledger and every page; run.yaml accept_calibration:). Not beads, a duplicate file, "
             "peaks not resolved or values not matching the peaks are never released.")] = None,
) -> None:
    """Score a plate run: gate every tube, AB/C through the bead tube, restoration per drug and patient.

    Options not given are read from RUN_DIR/run.yaml when it exists (`assaykit docs scoring`).
    Writes samples.csv, calibration.csv, restoration.csv, patients.csv, cohort.csv,
    trajectories.csv, qc.csv, manifest.json, figure_data.json, gates/<tube>.xml (each tube's
    fitted gates, GatingML 2.0), run.wsp (a FlowJo 10 workspace; `assaykit docs interop`) and,
    unless --no-report, index.html (run summary) and patients/<patient>.html + .pdf, all at
    once (the folder is replaced as one unit). An existing output folder is replaced only when it
    holds nothing but the files its manifest lists, unchanged; anything else (a file of yours, a
    read-only folder, a ledger inside it) is refused before any tube is measured, nothing touched.
    Exit code 0 when every file scored, 1 when some
    failed (their rows say why), the run is rejected by QC over time, the ledger could not be
    read or written (the outputs are written all the same), or any value is withheld (its
    verdict: no AB/C; the console, tables and pages say why), 2 for usage or input errors (nothing
    written), 3 for an internal error, 130 when interrupted (`assaykit docs reliability`).

    A calibration withheld by the rules (slope, r^2, residual, values against peaks, not beads)
    gives no AB/C; --accept-calibration REASON releases one withheld for its slope, r^2 or a
    residual only, recorded everywhere (the others need the bead tube or the lot's values fixed).

    The run is recorded in the ledger (`assaykit docs ledger`): --ledger FILE or URL, else
    run.yaml ledger:, else $ASSAYKIT_LEDGER, else assaykit-ledger.sqlite beside the output folder.

    A study (several RUN_DIRs, or a folder of runs): every tube of every run measured by one pool
    of workers (or a Dask cluster), each run written to OUT/<run name> (default OUT: reports) as
    soon as its tubes are measured, its pages drawn at the end, and OUT/study.csv summarising the
    runs; a run that cannot be read is a row with its error, the others are scored (`assaykit
    docs scoring`, "Studies").

    Example: assaykit score demo --out reports/demo --jobs 2;  assaykit score runs/ --out reports
    (demo: a run written by `assaykit simulate demo`, with its run.yaml)
    """
    from ..beads import parse_values
    from ..scoring import score_run
    from ..scoring.executors import make_executor
    from ..scoring.study import is_study, score_study

    overrides: dict[str, Any] = {"plate_map": plate_map, "strategy": strategy, "lot": lot,
                 "bead_values": None if bead_values is None else parse_values(bead_values),
                 "bead_unit": bead_unit, "clinical": clinical, "control": control, "jobs": jobs,
                 "compensation": compensation, "specimen": None if specimen is None else specimen.value,
                 "ledger": "none" if no_ledger else ledger, "accept_calibration": accept_calibration}
    runner = make_executor(executor.value, jobs if executor == ExecutorKind.local else None, scheduler)
    update, close = console_progress()
    if is_study(run_dirs):
        if accept_calibration is not None:
            from ..errors import AssayKitError

            raise AssayKitError("--accept-calibration releases one run's calibration: with several runs, write "
                                "accept_calibration: REASON in the run.yaml of the run a person checked")

        def reports(folder: Path) -> None:
            from ..report import build_reports

            build_reports(folder, jobs=jobs)

        try:
            study = score_study(run_dirs, out=out, executor=runner, progress=update,
                                reports=None if no_report else reports, use_default_ledger=True, **overrides)
        finally:
            close()
        _say_study(study)
        raise typer.Exit(study.exit_code)

    def pages(stage: Path) -> None:
        from ..report import render_reports

        render_reports(stage, stage, jobs=jobs, progress=update)

    from ..review.signatures import rescoring_signed
    from ..scoring.pipeline import output_folder, resolve_options

    run_dir = Path(run_dirs[0])
    target = output_folder(run_dir, resolve_options(run_dir, {**overrides, "out": out})) if run_dir.is_dir() else None
    try:
        from ..report import prepare_reports

        # a signed output folder: its signed tables kept as a version, its signatures superseded if they change
        with rescoring_signed(target, run_dir, said=say) if target is not None \
                else contextlib.nullcontext(False) as keeping:
            result = score_run(run_dirs[0], out=out, progress=update, pages=None if no_report else pages,
                               use_default_ledger=True, executor=runner, prepare_pages=prepare_reports,
                               replace_signed=bool(keeping), **overrides)
    finally:
        close()
    failed = result.samples[result.samples["error"].fillna("") != ""]
    say(f"measured {len(result.samples) - len(failed)} of {len(result.samples)} files; "
               f"results in {result.out_dir}/" + (" (replacing the earlier outputs there)" if result.replaced else ""))
    for _, row in failed.iterrows():
        say(f"  failed: {row['file']}: {row['error']}")
    from ..scoring.clinical import unmatched_line

    joined = result.manifest.get("clinical", {})
    line = unmatched_line(joined.get("unmatched", {}), joined.get("path", ""))
    if line:
        say(line)
    _say_verdicts(result)
    if not no_report:
        say(f"reports: {result.out_dir}/index.html and {result.out_dir}/patients/")
    _say_ledger(result)
    raise typer.Exit(result.exit_code)


def _say_verdicts(result: Any) -> None:
    """score's lines about the verdicts (decided by scoring.verdicts): the calibration's when not
    reportable or when a release was given that released nothing, "N of M values reportable; K
    withheld: reasons" (M: the blood tubes) with each code's phrase, the bead tube's verdict on its
    own line (it is no value of the M), and each withheld value."""
    from ..findings import described

    calibration = result.calibration_verdict
    if calibration is not None and (calibration.status != "reportable" or calibration.release_note):
        say(calibration.describe())  # a reportable one only to say that a release given released nothing
    if result.verdicts is None:
        return
    say(result.verdicts.line())
    for code, count in result.verdicts.reasons.items():
        say(f"  {described(code)}: {count} value{'' if count == 1 else 's'}")
    samples = result.samples
    for _, row in samples[(samples["role"] == "beads") & (samples["verdict"] != "reportable")].iterrows():
        say(f"  bead tube {row['file']}: calibration {row['verdict']}"
                   + (f": {_codes(row['verdict_reasons'])}" if _codes(row["verdict_reasons"]) else ""))
    withheld = samples[(samples["verdict"] == "withheld") & (samples["role"] != "beads")]
    if len(withheld) <= 12:
        for _, row in withheld.iterrows():
            what = " ".join(str(row[c]) for c in ("patient", "timepoint", "condition") if str(row[c] or "").strip())
            say(f"  withheld: {row['file']}" + (f" ({what})" if what else "")
                       + f": {_codes(row['verdict_reasons'])}")
    else:
        say(f"  withheld: {len(withheld)} blood tubes (samples.csv: verdict, verdict_reasons)")
    incomplete = result.patients[result.patients["completeness"] == "incomplete"]
    if len(incomplete) > 12 or (calibration is not None and calibration.status == "withheld"):
        if len(incomplete):
            say(f"  incomplete: {len(incomplete)} patient time points (patients.csv: completeness, missing)")
        return
    for _, row in incomplete.iterrows():
        say(f"  incomplete: {row['patient']} {row['timepoint']}: {row['missing']}")


def _codes(cell: Any) -> str:
    """A ``verdict_reasons`` cell (``code; code``) as ``code (phrase), code (phrase)``."""
    from ..findings import described

    text = "" if cell is None or cell != cell else str(cell)  # NaN: an empty cell
    return ", ".join(described(code.strip()) for code in text.split(";") if code.strip())


def _say_study(study: Any) -> None:
    """score's lines about a study: one per run, then where the summary is."""
    for row in study.rows:
        if row["error"]:
            say(f"  {row['run']}: {row['error']}")
            continue
        extra = [f"{row['failed']} failed" if row["failed"] else "",
                 f"{row['withheld']} withheld" if row["withheld"] else "",
                 f"QC {row['qc_status']}" if row["qc_status"] in ("rejected", "warning") else "",
                 f"ledger error: {row['ledger_error']}" if row["ledger_error"] else ""]
        say(f"  {row['run']}: {row['files']} files, {row['patients']} patients -> {row['out_dir']}/"
                   + (" (replacing the earlier outputs there)" if row.get("replaced") else "")
                   + "".join(f"; {e}" for e in extra if e))
    scored = sum(1 for r in study.rows if not r["error"])
    say(f"scored {scored} of {len(study.rows)} runs; summary in {study.out_dir}/study.csv")


def _say_ledger(result: Any) -> None:
    """score's lines about QC over time and the ledger."""
    where = result.manifest.get("ledger", {}).get("location", "")
    if result.qc_status in ("rejected", "warning"):
        say(f"QC: {result.qc_status}, {result.qc_reason}" + (" (the run is held: every page says so)"
                                                                    if result.qc_status == "rejected" else ""))
    elif result.qc_status != "not evaluated" or "not in QC over time" in result.qc_reason:
        say(f"QC over time: {result.qc_status}" + (f" ({result.qc_reason})" if result.qc_reason else ""))
    if result.ledger_error:
        say(f"ledger: {result.ledger_error}", err=True)
    elif result.recorded is not None:
        say(f"ledger: recorded in {where}" + (" (replacing this run's earlier recording)"
                                                     if result.recorded.replaced else ""))
        elsewhere = sorted(result.recorded.elsewhere.items())
        if len(elsewhere) > 12:
            runs = sorted({run for _, run in elsewhere})
            say(f"  {len(elsewhere)} files are recorded under run{'s' if len(runs) > 1 else ''} "
                       f"{', '.join(repr(r) for r in runs)} too (reused_file: withheld here)")
        for file, run in elsewhere if len(elsewhere) <= 12 else ():
            say(f"  {file}: the same file is recorded under run {run!r} (reused_file: withheld here)")
