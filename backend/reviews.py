"""The review queue and the outcomes of its findings, from one run to the next (pure: states
in, states out).

The queue (the ``Label issues`` tab) holds as many tasks as confident learning flags (tasks
with a flagged token), taken in score order among the tasks not reviewed: the ``k`` lowest
sentence scores. Each task in it is a *finding*, ``pending`` until a reviewer acts on it in
Label Studio's labeling view:

- ``fixed``: the labels of its flagged tokens changed and confident learning flags none of its
  tokens any more. It leaves the queue whatever its score, until a token of it is flagged again;
- ``confirmed``: its annotation carries the confirmation mark (the project's
  ``<Choices name="tokenlq_confirm">`` ticked, see :mod:`backend.labelstudio.config`): a reviewer
  looked and says the labels are right. It stays out of the queue while the mark stays, whatever
  the model says; unticking it closes the finding (the task may be queued anew);
- ``pending``: otherwise; changing the flagged labels while a token stays flagged keeps the
  finding pending, now about the new labels. A pending finding whose task drops out of the queue
  (other tasks' scores moved) is closed.

Tasks that are gone (deleted, or no longer annotated) lose their finding. The service only reads
the mark: ticking it is the reviewer's own edit of the annotation.
"""

from __future__ import annotations

import hashlib
import heapq

__all__ = ["STATUSES", "update_reviews"]

STATUSES = ("pending", "fixed", "confirmed")


def _key(tags, positions) -> str:
    picked = "\x1f".join(f"{j}={tags[j] if j < len(tags) else ''}" for j in positions)
    return hashlib.sha1(picked.encode("utf-8")).hexdigest()


def update_reviews(states: dict, current: dict, issues: dict, now: float):
    """The run's queue, the new review states, and the reviewed tasks.

    Parameters
    ----------
    states : {task id: state}
        The previous run's states (``status``, ``positions``, ``labels``, ``score``,
        ``flagged_at``, ``decided_at``).
    current : {task id: (tags, confirmed, score, weakest)}
        Every scored task as this run read it: its given BIO tags, whether its annotation
        carries the confirmation mark, its sentence score and its lowest-scoring token.
    issues : {task id: [flagged token positions]}
        The tasks in which confident learning flags a token.
    now : float
        The run's time (seconds since the epoch).

    Returns
    -------
    (queue, states, reviewed) : (list, dict, set)
        ``queue``: the queued task ids, most suspect first; ``reviewed``: the fixed and the
        confirmed tasks, kept out of the queue.

    Examples
    --------
    >>> current = {7: (["B-PER", "O"], False, 0.1, 0), 8: (["O"], False, 0.9, 0)}
    >>> queue, states, _ = update_reviews({}, current, {7: [0]}, 1.0)
    >>> queue, states[7]["status"]
    ([7], 'pending')
    >>> current[7] = (["B-PER", "O"], True, 0.1, 0)
    >>> queue, states, reviewed = update_reviews(states, current, {7: [0]}, 2.0)
    >>> queue, states[7]["status"], reviewed
    ([], 'confirmed', {7})
    """
    def opened(task):
        tags, _, score, weakest = current[task]
        positions = sorted(issues.get(task) or [weakest])
        return {"status": "pending", "positions": positions, "labels": _key(tags, positions),
                "score": float(score), "flagged_at": now, "decided_at": None}

    out = {}
    for task, state in states.items():
        if task not in current:
            continue  # deleted or no longer annotated
        tags, marked, score, _ = current[task]
        state = dict(state)
        if marked:
            if state["status"] != "confirmed":
                state.update(status="confirmed", decided_at=now,
                             labels=_key(tags, state["positions"]))
        elif state["status"] == "confirmed":
            continue  # the reviewer took the mark back: the finding is closed
        elif state["status"] == "pending" and _key(tags, state["positions"]) != state["labels"]:
            if task in issues:
                state = opened(task)  # still flagged: pending, about the new labels
            else:
                state.update(status="fixed", decided_at=now)
        elif state["status"] == "fixed" and task in issues:
            state = opened(task)  # flagged again
        out[task] = state
    reviewed = {t for t, s in out.items() if s["status"] != "pending"}
    candidates = {t: c[2] for t, c in current.items() if t not in reviewed and not c[1]}
    size = sum(1 for t in issues if t in candidates)
    queue = [t for _, t in heapq.nsmallest(size, ((score, t) for t, score in candidates.items()))]
    chosen = set(queue)
    for task in [t for t, s in out.items() if s["status"] == "pending" and t not in chosen]:
        del out[task]  # out of the queue untouched: closed
    for task in queue:
        if task not in out:
            out[task] = opened(task)
    return queue, out, reviewed
