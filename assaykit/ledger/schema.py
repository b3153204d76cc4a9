"""The ledger's tables (SQLAlchemy Core), as the newest migration leaves them.

The migrations in ``migrations/versions`` are the schema's history; a test checks that applying
them all gives exactly these tables. Every child row names its run (``run_id``); re-scoring a run
deletes its rows and writes them again in one transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Float, ForeignKey, Index, Integer, MetaData, String, Table, Text, UniqueConstraint
from sqlalchemy.types import TypeDecorator

from .._io.names import escape, unescape


class Name(TypeDecorator):
    """A text column (VARCHAR) holding names as assaykit writes them everywhere
    (:func:`assaykit._io.names.escape`: a byte that is not UTF-8 in a file name, a control
    character or NUL, which neither SQLite's driver nor PostgreSQL stores, as a backslash escape),
    read back as they were (:func:`assaykit._io.names.unescape`); values compared in a query are
    escaped the same way, so a patient is found by the ID it was recorded with."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        return escape(value) if isinstance(value, str) else value

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return unescape(value) if isinstance(value, str) else value


class NameText(Name):
    """:class:`Name` as a TEXT column."""

    impl = Text
    cache_ok = True


metadata = MetaData()

runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_key", Name(1024), nullable=False, unique=True),  # the run folder, resolved
    Column("run_name", Name(255), nullable=False),
    Column("run_uid", Name(64), nullable=False),  # the manifest's run_id of the scoring recorded
    Column("scored_at", Name(32), nullable=False),  # ISO 8601, UTC
    Column("software", Name(64), nullable=False),
    Column("instrument", Name(255), nullable=False),  # $CYT of the bead tube (else the tubes')
    Column("instrument_serial", Name(255), nullable=False),  # $CYTNUM
    Column("acquired_on", Name(32), nullable=False),
    Column("kit", Name(255), nullable=False),
    Column("lot", Name(255), nullable=False),
    Column("unit", Name(64), nullable=False),
    Column("bead_slope", Float),
    Column("bead_intercept", Float),
    Column("bead_r2", Float),
    Column("n_tubes", Integer, nullable=False),
    Column("n_failed", Integer, nullable=False),
    Column("qc_status", Name(32), nullable=False, server_default="not evaluated"),
    Column("qc_reason", NameText, nullable=False, server_default=""),
    Column("calibration_status", Name(32), nullable=False, server_default=""),  # reportable, withheld, released
    Column("calibration_released", NameText, nullable=False, server_default=""),  # a person's reason (released)
)

tubes = Table(
    "tubes", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("file", Name(1024), nullable=False),
    Column("sha256", Name(64), nullable=False),
    Column("well", Name(16), nullable=False),
    Column("role", Name(16), nullable=False),
    Column("patient", Name(255), nullable=False),
    Column("timepoint", Name(255), nullable=False),
    Column("day", Float),
    Column("condition", Name(255), nullable=False),
    Column("instrument", Name(255), nullable=False),
    Column("instrument_serial", Name(255), nullable=False),
    Column("acquired_at", Name(32), nullable=False),
    Column("monocytes", Integer),
    Column("hladr_mfi", Float),
    Column("hladr_abc", Float),
    Column("qc_flags", NameText, nullable=False),
    Column("error", NameText, nullable=False),
    Column("drawn_at", Name(32), nullable=False, server_default=""),
    Column("stained_at", Name(32), nullable=False, server_default=""),
    Column("draw_to_stain_h", Float),
    Column("verdict", Name(32), nullable=False, server_default=""),  # withheld: no AB/C recorded
    Column("replicate", Name(255), nullable=False, server_default=""),  # the plate map's label, "" when none
    Column("donor_group", Name(255), nullable=False, server_default=""),  # e.g. healthy, septic; "" when none
    Index("ix_tubes_run", "run_id"),
    Index("ix_tubes_sha256", "sha256"),
    Index("ix_tubes_patient", "patient"),
)

bead_peaks = Table(
    "bead_peaks", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("peak", Integer, nullable=False),
    Column("mfi", Float),
    Column("value", Float),
    Column("used", Integer, nullable=False),
    Index("ix_bead_peaks_run", "run_id"),
)

restoration = Table(
    "restoration", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("patient", Name(255), nullable=False),
    Column("timepoint", Name(255), nullable=False),
    Column("day", Float),
    Column("condition", Name(255), nullable=False),
    Column("control_abc", Float),
    Column("abc", Float),
    Column("fold_change", Float),
    Column("delta_abc", Float),
    Column("state_drug", Name(64), nullable=False),
    Column("responder", Name(16), nullable=False),
    Index("ix_restoration_run", "run_id"),
    Index("ix_restoration_patient", "patient"),
)

patients = Table(
    "patients", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("patient", Name(255), nullable=False),
    Column("timepoint", Name(255), nullable=False),
    Column("day", Float),
    Column("control_abc", Float),
    Column("state", Name(64), nullable=False),
    Column("ferritin_ng_ml", Float),
    Column("immunosep_class", Name(64), nullable=False),
    Index("ix_patients_run", "run_id"),
    Index("ix_patients_patient", "patient"),
)

qc_checks = Table(
    "qc_checks", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("series", Name(255), nullable=False),
    Column("value", Float),
    Column("target", Float),
    Column("sd", Float),
    Column("z", Float),
    Column("rules", Name(255), nullable=False),
    Column("status", Name(32), nullable=False),
    Column("limits_source", Name(255), nullable=False),
    Index("ix_qc_checks_run", "run_id"),
)

audit = Table(
    "audit", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("out_dir", Name(1024), nullable=False),  # the output folder holding audit.jsonl, resolved
    Column("run_key", Name(1024), nullable=False),  # the run folder, resolved
    Column("seq", Integer, nullable=False),  # the entry's number in audit.jsonl
    Column("line_sha256", Name(64), nullable=False),  # of the entry's line (its bytes, without the line end)
    Column("at", Name(32), nullable=False),  # ISO 8601, UTC
    Column("action", Name(32), nullable=False),
    Column("reviewer", Name(255), nullable=False),
    Column("line", NameText, nullable=False),  # the line itself
    UniqueConstraint("out_dir", "seq", name="uq_audit_out_dir_seq"),
)
"""The review's audit entries (``assaykit review``), kept apart from the runs' rows: a re-score
replaces a run's rows, never its audit trail."""

TABLES = (runs, tubes, bead_peaks, restoration, patients, qc_checks)
"""Every table, parents first (the order rows are exported and deleted in reverse)."""
