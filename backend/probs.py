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
    Span predictions of another model in the project (the user's ML backend), averaged with the
    embedded model's distributions on the tokens inside its regions (:func:`combine_probs`);
    elsewhere the embedded model's distributions stand. A span prediction is converted to token
    distributions (an approximation, as spans carry one score): a token inside a predicted
    region of type T gets ``s`` on B-T (first token) or I-T (the others), where ``s`` is the
    region's ``score``, else the prediction's ``score``, else 1; the rest, ``1 - s``, goes to O;
    a token outside every region gets O = 1. Every distribution is then smoothed with 2%
    uniform mass so that no class is impossible. The model's latest prediction of each task is
    used; a scored task without one is an error. With too few annotated tasks to
    cross-validate the embedded model, the predictions are used alone.
embedded (``crf``, and ``auto`` when tasks carry no probabilities)
    The cross-validated model, see :mod:`backend.embedded` (its fits kept by :mod:`backend.fits`).
    ``auto`` combines it with another model's predictions, as ``prediction:<model_version>``
    does, when one model version other than tokenlq's predicts every scored task
    (:func:`shared_prediction_version`).

Whatever the source, the other non-cancelled annotations of a task (overlap > 1) are votes,
mixed into the probabilities (:func:`vote_probs`) and into the scores (:func:`vote_scores`).

Why these choices (bench/evidence.py, bench/results/evidence.md, WNUT-17 test with realistic
errors): span predictions alone ranked errors worse than the embedded model, even from a model
trained on more, clean, in-domain data, because they say nothing about the tokens they leave
out; averaged in inside their regions they added up to +0.029 sentence AP and never lost more
than 0.003. A second annotation was by far the strongest evidence (+0.23 to +0.27 sentence AP
with 30% of the tasks annotated twice).
"""

from __future__ import annotations

import numpy as np

from tokenlq.labelstudio_format import region_token_ranges
from tokenlq.scheme import make_tag

__all__ = ["PREDICTION_WEIGHT", "PROBS_KEY", "ProbsError", "VOTE_WEIGHT", "combine_probs",
           "prediction_probs", "shared_prediction_version", "task_probs", "tasks_with_probs",
           "vote_probs", "vote_scores"]

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


def shared_prediction_version(tasks):
    """The one model version, other than tokenlq's (``tokenlq-*``), with a prediction on every
    task of ``tasks``; None when there is no such version or several."""
    common = None
    for task in tasks:
        versions = {p.get("model_version") for p in task.get("predictions") or ()}
        versions = {v for v in versions if isinstance(v, str) and v and not v.startswith("tokenlq-")}
        common = versions if common is None else common & versions
        if not common:
            return None
    return next(iter(common)) if common is not None and len(common) == 1 else None


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


def prediction_probs(tasks, token_spans, class_names, model_version: str, *, from_name: str,
                     return_inside: bool = False):
    """Flat (n, K) token distributions from the span predictions of ``model_version`` (module
    docstring); ``token_spans`` holds each task's ``[(token, start, end)]``. With
    ``return_inside``, also the (n,) mask of the tokens inside a predicted region."""
    parts, inside_parts = [], []
    for task, tokens in zip(tasks, token_spans):
        prediction = _latest(task, model_version)
        if prediction is None:
            raise ProbsError(f"task {task.get('id')} has no prediction of model version "
                             f"{model_version!r}")
        probs = np.zeros((len(tokens), len(class_names)))
        probs[:, class_names.index("O")] = 1.0
        covered = np.zeros(len(tokens), dtype=bool)
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
                covered[j] = True
        parts.append(probs)
        inside_parts.append(covered)
    out = np.concatenate(parts) if parts else np.zeros((0, len(class_names)))
    out = (1 - SMOOTHING) * out + SMOOTHING / len(class_names)
    if not return_inside:
        return out
    return out, np.concatenate(inside_parts) if inside_parts else np.zeros(0, dtype=bool)


# The weights below are those that ranked best on WNUT-17 test with realistic errors (expert
# and crowd profiles, 3% and 5%, seeds 0-2; bench/evidence.py, bench/results/evidence.md).
PREDICTION_WEIGHT = 0.9  # of 0.5, 0.75 and 0.9, the best on expert-like errors; alike on crowd
VOTE_WEIGHT = 0.999  # with 30% of tasks annotated twice, 0.5 -> 0.9 -> 0.999 kept raising AP


def combine_probs(embedded: np.ndarray, other: np.ndarray, inside: np.ndarray, *,
                  weight: float = PREDICTION_WEIGHT) -> np.ndarray:
    """The embedded model's distributions with another model's averaged in where that model
    said something: ``(1 - weight) * embedded + weight * other`` on the tokens of ``inside``
    (those inside its predicted regions), ``embedded`` elsewhere.

    A span prediction carries no doubt about the tokens it leaves out (they read as O with
    certainty), so averaging there too made the user's misses look like label errors; on the
    tokens it covers it adds evidence (bench/evidence.py).

    >>> combine_probs(np.array([[0.6, 0.4], [0.9, 0.1]]), np.array([[0.0, 1.0], [1.0, 0.0]]),
    ...               np.array([True, False]), weight=0.5).tolist()
    [[0.3, 0.7], [0.9, 0.1]]
    """
    out = np.array(embedded, dtype=np.float64, copy=True)
    out[inside] = (1 - weight) * out[inside] + weight * np.asarray(other)[inside]
    return out


def vote_probs(probs: np.ndarray, offsets, others, class_names, *,
               weight: float = VOTE_WEIGHT) -> np.ndarray:
    """``probs`` (flat, tasks at ``offsets``) with each task's other annotations mixed in as
    votes: on a task with other annotations (``others``: per task, a list of tag lists),
    ``(1 - weight) * probs + weight *`` the share of those annotations giving each class; other
    tasks keep ``probs``.

    With the default weight the other annotations decide and the model breaks ties: a label
    they all disagree with keeps at most 0.1% of the model's probability, and a label they all
    agree on is not flagged.

    >>> vote_probs(np.array([[0.8, 0.2], [0.5, 0.5]]), [0, 1, 2], [[["B-X"]], []], ["O", "B-X"],
    ...            weight=0.5).tolist()
    [[0.4, 0.6], [0.5, 0.5]]
    """
    out = np.array(probs, dtype=np.float64, copy=True)
    index = {c: k for k, c in enumerate(class_names)}
    for i, every in enumerate(others):
        if not every:
            continue
        a, b = int(offsets[i]), int(offsets[i + 1])
        votes = np.zeros((b - a, len(class_names)))
        for tags in every:
            votes[np.arange(b - a), [index[t] for t in tags]] += 1 / len(every)
        out[a:b] = (1 - weight) * out[a:b] + weight * votes
    return out


def vote_scores(sentence_scores, token_scores, labels, offsets, others, *,
                weight: float = VOTE_WEIGHT):
    """Task and token scores with the other annotations' votes, as :func:`vote_probs` does to
    the probabilities, so that nothing the scores add to the probabilities (such as the
    surface evidence :func:`tokenlq.audit.score_sentences` can blend in) dilutes them: on a
    task with other annotations, ``(1 - weight) * score + weight *`` the share of them giving
    the token its given tag (``labels``: each task's given tags), and for the task, its least
    agreed token. Returns new ``(sentence_scores, token_scores)``.

    >>> s, t = vote_scores(np.array([0.5, 0.8]), np.array([0.5, 0.9, 0.8]), [["B-X", "O"], ["O"]],
    ...                    [0, 2, 3], [[["O", "O"]], []], weight=0.5)
    >>> s.tolist(), t.tolist()
    ([0.25, 0.8], [0.25, 0.95, 0.8])
    """
    sentence_scores = np.array(sentence_scores, dtype=np.float64, copy=True)
    token_scores = np.array(token_scores, dtype=np.float64, copy=True)
    for i, every in enumerate(others):
        if not every:
            continue
        a, b = int(offsets[i]), int(offsets[i + 1])
        given = np.asarray(labels[i], dtype=object)
        agree = np.mean([np.asarray(tags, dtype=object) == given for tags in every], axis=0)
        token_scores[a:b] = (1 - weight) * token_scores[a:b] + weight * agree
        sentence_scores[i] = (1 - weight) * sentence_scores[i] + weight * agree.min()
    return sentence_scores, token_scores


