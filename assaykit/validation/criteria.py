"""Acceptance criteria of a method validation (docs/validation.md, "Acceptance criteria"): the
defaults shipped as ``assaykit/validation/criteria.yaml`` (each default's source cited there and in
the docs), a lab's own YAML overriding keys of them (an unknown key refused by name), and each
criterion evaluated to a typed :class:`Outcome` (pass / fail / not_evaluated with why).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

from .stats import Precision, ReferenceInterval, Stability

Result = Literal["pass", "fail", "not_evaluated"]
"""What a criterion came to: ``pass``, ``fail``, or ``not_evaluated`` (no or too little data:
the outcome's ``why`` says which)."""

CriterionName = Literal["repeatability_cv", "within_laboratory_cv", "method_comparison_mean_difference",
                        "stability_drift", "reference_interval_method", "reference_interval_transference"]
"""The criteria, one code each (criteria.csv's ``criterion`` column)."""

NotEvaluatedWhy = Literal["", "no_data", "too_few", "not_configured"]
"""Why a criterion was not evaluated: ``no_data`` (nothing to compute it from), ``too_few`` (too
few values for the statistic), ``not_configured`` (the criterion is off in the YAML, e.g. no
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
    """

    repeatability_cv_pct_max: float
    within_laboratory_cv_pct_max: float


@dataclass(frozen=True)
class ComparisonCriteria:
    """Method-comparison limit.

    Parameters
    ----------
    mean_difference_pct_max : float
        The mean % difference of the compared method from the reference must lie within
        +- this, percent (default 20, Quadrini 2021's lab-to-lab % difference).
    """

    mean_difference_pct_max: float


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
    """

    window_h: float
    drift_at_window_pct_max: float


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
    """

    donor_group: str
    coverage: float
    ci: float
    nonparametric_min_n: int
    min_n: int
    transference: Transference | None = None


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


def load_criteria(path: str | os.PathLike[str] | None = None) -> Criteria:
    """The acceptance criteria: the shipped defaults, with the keys of the lab's YAML file
    ``path`` (None: the defaults alone) overriding them section by section. An unknown key, a
    value of the wrong type or out of range: AssayKitError in one line naming the file and the key."""
    raise NotImplementedError


def evaluate_precision(result: Precision | None, criteria: Criteria, subject: str,
                       why: NotEvaluatedWhy = "no_data") -> tuple[Outcome, Outcome]:
    """The repeatability and within-laboratory CV criteria of one precision ``result`` (None:
    both not evaluated for ``why``). ``criteria``: the limits; ``subject``: what it was
    evaluated on (e.g. the material's name), copied into the outcomes."""
    raise NotImplementedError


def evaluate_comparison(mean_difference_pct: float | None, criteria: Criteria, subject: str,
                        why: NotEvaluatedWhy = "no_data") -> Outcome:
    """The method-comparison criterion: ``mean_difference_pct`` (percent: the mean % difference,
    :attr:`assaykit.scoring.agreement.BlandAltman.mean_difference_pct`; None: not evaluated for
    ``why``) within +- the limit of ``criteria``; ``subject`` names the comparison."""
    raise NotImplementedError


def evaluate_stability(result: Stability | None, criteria: Criteria, subject: str,
                       why: NotEvaluatedWhy = "no_data") -> Outcome:
    """The stability criterion: ``result``'s drift at the criteria's window (percent; the
    ``result`` must have been computed at that window, ValueError otherwise) within +- the limit
    of ``criteria`` (None: not evaluated for ``why``); ``subject`` names what was measured."""
    raise NotImplementedError


def evaluate_reference_interval(result: ReferenceInterval | None, values: object, criteria: Criteria,
                                subject: str, why: NotEvaluatedWhy = "no_data") -> tuple[Outcome, Outcome]:
    """The reference-interval criteria: the method (pass: nonparametric from the criteria's
    ``nonparametric_min_n``; fail: robust and flagged, below it) and the transference check
    (``values``: the reference values, a sequence of floats in the units of the interval; not
    evaluated when the criteria give no interval). ``result``: the interval (None: the method
    criterion not evaluated for ``why``); ``criteria``: the settings; ``subject`` names the group."""
    raise NotImplementedError


__all__ = ["SHIPPED", "ComparisonCriteria", "Criteria", "CriterionName", "NotEvaluatedWhy", "Outcome",
           "PrecisionCriteria", "ReferenceCriteria", "Result", "StabilityCriteria", "Transference",
           "evaluate_comparison", "evaluate_precision", "evaluate_reference_interval", "evaluate_stability",
           "load_criteria"]
