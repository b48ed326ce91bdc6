"""The backend as a real process (`tokenlq serve`) registered in a real Label Studio: rescoring
through the HTTP call and a webhook (an annotation saved in Label Studio); with the webhook
secret alone, the Train button is refused."""

import os
import time

import pytest
import requests

from tokenlq_backend.demo import corpus_tasks, label_config
from tokenlq_backend.labelstudio import LabelStudioProject, close, connect
from tokenlq_backend.runs import MODEL_VERSION
from tokenlq.synthetic import make_ner_corpus

from .live import idle, jobs_of, serve, wait_for

WEBHOOK_SECRET = "e2e-webhook-secret"


@pytest.fixture(scope="module")
def backend(labelstudio, tmp_path_factory):
    url, token = labelstudio
    log = tmp_path_factory.mktemp("backend") / "backend.log"
    env = dict(os.environ, LABEL_STUDIO_URL=url, LABEL_STUDIO_API_KEY=token, TOKENLQ_PROBS="crf",
               TOKENLQ_DATA_DIR=str(log.parent / "data"), THREADS="4",
               TOKENLQ_WEBHOOK_SECRET=WEBHOOK_SECRET)
    base, process = serve(env, log)
    try:
        yield base, log
    finally:
        process.terminate()
        process.wait(timeout=30)
    text = log.read_text()
    assert token not in text and WEBHOOK_SECRET not in text  # secrets never reach the log


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
        annotations_before = {t["id"]: t["annotations"] for t in ls.tasks()}

        # 1. The HTTP call.
        answer = requests.post(f"{base}/projects/{project.id}/rescore", timeout=5)
        assert answer.status_code == 202
        job_url = base + answer.json()["status_url"]
        job = wait_for(lambda: (j := requests.get(job_url, timeout=5).json())["status"] in
                       ("done", "failed") and j, "the rescore job")
        assert job["status"] == "done", job
        assert job["kind"] == "rescore" and job["summary"]["scored"] == len(ids) - 1
        assert job["progress"] == "done" and set(job["summary"]["seconds"]) == {
            "pull", "read", "fit", "score", "write"}
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

        # 2. A webhook: annotating the last task in Label Studio scores it within seconds,
        # with the stored fit (an update, no model fitting).
        start = time.time()
        client.annotations.create(id=ids[-1], result=[
            {"from_name": "label", "to_name": "text", "type": "labels",
             "value": {"start": 0, "end": 12, "labels": ["PER"]}}])
        task = wait_for(lambda: next((t for t in ls.tasks() if t["id"] == ids[-1] and ours(t)), None),
                        "the webhook-triggered prediction", timeout=60)
        print(f"annotation to prediction: {time.time() - start:.1f} s")
        assert len(ours(task)) == 1
        # The prediction is visible as soon as it is written; its job's record follows.
        update = next(j for j in idle(base, project.id) if j["trigger"] == "ANNOTATION_CREATED")
        assert update["kind"] == "update"
        assert not update["summary"]["fit"]["new"] and update["summary"]["fit"]["predicted"] == 1

        # 3. An edited annotation: the task's prediction follows the new labels.
        edited = next(t for t in ls.tasks() if t["annotations"] and t["annotations"][0]["result"]
                      and t["id"] != ids[-1])
        old_prediction = ours(edited)[0]
        client.annotations.update(id=edited["annotations"][0]["id"], result=[])
        wait_for(lambda: ours(next(t for t in ls.tasks() if t["id"] == edited["id"]))[0]["result"]
                 != old_prediction["result"], "the edited task's prediction", timeout=60)

        # 4. A deleted task: its stored state is dropped.
        client.tasks.delete(id=str(ids[0]))
        dropped = wait_for(lambda: next((j for j in jobs_of(base, project.id)
                                         if j["trigger"] == "TASKS_DELETED" and j["status"] == "done"),
                                        None), "the TASKS_DELETED update", timeout=60)
        assert dropped["summary"]["fit"]["dropped"] == 1
        # It ran in the update process, from the copy the update before it kept in memory.
        assert dropped["summary"]["read"]["how"] == "copy" and dropped["summary"]["read"]["kept"]

        # 5. The Train button (START_TRAINING through the ML backend) cannot carry the webhook
        # secret, and this backend has no Basic auth: it is refused, saying what to configure
        # (test_webhook_auth.py has it pass with Basic). A rescore by the API instead.
        backends = client.ml.list(project=project.id)
        client.ml.train(id=backends[0].id)
        refused = requests.post(base + "/webhook", timeout=5, json={
            "action": "START_TRAINING", "project": {"id": project.id}})
        assert refused.status_code == 403 and "BASIC_AUTH_USER" in refused.json()["error"]
        assert requests.post(f"{base}/projects/{project.id}/rescore", timeout=5).status_code == 202
        jobs = idle(base, project.id)
        assert not any(j["trigger"] == "START_TRAINING" for j in jobs)
        assert (jobs[0]["trigger"], jobs[0]["kind"]) == ("api", "rescore"), \
            [(j["kind"], j["trigger"], j["events"]) for j in jobs]
        assert all(j["status"] == "done" for j in jobs), [j["reason"] for j in jobs]
        listed = ls.tasks()
        assert all(len(ours(t)) == 1 for t in listed)  # never duplicated
        # Annotations untouched, but for the two this test made itself.
        after = {t["id"]: t["annotations"] for t in listed}
        for task_id in set(after) - {ids[-1], edited["id"]}:
            assert after[task_id] == annotations_before[task_id]

        # 6. /predict answers from the stored run, one entry per task, in order; a task nobody
        # annotated gets the fitted model's labelling.
        fresh = client.projects.import_tasks(id=project.id, return_task_ids=True, request=[
            {"data": {"text": "Peter Novak visited Cairo ."}}]).task_ids[0]
        predicted = requests.post(base + "/predict", timeout=10, json={
            "project": f"{project.id}.0", "label_config": project.label_config, "tasks": [
                {"id": ids[2]}, {"id": ids[1]},
                {"id": fresh, "data": {"text": "Peter Novak visited Cairo ."}, "annotations": []}]}
        ).json()["results"]
        by_id = {t["id"]: t for t in listed}
        assert [p["score"] for p in predicted[:2]] == [ours(by_id[i])[0]["score"] for i in ids[2:0:-1]]
        assert {(r["value"]["text"], r["value"]["labels"][0]) for r in predicted[2]["result"]} == \
            {("Peter Novak", "PER"), ("Cairo", "LOC")}
    finally:
        close(client)


