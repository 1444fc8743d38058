"""A local stand-in for the Anthropic and OpenAI HTTP APIs, for tests and the demo.

``ProviderServer`` listens on 127.0.0.1 (a free port) and answers

* ``POST /v1/messages`` (Anthropic Messages, JSON or SSE streaming),
* ``POST /v1/chat/completions`` (OpenAI Chat Completions, JSON or SSE),
* ``POST /v1/responses`` (OpenAI Responses, JSON or SSE; ``_provider_responses``),
* ``POST /v1/embeddings`` (OpenAI Embeddings, float or base64),

with realistic bodies, so the official SDKs run unchanged over real HTTP::

    with ProviderServer() as server:
        client = anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="test")
        client.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=[...])
        assert server.requests["/v1/messages"] == 1

It simulates both prompt caches: Anthropic's from the ``cache_control``
breakpoints it sees (prefixes over the model's minimum, 20-block lookback,
5-minute or 1-hour TTL) and OpenAI's automatic one (prompts of 1024+ tokens,
hits in 128-token steps). A token here is 4 characters, rounded up.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

from agentcache._redis.server import Served
from agentcache.prompt_caching.anthropic import min_cacheable_tokens
from agentcache.testing._provider_events import anthropic_events, compact, openai_chunks, sse_frame
from agentcache.testing._provider_responses import build_response, response_events
from agentcache.testing.vectors import HashingVectorizer

MESSAGES = "/v1/messages"
CHAT = "/v1/chat/completions"
EMBEDDINGS = "/v1/embeddings"
RESPONSES = "/v1/responses"

_LOOKBACK_BLOCKS = 20  # Anthropic checks this many blocks back from each breakpoint
_TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}
_OPENAI_MIN = 1024
_OPENAI_STEP = 128
_OPENAI_TTL = 600.0
_ANTHROPIC_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}

Responder = Callable[[str, Mapping[str, Any]], str]


def count_tokens(text: str) -> int:
    """The simulated tokenizer: one token per 4 characters, rounded up."""
    return math.ceil(len(text) / 4)


def _text_of(content: Any) -> str:
    """The plain text of a content value (string, block list or block)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(_text_of(part) for part in content)
    if isinstance(content, Mapping):
        kind = content.get("type")
        if kind == "text" or "text" in content:
            return str(content.get("text", ""))
        if kind == "tool_use":
            return compact(content.get("input", {}))
        if kind == "tool_result":
            return _text_of(content.get("content"))
        if kind == "document":
            source = content.get("source") or {}
            if source.get("type") == "text":
                return str(source.get("data", ""))
            return _text_of(source.get("content"))
        return compact({k: v for k, v in content.items() if k != "cache_control"})
    return str(content)


def default_responder(endpoint: str, body: Mapping[str, Any]) -> str:
    """A deterministic answer that echoes the last user turn."""
    question = ""
    for message in reversed(list(body.get("messages") or [])):
        if isinstance(message, Mapping) and message.get("role") == "user":
            question = " ".join(_text_of(message.get("content")).split())
            break
    return f"Simulated answer from {body.get('model', 'a model')} to: {question[:200]}"


class _HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class _Failure:
    status: int
    path: str | None
    message: str
    should_retry: bool


