"""Annotators of a project with overlap > 1: how much their annotations disagree, and per
annotator the flagged tokens and an estimated error rate (pure: corpus and audit in, rows out).

Every non-cancelled annotation of a scored task is checked against the task's out-of-sample
probabilities of the model (those that score the given labels, before the other annotations'
votes are mixed in): ``flagged_tokens`` are those
:func:`tokenlq.find_label_issues` finds among the annotator's tokens, and
``estimated_error_rate`` is the off-diagonal share of the calibrated confident joint of the
annotator's tokens, at the level of entity types.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from itertools import combinations

import numpy as np

from tokenlq import TokenLQWarning, confident_joint, find_label_issues

from .scoring import off_diagonal_share, type_view

__all__ = ["ANNOTATOR_FIELDS", "annotator_summary"]

ANNOTATOR_FIELDS = {
    "annotator": "Label Studio user id (completed_by)",
    "annotations": "non-cancelled annotations of scored tasks",
    "tokens": "tokens in those annotations",
    "flagged_tokens": "of those, the ones find_label_issues flags",
    "estimated_error_rate": "estimated share of the annotator's tokens whose true type is another",
    "disagreeing_tasks": "tasks shared with another annotator where their labels differ",
}


def annotator_summary(project, result, *, view=None) -> dict:
    """``{"overlap_tasks", "disagreeing_tasks", "token_agreement", "annotators": [rows]}``;
    ``view``: the run's :class:`backend.scoring.TypeView` (computed when not given)."""
    view = view or type_view(result)
    offsets = np.asarray(result.offsets, dtype=np.int64)
    lengths = np.diff(offsets)
    # The given annotations are the run's own labels, flat: selected per annotator at once. The
    # other annotations (tasks with overlap, few) are gathered one by one.
    given_by = [every[g][0] for every, g in zip(project.annotations, project.given)]
    others = defaultdict(list)  # annotator -> [(task index, tags)]
    disagree = defaultdict(int)
    overlap = disagreeing = 0
    agreement = []
    for i, every in enumerate(project.annotations):
        if len(every) < 2:
            continue
        for n, (who, tags) in enumerate(every):
            if n != project.given[i]:
                others[who].append((i, tags))
        overlap += 1
        tags = np.array([t for _, t in every])
        agreement.append(float((tags == tags[0]).all(axis=0).mean()))
        differ = {w for (w, x), (v, y) in combinations(every, 2) if x != y for w in (w, v)}
        disagreeing += bool(differ)
        for who in differ:
            disagree[who] += 1
    names = sorted(set(given_by) | set(others), key=str)
    if overlap == 0 and len(names) == 1:
        # One annotator gave every label and no task has another annotation (so no votes went
        # into the run): the run's issues and joint are the annotator's, the same calls on the
        # same arrays.
        return {"overlap_tasks": 0, "disagreeing_tasks": 0, "token_agreement": None,
                "annotators": [_row(names[0], len(lengths), int(offsets[-1]), len(result.issues),
                                    view.joint, 0)]}
    index = {c: k for k, c in enumerate(result.class_names)}
    code = {who: n for n, who in enumerate(names)}
    task_code = np.array([code[who] for who in given_by], dtype=np.int64)
    token_code = np.repeat(task_code, lengths)
    out = []
    for who in names:
        mine = token_code == code[who]
        parts = [(result.labels[mine], result.pred_probs[mine], view.probs[mine],
                  lengths[task_code == code[who]])]
        for i, tags in others[who]:
            a, b = offsets[i], offsets[i + 1]
            parts.append((np.array([index[t] for t in tags], dtype=np.int64),
                          result.pred_probs[a:b], view.probs[a:b], [len(tags)]))
        labels, probs, type_probs, each = (x[0] if len(x) == 1 else np.concatenate(x)
                                           for x in zip(*parts))
        bounds = np.concatenate(([0], np.cumsum(each))).astype(np.int64)
        with warnings.catch_warnings():
            # One annotator's few tasks often hold a class once: that it is not searched is
            # expected here, not news for the run's log.
            warnings.simplefilter("ignore", TokenLQWarning)
            issues = find_label_issues(labels, probs, bounds, renormalize=True,
                                       return_indices_ranked_by=None)
        joint = confident_joint(view.to_type[labels], type_probs, bounds)
        out.append(_row(who, len(each), int(bounds[-1]), len(issues), joint, disagree[who]))
    return {"overlap_tasks": overlap, "disagreeing_tasks": disagreeing,
            "token_agreement": float(np.mean(agreement)) if agreement else None, "annotators": out}


def _row(who, annotations: int, tokens: int, flagged: int, joint, disagreeing: int) -> dict:
    return {"annotator": who, "annotations": annotations, "tokens": tokens,
            "flagged_tokens": flagged, "estimated_error_rate": off_diagonal_share(joint),
            "disagreeing_tasks": disagreeing}
