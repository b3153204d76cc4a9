"""The validation statistics (assaykit/validation/stats.py) against published worked examples,
ground truth from simulated data and a second, independent computation of each method.

Sources of the published numbers (the data and results are copied, never code):

- CLSI EP05-A3 Appendix A (glucose, 20 days x 2 runs x 2 replicates): its ANOVA table (SS day 415.8,
  run 281.0, error 316.0 on 19 / 20 / 40 df) and the variance components, SDs, CVs, Satterthwaite df
  and 95 % CV intervals that the R package VCA's anovaVCA / VCAinference give for it, as the R
  package mcradds's tests record them (tests/testthat/test-vca.R, data set `glucose`, "CLSI-EP05A3
  Table A1"). The 80 raw values are not reproduced here: the test builds a data set with exactly that
  ANOVA table and grand mean (244.2 mg/dL), which fixes every published number.
- CLSI EP28-A3c's calcium example (240 reference values, frequency table as in mcradds
  data-raw/EP28A3.txt) with the nonparametric limits 9.1 / 10.3 mg/dL and their 90 % CIs (8.9-9.2,
  10.3-10.4), the robust limits 9.038892 / 10.315612 and their bootstrap CIs (mcradds
  tests/testthat/test-referenceInterval.R); EP28-A3c Appendix B's 20-value robust example (limits
  9.049545 / 10.199396, same source); EP28-A3c's rank table (n = 120: ranks 1 and 7).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize, stats

from assaykit.validation.stats import (
    nonparametric_ci_ranks,
    precision,
    reference_interval,
    robust_limits,
    stability,
)

# --- precision: CLSI EP05-A3's glucose example --------------------------------------------------------

GLUCOSE_MEAN = 244.2  # mg/dL: published CV 1.4726965 % of the within-laboratory SD 3.596325
GLUCOSE_SS = {"day": 415.8, "run": 281.0, "error": 316.0}


def _zero_sum(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Random values summing to 0 along the last axis."""
    z = rng.normal(size=shape)
    return z - z.mean(axis=-1, keepdims=True)