class ProviderServer(Served):
    """Threaded HTTP server speaking the Anthropic and OpenAI APIs on 127.0.0.1.

    Args:
        responder: ``(path, request_body) -> answer text``; default echoes the question.
        latency: seconds to wait before each model answer (embeddings included).
        clock: monotonic time source for the prompt caches' TTLs (inject for tests).
    """

    def __init__(
        self,
        *,
        responder: Responder | None = None,
        latency: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.responder = responder or default_responder
        self.latency = latency
        self.clock = clock
        self.requests: Counter[str] = Counter()
        self.received: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._failures: list[_Failure] = []
        self._anthropic_cache: dict[str, tuple[float, float]] = {}  # hash -> (expiry, ttl)
        self._openai_cache: dict[str, float] = {}  # hash -> expiry
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> ProviderServer:
        """Listen on a free port (bound before this returns, so no wait is needed)."""
        if self._httpd is not None:
            return self
        handler = type("Handler", (_Handler,), {"provider": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="agentcache-provider", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("ProviderServer is not running; call start() or use `with`")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def anthropic_base_url(self) -> str:
        """``base_url`` for ``anthropic.Anthropic`` (the SDK appends ``/v1/messages``)."""
        return self.url

    @property
    def openai_base_url(self) -> str:
        """``base_url`` for ``openai.OpenAI`` (the SDK appends ``/chat/completions``)."""
        return self.url + "/v1"

    # -- control ---------------------------------------------------------------------------

    def fail_next(
        self,
        count: int = 1,
        status: int = 500,
        *,
        path: str | None = None,
        message: str = "",
        should_retry: bool = False,
    ) -> None:
        """Answer the next ``count`` requests (to ``path``, or any) with an error ``status``.

        The error carries ``x-should-retry: false`` unless ``should_retry``, so the
        SDKs raise at once instead of retrying (each retry would consume a failure).
        """
        with self._lock:
            for _ in range(count):
                text = message or f"simulated error {status}"
                self._failures.append(_Failure(status, path, text, should_retry))

    def reset(self) -> None:
        """Forget request counts, pending failures and both prompt caches."""
        with self._lock:
            self.requests.clear()
            self.received.clear()
            self._failures.clear()
            self._anthropic_cache.clear()
            self._openai_cache.clear()

    @property
    def total_requests(self) -> int:
        with self._lock:
            return sum(self.requests.values())

    def _record(self, path: str, body: dict[str, Any]) -> _Failure | None:
        with self._lock:
            self.requests[path] += 1
            self.received.append((path, body))
            for i, failure in enumerate(self._failures):
                if failure.path is None or failure.path == path:
                    return self._failures.pop(i)
        return None

    # -- Anthropic -------------------------------------------------------------------------

    def _anthropic_usage(self, body: Mapping[str, Any]) -> dict[str, Any]:
        model = str(body["model"])
        segments: list[tuple[str, int, str | None]] = []  # (key text, tokens, ttl if marked)

        def add(key: str, text: str, block: Any) -> None:
            marker = block.get("cache_control") if isinstance(block, Mapping) else None
            ttl = str(marker.get("ttl", "5m")) if isinstance(marker, Mapping) else None
            segments.append((key, count_tokens(text), ttl))

        for tool in body.get("tools") or []:
            clean = {k: v for k, v in tool.items() if k != "cache_control"}
            add(compact(clean), compact(clean), tool)
        system = body.get("system")
        for block in (
            [{"type": "text", "text": system}] if isinstance(system, str) else (system or [])
        ):
            add("s" + _text_of(block), _text_of(block), block)
        for message in body.get("messages") or []:
            content = message.get("content")
            blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
            for block in blocks or []:
                clean = {k: v for k, v in block.items() if k != "cache_control"}
                add(message.get("role", "") + compact(clean), _text_of(block), block)
        auto = body.get("cache_control")
        if isinstance(auto, Mapping) and segments:  # automatic caching: the last block
            key, tokens, _ = segments[-1]
            segments[-1] = (key, tokens, str(auto.get("ttl", "5m")))

        hashes: list[str] = []
        prefix: list[int] = []
        h = hashlib.blake2b(model.encode(), digest_size=16)
        running = 0
        for key, tokens, _ in segments:
            h.update(hashlib.blake2b(key.encode(), digest_size=16).digest())
            hashes.append(h.hexdigest())
            running += tokens
            prefix.append(running)
        marked = [i for i, (_, _, ttl) in enumerate(segments) if ttl is not None]
        minimum = min_cacheable_tokens(model)
        now = self.clock()
        read_at = -1
        written = {"5m": 0, "1h": 0}
        with self._lock:
            for b in marked:
                for j in range(b, max(-1, b - _LOOKBACK_BLOCKS), -1):
                    entry = self._anthropic_cache.get(hashes[j])
                    if entry is not None and entry[0] > now:
                        read_at = max(read_at, j)
                        break
            if read_at >= 0:  # a hit refreshes the entry's lifetime
                _, ttl_s = self._anthropic_cache[hashes[read_at]]
                self._anthropic_cache[hashes[read_at]] = (now + ttl_s, ttl_s)
            done = prefix[read_at] if read_at >= 0 else 0
            for b in marked:
                ttl = segments[b][2] or "5m"
                if b <= read_at or prefix[b] < minimum:
                    continue
                seconds = _TTL_SECONDS.get(ttl, 300.0)
                self._anthropic_cache[hashes[b]] = (now + seconds, seconds)
                written["1h" if ttl == "1h" else "5m"] += prefix[b] - done
                done = prefix[b]
        read = prefix[read_at] if read_at >= 0 else 0
        write = written["5m"] + written["1h"]
        return {
            "input_tokens": (prefix[-1] if prefix else 0) - read - write,
            "cache_creation_input_tokens": write,
            "cache_read_input_tokens": read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": written["5m"],
                "ephemeral_1h_input_tokens": written["1h"],
            },
            "service_tier": "standard",
        }

    def anthropic_message(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """The Messages API response body for ``body`` (updates the simulated cache)."""
        for name in ("model", "max_tokens", "messages"):
            if name not in body:
                raise _HTTPError(400, f"{name}: Field required")
        usage = self._anthropic_usage(body)
        tool_choice = body.get("tool_choice") or {}
        tools = body.get("tools") or []
        content: list[dict[str, Any]]
        if tools and tool_choice.get("type") in ("any", "tool"):
            name = tool_choice.get("name") or tools[0]["name"]
            content = [
                {
                    "type": "tool_use",
                    "id": "toolu_" + uuid.uuid4().hex[:24],
                    "name": name,
                    "input": {},
                }
            ]
            stop_reason, output = "tool_use", 16
        else:
            text, stop_reason, output = _limit(
                self.responder(MESSAGES, body), int(body["max_tokens"]), "end_turn", "max_tokens"
            )
            content = [{"type": "text", "text": text}]
        usage["output_tokens"] = output
        return {
            "id": "msg_" + uuid.uuid4().hex[:24],
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": usage,
        }

    # -- OpenAI ----------------------------------------------------------------------------

    def _openai_prompt(self, body: Mapping[str, Any]) -> tuple[int, int]:
        """(prompt_tokens, cached_tokens) for a chat request; stores its prefixes."""
        parts = [compact(tool) for tool in body.get("tools") or []]
        for message in body.get("messages") or []:
            parts.append(f"<|{message.get('role', '')}|>{_text_of(message.get('content'))}")
        text = "".join(parts)
        prompt_tokens = count_tokens(text)
        h = hashlib.blake2b(str(body.get("model", "")).encode(), digest_size=16)
        boundaries: list[str] = []
        pos = 0
        for k in range(_OPENAI_MIN, prompt_tokens + 1, _OPENAI_STEP):
            h.update(text[pos : k * 4].encode())
            pos = k * 4
            boundaries.append(h.hexdigest())
        now = self.clock()
        cached = 0
        with self._lock:
            for i, digest in enumerate(boundaries):
                expiry = self._openai_cache.get(digest)
                if expiry is not None and expiry > now:
                    cached = _OPENAI_MIN + i * _OPENAI_STEP
            for digest in boundaries:
                self._openai_cache[digest] = now + _OPENAI_TTL
        return prompt_tokens, cached

    def openai_completion(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """The Chat Completions response body for ``body`` (updates the simulated cache)."""
        for name in ("model", "messages"):
            if name not in body:
                raise _HTTPError(400, f"Missing required parameter: '{name}'.")
        prompt_tokens, cached = self._openai_prompt(body)
        tools = body.get("tools") or []
        choice = body.get("tool_choice")
        message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
        if tools and (choice == "required" or isinstance(choice, Mapping)):
            name = (
                choice["function"]["name"]
                if isinstance(choice, Mapping)
                else tools[0]["function"]["name"]
            )
            message["tool_calls"] = [
                {
                    "id": "call_" + uuid.uuid4().hex[:24],
                    "type": "function",
                    "function": {"name": name, "arguments": "{}"},
                }
            ]
            finish, output = "tool_calls", 12
        else:
            limit = body.get("max_completion_tokens") or body.get("max_tokens") or 4096
            text, finish, output = _limit(self.responder(CHAT, body), int(limit), "stop", "length")
            message["content"] = text
        return {
            "id": "chatcmpl-" + uuid.uuid4().hex[:24],
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "system_fingerprint": "fp_agentcache",
            "choices": [
                {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": output,
                "total_tokens": prompt_tokens + output,
                "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": 0,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            },
        }

    def openai_embeddings(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Deterministic embeddings: a hashed bag of words, L2-normalised."""
        raw = body.get("input")
        texts = [raw] if isinstance(raw, str) else raw
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            raise _HTTPError(400, "input must be a non-empty string or list of strings")
        model = str(body.get("model", "text-embedding-3-small"))
        dims = int(body.get("dimensions") or (3072 if model.endswith("-large") else 1536))
        vectors = HashingVectorizer(dims=dims, model=model).embed_many(texts)
        as_base64 = body.get("encoding_format") == "base64"
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": base64.b64encode(np.asarray(vec, dtype="<f4").tobytes()).decode()
                if as_base64
                else [float(x) for x in vec],
            }
            for i, vec in enumerate(vectors)
        ]
        tokens = sum(count_tokens(t) for t in texts)
        return {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }


def _limit(text: str, max_tokens: int, done: str, cut: str) -> tuple[str, str, int]:
    """Truncate ``text`` to ``max_tokens``: (text, stop reason, output tokens)."""
    tokens = count_tokens(text)
    if tokens <= max_tokens:
        return text, done, max(tokens, 1)
    return text[: max_tokens * 4], cut, max_tokens


class _Handler(BaseHTTPRequestHandler):
    provider: ProviderServer
    protocol_version = "HTTP/1.1"
    server_version = "agentcache-provider/1"

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
        try:
            if path == MESSAGES:
                payload = provider.anthropic_message(body)
            elif path == CHAT:
                payload = provider.openai_completion(body)
            elif path == EMBEDDINGS:
                payload = provider.openai_embeddings(body)
            elif path == RESPONSES:  # the responder sees the input as chat `messages` too
                respond = lambda view: provider.responder(RESPONSES, view)  # noqa: E731
                payload = build_response(body, respond, provider._openai_prompt)
            else:
                raise _HTTPError(404, f"no route for POST {path}")
        except (_HTTPError, ValueError) as exc:  # ValueError: a refused Responses request
            self._error(path, getattr(exc, "status", 400), str(exc))
            return
        if provider.latency > 0:
            time.sleep(provider.latency)
        if body.get("stream") and path == MESSAGES:
            self._sse([(name, compact(data)) for name, data in anthropic_events(payload)])
        elif body.get("stream") and path == CHAT:
            include = bool((body.get("stream_options") or {}).get("include_usage"))
            chunks = [(None, compact(c)) for c in openai_chunks(payload, include)]
            self._sse([*chunks, (None, "[DONE]")])
        elif body.get("stream") and path == RESPONSES:
            self._sse([(e["type"], compact(e)) for e in response_events(payload)])
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
        if path.startswith(MESSAGES):
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
