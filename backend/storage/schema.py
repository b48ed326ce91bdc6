"""The service's tables (SQLAlchemy Core), the engine on them, and the schema's versions.

The database is SQLite in ``TOKENLQ_DATA_DIR/tokenlq.db``. Its schema is versioned by the Alembic
revisions in ``migrations/versions/`` (shipped with the package); :class:`Database` upgrades a
database to the newest revision when it is opened, so every process (web, run process, RQ
worker) finds the schema it expects. A change of schema is a new revision there and the same
change to the tables here; ``tests/backend/test_storage.py`` checks that both agree.

Transactions are short and each opens a connection of its own (no pool: nothing is shared across
a fork, and request threads, the queue's lanes and run processes all write to one file). SQLite
runs in WAL mode, so readers never wait for the writer; a transaction that writes starts with
``BEGIN IMMEDIATE``, so it takes the file's write lock before it reads, and two processes never
both read "no job waiting" and both insert one. A writer waits up to ``BUSY_SECONDS`` for that lock.
Only :func:`_sqlite_engine` is SQLite's: the tables, revisions and queries are the same for any
database SQLAlchemy speaks (PostgreSQL is planned).
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

__all__ = ["Database", "jobs", "metadata", "predictions", "project_params", "reviews"]

BUSY_SECONDS = 30  # how long a writer waits for SQLite's write lock before "database is locked"

# Label Studio's ids are 64-bit. SQLite's INTEGER is 64-bit already, and a job's id must be
# exactly INTEGER there to be the table's rowid (AUTOINCREMENT).
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_SECONDS = sa.Double().with_variant(sa.REAL(), "sqlite")  # seconds since the epoch

metadata = sa.MetaData()

jobs = sa.Table(
    "jobs", metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("project", _ID, nullable=False),
    sa.Column("trigger", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False, server_default="rescore"),  # JobKind
    sa.Column("status", sa.Text, nullable=False),  # JobStatus
    sa.Column("reason", sa.Text),  # why it failed
    sa.Column("events", sa.Integer, nullable=False,  # requests coalesced into the job
              server_default=sa.text("1")),
    sa.Column("progress", sa.Text),  # the phase a running job is in
    sa.Column("created", _SECONDS, nullable=False),
    sa.Column("started", _SECONDS),
    sa.Column("finished", _SECONDS),
    sa.Column("summary", sa.Text),  # JSON: the run's summary (backend.runs)
    sa.Index("jobs_by_project", "project", "status"),
    sqlite_autoincrement=True,  # ids are never reused, even after the newest job is deleted
)

reviews = sa.Table(  # the review state of each finding (backend.reviews), from run to run
    "reviews", metadata,
    sa.Column("project", _ID, primary_key=True, autoincrement=False),
    sa.Column("task", _ID, primary_key=True, autoincrement=False),
    sa.Column("status", sa.Text, nullable=False),  # pending, fixed or confirmed
    sa.Column("state", sa.Text, nullable=False),  # JSON
)

project_params = sa.Table(  # per-project settings: the ML backend's extra_params
    "project_params", metadata,
    sa.Column("project", _ID, primary_key=True, autoincrement=False),
    sa.Column("params", sa.Text, nullable=False),  # JSON
)

predictions = sa.Table(  # the latest prediction of each scored task: what /predict answers
    "predictions", metadata,
    sa.Column("project", _ID, primary_key=True, autoincrement=False),
    sa.Column("task", _ID, primary_key=True, autoincrement=False),
    sa.Column("prediction", sa.Text, nullable=False),  # JSON
)


def _sqlite_engine(path: Path) -> sa.Engine:
    engine = sa.create_engine(f"sqlite:///{path}", poolclass=NullPool,
                              connect_args={"timeout": BUSY_SECONDS})

    # sqlite3 would emit its own deferred BEGIN, and only before a write; SQLAlchemy's
    # recipe for real transactions: sqlite3 emits none, a listener emits ours.
    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection, record):
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA journal_mode=WAL")

    @sa.event.listens_for(engine, "begin")
    def _begin(connection):
        writes = connection.get_execution_options().get("tokenlq_writes", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")

    return engine


def _alembic_config():
    """Alembic's configuration, made here rather than read from an alembic.ini."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", f"{__package__}:migrations")
    return config


def _migrate(engine: sa.Engine) -> None:
    """Upgrade the database to the newest revision (nothing to do when it is there)."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = _alembic_config()
    heads = set(ScriptDirectory.from_config(config).get_heads())
    with engine.connect() as connection:
        if set(MigrationContext.configure(connection).get_current_heads()) == heads:
            return
    # Under the write lock: processes starting together migrate one after the other, and the
    # later ones find the work done.
    with engine.execution_options(tokenlq_writes=True).begin() as connection:
        config.attributes["connection"] = connection  # read by migrations/env.py
        command.upgrade(config, "head")


class Database:
    """The service's database under ``data_dir``, at the newest schema.

    The stores of each concern (:mod:`.jobs`, :mod:`.results`, :mod:`.params`) build on it.
    """

    def __init__(self, data_dir):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.data_dir / "tokenlq.db"
        self.engine = _sqlite_engine(self.path)
        self._writer = self.engine.execution_options(tokenlq_writes=True)
        _migrate(self.engine)

    def _read(self):
        """A connection for reading: one consistent snapshot, never waiting for a writer."""
        return self.engine.connect()

    def _write(self):
        """A transaction that writes: committed at its end, rolled back if it raises."""
        return self._writer.begin()


def revision(message: str) -> None:
    """Write the next revision into ``migrations/versions/``: what the tables above add to a
    database at the newest revision, as Alembic's autogenerate sees it (read it through: it
    misses some changes, such as renames)."""
    import tempfile

    from alembic import command
    from alembic.script import ScriptDirectory

    config = _alembic_config()
    head = ScriptDirectory.from_config(config).get_current_head()
    with tempfile.TemporaryDirectory() as folder:
        database = Database(folder)
        with database.engine.connect() as connection:
            config.attributes["connection"] = connection
            command.revision(config, message, autogenerate=True, rev_id=f"{int(head) + 1:04d}")
