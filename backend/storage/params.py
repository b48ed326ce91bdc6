"""Per-project settings: the ML backend's ``extra_params`` as /setup last sent them (validated by
:func:`backend.jobs.check_params` before they are stored)."""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from .schema import Database, project_params

__all__ = ["ParamStore"]

# INSERT ... ON CONFLICT DO UPDATE, the same statement in both dialects' own constructs.
_UPSERT = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


class ParamStore(Database):
    """The ``project_params`` table."""

    def set_params(self, project: int, params: dict) -> None:
        text = json.dumps(params)
        # One statement, atomic without relying on SQLite's file-wide write lock.
        upsert = _UPSERT[self.engine.dialect.name](project_params).values(project=project,
                                                                          params=text)
        with self._write() as db:
            db.execute(upsert.on_conflict_do_update(index_elements=[project_params.c.project],
                                                    set_={"params": text}))

    def params(self, project: int) -> dict:
        with self._read() as db:
            found = db.scalar(sa.select(project_params.c.params)
                              .where(project_params.c.project == project))
        return json.loads(found) if found else {}
