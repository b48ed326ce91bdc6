"""The embedded job queue: rescoring jobs coalesced per project, each run in a process of its
own so that model fitting never holds up the request threads."""

from __future__ import annotations

import dataclasses
import multiprocessing
import threading
import traceback

from .store import Store

__all__ = ["JobQueue", "run_job"]


def run_job(settings, job_id: int, project: int) -> None:
    """Body of a run process: rescore ``project`` and record the outcome of ``job_id``."""
    from .labelstudio import LabelStudioProject, close, connect
    from .runs import rescore

    store = Store(settings.data_dir)
    try:
        if settings.probs not in ("auto", "crf"):
            raise NotImplementedError(f"TOKENLQ_PROBS={settings.probs} is not available yet; "
                                      "use auto or crf")
        client = connect(settings.label_studio_url, settings.label_studio_api_key)
        try:
            summary, predictions = rescore(LabelStudioProject(client, project),
                                           model="crf" if settings.probs == "crf" else "auto",
                                           webhook_secret=settings.webhook_secret,
                                           return_predictions=True)
        finally:
            close(client)
        store.save_predictions(project, predictions)
        store.finish(job_id, summary=dataclasses.asdict(summary))
    except Exception as err:  # the job fails with its reason; the backend stays up
        reason = f"{type(err).__name__}: {err}"
        # Never a secret in a reason: the key is the only one this process holds.
        if settings.label_studio_api_key:
            reason = reason.replace(settings.label_studio_api_key, "***")
        store.finish(job_id, reason=reason[:2000])
        traceback.print_exc()


class JobQueue:
    """Jobs wait in SQLite; one thread starts a run process per job, one per project at a time."""

    def __init__(self, settings, store: Store, *, start: bool = True):
        self.settings, self.store = settings, store
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._context = multiprocessing.get_context("spawn")  # no threads of ours in the child
        self.store.fail_interrupted()
        self._thread = threading.Thread(target=self._loop, name="tokenlq-jobs", daemon=True)
        if start:
            self._thread.start()

    def submit(self, project: int, trigger: str) -> int:
        job_id, _ = self.store.enqueue(project, trigger)
        self._wake.set()
        return job_id

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            job = self.store.next_queued()
            if job is None:
                self._wake.wait(timeout=1.0)
                self._wake.clear()
                continue
            process = self._context.Process(target=run_job, name=f"tokenlq-run-{job['id']}",
                                            args=(self.settings, job["id"], job["project"]))
            process.start()
            process.join()
            if process.exitcode != 0 and self.store.job(job["id"])["status"] == "running":
                self.store.finish(job["id"], reason=f"the run process exited with {process.exitcode}")
