"""Each copy's version, new with each save, for the processes that keep a copy in memory.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("copies") as batch:
        batch.add_column(sa.Column("version", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("copies") as batch:
        batch.drop_column("version")
