"""``score_run``: a whole plate run to per-sample AB/C, per-drug restoration, per-patient state
and cohort statistics (docs/scoring.md).

Flow: plate map + TEXT keywords -> matched design (every problem at once) -> bead tube
calibrated -> blood tubes read, gated and measured in worker processes (:mod:`.tube`, sent
through :mod:`.executors`; each file's data read once; a failing file becomes a row with its
error) -> tables, written atomically.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..beads import Calibration, calibrate_sample, lot_from_options
from ..errors import AssayKitError
from ..fcs import read_fcs_text
from ..fcs.text import acquisition_date
from ..findings import FindingCode, finding
from ..gating import Strategy, load_strategy
from . import figure_data
from .clinical import Clinical, load_clinical
from .cohort import drug_pairs, drug_statistics
from .options import RunOptions, load_run_yaml
from .platemap import BLOOD_ROLES, Assignment, match_files, read_plate_map
from .restoration import pair_with_controls
from .rows import PatientRow, RestorationRow, SampleRow
from .tube import TubeResult, TubeTask
from .verdicts import CalibrationVerdict, RunVerdicts

if TYPE_CHECKING:
    from .overrides import TubeOverride

FCS_SUFFIXES = (".fcs", ".lmd")


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


def _check_lot_source(run_dir: Path, options: RunOptions, overrides: dict[str, Any]) -> None:
    """The bead lot given exactly once, else an AssayKitError naming where it was given: the
    command line's --lot/--bead-values, or run.yaml's lot:/bead_values: (naming the file)."""
    if overrides.get("lot") is not None and overrides.get("bead_values") is not None:
        raise AssayKitError("give the bead lot as either --lot FILE or --bead-values V1,V2,..., not both")
    yaml = run_dir / "run.yaml"
    if options.lot is not None and options.bead_values is not None:  # both from run.yaml (an option replaces it)
        raise AssayKitError("both lot: and bead_values: given; keep one (or give --lot or --bead-values)", yaml)
    if options.lot is None and options.bead_values is None:
        if yaml.exists():
            raise AssayKitError("no bead lot: neither lot: FILE nor bead_values: [V1, V2, ...] here, nor --lot or "
                                "--bead-values on the command line (`assaykit docs scoring`)", yaml)
        raise AssayKitError("no bead lot: give --lot FILE or --bead-values V1,V2,..., or lot: / bead_values: in the "
                            "folder's run.yaml (`assaykit docs scoring`)", run_dir)


def run_files(run_dir: Path) -> list[Path]:
    """The FCS files of a run folder (top level, sorted by name): every entry named so but a
    hidden one, whatever it is (a FIFO, device, folder or broken link named ``*.fcs`` is a tube
    whose row says what it is, not a file "not found")."""
    return sorted(p for p in run_dir.iterdir() if p.suffix.lower() in FCS_SUFFIXES and not p.name.startswith("."))


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
    ledger_error: str = ""  # why the ledger could not be read or written ("" when it was, or none is used)
    qc_status: str = "not evaluated"  # QC over time: in control, warning, rejected, establishing, not evaluated
    qc_reason: str = ""
    recorded: Any = None  # ledger.Recorded, when the run was recorded
    verdicts: RunVerdicts | None = None  # the run's values by verdict (scoring.verdicts)
    calibration_verdict: CalibrationVerdict | None = None
    replaced: bool = False  # the outputs replaced an earlier output folder at out_dir

    @property
    def n_withheld(self) -> int:
        """Values withheld (blood tubes), and the calibration when it is withheld."""
        withheld = self.verdicts.withheld if self.verdicts is not None else 0
        calibration = self.calibration_verdict is not None and self.calibration_verdict.status == "withheld"
        return withheld + int(calibration)

    @property
    def exit_code(self) -> int:
        """0 when every value is reportable; 1 when a file failed, a value or the calibration is
        withheld, QC over time rejects the run or the ledger failed."""
        return 1 if (self.n_failed or self.n_withheld or self.ledger_error or self.qc_status == "rejected") else 0


@dataclass(frozen=True)
class RunInputs:
    """Everything a run is scored from, read and checked before any tube is measured: the
    options (run.yaml + overrides), plate map, strategy, bead lot, clinical values, the plate-map
    rows matched to the folder's files, and per file its acquisition date (or why its TEXT
    could not be read)."""

    folder: Path
    options: RunOptions
    plate: Any
    strategy: Strategy
    lot: Any
    clinical: Clinical
    assignments: list[Assignment]
    acquired: dict[Path, str]
    unreadable: dict[Path, str]
    jobs: int
    out_dir: Path
    overrides: dict[Path, TubeOverride] = field(default_factory=dict)  # tube -> its gate set by hand
    instruments: dict[Path, tuple[str, str]] = field(default_factory=dict)  # file -> ($CYT, $CYTNUM)
    qc_targets: tuple[dict[str, Any], ...] = ()  # established QC targets (history.read_targets)
    replaces: bool = False  # out_dir holds an earlier output folder, which the run's outputs replace
    replace_signed: bool = False  # the caller keeps a signed out_dir's version (tables.refuse_signed)


def output_folder(run_dir: Path, options: RunOptions) -> Path:
    """Where ``score`` writes the run folder ``run_dir``'s outputs: ``options.out`` (--out or
    run.yaml ``out:``), else ``reports/<run folder's name>``.

    Parameters
    ----------
    run_dir : Path
        The run folder.
    options : RunOptions
        Its resolved options (:func:`resolve_options`).
    """
    return Path(options.out) if options.out is not None else Path("reports") / run_dir.resolve().name


def load_inputs(run_dir: str | os.PathLike[str], out: str | os.PathLike[str] | None = None,
                use_default_ledger: bool = False, write: bool = True, replace_signed: bool = False,
                **overrides: Any) -> RunInputs:
    """Read a run folder's inputs (see :class:`RunInputs`); ``overrides`` as for :func:`score_run`.
    Raises AssayKitError for usage errors (plate map, lot, strategy, clinical file) and for an
    output folder or ledger that may not be written (:func:`check_outputs`; ``write`` False: the
    run's outputs will not be written, and only :func:`check_out_dir` applies): all before any
    tube is measured; an output folder holding signatures is refused unless ``replace_signed``
    (:func:`.tables.refuse_signed`)."""
    folder = Path(run_dir)
    if not folder.is_dir():
        raise AssayKitError("run folder not found", folder)
    options = resolve_options(folder, {**overrides, "out": Path(out) if out is not None else None})
    plate = read_plate_map(options.plate_map or folder / "plate_map.csv", options.plate_map_sheet)
    strategy = load_strategy(options.strategy)
    if options.specimen is not None:
        strategy = replace(strategy, specimen=options.specimen)
    _check_lot_source(folder, options, overrides)
    from_file = overrides.get("bead_values") is None and options.bead_values is not None
    lot = lot_from_options(options.lot, options.bead_values, options.bead_unit,
                           "bead_values" if from_file else "--bead-values", folder / "run.yaml" if from_file else None)
    clinical = load_clinical(options.clinical, plate)
    targets: tuple[dict[str, Any], ...] = ()
    if options.qc_targets is not None:
        from .history import read_targets

        targets = tuple(read_targets(options.qc_targets))
    if options.compensation is not None:  # read by each tube's worker: a FIFO or device refused here, once
        from .._io.read import not_regular

        problem = not_regular(options.compensation, "compensation file")
        if problem is not None:
            raise AssayKitError(problem, options.compensation)
    files = run_files(folder)
    keywords: dict[Path, Any] = {}
    unreadable: dict[Path, str] = {}
    for f in files:
        try:
            keywords[f] = read_fcs_text(f)
        except AssayKitError as error:
            keywords[f] = {}
            unreadable[f] = error.message
    out_dir = output_folder(folder, options)
    replaces = check_outputs(folder, out_dir, options.ledger, use_default_ledger, replace_signed) if write else False
    if not write:
        check_out_dir(folder, out_dir)
    assignments = match_files(plate, files, keywords, options.control)
    gate_overrides: dict[Path, TubeOverride] = {}
    if options.gate_overrides:
        from .overrides import resolve_overrides

        gate_overrides = resolve_overrides(options.gate_overrides, assignments, strategy, folder / "run.yaml")
    return RunInputs(
        folder=folder, options=options, plate=plate, strategy=strategy, lot=lot, clinical=clinical,
        assignments=assignments, acquired={f: acquisition_date(k) for f, k in keywords.items()},
        unreadable=unreadable, jobs=options.jobs or os.cpu_count() or 1, out_dir=out_dir, overrides=gate_overrides,
        instruments={f: (str(k.get("$CYT", "")).strip(), str(k.get("$CYTNUM", "")).strip())
                     for f, k in keywords.items()},
        qc_targets=targets, replaces=replaces, replace_signed=replace_signed)


def check_outputs(run_dir: Path, out_dir: Path, ledger: str | None, use_default_ledger: bool,
                  replace_signed: bool = False) -> bool:
    """Decide, before any tube is measured, where a run writes (AssayKitError, nothing made,
    when it may not): the output folder is not the run folder's (:func:`check_out_dir`) and may
    be replaced (:func:`assaykit._io.atomic.check_output_folder`: nothing of a user's in it,
    nothing read-only, its parent writable, no other writer), and the ledger file does not lie
    inside it (the folder is replaced whole by every run), and it holds no signature not
    superseded unless ``replace_signed`` (:func:`.tables.refuse_signed`: the review's wrapper keeps
    the signed version). True when an earlier output folder will be replaced."""
    from .._io.atomic import RUN_KIND, check_output_folder
    from .tables import refuse_signed

    check_out_dir(run_dir, out_dir)
    replaces = check_output_folder(out_dir, kind=RUN_KIND)
    refuse_signed(out_dir, replace_signed)
    other = other_run(out_dir, run_dir) if replaces else None
    if other is not None:
        raise AssayKitError(f"the output folder holds the outputs of another run ({other}), not of "
                            f"{run_dir}: a run never replaces another's outputs; name another --out, "
                            "or move that folder away", out_dir)
    check_ledger_outside(out_dir, ledger, use_default_ledger)
    return replaces


LEDGER_SUFFIXES = (".sqlite", ".sqlite3", ".db")
"""The names of a SQLite ledger file: an existing empty file named otherwise is a user's (a
ledger option that names a notes file by mistake), never made into a database."""


def check_ledger_file(path: Path) -> None:
    """AssayKitError, before any work, when the SQLite ledger ``path`` is an existing empty file
    not named like a ledger (:data:`LEDGER_SUFFIXES`): SQLite would make a database of it, and it
    is a user's file (a new file, or an existing ledger, is used)."""
    try:
        empty = path.is_file() and path.stat().st_size == 0
        names = {path.suffix.lower(), path.resolve().suffix.lower()}  # a link's name and its file's
    except (OSError, ValueError, RuntimeError):
        return
    if empty and not names <= set(LEDGER_SUFFIXES):
        raise AssayKitError(f"the ledger is an empty file not named like a ledger ({', '.join(LEDGER_SUFFIXES)}): "
                            "it is never made into a database; name a ledger file, or remove this one", path)


