"""``assaykit simulate``: a plate run with ground truth (:func:`assaykit.simulate.write_run`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import AssayKitError
from ._common import Instrument, Specimen, say


def simulate(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the run into.", show_default=False)],
    patients: Annotated[int, typer.Option(min=1, max=23, help="Number of patients.")] = 4,
    conditions: Annotated[str, typer.Option(help="Comma-separated; the first is the control.")] = (
        "unstimulated,IFN-gamma,GM-CSF,IL-7"),
    events: Annotated[int, typer.Option(min=1000, max=10_000_000, help="Events per blood tube (the default "
                                        "20,000 at 4-10 % monocytes gives 800-2,000 monocytes, below the 3,000 the "
                                        "default strategy recommends: tubes carry few_events warnings; 100,000 is a "
                                        "clinical tube).")] = 20000,
    seed: Annotated[int, typer.Option(min=0, help="Random seed: the same seed gives identical files.")] = 1,
    monocytes: Annotated[str, typer.Option(
        help="Range of each patient's monocytes, % of events, LOW,HIGH (drawn uniformly per patient).")] = "4,10",
    instrument: Annotated[Instrument, typer.Option(
        case_sensitive=False,
        help="Instrument style: canto (FCS 3.1 float, 0-262,144), navios (FCS 3.0 integer, 0-1,048,576, "
             "FS INT/FL2 INT names), calibur (FCS 2.0, 10-bit, log-amplified FL2-H/FL3-H) or lsr (LSRII "
             "DC/monocyte panel: MHCII on PerCP-Cy5.5, CD14 PE-Cy7, no FSC-H, identity $SPILLOVER, the lab's "
             "matrix in compensation.csv) or fc500 (Beckman Coulter FC500: FCS 2.0, 10-bit, FS Lin, SS Log and "
             "FL2 Log/FL4 Log log-amplified, labels restating the channels, compensated at acquisition) or navios-lmd "
             "(a Navios list-mode .LMD file: an FCS 2.0 dataset labelled HLA-DR PE / CD14 PC5.5, then the FCS 3.0 "
             "full-resolution copy FS-A ... FL4-A that assaykit reads, its labels carried from the 2.0 dataset).")] = (
        Instrument.canto),
    specimen: Annotated[Specimen, typer.Option(
        case_sensitive=False, help="Specimen: whole_blood, pbmc (no granulocytes; use --monocytes 10,30) or "
                                   "lyse_no_wash.")] = Specimen.whole_blood,
    third_marker: Annotated[str, typer.Option(
        "--third-marker", help="A third marker in every blood tube: CD15, CD16 or CD45 (on FITC-A, APC-H7-A or V500-A "
                               "on a Canto, labelled e.g. 'CD15 FITC'; `assaykit docs simulator`); none by default.",
        show_default=False)] = "",
    replicates: Annotated[int, typer.Option(
        min=1, max=4, help="Tubes of each sample, labelled r1, r2 ... in the plate map's replicate column: the same "
                           "blood (true AB/C) acquired again, so they differ by acquisition noise alone.")] = 1,
    healthy: Annotated[int, typer.Option(
        min=0, max=95, help="Healthy donors HD01 ... (plate map donor_group 'healthy'; the patients 'septic'), "
                            "normal HLA-DR (log-normal, median 28,000 AB/C), the control condition only.")] = 0,
    force: Annotated[bool, typer.Option(
        "--force", help="Write into a folder that is not empty: the simulated files replace any of the same names "
                        "(plate_map.csv, run.yaml, the FCS files ...); other files are left as they are.")] = False,
) -> None:
    """Simulate a plate run with ground truth, as a FACSCanto II (default), Navios, FC500 or FACSCalibur writes it.

    Writes one FCS file per well (lysed whole blood by default, or --specimen, stained for HLA-DR
    and CD14), a QuantiBRITE bead tube, plate_map.csv, truth.csv, per-event labels
    (*.labels.npy, legend in labels.json), the bead lot file (beads_lot.yaml), run.yaml (the
    options `assaykit score` reads), simulation.json (the options simulated) and, for --instrument
    lsr, compensation.csv (the lab's matrix); the model is in `assaykit docs simulator`.
    OUT_DIR must be new or empty (a folder holding files is refused: they could be a user's),
    unless --force.

    Example: assaykit simulate demo --patients 4 --events 20000 --seed 1   (demo: a new folder);
    for validation input: assaykit simulate val --patients 2 --healthy 20 --replicates 2
    """
    from ..scoring.pipeline import FCS_SUFFIXES
    from ..simulate import RunSpec, write_run

    names = tuple(c.strip() for c in conditions.split(",") if c.strip())
    if not names:
        raise AssayKitError("--conditions is empty")
    if (patients * len(names) + healthy) * replicates > 95:
        donors = f" + {healthy} healthy donors" if healthy else ""
        each = f", {replicates} replicates each," if replicates > 1 else ""
        raise AssayKitError(f"{patients} patients x {len(names)} conditions{donors}{each} do not fit a 96-well plate")
    try:
        low, high = (float(v) for v in monocytes.split(","))
    except ValueError:
        raise AssayKitError(f"--monocytes must be two percentages LOW,HIGH, not {monocytes!r}") from None
    if not 0 < low <= high <= 30:
        raise AssayKitError(f"--monocytes must satisfy 0 < LOW <= HIGH <= 30 (% of events), not {monocytes!r}")
    from ..simulate import STYLES, THIRD_MARKERS

    chosen = next((m for m in THIRD_MARKERS if m.lower() == third_marker.strip().lower()), None)
    if third_marker.strip() and chosen is None:
        raise AssayKitError(f"--third-marker must be one of {', '.join(THIRD_MARKERS)}, not {third_marker!r}")
    if chosen and not STYLES[instrument.value].third:
        raise AssayKitError(f"--instrument {instrument.value} writes two colours only: --third-marker needs "
                            "canto, navios, calibur, lsr or fc500")
    import time

    started = time.time_ns()
    folder = write_run(out_dir, RunSpec(patients=patients, conditions=names, events=events, seed=seed,
                                        style=instrument.value, monocyte_percent=(low, high),
                                        specimen=specimen.value, third_marker=chosen or "", replicates=replicates,
                                        healthy=healthy), force=force)
    say(f"wrote {(patients * len(names) + healthy) * replicates} blood tubes + 1 bead tube to {folder}")
    left = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in FCS_SUFFIXES and p.is_file()
                  and p.stat().st_mtime_ns < started)
    if left:  # --force keeps what it did not write now; score reads every *.fcs and *.lmd of the folder
        say(f"left {len(left)} FCS file(s) from before as they were (score reads every *.fcs and *.lmd here: move them "
            f"away): {', '.join(left[:5])}" + (f" and {len(left) - 5} more" if len(left) > 5 else ""))
