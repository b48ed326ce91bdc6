"""A run's contract: it reads frozen options and the previous review states, changes neither,
and returns its summary, predictions and new review states (offline: a stand-in project); and
the evidence it scores with: the embedded model, another model's predictions, other annotations."""

import copy
import dataclasses

import numpy as np
import pytest

from tokenlq.model import out_of_sample_probs
from tokenlq_backend import runs
from tokenlq_backend.labelstudio.config import parse_label_config
from tokenlq_backend.probs import PREDICTION_WEIGHT, combine_probs, prediction_probs
from tokenlq_backend.runs import RunOptions, RunResult, rescore
from tokenlq_backend.scoring import project_classes, read_tasks, score_tasks, words


def test_options_are_checked_and_frozen():
    options = RunOptions(probs="crf", folds=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.mode = "update"
    with pytest.raises(ValueError, match="mode must be one of"):
        RunOptions(mode="fast")
    with pytest.raises(ValueError, match="probability source"):
        RunOptions(probs="mine")
    for wrong in (0, 2.5, True):
        with pytest.raises(ValueError, match="writes_per_run must be a positive integer"):
            RunOptions(writes_per_run=wrong)


def test_a_run_returns_its_review_states_and_changes_none_of_its_inputs(offline_project):
    ls, options = offline_project, RunOptions(probs="crf", folds=3)
    first = rescore(ls, options)
    assert isinstance(first, RunResult) and first.predictions == ls.written
    pending = {t for t, state in first.reviews.items() if state["status"] == "pending"}
    assert pending and first.summary.reviews["pending"] == len(pending)

    previous = copy.deepcopy(first.reviews)
    second = rescore(ls, options, reviews=first.reviews)
    assert first.reviews == previous and options == RunOptions(probs="crf", folds=3)
    assert first.summary.fit["why"] == "the probability source is crf"  # the summary says why
    assert set(second.reviews) == pending  # the same labels and folds: the same findings


@pytest.mark.encoder
def test_past_its_token_limit_auto_fits_the_crf_alone_and_asks_no_refit(offline_project, monkeypatch):
    """At 1.8 million tokens crf+encoder peaked at 7.0 GB: past ENCODER_MAX_TOKENS auto keeps
    the CRF, and the first update asks for no refit to add the encoder."""
    tokens = sum(len(t["data"]["text"].split()) for t in offline_project.tasks())
    monkeypatch.setattr(runs, "ENCODER_MAX_TOKENS", tokens - 1)
    first = rescore(offline_project, RunOptions(folds=3, mode="update"))
    assert first.summary.fit["model"] == "crf" and not first.summary.refit
    assert first.summary.fit["why"] == (
        f"auto: the CRF alone past {tokens - 1:,} tokens (this project has {tokens:,}); the "
        "encoder's fit would hold every token's vector")
    monkeypatch.setattr(runs, "ENCODER_MAX_TOKENS", tokens)  # at the limit: the encoder follows
    second = rescore(offline_project, RunOptions(folds=3, mode="update"))
    assert second.summary.fit["model"] == "crf" and second.summary.refit


def _with_their_predictions(ls, version="their-model"):
    """Every task of ``ls`` gets a prediction of ``version``: its given spans, the first one
    doubted (score 0.3), the others sure (0.95)."""
    for task in ls._tasks:
        result = copy.deepcopy(task["annotations"][0]["result"])
        for n, region in enumerate(result):
            region["score"] = 0.3 if n == 0 else 0.95
        task["predictions"] = [{"id": task["id"], "model_version": version, "score": 0.9,
                                "result": result}]


def _expected_scores(ls, folds, *, probs_of):
    """The task scores of the core on ``probs_of(project, config, class_names)``."""
    config = parse_label_config(ls.settings()["label_config"])
    project = read_tasks(ls.tasks(), config)
    names = project_classes(config)
    result = score_tasks(project, config, pred_probs=probs_of(project, config, names),
                         pred_probs_classes=names)
    return dict(zip(project.task_ids, result.sentence_scores))


def test_another_models_predictions_are_averaged_with_the_embedded_model(offline_project,
                                                                        monkeypatch):
    monkeypatch.setattr(runs, "resolve_model", lambda model: "crf")  # no encoder in a unit test
    ls = offline_project
    _with_their_predictions(ls)
    summary = rescore(ls, RunOptions(probs="prediction:their-model", folds=3)).summary
    assert summary.probs == "embedded+prediction:their-model"
    assert summary.evidence["model"] == "crf" and "other_annotations" not in summary.evidence
    theirs = summary.evidence["predictions"]
    assert (theirs["model_version"], theirs["tasks"], theirs["weight"], theirs["alone"]) == \
        ("their-model", summary.scored, PREDICTION_WEIGHT, False)
    assert 0 < theirs["tokens"] < summary.tokens  # the tokens inside their regions

    def combined(project, config, names):
        embedded = out_of_sample_probs(words(project), project.labels, names, model="crf", folds=3)
        tasks = {t["id"]: t for t in ls.tasks()}
        other, inside = prediction_probs([tasks[t] for t in project.task_ids], project.tokens,
                                         names, "their-model", from_name=config.from_name,
                                         return_inside=True)
        assert inside.sum() == theirs["tokens"]
        return combine_probs(embedded, other, inside)

    expected = _expected_scores(ls, 3, probs_of=combined)
    got = {t: p["score"] for t, p in ls.written.items()}
    assert got.keys() == expected.keys()
    np.testing.assert_allclose([got[t] for t in expected], list(expected.values()), rtol=1e-9)


def test_auto_combines_the_one_other_model_that_predicts_every_task(offline_project, monkeypatch):
    monkeypatch.setattr(runs, "resolve_model", lambda model: "crf")
    ls = offline_project
    _with_their_predictions(ls)
    summary = rescore(ls, RunOptions(probs="auto", folds=3)).summary
    assert summary.probs == "embedded+prediction:their-model"
    _with_their_predictions(ls, "another-model")  # replaces theirs on every task ...
    ls._tasks[0]["predictions"].append({"id": 1, "model_version": "their-model", "result": []})
    summary = rescore(ls, RunOptions(probs="auto", folds=3)).summary
    assert summary.probs == "embedded+prediction:another-model"
    for task in ls._tasks:  # ... two models predict every task: which one is meant is unknown
        task["predictions"].append({"id": 2, "model_version": "their-model", "result": []})
    summary = rescore(ls, RunOptions(probs="auto", folds=3)).summary
    assert summary.probs == "embedded" and "predictions" not in summary.evidence


def test_with_too_few_tasks_for_the_embedded_model_their_predictions_are_used_alone(offline_project):
    ls = offline_project
    _with_their_predictions(ls)
    summary = rescore(ls, RunOptions(probs="prediction:their-model", folds=100)).summary
    assert summary.probs == "prediction:their-model" and summary.fit["skipped"]
    assert summary.evidence["predictions"]["alone"] and summary.evidence["model"] is None
    assert summary.scored == 60

    def alone(project, config, names):
        tasks = {t["id"]: t for t in ls.tasks()}
        return prediction_probs([tasks[t] for t in project.task_ids], project.tokens, names,
                                "their-model", from_name=config.from_name)

    expected = _expected_scores(ls, 100, probs_of=alone)
    np.testing.assert_allclose([ls.written[t]["score"] for t in expected], list(expected.values()),
                               rtol=1e-9)


def test_the_other_annotations_of_a_task_vote_and_their_disagreements_rank_high(offline_project):
    ls = offline_project
    plain = rescore(ls, RunOptions(probs="crf", folds=3))
    plain_scores = {t: p["score"] for t, p in plain.predictions.items()}
    # Five tasks get a second, older annotation by another annotator: on the least suspect
    # ones, it drops the first entity; on two others, it repeats the given one.
    by_score = sorted((t for t in ls._tasks if t["annotations"][0]["result"]),
                      key=lambda t: -plain_scores[t["id"]])
    disagreeing, agreeing = by_score[:5], by_score[5:7]
    for task in disagreeing + agreeing:
        given = task["annotations"][0]
        given.update(id=task["id"], completed_by=1, updated_at="2026-02-01")
        result = copy.deepcopy(given["result"])
        task["annotations"].append({"id": 1000 + task["id"], "completed_by": 2,
                                    "updated_at": "2026-01-01",
                                    "result": result[1:] if task in disagreeing else result})
    voted = rescore(ls, RunOptions(probs="crf", folds=3))
    summary = voted.summary
    assert summary.evidence["other_annotations"] == {"tasks": 7, "annotations": 7, "weight": 0.999}
    assert summary.probs == "embedded" and summary.evidence["model"] == "crf"
    assert set(summary.evidence) <= set(runs.EVIDENCE_FIELDS)
    scores = {t: p["score"] for t, p in voted.predictions.items()}
    # The least suspect tasks before; now the other annotation's disagreement decides and the
    # model only breaks ties: each scores at most 0.001.
    assert max(scores[t["id"]] for t in disagreeing) <= 0.001 < min(plain_scores.values())
    for task in disagreeing:
        notes = [r["meta"]["text"][0] for r in voted.predictions[task["id"]]["result"] if "meta" in r]
        assert notes and all("(model and other annotations:" in n for n in notes)
    for task in agreeing:  # their agreement is evidence that the labels are right
        assert scores[task["id"]] >= 0.999
    # Annotators are judged by the model alone: the given annotations' rows are unchanged.
    assert summary.annotators["overlap_tasks"] == 7 and summary.annotators["disagreeing_tasks"] == 5
    rows = {r["annotator"]: r for r in summary.annotators["annotators"]}
    assert rows[2]["annotations"] == 7 and rows[2]["disagreeing_tasks"] == 5


def test_a_stored_fit_gives_each_task_its_own_rows(offline_project):
    """reuse_fit takes each fitted task's stored rows by its id, whatever the project's order,
    and predicts the tasks the fit never saw (new, or with a new text)."""
    from tokenlq_backend.embedded import new_fit, reuse_fit

    config = parse_label_config(offline_project.settings()["label_config"])
    names = project_classes(config)
    tasks = offline_project.tasks()
    fit = new_fit(read_tasks(tasks, config), names, model="crf", folds=2, seed=0)
    same = reuse_fit(fit, read_tasks(tasks, config))
    assert same.probs.base is fit.probs and not same.probs.flags.writeable  # no copy
    assert (same.from_fit, same.predicted, same.changed_labels, same.dropped) == (60, 0, 0, 0)

    edited = copy.deepcopy(tasks[::-1][1:])  # reversed, the (first) last task deleted
    edited[0]["data"]["text"] += " Paris"  # a new text: predicted
    edited[0]["data"]["tokens"].append("Paris")
    edited[1]["annotations"][0]["result"] = []  # new labels, same words: the stored rows
    edited.append(dict(copy.deepcopy(tasks[0]), id=999))  # a task the fit never saw
    project = read_tasks(edited, config)
    reuse = reuse_fit(fit, project)
    assert (reuse.from_fit, reuse.predicted, reuse.changed_labels, reuse.dropped) == (58, 2, 1, 1)
    rows, at = fit.rows(), np.cumsum([0] + [len(t) for t in project.tokens])
    for i, task_id in enumerate(project.task_ids):
        mine = reuse.probs[at[i]:at[i + 1]]
        if task_id in (edited[0]["id"], 999):
            expected = fit.model.predict_probs([words(project)[i]])
        else:
            expected = fit.probs[fit.offsets[rows[task_id]]:fit.offsets[rows[task_id] + 1]]
        np.testing.assert_array_equal(mine, expected)
