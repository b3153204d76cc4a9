"""What the ledger adds to a scored run (docs/ledger.md): each tube's day and draw-to-staining
delay, assay QC over time (this run's bead calibration and control blood judged by Westgard
rules against the instrument's and lot's earlier runs), the patients' earlier time points, and
the record written once the run's outputs are in place.

Scoring never depends on the ledger being reachable or sound: a ledger that cannot be opened, read
or written, or that holds values assaykit does not write, is reported (``ledger_error``, and the
manifest's ``ledger.fault``: a :class:`~assaykit.ledger.LedgerFault`), the run's tables are
written all the same and the command exits 1."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .._workers import interrupts_held
from ..errors import AssayKitError
from ..findings import Finding, FindingCode, finding, findings_cell
from ..ledger import (
    ENVIRONMENT,
    ControlLimits,
    SeriesCheck,
    check_series,
    day_of_label,
    hours_between,
    run_verdict,
)
from ..ledger.trajectory import timeline
from ..ledger.westgard import RunStatus
from .platemap import BLOOD_ROLES
from .rows import PatientRow, RestorationRow, SampleRow

if TYPE_CHECKING:
    from ..beads import BeadLot, Calibration
    from ..ledger import Ledger, Recorded, RunRecord
    from .clinical import Clinical
    from .verdicts import CalibrationVerdict

Row = TypeVar("Row", SampleRow, RestorationRow, PatientRow)

BEAD_SERIES = (("bead slope", "slope"), ("bead intercept", "intercept"), ("bead r2", "r_squared"))


@dataclass(frozen=True)
class LedgerView:
    """What the ledger holds for a run about to be written: ``target`` (where, shown without a
    password; "" with no ledger), ``error`` (why it could not be read), files recorded under
    other runs (sha256 -> run name), each QC series' accepted history, the run's patients'
    rows from other runs; ``fault`` (a :class:`~assaykit.ledger.LedgerFault` value, "" when
    none) and ``left_out`` (rows of earlier runs with values assaykit does not write, one line
    each: not used, the run recorded all the same)."""

    target: str = ""
    error: str = ""
    fault: str = ""
    left_out: tuple[str, ...] = ()
    elsewhere: Mapping[str, str] = field(default_factory=dict)
    qc_history: Mapping[str, list[float]] = field(default_factory=dict)
    patient_rows: Mapping[str, list[dict[str, Any]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # the location and every message are shown without a password, whoever built the view
        # (manifest, console, study table: :func:`assaykit.ledger.faults.masked`)
        from ..ledger.faults import masked

        object.__setattr__(self, "target", masked(self.target))
        object.__setattr__(self, "error", masked(self.error))
        object.__setattr__(self, "left_out", tuple(masked(line) for line in self.left_out))


def ledger_target(option: str | None, out_dir: Path, use_default: bool, create: bool = True) -> str | None:
    """The ledger a run records into: the option (``--ledger`` over run.yaml ``ledger:``), else
    ``ASSAYKIT_LEDGER``, else (``use_default``) ``assaykit-ledger.sqlite`` beside the output
    folder (whose folder is created, with ``create``); None for none (``none`` turns it off).

    Parameters
    ----------
    option : str or None
        ``--ledger`` / run.yaml ``ledger:``.
    out_dir : Path
        The run's output folder.
    use_default : bool
        Fall back to the environment and the default location (the CLI does; the library does not).
    create : bool
        Create the default ledger's folder (False: only say where the ledger would be, as the
        checks made before any work do).
    """
    for value in (option, os.environ.get(ENVIRONMENT) if use_default else None):
        if value is not None and value.strip():
            return None if value.strip().lower() == "none" else value.strip()
    if not use_default:
        return None
    from ..ledger import default_ledger

    path = default_ledger(out_dir)
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)  # the reports folder, which the run's outputs need anyway
    return str(path)


@dataclass(frozen=True)
class TubeDays:
    """A blood tube's time: ``day`` (days since admission, None when unknown), ``draw_to_stain_h``
    (hours), ``drawn_at`` and ``stained_at`` (ISO text, "" when not given) and the pre-analytical
    findings."""

    day: float | None
    draw_to_stain_h: float | None
    drawn_at: str
    stained_at: str
    findings: tuple[Finding, ...]


def tube_days(rows: Sequence[SampleRow], clinical: Clinical | None, limit_h: float) -> dict[str, TubeDays]:
    """Per blood tube (by file name): its ``day`` (from ``drawn_at`` - ``admitted_at`` in the
    clinical CSV, else its time-point label; None when neither reads as a day), its
    ``draw_to_stain_h`` and the pre-analytical QC findings (``findings``: staining more than
    ``limit_h`` hours after the draw, or before it).

    Parameters
    ----------
    rows : sequence of SampleRow
        The samples table's rows.
    clinical : Clinical or None
        The clinical CSV's values.
    limit_h : float
        The longest accepted delay from draw to staining (hours).
    """
    out = {}
    for row in rows:
        if row.role not in BLOOD_ROLES:
            continue
        patient, timepoint = row.patient, row.timepoint
        drawn = clinical.time(patient, timepoint, "drawn_at") if clinical is not None else None
        stained = clinical.time(patient, timepoint, "stained_at") if clinical is not None else None
        admitted = clinical.time(patient, timepoint, "admitted_at") if clinical is not None else None
        since = hours_between(admitted, drawn)
        day = since / 24.0 if since is not None else day_of_label(timepoint)
        delay = hours_between(drawn, stained)
        found = []
        if delay is not None and delay > limit_h:
            found.append(finding(FindingCode.LATE_STAINING,
                                 f"pre-analytics: stained {delay:.1f} h after the draw (limit {limit_h:g} h)"))
        elif delay is not None and delay < 0:
            found.append(finding(FindingCode.STAINED_BEFORE_DRAW, f"pre-analytics: stained_at is {-delay:.1f} h "
                                                                  "before drawn_at; check the clinical CSV"))
        out[row.file] = TubeDays(day=None if day is None else round(day, 4),
                                 draw_to_stain_h=None if delay is None else round(delay, 3),
                                 drawn_at=drawn.isoformat(sep=" ") if drawn else "",
                                 stained_at=stained.isoformat(sep=" ") if stained else "", findings=tuple(found))
    return out


def run_instrument(rows: Sequence[SampleRow]) -> tuple[str, str]:
    """The run's instrument (``$CYT``, ``$CYTNUM``): the bead tube's, else the tubes' most common.

    Parameters
    ----------
    rows : sequence of SampleRow
        The samples table's rows (``instrument``, ``instrument_serial``).
    """
    beads = [(r.instrument, r.instrument_serial) for r in rows if r.role == "beads" and r.instrument]
    if beads:
        return beads[0]
    found = Counter((r.instrument, r.instrument_serial) for r in rows if r.instrument)
    return found.most_common(1)[0][0] if found else ("", "")


def qc_values(calibration: Calibration | None, rows: Sequence[SampleRow], *, calibration_reportable: bool = True,
              reused: Collection[str] = ()) -> dict[str, float]:
    """This run's value of every QC series: the bead calibration's slope, intercept and r2, the
    MFI of each peak (named by its lot value), and each control blood sample's AB/C (series named
    by its plate-map ``patient``, the control material; replicate tubes of one material: the mean
    of their values) when it has one (reportable values only:
    :func:`.verdicts.enters_qc_over_time`, not through a released calibration).

    A calibration that is not ``reportable`` (withheld, or released by a person) gives no series:
    neither its own nor the control blood's AB/C read through it. A file whose content
    (``sha256``) is in ``reused`` (already in the ledger under another run) is no new measure: a
    re-used bead tube gives no bead series, a re-used control tube no control series.

    Parameters
    ----------
    calibration : Calibration or None
        The run's bead calibration.
    rows : sequence of SampleRow
        The samples table's rows.
    calibration_reportable : bool
        The calibration's verdict is ``reportable``.
    reused : collection of str
        The sha256 of files the ledger holds under another run.
    """
    values: dict[str, float] = {}
    if not calibration_reportable:
        return values
    if any(r.role == "beads" and r.sha256 and r.sha256 in reused for r in rows):
        calibration = None
    if calibration is not None:
        for series, attribute in BEAD_SERIES:
            values[series] = float(getattr(calibration, attribute))
        for peak in calibration.peaks:  # named by the lot's value: a peak not detected shifts no other
            if peak.value is not None:
                values[f"MFI of the {peak.value:g} peak"] = float(peak.mfi)
    from .verdicts import enters_qc_over_time

    controls: dict[str, list[float]] = {}
    for row in rows:
        if row.sha256 and row.sha256 in reused:
            continue
        if row.role == "control" and row.hladr_abc is not None and enters_qc_over_time(row):
            name = row.patient or "control"
            controls.setdefault(f"control AB/C ({name})", []).append(float(row.hladr_abc))
    for series, found in controls.items():  # replicate tubes of one material: their mean
        values[series] = sum(found) / len(found)
    return values


def read_targets(path: Path) -> list[dict[str, Any]]:
    """Established QC targets (docs/ledger.md): a YAML list of ``{series, target, sd}`` entries,
    each optionally limited to an ``instrument``, ``serial``, ``kit`` or ``lot``.

    Parameters
    ----------
    path : Path
        The YAML file.
    """
    from .._io.config import read_yaml
    from .._io.validate import checking, invalid, known, number, shown, text

    doc = read_yaml(path, AssayKitError, "QC targets file")
    entries = []
    with checking(AssayKitError, path):
        if not isinstance(doc, list):
            raise invalid("", f"expected a list of {{series, target, sd}} entries, got {shown(doc, whole=True)}")
        for i, entry in enumerate(doc, start=1):
            where = f"entry {i}"
            if not isinstance(entry, dict) or not {"series", "target", "sd"} <= set(entry):
                raise invalid(where, "expected series, target and sd")
            known(entry, ("series", "target", "sd", "instrument", "serial", "kit", "lot"), where)
            entries.append({**{k: text(entry[k], f"{where}: {k}")
                               for k in ("series", "instrument", "serial", "kit", "lot") if k in entry},
                            "target": number(entry["target"], f"{where}: target"),
                            "sd": _sd(entry["sd"], f"{where}: sd")})
    return entries


def _sd(value: Any, where: str) -> float:
    from .._io.validate import invalid, number, shown

    sd = number(value, where)
    if not sd > 0:
        raise invalid(where, f"expected a number above 0, got {shown(value)}")
    return sd


def _limits(entries: Sequence[dict[str, Any]], series: str, where: Mapping[str, str]) -> ControlLimits | None:
    """The most specific entry for ``series`` matching the run's instrument, serial, kit and lot."""
    matching = [e for e in entries if e["series"] == series and all(e.get(k) in (None, where[k]) for k in where)]
    if not matching:
        return None
    best = max(matching, key=lambda e: sum(k in e for k in where))
    return ControlLimits(target=best["target"], sd=best["sd"], source="established targets")


