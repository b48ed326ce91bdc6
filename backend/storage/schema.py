"""The service's tables (SQLAlchemy Core), the engine on them, and the schema's versions.

The database is SQLite in ``TOKENLQ_DATA_DIR/tokenlq.db`` by default, or the PostgreSQL server
that ``DATABASE_URL`` names (then processes on other hosts share the state without sharing a
disk). Its schema is versioned by the Alembic revisions in ``migrations/versions/`` (shipped
with the package); :class:`Database` upgrades a database to the newest revision when it is
opened, so every process (web, run process, RQ worker) finds the schema it expects. A change of
schema is a new revision there and the same change to the tables here;
``tests/backend/test_storage.py`` checks that both agree, on both databases.

Transactions are short and each opens a connection of its own (no pool: nothing is shared across
a fork, and request threads, the queue's lanes and run processes all write to one database).
Transactions that write take one database-wide write lock first, before they read, so two
processes never both read "no job waiting" and both insert one; readers never wait for it.
SQLite's is the file's (``BEGIN IMMEDIATE``, in WAL mode; a writer waits up to ``BUSY_SECONDS``),
PostgreSQL's a transaction-scoped advisory lock. Only the two engine factories (and
:meth:`Database.hold_lock`, a server's session lock) differ: the tables, revisions and queries
are the same for both.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

__all__ = ["Database", "copies", "copy_tasks", "events", "fits", "jobs", "metadata", "predictions",
           "project_params", "reviews", "server_url"]

BUSY_SECONDS = 30  # how long a writer waits for SQLite's write lock before "database is locked"
WRITE_LOCK = 0x746F6B656E6C71  # PostgreSQL's advisory lock key of the write lock ("tokenlq")

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

fits = sa.Table(  # each project's current model fit, with DATABASE_URL (backend.fits)
    "fits", metadata,
    sa.Column("project", _ID, primary_key=True, autoincrement=False),
    sa.Column("name", sa.Text, nullable=False),  # the fit's folder name, fit-<ns>: its version
    sa.Column("created", _SECONDS, nullable=False),
    sa.Column("archive", sa.LargeBinary, nullable=False),  # the fit's folder, as a tar
)

events = sa.Table(  # Label Studio's events, kept until the project's copy has taken them in
    "events", metadata,
    sa.Column("seq", _ID, primary_key=True, autoincrement=True),  # the order they arrived in
    sa.Column("project", _ID, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),  # JSON: the event's annotation, task or tasks
    sa.Column("received", _SECONDS, nullable=False),
    sa.Index("events_by_project", "project", "seq"),
    sqlite_autoincrement=True,  # a sequence never goes back, even after its newest is deleted
)

copy_tasks = sa.Table(  # the backend's own copy of each project's tasks (backend.copies)
    "copy_tasks", metadata,
    sa.Column("project", _ID, primary_key=True, autoincrement=False),
    sa.Column("task", _ID, primary_key=True, autoincrement=False),
    sa.Column("body", sa.Text, nullable=False),  # JSON: id, data, annotations, predictions
    sa.Column("unread", sa.Boolean, nullable=False),  # known from an event that lacked its annotations
)

copies = sa.Table(  # how far each project's copy is
    "copies", metadata,
    sa.Column("project", _ID, primary_key=True, autoincrement=False),
    sa.Column("seq", _ID, nullable=False),  # the last event taken in
    sa.Column("read", _SECONDS, nullable=False),  # when the last full read of the project began
    sa.Column("due", sa.Text),  # why the next run must read the whole project; null: it need not
    sa.Column("gone", sa.Text, nullable=False),  # JSON: annotation and task ids deleted since the read
    # A new value with each save: a process that keeps the copy in memory (backend.resident)
    # knows by it whether another process changed it since.
    sa.Column("version", sa.Text),
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


def server_url(url: str) -> sa.URL:
    """``url`` (``DATABASE_URL``) as SQLAlchemy's URL with the driver this package ships
    (psycopg 3): ``postgresql://`` and ``postgres://``, as Label Studio's and most hosts'
    URLs are written, name SQLAlchemy's default driver, psycopg2, which is not installed.
    ValueError when it is not a PostgreSQL URL.

    >>> str(server_url("postgres://tokenlq:secret@db:5432/tokenlq"))  # the password hidden
    'postgresql+psycopg://tokenlq:***@db:5432/tokenlq'
    """
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise ValueError("DATABASE_URL must be a URL such as "
                         "postgresql://user:password@host:5432/database") from None
    if parsed.get_backend_name() not in ("postgresql", "postgres"):
        raise ValueError(f"DATABASE_URL must name a PostgreSQL database (postgresql://...); "
                         f"got a {parsed.get_backend_name()!r} URL")
    return parsed.set(drivername="postgresql+psycopg")


def _server_engine(url: str) -> sa.Engine:
    engine = sa.create_engine(server_url(url), poolclass=NullPool)

    @sa.event.listens_for(engine, "begin")
    def _begin(connection):
        if connection.get_execution_options().get("tokenlq_writes", False):
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")

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
    """The service's database, at the newest schema: ``database_url`` (PostgreSQL) when given,
    else SQLite under ``data_dir``.

    The stores of each concern (:mod:`.jobs`, :mod:`.results`, :mod:`.params`) build on it.
    """

    def __init__(self, data_dir, database_url: str = ""):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.path = None if database_url else self.data_dir / "tokenlq.db"
        self.engine = _server_engine(database_url) if database_url else _sqlite_engine(self.path)
        self._writer = self.engine.execution_options(tokenlq_writes=True)
        _migrate(self.engine)

    @property
    def shared(self) -> bool:
        """Whether this is a server's database, which processes on several hosts may share
        (DATABASE_URL), rather than the SQLite file in the data folder."""
        return self.engine.dialect.name != "sqlite"

    def hold_lock(self, key: int):
        """On a server database: a session-wide advisory lock ``key``, held until the returned
        connection is closed; None when another session holds it."""
        connection = self.engine.connect()
        held = connection.scalar(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": key})
        connection.commit()  # the lock outlives the transaction; no snapshot stays open
        if not held:
            connection.close()
            return None
        return connection

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
