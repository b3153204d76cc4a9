"""Acceptance criteria of a method validation (docs/validation.md, "Acceptance criteria"): the
defaults shipped as ``assaykit/validation/criteria.yaml`` (each default's source cited there and in
the docs), a lab's own YAML overriding keys of them (an unknown key refused by name), and each
criterion evaluated to a typed :class:`Outcome` (pass / fail / not_evaluated with why).
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..errors import AssayKitError
from .stats import Precision, ReferenceInterval, Stability

if TYPE_CHECKING:
    from ..scoring.agreement import PassingBablok

DesignMet = Literal["establish", "verify", "too_few"]
"""The precision design a study meets (precision.csv's ``design_meets``): ``establish`` (CLSI
EP05-A3, 20 days x 2 runs x 2 replicates by default), ``verify`` (CLSI EP15-A3, 5 runs x 5
replicates), ``too_few`` (neither: its CVs are not evaluated)."""

Result = Literal["pass", "fail", "not_evaluated"]
"""What a criterion came to: ``pass``, ``fail``, or ``not_evaluated`` (no or too little data:
the outcome's ``why`` says which)."""

CriterionName = Literal["repeatability_cv", "within_laboratory_cv", "method_comparison_mean_difference",
                        "method_comparison_slope", "method_comparison_intercept", "stability_drift",
                        "reference_interval_method", "reference_interval_transference"]
"""The criteria, one code each (criteria.csv's ``criterion`` column)."""

NotEvaluatedWhy = Literal["", "no_data", "too_few", "not_configured"]
"""Why a criterion was not evaluated: ``no_data`` (nothing to compute it from), ``too_few`` (too
few values for the statistic, or a design below the criteria's minimum: the detail says ``too few
(n of N ...)``), ``not_configured`` (the criterion is off in the YAML, e.g. no
transference interval given); "" when it was evaluated."""

SHIPPED = "criteria.yaml"
"""The shipped defaults' file name (in the package ``assaykit.validation``)."""


@dataclass(frozen=True)
class PrecisionCriteria:
    """Precision limits (CLSI EP05 statistics).

    Parameters
    ----------
    repeatability_cv_pct_max : float
        Highest accepted repeatability (within-run) CV, percent (default 20, Quadrini 2021).
    within_laboratory_cv_pct_max : float
        Highest accepted within-laboratory (intermediate precision) CV, percent (default 20,
        Quadrini 2021).
    min_runs : int
        Fewest runs a CV is judged on, with ``min_replicates_per_run`` (default 5: CLSI EP15-A3's
        verification design, 5 runs x 5 replicates).
    min_replicates_per_run : int
        Fewest replicates in every run (default 5, EP15-A3).
    establish_days : int
        Days of CLSI EP05-A3's design to establish precision (default 20; 20 days x 2 runs x 2
        replicates): a design meeting it is judged too.
    establish_runs_per_day : int
        Runs a day of that design (default 2).
    establish_replicates_per_run : int
        Replicates a run of that design (default 2).
    """

    repeatability_cv_pct_max: float
    within_laboratory_cv_pct_max: float
    min_runs: int = 5
    min_replicates_per_run: int = 5
    establish_days: int = 20
    establish_runs_per_day: int = 2
    establish_replicates_per_run: int = 2

    def __post_init__(self) -> None:
        _positive(self.repeatability_cv_pct_max, "repeatability_cv_pct_max")
        _positive(self.within_laboratory_cv_pct_max, "within_laboratory_cv_pct_max")
        for name in ("min_runs", "establish_days"):
            if getattr(self, name) < 2:
                raise ValueError(f"{name} must be at least 2 (between-run precision needs two runs)")
        for name in ("min_replicates_per_run", "establish_runs_per_day", "establish_replicates_per_run"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")

    def design_meets(self, n_runs: int, replicates_per_run: int, n_days: int, runs_per_day: int) -> DesignMet:
        """Which design a precision study meets: ``establish`` (EP05-A3's days x runs x
        replicates), ``verify`` (EP15-A3's runs x replicates) or ``too_few`` (neither: its CVs not
        evaluated). ``n_runs``: runs; ``replicates_per_run``: the fewest replicates of a run;
        ``n_days``: days; ``runs_per_day``: the fewest runs of a day."""
        if (n_days >= self.establish_days and runs_per_day >= self.establish_runs_per_day
                and replicates_per_run >= self.establish_replicates_per_run):
            return "establish"
        if n_runs >= self.min_runs and replicates_per_run >= self.min_replicates_per_run:
            return "verify"
        return "too_few"


@dataclass(frozen=True)
class ComparisonCriteria:
    """Method-comparison limit.

    Parameters
    ----------
    mean_difference_pct_max : float
        The mean % difference of the compared method from the reference must lie within
        +- this, percent (default 20, Quadrini 2021's lab-to-lab % difference).
    min_samples : int
        Fewest samples (pairs after replicate tubes of a sample are averaged) the comparison is
        judged on (default 40, CLSI EP09-A3); fewer: every comparison criterion not evaluated.
    passing_bablok : bool
        Judge the Passing-Bablok regression too: its slope's 95 % CI must contain 1 (no
        proportional bias) and its intercept's contain 0 (no constant bias) (default true).
    """

    mean_difference_pct_max: float
    min_samples: int = 40
    passing_bablok: bool = True

    def __post_init__(self) -> None:
        _positive(self.mean_difference_pct_max, "mean_difference_pct_max")
        if self.min_samples < 3:
            raise ValueError("min_samples must be at least 3 (Passing-Bablok's least)")


@dataclass(frozen=True)
class StabilityCriteria:
    """Stability limit.

    Parameters
    ----------
    window_h : float
        The time from draw to stain the drift is judged at, hours (default 4, Docke 2005).
    drift_at_window_pct_max : float
        The drift at ``window_h`` must lie within +- this, percent (default 20: Quadrini's
        % difference applied to stability; Docke 2005 saw about 4 %).
    min_donors : int
        Fewest donors with values at ``min_times`` times the drift is judged on (default 2).
    min_times : int
        Fewest different draw-to-stain times of such a donor (default 2).
    """

    window_h: float
    drift_at_window_pct_max: float
    min_donors: int = 2
    min_times: int = 2

    def __post_init__(self) -> None:
        _positive(self.window_h, "window_h")
        _positive(self.drift_at_window_pct_max, "drift_at_window_pct_max")
        if self.min_donors < 1:
            raise ValueError("min_donors must be at least 1")
        if self.min_times < 2:
            raise ValueError("min_times must be at least 2 (a drift needs two times)")


@dataclass(frozen=True)
class Transference:
    """EP28-A3c transference of a published or another lab's interval: at most
    ``max_outside_fraction`` of at least ``min_n`` local reference donors outside it.

    Parameters
    ----------
    lower : float
        The interval's lower limit (units of the values, e.g. AB/C).
    upper : float
        Its upper limit.
    min_n : int
        Fewest donors to test with (EP28-A3c: 20).
    max_outside_fraction : float
        Largest fraction outside the interval that still accepts it (EP28-A3c: 2 of 20, 0.10).
    """

    lower: float
    upper: float
    min_n: int = 20
    max_outside_fraction: float = 0.10

    def __post_init__(self) -> None:
        if not self.lower < self.upper:
            raise ValueError(f"lower ({self.lower:g}) must be below upper ({self.upper:g})")
        if self.min_n < 1:
            raise ValueError("min_n must be at least 1")
        if not 0.0 <= self.max_outside_fraction < 1.0:
            raise ValueError("max_outside_fraction must lie in [0, 1)")


@dataclass(frozen=True)
class ReferenceCriteria:
    """Reference-interval settings.

    Parameters
    ----------
    donor_group : str
        The plate map's ``donor_group`` whose unstimulated tubes are reference values
        (default ``healthy``).
    coverage : float
        Central fraction of the interval (0.95, EP28-A3c).
    ci : float
        Confidence level of the limits' intervals (0.90, EP28-A3c).
    nonparametric_min_n : int
        Fewest values for the nonparametric method (120, EP28-A3c); fewer: robust and flagged.
    min_n : int
        Fewer values are not evaluated (20).
    transference : Transference or None
        An interval to check by transference (None: not configured).
    transform : str
        The scale of the robust method: ``log`` (default: AB/C across donors is positive and
        right-skewed) or ``none``.
    """

    donor_group: str
    coverage: float
    ci: float
    nonparametric_min_n: int
    min_n: int
    transference: Transference | None = None
    transform: str = "log"

    def __post_init__(self) -> None:
        if not self.donor_group.strip():
            raise ValueError("donor_group must name a group")
        for name in ("coverage", "ci"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ValueError(f"{name} must lie between 0 and 1 (a fraction, e.g. 0.95)")
        if self.min_n < 20:
            raise ValueError("min_n must be at least 20 (the robust method's least, EP28-A3c)")
        if self.nonparametric_min_n < 120:
            raise ValueError("nonparametric_min_n must be at least 120 (EP28-A3c)")
        if self.transform not in ("log", "none"):
            raise ValueError("transform must be log or none")


@dataclass(frozen=True)
class Criteria:
    """The acceptance criteria of one validation.

    Parameters
    ----------
    precision : PrecisionCriteria
        Precision limits.
    method_comparison : ComparisonCriteria
        Method-comparison limit.
    stability : StabilityCriteria
        Stability window and limit.
    reference_interval : ReferenceCriteria
        Reference-interval settings and the optional transference check.
    source : str
        Where they came from: ``shipped:criteria.yaml``, or the lab's file's path (over the
        shipped defaults).
    sha256 : str
        SHA-256 of the lab's file's bytes (of the shipped file's without one).
    """

    precision: PrecisionCriteria
    method_comparison: ComparisonCriteria
    stability: StabilityCriteria
    reference_interval: ReferenceCriteria
    source: str
    sha256: str


@dataclass(frozen=True)
class Outcome:
    """One criterion evaluated (a row of criteria.csv).

    Parameters
    ----------
    criterion : str
        Which (:data:`CriterionName`).
    subject : str
        What it was evaluated on (a material, "pooled", a method pair ...), as the caller named it.
    value : float or None
        The statistic judged (its unit in ``unit``); None when not evaluated.
    limit : str
        The limit as text (e.g. ``<= 20``, ``within +-20``).
    unit : str
        Unit of ``value`` and ``limit`` (``%``, ``n``, ...).
    result : str
        :data:`Result`.
    why : str
        :data:`NotEvaluatedWhy` code ("" when evaluated).
    detail : str
        A sentence for the reader (what was compared; for not_evaluated what was missing).
    """

    criterion: CriterionName
    subject: str
    value: float | None
    limit: str
    unit: str
    result: Result
    why: NotEvaluatedWhy = ""
    detail: str = ""

    def row(self) -> dict[str, Any]:
        """The outcome as a row of criteria.csv, columns :data:`OUTCOME_COLUMNS` in order (``value``
        "" when not evaluated)."""
        return {"criterion": self.criterion, "subject": self.subject,
                "value": "" if self.value is None else self.value, "unit": self.unit, "limit": self.limit,
                "result": self.result, "why": self.why, "detail": self.detail}


OUTCOME_COLUMNS = ("criterion", "subject", "value", "unit", "limit", "result", "why", "detail")
"""criteria.csv's columns (:meth:`Outcome.row`)."""


def _positive(value: float, name: str) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be above 0, got {value:g}")


_SECTIONS = {"precision": PrecisionCriteria, "method_comparison": ComparisonCriteria, "stability": StabilityCriteria,
             "reference_interval": ReferenceCriteria}


def shipped_bytes() -> bytes:
    """The bytes of the shipped defaults (``assaykit/validation/criteria.yaml``, in the wheel)."""
    from importlib.resources import files

    return files("assaykit.validation").joinpath(SHIPPED).read_bytes()


def load_criteria(path: str | os.PathLike[str] | None = None) -> Criteria:
    """The acceptance criteria: the shipped defaults, with the keys of the lab's YAML file
    ``path`` (None: the defaults alone) overriding them section by section. An unknown key, a
    value of the wrong type or out of range: AssayKitError in one line naming the file and the key."""
    from .._io.config import parse_yaml

    data = shipped_bytes()
    defaults = parse_yaml(data, f"shipped:{SHIPPED}", AssayKitError, "criteria file")
    if path is None:
        return _criteria(defaults, {}, f"shipped:{SHIPPED}", hashlib.sha256(data).hexdigest())
    from .._io.read import CONFIG_LIMIT, read_input

    raw = read_input(path, AssayKitError, "criteria file", CONFIG_LIMIT)
    doc = parse_yaml(raw, Path(path), AssayKitError, "criteria file")
    return _criteria(defaults, doc, str(path), hashlib.sha256(raw).hexdigest())


def _criteria(defaults: Any, doc: Any, source: str, sha256: str) -> Criteria:
    """The sections of ``defaults`` overridden key by key by those of ``doc`` (the lab's), checked."""
    from .._io.validate import build, checking, known, mapping

    with checking(AssayKitError, None if source.startswith("shipped:") else source):
        lab = known(mapping(doc, "", optional=True), _SECTIONS, "")
        built: dict[str, Any] = {}
        for name, cls in _SECTIONS.items():
            merged = {**mapping(defaults.get(name), name, optional=True), **mapping(lab.get(name), name, optional=True)}
            if cls is ReferenceCriteria:
                given = merged.pop("transference", None)
                transference = None if given is None else build(Transference, given, f"{name}.transference")
                built[name] = build(cls, merged, name, fixed={"transference": transference})
            else:
                built[name] = build(cls, merged, name)
    return Criteria(precision=built["precision"], method_comparison=built["method_comparison"],
                    stability=built["stability"], reference_interval=built["reference_interval"], source=source,
                    sha256=sha256)


PrecisionDesign = tuple[int, int, int, int]
"""A precision study's design: (runs, the fewest replicates of a run, days, the fewest runs of a day)."""


def design_text(design: PrecisionDesign) -> str:
    """A precision design as the report shows it: ``3 runs x 2 replicates`` (``on 20 days`` added
    when a day held two runs or more).

    Parameters
    ----------
    design : tuple of int
        (runs, the fewest replicates of a run, days, the fewest runs of a day).
    """
    runs, replicates, days, per_day = design
    on = f" on {days} day{'s' if days != 1 else ''}" if per_day >= 2 else ""
    return f"{runs} runs x {replicates} replicates{on}"


def evaluate_precision(result: Precision | None, criteria: Criteria, subject: str,
                       why: NotEvaluatedWhy = "no_data",
                       design: PrecisionDesign | None = None) -> tuple[Outcome, Outcome]:
    """The repeatability and within-laboratory CV criteria of one precision ``result`` (None:
    both not evaluated for ``why``). ``criteria``: the limits and the least design; ``subject``:
    what it was evaluated on (e.g. the material's name), copied into the outcomes; ``design``:
    (runs, fewest replicates of a run, days, fewest runs of a day) of the study (None: from the
    result, its values spread evenly over its runs). A design meeting neither EP15-A3's
    verification design nor EP05-A3's (:meth:`PrecisionCriteria.design_meets`) is not evaluated
    (``too_few``, the detail ``too few (3 of 5 runs, 2 of 5 replicates per run)``). A CV is judged
    on its estimate (not its confidence limit): ``value <= limit`` passes."""
    limits = criteria.precision
    pairs: list[tuple[CriterionName, float, str]] = [
        ("repeatability_cv", limits.repeatability_cv_pct_max, "repeatability"),
        ("within_laboratory_cv", limits.within_laboratory_cv_pct_max, "within_laboratory")]
    if result is not None and design is None:
        design = (result.n_runs, result.n // max(result.n_runs, 1), result.n_days or result.n_runs, 1)
    met = limits.design_meets(*design) if design is not None else "too_few"
    out = []
    for code, limit, component in pairs:
        shown = f"<= {limit:g}"
        if result is None:
            out.append(_not_evaluated(code, subject, shown, "%", why))
            continue
        assert design is not None
        if met == "too_few":
            out.append(_not_evaluated(code, subject, shown, "%", "too_few",
                                      f"too few ({design[0]} of {limits.min_runs} runs, {design[1]} of "
                                      f"{limits.min_replicates_per_run} replicates per run: EP15-A3's verification "
                                      f"design; {design_text(design)} measured)"))
            continue
        value = float(getattr(result, component).cv_pct)
        if not math.isfinite(value):
            out.append(_not_evaluated(code, subject, shown, "%", "no_data", "the mean is 0: no CV"))
            continue
        meets = ("EP05-A3's design to establish" if met == "establish" else "EP15-A3's design to verify")
        out.append(Outcome(criterion=code, subject=subject, value=value, limit=shown, unit="%",
                           result="pass" if value <= limit else "fail",
                           detail=f"{component.replace('_', '-')} CV {value:.2f} % over {result.n} values "
                                  f"({design_text(design)}: meets {meets})"))
    return out[0], out[1]


def _not_evaluated(code: CriterionName, subject: str, limit: str, unit: str, why: NotEvaluatedWhy,
                   detail: str = "") -> Outcome:
    reasons = {"": "", "no_data": "no data", "too_few": "too few values", "not_configured": "not configured"}
    return Outcome(criterion=code, subject=subject, value=None, limit=limit, unit=unit, result="not_evaluated",
                   why=why or "no_data", detail=detail or reasons[why or "no_data"])


def evaluate_comparison(mean_difference_pct: float | None, criteria: Criteria, subject: str,
                        why: NotEvaluatedWhy = "no_data", n_samples: int | None = None,
                        passing_bablok: PassingBablok | None = None) -> tuple[Outcome, ...]:
    """The method-comparison criteria: ``mean_difference_pct`` (percent: the mean % difference,
    :attr:`assaykit.scoring.agreement.BlandAltman.mean_difference_pct`; None: not evaluated for
    ``why``) within +- the limit of ``criteria`` (|value| <= limit passes, the estimate judged,
    not its confidence limit); then, when the criteria judge Passing-Bablok, the regression's
    slope (its 95 % CI must contain 1: no proportional bias) and intercept (its CI must contain 0:
    no constant bias). ``subject`` names the comparison; ``n_samples``: the samples compared
    (replicate tubes averaged; None: not counted), below the criteria's ``min_samples`` every
    criterion is not evaluated (``too few (n of N samples)``); ``passing_bablok``: the regression
    judged (:class:`assaykit.scoring.agreement.PassingBablok`; None: its two criteria not
    evaluated for ``why``)."""
    settings = criteria.method_comparison
    limit = settings.mean_difference_pct_max
    shown = f"within +-{limit:g}"
    codes: list[tuple[CriterionName, str, str]] = [("method_comparison_mean_difference", shown, "%")]
    if settings.passing_bablok:
        codes += [("method_comparison_slope", "95 % CI contains 1", ""),
                  ("method_comparison_intercept", "95 % CI contains 0", "AB/C")]
    if n_samples is not None and n_samples < settings.min_samples:
        detail = f"too few ({n_samples} of {settings.min_samples} samples, CLSI EP09-A3)"
        return tuple(_not_evaluated(c, subject, s, u, "too_few" if n_samples else why,
                                    detail if n_samples else "") for c, s, u in codes)
    out = []
    if mean_difference_pct is None or not math.isfinite(mean_difference_pct):
        out.append(_not_evaluated("method_comparison_mean_difference", subject, shown, "%",
                                  why if mean_difference_pct is None else "no_data"))
    else:
        out.append(Outcome(criterion="method_comparison_mean_difference", subject=subject,
                           value=float(mean_difference_pct), limit=shown, unit="%",
                           result="pass" if abs(mean_difference_pct) <= limit else "fail",
                           detail=f"mean % difference {mean_difference_pct:+.2f} % from the reference"))
    if not settings.passing_bablok:
        return tuple(out)
    pb = passing_bablok
    for code, text, unit in codes[1:]:
        if pb is None:
            out.append(_not_evaluated(code, subject, text, unit, why))
            continue
        value, (low, high), target = ((pb.slope, pb.slope_ci, 1.0) if code == "method_comparison_slope"
                                      else (pb.intercept, pb.intercept_ci, 0.0))
        if not (math.isfinite(low) and math.isfinite(high)):
            out.append(_not_evaluated(code, subject, text, unit, "too_few", "the 95 % CI could not be computed"))
            continue
        bias = "proportional" if target == 1.0 else "constant"
        found = low <= target <= high
        out.append(Outcome(criterion=code, subject=subject, value=float(value), limit=text, unit=unit,
                           result="pass" if found else "fail",
                           detail=f"Passing-Bablok {'slope' if target == 1.0 else 'intercept'} {value:.4g} "
                                  f"(95 % CI {low:.4g} to {high:.4g}): "
                                  + (f"no {bias} bias shown" if found else f"a {bias} bias")))
    return tuple(out)


def evaluate_stability(result: Stability | None, criteria: Criteria, subject: str,
                       why: NotEvaluatedWhy = "no_data", donors: int | None = None) -> Outcome:
    """The stability criterion: ``result``'s drift at the criteria's window (percent; the
    ``result`` must have been computed at that window, ValueError otherwise) within +- the limit
    of ``criteria`` (None: not evaluated for ``why``); ``subject`` names what was measured;
    ``donors``: the donors with values at the criteria's ``min_times`` times or more (None: the
    result's), fewer than its ``min_donors``: not evaluated (``too few (n of N donors ...)``)."""
    limits = criteria.stability
    shown = f"within +-{limits.drift_at_window_pct_max:g} at {limits.window_h:g} h"
    if donors is None and result is not None:
        donors = result.n_donors
    if donors is not None and 0 < donors < limits.min_donors:
        return _not_evaluated("stability_drift", subject, shown, "%", "too_few",
                              f"too few ({donors} of {limits.min_donors} donors at {limits.min_times} times or more)")
    if result is None:
        return _not_evaluated("stability_drift", subject, shown, "%", why)
    if not math.isclose(result.window_h, limits.window_h):
        raise ValueError(f"stability computed at {result.window_h:g} h, the criteria's window is {limits.window_h:g} h")
    value = result.drift_at_window_pct
    return Outcome(criterion="stability_drift", subject=subject, value=value, limit=shown, unit="%",
                   result="pass" if abs(value) <= limits.drift_at_window_pct_max else "fail",
                   detail=f"drift {value:+.2f} % at {result.window_h:g} h ({result.n} values, "
                          f"{result.n_donors} donors)")


def evaluate_reference_interval(result: ReferenceInterval | None, values: Sequence[float] | np.ndarray,
                                criteria: Criteria, subject: str,
                                why: NotEvaluatedWhy = "no_data") -> tuple[Outcome, Outcome]:
    """The reference-interval criteria. First ``reference_interval_method``: pass when ``result``
    is nonparametric from the criteria's ``nonparametric_min_n`` values (EP28-A3c); a robust
    interval below that is not a failure of the method but is not established as EP28-A3c asks:
    ``not_evaluated`` with why ``too_few`` and the flag in the detail. Then
    ``reference_interval_transference``: the number of ``values`` (the reference values, units of
    the interval) outside the criteria's transference interval, pass when at most
    ``max_outside_fraction`` of them (EP28-A3c: 2 of 20); not evaluated when no interval is
    configured or fewer than its ``min_n`` values. ``result``: the interval (None: the method
    criterion not evaluated for ``why``); ``criteria``: the settings; ``subject`` names the group."""
    settings = criteria.reference_interval
    needed = f">= {settings.nonparametric_min_n} values, nonparametric"
    if result is None:
        method = _not_evaluated("reference_interval_method", subject, needed, "n", why)
    elif result.method == "nonparametric" and result.n >= settings.nonparametric_min_n:
        method = Outcome(criterion="reference_interval_method", subject=subject, value=float(result.n), limit=needed,
                         unit="n", result="pass", detail=f"nonparametric interval from {result.n} values")
    else:
        method = Outcome(criterion="reference_interval_method", subject=subject, value=float(result.n), limit=needed,
                         unit="n", result="not_evaluated", why="too_few",
                         detail=f"{result.method} interval from {result.n} values, flagged: EP28-A3c asks "
                                f"{settings.nonparametric_min_n} for a nonparametric interval")
    check = settings.transference
    if check is None:
        transferred = _not_evaluated("reference_interval_transference", subject, "", "n", "not_configured",
                                     "no transference interval in the criteria")
        return method, transferred
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    shown = f"at most {check.max_outside_fraction:.0%} outside {check.lower:g}-{check.upper:g}"
    if x.size < check.min_n:
        return method, _not_evaluated("reference_interval_transference", subject, shown, "n", "too_few",
                                      f"{x.size} reference values, the check needs {check.min_n}")
    outside = int(np.sum((x < check.lower) | (x > check.upper)))
    allowed = math.floor(check.max_outside_fraction * x.size + 1e-9)
    transferred = Outcome(criterion="reference_interval_transference", subject=subject, value=float(outside),
                          limit=shown, unit="n", result="pass" if outside <= allowed else "fail",
                          detail=f"{outside} of {x.size} outside (at most {allowed} accepted)")
    return method, transferred


__all__ = [
    "OUTCOME_COLUMNS",
    "SHIPPED",
    "ComparisonCriteria",
    "Criteria",
    "CriterionName",
    "DesignMet",
    "NotEvaluatedWhy",
    "Outcome",
    "PrecisionCriteria",
    "PrecisionDesign",
    "ReferenceCriteria",
    "Result",
    "StabilityCriteria",
    "Transference",
    "design_text",
    "evaluate_comparison",
    "evaluate_precision",
    "evaluate_reference_interval",
    "evaluate_stability",
    "load_criteria",
    "shipped_bytes",
]
