"""Every number carries a verdict: the one rule set that decides whether a run's calibration, a
tube's value, a drug's comparison and a patient's time point are reported (docs/scoring.md,
"Verdicts"). Decided here, from coded findings; tables, ledger, console and pages only render it.

- A **calibration** is ``reportable`` or ``withheld``: withheld when it has an error finding
  (slope outside the lot's range, r^2 below its limit, a used peak's residual above its limit,
  as many lot values as peaks resolved not given, peaks not resolved, a tube of cells rather than
  beads, a bead file identical to another tube's, no calibration at all). A person may release
  a calibration withheld for its quality alone (:data:`RELEASABLE`: slope, r^2, residual) with
  a reason (``--accept-calibration``): it is then ``released``, its values reported with the
  finding ``calibration_released``. A structural finding (:data:`STRUCTURAL`: not beads, a
  duplicate file, peaks not resolved, values not matching the peaks) means the assignment
  itself is wrong: no person can vouch for it, and a release is refused, saying what to fix.
- A **tube** (one value) is ``reportable``, ``reportable_with_warnings`` (a warning finding) or
  ``withheld`` (an error finding or no value: no gate, an implausible gate, an unreadable file,
  its calibration withheld, a file identical to another tube's, QC over time rejected ...).
  Withheld: no AB/C and no % positive; the MFI and the reasons stay.
- A drug's **comparison** with its control takes the worse of the two tubes' verdicts.
- A patient **time point** is ``complete`` when its control and every drug have a value, else
  ``incomplete``, naming each condition without a value and why.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from ..findings import Finding, FindingCode, codes_cell, finding, findings_cell, worst
from .platemap import BLOOD_ROLES
from .rows import Completeness, SampleRow, VerdictStatus

if TYPE_CHECKING:
    from ..beads import BeadLot, Calibration

CalibrationStatus = Literal["reportable", "withheld", "released"]
"""A calibration's verdict: ``released``: withheld by the rules, released by a person (with a reason)."""
TubeStatus = Literal["reportable", "reportable_with_warnings", "withheld"]
"""A value's verdict (a tube's AB/C, a drug's comparison with its control)."""

WITHHELD: TubeStatus = "withheld"


RELEASABLE: frozenset[FindingCode] = frozenset({
    FindingCode.SLOPE_OUT_OF_RANGE, FindingCode.LOW_R_SQUARED, FindingCode.RESIDUAL_TOO_HIGH})
"""The findings a person may release a withheld calibration for (``--accept-calibration``): its
quality alone -- the line is the beads' line, judged too steep, too loose or too far off one
peak. Every other finding withholds it for good (:data:`STRUCTURAL`, ``no_calibration``)."""

STRUCTURAL: Mapping[FindingCode, str] = {
    FindingCode.CELLS_NOT_BEADS: "give the run's bead tube (this file holds cells)",
    FindingCode.DUPLICATE_CONTENT: "give the bead tube's own file (this one is a copy of another tube's)",
    FindingCode.PEAKS_NOT_RESOLVED: "re-acquire the bead tube so that its peaks resolve",
    FindingCode.PEAK_COUNT_MISMATCH: ("enter the lot's values exactly as on its certificate (one per bead peak), or "
                                      "re-acquire the bead tube if a peak was lost"),
}
"""Findings that mean the peaks' assignment itself is wrong (not the tube's beads, not its own
file, too few peaks, values shifted against the peaks): not releasable, each with what to fix
instead."""


def _fixes(codes: Iterable[FindingCode]) -> str:
    return "; ".join(f"{code.value}: {STRUCTURAL.get(code, 'fix the bead tube or the lot file')}" for code in codes)


def release_refusal(codes: Iterable[FindingCode]) -> str:
    """Why a person cannot release a calibration withheld for ``codes`` ("" when every code is
    :data:`RELEASABLE`): the codes that are not, and what to fix instead.

    Parameters
    ----------
    codes : iterable of FindingCode
        The codes that withhold the calibration.
    """
    blocking = [code for code in dict.fromkeys(codes) if code not in RELEASABLE]
    if not blocking:
        return ""
    return (f"release refused: {', '.join(code.value for code in blocking)} "
            f"{'means' if len(blocking) == 1 else 'mean'} the peaks' assignment itself is wrong, which no person "
            f"can vouch for; instead, {_fixes(blocking)} (only {', '.join(sorted(c.value for c in RELEASABLE))} "
            "may be released)")


