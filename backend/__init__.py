"""The Label Studio ML backend: a Flask application factory (``create_app``)."""

from __future__ import annotations

import logging

from flask import Flask

from .settings import Settings

__all__ = ["create_app"]


def create_app(settings: Settings | None = None) -> Flask:
    """The backend's Flask app; ``settings`` default to :meth:`Settings.from_env`."""
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config["TOKENLQ"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.logger.setLevel(getattr(logging, settings.log_level, logging.INFO))

    from . import auth, errors, protocol

    errors.register(app)
    auth.register(app)
    app.register_blueprint(protocol.bp)
    return app
