"""Runs and their state in SQLite under TOKENLQ_DATA_DIR: one connection per call, so request
threads, the queue's thread and run processes can all use it."""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import closing
from pathlib import Path

__all__ = ["JOB_KINDS", "LANES", "Store"]

# What a job does. "rescore" fits the model and writes back; "update" writes back with the
# stored fit (fitting only when there is none); "refit" fits in the background and queues an
# update. Write-backs run in one lane, background fits in another, so updates never wait for a fit.
JOB_KINDS = ("rescore", "update", "refit")
LANES = {"write": ("rescore", "update"), "fit": ("refit",)}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project INTEGER NOT NULL,
    trigger TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'rescore',  -- rescore, update or refit (see JOB_KINDS)
    status TEXT NOT NULL,          -- queued, running, done, failed
    reason TEXT,
    events INTEGER NOT NULL DEFAULT 1,
    progress TEXT,                 -- the phase a running job is in
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    summary TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_project ON jobs (project, status);
CREATE TABLE IF NOT EXISTS reviews (
    project INTEGER NOT NULL,
    task INTEGER NOT NULL,
    status TEXT NOT NULL,          -- pending, fixed, confirmed (backend.reviews)
    state TEXT NOT NULL,
    PRIMARY KEY (project, task)
);
CREATE TABLE IF NOT EXISTS project_params (
    project INTEGER PRIMARY KEY,
    params TEXT NOT NULL
);
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
            columns = {row["name"] for row in db.execute("PRAGMA table_info(jobs)")}
            if "kind" not in columns:  # a data dir of an earlier version
                db.execute("ALTER TABLE jobs ADD COLUMN kind TEXT NOT NULL DEFAULT 'rescore'")
            if "progress" not in columns:
                db.execute("ALTER TABLE jobs ADD COLUMN progress TEXT")

    def _connect(self):
        db = sqlite3.connect(self.path, timeout=30)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        return db

    def enqueue(self, project: int, trigger: str, kind: str = "rescore") -> tuple[int, bool]:
        """A queued job for ``project`` in ``kind``'s lane: the one already waiting (its event
        count grows; an update waiting becomes a rescore if one is asked), or a new one.
        Returns (job id, whether it is new)."""
        if kind not in JOB_KINDS:
            raise ValueError(f"unknown job kind {kind!r}")
        lane = next(kinds for kinds in LANES.values() if kind in kinds)
        with closing(self._connect()) as db, db:
            db.execute("BEGIN IMMEDIATE")  # no two requests create two queued jobs
            row = db.execute(f"SELECT id, kind FROM jobs WHERE project = ? AND status = 'queued' "
                             f"AND kind IN ({','.join('?' * len(lane))})", (project, *lane)).fetchone()
            if row:
                upgrade = kind == "rescore" and row["kind"] == "update"
                db.execute("UPDATE jobs SET events = events + 1, kind = ? WHERE id = ?",
                           (kind if upgrade else row["kind"], row["id"]))
                return int(row["id"]), False
            cursor = db.execute("INSERT INTO jobs (project, trigger, kind, status, created) "
                                "VALUES (?, ?, ?, 'queued', ?)", (project, trigger, kind, time.time()))
            return int(cursor.lastrowid), True

    def next_queued(self, lane: str = "write") -> dict | None:
        """Claim the oldest queued job of ``lane`` whose project has no job of that lane
        running (it becomes running)."""
        kinds = LANES[lane]
        marks = ",".join("?" * len(kinds))
        with closing(self._connect()) as db, db:
            db.execute("BEGIN IMMEDIATE")
            rows = db.execute(f"SELECT * FROM jobs WHERE status = 'queued' AND kind IN ({marks}) "
                              "ORDER BY id", kinds).fetchall()
            for row in rows:
                running = db.execute(f"SELECT 1 FROM jobs WHERE project = ? AND status = 'running' "
                                     f"AND kind IN ({marks})", (row["project"], *kinds)).fetchone()
                if running:
                    continue
                db.execute("UPDATE jobs SET status = 'running', started = ? WHERE id = ?",
                           (time.time(), row["id"]))
                return dict(row, status="running")
        return None

    def jobs(self, project: int, *, limit: int = 50) -> list:
        """The project's latest jobs, newest first."""
        with closing(self._connect()) as db:
            ids = [r["id"] for r in db.execute("SELECT id FROM jobs WHERE project = ? ORDER BY id "
                                               "DESC LIMIT ?", (project, limit))]
        return [self.job(i) for i in ids]

    def reviews(self, project: int) -> dict:
        """{task id: review state} of the project's findings."""
        with closing(self._connect()) as db:
            rows = db.execute("SELECT task, state FROM reviews WHERE project = ?", (project,)).fetchall()
        return {row["task"]: json.loads(row["state"]) for row in rows}

    def save_reviews(self, project: int, states: dict) -> None:
        with closing(self._connect()) as db, db:
            db.execute("DELETE FROM reviews WHERE project = ?", (project,))
            db.executemany("INSERT INTO reviews VALUES (?, ?, ?, ?)",
                           [(project, int(t), s["status"], json.dumps(s)) for t, s in states.items()])

    def history(self, project: int) -> list:
        """The project's finished scoring runs, oldest first (refits score nothing)."""
        with closing(self._connect()) as db:
            ids = [r["id"] for r in db.execute(
                "SELECT id FROM jobs WHERE project = ? AND status = 'done' AND kind != 'refit' "
                "ORDER BY finished", (project,))]
        return [self.job(i) for i in ids]

    def counts(self) -> dict:
        """Jobs per (project, kind, status) and their run seconds, for /metrics."""
        with closing(self._connect()) as db:
            rows = db.execute("SELECT project, kind, status, COUNT(*) AS n, "
                              "SUM(COALESCE(finished - started, 0)) AS seconds FROM jobs "
                              "GROUP BY project, kind, status").fetchall()
        return [dict(r) for r in rows]

    def projects(self) -> list:
        with closing(self._connect()) as db:
            return [r["project"] for r in db.execute("SELECT DISTINCT project FROM jobs ORDER BY project")]

    def set_params(self, project: int, params: dict) -> None:
        """Per-project settings (the ML backend's ``extra_params``, validated by the caller)."""
        with closing(self._connect()) as db, db:
            db.execute("INSERT INTO project_params VALUES (?, ?) ON CONFLICT (project) DO UPDATE "
                       "SET params = excluded.params", (project, json.dumps(params)))

    def params(self, project: int) -> dict:
        with closing(self._connect()) as db:
            row = db.execute("SELECT params FROM project_params WHERE project = ?",
                             (project,)).fetchone()
        return json.loads(row["params"]) if row else {}

    def claim(self, job_id: int) -> dict:
        """Mark ``job_id`` running (a worker took it, perhaps again after a failure or a dead
        worker) and return it."""
        with closing(self._connect()) as db, db:
            db.execute("UPDATE jobs SET status = 'running', started = ?, reason = NULL, progress = NULL "
                       "WHERE id = ?", (time.time(), job_id))
        return self.job(job_id)

    def set_progress(self, job_id: int, progress: str) -> None:
        with closing(self._connect()) as db, db:
            db.execute("UPDATE jobs SET progress = ? WHERE id = ?", (progress, job_id))

    def finish(self, job_id: int, *, summary: dict | None = None, reason: str | None = None) -> None:
        status = "failed" if reason else "done"
        with closing(self._connect()) as db, db:
            db.execute("UPDATE jobs SET status = ?, reason = ?, finished = ?, summary = ?, progress = ? "
                       "WHERE id = ?", (status, reason, time.time(),
                                        json.dumps(summary) if summary else None, status, job_id))

    def fail_if_running(self, job_id: int, reason: str) -> bool:
        """Fail ``job_id`` with ``reason`` unless it has ended already; whether it was running."""
        with closing(self._connect()) as db, db:
            return db.execute("UPDATE jobs SET status = 'failed', finished = ?, reason = ?, "
                              "progress = 'failed' WHERE id = ? AND status = 'running'",
                              (time.time(), reason, job_id)).rowcount > 0

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
        """The latest finished run that scored the project (refits score nothing)."""
        with closing(self._connect()) as db:
            row = db.execute("SELECT id FROM jobs WHERE project = ? AND status = 'done' AND kind "
                             "!= 'refit' ORDER BY finished DESC LIMIT 1", (project,)).fetchone()
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
