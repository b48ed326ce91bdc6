"""Scale-out on RQ with a real redis-server and a real Label Studio: the web process queues, two
`tokenlq worker` processes run three projects, bursts of webhooks coalesce, a worker killed in
the middle of a job leaves it to the other, a restarted web process loses nothing; with
DATABASE_URL the state is in a real PostgreSQL server and no process shares a folder."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tokenlq_backend.demo import corpus_tasks, label_config
from tokenlq_backend.labelstudio import LabelStudioProject, close, connect
from tokenlq_backend.runs import MODEL_VERSION
from tokenlq.synthetic import make_ner_corpus

from .live import EMAIL, PASSWORD, RedisServer, free_port, idle, serve, wait_for, wait_healthy


class Services:
    """The web process and the workers, as real processes sharing one data folder."""

    def __init__(self, env, folder: Path):
        self.env, self.folder, self.workers = env, folder, {}
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.web = None

    def start_web(self, **env):
        """``env``: variables of this process only (say, a data folder of its own)."""
        _, self.web = serve(dict(self.env, **env), self.folder / "web.log", port=self.port)

    def stop_web(self):
        self.web.terminate()
        self.web.wait(timeout=30)

    def start_worker(self, name, **env):
        with open(self.folder / f"{name}.log", "a") as log:
            self.workers[name] = subprocess.Popen(
                [sys.executable, "-m", "tokenlq.cli", "worker", "--name", name],
                env=dict(self.env, **env),
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def kill_worker(self, name):
        """SIGKILL the worker and its work-horse (RQ puts the horse in a session of its own)."""
        process = self.workers.pop(name)
        tree = [process.pid] + descendants(process.pid)
        for pid in tree:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        process.wait(timeout=10)
        return tree

    def stop(self):
        for name in list(self.workers):
            self.kill_worker(name)
        if self.web:
            self.stop_web()


def descendants(pid: int) -> list:
    children = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


@pytest.fixture(scope="module")
def services(labelstudio, redis_url, tmp_path_factory):
    url, token = labelstudio
    folder = tmp_path_factory.mktemp("scale")
    env = dict(os.environ, LABEL_STUDIO_URL=url, LABEL_STUDIO_API_KEY=token, REDIS_URL=redis_url,
               TOKENLQ_DATA_DIR=str(folder / "data"), TOKENLQ_PROBS="crf", THREADS="8")
    running = Services(env, folder)
    running.start_worker("w1")  # /health answers 503 until a worker listens
    running.start_worker("w2")
    running.start_web()
    yield running
    running.stop()


def one_each(ls):
    tasks = ls.tasks()
    return all(len([p for p in t["predictions"] if p["model_version"] == MODEL_VERSION])
               == (1 if t["annotations"] else 0) for t in tasks)


def new_project(client, base, size, seed):
    corpus = make_ner_corpus(size, error_rate=0.06, seed=seed)
    project = client.projects.create(title=f"tokenlq e2e rq {seed}", label_config=label_config(corpus))
    client.projects.import_tasks(id=project.id, request=corpus_tasks(corpus))
    client.ml.create(project=project.id, url=base, title="tokenlq")  # /setup queues a first run
    return project.id


def test_two_workers_three_projects_and_bursts(labelstudio, services):
    url, token = labelstudio
    client = connect(url, token)
    try:
        projects = [new_project(client, services.base, 150, seed) for seed in (61, 62, 63)]
        session = requests.Session()
        for _ in range(30):  # bursts of events on every project
            for project in projects:
                answer = session.post(services.base + "/webhook", timeout=5, json={
                    "action": "ANNOTATION_UPDATED", "project": {"id": project}})
                assert answer.json()["status"] == "queued"
        jobs = {p: idle(services.base, p, timeout=240) for p in projects}
        for project, listed in jobs.items():
            assert all(j["status"] == "done" for j in listed), listed
            assert len(listed) <= 4 and sum(j["events"] for j in listed) == 31  # setup + 30
            # Never two runs of one project at once.
            spans = sorted((j["started"], j["finished"]) for j in listed)
            assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), spans
            assert one_each(LabelStudioProject(client, project))
        # Different projects ran at the same time, on the two workers.
        runs = [(j["started"], j["finished"], p) for p, listed in jobs.items() for j in listed]
        assert any(a[2] != b[2] and a[0] < b[1] and b[0] < a[1] for a in runs for b in runs), runs
        # Both workers took part.
        logs = [(services.folder / f"{name}.log").read_text() for name in ("w1", "w2")]
        assert all("Job OK" in log or "Successfully completed" in log for log in logs), logs
    finally:
        close(client)


def test_a_killed_worker_leaves_its_job_to_the_other_and_a_web_restart_loses_nothing(
        labelstudio, services, redis_url):
    import redis
    from rq.job import Job

    url, token = labelstudio
    client = connect(url, token)
    try:
        project = new_project(client, services.base, 1500, 64)
        first = idle(services.base, project, timeout=240)
        assert first[0]["status"] == "done"
        job_id = requests.post(f"{services.base}/projects/{project}/rescore", timeout=5).json()["job"]
        connection = redis.Redis.from_url(redis_url)
        deadline = time.time() + 60
        while (status := requests.get(f"{services.base}/jobs/{job_id}", timeout=5).json())[
                "progress"] not in ("fit", "score", "write"):
            assert time.time() < deadline, status
            time.sleep(0.2)
        holder = Job.fetch(f"tokenlq-{job_id}", connection=connection).worker_name
        assert holder in ("w1", "w2")
        killed_at = time.time()
        services.kill_worker(holder)
        services.stop_web()  # the web process restarts meanwhile: the job is in Redis
        services.start_web()
        survivor = "w2" if holder == "w1" else "w1"
        done = None
        # RQ finds the dead worker's job once its heartbeat lapses (job_monitoring_interval + 60 s)
        # at the survivor's next cleanup, then retries it after RETRY_INTERVALS[0].
        while time.time() < killed_at + 240:
            done = requests.get(f"{services.base}/jobs/{job_id}", timeout=5).json()
            if done["status"] == "done":
                break
            time.sleep(1)
        recovered = time.time() - killed_at
        print(f"job {job_id}: worker {holder} killed, done by {survivor} after {recovered:.0f} s")
        assert done["status"] == "done", done
        assert Job.fetch(f"tokenlq-{job_id}", connection=connection).worker_name == survivor
        idle(services.base, project, timeout=240)
        assert one_each(LabelStudioProject(client, project))  # no duplicate predictions
        services.start_worker(holder)
    finally:
        close(client)


def test_a_failing_job_is_retried_with_backoff_and_its_failure_shows(redis_url, tmp_path):
    import redis
    from rq.job import Job
    from rq.registry import ScheduledJobRegistry

    from tokenlq_backend.rq_queue import RETRY_INTERVALS

    # A deployment of its own needs a Redis database of its own (job ids are per data folder).
    redis_url = redis_url.rsplit("/", 1)[0] + "/1"
    env = dict(os.environ, LABEL_STUDIO_URL="http://127.0.0.1:1", LABEL_STUDIO_API_KEY="retry-test-key",
               REDIS_URL=redis_url, TOKENLQ_DATA_DIR=str(tmp_path / "data"))
    down = Services(env, tmp_path)  # Label Studio "down": every attempt fails
    down.start_worker("w-retry")
    down.start_web()
    try:
        job_id = requests.post(f"{down.base}/projects/42/rescore", timeout=5).json()["job"]
        connection = redis.Redis.from_url(redis_url)
        rq_job = Job.fetch(f"tokenlq-{job_id}", connection=connection)
        scheduled = ScheduledJobRegistry(rq_job.origin, connection=connection)
        seen, deadline = [], time.time() + 90
        while time.time() < deadline and len(seen) < 2:
            status = requests.get(f"{down.base}/jobs/{job_id}", timeout=5).json()
            # Our record says "failed" as the attempt ends, a moment before RQ counts the retry
            # down; the job enters the scheduled registry in the transaction that saves the count.
            if status["status"] == "failed" and rq_job.id in scheduled:
                rq_job.refresh()
                if not seen or seen[-1][0] != rq_job.retries_left:
                    seen.append((rq_job.retries_left, status["finished"], status["reason"]))
            time.sleep(0.2)
        assert len(seen) == 2, seen
        (left_1, first, reason), (left_2, second, _) = seen
        assert "ConnectError" in reason and "retry-test-key" not in reason
        assert (left_1, left_2) == (len(RETRY_INTERVALS) - 1, len(RETRY_INTERVALS) - 2)
        assert second - first >= RETRY_INTERVALS[0]  # the retry waited its backoff
    finally:
        down.stop()


def stop_worker(worker, log) -> None:
    """Stop a `tokenlq worker` as a process manager does (SIGTERM: RQ's warm shutdown); one
    that does not end within 30 s is killed and fails the test with its log."""
    worker.terminate()
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
        raise AssertionError("the worker did not stop on SIGTERM within 30 s; its log:\n"
                             + log.read_text()[-3000:]) from None


def test_health_needs_redis_and_a_worker(redis_url, tmp_path):
    from tokenlq_backend import create_app
    from tokenlq_backend.settings import Settings

    own_db = redis_url.rsplit("/", 1)[0] + "/2"  # no worker listens here
    app = create_app(Settings(data_dir=tmp_path, redis_url=own_db))
    c = app.test_client()
    answer = c.get("/health")
    assert answer.status_code == 503 and answer.get_json()["problems"] == [
        "no tokenlq worker is running (start one with `tokenlq worker`)"]
    env = dict(os.environ, REDIS_URL=own_db, TOKENLQ_DATA_DIR=str(tmp_path / "w"))
    with open(tmp_path / "worker.log", "w") as log:
        worker = subprocess.Popen([sys.executable, "-m", "tokenlq.cli", "worker", "--name", "w-health"],
                                  env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 60
        while (answer := c.get("/health")).status_code != 200:
            assert time.time() < deadline, answer.get_json()
            time.sleep(0.2)
        assert answer.get_json()["status"] == "UP"
    finally:
        stop_worker(worker, tmp_path / "worker.log")
    gone = create_app(Settings(data_dir=tmp_path / "g", redis_url=f"redis://127.0.0.1:{free_port()}/0"))
    started = time.time()
    answer = gone.test_client().get("/health")
    assert answer.status_code == 503 and answer.get_json()["problems"] == [
        "Redis (REDIS_URL) does not answer"]
    assert time.time() - started < 1.5  # Label Studio gives /health one second


def test_the_lease_renews_from_its_thread_and_a_lost_one_stops_writes(redis_url, caplog):
    """The lock was thread-local, so its renewal thread died at its first try and the lock
    expired under a running job; and nothing noticed a lost lock."""
    import redis

    from tokenlq_backend.rq_queue import LeaseLost, _Lease

    connection = redis.Redis.from_url(redis_url)
    with _Lease(connection, "tokenlq:test:renewed", seconds=1.5) as lease:
        time.sleep(4)  # over twice the lock's time to live: held only if renewed
        lease.check()
        assert lease.lost is None
    with _Lease(connection, "tokenlq:test:deleted", seconds=30) as lease:
        lease.check()
        connection.delete("tokenlq:test:deleted")  # deleted (or expired) under the job
        with pytest.raises(LeaseLost, match="expired or was deleted; stopped writing"):
            lease.check()
    assert "had expired or been taken before its release" in caplog.text  # logged, not swallowed
    with _Lease(connection, "tokenlq:test:taken", seconds=1.5) as lease:
        connection.set("tokenlq:test:taken", "another worker's token")
        time.sleep(1)  # the renewal fails (not our token) ...
        with pytest.raises(LeaseLost, match="its renewal failed"):  # ... and is not silent
            lease.check()
    connection.delete("tokenlq:test:taken")


def test_a_job_whose_lock_is_deleted_stops_writing_and_is_retried(labelstudio, services, redis_url):
    import redis

    url, token = labelstudio
    client = connect(url, token)
    try:
        project = new_project(client, services.base, 300, 66)
        idle(services.base, project, timeout=240)
        job_id = requests.post(f"{services.base}/projects/{project}/rescore", timeout=5).json()["job"]
        connection = redis.Redis.from_url(redis_url)
        deadline = time.time() + 120
        while (status := requests.get(f"{services.base}/jobs/{job_id}", timeout=5).json())[
                "progress"] not in ("fit", "score"):
            assert time.time() < deadline, status
            time.sleep(0.05)
        assert connection.delete(f"tokenlq:lock:{project}:write") == 1
        failed = None
        while (status := requests.get(f"{services.base}/jobs/{job_id}", timeout=5).json())[
                "status"] != "done":
            if status["status"] == "failed":
                failed = status
            assert time.time() < deadline + 120, status
            time.sleep(0.1)
        assert failed and "LeaseLost" in failed["reason"] and "stopped writing" in failed["reason"]
        idle(services.base, project, timeout=240)  # the retry converged
        assert one_each(LabelStudioProject(client, project))
    finally:
        close(client)


def test_label_studio_shows_the_backend_down_while_no_worker_runs(labelstudio, redis_url, tmp_path,
                                                                   chromium):
    """/health's 503 as a person sees it: Label Studio refuses to add the backend, then shows it
    Connected on the project's Model page while a worker runs and Disconnected once none does."""
    from label_studio_sdk.core.api_error import ApiError

    url, token = labelstudio
    env = dict(os.environ, LABEL_STUDIO_URL=url, LABEL_STUDIO_API_KEY=token, TOKENLQ_PROBS="crf",
               REDIS_URL=redis_url.rsplit("/", 1)[0] + "/3", TOKENLQ_DATA_DIR=str(tmp_path / "data"))
    services = Services(env, tmp_path)
    client = connect(url, token)
    try:
        _, services.web = serve(env, tmp_path / "web.log", port=services.port,
                                healthy=False)  # 503 until a worker listens
        corpus = make_ner_corpus(30, error_rate=0.06, seed=67)
        project = client.projects.create(title="tokenlq e2e health", label_config=label_config(corpus))
        client.projects.import_tasks(id=project.id, request=corpus_tasks(corpus))
        with pytest.raises(ApiError, match="health check failed"):
            client.ml.create(project=project.id, url=services.base, title="tokenlq")
        services.start_worker("w-health-page")
        wait_healthy(services.base)
        client.ml.create(project=project.id, url=services.base, title="tokenlq")
        with chromium(1400, 900) as session:
            session.login(url, EMAIL, PASSWORD)
            session.page.goto(f"{url}/projects/{project.id}/settings/ml")
            session.page.get_by_text("Connected", exact=True).wait_for()
            session.shot("model-connected")
            idle(services.base, project.id)  # the run the first /setup queued, done
            stopping = services.workers.pop("w-health-page")
            stopping.terminate()  # stopped as a person stops it: RQ unregisters it at once
            stopping.wait(timeout=30)
            assert requests.get(services.base + "/health", timeout=5).status_code == 503
            session.page.reload()
            session.page.get_by_text("Disconnected", exact=True).wait_for()
            session.shot("model-disconnected")
            assert session.errors() == []
    finally:
        close(client)
        services.stop()


def test_the_state_lives_in_postgresql_with_database_url(labelstudio, redis_url, database_url,
                                                         tmp_path):
    """DATABASE_URL and REDIS_URL are all the web process and two workers share: each has a data
    folder of its own. Jobs, settings, reviews, predictions and the fits live in PostgreSQL (no
    SQLite file is made); the web process pre-annotates from the fit a worker saved, and a
    restarted web process finds every run."""
    import sqlalchemy as sa

    from tokenlq_backend.storage import Store

    url, token = labelstudio
    # A Redis database of its own: the module's services (on SQLite) still listen on the first.
    env = dict(os.environ, LABEL_STUDIO_URL=url, LABEL_STUDIO_API_KEY=token,
               REDIS_URL=redis_url.rsplit("/", 1)[0] + "/4", DATABASE_URL=database_url,
               TOKENLQ_PROBS="crf", THREADS="8")
    folders = {name: tmp_path / name for name in ("web", "w1", "w2")}
    running = Services(env, tmp_path)
    client = connect(url, token)
    try:
        for name in ("w1", "w2"):
            running.start_worker(name, TOKENLQ_DATA_DIR=str(folders[name]))
        running.start_web(TOKENLQ_DATA_DIR=str(folders["web"]))
        project = new_project(client, running.base, 120, 65)
        for _ in range(5):
            requests.post(running.base + "/webhook", timeout=5, json={
                "action": "ANNOTATION_UPDATED", "project": {"id": project}})
        jobs = idle(running.base, project, timeout=240)
        assert jobs and all(j["status"] == "done" for j in jobs), jobs
        assert one_each(LabelStudioProject(client, project))
        assert not [p for f in folders.values() for p in f.rglob("tokenlq.db*")]  # no SQLite
        store = Store(tmp_path / "elsewhere", database_url)  # a fourth host's view
        assert [j.id for j in store.jobs(project)] == [j["id"] for j in jobs]
        with store.engine.connect() as db:
            rows = {t: db.scalar(sa.text(f"SELECT count(*) FROM {t} WHERE project = :p"),
                                 {"p": project}) for t in ("predictions", "reviews", "fits")}
        assert rows["predictions"] == 120 and rows["reviews"] > 0 and rows["fits"] == 1, rows
        config = client.projects.get(id=project).label_config
        answer = requests.post(running.base + "/predict", timeout=30, json={
            "project": f"{project}.1", "label_config": config,
            "tasks": [{"id": 10**9, "data": {"text": "Anna Berg joined Tokyo Motors in March ."}}]})
        assert answer.status_code == 200 and answer.json()["results"][0]["result"], answer.text
        assert list((folders["web"] / "fits" / str(project)).glob("fit-*"))  # its own copy
        running.stop_web()
        running.start_web(TOKENLQ_DATA_DIR=str(folders["web"]))
        assert [j["id"] for j in idle(running.base, project)] == [j["id"] for j in jobs]
        summary = requests.get(f"{running.base}/projects/{project}/summary", timeout=5)
        assert summary.status_code == 200 and summary.json()["classes"]
    finally:
        close(client)
        running.stop()


def test_postgresql_and_redis_restarts_and_lost_events_converge(labelstudio, tmp_path):
    """Faults on the scaled-out service (DATABASE_URL, REDIS_URL, two workers with folders of
    their own, Label Studio's real webhook): PostgreSQL restarted in the middle of a run, Redis
    restarted while annotators save (the events that came meanwhile are kept, the jobs Redis
    lost are pushed again). Each converges: every run ends done, one prediction of ours per
    annotated task, and a reconciliation (a full read) then finds nothing to change."""
    from tests.postgres import PostgresServer, create_database

    url, token = labelstudio
    postgres, redis_server = PostgresServer(free_port()), RedisServer(free_port(), tmp_path)
    postgres.start()
    redis_server.start()
    env = dict(os.environ, LABEL_STUDIO_URL=url, LABEL_STUDIO_API_KEY=token,
               REDIS_URL=redis_server.url, DATABASE_URL=create_database(postgres.url, "faults"),
               TOKENLQ_PROBS="crf", TOKENLQ_REFIT_FRACTION="1", THREADS="8")
    running = Services(env, tmp_path)
    client = connect(url, token)
    try:
        for name in ("w1", "w2"):
            running.start_worker(name, TOKENLQ_DATA_DIR=str(tmp_path / name))
        running.start_web(TOKENLQ_DATA_DIR=str(tmp_path / "web"))
        project = new_project(client, running.base, 400, 66)
        idle(running.base, project, timeout=240)
        ls = LabelStudioProject(client, project)

        # PostgreSQL restarted in the middle of a run: the run fails, RQ retries it.
        job_id = requests.post(f"{running.base}/projects/{project}/rescore", timeout=5).json()["job"]
        seen = []

        def under_way():
            seen.append(requests.get(f"{running.base}/jobs/{job_id}", timeout=5).json())
            return seen[-1].get("status") == "running"
        try:
            wait_for(under_way, "the rescore to be under way", 120)
        except AssertionError:
            raise AssertionError(f"the rescore was never under way: {seen[-1]}; logs: "
                                 + (tmp_path / "w1.log").read_text()[-2000:]
                                 + (tmp_path / "w2.log").read_text()[-2000:]) from None
        postgres.stop()
        time.sleep(2)
        postgres.start()
        # (while the database is down, /jobs answers 503 with no status)
        done = wait_for(lambda: (j := requests.get(f"{running.base}/jobs/{job_id}", timeout=5).json())
                        .get("status") == "done" and j, "the rescore to be done after the restart", 240)
        assert done["summary"]["scored"] == 400

        # Redis restarted while annotators save: their events are kept in the database.
        tasks = [t for t in ls.tasks() if t["annotations"]]
        redis_server.stop()
        for task in tasks[:3]:
            client.annotations.update(id=task["annotations"][0]["id"], result=[])
        redis_server.start()
        client.annotations.update(id=tasks[3]["annotations"][0]["id"], result=[])
        jobs = idle(running.base, project, timeout=240)
        assert all(j["status"] == "done" for j in jobs), jobs
        taken = sum(j["summary"]["read"].get("events", 0) for j in jobs
                    if j["kind"] == "update" and j["summary"])
        assert taken >= 4  # the three saved while Redis was down, and the one after
        assert one_each(ls)

        # A reconciliation now reads the whole project and finds nothing to change.
        requests.post(running.base + "/webhook", timeout=5, json={
            "action": "ANNOTATION_UPDATED", "project": {"id": project}})  # no payload: a gap
        last = idle(running.base, project, timeout=240)[0]
        assert last["summary"]["read"]["how"] == "full", last["summary"]["read"]
        assert (last["summary"]["written"], last["summary"]["updated"], last["summary"]["removed"]) \
            == (0, 0, 0)
    finally:
        close(client)
        running.stop()
        redis_server.stop()
        postgres.remove()


def test_jobs_redis_lost_are_pushed_again_and_while_it_is_down_events_wait(redis_url, tmp_path):
    import redis
    from rq.job import Job as RQJob

    from tokenlq_backend import create_app
    from tokenlq_backend.rq_queue import RQJobQueue
    from tokenlq_backend.settings import Settings
    from tokenlq_backend.storage import Store

    own = redis_url.rsplit("/", 1)[0] + "/5"  # no worker listens here
    store = Store(tmp_path)
    queue = RQJobQueue(Settings(data_dir=tmp_path, redis_url=own), store)
    job_id = queue.submit(3, "test", "update")
    connection = redis.Redis.from_url(own)
    connection.flushdb()  # Redis restarted without persistence: the job is gone from it
    assert queue.submit(3, "again", "update") == job_id  # coalesced, and pushed again
    assert RQJob.exists(f"tokenlq-{job_id}", connection=connection)
    connection.flushdb()
    assert queue.requeue_lost() == [job_id] and queue.requeue_lost() == []

    # Redis down: the event is kept and its job waits in the store; Label Studio is told 503.
    app = create_app(Settings(data_dir=tmp_path, redis_url=f"redis://127.0.0.1:{free_port()}/0"),
                     start_queue=False)
    answer = app.test_client().post("/webhook", json={
        "action": "ANNOTATIONS_DELETED", "annotations": [{"id": 8}], "project": {"id": 4}})
    assert answer.status_code == 503 and "Redis" in answer.get_json()["error"]
    assert [j.project for j in store.queued()] == [3, 4]
    assert [action for _, action, _ in store.events(4)] == ["ANNOTATIONS_DELETED"]
