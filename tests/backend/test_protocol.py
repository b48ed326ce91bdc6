"""The ML backend protocol endpoints, authentication and error answers (Flask test client)."""

import base64
import logging
import tempfile
from pathlib import Path

import numpy as np
import pytest

from tokenlq_backend import create_app
from tokenlq_backend.auth import WEBHOOK_SECRET_HEADER
from tokenlq_backend.copies import settings_digest
from tokenlq_backend.protocol import MODEL_VERSION
from tokenlq_backend.settings import Settings

CONFIG = ('<View><Labels name="label" toName="text"><Label value="PER"/><Label value="LOC"/>'
          '</Labels><Text name="text" value="$text"/></View>')


def client(**settings):
    data_dir = Path(tempfile.mkdtemp(prefix="tokenlq-test-"))
    return create_app(Settings(data_dir=data_dir, **settings), start_queue=False).test_client()


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_setup_versions():
    c = client()
    answer = c.post("/setup", json={"project": "3.1795813158", "schema": CONFIG})
    assert answer.status_code == 200 and answer.get_json() == {"model_version": MODEL_VERSION}
    assert c.get("/versions").get_json() == {"versions": [MODEL_VERSION]}


@pytest.mark.parametrize("schema, message", [
    ("<View><Choices name='c' toName='text'/><Text name='text' value='$text'/></View>", "no <Labels>"),
    ("<View><Labels name='l' toName='img'><Label value='A'/></Labels><Text name='t' value='$text'/></View>",
     "no <Labels> control points at a <Text>"),
    ("<View><Labels", "not valid XML"),
    ("", "empty"),
])
def test_setup_rejects_configs_it_cannot_serve_with_the_reason(schema, message):
    answer = client().post("/setup", json={"project": "1.2", "schema": schema})
    assert answer.status_code == 422 and message in answer.get_json()["error"]


@pytest.mark.parametrize("body", ['{"project": ', "[1, 2]", '"text"', b"\xff\xfe{"])
def test_malformed_json_is_a_400_with_a_message(body):
    answer = client().post("/setup", data=body, content_type="application/json")
    assert answer.status_code == 400 and "JSON object" in answer.get_json()["error"]


@pytest.mark.parametrize("path", ["/setup", "/predict", "/webhook"])
@pytest.mark.parametrize("body", ["[" * 100_000, '{"a":' * 100_000, "[" * 100_000 + "]" * 100_000,
                                  '{"tasks": ' + "[" * 5_000])