def judge(values: Mapping[str, float], history: Mapping[str, list[float]], targets: Sequence[dict[str, Any]],
          where: Mapping[str, str], baseline_runs: int) -> tuple[list[SeriesCheck], RunStatus, str]:
    """Every series of this run judged by the Westgard rules: (checks, run status, reason).

    Parameters
    ----------
    values : mapping
        This run's value per series (:func:`qc_values`).
    history : mapping
        Each series' accepted earlier values, oldest first (the ledger's).
    targets : sequence of dict
        Established targets (:func:`read_targets`); a series without one is judged against its
        first ``baseline_runs`` accepted runs.
    where : mapping
        The run's ``instrument``, ``serial``, ``kit`` and ``lot``.
    baseline_runs : int
        Runs that establish a series' target and SD.
    """
    checks = [check_series(series, history.get(series, []), value, _limits(targets, series, where), baseline_runs)
              for series, value in values.items()]
    status, reason = run_verdict(checks)
    return checks, status, reason


def qc_flag(status: RunStatus, reason: str) -> Finding | None:
    """The finding every row and page of a run carries for its QC over time (None when in control).

    Parameters
    ----------
    status : str
        The run's QC status.
    reason : str
        The rules broken.
    """
    if status == "rejected":
        return finding(FindingCode.QC_REJECTED, f"QC: {status}, {reason}")
    if status == "warning":
        return finding(FindingCode.QC_WARNING, f"QC: {status}, {reason}")
    return None