def other_run(out_dir: Path, run_dir: Path) -> str | None:
    """The run folder (as its manifest records it) whose outputs the existing output folder
    ``out_dir`` holds, when that is provably another folder than ``run_dir`` (it exists and is
    not the same folder); None otherwise (no such folder, no manifest, or the run moved away,
    which cannot be told from a new one)."""
    import json

    from .._io.read import OUTPUT_LIMIT, read_input

    try:
        doc = json.loads(read_input(out_dir / "manifest.json", AssayKitError, "manifest.json", OUTPUT_LIMIT,
                                    links=False))
    except (AssayKitError, ValueError, RecursionError, OSError):
        return None
    from .tables import recorded_run_dir

    if not isinstance(doc, dict) or "kind" in doc:
        return None
    try:  # an older manifest's relative run_dir: looked for as compare looks for it, never against this folder alone
        recorded = recorded_run_dir(out_dir, doc)
        if not recorded.is_dir() or os.path.samefile(recorded, run_dir):
            return None
    except (AssayKitError, OSError, ValueError):
        return None
    return str(recorded)


def check_ledger_outside(out_dir: Path, ledger: str | None, use_default_ledger: bool) -> None:
    """AssayKitError when the ledger a run records into (``ledger``: the option or run.yaml's;
    with ``use_default_ledger``, ``ASSAYKIT_LEDGER`` too) is a file at or inside the output
    folder ``out_dir``, which every run replaces whole (the default ledger lies beside it)."""
    from .history import ledger_target

    text = ledger_target(ledger, out_dir, use_default_ledger, create=False) or ""
    if not text or ("://" in text and not text.lower().startswith("sqlite://")):
        return
    path = Path(text.split("://", 1)[1].removeprefix("/") if "://" in text else text).expanduser()
    check_ledger_file(path)
    try:
        place, out = path.resolve(), out_dir.resolve()
    except (OSError, RuntimeError):
        return
    if place == out or out in place.parents:
        raise AssayKitError(f"the ledger {path} lies inside the output folder, which every run replaces whole: "
                            "keep the ledger outside it (default: beside it)", out_dir)