def test_json_nested_at_any_depth_is_a_400_not_a_server_error(path, body, caplog):
    # Was a 500: json.loads raised RecursionError, which no handler took for the client's.
    answer = client().post(path, data=body, content_type="application/json")
    assert answer.status_code == 400, answer.get_data(as_text=True)[:300]
    assert "nested too deeply" in answer.get_json()["error"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # no traceback logged


def test_bad_project_and_tasks_are_400():
    c = client()
    assert c.post("/setup", json={"project": "abc", "schema": CONFIG}).status_code == 400
    assert c.post("/predict", json={"tasks": []}).status_code == 400
    for task_id in ("x", True, 1.0, -1, 2**63):
        answer = c.post("/predict", json={"tasks": [{"id": task_id}]})
        assert answer.status_code == 400 and "integer 'id'" in answer.get_json()["error"], task_id


def test_predict_takes_annotations_with_ids_of_any_type():  # was a 500 (found in review)
    answer = client().post("/predict", json={"project": "1", "tasks": [
        {"id": 5, "annotations": [{"id": "a", "result": []}, {"id": 1, "result": []}]}]})
    assert answer.status_code == 200 and len(answer.get_json()["results"]) == 1


def test_predict_answers_one_entry_per_task_in_order():
    answer = client().post("/predict", json={"tasks": [{"id": 4}, {"id": 5}], "project": "1.2"})
    results = answer.get_json()["results"]
    assert len(results) == 2 and all(r["model_version"] == MODEL_VERSION for r in results)


def test_oversized_bodies_are_refused():
    answer = client(max_request_bytes=1000).post("/predict", data="x" * 5000,
                                                 content_type="application/json")
    assert answer.status_code == 413 and "error" in answer.get_json()


def test_basic_auth_protects_everything_but_health():
    c = client(basic_auth_user="ls", basic_auth_pass="s3cret")
    assert c.get("/health").status_code != 401
    event = {"action": "ANNOTATION_CREATED", "project": {"id": 1}}
    assert c.post("/webhook", json=event).status_code == 401
    assert c.post("/webhook", json=event, headers=basic("ls", "s3cret")).status_code == 200
    for method, path in (("post", "/setup"), ("post", "/predict"), ("get", "/versions")):
        call = getattr(c, method)
        assert call(path, json={}).status_code == 401
        assert call(path, json={}, headers=basic("ls", "wrong")).status_code == 401
        assert call(path, json={}, headers=basic("ls", "s3cret")).status_code != 401
    assert c.get("/versions", headers=basic("ls", "s3cret")).status_code == 200


def test_webhook_secret_is_required_when_set():
    c = client(webhook_secret="hook-secret")
    event = {"action": "ANNOTATION_CREATED", "project": {"id": 1}}
    assert c.post("/webhook", json=event).status_code == 401
    assert c.post("/webhook", json=event, headers={WEBHOOK_SECRET_HEADER: "nope"}).status_code == 401
    assert c.post("/webhook", json=event, headers={WEBHOOK_SECRET_HEADER: "hook-secret"}).status_code == 200
    assert c.post("/webhook", json={"no": "action"},
                  headers={WEBHOOK_SECRET_HEADER: "hook-secret"}).status_code == 400


# Who may call /webhook (docs/labelstudio.md, "Who may call /webhook"): for each configuration, the
# credentials that let an event through and those that let the Train button's call through.
CONFIGURATIONS = {
    "neither": ({}, {"none", "basic", "wrong basic", "secret", "wrong secret", "both"},
                {"none", "basic", "wrong basic", "secret", "wrong secret", "both"}),
    "basic only": ({"basic_auth_user": "u", "basic_auth_pass": "p"}, {"basic", "both"},
                   {"basic", "both"}),
    "secret only": ({"webhook_secret": "hook-secret"}, {"secret", "both"}, set()),
    "both": ({"basic_auth_user": "u", "basic_auth_pass": "p", "webhook_secret": "hook-secret"},
             {"secret", "both"}, {"basic", "both"}),
}
CREDENTIALS = {"none": {}, "basic": basic("u", "p"), "wrong basic": basic("u", "q"),
               "secret": {WEBHOOK_SECRET_HEADER: "hook-secret"},
               "wrong secret": {WEBHOOK_SECRET_HEADER: "hook-secreT"},
               "both": {**basic("u", "p"), WEBHOOK_SECRET_HEADER: "hook-secret"}}


@pytest.mark.parametrize("configured", CONFIGURATIONS)
@pytest.mark.parametrize("action", ["ANNOTATION_CREATED", "START_TRAINING"])
@pytest.mark.parametrize("credential", CREDENTIALS)
def test_who_may_call_the_webhook(configured, action, credential):
    settings, events, training = CONFIGURATIONS[configured]
    c = client(**settings)
    answer = c.post("/webhook", json={"action": action, "project": {"id": 1}},
                    headers=CREDENTIALS[credential])
    passes = credential in (training if action == "START_TRAINING" else events)
    if passes:
        assert answer.status_code == 200 and answer.get_json()["status"] == "queued"
    elif configured == "secret only" and action == "START_TRAINING":
        assert answer.status_code == 403
        assert "BASIC_AUTH_USER and BASIC_AUTH_PASS" in answer.get_json()["error"]
    else:
        assert answer.status_code == 401 and "error" in answer.get_json()
    assert len(c.application.extensions["tokenlq.store"].jobs(1)) == int(passes)


@pytest.mark.parametrize("configured", CONFIGURATIONS)
def test_the_header_given_to_label_studios_webhook_lets_its_events_through(configured):
    from tokenlq_backend.auth import webhook_headers

    settings = Settings(**CONFIGURATIONS[configured][0])
    headers = webhook_headers(settings)
    assert headers == {"neither": {}, "basic only": basic("u", "p"),
                       "secret only": {WEBHOOK_SECRET_HEADER: "hook-secret"},
                       "both": {WEBHOOK_SECRET_HEADER: "hook-secret"}}[configured]
    event = {"action": "ANNOTATIONS_DELETED", "project": {"id": 2}}
    assert client(**CONFIGURATIONS[configured][0]).post("/webhook", json=event,
                                                       headers=headers).status_code == 200


def test_unknown_routes_and_methods_answer_json():
    c = client()
    assert c.get("/nope").status_code == 404 and "error" in c.get("/nope").get_json()
    assert c.get("/predict").status_code == 405


def test_settings_from_the_environment_and_secrets_out_of_repr():
    s = Settings.from_env({"LABEL_STUDIO_URL": "http://ls:8080/", "LABEL_STUDIO_HOST": "http://other",
                           "LABEL_STUDIO_API_KEY": "api-key-123", "BASIC_AUTH_USER": "u",
                           "BASIC_AUTH_PASS": "pass-456", "TOKENLQ_WEBHOOK_SECRET": "hook-789",
                           "PORT": "9191", "TOKENLQ_PROBS": "prediction:v2",
                           "TOKENLQ_BULK_TIMEOUT": "600", "TOKENLQ_WRITES_PER_RUN": "40",
                           "DATABASE_URL": "postgresql://tokenlq:db-pass-0@db:5432/tokenlq"})
    assert s.label_studio_url == "http://ls:8080" and s.public_url == "http://ls:8080"
    assert s.label_studio_bulk_timeout == 600.0 and s.writes_per_run == 40
    assert s.port == 9191 and s.probs == "prediction:v2"
    assert s.database_url == "postgresql://tokenlq:db-pass-0@db:5432/tokenlq"
    assert not any(secret in repr(s) for secret in ("api-key-123", "pass-456", "hook-789", "db-pass-0"))
    for env, message in (({"LABEL_STUDIO_URL": "ls:8080"}, "http://"),
                         ({"BASIC_AUTH_USER": "u"}, "BASIC_AUTH_PASS"),
                         ({"PORT": "x"}, "PORT"), ({"TOKENLQ_PROBS": "magic"}, "TOKENLQ_PROBS"),
                         ({"TOKENLQ_BULK_TIMEOUT": "0"}, "TOKENLQ_BULK_TIMEOUT must be a positive"),
                         ({"TOKENLQ_WRITES_PER_RUN": "0"}, "TOKENLQ_WRITES_PER_RUN must be at least 1"),
                         ({"DATABASE_URL": "mysql://u:p@db/t"}, "must name a PostgreSQL database"),
                         ({"DATABASE_URL": "db:5432"}, "must be a URL such as postgresql://")):
        with pytest.raises(ValueError, match=message) as raised:
            Settings.from_env(env)
        assert ":p@" not in str(raised.value)  # never the URL's password


def test_webhook_bursts_coalesce_into_one_queued_job_per_project():
    c = client()
    jobs = {c.post("/webhook", json={"action": "ANNOTATION_UPDATED", "project": {"id": 7}}).get_json()["job"]
            for _ in range(100)}
    assert len(jobs) == 1
    other = c.post("/webhook", json={"action": "TASKS_CREATED", "project": {"id": 8}}).get_json()["job"]
    assert other not in jobs
    status = c.get(f"/jobs/{jobs.pop()}").get_json()
    assert status["status"] == "queued" and status["events"] == 100 and status["project"] == 7
    # The backend's own write of the model version: its settings are kept, no job is queued.
    store = c.application.extensions["tokenlq.store"]
    answer = c.post("/webhook", json={"action": "PROJECT_UPDATED", "project": {
        "id": 7, "token": "secret", "title": "NER", "label_config": "<View/>", "model_version": "v"}})
    assert answer.get_json() == {"status": "kept", "action": "PROJECT_UPDATED"}
    assert store.events(7)[-1][1:] == ("PROJECT_UPDATED", {"project": settings_digest(
        {"title": "NER", "label_config": "<View/>", "model_version": "v"})})
    assert len(store.jobs(7)) == 1
    assert c.post("/webhook", json={"action": "LABEL_LINK_CREATED", "project": {"id": 7}}).get_json()[
        "status"] == "ignored"


def test_rescore_endpoint_and_job_status():
    c = client()
    answer = c.post("/projects/5/rescore")
    assert answer.status_code == 202
    job = c.get(answer.get_json()["status_url"]).get_json()
    assert job["project"] == 5 and job["trigger"] == "api" and job["status"] == "queued"
    assert c.get("/jobs/999").status_code == 404


def test_summary_of_an_unscored_project_is_a_404_with_the_way_out():
    answer = client().get("/projects/3/summary")
    assert answer.status_code == 404 and "/projects/3/rescore" in answer.get_json()["error"]


def test_openapi_describes_every_route():
    c = client()
    spec = c.get("/openapi.json").get_json()
    app = c.application
    routes = {str(rule).replace("<id:", "{").replace(">", "}") for rule in app.url_map.iter_rules()
              if rule.endpoint != "static"}
    assert routes == set(spec["paths"])
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            assert operation["responses"], (path, method)


def test_setup_keeps_extra_params_per_project_and_refuses_unknown_ones():
    c = client()
    store = c.application.extensions["tokenlq.store"]
    ok = c.post("/setup", json={"project": "3.1", "schema": CONFIG,
                                "extra_params": {"probs": "prediction:v2", "refit_fraction": 0.2}})
    assert ok.status_code == 200 and store.params(3) == {"probs": "prediction:v2", "refit_fraction": 0.2}
    assert store.params(4) == {}
    for params, message in [({"prob": "crf"}, "unknown extra_params ['prob']"),
                            ({"probs": "gpt"}, "auto, task, crf or prediction"),
                            ({"refit_fraction": 2}, "refit_fraction must be a number from 0 to 1"),
                            ([1], "extra_params must be an object")]:
        answer = c.post("/setup", json={"project": "3.1", "schema": CONFIG, "extra_params": params})
        assert answer.status_code == 422 and message in answer.get_json()["error"], answer.get_json()
    assert store.params(3)["probs"] == "prediction:v2"  # a refused setup changes nothing
    # The first setup of a project queued its first scoring; later ones queue nothing more.
    assert [(j.kind, j.trigger) for j in store.jobs(3)] == [("update", "setup")]
    c.post("/setup", json={"project": "3.1", "schema": CONFIG, "extra_params": None})
    assert store.params(3) == {}


def test_webhooks_queue_updates_and_the_train_button_a_rescore_in_the_write_lane():
    c = client()
    store = c.application.extensions["tokenlq.store"]
    update = c.post("/webhook", json={"action": "ANNOTATION_CREATED", "project": {"id": 9}}).get_json()["job"]
    assert store.job(update).kind == "update"
    train = c.post("/webhook", json={"action": "START_TRAINING", "project": {"id": 9}}).get_json()["job"]
    assert train == update and store.job(update).kind == "rescore"  # the waiting job grows
    refit, new = store.enqueue(9, "api", "refit")  # another lane: its own job
    assert new and refit != update
    assert store.next_queued("fit").id == refit and store.next_queued("fit") is None
    assert store.next_queued("write").id == update
    assert [j["id"] for j in c.get("/projects/9/jobs").get_json()["jobs"]] == [refit, update]


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_predict_pre_annotates_unannotated_tasks_from_the_last_fit(tmp_path, request, database):
    """The web process answers from the fit a run saved: on SQLite from the shared data folder;
    with DATABASE_URL from the database, the run having saved it from another folder (host)."""
    from tokenlq_backend.fits import ProjectFit, save_fit
    from tokenlq_backend.storage import Store
    from tokenlq.model import out_of_sample_probs
    from tokenlq.synthetic import make_ner_corpus

    corpus = make_ner_corpus(60, error_rate=0.0, seed=2)
    tags = [[corpus.class_names[k] for k in s] for s in corpus.labels]
    probs, fitted = out_of_sample_probs(corpus.tokens, tags, corpus.class_names, model="crf",
                                        folds=3, return_model=True)
    url = request.getfixturevalue("database_url") if database == "postgresql" else ""
    app = create_app(Settings(data_dir=tmp_path, database_url=url), start_queue=False)
    run_dir = tmp_path / "worker" if url else tmp_path  # where the run that fitted it wrote
    c = app.test_client()
    config = ('<View><Labels name="label" toName="text">' + "".join(
        f'<Label value="{t}"/>' for t in ("PER", "ORG", "LOC", "MISC"))
        + '</Labels><Text name="text" value="$text"/></View>')
    body = {"project": "6.1", "label_config": config, "tasks": [
        {"id": 1, "data": {"text": "Peter Novak visited Cairo ."}},
        {"id": 2, "data": {"text": "x"}, "annotations": [{"result": [], "was_cancelled": False}]}]}
    assert c.post("/predict", json=body).get_json()["results"][0]["result"] == []  # no fit yet
    save_fit(run_dir, 6, ProjectFit("crf", corpus.class_names, np.arange(60), [""] * 60, [""] * 60,
                                    np.zeros(61, dtype=np.int64), probs, fitted),
             store=Store(run_dir, url))
    first, second = c.post("/predict", json=body).get_json()["results"]
    assert {(r["value"]["text"], r["value"]["labels"][0]) for r in first["result"]} == \
        {("Peter Novak", "PER"), ("Cairo", "LOC")}
    assert second["result"] == []  # annotated tasks are never pre-annotated
