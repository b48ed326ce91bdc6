"""The connection to Label Studio: one ``httpx.Client`` made here (base URL, API key, origin
guard, retries), with label-studio-sdk 2.1.2's typed calls on top of it.

Only this package speaks HTTP to Label Studio. The SDK's public methods serve the calls it
covers; :meth:`LabelStudioClient.request` serves the rest (snapshot exports, the
model-versions endpoint, Data Manager reads), with the SDK's retry rule.
"""

from __future__ import annotations

import base64
import binascii
import json
import time

import httpx
from label_studio_sdk import LabelStudio

__all__ = ["ForeignURLError", "LabelStudioClient", "close", "connect"]

# As the SDK's own calls: retry twice on a dropped connection or on these statuses, after 1 s
# then 2 s.
RETRY_STATUSES = frozenset({408, 409, 429}) | frozenset(range(500, 600))
RETRY_DELAYS = (1.0, 2.0)  # seconds before the 1st and the 2nd retry


class ForeignURLError(RuntimeError):
    """A request (a redirect, a URL from an answer) to anywhere but the configured Label Studio."""


def _only_to(url: str):
    """An httpx request hook refusing every request whose origin is not ``url``'s: the API key
    travels with each request, so it must never follow a redirect or a link elsewhere."""
    allowed = httpx.URL(url)
    origin = (allowed.scheme, allowed.host, allowed.port)

    def check(request) -> None:
        if (request.url.scheme, request.url.host, request.url.port) != origin:
            raise ForeignURLError(f"refused a request to {request.url.scheme}://{request.url.host}"
                                  f"{'' if request.url.port is None else f':{request.url.port}'}: "
                                  "the backend talks only to LABEL_STUDIO_URL")
    return check


def _jwt_claims(token: str) -> dict | None:
    """The claims of a JWT (unverified: Label Studio checks them), or None for another token."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return None
    return claims if isinstance(claims, dict) else None


class _ApiKeyAuth(httpx.Auth):
    """Label Studio's two kinds of API key: a legacy token goes as ``Token <key>``; a personal
    access token (a JWT refresh token) is exchanged at ``api/token/refresh/`` for short-lived
    access tokens, sent as ``Bearer <access>`` and renewed a minute before they expire.
    Requests that carry their own ``Authorization`` (the SDK's) keep it; the exchange itself
    (the SDK makes its own) needs none."""

    requires_response_body = True  # the refresh answer is read inside the flow

    def __init__(self, api_key: str, refresh_url: httpx.URL):
        self.api_key, self.refresh_url = api_key, refresh_url
        self.personal = (_jwt_claims(api_key) or {}).get("token_type") == "refresh"
        self.access, self.expires = None, 0.0

    def auth_flow(self, request):
        if "Authorization" not in request.headers and request.url != self.refresh_url:
            if not self.personal:
                request.headers["Authorization"] = f"Token {self.api_key}"
            else:
                if self.access is None or time.time() > self.expires - 60:
                    answer = yield httpx.Request("POST", self.refresh_url,
                                                 json={"refresh": self.api_key})
                    answer.raise_for_status()
                    self.access = answer.json()["access"]
                    self.expires = float((_jwt_claims(self.access) or {}).get("exp", 0))
                request.headers["Authorization"] = f"Bearer {self.access}"
        yield request


class LabelStudioClient(LabelStudio):
    """The SDK client over :attr:`http`, the ``httpx.Client`` this package made: every
    request, the SDK's included, goes to ``url``'s origin (else :class:`ForeignURLError`).
    :meth:`request` waits ``retry_delays[i]`` seconds (default :data:`RETRY_DELAYS`) before
    its retry ``i + 1``."""

    def __init__(self, url: str, api_key: str, *, timeout: float = 60.0, transport=None,
                 retry_delays=None):
        self.retry_delays = RETRY_DELAYS if retry_delays is None else tuple(retry_delays)
        base = url.rstrip("/") + "/"
        self.http = httpx.Client(base_url=base, timeout=timeout, follow_redirects=True,
                                 auth=_ApiKeyAuth(api_key, httpx.URL(base).join("api/token/refresh/")),
                                 event_hooks={"request": [_only_to(base)]}, transport=transport)
        super().__init__(base_url=base, api_key=api_key, timeout=timeout, httpx_client=self.http)

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        """``method`` on ``path`` (relative to the base URL), retried as the SDK retries; the
        answer is returned whatever its status."""
        for delay in self.retry_delays:
            try:
                response = self.http.request(method, path, **kwargs)
                if response.status_code not in RETRY_STATUSES:
                    return response
            except (httpx.ConnectError, httpx.RemoteProtocolError):
                pass
            time.sleep(delay)
        return self.http.request(method, path, **kwargs)  # the last attempt: as it answers

    def close(self) -> None:
        """Release the connections."""
        self.http.close()


def connect(url: str, api_key: str, *, timeout: float = 60.0, transport=None,
            retry_delays=None) -> LabelStudioClient:
    """A client of the Label Studio at ``url``; ``api_key`` may be a personal access token or a
    legacy token. ``transport`` replaces the network and ``retry_delays`` the waits before
    retries (tests). Raises ValueError without a URL or key."""
    if not url or not api_key:
        raise ValueError("LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY must be set to reach Label Studio")
    return LabelStudioClient(url, api_key, timeout=timeout, transport=transport,
                             retry_delays=retry_delays)


def close(client: LabelStudioClient) -> None:
    """Release the client's connections."""
    client.close()
