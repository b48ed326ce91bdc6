"""The project copy (backend.copies) and its store: events taken in, in any order, give the
copy a full read would give; what it cannot place is a gap."""

import copy as copying
import random

import pytest

from tokenlq_backend.copies import (ProjectCopy, copy_task, event_body, project_settings,
                                    settings_digest)
from tokenlq_backend.storage import Store


def _annotation(annotation_id, task_id, label, at, **more):
    return {"id": annotation_id, "task": task_id, "updated_at": f"2026-12-07T10:00:{at:02d}.000000Z",
            "created_at": "2026-12-07T09:00:00.000000Z", "was_cancelled": False, "ground_truth": False,
            "completed_by": 1, "lead_time": 3.0, "prediction": {"id": 9},
            "result": [{"from_name": "label", "to_name": "text", "type": "labels",
                        "value": {"start": 0, "end": 4, "text": "Anna", "labels": [label]}}], **more}


def _task(task_id, *annotations):
    return {"id": task_id, "data": {"text": f"Anna went {task_id}"}, "meta": {}, "inner_id": task_id,
            "annotations": list(annotations), "predictions": []}


def _saved(action, annotation, task):
    return action, event_body(action, {"action": action, "annotation": annotation,
                                       "task": {**task, "annotations": None}, "project": {"token": "x"}})


def _history():
    """Label Studio's projects before and after a series of edits, and the events they sent."""
    before = [_task(1, _annotation(11, 1, "PER", 1)), _task(2), _task(3, _annotation(31, 3, "LOC", 1))]
    a12, a12b = _annotation(12, 1, "ORG", 2), _annotation(12, 1, "LOC", 5)
    a21 = _annotation(21, 2, "PER", 3)
    imported = _task(4, _annotation(41, 4, "PER", 1))
    events = [_saved("ANNOTATION_CREATED", a12, before[0]),
              _saved("ANNOTATION_CREATED", a21, before[1]),
              _saved("ANNOTATION_UPDATED", a12b, before[0]),
              ("ANNOTATIONS_DELETED", {"annotations": [{"id": 31}]}),
              ("TASKS_CREATED", {"tasks": [{**imported, "annotations": None}]}),
              ("TASKS_DELETED", {"tasks": [{"id": 2}]})]
    after = [_task(1, _annotation(11, 1, "PER", 1), a12b), _task(3), imported]
    return before, events, after


def _taken(copy, events):
    return [copy.take(action, copying.deepcopy(body)) for action, body in events]


def test_events_in_order_give_the_copy_of_a_full_read_with_imported_tasks_left_to_read():
    before, events, after = _history()
    copy = ProjectCopy.from_tasks(before)
    assert _taken(copy, events) == [None] * len(events)
    assert copy.unread == {4}
    copy.fill([after[2]], [])
    assert copy.sorted_tasks() == ProjectCopy.from_tasks(after).sorted_tasks()
    assert copy.removed == {2} and copy.changed == {1, 3, 4}


@pytest.mark.parametrize("seed", range(20))
def test_events_in_any_order_give_the_same_copy(seed):
    before, events, after = _history()
    random.Random(seed).shuffle(events)
    copy = ProjectCopy.from_tasks(before)
    assert _taken(copy, events) == [None] * len(events)
    copy.fill([t for t in after if t["id"] in copy.unread], [])
    assert copy.sorted_tasks() == ProjectCopy.from_tasks(after).sorted_tasks()


def test_a_deleted_annotation_or_task_never_comes_back_with_a_late_event():
    before, _, _ = _history()
    copy = ProjectCopy.from_tasks(before)
    copy.take("ANNOTATIONS_DELETED", {"annotations": [{"id": 11}]})
    copy.take("TASKS_DELETED", {"tasks": [{"id": 3}]})
    assert copy.take(*_saved("ANNOTATION_UPDATED", _annotation(11, 1, "LOC", 9), before[0])) is None
    assert copy.take(*_saved("ANNOTATION_CREATED", _annotation(32, 3, "LOC", 9), before[2])) is None
    copy.take("TASKS_CREATED", {"tasks": [{"id": 3, "data": {}}]})
    assert copy.tasks[1]["annotations"] == [] and 3 not in copy.tasks and not copy.unread