def check_out_dir(run_dir: Path, out_dir: Path) -> None:
    """Refuse (AssayKitError) an output folder ``out_dir`` that is, contains or lies inside the
    run folder ``run_dir``: a run's inputs are never written, and its outputs are replaced as one
    folder."""
    run, out = run_dir.resolve(), out_dir.resolve()
    if out == run or run in out.parents or out in run.parents:
        where = "is" if out == run else "lies inside" if run in out.parents else "contains"
        raise AssayKitError(f"the output folder {where} the run folder {run_dir}: outputs may never be written "
                            "over a run's inputs; choose another --out", out_dir)


@dataclass(frozen=True)
class BeadOutcome:
    """The run's bead tube: its calibration (None when it failed, with ``error``) and figure data."""

    calibration: Calibration | None
    error: str = ""
    figure: dict[str, Any] | None = None
    code: FindingCode | None = None  # why it failed, as a finding code (peaks_not_resolved, cells_not_beads ...)
    data_sha256: str = ""  # of the bead file's DATA segment (verdicts.content_digest), when it was read
    file_sha256: str = ""  # of the bead file, when it was read (calibrated or not)


def calibrate_run(inputs: RunInputs) -> BeadOutcome:
    """Calibrate the run's bead tube with its lot (its findings with the verdict's own checks,
    :func:`.verdicts.with_verdict_findings`); a failure is the outcome's error and code. The
    file's SHA-256 and DATA digest are kept whenever it could be read, calibrated or not: a
    blood tube copied over the bead tube is a duplicate of that blood tube."""
    from ..fcs import read_fcs
    from .verdicts import content_digest, with_verdict_findings

    beads = [a for a in inputs.assignments if a.row.role == "beads"]
    try:
        sample = read_fcs(beads[0].path)
    except AssayKitError as error:
        return BeadOutcome(calibration=None, error=error.message, code=getattr(error, "code", None))
    data_sha256, file_sha256 = content_digest(sample), sample.sha256
    try:
        bead_run = calibrate_sample(sample, inputs.lot)
    except AssayKitError as error:
        return BeadOutcome(calibration=None, error=error.message, code=getattr(error, "code", None),
                           data_sha256=data_sha256, file_sha256=file_sha256)
    return BeadOutcome(calibration=with_verdict_findings(bead_run.calibration, inputs.lot),
                       figure=figure_data.bead_figure(bead_run), data_sha256=data_sha256, file_sha256=file_sha256)