def consult(ledger: Ledger, run_key: str, hashes: Sequence[str], where: Mapping[str, str],
            patients: Sequence[str]) -> LedgerView:
    """Read what the ledger holds for the run about to be written.

    Parameters
    ----------
    ledger : Ledger
        The open ledger.
    run_key : str
        The run (its resolved folder), left out of every history.
    hashes : sequence of str
        The run's files' sha256.
    where : mapping
        The run's ``instrument``, ``serial``, ``kit`` and ``lot``.
    patients : sequence of str
        The run's patients.
    """
    elsewhere = ledger.files_elsewhere(run_key, hashes)
    history = ledger.qc_history(run_key, where["instrument"], where["serial"], where["kit"], where["lot"])
    rows = ledger.patient_rows(patients, run_key)
    left_out = tuple(ledger.left_out)
    error = ""
    if left_out:
        from ..ledger import LedgerFault

        error = (f"{ledger.shown}: {ledger.n_left_out} row(s) of earlier runs hold values assaykit does not write and "
                 f"were left out of the history (first: {left_out[0]}); check the ledger (assaykit ledger export)")
    return LedgerView(target=ledger.shown, error=error, fault=LedgerFault.BAD_VALUES if left_out else "",
                      left_out=left_out, elsewhere=elsewhere, qc_history=history, patient_rows=rows)


