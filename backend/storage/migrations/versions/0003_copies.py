"""The backend's own copy of each project, kept current from Label Studio's events.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_SECONDS = sa.Double().with_variant(sa.REAL(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("seq", _ID, primary_key=True, autoincrement=True),
        sa.Column("project", _ID, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("received", _SECONDS, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("events_by_project", "events", ["project", "seq"])
    op.create_table(
        "copy_tasks",
        sa.Column("project", _ID, primary_key=True, autoincrement=False),
        sa.Column("task", _ID, primary_key=True, autoincrement=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("unread", sa.Boolean, nullable=False),
    )
    op.create_table(
        "copies",
        sa.Column("project", _ID, primary_key=True, autoincrement=False),
        sa.Column("seq", _ID, nullable=False),
        sa.Column("read", _SECONDS, nullable=False),
        sa.Column("due", sa.Text),
        sa.Column("gone", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("copies")
    op.drop_table("copy_tasks")
    op.drop_index("events_by_project", table_name="events")
    op.drop_table("events")
