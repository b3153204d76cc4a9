"""Replicates and donor groups: each tube's plate-map ``replicate`` label and ``donor_group``
(e.g. ``healthy``), both "" for tubes recorded before (and for maps without the columns).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tubes") as batch:
        batch.add_column(sa.Column("replicate", sa.String(255), nullable=False, server_default=""))
        batch.add_column(sa.Column("donor_group", sa.String(255), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("tubes") as batch:
        batch.drop_column("donor_group")
        batch.drop_column("replicate")