@dataclass(frozen=True)
class CalibrationVerdict:
    """A run's calibration verdict: ``status``, the error ``findings`` that withhold it (kept
    when released), when a person released it ``released_reason``, and ``release_note``: why a
    release that was given released nothing (refused, nothing withheld, no calibration)."""

    status: CalibrationStatus
    findings: tuple[Finding, ...] = ()
    released_reason: str = ""
    fitted: bool = True  # False: no calibration at all (the tubes' ``no_calibration`` finding says so)
    release_note: str = ""

    @property
    def usable(self) -> bool:
        """Values may be converted with it (reportable, or released by a person)."""
        return self.status != "withheld"

    @property
    def codes(self) -> tuple[FindingCode, ...]:
        """The codes of the findings that withhold it, in order, once each."""
        return tuple(dict.fromkeys(f.code for f in self.findings))

    def describe(self) -> str:
        """One line for people: the status and, withheld or released, why; and why a release
        given released nothing."""
        note = f"; {self.release_note}" if self.release_note else ""
        if self.status == "reportable":
            return "calibration reportable" + note
        why = findings_cell(self.findings)
        if self.status == "released":
            return f"calibration released by a person: {self.released_reason} (withheld for: {why})"
        return f"calibration withheld: {why}{note}"

    def to_dict(self) -> dict[str, Any]:
        """``{"status", "findings": [{"code", "severity", "message"}], "released_reason"}`` (the
        manifest's ``calibration_verdict``), with ``"release_note"`` when a release was given
        that released nothing."""
        out = {"status": self.status, "findings": [f.to_dict() for f in self.findings],
               "released_reason": self.released_reason}
        return {**out, "release_note": self.release_note} if self.release_note else out


def calibration_findings(calibration: Calibration, lot: BeadLot) -> list[Finding]:
    """The verdict's own checks of a fitted calibration against its ``lot``: a used peak's
    residual above ``lot.qc.max_residual_log10`` (for a QuantiBRITE lot also a peak the dim-end
    rule left out: four PE beads on one line, none left out on good tubes, and a typo'd value
    hides there); as many lot values as peaks resolved not given (a typo'd, missing or extra
    value, or a peak lost, shifts the assignment)."""
    found = []
    limit = lot.qc.max_residual_log10
    # QuantiBRITE's four PE beads lie on one line: a peak the dim-end rule left out is judged too
    off = [p for p in calibration.peaks if (p.used or (lot.quantibrite and p.status == "dim_end"))
           and p.residual is not None and abs(p.residual) > limit]
    if off:
        worst_peak = max(off, key=lambda p: abs(p.residual or 0.0))
        left_out = " (left out of the fit by the dim-end rule)" if worst_peak.status == "dim_end" else ""
        found.append(finding(FindingCode.RESIDUAL_TOO_HIGH,
                             f"{len(off)} bead peak(s) off the line by more than {limit:g} decade: the peak at MFI "
                             f"{worst_peak.mfi:,.0f} by {worst_peak.residual:+.3f} (value {worst_peak.value:g})"
                             f"{left_out}; check the values against the certificate"))
    n_values = sum(1 for p in calibration.peaks if p.value is not None) + len(calibration.missing_values)
    if n_values != len(calibration.peaks):
        found.append(finding(FindingCode.PEAK_COUNT_MISMATCH,
                             f"{n_values} lot values for {len(calibration.peaks)} bead peaks resolved: a value "
                             "typo'd, missing or extra, or a peak lost, shifts every assignment; check the values "
                             "against the certificate"))
    return found


MAX_RELEASE_REASON = 500
"""Characters of a person's reason to release a withheld calibration (after trimming)."""


