"""Probability sources: the user's token distributions stored with tasks and other models'
span predictions, checked row by row with the task named in every error."""

import numpy as np
import pytest

from tokenlq_backend.probs import (ProbsError, combine_probs, prediction_probs,
                                   shared_prediction_version, task_probs, tasks_with_probs,
                                   vote_probs, vote_scores)
from tokenlq_backend.probs_sources import check_source

NAMES = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
TOKENS = [("Anna", 0, 4), ("Smith", 5, 10), ("in", 11, 13), ("Rome", 14, 18)]


def stored(rows, labels=NAMES, place="data"):
    return {"id": 7, place: {"tokenlq_probs": {"labels": labels, "probs": rows}}}


def test_rows_are_placed_in_the_project_class_order_and_missing_classes_are_zero():
    task = stored([[0.1, 0.9], [1, 0], [1, 0], [0.5, 0.5]], labels=["O", "B-PER"], place="meta")
    probs = task_probs([task], [4], NAMES)
    np.testing.assert_allclose(probs[:, :2], [[0.1, 0.9], [1, 0], [1, 0], [0.5, 0.5]])
    assert probs[:, 2:].sum() == 0 and tasks_with_probs([task, {"id": 8}]) == 1


def test_meta_comes_before_data():
    task = {"id": 7, "meta": {"tokenlq_probs": {"labels": ["O"], "probs": [[1.0]]}},
            "data": {"tokenlq_probs": {"labels": ["B-PER"], "probs": [[1.0]]}}}
    assert task_probs([task], [1], NAMES)[0, 0] == 1


@pytest.mark.parametrize("task, message", [
    ({"id": 7}, "task 7: tokenlq_probs is missing"),
    (stored("nope"), "must be an object with a 'labels' list"),
    (stored([[1, 0, 0, 0, 0]] * 4, labels=["O", "B-PER", "I-PER", "B-LOC", "B-MISC"]),
     r"labels the project does not have: \['B-MISC'\]"),
    (stored([[1, 0]] * 4, labels=["O", "O"]), "names a label twice"),
    (stored([[1, 0, 0, 0, 0]] * 3), r"one row of 5 numbers per token \(4 tokens\); got shape \[3, 5\]"),
    (stored([["a", 0, 0, 0, 0]] * 4), "must be a list of rows of numbers"),
    (stored([[1, 0, 0, 0, 0]] * 3 + [[float("nan"), 1, 0, 0, 0]]), "row 3 has a NaN"),
    (stored([[1, 0, 0, 0, 0]] * 3 + [[-0.5, 1.5, 0, 0, 0]]), "row 3 has a NaN, infinite or negative"),
    (stored([[0.5, 0, 0, 0, 0]] + [[1, 0, 0, 0, 0]] * 3), "row 0 sums to 0.5, not 1"),
])
def test_bad_distributions_name_the_task_and_the_problem(task, message):
    with pytest.raises(ProbsError, match=message):
        task_probs([task], [4], NAMES)


def test_span_predictions_become_smoothed_token_distributions():
    task = {"id": 3, "predictions": [
        {"id": 1, "model_version": "m", "score": 0.8, "updated_at": "2026-01-01", "result": [
            {"from_name": "label", "value": {"start": 0, "end": 10, "labels": ["PER"]}},
            {"from_name": "label", "value": {"start": 14, "end": 18, "labels": ["LOC"]}, "score": 0.4}]},
        {"id": 2, "model_version": "m", "score": 0.1, "updated_at": "2025-01-01", "result": []},
        {"id": 3, "model_version": "other", "score": 0.1, "result": []}]}
    probs = prediction_probs([task], [TOKENS], NAMES, "m", from_name="label")
    s, k = 0.02, len(NAMES)
    expected = np.zeros((4, k))
    expected[0, [0, 1]] = [0.2, 0.8]  # the prediction's score: no region score
    expected[1, [0, 2]] = [0.2, 0.8]
    expected[2, 0] = 1
    expected[3, [0, 3]] = [0.6, 0.4]
    np.testing.assert_allclose(probs, (1 - s) * expected + s / k)
    np.testing.assert_allclose(probs.sum(axis=1), 1)
    with pytest.raises(ProbsError, match="task 3 has no prediction of model version 'x'"):
        prediction_probs([task], [TOKENS], NAMES, "x", from_name="label")


