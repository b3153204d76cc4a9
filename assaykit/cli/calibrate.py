"""``assaykit calibrate``: a bead tube's calibration (:func:`assaykit.beads.calibrate_file`)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer

from ._common import BeadUnitOption, BeadValuesOption, JsonOption, LotOption, print_json


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
    for flag in cal.findings:
        typer.echo(f"  QC: {flag}")


def _finite(value: Any) -> float | None:
    return float(value) if math.isfinite(value) else None


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

    Works for QuantiBRITE PE (AB/C) and rainbow beads (MEF) in any channel. Exit code 2 when
    the tube cannot be calibrated (fewer than 3 usable peaks), with the reason. --json prints the
    calibration as the library gives it (Calibration.to_dict(); `assaykit docs bead-calibration`).

    Example: assaykit calibrate demo/Specimen_001_H12_H12.fcs --lot demo/beads_lot.yaml --convert 1500,4200
    (demo: a run written by `assaykit simulate demo`)
    """
    from ..beads import calibrate_file, lot_from_options, parse_values

    chosen = lot_from_options(lot, bead_values, bead_unit)
    mfis = parse_values(convert, "--convert") if convert is not None else ()
    run = calibrate_file(beads, chosen, channel)
    cal = run.calibration
    if plot is not None:
        from ..beads.plot import plot_calibration

        plot_calibration(run, plot, title=str(beads.name))
    converted = [{"mfi": m, "value": _finite(cal.convert(m))} for m in mfis]
    if as_json:
        print_json({"calibration": cal.to_dict(), "converted": converted} if mfis else cal.to_dict())
        return
    _print_calibration(cal)
    for item in converted:
        value = "-" if item["value"] is None else f"{item['value']:,.1f}"
        typer.echo(f"  MFI {item['mfi']:,.1f} -> {value} {cal.unit}")