def test_first_annotations_fit_quickly_then_refit_in_the_background(labelstudio, backend):
    """A project set to ``auto`` by extra_params: the first webhook-triggered update fits the
    quick CRF, a background refit adds the encoder, and an update writes back its scores.
    A burst of 100 events is acknowledged at once and coalesced."""
    url, token = labelstudio
    base, _ = backend
    client = connect(url, token)
    try:
        corpus = make_ner_corpus(120, error_rate=0.06, seed=41)
        project = client.projects.create(title="tokenlq e2e refit", label_config=label_config(corpus))
        tasks = corpus_tasks(corpus)
        last = tasks.pop()
        ids = list(client.projects.import_tasks(id=project.id, return_task_ids=True,
                                                request=tasks + [{"data": last["data"]}]).task_ids)
        client.ml.create(project=project.id, url=base, title="tokenlq", extra_params={"probs": "auto"})
        # Registering the backend scores the project: the quick CRF first, then the encoder.
        jobs = idle(base, project.id)
        assert [(j["kind"], j["trigger"], j["status"]) for j in reversed(jobs)] == [
            ("update", "setup", "done"), ("refit", "setup", "done"), ("update", "refit", "done")], jobs
        first, refit, final = reversed(jobs)
        assert first["summary"]["fit"]["model"] == "crf" and first["summary"]["refit"]
        assert refit["summary"]["model"] == "crf+encoder"
        # Another model than the stored fit's: every task takes the new probabilities.
        assert refit["summary"]["adopted"] == refit["summary"]["tasks"] > 0
        assert final["summary"]["fit"]["model"] == "crf+encoder" and not final["summary"]["refit"]
        assert final["summary"]["scored"] == len(ids) - 1
        # That first run gave Label Studio's webhook our secret: an annotation now updates.
        client.annotations.create(id=ids[-1], result=last["annotations"][0]["result"])
        jobs = idle(base, project.id)
        assert (jobs[0]["kind"], jobs[0]["trigger"]) == ("update", "ANNOTATION_CREATED")
        assert jobs[0]["summary"]["fit"]["predicted"] == 1 and jobs[0]["summary"]["scored"] == len(ids)
        ls = LabelStudioProject(client, project.id)
        assert all(len(ours(t)) == 1 for t in ls.tasks())

        # A burst of webhook events: each acknowledged at once, a handful of runs.
        headers = {"X-Tokenlq-Webhook-Secret": WEBHOOK_SECRET}
        session, latencies = requests.Session(), []
        for _ in range(100):
            sent = time.perf_counter()
            answer = session.post(base + "/webhook", headers=headers, timeout=5, json={
                "action": "ANNOTATION_UPDATED", "project": {"id": project.id}})
            latencies.append(time.perf_counter() - sent)
            assert answer.status_code == 200 and answer.json()["status"] == "queued"
        latencies.sort()
        print(f"webhook acknowledgement: p50 {1000 * latencies[50]:.1f} ms, "
              f"max {1000 * latencies[-1]:.1f} ms")
        jobs_after = idle(base, project.id)
        burst = [j for j in jobs_after if j["trigger"] == "ANNOTATION_UPDATED"]
        assert 1 <= len(burst) <= 3 and sum(j["events"] for j in burst) == 100
        assert all(len(ours(t)) == 1 for t in ls.tasks())
    finally:
        close(client)


