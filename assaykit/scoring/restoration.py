"""Immune state, ex vivo restoration and ImmunoSep stratification (docs/scoring.md): pure rules
over AB/C values, every threshold configurable and recorded with the results."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from ..findings import FindingCode, codes_cell, finding
from .rows import ImmunoSepClass, PatientRow, RestorationRow, SampleRow, State

if TYPE_CHECKING:
    from .verdicts import TubeStatus

MAX_ABC = 1e7
"""No threshold lies above 10 million antibodies per cell (monocytes bind tens of thousands)."""
MAX_FERRITIN_NG_ML = 1e6
"""No ferritin cut-off lies above 1,000,000 ng/mL (the highest ever measured are near 100,000)."""
STATES: tuple[State, ...] = ("immunoparalysis", "immunosuppressed", "intermediate", "normal")  # worst first


@dataclass(frozen=True)
class Thresholds:
    """AB/C thresholds of the monocyte HLA-DR states and the ImmunoSep ferritin cut-off."""

    normal_abc: float = 15000.0  # >= normal
    immunosuppressed_abc: float = 8000.0  # < immunosuppressed
    immunoparalysis_abc: float = 5000.0  # < immunoparalysis
    ferritin_ng_ml: float = 4420.0  # > hyper-inflammation (MALS)

    def __post_init__(self) -> None:
        if not 0 < self.immunoparalysis_abc <= self.immunosuppressed_abc <= self.normal_abc <= MAX_ABC:
            raise ValueError("thresholds must satisfy 0 < immunoparalysis <= immunosuppressed <= normal"
                             f" <= {MAX_ABC:g}")
        if not 0 < self.ferritin_ng_ml <= MAX_FERRITIN_NG_ML:
            raise ValueError(f"ferritin_ng_ml must be in (0, {MAX_FERRITIN_NG_ML:g}]")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def decision_abc(self) -> dict[str, float]:
        """The AB/C thresholds that decide a state (name -> AB/C: immunoparalysis_abc,
        immunosuppressed_abc, normal_abc): replicates on both sides of one are withheld
        (verdicts.judge_tubes)."""
        return {"immunoparalysis_abc": self.immunoparalysis_abc, "immunosuppressed_abc": self.immunosuppressed_abc,
                "normal_abc": self.normal_abc}


@dataclass(frozen=True)
class ResponderRule:
    """A drug 'responds' when its fold change over the control reaches ``min_fold_change`` and,
    with ``require_state_improvement``, the AB/C state is better than the control's."""

    min_fold_change: float = 1.5
    require_state_improvement: bool = True

    def describe(self) -> str:
        rule = f"fold change >= {self.min_fold_change:g}"
        return rule + (" and state improved" if self.require_state_improvement else "")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rule": self.describe()}


def state(abc: float | None, thresholds: Thresholds) -> State:
    """The state of ``abc`` (AB/C) under ``thresholds``; "" when there is no value."""
    if abc is None or not math.isfinite(abc):
        return ""
    if abc < thresholds.immunoparalysis_abc:
        return "immunoparalysis"
    if abc < thresholds.immunosuppressed_abc:
        return "immunosuppressed"
    if abc >= thresholds.normal_abc:
        return "normal"
    return "intermediate"


@dataclass(frozen=True)
class Restoration:
    """One drug against its patient's unstimulated control at one time point."""

    control_abc: float
    abc: float
    fold_change: float
    log2_fold_change: float
    delta_abc: float
    gap_closed: float | None  # delta / (normal - control) when the control is below normal
    state_control: State
    state_drug: State
    responder: bool


def restoration(control_abc: float, abc: float, thresholds: Thresholds, rule: ResponderRule) -> Restoration:
    """The restoration measures of a drug's ``abc`` against the patient's ``control_abc`` (AB/C,
    both > 0), its states under ``thresholds`` and the responder call under ``rule``."""
    fold = abc / control_abc
    delta = abc - control_abc
    gap = delta / (thresholds.normal_abc - control_abc) if control_abc < thresholds.normal_abc else None
    s_control, s_drug = state(control_abc, thresholds), state(abc, thresholds)
    improved = STATES.index(s_drug) > STATES.index(s_control)
    responder = fold >= rule.min_fold_change and (improved or not rule.require_state_improvement)
    return Restoration(control_abc, abc, fold, math.log2(fold), delta, gap, s_control, s_drug, responder)