def tube_tasks(inputs: RunInputs, figure: bool = True) -> list[TubeTask]:
    """The run's blood tubes (samples, isotype and control bloods) as measuring tasks: each its
    file path, strategy (a tube's own when its gate is set by hand), whether to keep figure data,
    and the run's compensation file."""
    compensation = inputs.options.compensation

    def strategy(path: Path) -> Strategy:
        return inputs.overrides[path].strategy if path in inputs.overrides else inputs.strategy

    return [TubeTask(path=a.path, strategy=strategy(a.path), figure=figure, compensation=compensation)
            for a in inputs.assignments if a.row.role in BLOOD_ROLES]


def measure_tubes(inputs: RunInputs, figure: bool = True, progress: Callable[[int, int, str], None] | None = None,
                  executor: Any = None, after_tubes: Callable[[], Any] | None = None) -> dict[Path, TubeResult]:
    """Every blood tube gated and measured by ``executor`` (default: ``inputs.jobs`` local
    worker processes); ``figure``: keep each tube's figure data; ``progress(done, total, name)``
    after each tube; ``after_tubes()``: imports what follows the tubes, run in a background
    thread of this process while local workers measure (:func:`assaykit._workers.warm_in_background`)."""
    from .._workers import warm_in_background
    from .executors import LocalExecutor

    tasks = tube_tasks(inputs, figure)
    runner = executor if executor is not None else LocalExecutor(inputs.jobs)
    results: dict[Path, TubeResult] = {}
    warming = None
    for outcome in runner.map(tasks):
        results[outcome.path] = outcome
        if warming is None and after_tubes is not None and isinstance(runner, LocalExecutor) and runner.jobs > 1:
            warming = warm_in_background(after_tubes)  # the workers are forked by now: nothing forks meanwhile
        if progress is not None:
            progress(len(results), len(tasks), outcome.path.name + (f": {outcome.error}" if outcome.error else ""))
    if warming is not None:
        warming.join()  # before anything forks again (the pages' workers)
    return results


