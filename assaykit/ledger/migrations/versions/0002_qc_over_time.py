"""Assay QC over time and pre-analytics: each run's Westgard verdict and its series checks; each
tube's draw and staining times.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("qc_status", sa.String(32), nullable=False, server_default="not evaluated"))
        batch.add_column(sa.Column("qc_reason", sa.Text, nullable=False, server_default=""))
    with op.batch_alter_table("tubes") as batch:
        batch.add_column(sa.Column("drawn_at", sa.String(32), nullable=False, server_default=""))
        batch.add_column(sa.Column("stained_at", sa.String(32), nullable=False, server_default=""))
        batch.add_column(sa.Column("draw_to_stain_h", sa.Float))
    op.create_table(
        "qc_checks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("series", sa.String(255), nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("target", sa.Float),
        sa.Column("sd", sa.Float),
        sa.Column("z", sa.Float),
        sa.Column("rules", sa.String(255), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("limits_source", sa.String(255), nullable=False),
    )
    op.create_index("ix_qc_checks_run", "qc_checks", ["run_id"])


def downgrade() -> None:
    op.drop_table("qc_checks")
    with op.batch_alter_table("tubes") as batch:
        for column in ("draw_to_stain_h", "stained_at", "drawn_at"):
            batch.drop_column(column)
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("qc_reason")
        batch.drop_column("qc_status")
