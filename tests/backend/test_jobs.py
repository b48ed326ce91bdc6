"""Jobs: an unreachable Label Studio fails the job with its reason; nothing answers 5xx."""

import time

from backend import create_app
from backend.jobs import run_job
from backend.settings import Settings
from backend.store import Store


def unreachable(tmp_path, **extra):
    # Port 1 on loopback refuses connections: Label Studio is "down".
    return Settings(label_studio_url="http://127.0.0.1:1", label_studio_api_key="secret-key-xyz",
                    data_dir=tmp_path, **extra)


def test_label_studio_down_fails_the_job_with_a_reason_and_no_secret(tmp_path):
    settings = unreachable(tmp_path)
    store = Store(tmp_path)
    job_id, _ = store.enqueue(4, "api")
    run_job(settings, store.next_queued())
    job = store.job(job_id)
    assert job["status"] == "failed" and "Connect" in job["reason"] and job["progress"] == "failed"
    assert "secret-key-xyz" not in job["reason"]


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
    assert store.job(job_id)["reason"].startswith("interrupted")


def test_a_follow_up_is_queued_before_its_job_is_done(tmp_path, monkeypatch):
    """Never a moment where every job of the project has ended while a run is still owed (a
    client polling for "idle" once saw the refit done and its update not yet queued)."""
    store = Store(tmp_path)
    job_id, _ = store.enqueue(3, "setup", "refit")
    monkeypatch.setattr("backend.labelstudio.connect", lambda *args, **kwargs: object())
    monkeypatch.setattr("backend.labelstudio.close", lambda client: None)
    monkeypatch.setattr("backend.labelstudio.LabelStudioProject", lambda client, project: project)
    monkeypatch.setattr("backend.runs.refit", lambda ls, options: {"model": "crf"})
    seen = []

    def submit(project, trigger, kind):
        seen.append((project, trigger, kind, store.job(job_id)["status"]))

    run_job(unreachable(tmp_path), store.next_queued("fit"), submit=submit)
    assert seen == [(3, "refit", "update", "running")]
    assert store.job(job_id)["status"] == "done"
