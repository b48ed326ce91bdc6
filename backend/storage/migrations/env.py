"""Alembic's environment: the migrations run on the connection that
``tokenlq_backend.storage.schema`` opens (in a transaction holding the write lock); there is no
alembic.ini and no offline mode.

A new revision, from the repository's root (it compares the tables of ``schema.py`` with a
database at the newest revision, and writes what differs)::

    python -c "from tokenlq_backend.storage.schema import revision; revision('what changes')"
"""

from alembic import context

from tokenlq_backend.storage.schema import metadata

context.configure(connection=context.config.attributes["connection"], target_metadata=metadata,
                  render_as_batch=True)  # SQLite alters most things by copying the table
with context.begin_transaction():
    context.run_migrations()