def glucose_like(seed: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A 20 x 2 x 2 data set whose nested ANOVA table is EP05-A3 Table A1's exactly: day effects,
    run-within-day effects and replicate residuals each of sum 0 within their parent, scaled to
    the published sums of squares (values, day, run within day, replicate)."""
    rng = np.random.default_rng(seed)
    day = _zero_sum(rng, (20,))
    day *= math.sqrt(GLUCOSE_SS["day"] / (4 * np.sum(day ** 2)))
    run = _zero_sum(rng, (20, 2))
    run *= math.sqrt(GLUCOSE_SS["run"] / (2 * np.sum(run ** 2)))
    error = _zero_sum(rng, (20, 2, 2))
    error *= math.sqrt(GLUCOSE_SS["error"] / np.sum(error ** 2))
    y = GLUCOSE_MEAN + day[:, None, None] + run[:, :, None] + error
    days, runs, reps = np.meshgrid(np.arange(20), np.arange(2), np.arange(2), indexing="ij")
    return y.ravel(), days.ravel(), runs.ravel(), reps.ravel()


def test_precision_reproduces_the_ep05_glucose_example() -> None:
    y, day, run, rep = glucose_like()
    p = precision(y, run, rep, day=day)
    table = {row.source: row for row in p.anova}
    for source, ss in GLUCOSE_SS.items():
        assert table[source].sum_of_squares == pytest.approx(ss, rel=1e-9)
    assert [table[s].df for s in ("day", "run", "error")] == [19, 20, 40]
    assert [table[s].mean_square for s in ("day", "run", "error")] == pytest.approx([21.88421, 14.05, 7.9], rel=1e-6)
    assert p.mean == pytest.approx(GLUCOSE_MEAN)
    assert p.n == 80 and p.n_runs == 40 and p.n_days == 20 and p.balanced
    assert p.between_day is not None
    # VCA anovaVCA: VC, SD, CV[%] per component, total's Satterthwaite df
    assert p.between_day.variance == pytest.approx(1.958553, rel=1e-5)
    assert p.between_day.sd == pytest.approx(1.399483, rel=1e-5)
    assert p.between_day.cv_pct == pytest.approx(0.5730889, rel=1e-5)
    assert p.between_run.variance == pytest.approx(3.075, rel=1e-6)
    assert p.between_run.sd == pytest.approx(1.753568, rel=1e-5)
    assert p.between_run.cv_pct == pytest.approx(0.7180867, rel=1e-5)
    assert p.repeatability.variance == pytest.approx(7.9, rel=1e-6)
    assert p.repeatability.sd == pytest.approx(2.810694, rel=1e-5)
    assert p.repeatability.cv_pct == pytest.approx(1.1509803, rel=1e-5)
    assert p.repeatability.df == 40
    assert p.within_laboratory.variance == pytest.approx(12.933553, rel=1e-5)
    assert p.within_laboratory.sd == pytest.approx(3.596325, rel=1e-5)
    assert p.within_laboratory.cv_pct == pytest.approx(1.4726965, rel=1e-5)
    assert p.within_laboratory.df == pytest.approx(64.77732, rel=1e-5)
    # VCAinference: two-sided 95 % CIs of the CVs (chi-square on the df)
    assert p.repeatability.cv_pct_ci == pytest.approx((0.9449697, 1.472683), rel=1e-4)
    assert p.within_laboratory.cv_pct_ci == pytest.approx((1.2569983, 1.778450), rel=1e-4)


def _design(labels: np.ndarray) -> np.ndarray:
    """The 0/1 incidence matrix of ``labels`` (rows: values, columns: levels)."""
    levels = np.unique(labels)
    return (labels[:, None] == levels[None, :]).astype(np.float64)


def _reml(y: np.ndarray, designs: list[np.ndarray]) -> np.ndarray:
    """REML variance components (one per design matrix, then the residual) of y = mu + sum Z u + e,
    maximised with scipy.optimize over log variances: an independent computation of the ANOVA's
    estimates, which REML equals for a balanced design when every component is positive."""
    n = y.size
    x = np.ones((n, 1))
    grams = [z @ z.T for z in designs] + [np.eye(n)]

    def objective(log_var: np.ndarray) -> float:
        v = sum(math.exp(t) * g for t, g in zip(log_var, grams, strict=True))
        _, logdet = np.linalg.slogdet(v)
        vinv = np.linalg.inv(v)
        xvx = x.T @ vinv @ x
        beta = np.linalg.solve(xvx, x.T @ vinv @ y)
        r = y - x @ beta
        return 0.5 * (logdet + np.linalg.slogdet(xvx)[1] + float(r @ vinv @ r))

    start = np.full(len(grams), math.log(np.var(y) / len(grams)))
    fit = optimize.minimize(objective, start, method="Nelder-Mead",
                            options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000, "maxfev": 20000})
    return np.exp(fit.x)


def test_precision_agrees_with_reml_on_a_balanced_design() -> None:
    y, day, run, rep = glucose_like()
    p = precision(y, run, rep, day=day)
    assert p.between_day is not None
    components = _reml(y, [_design(day), _design(day * 2 + run)])
    assert components == pytest.approx([p.between_day.variance, p.between_run.variance, p.repeatability.variance],
                                       rel=2e-3)
    two_level = precision(y, day * 2 + run, rep)  # run / replicate only: the day component folds into runs
    assert two_level.between_day is None
    assert _reml(y, [_design(day * 2 + run)]) == pytest.approx(
        [two_level.between_run.variance, two_level.repeatability.variance], rel=2e-3)


def _moments(y: np.ndarray, day: np.ndarray, run: np.ndarray) -> np.ndarray:
    """Henderson's method I by matrices, a second computation of the unbalanced nested ANOVA: the
    sequential sums of squares y'(P_k - P_{k-1})y from projection matrices, and their expectations
    sum_c s2_c tr((P_k - P_{k-1}) Z_c Z_c') solved for the components (day, run, error)."""
    n = y.size
    one = np.ones((n, 1))
    zd, zr = _design(day), _design(run)

    def projection(z: np.ndarray) -> np.ndarray:
        return z @ np.linalg.pinv(z)

    p0, pd, pr = projection(one), projection(zd), projection(zr)
    blocks = [pd - p0, pr - pd, np.eye(n) - pr]
    grams = [zd @ zd.T, zr @ zr.T, np.eye(n)]
    ss = np.array([y @ b @ y for b in blocks])
    expectations = np.array([[np.trace(b @ g) for g in grams] for b in blocks])
    return np.linalg.solve(expectations, ss)


def test_precision_unbalanced_agrees_with_henderson_method_one() -> None:
    rng = np.random.default_rng(11)
    rows = []
    for d in range(8):  # 8 days, 1 to 3 runs a day, 1 to 4 replicates a run
        day_effect = rng.normal(0, 3)
        for r in range(int(rng.integers(1, 4)) if d else 2):
            run_effect = rng.normal(0, 2)
            rows += [(d, r, k, 50 + day_effect + run_effect + rng.normal(0, 1)) for k in range(int(rng.integers(1, 5)))]
    day = np.array([row[0] for row in rows])
    run = np.array([row[0] * 10 + row[1] for row in rows])
    y = np.array([row[3] for row in rows])
    p = precision(y, [row[1] for row in rows], [row[2] for row in rows], day=day)
    assert not p.balanced
    expected = _moments(y, day, run)
    assert p.between_day is not None
    got = [p.between_day.variance, p.between_run.variance, p.repeatability.variance]
    assert got == pytest.approx(np.maximum(expected, 0.0), rel=1e-9, abs=1e-12)
    assert p.within_laboratory.variance == pytest.approx(float(np.maximum(expected, 0.0).sum()), rel=1e-9)


def test_precision_recovers_simulated_components_and_covers_them() -> None:
    """Ground truth: 400 simulated EP05 experiments (20 x 2 x 2, SDs day 3, run 2, repeatability 1.5,
    mean 100): the ANOVA estimates are unbiased (mean within 4 standard errors) and the 95 % CIs of
    the repeatability and within-laboratory SDs cover the truth about 95 % of the time."""
    rng = np.random.default_rng(2026)
    truth = {"day": 9.0, "run": 4.0, "error": 2.25}
    days, runs, reps = (a.ravel() for a in np.meshgrid(np.arange(20), np.arange(2), np.arange(2), indexing="ij"))
    estimates, covered_r, covered_wl = [], 0, 0
    trials = 400
    for _ in range(trials):
        y = (100 + rng.normal(0, 3, 20)[days] + rng.normal(0, 2, 40)[days * 2 + runs] + rng.normal(0, 1.5, 80))
        p = precision(y, runs, reps, day=days)
        assert p.between_day is not None
        estimates.append([p.between_day.variance, p.between_run.variance, p.repeatability.variance])
        covered_r += p.repeatability.sd_ci[0] <= 1.5 <= p.repeatability.sd_ci[1]
        covered_wl += p.within_laboratory.sd_ci[0] <= math.sqrt(sum(truth.values())) <= p.within_laboratory.sd_ci[1]
    e = np.array(estimates)
    # truncation at 0 biases a component up a little; the day and run components here are rarely negative
    for k, name in enumerate(("day", "run", "error")):
        assert abs(e[:, k].mean() - truth[name]) < 4 * e[:, k].std(ddof=1) / math.sqrt(trials), name
    assert 0.92 <= covered_r / trials <= 0.98
    assert 0.90 <= covered_wl / trials <= 0.98


def test_precision_sets_a_negative_component_to_zero() -> None:
    """Runs that agree better than replicates (EP05: a negative estimate is 0); the within-laboratory
    variance is then the sum of the kept components."""
    y = np.array([10.0, 12.0, 11.0, 11.0, 12.0, 10.0, 10.5, 11.5])
    p = precision(y, [1, 1, 2, 2, 3, 3, 4, 4], [1, 2, 1, 2, 1, 2, 1, 2])
    run_means = y.reshape(4, 2).mean(axis=1)
    ms_run = 2 * np.sum((run_means - y.mean()) ** 2) / 3
    ms_error = np.sum((y.reshape(4, 2) - run_means[:, None]) ** 2) / 4
    assert ms_run < ms_error
    assert p.between_run.variance == 0.0 and p.between_run.sd_ci == (0.0, 0.0)
    assert p.repeatability.variance == pytest.approx(ms_error)
    assert p.within_laboratory.variance == pytest.approx(ms_error)
    assert p.within_laboratory.df == pytest.approx(4.0)


def test_precision_without_two_runs_on_a_day_is_run_replicate() -> None:
    """One run a day (a lab's usual plate a day), or every run on one day: day and run cannot be
    told apart, so the run/replicate design is used and says so."""
    y, day, run, rep = glucose_like()
    first = run == 0
    one_a_day = precision(y[first], run[first], rep[first], day=day[first])
    by_run = precision(y[first], day[first], rep[first])
    assert one_a_day.design == "run/replicate" and one_a_day.n_days == 20 and one_a_day.between_day is None
    assert by_run.design == "run/replicate" and by_run.n_days is None
    assert one_a_day.between_run == by_run.between_run and one_a_day.repeatability == by_run.repeatability
    one_day = precision(y, day * 2 + run, rep, day=np.zeros_like(day))
    assert one_day.design == "run/replicate" and one_day.n_days == 1 and one_day.n_runs == 40
    assert precision(y, run, rep, day=day).design == "day/run/replicate"


def test_precision_refuses_unusable_designs() -> None:
    with pytest.raises(ValueError, match="two runs"):
        precision([1.0, 2.0, 3.0], ["a", "a", "a"], [1, 2, 3])
    with pytest.raises(ValueError, match="two replicates"):
        precision([1.0, 2.0, 3.0], ["a", "b", "c"], [1, 1, 1])
    with pytest.raises(ValueError, match="same replicate label"):
        precision([1.0, 2.0, 3.0, 4.0], ["a", "a", "b", "b"], [1, 1, 1, 2])
    with pytest.raises(ValueError, match="finite"):
        precision([1.0, math.nan, 3.0, 4.0], ["a", "a", "b", "b"], [1, 2, 1, 2])
    with pytest.raises(ValueError, match="labels for"):
        precision([1.0, 2.0, 3.0, 4.0], ["a", "a", "b"], [1, 2, 1, 2])
    with pytest.raises(ValueError, match="confidence"):
        precision([1.0, 2.0, 3.0, 4.0], ["a", "a", "b", "b"], [1, 2, 1, 2], confidence=95)


# --- reference intervals: CLSI EP28-A3c -------------------------------------------------------------

# EP28-A3c's calcium example: mg/dL value -> number of reference individuals (women and men combined)
CALCIUM = {8.8: 1, 8.9: 2, 9.0: 1, 9.1: 5, 9.2: 12, 9.3: 19, 9.4: 14, 9.5: 27, 9.6: 28, 9.7: 39, 9.8: 24, 9.9: 21,
           10.0: 10, 10.1: 12, 10.2: 14, 10.3: 9, 10.4: 1, 10.5: 0, 10.6: 1}
# EP28-A3c Appendix B: the robust method's 20-value example
APPENDIX_B = [8.9, 9.2, 9.4, 9.4, 9.5, 9.5, 9.5, 9.6, 9.6, 9.6, 9.6, 9.7, 9.7, 9.7, 9.7, 9.7, 9.8, 9.9, 9.9, 10.2]


def calcium() -> np.ndarray:
    return np.repeat(list(CALCIUM), list(CALCIUM.values()))


def test_nonparametric_interval_reproduces_ep28_calcium() -> None:
    x = calcium()
    assert x.size == 240
    ri = reference_interval(x)  # auto: nonparametric from 120
    assert ri.method == "nonparametric" and ri.flags == ()
    assert (ri.lower, ri.upper) == pytest.approx((9.1, 10.3))
    assert ri.lower_rank == pytest.approx(0.025 * 241) and ri.upper_rank == pytest.approx(0.975 * 241)
    assert ri.lower_ci == pytest.approx((8.9, 9.2)) and ri.upper_ci == pytest.approx((10.3, 10.4))


def test_rank_table_matches_ep28_and_the_binomial() -> None:
    """EP28-A3c's table: n = 120 -> ranks 1 and 7 (upper limit 114 and 120); fewer than 119 values
    give no 90 % interval of the 2.5th percentile. Second computation: the binomial coverage of the
    ranks, summed term by term, is at least 90 % with each tail at most 5 %."""
    assert nonparametric_ci_ranks(120, 0.025) == (1, 7)
    assert nonparametric_ci_ranks(120, 0.975) == (114, 120)
    assert nonparametric_ci_ranks(119, 0.025) == (1, 7)
    with pytest.raises(ValueError, match="too few"):
        nonparametric_ci_ranks(118, 0.025)
    for n in (119, 150, 240, 400, 1000):
        r1, r2 = nonparametric_ci_ranks(n, 0.025)
        pmf = [math.comb(n, k) * 0.025 ** k * 0.975 ** (n - k) for k in range(n + 1)]
        below, above = sum(pmf[:r1]), sum(pmf[r2:])
        assert below <= 0.05 and above <= 0.05 and sum(pmf[r1:r2]) >= 0.90
        assert below + pmf[r1] > 0.05 and above + pmf[r2 - 1] > 0.05  # the narrowest such ranks


def test_robust_limits_reproduce_ep28_appendix_b_and_calcium() -> None:
    assert robust_limits(np.array(APPENDIX_B)) == pytest.approx([9.049545, 10.199396], abs=2e-6)
    ri = reference_interval(APPENDIX_B)  # auto, n = 20: robust and flagged
    assert ri.method == "robust" and ri.flags == ("robust_small_sample",)
    assert (ri.lower, ri.upper) == pytest.approx((9.049545, 10.199396), abs=2e-6)
    assert ri.lower_ci[0] < ri.lower < ri.lower_ci[1] and ri.upper_ci[0] < ri.upper < ri.upper_ci[1]
    robust = reference_interval(calcium(), method="robust")
    assert (robust.lower, robust.upper) == pytest.approx((9.038892, 10.315612), abs=2e-6)
    assert robust.flags == ()
    # the bootstrap CIs of mcradds (R's boot, 10 000 resamples, another generator): Monte Carlo error only
    assert robust.lower_ci == pytest.approx((8.980622, 9.097574), abs=0.01)
    assert robust.upper_ci == pytest.approx((10.25782, 10.37414), abs=0.01)
    again = reference_interval(calcium(), method="robust")
    assert again == robust  # the fixed seed: a rerun gives the same CIs


def test_reference_intervals_recover_a_known_distribution() -> None:
    """Ground truth: normal(100, 10) reference values. Both methods approach the true 2.5th and
    97.5th percentiles (80.40 and 119.60); over repeated samples the nonparametric 90 % CI of the
    lower limit covers the true percentile at least 90 % of the time (it is conservative)."""
    rng = np.random.default_rng(7)
    true = stats.norm.ppf([0.025, 0.975], 100, 10)
    big = rng.normal(100, 10, 5000)
    assert [reference_interval(big).lower, reference_interval(big).upper] == pytest.approx(true, abs=1.0)
    robust = reference_interval(big[:110])
    assert robust.method == "robust" and [robust.lower, robust.upper] == pytest.approx(true, abs=5.0)
    covered = 0
    for _ in range(300):
        ri = reference_interval(rng.normal(100, 10, 150), method="nonparametric")
        covered += ri.lower_ci[0] <= true[0] <= ri.lower_ci[1]
    assert covered / 300 >= 0.88


def test_auto_takes_the_robust_method_when_the_nonparametric_cannot_be_given() -> None:
    """A lab asking 150 values before the nonparametric method; a 99 % interval from 130 values
    (no 90 % CI of the 0.5th percentile from so few): robust, flagged."""
    x = np.random.default_rng(8).normal(100, 10, 130)
    assert reference_interval(x).method == "nonparametric"
    asked = reference_interval(x, nonparametric_min_n=150)
    assert asked.method == "robust" and asked.flags == ("robust_small_sample",)
    wide = reference_interval(x, coverage=0.99)
    assert wide.method == "robust" and wide.flags == ("robust_small_sample",)
    with pytest.raises(ValueError, match="too few"):
        reference_interval(x, method="nonparametric", coverage=0.99)
    assert reference_interval(x, method="robust").flags == ()


def test_reference_interval_refusals() -> None:
    with pytest.raises(ValueError, match="at least 20"):
        reference_interval(list(range(19)))
    with pytest.raises(ValueError, match="at least 120"):
        reference_interval(list(range(100)), method="nonparametric")
    with pytest.raises(ValueError, match="finite"):
        reference_interval([*range(30), math.inf])
    with pytest.raises(ValueError, match="no spread"):
        reference_interval([5.0] * 15 + list(range(10)))


# --- stability ---------------------------------------------------------------------------------------


def test_stability_recovers_a_simulated_drift_and_agrees_with_dummy_regression() -> None:
    """Ground truth: 12 donors, each measured at 0.5, 2, 4, 6 and 24 h with a true decline of 1 %
    per hour; the pooled slope's 95 % CI holds it. Second computation: ordinary least squares with
    one dummy column per donor (numpy lstsq) gives the same slope and standard error."""
    rng = np.random.default_rng(3)
    donors = np.repeat(np.arange(12), 5)
    hours = np.tile([0.5, 2.0, 4.0, 6.0, 24.0], 12)
    true_slope = math.log(0.99)
    values = np.exp(np.log(20000) + rng.normal(0, 0.4, 12)[donors] + true_slope * hours + rng.normal(0, 0.03, 60))
    s = stability(values, hours, [f"P{d}" for d in donors])
    assert s.n == 60 and s.n_donors == 12 and s.df == 60 - 12 - 1
    x = np.column_stack([(donors[:, None] == np.arange(12)).astype(float), hours])
    coef, residual, *_ = np.linalg.lstsq(x, np.log(values), rcond=None)
    sigma2 = float(residual[0]) / (60 - 13)
    se = math.sqrt(sigma2 * np.linalg.inv(x.T @ x)[-1, -1])
    assert s.slope_per_h == pytest.approx(coef[-1], rel=1e-9)
    assert s.slope_se_per_h == pytest.approx(se, rel=1e-9)
    assert s.drift_pct_per_h_ci[0] < -1.0 < s.drift_pct_per_h_ci[1]
    assert s.drift_pct_per_h == pytest.approx(100 * math.expm1(coef[-1]))
    assert s.window_h == 4.0
    assert s.drift_at_window_pct == pytest.approx(100 * math.expm1(4 * coef[-1]))
    assert s.drift_at_window_pct_ci[0] < 100 * (0.99 ** 4 - 1) < s.drift_at_window_pct_ci[1]


def test_stability_ci_covers_the_truth_about_95_percent() -> None:
    rng = np.random.default_rng(4)
    donors = np.repeat(np.arange(6), 3)
    hours = np.tile([1.0, 3.0, 8.0], 6)
    covered = 0
    for _ in range(400):
        values = np.exp(10 + rng.normal(0, 0.5, 6)[donors] + 0.02 * hours + rng.normal(0, 0.05, 18))
        s = stability(values, hours, donors, window_h=6.0)
        covered += s.drift_at_window_pct_ci[0] <= 100 * math.expm1(0.12) <= s.drift_at_window_pct_ci[1]
    assert 0.92 <= covered / 400 <= 0.98


def test_stability_leaves_out_donors_with_one_time_and_refuses_bad_input() -> None:
    values = [100.0, 96.0, 92.0, 200.0, 190.0, 181.0, 150.0]
    hours = [0.0, 4.0, 8.0, 0.0, 4.0, 8.0, 2.0]
    s = stability(values, hours, ["a", "a", "a", "b", "b", "b", "c"])
    assert s.n == 6 and s.n_donors == 2
    with pytest.raises(ValueError, match="positive"):
        stability([1.0, 0.0, 2.0, 3.0], [0, 1, 0, 1], ["a", "a", "b", "b"])
    with pytest.raises(ValueError, match="two or more times"):
        stability([1.0, 2.0, 3.0], [1.0, 1.0, 1.0], ["a", "a", "a"])
    with pytest.raises(ValueError, match="labels"):
        stability([1.0, 2.0], [0.0, 1.0], ["a"])


def test_the_robust_interval_on_log_normal_donors_finds_the_true_limits_on_the_log_scale() -> None:
    """AB/C across healthy donors is log-normal (right-skewed): the biweight of the raw values put
    the lower limit ~20 % low at a log-SD of 0.23 and below 0 at 0.5 (a hostile review); on the
    log scale the limits are the true 2.5th and 97.5th percentiles (within 0.15 SD), never below 0."""
    from assaykit.validation.stats import reference_interval

    rng = np.random.default_rng(11)
    for sd in (0.23, 0.5):
        true_low, true_high = 28000 * np.exp(-1.959964 * sd), 28000 * np.exp(1.959964 * sd)
        lows, highs, raw_lows = [], [], []
        for _ in range(60):
            values = np.exp(rng.normal(np.log(28000), sd, 60))
            logged = reference_interval(values, "robust", transform="log")
            assert logged.transform == "log" and logged.lower > 0
            assert logged.lower_ci[0] <= logged.lower <= logged.lower_ci[1]
            lows.append(logged.lower)
            highs.append(logged.upper)
            raw_lows.append(reference_interval(values, "robust").lower)
        # within 0.15 SD on the log scale (the robust limits of 60 values are widened a little by
        # their t quantile: a limit for the next donor, not the population's exact percentile)
        assert abs(np.log(np.median(lows) / true_low)) < 0.15 * sd, (sd, np.median(lows), true_low)
        assert abs(np.log(np.median(highs) / true_high)) < 0.15 * sd, (sd, np.median(highs), true_high)
        assert np.median(raw_lows) < 0.9 * true_low  # the raw-scale biweight: biased low, as found
    with pytest.raises(ValueError, match="above 0"):
        reference_interval(np.r_[0.0, np.full(30, 5.0) + np.arange(30)], "robust", transform="log")
