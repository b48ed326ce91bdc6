"""Jobs: an unreachable Label Studio fails the job with its reason; nothing answers 5xx."""

import dataclasses
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import time

import pytest

from tokenlq_backend import create_app
from tokenlq_backend.jobs import run_job
from tokenlq_backend.runs import RefitSummary
from tokenlq_backend.settings import Settings
from tokenlq_backend.storage import Store


def unreachable(tmp_path, **extra):
    # Port 1 on loopback refuses connections: Label Studio is "down". The client still retries
    # twice, without waiting.
    extra.setdefault("label_studio_retry_delays", (0.0, 0.0))
    return Settings(label_studio_url="http://127.0.0.1:1", label_studio_api_key="secret-key-xyz",
                    data_dir=tmp_path, **extra)


def test_label_studio_down_fails_the_job_with_a_reason_and_no_secret(tmp_path):
    settings = unreachable(tmp_path)
    store = Store(tmp_path)
    job_id, _ = store.enqueue(4, "api")
    run_job(settings, store.next_queued())
    job = store.job(job_id)
    assert job.status == "failed" and "Connect" in job.reason and job.progress == "failed"
    assert "secret-key-xyz" not in job.reason


def test_the_queue_runs_jobs_in_a_process_and_the_api_stays_up(tmp_path):
    app = create_app(unreachable(tmp_path))
    c = app.test_client()
    job = c.post("/projects/4/rescore").get_json()["job"]
    deadline = time.time() + 60
    while (status := c.get(f"/jobs/{job}").get_json())["status"] in ("queued", "running"):
        assert time.time() < deadline
        time.sleep(0.2)
    assert status["status"] == "failed" and status["reason"]
    assert c.post("/predict", json={"tasks": [{"id": 1}], "project": "4.0"}).status_code == 200
    app.extensions["tokenlq.queue"].stop()


def test_a_run_interrupted_by_a_restart_is_failed_with_the_reason(tmp_path):
    store = Store(tmp_path)
    job_id, _ = store.enqueue(2, "api")
    store.next_queued()  # running when the backend "dies"
    create_app(Settings(data_dir=tmp_path), start_queue=False)
    assert store.job(job_id).reason.startswith("interrupted")


def test_a_follow_up_is_queued_before_its_job_is_done(tmp_path, monkeypatch):
    """Never a moment where every job of the project has ended while a run is still owed (a
    client polling for "idle" once saw the refit done and its update not yet queued)."""
    store = Store(tmp_path)
    job_id, _ = store.enqueue(3, "setup", "refit")
    monkeypatch.setattr("tokenlq_backend.labelstudio.connect", lambda *args, **kwargs: object())
    monkeypatch.setattr("tokenlq_backend.labelstudio.close", lambda client: None)
    monkeypatch.setattr("tokenlq_backend.labelstudio.LabelStudioProject", lambda client, project, **kw: project)
    monkeypatch.setattr("tokenlq_backend.runs.refit", lambda ls, options: RefitSummary(model="crf"))
    seen = []

    def submit(project, trigger, kind):
        seen.append((project, trigger, kind, store.job(job_id).status))

    run_job(unreachable(tmp_path), store.next_queued("fit"), submit=submit)
    assert seen == [(3, "refit", "update", "running")]
    assert store.job(job_id).status == "done"


def wait_until(condition, seconds=30):
    deadline = time.time() + seconds
    while not (value := condition()):
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)
    return value