def trajectory_rows(patients: Sequence[PatientRow], restoration: Sequence[RestorationRow],
                    view: LedgerView, run: Mapping[str, str], control: str) -> list[dict[str, Any]]:
    """trajectories.csv: the run's own patients and restoration rows and the same patients'
    rows from other runs in the ledger, one row per time point and condition.

    Parameters
    ----------
    patients, restoration : sequence of PatientRow, RestorationRow
        This run's tables' rows (with ``day``).
    view : LedgerView
        The ledger's rows of the same patients.
    run : mapping
        This run's ``run_name``, ``acquired_on`` and ``qc_status``.
    control : str
        The unstimulated condition's name.
    """
    here = [{**r.to_dict(), **run} for r in patients]
    drugs = [{**r.to_dict(), **run} for r in restoration]
    return timeline([*view.patient_rows.get("patients", []), *here],
                    [*view.patient_rows.get("restoration", []), *drugs], control)


def build_record(*, run: Mapping[str, Any], samples: Sequence[SampleRow], calibration: Calibration | None,
                 restoration: Sequence[RestorationRow], patients: Sequence[PatientRow],
                 checks: Sequence[SeriesCheck]) -> RunRecord:
    """The ledger's record of a scored run.

    Parameters
    ----------
    run : mapping
        The runs row (:mod:`assaykit.ledger.schema` columns).
    samples, restoration, patients : sequence of SampleRow, RestorationRow, PatientRow
        The run's tables' rows (samples with ``day``, ``instrument`` and the pre-analytics).
    calibration : Calibration or None
        The bead calibration.
    checks : sequence of SeriesCheck
        The QC series checks.
    """
    tubes = [{"file": s.file, "sha256": s.sha256 or "", "well": s.well, "role": s.role,
              "patient": s.patient, "timepoint": s.timepoint, "day": s.day, "condition": s.condition,
              "instrument": s.instrument, "instrument_serial": s.instrument_serial,
              "acquired_at": s.acquisition_date, "monocytes": s.monocytes, "hladr_mfi": s.hladr_mfi,
              "hladr_abc": s.hladr_abc, "qc_flags": findings_cell(s.qc_flags), "error": s.error or "",
              "drawn_at": s.drawn_at, "stained_at": s.stained_at,
              "draw_to_stain_h": s.draw_to_stain_h, "verdict": s.verdict, "replicate": s.replicate,
              "donor_group": s.donor_group} for s in samples]
    peaks = []
    if calibration is not None:
        peaks = [{"peak": i, "mfi": peak.mfi, "value": peak.value, "used": int(peak.used)}
                 for i, peak in enumerate(calibration.peaks, start=1)]
    from ..ledger import RunRecord

    return RunRecord(
        run=run, tubes=tubes, bead_peaks=peaks,
        restoration=[{"patient": r.patient, "timepoint": r.timepoint, "day": r.day,
                      "condition": r.condition, "control_abc": r.control_abc, "abc": r.abc,
                      "fold_change": r.fold_change, "delta_abc": r.delta_abc, "state_drug": r.state_drug or "",
                      "responder": "" if r.responder is None else str(r.responder)} for r in restoration],
        patients=[{"patient": p.patient, "timepoint": p.timepoint, "day": p.day,
                   "control_abc": p.control_abc, "state": p.state or "", "ferritin_ng_ml": p.ferritin_ng_ml,
                   "immunosep_class": p.immunosep_class or ""} for p in patients],
        qc_checks=[check_row(c) for c in checks])


