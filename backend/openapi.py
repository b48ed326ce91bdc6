"""``GET /openapi.json``: every endpoint and its JSON shapes (OpenAPI 3.1)."""

from __future__ import annotations

from flask import Blueprint, jsonify

from tokenlq import __version__

from .limits import MAX_ID

bp = Blueprint("openapi", __name__)

_ERROR = {"$ref": "#/components/schemas/Error"}


def _answer(description, schema=None, media="application/json"):
    content = {media: {"schema": schema}} if schema else {}
    return {"description": description, **({"content": content} if content else {})}


def _errors(*codes):
    text = {400: "malformed request", 401: "authentication required or webhook secret wrong",
            403: "the Train button's START_TRAINING with only a webhook secret configured "
                 "(it cannot carry the secret: configure Basic auth)",
            404: "unknown project, job or route", 411: "a chunked body (send a Content-Length)",
            413: "request body too large",
            422: "labeling config or extra_params cannot be served"}
    return {str(c): _answer(text[c], _ERROR) for c in codes}


def _top(key, description):
    """A top list of the summary: ``[{<key>: ..., "count": n}]``."""
    return {"type": "array", "description": f"[{{{key}, count}}]: {description}", "items": {
        "type": "object", "required": [key, "count"],
        "properties": {key: {"type": "string"}, "count": {"type": "integer", "minimum": 1}}}}


def _body(schema):
    return {"required": True, "content": {"application/json": {"schema": schema}}}


_ID = {"type": "integer", "minimum": 0, "maximum": MAX_ID}
# Label Studio's "<id>.<created timestamp>" (or a bare id).
_PROJECT_FIELD = {"type": "string", "pattern": r"^[0-9]{1,19}(\.[0-9]*)?$"}
_PROJECT = {"name": "project", "in": "path", "required": True, "schema": _ID}

