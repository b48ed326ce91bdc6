"""Runs and their state in SQLite under TOKENLQ_DATA_DIR: one connection per call, so request
threads, the queue's thread and run processes can all use it."""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import closing
from pathlib import Path

__all__ = ["Store"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project INTEGER NOT NULL,
    trigger TEXT NOT NULL,
    status TEXT NOT NULL,          -- queued, running, done, failed
    reason TEXT,
    events INTEGER NOT NULL DEFAULT 1,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    summary TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_project ON jobs (project, status);
CREATE TABLE IF NOT EXISTS predictions (
    project INTEGER NOT NULL,
    task INTEGER NOT NULL,
    prediction TEXT NOT NULL,
    PRIMARY KEY (project, task)
);
"""


class Store:
    def __init__(self, data_dir):
        self.path = Path(data_dir) / "tokenlq.db"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db, db:
            db.executescript(_SCHEMA)

    def _connect(self):
        db = sqlite3.connect(self.path, timeout=30)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        return db

    def enqueue(self, project: int, trigger: str) -> tuple[int, bool]:
        """A queued job for ``project``: the one already waiting (its event count grows), or a
        new one. Returns (job id, whether it is new)."""
        with closing(self._connect()) as db, db:
            db.execute("BEGIN IMMEDIATE")  # no two requests create two queued jobs
            row = db.execute("SELECT id FROM jobs WHERE project = ? AND status = 'queued'",
                             (project,)).fetchone()
            if row:
                db.execute("UPDATE jobs SET events = events + 1 WHERE id = ?", (row["id"],))
                return int(row["id"]), False
            cursor = db.execute("INSERT INTO jobs (project, trigger, status, created) "
                                "VALUES (?, ?, 'queued', ?)", (project, trigger, time.time()))
            return int(cursor.lastrowid), True

    def next_queued(self, busy_projects=()) -> dict | None:
        """Claim the oldest queued job of a project not running now (it becomes running)."""
        with closing(self._connect()) as db, db:
            db.execute("BEGIN IMMEDIATE")
            for row in db.execute("SELECT * FROM jobs WHERE status = 'queued' ORDER BY id").fetchall():
                if row["project"] in busy_projects:
                    continue
                running = db.execute("SELECT 1 FROM jobs WHERE project = ? AND status = 'running'",
                                     (row["project"],)).fetchone()
                if running:
                    continue
                db.execute("UPDATE jobs SET status = 'running', started = ? WHERE id = ?",
                           (time.time(), row["id"]))
                return dict(row, status="running")
        return None

    def finish(self, job_id: int, *, summary: dict | None = None, reason: str | None = None) -> None:
        status = "failed" if reason else "done"
        with closing(self._connect()) as db, db:
            db.execute("UPDATE jobs SET status = ?, reason = ?, finished = ?, summary = ? WHERE id = ?",
                       (status, reason, time.time(), json.dumps(summary) if summary else None, job_id))

    def fail_interrupted(self) -> int:
        """Jobs left running by a process that died: failed, with the reason."""
        with closing(self._connect()) as db, db:
            return db.execute("UPDATE jobs SET status = 'failed', finished = ?, reason = "
                              "'interrupted: the backend stopped during the run' "
                              "WHERE status = 'running'", (time.time(),)).rowcount

    def job(self, job_id: int) -> dict | None:
        with closing(self._connect()) as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            return None
        job = dict(row)
        job["summary"] = json.loads(job["summary"]) if job["summary"] else None
        return job

    def latest_done(self, project: int) -> dict | None:
        with closing(self._connect()) as db:
            row = db.execute("SELECT id FROM jobs WHERE project = ? AND status = 'done' "
                             "ORDER BY finished DESC LIMIT 1", (project,)).fetchone()
        return self.job(row["id"]) if row else None

    def save_predictions(self, project: int, predictions: dict) -> None:
        """The latest prediction of every scored task (what /predict answers), replacing the
        project's previous set."""
        with closing(self._connect()) as db, db:
            db.execute("DELETE FROM predictions WHERE project = ?", (project,))
            db.executemany("INSERT INTO predictions VALUES (?, ?, ?)",
                           [(project, int(t), json.dumps(p)) for t, p in predictions.items()])

    def predictions(self, project: int, task_ids) -> dict:
        task_ids = [int(t) for t in task_ids]
        rows = []
        with closing(self._connect()) as db:
            for a in range(0, len(task_ids), 500):  # within SQLite's limit of bound variables
                chunk = task_ids[a:a + 500]
                rows += db.execute(
                    f"SELECT task, prediction FROM predictions WHERE project = ? AND task IN "
                    f"({','.join('?' * len(chunk))})", (project, *chunk)).fetchall()
        return {row["task"]: json.loads(row["prediction"]) for row in rows}
