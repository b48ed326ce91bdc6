"""A real Label Studio: import tasks with injected errors, rescore, check what Label Studio shows."""

import copy

import pytest

from backend.demo import corpus_tasks, label_config
from backend.labelstudio import LabelStudioProject, close, connect
from backend.runs import MODEL_VERSION, rescore
from tokenlq.synthetic import make_ner_corpus


@pytest.fixture(scope="module")
def project(labelstudio):
    url, token = labelstudio
    client = connect(url, token)
    corpus = make_ner_corpus(300, error_rate=0.06, seed=21)
    created = client.projects.create(title="tokenlq e2e rescore", label_config=label_config(corpus))
    payload = corpus_tasks(corpus)
    payload.append({"data": {"text": "An unannotated task ."}})
    answer = client.projects.import_tasks(id=created.id, return_task_ids=True, request=payload)
    ids = list(answer.task_ids)
    wrong = {ids[i] for i, _ in corpus.error_tokens}
    ls = LabelStudioProject(client, created.id)
    yield client, ls, wrong, ids
    close(client)


def annotations_of(ls):
    return {t["id"]: copy.deepcopy(t["annotations"]) for t in ls.tasks()}


def test_rescore_writes_scores_the_tab_and_touches_no_annotation(project):
    client, ls, wrong, ids = project
    before = annotations_of(ls)
    summary = rescore(ls, model="crf")
    assert summary.scored == len(ids) - 1 and summary.written == summary.scored
    tasks = {t["id"]: t for t in ls.tasks()}
    ours = {i: [p for p in t["predictions"] if p["model_version"] == MODEL_VERSION] for i, t in tasks.items()}
    assert all(len(ours[i]) == 1 for i in ids[:-1]) and ours[ids[-1]] == []
    assert ls.settings()["model_version"] == MODEL_VERSION
    listed = ls.view_task_ids(summary.view)
    scores = [tasks[i]["predictions"][0]["score"] for i in listed]
    assert len(listed) == summary.flagged and scores == sorted(scores)
    assert annotations_of(ls) == before  # byte for byte, ids and timestamps included
    k = len(wrong)
    precision_at_k = len(set(listed[:k]) & wrong) / k
    print(f"precision at k={k}: {precision_at_k:.2f}")
    assert precision_at_k > 0.6


def test_a_rerun_changes_nothing(project):
    _, ls, _, ids = project
    summary = rescore(ls, model="crf")
    assert summary.written == 0 and summary.replaced == 0 and summary.unchanged == len(ids) - 1
