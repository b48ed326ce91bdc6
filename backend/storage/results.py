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

    def save_reviews(self, project: int, states: dict) -> None:
        with self._write() as db:
            db.execute(reviews.delete().where(reviews.c.project == project))
            if states:
                db.execute(reviews.insert(), [
                    {"project": project, "task": int(task), "status": state["status"],
                     "state": json.dumps(state)} for task, state in states.items()])

    def save_predictions(self, project: int, by_task: dict) -> None:
        """The latest prediction of every scored task, replacing the project's previous set."""
        with self._write() as db:
            db.execute(predictions.delete().where(predictions.c.project == project))
            if by_task:
                db.execute(predictions.insert(), [
                    {"project": project, "task": int(task), "prediction": json.dumps(prediction)}
                    for task, prediction in by_task.items()])

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
