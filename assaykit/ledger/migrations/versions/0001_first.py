"""The first ledger: runs, their tubes, bead peaks, restoration and patients.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _run_id() -> sa.Column:
    return sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_key", sa.String(1024), nullable=False, unique=True),
        sa.Column("run_name", sa.String(255), nullable=False),
        sa.Column("run_uid", sa.String(64), nullable=False),
        sa.Column("scored_at", sa.String(32), nullable=False),
        sa.Column("software", sa.String(64), nullable=False),
        sa.Column("instrument", sa.String(255), nullable=False),
        sa.Column("instrument_serial", sa.String(255), nullable=False),
        sa.Column("acquired_on", sa.String(32), nullable=False),
        sa.Column("kit", sa.String(255), nullable=False),
        sa.Column("lot", sa.String(255), nullable=False),
        sa.Column("unit", sa.String(64), nullable=False),
        sa.Column("bead_slope", sa.Float),
        sa.Column("bead_intercept", sa.Float),
        sa.Column("bead_r2", sa.Float),
        sa.Column("n_tubes", sa.Integer, nullable=False),
        sa.Column("n_failed", sa.Integer, nullable=False),
    )
    op.create_table(
        "tubes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _run_id(),
        sa.Column("file", sa.String(1024), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("well", sa.String(16), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("patient", sa.String(255), nullable=False),
        sa.Column("timepoint", sa.String(255), nullable=False),
        sa.Column("day", sa.Float),
        sa.Column("condition", sa.String(255), nullable=False),
        sa.Column("instrument", sa.String(255), nullable=False),
        sa.Column("instrument_serial", sa.String(255), nullable=False),
        sa.Column("acquired_at", sa.String(32), nullable=False),
        sa.Column("monocytes", sa.Integer),
        sa.Column("hladr_mfi", sa.Float),
        sa.Column("hladr_abc", sa.Float),
        sa.Column("qc_flags", sa.Text, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
    )
    op.create_index("ix_tubes_run", "tubes", ["run_id"])
    op.create_index("ix_tubes_sha256", "tubes", ["sha256"])
    op.create_index("ix_tubes_patient", "tubes", ["patient"])
    op.create_table(
        "bead_peaks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _run_id(),
        sa.Column("peak", sa.Integer, nullable=False),
        sa.Column("mfi", sa.Float),
        sa.Column("value", sa.Float),
        sa.Column("used", sa.Integer, nullable=False),
    )
    op.create_index("ix_bead_peaks_run", "bead_peaks", ["run_id"])
    op.create_table(
        "restoration",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _run_id(),
        sa.Column("patient", sa.String(255), nullable=False),
        sa.Column("timepoint", sa.String(255), nullable=False),
        sa.Column("day", sa.Float),
        sa.Column("condition", sa.String(255), nullable=False),
        sa.Column("control_abc", sa.Float),
        sa.Column("abc", sa.Float),
        sa.Column("fold_change", sa.Float),
        sa.Column("delta_abc", sa.Float),
        sa.Column("state_drug", sa.String(64), nullable=False),
        sa.Column("responder", sa.String(16), nullable=False),
    )
    op.create_index("ix_restoration_run", "restoration", ["run_id"])
    op.create_index("ix_restoration_patient", "restoration", ["patient"])
    op.create_table(
        "patients",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _run_id(),
        sa.Column("patient", sa.String(255), nullable=False),
        sa.Column("timepoint", sa.String(255), nullable=False),
        sa.Column("day", sa.Float),
        sa.Column("control_abc", sa.Float),
        sa.Column("state", sa.String(64), nullable=False),
        sa.Column("ferritin_ng_ml", sa.Float),
        sa.Column("immunosep_class", sa.String(64), nullable=False),
    )
    op.create_index("ix_patients_run", "patients", ["run_id"])
    op.create_index("ix_patients_patient", "patients", ["patient"])


def downgrade() -> None:
    for table in ("patients", "restoration", "bead_peaks", "tubes", "runs"):
        op.drop_table(table)
