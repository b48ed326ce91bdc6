"""Faults between the backend and a real Label Studio, injected by a proxy of our own
(faulty_proxy.py): Label Studio down, answering 500, timing out or dropping the connection while
the backend pulls the tasks and while it writes back; Label Studio going down mid-write; the
backend killed mid-write. After each, the next run converges: one current prediction per
annotated task (the one the backend holds as latest), the tab listing the flagged tasks by score,
every annotation as the people left it. The backend is told another Label Studio in /setup
(`hostname`, `access_token`) and a decoy server there must see no request."""

import os
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from tokenlq_backend.demo import corpus_tasks, label_config
from tokenlq_backend.labelstudio import LabelStudioProject, close, connect, prediction_content
from tokenlq_backend.runs import MODEL_VERSION
from tokenlq.labelstudio_format import given_annotation
from tokenlq.synthetic import make_ner_corpus

from .live import free_port, serve
from .faulty_proxy import FaultyProxy

TIMEOUT = 10  # LABEL_STUDIO_TIMEOUT of the backend under test
SECRETS = {"BASIC_AUTH_PASS": "fault-basic-pass", "TOKENLQ_WEBHOOK_SECRET": "fault-hook-secret"}
AUTH = ("faults", SECRETS["BASIC_AUTH_PASS"])


class Backend:
    """`tokenlq serve` as its own process group, so that a kill takes its run processes too."""

    def __init__(self, env, log):
        self.env, self.log, self.port = env, log, free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = None

    def start(self):
        _, self.process = serve(self.env, self.log, port=self.port, new_session=True)

    def kill(self):
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)


class Decoy:
    """Another "Label Studio" that counts what reaches it."""

    def __init__(self):
        hits = self.hits = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                hits.append(self.path)
                self.send_response(200)
                self.end_headers()

            do_POST = do_PATCH = do_DELETE = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def ours(task):
    return [p for p in task["predictions"] if p["model_version"] == MODEL_VERSION]


@pytest.fixture(scope="module")
def setting(labelstudio, tmp_path_factory):
    url, token = labelstudio
    proxy, decoy = FaultyProxy(url), Decoy()
    folder = tmp_path_factory.mktemp("faults")
    env = dict(os.environ, LABEL_STUDIO_URL=proxy.url, LABEL_STUDIO_API_KEY=token,
               LABEL_STUDIO_TIMEOUT=str(TIMEOUT), TOKENLQ_BULK_TIMEOUT=str(TIMEOUT),
               TOKENLQ_PROBS="crf", THREADS="4",
               TOKENLQ_REFIT_FRACTION="1",  # no background refit: each run is one the test started
               TOKENLQ_DATA_DIR=str(folder / "data"), BASIC_AUTH_USER=AUTH[0], LOG_LEVEL="DEBUG",
               **SECRETS)
    backend = Backend(env, folder / "backend.log")
    backend.start()
    client = connect(url, token)  # the test's own, straight to Label Studio
    try:
        yield client, proxy, decoy, backend
    finally:
        backend.stop()
        proxy.close()
        decoy.server.shutdown()
        decoy.server.server_close()
        close(client)
    log = backend.log.read_text()
    for secret in (token, *SECRETS.values()):
        assert secret not in log, "a secret reached the backend's log"


def run(backend, project, kind):
    """Trigger a run (``rescore`` by the API, ``update`` by a webhook) and wait for its end."""
    if kind == "rescore":
        job = requests.post(f"{backend.base}/projects/{project}/rescore", auth=AUTH, timeout=10)
    else:
        job = requests.post(f"{backend.base}/webhook", timeout=10, json={
            "action": "ANNOTATION_UPDATED", "project": {"id": project}},
            headers={"X-Tokenlq-Webhook-Secret": SECRETS["TOKENLQ_WEBHOOK_SECRET"]})
    job_id = job.json()["job"]
    deadline = time.time() + 180
    while time.time() < deadline:
        found = requests.get(f"{backend.base}/jobs/{job_id}", auth=AUTH, timeout=10).json()
        if found["status"] in ("done", "failed"):
            return found
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not end")