def release_reason_problem(reason: str) -> str:
    """Why ``reason`` cannot release a withheld calibration ("" when it can): a reason is 1 to
    :data:`MAX_RELEASE_REASON` characters of visible text, with at least one letter or digit and
    no control, format or line-separator character (a NUL, a zero-width space or a terminal
    escape would release it invisibly; a line break forges console and table lines).

    Parameters
    ----------
    reason : str
        The reason as given (``--accept-calibration`` or run.yaml ``accept_calibration:``).
    """
    import unicodedata

    text = reason.strip()
    if not 1 <= len(text) <= MAX_RELEASE_REASON:
        return f"a reason of 1 to {MAX_RELEASE_REASON} characters (who released the calibration, and why)"
    hidden = sorted({f"U+{ord(c):04X}" for c in text if unicodedata.category(c)[0] == "C"
                     or unicodedata.category(c) in ("Zl", "Zp")})
    if hidden:
        return (f"the reason holds invisible or control characters ({', '.join(hidden[:5])}): write who released "
                "the calibration, and why, in plain text on one line")
    if not any(c.isalnum() for c in text):
        return "the reason must say who released the calibration, and why, in words"
    return ""


def judge_calibration(calibration: Calibration | None, lot: BeadLot, *, error: str = "",
                      error_code: FindingCode | None = None, extra: Iterable[Finding] = (),
                      accepted: str | None = None) -> CalibrationVerdict:
    """The verdict of a run's bead calibration.

    Parameters
    ----------
    calibration : Calibration or None
        The fitted calibration (None when the bead tube could not be calibrated).
    lot : BeadLot
        Its lot (the residual limit, the values).
    error : str
        Why there is no calibration.
    error_code : FindingCode or None
        The code of that failure (``peaks_not_resolved``, ``cells_not_beads``; default
        ``no_calibration``).
    extra : iterable of Finding
        Findings about the bead tube from elsewhere (a file identical to another tube's).
    accepted : str or None
        A person's reason to release a withheld calibration (``--accept-calibration``). It
        releases one withheld for :data:`RELEASABLE` findings only; for any other finding, a
        calibration that does not exist or one that is reportable, it releases nothing and
        ``release_note`` says why.
    """
    reason = (accepted or "").strip()
    if calibration is None:
        code = error_code or FindingCode.NO_CALIBRATION
        failed = (finding(code, error or "the bead tube could not be calibrated"), *extra)
        note = (f"release refused: no calibration was fitted, so there is nothing to release; instead, "
                f"{_fixes(dict.fromkeys(f.code for f in failed))}") if reason else ""
        return CalibrationVerdict("withheld", failed, fitted=False, release_note=note)
    found = list(dict.fromkeys(f for f in (*calibration.findings, *calibration_findings(calibration, lot), *extra)
                               if f.severity == "error"))
    if not found:
        note = ("release not needed: the calibration is reportable, nothing is withheld; the reason given "
                "(--accept-calibration / accept_calibration:) released nothing") if reason else ""
        return CalibrationVerdict("reportable", release_note=note)
    if reason and not release_reason_problem(reason):
        refusal = release_refusal(f.code for f in found)
        if not refusal:
            return CalibrationVerdict("released", tuple(found), reason)
        return CalibrationVerdict("withheld", tuple(found), release_note=refusal)
    return CalibrationVerdict("withheld", tuple(found))


def with_verdict_findings(calibration: Calibration, lot: BeadLot) -> Calibration:
    """``calibration`` with :func:`calibration_findings` added to its findings (what
    ``calibrate`` and ``gate --beads`` show, and calibration.csv's ``qc_flags``)."""
    extra = [f for f in calibration_findings(calibration, lot) if f not in calibration.findings]
    return replace(calibration, findings=(*calibration.findings, *extra)) if extra else calibration


