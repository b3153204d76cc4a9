"""``assaykit report``: a scored run's pages re-rendered from its tables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import JobsOption, console_progress, say


def report(
    out_dir: Annotated[Path, typer.Argument(help="Output folder of `assaykit score`.", show_default=False)],
    jobs: JobsOption = None,
) -> None:
    """Re-render the reports of a scored run from its tables (no FCS file is read).

    Writes OUT_DIR/index.html (run summary) and OUT_DIR/patients/<patient>.html and .pdf from
    samples.csv, calibration.csv, restoration.csv, patients.csv, cohort.csv, manifest.json and
    figure_data.json (`assaykit docs reports`), the folder replaced as one unit. A folder holding
    a file its manifest does not list (a file of yours) or a changed one is refused, untouched.

    Example: assaykit report reports/demo --jobs 2   (written by `assaykit score demo --no-report`)
    """
    from ..report import build_reports

    update, close = console_progress()
    try:
        written = build_reports(out_dir, jobs=jobs, progress=update)
    finally:
        close()
    say(f"wrote {len(written)} files: {out_dir}/index.html and {out_dir}/patients/")
