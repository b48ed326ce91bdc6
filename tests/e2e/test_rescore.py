"""A real Label Studio: import tasks with injected errors, rescore, check what Label Studio shows;
then the quick updates that reuse the stored fit, and the other probability sources."""

import copy
import dataclasses

import numpy as np
import pytest

from tokenlq_backend.demo import corpus_tasks, label_config
from tokenlq_backend.labelstudio import LabelStudioProject, close, connect
from tokenlq_backend.labelstudio.config import parse_label_config
from tokenlq_backend.probs import VOTE_WEIGHT, ProbsError, combine_probs, prediction_probs
from tokenlq_backend.runs import MODEL_VERSION, RunOptions, rescore
from tokenlq_backend.scoring import project_classes, read_tasks, score_tasks, words
from tokenlq import get_label_quality_scores
from tokenlq.model import out_of_sample_probs
from tokenlq.synthetic import make_ner_corpus


@pytest.fixture(scope="module")
def project(labelstudio, tmp_path_factory):
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
    options = RunOptions(probs="crf", data_dir=tmp_path_factory.mktemp("state"))
    yield client, ls, wrong, ids, options
    close(client)


def run(ls, options, **changes):
    """:func:`rescore` with ``changes`` to ``options``: (summary, predictions)."""
    result = rescore(ls, dataclasses.replace(options, **changes))
    return result.summary, result.predictions


def annotations_of(ls):
    return {t["id"]: copy.deepcopy(t["annotations"]) for t in ls.tasks()}


def ours(task):
    return [p for p in task["predictions"] if p["model_version"] == MODEL_VERSION]


def test_rescore_writes_scores_the_tab_and_touches_no_annotation(project):
    client, ls, wrong, ids, options = project
    before = annotations_of(ls)
    summary, _ = run(ls, options)
    assert summary.scored == len(ids) - 1 and summary.written == summary.scored
    assert summary.probs == "embedded" and summary.fit["new"] and summary.fit["model"] == "crf"
    tasks = {t["id"]: t for t in ls.tasks()}
    mine = {i: ours(t) for i, t in tasks.items()}
    assert all(len(mine[i]) == 1 for i in ids[:-1]) and mine[ids[-1]] == []
    assert ls.settings()["model_version"] == MODEL_VERSION
    listed = ls.view_task_ids(summary.view)
    scores = [mine[i][0]["score"] for i in listed]
    assert len(listed) == summary.flagged and scores == sorted(scores)
    outside = [mine[i][0]["score"] for i in ids[:-1] if i not in set(listed)]
    assert max(scores) <= min(outside)  # the tab agrees with the column it sorts by
    assert annotations_of(ls) == before  # byte for byte, ids and timestamps included
    k = len(wrong)
    precision_at_k = len(set(listed[:k]) & wrong) / k
    print(f"precision at k={k}: {precision_at_k:.2f}")
    assert precision_at_k > 0.6


PAGE_OPERATORS = {"equal", "not_equal", "less", "greater", "less_or_equal", "greater_or_equal",
                  "in", "not_in", "empty", "contains", "not_contains", "regex"}


def test_a_tab_with_the_old_filter_is_repaired_and_a_reviewers_columns_kept(project):
    client, ls, _, ids, options = project
    view = next(v for v in ls._get("api/dm/views/", project=ls.id) if v["data"]["title"] == "Label issues")
    old = {"title": "Label issues", "ordering": ["tasks:predictions_score"],
           "hiddenColumns": {"explore": [], "labeling": []},
           "filters": {"conjunction": "and", "items": [
               {"filter": "filter:tasks:id", "operator": "in_list", "type": "Number", "value": ids[:3]}]}}
    client.views.update(id=str(view["id"]), project=ls.id, data=old)
    summary, _ = run(ls, options, mode="update")
    data = ls._get(f"api/dm/views/{summary.view}/")["data"]
    assert summary.view == view["id"]
    assert {f["operator"] for f in data["filters"]["items"]} <= PAGE_OPERATORS
    hidden = data["hiddenColumns"]
    assert "tasks:annotations_results" in hidden["explore"] and "tasks:data.text" not in hidden["explore"]
    assert "tasks:predictions_score" not in hidden["explore"]
    # A reviewer shows the upload names again: the next run keeps the tab's columns.
    chosen = {"explore": [c for c in hidden["explore"] if c != "tasks:file_upload"],
              "labeling": hidden["labeling"]}
    client.views.update(id=str(view["id"]), project=ls.id, data=dict(data, hiddenColumns=chosen))
    run(ls, options, mode="update")
    assert ls._get(f"api/dm/views/{summary.view}/")["data"]["hiddenColumns"] == chosen


