"""The Label Studio ML backend: a Flask application factory (``create_app``)."""

from __future__ import annotations

import logging

from flask import Flask

from .settings import Settings

__all__ = ["create_app"]


def create_app(settings: Settings | None = None, *, start_queue: bool = True) -> Flask:
    """The backend's Flask app; ``settings`` default to :meth:`Settings.from_env`.
    ``start_queue=False`` keeps jobs queued without running them (tests of the HTTP layer)."""
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config["TOKENLQ"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.logger.setLevel(getattr(logging, settings.log_level, logging.INFO))

    from . import auth, dashboard, errors, limits, management, metrics, openapi, protocol
    from .jobs import JobQueue
    from .storage import Store

    store = Store(settings.data_dir, settings.database_url)
    app.extensions["tokenlq.store"] = store
    if settings.redis_url:  # RQ workers run the jobs
        from .rq_queue import RQJobQueue

        app.extensions["tokenlq.queue"] = RQJobQueue(settings, store)
    else:
        app.extensions["tokenlq.queue"] = JobQueue(settings, store, start=start_queue)
    if start_queue:
        from .schedule import Healer

        app.extensions["tokenlq.healer"] = Healer(store, app.extensions["tokenlq.queue"],
                                                  settings.reconcile_seconds)
    errors.register(app)
    limits.register(app)  # before the blueprints: they use its <id:...> converter
    auth.register(app)
    app.register_blueprint(protocol.bp)
    app.register_blueprint(management.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(metrics.bp)
    return app
