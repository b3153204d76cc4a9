"""A patient's monocyte HLA-DR over time: the slope per day, whether it is still low at days 5-7,
and a trajectory class.

The clinical reading (domain notes): at days 1-2 mHLA-DR does not separate survivors, by days 3-4
it does (Monneret 2006); still below 8,000 AB/C at days 5-7, or a falling slope, predicts
ICU-acquired infection (de Roquetaillade 2022); trajectories fall into early improvers,
delayed/non-improvers and decliners (Leijte 2020). Leijte et al. found the groups by trajectory
modelling, not by a cut-off; the rule here is assaykit's transparent, configurable stand-in
(:class:`TrajectoryRule`), documented in docs/ledger.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SOURCE = ("trajectory groups: Leijte GP et al., Crit Care 2020;24:110; days 5-7 below 8,000 AB/C: "
          "de Roquetaillade C et al., 2022 (1,053 patients); rule cut-offs: assaykit's, configurable")


@dataclass(frozen=True)
class TrajectoryRule:
    """``rise``: the ratio to the first value that counts as improving (1.25: 25 % up);
    ``fall``: the ratio at or below which the latest value is a decline (0.8: 20 % down);
    ``early_by_day``: an improvement reached by this day is early; ``low_abc``: the AB/C below
    which days 5-7 are flagged (8,000); ``low_from_day``, ``low_to_day``: that window (days)."""

    rise: float = 1.25
    fall: float = 0.8
    early_by_day: float = 4.0
    low_abc: float = 8000.0
    low_from_day: float = 5.0
    low_to_day: float = 7.0

    def __post_init__(self) -> None:
        if not (self.rise > 1 and 0 < self.fall < 1 and self.early_by_day > 0 and self.low_abc > 0
                and 0 <= self.low_from_day <= self.low_to_day):
            raise ValueError("trajectory rule: rise > 1, 0 < fall < 1, early_by_day > 0, low_abc > 0, "
                             "0 <= low_from_day <= low_to_day")

    def to_dict(self) -> dict[str, object]:
        return {"rise": self.rise, "fall": self.fall, "early_by_day": self.early_by_day, "low_abc": self.low_abc,
                "low_from_day": self.low_from_day,
                "low_to_day": self.low_to_day, "source": SOURCE}


@dataclass(frozen=True)
class Trajectory:
    """The findings on one patient's unstimulated AB/C over days: ``slope_per_day`` (AB/C per
    day, least squares; None with fewer than two days), ``low_late`` (the days 5-7 measures below
    the limit, as (day, AB/C)), ``trajectory`` (``early improver``, ``delayed/non-improver``,
    ``decliner`` or "" with fewer than two days) and the reason; ``low_limit`` is the rule's
    days 5-7 limit."""

    days: tuple[float, ...]
    abc: tuple[float, ...]
    slope_per_day: float | None
    low_late: tuple[tuple[float, float], ...]
    low_limit: float
    trajectory: str
    reason: str
    withheld_days: tuple[float, ...] = ()
    low_window_withheld: tuple[float, ...] = ()

    def findings(self, unit: str = "AB/C") -> list[str]:
        """The findings as sentences for a page."""
        out = []
        if self.slope_per_day is not None:
            out.append(f"slope {self.slope_per_day:+,.0f} {unit} per day over days {self.days[0]:g}-{self.days[-1]:g}")
        out.extend(f"below {self.low_limit:,.0f} {unit} at day {day:g} ({value:,.0f})" for day, value in self.low_late)
        if self.low_window_withheld:
            out.append(f"{_days_text(self.low_window_withheld)} withheld: not judged against {self.low_limit:,.0f} "
                       f"{unit}")
        if self.trajectory == NOT_CLASSIFIABLE:
            out.append(f"trajectory: {NOT_CLASSIFIABLE}: {self.reason}")
        elif self.trajectory:
            out.append(f"trajectory: {self.trajectory} ({self.reason})")
        return out


NOT_CLASSIFIABLE = "not classifiable"
"""The trajectory class when a day the rule needs is withheld or missing."""


def _days_text(days: Sequence[float]) -> str:
    return ("day " if len(days) == 1 else "days ") + ", ".join(f"{d:g}" for d in days)


def trajectory(days: Sequence[float], abc: Sequence[float], rule: TrajectoryRule | None = None,
               withheld: Sequence[float] = ()) -> Trajectory:
    """Findings on one patient's unstimulated AB/C (``abc``) at ``days`` (one value per day: the
    caller averages repeats); ``withheld``: days measured without a reportable value.

    The class is never decided over a day it needs: a withheld day before the first value (the
    baseline) or after the last (the latest), or a withheld or missing day between the first and
    ``early_by_day`` when no early rise is seen, gives ``not classifiable`` with the day named.
    Withheld days in the days 5-7 window are named (``low_window_withheld``), not judged.

    Parameters
    ----------
    days : sequence of float
        Days since admission, any order.
    abc : sequence of float
        The unstimulated monocyte HLA-DR at each day (AB/C, or the run's bead unit).
    rule : TrajectoryRule or None
        The classification rule (default: :class:`TrajectoryRule`).
    withheld : sequence of float
        Days with a measure whose value is withheld (or failed); a day that also has a value
        is not withheld.
    """
    rule = rule or TrajectoryRule()
    pairs = sorted((float(d), float(a)) for d, a in zip(days, abc, strict=True)
                   if math.isfinite(d) and math.isfinite(a) and a > 0)
    d = tuple(p[0] for p in pairs)
    a = tuple(p[1] for p in pairs)
    gone = tuple(sorted({float(w) for w in withheld if math.isfinite(w)} - set(d)))
    low = tuple((x, y) for x, y in pairs if rule.low_from_day <= x <= rule.low_to_day and y < rule.low_abc)
    window = tuple(w for w in gone if rule.low_from_day <= w <= rule.low_to_day)

    def made(slope: float | None, kind: str, why: str) -> Trajectory:
        return Trajectory(days=d, abc=a, slope_per_day=slope, low_late=low, low_limit=rule.low_abc, trajectory=kind,
                          reason=why, withheld_days=gone, low_window_withheld=window)

    if len(set(d)) < 2:
        return made(None, "", "one time point" + (f" ({_days_text(gone)} withheld)" if gone else ""))
    slope = float(np.polyfit(np.asarray(d), np.asarray(a), 1)[0])
    first, latest = a[0], a[-1]
    early = [(x, y) for x, y in pairs[1:] if x <= rule.early_by_day and y >= first * rule.rise]
    before = [w for w in gone if w < d[0]]
    after = [w for w in gone if w > d[-1]]
    needed = [w for w in gone if d[0] < w <= rule.early_by_day]
    if before:
        kind, why = NOT_CLASSIFIABLE, f"{_days_text(before)} withheld (the first day; day {d[0]:g} is no baseline)"
    elif after:
        kind, why = NOT_CLASSIFIABLE, f"{_days_text(after)} withheld (the latest day)"
    elif latest <= first * rule.fall:
        kind = "decliner"
        why = f"day {d[-1]:g} at {latest / first:.0%} of day {d[0]:g} (<= {rule.fall:.0%})"
    elif early:
        kind = "early improver"
        why = f"day {early[0][0]:g} at {early[0][1] / first:.0%} of day {d[0]:g} (>= {rule.rise:.0%} by day " \
              f"{rule.early_by_day:g})"
    elif needed:
        kind, why = NOT_CLASSIFIABLE, f"{_days_text(needed)} withheld (needed for an improvement by day " \
                                      f"{rule.early_by_day:g})"
    elif not any(d[0] < x <= rule.early_by_day for x in d):
        kind = NOT_CLASSIFIABLE
        why = f"no value after day {d[0]:g} up to day {rule.early_by_day:g} (needed for an improvement by then)"
    else:
        kind = "delayed/non-improver"
        why = f"not >= {rule.rise:.0%} of day {d[0]:g} by day {rule.early_by_day:g}, not a decline"
    return made(slope, kind, why)


TIMELINE_COLUMNS = ["patient", "day", "timepoint", "condition", "abc", "fold_change", "immunosep_class", "run",
                    "acquired_on", "qc_status"]
"""A patient's measures across runs, one row per time point and condition (trajectories.csv)."""


def timeline(patients: Sequence[dict], restoration: Sequence[dict], control: str) -> list[dict]:
    """One row per patient, time point and condition (the unstimulated ``control`` from
    ``patients`` rows, each drug from ``restoration`` rows), oldest day first; columns
    :data:`TIMELINE_COLUMNS`.

    Parameters
    ----------
    patients : sequence of dict
        Rows with ``patient``, ``timepoint``, ``day``, ``control_abc``, ``immunosep_class``,
        ``run_name``, ``acquired_on``, ``qc_status``.
    restoration : sequence of dict
        Rows with ``patient``, ``timepoint``, ``day``, ``condition``, ``abc``, ``fold_change`` and
        the same run columns.
    control : str
        The name of the unstimulated condition.
    """
    def base(row: dict) -> dict:
        return {"patient": row["patient"], "day": row.get("day"), "timepoint": row["timepoint"],
                "run": row.get("run_name", ""), "acquired_on": row.get("acquired_on", ""),
                "qc_status": row.get("qc_status", "")}

    rows = [{**base(p), "condition": control, "abc": p.get("control_abc"), "fold_change": None,
             "immunosep_class": p.get("immunosep_class", "")} for p in patients]
    rows += [{**base(r), "condition": r["condition"], "abc": r.get("abc"), "fold_change": r.get("fold_change"),
              "immunosep_class": ""} for r in restoration]

    def order(row: dict) -> tuple:
        day = row["day"]
        return (row["patient"], day if day is not None and math.isfinite(day) else math.inf,
                row["condition"] != control, row["condition"], row["acquired_on"], row["run"])

    return [{c: r[c] for c in TIMELINE_COLUMNS} for r in sorted(rows, key=order)]


def patient_trajectory(rows: Sequence[dict], control: str, rule: TrajectoryRule | None = None) -> Trajectory:
    """The trajectory of one patient's unstimulated AB/C in :func:`timeline` rows: runs rejected by
    QC left out, repeats on one day averaged; a day whose unstimulated rows have no reportable
    value (withheld, failed, or a run rejected by QC) is a withheld day (:func:`trajectory`).

    Parameters
    ----------
    rows : sequence of dict
        One patient's timeline rows.
    control : str
        The name of the unstimulated condition.
    rule : TrajectoryRule or None
        The classification rule.
    """
    by_day: dict[float, list[float]] = {}
    withheld: set[float] = set()
    for row in rows:
        day, abc = row.get("day"), row.get("abc")
        if row["condition"] != control or day is None or not math.isfinite(day):
            continue
        if row.get("qc_status") != "rejected" and abc is not None and math.isfinite(abc) and abc > 0:
            by_day.setdefault(float(day), []).append(float(abc))
        else:
            withheld.add(float(day))
    days = sorted(by_day)
    return trajectory(days, [float(np.mean(by_day[d])) for d in days], rule, sorted(withheld))