def test_what_the_copy_cannot_place_is_a_gap():
    copy = ProjectCopy.from_tasks([_task(1)])
    assert "task 5" in copy.take(*_saved("ANNOTATION_CREATED", _annotation(51, 5, "PER", 1), _task(5)))
    assert "annotation" in copy.take("ANNOTATION_UPDATED", {"annotation": None, "task": None})
    assert "list of ids" in copy.take("TASKS_DELETED", {"tasks": [{"id": "7"}]})
    assert "list of ids" in copy.take("ANNOTATIONS_DELETED", {"annotations": None})


def test_the_copy_keeps_what_a_run_reads_and_never_the_projects_token():
    project = {"id": 1, "token": "secret", "task_data_password": "secret", "title": "NER",
               "label_config": "<View/>", "model_version": "v", "total_annotations_number": 9}
    body = event_body("ANNOTATION_CREATED", {"annotation": _annotation(1, 1, "PER", 1),
                                             "task": _task(1), "project": project})
    assert set(body) == {"annotation", "task", "project"}
    settings = {"title": "NER", "label_config": "<View/>", "model_version": "v"}
    assert project_settings(project) == settings and body["project"] == settings_digest(settings)
    assert settings_digest({**settings, "model_version": "w"}) != body["project"]
    assert event_body("PROJECT_UPDATED", {"project": project}) == {"project": body["project"]}
    assert event_body("TASKS_DELETED", {"tasks": [], "project": 1}) == {"tasks": []}  # no object
    assert "secret" not in repr(body)
    kept = copy_task({**_task(1, _annotation(1, 1, "PER", 1)), "predictions": [
        {"id": 4, "model_version": "m", "score": 0.5, "result": [], "task": 1, "created_ago": "now"}]})
    assert set(kept) == {"id", "data", "annotations", "predictions"}
    assert set(kept["predictions"][0]) == {"id", "model_version", "score", "result"}
    assert "prediction" not in kept["annotations"][0] and "lead_time" not in kept["annotations"][0]


def test_the_store_keeps_the_copy_and_its_events_until_taken_in(open_store):
    store: Store = open_store()
    before, events, after = _history()
    assert store.copy_state(7) is None and store.last_event(7) == 0
    seqs = [store.add_event(7, action, body) for action, body in events]
    assert seqs == sorted(seqs) and store.last_event(7) == seqs[-1]
    copy = ProjectCopy.from_tasks(before)
    store.save_copy(7, copy, seq=seqs[1], read=100.0, due="writing", passing="writing")
    assert [e[0] for e in store.events(7)] == seqs[2:]  # those taken in are gone
    state = store.copy_state(7)
    assert (state.seq, state.read, state.due) == (seqs[1], 100.0, "writing")

    loaded = store.load_copy(7)
    assert loaded.sorted_tasks() == copy.sorted_tasks() and not loaded.changed
    for _, action, body in store.events(7, after=seqs[1]):
        assert loaded.take(action, body) is None
    store.mark_due(7, "a refit")  # another process, meanwhile: it stays past the run's own mark
    store.save_copy(7, loaded, seq=seqs[-1], due=None, passing="writing")
    again = store.load_copy(7)
    assert again.unread == {4} and again.gone_tasks == {2} and again.gone_annotations == {31}
    assert 2 not in again.tasks and again.sorted_tasks() == loaded.sorted_tasks()
    assert store.copy_state(7).due == "a refit" and store.copy_state(7).read == 100.0
    assert store.read_before(101.0) == [] and store.events(7) == []
    store.save_copy(7, ProjectCopy.from_tasks(after), seq=seqs[-1], read=200.0)
    assert store.copy_state(7).due is None and store.read_before(201.0) == [7]
    assert store.read_before(150.0) == []


class TasksOnly:
    """A stand-in for Label Studio's reads of one project (what backend.reading asks)."""

    id = 7

    def __init__(self, tasks):
        self.tasks_now, self.asked = {t["id"]: t for t in tasks}, []

    def tasks(self):
        self.asked.append("all")
        return list(self.tasks_now.values())

    def tasks_by_id(self, ids):
        self.asked.append(sorted(ids))
        return [self.tasks_now[t] for t in ids if t in self.tasks_now]


