"""Review outcomes: pending, fixed, confirmed by the reviewer's mark (pure, no HTTP)."""

from tokenlq_backend.labelstudio.config import parse_label_config
from tokenlq_backend.reviews import update_reviews
from tokenlq_backend.scoring import carries_mark, read_tasks


def test_queue_and_review_outcomes():
    def task(tags, score, marked=False):
        return (tags, marked, score, 0)

    current = {1: task(["B-PER", "O", "O"], 0.1), 2: task(["B-LOC", "O"], 0.2),
               3: task(["O", "O"], 0.3), 4: task(["B-ORG"], 0.05), 5: task(["O"], 0.9)}
    # Three tasks have a flagged token: the queue is the three lowest scores, in order; task 4
    # scores lower than the flagged task 3, so it is queued and 3 is not.
    queue, states, reviewed = update_reviews({}, current, {1: [0], 2: [0], 3: [1]}, 1.0)
    assert queue == [4, 1, 2] and not reviewed
    assert {t: s["status"] for t, s in states.items()} == {4: "pending", 1: "pending", 2: "pending"}
    assert states[1]["positions"] == [0] and states[4]["positions"] == [0]  # its weakest token
    # 1: its flagged label changed and nothing in it is flagged any more -> fixed, out of the
    #    queue although its score stays low.
    # 2: the reviewer ticked the mark -> confirmed, out of the queue while marked.
    # 4: untouched -> pending.
    current[1], current[2] = task(["O", "O", "O"], 0.1), task(["B-LOC", "O"], 0.2, marked=True)
    queue, states, reviewed = update_reviews(states, current, {2: [0], 4: [0]}, 2.0)
    assert {t: s["status"] for t, s in states.items()} == {1: "fixed", 2: "confirmed", 4: "pending"}
    assert reviewed == {1, 2} and queue == [4] and states[1]["decided_at"] == 2.0
    # However strong the model's evidence, the mark stands...
    current[2] = task(["B-LOC", "O"], 0.01, marked=True)
    queue, states, reviewed = update_reviews(states, current, {2: [0], 4: [0]}, 3.0)
    assert states[2]["status"] == "confirmed" and 2 in reviewed and 2 not in queue
    # ...until the reviewer takes it back: the finding closes and the task is queued anew.
    current[2] = task(["B-LOC", "O"], 0.01)
    queue, states, reviewed = update_reviews(states, current, {2: [0], 4: [0]}, 4.0)
    assert queue == [2, 4] and states[2]["status"] == "pending" and states[2]["flagged_at"] == 4.0
    # A fixed task flagged again is a new finding; a task that is gone loses its finding.
    del current[3]
    queue, states, _ = update_reviews(states, current, {1: [1], 2: [0], 4: [0]}, 5.0)
    assert states[1]["status"] == "pending" and states[1]["positions"] == [1] and 3 not in states
    # Changing the flagged label while it stays flagged keeps it pending, about the new label.
    current[1] = task(["O", "B-PER", "O"], 0.1)
    queue, states, _ = update_reviews(states, current, {1: [1], 2: [0], 4: [0]}, 6.0)
    assert states[1]["status"] == "pending" and states[1]["flagged_at"] == 6.0
    # Pending tasks that drop out of the queue untouched are no findings any more (one task is
    # flagged: the queue is the lowest score, task 2).
    queue, states, _ = update_reviews(states, current, {1: [1]}, 7.0)
    assert queue == [2] and set(states) == {2}
    # A marked task without a finding is never queued.
    current[6] = task(["O"], 0.001, marked=True)
    queue, states, _ = update_reviews(states, current, {1: [1], 6: [0]}, 8.0)
    assert 6 not in queue and 6 not in states


def test_the_mark_is_read_from_the_given_annotation_only_when_the_config_has_it():
    config = ('<View><Labels name="label" toName="text"><Label value="PER"/></Labels>'
              '<Text name="text" value="$text"/>{}</View>')
    mark = '<Choices name="tokenlq_confirm" toName="text"><Choice value="Labels are right"/></Choices>'
    with_mark, without = parse_label_config(config.format(mark)), parse_label_config(config.format(""))
    assert with_mark.confirm_name == "tokenlq_confirm" and without.confirm_name is None
    ticked = {"from_name": "tokenlq_confirm", "to_name": "text", "type": "choices",
              "value": {"choices": ["Labels are right"]}}
    task = {"id": 1, "data": {"text": "Anna"}, "annotations": [
        {"id": 5, "updated_at": "2026-01-01", "result": [ticked]}]}
    assert read_tasks([task], with_mark).confirmed == [True]
    assert read_tasks([task], without).confirmed == [False]
    assert not carries_mark({"result": [dict(ticked, value={"choices": []})]}, "tokenlq_confirm")
    assert not carries_mark({"result": [dict(ticked, value="x")]}, "tokenlq_confirm")