class PhaseTimer:
    """Seconds spent in each phase of a run, for the manifest (``timings_s``): started when
    made; :meth:`mark` ends a phase."""

    def __init__(self) -> None:
        self.started = time.time()
        self._last = self.started
        self.seconds: dict[str, float] = {}

    def mark(self, phase: str) -> None:
        """End the phase named ``phase``: the seconds since the previous mark (or the start)."""
        now = time.time()
        self.seconds[phase] = now - self._last
        self._last = now


def score_run(run_dir: str | os.PathLike[str], *, out: str | os.PathLike[str] | None = None, write: bool = True,
              progress: Callable[[int, int, str], None] | None = None,
              pages: Callable[[Path], Any] | None = None, use_default_ledger: bool = False,
              executor: Any = None, prepare_pages: Callable[[], Any] | None = None, replace_signed: bool = False,
              **overrides: Any) -> ScoreResult:
    """Score a run folder.

    ``run_dir`` is the folder of FCS files, plate map and optional run.yaml. ``overrides`` are
    RunOptions fields (plate_map, strategy, lot, bead_values, bead_unit, clinical, control, jobs,
    thresholds, responder) over run.yaml. Writes the tables and figure data to ``out`` (default
    ``reports/<run name>``) unless ``write`` is False; the HTML/PDF pages are drawn from them by
    :func:`assaykit.report.build_reports` (``assaykit score`` does both). ``progress(done,
    total, name)`` is called after every tube. Raises AssayKitError for usage errors (plate
    map, lot, strategy); a file that fails is a row. The output folder is replaced as one unit
    (tables, figure data, manifest); ``pages(staging_folder)``, when given, draws more files into
    it before it is swapped in (the score command's reports:
    :func:`assaykit.report.render_reports`).

    The ledger (docs/ledger.md): the ``ledger`` option (a file or URL; run.yaml ``ledger:``)
    records the written run; with ``use_default_ledger`` (the CLI), ``ASSAYKIT_LEDGER`` or
    ``assaykit-ledger.sqlite`` beside the output folder when none is named. Its QC history judges
    the run (Westgard), its earlier time points of the run's patients go into trajectories.csv. A
    ledger that fails is ``ledger_error`` (exit code 1); the run's outputs are written all the same.
    ``executor``: where the tubes are measured (:mod:`.executors`; default: local worker processes);
    ``prepare_pages()``: what ``pages`` imports first, done (with the cohort statistics' SciPy) while
    local workers measure the tubes.

    A signed output folder (``assaykit review``: signatures.json with a signature not superseded)
    is never replaced silently: refused (AssayKitError naming what to do) unless ``replace_signed``
    is True, which the caller passes when it keeps the signed version and records the supersede
    (:func:`assaykit.review.signatures.rescoring_signed`, as ``assaykit score`` does)."""
    timer = PhaseTimer()
    inputs = load_inputs(run_dir, out, use_default_ledger=use_default_ledger, write=write,
                         replace_signed=replace_signed, **overrides)
    timer.mark("setup")
    beads = calibrate_run(inputs)
    timer.mark("calibration")
    after = partial(_prepare_rest, prepare_pages) if pages is not None and prepare_pages is not None else None
    outcomes = measure_tubes(inputs, figure=write, progress=progress, executor=executor,  # figure data to write
                             after_tubes=after)
    timer.mark("tubes")
    return finish_run(inputs, beads, outcomes, timer, write=write, pages=pages, use_default_ledger=use_default_ledger)


