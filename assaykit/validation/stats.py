"""Validation statistics (docs/validation.md, "The statistics of a method validation"): precision by the nested
ANOVA of CLSI EP05-A3, reference intervals by CLSI EP28-A3c (nonparametric ranks, or the robust
method of Horn & Pesce), and stability against time to staining (pooled within-donor log-linear
drift). Pure numpy/scipy: no I/O; every number carries its unit in its name (``*_pct``: percent,
``*_h``: hours, the rest: the units of the values given, e.g. AB/C).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

# --- precision (CLSI EP05-A3) ------------------------------------------------------------------------

Design = Literal["day/run/replicate", "run/replicate"]
"""The nested design a :class:`Precision` was computed with."""
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
    design : str
        :data:`Design`: ``day/run/replicate``, or ``run/replicate`` (no days given, or days given
        but only one, or never two runs on one day: day and run cannot be told apart, so the
        day-to-day variation is in ``between_run``).
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
    design: Design = "run/replicate"


def precision(values: Sequence[float] | np.ndarray, run: Sequence[object], replicate: Sequence[object] | None = None,
              day: Sequence[object] | None = None, confidence: float = 0.95) -> Precision:
    """CLSI EP05-A3 precision of one material.

    ``values``: the measurements (e.g. AB/C; finite). ``run``: each measurement's run label (any
    hashable). ``replicate``: each measurement's replicate label within its run (only checked for
    length and uniqueness within a run: the ANOVA needs the grouping only; None: no check).
    ``day``: each measurement's day label (None: a two-level run/replicate design); a run label
    is taken within its day (the same run label on two days is two runs). ``confidence``: the
    two-sided level of the intervals (0.95). At least two runs and one run with two replicates
    (ValueError otherwise, and for lengths that differ or values not finite). Days given but only
    one day, or no day with two runs: the run/replicate design (``design`` says which was used)."""
    _check_confidence(confidence, "precision")
    y = _finite(values, "precision")
    runs = _labels(run, y.size, "run")
    days = _labels(day, y.size, "day") if day is not None else None
    if replicate is not None:
        reps = _labels(replicate, y.size, "replicate")
        keys = list(zip(days if days is not None else [0] * y.size, runs, reps, strict=True))
        if len(set(keys)) != len(keys):
            raise ValueError("precision: the same replicate label twice in one run")
    # a run is taken within its day: (day, run) identifies it
    day_codes = _codes(days) if days is not None else np.zeros(y.size, dtype=np.int64)
    run_codes = _codes([(int(d), r) for d, r in zip(day_codes, runs, strict=True)])
    n_runs = int(run_codes.max()) + 1
    run_size = np.bincount(run_codes)
    if n_runs < 2:
        raise ValueError("precision needs at least two runs")
    if y.size - n_runs < 1:
        raise ValueError("precision needs at least one run with two replicates")
    n_days = int(day_codes.max()) + 1 if days is not None else None
    nested = n_days is not None and n_days >= 2 and n_runs > n_days  # some day with two runs
    anova, coefficients = _nested_anova(y, day_codes if nested else None, run_codes)
    mean = float(y.mean())
    ms = np.array([row.mean_square for row in anova])
    dfs = np.array([row.df for row in anova])
    names: list[ComponentName] = (["between_day", "between_run", "repeatability"] if nested
                                  else ["between_run", "repeatability"])
    raw = coefficients @ ms
    components = {name: _component(name, coefficients[k], raw[k], ms, dfs, mean, confidence)
                  for k, name in enumerate(names)}
    kept = np.array([raw[k] > 0 for k in range(len(names))])
    total = coefficients[kept].sum(axis=0) if kept.any() else np.zeros(len(ms))
    within = _component("within_laboratory", total, float(total @ ms), ms, dfs, mean, confidence)
    balanced = bool(np.all(run_size == run_size[0]))
    if nested:
        runs_per_day = np.bincount(np.unique(np.c_[day_codes, run_codes], axis=0)[:, 0])
        balanced = balanced and bool(np.all(runs_per_day == runs_per_day[0]))
    return Precision(n=int(y.size), n_runs=n_runs, n_days=n_days,
                     mean=mean, repeatability=components["repeatability"], between_run=components["between_run"],
                     between_day=components.get("between_day"), within_laboratory=within, balanced=balanced,
                     anova=tuple(anova), design="day/run/replicate" if nested else "run/replicate")


def _check_confidence(level: float, what: str) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"{what}: the confidence level must lie between 0 and 1 (a fraction, e.g. 0.95)")


def _finite(values: Sequence[float] | np.ndarray, what: str) -> np.ndarray:
    y = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(y)):
        raise ValueError(f"{what}: values must be finite numbers")
    return y


def _labels(labels: Sequence[object], n: int, what: str) -> list[object]:
    out = list(labels)
    if len(out) != n:
        raise ValueError(f"precision: {len(out)} {what} labels for {n} values")
    return out


def _codes(labels: Sequence[object]) -> np.ndarray:
    """0-based codes of ``labels`` in order of first appearance (labels need only be hashable)."""
    seen: dict[object, int] = {}
    return np.array([seen.setdefault(label, len(seen)) for label in labels], dtype=np.int64)


def _nested_anova(y: np.ndarray, day: np.ndarray | None, run: np.ndarray) -> tuple[list[AnovaRow], np.ndarray]:
    """The hierarchical (type I) nested ANOVA of ``y`` and the matrix expressing each variance
    component as a linear combination of the mean squares (rows: day, run, error components;
    columns: day, run, error mean squares; without days the day row and column are absent).

    Expected mean squares of the unbalanced nested design (Searle, Casella & McCulloch 1992,
    ch. 4; Sokal & Rohlf): E[MS_e] = s2_e; E[MS_run] = s2_e + k1 s2_run; E[MS_day] = s2_e +
    k2 s2_run + k3 s2_day, with n_ij replicates in run j of day i, n_i = sum_j n_ij, N = sum n_i,
    a days, b runs: k1 = (N - sum_i sum_j n_ij^2 / n_i) / (b - a), k2 = (sum_i sum_j n_ij^2 / n_i
    - sum_ij n_ij^2 / N) / (a - 1), k3 = (N - sum_i n_i^2 / N) / (a - 1). Balanced: k1 = k2 = n,
    k3 = (runs per day) n."""
    n_total = y.size
    grand = y.mean()
    n_run = np.bincount(run).astype(np.float64)
    run_mean = np.bincount(run, weights=y) / n_run
    ss_error = float(np.sum((y - run_mean[run]) ** 2))
    b = n_run.size
    df_error = float(n_total - b)
    if day is None:
        ss_run = float(np.sum(n_run * (run_mean - grand) ** 2))
        df_run = float(b - 1)
        k1 = float((n_total - np.sum(n_run ** 2) / n_total) / df_run)
        rows = [AnovaRow(source="run", df=df_run, sum_of_squares=ss_run, mean_square=ss_run / df_run),
                AnovaRow(source="error", df=df_error, sum_of_squares=ss_error,
                         mean_square=ss_error / df_error if df_error else math.nan)]
        coefficients = np.array([[1.0 / k1, -1.0 / k1], [0.0, 1.0]])
        return rows, coefficients
    run_day = np.zeros(b, dtype=np.int64)
    run_day[run] = day
    n_day = np.bincount(day).astype(np.float64)
    a = n_day.size
    day_mean = np.bincount(day, weights=y) / n_day
    ss_day = float(np.sum(n_day * (day_mean - grand) ** 2))
    ss_run = float(np.sum(n_run * (run_mean - day_mean[run_day]) ** 2))
    df_day, df_run = float(a - 1), float(b - a)
    within_day = float(np.sum(np.bincount(run_day, weights=n_run ** 2) / n_day))
    k1 = (n_total - within_day) / df_run
    k2 = float((within_day - np.sum(n_run ** 2) / n_total) / df_day)
    k3 = float((n_total - np.sum(n_day ** 2) / n_total) / df_day)
    rows = [AnovaRow(source="day", df=df_day, sum_of_squares=ss_day, mean_square=ss_day / df_day),
            AnovaRow(source="run", df=df_run, sum_of_squares=ss_run, mean_square=ss_run / df_run),
            AnovaRow(source="error", df=df_error, sum_of_squares=ss_error,
                     mean_square=ss_error / df_error if df_error else math.nan)]
    run_row = np.array([0.0, 1.0 / k1, -1.0 / k1])
    error_row = np.array([0.0, 0.0, 1.0])
    day_row = (np.array([1.0, 0.0, -1.0]) - k2 * run_row) / k3
    return rows, np.vstack([day_row, run_row, error_row])


def _component(name: ComponentName, coefficients: np.ndarray, variance: float, ms: np.ndarray, dfs: np.ndarray,
               mean: float, confidence: float) -> Component:
    """A variance component ``coefficients @ ms`` (negative: 0), with Satterthwaite's df
    ``(sum c MS)^2 / sum (c MS)^2 / df`` (a single mean square's own df) and the chi-square
    interval of its SD on that df."""
    from scipy.stats import chi2

    terms = coefficients * ms
    used = coefficients != 0
    if variance <= 0 or not np.any(used):
        return Component(name=name, variance=0.0, sd=0.0, cv_pct=0.0 if mean else math.nan, df=0.0,
                         sd_ci=(0.0, 0.0), cv_pct_ci=(0.0, 0.0) if mean else (math.nan, math.nan))
    df = float(variance ** 2 / np.sum(terms[used] ** 2 / dfs[used]))
    sd = math.sqrt(variance)
    tail = (1.0 - confidence) / 2.0
    sd_ci = (sd * math.sqrt(df / float(chi2.ppf(1.0 - tail, df))), sd * math.sqrt(df / float(chi2.ppf(tail, df))))
    scale = 100.0 / abs(mean) if mean else math.nan
    return Component(name=name, variance=float(variance), sd=sd, cv_pct=sd * scale, df=df, sd_ci=sd_ci,
                     cv_pct_ci=(sd_ci[0] * scale, sd_ci[1] * scale))


# --- reference interval (CLSI EP28-A3c) ---------------------------------------------------------------

ReferenceMethod = Literal["nonparametric", "robust"]
"""How a :class:`ReferenceInterval` was estimated."""
ReferenceFlag = Literal["robust_small_sample"]
"""Why an interval must be read with care: ``robust_small_sample``: fewer reference values than the
nonparametric method needs (120 by default, EP28-A3c), so the robust method."""
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
    transform : str
        The scale the robust method worked on: ``none`` (the values) or ``log`` (their natural
        logarithm, limits and CIs transformed back); the nonparametric method's ranks need none.
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
    transform: ReferenceTransform = "none"


ReferenceTransform = Literal["none", "log"]
"""The scale of a robust reference interval: the values, or their natural logarithm."""


def nonparametric_ci_ranks(n: int, p: float, ci: float = 0.90) -> tuple[int, int]:
    """The 1-based ranks ``(r1, r2)`` of the order statistics bounding a ``ci`` (fraction, 0.90)
    confidence interval of the ``p`` quantile (fraction, e.g. 0.025) of ``n`` values, from the
    binomial distribution (EP28-A3c's table: n = 120, p = 0.025 -> ranks 1 and 7). ValueError when
    ``n`` is too small for such an interval.

    With B ~ Binomial(n, p) the number of values below the quantile and F^-1 its quantile
    function: ``r1 = F^-1((1 - ci) / 2)`` and ``r2 = F^-1((1 + ci) / 2) + 1``, so that each tail holds at most
    (1 - ci) / 2 and P(r1 <= B < r2) >= ci; the interval is [x_(r1), x_(r2)]. For an upper quantile
    (p > 0.5) the ranks mirror those of 1 - p: ``(n + 1 - r2, n + 1 - r1)``."""
    from scipy.stats import binom

    if not 0.0 < p < 1.0 or not 0.0 < ci < 1.0:
        raise ValueError("nonparametric_ci_ranks: p and ci must lie between 0 and 1")
    if p > 0.5:
        low, high = nonparametric_ci_ranks(n, 1.0 - p, ci)
        return (n + 1 - high, n + 1 - low)
    tail = (1.0 - ci) / 2.0
    r1 = int(binom.ppf(tail, n, p))
    r2 = int(binom.ppf(1.0 - tail, n, p)) + 1
    if r1 < 1 or r2 > n:
        raise ValueError(f"nonparametric_ci_ranks: {n} values are too few for a {ci:.0%} CI of the {p:g} quantile")
    return (r1, r2)


def reference_interval(values: Sequence[float] | np.ndarray,
                       method: Literal["auto", "nonparametric", "robust"] = "auto", coverage: float = 0.95,
                       ci: float = 0.90, nonparametric_min_n: int = NONPARAMETRIC_MIN_N,
                       transform: ReferenceTransform = "none") -> ReferenceInterval:
    """A central reference interval of ``values`` (reference individuals' results, e.g. AB/C).

    ``method``: ``nonparametric`` (EP28-A3c ranks ``p (n + 1)``, interpolated; CIs of the limits
    from binomial order statistics; needs ``nonparametric_min_n`` values and enough for those
    ranks), ``robust`` (Horn & Pesce 2003's biweight method as in EP28-A3c; CIs by a bootstrap
    with a fixed seed; flagged ``robust_small_sample`` below ``nonparametric_min_n``), ``auto``
    (nonparametric when it can be, otherwise robust, flagged). ``coverage``: central fraction
    (0.95: the 2.5th and 97.5th percentiles). ``ci``: confidence level of the limits' intervals
    (0.90). ``nonparametric_min_n``: fewest values for the nonparametric method (120, EP28-A3c; a
    lab's criteria may ask more). ``transform``: the scale of the robust method, ``none`` or
    ``log`` (the natural logarithm, limits and CIs transformed back: for positive, right-skewed
    values such as AB/C across donors, on which the biweight of the raw values puts the lower
    limit far too low, even below 0; EP28-A3c and Horn, Pesce & Copeland 1998 transform skewed
    data before the robust method); ignored by the nonparametric method (ranks). Fewer than 20
    values, a nonparametric interval it cannot give, values not finite, or ``log`` with a value
    not above 0: ValueError."""
    x = np.sort(_finite(values, "reference_interval"))
    n = int(x.size)
    if method not in ("auto", "nonparametric", "robust"):
        raise ValueError(f"reference_interval: unknown method {method!r}")
    if not 0.0 < coverage < 1.0 or not 0.0 < ci < 1.0:
        raise ValueError("reference_interval: coverage and ci must lie between 0 and 1")
    if n < ROBUST_MIN_N:
        raise ValueError(f"reference_interval: {n} values, at least {ROBUST_MIN_N} are needed")
    least = max(int(nonparametric_min_n), NONPARAMETRIC_MIN_N)
    if method == "nonparametric" and n < least:
        raise ValueError(f"reference_interval: {n} values, the nonparametric method needs at least {least} (EP28-A3c)")
    p_low, p_high = (1.0 - coverage) / 2.0, (1.0 + coverage) / 2.0
    ranks = None
    if method == "nonparametric" or (method == "auto" and n >= least):
        try:
            ranks = nonparametric_ci_ranks(n, p_low, ci), nonparametric_ci_ranks(n, p_high, ci)
        except ValueError:
            if method == "nonparametric":
                raise
    if ranks is not None:
        low_ranks, high_ranks = ranks
        lower_rank, upper_rank = p_low * (n + 1), p_high * (n + 1)
        return ReferenceInterval(n=n, method="nonparametric", coverage=coverage, ci=ci,
                                 lower=_at_rank(x, lower_rank), upper=_at_rank(x, upper_rank),
                                 lower_ci=(float(x[low_ranks[0] - 1]), float(x[low_ranks[1] - 1])),
                                 upper_ci=(float(x[high_ranks[0] - 1]), float(x[high_ranks[1] - 1])),
                                 lower_rank=lower_rank, upper_rank=upper_rank, lower_ci_ranks=low_ranks,
                                 upper_ci_ranks=high_ranks)
    if transform not in ("none", "log"):
        raise ValueError(f"reference_interval: unknown transform {transform!r}")
    if transform == "log":
        if x[0] <= 0:
            raise ValueError("reference_interval: the log transform needs values above 0")
        x = np.log(x)
    back = np.exp if transform == "log" else (lambda v: v)
    lower, upper = robust_limits(x, coverage)
    if not (math.isfinite(lower) and math.isfinite(upper)):
        raise ValueError("reference_interval: more than half the values are equal (no spread for the robust method)")
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    batch = max(1, _BOOTSTRAP_CELLS // n)  # resamples at a time: memory bounded for any n
    parts = []
    for start in range(0, BOOTSTRAP_RESAMPLES, batch):
        boot = rng.integers(0, n, size=(min(batch, BOOTSTRAP_RESAMPLES - start), n))
        parts.append(robust_limits(x[boot], coverage).reshape(2, -1))
    limits = np.concatenate(parts, axis=1)
    limits = limits[:, np.all(np.isfinite(limits), axis=0)]  # a resample more than half one value has no spread
    tail = 100.0 * (1.0 - ci) / 2.0
    lower_ci = tuple(float(v) for v in np.percentile(limits[0], [tail, 100.0 - tail]))
    upper_ci = tuple(float(v) for v in np.percentile(limits[1], [tail, 100.0 - tail]))
    flags: tuple[ReferenceFlag, ...] = ("robust_small_sample",) if method == "auto" or n < least else ()
    return ReferenceInterval(n=n, method="robust", coverage=coverage, ci=ci, lower=float(back(lower)),
                             upper=float(back(upper)),
                             lower_ci=(float(back(lower_ci[0])), float(back(lower_ci[1]))),
                             upper_ci=(float(back(upper_ci[0])), float(back(upper_ci[1]))), flags=flags,
                             transform=transform)


BOOTSTRAP_RESAMPLES = 2000
"""Resamples of the robust interval's percentile bootstrap."""
_BOOTSTRAP_CELLS = 2_000_000
"""Values resampled at a time (bounds the bootstrap's memory for a large sample)."""
BIWEIGHT_LOCATION_C = 3.7
"""Tuning constant of the biweight location (Horn & Pesce 2003; EP28-A3c Appendix B)."""
BIWEIGHT_SCALE_C = 205.6
"""Tuning constant of the biweight scale (Horn & Pesce 2003; EP28-A3c Appendix B)."""
_MAD_TO_SD = 0.6745


def _at_rank(x: np.ndarray, rank: float) -> float:
    """The sorted ``x`` at the 1-based ``rank`` interpolated between its neighbours (clipped to 1..n)."""
    rank = min(max(rank, 1.0), float(x.size))
    below = math.floor(rank)
    fraction = rank - below
    if fraction == 0.0:
        return float(x[below - 1])
    return float(x[below - 1] + fraction * (x[below] - x[below - 1]))


def _biweight_scale(x: np.ndarray, centre: np.ndarray, spread: np.ndarray, n_factor: bool) -> np.ndarray:
    """Horn & Pesce's biweight scale of each row of ``x`` about ``centre`` with ``u = (x - centre)
    / spread`` (only |u| < 1 counted): ``spread sqrt(m sum u^2 (1 - u^2)^4 / (D max(1, D - 1)))``,
    ``D = sum (1 - u^2)(1 - 5 u^2)``, m = n (``n_factor``) or 1."""
    with np.errstate(invalid="ignore", divide="ignore"):
        u = (x - centre[:, None]) / spread[:, None]
    inside = np.abs(u) < 1.0
    u2 = np.where(inside, u * u, 0.0)
    numerator = np.sum(np.where(inside, u2 * (1.0 - u2) ** 4, 0.0), axis=1)
    d = np.sum(np.where(inside, (1.0 - u2) * (1.0 - 5.0 * u2), 0.0), axis=1)
    m = x.shape[1] if n_factor else 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(spread * np.sqrt(m * numerator / (d * np.maximum(1.0, d - 1.0))))


def robust_limits(x: np.ndarray, coverage: float = 0.95, tolerance: float = 1e-6) -> np.ndarray:
    """The robust reference limits of Horn & Pesce (2003) as EP28-A3c Appendix B gives them, of
    ``x`` (values, 1-D; or 2-D: one sample a row, e.g. bootstrap resamples): the biweight location
    ``T`` (iterated from the median, tuning constant 3.7, scale MAD / 0.6745, until it moves less
    than ``tolerance``, units of the values), the biweight scale ``s(205.6)`` about the median,
    and the location's standard error ``s_T`` from ``s(3.7)``; limits ``T -+ t sqrt(s(205.6)^2 +
    s_T^2)``, t the Student quantile at (1 + ``coverage``) / 2 on n - 1 df. Returns [lower, upper]
    (each a float, or an array of one per row); nan for a sample whose MAD is 0 (more than half
    its values equal). The bootstrap of :func:`reference_interval` leaves such resamples out."""
    from scipy.stats import t as student

    rows = np.atleast_2d(np.asarray(x, dtype=np.float64))
    n = rows.shape[1]
    median = np.median(rows, axis=1)
    mad = np.median(np.abs(rows - median[:, None]), axis=1) / _MAD_TO_SD
    location = median.copy()
    spread = BIWEIGHT_LOCATION_C * mad
    for _ in range(1000):
        with np.errstate(invalid="ignore", divide="ignore"):
            u = (rows - location[:, None]) / spread[:, None]
        w = np.where(np.abs(u) < 1.0, (1.0 - u * u) ** 2, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            moved = np.sum(w * rows, axis=1) / np.sum(w, axis=1)
        done = ~np.isfinite(moved) | (np.abs(moved - location) < tolerance)
        location = np.where(np.isfinite(moved), moved, location)
        if np.all(done):
            break
    scale = _biweight_scale(rows, median, BIWEIGHT_SCALE_C * mad, True)
    s37 = _biweight_scale(rows, median, BIWEIGHT_LOCATION_C * mad, True)
    s_location = _biweight_scale(rows, location, BIWEIGHT_LOCATION_C * s37, False)
    half = float(student.ppf((1.0 + coverage) / 2.0, n - 1)) * np.sqrt(scale ** 2 + s_location ** 2)
    limits = np.vstack([location - half, location + half])
    return limits[:, 0] if np.ndim(x) == 1 else limits


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
    times beyond one slope).

    The slope is the within-donor (centred) least-squares slope ``sum (h - h_d)(l - l_d) / sum (h
    - h_d)^2`` (l = log value, ``_d`` the donor's means), its standard error from the residual
    variance on n - donors - 1 df; the intervals are the slope's t interval transformed."""
    from scipy.stats import t as student

    _check_confidence(confidence, "stability")
    y = _finite(values, "stability")
    h = _finite(hours, "stability")
    if not window_h > 0:
        raise ValueError("stability: window_h must be positive (hours)")
    if h.size != y.size or len(donor) != y.size:
        raise ValueError(f"stability: {y.size} values, {h.size} hours, {len(donor)} donor labels")
    if np.any(y <= 0):
        raise ValueError("stability: values must be positive (the drift is fitted on their logarithm)")
    codes = _codes(list(donor))
    spread = np.bincount(codes, weights=h ** 2) - np.bincount(codes, weights=h) ** 2 / np.bincount(codes)
    informative = np.isin(codes, np.flatnonzero(spread > 1e-12 * (1.0 + np.max(h ** 2))))
    y, h, codes = y[informative], h[informative], _codes(list(codes[informative]))
    donors = int(codes.max()) + 1 if codes.size else 0
    df = int(y.size) - donors - 1
    if donors < 1 or df < 1:
        raise ValueError("stability needs donors measured at two or more times, and more measurements than "
                         "donors + 1")
    log = np.log(y)
    counts = np.bincount(codes)
    hc = h - (np.bincount(codes, weights=h) / counts)[codes]
    lc = log - (np.bincount(codes, weights=log) / counts)[codes]
    slope = float(np.sum(hc * lc) / np.sum(hc * hc))
    residual = lc - slope * hc
    se = math.sqrt(float(np.sum(residual ** 2)) / df / float(np.sum(hc * hc)))
    q = float(student.ppf(0.5 + confidence / 2.0, df))
    low, high = slope - q * se, slope + q * se

    def pct(b: float, hours_: float) -> float:
        return 100.0 * math.expm1(b * hours_)

    return Stability(n=int(y.size), n_donors=donors, df=df, slope_per_h=slope, slope_se_per_h=se,
                     drift_pct_per_h=pct(slope, 1.0), drift_pct_per_h_ci=(pct(low, 1.0), pct(high, 1.0)),
                     window_h=float(window_h), drift_at_window_pct=pct(slope, window_h),
                     drift_at_window_pct_ci=(pct(low, window_h), pct(high, window_h)))


__all__ = ["BOOTSTRAP_SEED", "DEFAULT_WINDOW_H", "NONPARAMETRIC_MIN_N", "ROBUST_MIN_N", "AnovaRow", "Component",
           "ComponentName", "Design", "Precision", "ReferenceFlag", "ReferenceInterval", "ReferenceMethod", "Stability",
           "nonparametric_ci_ranks", "precision", "reference_interval", "robust_limits", "stability"]