SPEC = {
    "openapi": "3.1.0",
    "info": {"title": "tokenlq Label Studio ML backend", "version": __version__},
    "components": {
        "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
        "schemas": {
            "Error": {"type": "object", "required": ["error"],
                      "properties": {"error": {"type": "string"}}},
            "Prediction": {"type": "object", "required": ["result"], "properties": {
                "model_version": {"type": "string"}, "score": {"type": ["number", "null"]},
                "result": {"type": "array", "items": {"type": "object"}}}},
            "Job": {"type": "object", "properties": {
                "id": {"type": "integer"}, "project": {"type": "integer"},
                "trigger": {"type": "string"},
                "kind": {"enum": ["rescore", "update", "refit"]},
                "status": {"enum": ["queued", "running", "done", "failed"]},
                "reason": {"type": ["string", "null"]}, "events": {"type": "integer"},
                "progress": {"type": ["string", "null"],
                             "description": "phase of a running job: pull, read, fit, score, "
                                            "write; then done or failed"},
                "created": {"type": "number"}, "started": {"type": ["number", "null"]},
                "finished": {"type": ["number", "null"]},
                "summary": {"type": ["object", "null"]}}},
        },
    },
    "security": [{"basic": []}],
    "paths": {
        "/health": {"get": {"security": [], "responses": {"200": _answer("up", {
            "type": "object", "properties": {"status": {"const": "UP"},
                                             "model_version": {"type": "string"}}}),
            "503": _answer("jobs would not run: a lane of the embedded queue stopped or cannot "
                           "use its store, Redis does not answer, or no worker runs", {
                "type": "object", "properties": {
                    "status": {"const": "DOWN"}, "model_version": {"type": "string"},
                    "problems": {"type": "array", "items": {"type": "string"}}}})}}},
        "/setup": {"post": {
            "requestBody": _body({"type": "object", "required": ["project", "schema"], "properties": {
                "project": _PROJECT_FIELD, "schema": {"type": "string"},
                "hostname": {"type": "string"}, "access_token": {"type": "string"},
                "extra_params": {"type": ["object", "null"], "additionalProperties": False,
                                 "properties": {"probs": {"type": "string"},
                                                "refit_fraction": {"type": "number"}}}}}),
            "responses": {"200": _answer("the model version", {
                "type": "object", "properties": {"model_version": {"type": "string"}}}),
                **_errors(400, 401, 411, 413, 422)}}},
        "/versions": {"get": {"responses": {"200": _answer("model versions", {
            "type": "object", "properties": {"versions": {"type": "array",
                                                           "items": {"type": "string"}}}}),
            **_errors(401)}}},
        "/predict": {"post": {
            "requestBody": _body({"type": "object", "required": ["tasks"], "properties": {
                "project": _PROJECT_FIELD, "label_config": {"type": "string"},
                "params": {"type": "object"},
                "tasks": {"type": "array", "minItems": 1, "items": {
                    "type": "object", "required": ["id"], "properties": {"id": _ID}}}}}),
            "responses": {"200": _answer("one prediction per task, in order", {
                "type": "object", "properties": {"results": {
                    "type": "array", "items": {"$ref": "#/components/schemas/Prediction"}}}}),
                **_errors(400, 401, 411, 413)}}},
        "/webhook": {"post": {
            # Checked by the view: events need the webhook secret when it is set (else Basic
            # when set), START_TRAINING needs Basic (docs/labelstudio.md: "Who may call /webhook").
            "security": [],
            "requestBody": _body({"type": "object", "required": ["action"], "properties": {
                "action": {"type": "string"}, "project": {"type": ["object", "integer"]}}}),
            "responses": {"200": _answer("queued (job id) or ignored", {
                "type": "object", "properties": {"status": {"enum": ["queued", "ignored"]},
                                                 "action": {"type": "string"},
                                                 "job": {"type": "integer"}}}),
                **_errors(400, 401, 403, 411, 413)}}},
        "/projects/{project}/rescore": {"post": {"parameters": [_PROJECT], "responses": {
            "202": _answer("queued", {"type": "object", "properties": {
                "job": {"type": "integer"}, "status_url": {"type": "string"}}}),
            **_errors(401, 411, 413)}}},
        "/projects/{project}/jobs": {"get": {"parameters": [_PROJECT], "responses": {
            "200": _answer("the project's latest 50 jobs, newest first", {
                "type": "object", "properties": {"project": {"type": "integer"}, "jobs": {
                    "type": "array", "items": {"$ref": "#/components/schemas/Job"}}}}),
            **_errors(401)}}},
        "/jobs/{job}": {"get": {"parameters": [{"name": "job", "in": "path", "required": True,
                                                "schema": _ID}],
                                "responses": {"200": _answer("the job", {"$ref": "#/components/schemas/Job"}),
                                              **_errors(401, 404)}}},
        "/projects/{project}/summary": {"get": {
            "parameters": [_PROJECT, {"name": "format", "in": "query", "required": False,
                                      "schema": {"enum": ["json", "csv"]}}],
            "responses": {"200": _answer(
                "per entity type of the latest run (every field described in the answer's "
                "`fields`); as CSV, the top lists are text: 'LOC (3), PER (1)'", {
                    "type": "object", "properties": {
                        "project": {"type": "integer"}, "job": {"type": "integer"},
                        "finished": {"type": "number"}, "fields": {"type": "object"},
                        "warnings": {"type": "object"},
                        "classes": {"type": "array", "items": {"type": "object", "properties": {
                            "type": {"type": "string"},
                            "top_confusions": _top("suggested", "suggested type of the "
                                                   "flagged tokens, most frequent first"),
                            "top_flagged_tokens": _top("token", "flagged word of this type, "
                                                       "most frequent first")}}}}}),
                          **_errors(401, 404)}}},
        "/projects/{project}/summary.html": {"get": {"parameters": [_PROJECT], "responses": {
            "200": _answer("the summary page", {"type": "string"}, "text/html"),
            **_errors(401, 404)}}},
        "/projects/{project}/history": {"get": {
            "parameters": [_PROJECT, {"name": "format", "in": "query", "required": False,
                                      "schema": {"enum": ["json", "csv"]}}],
            "responses": {"200": _answer("every scoring run, oldest first (fields described in "
                                         "the answer)", {"type": "object", "properties": {
                                             "project": {"type": "integer"},
                                             "fields": {"type": "object"},
                                             "runs": {"type": "array", "items": {"type": "object"}}}}),
                          **_errors(401)}}},
        "/projects/{project}/dashboard": {"get": {"parameters": [_PROJECT], "responses": {
            "200": _answer("the dashboard page", {"type": "string"}, "text/html"),
            **_errors(401, 404)}}},
        "/assets/plotly.min.js": {"get": {"responses": {
            "200": _answer("plotly.js, from the installed plotly package", {"type": "string"},
                           "application/javascript"), **_errors(401)}}},
        "/metrics": {"get": {"responses": {
            "200": _answer("Prometheus text format: tokenlq_runs_total, tokenlq_run_seconds_total, "
                           "tokenlq_queue_depth, tokenlq_flagged_tasks, "
                           "tokenlq_estimated_error_rate, tokenlq_findings", {"type": "string"},
                           "text/plain"), **_errors(401)}}},
        "/openapi.json": {"get": {"responses": {"200": _answer("this document", {"type": "object"}),
                                                **_errors(401)}}},
    },
}


@bp.get("/openapi.json")
def openapi():
    return jsonify(SPEC)
