"""Fixtures of the service's tests, as in Flask's tutorial: ``settings``, the ``app`` built from
them (its job queue not started) and its ``client``; a module that needs other settings
overrides ``settings``. ``open_store`` opens the store on each database (SQLite, and a
PostgreSQL of the tests' own). ``run_summary`` makes the summary of a finished run;
``offline_project`` is a stand-in Label Studio project that runs can score offline;
``written_project`` makes stand-ins that also hold the predictions written to them.

Without the backend extra the suite skips, naming the missing module.
"""

import copy

import pytest

for _module in ("flask", "label_studio_sdk", "plotly", "prometheus_client"):  # the backend extra
    pytest.importorskip(_module)

from tokenlq.synthetic import make_ner_corpus  # noqa: E402  (after the extra's check)
from tokenlq_backend import create_app  # noqa: E402
from tokenlq_backend.demo import corpus_tasks, label_config  # noqa: E402
from tokenlq_backend.settings import Settings  # noqa: E402
from tokenlq_backend.storage import Store  # noqa: E402


@pytest.fixture
def settings(tmp_path):
    """Defaults, with a data directory of the test's own."""
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def app(settings):
    return create_app(settings, start_queue=False)


@pytest.fixture
def client(app):
    return app.test_client()


def _run_summary(error_rate, flagged, *, token="Paris", reviews=None, title="Acme news NER"):
    return {"project_title": title, "model_version": "tokenlq-x", "probs": "embedded", "fit": {"model": "crf"},
            "tasks": 10, "scored": 9, "tokens": 90, "flagged": flagged, "error_rate": error_rate,
            "reviews": reviews or {"pending": flagged}, "warnings": {"partial_token_overlap": 2},
            "seconds": {"pull": 1.0, "score": 0.5}, "view": 4,
            "classes": [{"type": "O", "tokens": 70, "entities": None, "flagged_tokens": 1,
                         "flagged_spans": 1, "estimated_error_rate": error_rate / 2,
                         "top_confusions": [{"suggested": "PER", "count": 1}],
                         "top_flagged_tokens": [{"token": "x", "count": 1}]},
                        {"type": "PER", "tokens": 20, "entities": 10, "flagged_tokens": 2,
                         "flagged_spans": 2, "estimated_error_rate": error_rate * 2,
                         "top_confusions": [{"suggested": "LOC", "count": 2}, {"suggested": "O", "count": 1}],
                         "top_flagged_tokens": [{"token": "y", "count": 2}]}],
            "confusions": [["PER", "LOC", 2], ["O", "PER", 1]],
            "suspicious_tokens": [{"task": 3, "token": token, "given": "PER", "suggested": "LOC",
                                   "score": 0.01}],
            "suspicious_entities": [{"task": 3, "text": token, "given": "PER", "suggested": "LOC",
                                     "kind": "wrong_type", "score": 0.01}],
            "annotators": {}}


@pytest.fixture
def run_summary():
    """Makes a run's summary as a job stores it: ``run_summary(error_rate, flagged, *,
    token="Paris", reviews=None, title="Acme news NER")``; ``token`` is the flagged token's and
    entity's text."""
    return _run_summary


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def open_store(request, tmp_path):
    """Opens the store on each database: SQLite under tmp_path, or a new PostgreSQL database."""
    url = request.getfixturevalue("database_url") if request.param == "postgresql" else ""
    return lambda: Store(tmp_path, url)


class OfflineProject:
    """What a run asks of Label Studio, answered from a generated corpus (60 tasks, 10% label
    errors, seed 3): project 7, titled "Acme news NER", whose issues view is 11. The
    predictions created are kept in ``written``."""

    id = 7

    def __init__(self):
        corpus = make_ner_corpus(60, error_rate=0.1, seed=3)
        self._tasks = [dict(t, id=100 + i) for i, t in enumerate(corpus_tasks(corpus))]
        self._config = label_config(corpus)
        self.written = {}

    def settings(self):
        return {"title": "Acme news NER", "model_version": None, "label_config": self._config}

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


@pytest.fixture
def offline_project():
    """A new :class:`OfflineProject`."""
    return OfflineProject()


class WrittenProject(OfflineProject):
    """An :class:`OfflineProject` whose tasks hold the predictions written to it, as Label
    Studio's do."""

    def __init__(self):
        super().__init__()
        self.next_id, self.calls = 1, []

    def _ours(self, task_id):
        task = next(t for t in self._tasks if t["id"] == task_id)
        return task.setdefault("predictions", [])

    def create_predictions(self, predictions):
        self.calls.append(("create", len(predictions)))
        for task_id, prediction in predictions.items():
            self._ours(task_id).append(dict(copy.deepcopy(prediction), id=self.next_id))
            self.next_id += 1
        return len(predictions)

    def update_predictions(self, predictions):
        self.calls.append(("update", len(predictions)))
        for task in self._tasks:
            for n, old in enumerate(task.get("predictions") or ()):
                if old["id"] in predictions:
                    task["predictions"][n] = dict(copy.deepcopy(predictions[old["id"]]), id=old["id"])

    def delete_predictions(self, ids):
        self.calls.append(("delete", len(ids)))
        for task in self._tasks:
            task["predictions"] = [p for p in task.get("predictions") or () if p["id"] not in ids]

    def delete_model_version(self, version):
        self.calls.append(("delete version", version))
        removed = 0
        for task in self._tasks:
            kept = [p for p in task.get("predictions") or () if p["model_version"] != version]
            removed += len(task.get("predictions") or ()) - len(kept)
            task["predictions"] = kept
        return removed


@pytest.fixture
def written_project():
    """Makes a new :class:`WrittenProject` with each call."""
    return WrittenProject