def immunosep_class(ferritin_ng_ml: float | None, control_abc: float | None,
                    thresholds: Thresholds) -> tuple[ImmunoSepClass, str]:
    """ImmunoSep class of ``ferritin_ng_ml`` (ng/mL) and ``control_abc`` (the unstimulated AB/C)
    under ``thresholds``, and the rule that gave it: ``hyperinflammation`` when ferritin > 4,420
    ng/mL (whatever the HLA-DR), ``immunoparalysis`` when ferritin <= 4,420 and the unstimulated
    AB/C < 5,000, ``intermediate`` otherwise; ("", reason) when an input is missing."""
    f, a = thresholds.ferritin_ng_ml, thresholds.immunoparalysis_abc
    if ferritin_ng_ml is None or not math.isfinite(ferritin_ng_ml):
        return "", "no ferritin"
    if ferritin_ng_ml > f:
        return "hyperinflammation", f"ferritin {ferritin_ng_ml:g} > {f:g} ng/mL"
    if control_abc is None or not math.isfinite(control_abc):
        return "", f"ferritin {ferritin_ng_ml:g} <= {f:g} ng/mL but no unstimulated AB/C"
    if control_abc < a:
        return "immunoparalysis", f"ferritin {ferritin_ng_ml:g} <= {f:g} ng/mL and AB/C {control_abc:,.0f} < {a:,.0f}"
    return "intermediate", f"ferritin {ferritin_ng_ml:g} <= {f:g} ng/mL and AB/C {control_abc:,.0f} >= {a:,.0f}"


def _value_verdict(row: SampleRow, missing: FindingCode) -> tuple[TubeStatus, tuple[FindingCode, ...]]:
    """A tube's verdict as judged (scoring.verdicts), else from its findings; a tube without AB/C
    has no value to report (``missing`` names it when nothing else does)."""
    from .verdicts import tube_status

    if row.verdict == "reportable" or row.verdict == "reportable_with_warnings" or row.verdict == "withheld":
        status, codes = row.verdict, row.verdict_reasons
    else:
        status, codes = tube_status(row.qc_flags, failed=bool(row.error))
    if status != "withheld" and row.hladr_abc is None:
        return "withheld", (missing,)
    return status, codes


REPLICATE_JOIN = " + "
"""What joins the files of a value's replicate tubes in restoration.csv's ``file`` and ``control_file``."""


def merge_replicates(tubes: Sequence[SampleRow]) -> tuple[list[SampleRow], dict[str, tuple[int, float | None]]]:
    """One patient time point's sample tubes with each condition's replicates as one row, and
    condition -> (tubes in its value, their CV in % or None). A condition of one tube is its row
    as it is (one tube, no CV). Replicates become one row whose AB/C is
    the mean of the reportable replicates' (:func:`.verdicts.replicate_value`), whose verdict is
    theirs (withheld when all are; ``replicate_withheld`` when some are), whose files are joined by
    :data:`REPLICATE_JOIN` and whose findings are each tube's, named by its file.

    Parameters
    ----------
    tubes : sequence of SampleRow
        The sample tubes of one patient and time point, judged (:func:`.verdicts.judge_tubes`).
    """
    from dataclasses import replace

    from .verdicts import replicate_value

    by_condition: dict[str, list[SampleRow]] = {}
    for tube in tubes:
        by_condition.setdefault(tube.condition, []).append(tube)
    merged: list[SampleRow] = []
    counts: dict[str, tuple[int, float | None]] = {}
    for condition, group in by_condition.items():
        if len(group) == 1:
            merged.append(group[0])
            counts[condition] = (1, None)
            continue
        value = replicate_value(group)
        counts[condition] = (value.n_used, value.cv_pct)
        spread = [f for t in group for f in t.qc_flags if f.code == FindingCode.REPLICATE_CV][:1]
        flags = [f.about(t.file) for t in group for f in t.qc_flags if f.code != FindingCode.REPLICATE_CV]
        merged.append(replace(group[0], file=REPLICATE_JOIN.join(value.files), hladr_abc=value.value,
                              verdict=value.status, verdict_reasons=value.codes, error="",
                              qc_flags=(*spread, *flags, *value.findings)))
    return merged, counts


def _replicates(prefix: str, count: tuple[int, float | None], value: float | None) -> dict[str, Any]:
    """A row's replicate columns (``n_replicates``, ``replicate_cv_pct``, with ``prefix``): none
    without a value."""
    n, cv = count if value is not None else (0, None)
    return {f"{prefix}n_replicates": n, f"{prefix}replicate_cv_pct": cv}


