"""A reverse proxy in front of the real Label Studio that injects faults on chosen requests:
an answer 500, a timeout, a connection dropped without an answer, a request carried out by
Label Studio whose answer is lost, a request held until the test lets go, or the whole server
down (connection refused). Everything else passes through."""

from __future__ import annotations

import http.client
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

__all__ = ["FaultyProxy"]

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection",
               "te", "trailer", "upgrade"}


@dataclass
class _Rule:
    method: str
    path: re.Pattern
    fault: str  # "500", "timeout", "drop", "lost" or "hold"
    times: int
    after: int  # matching requests let through first
    seconds: float
    seen: int = 0
    arrived: threading.Event = field(default_factory=threading.Event)  # a request is held
    release: threading.Event = field(default_factory=threading.Event)


class FaultyProxy:
    def __init__(self, target: str):
        parts = urlsplit(target)
        self.target = (parts.hostname, parts.port or 80)
        self.requests: list[tuple[str, str]] = []
        self.injected: list[tuple[str, str, str]] = []
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self._server = self._serve(0)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"

    # -- faults ------------------------------------------------------------------------------
    def fail(self, method: str, path: str, fault: str, *, times: int = 1, after: int = 0,
             seconds: float = 0.0) -> _Rule:
        """Inject ``fault`` into the next ``times`` requests ``method path`` (a regex matched
        against the path), after letting ``after`` of them through."""
        rule = _Rule(method, re.compile(path), fault, times, after, seconds)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            for rule in self._rules:
                rule.release.set()
            self._rules.clear()

    def down(self) -> None:
        """Stop listening: every connection is refused, as with a stopped server."""
        self._server.shutdown()
        self._server.server_close()
        self.injected.append(("*", "*", "down"))

    def up(self) -> None:
        deadline = time.time() + 30
        while True:  # the port may linger a moment after close
            try:
                self._server = self._serve(self.port)
                return
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.5)

    def close(self) -> None:
        self.clear()
        self._server.shutdown()
        self._server.server_close()

    # -- serving -----------------------------------------------------------------------------
    def _rule_for(self, method: str, path: str) -> _Rule | None:
        with self._lock:
            self.requests.append((method, path))
            for rule in self._rules:
                if rule.method == method and rule.path.search(path) and rule.times > 0:
                    rule.seen += 1
                    if rule.seen > rule.after:
                        rule.times -= 1
                        self.injected.append((method, path, rule.fault))
                        return rule
        return None

    def _serve(self, port: int) -> ThreadingHTTPServer:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _handle(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                rule = proxy._rule_for(self.command, self.path)
                if rule is not None and rule.fault != "lost":
                    if rule.fault == "500":
                        return self._answer(500, b'{"detail": "injected fault"}',
                                            [("Content-Type", "application/json")])
                    if rule.fault == "timeout":
                        time.sleep(rule.seconds)
                    elif rule.fault == "hold":
                        rule.arrived.set()
                        rule.release.wait(rule.seconds)
                    self.close_connection = True  # "drop", and the end of the others
                    return None
                upstream = http.client.HTTPConnection(*proxy.target, timeout=300)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                    upstream.request(self.command, self.path, body=body or None, headers=headers)
                    answer = upstream.getresponse()
                    data = answer.read()
                    if rule is not None:  # "lost": Label Studio did it, the answer never arrives
                        self.close_connection = True
                        return None
                    self._answer(answer.status, data, [(k, v) for k, v in answer.getheaders()
                                                       if k.lower() not in _HOP_BY_HOP])
                finally:
                    upstream.close()
                return None

            def _answer(self, status, data, headers):
                try:
                    self.send_response(status)
                    for key, value in headers:
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    self.close_connection = True

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True, name="faulty-proxy").start()
        return server
