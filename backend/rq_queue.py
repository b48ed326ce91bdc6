"""Jobs on RQ when ``REDIS_URL`` is set: the web process only queues, ``tokenlq worker``
processes (any number, sharing ``TOKENLQ_DATA_DIR``) run them.

Job records, coalescing and run state stay in the store (:mod:`backend.storage`), exactly as
with the embedded queue; Redis carries the work. A new job (not one coalesced into a waiting
job) is pushed to the RQ queue ``tokenlq`` with a retry policy; a waiting job that Redis lost
(down, or restarted without persistence) is pushed again by the next request for its project
and by the web process's healing loop (:mod:`backend.schedule`). A worker holds a per-project,
per-lane lock in Redis while it runs a job, so one project is never scored by two workers at
once; the lock expires ``LOCK_SECONDS`` after its holder stops renewing it (a killed worker),
and RQ hands an abandoned job to another worker once the dead one's heartbeat lapses (a short
``job_monitoring_interval`` and ``worker_ttl`` bring that under a minute; see
``../shared/reference/rq.md``). A job checks that it still holds the lock before each write
to Label Studio; one that lost it (expired, deleted, Redis unreachable) stops writing and
fails, and RQ retries it.
"""

from __future__ import annotations

import logging
import threading

from werkzeug.exceptions import ServiceUnavailable

from .storage import JobKind, JobStatus, Store

__all__ = ["QUEUE_NAME", "LeaseLost", "RQJobQueue", "perform", "work"]

log = logging.getLogger(__name__)

QUEUE_NAME = "tokenlq"
LOCK_SECONDS = 30  # a dead worker's project lock frees itself after this
RETRY_INTERVALS = [5, 20, 60]  # seconds before the 1st, 2nd and 3rd retry of a failed job
WORKER_SETTINGS = {"job_monitoring_interval": 5, "worker_ttl": 30, "maintenance_interval": 10}


def _redis(url: str):
    import redis

    return redis.Redis.from_url(url)


def _queue(connection):
    from rq import Queue

    return Queue(QUEUE_NAME, connection=connection)


def _push(queue, job_id: int) -> None:
    from rq import Retry

    queue.enqueue(perform, job_id, job_id=f"tokenlq-{job_id}", job_timeout=4 * 3600,
                  retry=Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS),
                  result_ttl=86400, failure_ttl=7 * 86400, description=f"tokenlq job {job_id}")


class RQJobQueue:
    """The web process's side: jobs go to the store (coalesced) and new ones to RQ."""

    def __init__(self, settings, store):
        self.settings, self.store = settings, store
        self.queue = _queue(_redis(settings.redis_url))
        # Unlike the embedded queue, running jobs belong to workers: a restart of the web
        # process neither fails nor loses them.

    def submit(self, project: int, trigger: str, kind: JobKind | str = JobKind.RESCORE) -> int:
        """The job that will run (queued in the store, then in Redis). A waiting job that Redis
        lost (it was down when the job was made, or restarted without persistence) is put
        back; while Redis is down, ServiceUnavailable (503), and the job waits in the store."""
        from redis import RedisError
        from rq.job import Job as RQJob

        job_id, new = self.store.enqueue(project, trigger, kind)
        try:
            if new or not RQJob.exists(f"tokenlq-{job_id}", connection=self.queue.connection):
                _push(self.queue, job_id)
        except RedisError as err:
            log.warning("Redis is unavailable; job %s waits in the store: %s", job_id, err)
            raise ServiceUnavailable("the job queue (Redis) is unavailable; the request is kept "
                                     "and runs once it is back") from None
        return job_id

    def requeue_lost(self) -> list[int]:
        """Put back in Redis the waiting jobs it lost; their ids."""
        from rq.job import Job as RQJob

        lost = [job.id for job in self.store.queued()
                if not RQJob.exists(f"tokenlq-{job.id}", connection=self.queue.connection)]
        for job_id in lost:
            _push(self.queue, job_id)
        return lost

    def stop(self) -> None:
        pass

    def problems(self) -> list:
        """Why jobs would not run now (empty: they would), for /health: Redis must answer
        within half a second and at least one live worker listen on the queue (RQ's list of
        workers keeps a killed one until its heartbeat key expires; ``Worker.all`` skips those
        whose key is gone)."""
        import redis
        from rq import Worker

        connection = redis.Redis.from_url(self.settings.redis_url, socket_timeout=0.5,
                                          socket_connect_timeout=0.5)
        try:
            if not Worker.all(queue=_queue(connection)):
                return ["no tokenlq worker is running (start one with `tokenlq worker`)"]
        except redis.RedisError:
            return ["Redis (REDIS_URL) does not answer"]
        finally:
            connection.close()
        return []


