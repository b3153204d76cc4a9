"""``assaykit ledger runs|patient|qc|export``: the results ledger across runs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import AssayKitError
from ._common import JsonOption, LedgerOption, print_json, say

app = typer.Typer(help="The results ledger across runs: runs, a patient over time, assay QC over time, export "
                       "(`assaykit docs ledger`).", no_args_is_help=True, rich_markup_mode=None)


def open_ledger_option(target: str | None) -> Any:
    """The ledger a ledger command reads: --ledger, else $ASSAYKIT_LEDGER, else
    reports/assaykit-ledger.sqlite (score's default for reports/<run>); a missing or empty file is
    an error, never an empty ledger (opening it would write a schema into a file that reading
    commands must leave as it is); a FIFO, device, folder or broken link is named as what it is
    (:func:`assaykit._io.read.not_regular`), never opened."""
    from .._io.read import not_regular
    from ..ledger import DEFAULT_NAME, ENVIRONMENT, open_ledger

    chosen = target or os.environ.get(ENVIRONMENT) or str(Path("reports") / DEFAULT_NAME)
    if "://" not in chosen:
        path = Path(chosen).expanduser()
        if not os.path.lexists(path):
            raise AssayKitError("no ledger here: score records into assaykit-ledger.sqlite beside its output folder "
                                "(reports/ by default); name that file with --ledger", path)
        problem = not_regular(path, "ledger")
        if problem is not None:
            raise AssayKitError(f"{problem}; a ledger is a SQLite file or a PostgreSQL URL", path)
        if path.stat().st_size == 0:
            raise AssayKitError("an empty file, no ledger here: name the ledger score wrote with --ledger", path)
    return open_ledger(chosen)


def say_left_out(opened: Any) -> int:
    """After a ledger command: the rows it left out because they hold values assaykit does not
    write (the same rule as ``score``'s ``ledger.left_out``), one line on stderr; the exit code
    (1 when rows were left out, else 0).

    Parameters
    ----------
    opened : Ledger
        The ledger the command read.
    """
    if not opened.n_left_out:
        return 0
    say(f"ledger: {opened.shown}: {opened.n_left_out} row(s) hold values assaykit does not write and were "
        f"left out (first: {opened.left_out[0]})", err=True)
    return 1


@app.command("runs")
def ledger_runs(
    ledger: LedgerOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the runs the ledger holds, oldest first: name, date, instrument, bead lot, tubes, failed
    and withheld tubes, the calibration's verdict (reportable, withheld, released: reason), QC status.

    Example: assaykit ledger runs --ledger reports/assaykit-ledger.sqlite
    """
    with open_ledger_option(ledger) as opened:
        runs = opened.runs()
    if as_json:
        print_json(runs)
        _end(opened)
        return
    say(f"{'run':<28}{'acquired':<12}{'instrument':<24}{'lot':<16}{'tubes':>6}{'failed':>7}{'withheld':>9}"
               f"  {'calibration':<13}QC")
    for r in runs:
        instrument = f"{r['instrument']} {r['instrument_serial']}".strip()
        say(f"{r['run_name'][:27]:<28}{r['acquired_on'][:10]:<12}{instrument[:23]:<24}{r['lot'][:15]:<16}"
                   f"{r['n_tubes']:>6}{r['n_failed']:>7}{r['n_withheld']:>9}  "
                   f"{(r['calibration_status'] or 'not recorded'):<13}{r['qc_status']}"
                   + (f" ({r['qc_reason']})" if r["qc_status"] in ("rejected", "warning") else ""))
        if r["calibration_status"] == "released":
            say(f"  {'':<26}calibration released: {r['calibration_released']}")
    _end(opened)


def _end(opened: Any) -> None:
    """End a ledger command: rows left out named, exit 1 when there were any."""
    code = say_left_out(opened)
    if code:
        raise typer.Exit(code)


@app.command("patient")
def ledger_patient(
    patient: Annotated[str, typer.Argument(help="The patient id, as in the plate maps.", show_default=False)],
    ledger: LedgerOption = None,
    control: Annotated[str, typer.Option(help="Condition of the unstimulated control.")] = "unstimulated",
    as_json: JsonOption = False,
) -> None:
    """Every measure of one patient across runs: unstimulated AB/C per day, each drug's restoration,
    ImmunoSep class, and the trajectory findings (slope per day, low at days 5-7, trajectory class).

    Example: assaykit ledger patient P01 --json
    """
    from ..ledger.trajectory import patient_trajectory, timeline

    with open_ledger_option(ledger) as opened:
        found = opened.patient_rows([patient])
        tubes = opened.patient_tubes(patient)
    rows = timeline(found["patients"], found["restoration"], control)
    if not rows:  # one line, naming the rows left out when there were any
        raise AssayKitError(f"no patient {patient!r} in the ledger" + (
            f" ({opened.n_left_out} row(s) holding values assaykit does not write were left out, first: "
            f"{opened.left_out[0]})" if opened.n_left_out else ""))
    course = patient_trajectory(rows, control)
    rows = [{**r, **_marks(r, tubes, control)} for r in rows]
    if as_json:
        print_json({"patient": patient, "control": control, "measures": rows,
                     "trajectory": {"slope_per_day": course.slope_per_day, "trajectory": course.trajectory,
                                    "reason": course.reason, "low_late": [list(p) for p in course.low_late],
                                    "withheld_days": list(course.withheld_days), "findings": course.findings()}})
        _end(opened)
        return
    say(f"patient {patient}")
    say(f"  {'day':>6}  {'time point':<12}{'condition':<16}{'AB/C':>10}{'fold':>8}  {'ImmunoSep':<18}run")
    for r in rows:
        day = "" if r["day"] is None else f"{r['day']:g}"
        abc = "" if r["abc"] is None else f"{r['abc']:,.0f}"
        fold = "" if r["fold_change"] is None else f"{r['fold_change']:.2f}"
        note = [f"withheld ({', '.join(r['withheld_codes']) or 'no value'})" if r["verdict"] == "withheld" else "",
                f"released: {r['released']}" if r["released"] else "",
                "QC rejected" if r["qc_status"] == "rejected" else ""]
        say(f"  {day:>6}  {r['timepoint'][:11]:<12}{r['condition'][:15]:<16}{abc:>10}{fold:>8}  "
                   f"{r['immunosep_class'][:17]:<18}{r['run']}" + "".join(f"  [{n}]" for n in note if n))
    for finding in course.findings():
        say(f"  {finding}")
    _end(opened)


def _marks(row: dict[str, Any], tubes: list[dict[str, Any]], control: str) -> dict[str, Any]:
    """A measure's verdict in ``ledger patient``: ``verdict`` (``withheld`` when its value is
    withheld: its own tube's, or for a drug its control's), ``withheld_codes`` (the error codes of
    the tubes that withheld it, read from their findings; a drug's control's prefixed
    ``control:``) and ``released`` (the release reason of a calibration a person released)."""
    from ..findings import parse_findings

    def tube(condition: str) -> dict[str, Any] | None:
        return next((t for t in tubes if t["run_name"] == row["run"] and t["timepoint"] == row["timepoint"]
                     and t["condition"] == condition), None)

    def codes(found: dict[str, Any] | None, prefix: str = "") -> list[str]:
        if found is None:
            return [f"{prefix}no tube"]
        try:
            errors = [f.code.value for f in parse_findings(found["qc_flags"]) if f.severity == "error"]
        except ValueError:
            errors = []
        if found["error"] and "tube_failed" not in errors:
            errors.insert(0, "tube_failed")
        return [prefix + c for c in dict.fromkeys(errors)]

    own = tube(row["condition"])
    base = tube(control) if row["condition"] != control else None
    withheld: list[str] = []
    if own is None:
        withheld = ["no tube"] if row["abc"] is None else []
    elif own["verdict"] == "withheld" or (row["abc"] is None and own["verdict"]):
        withheld = codes(own)
    elif base is not None and base["verdict"] == "withheld" and row["fold_change"] is None:
        withheld = codes(base, "control: ")
    verdict = "withheld" if withheld else (own["verdict"] if own is not None else "")
    released = own["calibration_released"] if own is not None and own["calibration_status"] == "released" else ""
    return {"verdict": verdict, "withheld_codes": withheld, "released": released}


@app.command("qc")
def ledger_qc(
    ledger: LedgerOption = None,
    instrument: Annotated[str | None, typer.Option(help="Only this instrument ($CYT, or '$CYT $CYTNUM').")] = None,
    out: Annotated[Path | None, typer.Option(help="Write qc.html (Levey-Jennings charts) and qc.csv here.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Assay QC over time: per instrument, bead lot and series (bead slope, intercept, r2, each peak's
    MFI, control blood AB/C), every run's value, z-score and the Westgard rules it broke.

    Example: assaykit ledger qc --instrument "FACSCanto II" --out reports/qc
    """
    from .._io.atomic import check_output_folder
    from ..report.ledger_qc import QC_KIND, qc_series, write_qc_page

    if out is not None:
        check_output_folder(out, kind=QC_KIND)
    with open_ledger_option(ledger) as opened:
        points = opened.qc_points(instrument)
    series = qc_series(points)
    if as_json:
        print_json(series)
    else:
        for one in series:
            last = one["points"][-1]
            say(f"{one['instrument']} | lot {one['lot']} | {one['series']}: {len(one['points'])} runs, "
                       f"last {last['value']:.4g} ({last['status']}"
                       + (f", {last['rules']}" if last["rules"] else "") + ")")
        if not series:
            say("no QC series in the ledger" + (f" for {instrument}" if instrument else ""))
    if out is not None:
        write_qc_page(out, series)
        if not as_json:
            say(f"wrote {out}/qc.html and {out}/qc.csv")
    _end(opened)


EXPORT_KIND = "assaykit ledger export"
"""The kind a ledger export folder's manifest names (an export replaces only an export)."""


@app.command("export")
def ledger_export(
    out: Annotated[Path, typer.Option(help="Folder to write one CSV per table into (replaced as one unit).")],
    ledger: LedgerOption = None,
) -> None:
    """Export every table of the ledger as CSV, one file per table (runs, tubes, bead_peaks,
    restoration, patients, qc_checks).

    Example: assaykit ledger export --out ledger-export
    """
    from .._io.atomic import check_output_folder, output_unit, write_atomic

    check_output_folder(out, kind=EXPORT_KIND)
    with open_ledger_option(ledger) as opened:
        tables = opened.export()
    import hashlib

    with output_unit(out, kind=EXPORT_KIND) as stage:
        for name, content in tables.items():
            write_atomic(stage / f"{name}.csv", content)
        listing = {f"{n}.csv": {"size": len(c), "sha256": hashlib.sha256(c).hexdigest()}  # as verify checks
                   for n, c in tables.items()}
        write_atomic(stage / "manifest.json", (json.dumps({"kind": EXPORT_KIND, "ledger": opened.shown,
                                                           "files": listing, "left_out": opened.left_out[:20]},
                                                          indent=1) + "\n").encode())
    say(f"wrote {len(tables)} tables to {out}/")
    _end(opened)
