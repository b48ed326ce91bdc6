"""The store: a versioned schema that upgrades the databases of earlier releases, typed jobs,
coalescing under concurrent writers, and the run history in one query; on SQLite and on a real
PostgreSQL server (DATABASE_URL)."""

import json
import sqlite3
import threading
import time

import numpy as np
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from tokenlq_backend.storage import Job, JobKind, JobStatus, Lane, Store
from tokenlq_backend.storage.schema import metadata

HEAD = "0004"

# The schemas that releases before versioning created, verbatim: the first one (backend/store.py
# at a322fc6) and the last one (at 539452e, which also added kind and progress where missing).
FIRST_UNVERSIONED = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project INTEGER NOT NULL,
    trigger TEXT NOT NULL,
    status TEXT NOT NULL,          -- queued, running, done, failed
    reason TEXT,
    events INTEGER NOT NULL DEFAULT 1,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    summary TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_project ON jobs (project, status);
CREATE TABLE IF NOT EXISTS predictions (
    project INTEGER NOT NULL,
    task INTEGER NOT NULL,
    prediction TEXT NOT NULL,
    PRIMARY KEY (project, task)
);
"""
LAST_UNVERSIONED = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project INTEGER NOT NULL,
    trigger TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'rescore',  -- rescore, update or refit (see JOB_KINDS)
    status TEXT NOT NULL,          -- queued, running, done, failed
    reason TEXT,
    events INTEGER NOT NULL DEFAULT 1,
    progress TEXT,                 -- the phase a running job is in
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    summary TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_project ON jobs (project, status);
CREATE TABLE IF NOT EXISTS reviews (
    project INTEGER NOT NULL,
    task INTEGER NOT NULL,
    status TEXT NOT NULL,          -- pending, fixed, confirmed (backend.reviews)
    state TEXT NOT NULL,
    PRIMARY KEY (project, task)
);
CREATE TABLE IF NOT EXISTS project_params (
    project INTEGER PRIMARY KEY,
    params TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS predictions (
    project INTEGER NOT NULL,
    task INTEGER NOT NULL,
    prediction TEXT NOT NULL,
    PRIMARY KEY (project, task)
);
"""


ROWIDS = {("jobs", "id"), ("project_params", "project")}


def schema_problems(store) -> list:
    """How the database differs from the tables of schema.py (empty: it does not). A column
    declared INTEGER PRIMARY KEY is SQLite's rowid, never NULL, even where the unversioned
    releases' DDL did not say NOT NULL."""
    with store.engine.connect() as connection:
        found = compare_metadata(MigrationContext.configure(connection), metadata)
    return [diff for diff in found
            if not (diff[0][0] == "modify_nullable" and (diff[0][2], diff[0][3]) in ROWIDS)]


def revision(store) -> str:
    with store.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def test_a_new_database_is_at_the_newest_revision_with_the_tables_of_schema_py(open_store):
    store = open_store()
    assert revision(store) == HEAD and schema_problems(store) == []
    if store.engine.dialect.name == "sqlite":
        with sqlite3.connect(store.path) as db:
            assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    open_store()  # opening it again changes nothing
    assert revision(store) == HEAD


@pytest.mark.parametrize("ddl", [FIRST_UNVERSIONED, LAST_UNVERSIONED], ids=["first", "last"])
def test_a_database_of_an_unversioned_release_is_upgraded_with_its_rows(tmp_path, ddl):
    with sqlite3.connect(tmp_path / "tokenlq.db") as db:  # as that release's Store wrote them
        db.executescript(ddl)
        db.execute("INSERT INTO jobs (project, trigger, status, created, started, finished, "
                   "summary) VALUES (2, 'api', 'done', 10.0, 11.0, 15.5, ?)",
                   (json.dumps({"flagged": 3}),))
        db.execute("INSERT INTO jobs (project, trigger, status, created) "
                   "VALUES (2, 'ANNOTATION_CREATED', 'queued', 20.0)")
        db.execute("INSERT INTO predictions VALUES (2, 7, ?)", (json.dumps({"score": 0.5}),))
    store = Store(tmp_path)
    assert revision(store) == HEAD and schema_problems(store) == []
    done, waiting = store.job(1), store.job(2)
    assert (done.kind, done.status) == (JobKind.RESCORE, JobStatus.DONE)
    assert (waiting.trigger, waiting.status) == ("ANNOTATION_CREATED", JobStatus.QUEUED)
    assert done.summary == {"flagged": 3}
    assert [job.id for job in store.history(2)] == [1]
    assert store.predictions(2, [7, 8]) == {7: {"score": 0.5}}
    assert store.enqueue(2, "api", "rescore") == (2, False)  # coalesced into the waiting job
    assert store.job(2).events == 2 and store.enqueue(3, "api") == (3, True)
    store.set_params(2, {"probs": "crf"})
    store.save_reviews(2, {7: {"status": "pending"}})
    assert store.params(2) == {"probs": "crf"} and store.reviews(2) == {7: {"status": "pending"}}


