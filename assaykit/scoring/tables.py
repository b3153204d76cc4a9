"""The output tables of ``score`` (columns documented in docs/scoring.md): built as DataFrames,
written as CSV with fixed formatting (byte-identical on a rerun) and a manifest, atomically."""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._io.atomic import write_atomic
from .._io.names import cell
from ..errors import AssayKitError
from ..ledger.trajectory import TIMELINE_COLUMNS
from .rows import CalibrationRow, PatientRow, RestorationRow, SampleRow

if TYPE_CHECKING:
    from ..beads import BeadLot, Calibration
    from ..gating import Strategy
    from .cohort import DrugStatistics
    from .options import RunOptions
    from .platemap import Assignment, PlateMap

SAMPLE_COLUMNS = ["file", "sha256", "well", "patient", "timepoint", "day", "condition", "replicate", "role",
                  "donor_group", "matched_by",
                  "acquisition_date", "instrument", "instrument_serial", "events", "singlets", "monocytes",
                  "monocytes_pct", "hladr_mfi", "hladr_statistic", "hladr_abc", "hladr_pos_pct", "compensation",
                  "specimen_declared", "specimen_detected", "monocyte_purity_pct", "removed_at_top", "drawn_at",
                  "stained_at", "draw_to_stain_h", "qc_flags", "error", "verdict", "verdict_reasons"]
CALIBRATION_COLUMNS = ["file", "sha256", "kit", "lot", "unit", "channel", "voltage", "slope", "intercept",
                       "r_squared", "n_peaks_used", "peak", "peak_mfi", "peak_value", "peak_fitted_value",
                       "peak_used", "peak_reason", "peak_residual_log10", "peak_events", "qc_flags", "error"]
RESTORATION_COLUMNS = ["patient", "timepoint", "day", "condition", "control_abc", "abc", "fold_change",
                       "log2_fold_change", "delta_abc", "gap_closed", "state_control", "state_drug", "responder",
                       "immunosep_class", "control_file", "file", "qc_flags", "verdict", "verdict_reasons",
                       "control_n_replicates", "control_replicate_cv_pct", "n_replicates", "replicate_cv_pct",
                       "drug_verdict", "drug_verdict_reasons"]
PATIENT_COLUMNS = ["patient", "timepoint", "day", "control_abc", "state", "ferritin_ng_ml", "immunosep_class",
                   "immunosep_rule", "responders", "best_condition", "best_fold_change", "qc_flags", "completeness",
                   "missing", "n_replicates", "replicate_cv_pct", "control_verdict", "control_verdict_reasons"]
COHORT_COLUMNS = ["condition", "n_pairs", "median_fold_change", "ci_low", "ci_high", "ci_coverage", "wilcoxon_p",
                  "holm_p"]
TRAJECTORY_COLUMNS = TIMELINE_COLUMNS
QC_COLUMNS = ["series", "value", "target", "sd", "z", "rules", "status", "limits_source"]

COLUMNS = {"samples": SAMPLE_COLUMNS, "calibration": CALIBRATION_COLUMNS, "restoration": RESTORATION_COLUMNS,
           "patients": PATIENT_COLUMNS, "cohort": COHORT_COLUMNS, "trajectories": TRAJECTORY_COLUMNS,
           "qc": QC_COLUMNS}
"""The columns every table has (a plate map's extra columns follow in samples.csv)."""