def _prepare_rest(prepare_pages: Callable[[], Any]) -> None:
    """The imports of what follows the tubes: the cohort statistics (SciPy) and the pages'."""
    import scipy.stats  # noqa: F401

    prepare_pages()


def finish_run(inputs: RunInputs, beads: BeadOutcome, outcomes: dict[Path, TubeResult], timer: PhaseTimer, *,
               write: bool = True, pages: Callable[[Path], Any] | None = None,
               use_default_ledger: bool = False) -> ScoreResult:
    """What follows the tubes of a run (:func:`score_run`): rows, restoration, the ledger, the
    tables and figure data written as one unit (with ``pages``), the run recorded."""
    from . import history, tables, verdicts

    if write:  # decided again (the folder may have changed while the tubes were measured), before the ledger
        from .._io.atomic import RUN_KIND, check_output_folder
        from .tables import refuse_signed

        check_output_folder(inputs.out_dir, kind=RUN_KIND)
        refuse_signed(inputs.out_dir, inputs.replace_signed)  # signed while the tubes were measured
    options = inputs.options
    samples = _sample_rows(inputs, outcomes, beads)
    bead_file = next((s.file for s in samples if s.role == "beads"), "")
    contents = {p.name: o.data_sha256 for p, o in outcomes.items() if o.data_sha256}
    if bead_file and beads.data_sha256:
        contents[bead_file] = beads.data_sha256
    duplicates = verdicts.duplicate_findings(samples, contents)
    calibration_verdict = verdicts.judge_calibration(
        beads.calibration, inputs.lot, error=beads.error, error_code=beads.code,
        extra=[duplicates[bead_file]] if bead_file in duplicates else [], accepted=options.accept_calibration)
    samples = verdicts.mark_rows(samples, duplicates, calibration_verdict)
    samples = history.with_days(samples, inputs.clinical, options.preanalytic_limit_h)
    limit = options.replicate_cv_limit_pct
    judge = partial(verdicts.judge_tubes, replicate_cv_limit_pct=limit,
                              decision_abc=options.thresholds.decision_abc(),
                              replicate_cv_withhold_pct=options.replicate_cv_withhold_pct)
    samples = judge(samples, calibration_verdict)  # QC over time sees reportable values only
    plan = history.before_writing(
        target=history.ledger_target(options.ledger, inputs.out_dir, use_default_ledger) if write else None,
        folder=inputs.folder, samples=samples, calibration=beads.calibration, lot=inputs.lot,
        targets=inputs.qc_targets, baseline_runs=options.qc_baseline_runs, scored_at=_utc(timer.started),
        software=tables.version(), calibration_verdict=calibration_verdict)
    timer.mark("ledger")
    samples = history.elsewhere_flags(samples, plan.view)
    flag = history.qc_flag(plan.status, plan.reason)
    samples = judge(samples, calibration_verdict, [flag] if flag is not None else [])
    run_verdicts = verdicts.run_verdicts(samples)
    restoration_rows, patient_rows = _days(*pair_with_controls(samples, options.control, options.thresholds,
                                                                options.responder, inputs.clinical.ferritin),
                                           samples)
    samples = history.flag_rows(samples, flag)
    restoration_rows = history.flag_rows(restoration_rows, flag)
    patient_rows = history.flag_rows(patient_rows, flag)
    run = {"run_name": plan.run["run_name"], "acquired_on": plan.run["acquired_on"], "qc_status": plan.status}
    frames = tables.frames(samples, beads.calibration, beads.error, restoration_rows, patient_rows,
                           drug_statistics(drug_pairs(restoration_rows)),
                           history.trajectory_rows(patient_rows, restoration_rows, plan.view, run, options.control),
                           [history.check_row(c) for c in plan.checks])
    manifest = tables.manifest(inputs.folder, inputs.plate, inputs.strategy, inputs.lot, options,
                               inputs.assignments, beads.calibration, samples, timer.started, time.time(),
                               inputs.jobs, clinical_path=options.clinical)
    manifest["clinical"]["unmatched"] = inputs.clinical.manifest_entry()
    manifest["clinical"]["times"] = inputs.clinical.time_basis  # utc, local or none (clinical.TimeBasis)
    manifest["clinical"]["days"] = inputs.clinical.day_basis(  # admission, label or mixed (clinical.DayBasis)
        (r.patient, r.timepoint) for r in samples if r.role in ("sample", "control"))
    manifest["gate_overrides"] = [inputs.overrides[a.path].to_dict(a.path.name, a.row.well)
                                  for a in inputs.assignments if a.path in inputs.overrides]
    manifest["verdicts"] = run_verdicts.to_dict()
    manifest["calibration_verdict"] = calibration_verdict.to_dict()
    manifest["options"]["accept_calibration"] = options.accept_calibration or ""
    manifest["ledger"] = history.ledger_entry(plan.view)
    manifest["trajectory_rule"] = options.trajectory.to_dict()
    manifest["preanalytic_limit_h"] = options.preanalytic_limit_h
    manifest["replicate_cv_limit_pct"] = options.replicate_cv_limit_pct
    manifest["replicate_cv_withhold_pct"] = options.replicate_cv_withhold_pct
    manifest["qc_over_time"] = {"status": plan.status, "reason": plan.reason,
                                "baseline_runs": options.qc_baseline_runs,
                                "targets": str(options.qc_targets or ""), "instrument": plan.run["instrument"],
                                "instrument_serial": plan.run["instrument_serial"]}
    timer.mark("tables")
    manifest["timings_s"] = {k: round(v, 3) for k, v in timer.seconds.items()}
    manifest["run_id"] = uuid.uuid4().hex  # ties the tables, figure data and pages of this run together
    if write:  # what the review's records were when scored: `assaykit verify` names outputs scored before a change
        manifest["scored_from"] = tables.scored_from(inputs.folder, inputs.out_dir)
    if write:
        from .._io.atomic import RUN_KIND, output_unit

        with output_unit(inputs.out_dir, kind=RUN_KIND) as stage:  # the whole folder appears at once, or not at all
            tables.write(stage, frames)
            figure_data.write(stage, {p.name: o.figure for p, o in sorted(outcomes.items())
                                      if o.figure is not None}, beads.figure, manifest["run_id"])
            manifest["gate_files"] = write_gates(stage, outcomes)
            manifest = tables.seal(stage, manifest)
            if pages is not None:  # drawn into the same unit: tables and pages appear together
                pages(stage)
                manifest = tables.read_manifest(stage)
    recorded, ledger_error = history.record_run(
        plan, samples=samples, calibration=beads.calibration, restoration=restoration_rows, patients=patient_rows,
        run_uid=manifest["run_id"], rows_of={a.path.name: a.row.row for a in inputs.assignments})
    return ScoreResult(frames["samples"], frames["calibration"], frames["restoration"], frames["patients"],
                       frames["cohort"], manifest, inputs.out_dir if write else None,
                       sum(1 for s in samples if s.error), ledger_error=ledger_error, qc_status=plan.status,
                       qc_reason=plan.reason, recorded=recorded, verdicts=run_verdicts,
                       calibration_verdict=calibration_verdict, replaced=write and inputs.replaces)