def test_a_run_reads_the_copy_and_only_the_tasks_events_named_without_annotations(open_store):
    from tokenlq_backend.reading import WRITING, read_project, save_written

    store = open_store()
    before, events, after = _history()
    ls = TasksOnly(before)
    first = read_project(ls, store)
    assert first.summary.pop("seconds") >= 0
    assert first.summary == {"how": "full", "why": "no copy yet", "tasks_read": 3,
                             "kept": False}
    assert store.copy_state(7).due == WRITING  # until the run's writes are done
    save_written(store, first, {1: [{"id": 5, "model_version": "m", "score": 0.5, "result": []}]}, "m")
    assert store.copy_state(7).due is None
    ls.tasks_now = {t["id"]: t for t in after}
    for action, body in events:
        store.add_event(7, action, body)
    second = read_project(ls, store)
    assert second.summary.pop("seconds") >= 0
    assert second.summary == {"how": "copy", "events": len(events), "tasks_read": 1,
                              "kept": False, "settings_kept": False}
    assert ls.asked == ["all", [4]]
    mine = [t for t in second.tasks if t["id"] == 1][0]["predictions"]
    assert mine == [{"id": 5, "model_version": "m", "score": 0.5, "result": []}]
    assert without_predictions(second.tasks) == \
        without_predictions(ProjectCopy.from_tasks(after).sorted_tasks())
    # The run stopped before its writes were done: the next one reads the whole project.
    assert read_project(ls, store).summary["why"] == WRITING


def test_an_update_knows_the_projects_settings_while_every_event_since_carries_the_kept_ones(open_store):
    """The kept run's settings stand while each event taken in since carries the same; an event
    with other settings (a new label config, or an older state arriving late) or none, and
    the run asks Label Studio (settings None)."""
    from types import SimpleNamespace

    from tokenlq_backend.reading import read_project, save_written
    from tokenlq_backend.resident import Kept

    store = open_store()
    ls = TasksOnly([_task(1, _annotation(11, 1, "PER", 1)), _task(2)])
    settings = {"title": "NER", "label_config": "<View/>", "model_version": "m"}
    other = {**settings, "label_config": "<View><Labels/></View>"}
    memo = SimpleNamespace(settings=settings)
    version = save_written(store, read_project(ls, store), {}, "m")
    cases = [([settings, settings], settings), ([], settings), ([settings, other], None),
             ([other, settings], None), ([settings, None], None)]
    for carried, expected in cases:
        for n, project in enumerate(carried):
            body = {"annotation": _annotation(20 + n, 2, "LOC", 2 + n), "task": _task(2)}
            store.add_event(7, "ANNOTATION_CREATED",
                            body if project is None else {**body, "project": settings_digest(project)})
        read = read_project(ls, store, kept=Kept(ProjectCopy.from_tasks(ls.tasks()), version, memo, {}))
        assert read.summary["kept"] and read.summary["settings_kept"] == (expected is not None)
        assert read.settings == expected, carried
        version = save_written(store, read, {}, "m")
    # Not the kept copy's version (another process changed it): no memo, no settings.
    assert read_project(ls, store, kept=Kept(None, "other", memo, {})).settings is None


def test_a_big_import_is_read_in_one_export(open_store, monkeypatch):
    from tokenlq_backend import reading

    store = open_store()
    ls = TasksOnly([_task(1, _annotation(11, 1, "PER", 1))])
    reading.save_written(store, reading.read_project(ls, store), {}, "m")
    monkeypatch.setattr(reading, "UNREAD_MOST", 2)
    store.add_event(7, "TASKS_CREATED", {"tasks": [{"id": i, "data": {}} for i in (2, 3, 4)]})
    ls.tasks_now.update({i: _task(i) for i in (2, 3, 4)})
    read = reading.read_project(ls, store)
    assert read.summary["how"] == "full"
    assert read.summary["why"] == "3 new tasks to read: one export is quicker"
    assert ls.asked == ["all", "all"] and [t["id"] for t in read.tasks] == [1, 2, 3, 4]


def without_predictions(tasks):
    return [dict(t, predictions=[]) for t in tasks]
