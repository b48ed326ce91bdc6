"""The resident scorer: what the embedded queue's long-lived update process keeps of each
project between jobs, so that an update neither loads the project's copy and fit from the store
nor reads, renders and compares the tasks no event touched.

What is kept is the copy as the last run saved it, the copy's version then, that run's
:class:`backend.runs.RunMemo` and the review states it stored. A job uses them only while the
store's copy is still at that version: another process (a rescore, a worker on another host)
that changed the copy changed its version, and the job then loads it from the store as a fresh
process would. A job takes its project's entry out while it runs, so a job that fails leaves
nothing behind.
"""

from __future__ import annotations

import gc
import itertools
from collections import OrderedDict
from dataclasses import dataclass

__all__ = ["KEEP_PROJECTS", "Kept", "ResidentProjects", "serve"]

# Projects kept at once, the most recently updated; a project of 100,000 tasks takes about
# 1.5 GB in memory (bench/results/events_100k.md).
KEEP_PROJECTS = 2
# Every this many jobs, the objects set aside from the garbage collector are looked at again.
THAW_EVERY = 100


@dataclass(frozen=True)
class Kept:
    """One project as its last update left it."""
    copy: object  # backend.copies.ProjectCopy, as saved
    version: str  # the copy's version in the store when saved
    memo: object  # backend.runs.RunMemo of that run
    reviews: dict  # the review states that run stored


class ResidentProjects:
    """The projects kept, the least recently updated dropped first."""

    def __init__(self, most: int = KEEP_PROJECTS):
        self.most = most
        self._kept: OrderedDict[int, Kept] = OrderedDict()

    def take(self, project: int) -> Kept | None:
        """The project's entry, no longer kept (a job keeps it again when it succeeds)."""
        return self._kept.pop(project, None)

    def keep(self, project: int, kept: Kept) -> None:
        self._kept[project] = kept
        while len(self._kept) > self.most:
            self._kept.popitem(last=False)

    def __len__(self) -> int:
        return len(self._kept)


def serve(settings, connection) -> None:
    """Body of the update process: run each job received on ``connection`` and answer with its
    id, until the other end closes."""
    from .jobs import run_job

    resident = ResidentProjects()
    for done in itertools.count(1):
        try:
            job = connection.recv()
        except (EOFError, OSError):  # the queue stopped, or its process is gone
            return
        # No collection during the job: what it makes is mostly freed by reference counting,
        # and a collector's pass over its millions of new objects cost about 0.5 s an update
        # at 100,000 tasks. It runs after the job, before the next.
        gc.disable()
        try:
            run_job(settings, job, resident=resident)
        finally:
            gc.enable()
        try:
            connection.send(job.id)
        except OSError:
            return
        # What is kept (millions of objects for a big project) is set aside from the garbage
        # collector: its full passes would otherwise walk them all, seconds at 100,000 tasks,
        # in the middle of the next job. Cycles among them are found every THAW_EVERY jobs.
        if done % THAW_EVERY == 0:
            gc.unfreeze()
        gc.collect()
        gc.freeze()
