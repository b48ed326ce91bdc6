"""Probabilities of the embedded model, computed (no disk, no HTTP): a new cross-validated fit
of a project, or a stored fit reused for the project as it is now.

Why a stored fit can be reused: a task's out-of-sample probabilities do not depend on its own
labels, so when an annotator edits a task its stored probabilities stay valid and the run only
re-scores. Tasks the fit never saw (new, or with a changed text) get probabilities from the
model trained on every fitted task, which never saw them either. Keeping fits on disk is
:mod:`backend.fits`; deciding when to fit anew is :mod:`backend.runs`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from tokenlq import offsets_from_lengths
from tokenlq.model import out_of_sample_probs

from .fits import ProjectFit
from .scoring import ProjectCorpus, words

__all__ = ["FitReuse", "new_fit", "only_tasks", "reuse_fit"]


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


def reuse_fit(fit: ProjectFit, project: ProjectCorpus) -> FitReuse:
    """The project's probabilities from ``fit`` (module docstring)."""
    rows, offsets = fit.rows(), fit.offsets
    found = [rows.get(t, -1) for t in project.task_ids]
    missing, changed = [], 0
    for i, (row, token_key, label_key) in enumerate(zip(found, *project.keys())):
        if row >= 0 and fit.token_keys[row] == token_key:
            changed += fit.label_keys[row] != label_key
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
    return FitReuse(probs, len(project.task_ids) - len(missing), len(missing), int(changed),
                    len(set(rows) - set(project.task_ids)))


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
