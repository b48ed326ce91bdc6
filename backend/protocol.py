"""The ML backend protocol as Label Studio 1.23 calls it: /health, /setup, /predict, /versions,
/webhook."""

from __future__ import annotations

import reprlib

from flask import Blueprint, current_app, jsonify

from .auth import TRAIN_ACTION, check_webhook
from .copies import ACTIONS, event_body
from .errors import BadRequest
from .labelstudio.config import ConfigError, parse_label_config
from .jobs import check_params
from .limits import MAX_ID, json_body
from .versions import MODEL_VERSION

bp = Blueprint("protocol", __name__)


def project_id(value) -> int:
    """Label Studio sends the project as "<id>.<created timestamp>" (or a bare id)."""
    text = str(value) if type(value) is int else value  # noqa: E721 (True is no project)
    head = text.split(".")[0] if isinstance(text, str) else ""
    if not (head.isascii() and head.isdigit() and len(head) <= 19) or int(head) > MAX_ID:
        raise BadRequest(f"'project' must be '<id>.<timestamp>' or an id; got {reprlib.repr(value)}")
    return int(head)


@bp.get("/health")
def health():
    """UP, or 503 when jobs would not run (Label Studio then shows the ML backend's error
    state). Open to anyone, so it names what is wrong and nothing more; the log has details."""
    problems = current_app.extensions["tokenlq.queue"].problems()
    if problems:
        return jsonify(status="DOWN", model_version=MODEL_VERSION, problems=problems), 503
    return jsonify(status="UP", model_version=MODEL_VERSION)


@bp.post("/setup")
def setup():
    body = json_body()
    project = project_id(body.get("project"))
    try:
        parse_label_config(body.get("schema"))
    except ConfigError as err:
        raise BadRequest(f"this project's labeling config cannot be served: {err}", 422) from None
    try:
        params = check_params(body.get("extra_params"))
    except ValueError as err:
        raise BadRequest(f"extra_params: {err}", 422) from None
    store = current_app.extensions["tokenlq.store"]
    if params != store.params(project):  # /setup comes before every batch: write only changes
        store.set_params(project, params)
    if not store.jobs(project, limit=1):
        # A project seen for the first time is scored right away; that run also gives the
        # webhook Label Studio created for us the secret header, without which its events
        # would be refused.
        current_app.extensions["tokenlq.queue"].submit(project, "setup", "update")
    return jsonify(model_version=MODEL_VERSION)


@bp.get("/versions")
def versions():
    return jsonify(versions=[MODEL_VERSION])


@bp.post("/predict")
def predict():
    # Imported on the first call: they bring numpy and the core, which the web process's
    # start, /health and /setup do without.
    from tokenlq.labelstudio_format import given_annotation, task_shape_error

    from .preannotate import pre_annotations

    body = json_body()
    tasks = body.get("tasks")
    if not isinstance(tasks, list) or not tasks:
        raise BadRequest("'tasks' must be a non-empty list of tasks")
    for number, task in enumerate(tasks):
        problem = task_shape_error(task)
        task_id = task.get("id") if problem is None else None
        if problem is None and not (type(task_id) is int and 0 <= task_id <= MAX_ID):  # noqa: E721 (not bool)
            problem = f"every task must be an object with an integer 'id' (0 to 2^63-1); got {task_id!r}"
        if problem:
            raise BadRequest(f"tasks[{number}]: {problem}")
    # One entry per task, in order (Label Studio drops the whole batch otherwise), from the
    # latest run; never a call back into Label Studio (it would wait on this very request).
    project = project_id(body.get("project"))
    store = current_app.extensions["tokenlq.store"]
    stored = store.predictions(project, [t["id"] for t in tasks])
    empty = {"model_version": MODEL_VERSION, "score": None, "result": []}
    fresh = [t for t in tasks if t["id"] not in stored and not given_annotation(t.get("annotations"))]
    if fresh:
        stored.update(pre_annotations(current_app.config["TOKENLQ"].data_dir, project, fresh,
                                      body.get("label_config"), store=store))
    return jsonify(results=[stored.get(t["id"], empty) for t in tasks])


# Events that start a run, and its kind: the training button refits and rescores; annotation
# and task events are kept for the project's copy, and an update takes them in and scores it
# with the stored fit (a background refit may follow). The backend's own writes (predictions,
# the view) emit no event; setting the project's model version emits PROJECT_UPDATED, which
# only keeps the project's settings for the next update (backend.copies) and starts no run.
TRIGGERS = {TRAIN_ACTION: "rescore", "ANNOTATION_CREATED": "update",
            "ANNOTATION_UPDATED": "update", "ANNOTATIONS_DELETED": "update",
            "TASKS_CREATED": "update", "TASKS_DELETED": "update"}


@bp.post("/webhook")
def webhook():
    body = json_body()
    action = body.get("action")
    check_webhook(current_app.config["TOKENLQ"], action)  # before anything else is told
    if not isinstance(action, str):
        raise BadRequest("a webhook event needs an 'action'")
    if action not in TRIGGERS and action not in ACTIONS:
        return jsonify(status="ignored", action=action)
    project = body.get("project")
    project = project_id(project.get("id") if isinstance(project, dict) else project)
    if action in ACTIONS:  # what the project's copy takes in (backend.copies); never its token
        current_app.extensions["tokenlq.store"].add_event(project, action, event_body(action, body))
    if action not in TRIGGERS:
        return jsonify(status="kept", action=action)
    job_id = current_app.extensions["tokenlq.queue"].submit(project, action, TRIGGERS[action])
    return jsonify(status="queued", action=action, job=job_id)