def test_page_and_console_errors_are_caught_by_the_page_check(tmp_path, chromium):
    # The page checks would be worthless if they could not see a broken page: an uncaught
    # exception arrives only as a page error, console.error only on the console.
    page = tmp_path / "broken.html"
    page.write_text("<html><body><script>console.error('logged'); notDefined();</script></body></html>")
    with chromium() as session:
        session.page.goto(page.as_uri())
        session.page.wait_for_timeout(200)
        errors = session.errors()
    assert any("notDefined is not defined" in e for e in errors if e.startswith("page error"))
    assert any("logged" in e for e in errors if e.startswith("console error"))


def test_reviews_history_dashboard_and_metrics(labelstudio, backend, chromium):
    """Fixed and confirmed findings are told apart, a confirmed task leaves the tab, and the
    dashboard renders the runs in headless Chromium without a page or console error."""
    from types import SimpleNamespace

    url, token = labelstudio
    base, _ = backend
    client = connect(url, token)
    try:
        corpus = make_ner_corpus(80, error_rate=0.08, seed=51)
        project = client.projects.create(title="tokenlq e2e dashboard", label_config=label_config(corpus))
        ids = list(client.projects.import_tasks(id=project.id, return_task_ids=True,
                                                request=corpus_tasks(corpus)).task_ids)
        client.ml.create(project=project.id, url=base, title="tokenlq")
        idle(base, project.id)
        ls = LabelStudioProject(client, project.id)
        scored = next(j for j in jobs_of(base, project.id) if j["kind"] != "refit")
        first = ls.view_task_ids(scored["summary"]["view"])
        wrong = {ids[i] for i, _ in corpus.error_tokens}
        to_fix = [t for t in first if t in wrong][:2]
        to_confirm = next(t for t in first if t not in to_fix)
        truth = corpus_tasks(SimpleNamespace(tokens=corpus.tokens, labels=corpus.true_labels,
                                             class_names=corpus.class_names))
        tasks = {t["id"]: t for t in ls.tasks()}
        for task_id in to_fix:  # the reviewer corrects the labels
            client.annotations.update(id=tasks[task_id]["annotations"][0]["id"],
                                      result=truth[ids.index(task_id)]["annotations"][0]["result"])
        # The reviewer opens the other one and ticks the confirmation mark.
        kept = tasks[to_confirm]["annotations"][0]
        client.annotations.update(id=kept["id"], result=kept["result"] + [
            {"from_name": "tokenlq_confirm", "to_name": "text", "type": "choices",
             "value": {"choices": ["Reviewed: the labels are right"]}}])
        jobs = idle(base, project.id)
        latest = next(j for j in jobs if j["kind"] != "refit")["summary"]
        now = ls.view_task_ids(latest["view"])
        assert latest["reviews"].get("fixed", 0) >= 1 and latest["reviews"]["confirmed"] == 1, \
            (latest["reviews"], [(t, t in now) for t in to_fix], len(now), len(first))
        assert latest["reviews"]["suppressed"] == 1
        assert to_confirm not in ls.view_task_ids(latest["view"])

        history = requests.get(f"{base}/projects/{project.id}/history", timeout=5).json()["runs"]
        assert len(history) >= 2 and history[-1]["confirmed"] == 1
        metrics = requests.get(f"{base}/metrics", timeout=5).text
        assert f'tokenlq_findings{{project="{project.id}",status="confirmed"}} 1.0' in metrics
        assert f'tokenlq_estimated_error_rate{{class="all",project="{project.id}"}}' in metrics

        with chromium() as session:
            session.page.goto(f"{base}/projects/{project.id}/dashboard")
            session.page.wait_for_selector("#chart-confusions .heatmap-label text")
            dom = session.page.content()
            assert session.errors() == []
        charts = {name: dom.split(f'id="chart-{name}"')[1].split('id="chart-')[0]
                  for name in ("rates", "confusions")}
        types = {c["type"] for c in latest["classes"]}
        assert charts["rates"].count('class="trace scatter') == len(types) + 1  # + all tokens
        assert all(f'data-unformatted="{t}"' in charts["rates"] for t in types)  # the legend
        assert 'class="hm"' in charts["confusions"] or "heatmaplayer" in charts["confusions"]
        assert f'{url}/projects/{project.id}/data?tab={latest["view"]}' in dom
    finally:
        close(client)


def test_the_demo_makes_a_scored_project_and_its_tab(labelstudio, backend, capsys):
    """backend.demo, scripts/demo.sh's last step, against the running backend: every call it
    makes to Label Studio goes through the backend's Label Studio package."""
    from tokenlq_backend.demo import main

    url, token = labelstudio
    base, _ = backend
    assert main(["--ls-url", url, "--ls-token", token, "--backend-url", base, "--tasks", "60"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("60 tasks imported") and "precision" in out
    assert f"Label issues tab: {url}/projects/" in out and "/data?tab=" in out