def _cell(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return "; ".join(str(v) for v in value)
    return value


def _frame(rows: Sequence[dict[str, Any]], columns: list[str]) -> Any:
    import pandas as pd

    extra = [k for r in rows for k in r if k not in columns]
    ordered = columns + list(dict.fromkeys(extra))
    return pd.DataFrame([{k: _cell(r.get(k)) for k in ordered} for r in rows], columns=ordered)


def calibration_rows(calibration: Calibration | None, bead_file: str, bead_error: str) -> list[CalibrationRow]:
    """calibration.csv's rows: one per detected peak of ``calibration`` (the bead tube
    ``bead_file``'s), or one row with ``bead_error`` when there is no calibration.

    Parameters
    ----------
    calibration : Calibration or None
        The run's bead calibration.
    bead_file : str
        The bead tube's file name.
    bead_error : str
        Why the bead tube could not be calibrated.
    """
    if calibration is None:
        return [CalibrationRow(file=bead_file, error=bead_error)]
    rows = []
    for i, p in enumerate(calibration.peaks, start=1):
        fitted = calibration.convert(p.mfi) if p.mfi > 0 else None
        rows.append(CalibrationRow(
            file=bead_file, sha256=calibration.file_sha256, kit=calibration.kit, lot=calibration.lot,
            unit=calibration.unit, channel=calibration.channel, voltage=calibration.voltage, slope=calibration.slope,
            intercept=calibration.intercept, r_squared=calibration.r_squared, n_peaks_used=calibration.n_used,
            peak=i, peak_mfi=p.mfi, peak_value=p.value, peak_fitted_value=None if fitted is None else float(fitted),
            peak_used=p.used, peak_reason=p.reason, peak_residual_log10=p.residual, peak_events=p.n_events,
            qc_flags=calibration.findings, error=""))
    return rows


def frames(samples: Sequence[SampleRow], calibration: Calibration | None, bead_error: str,
           restoration: Sequence[RestorationRow], patients: Sequence[PatientRow], cohort: Sequence[DrugStatistics],
           trajectories: Sequence[dict[str, Any]] | None = None,
           qc: Sequence[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The run's tables as DataFrames (columns in :data:`COLUMNS`, a plate map's own columns
    after samples.csv's).

    Parameters
    ----------
    samples, restoration, patients : sequence of rows
        The typed rows (:mod:`.rows`).
    calibration : Calibration or None
        The bead calibration; ``bead_error`` why there is none.
    bead_error : str
        Why the bead tube could not be calibrated.
    cohort : sequence of DrugStatistics
        Per drug statistics.
    trajectories, qc : sequence of dict
        The ledger's rows (trajectories.csv, qc.csv).
    """
    from dataclasses import asdict

    bead_file = next((s.file for s in samples if s.role == "beads"), "")
    return {
        "samples": _frame([r.to_dict() for r in samples], SAMPLE_COLUMNS),
        "calibration": _frame([r.to_dict() for r in calibration_rows(calibration, bead_file, bead_error)],
                              CALIBRATION_COLUMNS),
        "restoration": _frame([r.to_dict() for r in restoration], RESTORATION_COLUMNS),
        "patients": _frame([r.to_dict() for r in patients], PATIENT_COLUMNS),
        "cohort": _frame([asdict(c) for c in cohort], COHORT_COLUMNS),
        "trajectories": _frame(trajectories or [], TRAJECTORY_COLUMNS),
        "qc": _frame(qc or [], QC_COLUMNS),
    }


FLOAT_FORMAT = "%.7g"
"""How a table writes a float: 7 significant digits (:func:`csv_bytes`; :func:`as_written`)."""


def as_written(value: float) -> float:
    """``value`` as a table holds it (:data:`FLOAT_FORMAT`, read back): what a reader of the
    table sees, so a value read from elsewhere (the ledger keeps full precision) gives the same
    statistics as the table (``assaykit validate`` reads both).

    Parameters
    ----------
    value : float
        A finite number.
    """
    return float(FLOAT_FORMAT % value)


def csv_bytes(frame: Any) -> bytes:
    """CSV with 7 significant digits for floats, empty cells for missing values, '\\n' line ends;
    text cells and column names written by :func:`assaykit._io.names.cell` (names escaped, then
    neutralised against formula injection; read back by :func:`assaykit._io.names.read_cell`),
    numbers untouched."""
    buffer = io.StringIO()
    import pandas as pd

    # text columns are object dtype in pandas 2 and "str" in pandas 3: test the values, not the dtype
    frame = frame.apply(lambda column: column if pd.api.types.is_numeric_dtype(column)
                        else column.map(lambda v: cell(v) if isinstance(v, str) else v))
    frame.columns = [cell(str(c)) for c in frame.columns]
    frame.to_csv(buffer, index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
    return buffer.getvalue().encode("utf-8")


def _sha(path: Path | None) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path is not None and path.is_file() else ""


def version() -> str:
    """assaykit's installed version ("" when not installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("assaykit")
    except PackageNotFoundError:
        return ""


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("assaykit", "numpy", "pandas", "scipy", "flowutils", "flowio", "pyyaml", "contourpy", "openpyxl",
                 "matplotlib", "seaborn", "jinja2"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = ""
    return out


def _absolute(path: str) -> str:
    """A file path recorded in the manifest, absolute (compare reads it from any folder); a
    shipped name (``shipped:...``) and "" as they are."""
    return str(Path(path).absolute()) if path and not path.startswith("shipped:") else path


def manifest(folder: Path, plate: PlateMap, strategy: Strategy, lot: BeadLot, options: RunOptions,
             assignments: Sequence[Assignment],
             calibration: Calibration | None, samples: Sequence[SampleRow], started: float, ended: float, jobs: int,
             clinical_path: Path | None = None) -> dict[str, Any]:
    import datetime as dt

    warnings = sorted({f"{s.file}: {f.message}" for s in samples for f in s.qc_flags}
                      | {f"{s.file}: {s.error}" for s in samples if s.error})
    return {
        "software": _versions(),
        "run_dir": str(folder.resolve()),  # absolute: compare and review read it from any folder
        "inputs": [{"file": a.path.name, "sha256": next((s.sha256 for s in samples if s.file == a.path.name), ""),
                    "well": a.row.well, "row": a.row.row, "role": a.row.role, "matched_by": a.matched_by}
                   for a in assignments],
        "plate_map": {"path": str(plate.path), "sha256": plate.sha256, "read_as": plate.read_as},
        "strategy": {**strategy.identity(), "path": _absolute(strategy.source)},
        "lot": {"kit": lot.kit, "lot": lot.lot, "unit": lot.unit, "values": list(lot.values),
                "path": lot.source, "sha256": lot.sha256, "example": lot.example},
        "clinical": {"path": str(clinical_path or ""), "sha256": _sha(clinical_path)},
        "options": {"control": options.control, "jobs": jobs, "statistic": strategy.readout.statistic,
                    "bead_unit": options.bead_unit, "specimen": strategy.specimen,
                    "compensation": {"path": _absolute(str(options.compensation)), "sha256": _sha(options.compensation)}
                    if options.compensation else None,
                    "accept_calibration": options.accept_calibration},
        "specimens_detected": {s.file: s.specimen_detected for s in samples if s.specimen_detected},
        "thresholds": options.thresholds.to_dict(),
        "responder_rule": options.responder.to_dict(),
        "calibration": calibration.to_dict() if calibration is not None else None,
        "warnings": warnings,
        "started": dt.datetime.fromtimestamp(started, dt.UTC).isoformat(timespec="seconds"),
        "ended": dt.datetime.fromtimestamp(ended, dt.UTC).isoformat(timespec="seconds"),
    }


AUDIT_TRAIL = "audit.jsonl"
"""The review's audit trail in an output folder (assaykit.review.audit writes it; scoring only counts it)."""


def scored_from(run_dir: Path, out_dir: Path) -> dict[str, Any]:
    """What the output folder ``out_dir`` is scored from beside the FCS files, as the manifest
    records it (``scored_from``): ``run_yaml_sha256``, the SHA-256 of ``run_dir``'s run.yaml
    ("" when it has none), and ``audit_entries``, the number of entries ``out_dir``'s audit trail
    held (0 when none): a review change after them (or another run.yaml) leaves the outputs stale
    (:func:`assaykit.review.stale.stale_outputs`).

    Parameters
    ----------
    run_dir : Path
        The run folder scored.
    out_dir : Path
        The output folder written.
    """
    from .._io.read import OUTPUT_LIMIT, read_input

    trail = out_dir / AUDIT_TRAIL
    try:
        lines = read_input(trail, AssayKitError, "audit trail", OUTPUT_LIMIT).count(b"\n") if trail.is_file() else 0
    except AssayKitError:
        lines = 0
    return {"run_yaml_sha256": _sha(run_dir / "run.yaml"), "audit_entries": lines}


def write(out_dir: Path, tables: dict[str, Any]) -> None:
    """Write every table into ``out_dir`` (each file atomically)."""
    for name, frame in tables.items():
        write_atomic(out_dir / f"{name}.csv", csv_bytes(frame))


MANIFEST = "manifest.json"


def seal(folder: Path, manifest_doc: dict[str, Any]) -> dict[str, Any]:
    """Write ``manifest_doc`` into ``folder`` as manifest.json, with ``files``: every other file
    of the folder, its size and sha256 (written last: the folder's contents are final), and
    ``append_only``: the review's records the folder may hold beside them (the audit trail,
    signatures and kept versions, carried across re-scores, never in ``files``); the manifest
    written."""
    from .._io.atomic import CARRIED_FILES, CARRIED_FOLDERS, file_listing

    doc = {k: v for k, v in manifest_doc.items() if k not in ("files", "append_only")}
    doc["files"] = {k: v for k, v in file_listing(folder).items() if k != MANIFEST}
    # assaykit review's records, carried across re-scores: checked by their own rules (assaykit verify)
    doc["append_only"] = [*CARRIED_FILES, *(f"{name}/" for name in CARRIED_FOLDERS)]
    write_atomic(folder / MANIFEST, (json.dumps(doc, indent=1, default=str) + "\n").encode())
    return doc


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of an output folder; AssayKitError when it is missing or unreadable."""
    from .._io.read import OUTPUT_LIMIT, read_input
    from ..errors import AssayKitError

    path = folder / MANIFEST
    if not os.path.lexists(path):
        raise AssayKitError("manifest not found: is this the output folder of `assaykit score`?", path)
    data = read_input(path, AssayKitError, "manifest", OUTPUT_LIMIT, links=False)  # never a FIFO or /dev/zero
    try:
        doc = json.loads(data.decode("utf-8"))
    except (RecursionError, ValueError) as exc:
        raise AssayKitError(f"cannot read the manifest ({type(exc).__name__})", path) from None
    if not isinstance(doc, dict):
        raise AssayKitError("the manifest is not a JSON object", path)
    return doc


ABC_UNIT = "AB/C"
"""The unit of a run calibrated with PE-molecule beads (QuantiBRITE: one PE per antibody)."""


def run_cell_unit(manifest: dict[str, Any]) -> str:
    """The unit of a scored run's calibrated cell values (samples.csv ``hladr_abc``), as its
    ``manifest`` records the calibration: ``AB/C`` for PE-molecule beads, else the lot's unit
    (MEFL, MEPE ...: :attr:`assaykit.beads.Calibration.cell_unit`); "" when it records none.

    Parameters
    ----------
    manifest : dict
        A scored run's manifest.
    """
    from ..beads import Calibration

    doc = manifest.get("calibration")
    if not isinstance(doc, dict) or not isinstance(doc.get("unit"), str):
        return ""
    return Calibration(slope=1.0, intercept=0.0, r_squared=1.0, unit=doc["unit"], channel="", peaks=(),
                       missing_values=(), findings=()).cell_unit  # the rule of Calibration.cell_unit


def not_abc_unit(unit: str) -> bool:
    """Whether values of ``unit`` (:func:`run_cell_unit`, or a ledger row's ``unit``) are known
    not to be AB/C: the one rule by which ``assaykit validate`` leaves such values out and
    ``assaykit export`` refuses such a run ("" is a run without calibration: no values at all).

    Parameters
    ----------
    unit : str
        The unit.
    """
    return bool(unit) and unit != ABC_UNIT


def recorded_run_dir(out_dir: Path, manifest: dict[str, Any], given: Path | None = None) -> Path:
    """The run folder of the scored output folder ``out_dir`` (``manifest``: its manifest):
    ``given`` (an option such as ``--run``) when named, else the manifest's ``run_dir``. Written
    absolute since issue 29; an older manifest's relative one (as typed, against the folder
    score ran in) is looked for against the current folder, the output folder's parent and
    its grandparent (score's default output is ``reports/<run>`` beside the run), and taken
    where the folder holds the run's input files. AssayKitError naming every path tried and
    ``--run`` when none does (or the manifest names no run folder).

    Parameters
    ----------
    out_dir : Path
        The scored output folder.
    manifest : dict
        Its manifest (:func:`read_manifest`).
    given : Path or None
        The run folder named by the user, taken as given.
    """
    from ..errors import AssayKitError

    if given is not None:
        return given
    recorded = manifest.get("run_dir")
    if not isinstance(recorded, str) or not recorded or "\0" in recorded:
        raise AssayKitError("the manifest names no run folder: name it with --run", out_dir / MANIFEST)
    path = Path(recorded)
    if path.is_absolute():
        return path
    inputs = [str(i.get("file")) for i in manifest.get("inputs") or [] if isinstance(i, dict) and i.get("file")]
    base = out_dir.absolute()
    tried = list(dict.fromkeys(b / path for b in (Path.cwd(), base.parent, base.parent.parent)))
    for candidate in tried:
        if candidate.is_dir() and all((candidate / name).is_file() for name in inputs):
            return candidate
    raise AssayKitError(f"the run folder the manifest records, {recorded!r} (relative to where score ran), is not "
                        f"found: tried {', '.join(str(t) for t in tried)}; name the run folder with --run",
                        out_dir / MANIFEST)


def verify_outputs(folder: Path) -> list[str]:
    """What is wrong with the output ``folder`` against its manifest's file list (empty: whole):
    a listed file missing, changed (size or sha256) or a file the manifest does not list."""
    from .._io.atomic import file_listing

    listed = read_manifest(folder).get("files")
    if not isinstance(listed, dict):
        return ["the manifest lists no files (written before assaykit recorded them)"]
    present = {k: v for k, v in file_listing(folder).items() if k != MANIFEST}
    from .._io.read import not_regular

    absent = sorted(set(listed) - set(present))  # or something else in its place: a FIFO, a device, a link
    problems = [f"{name}: {not_regular(folder / name, 'it', links=False)}" if os.path.lexists(folder / name)
                else f"{name}: missing" for name in absent]
    problems += [f"{name}: not listed in the manifest" for name in sorted(set(present) - set(listed))]
    problems += [f"{name}: changed since it was written" for name in sorted(set(listed) & set(present))
                 if present[name] != listed[name]]
    if any(p.is_symlink() for p in folder.rglob("*")):
        problems.append("the folder holds a symlink")
    return problems


SIGNATURES = "signatures.json"
"""The signatures of a reviewed run in its output folder (``assaykit review`` writes them)."""
MAX_SIGNATURES_BYTES = 4 * 1024 * 1024


def read_signatures(folder: Path) -> list[dict[str, Any]]:
    """The signatures recorded in ``folder``/signatures.json, oldest first ([] when there is
    none, or it cannot be read: the pages then say "not signed" and ``assaykit verify`` names
    the problem). Read here, below the report and the review, so that scoring refuses to replace
    a signed folder (:func:`refuse_signed`) by the same reading.

    Parameters
    ----------
    folder : Path
        The output folder.
    """
    return _load_signatures(folder)[0]


def signatures_problem(folder: Path) -> str:
    """Why ``folder``/signatures.json cannot be read as a list of signatures ("" when it can, or
    is absent): not JSON (cut short, edited), not ``{"signatures": [...]}``, an entry that is not
    a signature (a JSON object), too large, a link. The review then refuses to open (signing over
    it would lose the signatures it held) and ``assaykit verify`` names it.

    Parameters
    ----------
    folder : Path
        The output folder.
    """
    return _load_signatures(folder)[1]


def _load_signatures(folder: Path) -> tuple[list[dict[str, Any]], str]:
    """The signatures of ``folder`` (the readable ones) and why the file cannot be read whole ("")."""
    from .._io.read import read_input
    from ..errors import AssayKitError

    path = folder / SIGNATURES
    if not os.path.lexists(path):
        return [], ""
    try:
        doc = json.loads(read_input(path, AssayKitError, "signatures", MAX_SIGNATURES_BYTES, links=False))
    except AssayKitError as error:
        return [], error.message
    except (ValueError, RecursionError):
        return [], "not JSON: cut short or edited"
    found = doc.get("signatures") if isinstance(doc, dict) else None
    if not isinstance(found, list):
        return [], 'not {"signatures": [...]}'
    kept = [s for s in found if isinstance(s, dict)]
    return kept, "" if len(kept) == len(found) else f"{len(found) - len(kept)} of its entries are not signatures"


def current_signatures(folder: Path) -> list[dict[str, Any]]:
    """The signatures of ``folder`` not superseded (status other than "superseded").

    Parameters
    ----------
    folder : Path
        The output folder.
    """
    return [s for s in read_signatures(folder) if s.get("status") != "superseded"]


def refuse_signed(out_dir: Path, replace_signed: bool = False) -> None:
    """Refuse (AssayKitError, one line saying what to do) to replace the output folder
    ``out_dir`` while it holds signatures not superseded: replacing it would drop the signed
    tables (a signature is kept only with its version under ``versions/<n>``, which the review
    makes). ``replace_signed`` True: the caller keeps the signed version and records the
    supersede itself (``assaykit score`` does, through
    :func:`assaykit.review.signatures.rescoring_signed`).

    Parameters
    ----------
    out_dir : Path
        The output folder to be replaced.
    replace_signed : bool
        The caller keeps the signed version (the review's wrapper).
    """
    from ..errors import AssayKitError

    if replace_signed or not out_dir.is_dir() or not current_signatures(out_dir):
        return
    raise AssayKitError("this output folder holds signatures (assaykit review) that replacing it would drop: "
                        "score the run alone with `assaykit score RUN --out FOLDER` (the signed version kept under "
                        "versions/<n>, its signatures marked superseded), or from Python inside "
                        "assaykit.review.signatures.rescoring_signed(out, run) with score_run(..., "
                        "replace_signed=True)", out_dir)
