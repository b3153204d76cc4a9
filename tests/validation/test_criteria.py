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
    run = np.repeat(np.arange(10), 3)
    good = precision(100 + rng.normal(0, 3, 10)[run] + rng.normal(0, 2, 30), run, np.tile([1, 2, 3], 10))
    rep, wl = evaluate_precision(good, c, "control blood A")
    assert (rep.criterion, rep.result, rep.subject, rep.unit, rep.limit) == (
        "repeatability_cv", "pass", "control blood A", "%", "<= 20")
    assert rep.value == pytest.approx(good.repeatability.cv_pct) and wl.value == pytest.approx(
        good.within_laboratory.cv_pct)
    assert wl.criterion == "within_laboratory_cv" and wl.result == "pass"
    bad = precision(100 + rng.normal(0, 30, 10)[run] + rng.normal(0, 2, 30), run, np.tile([1, 2, 3], 10))
    assert [o.result for o in evaluate_precision(bad, c, "x")] == ["pass", "fail"]
    missing = evaluate_precision(None, c, "patient 7", why="too_few")
    assert [(o.result, o.why, o.value) for o in missing] == [("not_evaluated", "too_few", None)] * 2
    assert tuple(rep.row()) == OUTCOME_COLUMNS and rep.row()["value"] == rep.value
    assert missing[0].row()["value"] == "" and missing[0].row()["result"] == "not_evaluated"


def test_comparison_stability_and_reference_outcomes() -> None:
    c = load_criteria()
    assert evaluate_comparison(-19.9, c, "lab B").result == "pass"
    assert evaluate_comparison(20.5, c, "lab B").result == "fail"
    assert evaluate_comparison(None, c, "lab B").why == "no_data"
    hours = np.tile([1.0, 4.0, 8.0], 5)
    donors = np.repeat(np.arange(5), 3)
    falling = stability(1000 * np.exp(-0.08 * hours + np.random.default_rng(1).normal(0, 0.01, 15)), hours, donors)
    outcome = evaluate_stability(falling, c, "all donors")
    assert outcome.result == "fail" and outcome.value == pytest.approx(100 * (np.exp(-0.32) - 1), abs=2)
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
