"""Per-project settings: the ML backend's ``extra_params`` as /setup last sent them (validated by
:func:`backend.jobs.check_params` before they are stored)."""

from __future__ import annotations

import json

import sqlalchemy as sa

from .schema import Database, project_params

__all__ = ["ParamStore"]


class ParamStore(Database):
    """The ``project_params`` table."""

    def set_params(self, project: int, params: dict) -> None:
        text = json.dumps(params)
        with self._write() as db:  # under the write lock: the row cannot appear in between
            updated = db.execute(project_params.update()
                                 .where(project_params.c.project == project).values(params=text))
            if updated.rowcount == 0:
                db.execute(project_params.insert().values(project=project, params=text))

    def params(self, project: int) -> dict:
        with self._read() as db:
            found = db.scalar(sa.select(project_params.c.params)
                              .where(project_params.c.project == project))
        return json.loads(found) if found else {}
