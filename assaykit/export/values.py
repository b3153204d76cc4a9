"""The values an export carries, chosen in one place for every format (REDCap, SDTM LB, FHIR):
only reportable ones (verdict ``reportable`` or ``reportable_with_warnings``), read from a scored
output folder's tables (never from an FCS file). Each patient time point's unstimulated
monocyte HLA-DR (the value that assigns treatment: patients.csv's ``control_abc``) by default;
with ``all_conditions`` each drug condition's AB/C and fold change as well (restoration.csv).
Withheld values are counted, never exported."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..errors import AssayKitError

if TYPE_CHECKING:
    from ..report.load import RunData

REPORTABLE = ("reportable", "reportable_with_warnings")
"""The verdicts whose values are exported (docs/exports.md)."""

Measure = Literal["abc", "fold_change"]


@dataclass(frozen=True)
class ExportValue:
    """One exported value of one patient at one time point.

    Parameters
    ----------
    patient : str
        The patient ID exactly as the plate map gives it (pseudonymised by the lab).
    timepoint : str
        The plate map's time point (``D3``), the visit.
    day : float or None
        The run's ``day`` (days): since ICU admission, or the number in the time-point label
        (:attr:`Selection.day_basis` says which); None when neither is known.
    condition : str
        The tube's condition (the run's control, ``unstimulated``, or a drug).
    measure : str
        ``abc`` (antibodies bound per cell) or ``fold_change`` (the drug's AB/C over the
        control's, unitless).
    value : float
        The value, in the measure's unit (AB/C, or a ratio).
    verdict : str
        ``reportable`` or ``reportable_with_warnings``.
    warnings : tuple of str
        The finding codes of a ``reportable_with_warnings`` verdict (empty otherwise).
    drawn_at : str
        When the blood was drawn (ISO 8601 without an offset: UTC or the lab's local time, as
        :attr:`Selection.time_basis` says); "" when not given.
    n_replicates : int or None
        Replicate tubes averaged into the value (None: a run without replicates).
    replicate_cv_pct : float or None
        Their coefficient of variation (%, None with fewer than 2 or no replicate columns).
    keywords : tuple of (str, str)
        FCS keywords the lab asked for (``--include-keywords``): (keyword, value) of the patient
        time point's control tube; empty by default.
    stimulated : bool
        A drug condition's value (ex vivo stimulated): its own test code, no reference range.
    """

    patient: str
    timepoint: str
    day: float | None
    condition: str
    measure: Measure
    value: float
    verdict: str
    warnings: tuple[str, ...] = ()
    drawn_at: str = ""
    n_replicates: int | None = None
    replicate_cv_pct: float | None = None
    keywords: tuple[tuple[str, str], ...] = ()
    stimulated: bool = False


@dataclass(frozen=True)
class Selection:
    """What a scored run exports, and what it leaves out.

    Parameters
    ----------
    values : tuple of ExportValue
        The reportable values, by patient, day (then time point name), condition (the control
        first, then the drugs in the run's order) and measure (AB/C, then fold change).
    withheld : int
        Values of the selected kinds that are withheld (not exported).
    withheld_reasons : mapping
        Finding code -> how many of those withheld values it was a reason of.
    control : str
        The run's control condition (the unstimulated tube).
    thresholds : mapping
        The run's AB/C thresholds (manifest ``thresholds``: normal_abc, immunosuppressed_abc,
        immunoparalysis_abc; AB/C).
    replicates : bool
        Whether the run had replicates (a tube labelled in the plate map's ``replicate``
        column): only then are n_replicates and replicate_cv_pct exported.
    drugs : tuple of str
        The drug conditions exported (``all_conditions``), in the run's order.
    keywords : tuple of str
        The FCS keywords the lab asked for (``--include-keywords``).
    time_basis : str
        How the draw times were read at scoring (manifest ``clinical.times``): ``utc`` (the
        clinical CSV gave offsets; ``drawn_at`` is UTC), ``local`` (the lab's local time, zone
        unknown), ``none`` (no times) or ``unknown`` (a folder scored before it was recorded:
        read as local).
    day_basis : str
        What ``day`` is (manifest ``clinical.days``): ``admission`` (days since ICU admission),
        ``label`` (the time-point label's number), ``mixed``, or ``unknown`` (not recorded).
    not_exported_groups : mapping
        Donor group -> values left out because the plate map's ``donor_group`` of their patient
        is one not exported (``healthy`` by default), counted apart from withheld ones.
    """

    values: tuple[ExportValue, ...]
    withheld: int
    withheld_reasons: Mapping[str, int]
    control: str
    thresholds: Mapping[str, float]
    replicates: bool
    drugs: tuple[str, ...] = field(default=())
    keywords: tuple[str, ...] = ()
    time_basis: str = "local"
    day_basis: str = "admission"
    not_exported_groups: Mapping[str, int] = field(default_factory=dict)


def _number(value: Any) -> float | None:
    """A table cell as a finite float (None when empty or not a number)."""
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _replicates(row: Mapping[str, Any]) -> tuple[int | None, float | None]:
    """A row's replicate columns (engineer R's n_replicates, replicate_cv_pct), None where absent."""
    n = _number(row.get("n_replicates"))
    return (int(n) if n is not None else None), _number(row.get("replicate_cv_pct"))


def _codes(row: Mapping[str, Any]) -> tuple[str, ...]:
    reasons = row.get("verdict_reasons") or ()
    return tuple(str(r) for r in reasons) if isinstance(reasons, tuple | list) else ()


def _count(reasons: dict[str, int], codes: Sequence[str], values: int = 1) -> None:
    for code in codes or ("no_value",):
        reasons[code] = reasons.get(code, 0) + values


def _control_verdict(patient_row: Mapping[str, Any], where: Path) -> tuple[str, tuple[str, ...]]:
    """The verdict of a patient time point's unstimulated value, as scoring decided it
    (patients.csv ``control_verdict``, ``control_verdict_reasons``); a folder scored before
    patients.csv carried it is refused (never decided again here)."""
    verdict = str(patient_row.get("control_verdict") or "")
    if not verdict:
        raise AssayKitError("patients.csv records no control_verdict (scored by an earlier assaykit): score the run "
                            "again to export it", where)
    reasons = patient_row.get("control_verdict_reasons") or ()
    return verdict, tuple(str(r) for r in reasons) if isinstance(reasons, tuple | list) else ()


def _drug_verdict(row: Mapping[str, Any], where: Path) -> tuple[str, tuple[str, ...]]:
    """The verdict of a drug condition's own AB/C (restoration.csv ``drug_verdict``,
    ``drug_verdict_reasons``, as scoring decided it: its tubes', never its control's); the
    row's ``verdict`` is the fold change's (drug and control). A folder scored before
    restoration.csv carried it is refused (never decided again here)."""
    verdict = str(row.get("drug_verdict") or "")
    if not verdict:
        raise AssayKitError("restoration.csv records no drug_verdict (scored by an earlier assaykit): score the run "
                            "again to export its drug conditions", where)
    return verdict, _codes({"verdict_reasons": row.get("drug_verdict_reasons")})


def _drawn(tubes: Sequence[Mapping[str, Any]]) -> str:
    """The draw time of a patient time point's tubes (samples.csv ``drawn_at``, one per time
    point from the clinical CSV), as ISO 8601 with a ``T``; "" when not given."""
    found = next((str(t["drawn_at"]) for t in tubes if t.get("drawn_at")), "")
    if not found:
        return ""
    try:
        return dt.datetime.fromisoformat(found).isoformat(timespec="minutes" if found.count(":") == 1 else "seconds")
    except ValueError:
        return ""


def _check_abc_unit(run: RunData) -> None:
    """AssayKitError (one line naming the manifest) when the run's values are not AB/C: a run
    calibrated with beads of another unit (MEFL, MEPE ...) has values that the thresholds, the
    units and the codes of every export format would mislabel. The rule is
    :func:`assaykit.scoring.tables.not_abc_unit`, the one ``assaykit validate`` leaves such
    values out by."""
    from ..scoring.tables import not_abc_unit, run_cell_unit

    unit = run_cell_unit(run.manifest)
    if not_abc_unit(unit):
        raise AssayKitError(f"the run is calibrated in {unit[:40]} (not PE molecules), so its values are not AB/C: "
                            "an export carries AB/C only", run.out_dir / "manifest.json")


NOT_EXPORTED_GROUPS = ("healthy",)
"""The plate map's ``donor_group`` values (compared case-insensitively) whose rows an export
leaves out unless asked (``--include-donor-group``): healthy donors are no trial subjects."""


def donor_group(tubes: Sequence[Mapping[str, Any]]) -> str:
    """The plate map's ``donor_group`` of a patient time point's tubes ("" when not given).

    Parameters
    ----------
    tubes : sequence of mapping
        The time point's samples rows.
    """
    return next((str(t["donor_group"]) for t in tubes if t.get("donor_group")), "")


def select(run: RunData, all_conditions: bool = False, include_groups: Sequence[str] = ()) -> Selection:
    """The values of the scored ``run`` an export carries (module docstring). Patient time
    points whose ``donor_group`` is one of :data:`NOT_EXPORTED_GROUPS` are left out and counted
    (:attr:`Selection.not_exported_groups`) unless named in ``include_groups``. Withheld values
    are counted one per value: a withheld drug row is its AB/C and its fold change.

    Parameters
    ----------
    run : RunData
        The scored run (:func:`assaykit.report.load.load_run`).
    all_conditions : bool
        Also each drug condition's AB/C and fold change (restoration.csv), not only the
        unstimulated AB/C.
    include_groups : sequence of str
        Donor groups to export although :data:`NOT_EXPORTED_GROUPS` names them (case-insensitive).
    """
    control = run.control
    if run.verdicts is None:
        raise AssayKitError("the run was scored before verdicts: nothing says which values are reportable; score "
                            "it again", run.out_dir / "manifest.json")
    calibration_withheld = run.calibration_verdict is not None and run.calibration_verdict.get("status") == "withheld"
    if not calibration_withheld and not any(c.get("slope") is not None for c in run.calibration):
        raise AssayKitError("the run has no bead calibration, so no AB/C: an export carries AB/C only",
                            run.out_dir / "calibration.csv")
    _check_abc_unit(run)
    tubes: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for s in run.samples:
        if s.get("role") == "sample":
            tubes.setdefault((str(s["patient"]), str(s["timepoint"])), []).append(s)
    values: list[ExportValue] = []
    reasons: dict[str, int] = {}
    withheld = 0
    replicates = any(s.get("replicate") for s in run.samples if s.get("role") in ("sample", "control"))
    included = {g.casefold() for g in include_groups}
    left_out = {g.casefold() for g in NOT_EXPORTED_GROUPS} - included
    groups: dict[str, int] = {}

    def skipped(key: tuple[str, str], count: int) -> bool:
        group = donor_group(tubes.get(key, []))
        if group.casefold() in left_out:
            groups[group] = groups.get(group, 0) + count
            return True
        return False

    def replicate_columns(row: Mapping[str, Any]) -> tuple[int | None, float | None]:
        return _replicates(row) if replicates else (None, None)

    for p in run.patients:
        key = (str(p["patient"]), str(p["timepoint"]))
        if not any(t.get("condition") == control for t in tubes.get(key, [])):
            raise AssayKitError(f"patients.csv names {key[0]!r} at {key[1]!r}, which samples.csv has no "
                                f"{control} tube of: not a folder `assaykit score` wrote", run.out_dir / "patients.csv")
        if skipped(key, 1):
            continue
        verdict, codes = _control_verdict(p, run.out_dir / "patients.csv")
        value = _number(p.get("control_abc"))
        if verdict not in REPORTABLE or value is None:
            withheld += 1
            _count(reasons, codes)
            continue
        n, cv = replicate_columns(p)
        values.append(ExportValue(patient=key[0], timepoint=key[1], day=_number(p.get("day")), condition=control,
                                  measure="abc", value=value, verdict=verdict,
                                  warnings=codes if verdict == "reportable_with_warnings" else (),
                                  drawn_at=_drawn(tubes[key]), n_replicates=n, replicate_cv_pct=cv))
    drugs: list[str] = []
    if all_conditions:
        for r in run.restoration:
            key = (str(r["patient"]), str(r["timepoint"]))
            if skipped(key, 2):
                continue
            if r["condition"] not in drugs:
                drugs.append(str(r["condition"]))
            abc, fold = _number(r.get("abc")), _number(r.get("fold_change"))
            if r.get("verdict") not in REPORTABLE or abc is None:
                withheld += 2  # its AB/C and its fold change
                _count(reasons, _codes(r), 2)
                continue
            n, cv = replicate_columns(r)
            drug_verdict, drug_codes = _drug_verdict(r, run.out_dir / "restoration.csv")
            base = ExportValue(patient=key[0], timepoint=key[1], day=_number(r.get("day")),
                               condition=str(r["condition"]), measure="abc", value=abc, verdict=drug_verdict,
                               warnings=drug_codes if drug_verdict == "reportable_with_warnings" else (),
                               drawn_at=_drawn(tubes.get(key, [])), n_replicates=n, replicate_cv_pct=cv,
                               stimulated=True)
            values.append(base)
            if fold is not None:  # rests on the drug and its control: the row's verdict, the worse of both
                values.append(replace(base, measure="fold_change", value=fold, verdict=str(r["verdict"]),
                                      warnings=_codes(r) if r["verdict"] == "reportable_with_warnings" else ()))
            else:
                withheld += 1
                _count(reasons, ())
    thresholds = {k: float(v) for k, v in run.manifest.get("thresholds", {}).items()}
    clinical = run.manifest.get("clinical")
    recorded = clinical if isinstance(clinical, dict) else {}
    selection = Selection(values=tuple(values), withheld=withheld, withheld_reasons=dict(sorted(reasons.items())),
                          control=control, thresholds=thresholds, replicates=replicates, drugs=tuple(drugs),
                          time_basis=str(recorded.get("times") or "unknown"),
                          day_basis=str(recorded.get("days") or "unknown"), not_exported_groups=groups)
    return replace(selection, values=order_values(selection.values, selection))


def order_values(values: Sequence[ExportValue], selection: Selection) -> tuple[ExportValue, ...]:
    """``values`` in export order: by patient, day since admission (then time point name; no day
    last), condition (the control first, then ``selection``'s drugs in order) and measure (AB/C,
    then fold change).

    Parameters
    ----------
    values : sequence of ExportValue
        The values.
    selection : Selection
        Their selection (control and drugs).
    """
    order = {name: i for i, name in enumerate([selection.control, *selection.drugs])}
    return tuple(sorted(values, key=lambda v: (v.patient, math.inf if v.day is None else v.day, v.timepoint,
                                               order.get(v.condition, len(order)), v.measure == "fold_change")))