class LeaseLost(RuntimeError):
    """The job no longer holds its project's lock: another worker may be writing."""


class _Lease:
    """A Redis lock renewed in the background while held; :meth:`check` before each write."""

    def __init__(self, connection, name: str, *, seconds: float = LOCK_SECONDS):
        # Not thread-local: the renewal thread must see the token the job's thread acquired.
        self.lock = connection.lock(name, timeout=seconds, sleep=0.5, thread_local=False)
        self.name, self.seconds = name, seconds
        self.lost = None  # why the lock was lost, once it is
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, daemon=True)

    def _renew(self):
        while not self._stop.wait(self.seconds / 3):
            try:
                self.lock.reacquire()
            except Exception as err:  # noqa: BLE001 (whatever it is, the lock cannot be trusted)
                self.lost = f"its renewal failed ({type(err).__name__}: {err})"
                log.warning("lock %s: %s", self.name, self.lost)
                return

    def check(self) -> None:
        """Raise :class:`LeaseLost` unless the lock is still held by this job."""
        from redis import RedisError

        if self.lost is None:
            try:
                if not self.lock.owned():
                    self.lost = "it expired or was deleted"
            except RedisError as err:
                self.lost = f"Redis did not answer ({type(err).__name__}: {err})"
        if self.lost is not None:
            raise LeaseLost(f"the project's lock {self.name} is lost: {self.lost}; stopped "
                            "writing (the job is retried)")

    def __enter__(self):
        self.lock.acquire(blocking=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        from redis import RedisError
        from redis.exceptions import LockNotOwnedError

        self._stop.set()
        self._thread.join()
        try:
            self.lock.release()
        except LockNotOwnedError:
            log.warning("lock %s had expired or been taken before its release", self.name)
        except RedisError as err:
            log.error("lock %s could not be released (%s: %s); it expires within %.0f s",
                      self.name, type(err).__name__, err, self.seconds)


def perform(job_id: int) -> str:
    """An RQ job: run tokenlq job ``job_id`` (in the worker's work-horse process) under the
    project's lock; raise when it failed, so that RQ retries it."""
    from .jobs import run_job
    from .settings import Settings

    settings = Settings.from_env()
    store = Store(settings.data_dir, settings.database_url)
    connection = _redis(settings.redis_url)
    queue = _queue(connection)
    job = store.job(job_id)
    if job is None:
        return f"job {job_id} is unknown"
    if job.status is JobStatus.DONE:
        return f"job {job_id} was done already"

    def submit(project, trigger, kind):
        new_id, new = store.enqueue(project, trigger, kind)
        if new:
            _push(queue, new_id)

    with _Lease(connection, f"tokenlq:lock:{job.project}:{job.lane}") as lease:
        job = store.claim(job_id)
        run_job(settings, job, submit=submit, before_write=lease.check)
    finished = store.job(job_id)
    if finished.status is JobStatus.FAILED:
        raise RuntimeError(f"tokenlq job {job_id} failed: {finished.reason}")
    return f"job {job_id} done"


def work(settings, *, burst: bool = False, name: str | None = None) -> None:
    """Run an RQ worker on the ``tokenlq`` queue (with the scheduler that retries need)."""
    import importlib

    from rq import Worker

    from .jobs import RUN_MODULES

    for module in RUN_MODULES:  # once here, not in each job's work horse (a fork of this process)
        importlib.import_module(module)
    connection = _redis(settings.redis_url)
    worker = Worker([_queue(connection)], connection=connection, name=name, **WORKER_SETTINGS)
    worker.work(burst=burst, with_scheduler=True, logging_level=settings.log_level)
