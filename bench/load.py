"""The backend under load on loopback, with a real Label Studio behind it.

1. A storm of webhook events (default 1,000 in 10 s, paced, from 20 connections): the
   acknowledgement latency (p50, p99, max), the runs they caused, and the state afterwards.
2. Forged events (wrong or no secret) and a replayed genuine one: what they cause.
3. ``/predict`` with 100-task batches from 10 concurrent clients (a quarter of each batch
   unannotated, so the fitted model pre-annotates): latency and throughput.

Every check of the final state is made in Label Studio itself: one current prediction of ours
per annotated task (the backend's latest), none on unannotated tasks, the tab sorted by score,
every annotation unchanged. The script exits 1 when a check fails; --json writes the figures.

Usage: python bench/load.py [--events 1000] [--seconds 10] [--tasks 300] [--clients 10]
       [--batches 20] [--ls-url URL --ls-token TOKEN] [--json FILE]
(without a URL it starts a Label Studio of its own as bench/service.py does: a free port, its
state in a temporary folder; never the demo's server).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from tokenlq_backend.demo import corpus_tasks, label_config
from tokenlq_backend.labelstudio import LabelStudioProject, close, connect, prediction_content
from tokenlq_backend.runs import MODEL_VERSION
import service
from service import label_studio, start_backend
from tokenlq.labelstudio_format import given_annotation
from tokenlq.synthetic import make_ner_corpus

SECRET = "load-webhook-secret"
AUTH = ("load", "load-basic-pass")
ACTIONS = ["ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED", "TASKS_CREATED"]


def percentile(values, q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def jobs(base: str, project: int) -> list:
    return service.jobs(base, project, auth=AUTH)


def wait_idle(base: str, project: int, timeout: float = 600) -> list:
    return service.wait_idle(base, project, timeout, auth=AUTH)


def ours(task) -> list:
    return [p for p in task["predictions"] if p["model_version"] == MODEL_VERSION]


def check_state(ls, base, annotations) -> tuple[dict, dict]:
    """The checks of the module docstring ({name: passed}) and {task id: [prediction ids]}."""
    checks = {}
    tasks = ls.tasks()
    annotated = [t for t in tasks if given_annotation(t["annotations"])]
    checks["annotations unchanged"] = {t["id"]: t["annotations"] for t in tasks} == annotations
    checks["one prediction per annotated task"] = all(len(ours(t)) == 1 for t in annotated)
    checks["none on unannotated tasks"] = all(not ours(t) for t in tasks
                                              if not given_annotation(t["annotations"]))
    latest = requests.post(f"{base}/predict", auth=AUTH, timeout=60, json={
        "project": str(ls.id), "tasks": [{"id": t["id"]} for t in annotated]}).json()["results"]
    checks["predictions are the latest run's"] = checks["one prediction per annotated task"] and \
        [prediction_content(ours(t)[0]) for t in annotated] == [prediction_content(p) for p in latest]
    done = next(j for j in jobs(base, ls.id) if j["status"] == "done")
    listed = ls.view_task_ids(done["summary"]["view"])
    scores = {t["id"]: (ours(t) or [{"score": None}])[0]["score"] for t in annotated}
    checks["tab lists the flagged tasks by score"] = checks["one prediction per annotated task"] \
        and len(listed) == done["summary"]["flagged"] \
        and [scores[t] for t in listed] == sorted(scores[t] for t in listed)
    return checks, {t["id"]: [p["id"] for p in ours(t)] for t in annotated}


def storm(base: str, project: int, events: int, seconds: float, connections: int = 20):
    """``events`` genuine webhook events at an even pace over ``seconds``; latencies in s."""
    latencies, statuses = [None] * events, [None] * events
    start = time.perf_counter() + 0.2

    def sender(first: int):
        session = requests.Session()
        for i in range(first, events, connections):
            time.sleep(max(0.0, start + i * seconds / events - time.perf_counter()))
            sent = time.perf_counter()
            answer = session.post(f"{base}/webhook", timeout=30, headers={
                "X-Tokenlq-Webhook-Secret": SECRET}, json={
                "action": ACTIONS[i % len(ACTIONS)], "project": {"id": project}})
            latencies[i], statuses[i] = time.perf_counter() - sent, answer.status_code

    threads = [threading.Thread(target=sender, args=(k,)) for k in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, statuses, time.perf_counter() - start


def predict_load(base, project, tasks, config, clients, batches):
    """``clients`` threads, each posting ``batches`` batches of 100 tasks (75 annotated, 25 not).
    Returns latencies, the answers that were wrong, pre-annotated tasks and the wall time."""
    annotated = [t for t in tasks if given_annotation(t["annotations"])]
    fresh = [t for t in tasks if not given_annotation(t["annotations"])]
    expected = {t["id"]: prediction_content(ours(t)[0]) for t in annotated}
    latencies, wrong, pre_annotated = [], [], []
    lock = threading.Lock()

    def client(seed: int):
        rng, session = random.Random(seed), requests.Session()
        for _ in range(batches):
            batch = rng.sample(annotated, 75) + rng.sample(fresh, 25)
            rng.shuffle(batch)
            body = {"project": f"{project}.0", "label_config": config, "tasks": [
                {"id": t["id"], "data": t["data"], "annotations": t["annotations"]} for t in batch]}
            sent = time.perf_counter()
            answer = session.post(f"{base}/predict", json=body, auth=AUTH, timeout=60)
            took = time.perf_counter() - sent
            results = answer.json().get("results", []) if answer.ok else []
            ok = len(results) == 100 and all(
                prediction_content(r) == expected[t["id"]] if t["id"] in expected
                else r["model_version"] == MODEL_VERSION for r, t in zip(results, batch))
            with lock:
                latencies.append(took)
                pre_annotated.extend(t["id"] for r, t in zip(results, batch)
                                     if t["id"] not in expected and r["result"])
                if not ok:
                    wrong.append(answer.status_code)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    return latencies, wrong, set(pre_annotated), time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--ls-url", default=os.environ.get("LS_URL"))
    parser.add_argument("--ls-token", default=os.environ.get("LS_TOKEN"))
    parser.add_argument("--json", help="write the figures and checks to this file")
    args = parser.parse_args()
    url, token, stop = label_studio(args)
    client = connect(url, token, timeout=600)
    state = tempfile.mkdtemp(prefix="tokenlq-load-")
    base, backend = start_backend(url, token, state, TOKENLQ_PROBS="crf",
                                  TOKENLQ_WEBHOOK_SECRET=SECRET, BASIC_AUTH_USER=AUTH[0],
                                  BASIC_AUTH_PASS=AUTH[1], TOKENLQ_REFIT_FRACTION="1")
    figures, checks = {}, {}
    try:
        corpus = make_ner_corpus(args.tasks, error_rate=0.06, seed=81)
        project = client.projects.create(title="tokenlq load", label_config=label_config(corpus))
        unannotated = make_ner_corpus(100, error_rate=0.0, seed=82)
        client.projects.import_tasks(id=project.id, request=corpus_tasks(corpus) + [
            {"data": t["data"]} for t in corpus_tasks(unannotated)])
        ls = LabelStudioProject(client, project.id)
        requests.post(f"{base}/projects/{project.id}/rescore", auth=AUTH, timeout=10)
        wait_idle(base, project.id)
        annotations = {t["id"]: t["annotations"] for t in ls.tasks()}
        before = {j["id"] for j in jobs(base, project.id)}

        # 1. The storm.
        latencies, statuses, took = storm(base, project.id, args.events, args.seconds)
        after = wait_idle(base, project.id)
        runs = [j for j in after if j["id"] not in before]
        checks["every event acknowledged 200"] = statuses.count(200) == args.events
        checks["every event accounted for in a run"] = sum(j["events"] for j in runs) == args.events
        checks["every run done"] = all(j["status"] == "done" for j in runs)
        state, prediction_ids = check_state(ls, base, annotations)
        checks.update({f"after the storm: {name}": ok for name, ok in state.items()})
        figures["storm"] = {"events": args.events, "seconds": round(took, 2),
                            "ack_p50_ms": round(1000 * percentile(latencies, 0.5), 1),
                            "ack_p99_ms": round(1000 * percentile(latencies, 0.99), 1),
                            "ack_max_ms": round(1000 * max(latencies), 1), "runs": len(runs)}

        # 2. Forged events change nothing; one replayed genuine event is one run that writes nothing.
        forged = [requests.post(f"{base}/webhook", timeout=10, json={
            "action": "ANNOTATION_UPDATED", "project": {"id": project.id}},
            headers=headers).status_code for headers in
            [{}, {"X-Tokenlq-Webhook-Secret": "guess"}, {"X-Tokenlq-Webhook-Secret": SECRET[:-1]}] * 10]
        checks["forged events refused (401)"] = forged == [401] * len(forged)
        checks["forged events queue nothing"] = jobs(base, project.id)[0]["id"] == after[0]["id"]
        replay = requests.post(f"{base}/webhook", timeout=10, json={
            "action": "ANNOTATION_UPDATED", "project": {"id": project.id}},
            headers={"X-Tokenlq-Webhook-Secret": SECRET}).json()["job"]
        replayed = wait_idle(base, project.id)
        extra = [j for j in replayed if j["id"] not in {a["id"] for a in after}]
        written = extra[0]["summary"] if extra else {}
        checks["a replayed event: one run"] = [j["id"] for j in extra] == [replay]
        checks["a replayed event: nothing rewritten"] = (
            written.get("written"), written.get("updated"), written.get("removed")) == (0, 0, 0)
        state, replayed_ids = check_state(ls, base, annotations)
        checks.update({f"after the replay: {name}": ok for name, ok in state.items()})
        checks["a replayed event: predictions untouched"] = replayed_ids == prediction_ids
        figures["forged"] = {"sent": len(forged), "refused": forged.count(401)}

        # 3. /predict from concurrent clients.
        latencies, wrong, pre_annotated, took = predict_load(
            base, project.id, ls.tasks(), label_config(corpus), args.clients, args.batches)
        requests_made = args.clients * args.batches
        checks["every /predict answer: 100 entries in order, the stored ones"] = wrong == []
        checks["unannotated tasks pre-annotated"] = len(pre_annotated) > 0
        figures["predict"] = {"clients": args.clients, "requests": requests_made,
                              "tasks_per_request": 100,
                              "p50_ms": round(1000 * percentile(latencies, 0.5), 1),
                              "p99_ms": round(1000 * percentile(latencies, 0.99), 1),
                              "requests_per_s": round(requests_made / took, 1),
                              "tasks_per_s": round(100 * requests_made / took)}
    finally:
        backend.terminate()
        backend.wait(timeout=30)
        close(client)
        if stop:
            stop()

    s, p = figures["storm"], figures["predict"]
    print(f"webhook storm: {s['events']} events in {s['seconds']} s -> acknowledgement p50 "
          f"{s['ack_p50_ms']} ms, p99 {s['ack_p99_ms']} ms, max {s['ack_max_ms']} ms; {s['runs']} runs")
    print(f"forged events: {figures['forged']['refused']} of {figures['forged']['sent']} refused")
    print(f"/predict: {p['clients']} clients x {p['requests'] // p['clients']} batches of 100 tasks "
          f"-> p50 {p['p50_ms']} ms, p99 {p['p99_ms']} ms, {p['requests_per_s']} requests/s "
          f"({p['tasks_per_s']} tasks/s)")
    for name, ok in checks.items():
        print(f"  {'ok  ' if ok else 'FAIL'} {name}")
    if args.json:
        Path(args.json).write_text(json.dumps({"figures": figures, "checks": checks}, indent=1))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
