"""Review outcomes, annotator statistics, the run history, the dashboard page and /metrics."""

import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from backend import create_app
from backend.annotators import annotator_summary
from backend.reviews import update_reviews
from backend.settings import Settings


def test_review_outcomes_fixed_confirmed_pending():
    tags = {1: ["B-PER", "O", "O"], 2: ["B-LOC", "O"], 3: ["O", "O"], 4: ["B-ORG"]}
    current = {t: (x, "t0") for t, x in tags.items()}
    states, hidden = update_reviews({}, current, {1: (0.1, [0]), 2: (0.2, [0]), 3: (0.3, [1])}, 1.0)
    assert {t: s["status"] for t, s in states.items()} == {1: "pending", 2: "pending", 3: "pending"}
    assert not hidden
    # 1: its flagged label changed and it is no longer flagged -> fixed.
    # 2: saved again, flagged label kept -> confirmed, and not flagged although the model insists.
    # 3: nothing changed, not saved again -> still pending.
    current = {1: (["O", "O", "O"], "t1"), 2: (["B-LOC", "O"], "t1"), 3: (["O", "O"], "t0"),
               4: (["B-ORG"], "t0")}
    states, hidden = update_reviews(states, current, {2: (0.2, [0]), 3: (0.3, [1])}, 2.0)
    assert {t: s["status"] for t, s in states.items()} == {1: "fixed", 2: "confirmed", 3: "pending"}
    assert hidden == {2} and states[1]["decided_at"] == 2.0
    # Clearly stronger evidence (score below half) reopens a confirmed finding; weaker does not.
    states, hidden = update_reviews(states, current, {2: (0.11, [0])}, 3.0)
    assert states[2]["status"] == "confirmed" and hidden == {2}
    states, hidden = update_reviews(states, current, {2: (0.09, [0])}, 4.0)
    assert states[2]["status"] == "pending" and states[2]["flagged_at"] == 4.0 and not hidden
    # A fixed task flagged again is a new finding; a task that is gone loses its finding.
    del current[3]
    states, _ = update_reviews(states, current, {1: (0.05, [1])}, 5.0)
    assert states[1]["status"] == "pending" and 3 not in states
    # Changing the flagged label while the task stays flagged keeps it pending, about the new one.
    current[1] = (["O", "B-PER", "O"], "t2")
    states, _ = update_reviews(states, current, {1: (0.05, [1])}, 6.0)
    assert states[1]["status"] == "pending" and states[1]["flagged_at"] == 6.0


def test_annotator_statistics_and_disagreement():
    from backend.scoring import ProjectCorpus
    from tokenlq.audit import AuditResult

    names = ["O", "B-PER", "I-PER"]
    probs = np.array([[0.05, 0.9, 0.05], [0.9, 0.05, 0.05]] * 30)
    project = ProjectCorpus(task_ids=list(range(30)), labels=[["B-PER", "O"]] * 30)
    project.annotations = [[(1, ["B-PER", "O"])] for _ in range(30)]
    for i in range(10):  # annotator 2 overlaps on 10 tasks and misses the name in 6
        project.annotations[i].append((2, ["O", "O"] if i < 6 else ["B-PER", "O"]))
    offsets = np.arange(0, 61, 2)
    labels = np.array([1, 0] * 30)
    result = AuditResult(None, names, labels, probs, offsets, None, None, [], None, None, None, {})
    out = annotator_summary(project, result)
    assert out["overlap_tasks"] == 10 and out["disagreeing_tasks"] == 6
    assert out["token_agreement"] == pytest.approx(0.7)
    one, two = out["annotators"]
    assert (one["annotator"], one["annotations"], one["tokens"], one["flagged_tokens"]) == (1, 30, 60, 0)
    assert (two["annotator"], two["annotations"], two["disagreeing_tasks"]) == (2, 10, 6)
    assert two["flagged_tokens"] == 6 and two["estimated_error_rate"] > one["estimated_error_rate"]


