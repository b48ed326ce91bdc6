"""Bounds on what a request may carry: a body no larger than TOKENLQ_MAX_REQUEST_BYTES, refused
from its Content-Length before any view runs, even one that never reads the body (a chunked
body, whose size is unknown up front, is refused too: 411); JSON of any nesting depth read
without a server error (too deep for the parser is a 400, see :func:`json_body`); and ids that
fit SQLite's 64-bit integers (``<id:...>`` in routes; a larger number is no route: 404)."""

from __future__ import annotations

from flask import Flask, current_app, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import BadRequest, LengthRequired, RequestEntityTooLarge
from werkzeug.routing import IntegerConverter

__all__ = ["MAX_ID", "json_body", "register"]

MAX_ID = 2**63 - 1


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, with input nested beyond what the parser can recurse into (a RecursionError
    from ``json.loads``, thousands of levels deep) read as invalid JSON, like any other."""

    def loads(self, s, **kwargs):
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("arrays or objects nested too deeply to parse") from None


def json_body() -> dict:
    """The request's body as a JSON object, or a 400 saying why not."""
    if not request.is_json:
        raise BadRequest("the request body must be a JSON object (Content-Type: application/json)")
    try:
        body = current_app.json.loads(request.get_data(cache=True))
    except ValueError as err:  # invalid JSON, bytes that are not UTF-8, nesting too deep
        raise BadRequest(f"the request body must be a JSON object; it is not valid JSON: "
                         f"{err}") from None
    if not isinstance(body, dict):
        raise BadRequest(f"the request body must be a JSON object; got {type(body).__name__}")
    return body


class IdConverter(IntegerConverter):
    def __init__(self, url_map):
        super().__init__(url_map, max=MAX_ID)


def register(app: Flask) -> None:
    app.url_map.converters["id"] = IdConverter
    app.json = JSONProvider(app)  # request.get_json() and json_body() alike

    @app.before_request
    def refuse_oversized_bodies():
        limit = app.config["MAX_CONTENT_LENGTH"]
        if "chunked" in request.headers.get("Transfer-Encoding", "").lower():
            raise LengthRequired("send the body with a Content-Length (chunked bodies are refused)")
        if limit is not None and (request.content_length or 0) > limit:
            raise RequestEntityTooLarge(f"the request body is over {limit} bytes")
