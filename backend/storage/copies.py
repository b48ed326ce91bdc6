"""The ``events`` waiting for a project's copy, and the copies themselves (``copy_tasks``,
``copies``): see :mod:`backend.copies`."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass

import sqlalchemy as sa

from .schema import Database, copies, copy_tasks, events

__all__ = ["CopyState", "CopyStore"]

_CHUNK = 500  # task ids per statement: within SQLite's limit of bound variables


@dataclass(frozen=True)
class CopyState:
    """How far a project's copy is."""
    seq: int  # the last event it took in
    read: float  # when the full read it rests on began (seconds since the epoch)
    due: str | None  # why the next run must read the whole project; None: it need not
    version: str | None = None  # new with each save (None: saved before versions were kept)


class CopyStore(Database):
    """Events as they arrive, and each project's copy."""

    def add_event(self, project: int, action: str, body: dict) -> int:
        """Keep an event for the project's copy; its sequence number."""
        with self._write() as db:
            return db.execute(events.insert().values(
                project=project, action=action, body=json.dumps(body),
                received=time.time())).inserted_primary_key[0]

    def last_event(self, project: int) -> int:
        """The sequence number of the project's newest event (0 when none is waiting)."""
        with self._read() as db:
            return db.scalar(sa.select(sa.func.max(events.c.seq))
                             .where(events.c.project == project)) or 0

    def events(self, project: int, *, after: int = 0) -> list:
        """The project's events after sequence number ``after``, in order: (seq, action, body)."""
        with self._read() as db:
            rows = db.execute(sa.select(events.c.seq, events.c.action, events.c.body).where(
                events.c.project == project, events.c.seq > after).order_by(events.c.seq)).all()
        return [(row.seq, row.action, json.loads(row.body)) for row in rows]

    def copy_state(self, project: int) -> CopyState | None:
        with self._read() as db:
            row = db.execute(sa.select(copies.c.seq, copies.c.read, copies.c.due, copies.c.version)
                             .where(copies.c.project == project)).first()
        return None if row is None else CopyState(row.seq, row.read, row.due, row.version)

    def load_copy(self, project: int):
        """The project's copy (:class:`backend.copies.ProjectCopy`), nothing changed yet; an
        empty one when there is none."""
        from ..copies import ProjectCopy

        with self._read() as db:
            gone = db.scalar(sa.select(copies.c.gone).where(copies.c.project == project))
            rows = db.execute(sa.select(copy_tasks.c.task, copy_tasks.c.body, copy_tasks.c.unread)
                              .where(copy_tasks.c.project == project)).all()
        gone = json.loads(gone) if gone else {}
        return ProjectCopy({row.task: json.loads(row.body) for row in rows},
                           set(gone.get("annotations", ())), set(gone.get("tasks", ())),
                           {row.task for row in rows if row.unread})

    def save_copy(self, project: int, copy, *, seq: int, read: float | None = None,
                  due: str | None = None, passing: str | None = None) -> str:
        """Write what changed in ``copy`` since it was loaded, and that it took in the events up
        to ``seq`` (which are then deleted); the copy's new version. ``read``: the copy is a new
        full read begun then, replacing the project's whole copy. ``due``: why the next run must read in full (None:
        it need not); without ``read``, a reason already stored stays unless it is ``passing``
        (one that ``due`` replaces, such as the mark of a run still writing)."""
        gone = json.dumps({"annotations": sorted(copy.gone_annotations),
                           "tasks": sorted(copy.gone_tasks)})
        version = uuid.uuid4().hex
        with self._write() as db:
            if read is not None:
                db.execute(copy_tasks.delete().where(copy_tasks.c.project == project))
            else:
                read, stored = db.execute(sa.select(copies.c.read, copies.c.due)
                                          .where(copies.c.project == project)).first() or (None, None)
                if stored is not None and stored != passing:
                    due = stored  # marked by another process meanwhile (a refit): it stays
                stale = sorted(copy.changed | copy.removed)
                for a in range(0, len(stale), _CHUNK):
                    db.execute(copy_tasks.delete().where(copy_tasks.c.project == project,
                                                         copy_tasks.c.task.in_(stale[a:a + _CHUNK])))
            rows = [{"project": project, "task": task_id, "body": json.dumps(copy.tasks[task_id]),
                     "unread": task_id in copy.unread}
                    for task_id in sorted(copy.changed) if task_id in copy.tasks]
            if rows:
                db.execute(copy_tasks.insert(), rows)
            db.execute(copies.delete().where(copies.c.project == project))
            db.execute(copies.insert().values(project=project, seq=seq, read=read or time.time(),
                                              due=due, gone=gone, version=version))
            db.execute(events.delete().where(events.c.project == project, events.c.seq <= seq))
        copy.changed.clear()
        copy.removed.clear()
        return version

    def mark_due(self, project: int, why: str) -> None:
        """The project's next run reads it in full, for reason ``why`` (a gap, a refit)."""
        with self._write() as db:
            db.execute(copies.update().where(copies.c.project == project).values(due=why))

    def read_before(self, when: float) -> list[int]:
        """The projects whose copy rests on a full read begun before ``when`` (and not already
        due for one)."""
        with self._read() as db:
            return list(db.scalars(sa.select(copies.c.project).where(
                copies.c.read < when, copies.c.due.is_(None)).order_by(copies.c.project)))

    def drop_copy(self, project: int) -> None:
        with self._write() as db:
            for table in (copy_tasks, copies, events):
                db.execute(table.delete().where(table.c.project == project))
