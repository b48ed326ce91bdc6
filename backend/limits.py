"""Bounds on what a request may carry: a body no larger than TOKENLQ_MAX_REQUEST_BYTES, refused
from its Content-Length before any view runs, even one that never reads the body (a chunked
body, whose size is unknown up front, is refused too: 411); and ids that fit SQLite's 64-bit
integers (``<id:...>`` in routes; a larger number is no route: 404)."""

from __future__ import annotations

from flask import Flask, request
from werkzeug.exceptions import LengthRequired, RequestEntityTooLarge
from werkzeug.routing import IntegerConverter

__all__ = ["MAX_ID", "register"]

MAX_ID = 2**63 - 1


class IdConverter(IntegerConverter):
    def __init__(self, url_map):
        super().__init__(url_map, max=MAX_ID)


def register(app: Flask) -> None:
    app.url_map.converters["id"] = IdConverter

    @app.before_request
    def refuse_oversized_bodies():
        limit = app.config["MAX_CONTENT_LENGTH"]
        if "chunked" in request.headers.get("Transfer-Encoding", "").lower():
            raise LengthRequired("send the body with a Content-Length (chunked bodies are refused)")
        if limit is not None and (request.content_length or 0) > limit:
            raise RequestEntityTooLarge(f"the request body is over {limit} bytes")