def tube_status(findings: Iterable[Finding], failed: bool = False) -> tuple[TubeStatus, tuple[FindingCode, ...]]:
    """A value's status from its findings, and the codes that decide it: ``withheld`` with the
    error codes when it ``failed`` (no value) or has an error finding; else
    ``reportable_with_warnings`` with the warning codes; else ``reportable``.

    Parameters
    ----------
    findings : iterable of Finding
        The value's findings.
    failed : bool
        The tube gave no value (its error; ``tube_failed`` is named when no error finding says why).
    """
    found = list(findings)
    level = worst(found)
    if failed or level == "error":
        codes = [f.code for f in found if f.severity == "error"]
        if failed and FindingCode.TUBE_FAILED not in codes:
            codes.insert(0, FindingCode.TUBE_FAILED)
        return "withheld", tuple(dict.fromkeys(codes))
    if level == "warning":
        return "reportable_with_warnings", tuple(dict.fromkeys(f.code for f in found if f.severity == "warning"))
    return "reportable", ()


def content_digest(sample: Any) -> str:
    """The SHA-256 (hex) of a read FCS file's DATA segment alone (the very bytes its events were
    decoded from): what "identical content" means for :func:`duplicate_findings`. A file saved
    over another, or exported twice, differs in its TEXT ($FIL, dates, names) but not in its
    events; "" when ``sample`` holds no DATA bytes."""
    import hashlib

    data = sample.file_bytes[1]
    return hashlib.sha256(data.data).hexdigest() if data.size else ""


def duplicate_findings(rows: Sequence[SampleRow], contents: Mapping[str, str] | None = None) -> dict[str, Finding]:
    """File name -> a ``duplicate_content`` finding, for every tube of the run whose content is
    another tube's: the same file (SHA-256) or the same events under another TEXT (``contents``,
    :func:`content_digest`): both are withheld from any comparison (a file saved over another).

    Parameters
    ----------
    rows : sequence of SampleRow
        The samples rows (with ``sha256``).
    contents : mapping or None
        File name -> the digest of its DATA segment (:func:`content_digest`), where read.
    """
    contents = contents or {}
    groups: dict[str, list[SampleRow]] = {}
    for row in rows:  # a row stands once in each of its groups: its file's and its DATA's
        data = contents.get(row.file, "")
        for key in ([f"file:{row.sha256}"] if row.sha256 else []) + ([f"data:{data}"] if data else []):
            groups.setdefault(key, []).append(row)
    out = {}
    for key, members in groups.items():
        if len(members) < 2:
            continue
        kind, digest = key.split(":", 1)
        what = (f"identical content (SHA-256 {digest[:12]}...)" if kind == "file"
                else f"identical events (DATA SHA-256 {digest[:12]}...) under another TEXT")
        for row in members:
            if row.file in out:
                continue
            others = ", ".join(f"{o.file} (well {o.well})" for o in members if o is not row)
            out[row.file] = finding(FindingCode.DUPLICATE_CONTENT,
                                    f"{what} to {others}: one file was saved over another; withheld from every "
                                    "comparison")
    return out


def calibration_flag(verdict: CalibrationVerdict) -> Finding | None:
    """The finding every blood tube carries for its calibration's verdict: ``calibration_withheld``
    (no AB/C) or ``calibration_released`` (AB/C through a calibration a person released); None when
    it is reportable, or when there is no calibration (the tubes' ``no_calibration`` says so).

    Parameters
    ----------
    verdict : CalibrationVerdict
        The run's calibration verdict.
    """
    codes = codes_cell(verdict.codes, ", ")
    if verdict.status == "released":
        return finding(FindingCode.CALIBRATION_RELEASED,
                       f"AB/C through a calibration withheld ({codes}) and released by a person: "
                       f"{verdict.released_reason}")
    if verdict.status == "withheld" and verdict.fitted:
        return finding(FindingCode.CALIBRATION_WITHHELD, f"no AB/C: the bead calibration is withheld ({codes})")
    return None


def mark_rows(rows: Sequence[SampleRow], duplicates: Mapping[str, Finding],
              calibration: CalibrationVerdict) -> list[SampleRow]:
    """The samples rows with the findings the verdicts add: a tube identical to another
    (``duplicates``, :func:`duplicate_findings`) and each blood tube's :func:`calibration_flag`.

    Parameters
    ----------
    rows : sequence of SampleRow
        The samples rows.
    duplicates : mapping
        File name -> its ``duplicate_content`` finding.
    calibration : CalibrationVerdict
        The run's calibration verdict.
    """
    flag = calibration_flag(calibration)
    out = []
    for row in rows:
        extra = [duplicates[row.file]] if row.file in duplicates else []
        if row.role in BLOOD_ROLES and flag is not None and not row.error:
            extra.append(flag)
        out.append(replace(row, qc_flags=(*row.qc_flags, *extra)) if extra else row)
    return out