def test_the_tokens_inside_predicted_regions_are_marked():
    task = {"id": 3, "predictions": [{"model_version": "m", "result": [
        {"from_name": "label", "value": {"start": 14, "end": 18, "labels": ["LOC"]}, "score": 0.4},
        {"from_name": "other", "value": {"start": 0, "end": 4, "labels": ["PER"]}}]}]}
    probs, inside = prediction_probs([task, task], [TOKENS, TOKENS], NAMES, "m", from_name="label",
                                     return_inside=True)
    assert inside.tolist() == [False, False, False, True] * 2 and probs.shape == (8, 5)


def test_another_model_is_averaged_in_only_inside_its_regions():
    embedded = np.array([[0.7, 0.1, 0.2], [0.2, 0.5, 0.3], [0.1, 0.1, 0.8]])
    other = np.array([[0.1, 0.8, 0.1], [0.9, 0.05, 0.05], [1.0, 0.0, 0.0]])
    inside = np.array([True, True, False])
    mixed = combine_probs(embedded, other, inside, weight=0.25)
    np.testing.assert_allclose(mixed[:2], 0.75 * embedded[:2] + 0.25 * other[:2])
    np.testing.assert_array_equal(mixed[2], embedded[2])
    np.testing.assert_allclose(mixed.sum(axis=1), 1)
    assert combine_probs(embedded, other, np.zeros(3, dtype=bool)) is not embedded


def test_the_one_other_model_predicting_every_task_is_found():
    def task(*versions):
        return {"predictions": [{"model_version": v} for v in versions]}

    assert shared_prediction_version([task("theirs", "tokenlq-1.0"), task("theirs", "old")]) == "theirs"
    assert shared_prediction_version([task("theirs"), task("old")]) is None  # none on every task
    assert shared_prediction_version([task("a", "b"), task("a", "b")]) is None  # which one?
    assert shared_prediction_version([task("tokenlq-1.0", ""), task("tokenlq-1.0", "")]) is None
    assert shared_prediction_version([task(None), {}]) is None and shared_prediction_version([]) is None


def test_other_annotations_vote_on_their_task_only():
    probs = np.full((5, 3), 1 / 3)
    names = ["O", "B-PER", "I-PER"]
    others = [[["B-PER", "O"], ["O", "O"]], [], [["O"]]]  # tasks of 2, 2 and 1 tokens
    voted = vote_probs(probs, [0, 2, 4, 5], others, names, weight=0.6)
    np.testing.assert_allclose(voted[0], 0.4 / 3 + 0.6 * np.array([0.5, 0.5, 0]))
    np.testing.assert_allclose(voted[1], 0.4 / 3 + 0.6 * np.array([1, 0, 0]))
    np.testing.assert_array_equal(voted[2:4], probs[2:4])  # annotated once: unchanged
    np.testing.assert_allclose(voted[4], 0.4 / 3 + 0.6 * np.array([1, 0, 0]))
    np.testing.assert_allclose(voted.sum(axis=1), 1)
    assert probs[0, 0] == 1 / 3  # the input is not changed


def test_other_annotations_vote_on_the_scores_after_everything_else():
    labels = [["B-PER", "I-PER", "O"], ["O"]]
    others = [[["B-PER", "O", "O"], ["B-PER", "I-PER", "B-LOC"]], []]
    sentences, tokens = vote_scores([0.6, 0.3], [0.9, 0.6, 0.7, 0.3], labels, [0, 3, 4], others,
                                    weight=0.9)
    np.testing.assert_allclose(tokens, [0.09 + 0.9, 0.06 + 0.45, 0.07 + 0.45, 0.3])
    np.testing.assert_allclose(sentences, [0.06 + 0.45, 0.3])  # its least agreed token: 1 of 2


@pytest.mark.parametrize("value", ["auto", "task", "crf", "prediction:v1"])
def test_sources(value):
    assert check_source(value) == value


@pytest.mark.parametrize("value", ["", "prediction:", "encoder", None, 3])
def test_unknown_sources(value):
    with pytest.raises(ValueError, match="auto, task, crf or prediction:<model_version>"):
        check_source(value)
