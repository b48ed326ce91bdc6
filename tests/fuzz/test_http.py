"""Every HTTP endpoint under generated input: schemathesis cases from the backend's own
/openapi.json (valid and invalid by the schema) and hypothesis strategies for raw bodies,
paths and the /predict payloads that reach the pre-annotating model. Label Studio is down
(nothing listens at its URL) the whole time: no answer may be a 5xx, every 4xx is a JSON body
with a message, and a job queued meanwhile fails with a reason. The number of cases tried is
printed at the end of the run ("fuzz cases tried")."""

import base64
import json
import socket
import time

import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings, strategies as st
from schemathesis.generation import GenerationMode

pytest.importorskip("flask")  # the backend extra; without it this module skips

from tokenlq_backend import create_app  # noqa: E402
from tokenlq_backend.openapi import SPEC
from tokenlq_backend.auth import WEBHOOK_SECRET_HEADER
from tokenlq_backend.settings import Settings


EXAMPLES = 100  # per operation and generation mode
SECRET = "fuzz-webhook-secret"
CREDENTIALS = {"Authorization": "Basic " + base64.b64encode(b"ls:fuzz-pass").decode(),
               WEBHOOK_SECRET_HEADER: SECRET}
CONFIG = ('<View><Labels name="label" toName="text"><Label value="PER"/><Label value="LOC"/>'
          '<Label value="ORG"/><Label value="MISC"/></Labels><Text name="text" value="$text"/></View>')
FAST = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again on return: Label Studio is "down"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from tokenlq_backend.fits import ProjectFit, save_fit
    from tokenlq.model import out_of_sample_probs
    from tokenlq.synthetic import make_ner_corpus

    data_dir = tmp_path_factory.mktemp("fuzz")
    corpus = make_ner_corpus(40, error_rate=0.0, seed=5)
    tags = [[corpus.class_names[k] for k in s] for s in corpus.labels]
    probs, fitted = out_of_sample_probs(corpus.tokens, tags, corpus.class_names, model="crf",
                                        folds=2, return_model=True)
    # Project 1 has a fit, so /predict pre-annotates its unannotated tasks with a real model.
    save_fit(data_dir, 1, ProjectFit("crf", corpus.class_names, np.arange(40), [""] * 40,
                                     [""] * 40, np.zeros(41, dtype=np.int64), probs, fitted))
    app = create_app(Settings(label_studio_url=f"http://127.0.0.1:{closed_port()}",
                              label_studio_api_key="fuzz-api-key", basic_auth_user="ls",
                              basic_auth_pass="fuzz-pass", webhook_secret=SECRET,
                              data_dir=data_dir, max_request_bytes=256 * 1024))
    yield app
    app.extensions["tokenlq.queue"].stop()


def check_answer(response, what) -> None:
    status = response.status_code
    assert status < 500, f"{what}: {status} {response.get_data(as_text=True)[:500]}"
    if status >= 400:
        body = response.get_json(silent=True)
        assert isinstance(body, dict) and body.get("error"), f"{what}: {status} without a message"
    response.close()  # a streamed file (plotly.min.js) stays open otherwise


def operations():
    """(operation, mode) for every operation of /openapi.json; invalid cases only where the
    operation takes input to make invalid (a body or parameters)."""
    schema = schemathesis.openapi.from_dict(SPEC)  # what GET /openapi.json serves
    cases = []
    for result in schema.get_all_operations():
        op = result.ok()
        cases.append(pytest.param(op, GenerationMode.POSITIVE, id=f"{op.label} valid"))
        if len(op.body) or len(op.path_parameters) or len(op.query):
            cases.append(pytest.param(op, GenerationMode.NEGATIVE, id=f"{op.label} invalid"))
    return cases


@pytest.mark.parametrize("operation, mode", operations())
def test_openapi_operations_never_answer_5xx(app, operation, mode, count_cases):
    client = app.test_client()

    @FAST
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case):
        count_cases(f"schemathesis {mode.value}")
        kwargs = case.as_transport_kwargs(base_url="")
        headers = {**CREDENTIALS, **(kwargs.get("headers") or {})}
        body = {"json": kwargs["json"]} if "json" in kwargs else {"data": kwargs.get("data")}
        response = client.open(kwargs["url"], method=kwargs["method"], headers=headers,
                               query_string=kwargs.get("params"), **body)
        check_answer(response, f"{case.method} {case.formatted_path}")

    check()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
    | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=25)
