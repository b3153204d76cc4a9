"""Verdicts: each run's calibration verdict and a person's reason to release a withheld one;
each tube's verdict (a withheld tube is recorded without AB/C).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("calibration_status", sa.String(32), nullable=False, server_default=""))
        batch.add_column(sa.Column("calibration_released", sa.Text, nullable=False, server_default=""))
    with op.batch_alter_table("tubes") as batch:
        batch.add_column(sa.Column("verdict", sa.String(32), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("tubes") as batch:
        batch.drop_column("verdict")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("calibration_released")
        batch.drop_column("calibration_status")
