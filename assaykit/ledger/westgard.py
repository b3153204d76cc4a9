"""Levey-Jennings statistics and Westgard rules for one QC series (a bead calibration parameter,
one bead peak's MFI, or a control blood sample's AB/C, on one instrument and lot).

Each run's value becomes a z-score against the series' target and SD: from a YAML of established
values, else from the series' first ``baseline_runs`` runs that were not rejected. The rules are
evaluated at the newest run over the series' accepted history (rejected runs are left out):

- ``1-2s`` (warning): the run is more than 2 SD from the target;
- ``1-3s``: more than 3 SD;
- ``2-2s``: this run and the previous one both more than 2 SD, on the same side;
- ``R-4s``: this run and the previous one more than 2 SD on opposite sides (a range of 4 SD;
  with one control level per series, taken across consecutive runs);
- ``4-1s``: the last 4 runs all more than 1 SD on the same side;
- ``10-x``: the last 10 runs all on the same side of the target.

Any rule but 1-2s rejects the run (Westgard, Barry, Hunt, Groth, Clin Chem 1981;27:493).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

REJECTION_RULES = ("1-3s", "2-2s", "R-4s", "4-1s", "10-x")
WARNING_RULE = "1-2s"
BASELINE_RUNS = 10


@dataclass(frozen=True)
class ControlLimits:
    """A series' target and SD (its units), and where they come from."""

    target: float
    sd: float
    source: str


SeriesStatus = Literal["in control", "warning", "rejected", "establishing", "not measured"]
"""One QC series' verdict at one run."""
RunStatus = Literal["in control", "warning", "rejected", "establishing", "not evaluated"]
"""A run's QC-over-time verdict (:func:`run_verdict`; ``not evaluated`` without a ledger or targets)."""


@dataclass(frozen=True)
class SeriesCheck:
    """One series at one run: its value, limits, z-score, the rules broken and the verdict
    (``in control``, ``warning``, ``rejected``, or ``establishing`` while fewer than the
    baseline's runs exist)."""

    series: str
    value: float
    limits: ControlLimits | None
    z: float | None
    rules: tuple[str, ...]
    status: SeriesStatus

    @property
    def rejected(self) -> bool:
        return self.status == "rejected"


def baseline_limits(values: Sequence[float], runs: int = BASELINE_RUNS) -> ControlLimits | None:
    """Target (mean) and SD (n - 1) of the first ``runs`` values; None while fewer exist or
    their SD is 0.

    Parameters
    ----------
    values : sequence of float
        The series' accepted values, oldest first (its units).
    runs : int
        How many first values establish the limits (at least 2).
    """
    first = np.asarray([v for v in values if math.isfinite(v)][:runs], dtype=np.float64)
    if runs < 2 or first.size < runs:
        return None
    sd = float(np.std(first, ddof=1))
    if not sd > 0:
        return None
    return ControlLimits(target=float(np.mean(first)), sd=sd, source=f"first {runs} accepted runs")


def broken_rules(z: Sequence[float]) -> tuple[str, ...]:
    """The Westgard rules the newest point breaks, given the z-scores of the series' accepted
    runs, oldest first, ending with the newest (1-2s, a warning, included).

    Parameters
    ----------
    z : sequence of float
        z-scores (SD units), the last one the run being judged.
    """
    z = [float(v) for v in z]
    if not z or not math.isfinite(z[-1]):
        return ()
    now, rules = z[-1], []
    if abs(now) > 3:
        rules.append("1-3s")
    if len(z) >= 2 and ((now > 2 and z[-2] > 2) or (now < -2 and z[-2] < -2)):
        rules.append("2-2s")
    if len(z) >= 2 and ((now > 2 and z[-2] < -2) or (now < -2 and z[-2] > 2)):
        rules.append("R-4s")
    last4 = z[-4:]
    if len(last4) == 4 and (all(v > 1 for v in last4) or all(v < -1 for v in last4)):
        rules.append("4-1s")
    last10 = z[-10:]
    if len(last10) == 10 and (all(v > 0 for v in last10) or all(v < 0 for v in last10)):
        rules.append("10-x")
    if abs(now) > 2:
        rules.append(WARNING_RULE)
    return tuple(rules)


def check_series(series: str, history: Sequence[float], value: float, limits: ControlLimits | None = None,
                 baseline_runs: int = BASELINE_RUNS) -> SeriesCheck:
    """Judge ``value``, the newest run of ``series``, against its accepted ``history``.

    Parameters
    ----------
    series : str
        The series' name (``bead slope``, ``peak 3 MFI``, ``control AB/C``).
    history : sequence of float
        The series' values in earlier accepted runs, oldest first (its units).
    value : float
        This run's value.
    limits : ControlLimits or None
        Established target and SD; None: from the first ``baseline_runs`` accepted values.
    baseline_runs : int
        Runs that establish the limits when none are given.
    """
    if not math.isfinite(value):
        return SeriesCheck(series=series, value=value, limits=limits, z=None, rules=(), status="not measured")
    if limits is None:
        limits = baseline_limits([*history, value], baseline_runs)
        if limits is None or len(history) < baseline_runs:  # this run is still part of the baseline
            return SeriesCheck(series=series, value=value, limits=limits, z=None, rules=(), status="establishing")
    z = [(v - limits.target) / limits.sd for v in [*history, value] if math.isfinite(v)]
    rules = broken_rules(z)
    status: SeriesStatus = ("rejected" if any(r in REJECTION_RULES for r in rules)
                            else "warning" if WARNING_RULE in rules else "in control")
    return SeriesCheck(series=series, value=value, limits=limits, z=z[-1], rules=rules, status=status)


def run_verdict(checks: Sequence[SeriesCheck]) -> tuple[RunStatus, str]:
    """The run's QC status (``rejected``, ``warning``, ``in control``, ``establishing``, or ``not
    evaluated`` with no series) and the reason, e.g. ``rule 2-2s on bead slope``.

    Parameters
    ----------
    checks : sequence of SeriesCheck
        Every series of the run.
    """
    def reason(status: SeriesStatus, rules: Sequence[str]) -> str:
        return "; ".join(f"rule {r} on {c.series}" for c in checks if c.status == status
                         for r in c.rules if r in rules)

    if any(c.rejected for c in checks):
        return "rejected", reason("rejected", REJECTION_RULES)
    if any(c.status == "warning" for c in checks):
        return "warning", reason("warning", (WARNING_RULE,))
    if any(c.status == "in control" for c in checks):
        return "in control", ""
    if checks:
        return "establishing", "fewer accepted runs than the baseline needs"
    return "not evaluated", "no QC series"
