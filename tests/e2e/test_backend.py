"""The backend as a real process (`tokenlq serve`) registered in a real Label Studio: rescoring
through the HTTP call, a webhook (an annotation saved in Label Studio) and the Train button."""

import os
import socket
import subprocess
import sys
import time

import pytest
import requests

from backend.demo import corpus_tasks, label_config
from backend.labelstudio import LabelStudioProject, close, connect
from backend.runs import MODEL_VERSION
from tokenlq.synthetic import make_ner_corpus

WEBHOOK_SECRET = "e2e-webhook-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def backend(labelstudio, tmp_path_factory):
    url, token = labelstudio
    port = free_port()
    log = tmp_path_factory.mktemp("backend") / "backend.log"
    env = dict(os.environ, LABEL_STUDIO_URL=url, LABEL_STUDIO_API_KEY=token, TOKENLQ_PROBS="crf",
               TOKENLQ_DATA_DIR=str(log.parent / "data"), THREADS="4",
               TOKENLQ_WEBHOOK_SECRET=WEBHOOK_SECRET)
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "-m", "tokenlq.cli", "serve", "--host",
                                    "127.0.0.1", "--port", str(port)], env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if requests.get(base + "/health", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            assert process.poll() is None, log.read_text()
            time.sleep(0.5)
        yield base, log
    finally:
        process.terminate()
        process.wait(timeout=30)
    text = log.read_text()
    assert token not in text and WEBHOOK_SECRET not in text  # secrets never reach the log


def wait_for(condition, what, timeout=180):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


def ours(task):
    return [p for p in task["predictions"] if p["model_version"] == MODEL_VERSION]


def test_rescore_by_http_webhook_and_train_button(labelstudio, backend):
    url, token = labelstudio
    base, log = backend
    client = connect(url, token)
    try:
        corpus = make_ner_corpus(200, error_rate=0.06, seed=31)
        project = client.projects.create(title="tokenlq e2e backend", label_config=label_config(corpus))
        payload = corpus_tasks(corpus) + [{"data": {"text": "Maria Garcia visited Paris ."}}]
        ids = list(client.projects.import_tasks(id=project.id, return_task_ids=True,
                                                request=payload).task_ids)
        client.ml.create(project=project.id, url=base, title="tokenlq")
        ls = LabelStudioProject(client, project.id)

        # 1. The HTTP call.
        answer = requests.post(f"{base}/projects/{project.id}/rescore", timeout=5)
        assert answer.status_code == 202
        job_url = base + answer.json()["status_url"]
        job = wait_for(lambda: (j := requests.get(job_url, timeout=5).json())["status"] in
                       ("done", "failed") and j, "the rescore job")
        assert job["status"] == "done", job
        assert job["summary"]["scored"] == len(ids) - 1
        assert ls.settings()["model_version"] == MODEL_VERSION
        summary = requests.get(f"{base}/projects/{project.id}/summary", timeout=5).json()
        assert {c["type"] for c in summary["classes"]} == {"O", "PER", "ORG", "LOC", "MISC"}
        table = requests.get(f"{base}/projects/{project.id}/summary?format=csv", timeout=5).text
        assert table.splitlines()[0].startswith("type,tokens,entities,flagged_tokens")
        page = requests.get(f"{base}/projects/{project.id}/summary.html", timeout=5)
        assert page.ok and "estimated error rate" in page.text
        # The run added the secret to the webhook Label Studio created for the backend.
        hooks = client.webhooks.list(project=project.id)
        assert [h.headers for h in hooks] == [{"X-Tokenlq-Webhook-Secret": WEBHOOK_SECRET}]
        forged = requests.post(base + "/webhook", timeout=5, json={
            "action": "ANNOTATION_CREATED", "project": {"id": project.id}})
        assert forged.status_code == 401

        # 2. A webhook: annotating the last task in Label Studio rescores it within the budget.
        start = time.time()
        client.annotations.create(id=ids[-1], result=[
            {"from_name": "label", "to_name": "text", "type": "labels",
             "value": {"start": 0, "end": 12, "labels": ["PER"]}}])
        task = wait_for(lambda: next((t for t in ls.tasks() if t["id"] == ids[-1] and ours(t)), None),
                        "the webhook-triggered prediction")
        print(f"annotation to prediction: {time.time() - start:.1f} s")
        assert len(ours(task)) == 1

        # 3. The Train button (START_TRAINING through the ML backend).
        backends = client.ml.list(project=project.id)
        client.ml.train(id=backends[0].id)
        listed = [t for t in ls.tasks()]
        assert all(len(ours(t)) == 1 for t in listed)  # never duplicated
        # /predict answers from the stored run, one entry per task, in order.
        predicted = requests.post(base + "/predict", timeout=10, json={
            "project": f"{project.id}.0", "tasks": [{"id": ids[1]}, {"id": ids[0]}]}).json()["results"]
        assert [p["score"] for p in predicted] == [ours(t)[0]["score"] for t in
                                                   sorted(listed, key=lambda t: t["id"])[1::-1]]
    finally:
        close(client)