def assert_converged(ls, backend, annotations, job):
    """The state a correct run leaves, checked in Label Studio itself."""
    assert job["status"] == "done", job["reason"]
    tasks = ls.tasks()
    assert {t["id"]: t["annotations"] for t in tasks} == annotations  # no annotation touched
    annotated = [t for t in tasks if given_annotation(t["annotations"])]
    assert all(len(ours(t)) == 1 for t in annotated), "not exactly one prediction per task"
    assert all(not ours(t) for t in tasks if not given_annotation(t["annotations"]))
    latest = requests.post(f"{backend.base}/predict", auth=AUTH, timeout=30, json={
        "project": str(ls.id), "tasks": [{"id": t["id"]} for t in annotated]}).json()["results"]
    assert [prediction_content(ours(t)[0]) for t in annotated] == \
        [prediction_content(p) for p in latest]  # the backend's latest, not a stale one
    listed = ls.view_task_ids(job["summary"]["view"])
    scores = {t["id"]: ours(t)[0]["score"] for t in annotated}
    assert len(listed) == job["summary"]["flagged"] > 0
    assert [scores[t] for t in listed] == sorted(scores[t] for t in listed)


def edit(client, ls, count, start):
    """A reviewer removes the entities of ``count`` annotated tasks (their scores change)."""
    edited = 0
    for task in ls.tasks()[start:]:
        annotation = given_annotation(task["annotations"])
        if annotation and annotation["result"] and edited < count:
            client.annotations.update(id=annotation["id"], result=[])
            edited += 1
    return {t["id"]: t["annotations"] for t in ls.tasks()}


