"""``assaykit calibrate``: a bead tube's calibration (:func:`assaykit.beads.calibrate_file`)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer

from ._common import BeadUnitOption, BeadValuesOption, JsonOption, LotOption, output_files, print_json, say


def _print_calibration(cal: Any) -> None:
    say(f"{cal.file}  ({cal.lot_label}; channel {cal.channel}; "
               f"{cal.n_singlets:,} singlet beads of {cal.n_events:,} events)")
    say(f"  {'MFI':>12}{'value':>14}{'residual':>10}{'CV %':>8}{'events':>9}  used")
    for p in cal.peaks:
        value = "-" if p.value is None else f"{p.value:,.0f}"
        residual = "-" if p.residual is None else f"{100 * (10 ** p.residual - 1):+.1f}%"
        used = "yes" if p.used else f"no: {p.reason}"
        say(f"  {p.mfi:>12,.1f}{value:>14}{residual:>10}{p.robust_cv_percent:>8.1f}{p.n_events:>9,}  {used}")
    say(f"  log10({cal.unit or 'value'}) = {cal.slope:.4f} x log10(MFI) + {cal.intercept:.4f}   "
               f"r^2 = {cal.r_squared:.5f}   ({cal.n_used} peaks)")
    for flag in cal.findings:
        say(f"  QC: {flag}")


def _finite(value: Any) -> float | None:
    return float(value) if math.isfinite(value) else None


def _say_verdict(verdict: Any) -> None:
    """The calibration's verdict (scoring.verdicts) and, withheld or released, why."""
    say(f"  verdict: {verdict.status}")
    for f in verdict.findings:
        say(f"    {f.cell()}")


def calibrate(
    beads: Annotated[Path, typer.Argument(help="FCS file of the bead tube.", show_default=False)],
    lot: LotOption = None,
    bead_values: BeadValuesOption = None,
    bead_unit: BeadUnitOption = "PE molecules/bead",
    channel: Annotated[str | None, typer.Option(
        help="Bead channel ($PnN), when the lot's marker and aliases do not find it.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Write a PNG: bead gate, peaks, fit and residuals.")] = None,
    as_json: JsonOption = False,
    convert: Annotated[str | None, typer.Option(
        help="MFI values to convert, comma-separated; prints the calibrated values (with --json: "
             '{"calibration": ..., "converted": [{"mfi", "value"}]}).')] = None,
) -> None:
    """Calibrate a bead tube: find the bead peaks, fit log10(value) = slope x log10(MFI) + intercept.

    Works for QuantiBRITE PE (AB/C) and rainbow beads (MEF) in any channel. Prints the
    calibration's verdict (reportable or withheld, with the reasons: `assaykit docs scoring`); a
    withheld calibration converts no MFI and exits 1. Exit code 2 when the tube cannot be
    calibrated (fewer than 3 usable peaks, or a tube of cells), with the reason. --json prints the
    calibration as the library gives it (Calibration.to_dict(); `assaykit docs bead-calibration`)
    with its "verdict" ({"status", "findings", "released_reason"}).

    Example: assaykit calibrate demo/Specimen_001_H12_H12.fcs --lot demo/beads_lot.yaml --convert 1500,4200
    (demo: a run written by `assaykit simulate demo`)
    """
    from ..beads import calibrate_file, lot_from_options, parse_values
    from ..scoring.verdicts import judge_calibration, with_verdict_findings

    output_files({"--plot": plot}, [beads, lot])
    chosen = lot_from_options(lot, bead_values, bead_unit)
    mfis = parse_values(convert, "--convert") if convert is not None else ()
    run = calibrate_file(beads, chosen, channel, option="--channel")
    cal = with_verdict_findings(run.calibration, chosen)
    verdict = judge_calibration(cal, chosen)
    if plot is not None:
        from ..beads.plot import plot_calibration

        plot_calibration(run, plot, title=str(beads.name))
    converted = [{"mfi": m, "value": _finite(cal.convert(m)) if verdict.usable else None} for m in mfis]
    doc = {**cal.to_dict(), "verdict": verdict.to_dict()}
    if as_json:
        print_json({"calibration": doc, "converted": converted} if mfis else doc)
    else:
        _print_calibration(cal)
        _say_verdict(verdict)
        for item in converted:
            value = "-" if item["value"] is None else f"{item['value']:,.1f}"
            say(f"  MFI {item['mfi']:,.1f} -> {value} {cal.unit}"
                       + ("" if verdict.usable else " (calibration withheld: no value)"))
    if not verdict.usable:
        raise typer.Exit(1)
