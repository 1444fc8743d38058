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

It simulates both prompt caches (``_provider_sim``), a model that answers text
(``responder``) or calls tools (``tool_responder``), and provider latency
(``LatencyModel``: recorded per call, slept only on request). A route is a
method from the request body to the response body, registered in ``routes``
(and in ``streams`` when it can stream).
"""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any

import numpy as np

from agentcache._redis.server import Served
from agentcache.testing._provider_events import anthropic_events, compact, openai_chunks
from agentcache.testing._provider_http import _Handler
from agentcache.testing._provider_responses import (
    ResponsesRequestError,
    build_response,
    response_events,
)
from agentcache.testing._provider_sim import (
    LatencyModel,
    PromptCaches,
    Responder,
    ToolResponder,
    _HTTPError,
    count_tokens,
    default_responder,
    limit,
    tool_output_tokens,
)
from agentcache.testing.vectors import HashingVectorizer

__all__ = [
    "CHAT",
    "EMBEDDINGS",
    "MESSAGES",
    "RESPONSES",
    "LatencyModel",
    "ProviderServer",
    "Responder",
    "ToolResponder",
    "count_tokens",
    "default_responder",
]

MESSAGES = "/v1/messages"
CHAT = "/v1/chat/completions"
EMBEDDINGS = "/v1/embeddings"
RESPONSES = "/v1/responses"

Route = Callable[[Mapping[str, Any]], dict[str, Any]]
Stream = Callable[[Mapping[str, Any], Mapping[str, Any]], list[tuple[str | None, str]]]


def _anthropic_stream(payload: Mapping[str, Any], body: Mapping[str, Any]) -> list[Any]:
    return [(name, compact(data)) for name, data in anthropic_events(payload)]


def _responses_stream(payload: Mapping[str, Any], body: Mapping[str, Any]) -> list[Any]:
    return [(event["type"], compact(event)) for event in response_events(payload)]


def _chat_stream(payload: Mapping[str, Any], body: Mapping[str, Any]) -> list[Any]:
    include = bool((body.get("stream_options") or {}).get("include_usage"))
    return [*((None, compact(c)) for c in openai_chunks(payload, include)), (None, "[DONE]")]


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
        tool_responder: ``(path, request_body) -> [(tool name, input), ...] or None``,
            asked when the request offers tools (and tool choice is not "none"); its
            calls become ``tool_use`` blocks / ``tool_calls``. None: answer text. Without
            it, the model calls a tool (with empty input) only when the request forces one.
        latency: seconds to sleep before each answer (embeddings included), or a
            ``LatencyModel``: each model call's modeled seconds are appended to
            ``latencies`` as (path, seconds), and slept only if ``latency.sleep``.
        clock: monotonic time source for the prompt caches' TTLs (inject for tests).
        prompt_caches: False turns both simulated prompt caches off (no reads, no writes).
    """

    def __init__(
        self,
        *,
        responder: Responder | None = None,
        tool_responder: ToolResponder | None = None,
        latency: float | LatencyModel = 0.0,
        clock: Callable[[], float] = time.monotonic,
        prompt_caches: bool = True,
    ) -> None:
        self.responder = responder or default_responder
        self.tool_responder = tool_responder
        self.latency = latency
        self.clock = clock
        self.requests: Counter[str] = Counter()
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.latencies: list[tuple[str, float]] = []
        self.caches = PromptCaches(lambda: self.clock(), enabled=prompt_caches)
        # The routes: add an endpoint here (and in ``streams`` if it can stream).
        self.routes: dict[str, Route] = {
            MESSAGES: self.anthropic_message,
            CHAT: self.openai_completion,
            EMBEDDINGS: self.openai_embeddings,
            RESPONSES: self.openai_response,
        }
        self.streams: dict[str, Stream] = {
            MESSAGES: _anthropic_stream,
            CHAT: _chat_stream,
            RESPONSES: _responses_stream,
        }
        self._lock = threading.Lock()
        self._failures: list[_Failure] = []
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
        """Forget request counts, latencies, pending failures and both prompt caches."""
        with self._lock:
            self.requests.clear()
            self.received.clear()
            self._failures.clear()
            self.latencies.clear()
        self.caches.clear()

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

    def _tool_calls(self, path: str, body: Mapping[str, Any], forced: str | None) -> Any:
        """The model's tool calls as [(name, input)], or None for a text answer.

        ``forced``: the tool name the request forces ("" for any tool), None if not forced.
        """
        if self.tool_responder is not None:
            calls = self.tool_responder(path, body)
            if calls:
                return calls
        return None if forced is None else [(forced, {})]

    def _delay(self, path: str, payload: Mapping[str, Any]) -> float:
        """Seconds to sleep before answering; records a model call's modeled latency."""
        model = self.latency
        if not isinstance(model, LatencyModel):
            return float(model)
        usage = payload.get("usage") or {}
        if path == MESSAGES:
            cached = int(usage.get("cache_read_input_tokens") or 0)
            fresh = int(usage.get("input_tokens") or 0)
            fresh += int(usage.get("cache_creation_input_tokens") or 0)
            output = int(usage.get("output_tokens") or 0)
        elif path == CHAT:
            cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
            fresh = int(usage.get("prompt_tokens") or 0) - cached
            output = int(usage.get("completion_tokens") or 0)
        elif path == RESPONSES:
            cached = int((usage.get("input_tokens_details") or {}).get("cached_tokens") or 0)
            fresh = int(usage.get("input_tokens") or 0) - cached
            output = int(usage.get("output_tokens") or 0)
        else:
            return 0.0
        seconds = model.seconds(fresh, cached, output)
        with self._lock:
            self.latencies.append((path, seconds))
        return seconds if model.sleep else 0.0

    # -- Anthropic -------------------------------------------------------------------------

    def anthropic_message(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """The Messages API response body for ``body`` (updates the simulated cache)."""
        for name in ("model", "max_tokens", "messages"):
            if name not in body:
                raise _HTTPError(400, f"{name}: Field required")
        usage = self.caches.anthropic_usage(body)
        choice = body.get("tool_choice") or {}
        tools = body.get("tools") or []
        calls = None
        if tools and choice.get("type") != "none":
            forced = choice.get("name") or tools[0]["name"]
            calls = self._tool_calls(
                MESSAGES, body, forced if choice.get("type") in ("any", "tool") else None
            )
        content: list[dict[str, Any]]
        if calls:
            content = [
                {"type": "tool_use", "id": "toolu_" + uuid.uuid4().hex[:24], "name": n, "input": a}
                for n, a in calls
            ]
            stop_reason, output = "tool_use", tool_output_tokens(calls)
        else:
            text, stop_reason, output = limit(
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

    def openai_response(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """A Responses API body; the responder sees the input as chat ``messages`` too."""
        try:
            return build_response(
                body, lambda view: self.responder(RESPONSES, view), self.caches.openai_prompt
            )
        except ResponsesRequestError as exc:
            raise _HTTPError(400, str(exc)) from None

    def openai_completion(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """The Chat Completions response body for ``body`` (updates the simulated cache)."""
        for name in ("model", "messages"):
            if name not in body:
                raise _HTTPError(400, f"Missing required parameter: '{name}'.")
        prompt_tokens, cached = self.caches.openai_prompt(body)
        tools = body.get("tools") or []
        choice = body.get("tool_choice")
        message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
        calls = None
        if tools and choice != "none":
            forced = None
            if isinstance(choice, Mapping):
                forced = str(choice["function"]["name"])
            elif choice == "required":
                forced = str(tools[0]["function"]["name"])
            calls = self._tool_calls(CHAT, body, forced)
        if calls:
            message["tool_calls"] = [
                {
                    "id": "call_" + uuid.uuid4().hex[:24],
                    "type": "function",
                    "function": {"name": n, "arguments": compact(a)},
                }
                for n, a in calls
            ]
            finish, output = "tool_calls", tool_output_tokens(calls)
        else:
            most = body.get("max_completion_tokens") or body.get("max_tokens") or 4096
            text, finish, output = limit(self.responder(CHAT, body), int(most), "stop", "length")
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
