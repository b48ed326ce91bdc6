"""Updates from Label Studio's events on a real Label Studio: the events its webhook sends (caught
by a recorder of the test's own) reach the backend's /webhook, an update takes them into the
project's copy and writes what a full read would have written; lost and reordered events are
healed by the next reconciliation, which ends in exactly the state of a full rescoring. The
updates run as in the embedded queue's update process: with the projects it keeps between jobs
(backend.resident), and, where a test says so, without."""

import json
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tokenlq.synthetic import make_ner_corpus
from tokenlq_backend import create_app
from tokenlq_backend.copies import ProjectCopy
from tokenlq_backend.demo import corpus_tasks, label_config
from tokenlq_backend.jobs import run_job, run_options
from tokenlq_backend.labelstudio import LabelStudioProject, close, connect
from tokenlq_backend.resident import ResidentProjects
from tokenlq_backend.runs import MODEL_VERSION, rescore
from tokenlq_backend.schedule import Healer
from tokenlq_backend.settings import Settings
from tokenlq_backend.storage import JobStatus, Lane


class Recorder:
    """An HTTP server that keeps the JSON bodies posted to it, in the order they came."""

    def __init__(self):
        bodies, lock = [], threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    bodies.append(body)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.bodies, self._lock = bodies, lock
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/events"

    def take(self) -> list:
        """The events of the annotation and task actions received so far (then forgotten)."""
        with self._lock:
            taken, self.bodies[:] = list(self.bodies), []
        return [b for b in taken if b.get("action") != "PROJECT_UPDATED"]


@pytest.fixture(scope="module")
def events_project(labelstudio, tmp_path_factory):
    url, token = labelstudio
    client = connect(url, token)
    corpus = make_ner_corpus(80, error_rate=0.06, seed=5)
    tasks = corpus_tasks(corpus)
    for task in tasks[-6:]:  # left for the annotators of the tests
        task.pop("annotations")
    created = client.projects.create(title="tokenlq e2e events", label_config=label_config(corpus))
    ids = list(client.projects.import_tasks(id=created.id, return_task_ids=True, request=tasks).task_ids)
    recorder = Recorder()
    client.webhooks.create(project=created.id, url=recorder.url, send_payload=True,
                           send_for_all_actions=True)
    settings = Settings(label_studio_url=url, label_studio_api_key=token, probs="crf",
                        refit_fraction=1.0, data_dir=tmp_path_factory.mktemp("events"))
    app = create_app(settings, start_queue=False)
    yield client, LabelStudioProject(client, created.id), ids, recorder, settings, app
    recorder.server.shutdown()
    recorder.server.server_close()
    close(client)


RESIDENT = ResidentProjects()  # the update process's, across the module's tests


def update(settings, app, project, *, resident=RESIDENT):
    """Queue an update of ``project`` and run it as the queue would; its stored summary."""
    store = app.extensions["tokenlq.store"]
    store.enqueue(project, "test", "update")
    job = store.next_queued(Lane.WRITE)
    run_job(settings, job, resident=resident)
    done = store.job(job.id)
    assert done.status is JobStatus.DONE, done.reason
    return done.summary


def deliver(app, events) -> None:
    web = app.test_client()
    for body in events:
        assert web.post("/webhook", json=body).status_code == 200


def ours(task):
    return [p for p in task["predictions"] if p["model_version"] == MODEL_VERSION]


def without_prediction_ids(tasks):
    return [dict(t, predictions=[dict(p, id=None) for p in t["predictions"]]) for t in tasks]


def edit(client, ls, ids, *, seed):
    """Annotators at work: an annotation emptied, one created, one deleted, a task deleted, two
    pre-annotated tasks imported (only TASKS_CREATED tells of them); the new task ids."""
    rng = random.Random(seed)
    tasks = {t["id"]: t for t in ls.tasks() if t["id"] in ids}
    annotated = sorted(i for i, t in tasks.items() if t["annotations"])
    emptied, deleted, gone = rng.sample(annotated, 3)
    client.annotations.update(id=tasks[emptied]["annotations"][0]["id"], result=[])
    fresh = next(i for i in sorted(tasks) if not tasks[i]["annotations"])
    source = tasks[annotated[0]]["annotations"][0]["result"]
    client.annotations.create(id=fresh, result=source, ground_truth=False)
    client.annotations.delete(id=tasks[deleted]["annotations"][0]["id"])
    client.tasks.delete(id=str(gone))
    ids.remove(gone)
    corpus = make_ner_corpus(2, error_rate=0.0, seed=seed)
    new = list(client.projects.import_tasks(id=ls.id, return_task_ids=True,
                                            request=corpus_tasks(corpus)).task_ids)
    ids += new
    return new


