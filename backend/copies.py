"""The backend's own copy of a project's tasks, kept current from Label Studio's events (no HTTP,
no database: :mod:`backend.storage.copies` keeps it, :mod:`backend.reading` fills it).

Label Studio sends each event once, with a 1 s timeout and no retry, and events of concurrent
requests may arrive out of order. So taking an event in is idempotent and order-tolerant: an
annotation older than the copy's (``updated_at``) is ignored, and deleted annotations and tasks
are remembered until the next full read so that a late event never brings them back. What the
copy cannot place (an annotation of a task it does not know, a payload of the wrong shape) is a
*gap*: the next run reads the whole project instead. Tasks an event names without their
annotations (``TASKS_CREATED``) are marked *unread*: the run reads just those.

A task in the copy has the keys a run reads of an exported task, and nothing else:
``id``, ``data``, ``annotations`` (each with :data:`ANNOTATION_KEYS`, sorted by id) and
``predictions``; so a task taken from an event and the same task read in full are equal.
"""

from __future__ import annotations

import hashlib
import json
import reprlib
from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["ACTIONS", "ANNOTATION_KEYS", "ProjectCopy", "copy_task", "event_body", "project_settings",
           "settings_digest"]

# The events the copy takes in, and the keys of their payload it keeps; the rest is dropped on
# arrival. Of the project object every event carries (it holds the project's token) only a
# digest of the settings a run needs is kept (``project``: :func:`settings_digest`), so that an
# update knows when they are still those of its last run; ``PROJECT_UPDATED`` carries nothing
# else.
ACTIONS = {"ANNOTATION_CREATED": ("annotation", "task"), "ANNOTATION_UPDATED": ("annotation", "task"),
           "ANNOTATIONS_DELETED": ("annotations",), "TASKS_CREATED": ("tasks",),
           "TASKS_DELETED": ("tasks",), "PROJECT_UPDATED": ()}
ANNOTATION_KEYS = ("id", "result", "was_cancelled", "ground_truth", "completed_by", "created_at",
                   "updated_at")
_PREDICTION_KEYS = ("id", "model_version", "score", "result")


def event_body(action: str, body: dict) -> dict:
    """What the copy keeps of an event ``body``: the payload keys of ``action``, and the digest
    of the project's settings when it carries the project object."""
    out = {key: body.get(key) for key in ACTIONS[action]}
    if isinstance(body.get("project"), dict):
        out["project"] = settings_digest(project_settings(body["project"]))
    return out


def project_settings(project: dict) -> dict:
    """What a run needs of Label Studio's project object (its API answer, or the ``project``
    of a webhook event): ``title``, ``label_config`` and ``model_version``; never its token."""
    return {"title": project.get("title") or "", "label_config": project.get("label_config") or "",
            "model_version": project.get("model_version")}


def settings_digest(settings: dict) -> str:
    """A digest of a project's settings (:func:`project_settings`)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def _is_id(value) -> bool:
    return type(value) is int and value >= 0  # noqa: E721 (True is no id)


def _annotation(annotation: dict) -> dict:
    out = {key: annotation.get(key) for key in ANNOTATION_KEYS}
    who = out["completed_by"]
    out["completed_by"] = who.get("id") if isinstance(who, dict) else who
    return out


def copy_task(task: dict) -> dict:
    """``task`` (as Label Studio exports it, or as an event carries it) in the copy's form."""
    annotations = [_annotation(a) for a in task.get("annotations") or () if isinstance(a, dict)]
    predictions = [{key: p.get(key) for key in _PREDICTION_KEYS}
                   for p in task.get("predictions") or () if isinstance(p, dict)]
    return {"id": task["id"], "data": task.get("data") or {},
            "annotations": sorted(annotations, key=lambda a: a["id"] if _is_id(a["id"]) else -1),
            "predictions": predictions}


def _time(value) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