def _utc(seconds: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat(timespec="seconds")


def _days(restoration: list[RestorationRow], patients: list[PatientRow],
          samples: list[SampleRow]) -> tuple[list[RestorationRow], list[PatientRow]]:
    """The restoration and patient rows with the day of their patient's time point (its control
    tube's)."""
    days = {(s.patient, s.timepoint): s.day for s in samples if s.role == "sample"}
    return ([replace(r, day=days.get((r.patient, r.timepoint))) for r in restoration],
            [replace(r, day=days.get((r.patient, r.timepoint))) for r in patients])


GATES_FOLDER = "gates"


def gate_file_names(paths: list[Path]) -> dict[Path, str]:
    """Each tube's gate file, ``gates/<tube>.xml``: the FCS file name without its extension,
    made safe and unique (:func:`assaykit._io.names.safe_stems`)."""
    from .._io.names import safe_stems

    stems = safe_stems([p.stem for p in paths], "tube")
    return {p: f"{GATES_FOLDER}/{stems[p.stem]}.xml" for p in paths}


WORKSPACE = "run.wsp"


def write_gates(stage: Path, outcomes: dict[Path, TubeResult]) -> dict[str, str]:
    """Write every gated tube's fitted gates as GatingML into ``stage``/gates/, and all of them
    as one FlowJo 10 workspace, ``stage``/run.wsp, referencing each tube's FCS file (its absolute
    ``file:`` URI), in file-name order. Returns FCS file name -> its gate file (relative to
    ``stage``), which the manifest records (``gate_files``) for ``compare``."""
    from .._io.atomic import write_atomic
    from ..interop import WorkspaceEntry, workspace_bytes

    written = {p: o.gatingml for p, o in outcomes.items() if o.gatingml is not None}
    names = gate_file_names(sorted(written))
    for path, name in names.items():
        write_atomic(stage / name, written[path])
    entries = [WorkspaceEntry(uri=path.resolve().as_uri(), name=path.name, sample=outcome.flowjo)
               for path, outcome in sorted(outcomes.items(), key=lambda item: item[0].name)
               if outcome.flowjo is not None]
    if entries:
        write_atomic(stage / WORKSPACE, workspace_bytes(entries))
    return {path.name: name for path, name in sorted(names.items())}


def _sample_rows(inputs: RunInputs, outcomes: dict[Path, TubeResult], beads: BeadOutcome) -> list[SampleRow]:
    """One row per plate-map row: the tube's counts, MFI, AB/C, % positive, QC findings or error."""
    from ..gating.readout import isotype_cut, percent_above
    from .quantify import calibrated_value

    assignments, calibration, acquired = inputs.assignments, beads.calibration, inputs.acquired
    cuts: dict[tuple[str, str], float] = {}
    for a in assignments:
        o = outcomes.get(a.path)
        cut = isotype_cut(o.values) if a.row.role == "isotype" and o is not None and o.values is not None else None
        if cut is not None:
            cuts[(a.row.patient, a.row.timepoint)] = cut
    rows = []
    for a in assignments:
        row, instruments = a.row, inputs.instruments.get(a.path, ("", ""))
        base = SampleRow(
            file=a.path.name, well=row.well, patient=row.patient, timepoint=row.timepoint, condition=row.condition,
            replicate=row.replicate, role=row.role, donor_group=row.donor_group, matched_by=a.matched_by,
            acquisition_date=acquired.get(a.path, ""),
            instrument=instruments[0], instrument_serial=instruments[1],
            specimen_declared=inputs.strategy.specimen or "",
            extra=dict(row.extra))  # named as samples.csv writes them (platemap: plate_<name> for ours)
        if row.role == "beads":
            if calibration is not None:
                base = replace(base, sha256=calibration.file_sha256, events=calibration.n_events,
                               qc_flags=calibration.findings)
            base = replace(base, sha256=base.sha256 or beads.file_sha256, error=beads.error)
        elif row.role == "blank":
            base = replace(base, error=inputs.unreadable.get(a.path, ""))
        else:
            o = outcomes[a.path]
            flags = list(o.qc_flags)
            if a.path in inputs.overrides:
                flags.insert(0, inputs.overrides[a.path].finding())
            abc = None
            if not o.error:
                if calibration is None:
                    flags.append(finding(FindingCode.NO_CALIBRATION, "no AB/C: the bead tube could not be calibrated"))
                else:
                    abc, extra = calibrated_value(o.hladr_mfi, calibration, o.channel, o.voltage)
                    flags.extend(extra)
            cut = cuts.get((row.patient, row.timepoint))
            pos = percent_above(o.values, cut) if cut is not None and o.values is not None else None
            base = replace(base, sha256=o.sha256, events=o.events, singlets=o.singlets, monocytes=o.monocytes,
                           monocytes_pct=o.monocytes_pct, hladr_mfi=o.hladr_mfi, hladr_statistic=o.hladr_statistic,
                           hladr_abc=abc, hladr_pos_pct=pos, compensation=o.compensation,
                           specimen_detected=o.specimen_detected or "",
                           monocyte_purity_pct=None if o.purity is None else round(100.0 * o.purity, 2),
                           removed_at_top=o.removed_at_top, qc_flags=tuple(flags), error=o.error)
        rows.append(base)
    return rows

