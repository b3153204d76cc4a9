"""The review's audit trail: each entry of a run's audit.jsonl (``assaykit review``), copied
beside the file as an independent record of its hash chain.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("out_dir", sa.String(1024), nullable=False),
        sa.Column("run_key", sa.String(1024), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("line_sha256", sa.String(64), nullable=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("reviewer", sa.String(255), nullable=False),
        sa.Column("line", sa.Text, nullable=False),
        sa.UniqueConstraint("out_dir", "seq", name="uq_audit_out_dir_seq"),
    )


def downgrade() -> None:
    op.drop_table("audit")