projects = st.one_of(st.integers(-5, 2**70), st.text(max_size=12), st.none(),
                     st.just("1.1795813158"), st.dictionaries(st.just("id"), json_values))
POSTS = ["/setup", "/predict", "/webhook", "/projects/1/rescore"]


@FAST
@given(path=st.sampled_from(POSTS),
       body=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode),
                      json_values.map(lambda v: json.dumps(v).encode()),
                      # nested far deeper than the JSON parser recurses (once a 500)
                      st.builds(lambda opener, depth, tail: (opener * depth + tail).encode(),
                                st.sampled_from(["[", '{"a":', '{"tasks":[', "[{}, "]),
                                st.integers(500, 200_000), st.sampled_from(["", "1", "]"]))),
       content_type=st.sampled_from(["application/json", "text/plain", "",
                                     "application/json; charset=latin-1"]))
def test_raw_bodies_are_answered_with_a_4xx_message(app, path, body, content_type, count_cases):
    count_cases("raw bodies")
    response = app.test_client().post(path, data=body, content_type=content_type, headers=CREDENTIALS)
    check_answer(response, f"POST {path} {body[:80]!r}")


@FAST
@given(body=st.fixed_dictionaries({
    "project": projects, "schema": st.one_of(st.just(CONFIG), st.text(max_size=200), json_values),
    "extra_params": st.one_of(json_values, st.fixed_dictionaries({
        "probs": st.one_of(st.sampled_from(["auto", "task", "crf", "prediction:", "prediction:x"]),
                           json_values),
        "refit_fraction": st.one_of(st.floats(), json_values)}))}))
def test_setup_with_wrong_types_and_configs(app, body, count_cases):
    count_cases("setup payloads")
    check_answer(app.test_client().post("/setup", json=body, headers=CREDENTIALS), f"/setup {body}")


texts = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=80)
annotations = st.lists(st.fixed_dictionaries(
    {"result": st.one_of(st.just([]), json_values), "was_cancelled": st.booleans()},
    optional={"id": json_values, "updated_at": json_values, "ground_truth": json_values}), max_size=3)
tasks = st.fixed_dictionaries({"id": st.integers(-2**63, 2**63 - 1)}, optional={
    "data": st.one_of(st.fixed_dictionaries({"text": st.one_of(texts, json_values)}), json_values),
    "annotations": st.one_of(json_values, annotations)})


@FAST
@given(body=st.fixed_dictionaries({
    "project": st.one_of(st.just("1.1795813158"), projects),
    "tasks": st.one_of(st.lists(tasks, min_size=1, max_size=8), json_values)},
    optional={"label_config": st.one_of(st.just(CONFIG), st.text(max_size=100), json_values)}))
def test_predict_with_generated_tasks_never_answers_5xx(app, body, count_cases):
    count_cases("predict payloads")
    response = app.test_client().post("/predict", json=body, headers=CREDENTIALS)
    check_answer(response, f"/predict {body}")
    if response.status_code == 200:
        assert len(response.get_json()["results"]) == len(body["tasks"])


