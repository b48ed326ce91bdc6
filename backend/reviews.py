"""Review outcomes of flagged tasks, from one run to the next (pure: states in, states out).

A task flagged by a run becomes a *finding*, ``pending`` until its annotation changes:

- ``fixed``: the labels of its flagged tokens changed and the task is no longer flagged;
- ``confirmed``: its annotation was saved again after it was flagged (its ``updated_at`` moved)
  without changing the labels of the flagged tokens: a reviewer looked and kept them. A confirmed
  finding is not flagged again (left out of the ``Label issues`` tab and of the flagged counts)
  unless the evidence gets clearly stronger: a sentence score below half the one it was
  confirmed at;
- ``pending``: otherwise; changing the flagged labels while the task stays flagged keeps the
  finding pending, now about the new labels.

A fixed task flagged again, or a confirmed one with clearly stronger evidence, opens a new
pending finding. Tasks that are gone (deleted, or no longer annotated) lose their finding.
"""

from __future__ import annotations

import hashlib

__all__ = ["STRONGER", "STATUSES", "update_reviews"]

STATUSES = ("pending", "fixed", "confirmed")
STRONGER = 0.5  # a confirmed finding returns when its score falls below this share of the old


def _key(tags, positions) -> str:
    picked = "\x1f".join(f"{j}={tags[j] if j < len(tags) else ''}" for j in positions)
    return hashlib.sha1(picked.encode("utf-8")).hexdigest()


def update_reviews(states: dict, current: dict, flagged: dict, now: float):
    """New review states and the tasks to leave unflagged.

    Parameters
    ----------
    states : {task id: state}
        The previous run's states (``status``, ``positions``, ``labels``, ``updated``, ``score``,
        ``flagged_at``, ``decided_at``).
    current : {task id: (tags, annotation updated_at)}
        Every scored task as this run read it.
    flagged : {task id: (sentence score, [flagged token positions])}
        The tasks this run flags.
    now : float
        The run's time (seconds since the epoch).

    Returns
    -------
    (states, suppressed) : (dict, set)
        ``suppressed`` holds the flagged tasks whose confirmed finding stands.

    Examples
    --------
    >>> states, _ = update_reviews({}, {7: (["B-PER", "O"], "t1")}, {7: (0.1, [0])}, 1.0)
    >>> states[7]["status"]
    'pending'
    >>> states, hidden = update_reviews(states, {7: (["B-PER", "O"], "t2")}, {7: (0.1, [0])}, 2.0)
    >>> states[7]["status"], hidden
    ('confirmed', {7})
    """
    out, suppressed = {}, set()

    def opened(task):
        tags, updated = current[task]
        score, positions = flagged[task]
        return {"status": "pending", "positions": list(positions), "labels": _key(tags, positions),
                "updated": updated, "score": float(score), "flagged_at": now, "decided_at": None}

    for task, state in states.items():
        if task not in current:
            continue  # deleted or no longer annotated
        tags, updated = current[task]
        state = dict(state)
        if state["status"] == "pending":
            changed = _key(tags, state["positions"]) != state["labels"]
            if changed and task not in flagged:
                state.update(status="fixed", decided_at=now)
            elif changed:
                state = opened(task)
            elif updated != state["updated"]:
                state.update(status="confirmed", decided_at=now)
        if state["status"] == "confirmed" and task in flagged:
            if flagged[task][0] < STRONGER * state["score"]:
                state = opened(task)
            else:
                suppressed.add(task)
        elif state["status"] == "fixed" and task in flagged:
            state = opened(task)
        out[task] = state
    for task in flagged:
        if task not in out:
            out[task] = opened(task)
    return out, suppressed