def test_a_lane_survives_a_failing_store_and_health_says_so_meanwhile(tmp_path, monkeypatch):
    """One "database is locked" used to kill the lane's thread: /health said UP, jobs stayed
    queued forever."""
    monkeypatch.setattr("tokenlq_backend.jobs.RETRY_SECONDS", (0.02, 0.1))
    app = create_app(unreachable(tmp_path))
    c = app.test_client()
    queue, store = app.extensions["tokenlq.queue"], app.extensions["tokenlq.store"]
    assert c.get("/health").status_code == 200
    healthy_next_queued, failures = store.next_queued, []

    def locked(lane="write"):
        if lane == "write" and len(failures) < 20:
            failures.append(lane)
            raise sqlite3.OperationalError("database is locked")
        return healthy_next_queued(lane)

    monkeypatch.setattr(store, "next_queued", locked)
    down = wait_until(lambda: (a := c.get("/health")).status_code == 503 and a)
    assert down.get_json()["status"] == "DOWN"
    assert down.get_json()["problems"] == ["the job queue's write lane cannot use the job store; retrying"]
    job = c.post("/projects/4/rescore").get_json()["job"]
    # The store heals: the lane takes the job (its run fails, Label Studio being down) and
    # /health is UP again.
    wait_until(lambda: store.job(job).status == "failed")
    assert len(failures) == 20 and c.get("/health").status_code == 200
    queue.stop()
    stopped = c.get("/health")
    assert stopped.status_code == 503 and len(stopped.get_json()["problems"]) == 2


def test_a_run_process_that_dies_has_its_job_failed_by_the_lane(tmp_path, monkeypatch):
    app = create_app(unreachable(tmp_path))
    store = app.extensions["tokenlq.store"]
    monkeypatch.setattr("tokenlq_backend.jobs.run_job", os._exit)  # the child exits at once, with code 1
    job, _ = store.enqueue(5, "api")
    app.extensions["tokenlq.queue"].submit(6, "api")
    wait_until(lambda: store.job(job).status == "failed")
    assert store.job(job).reason == "the run process exited with 1"
    app.extensions["tokenlq.queue"].stop()


def test_one_process_owns_the_embedded_queue_of_a_data_folder(tmp_path):
    """Each gunicorn worker process built its own queue, and its start marked the running jobs
    of the others interrupted."""
    first = create_app(Settings(data_dir=tmp_path), start_queue=False)
    with pytest.raises(RuntimeError, match=rf"another process \(pid {os.getpid()}\) runs the "
                                           "embedded job queue .* one process must own it"):
        create_app(Settings(data_dir=tmp_path), start_queue=False)
    first.extensions["tokenlq.queue"].stop()  # gives the folder up
    create_app(Settings(data_dir=tmp_path), start_queue=False).extensions["tokenlq.queue"].stop()


@pytest.mark.postgres
def test_one_process_owns_the_embedded_queue_of_a_database(tmp_path, database_url):
    """With DATABASE_URL, processes on other hosts have other data folders: the database's own
    lock refuses a second queue (its start would fail the first one's running jobs)."""
    first = create_app(Settings(data_dir=tmp_path / "a", database_url=database_url),
                       start_queue=False)
    with pytest.raises(RuntimeError, match="another process runs the embedded job queue on this "
                                           "DATABASE_URL: one process must own it"):
        create_app(Settings(data_dir=tmp_path / "b", database_url=database_url), start_queue=False)
    create_app(Settings(data_dir=tmp_path / "a2"), start_queue=False).extensions[
        "tokenlq.queue"].stop()  # SQLite in another folder: not this database's business
    first.extensions["tokenlq.queue"].stop()  # gives the database up
    create_app(Settings(data_dir=tmp_path / "b", database_url=database_url),
               start_queue=False).extensions["tokenlq.queue"].stop()


