"""Each project's current model fit in the database (used with DATABASE_URL, so that processes
on other hosts share it without a shared disk).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_SECONDS = sa.Double().with_variant(sa.REAL(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "fits",
        sa.Column("project", _ID, primary_key=True, autoincrement=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("created", _SECONDS, nullable=False),
        sa.Column("archive", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("fits")
