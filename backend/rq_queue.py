"""Jobs on RQ when ``REDIS_URL`` is set: the web process only queues, ``tokenlq worker``
processes (any number, sharing ``TOKENLQ_DATA_DIR``) run them.

Job records, coalescing and run state stay in the SQLite store, exactly as with the embedded
queue; Redis carries the work. A new job (not one coalesced into a waiting job) is pushed to
the RQ queue ``tokenlq`` with a retry policy. A worker holds a per-project, per-lane lock in
Redis while it runs a job, so one project is never scored by two workers at once; the lock
expires ``LOCK_SECONDS`` after its holder stops renewing it (a killed worker), and RQ hands an
abandoned job to another worker once the dead one's heartbeat lapses (a short
``job_monitoring_interval`` and ``worker_ttl`` bring that under a minute; see
``../shared/reference/rq.md``).
"""

from __future__ import annotations

import threading

__all__ = ["QUEUE_NAME", "RQJobQueue", "perform", "work"]

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
    """The web process's side: jobs go to SQLite (coalesced) and new ones to RQ."""

    def __init__(self, settings, store):
        self.settings, self.store = settings, store
        self.queue = _queue(_redis(settings.redis_url))
        # Unlike the embedded queue, running jobs belong to workers: a restart of the web
        # process neither fails nor loses them.

    def submit(self, project: int, trigger: str, kind: str = "rescore") -> int:
        job_id, new = self.store.enqueue(project, trigger, kind)
        if new:
            _push(self.queue, job_id)
        return job_id

    def stop(self) -> None:
        pass


class _Lease:
    """A Redis lock renewed in the background while held."""

    def __init__(self, connection, name: str):
        self.lock = connection.lock(name, timeout=LOCK_SECONDS, sleep=0.5)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, daemon=True)

    def _renew(self):
        while not self._stop.wait(LOCK_SECONDS / 3):
            self.lock.reacquire()

    def __enter__(self):
        self.lock.acquire(blocking=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        try:
            self.lock.release()
        except Exception:  # expired meanwhile: nothing to release  # noqa: BLE001
            pass


def perform(job_id: int) -> str:
    """An RQ job: run tokenlq job ``job_id`` (in the worker's work-horse process) under the
    project's lock; raise when it failed, so that RQ retries it."""
    from .jobs import run_job
    from .settings import Settings
    from .store import LANES, Store

    settings = Settings.from_env()
    store = Store(settings.data_dir)
    connection = _redis(settings.redis_url)
    queue = _queue(connection)
    job = store.job(job_id)
    if job is None:
        return f"job {job_id} is unknown"
    if job["status"] == "done":
        return f"job {job_id} was done already"
    lane = next(name for name, kinds in LANES.items() if job["kind"] in kinds)

    def submit(project, trigger, kind):
        new_id, new = store.enqueue(project, trigger, kind)
        if new:
            _push(queue, new_id)

    with _Lease(connection, f"tokenlq:lock:{job['project']}:{lane}"):
        job = store.claim(job_id)
        run_job(settings, job, submit=submit)
    finished = store.job(job_id)
    if finished["status"] == "failed":
        raise RuntimeError(f"tokenlq job {job_id} failed: {finished['reason']}")
    return f"job {job_id} done"


def work(settings, *, burst: bool = False, name: str | None = None) -> None:
    """Run an RQ worker on the ``tokenlq`` queue (with the scheduler that retries need)."""
    from rq import Worker

    connection = _redis(settings.redis_url)
    worker = Worker([_queue(connection)], connection=connection, name=name, **WORKER_SETTINGS)
    worker.work(burst=burst, with_scheduler=True, logging_level=settings.log_level)
