"""The web process's healing loop. Every so often (a minute at most):

- a project whose copy rests on a full read older than ``TOKENLQ_RECONCILE_SECONDS`` is marked
  due for another and gets an update, which reads it in full (:mod:`backend.reading`), so that
  events Label Studio lost are healed even when no other event follows them;
- with RQ, waiting jobs that Redis lost (a restart without persistence) are pushed again.
"""

from __future__ import annotations

import logging
import threading
import time

__all__ = ["Healer"]

log = logging.getLogger(__name__)


class Healer:
    """A thread of the web process; ``reconcile_seconds`` 0: no reconciliation schedule."""

    def __init__(self, store, queue, reconcile_seconds: float, *, start: bool = True):
        """``start=False``: no thread; :meth:`due` and :meth:`heal` are called by hand (tests)."""
        self.store, self.queue, self.seconds = store, queue, reconcile_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="tokenlq-heal")
        if start:
            self._thread.start()

    def due(self) -> list[int]:
        """Mark the projects due for a reconciliation and queue their updates; their ids."""
        if not self.seconds:
            return []
        projects = self.store.read_before(time.time() - self.seconds)
        for project in projects:
            self.store.mark_due(project, "the reconciliation schedule")
            self.queue.submit(project, "schedule", "update")
        return projects

    def heal(self) -> None:
        """One round: lost jobs put back, due reconciliations queued."""
        requeue = getattr(self.queue, "requeue_lost", None)  # RQ's; the embedded queue loses none
        if requeue is not None:
            lost = requeue()
            if lost:
                log.warning("pushed again the jobs Redis had lost: %s", lost)
        self.due()

    def _loop(self) -> None:
        pause = min(60.0, self.seconds / 4) if self.seconds else 60.0
        while not self._stop.wait(pause):
            try:
                self.heal()
            except Exception as err:  # noqa: BLE001 (Redis or the database down: next round)
                log.warning("healing loop: %s: %s", type(err).__name__, err)

    def stop(self) -> None:
        self._stop.set()