def check_row(check: SeriesCheck) -> dict[str, Any]:
    """A QC check as a row (qc.csv, the ledger's ``qc_checks``).

    Parameters
    ----------
    check : SeriesCheck
        One series' check.
    """
    limits = check.limits
    return {"series": check.series, "value": check.value, "target": limits.target if limits else None,
            "sd": limits.sd if limits else None, "z": check.z, "rules": " ".join(check.rules),
            "status": check.status, "limits_source": limits.source if limits else ""}


def open_quietly(target: str, timeout_s: float = 60.0) -> tuple[Ledger | None, str, str]:
    """The ledger at ``target`` opened, or None, why not (one line) and the fault
    (a :class:`~assaykit.ledger.LedgerFault` value).

    Parameters
    ----------
    target : str
        A file path or URL.
    timeout_s : float
        Seconds to wait for a lock or a server.
    """
    from ..ledger import fault_of, open_ledger
    from ..ledger.faults import masked

    try:
        return open_ledger(target, timeout_s=timeout_s), "", ""
    except AssayKitError as error:
        return None, masked(str(error)), str(fault_of(error))




@dataclass(frozen=True)
class LedgerPass:
    """The ledger's part in one run, between consulting it and recording the run: the ledger to
    record into (None without one, or when it could not be read), what it held, the QC checks
    and verdict, and the runs row to record. The ledger is open only while it is read or
    written, never while pages are drawn in forked workers."""

    target: str | None
    view: LedgerView
    checks: tuple[SeriesCheck, ...]
    status: RunStatus
    reason: str
    run: Mapping[str, Any]
    timeout_s: float = 60.0


def with_days(samples: Sequence[SampleRow], clinical: Clinical | None, limit_h: float) -> list[SampleRow]:
    """The samples rows with each blood tube's ``day``, ``draw_to_stain_h``, ``drawn_at`` and
    ``stained_at`` and its pre-analytical findings (:func:`tube_days`).

    Parameters
    ----------
    samples : sequence of SampleRow
        The samples table's rows.
    clinical : Clinical
        The clinical CSV's values.
    limit_h : float
        The longest accepted delay from draw to staining (hours).
    """
    days = tube_days(samples, clinical, limit_h)
    out = []
    for row in samples:
        extra = days.get(row.file) if row.role in BLOOD_ROLES else None
        if extra is None:
            out.append(replace(row, day=None, draw_to_stain_h=None, drawn_at="", stained_at=""))
            continue
        out.append(replace(row, day=extra.day, draw_to_stain_h=extra.draw_to_stain_h, drawn_at=extra.drawn_at,
                           stained_at=extra.stained_at, qc_flags=(*row.qc_flags, *extra.findings)))
    return out