def pair_with_controls(samples: Sequence[SampleRow], control: str, thresholds: Thresholds, rule: ResponderRule,
                       clinical: Mapping[tuple[str, str], float]) -> tuple[list[RestorationRow], list[PatientRow]]:
    """Each drug tube compared with its patient's own control (``control`` condition) at the
    same time point: (restoration rows, one patient row per patient and time point).
    ``samples`` are the samples table's rows (AB/C in ``hladr_abc``, their verdicts judged by
    :func:`assaykit.scoring.verdicts.judge_tubes`); ``clinical`` holds ferritin (ng/mL) per
    (patient, time point), "" for every time point; thresholds in AB/C.

    A comparison is withheld when either tube is: it then has no fold change, delta, gap
    closed, responder call or ImmunoSep class. Its reasons are the drug tube's own codes when
    the drug is withheld, and ``control_no_value`` (its finding naming the control's file and
    codes) when the control is; the drug's own AB/C and state stay only when the drug tube is
    reportable (a valid value on its own). A patient time point whose control is withheld has
    no AB/C, state or ImmunoSep class (``immunosep_rule`` says why; ferritin stays). A
    patient's responders and best drug are taken over the drugs measured (reportable
    comparisons) only; each condition without a value is named with its reasons (``missing``).
    A condition measured in replicate tubes is their mean (:func:`merge_replicates`); each row
    says how many tubes its values rest on (``n_replicates``, ``control_n_replicates``) and their
    CV in % (``replicate_cv_pct``, ``control_replicate_cv_pct``)."""
    from .verdicts import combine

    groups: dict[tuple[str, str], list[SampleRow]] = {}
    for s in samples:
        if s.role == "sample":
            groups.setdefault((s.patient, s.timepoint), []).append(s)
    rows: list[RestorationRow] = []
    patients: list[PatientRow] = []
    for (patient, timepoint), tubes in groups.items():
        members, counts = merge_replicates(tubes)
        ctrl = next(s for s in members if s.condition == control)
        control_verdict = _value_verdict(ctrl, FindingCode.CONTROL_NO_VALUE)
        control_withheld = control_verdict[0] == "withheld"
        control_abc = None if control_withheld else ctrl.hladr_abc
        ferritin = clinical.get((patient, timepoint), clinical.get((patient, "")))
        klass, why = immunosep_class(ferritin, control_abc, thresholds) if clinical else ("", "")
        if clinical and control_withheld:
            klass, why = "", (f"no class: the unstimulated control {ctrl.file} is withheld "
                              f"({codes_cell(control_verdict[1], ', ')})")
        control_gone = finding(FindingCode.CONTROL_NO_VALUE,
                               f"control {ctrl.file} has no reportable value "
                               f"({codes_cell(control_verdict[1], ', ')}"
                               + (f": {ctrl.error}" if ctrl.error else "") + "): the comparison is withheld")
        missing: list[tuple[str, tuple[FindingCode, ...]]] = []
        if control_withheld:
            missing.append((ctrl.condition, control_verdict[1]))
        drug_rows = []
        for s in members:
            if s is ctrl:
                continue
            drug_verdict = _value_verdict(s, FindingCode.DRUG_NO_VALUE)
            drug_withheld = drug_verdict[0] == "withheld"
            abc = None if drug_withheld else s.hladr_abc
            found = [control_gone] if control_withheld else []
            if drug_withheld:
                found.append(finding(FindingCode.DRUG_NO_VALUE,
                                     f"{s.file} has no AB/C" + (f" ({s.error})" if s.error else "")))
            found += [f.about("control") for f in ctrl.qc_flags] + [f.about("drug") for f in s.qc_flags]
            if drug_withheld or control_withheld:
                codes = (*(drug_verdict[1] if drug_withheld else ()),
                         *((FindingCode.CONTROL_NO_VALUE,) if control_withheld else ()))
                status: TubeStatus = "withheld"
                reasons: tuple[FindingCode, ...] = tuple(dict.fromkeys(codes))
                missing.append((s.condition, drug_verdict[1] if drug_withheld else (FindingCode.CONTROL_NO_VALUE,)))
            else:
                status, reasons = combine(control_verdict, drug_verdict)
            measures: dict[str, Any] = {}
            if status != "withheld" and control_abc and abc and control_abc > 0 and abc > 0:
                r = restoration(control_abc, abc, thresholds, rule)
                measures = {"fold_change": r.fold_change, "log2_fold_change": r.log2_fold_change,
                            "delta_abc": r.delta_abc, "gap_closed": r.gap_closed, "responder": r.responder}
            drug_rows.append(RestorationRow(
                patient=patient, timepoint=timepoint, condition=s.condition, control_file=ctrl.file, file=s.file,
                control_abc=control_abc, abc=abc, state_control=state(control_abc, thresholds),
                state_drug=state(abc, thresholds), immunosep_class="" if status == "withheld" else klass,
                qc_flags=tuple(found), verdict=status, verdict_reasons=reasons, drug_verdict=drug_verdict[0],
                drug_verdict_reasons=drug_verdict[1],
                **_replicates("control_", counts[ctrl.condition], control_abc),
                **_replicates("", counts[s.condition], abc), **measures))
        rows.extend(drug_rows)
        measured = [r for r in drug_rows if r.fold_change is not None and r.verdict != "withheld"]
        best = max(measured, key=lambda r: r.fold_change or 0.0) if measured else None
        tube_findings = [f.about(t.file) for t in tubes
                         for f in (*t.qc_flags, *((finding(FindingCode.TUBE_FAILED, t.error),) if t.error else ()))]
        patients.append(PatientRow(
            patient=patient, timepoint=timepoint, control_abc=control_abc, state=state(control_abc, thresholds),
            ferritin_ng_ml=ferritin, immunosep_class=klass, immunosep_rule=why,
            responders=";".join(r.condition for r in measured if r.responder),
            best_condition=best.condition if best else "", best_fold_change=best.fold_change if best else None,
            qc_flags=tuple(tube_findings), completeness="incomplete" if missing else "complete",
            control_verdict=control_verdict[0], control_verdict_reasons=control_verdict[1],
            **_replicates("", counts[ctrl.condition], control_abc),
            missing="; ".join(f"{condition}: {codes_cell(codes, ', ')}"
                              for condition, codes in missing)))
    return rows, patients
