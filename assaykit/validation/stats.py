"""Validation statistics (docs/validation.md, "Validation statistics"): precision by the nested
ANOVA of CLSI EP05-A3, reference intervals by CLSI EP28-A3c (nonparametric ranks, or the robust
method of Horn & Pesce), and stability against time to staining (pooled within-donor log-linear
drift). Pure numpy/scipy: no I/O; every number carries its unit in its name (``*_pct``: percent,
``*_h``: hours, the rest: the units of the values given, e.g. AB/C).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

# --- precision (CLSI EP05-A3) ------------------------------------------------------------------------

ComponentName = Literal["repeatability", "between_run", "between_day", "within_laboratory"]
"""The precision components: repeatability (within-run), between-run, between-day, and
within-laboratory (intermediate precision: all of them together)."""


@dataclass(frozen=True)
class Component:
    """One precision component of :class:`Precision`.

    Parameters
    ----------
    name : str
        Which component (:data:`ComponentName`).
    variance : float
        The variance component (units of the values, squared); a negative ANOVA estimate is set
        to 0 (EP05-A3).
    sd : float
        Its square root (units of the values).
    cv_pct : float
        ``100 sd / mean`` (percent; nan when the mean is 0).
    df : float
        Its degrees of freedom: an ANOVA mean square's for repeatability, Satterthwaite's for the
        others (non-integer).
    sd_ci : tuple of float
        Two-sided 95 % confidence interval of ``sd`` (units of the values): chi-square on ``df``
        (EP05-A3); (0, 0) for a component estimated as 0.
    cv_pct_ci : tuple of float
        The same interval in percent of the mean.
    """

    name: ComponentName
    variance: float
    sd: float
    cv_pct: float
    df: float
    sd_ci: tuple[float, float]
    cv_pct_ci: tuple[float, float]


@dataclass(frozen=True)
class AnovaRow:
    """One line of the nested ANOVA table behind :class:`Precision`.

    Parameters
    ----------
    source : str
        ``day``, ``run`` (within day when there are days) or ``error`` (replicates within run).
    df : float
        Degrees of freedom.
    sum_of_squares : float
        Units of the values, squared.
    mean_square : float
        ``sum_of_squares / df`` (units squared).
    """

    source: Literal["day", "run", "error"]
    df: float
    sum_of_squares: float
    mean_square: float


@dataclass(frozen=True)
class Precision:
    """CLSI EP05-A3 precision of one material: a nested ANOVA (day / run / replicate, or run /
    replicate), its variance components and their 95 % confidence intervals.

    Parameters
    ----------
    n : int
        Measurements used.
    n_runs : int
        Runs (distinct run labels; within a day when ``day`` was given).
    n_days : int or None
        Days (None when ``day`` was not given).
    mean : float
        Grand mean (units of the values).
    repeatability : Component
        Within-run precision.
    between_run : Component
        The run-to-run component (within day when there are days).
    between_day : Component or None
        The day-to-day component (None without days).
    within_laboratory : Component
        Intermediate precision: the sum of the components, Satterthwaite's df.
    balanced : bool
        Every run has the same number of replicates (and every day the same number of runs); an
        unbalanced design uses the unbalanced nested-ANOVA coefficients (docs/validation.md).
    anova : tuple of AnovaRow
        The ANOVA table (day, run, error).
    """

    n: int
    n_runs: int
    n_days: int | None
    mean: float
    repeatability: Component
    between_run: Component
    between_day: Component | None
    within_laboratory: Component
    balanced: bool
    anova: tuple[AnovaRow, ...]


def precision(values: Sequence[float] | np.ndarray, run: Sequence[object], replicate: Sequence[object] | None = None,
              day: Sequence[object] | None = None, confidence: float = 0.95) -> Precision:
    """CLSI EP05-A3 precision of one material.

    ``values``: the measurements (e.g. AB/C; finite). ``run``: each measurement's run label (any
    hashable). ``replicate``: each measurement's replicate label within its run (only checked for
    length and uniqueness within a run: the ANOVA needs the grouping only; None: no check).
    ``day``: each measurement's day label (None: a two-level run/replicate design); a run label
    is taken within its day (the same run label on two days is two runs). ``confidence``: the
    two-sided level of the intervals (0.95). At least two runs and one run with two replicates
    (ValueError otherwise, and for lengths that differ or values not finite)."""
    raise NotImplementedError


# --- reference interval (CLSI EP28-A3c) ---------------------------------------------------------------

ReferenceMethod = Literal["nonparametric", "robust"]
"""How a :class:`ReferenceInterval` was estimated."""
ReferenceFlag = Literal["robust_below_120"]
"""Why an interval must be read with care: ``robust_below_120``: fewer than 120 reference values,
so the robust method (EP28-A3c recommends the nonparametric one from 120)."""
NONPARAMETRIC_MIN_N = 120
"""EP28-A3c: at least 120 reference values for a nonparametric interval with 90 % CIs of its limits."""
ROBUST_MIN_N = 20
"""Fewer reference values than this are refused (EP28-A3c: 20 is the transference check's size)."""
BOOTSTRAP_SEED = 20260101
"""The fixed seed of the robust interval's bootstrap (a rerun gives the same CIs)."""


@dataclass(frozen=True)
class ReferenceInterval:
    """A central reference interval and the confidence intervals of its limits.

    Parameters
    ----------
    n : int
        Reference values used.
    method : str
        ``nonparametric`` or ``robust`` (:data:`ReferenceMethod`).
    coverage : float
        The central fraction the interval covers (0.95).
    ci : float
        The confidence level of the limits' intervals (0.90).
    lower : float
        Lower limit (units of the values).
    upper : float
        Upper limit (units of the values).
    lower_ci : tuple of float
        Confidence interval of the lower limit (units of the values).
    upper_ci : tuple of float
        Confidence interval of the upper limit (units of the values).
    lower_rank : float or None
        Nonparametric: the rank ``p (n + 1)`` of the lower limit (1-based, interpolated).
    upper_rank : float or None
        Nonparametric: the rank of the upper limit.
    lower_ci_ranks : tuple of int or None
        Nonparametric: the order statistics (1-based ranks) bounding the lower limit's CI.
    upper_ci_ranks : tuple of int or None
        Nonparametric: the ranks bounding the upper limit's CI.
    flags : tuple of str
        :data:`ReferenceFlag` codes (empty: nothing to flag).
    """

    n: int
    method: ReferenceMethod
    coverage: float
    ci: float
    lower: float
    upper: float
    lower_ci: tuple[float, float]
    upper_ci: tuple[float, float]
    lower_rank: float | None = None
    upper_rank: float | None = None
    lower_ci_ranks: tuple[int, int] | None = None
    upper_ci_ranks: tuple[int, int] | None = None
    flags: tuple[ReferenceFlag, ...] = ()


def nonparametric_ci_ranks(n: int, p: float, ci: float = 0.90) -> tuple[int, int]:
    """The 1-based ranks ``(r1, r2)`` of the order statistics bounding a ``ci`` (fraction, 0.90)
    confidence interval of the ``p`` quantile (fraction, e.g. 0.025) of ``n`` values, from the
    binomial distribution (EP28-A3c's table: n = 120, p = 0.025 -> ranks 1 and 7). ValueError when
    ``n`` is too small for such an interval."""
    raise NotImplementedError


def reference_interval(values: Sequence[float] | np.ndarray, method: Literal["auto", "nonparametric", "robust"] = "auto",
                       coverage: float = 0.95, ci: float = 0.90) -> ReferenceInterval:
    """A central reference interval of ``values`` (reference individuals' results, e.g. AB/C).

    ``method``: ``nonparametric`` (EP28-A3c ranks ``p (n + 1)``, interpolated; CIs of the limits
    from binomial order statistics; needs n >= 120), ``robust`` (Horn & Pesce 2003's biweight
    method as in EP28-A3c; CIs by a bootstrap with a fixed seed), ``auto`` (nonparametric from
    n = 120, otherwise robust, flagged ``robust_below_120``). ``coverage``: central fraction
    (0.95: the 2.5th and 97.5th percentiles). ``ci``: confidence level of the limits' intervals
    (0.90). Fewer than 20 values, a nonparametric interval under 120, or values not finite:
    ValueError."""
    raise NotImplementedError


# --- stability ---------------------------------------------------------------------------------------

DEFAULT_WINDOW_H = 4.0
"""The staining window the drift is reported at (Docke 2005: staining within 4 h)."""


@dataclass(frozen=True)
class Stability:
    """Drift of a value with time (e.g. hours from draw to stain): ``log(value) = donor +
    slope * hours``, one intercept per donor and one pooled within-donor slope (ANCOVA).

    Parameters
    ----------
    n : int
        Measurements used.
    n_donors : int
        Donors with at least two different times (the others carry no slope information and are
        left out).
    df : int
        Residual degrees of freedom (``n - n_donors - 1``).
    slope_per_h : float
        The pooled slope of the natural log of the value (per hour).
    slope_se_per_h : float
        Its standard error (per hour).
    drift_pct_per_h : float
        ``100 (exp(slope) - 1)``: percent change per hour.
    drift_pct_per_h_ci : tuple of float
        Two-sided 95 % CI (t on ``df``) of ``drift_pct_per_h``.
    window_h : float
        The window the drift below is at (hours).
    drift_at_window_pct : float
        ``100 (exp(slope window_h) - 1)``: percent change over the window.
    drift_at_window_pct_ci : tuple of float
        Its two-sided 95 % CI.
    """

    n: int
    n_donors: int
    df: int
    slope_per_h: float
    slope_se_per_h: float
    drift_pct_per_h: float
    drift_pct_per_h_ci: tuple[float, float]
    window_h: float
    drift_at_window_pct: float
    drift_at_window_pct_ci: tuple[float, float]


def stability(values: Sequence[float] | np.ndarray, hours: Sequence[float] | np.ndarray, donor: Sequence[object],
              window_h: float = DEFAULT_WINDOW_H, confidence: float = 0.95) -> Stability:
    """Pooled within-donor drift of ``values`` (positive, e.g. AB/C) with ``hours`` (e.g. draw to
    stain, hours) for each ``donor`` label (any hashable: e.g. (patient, timepoint, condition)).
    ``window_h``: the time (hours) the drift is also reported at (4 h, Docke 2005).
    ``confidence``: two-sided level of the intervals (0.95). ValueError for values not positive
    and finite, lengths that differ, or no residual degree of freedom (fewer than two donors'
    times beyond one slope)."""
    raise NotImplementedError


__all__ = ["BOOTSTRAP_SEED", "DEFAULT_WINDOW_H", "NONPARAMETRIC_MIN_N", "ROBUST_MIN_N", "AnovaRow", "Component",
           "ComponentName", "Precision", "ReferenceFlag", "ReferenceInterval", "ReferenceMethod", "Stability",
           "nonparametric_ci_ranks", "precision", "reference_interval", "stability"]