def test_a_rerun_changes_nothing_and_an_update_reuses_the_fit(project):
    _, ls, _, ids, options = project
    summary, _ = run(ls, options, mode="update")
    assert not summary.fit["new"] and summary.fit["from_fit"] == len(ids) - 1
    assert summary.fit["predicted"] == 0 and summary.fit["changed_labels"] == 0 and not summary.refit
    assert (summary.written, summary.updated, summary.removed) == (0, 0, 0)
    assert summary.unchanged == len(ids) - 1 and "fit" in summary.seconds


def test_an_edited_annotation_is_rescored_by_the_update(project):
    client, ls, wrong, ids, options = project
    task_id = sorted(wrong)[0]
    task = next(t for t in ls.tasks() if t["id"] == task_id)
    before = ours(task)[0]
    annotation = task["annotations"][0]
    # The annotator removes every entity of the task: its labels change, its probabilities stay.
    client.annotations.update(id=annotation["id"], result=[])
    summary, new = run(ls, options, mode="update")
    assert summary.fit["changed_labels"] == 1 and summary.fit["predicted"] == 0
    assert summary.updated >= 1 and summary.written == 0 and summary.removed == 0
    after = ours(next(t for t in ls.tasks() if t["id"] == task_id))
    assert len(after) == 1 and after[0]["id"] == before["id"]  # updated in place
    assert after[0]["score"] == pytest.approx(new[task_id]["score"]) and after[0] != before
    print(f"update after one edit: {summary.seconds}")


def test_new_and_deleted_tasks_are_handled_by_the_update(project):
    client, ls, _, ids, options = project
    corpus = make_ner_corpus(3, error_rate=0.0, seed=77)
    added = list(client.projects.import_tasks(id=ls.id, return_task_ids=True,
                                              request=corpus_tasks(corpus)).task_ids)
    client.tasks.delete(id=str(ids[0]))
    summary, new = run(ls, options, mode="update")
    assert summary.fit["predicted"] == 3 and summary.fit["dropped"] == 1
    assert set(added) <= set(new) and ids[0] not in new
    tasks = {t["id"]: t for t in ls.tasks()}
    assert all(len(ours(tasks[i])) == 1 for i in added)
    again, _ = run(ls, options, mode="update")
    assert again.fit["dropped"] == 0 and again.written == again.updated == 0


def test_when_most_predictions_change_ours_are_replaced_in_bulk(project, monkeypatch):
    from tokenlq_backend import runs

    client, ls, _, _, options = project
    before = annotations_of(ls)
    monkeypatch.setattr(runs, "BULK_MIN", 10)
    summary, new = run(ls, options, mode="rescore", seed=7)  # new folds: every score moves
    assert summary.removed > 0.9 * len(new) and summary.written == len(new) == summary.scored
    assert summary.updated == 0
    tasks = ls.tasks()
    assert all(len(ours(t)) == (1 if t["id"] in new else 0) for t in tasks)
    assert {t["id"]: ours(t)[0]["score"] for t in tasks if t["id"] in new} == \
        pytest.approx({t: p["score"] for t, p in new.items()})
    assert ls.settings()["model_version"] == MODEL_VERSION  # cleared by the bulk delete, set again
    assert annotations_of(ls) == before