def test_faults_during_pull_and_write_back_then_convergence(setting, labelstudio):
    client, proxy, decoy, backend = setting
    corpus = make_ner_corpus(150, error_rate=0.06, seed=71)
    project = client.projects.create(title="tokenlq e2e faults", label_config=label_config(corpus))
    client.projects.import_tasks(id=project.id, request=corpus_tasks(corpus) + [
        {"data": {"text": "An unannotated task ."}}])
    ls = LabelStudioProject(client, project.id)
    # Label Studio's own /setup names a Label Studio and a key: both are ignored.
    setup = requests.post(f"{backend.base}/setup", auth=AUTH, timeout=10, json={
        "project": f"{project.id}.1", "schema": project.label_config, "hostname": decoy.url,
        "access_token": "decoy-token"})
    assert setup.status_code == 200
    annotations = {t["id"]: t["annotations"] for t in ls.tasks()}
    assert_converged(ls, backend, annotations, run(backend, project.id, "rescore"))

    report = []

    def fault(name, inject, kind="update", survives_in_run=False, reason=None, restore=None):
        injected_before = len(proxy.injected)
        inject()
        job = run(backend, project.id, kind)
        if restore:
            restore()
        proxy.clear()
        hits = len(proxy.injected) - injected_before
        assert hits > 0, f"{name}: no fault was injected"
        if survives_in_run:  # the SDK's retries ride out a single transient fault
            assert job["status"] == "done", (name, job["reason"])
            assert_converged(ls, backend, annotations, job)
        else:
            assert job["status"] == "failed" and reason in job["reason"], (name, job["reason"])
            # Even a failed run never leaves a task with two predictions of ours.
            assert max(len(ours(t)) for t in ls.tasks()) <= 1, name
            assert_converged(ls, backend, annotations, run(backend, project.id, "update"))
        report.append((name, hits, job["status"]))

    # -- while pulling --------------------------------------------------------------------------
    fault("LS down (connection refused), pull", proxy.down, reason="ConnectError", restore=proxy.up)
    fault("one 500 on the export, pull", lambda: proxy.fail("POST", r"/exports/$", "500"),
          survives_in_run=True)
    fault("500s on the export, pull", lambda: proxy.fail("POST", r"/exports/$", "500", times=10),
          reason="500")
    fault("timeout on the export download, pull",
          lambda: proxy.fail("GET", r"/exports/\d+/download", "timeout", seconds=TIMEOUT + 2),
          reason="Timeout")
    fault("dropped connections on the export status, pull",
          lambda: proxy.fail("GET", r"/exports/\d+/?(\?|$)", "drop", times=10),
          reason="RemoteProtocolError")

    # -- while writing back (annotations edited first, so predictions change) ----------------------
    def edited_then(rule, count=8):
        def inject():
            nonlocal annotations
            annotations = edit(client, ls, count, start=len(report) * 10)
            rule()
        return inject

    fault("500s on prediction updates midway, write",
          edited_then(lambda: proxy.fail("PATCH", r"^/api/predictions/\d+/", "500", after=3, times=20)),
          reason="500")
    fault("timeout on a prediction update, write",
          edited_then(lambda: proxy.fail("PATCH", r"^/api/predictions/\d+/", "timeout",
                                         seconds=TIMEOUT + 2)),
          reason="Timeout")
    fault("500s on the tab's update, write",
          edited_then(lambda: proxy.fail("PATCH", r"^/api/dm/views/\d+/", "500", times=10), count=2),
          reason="500")

    def new_tasks_then(fault_kind, seed):
        def inject():
            nonlocal annotations
            extra = make_ner_corpus(5, error_rate=0.0, seed=seed)
            client.projects.import_tasks(id=project.id, request=corpus_tasks(extra))
            annotations = {t["id"]: t["annotations"] for t in ls.tasks()}
            proxy.fail("POST", r"/import/predictions", fault_kind, times=10)
        return inject

    fault("dropped connections on the predictions import, write", new_tasks_then("drop", 72),
          reason="RemoteProtocolError")
    # Label Studio imports the predictions but its answer is lost: the run fails, and the next
    # finds them in place (never a second copy).
    fault("predictions imported, the answer lost, write", new_tasks_then("lost", 73),
          reason="RemoteProtocolError")

    def down_mid_write():
        held = edited_then(lambda: None)
        held()
        rule = proxy.fail("PATCH", r"^/api/predictions/\d+/", "hold", after=2, seconds=60)

        def take_down():
            rule.arrived.wait(120)
            proxy.down()
            rule.release.set()
        threading.Thread(target=take_down, daemon=True).start()

    fault("LS goes down in the middle of the write", down_mid_write, reason="ConnectError",
          restore=proxy.up)

    # -- the backend killed in the middle of a run ------------------------------------------------
    annotations = edit(client, ls, 8, start=len(report) * 10)
    rule = proxy.fail("PATCH", r"^/api/predictions/\d+/", "hold", after=2, seconds=60)
    job_id = requests.post(f"{backend.base}/webhook", timeout=10, json={
        "action": "ANNOTATION_UPDATED", "project": {"id": project.id}},
        headers={"X-Tokenlq-Webhook-Secret": SECRETS["TOKENLQ_WEBHOOK_SECRET"]}).json()["job"]
    assert rule.arrived.wait(120), "the run never reached the write"
    backend.kill()
    proxy.clear()
    backend.start()
    killed = requests.get(f"{backend.base}/jobs/{job_id}", auth=AUTH, timeout=10).json()
    assert killed["status"] == "failed" and "interrupted" in killed["reason"], killed
    assert_converged(ls, backend, annotations, run(backend, project.id, "update"))
    report.append(("backend killed in the middle of the write", 1, "failed"))

    print("\nfault injected                                      faults  run      then")
    for name, hits, status in report:
        print(f"{name:<52}{hits:>6}  {status:<8} converged")
    print(f"{len(report)} kinds of fault, {sum(h for _, h, _ in report)} faults injected, "
          f"{len(report)} survived")
    assert decoy.hits == []  # /setup's hostname was never called
    assert all(path.startswith("/api/") for _, path in proxy.requests)
