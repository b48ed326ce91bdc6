"""What a run reads of a project: its copy with the events since taken in (an update), or the
whole project, which renews the copy (a reconciliation). See :mod:`backend.copies`.

An update reads from Label Studio only the tasks an event named without their annotations
(imported tasks). A full read happens when a run asks for it (a rescore), when there is no copy
yet, and when the copy is *due* for one: after a gap, after a refit, on the schedule
(``TOKENLQ_RECONCILE_SECONDS``), and after a run that stopped while writing (its predictions
in Label Studio are then unknown; a full read finds them, so none is created twice).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .copies import ProjectCopy, settings_digest

__all__ = ["WRITING", "ProjectRead", "read_project", "save_written"]

WRITING = "a run stopped while writing its predictions"
# Past this many tasks to read by id (a big import), and this share of the project, one full
# export is quicker than reading them a few hundred per request.
UNREAD_MOST, UNREAD_SHARE = 2000, 0.2


@dataclass
class ProjectRead:
    """The project's tasks as a run scores them, and the copy they come from."""
    project: int
    tasks: list
    copy: ProjectCopy
    seq: int  # the last event taken in
    # how: copy | full; events; tasks_read; why; kept (from memory); seconds
    summary: dict = field(default_factory=dict)
    # With a kept copy (backend.resident): its run's memo, and the ids of the tasks changed
    # since that run (None: no memo applies)
    memo: object | None = None
    touched: set | None = None
    # The project's settings (backend.copies.project_settings) as the kept run had them,
    # when every event taken in since carried the same (None: the run asks Label Studio)
    settings: dict | None = None


def _fill(ls, copy: ProjectCopy) -> int:
    """Read the copy's unread tasks from Label Studio; how many were asked for."""
    unread = sorted(copy.unread)
    if unread:
        found = ls.tasks_by_id(unread)
        have = {t["id"] for t in found}
        copy.fill(found, [t for t in unread if t not in have])
    return len(unread)


def read_project(ls, store, *, full: str | None = None, kept=None) -> ProjectRead:
    """The tasks of project ``ls`` (a :class:`backend.labelstudio.LabelStudioProject`) from its
    copy in ``store``, or from a full read when ``full`` (why) is given or the copy is due for
    one. The copy is saved with the events taken in, and marked :data:`WRITING` until
    :func:`save_written` says the run's writes are done. ``kept``: the project as this process
    kept it (:class:`backend.resident.Kept`), used in place of the stored copy while that is
    still at the kept version; a full read then says which tasks differ from it."""
    began_at = time.perf_counter()
    read = _read_project(ls, store, full, kept)
    read.summary["seconds"] = round(time.perf_counter() - began_at, 3)
    return read


def _read_project(ls, store, full: str | None, kept) -> ProjectRead:
    project = ls.id
    state = store.copy_state(project)
    if kept is not None and (state is None or state.version != kept.version):
        kept = None  # changed by another process since
    why = full or ("no copy yet" if state is None else state.due)
    if why is None:
        copy, seq, taken = store.load_copy(project) if kept is None else kept.copy, state.seq, 0
        # Every event carries the project's settings as they were then: one that differs from
        # the kept run's (a new label config, or events out of order), or says none, and the
        # run asks Label Studio.
        settings = None if kept is None else kept.memo.settings
        digest = None if settings is None else settings_digest(settings)
        for event_seq, action, body in store.events(project, after=state.seq):
            gap = copy.take(action, body)
            if gap is not None:
                why = f"a gap: {gap}"
                break
            seq, taken = event_seq, taken + 1
            if body.get("project") != digest:
                settings = None
        if why is None and len(copy.unread) > max(UNREAD_MOST, UNREAD_SHARE * len(copy.tasks)):
            why = f"{len(copy.unread)} new tasks to read: one export is quicker"
        if why is None:
            read = _fill(ls, copy)
            touched = copy.changed | copy.removed
            store.save_copy(project, copy, seq=seq, due=WRITING, passing=WRITING)
            return ProjectRead(project, copy.sorted_tasks(), copy, seq,
                               {"how": "copy", "events": taken, "tasks_read": read,
                                "kept": kept is not None, "settings_kept": settings is not None},
                               memo=None if kept is None else kept.memo,
                               touched=None if kept is None else touched, settings=settings)
    # Events that arrive while Label Studio exports are taken in after it (taking one in twice
    # changes nothing); those before are in the export.
    start, began = store.last_event(project), time.time()
    copy = ProjectCopy.from_tasks(ls.tasks())
    seq, gaps = start, []
    for seq, action, body in store.events(project, after=start):
        gap = copy.take(action, body)
        if gap is not None:
            gaps.append(gap)
    read = _fill(ls, copy)
    store.save_copy(project, copy, seq=seq, read=began, due=WRITING)
    summary = {"how": "full", "why": why, "tasks_read": len(copy.tasks) + read,
               "kept": kept is not None}
    if gaps:  # an event the new copy cannot place either: the next run reads again
        summary["gaps"] = gaps[:5]  # (it comes with the next event, or on the schedule)
    touched = None
    if kept is not None:  # what differs from the kept copy, predictions included
        before = kept.copy.tasks
        touched = {t for t, task in copy.tasks.items() if before.get(t) != task}
        touched |= before.keys() - copy.tasks.keys()
    return ProjectRead(project, copy.sorted_tasks(), copy, seq, summary,
                       memo=None if kept is None else kept.memo, touched=touched)


def save_written(store, read: ProjectRead, ours: dict, model_version: str) -> str:
    """Keep in the copy the predictions of ours a run wrote (``RunResult.ours``): the copy is
    then no longer :data:`WRITING`. Returns the copy's new version."""
    for task_id, predictions in ours.items():
        read.copy.set_predictions(task_id, predictions, model_version)
    gaps = read.summary.get("gaps")
    return store.save_copy(read.project, read.copy, seq=read.seq,
                           due=f"a gap: {gaps[0]}" if gaps else None, passing=WRITING)
