"""The ledger's pure rules: time points as days, Westgard rules (each rule by a sequence built to
break it and one built to miss it by a hair), baseline limits against numpy, trajectory findings
against numpy's least squares and hand-made courses."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from assaykit.errors import AssayKitError
from assaykit.ledger import (
    ControlLimits,
    TrajectoryRule,
    baseline_limits,
    broken_rules,
    check_series,
    day_of_label,
    hours_between,
    parse_timestamp,
    run_verdict,
    trajectory,
)


@pytest.mark.parametrize(("label", "day"), [("D1", 1.0), ("d3", 3.0), ("Day 3", 3.0), ("day-5", 5.0), ("J7", 7.0),
                                            ("jour 2", 2.0), ("H48", 2.0), ("h36", 1.5), ("48h", 2.0),
                                            ("72 hours", 3.0), ("D2.5", 2.5), ("D2,5", 2.5), ("D0", 0.0)])
def test_time_point_labels(label: str, day: float) -> None:
    assert day_of_label(label) == day


@pytest.mark.parametrize("label", ["", "baseline", "T0", "week 2", "D", "3", "D-", "D99999", "pre"])
def test_labels_that_name_no_day(label: str) -> None:
    assert day_of_label(label) is None


def test_timestamps() -> None:
    drawn = parse_timestamp("2026-11-20 08:00", "drawn_at", "row 2")
    stained = parse_timestamp("2026-11-20T13:30:00", "stained_at", "row 2")
    assert hours_between(drawn, stained) == 5.5 and hours_between(None, stained) is None
    utc = parse_timestamp("2026-11-20T14:30:00+01:00", "stained_at", "row 2")
    assert utc == dt.datetime(2026, 11, 20, 13, 30)
    assert parse_timestamp("  ", "drawn_at", "row 2") is None
    with pytest.raises(AssayKitError, match="row 4: drawn_at '20/11/2026' is not an ISO date-time"):
        parse_timestamp("20/11/2026", "drawn_at", "row 4")


# --- Westgard ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("z", "rules"), [
    ([0.5, 3.01], ("1-3s", "1-2s")),
    ([0.5, 2.99], ("1-2s",)),
    ([2.1, 2.2], ("2-2s", "1-2s")),
    ([-2.1, -2.2], ("2-2s", "1-2s")),
    ([2.1, 1.9], ()),
    ([-2.1, 2.2], ("R-4s", "1-2s")),
    ([2.5, -2.05], ("R-4s", "1-2s")),
    ([1.1, 1.2, 1.3, 1.05], ("4-1s",)),
    ([1.1, 1.2, 0.99, 1.05], ()),
    ([-1.1, -1.2, -1.3, -1.05], ("4-1s",)),
    ([0.1] * 10, ("10-x",)),
    ([0.1] * 9 + [-0.1], ()),
    ([0.1] * 9, ()),
    ([-0.3] * 10, ("10-x",)),
])
def test_each_westgard_rule(z: list[float], rules: tuple[str, ...]) -> None:
    assert broken_rules(z) == rules


def test_baseline_limits_and_checks() -> None:
    values = [1.00, 1.02, 0.98, 1.01, 0.99, 1.03, 0.97, 1.00, 1.02, 0.98]
    limits = baseline_limits(values, 10)
    assert limits.target == pytest.approx(np.mean(values), rel=1e-12)
    assert limits.sd == pytest.approx(np.std(values, ddof=1), rel=1e-12)
    assert baseline_limits(values[:9], 10) is None and baseline_limits([1.0] * 10, 10) is None
    assert check_series("bead slope", values[:5], 1.0, baseline_runs=10).status == "establishing"
    low = check_series("bead slope", values, limits.target - 3.5 * limits.sd, baseline_runs=10)
    assert low.status == "rejected" and low.rules == ("1-3s", "1-2s") and low.z == pytest.approx(-3.5)
    fine = check_series("bead slope", values, limits.target + 0.5 * limits.sd, baseline_runs=10)
    assert fine.status == "in control" and fine.rules == ()
    given = ControlLimits(target=1.0, sd=0.01, source="established targets")
    second = check_series("bead slope", [1.025], 1.022, given)  # z 2.5 then 2.2: 2-2s across runs
    assert second.rules == ("2-2s", "1-2s") and second.rejected and second.limits is given
    warned = check_series("bead slope", [], 1.025, given)
    assert warned.status == "warning"
    assert check_series("peak", [], float("nan"), given).status == "not measured"


def test_run_verdict_names_every_rejection() -> None:
    given = ControlLimits(target=1.0, sd=0.01, source="x")
    checks = [check_series("bead slope", [1.025], 1.022, given), check_series("bead r2", [], 0.95, given),
              check_series("bead intercept", [], 1.0, given)]
    status, reason = run_verdict(checks)
    assert status == "rejected" and reason == "rule 2-2s on bead slope; rule 1-3s on bead r2"
    assert run_verdict([checks[2]]) == ("in control", "")
    assert run_verdict([check_series("s", [], 1.025, given)]) == ("warning", "rule 1-2s on s")
    assert run_verdict([]) == ("not evaluated", "no QC series")


# --- trajectories --------------------------------------------------------------------------------

def test_slope_and_late_low_values() -> None:
    days, abc = [1, 3, 6, 7], [3000.0, 4200.0, 6100.0, 9000.0]
    course = trajectory(days, abc)
    assert course.slope_per_day == pytest.approx(np.polyfit(days, abc, 1)[0], rel=1e-12)
    assert course.low_late == ((6.0, 6100.0),)
    assert "below 8,000 AB/C at day 6 (6,100)" in course.findings()
    assert trajectory([2], [3000.0]).trajectory == "" and trajectory([2], [3000.0]).slope_per_day is None


@pytest.mark.parametrize(("days", "abc", "kind"), [
    ([1, 3], [4000.0, 5000.0], "early improver"),  # 125 % of day 1 by day 3
    ([1, 4, 7], [4000.0, 4900.0, 9000.0], "delayed/non-improver"),  # 122.5 % by day 4; better only later
    ([1, 3, 5], [4000.0, 4400.0, 3300.0], "delayed/non-improver"),  # latest 82.5 %: not yet a decline
    ([1, 3, 5], [4000.0, 4400.0, 3200.0], "decliner"),  # latest exactly 80 %
    ([2, 6], [9000.0, 7000.0], "decliner"),  # 77.8 %
    ([1, 2, 6], [4000.0, 5200.0, 3100.0], "decliner"),  # improved early, then fell below 80 %: the fall wins
])
def test_trajectory_classes(days: list[int], abc: list[float], kind: str) -> None:
    assert trajectory(days, abc).trajectory == kind


def test_trajectory_rule_is_configurable() -> None:
    rule = TrajectoryRule(rise=1.1, fall=0.9, early_by_day=3, low_abc=5000, low_from_day=4, low_to_day=8)
    course = trajectory([1, 3, 8], [4000.0, 4500.0, 4800.0], rule)
    assert course.trajectory == "early improver" and course.low_late == ((8.0, 4800.0),)
    with pytest.raises(ValueError, match="rise > 1"):
        TrajectoryRule(rise=0.9)


@pytest.mark.parametrize(("days", "abc", "withheld", "kind", "reason"), [
    # day 3 withheld, day 7 no rise: whether day 3 rose is unknown
    ([1, 7], [4000.0, 4400.0], [3], "not classifiable", "day 3 withheld (needed for an improvement by day 4)"),
    # the latest day withheld: no decline can be ruled out
    ([1, 3], [4000.0, 5200.0], [6], "not classifiable", "day 6 withheld (the latest day)"),
    # the first day withheld: day 3 is no baseline
    ([3, 6], [4000.0, 3000.0], [1], "not classifiable", "day 1 withheld (the first day; day 3 is no baseline)"),
    # nothing withheld, but no value between the first day and day 4
    ([1, 7], [4000.0, 4400.0], [], "not classifiable",
     "no value after day 1 up to day 4 (needed for an improvement by then)"),
    # a withheld day in the middle does not hide an observed early rise, nor a decline latest vs first
    ([1, 2, 7], [4000.0, 5000.0, 4800.0], [4], "early improver",
     "day 2 at 125% of day 1 (>= 125% by day 4)"),
    ([1, 3, 7], [4000.0, 4100.0, 3000.0], [5], "decliner", "day 7 at 75% of day 1 (<= 80%)"),
    # a day with a value is not withheld (a repeat withheld, another reportable)
    ([1, 3, 5], [4000.0, 4400.0, 4300.0], [3], "delayed/non-improver",
     "not >= 125% of day 1 by day 4, not a decline"),
])
def test_no_class_over_a_withheld_day(days: list[int], abc: list[float], withheld: list[int], kind: str,
                                      reason: str) -> None:
    course = trajectory(days, abc, withheld=withheld)
    assert (course.trajectory, course.reason) == (kind, reason)
    if kind == "not classifiable":
        assert f"trajectory: not classifiable: {reason}" in course.findings()


def test_withheld_days_in_the_late_window_are_named() -> None:
    course = trajectory([1, 3, 5, 7], [3000.0, 4000.0, 9000.0, 9500.0], withheld=[6])
    assert course.withheld_days == (6.0,) and course.low_window_withheld == (6.0,) and course.low_late == ()
    assert "day 6 withheld: not judged against 8,000 AB/C" in course.findings()
    assert course.trajectory == "early improver"


def test_patient_trajectory_reads_withheld_and_rejected_days() -> None:
    from assaykit.ledger.trajectory import patient_trajectory

    def row(day: float, abc: float | None, status: str = "in control", condition: str = "unstimulated") -> dict:
        return {"condition": condition, "day": day, "abc": abc, "qc_status": status}

    rows = [row(1, 4000.0), row(3, None), row(3, 9000.0, condition="IFN-gamma"), row(6, 3000.0, "rejected"),
            row(5, 4200.0)]
    course = patient_trajectory(rows, "unstimulated")
    assert course.days == (1.0, 5.0) and course.withheld_days == (3.0, 6.0)
    assert (course.trajectory, course.reason) == ("not classifiable", "day 6 withheld (the latest day)")
