"""``assaykit export``: a scored run's reportable values for a trial's database."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from ._common import say


class To(StrEnum):
    """The export formats (assaykit.export.FORMATS)."""

    redcap = "redcap"
    sdtm = "sdtm"
    fhir = "fhir"


def export(
    out_dir: Annotated[Path, typer.Argument(help="Output folder of `assaykit score` (read, never changed).",
                                            show_default=False)],
    to: Annotated[To, typer.Option("--to", help="redcap (data dictionary + records CSV), sdtm (LB as CSV and XPT "
                                   "v5, SUPPLB) or fhir (R4 Bundle of Observations).", show_default=False)],
    out: Annotated[Path | None, typer.Option(help="The export folder (default: OUT_DIR-<format> beside OUT_DIR), "
                                             "replaced as one unit; never inside OUT_DIR.", show_default=False)] = None,
    study: Annotated[str, typer.Option(help="The study identifier: SDTM STUDYID and USUBJID's prefix "
                                       "(default: the run's name).", show_default=False)] = "",
    all_conditions: Annotated[bool, typer.Option("--all-conditions", help="Also each drug condition's AB/C and "
                                                 "fold change (default: the unstimulated AB/C only).")] = False,
    include_keywords: Annotated[list[str] | None, typer.Option(
        "--include-keywords", help="FCS keywords to add (each time point's unstimulated tube; may be given more "
        "than once): none by default, so nothing from the FCS files leaves the lab unless named.",
        show_default=False, metavar="KEYWORD")] = None,
    require_approved: Annotated[bool, typer.Option(
        "--require-approved", help="Refuse a run not signed approved (assaykit review) instead of exporting it "
        "with a warning.")] = False,
    code_system: Annotated[str | None, typer.Option(help="FHIR: the URI of the local test codes (default "
                                                    "urn:assaykit:local-test-codes).", show_default=False)] = None,
    patient_system: Annotated[str | None, typer.Option(help="FHIR: the URI of the patient identifiers (default "
                                                       "urn:assaykit:patient-id).", show_default=False)] = None,
    timezone: Annotated[str, typer.Option(help="FHIR: the time zone of the clinical CSV's local draw times "
                                          "(+01:00, Europe/Berlin): effectiveDateTime then has the time; without "
                                          "it, the draw date alone. Times the CSV gave with offsets are UTC "
                                          "(written with Z), and another zone is refused.",
                                          show_default=False)] = "",
    include_donor_group: Annotated[list[str] | None, typer.Option(
        "--include-donor-group", help="Export the rows of this plate-map donor_group too (may be given more than "
        "once): healthy-donor rows are left out and counted by default.", show_default=False,
        metavar="NAME")] = None,
    patient_reference: Annotated[bool, typer.Option(
        "--patient-reference", help="FHIR: add subject.reference Patient/<id> (the receiving server holds "
        "Patients with the plate map's IDs as ids); default: subject.identifier only.")] = False,
    run_dir: Annotated[Path | None, typer.Option("--run", help="With --include-keywords: where the run's FCS files "
                                                 "are (default: the run folder the manifest records).",
                                                 show_default=False)] = None,
) -> None:
    """Export the reportable values of a scored run for a trial's database (`assaykit docs exports`).

    Only reportable values (verdict reportable or reportable_with_warnings, the warning codes
    carried with the value) are exported; withheld values are not, and are counted in the
    summary line; so are the rows of healthy donors (plate-map donor_group "healthy"), unless
    --include-donor-group healthy. An export of no value writes nothing and exits 1. By default
    each patient time point's unstimulated monocyte HLA-DR in AB/C;
    --all-conditions adds each drug condition's AB/C and fold change. Patient IDs are written
    exactly as the plate map gives them. The export folder holds the files and a manifest.json
    naming the scored folder, its run_id and its signatures' status; a run not signed
    "approved" is exported with a warning (--require-approved refuses it). The scored folder is
    never changed.

    Example: assaykit export reports/run-2026-11-22 --to redcap

    Example: assaykit export reports/run-2026-11-22 --to sdtm --study IMMUNOSEP --all-conditions
    """
    from ..export import CODE_SYSTEM, PATIENT_SYSTEM, export_run

    result = export_run(out_dir, to.value, out=out, study=study, all_conditions=all_conditions,
                        include_keywords=include_keywords or (), require_approved=require_approved,
                        code_system=code_system or CODE_SYSTEM, patient_system=patient_system or PATIENT_SYSTEM,
                        run_dir=run_dir, timezone=timezone, include_groups=include_donor_group or (),
                        patient_reference=patient_reference)
    for warning in result.warnings:
        say(f"warning: {warning}", err=True)
    if not result.exported:
        say(result.summary, err=True)
        raise typer.Exit(1)
    say(result.summary)
