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
    index = {c: k for k, c in enumerate(result.class_names)}
    rows = defaultdict(lambda: {"labels": [], "probs": [], "type_probs": [], "lengths": [],
                                "disagree": 0})
    overlap = disagreeing = 0
    agreement = []
    for i, every in enumerate(project.annotations):
        a, b = int(result.offsets[i]), int(result.offsets[i + 1])
        for who, tags in every:
            row = rows[who]
            row["labels"].append([index[t] for t in tags])
            row["probs"].append(result.pred_probs[a:b])
            row["type_probs"].append(view.probs[a:b])
            row["lengths"].append(len(tags))
        if len(every) < 2:
            continue
        overlap += 1
        tags = np.array([t for _, t in every])
        agreement.append(float((tags == tags[0]).all(axis=0).mean()))
        differ = {w for (w, x), (v, y) in combinations(every, 2) if x != y for w in (w, v)}
        disagreeing += bool(differ)
        for who in differ:
            rows[who]["disagree"] += 1
    out = []
    for who, row in sorted(rows.items(), key=lambda item: str(item[0])):
        labels = np.concatenate([np.asarray(x, dtype=np.int64) for x in row["labels"]])
        probs = np.concatenate(row["probs"])
        offsets = np.concatenate(([0], np.cumsum(row["lengths"]))).astype(np.int64)
        with warnings.catch_warnings():
            # One annotator's few tasks often hold a class once: that it is not searched is
            # expected here, not news for the run's log.
            warnings.simplefilter("ignore", TokenLQWarning)
            issues = find_label_issues(labels, probs, offsets, renormalize=True,
                                       return_indices_ranked_by=None)
        joint = confident_joint(view.to_type[labels], np.concatenate(row["type_probs"]), offsets)
        out.append({"annotator": who, "annotations": len(row["lengths"]), "tokens": int(offsets[-1]),
                    "flagged_tokens": len(issues), "estimated_error_rate": off_diagonal_share(joint),
                    "disagreeing_tasks": row["disagree"]})
    return {"overlap_tasks": overlap, "disagreeing_tasks": disagreeing,
            "token_agreement": float(np.mean(agreement)) if agreement else None, "annotators": out}
