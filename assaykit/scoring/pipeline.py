"""``score_run``: a whole plate run to per-sample AB/C, per-drug restoration, per-patient state
and cohort statistics (docs/scoring.md).

Flow: plate map + TEXT keywords -> matched design (every problem at once) -> bead tube
calibrated -> blood tubes read, gated and measured in worker processes (each file's data read
once; a failing file becomes a row with its error) -> tables, written atomically.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..beads import Calibration, calibrate_file, lot_from_options
from ..errors import AssayKitError
from ..fcs import read_fcs, read_fcs_text
from ..fcs.text import acquisition_date
from ..gating import Strategy, load_strategy
from . import figure_data
from .options import RunOptions, load_run_yaml
from .platemap import Assignment, match_files, read_plate_map
from .restoration import immunosep_class, restoration, state
from .tables import SAMPLE_COLUMNS

FCS_SUFFIXES = (".fcs", ".lmd")


@dataclass(frozen=True)
class TubeResult:
    """What a worker returns for one blood tube (sample or isotype control). Counts are events;
    ``monocytes_pct`` is the readout population's share of its parent (%); ``hladr_mfi`` is the
    strategy's statistic (``hladr_statistic``: median or geometric_mean) of the readout marker
    on the readout population, in compensated scale units (MFI)."""

    path: Path
    sha256: str = ""
    events: int | None = None
    singlets: int | None = None  # the strategy's singlets population (None when it has none)
    monocytes: int | None = None  # the readout population
    monocytes_pct: float | None = None  # of the readout population's parent
    hladr_mfi: float | None = None
    hladr_statistic: str = ""
    channel: str = ""
    voltage: str = ""
    qc_flags: tuple[str, ...] = ()
    error: str = ""
    values: np.ndarray | None = field(default=None, repr=False)  # readout values, for % positive
    figure: dict[str, Any] | None = field(default=None, repr=False)  # gating panels + histogram (figure_data.py)


def measure_tube(path: Path, strategy: Strategy, figure: bool = True) -> TubeResult:
    """Read, gate and measure one blood tube (``path``) with ``strategy``; any AssayKitError
    becomes the result's error. With ``figure``, also the tube's figure data for the reports
    (figure_data.py)."""
    from ..gating import apply_strategy, measure, qc_flags
    from .figure_data import tube_figure

    try:
        sample = read_fcs(path)
    except AssayKitError as error:
        return TubeResult(path=path, error=error.message)
    try:
        result = apply_strategy(sample, strategy, "file")
        readout = measure(result, strategy)
        flags = tuple(qc_flags(result, strategy, readout))
    except AssayKitError as error:
        return TubeResult(path=path, sha256=sample.sha256, events=sample.n_events, error=error.message)
    names = {p.name: p for p in result.populations}
    population = names[readout.population]
    parent = result.count(population.parent) if population.parent in names else sample.n_events
    values = result.frame.scale(readout.marker)[result.masks[readout.population]]  # float64, as gate --isotype
    return TubeResult(
        path=path, sha256=sample.sha256, events=sample.n_events,
        singlets=names[strategy.singlets].count if strategy.singlets else None,
        monocytes=population.count, monocytes_pct=100.0 * population.count / parent if parent else None,
        hladr_mfi=readout.value, hladr_statistic=readout.statistic, channel=readout.channel,
        voltage=sample.voltage(result.frame.channels[readout.marker]), qc_flags=flags, values=values,
        figure=tube_figure(result, values) if figure else None)


def _measure_task(task: tuple[Path, Strategy, bool]) -> TubeResult:
    return measure_tube(*task)


def _run_tubes(tasks: list[tuple[Path, Strategy, bool]], jobs: int,
               progress: Callable[[TubeResult], None]) -> dict[Path, TubeResult]:
    from .._workers import map_in_workers

    results: dict[Path, TubeResult] = {}
    for outcome in map_in_workers(_measure_task, tasks, jobs):
        results[outcome.path] = outcome
        progress(outcome)
    return results


# --- options -------------------------------------------------------------------------------------


def resolve_options(run_dir: Path, overrides: dict[str, Any]) -> RunOptions:
    """run.yaml values, then non-None ``overrides`` (the command line) on top."""
    values = load_run_yaml(run_dir)
    values.update({k: v for k, v in overrides.items() if v is not None})
    if "lot" in overrides and overrides["lot"] is not None:
        values.pop("bead_values", None)
    elif overrides.get("bead_values") is not None:
        values.pop("lot", None)
    return RunOptions(**values)


def run_files(run_dir: Path) -> list[Path]:
    """The FCS files of a run folder (top level, sorted by name)."""
    return sorted(p for p in run_dir.iterdir() if p.is_file() and p.suffix.lower() in FCS_SUFFIXES
                  and not p.name.startswith("."))


def read_clinical(path: Path) -> dict[tuple[str, str], float]:
    """Ferritin per (patient, timepoint) from a CSV with ``patient``, optional ``timepoint``,
    ``ferritin_ng_ml`` (timepoint "" applies to every time point of the patient)."""
    import pandas as pd

    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except FileNotFoundError:
        raise AssayKitError("clinical file not found", path) from None
    except Exception as exc:
        raise AssayKitError(f"cannot read the clinical CSV ({type(exc).__name__})", path) from None
    table.columns = [str(c).strip().lower() for c in table.columns]
    missing = [c for c in ("patient", "ferritin_ng_ml") if c not in table.columns]
    if missing:
        raise AssayKitError(f"missing column(s) {', '.join(missing)}", path)
    out: dict[tuple[str, str], float] = {}
    problems = []
    for i, record in enumerate(table.to_dict("records")):
        try:
            value = float(record["ferritin_ng_ml"])
        except ValueError:
            problems.append(f"row {i + 2}: ferritin_ng_ml {record['ferritin_ng_ml']!r} is not a number")
            continue
        out[(record["patient"].strip(), record.get("timepoint", "").strip())] = value
    if problems:
        raise AssayKitError("; ".join(problems), path)
    return out


# --- the run ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreResult:
    """The tables of a scored run (pandas DataFrames) and where they were written."""

    samples: Any
    calibration: Any
    restoration: Any
    patients: Any
    cohort: Any
    manifest: dict[str, Any]
    out_dir: Path | None
    n_failed: int

    @property
    def exit_code(self) -> int:
        return 1 if self.n_failed else 0


def score_run(run_dir: str | os.PathLike[str], *, out: str | os.PathLike[str] | None = None, write: bool = True,
              progress: Callable[[int, int, str], None] | None = None, **overrides: Any) -> ScoreResult:
    """Score a run folder.

    ``run_dir`` is the folder of FCS files, plate map and optional run.yaml. ``overrides`` are
    RunOptions fields (plate_map, strategy, lot, bead_values, bead_unit, clinical, control, jobs,
    thresholds, responder) over run.yaml. Writes the tables and figure data to ``out`` (default
    ``reports/<run name>``) unless ``write`` is False; the HTML/PDF pages are drawn from them by
    :func:`assaykit.report.build_reports` (``assaykit score`` does both). ``progress(done,
    total, name)`` is called after every tube. Raises AssayKitError for usage errors (plate
    map, lot, strategy); a file that fails is a row."""
    from . import tables

    started = time.time()
    folder = Path(run_dir)
    if not folder.is_dir():
        raise AssayKitError("run folder not found", folder)
    options = resolve_options(folder, {**overrides, "out": Path(out) if out is not None else None})
    plate = read_plate_map(options.plate_map or folder / "plate_map.csv")
    strategy = load_strategy(options.strategy)
    lot = lot_from_options(options.lot, options.bead_values, options.bead_unit)
    clinical = read_clinical(options.clinical) if options.clinical is not None else {}
    files = run_files(folder)
    keywords = {}
    unreadable: dict[Path, str] = {}
    for f in files:
        try:
            keywords[f] = read_fcs_text(f)
        except AssayKitError as error:
            keywords[f] = {}
            unreadable[f] = error.message
    assignments = match_files(plate, files, keywords, options.control)
    jobs = options.jobs or os.cpu_count() or 1
    timings = {"setup": time.time() - started}

    beads = [a for a in assignments if a.row.role == "beads"]
    calibration, bead_error, bead_figure = None, "", None
    try:
        bead_run = calibrate_file(beads[0].path, lot)
        calibration, bead_figure = bead_run.calibration, figure_data.bead_figure(bead_run)
    except AssayKitError as error:
        bead_error = error.message
    timings["calibration"] = time.time() - started - sum(timings.values())
    blood = [a for a in assignments if a.row.role in ("sample", "isotype")]
    done = [0]
    total = len(blood)

    def tick(outcome: TubeResult) -> None:
        done[0] += 1
        if progress is not None:
            progress(done[0], total, outcome.path.name + (f": {outcome.error}" if outcome.error else ""))

    outcomes = _run_tubes([(a.path, strategy, write) for a in blood], jobs, tick)  # figure data only to write
    timings["tubes"] = time.time() - started - sum(timings.values())
    samples = _sample_rows(assignments, outcomes, calibration, bead_error, unreadable,
                           {f: acquisition_date(k) for f, k in keywords.items()})
    restoration_rows, patient_rows = _restoration_rows(samples, options, clinical)
    from .cohort import drug_statistics

    pairs: dict[str, list[tuple[float, float]]] = {}
    for r in restoration_rows:
        if r["control_abc"] is not None and r["abc"] is not None:
            pairs.setdefault(r["condition"], []).append((r["control_abc"], r["abc"]))
    cohort = drug_statistics(pairs)
    n_failed = sum(1 for s in samples if s["error"])
    frames = tables.frames(samples, calibration, bead_error, restoration_rows, patient_rows, cohort)
    out_dir = Path(options.out) if options.out is not None else Path("reports") / folder.resolve().name
    manifest = tables.manifest(folder, plate, strategy, lot, options, assignments, calibration, samples,
                               started, time.time(), jobs, clinical_path=options.clinical)
    timings["tables"] = time.time() - started - sum(timings.values())
    manifest["timings_s"] = {k: round(v, 3) for k, v in timings.items()}
    if write:
        tables.write(out_dir, frames, manifest)
        figure_data.write(out_dir, {p.name: o.figure for p, o in sorted(outcomes.items()) if o.figure is not None},
                          bead_figure)
    return ScoreResult(frames["samples"], frames["calibration"], frames["restoration"], frames["patients"],
                       frames["cohort"], manifest, out_dir if write else None, n_failed)


def _sample_rows(assignments: list[Assignment], outcomes: dict[Path, TubeResult], calibration: Calibration | None,
                 bead_error: str, unreadable: dict[Path, str], acquired: dict[Path, str]) -> list[dict[str, Any]]:
    from ..gating.readout import isotype_cut, percent_above
    from .quantify import calibrated_value

    cuts: dict[tuple[str, str], float] = {}
    for a in assignments:
        o = outcomes.get(a.path)
        cut = isotype_cut(o.values) if a.row.role == "isotype" and o is not None and o.values is not None else None
        if cut is not None:
            cuts[(a.row.patient, a.row.timepoint)] = cut
    rows = []
    for a in assignments:
        row = a.row
        base = {"file": a.path.name, "sha256": "", "well": row.well, "patient": row.patient,
                "timepoint": row.timepoint, "condition": row.condition, "role": row.role, "matched_by": a.matched_by,
                "acquisition_date": acquired.get(a.path, ""), "events": None, "singlets": None, "monocytes": None,
                "monocytes_pct": None,
                "hladr_mfi": None, "hladr_statistic": "", "hladr_abc": None, "hladr_pos_pct": None, "qc_flags": (),
                "error": "",
                **{f"plate_{k}" if k in _RESERVED else k: v for k, v in row.extra.items()}}
        if row.role == "beads":
            if calibration is not None:
                base.update(sha256=calibration.file_sha256, events=calibration.n_events,
                            qc_flags=calibration.qc_flags)
            base["error"] = bead_error
        elif row.role == "blank":
            base["error"] = unreadable.get(a.path, "")
        else:
            o = outcomes[a.path]
            flags = list(o.qc_flags)
            abc = None
            if not o.error:
                if calibration is None:
                    flags.append("no AB/C: the bead tube could not be calibrated")
                else:
                    abc, extra = calibrated_value(o.hladr_mfi, calibration, o.channel, o.voltage)
                    flags.extend(extra)
            cut = cuts.get((row.patient, row.timepoint))
            pos = percent_above(o.values, cut) if cut is not None and o.values is not None else None
            base.update(sha256=o.sha256, events=o.events, singlets=o.singlets, monocytes=o.monocytes,
                        monocytes_pct=o.monocytes_pct, hladr_mfi=o.hladr_mfi, hladr_statistic=o.hladr_statistic,
                        hladr_abc=abc,
                        hladr_pos_pct=pos, qc_flags=tuple(flags), error=o.error)
        rows.append(base)
    return rows


_RESERVED = set(SAMPLE_COLUMNS)


def _restoration_rows(samples: list[dict[str, Any]], options: RunOptions,
                      clinical: dict[tuple[str, str], float]) -> tuple[list[dict], list[dict]]:
    thresholds, rule, control = options.thresholds, options.responder, options.control
    groups: dict[tuple[str, str], list[dict]] = {}
    for s in samples:
        if s["role"] == "sample":
            groups.setdefault((s["patient"], s["timepoint"]), []).append(s)
    rows, patients = [], []
    for (patient, timepoint), members in groups.items():
        ctrl = next(s for s in members if s["condition"] == control)
        control_abc = ctrl["hladr_abc"]
        ferritin = clinical.get((patient, timepoint), clinical.get((patient, "")))
        klass, why = immunosep_class(ferritin, control_abc, thresholds) if clinical else ("", "")
        drug_rows = []
        for s in members:
            if s is ctrl:
                continue
            flags = []
            if ctrl["error"] or control_abc is None:
                flags.append(f"control {ctrl['file']} has no AB/C" + (f" ({ctrl['error']})" if ctrl["error"] else ""))
            if s["error"] or s["hladr_abc"] is None:
                flags.append(f"{s['file']} has no AB/C" + (f" ({s['error']})" if s["error"] else ""))
            flags += [f"control: {f}" for f in ctrl["qc_flags"]] + [f"drug: {f}" for f in s["qc_flags"]]
            row = {"patient": patient, "timepoint": timepoint, "condition": s["condition"],
                   "control_file": ctrl["file"], "file": s["file"], "control_abc": control_abc, "abc": s["hladr_abc"],
                   "fold_change": None, "log2_fold_change": None, "delta_abc": None, "gap_closed": None,
                   "state_control": state(control_abc, thresholds), "state_drug": state(s["hladr_abc"], thresholds),
                   "responder": None, "immunosep_class": klass, "qc_flags": tuple(flags)}
            if control_abc and s["hladr_abc"] and control_abc > 0 and s["hladr_abc"] > 0:
                r = restoration(control_abc, s["hladr_abc"], thresholds, rule)
                row.update(fold_change=r.fold_change, log2_fold_change=r.log2_fold_change, delta_abc=r.delta_abc,
                           gap_closed=r.gap_closed, responder=r.responder)
            drug_rows.append(row)
        rows.extend(drug_rows)
        scored = [r for r in drug_rows if r["fold_change"] is not None]
        best = max(scored, key=lambda r: r["fold_change"]) if scored else None
        patients.append({
            "patient": patient, "timepoint": timepoint, "control_abc": control_abc,
            "state": state(control_abc, thresholds), "ferritin_ng_ml": ferritin, "immunosep_class": klass,
            "immunosep_rule": why,
            "responders": ";".join(r["condition"] for r in drug_rows if r["responder"]),
            "best_condition": best["condition"] if best else "",
            "best_fold_change": best["fold_change"] if best else None,
            "qc_flags": tuple(f"{ctrl['file']}: {f}" for f in (*ctrl["qc_flags"], ctrl["error"]) if f),
        })
    return rows, patients
