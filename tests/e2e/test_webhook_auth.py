"""Who may call /webhook, with a real Label Studio: with Basic auth configured (alone or with the
webhook secret) Label Studio's own events still reach the backend through the header the backend
gave its webhook, and the Train button passes with the ML backend's Basic credentials. (The
secret-only configuration is test_backend.py's; every cell of the matrix is in
tests/backend/test_protocol.py.)"""

import base64
import os

import pytest
import requests

from tokenlq_backend.auth import WEBHOOK_SECRET_HEADER
from tokenlq_backend.demo import corpus_tasks, label_config
from tokenlq_backend.labelstudio import LabelStudioProject, close, connect
from tokenlq_backend.runs import MODEL_VERSION
from tokenlq.synthetic import make_ner_corpus

from .live import idle, serve

USER, PASSWORD, SECRET = "tokenlq-e2e", "e2e-basic-password", "e2e-auth-secret"
BASIC = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}


def runs(jobs):
    return [(j["trigger"], j["kind"], j["status"]) for j in jobs]


@pytest.mark.parametrize("configured", ["basic only", "both"])
def test_label_studios_events_and_train_button_pass_with_basic_auth(labelstudio, tmp_path,
                                                                      configured):
    url, token = labelstudio
    env = dict(os.environ, LABEL_STUDIO_URL=url, LABEL_STUDIO_API_KEY=token, TOKENLQ_PROBS="crf",
               TOKENLQ_DATA_DIR=str(tmp_path / "data"), BASIC_AUTH_USER=USER,
               BASIC_AUTH_PASS=PASSWORD)
    if configured == "both":
        env["TOKENLQ_WEBHOOK_SECRET"] = SECRET
    base, process = serve(env, tmp_path / "backend.log")
    auth = (USER, PASSWORD)
    client = connect(url, token)
    try:
        corpus = make_ner_corpus(60, error_rate=0.06, seed=71)
        project = client.projects.create(title=f"tokenlq e2e auth {configured}",
                                         label_config=label_config(corpus))
        tasks = corpus_tasks(corpus)
        last = tasks.pop()
        ids = list(client.projects.import_tasks(id=project.id, return_task_ids=True,
                                                request=tasks + [{"data": last["data"]}]).task_ids)
        client.ml.create(project=project.id, url=base, title="tokenlq", auth_method="BASIC_AUTH",
                         basic_auth_user=USER, basic_auth_pass=PASSWORD)
        first = idle(base, project.id, auth=auth)  # the first /setup queued a run
        assert [(j["trigger"], j["status"]) for j in first] == [("setup", "done")], first
        # That run gave Label Studio's webhook the one header its events need.
        hooks = client.webhooks.list(project=project.id)
        assert [h.headers for h in hooks] == [
            BASIC if configured == "basic only" else {WEBHOOK_SECRET_HEADER: SECRET}]

        # Label Studio's own event passes: an annotation is scored by an update.
        client.annotations.create(id=ids[-1], result=last["annotations"][0]["result"])
        jobs = idle(base, project.id, auth=auth)
        assert ("ANNOTATION_CREATED", "update", "done") in runs(jobs), runs(jobs)

        # The Train button passes with the ML backend's Basic credentials: a full rescore.
        client.ml.train(id=client.ml.list(project=project.id)[0].id)
        jobs = idle(base, project.id, auth=auth)
        assert ("START_TRAINING", "rescore", "done") in runs(jobs), runs(jobs)
        assert all(j["status"] == "done" for j in jobs), runs(jobs)
        listed = LabelStudioProject(client, project.id).tasks()
        assert all(len([p for p in t["predictions"] if p["model_version"] == MODEL_VERSION]) == 1
                   for t in listed)

        # Anyone else is refused, and nothing is queued.
        event = {"action": "ANNOTATION_UPDATED", "project": {"id": project.id}}
        refused = [requests.post(base + "/webhook", json=event, timeout=5, headers=headers)
                   for headers in ({}, {"Authorization": "Basic Zm9vOmJhcg=="},
                                   {WEBHOOK_SECRET_HEADER: "guess"})]
        if configured == "both":  # Basic credentials are not the webhook secret
            refused.append(requests.post(base + "/webhook", json=event, timeout=5, headers=BASIC))
        assert [r.status_code for r in refused] == [401] * len(refused)
        assert len(idle(base, project.id, auth=auth)) == len(jobs)
    finally:
        close(client)
        process.terminate()
        process.wait(timeout=30)
    log = (tmp_path / "backend.log").read_text()
    assert PASSWORD not in log and SECRET not in log and token not in log
