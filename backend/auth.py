"""Basic authentication (when BASIC_AUTH_USER is set) on every route but the open ones."""

from __future__ import annotations

import hmac

from flask import Flask, current_app, request
from werkzeug.exceptions import Unauthorized

__all__ = ["OPEN_ENDPOINTS", "basic_auth_ok", "register"]

# /health is open; /webhook takes Label Studio's events as triggers only (its auto-created
# webhook sends no credentials) and checks the webhook secret itself.
OPEN_ENDPOINTS = {"protocol.health", "protocol.webhook", "static"}


def _equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def basic_auth_ok(settings) -> bool:
    """Whether the request carries the configured Basic credentials (constant-time)."""
    given = request.authorization
    if given is None or given.type != "basic":
        return False
    # Both compared, always: the time taken tells nothing about which one was wrong.
    user_ok = _equal(given.username or "", settings.basic_auth_user)
    password_ok = _equal(given.password or "", settings.basic_auth_pass)
    return user_ok & password_ok


def register(app: Flask) -> None:
    @app.before_request
    def require_basic_auth():
        settings = current_app.config["TOKENLQ"]
        if not settings.basic_auth_user or request.endpoint in OPEN_ENDPOINTS:
            return None
        if not basic_auth_ok(settings):
            raise Unauthorized("Basic authentication required")
        return None