def test_a_job_is_typed_and_its_record_is_the_json_of_the_api(open_store):
    store = open_store()
    job_id, new = store.enqueue(4, "setup", "refit")
    job = store.next_queued(Lane.FIT)
    assert new and isinstance(job, Job) and job.id == job_id and job.lane is Lane.FIT
    assert job.status is JobStatus.RUNNING and job.status == "running"
    store.finish(job_id, summary={"model": "crf"})
    record = json.loads(json.dumps(store.job(job_id).to_dict()))
    assert record == {"id": job_id, "project": 4, "trigger": "setup", "kind": "refit",
                      "status": "done", "reason": None, "events": 1, "progress": "done",
                      "created": record["created"], "started": record["started"],
                      "finished": record["finished"], "summary": {"model": "crf"}}
    assert [kind.lane for kind in JobKind] == [Lane.WRITE, Lane.WRITE, Lane.FIT]
    assert Lane.WRITE.kinds == (JobKind.RESCORE, JobKind.UPDATE)
    with pytest.raises(ValueError, match="unknown job kind 'fit'"):
        store.enqueue(4, "api", "fit")


def test_a_job_waits_until_claimed_and_is_active_until_finished(open_store):
    store = open_store()
    assert not store.waiting(5, Lane.WRITE) and not store.active(5, JobKind.UPDATE)
    store.enqueue(5, "api", "refit")
    assert not store.waiting(5, Lane.WRITE) and store.waiting(5, Lane.FIT)  # the fit lane's
    job_id, _ = store.enqueue(5, "ANNOTATION_UPDATED", "update")
    assert store.waiting(5, Lane.WRITE) and not store.waiting(6, Lane.WRITE)
    assert store.next_queued(Lane.WRITE).id == job_id
    assert not store.waiting(5, Lane.WRITE) and store.active(5, JobKind.UPDATE)  # it runs
    store.finish(job_id, summary={})
    assert not store.active(5, JobKind.UPDATE)