DEFAULT_REPLICATE_CV_LIMIT_PCT = 20.0
"""The replicates' CV (%) above which their tubes carry ``replicate_cv`` (run.yaml
``replicate_cv_limit_pct``): Quadrini 2021's precision criterion for monocyte HLA-DR (%CV <= 20 %)."""
REPLICATE_ROLES = ("sample", "control")
"""The roles whose replicate tubes are averaged and judged by their CV (an isotype tube's value is
read for its cut, not reported)."""


def replicate_cv_pct(values: Sequence[float]) -> float | None:
    """The coefficient of variation of replicate ``values`` in %: the sample standard deviation
    (n - 1 in the denominator) over the mean, times 100; None for fewer than two values or a
    mean that is not above 0.

    Parameters
    ----------
    values : sequence of float
        The replicates' values (AB/C, or any one unit).
    """
    import statistics

    if len(values) < 2:
        return None
    mean = statistics.fmean(values)
    if not mean > 0:
        return None
    return 100.0 * statistics.stdev(values) / mean


def replicate_groups(rows: Sequence[SampleRow]) -> dict[tuple[str, str, str, str], list[SampleRow]]:
    """(role, patient, time point, condition) -> the rows of each group of replicate tubes: two
    or more tubes of a :data:`REPLICATE_ROLES` role labelled in the plate map's ``replicate``
    column (the plate map refused any other repetition), in the samples' order.

    Parameters
    ----------
    rows : sequence of SampleRow
        The samples rows.
    """
    groups: dict[tuple[str, str, str, str], list[SampleRow]] = {}
    for row in rows:
        if row.role in REPLICATE_ROLES and row.replicate:
            groups.setdefault((row.role, row.patient, row.timepoint, row.condition), []).append(row)
    return {key: members for key, members in groups.items() if len(members) > 1}


def _reportable_value(row: SampleRow) -> bool:
    return row.verdict in ("reportable", "reportable_with_warnings") and row.hladr_abc is not None


def _cv_findings(rows: Sequence[SampleRow], limit_pct: float) -> dict[str, Finding]:
    """File -> the ``replicate_cv`` finding of each tube of a replicate group whose reportable
    values' CV is above ``limit_pct`` (%)."""
    out: dict[str, Finding] = {}
    for (_, patient, timepoint, condition), members in replicate_groups(rows).items():
        used = [m for m in members if _reportable_value(m)]
        cv = replicate_cv_pct([float(m.hladr_abc) for m in used if m.hladr_abc is not None])
        if cv is None or cv <= limit_pct:
            continue
        message = (f"the {len(used)} replicates of {_where(patient, timepoint, condition)} ({_named(used)}) vary by "
                   f"CV {cv:.2f} %, above the limit {limit_pct:g} % (replicate_cv_limit_pct)")
        for m in members:
            out[m.file] = finding(FindingCode.REPLICATE_CV, message)
    return out


def _where(patient: str, timepoint: str, condition: str) -> str:
    return f"{patient}" + (f" at {timepoint}" if timepoint else "") + f", {condition}"


def _named(used: Sequence[SampleRow]) -> str:
    return ", ".join(f"{m.replicate} {m.file}" + (f": {m.hladr_abc:,.0f}" if m.hladr_abc is not None else "")
                     for m in used)


def thresholds_crossed(values: Sequence[float], decision_abc: Mapping[str, float]) -> tuple[str, ...]:
    """The names of the decision thresholds (``decision_abc``: name -> AB/C) that ``values``
    fall on both sides of: some below the threshold, some at or above it (a state is "below"
    or "at or above" each threshold: restoration.Thresholds). Empty when they all fall in one
    class.

    Parameters
    ----------
    values : sequence of float
        Replicates' AB/C.
    decision_abc : mapping
        Threshold name -> AB/C (restoration.Thresholds.decision_abc).
    """
    return tuple(name for name, cut in decision_abc.items()
                 if any(v < cut for v in values) and any(v >= cut for v in values))