def test_several_web_processes_without_redis_are_refused_at_start(tmp_path):
    with pytest.raises(ValueError, match="WORKERS=3 needs REDIS_URL"):
        Settings.from_env({"WORKERS": "3"})
    assert Settings.from_env({"WORKERS": "3", "REDIS_URL": "redis://r:6379/0"}).workers == 3
    with pytest.raises(ValueError, match="WORKERS must be at least 1"):
        Settings.from_env({"WORKERS": "0"})
    env = {**os.environ, "WORKERS": "2", "TOKENLQ_DATA_DIR": str(tmp_path)}
    env.pop("REDIS_URL", None)
    served = subprocess.run([sys.executable, "-m", "tokenlq.cli", "serve"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert served.returncode == 2 and "WORKERS=2 needs REDIS_URL" in served.stderr


def test_a_project_label_studio_no_longer_has_fails_its_job_and_drops_its_events(tmp_path, monkeypatch):
    import httpx

    from tokenlq_backend import labelstudio

    store = Store(tmp_path)
    store.add_event(6, "ANNOTATION_CREATED", {"annotation": {"id": 1, "task": 2}, "task": {"id": 2}})
    job_id, _ = store.enqueue(6, "webhook", "update")
    gone = httpx.MockTransport(lambda request: httpx.Response(404, json={"detail": "Not found."}))
    real_connect = labelstudio.connect
    monkeypatch.setattr(labelstudio, "connect",
                        lambda url, key, **kw: real_connect(url, key, **{**kw, "transport": gone}))
    run_job(unreachable(tmp_path), store.next_queued())
    assert store.job(job_id).reason == "ProjectGone: Label Studio has no project 6"
    assert store.events(6) == [] and store.copy_state(6) is None


def _update_process():
    """The embedded queue's update process (backend.resident), if it runs."""
    return next((p for p in multiprocessing.active_children() if p.name == "tokenlq-resident"), None)


def test_updates_run_in_one_lasting_process_started_again_when_it_dies(tmp_path):
    # Label Studio is down and the client waits 2 s before each of its two retries: an update
    # runs for 4 s.
    app = create_app(unreachable(tmp_path, label_studio_retry_delays=(2.0, 2.0)))
    store, queue = app.extensions["tokenlq.store"], app.extensions["tokenlq.queue"]
    killed = queue.submit(5, "api", "update")
    wait_until(lambda: store.job(killed).status == "running" and _update_process() is not None)
    process = _update_process()
    process.kill()
    wait_until(lambda: store.job(killed).status == "failed")
    assert store.job(killed).reason == "the run process exited with -9"
    first = queue.submit(5, "api", "update")
    wait_until(lambda: store.job(first).status == "failed")
    second = queue.submit(6, "api", "update")
    wait_until(lambda: store.job(second).status == "failed")
    assert all("Connect" in store.job(j).reason for j in (first, second))
    again = _update_process()
    assert again.pid != process.pid and again.is_alive()  # one new process ran both
    queue.stop()  # closes its pipe: the process ends
    again.join(10)
    assert again.exitcode == 0


def test_an_update_that_leaves_writes_asks_for_the_next_until_none_is_left(tmp_path, monkeypatch,
                                                                          written_project):
    """Each run writes at most writes_per_run single predictions and queues the update that
    writes the next; the last leaves Label Studio holding what the store holds."""
    ls = written_project()
    monkeypatch.setattr("tokenlq_backend.labelstudio.connect", lambda *args, **kwargs: object())
    monkeypatch.setattr("tokenlq_backend.labelstudio.close", lambda client: None)
    monkeypatch.setattr("tokenlq_backend.labelstudio.LabelStudioProject", lambda client, project, **kw: ls)
    settings = dataclasses.replace(unreachable(tmp_path), probs="crf", writes_per_run=25)
    store = Store(tmp_path)
    asked = []

    def drain(trigger, kind):
        store.enqueue(7, trigger, kind)
        while (job := store.next_queued()) is not None:
            run_job(settings, job, submit=lambda project, trigger, kind: asked.append(trigger)
                    or store.enqueue(project, trigger, kind))
            assert store.job(job.id).status == "done", store.job(job.id).reason

    drain("api", "rescore")  # every prediction created at once: nothing left
    assert asked == []
    for task in ls._tasks[::2]:  # new labels: the rescoring's new fit moves every score
        task["annotations"][0]["result"] = task["annotations"][0]["result"][1:]
    drain("api", "rescore")
    assert asked == ["pending writes", "pending writes"]  # 60 updates, 25 a run
    summaries = [store.job(j).summary for j in range(2, 5)]
    assert [(s["updated"], s["pending"]) for s in summaries] == [(25, 35), (25, 10), (10, 0)]
    stored = store.predictions(7, [t["id"] for t in ls._tasks])
    assert {t["id"]: [dict(p, id=None) for p in t["predictions"]] for t in ls._tasks} == \
        {t: [dict(p, id=None)] for t, p in stored.items()}


def test_an_update_asks_for_no_second_refit_while_one_waits_or_runs(tmp_path, monkeypatch,
                                                                   written_project):
    """Every update asks for a refit until the new fit lands; at 100,000 tasks a second one
    queued behind the first cost 13 minutes and rewrote every prediction again."""
    ls = written_project()
    monkeypatch.setattr("tokenlq_backend.labelstudio.connect", lambda *args, **kwargs: object())
    monkeypatch.setattr("tokenlq_backend.labelstudio.close", lambda client: None)
    monkeypatch.setattr("tokenlq_backend.labelstudio.LabelStudioProject", lambda client, project, **kw: ls)
    settings = dataclasses.replace(unreachable(tmp_path), probs="crf", refit_fraction=0.02)
    store, asked = Store(tmp_path), []

    def run(kind="update"):
        store.mark_due(7, "edits made without events")  # a full read sees them
        store.enqueue(7, "ANNOTATION_UPDATED", kind)
        job = store.next_queued()
        run_job(settings, job, submit=lambda project, trigger, kind: asked.append(str(kind))
                or store.enqueue(project, trigger, kind))
        assert store.job(job.id).status == "done", store.job(job.id).reason
        return store.job(job.id).summary

    run("rescore")
    for task in ls._tasks[:3]:  # 5% of the tasks changed since the fit
        task["annotations"][0]["result"] = []
    assert run()["refit"] and asked == ["refit"]
    assert run()["refit"] and asked == ["refit"]  # one waits
    refit = store.next_queued("fit")
    assert run()["refit"] and asked == ["refit"]  # one runs
    store.finish(refit.id, summary={})  # ended without a fit
    assert run()["refit"] and asked == ["refit", "refit"]


def test_an_update_gives_way_to_an_edit_saved_while_it_writes(tmp_path, monkeypatch,
                                                              written_project):
    """A run with single writes to make asks, every YIELD_EVERY of them, whether an update
    waits for the project (an annotator saved meanwhile); it then leaves the rest to that
    update (which writes the edited task first: test_resident.py)."""
    ls = written_project()
    monkeypatch.setattr("tokenlq_backend.labelstudio.connect", lambda *args, **kwargs: object())
    monkeypatch.setattr("tokenlq_backend.labelstudio.close", lambda client: None)
    monkeypatch.setattr("tokenlq_backend.labelstudio.LabelStudioProject", lambda client, project, **kw: ls)
    monkeypatch.setattr("tokenlq_backend.runs.YIELD_EVERY", 5)
    settings = dataclasses.replace(unreachable(tmp_path), probs="crf", writes_per_run=500)
    store = Store(tmp_path)
    store.enqueue(7, "api", "rescore")
    run_job(settings, store.next_queued(), submit=store.enqueue)  # every prediction created
    for task in ls._tasks[::2]:  # new labels: the rescoring's new fit moves every score
        task["annotations"][0]["result"] = task["annotations"][0]["result"][1:]
    edited = ls._tasks[7]
    writes, chunks = ls.update_predictions, []

    def update_predictions(predictions):  # an annotator saves while the first writes are made
        writes(predictions)
        chunks.append(set(predictions))
        if len(chunks) == 1:
            edited["annotations"][0]["result"] = []
            store.mark_due(7, "an edit the copy has not seen")
            store.enqueue(7, "ANNOTATION_UPDATED", "update")

    monkeypatch.setattr(ls, "update_predictions", update_predictions)
    store.enqueue(7, "api", "rescore")
    job = store.next_queued()
    run_job(settings, job, submit=store.enqueue)
    summary = store.job(job.id).summary
    assert (summary["updated"], summary["pending"]) == (5, 55)  # it gave way after 5 writes
    after = store.next_queued()
    assert after.trigger == "ANNOTATION_UPDATED" and store.next_queued() is None
    run_job(settings, after, submit=store.enqueue)
    summary = store.job(after.id).summary
    assert summary["updated"] >= 55 and summary["pending"] == 0  # and any the edit moved
    assert [len(c) for c in chunks[:2]] == [5, 5]
    stored = store.predictions(7, [t["id"] for t in ls._tasks])
    assert {t["id"]: [dict(p, id=None) for p in t["predictions"]] for t in ls._tasks} == \
        {t: [dict(p, id=None)] for t, p in stored.items()}
