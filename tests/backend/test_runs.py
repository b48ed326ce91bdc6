"""A run's contract: it reads frozen options and the previous review states, changes neither,
and returns its summary, predictions and new review states (offline: a stand-in project)."""

import copy
import dataclasses

import pytest

from tokenlq_backend.runs import RunOptions, RunResult, rescore


def test_options_are_checked_and_frozen():
    options = RunOptions(probs="crf", folds=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.mode = "update"
    with pytest.raises(ValueError, match="mode must be one of"):
        RunOptions(mode="fast")
    with pytest.raises(ValueError, match="probability source"):
        RunOptions(probs="mine")


def test_a_run_returns_its_review_states_and_changes_none_of_its_inputs(offline_project):
    ls, options = offline_project, RunOptions(probs="crf", folds=3)
    first = rescore(ls, options)
    assert isinstance(first, RunResult) and first.predictions == ls.written
    pending = {t for t, state in first.reviews.items() if state["status"] == "pending"}
    assert pending and first.summary.reviews["pending"] == len(pending)

    previous = copy.deepcopy(first.reviews)
    second = rescore(ls, options, reviews=first.reviews)
    assert first.reviews == previous and options == RunOptions(probs="crf", folds=3)
    assert set(second.reviews) == pending  # the same labels and folds: the same findings
