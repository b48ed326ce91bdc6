"""Jobs: what a job is (:class:`Job`, its :class:`JobKind` and :class:`JobStatus`) and the
``jobs`` table that queues them, coalesces them and keeps them as the project's run history.

A job is *queued*, then *running* (a lane or an RQ worker claimed it), then *done* or *failed*.
Requests for a project coalesce into the job of its lane that is still waiting. Each lane runs
one job of a project at a time: write-backs (``rescore``, ``update``) in the write lane,
background fits (``refit``) in the fit lane, so an update never waits for a fit.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa

from .schema import Database, jobs

__all__ = ["Job", "JobKind", "JobStatus", "JobStore", "Lane"]


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Lane(StrEnum):
    """Where a job runs: each lane runs one job of a project at a time."""

    WRITE = "write"  # the only jobs that write to Label Studio, so writes never race
    FIT = "fit"  # background fits

    @property
    def kinds(self) -> tuple[JobKind, ...]:
        return tuple(kind for kind in JobKind if kind.lane is self)


class JobKind(StrEnum):
    """What a job does; its lane follows from it.

    >>> JobKind("refit").lane, [str(kind) for kind in Lane.WRITE.kinds]
    (<Lane.FIT: 'fit'>, ['rescore', 'update'])
    """

    RESCORE = "rescore"  # fit the model anew, score, write back
    UPDATE = "update"  # score with the stored fit (fitting only without one), write back
    REFIT = "refit"  # fit in the background, then queue an update

    @property
    def lane(self) -> Lane:
        return Lane.FIT if self is JobKind.REFIT else Lane.WRITE


@dataclass(frozen=True)
class Job:
    """One job as stored (a snapshot: the store changes jobs, never the object);
    :meth:`to_dict` is its JSON record (``GET /jobs/<id>``)."""

    id: int
    project: int
    trigger: str  # what asked for it: api, setup, refit, schedule, pending writes or a Label Studio event
    kind: JobKind
    status: JobStatus
    reason: str | None = None  # why it failed
    events: int = 1  # requests coalesced into it
    progress: str | None = None  # the phase it is in (its status once it ended)
    created: float = 0.0  # seconds since the epoch
    started: float | None = None
    finished: float | None = None
    summary: dict | None = None  # what the run reported (backend.runs)

    @property
    def lane(self) -> Lane:
        return self.kind.lane

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def _from_row(cls, row) -> Job:
        values = dict(row._mapping)
        values["kind"], values["status"] = JobKind(values["kind"]), JobStatus(values["status"])
        values["summary"] = json.loads(values["summary"]) if values["summary"] else None
        return cls(**values)


_SCORING = jobs.c.kind != JobKind.REFIT  # runs that scored the project (refits score nothing)


class JobStore(Database):
    """The ``jobs`` table: queueing, claiming and ending jobs, and reading them back."""

    def enqueue(self, project: int, trigger: str,
                kind: JobKind | str = JobKind.RESCORE) -> tuple[int, bool]:
        """A queued job for ``project`` in ``kind``'s lane: the one already waiting (its event
        count grows; an update waiting becomes a rescore if one is asked), or a new one.
        Returns (job id, whether it is new)."""
        try:
            kind = JobKind(kind)
        except ValueError:
            raise ValueError(f"unknown job kind {kind!r}") from None
        with self._write() as db:  # the write lock first: no two requests insert two jobs
            waiting = db.execute(sa.select(jobs.c.id, jobs.c.kind).where(
                jobs.c.project == project, jobs.c.status == JobStatus.QUEUED,
                jobs.c.kind.in_(kind.lane.kinds))).first()
            if waiting:
                grows = kind is JobKind.RESCORE and waiting.kind == JobKind.UPDATE
                db.execute(jobs.update().where(jobs.c.id == waiting.id).values(
                    events=jobs.c.events + 1, kind=kind if grows else waiting.kind))
                return waiting.id, False
            new = db.execute(jobs.insert().values(project=project, trigger=trigger, kind=kind,
                                                  status=JobStatus.QUEUED, created=time.time()))
            return new.inserted_primary_key[0], True

    def next_queued(self, lane: Lane | str = Lane.WRITE) -> Job | None:
        """Claim the oldest queued job of ``lane`` whose project has no job of that lane
        running (it becomes running)."""
        kinds = Lane(lane).kinds
        busy = sa.select(jobs.c.project).where(jobs.c.status == JobStatus.RUNNING,
                                               jobs.c.kind.in_(kinds))
        with self._write() as db:
            row = db.execute(sa.select(jobs).where(
                jobs.c.status == JobStatus.QUEUED, jobs.c.kind.in_(kinds),
                jobs.c.project.not_in(busy)).order_by(jobs.c.id).limit(1)).first()
            if row is None:
                return None
            started = time.time()
            db.execute(jobs.update().where(jobs.c.id == row.id).values(
                status=JobStatus.RUNNING, started=started))
        return dataclasses.replace(Job._from_row(row), status=JobStatus.RUNNING, started=started)

    def claim(self, job_id: int) -> Job | None:
        """Mark ``job_id`` running (a worker took it, perhaps again after a failure or a dead
        worker) and return it."""
        with self._write() as db:
            db.execute(jobs.update().where(jobs.c.id == job_id).values(
                status=JobStatus.RUNNING, started=time.time(), reason=None, progress=None))
            row = db.execute(jobs.select().where(jobs.c.id == job_id)).first()
        return None if row is None else Job._from_row(row)

    def set_progress(self, job_id: int, progress: str) -> None:
        with self._write() as db:
            db.execute(jobs.update().where(jobs.c.id == job_id).values(progress=progress))

    def finish(self, job_id: int, *, summary: dict | None = None, reason: str | None = None,
               finished: float | None = None) -> None:
        """End ``job_id``: failed with ``reason`` if one is given, else done with ``summary``.
        ``finished`` (seconds since the epoch) is for tests only, which date past runs; the
        service leaves it to default to now."""
        status = JobStatus.FAILED if reason else JobStatus.DONE
        finished = time.time() if finished is None else finished
        with self._write() as db:
            db.execute(jobs.update().where(jobs.c.id == job_id).values(
                status=status, reason=reason, finished=finished, progress=status,
                summary=json.dumps(summary) if summary else None))

    def fail_if_running(self, job_id: int, reason: str) -> bool:
        """Fail ``job_id`` with ``reason`` unless it has ended already; whether it was running."""
        with self._write() as db:
            return db.execute(jobs.update().where(
                jobs.c.id == job_id, jobs.c.status == JobStatus.RUNNING).values(
                status=JobStatus.FAILED, finished=time.time(), reason=reason,
                progress=JobStatus.FAILED)).rowcount > 0

    def fail_interrupted(self) -> int:
        """Jobs left running by a process that died: failed, with the reason."""
        with self._write() as db:
            return db.execute(jobs.update().where(jobs.c.status == JobStatus.RUNNING).values(
                status=JobStatus.FAILED, finished=time.time(),
                reason="interrupted: the backend stopped during the run")).rowcount

    def job(self, job_id: int) -> Job | None:
        with self._read() as db:
            row = db.execute(jobs.select().where(jobs.c.id == job_id)).first()
        return None if row is None else Job._from_row(row)

    def jobs(self, project: int, *, limit: int = 50) -> list[Job]:
        """The project's latest jobs, newest first."""
        return self._jobs(jobs.c.project == project, order=jobs.c.id.desc(), limit=limit)

    def active(self, project: int, kind: JobKind | str) -> bool:
        """Whether a job of ``kind`` waits or runs for ``project``."""
        return bool(self._jobs(jobs.c.project == project, jobs.c.kind == JobKind(kind),
                               jobs.c.status.in_((JobStatus.QUEUED, JobStatus.RUNNING)),
                               order=jobs.c.id, limit=1))

    def waiting(self, project: int, lane: Lane | str) -> bool:
        """Whether a job of ``lane`` waits (is queued) for ``project``."""
        return bool(self._jobs(jobs.c.project == project, jobs.c.kind.in_(Lane(lane).kinds),
                               jobs.c.status == JobStatus.QUEUED, order=jobs.c.id, limit=1))

    def history(self, project: int) -> list[Job]:
        """The project's finished scoring runs, oldest first."""
        return self._jobs(jobs.c.project == project, jobs.c.status == JobStatus.DONE, _SCORING,
                          order=jobs.c.finished)

    def latest_done(self, project: int) -> Job | None:
        """The latest finished run that scored the project."""
        found = self._jobs(jobs.c.project == project, jobs.c.status == JobStatus.DONE, _SCORING,
                           order=jobs.c.finished.desc(), limit=1)
        return found[0] if found else None

    def counts(self) -> list[dict]:
        """Jobs per (project, kind, status) and their run seconds, for /metrics."""
        query = sa.select(jobs.c.project, jobs.c.kind, jobs.c.status,
                          sa.func.count().label("n"),
                          sa.func.sum(sa.func.coalesce(jobs.c.finished - jobs.c.started, 0))
                          .label("seconds")).group_by(jobs.c.project, jobs.c.kind, jobs.c.status)
        with self._read() as db:
            rows = db.execute(query).all()
        return [dict(row._mapping, kind=JobKind(row.kind), status=JobStatus(row.status))
                for row in rows]

    def queued(self) -> list[Job]:
        """Every waiting job, oldest first."""
        return self._jobs(jobs.c.status == JobStatus.QUEUED, order=jobs.c.id)

    def projects(self) -> list[int]:
        """Every project that has jobs."""
        with self._read() as db:
            return list(db.scalars(sa.select(jobs.c.project).distinct().order_by(jobs.c.project)))

    def _jobs(self, *where, order, limit: int | None = None) -> list[Job]:
        with self._read() as db:
            rows = db.execute(jobs.select().where(*where).order_by(order).limit(limit)).all()
        return [Job._from_row(row) for row in rows]
