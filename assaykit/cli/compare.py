"""``assaykit compare``: assaykit's gates against a lab's manual gating."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import AssayKitError
from ._common import say


def compare(
    out_dir: Annotated[Path, typer.Argument(help="Output folder of `assaykit score`.", show_default=False)],
    workspace: Annotated[Path | None, typer.Option("--workspace", "-w", help="The lab's FlowJo workspace "
                                                   "(FlowJo 10 .wsp, FlowJo 9 .xml) "
                                                   "gated by hand on the same FCS files.", show_default=False)] = None,
    manual: Annotated[Path | None, typer.Option("--manual", help="The lab's own per-tube results from any software "
                                                "(FACSDiva, Kaluza, FCS Express, a spreadsheet): a CSV with columns "
                                                "file, monocytes, and hladr_mfi or hladr_abc.",
                                                show_default=False)] = None,
    columns: Annotated[list[str] | None, typer.Option("--columns", help="With --manual: the lab's names for the "
                                                      "columns, e.g. file=Sample,monocytes=\"Monocytes Count\","
                                                      "hladr_mfi=\"PE-A Median\" (file may join columns: "
                                                      "file=\"{Specimen Name}_{Tube Name}.fcs\"; may be given "
                                                      "more than once).", show_default=False,
                                                      metavar="KEY=COLUMN,...")] = None,
    mfi_scale: Annotated[float, typer.Option("--mfi-scale", help="With --manual: the factor that brings the lab's "
                                             "MFI to the FCS file's scale values (prefer --mfi-range; a factor "
                                             "that disagrees with the tubes' ranges is refused).",
                                             metavar="FACTOR")] = 1.0,
    mfi_range: Annotated[float | None, typer.Option("--mfi-range", help="With --manual: the top of the scale the "
                                                    "lab's MFI are on (Kaluza: 1024); each tube's factor is its "
                                                    "HLA-DR channel's $PnR divided by it, read from its FCS file.",
                                                    metavar="TOP", show_default=False)] = None,
    gate: Annotated[str | None, typer.Option("--gate", help="With --manual: read only the rows of this gate (the "
                                             "file's gate column, or --columns gate=COLUMN): Kaluza lists every "
                                             "gate's statistics.", show_default=False)] = None,
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
    """Agreement of assaykit's gates with a lab's manual gating (CLSI EP09 practice; `assaykit docs validation`).

    Matches the run's tubes to the workspace's samples (by file name) and writes agreement.csv
    (per tube: F1 of the two gates, both counts, both HLA-DR statistics, both AB/C, difference %)
    and agreement.html (Bland-Altman bias and 95 % limits of agreement, Passing-Bablok regression
    with 95 % confidence intervals, thumbnails with both gates' outlines) and a manifest.json. The
    scored folder is not changed. A tube the workspace lacks is a row with a note. An earlier
    comparison's folder given as --out is replaced as one unit (as score replaces its own).
    Exit 1 when no tube could be compared (the rows' notes say why).

    Without FlowJo, --manual takes the lab's own results per FCS file (columns file,
    monocytes, and hladr_mfi or hladr_abc; other names with --columns) and writes the same
    agreement.csv and agreement.html, F1 left empty (it needs the lab's events). Numbers with a
    decimal comma or thousands separators are read by one rule for the whole file, or refused
    (`assaykit docs validation`). A row naming no tube of the run is a row with a note. Kaluza
    reports MFI on its 0-1,024 scale: --mfi-range 1024 takes each tube's factor from its FCS
    file's range. A run without bead calibration compares the HLA-DR MFI instead of AB/C.

    Example: assaykit compare reports/run-2026-11-22 --workspace lab.wsp --population Monocytes

    Example: assaykit compare reports/run-2026-11-22 --manual kaluza.csv --gate Monocytes --mfi-range 1024
    --columns "file=File Name,gate=Gate,monocytes=Number,hladr_mfi=HLA-DR PE X-Med"

    Example: assaykit compare reports/run-2026-11-22 --manual diva.csv --columns "file={Specimen Name}_{Tube
    Name}.fcs,monocytes=Monocytes #Events,hladr_mfi=Monocytes PE-A Median"
    """
    from .._io.atomic import check_output_folder
    from ..report.agreement import EARLIER, KIND, write_agreement
    from ..scoring.agreement import compare_manual, compare_run
    from ..scoring.manual import parse_columns
    from ..scoring.pipeline import check_out_dir
    from ..scoring.tables import read_manifest, recorded_run_dir

    if (workspace is None) == (manual is None):
        raise typer.BadParameter("give the lab's gating as --workspace FILE.wsp or its results as --manual FILE.csv "
                                 "(one of them)")
    if manual is None and (columns or mfi_range is not None or mfi_scale != 1 or gate is not None):
        raise typer.BadParameter("--columns, --gate, --mfi-scale and --mfi-range describe a --manual file")
    if mfi_range is not None and mfi_scale != 1:
        raise typer.BadParameter("give --mfi-range (the scale's top: Kaluza 1024) or --mfi-scale (a factor), not both")
    try:
        names = parse_columns(columns or [])
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    if not out_dir.is_dir():
        raise AssayKitError("output folder not found", out_dir)
    target = out if out is not None else out_dir.parent / f"{out_dir.name}-agreement"
    scored, written = out_dir.resolve(), target.resolve()
    if written == scored or scored in written.parents or written in scored.parents:
        raise AssayKitError(f"the agreement folder would replace the scored folder {out_dir} (or a part of it), which "
                            "compare never changes: name another --out", target)
    try:
        run: Path | None = recorded_run_dir(out_dir, read_manifest(out_dir), run_dir)
    except AssayKitError:
        if workspace is not None:  # the workspace's events are the run's FCS files
            raise
        run = None  # --manual reads no event: the FCS files may be elsewhere
    if run is not None and run.is_dir():  # the FCS files compared: never an output among them
        check_out_dir(run, target)
    replaces = check_output_folder(target, earlier=EARLIER, kind=KIND)
    if manual is not None:
        agreement = compare_manual(out_dir, manual, names, mfi_scale, mfi_range, run, gate)
    else:
        assert workspace is not None
        agreement = compare_run(out_dir, workspace, population, run_dir, strategy)
    write_agreement(agreement, target)
    what = "AB/C from both" if agreement.measure == "abc" else "HLA-DR MFI from both: the run has no bead calibration"
    if agreement.source == "manual":
        compared = len(agreement.pairs()[0])
        line = (f"compared {compared} tubes ({agreement.lab_matched} of {agreement.lab_rows} lab rows matched a tube "
                f"of the run; {what}; no F1 without events)")
    else:
        compared = sum(1 for t in agreement.tubes if t.row["f1"] is not None)
        line = f"compared {compared} of {len(agreement.tubes)} tubes" + ("" if agreement.measure == "abc" else
                                                                           f" ({what})")
    if agreement.bland_altman is not None:
        ba = agreement.bland_altman
        line += f"; {agreement.unit} bias {ba.bias:,.1f} (95 % limits {ba.lower:,.1f} to {ba.upper:,.1f})"
    say(f"{line}: {target}/agreement.csv, {target}/agreement.html"
               + (" (replacing the earlier comparison there)" if replaces else ""))
    for warning in agreement.warnings:
        say(f"warning: {warning}", err=True)
    if compared == 0:  # nothing validated: the rows say why (no matching sample, no population ...)
        reasons = sorted({t.row["note"] for t in agreement.tubes if t.row["note"]})
        say("no tube was compared: " + ("; ".join(reasons[:3]) + (" ..." if len(reasons) > 3 else "")
                                         if reasons else "see agreement.html") + " (agreement.csv's notes)", err=True)
        raise typer.Exit(1)
