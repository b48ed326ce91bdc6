"""Probabilities of the embedded model, computed (no disk, no HTTP): a new cross-validated fit
of a project, or a stored fit reused for the project as it is now.

Why a stored fit can be reused: a task's out-of-sample probabilities do not depend on its own
labels, so when an annotator edits a task its stored probabilities stay valid and the run only
re-scores. Tasks the fit never saw (new, or with a changed text) get probabilities from the
model trained on every fitted task, which never saw them either. Keeping fits on disk is
:mod:`backend.fits`; deciding when to fit anew is :mod:`backend.runs`.

Why a refit keeps most of the stored probabilities: every model of a new cross-validation moves
a little, so every task's score moves (at 100,000 WNUT-17 tasks after 1% of them were edited:
median 0.002, 90th percentile 0.03), and writing them all back to Label Studio one by one takes
it over an hour and a half. A task takes the new fit's probabilities when they change what a
reviewer sees (:func:`settle_refit`): its findings or flagged tokens, or, in the review queue,
its score by more than :data:`SCORE_TOLERANCE`; and when it changed since the stored fit. Both
fits' probabilities are out-of-sample, so their mixture is too, and everything the service
shows stays a function of the stored fit (a reconciliation still ends where a full rescoring
would).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from tokenlq import offsets_from_lengths
from tokenlq.model import out_of_sample_probs

from .fits import ProjectFit
from .scoring import ProjectCorpus, score_tasks, words

__all__ = ["SCORE_TOLERANCE", "FitReuse", "new_fit", "only_tasks", "reuse_fit", "settle_refit"]

# A score move that changes the review queue's order only among tasks this close.
SCORE_TOLERANCE = 0.01


def new_fit(project: ProjectCorpus, class_names, *, model: str, folds: int, seed: int) -> ProjectFit:
    """Cross-validate ``model`` ("crf" or "crf+encoder") on the project's annotated tasks."""
    probs, fitted = out_of_sample_probs(words(project), project.labels, class_names, model=model,
                                        folds=folds, seed=seed, return_model=True)
    token_keys, label_keys = project.keys()
    return ProjectFit(model, class_names, np.asarray(project.task_ids, dtype=np.int64),
                      list(token_keys), list(label_keys),
                      offsets_from_lengths([len(t) for t in project.tokens]), probs, fitted, time.time())


@dataclass(frozen=True)
class FitReuse:
    """What :func:`reuse_fit` made of a stored fit."""
    probs: np.ndarray  # (n, K) for the project's tasks, in their order
    from_fit: int  # tasks whose stored probabilities were taken
    predicted: int  # tasks the fitted model predicted (new, or with a changed text)
    changed_labels: int  # of the tasks from the fit, those whose labels changed since
    dropped: int  # fitted tasks no longer in the project
    unchanged: np.ndarray  # (N,) bool: the task's text and labels are those the fit saw


def reuse_fit(fit: ProjectFit, project: ProjectCorpus) -> FitReuse:
    """The project's probabilities from ``fit`` (module docstring)."""
    rows, offsets = fit.rows(), fit.offsets
    found = [rows.get(t, -1) for t in project.task_ids]
    missing, unchanged = [], np.zeros(len(found), dtype=bool)
    for i, (row, token_key, label_key) in enumerate(zip(found, *project.keys())):
        if row >= 0 and fit.token_keys[row] == token_key:
            unchanged[i] = fit.label_keys[row] == label_key
        else:
            missing.append(i)
    row_of = np.array(found, dtype=np.int64)
    lengths = np.array([len(t) for t in project.tokens], dtype=np.int64)
    starts = offsets_from_lengths(lengths)
    kept = np.ones(len(row_of), dtype=bool)
    kept[missing] = False
    if not missing and len(row_of) == len(fit.task_ids) and \
            np.array_equal(row_of, np.arange(len(row_of))):
        probs = fit.probs.view()  # the fit's tasks in its order: its array, not a copy,
        probs.flags.writeable = False  # that nothing may change
    else:
        probs = np.empty((int(starts[-1]), len(fit.class_names)))
        # Every kept task's rows gathered at once: each token's row in the fit.
        within = np.arange(starts[-1]) - np.repeat(starts[:-1], lengths)
        token_kept = np.repeat(kept, lengths)
        probs[token_kept] = fit.probs[(np.repeat(offsets[row_of.clip(0)], lengths) + within)[token_kept]]
    if missing:
        task_words = words(project)
        predicted = fit.model.predict_probs([task_words[i] for i in missing])
        at = np.cumsum([0] + [int(lengths[i]) for i in missing])
        for n, i in enumerate(missing):
            probs[starts[i]:starts[i + 1]] = predicted[at[n]:at[n + 1]]
    from_fit = len(project.task_ids) - len(missing)
    return FitReuse(probs, from_fit, len(missing), from_fit - int(unchanged.sum()),
                    len(set(rows) - set(project.task_ids)), unchanged)


