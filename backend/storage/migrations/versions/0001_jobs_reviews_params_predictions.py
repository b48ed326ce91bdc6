"""The schema as the first versioned release found it: jobs, reviews, project_params, predictions.

Revision ID: 0001
Revises:
Create Date: 2026-12-06

Releases before versioning created these tables themselves (``CREATE TABLE IF NOT EXISTS``) and
added the jobs' ``kind`` and ``progress`` columns where they were missing. A database of theirs
has no version yet, so it comes through here as well: whatever exists is kept with its rows, and
what is missing is added. From this revision on, every change is a revision of its own.
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_SECONDS = sa.Double().with_variant(sa.REAL(), "sqlite")


def _kind():
    return sa.Column("kind", sa.Text, nullable=False, server_default="rescore")


def _progress():
    return sa.Column("progress", sa.Text)


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    tables = set(inspector.get_table_names())
    if "jobs" not in tables:
        op.create_table(
            "jobs",
            sa.Column("id", _ID, primary_key=True, autoincrement=True),
            sa.Column("project", _ID, nullable=False),
            sa.Column("trigger", sa.Text, nullable=False),
            _kind(),
            sa.Column("status", sa.Text, nullable=False),
            sa.Column("reason", sa.Text),
            sa.Column("events", sa.Integer, nullable=False, server_default=sa.text("1")),
            _progress(),
            sa.Column("created", _SECONDS, nullable=False),
            sa.Column("started", _SECONDS),
            sa.Column("finished", _SECONDS),
            sa.Column("summary", sa.Text),
            sqlite_autoincrement=True,
        )
    else:  # an unversioned release's table
        columns = {column["name"] for column in inspector.get_columns("jobs")}
        if "kind" not in columns:
            op.add_column("jobs", _kind())
        if "progress" not in columns:
            op.add_column("jobs", _progress())
    indexes = {index["name"] for index in inspector.get_indexes("jobs")} if "jobs" in tables else ()
    if "jobs_by_project" not in indexes:
        op.create_index("jobs_by_project", "jobs", ["project", "status"])
    if "reviews" not in tables:
        op.create_table(
            "reviews",
            sa.Column("project", _ID, primary_key=True, autoincrement=False),
            sa.Column("task", _ID, primary_key=True, autoincrement=False),
            sa.Column("status", sa.Text, nullable=False),
            sa.Column("state", sa.Text, nullable=False),
        )
    if "project_params" not in tables:
        op.create_table(
            "project_params",
            sa.Column("project", _ID, primary_key=True, autoincrement=False),
            sa.Column("params", sa.Text, nullable=False),
        )
    if "predictions" not in tables:
        op.create_table(
            "predictions",
            sa.Column("project", _ID, primary_key=True, autoincrement=False),
            sa.Column("task", _ID, primary_key=True, autoincrement=False),
            sa.Column("prediction", sa.Text, nullable=False),
        )


def downgrade() -> None:
    for table in ("predictions", "project_params", "reviews"):
        op.drop_table(table)
    op.drop_index("jobs_by_project", table_name="jobs")
    op.drop_table("jobs")
