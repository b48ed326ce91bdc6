"""Every error is a JSON body with a precise message; nothing answers a bare 500 page."""

from __future__ import annotations

from flask import Flask, current_app, jsonify
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

__all__ = ["BadRequest", "register"]


class BadRequest(Exception):
    """A request the backend understood but cannot accept (400 unless ``status`` says otherwise)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message, self.status = message, status


def register(app: Flask) -> None:
    @app.errorhandler(BadRequest)
    def bad_request(err: BadRequest):
        return jsonify(error=err.message), err.status

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException):
        response = jsonify(error=f"{err.name}: {err.description}")
        response.status_code = err.code or 500
        if err.code == 401 and current_app.config["TOKENLQ"].basic_auth_user:
            response.headers["WWW-Authenticate"] = 'Basic realm="tokenlq"'
        return response

    @app.errorhandler(OperationalError)
    def database_unavailable(err: OperationalError):
        # The database is down, restarting or locked: the request can succeed later. The
        # driver's message may name the host; it goes to the log, not to the client.
        app.logger.warning("the service's database is unavailable: %s", err.orig)
        response = jsonify(error="the backend's database is unavailable; try again shortly")
        response.status_code, response.headers["Retry-After"] = 503, "5"
        return response

    @app.errorhandler(Exception)
    def unexpected(err: Exception):  # logged with its traceback; the client gets no internals
        app.logger.exception("unexpected error")
        return jsonify(error="internal error; see the backend's log"), 500