def test_predict_pre_annotates_generated_texts_with_the_fitted_model(app, monkeypatch, count_cases):
    """Unannotated tasks (none, or only skipped annotations with ids of any type) of project 1,
    which has a fit: the model tags every text, and every region it proposes lies inside the
    text, quotes it and carries a label of the config."""
    from tokenlq.model import FittedModel

    calls, tag = [], FittedModel.predict_probs
    monkeypatch.setattr(FittedModel, "predict_probs",
                        lambda self, *a, **k: calls.append(1) or tag(self, *a, **k))
    skipped = st.lists(st.fixed_dictionaries({"result": st.just([]), "was_cancelled": st.just(True)},
                                             optional={"id": json_values}), max_size=2)
    fresh = st.fixed_dictionaries({"id": st.integers(0, 2**63 - 1), "data": st.fixed_dictionaries(
        {"text": st.one_of(texts, st.just("Peter Novak visited Cairo ."))})},
        optional={"annotations": skipped})

    @FAST
    @given(batch=st.lists(fresh, min_size=1, max_size=8, unique_by=lambda t: t["id"]))
    def check(batch):
        count_cases("predict pre-annotations")
        response = app.test_client().post("/predict", headers=CREDENTIALS, json={
            "project": "1.1795813158", "label_config": CONFIG, "tasks": batch})
        check_answer(response, f"/predict {batch}")
        results = response.get_json()["results"]
        assert len(results) == len(batch)
        for task, prediction in zip(batch, results):
            text = task["data"]["text"]
            for region in prediction["result"]:
                value = region["value"]
                assert 0 <= value["start"] < value["end"] <= len(text)
                assert value["text"] == text[value["start"]:value["end"]]
                assert value["labels"][0] in ("PER", "LOC", "ORG", "MISC")

    check()
    assert len(calls) >= EXAMPLES // 2, f"the model tagged only {len(calls)} batches"


@FAST
@given(segment=st.one_of(st.integers(-2**70, 2**70).map(str), st.text(max_size=20)),
       route=st.sampled_from(["/projects/{}/jobs", "/projects/{}/summary", "/projects/{}/summary.html",
                              "/projects/{}/history", "/projects/{}/dashboard", "/jobs/{}",
                              "/projects/{}/history?format=csv", "/projects/{}/summary?format=csv"]))
def test_generated_paths_are_answered_without_a_5xx(app, segment, route, count_cases):
    count_cases("paths")
    from urllib.parse import quote

    response = app.test_client().get(route.format(quote(segment, safe="")), headers=CREDENTIALS)
    check_answer(response, route.format(segment))


@FAST
@given(event=st.fixed_dictionaries({"action": st.one_of(
    st.sampled_from(["ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED",
                     "TASKS_CREATED", "TASKS_DELETED", "START_TRAINING", "PROJECT_UPDATED"]),
    json_values), "project": projects}),
    secret=st.one_of(st.just(SECRET), st.text(st.characters(min_codepoint=32, max_codepoint=126),
                                              max_size=30)))
def test_webhook_events_with_any_secret_and_project(app, event, secret, count_cases):
    count_cases("webhook events")
    response = app.test_client().post("/webhook", json=event,
                                      headers={WEBHOOK_SECRET_HEADER: secret})
    check_answer(response, f"/webhook {event}")


def test_chunked_bodies_are_refused_with_411(app):
    for path in POSTS:
        response = app.test_client().post(path, data=b"{}", headers={
            **CREDENTIALS, "Transfer-Encoding": "chunked", "Content-Type": "application/json"})
        assert response.status_code == 411 and "Content-Length" in response.get_json()["error"]


def test_oversized_bodies_are_refused_on_every_post(app):
    big = json.dumps({"tasks": [{"id": i, "data": {"text": "x" * 100}} for i in range(3000)]})
    for path in POSTS:
        response = app.test_client().post(path, data=big, content_type="application/json",
                                          headers=CREDENTIALS)
        assert response.status_code == 413 and "too large" in response.get_json()["error"].lower()


def test_jobs_queued_while_label_studio_is_down_fail_with_a_reason(app):
    """A rescore queued behind the jobs the cases above queued (file order) fails with the
    connection error as its reason, and no secret in it."""
    store = app.extensions["tokenlq.store"]
    client = app.test_client()
    job = client.post("/projects/1/rescore", headers=CREDENTIALS).get_json()["job"]
    # One job at a time, each a few seconds of the SDK's own retries: wait by the queue's length.
    ahead = sum(row["n"] for row in store.counts() if row["status"] in ("queued", "running"))
    deadline = time.time() + 60 + 10 * ahead
    while store.job(job).status in ("queued", "running") and time.time() < deadline:
        time.sleep(0.5)
    found = client.get(f"/jobs/{job}", headers=CREDENTIALS).get_json()
    assert found["status"] == "failed" and "Connect" in found["reason"], found
    assert "fuzz-api-key" not in json.dumps(found)