def _disagreement_findings(rows: Sequence[SampleRow], decision_abc: Mapping[str, float],
                           withhold_pct: float | None) -> dict[str, Finding]:
    """File -> the error finding of each tube of a replicate group whose reportable values a
    mean cannot stand for: ``replicates_disagree`` when they fall on different sides of a
    decision threshold, else ``replicate_cv_withheld`` when their CV is above ``withhold_pct``."""
    out: dict[str, Finding] = {}
    for (_, patient, timepoint, condition), members in replicate_groups(rows).items():
        used = [m for m in members if _reportable_value(m)]
        values = [float(m.hladr_abc) for m in used if m.hladr_abc is not None]
        crossed = thresholds_crossed(values, decision_abc)
        cv = replicate_cv_pct(values)
        if crossed:
            cuts = ", ".join(f"{name} {decision_abc[name]:,.0f}" for name in crossed)
            found = finding(FindingCode.REPLICATES_DISAGREE,
                            f"the {len(used)} replicates of {_where(patient, timepoint, condition)} ({_named(used)}) "
                            f"fall on different sides of the threshold(s) {cuts} AB/C: their mean could belong to "
                            "another class, so the value is withheld; repeat the tubes")
        elif withhold_pct is not None and cv is not None and cv > withhold_pct:
            found = finding(FindingCode.REPLICATE_CV_WITHHELD,
                            f"the {len(used)} replicates of {_where(patient, timepoint, condition)} ({_named(used)}) "
                            f"vary by CV {cv:.2f} %, above the hard limit {withhold_pct:g} % "
                            "(replicate_cv_withhold_pct): the value is withheld; repeat the tubes")
        else:
            continue
        for m in members:
            out[m.file] = found
    return out


@dataclass(frozen=True, kw_only=True)
class ReplicateValue:
    """The reportable value of one (patient, time point, condition): the mean of its replicate
    tubes' reportable AB/C (one tube: its own). ``value`` (the tubes' unit; None when every tube
    is withheld), ``n_used`` (tubes in the mean), ``n_tubes`` (all), ``cv_pct`` (% over the tubes
    used, None under two), ``status`` and ``codes`` (the used tubes' worst verdict, with
    ``replicate_withheld`` when some tube was left out; all withheld: withheld with their codes),
    ``findings`` (the ``replicate_withheld`` finding, when given) and ``files`` (every tube's)."""

    value: float | None
    n_used: int
    n_tubes: int
    cv_pct: float | None
    status: TubeStatus
    codes: tuple[FindingCode, ...]
    findings: tuple[Finding, ...] = ()
    files: tuple[str, ...] = ()


def replicate_value(members: Sequence[SampleRow]) -> ReplicateValue:
    """The :class:`ReplicateValue` of one group's tubes after :func:`judge_tubes` (a withheld
    replicate is left out of the mean and named).

    Parameters
    ----------
    members : sequence of SampleRow
        The tubes of one (role, patient, time point, condition): one, or its replicates.
    """
    import statistics

    used = [m for m in members if _reportable_value(m)]
    files = tuple(m.file for m in members)
    if not used:
        held = [c for m in members for c in (m.verdict_reasons or (FindingCode.TUBE_FAILED,))]
        return ReplicateValue(value=None, n_used=0, n_tubes=len(members), cv_pct=None, status=WITHHELD,
                              codes=tuple(dict.fromkeys(held)), files=files)
    values = [float(m.hladr_abc) for m in used if m.hladr_abc is not None]
    parts: list[tuple[TubeStatus, tuple[FindingCode, ...]]] = []
    for m in used:
        parts.append(("reportable_with_warnings" if m.verdict == "reportable_with_warnings" else "reportable",
                      m.verdict_reasons))
    found: tuple[Finding, ...] = ()
    left = [m for m in members if m not in used]
    if left:
        message = (f"{len(left)} of {len(members)} replicates withheld ("
                   + ", ".join(f"{m.replicate} {m.file}: {codes_cell(m.verdict_reasons, ', ') or 'no value'}"
                               for m in left) + f"): the value is the mean of {len(used)}")
        found = (finding(FindingCode.REPLICATE_WITHHELD, message),)
        parts.append(("reportable_with_warnings", (FindingCode.REPLICATE_WITHHELD,)))
    status, codes = combine(*parts)
    return ReplicateValue(value=statistics.fmean(values), n_used=len(used), n_tubes=len(members),
                          cv_pct=replicate_cv_pct(values), status=status, codes=codes, findings=found, files=files)