def test_concurrent_requests_coalesce_into_one_job_and_a_job_is_claimed_once(open_store):
    store = open_store()
    answers, claimed = [], []

    def request():
        for _ in range(20):
            answers.append(store.enqueue(5, "ANNOTATION_UPDATED", "update"))

    threads = [threading.Thread(target=request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({job_id for job_id, _ in answers}) == 1 and sum(new for _, new in answers) == 1
    assert store.jobs(5)[0].events == 160

    def lane():
        claimed.append(store.next_queued(Lane.WRITE))

    threads = [threading.Thread(target=lane) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(job.id for job in claimed if job is not None) == [answers[0][0]]


def test_the_history_is_one_query(open_store):
    store = open_store()
    for kind in ("rescore", "refit", "update", "rescore"):
        job_id, _ = store.enqueue(6, "api", kind)
        store.claim(job_id)
        store.finish(job_id, summary={"kind": kind})
    statements = []
    sa.event.listen(store.engine, "before_cursor_execute",
                    lambda conn, cursor, statement, *args: statements.append(statement))
    runs = store.history(6)
    assert [job.summary["kind"] for job in runs] == ["rescore", "update", "rescore"]
    assert len([s for s in statements if s.lstrip().startswith("SELECT")]) == 1


@pytest.mark.postgres
def test_with_a_server_database_fits_live_there_and_each_host_keeps_a_copy(tmp_path, database_url):
    from tokenlq_backend.fits import (ProjectFit, current_fit_name, load_fit, load_model,
                                      save_fit)
    from tokenlq.model import out_of_sample_probs
    from tokenlq.synthetic import make_ner_corpus

    corpus = make_ner_corpus(30, error_rate=0.0, seed=4)
    tags = [[corpus.class_names[k] for k in s] for s in corpus.labels]
    probs, fitted = out_of_sample_probs(corpus.tokens, tags, corpus.class_names, model="crf",
                                        folds=3, return_model=True)
    offsets = np.concatenate(([0], np.cumsum([len(s) for s in corpus.tokens])))

    def fit(model_name):
        return ProjectFit(model_name, corpus.class_names, np.arange(30), ["t"] * 30, ["l"] * 30,
                          offsets, probs, fitted)

    writer, reader = tmp_path / "worker", tmp_path / "web"
    writer_store, reader_store = Store(writer, database_url), Store(reader, database_url)
    assert writer_store.shared and not Store(tmp_path / "sqlite").shared
    assert load_fit(reader, 3, store=reader_store) is None
    save_fit(writer, 3, fit("crf"), store=writer_store)
    assert not (writer / "fits" / "3" / "current").exists()  # the database says which is current
    name = current_fit_name(reader, 3, store=reader_store)
    loaded = load_fit(reader, 3, store=reader_store)  # another host: unpacked from the database
    assert loaded.model_name == "crf" and loaded.token_keys == ["t"] * 30
    np.testing.assert_array_equal(loaded.probs, probs)
    np.testing.assert_array_equal(loaded.offsets, offsets)
    assert (reader / "fits" / "3" / name).is_dir()
    model = load_model(reader, 3, name, store=reader_store)
    assert model.class_names == fitted.class_names
    time.sleep(0.01)
    save_fit(writer, 3, fit("crf+encoder"), store=writer_store)  # a refit replaces it
    newer = current_fit_name(reader, 3, store=reader_store)
    assert newer != name and load_fit(reader, 3, store=reader_store).model_name == "crf+encoder"
    assert load_model(tmp_path / "third", 3, name, store=reader_store) is None  # gone from the database
    with reader_store.engine.connect() as db:
        assert db.scalar(sa.text("SELECT count(*) FROM fits")) == 1


@pytest.mark.postgres
def test_requests_while_the_database_is_down_answer_503_and_never_leak_it(tmp_path):
    """PostgreSQL stopped under a running web process: every request that needs the database
    answers 503 with Retry-After and a message without the URL; nothing answers 500."""
    from tests.e2e.live import free_port
    from tests.postgres import create_database, own_postgres
    from tokenlq_backend import create_app
    from tokenlq_backend.settings import Settings

    with own_postgres(free_port()) as server:
        url = create_database(server.url, "down")
        app = create_app(Settings(data_dir=tmp_path, database_url=url), start_queue=False)
        client = app.test_client()
        assert client.post("/webhook", json={"action": "ANNOTATION_UPDATED",
                                             "project": {"id": 3}}).status_code == 200
    # The server is stopped now.
    for answer in (client.post("/webhook", json={"action": "ANNOTATION_UPDATED", "project": {"id": 3}}),
                   client.get("/projects/3/jobs"),
                   client.post("/predict", json={"project": "3.1", "tasks": [{"id": 1, "data": {"text": "x"}}]})):
        assert answer.status_code == 503, answer.get_json()
        assert answer.headers["Retry-After"] == "5"
        assert answer.get_json() == {"error": "the backend's database is unavailable; try again shortly"}


def test_predictions_and_reviews_can_be_saved_in_part(open_store):
    store = open_store()
    store.save_predictions(3, {1: {"score": 0.1}, 2: {"score": 0.2}, 3: {"score": 0.3}})
    store.save_predictions(3, {1: {"score": 0.5}, 2: {"score": 0.9}, 4: {"score": 0.4}},
                           changed={1: [], 4: []}, removed=[3])
    # Task 2's row is as it was: only the changed and removed ones were written.
    assert store.predictions(3, [1, 2, 3, 4]) == {1: {"score": 0.5}, 2: {"score": 0.2},
                                                  4: {"score": 0.4}}
    store.save_reviews(3, {1: {"status": "pending"}, 2: {"status": "fixed"}})
    before = store.reviews(3)
    store.save_reviews(3, {2: {"status": "fixed", "at": 1}, 5: {"status": "pending"}},
                       previous=before)
    assert store.reviews(3) == {2: {"status": "fixed", "at": 1}, 5: {"status": "pending"}}