def before_writing(*, target: str | None, folder: Path, samples: Sequence[SampleRow],
                   calibration: Calibration | None, lot: BeadLot, targets: Sequence[dict[str, Any]],
                   baseline_runs: int, scored_at: str, software: str, timeout_s: float = 60.0,
                   calibration_verdict: CalibrationVerdict | None = None) -> LedgerPass:
    """Open the ledger (when ``target`` names one), read what it holds for this run, and judge the
    run's QC series. A ledger that fails leaves ``view.error`` set and the run judged on the
    established ``targets`` alone.

    Parameters
    ----------
    target : str or None
        The ledger (:func:`ledger_target`).
    folder : Path
        The run folder (its resolved path is the run's key).
    samples : sequence of SampleRow
        The samples rows (with instruments).
    calibration : Calibration or None
        The bead calibration.
    lot : BeadLot
        The bead lot.
    targets : sequence of dict
        Established QC targets.
    baseline_runs : int
        Runs that establish a series' target and SD.
    scored_at : str
        When the run was scored (ISO 8601, UTC).
    software : str
        assaykit's version.
    timeout_s : float
        Seconds to wait for a ledger lock or server.
    calibration_verdict : CalibrationVerdict or None
        The calibration's verdict, recorded with the run (status and a person's release reason);
        only a ``reportable`` one (or none given) lets its slope, intercept, r2 and peaks enter QC
        over time (reportable values only; a withheld control AB/C is None and left out too).
    """
    instrument, serial = run_instrument(samples)
    where = {"instrument": instrument, "serial": serial, "kit": lot.kit or "", "lot": lot.lot or ""}
    dates = sorted(r.acquisition_date for r in samples if r.acquisition_date)
    run: dict[str, Any] = {"run_key": str(folder.resolve()), "run_name": folder.resolve().name, "scored_at": scored_at,
           "software": software, "instrument": instrument, "instrument_serial": serial,
           "acquired_on": dates[0] if dates else "", "kit": where["kit"], "lot": where["lot"],
           "unit": calibration.cell_unit if calibration is not None else "",
           "bead_slope": calibration.slope if calibration is not None else None,
           "bead_intercept": calibration.intercept if calibration is not None else None,
           "bead_r2": calibration.r_squared if calibration is not None else None,
           "calibration_status": calibration_verdict.status if calibration_verdict is not None else "",
           "calibration_released": calibration_verdict.released_reason if calibration_verdict is not None else ""}
    view = LedgerView(target=target or "")
    if target:
        from ..ledger import LedgerFault, fault_of

        with interrupts_held():
            ledger, error, fault = open_quietly(target, timeout_s)
            view = LedgerView(target=ledger.shown if ledger else target, error=error, fault=fault)
            if ledger is not None:
                try:
                    patients = sorted({r.patient for r in samples if r.role == "sample" and r.patient})
                    view = consult(ledger, run["run_key"], [r.sha256 for r in samples if r.sha256], where,
                                   patients)
                except AssayKitError as failure:
                    view = LedgerView(target=ledger.shown, error=str(failure), fault=str(fault_of(failure)))
                finally:
                    ledger.close()
    # rows left out of the history do not stop the run being recorded (its own rows are sound)
    usable = target if target and (not view.error or view.fault == LedgerFault.BAD_VALUES) else None
    reportable = calibration_verdict is None or calibration_verdict.status == "reportable"
    reused = set(view.elsewhere)
    values = qc_values(calibration, samples, calibration_reportable=reportable, reused=reused)
    if usable is None and not targets:
        return LedgerPass(target=None, view=view, checks=(), status="not evaluated",
                          reason="no ledger" if not view.error else "the ledger could not be read", run=run,
                          timeout_s=timeout_s)
    checks, status, reason = judge(values, view.qc_history, targets, where, baseline_runs)
    left_out = qc_left_out(samples, calibration_verdict, reused)
    if left_out and not checks:
        reason = left_out
    elif left_out:
        reason = f"{reason}; {left_out}" if reason else left_out
    return LedgerPass(target=usable, view=view, checks=tuple(checks), status=status, reason=reason, run=run,
                      timeout_s=timeout_s)


def qc_left_out(samples: Sequence[SampleRow], verdict: CalibrationVerdict | None, reused: Collection[str]) -> str:
    """Why some of this run's values are not in QC over time ("" when none are left out): a
    calibration withheld or released (its series and the control blood's), re-used files.

    Parameters
    ----------
    samples : sequence of SampleRow
        The samples rows.
    verdict : CalibrationVerdict or None
        The calibration's verdict (None: none given, taken as reportable).
    reused : collection of str
        The sha256 of files the ledger holds under another run.
    """
    parts = []
    if verdict is not None and verdict.status != "reportable":
        parts.append(f"calibration {verdict.status}: not in QC over time (bead and control series left out)")
    again = [r.file for r in samples if r.role in ("beads", "control") and r.sha256 and r.sha256 in reused]
    if again:
        parts.append("re-used files not in QC over time: " + ", ".join(again))
    return "; ".join(parts)


def flag_rows(rows: Sequence[Row], flag: Finding | None) -> list[Row]:
    """``rows`` with ``flag`` appended to each row's ``qc_flags`` (None: unchanged).

    Parameters
    ----------
    rows : sequence of SampleRow, RestorationRow or PatientRow
        Table rows.
    flag : Finding or None
        The finding.
    """
    if flag is None:
        return list(rows)
    return [_with_finding(row, flag) for row in rows]


def _with_finding(row: Row, found: Finding) -> Row:
    return replace(row, qc_flags=(*row.qc_flags, found))


def elsewhere_flags(samples: Sequence[SampleRow], view: LedgerView) -> list[SampleRow]:
    """The samples rows, those whose file the ledger holds under another run flagged
    ``reused_file`` (:func:`reused_finding`: an error, so the tube's verdict is withheld).

    Parameters
    ----------
    samples : sequence of SampleRow
        The samples rows.
    view : LedgerView
        What the ledger holds.
    """
    return [replace(r, qc_flags=(*r.qc_flags, reused_finding(view.elsewhere[r.sha256])))
            if r.sha256 and r.sha256 in view.elsewhere else r for r in samples]


