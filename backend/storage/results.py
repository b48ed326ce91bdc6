"""What the latest run of a project leaves per task: the review state of each finding (read by
the next run, :mod:`backend.reviews`) and each scored task's prediction (what /predict answers).
A run replaces the project's whole set of each."""

from __future__ import annotations

import json

import sqlalchemy as sa

from .schema import Database, predictions, reviews

__all__ = ["ResultStore"]

_CHUNK = 500  # task ids per query: within SQLite's limit of bound variables


class ResultStore(Database):
    """The ``reviews`` and ``predictions`` tables."""

    def reviews(self, project: int) -> dict:
        """{task id: review state} of the project's findings."""
        with self._read() as db:
            rows = db.execute(sa.select(reviews.c.task, reviews.c.state)
                              .where(reviews.c.project == project)).all()
        return {row.task: json.loads(row.state) for row in rows}

    def save_reviews(self, project: int, states: dict, *, previous: dict | None = None) -> None:
        """The project's review states are now ``states``; ``previous``: those stored before
        (as :meth:`reviews` gave them), so that only the changed rows are written."""
        self._replace(reviews, project, {t: {"status": s["status"], "state": json.dumps(s)}
                                         for t, s in states.items()},
                      None if previous is None else
                      {t: s for t, s in states.items() if previous.get(t) != s},
                      None if previous is None else set(previous) - set(states))

    def save_predictions(self, project: int, by_task: dict, *, changed=None, removed=()) -> None:
        """The latest prediction of every scored task, ``by_task``, replacing the project's
        previous set; or, with ``changed`` (task ids), only those rows and the ``removed``
        ones are written (the rest are as stored)."""
        rows = {t: {"prediction": json.dumps(by_task[t])}
                for t in (by_task if changed is None else changed) if t in by_task}
        self._replace(predictions, project, rows, None if changed is None else set(rows),
                      None if changed is None else set(removed))

    def _replace(self, table, project: int, rows: dict, changed, removed) -> None:
        """Write ``rows`` ({task id: columns}) of ``table``: all of the project's (``changed``
        None) or those of ``changed``, deleting the ``removed`` ones."""
        with self._write() as db:
            if changed is None:
                db.execute(table.delete().where(table.c.project == project))
                changed = set(rows)
            else:
                stale = sorted(set(changed) | set(removed))
                for a in range(0, len(stale), _CHUNK):
                    db.execute(table.delete().where(table.c.project == project,
                                                    table.c.task.in_(stale[a:a + _CHUNK])))
            if changed:
                db.execute(table.insert(), [{"project": project, "task": int(t), **rows[t]}
                                            for t in sorted(changed)])

    def predictions(self, project: int, task_ids) -> dict:
        """{task id: prediction} of those of ``task_ids`` that the latest run scored."""
        task_ids = [int(t) for t in task_ids]
        rows = []
        with self._read() as db:
            for a in range(0, len(task_ids), _CHUNK):
                rows += db.execute(sa.select(predictions.c.task, predictions.c.prediction).where(
                    predictions.c.project == project,
                    predictions.c.task.in_(task_ids[a:a + _CHUNK]))).all()
        return {row.task: json.loads(row.prediction) for row in rows}