def only_tasks(fit: ProjectFit, task_ids) -> ProjectFit:
    """``fit`` without the tasks not in ``task_ids`` (deleted from the project), in the order
    of ``task_ids``; the model is kept."""
    rows = fit.rows()
    keep = [rows[t] for t in task_ids if t in rows]
    offsets = fit.offsets
    probs = np.concatenate([fit.probs[offsets[r]:offsets[r + 1]] for r in keep]) if keep \
        else fit.probs[:0]
    return replace(fit, task_ids=fit.task_ids[keep], offsets=offsets_from_lengths(np.diff(offsets)[keep]),
                   token_keys=[fit.token_keys[r] for r in keep],
                   label_keys=[fit.label_keys[r] for r in keep], probs=probs)


def _seen(result) -> list:
    """What a reviewer sees of each task besides its score: its span findings and flagged
    tokens (one hashable value per task, in the tasks' order)."""
    seen = [[(), ()] for _ in range(len(result.offsets) - 1)]
    for row in result.spans.itertuples():
        seen[int(row.sentence)][0] += ((int(row.start_token), int(row.end_token), row.kind,
                                        str(row.given_spans), str(row.suggested_spans)),)
    for sentence, token in result.issues:
        seen[int(sentence)][1] += (int(token),)
    return [(spans, tuple(sorted(tokens))) for spans, tokens in seen]


def settle_refit(stored: ProjectFit | None, fresh: ProjectFit, project: ProjectCorpus,
                 config) -> tuple[ProjectFit, int]:
    """The fit a refit stores (module docstring): ``fresh`` (cross-validated on ``project``, in
    its order) with ``stored``'s probabilities for every task that did not change since
    ``stored`` and to which ``fresh`` makes no visible difference: the same findings and flagged
    tokens, and, when the task is in the review queue with either fit (it scores at most the
    highest score of a flagged task), a score within :data:`SCORE_TOLERANCE`. Returns the fit
    and how many tasks took ``fresh``'s. Another model or other classes than ``stored``'s:
    ``fresh`` as it is."""
    n_tasks = len(project.task_ids)
    if stored is None or stored.model_name != fresh.model_name or \
            stored.class_names != fresh.class_names or not n_tasks:
        return fresh, n_tasks
    reuse = reuse_fit(stored, project)
    before = reuse.probs
    scored = [score_tasks(project, config, pred_probs=probs, pred_probs_classes=fresh.class_names)
              for probs in (before, fresh.probs)]
    seen = [_seen(result) for result in scored]
    queued = np.zeros(n_tasks, dtype=bool)
    for result, each in zip(scored, seen):
        flagged = np.array([bool(tokens) for _, tokens in each], dtype=bool)
        if flagged.any():
            queued |= result.sentence_scores <= result.sentence_scores[flagged].max()
    moved = np.abs(scored[1].sentence_scores - scored[0].sentence_scores) > SCORE_TOLERANCE
    adopt = ~reuse.unchanged | (queued & moved) | np.array([a != b for a, b in zip(*seen)], dtype=bool)
    if adopt.all():
        return fresh, n_tasks
    probs = np.array(fresh.probs)
    keep = np.repeat(~adopt, np.diff(fresh.offsets))
    probs[keep] = before[keep]
    return replace(fresh, probs=probs), int(adopt.sum())
