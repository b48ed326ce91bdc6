"""The embedded job queue: jobs coalesced per project, each run in a process of its own so
that model fitting never holds up the request threads.

Two lanes, each a thread running one job at a time: the write lane (``rescore`` and
``update`` jobs, the only ones that write to Label Studio, so writes never race) and the fit lane
(background ``refit`` jobs), so that an update after an annotation never waits for a refit.
Rescores and refits each run in a process of their own, forked from a process that has imported
the scoring modules already; updates run in one long-lived process, the resident scorer
(:mod:`backend.resident`), which keeps the projects it updated in memory between jobs. A lane
survives a failing store (say, SQLite's "database is locked"): it retries with backoff and
reports the failure to /health meanwhile.
"""

from __future__ import annotations

import atexit
import dataclasses
import fcntl
import functools
import logging
import multiprocessing
import os
import threading
import traceback
import weakref
from pathlib import Path

from .probs_sources import PROBS_CHOICES, check_source
from .storage import Job, JobKind, Lane, Store

__all__ = ["PROJECT_PARAMS", "JobQueue", "check_params", "run_job", "run_options"]

log = logging.getLogger(__name__)
RETRY_SECONDS = (0.5, 30.0)  # a lane's first and longest wait before it retries the store
QUEUE_LOCK = 0x746F6B656E7171  # advisory lock key of the embedded queue on a server database
# What a run imports (numpy, pandas, the core, the model layer), loaded once by the process that
# forks the runs: the embedded queue's fork server, an RQ worker.
RUN_MODULES = ("tokenlq_backend.runs", "tokenlq_backend.reading", "tokenlq_backend.labelstudio",
               "tokenlq_backend.resident", "tokenlq.model")

# Per-project settings accepted in the ML backend's extra_params (sent to /setup).
PROJECT_PARAMS = {"probs": f"probability source: {PROBS_CHOICES}",
                  "refit_fraction": "share of changed tasks (0-1) after which an update "
                                    "asks for a background refit"}