def judge_tubes(rows: Sequence[SampleRow], calibration: CalibrationVerdict,
                run_findings: Iterable[Finding] = (),
                replicate_cv_limit_pct: float = DEFAULT_REPLICATE_CV_LIMIT_PCT,
                decision_abc: Mapping[str, float] | None = None,
                replicate_cv_withhold_pct: float | None = None) -> list[SampleRow]:
    """The samples rows with their verdicts: each blood tube's from its findings, its error and
    ``run_findings`` (the run's QC over time); a withheld tube loses its AB/C and % positive
    (its MFI stays), and so do the % positive of a time point whose isotype tube is withheld.
    The bead tube's verdict is the calibration's; a blank has none. Each tube of a group of
    replicates (:func:`replicate_groups`) whose reportable values fall on different sides of a
    decision threshold (``decision_abc``) carries ``replicates_disagree``, else, with their CV
    above ``replicate_cv_withhold_pct``, ``replicate_cv_withheld`` (errors: the value is
    withheld); with their CV above ``replicate_cv_limit_pct``, ``replicate_cv`` (a warning:
    reportable with warnings). Judging again gives the same rows (the warning CV is judged anew;
    a group once withheld stays withheld, its values gone).

    Parameters
    ----------
    rows : sequence of SampleRow
        The samples rows (their findings include the calibration's and duplicates').
    calibration : CalibrationVerdict
        The run's calibration verdict.
    run_findings : iterable of Finding
        Findings of the whole run that every value shares.
    replicate_cv_limit_pct : float
        The replicates' CV limit, in % (run.yaml ``replicate_cv_limit_pct``): a warning above it.
    decision_abc : mapping or None
        The run's decision thresholds, name -> AB/C (restoration.Thresholds.decision_abc); None:
        replicates are not checked against thresholds.
    replicate_cv_withhold_pct : float or None
        The lab's hard CV limit, in % (run.yaml ``replicate_cv_withhold_pct``): the value is
        withheld above it; None: no such limit.
    """
    rows = [replace(r, qc_flags=tuple(f for f in r.qc_flags if f.code != FindingCode.REPLICATE_CV))
            if any(f.code == FindingCode.REPLICATE_CV for f in r.qc_flags) else r for r in rows]
    judged = _judge_tubes(rows, calibration, run_findings)
    held = _disagreement_findings(judged, decision_abc or {}, replicate_cv_withhold_pct)
    if held:
        rows = [replace(r, qc_flags=(*r.qc_flags, held[r.file])) if r.file in held else r for r in rows]
        judged = _judge_tubes(rows, calibration, run_findings)
    spread = _cv_findings(judged, replicate_cv_limit_pct)
    if not spread:
        return judged
    rows = [replace(r, qc_flags=(*r.qc_flags, spread[r.file])) if r.file in spread else r for r in rows]
    return _judge_tubes(rows, calibration, run_findings)


def _judge_tubes(rows: Sequence[SampleRow], calibration: CalibrationVerdict,
                 run_findings: Iterable[Finding]) -> list[SampleRow]:
    shared = [f for f in run_findings if f is not None]
    out = []
    for row in rows:
        if row.role == "beads":
            out.append(replace(row, verdict=calibration.status, verdict_reasons=calibration.codes))
        elif row.role in BLOOD_ROLES:
            status, codes = tube_status((*row.qc_flags, *shared), failed=bool(row.error))
            if status == WITHHELD:
                row = replace(row, hladr_abc=None, hladr_pos_pct=None)
            out.append(replace(row, verdict=status, verdict_reasons=codes))
        else:
            out.append(replace(row, verdict="", verdict_reasons=()))
    # % positive is read against the time point's isotype tube: none when that tube is withheld
    no_cut = {(r.patient, r.timepoint) for r in out if r.role == "isotype" and r.verdict == WITHHELD}
    return [replace(r, hladr_pos_pct=None) if (r.patient, r.timepoint) in no_cut and r.role in BLOOD_ROLES else r
            for r in out]


