"""The HTTP side of the local provider server: one request handler for every route.

The handler reads the JSON body, applies queued failures and the API-key check,
asks the server's route for the response body, then writes it as JSON or (for
``stream: true``) as server-sent events.
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol

from agentcache.testing._provider_events import sse_frame
from agentcache.testing._provider_sim import _HTTPError


class _Provider(Protocol):
    """What the handler needs of ``ProviderServer`` (which imports this module)."""

    routes: Mapping[str, Callable[[Mapping[str, Any]], dict[str, Any]]]
    streams: Mapping[str, Callable[..., list[tuple[str | None, str]]]]

    def _record(self, path: str, body: dict[str, Any]) -> Any: ...

    def _delay(self, path: str, payload: Mapping[str, Any]) -> float: ...

_ANTHROPIC_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


class _Handler(BaseHTTPRequestHandler):
    provider: _Provider
    protocol_version = "HTTP/1.1"
    server_version = "agentcache-provider/1"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes on a keep-alive socket: with Nagle on,
        # the body waits for the client's delayed ACK of the headers (~40 ms per call).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging."""

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        provider = self.provider
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
        except ValueError as exc:
            self._error(path, 400, f"invalid JSON body: {exc}")
            return
        failure = provider._record(path, body)
        if failure is not None:
            self._error(path, failure.status, failure.message, failure.should_retry)
            return
        # Any key is accepted; a request without one is refused as the real APIs do.
        # (Recent anthropic SDKs send the key as a bearer token instead of x-api-key.)
        if not (self.headers.get("x-api-key") or self.headers.get("authorization")):
            self._error(path, 401, "no API key provided")
            return
        route = provider.routes.get(path)
        try:
            if route is None:
                raise _HTTPError(404, f"no route for POST {path}")
            payload = route(body)
        except _HTTPError as exc:
            self._error(path, exc.status, exc.message)
            return
        delay = provider._delay(path, payload)
        if delay > 0:
            time.sleep(delay)
        stream = provider.streams.get(path) if body.get("stream") else None
        if stream is not None:
            self._sse(stream(payload, body))
        else:
            self._json(200, payload)

    def _json(self, status: int, payload: Mapping[str, Any], should_retry: bool = False) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", "req_" + uuid.uuid4().hex[:24])
        self.send_header("x-request-id", "req_" + uuid.uuid4().hex[:24])
        if status >= 400:
            self.send_header("x-should-retry", "true" if should_retry else "false")
        self.end_headers()
        self.wfile.write(data)

    def _sse(self, events: list[tuple[str | None, str]]) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True
        for name, data in events:
            self.wfile.write(sse_frame(name, data))
            self.wfile.flush()

    def _error(self, path: str, status: int, message: str, should_retry: bool = False) -> None:
        body: dict[str, Any]
        if path.startswith("/v1/messages"):
            kind = _ANTHROPIC_ERRORS.get(status, "api_error")
            body = {"type": "error", "error": {"type": kind, "message": message}}
        else:
            kind = (
                "rate_limit_exceeded"
                if status == 429
                else ("invalid_request_error" if status < 500 else "server_error")
            )
            body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
        self._json(status, body, should_retry)
