"""Who may call what: Basic authentication on every route but /health and /webhook (found by
walking the app's URL map, so a new route is covered the day it is added; /webhook has its own
rule, tested cell by cell in test_protocol.py), secrets compared in constant time, forged and
replayed webhooks, and user text escaped on every page."""

import base64
import re
import time

import pytest

from tokenlq_backend import auth
from tokenlq_backend.auth import WEBHOOK_SECRET_HEADER
from tokenlq_backend.openapi import SPEC
from tokenlq_backend.settings import Settings

OPEN = {"/health"}
OWN_RULE = {"/webhook"}  # test_protocol.py::test_who_may_call_the_webhook
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def settings(tmp_path):
    return Settings(data_dir=tmp_path / "data", basic_auth_user="ls", basic_auth_pass="s3cret",
                    webhook_secret="hook")


def routes(app):
    """(method, path) of every route, its placeholders filled with 1."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = rule.build({name: 1 for name in rule.arguments}, append_unknown=False)[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, path


def test_the_url_map_and_openapi_json_list_the_same_operations(app):
    # Flask's "/projects/<int:project>/summary" is OpenAPI's "/projects/{project}/summary".
    served = {(re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule.rule), method.lower())
              for rule in app.url_map.iter_rules() if rule.endpoint != "static"
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, item in SPEC["paths"].items()
                  for method in item if method in HTTP_METHODS}
    assert served - documented == set(), "served but not in openapi.json"
    assert documented - served == set(), "in openapi.json but not served"


def test_every_route_but_health_and_webhook_requires_basic_auth(app, client):
    c = client
    for method, path in routes(app):
        call = lambda **kw: c.open(path, method=method, json={}, **kw)  # noqa: E731
        if path in OWN_RULE:
            continue
        if path in OPEN:
            assert call().status_code != 401, path
            continue
        for headers in ({}, basic("ls", "wrong"), basic("other", "s3cret"), basic("", ""),
                        {"Authorization": "Bearer s3cret"}):
            answer = call(headers=headers)
            assert answer.status_code == 401, (method, path, headers)
            assert answer.headers["WWW-Authenticate"] == 'Basic realm="tokenlq"'
            assert "Basic authentication required" in answer.get_json()["error"]
        with call(headers=basic("ls", "s3cret")) as answer:  # closes plotly.min.js's file
            assert answer.status_code != 401, (method, path)
            # Reached the view (project 1 is not scored yet: its pages say so, with a 404).
            assert answer.status_code != 404 or "has not been scored" in answer.get_json()["error"] \
                or "no job 1" in answer.get_json()["error"], (method, path)


def test_secrets_go_through_compare_digest_user_and_password_both(client, monkeypatch):
    compared = []

    def spy(a, b):
        compared.append((a, b))
        return a == b

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    c = client
    c.get("/versions", headers=basic("wrong-user", "s3cret"))
    # The password is compared too when the user is wrong: no early exit to time.
    assert (b"wrong-user", b"ls") in compared and (b"s3cret", b"s3cret") in compared
    compared.clear()
    c.post("/webhook", json={"action": "ANNOTATION_CREATED", "project": 1},
           headers={WEBHOOK_SECRET_HEADER: "guess"})
    assert compared == [(b"guess", b"hook")]


def test_a_forged_webhook_queues_nothing_and_a_replayed_one_coalesces(app, client):
    c = client
    store = app.extensions["tokenlq.store"]
    event = {"action": "ANNOTATION_UPDATED", "project": {"id": 4}}
    for headers in ({}, {WEBHOOK_SECRET_HEADER: "hoo"}, {WEBHOOK_SECRET_HEADER: "hook "},
                    basic("ls", "s3cret")):  # Basic credentials are not the webhook secret
        assert c.post("/webhook", json=event, headers=headers).status_code == 401
    assert store.jobs(4) == []
    answers = {c.post("/webhook", json=event, headers={WEBHOOK_SECRET_HEADER: "hook"}).get_json()["job"]
               for _ in range(50)}
    jobs = store.jobs(4)
    assert len(answers) == 1 and len(jobs) == 1 and jobs[0].events == 50


def test_user_text_is_escaped_on_every_page(app, client, run_summary):
    store = app.extensions["tokenlq.store"]
    attack = "<script>alert(1)</script>"
    run = run_summary(0.1, 2, token=attack)
    run["classes"][1].update(type=attack, top_confusions=attack, top_flagged_tokens=attack)
    run["warnings"] = {attack: 1}
    job, _ = store.enqueue(2, "api", "rescore")
    store.next_queued("write")
    store.finish(job, summary=run)
    time.sleep(0.01)
    for path in ("/projects/2/summary.html", "/projects/2/dashboard"):
        page = client.get(path, headers=basic("ls", "s3cret")).get_data(as_text=True)
        assert attack not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page, path