def summary(error_rate, flagged, *, token="Paris", reviews=None):
    return {"model_version": "tokenlq-x", "probs": "embedded", "fit": {"model": "crf"},
            "tasks": 10, "scored": 9, "tokens": 90, "flagged": flagged, "error_rate": error_rate,
            "reviews": reviews or {"pending": flagged}, "warnings": {"partial_token_overlap": 2},
            "seconds": {"pull": 1.0, "score": 0.5}, "view": 4,
            "classes": [{"type": "O", "tokens": 70, "entities": None, "flagged_tokens": 1,
                         "flagged_spans": 1, "estimated_error_rate": error_rate / 2,
                         "top_confusions": "PER (1)", "top_flagged_tokens": "x (1)"},
                        {"type": "PER", "tokens": 20, "entities": 10, "flagged_tokens": 2,
                         "flagged_spans": 2, "estimated_error_rate": error_rate * 2,
                         "top_confusions": "LOC (2)", "top_flagged_tokens": "y (2)"}],
            "confusions": [["PER", "LOC", 2], ["O", "PER", 1]],
            "suspicious_tokens": [{"task": 3, "token": token, "given": "PER", "suggested": "LOC",
                                   "score": 0.01}],
            "suspicious_entities": [{"task": 3, "text": token, "given": "PER", "suggested": "LOC",
                                     "kind": "wrong_type", "score": 0.01}],
            "annotators": {}}


@pytest.fixture
def app():
    data_dir = Path(tempfile.mkdtemp(prefix="tokenlq-test-"))
    app = create_app(Settings(data_dir=data_dir, label_studio_url="http://ls.example",
                              public_url="http://ls.example"), start_queue=False)
    store = app.extensions["tokenlq.store"]
    for rate, flagged, kind in [(0.08, 5, "rescore"), (0.05, 3, "update"), (0.0, 0, "refit")]:
        job, _ = store.enqueue(2, "api", kind)
        store.next_queued("fit" if kind == "refit" else "write")
        store.finish(job, summary=summary(rate, flagged, token="<script>alert(1)</script>",
                                          reviews={"pending": flagged, "fixed": 2, "confirmed": 1})
                     if kind != "refit" else {"model": "crf+encoder"})
        time.sleep(0.01)
    store.enqueue(2, "ANNOTATION_CREATED", "update")  # one waiting
    return app


def test_history_lists_scoring_runs_oldest_first_in_json_and_csv(app):
    c = app.test_client()
    runs = c.get("/projects/2/history").get_json()["runs"]
    assert [(r["kind"], r["error_rate"], r["flagged"]) for r in runs] == [
        ("rescore", 0.08, 5), ("update", 0.05, 3)]  # the refit scored nothing
    assert runs[1]["classes"] == {"O": 0.025, "PER": 0.1} and runs[1]["warnings"] == 2
    table = c.get("/projects/2/history?format=csv").get_data(as_text=True).splitlines()
    assert table[0].endswith("seconds,error_rate_O,error_rate_PER") and len(table) == 3
    assert c.get("/projects/5/history").get_json()["runs"] == []


def test_dashboard_page_escapes_user_text_and_embeds_the_runs(app):
    c = app.test_client()
    page = c.get("/projects/2/dashboard").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'href="http://ls.example/projects/2/data?tab=4"' in page
    assert 'href="http://ls.example/projects/2/data?task=3"' in page
    assert "/assets/plotly.min.js" in page and '"y": [0.08, 0.05]' in page
    assert c.get("/projects/9/dashboard").status_code == 404
    js = c.get("/assets/plotly.min.js")
    try:
        assert js.status_code == 200 and b"plotly.js" in js.data[:2000]
    finally:
        js.close()


def test_metrics_in_prometheus_format(app):
    from prometheus_client.parser import text_string_to_metric_families

    c = app.test_client()
    text = c.get("/metrics").get_data(as_text=True)
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    assert samples[("tokenlq_runs_total", (("kind", "rescore"), ("project", "2"), ("status", "done")))] == 1
    assert samples[("tokenlq_queue_depth", (("lane", "write"),))] == 1
    assert samples[("tokenlq_flagged_tasks", (("project", "2"),))] == 3
    assert samples[("tokenlq_estimated_error_rate", (("class", "PER"), ("project", "2")))] == 0.1
    assert samples[("tokenlq_estimated_error_rate", (("class", "all"), ("project", "2")))] == 0.05
    assert samples[("tokenlq_findings", (("project", "2"), ("status", "fixed")))] == 2
    assert all(name.startswith("tokenlq_") for name, _ in samples)


def test_managers_pages_take_the_same_basic_auth(app):
    settings = Settings(data_dir=Path(tempfile.mkdtemp()), basic_auth_user="u", basic_auth_pass="p")
    c = create_app(settings, start_queue=False).test_client()
    for path in ("/projects/2/history", "/projects/2/dashboard", "/metrics", "/assets/plotly.min.js"):
        assert c.get(path).status_code == 401, path