def enters_qc_over_time(row: SampleRow) -> bool:
    """Whether a blood tube's AB/C enters QC over time (the ledger's Westgard series, and so every
    later run's history): only a value judged reportable (with or without warnings) whose AB/C
    came through a calibration the rules found reportable -- not one a person released
    (``calibration_released``): the rules withheld that calibration, as they keep its bead series
    out.

    Parameters
    ----------
    row : SampleRow
        A samples row after :func:`judge_tubes`.
    """
    return (row.hladr_abc is not None and row.verdict in ("reportable", "reportable_with_warnings")
            and all(f.code != FindingCode.CALIBRATION_RELEASED for f in row.qc_flags))


def combine(*verdicts: tuple[TubeStatus, tuple[FindingCode, ...]]) -> tuple[TubeStatus, tuple[FindingCode, ...]]:
    """The verdict of a value made of others (a drug's comparison with its control): the worst
    status, and the codes of those with that status.

    Parameters
    ----------
    verdicts : (status, codes) pairs
        The parts' verdicts.
    """
    order: tuple[TubeStatus, ...] = ("reportable", "reportable_with_warnings", "withheld")
    status: TubeStatus = max((v[0] for v in verdicts), key=order.index, default="reportable")
    codes = [c for s, cs in verdicts if s == status for c in cs]
    return status, tuple(dict.fromkeys(codes))


@dataclass(frozen=True)
class RunVerdicts:
    """The count of a run's values (blood tubes) by verdict, and the codes that withheld them
    (manifest ``verdicts``; the console line)."""

    values: int
    reportable: int
    withheld: int
    reasons: Mapping[str, int]

    def to_dict(self) -> dict[str, Any]:
        """``{"values": M, "reportable": N, "withheld": K, "reasons": {code: count}}``."""
        return {"values": self.values, "reportable": self.reportable, "withheld": self.withheld,
                "reasons": dict(self.reasons)}

    def line(self) -> str:
        """``N of M values reportable; K withheld: code (n), ...``."""
        text = f"{self.reportable} of {self.values} values reportable; {self.withheld} withheld"
        if self.reasons:
            text += ": " + ", ".join(f"{code} ({n})" for code, n in self.reasons.items())
        return text


def run_verdicts(rows: Sequence[SampleRow]) -> RunVerdicts:
    """The run's :class:`RunVerdicts` from its judged samples rows (blood tubes only).

    Parameters
    ----------
    rows : sequence of SampleRow
        The samples rows after :func:`judge_tubes`.
    """
    blood = [r for r in rows if r.role in BLOOD_ROLES]
    withheld = [r for r in blood if r.verdict == WITHHELD]
    reasons = Counter(code.value for r in withheld for code in r.verdict_reasons)
    return RunVerdicts(values=len(blood), reportable=len(blood) - len(withheld), withheld=len(withheld),
                       reasons=dict(sorted(reasons.items(), key=lambda item: (-item[1], item[0]))))


__all__ = [
    "DEFAULT_REPLICATE_CV_LIMIT_PCT",
    "RELEASABLE",
    "REPLICATE_ROLES",
    "STRUCTURAL",
    "CalibrationStatus",
    "CalibrationVerdict",
    "Completeness",
    "ReplicateValue",
    "RunVerdicts",
    "TubeStatus",
    "VerdictStatus",
    "calibration_findings",
    "calibration_flag",
    "codes_cell",
    "combine",
    "content_digest",
    "duplicate_findings",
    "enters_qc_over_time",
    "judge_calibration",
    "judge_tubes",
    "mark_rows",
    "release_reason_problem",
    "release_refusal",
    "replicate_cv_pct",
    "replicate_groups",
    "replicate_value",
    "run_verdicts",
    "thresholds_crossed",
    "tube_status",
    "with_verdict_findings",
]