def test_past_bulk_max_a_new_fit_is_written_in_place_writes_per_run_a_run(project, monkeypatch):
    """Never a model version deleted on a big project: every prediction updated in place, the
    run writing at most writes_per_run and leaving the rest to the updates after it, which end
    with one prediction of ours per task, the new fit's."""
    from tokenlq_backend import runs

    client, ls, _, _, options = project
    monkeypatch.setattr(runs, "BULK_MIN", 10)
    monkeypatch.setattr(runs, "BULK_MAX", 50)  # fewer than the project's predictions
    rescore(ls, dataclasses.replace(options, mode="update"))  # one prediction of ours per task
    before = annotations_of(ls)
    ids = {t["id"]: [p["id"] for p in ours(t)] for t in ls.tasks()}
    limit, summaries = 120, []
    result = rescore(ls, dataclasses.replace(options, mode="rescore", seed=11, writes_per_run=limit))
    new = result.predictions
    while True:
        summaries.append(result.summary)
        if not result.summary.pending:
            break
        result = rescore(ls, dataclasses.replace(options, mode="update", writes_per_run=limit))
    assert [s.updated for s in summaries] == [limit, limit, len(new) - 2 * limit]
    assert [s.pending for s in summaries] == [len(new) - limit, len(new) - 2 * limit, 0]
    assert all(s.removed == s.written == 0 for s in summaries)
    assert result.predictions == new
    tasks = ls.tasks()
    assert {t["id"]: [p["id"] for p in ours(t)] for t in tasks} == ids  # the same predictions
    assert {t["id"]: ours(t)[0]["score"] for t in tasks if t["id"] in new} == \
        pytest.approx({t: p["score"] for t, p in new.items()})
    assert ls.settings()["model_version"] == MODEL_VERSION
    assert annotations_of(ls) == before


@pytest.fixture(scope="module")
def user_probs_project(labelstudio):
    """Tasks carrying their own token distributions, in meta (one task) and in data (the rest)."""
    url, token = labelstudio
    client = connect(url, token)
    corpus = make_ner_corpus(40, error_rate=0.1, seed=5)
    names = corpus.class_names
    rng = np.random.default_rng(0)
    payload, probs = corpus_tasks(corpus), []
    for i, task in enumerate(payload):
        rows = rng.dirichlet(np.ones(len(names)), size=len(corpus.tokens[i]))
        rows[np.arange(len(rows)), corpus.labels[i]] += 2  # a model mostly agreeing
        rows /= rows.sum(axis=1, keepdims=True)
        probs.append(rows)
        stored = {"labels": names, "probs": rows.tolist()}
        if i == 0:
            task["meta"] = {"tokenlq_probs": stored}
        else:
            task["data"]["tokenlq_probs"] = stored
    created = client.projects.create(title="tokenlq e2e task probs", label_config=label_config(corpus))
    client.projects.import_tasks(id=created.id, request=payload)
    yield client, LabelStudioProject(client, created.id), corpus, probs
    close(client)


def test_token_distributions_stored_with_tasks_survive_label_studio(user_probs_project):
    client, ls, corpus, probs = user_probs_project
    tasks = sorted(ls.tasks(), key=lambda t: t["id"])
    assert tasks[0]["meta"]["tokenlq_probs"]["probs"] == probs[0].tolist()  # a real round trip
    assert tasks[1]["data"]["tokenlq_probs"]["probs"] == probs[1].tolist()
    summary, new = run(ls, RunOptions(probs="auto"))  # auto takes the user's model
    assert summary.probs == "task" and summary.scored == len(tasks) and not summary.fit
    labels = np.concatenate([np.asarray(s) for s in corpus.labels])
    offsets = np.concatenate(([0], np.cumsum([len(s) for s in corpus.tokens])))
    names = corpus.class_names
    # The same scores as the core's on the same probabilities (at the level of entity types).
    from tokenlq.model import merge_classes
    merged, types = merge_classes(np.concatenate(probs), names)
    type_of = np.array([types.index(n[2:] if "-" in n else n) for n in names])
    expected, _ = get_label_quality_scores(type_of[labels], merged, offsets, renormalize=True)
    got = [new[t["id"]]["score"] for t in tasks]
    np.testing.assert_allclose(got, expected, rtol=1e-9)


