"""A run's contract: it reads frozen options and the previous review states, changes neither,
and returns its summary, predictions and new review states (offline: a stand-in project)."""

import copy
import dataclasses

import pytest

from tokenlq.synthetic import make_ner_corpus
from tokenlq_backend.demo import corpus_tasks, label_config
from tokenlq_backend.runs import RunOptions, RunResult, rescore


class OfflineProject:
    """What rescore asks of Label Studio, answered from a generated corpus."""

    id = 7

    def __init__(self):
        corpus = make_ner_corpus(60, error_rate=0.1, seed=3)
        self._tasks = [dict(t, id=100 + i) for i, t in enumerate(corpus_tasks(corpus))]
        self._config = label_config(corpus)
        self.written = {}

    def settings(self):
        return {"title": "offline", "model_version": None, "label_config": self._config}

    def tasks(self):
        return copy.deepcopy(self._tasks)

    def create_predictions(self, predictions):
        self.written.update(predictions)
        return len(predictions)

    def delete_predictions(self, ids):
        pass

    update_predictions = delete_predictions
    set_model_version = delete_predictions

    def show_issues_view(self, filters, layout):
        return 11


def test_options_are_checked_and_frozen():
    options = RunOptions(probs="crf", folds=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.mode = "update"
    with pytest.raises(ValueError, match="mode must be one of"):
        RunOptions(mode="fast")
    with pytest.raises(ValueError, match="probability source"):
        RunOptions(probs="mine")


def test_a_run_returns_its_review_states_and_changes_none_of_its_inputs():
    ls, options = OfflineProject(), RunOptions(probs="crf", folds=3)
    first = rescore(ls, options)
    assert isinstance(first, RunResult) and first.predictions == ls.written
    pending = {t for t, state in first.reviews.items() if state["status"] == "pending"}
    assert pending and first.summary.reviews["pending"] == len(pending)

    previous = copy.deepcopy(first.reviews)
    second = rescore(ls, options, reviews=first.reviews)
    assert first.reviews == previous and options == RunOptions(probs="crf", folds=3)
    assert set(second.reviews) == pending  # the same labels and folds: the same findings