@dataclass
class ProjectCopy:
    """A project's tasks ``{task id: task}`` as the copy has them; ``changed``, ``removed`` and
    ``unread`` say what its store must write."""
    tasks: dict = field(default_factory=dict)
    gone_annotations: set = field(default_factory=set)
    gone_tasks: set = field(default_factory=set)
    unread: set = field(default_factory=set)  # task ids whose annotations must be read
    changed: set = field(default_factory=set)  # task ids changed since it was loaded
    removed: set = field(default_factory=set)  # task ids removed since it was loaded

    @classmethod
    def from_tasks(cls, tasks) -> ProjectCopy:
        """A copy of ``tasks`` as a full read gave them (every task changed)."""
        copy = cls({t["id"]: copy_task(t) for t in tasks})
        copy.changed = set(copy.tasks)
        return copy

    def sorted_tasks(self) -> list:
        """The tasks by id, as a full read lists them."""
        return [self.tasks[t] for t in sorted(self.tasks)]

    def take(self, action: str, body: dict) -> str | None:
        """Take the event ``action`` with ``body`` (:func:`event_body`) in; None, or the gap
        that keeps the copy from doing so (then it must be read anew)."""
        if action in ("ANNOTATION_CREATED", "ANNOTATION_UPDATED"):
            return self._annotation_saved(body.get("annotation"), body.get("task"))
        if action == "PROJECT_UPDATED":
            return None  # no task changed (a changed label config is read by the run)
        items = body.get(ACTIONS[action][0]) if action in ACTIONS else None
        if not isinstance(items, list) or not all(isinstance(i, dict) and _is_id(i.get("id"))
                                                  for i in items):
            return f"a {action} event without a list of ids: {reprlib.repr(body)}"
        if action == "ANNOTATIONS_DELETED":
            gone = {i["id"] for i in items}
            self.gone_annotations |= gone
            for task_id, task in self.tasks.items():
                kept = [a for a in task["annotations"] if a["id"] not in gone]
                if len(kept) != len(task["annotations"]):
                    task["annotations"] = kept
                    self.changed.add(task_id)
        elif action == "TASKS_DELETED":
            for task_id in (i["id"] for i in items):
                self.gone_tasks.add(task_id)
                if self.tasks.pop(task_id, None) is not None:
                    self.removed.add(task_id)
                self.changed.discard(task_id)
                self.unread.discard(task_id)
        else:  # TASKS_CREATED: new tasks, whose annotations (imported with them) are not said
            for task in items:
                if task["id"] in self.tasks or task["id"] in self.gone_tasks:
                    continue
                self.tasks[task["id"]] = copy_task({"id": task["id"], "data": task.get("data")})
                self.unread.add(task["id"])
                self.changed.add(task["id"])
                self.removed.discard(task["id"])
        return None

    def _annotation_saved(self, annotation, task) -> str | None:
        if not (isinstance(annotation, dict) and _is_id(annotation.get("id"))
                and isinstance(task, dict) and _is_id(task.get("id"))):
            return f"an annotation event without an annotation and its task: {reprlib.repr(annotation)}"
        task_id = task["id"]
        if task_id in self.gone_tasks or annotation["id"] in self.gone_annotations:
            return None  # deleted since: a late event
        if task_id not in self.tasks:
            return f"an annotation of task {task_id}, which the copy does not have"
        mine = self.tasks[task_id]
        new = _annotation(annotation)
        old = next((a for a in mine["annotations"] if a["id"] == new["id"]), None)
        if old is not None:
            old_time, new_time = _time(old["updated_at"]), _time(new["updated_at"])
            if old_time is not None and new_time is not None and new_time < old_time:
                return None  # an older state arriving late
        mine["annotations"] = sorted([a for a in mine["annotations"] if a["id"] != new["id"]] + [new],
                                     key=lambda a: a["id"])
        if isinstance(task.get("data"), dict):
            mine["data"] = task["data"]
        self.changed.add(task_id)
        return None

    def fill(self, tasks, missing) -> None:
        """The unread tasks as read from Label Studio (``tasks``), and those it no longer has
        (``missing`` ids), which the copy drops."""
        for task in tasks:
            if task["id"] in self.tasks:
                self.tasks[task["id"]] = copy_task(task)
                self.changed.add(task["id"])
        for task_id in missing:
            if self.tasks.pop(task_id, None) is not None:
                self.removed.add(task_id)
            self.changed.discard(task_id)
        self.unread.clear()

    def set_predictions(self, task_id: int, ours: list, model_version: str) -> None:
        """Task ``task_id``'s predictions of ``model_version`` are now ``ours`` (a run wrote them;
        an id is None where Label Studio did not say it)."""
        task = self.tasks.get(task_id)
        if task is None:
            return
        others = [p for p in task["predictions"] if p.get("model_version") != model_version]
        task["predictions"] = others + [{key: p.get(key) for key in _PREDICTION_KEYS} for p in ours]
        self.changed.add(task_id)