def check_params(params) -> dict:
    """``params`` (extra_params) validated; ValueError naming the problem."""
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise ValueError(f"extra_params must be an object; got {type(params).__name__}")
    unknown = sorted(set(params) - set(PROJECT_PARAMS))
    if unknown:
        raise ValueError(f"unknown extra_params {unknown}; known: {sorted(PROJECT_PARAMS)}")
    out = dict(params)
    if "probs" in out:
        check_source(out["probs"])
    if "refit_fraction" in out:
        value = out["refit_fraction"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ValueError(f"extra_params.refit_fraction must be a number from 0 to 1; got {value!r}")
    return out


def run_options(settings, params: dict, mode: str, *, progress=None, store=None, give_way=None):
    from .auth import webhook_headers
    from .runs import RunOptions

    return RunOptions(probs=params.get("probs", settings.probs), mode=mode,
                      data_dir=settings.data_dir, store=store,
                      refit_fraction=params.get("refit_fraction", settings.refit_fraction),
                      writes_per_run=settings.writes_per_run,
                      webhook_headers=webhook_headers(settings), progress=progress,
                      give_way=give_way)


def run_job(settings, job: Job, submit=None, *, before_write=None, resident=None) -> None:
    """Body of a run process: run ``job`` and record its outcome; its follow-up job goes to
    ``submit(project, trigger, kind)`` (default: the store, where the embedded queue finds it).
    ``before_write()`` is called before each write to Label Studio; what it raises fails the
    job. ``resident``: the projects this process keeps between jobs
    (:class:`backend.resident.ResidentProjects`)."""
    from .labelstudio import LabelStudioProject, ProjectGone, close, connect
    from .reading import read_project, save_written
    from .resident import Kept
    from .runs import refit, rescore
    from .versions import MODEL_VERSION

    store = Store(settings.data_dir, settings.database_url)
    submit = submit or store.enqueue
    project = job.project
    try:
        options = run_options(settings, store.params(project),
                              "update" if job.kind is JobKind.UPDATE else "rescore",
                              progress=functools.partial(store.set_progress, job.id),
                              store=store,
                              # an edit saved meanwhile queues an update: it writes the rest
                              give_way=functools.partial(store.waiting, project, Lane.WRITE))
        client = connect(settings.label_studio_url, settings.label_studio_api_key,
                         timeout=settings.label_studio_timeout,
                         retry_delays=settings.label_studio_retry_delays)
        try:
            ls = LabelStudioProject(client, project, before_write=before_write,
                                    bulk_timeout=settings.label_studio_bulk_timeout)
            if job.kind is JobKind.REFIT:
                fit = refit(ls, options)
                summary = fit.to_dict()
                # An update writes back what the new fit says, reading the whole project: a
                # reconciliation with each refit heals what lost events left in the copy.
                follow_up = None
                if fit.skipped is None:
                    store.mark_due(project, "a refit")
                    follow_up = ("refit", JobKind.UPDATE)
            else:
                options.progress("pull")
                kept = None if resident is None else resident.take(project)
                read = read_project(ls, store, kept=kept,
                                    full="a rescore" if job.kind is JobKind.RESCORE else None)
                # Only runs store review states, each after saving the copy: while the copy is
                # at the kept version, the stored states are the kept ones.
                reviews = kept.reviews if read.summary.get("kept") else store.reviews(project)
                memo = read.memo
                if read.summary.get("events"):
                    # Its events passed the credential check: the webhook has its header.
                    options = dataclasses.replace(options, webhook_headers={})
                if memo is not None and read.summary["how"] == "full":
                    # A reconciliation writes the issues tab again (someone may have deleted it).
                    memo = dataclasses.replace(memo, view=(None, None))
                run = rescore(ls, options, reviews=reviews, tasks=read.tasks, memo=memo,
                              touched=read.touched, settings=read.settings)
                version = save_written(store, read, run.ours, MODEL_VERSION)
                # From the copy, only what changed: Label Studio's predictions and the stored
                # ones changed together. A full read may follow a run that failed between
                # the two, so it replaces them all.
                full = read.summary["how"] == "full"
                store.save_predictions(project, run.predictions,
                                       changed=None if full else set(run.ours) | run.left,
                                       removed=[t for t, p in run.ours.items() if not p])
                store.save_reviews(project, run.reviews, previous=reviews)
                if resident is not None:  # kept once all of it is stored
                    resident.keep(project, Kept(read.copy, version, run.memo, run.reviews))
                summary = dict(dataclasses.asdict(run.summary), read=read.summary)
                seconds = summary["seconds"]  # the read is the run's pull, with its settings
                seconds["pull"] = round(seconds.get("pull", 0) + read.summary["seconds"], 3)
                # Every update asks for a refit until the new fit lands: one waiting or running
                # is enough (the update after it asks again if the edits since call for one).
                follow_up = (job.trigger, JobKind.REFIT) if run.summary.refit and \
                    not store.active(project, JobKind.REFIT) else None
                if run.summary.pending:  # the predictions this run left are written by the next
                    submit(project, "pending writes", JobKind.UPDATE)
        finally:
            close(client)
        # The follow-up is queued before this job is marked done, so that the project never
        # looks idle while it is still owed a run.
        if follow_up is not None:
            submit(project, *follow_up)
        store.finish(job.id, summary=summary)
    except Exception as err:  # the job fails with its reason; the backend stays up
        reason = f"{type(err).__name__}: {err}"
        # Never a secret in a reason: the key is the only one this process holds.
        if settings.label_studio_api_key:
            reason = reason.replace(settings.label_studio_api_key, "***")
        store.finish(job.id, reason=reason[:2000])
        if isinstance(err, ProjectGone):  # else its events and copy would wait forever
            store.drop_copy(project)
        traceback.print_exc()


def _own_queue(data_dir) -> int:
    """An exclusive lock on ``data_dir``'s embedded queue, held while the returned descriptor is
    open: a second process would mark the first one's running jobs interrupted and run jobs
    beside it, so it is refused (RuntimeError)."""
    fd = os.open(Path(data_dir) / "queue.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode("ascii", "replace").strip() or "?"
        os.close(fd)
        raise RuntimeError(
            f"another process (pid {holder}) runs the embedded job queue of {data_dir}: one "
            "process must own it. Run one web process (WORKERS=1; THREADS serves concurrent "
            "requests), or set REDIS_URL and run `tokenlq worker`") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
    return fd


def _stop_queue(queue_ref) -> None:
    queue = queue_ref()
    if queue is not None:
        queue.stop()


class JobQueue:
    """Jobs wait in the store; a thread per lane starts their run processes. One process per data
    folder (and per database, with DATABASE_URL) owns the queue."""

    def __init__(self, settings, store: Store, *, start: bool = True):
        self.settings, self.store = settings, store
        # Before any job is touched; given up by stop() or when the queue is collected.
        self._release = weakref.finalize(self, os.close, _own_queue(store.data_dir))
        if store.shared:  # a database other hosts may share: one queue per database, too
            held = store.hold_lock(QUEUE_LOCK)
            if held is None:
                self._release()
                raise RuntimeError(
                    "another process runs the embedded job queue on this DATABASE_URL: one "
                    "process must own it. Run one web process, or set REDIS_URL and run "
                    "`tokenlq worker` processes")
            self._release_database = weakref.finalize(self, held.close)
        self._wake = {lane: threading.Event() for lane in Lane}
        self._stop = threading.Event()
        self._failing = {}  # lane -> what its last store call raised, while it retries
        # A fork server: a process without threads of ours that imports the scoring modules
        # once, then forks a run process per job, so no run imports numpy or the model again.
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(list(RUN_MODULES))
        self._resident = None  # (process, connection) of the update process, once started
        self.store.fail_interrupted()
        # Before multiprocessing's own exit handler, which waits for the update process; by a
        # weak reference, so that a queue nobody stopped can still be collected.
        atexit.register(_stop_queue, weakref.ref(self))
        self._threads = {lane: threading.Thread(target=self._loop, args=(lane,), daemon=True,
                                                name=f"tokenlq-{lane}") for lane in Lane}
        if start:
            for thread in self._threads.values():
                thread.start()

    def submit(self, project: int, trigger: str, kind: JobKind | str = JobKind.RESCORE) -> int:
        job_id, _ = self.store.enqueue(project, trigger, kind)
        for event in self._wake.values():
            event.set()
        return job_id

    def stop(self) -> None:
        """Stop the lanes (a running job's process finishes) and give up the data folder."""
        self._stop.set()
        for event in self._wake.values():
            event.set()
        self._release()
        if self.store.shared:
            self._release_database()

    def problems(self) -> list:
        """Why jobs would not run now (empty: they would), for /health: cheap, no I/O."""
        out = []
        for lane, thread in self._threads.items():
            if self._stop.is_set() or not thread.is_alive():
                out.append(f"the job queue's {lane} lane is not running")
            elif lane in self._failing:
                out.append(f"the job queue's {lane} lane cannot use the job store; retrying")
        return out

    def _store(self, lane: Lane, call):
        """``call()``'s value, retried with backoff while the store raises (None if stopped)."""
        wait = RETRY_SECONDS[0]
        while not self._stop.is_set():
            try:
                value = call()
            except Exception as err:  # noqa: BLE001 (any failure of the store; the lane lives on)
                self._failing[lane] = err
                log.warning("job queue, %s lane: %s: %s; retrying in %.1f s",
                            lane, type(err).__name__, err, wait)
                self._stop.wait(wait)
                wait = min(2 * wait, RETRY_SECONDS[1])
                continue
            self._failing.pop(lane, None)
            return value
        return None

    def _loop(self, lane: Lane) -> None:
        try:
            self._take_jobs(lane)
        finally:  # the update process ends when it reads the end of its pipe
            if lane is Lane.WRITE and self._resident is not None:
                self._resident[1].close()

    def _take_jobs(self, lane: Lane) -> None:
        while not self._stop.is_set():
            job = self._store(lane, lambda: self.store.next_queued(lane))
            if job is None:
                # Follow-up jobs are queued by run processes: poll as well as wait for a wake.
                self._wake[lane].wait(timeout=0.5)
                self._wake[lane].clear()
                continue
            if job.kind is JobKind.UPDATE:
                exitcode = self._run_resident(job)
            else:
                process = self._context.Process(target=run_job, name=f"tokenlq-run-{job.id}",
                                                args=(self.settings, job))
                process.start()
                process.join()
                exitcode = process.exitcode
            if exitcode != 0:
                # A run process that died could not record its end: the lane does, or the job
                # would stay running and hold its project's lane.
                self._store(lane, lambda: self.store.fail_if_running(
                    job.id, f"the run process exited with {exitcode}"))

    def _run_resident(self, job: Job) -> int:
        """Run update ``job`` in the update process (started anew when there is none or it
        died); 0, or the exit code of the process when it died in the job."""
        from .resident import serve

        if self._resident is None or not self._resident[0].is_alive():
            ours, theirs = self._context.Pipe()
            process = self._context.Process(target=serve, name="tokenlq-resident",
                                            args=(self.settings, theirs))
            process.start()
            theirs.close()
            self._resident = (process, ours)
        process, connection = self._resident
        try:
            connection.send(job)
            connection.recv()  # the job's id, once it ran
            return 0
        except (EOFError, OSError):  # the process died
            process.join()
            self._resident = None
            return process.exitcode or -1
