"""Per-patient restoration reports and the run summary, from a scored run's tables."""

from .agreement import write_agreement
from .build import build_reports, prepare_reports, render_reports

__all__ = ["build_reports", "prepare_reports", "render_reports", "write_agreement"]
