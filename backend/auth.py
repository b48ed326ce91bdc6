"""Who may call what. Basic authentication (when BASIC_AUTH_USER is set) guards every route but
/health, which stays open for health checks and tells nothing; /webhook follows its own rule
(:func:`check_webhook`), since Label Studio's events and its Train button carry different
credentials."""

from __future__ import annotations

import base64
import hmac

from flask import Flask, current_app, request
from werkzeug.exceptions import Forbidden, Unauthorized

__all__ = ["OPEN_ENDPOINTS", "TRAIN_ACTION", "WEBHOOK_SECRET_HEADER", "basic_auth_ok",
           "check_webhook", "register", "webhook_headers"]

# /webhook is exempt from the hook below only because it checks credentials itself.
OPEN_ENDPOINTS = {"protocol.health", "protocol.webhook", "static"}
WEBHOOK_SECRET_HEADER = "X-Tokenlq-Webhook-Secret"
# The Train button's call: sent by Label Studio's ML backend client, which carries the Basic
# credentials of the ML backend's settings and no custom header.
TRAIN_ACTION = "START_TRAINING"


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


def _secret_ok(settings) -> bool:
    return _equal(request.headers.get(WEBHOOK_SECRET_HEADER, ""), settings.webhook_secret)


def check_webhook(settings, action) -> None:
    """Raise Unauthorized (401) or Forbidden (403) unless this request to /webhook, carrying
    ``action``, has the credential the configuration asks of it:

    ==================  ==========================  ==========================================
    configured          events (every other action)  the Train button (``START_TRAINING``)
    ==================  ==========================  ==========================================
    neither             open                         open
    Basic only          Basic                        Basic
    secret only         the secret header            403: it cannot carry the secret
    both                the secret header            Basic
    ==================  ==========================  ==========================================

    The backend gives the webhook Label Studio created for it the header its events need
    (:func:`webhook_headers`).
    """
    secret, basic = bool(settings.webhook_secret), bool(settings.basic_auth_user)
    if action == TRAIN_ACTION:
        if basic and not basic_auth_ok(settings):
            raise Unauthorized("Basic authentication required")
        if secret and not basic:
            raise Forbidden("the Train button (START_TRAINING) cannot carry the webhook secret: "
                            "set BASIC_AUTH_USER and BASIC_AUTH_PASS on the backend and the same "
                            "pair in Label Studio (Settings -> Model -> the ML backend -> Basic "
                            "auth)")
    elif secret:
        if not _secret_ok(settings):
            raise Unauthorized(f"missing or wrong {WEBHOOK_SECRET_HEADER} header")
    elif basic and not basic_auth_ok(settings):
        raise Unauthorized("Basic authentication required")


def webhook_headers(settings) -> dict:
    """The header the backend adds to the webhook Label Studio created for it, so that its
    events pass :func:`check_webhook`: the secret when set, else the Basic credentials."""
    if settings.webhook_secret:
        return {WEBHOOK_SECRET_HEADER: settings.webhook_secret}
    if settings.basic_auth_user:
        pair = f"{settings.basic_auth_user}:{settings.basic_auth_pass}".encode("utf-8")
        return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
    return {}


def register(app: Flask) -> None:
    @app.before_request
    def require_basic_auth():
        settings = current_app.config["TOKENLQ"]
        if not settings.basic_auth_user or request.endpoint in OPEN_ENDPOINTS:
            return None
        if not basic_auth_ok(settings):
            raise Unauthorized("Basic authentication required")
        return None
