"""The results ledger across runs: each scored run's tubes, calibration, restoration and patients
in one database (SQLite by default, PostgreSQL by URL), with versioned schema migrations; patient
trajectories over days; assay QC over time (Levey-Jennings, Westgard).

Depends on nothing of scoring: scoring builds a :class:`RunRecord` and records it.
"""

from typing import Any

from .days import day_of_label, hours_between, parse_timestamp
from .faults import ID_LENGTH, NUMBER_LIMIT, LedgerFault, LedgerFaultError, fault_of
from .names import DEFAULT_NAME, ENVIRONMENT
from .trajectory import Trajectory, TrajectoryRule, trajectory
from .westgard import ControlLimits, SeriesCheck, baseline_limits, broken_rules, check_series, run_verdict

_STORE = ("Ledger", "Recorded", "RunRecord", "default_ledger", "ledger_url", "open_ledger")


def __getattr__(name: str) -> Any:
    """The database part (SQLAlchemy, Alembic) is imported on first use: scoring a run without a
    ledger, and `assaykit --help`, never load it."""
    if name in _STORE:
        from . import store

        return getattr(store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["DEFAULT_NAME", "ENVIRONMENT", "ID_LENGTH", "NUMBER_LIMIT", "ControlLimits", "Ledger", "LedgerFault",
           "LedgerFaultError", "Recorded", "RunRecord", "SeriesCheck", "Trajectory", "TrajectoryRule",
           "baseline_limits", "broken_rules", "check_series", "day_of_label", "default_ledger", "fault_of",
           "hours_between", "ledger_url", "open_ledger", "parse_timestamp", "run_verdict", "trajectory"]
