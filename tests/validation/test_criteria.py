"""Acceptance criteria (assaykit/validation/criteria.py): the shipped defaults and their sources,
a lab's overrides, refusals in one line naming the file, and each criterion's typed outcome."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assaykit.errors import AssayKitError
from assaykit.validation.criteria import (
    OUTCOME_COLUMNS,
    evaluate_comparison,
    evaluate_precision,
    evaluate_reference_interval,
    evaluate_stability,
    load_criteria,
    shipped_bytes,
)
from assaykit.validation.stats import precision, reference_interval, stability


def test_shipped_defaults_are_the_literature_values() -> None:
    c = load_criteria()
    assert c.source == "shipped:criteria.yaml" and len(c.sha256) == 64
    assert c.precision.repeatability_cv_pct_max == 20 and c.precision.within_laboratory_cv_pct_max == 20
    assert c.method_comparison.mean_difference_pct_max == 20
    assert c.stability.window_h == 4 and c.stability.drift_at_window_pct_max == 20
    r = c.reference_interval
    assert (r.donor_group, r.coverage, r.ci, r.nonparametric_min_n, r.min_n) == ("healthy", 0.95, 0.90, 120, 20)
    assert r.transference is None
    text = shipped_bytes().decode()
    for source in ("Quadrini 2021", "Demaret 2013", "Docke 2005", "EP28-A3c", "Horn & Pesce 2003"):
        assert source in text, source


def test_a_lab_file_overrides_keys_and_keeps_the_rest(tmp_path: Path) -> None:
    lab = tmp_path / "criteria.yaml"
    lab.write_text("precision:\n  repeatability_cv_pct_max: 10\nreference_interval:\n"
                   "  donor_group: blood bank\n  transference: {lower: 12000, upper: 40000}\n")
    before = lab.read_bytes()
    c = load_criteria(lab)
    assert c.precision.repeatability_cv_pct_max == 10 and c.precision.within_laboratory_cv_pct_max == 20
    assert c.reference_interval.donor_group == "blood bank" and c.reference_interval.coverage == 0.95
    t = c.reference_interval.transference
    assert t is not None and (t.lower, t.upper, t.min_n, t.max_outside_fraction) == (12000, 40000, 20, 0.10)
    assert c.source == str(lab)
    import hashlib

    assert c.sha256 == hashlib.sha256(before).hexdigest() and lab.read_bytes() == before


@pytest.mark.parametrize(("text", "problem"), [
    ("precision:\n  repeatability_cv: 10\n", "precision: unknown key 'repeatability_cv'"),
    ("precison:\n  repeatability_cv_pct_max: 10\n", "unknown key 'precison'"),
    ("stability:\n  window_h: four\n", "stability.window_h: expected a finite number"),
    ("stability:\n  window_h: 0\n", "stability: window_h must be above 0"),
    ("reference_interval:\n  transference: {lower: 5, upper: 2}\n", "reference_interval.transference: lower"),
    ("reference_interval:\n  nonparametric_min_n: 60\n", "nonparametric_min_n must be at least 120"),
    ("- 1\n- 2\n", "expected a mapping"),
])
def test_bad_lab_files_are_refused_in_one_line_naming_the_file(tmp_path: Path, text: str, problem: str) -> None:
    lab = tmp_path / "lab-criteria.yaml"
    lab.write_text(text)
    with pytest.raises(AssayKitError) as refused:
        load_criteria(lab)
    message = str(refused.value)
    assert message.startswith(f"{lab}: ") and problem in message and "\n" not in message


def test_precision_outcomes() -> None:
    c = load_criteria()
    rng = np.random.default_rng(0)
    run = np.repeat(np.arange(10), 5)
    good = precision(100 + rng.normal(0, 3, 10)[run] + rng.normal(0, 2, 50), run, np.tile([1, 2, 3, 4, 5], 10))
    rep, wl = evaluate_precision(good, c, "control blood A")
    assert (rep.criterion, rep.result, rep.subject, rep.unit, rep.limit) == (
        "repeatability_cv", "pass", "control blood A", "%", "<= 20")
    assert rep.value == pytest.approx(good.repeatability.cv_pct) and wl.value == pytest.approx(
        good.within_laboratory.cv_pct)
    assert wl.criterion == "within_laboratory_cv" and wl.result == "pass"
    bad = precision(100 + rng.normal(0, 30, 10)[run] + rng.normal(0, 2, 50), run, np.tile([1, 2, 3, 4, 5], 10))
    assert [o.result for o in evaluate_precision(bad, c, "x")] == ["pass", "fail"]
    missing = evaluate_precision(None, c, "patient 7", why="too_few")
    assert [(o.result, o.why, o.value) for o in missing] == [("not_evaluated", "too_few", None)] * 2
    assert tuple(rep.row()) == OUTCOME_COLUMNS and rep.row()["value"] == rep.value
    assert missing[0].row()["value"] == "" and missing[0].row()["result"] == "not_evaluated"


def test_precision_below_the_least_design_is_not_evaluated() -> None:
    """Review: 3 runs x 2 replicates passed with a CV CI of about 10-110 %. EP15-A3's 5 runs x 5
    replicates is the least design judged; EP05-A3's 20 days x 2 runs x 2 replicates meets too;
    below both: not evaluated, too few (n of N)."""
    c = load_criteria()
    rng = np.random.default_rng(4)

    def study(runs: int, reps: int) -> object:
        run = np.repeat(np.arange(runs), reps)
        return precision(100 + rng.normal(0, 3, runs)[run] + rng.normal(0, 2, runs * reps), run,
                         np.tile(np.arange(reps), runs))

    small = study(3, 2)
    assert small.within_laboratory.cv_pct_ci[1] / small.within_laboratory.cv_pct_ci[0] > 5  # why: a CI too wide
    outcomes = evaluate_precision(small, c, "m", design=(3, 2, 3, 1))
    assert [(o.result, o.why, o.value) for o in outcomes] == [("not_evaluated", "too_few", None)] * 2
    assert "too few (3 of 5 runs, 2 of 5 replicates per run" in outcomes[0].detail
    assert [o.result for o in evaluate_precision(study(5, 5), c, "m", design=(5, 5, 5, 1))] == ["pass", "pass"]
    assert "EP15-A3" in evaluate_precision(study(5, 5), c, "m")[0].detail  # design from the result: 5 x 5
    assert evaluate_precision(study(5, 4), c, "m")[0].result == "not_evaluated"  # 4 of 5 replicates
    assert c.precision.design_meets(5, 5, 5, 1) == "verify"
    assert c.precision.design_meets(40, 2, 20, 2) == "establish"  # EP05-A3 20 x 2 x 2
    assert c.precision.design_meets(40, 2, 19, 2) == "too_few"
    assert c.precision.design_meets(4, 5, 4, 1) == "too_few"


def test_a_proportional_bias_fails_passing_bablok_though_the_mean_difference_passes() -> None:
    """Review: a proportional bias passed without comment. y = 0.8 x + 4000 over 5,000-40,000 AB/C:
    a mean % difference of about +4 % (passes +-20) but a slope whose 95 % CI excludes 1 and an
    intercept whose CI excludes 0; the identity (noise only) passes all three."""
    from assaykit.scoring.agreement import bland_altman, passing_bablok

    c = load_criteria()
    rng = np.random.default_rng(5)
    x = rng.uniform(5000, 40000, 60)
    y = 0.8 * x + 4000 + rng.normal(0, 300, 60)
    ba, pb = bland_altman(x, y), passing_bablok(x, y)
    mean, slope, intercept = evaluate_comparison(ba.mean_difference_pct, c, "lab", n_samples=60, passing_bablok=pb)
    assert mean.result == "pass" and abs(mean.value - 100 * np.mean((y - x) / x)) < 1e-9
    assert (slope.criterion, slope.result, slope.value, slope.limit) == (
        "method_comparison_slope", "fail", pb.slope, "95 % CI contains 1")
    assert pb.slope_ci[1] < 1 and 0.75 < pb.slope < 0.85 and "proportional bias" in slope.detail
    assert (intercept.criterion, intercept.result) == ("method_comparison_intercept", "fail") and pb.intercept_ci[0] > 0
    same = x * np.exp(rng.normal(0, 0.01, 60))
    assert [o.result for o in evaluate_comparison(0.0, c, "lab", n_samples=60,
                                                  passing_bablok=passing_bablok(x, same))] == ["pass"] * 3


def test_comparison_stability_and_reference_outcomes() -> None:
    c = load_criteria()
    assert evaluate_comparison(-19.9, c, "lab B")[0].result == "pass"
    assert evaluate_comparison(20.5, c, "lab B")[0].result == "fail"
    assert evaluate_comparison(None, c, "lab B")[0].why == "no_data"
    few = evaluate_comparison(1.0, c, "lab B", n_samples=2)
    assert [(o.criterion, o.result, o.why) for o in few] == [
        ("method_comparison_mean_difference", "not_evaluated", "too_few"),
        ("method_comparison_slope", "not_evaluated", "too_few"),
        ("method_comparison_intercept", "not_evaluated", "too_few")]
    assert few[0].detail == "too few (2 of 40 samples, CLSI EP09-A3)"
    hours = np.tile([1.0, 4.0, 8.0], 5)
    donors = np.repeat(np.arange(5), 3)
    falling = stability(1000 * np.exp(-0.08 * hours + np.random.default_rng(1).normal(0, 0.01, 15)), hours, donors)
    outcome = evaluate_stability(falling, c, "all donors")
    assert outcome.result == "fail" and outcome.value == pytest.approx(100 * (np.exp(-0.32) - 1), abs=2)
    one = stability(1000 * np.exp(-0.08 * hours[:3]), hours[:3], donors[:3])  # one donor: a slope, too few donors
    lone = evaluate_stability(one, c, "one donor")
    assert (lone.result, lone.why, lone.value) == ("not_evaluated", "too_few", None)
    assert lone.detail == "too few (1 of 2 donors at 2 times or more)"
    assert evaluate_stability(falling, c, "x", donors=1).result == "not_evaluated"
    with pytest.raises(ValueError, match="window"):
        evaluate_stability(stability(1000 * np.exp(-0.001 * hours), hours, donors, window_h=2.0), c, "x")
    big = reference_interval(np.random.default_rng(2).normal(30000, 5000, 150))
    method, transference = evaluate_reference_interval(big, [], c, "healthy")
    assert method.result == "pass" and method.value == 150
    assert transference.result == "not_evaluated" and transference.why == "not_configured"
    small = reference_interval(np.random.default_rng(3).normal(30000, 5000, 40))
    method, _ = evaluate_reference_interval(small, [], c, "healthy")
    assert method.result == "not_evaluated" and method.why == "too_few" and "robust" in method.detail


def test_transference_two_of_twenty(tmp_path: Path) -> None:
    lab = tmp_path / "c.yaml"
    lab.write_text("reference_interval:\n  transference: {lower: 10, upper: 20}\n")
    c = load_criteria(lab)
    inside = [15.0] * 18
    _, ok = evaluate_reference_interval(None, [*inside, 9.0, 21.0], c, "healthy")
    assert ok.result == "pass" and ok.value == 2
    _, bad = evaluate_reference_interval(None, [*inside[:17], 9.0, 21.0, 25.0], c, "healthy")
    assert bad.result == "fail" and bad.value == 3
    _, few = evaluate_reference_interval(None, inside, c, "healthy")
    assert few.result == "not_evaluated" and few.why == "too_few"
