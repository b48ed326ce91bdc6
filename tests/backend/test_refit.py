"""A refit keeps the stored fit's probabilities where the new ones change nothing a reviewer
sees (backend.embedded.settle_refit), so the update after it rewrites few predictions, and the
project still ends exactly where a full rescoring with the stored fit would (offline: stand-in
projects that hold the predictions written)."""

import dataclasses

import numpy as np

from tokenlq_backend.embedded import SCORE_TOLERANCE, new_fit, settle_refit
from tokenlq_backend.fits import load_fit
from tokenlq_backend.labelstudio.config import parse_label_config
from tokenlq_backend.runs import RunOptions, refit, rescore
from tokenlq_backend.scoring import project_classes, read_tasks, score_tasks


def _relabel(ls, task_index: int) -> int:
    """Give the first region of a task another type; the task's id."""
    task = ls._tasks[task_index]
    region = task["annotations"][0]["result"][0]
    region["value"]["labels"] = ["MISC" if region["value"]["labels"] != ["MISC"] else "PER"]
    return task["id"]


def _rows(fit, i):
    return fit.probs[fit.offsets[i]:fit.offsets[i + 1]]


def test_a_refit_takes_the_new_probabilities_only_where_a_reviewer_sees_them_change(
        written_project):
    ls = written_project()
    config = parse_label_config(ls.settings()["label_config"])
    classes = project_classes(config)
    stored = new_fit(read_tasks(ls.tasks(), config), classes, model="crf", folds=3, seed=0)
    edited = _relabel(ls, next(i for i, t in enumerate(ls._tasks) if t["annotations"][0]["result"]))
    project = read_tasks(ls.tasks(), config)
    fresh = new_fit(project, classes, model="crf", folds=3, seed=7)  # other folds: all move
    settled, adopted = settle_refit(stored, fresh, project, config)

    took = [not np.array_equal(_rows(settled, i), _rows(stored, i)) for i in range(len(ls._tasks))]
    assert all(np.array_equal(_rows(settled, i), _rows(fresh if new else stored, i))
               for i, new in enumerate(took))
    assert sum(took) == adopted and took[project.task_ids.index(edited)]
    assert 0 < adopted < len(ls._tasks)
    assert settled.model_name == "crf" and settled.model is fresh.model  # it predicts new tasks

    # Each task kept looks the same with the new fit: findings, flagged tokens and, in the queue,
    # its score within the tolerance; each task that took the new fit differs in one of them.
    before, after = (score_tasks(project, config, pred_probs=f.probs, pred_probs_classes=classes)
                     for f in (stored, fresh))
    queues = [max(result.sentence_scores[i] for i, _ in result.issues) for result in (before, after)]
    for i, new in enumerate(took):
        spans = [before.spans[before.spans.sentence == i].drop(columns="score").to_dict("records"),
                 after.spans[after.spans.sentence == i].drop(columns="score").to_dict("records")]
        flags = [sorted(j for s, j in result.issues if s == i) for result in (before, after)]
        moved = abs(after.sentence_scores[i] - before.sentence_scores[i])
        queued = before.sentence_scores[i] <= queues[0] or after.sentence_scores[i] <= queues[1]
        visible = spans[0] != spans[1] or flags[0] != flags[1] or (queued and moved > SCORE_TOLERANCE)
        assert new == (visible or project.task_ids[i] == edited)


def test_another_model_or_no_stored_fit_takes_the_new_fit_whole(written_project):
    ls = written_project()
    config = parse_label_config(ls.settings()["label_config"])
    project = read_tasks(ls.tasks(), config)
    stored = new_fit(project, project_classes(config), model="crf", folds=3, seed=0)
    fresh = dataclasses.replace(stored, model_name="crf+encoder", probs=stored.probs * 0.5)
    assert settle_refit(stored, fresh, project, config) == (fresh, len(project.task_ids))
    assert settle_refit(None, stored, project, config) == (stored, len(project.task_ids))


def test_the_update_after_a_refit_rewrites_only_what_changed_and_ends_as_a_full_rescoring(
        tmp_path, written_project):
    ls, whole = written_project(), written_project()
    options = RunOptions(probs="crf", folds=3, data_dir=tmp_path / "fits")
    first = rescore(ls, options)
    _relabel(ls, next(i for i, t in enumerate(ls._tasks) if t["annotations"][0]["result"]))
    summary = refit(ls, dataclasses.replace(options, seed=7))
    assert summary.to_dict()["adopted"] == summary.adopted and 0 < summary.adopted < 60
    assert set(summary.seconds) == {"pull", "fit", "settle"}

    update = rescore(ls, dataclasses.replace(options, mode="update"), reviews=first.reviews)
    assert 0 < update.summary.updated < len(ls._tasks)  # not every prediction
    # A task kept its stored probabilities and labels: its score is exactly the one written.
    rescored = [t for t, p in update.predictions.items() if p["score"] != first.predictions[t]["score"]]
    assert 0 < len(rescored) <= summary.adopted
    # A full rescoring with the stored fit, on a project whose predictions were all written
    # from it, ends in the same state.
    whole._tasks = [dict(t, predictions=[]) for t in ls.tasks()]
    full = rescore(whole, dataclasses.replace(options, mode="update"), reviews=first.reviews)
    assert full.predictions == update.predictions and full.reviews.keys() == update.reviews.keys()
    assert load_fit(tmp_path / "fits", ls.id).model_name == "crf"
