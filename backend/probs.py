"""Where a run's token probabilities come from (``TOKENLQ_PROBS`` or the project's
``extra_params.probs``): no HTTP here, only tasks as dicts.

``task``
    The user's own model, stored with each task under the key ``tokenlq_probs`` in ``task.meta``
    (first) or in ``task.data``::

        {"labels": ["O", "B-PER", "I-PER", ...],     # tag names of the project's scheme
         "probs": [[0.9, 0.05, 0.05, ...], ...]}     # one row per token, each summing to 1

    Rows follow the backend's tokens of the task (``data.tokens``, else the whitespace and
    punctuation tokenization of ``data.text``, see :mod:`tokenlq.labelstudio_format`). A class of
    the project missing from ``labels`` gets probability 0; a label the project does not have, a
    wrong row count, a negative, NaN or a row not summing to 1 (within 1e-3) is an error that
    names the task.
``prediction:<model_version>``
    Span predictions of another model in the project, converted to token distributions (an
    approximation, as spans carry one score): a token inside a predicted region of type T gets
    ``s`` on B-T (first token) or I-T (the others), where ``s`` is the region's ``score``, else the
    prediction's ``score``, else 1; the rest, ``1 - s``, goes to O; a token outside every region
    gets O = 1. Every distribution is then smoothed with 2% uniform mass so that no class is
    impossible. The model's latest prediction of each task is used; a scored task without one is
    an error.
embedded (``crf``, and ``auto`` when tasks carry no probabilities)
    The cross-validated model, see :mod:`backend.embedded` (its fits kept by :mod:`backend.fits`).
"""

from __future__ import annotations

import numpy as np

from tokenlq.labelstudio_format import region_token_ranges
from tokenlq.scheme import make_tag

__all__ = ["PROBS_KEY", "ProbsError", "prediction_probs", "task_probs", "tasks_with_probs"]

PROBS_KEY = "tokenlq_probs"
SMOOTHING = 0.02


class ProbsError(ValueError):
    """Probabilities a run cannot use; the message names the task and the problem."""


def _stored(task: dict):
    for place in ("meta", "data"):
        value = (task.get(place) or {}).get(PROBS_KEY)
        if value is not None:
            return value
    return None


def tasks_with_probs(tasks) -> int:
    """How many of ``tasks`` carry ``tokenlq_probs``."""
    return sum(_stored(t) is not None for t in tasks)


def _one_task(task: dict, n_tokens: int, class_names: list) -> np.ndarray:
    stored = _stored(task)
    where = f"task {task.get('id')}: {PROBS_KEY}"
    if stored is None:
        raise ProbsError(f"{where} is missing (TOKENLQ_PROBS=task needs it on every annotated task)")
    if not isinstance(stored, dict) or not isinstance(stored.get("labels"), list) \
            or not isinstance(stored.get("probs"), list):
        raise ProbsError(f"{where} must be an object with a 'labels' list and a 'probs' list of rows")
    labels = stored["labels"]
    unknown = [label for label in labels if label not in class_names]
    if unknown:
        raise ProbsError(f"{where} has labels the project does not have: {unknown[:5]} "
                         f"(the project's classes: {class_names})")
    if len(set(labels)) != len(labels):
        raise ProbsError(f"{where} names a label twice")
    try:
        rows = np.asarray(stored["probs"], dtype=np.float64)
    except (TypeError, ValueError):
        raise ProbsError(f"{where} 'probs' must be a list of rows of numbers") from None
    if rows.ndim != 2 or rows.shape != (n_tokens, len(labels)):
        raise ProbsError(f"{where} 'probs' must have one row of {len(labels)} numbers per token "
                         f"({n_tokens} tokens); got shape {list(rows.shape)}")
    bad = np.flatnonzero(~np.isfinite(rows).all(axis=1) | (rows < 0).any(axis=1))
    if len(bad):
        raise ProbsError(f"{where} row {int(bad[0])} has a NaN, infinite or negative value")
    sums = rows.sum(axis=1)
    off = np.flatnonzero(np.abs(sums - 1) > 1e-3)
    if len(off):
        raise ProbsError(f"{where} row {int(off[0])} sums to {sums[off[0]]:.4g}, not 1")
    out = np.zeros((n_tokens, len(class_names)))
    out[:, [class_names.index(label) for label in labels]] = rows
    return out


def task_probs(tasks, lengths, class_names) -> np.ndarray:
    """Flat (n, K) probabilities stored with ``tasks`` (one per scored task, ``lengths`` tokens
    each), in ``class_names`` order. Raises :class:`ProbsError`."""
    parts = [_one_task(task, n, class_names) for task, n in zip(tasks, lengths)]
    return np.concatenate(parts) if parts else np.zeros((0, len(class_names)))


def _latest(task: dict, model_version: str):
    ours = [p for p in task.get("predictions") or () if p.get("model_version") == model_version]
    return max(ours, key=lambda p: (str(p.get("updated_at") or p.get("created_at") or ""),
                                    p.get("id") or 0)) if ours else None


def prediction_probs(tasks, token_spans, class_names, model_version: str, *, from_name: str) -> np.ndarray:
    """Flat (n, K) token distributions from the span predictions of ``model_version`` (module
    docstring); ``token_spans`` holds each task's ``[(token, start, end)]``."""
    parts = []
    for task, tokens in zip(tasks, token_spans):
        prediction = _latest(task, model_version)
        if prediction is None:
            raise ProbsError(f"task {task.get('id')} has no prediction of model version "
                             f"{model_version!r}")
        probs = np.zeros((len(tokens), len(class_names)))
        probs[:, class_names.index("O")] = 1.0
        default = prediction.get("score")
        # No text here: offsets are not checked against it, and a later region overrides an
        # earlier one on the tokens they share.
        for region, name, inside in region_token_ranges(tokens, prediction.get("result"),
                                                        from_name=from_name):
            score = region.get("score", default)
            score = 1.0 if score is None else min(max(float(score), 0.0), 1.0)
            for rank, j in enumerate(inside):
                tag = make_tag("B" if rank == 0 else "I", name)
                if tag not in class_names:
                    continue
                probs[j] = 0.0
                probs[j, class_names.index(tag)] = score
                probs[j, class_names.index("O")] = 1.0 - score
        parts.append(probs)
    out = np.concatenate(parts) if parts else np.zeros((0, len(class_names)))
    return (1 - SMOOTHING) * out + SMOOTHING / len(class_names)