def assert_as_a_full_rescoring(settings, app, ls):
    """The project is in exactly the state a full rescoring with the stored fit gives: one
    prediction of ours per scored task, with the content a full read scores, and the copy equal
    to Label Studio's tasks."""
    store = app.extensions["tokenlq.store"]
    tasks = ls.tasks()
    full = rescore(ls, run_options(settings, {}, "update", store=store),
                   reviews=store.reviews(ls.id), tasks=ProjectCopy.from_tasks(tasks).sorted_tasks())
    assert (full.summary.written, full.summary.updated, full.summary.removed) == (0, 0, 0)
    assert store.predictions(ls.id, full.predictions) == full.predictions
    assert all(len(ours(t)) == (t["id"] in full.predictions) for t in tasks)
    assert without_prediction_ids(store.load_copy(ls.id).sorted_tasks()) == \
        without_prediction_ids(ProjectCopy.from_tasks(tasks).sorted_tasks())


@pytest.mark.parametrize("resident", [RESIDENT, None], ids=["kept", "loaded"])
def test_events_update_the_copy_and_write_what_a_full_read_would(events_project, resident):
    client, ls, ids, recorder, settings, app = events_project
    first = update(settings, app, ls.id, resident=resident)
    assert first["read"].pop("seconds") > 0
    if first["read"]["how"] == "full":  # the module's first update
        assert first["read"] == {"how": "full", "why": "no copy yet", "tasks_read": len(ids),
                                 "kept": False}
    else:
        assert first["read"] == {"how": "copy", "events": 0, "tasks_read": 0,
                                 "kept": resident is not None, "settings_kept": resident is not None}
    assert recorder.take() == []  # the backend's writes send no event
    new = edit(client, ls, ids, seed=1)
    events = recorder.take()
    assert [e["action"] for e in events] == ["ANNOTATION_UPDATED", "ANNOTATION_CREATED",
                                             "ANNOTATIONS_DELETED", "TASKS_DELETED", "TASKS_CREATED"]
    deliver(app, events)
    summary = update(settings, app, ls.id, resident=resident)
    # Only the imported tasks were read; the rest came from the events. The project's settings
    # each event carries are those Label Studio's API answered the kept run: not asked again.
    assert summary["read"].pop("seconds") > 0
    assert summary["read"] == {"how": "copy", "events": 5, "tasks_read": len(new),
                               "kept": resident is not None, "settings_kept": resident is not None}
    # The imported tasks and the one first annotated get ours; the edited ones are updated.
    assert summary["written"] == len(new) + 1 and summary["updated"] >= 1
    assert_as_a_full_rescoring(settings, app, ls)
    # Tasks read by id come as the full read gives them, with their predictions.
    tasks = ProjectCopy.from_tasks(ls.tasks()).sorted_tasks()
    assert ProjectCopy.from_tasks(ls.tasks_by_id([t["id"] for t in tasks[:3]])).sorted_tasks() \
        == tasks[:3] and all(ours(t) for t in tasks[:3])


def test_lost_and_reordered_events_are_healed_by_the_next_reconciliation(events_project):
    client, ls, ids, recorder, settings, app = events_project
    store = app.extensions["tokenlq.store"]
    update(settings, app, ls.id)
    recorder.take()
    edit(client, ls, ids, seed=2)
    events = recorder.take()
    kept = [e for e in events if e["action"] not in ("ANNOTATIONS_DELETED", "TASKS_CREATED")]
    random.Random(2).shuffle(kept)
    deliver(app, kept)  # two lost, the rest out of order
    summary = update(settings, app, ls.id)
    assert summary["read"]["how"] == "copy"  # nothing told the backend what it missed
    client.views.delete(id=str(ls.issues_view()))  # nor that someone deleted the tab
    healer = Healer(store, app.extensions["tokenlq.queue"], 1e-6, start=False)
    assert healer.due() == [ls.id]
    healed = update(settings, app, ls.id)
    assert healed["read"]["how"] == "full" and healed["read"]["why"] == "the reconciliation schedule"
    assert healed["read"]["kept"]  # the full read is compared with the kept copy
    assert healed["written"] == 2  # the imported tasks the lost event told of
    assert ls.issues_view() == healed["view"]  # the tab is back
    assert_as_a_full_rescoring(settings, app, ls)


def test_an_event_the_copy_cannot_place_makes_the_update_read_the_project(events_project):
    client, ls, ids, recorder, settings, app = events_project
    update(settings, app, ls.id)
    recorder.take()
    corpus = make_ner_corpus(1, error_rate=0.0, seed=9)
    for task in (tasks := corpus_tasks(corpus)):
        task.pop("annotations")
    new = list(client.projects.import_tasks(id=ls.id, return_task_ids=True, request=tasks).task_ids)
    result = ls.tasks_by_id([ids[0]])[0]["annotations"][0]["result"]
    client.annotations.create(id=new[0], result=result, ground_truth=False)
    ids += new
    events = recorder.take()
    assert [e["action"] for e in events] == ["TASKS_CREATED", "ANNOTATION_CREATED"]
    deliver(app, events[1:])  # the import's event lost: the annotation is of a task unknown
    summary = update(settings, app, ls.id)
    assert summary["read"]["how"] == "full"
    assert summary["read"]["why"] == f"a gap: an annotation of task {new[0]}, which the copy does not have"
    assert_as_a_full_rescoring(settings, app, ls)