def test_broken_task_distributions_fail_the_run_with_the_task_named(user_probs_project):
    client, ls, corpus, probs = user_probs_project
    task = sorted(ls.tasks(), key=lambda t: t["id"])[2]
    data = dict(task["data"])
    rows = [list(r) for r in data["tokenlq_probs"]["probs"]]
    rows[1][0] += 0.5  # the row no longer sums to 1
    data["tokenlq_probs"] = dict(data["tokenlq_probs"], probs=rows)
    client.tasks.update(id=str(task["id"]), data=data)
    with pytest.raises(ProbsError, match=f"task {task['id']}: tokenlq_probs row 1 sums to"):
        run(ls, RunOptions(probs="task"))


def test_span_predictions_of_another_model_are_combined_with_the_embedded_model(labelstudio,
                                                                              monkeypatch):
    from tokenlq_backend import runs

    monkeypatch.setattr(runs, "resolve_model", lambda model: "crf")  # the CRF: exact scores below
    url, token = labelstudio
    client = connect(url, token)
    try:
        corpus = make_ner_corpus(30, error_rate=0.1, seed=8)
        payload = corpus_tasks(corpus)
        for task in payload:  # the other model predicts the given spans, one doubtful
            result = copy.deepcopy(task["annotations"][0]["result"])
            for n, region in enumerate(result):
                region["score"] = 0.3 if n == 0 else 0.95
            task["predictions"] = [{"model_version": "their-model-1", "score": 0.9, "result": result}]
        created = client.projects.create(title="tokenlq e2e prediction probs",
                                         label_config=label_config(corpus))
        client.projects.import_tasks(id=created.id, request=payload)
        ls = LabelStudioProject(client, created.id)
        summary, new = run(ls, RunOptions(probs="prediction:their-model-1"))
        assert summary.probs == "embedded+prediction:their-model-1" and summary.scored == len(payload)
        assert summary.evidence["model"] == "crf" and summary.fit["new"]
        theirs = summary.evidence["predictions"]
        assert (theirs["model_version"], theirs["tasks"], theirs["alone"]) == \
            ("their-model-1", len(payload), False)
        # The scores are the core's on the embedded model's cross-validated probabilities with
        # the other model's, read back from Label Studio, averaged in inside its regions.
        tasks = sorted(ls.tasks(), key=lambda t: t["id"])
        config = parse_label_config(ls.settings()["label_config"])
        read = read_tasks(tasks, config)
        names = project_classes(config)
        embedded = out_of_sample_probs(words(read), read.labels, names, model="crf", folds=5)
        other, inside = prediction_probs(tasks, read.tokens, names, "their-model-1",
                                         from_name=config.from_name, return_inside=True)
        assert inside.sum() == theirs["tokens"] > 0
        expected = score_tasks(read, config, pred_probs=combine_probs(embedded, other, inside),
                               pred_probs_classes=names).sentence_scores
        np.testing.assert_allclose([new[t]["score"] for t in read.task_ids], expected, rtol=1e-9)
        alone = score_tasks(read, config, pred_probs=embedded, pred_probs_classes=names)
        assert not np.allclose(alone.sentence_scores, expected)  # their predictions count
        first = next(t for t in tasks if t["annotations"][0]["result"])
        # auto finds the one other model that predicts every task.
        summary, _ = run(ls, RunOptions(probs="auto"))
        assert summary.probs == "embedded+prediction:their-model-1"
        with pytest.raises(ProbsError, match="has no prediction of model version 'nobody'"):
            run(ls, RunOptions(probs="prediction:nobody"))

        # A second annotation of a task that drops its first entity: the imported one, now
        # the other annotation, votes for the entity, and the task's score falls.
        before = new[first["id"]]["score"]
        dropped = copy.deepcopy(first["annotations"][0]["result"])[1:]
        client.annotations.create(id=first["id"], result=dropped)
        summary, new = run(ls, RunOptions(probs="prediction:their-model-1"))
        assert summary.evidence["other_annotations"] == {"tasks": 1, "annotations": 1,
                                                         "weight": VOTE_WEIGHT}
        assert summary.annotators["overlap_tasks"] == summary.annotators["disagreeing_tasks"] == 1
        assert new[first["id"]]["score"] < before / 3
        annotated = next(t for t in ls.tasks() if t["id"] == first["id"])["annotations"]
        assert len(annotated) == 2  # the service wrote no annotation
    finally:
        close(client)