def reused_finding(run_name: str) -> Finding:
    """The ``reused_file`` finding (an error: the value is withheld) of a tube whose content the
    ledger already holds under the earlier run ``run_name``: the same file measured again is not
    a new day, so it enters no trajectory and no QC series.

    Parameters
    ----------
    run_name : str
        The earlier run's name.
    """
    return finding(FindingCode.REUSED_FILE, f"the same file (SHA-256) is already in the ledger under run "
                                            f"{run_name!r}: withheld, not a new measure (not in trajectories "
                                            "nor QC over time)")


def unreadable_days(samples: Sequence[SampleRow], rows_of: Mapping[str, int]) -> list[str]:
    """Blood tubes whose non-empty time point reads as no day (and no clinical times give one).

    Parameters
    ----------
    samples : sequence of SampleRow
        The samples rows (with ``day``).
    rows_of : mapping
        File name -> its plate-map row number.
    """
    return [f"plate map row {rows_of.get(r.file, '?')}: time point {r.timepoint!r} cannot be read as a day "
            "(D1, day 3, J7, H48; or drawn_at and admitted_at in the clinical CSV)"
            for r in samples if r.role in BLOOD_ROLES and r.timepoint.strip() and r.day is None]


def record_run(plan: LedgerPass, *, samples: Sequence[SampleRow], calibration: Calibration | None,
               restoration: Sequence[RestorationRow], patients: Sequence[PatientRow], run_uid: str,
               rows_of: Mapping[str, int]) -> tuple[Recorded | None, str]:
    """Record the run in the ledger (one transaction): (Recorded or None, why not).

    Parameters
    ----------
    plan : LedgerPass
        The ledger and the run's QC verdict.
    samples, restoration, patients : sequence of SampleRow, RestorationRow, PatientRow
        The run's tables' rows.
    calibration : Calibration or None
        The bead calibration.
    run_uid : str
        The manifest's run_id.
    rows_of : mapping
        File name -> plate-map row (for errors).
    """
    if plan.target is None:
        return None, plan.view.error
    bad = unreadable_days(samples, rows_of)
    if bad:
        return None, f"{plan.view.target}: not recorded: {bad[0]}" + (f" (and {len(bad) - 1} more)" if len(bad) > 1
                                                                          else "")
    from ..ledger.faults import masked

    recorded, error = _record(plan, samples=samples, calibration=calibration, restoration=restoration,
                              patients=patients, run_uid=run_uid)
    if recorded is not None and plan.view.error:  # recorded, but earlier rows were left out of the history
        return recorded, f"{plan.view.error}; this run was recorded"
    return recorded, masked(error)


def ledger_entry(view: LedgerView) -> dict[str, Any]:
    """The manifest's ``ledger`` section: ``location``, ``error`` (one line, "" when none),
    ``fault`` (a :class:`~assaykit.ledger.LedgerFault` value, "" when none) and ``left_out``
    (the rows of earlier runs left out of the history, at most 20 lines).

    Parameters
    ----------
    view : LedgerView
        What the ledger held (:func:`before_writing`).
    """
    return {"location": view.target, "error": view.error, "fault": view.fault, "left_out": list(view.left_out[:20])}


def _record(plan: LedgerPass, *, samples: Sequence[SampleRow], calibration: Calibration | None,
            restoration: Sequence[RestorationRow], patients: Sequence[PatientRow],
            run_uid: str) -> tuple[Recorded | None, str]:
    assert plan.target is not None
    run = {**plan.run, "run_uid": run_uid, "n_tubes": len(samples),
           "n_failed": sum(1 for s in samples if s.error), "qc_status": plan.status, "qc_reason": plan.reason}
    record = build_record(run=run, samples=samples, calibration=calibration, restoration=restoration,
                          patients=patients, checks=plan.checks)
    with interrupts_held():
        ledger, error, _ = open_quietly(plan.target, plan.timeout_s)
        if ledger is None:
            return None, error
        try:
            return ledger.record(record), ""
        except AssayKitError as failure:
            return None, str(failure)
        finally:
            ledger.close()
