"""Streamed calls: assemble a provider stream into one response, replay one as a stream.

No I/O in the assemblers and replay builders; the four stream classes only
iterate. A miss with streaming opted in returns a ``RecordingStream``: it
yields the provider's events unchanged and, once the stream has completed
without error, hands the assembled response (a JSON dict shaped like the
non-streaming body) to a callback that stores it. A hit on a streaming call
returns a ``ReplayStream`` of the same SDK event types the provider sends:

* Anthropic: message_start, content_block_start, content_block_delta,
  content_block_stop, message_delta, message_stop;
* OpenAI: ``chat.completion.chunk`` objects (plus the usage chunk when the
  call asked for ``stream_options={"include_usage": True}``).

The replay sends each content block as one delta: callers that concatenate
deltas get the stored text exactly, with no artificial pauses. The Responses
API's assembler and replay events live in ``_responses``; the stream classes
here carry them unchanged.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from types import TracebackType
from typing import Any, Protocol, Self

from anthropic.types import (
    RawContentBlockDeltaEvent,
    RawContentBlockStartEvent,
    RawContentBlockStopEvent,
    RawMessageDeltaEvent,
    RawMessageStartEvent,
    RawMessageStopEvent,
)
from openai.types.chat import ChatCompletionChunk

_ANTHROPIC_EVENTS: dict[str, Any] = {
    "message_start": RawMessageStartEvent,
    "content_block_start": RawContentBlockStartEvent,
    "content_block_delta": RawContentBlockDeltaEvent,
    "content_block_stop": RawContentBlockStopEvent,
    "message_delta": RawMessageDeltaEvent,
    "message_stop": RawMessageStopEvent,
}
_INPUT_USAGE = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
# Response fields every OpenAI chunk repeats.
_OPENAI_HEAD = ("id", "created", "model", "system_fingerprint", "service_tier")


def _as_dict(event: Any) -> dict[str, Any]:
    if isinstance(event, Mapping):
        return dict(event)
    return dict(event.model_dump(mode="json"))


# -- assembling -----------------------------------------------------------------------------


class Assembler(Protocol):
    """Builds one response body from a provider's stream events."""

    def add(self, event: Any) -> None: ...

    def result(self) -> dict[str, Any] | None:
        """The assembled body, or None when the stream did not complete."""
        ...


class AnthropicAssembler:
    """Builds the Messages response body from ``messages.create(stream=True)`` events."""

    def __init__(self) -> None:
        self.message: dict[str, Any] | None = None
        self._blocks: dict[int, dict[str, Any]] = {}
        self._json: dict[int, str] = {}
        self.done = False

    def add(self, event: Any) -> None:
        data = _as_dict(event)
        kind = data.get("type")
        if kind == "message_start":
            self.message = dict(data["message"])
            self.message["usage"] = dict(self.message.get("usage") or {})
        elif kind == "content_block_start":
            self._blocks[int(data["index"])] = dict(data["content_block"])
        elif kind == "content_block_delta":
            self._delta(int(data["index"]), data["delta"])
        elif kind == "content_block_stop":
            index = int(data["index"])
            if index in self._json:  # tool input arrives as JSON text in pieces
                raw = self._json.pop(index)
                self._blocks[index]["input"] = json.loads(raw) if raw else {}
        elif kind == "message_delta" and self.message is not None:
            self.message.update({k: v for k, v in data["delta"].items() if v is not None})
            usage = self.message["usage"]
            usage.update({k: v for k, v in (data.get("usage") or {}).items() if v is not None})
        elif kind == "message_stop":
            self.done = True

    def _delta(self, index: int, delta: Mapping[str, Any]) -> None:
        block = self._blocks[index]
        kind = delta.get("type")
        if kind == "text_delta":
            block["text"] = block.get("text", "") + delta["text"]
        elif kind == "input_json_delta":
            self._json[index] = self._json.get(index, "") + delta["partial_json"]
        elif kind == "thinking_delta":
            block["thinking"] = block.get("thinking", "") + delta["thinking"]
        elif kind == "signature_delta":
            block["signature"] = delta["signature"]
        elif kind == "citations_delta":
            block["citations"] = [*(block.get("citations") or []), delta["citation"]]

    def result(self) -> dict[str, Any] | None:
        """The assembled body, or None when the stream did not reach message_stop."""
        if not self.done or self.message is None:
            return None
        content = [self._blocks[i] for i in sorted(self._blocks)]
        return {**self.message, "content": content}


class OpenAIAssembler:
    """Builds the Chat Completions response body from ``chat.completion.chunk`` objects."""

    def __init__(self) -> None:
        self.head: dict[str, Any] | None = None
        self.usage: dict[str, Any] | None = None
        self._choices: dict[int, dict[str, Any]] = {}

    def add(self, chunk: Any) -> None:
        data = _as_dict(chunk)
        if self.head is None:
            self.head = {k: data.get(k) for k in _OPENAI_HEAD}
        if data.get("usage"):
            self.usage = data["usage"]
        for part in data.get("choices") or []:
            choice = self._choices.setdefault(
                int(part["index"]),
                {"content": None, "refusal": None, "tools": {}, "finish_reason": None},
            )
            delta = part.get("delta") or {}
            for name in ("content", "refusal"):
                if delta.get(name) is not None:
                    choice[name] = (choice[name] or "") + delta[name]
            for call in delta.get("tool_calls") or []:
                slot = choice["tools"].setdefault(
                    int(call["index"]),
                    {"id": None, "type": "function", "function": {"name": "", "arguments": ""}},
                )
                slot["id"] = call.get("id") or slot["id"]
                function = call.get("function") or {}
                slot["function"]["name"] += function.get("name") or ""
                slot["function"]["arguments"] += function.get("arguments") or ""
            if part.get("finish_reason") is not None:
                choice["finish_reason"] = part["finish_reason"]

    def result(self) -> dict[str, Any] | None:
        """The assembled body, or None unless every choice has a finish reason."""
        if self.head is None or not self._choices:
            return None
        if any(c["finish_reason"] is None for c in self._choices.values()):
            return None
        choices = []
        for index in sorted(self._choices):
            c = self._choices[index]
            message: dict[str, Any] = {
                "role": "assistant",
                "content": c["content"],
                "refusal": c["refusal"],
            }
            if c["tools"]:
                message["tool_calls"] = [c["tools"][i] for i in sorted(c["tools"])]
            choices.append(
                {
                    "index": index,
                    "message": message,
                    "finish_reason": c["finish_reason"],
                    "logprobs": None,
                }
            )
        return {**self.head, "object": "chat.completion", "choices": choices, "usage": self.usage}


def is_usage_chunk(chunk: Any) -> bool:
    """True for OpenAI's final usage-only chunk (``include_usage``): no choices, usage set."""
    return not getattr(chunk, "choices", None) and getattr(chunk, "usage", None) is not None


# -- replaying ------------------------------------------------------------------------------


def anthropic_replay(message: Mapping[str, Any]) -> list[Any]:
    """The SDK stream events that deliver ``message`` (a Messages response body)."""
    usage = dict(message.get("usage") or {})
    start = {
        **message,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {**usage, "output_tokens": 0},
    }
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    for index, block in enumerate(message.get("content") or []):
        kind = block.get("type")
        deltas: list[dict[str, Any]] = []
        first = dict(block)
        if kind == "text":
            first.update(text="", citations=None)
            deltas = [
                {"type": "citations_delta", "citation": c} for c in block.get("citations") or []
            ]
            if block.get("text"):
                deltas.append({"type": "text_delta", "text": block["text"]})
        elif kind in ("tool_use", "server_tool_use"):
            first["input"] = {}
            partial = json.dumps(block.get("input") or {}, separators=(",", ":"))
            deltas = [{"type": "input_json_delta", "partial_json": partial}]
        elif kind == "thinking":
            first.update(thinking="", signature="")
            deltas = [
                {"type": "thinking_delta", "thinking": block.get("thinking", "")},
                {"type": "signature_delta", "signature": block.get("signature", "")},
            ]
        # Any other block (redacted thinking, tool results) arrives whole in its start event.
        events.append({"type": "content_block_start", "index": index, "content_block": first})
        events.extend({"type": "content_block_delta", "index": index, "delta": d} for d in deltas)
        events.append({"type": "content_block_stop", "index": index})
    end_usage = {k: usage[k] for k in _INPUT_USAGE if usage.get(k) is not None}
    events.append(
        {
            "type": "message_delta",
            "delta": {
                "stop_reason": message.get("stop_reason"),
                "stop_sequence": message.get("stop_sequence"),
            },
            "usage": {**end_usage, "output_tokens": int(usage.get("output_tokens") or 0)},
        }
    )
    events.append({"type": "message_stop"})
    return [_ANTHROPIC_EVENTS[e["type"]].model_validate(e) for e in events]


def openai_replay(completion: Mapping[str, Any], include_usage: bool) -> list[ChatCompletionChunk]:
    """The ``ChatCompletionChunk`` objects that deliver ``completion`` (a response body)."""
    head = {k: completion.get(k) for k in _OPENAI_HEAD}
    head["object"] = "chat.completion.chunk"

    def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        part = {"index": index, "delta": delta, "finish_reason": finish, "logprobs": None}
        return {**head, "choices": [part]}

    chunks: list[dict[str, Any]] = []
    for choice in completion.get("choices") or []:
        index = int(choice.get("index", 0))
        message = choice.get("message") or {}
        empty = "" if message.get("content") is not None else None  # None for tool calls
        chunks.append(chunk(index, {"role": "assistant", "content": empty, "refusal": None}))
        for name in ("content", "refusal"):
            if message.get(name):
                chunks.append(chunk(index, {name: message[name]}))
        calls = message.get("tool_calls") or []
        if calls:
            chunks.append(
                chunk(index, {"tool_calls": [{**c, "index": i} for i, c in enumerate(calls)]})
            )
        chunks.append(chunk(index, {}, choice.get("finish_reason")))
    if include_usage and completion.get("usage") is not None:
        chunks.append({**head, "choices": [], "usage": completion["usage"]})
    return [ChatCompletionChunk.model_validate(c) for c in chunks]


# -- the stream objects ---------------------------------------------------------------------


class _StreamBase:
    """``cache_info(stream)`` works once the stream has completed (at once for a replay)."""

    _agentcache: Any = None
    final_response: Any = None  # the assembled (or replayed) SDK response object

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def _finished(self, response: Any) -> None:
        self.final_response = response
        self._agentcache = getattr(response, "_agentcache", None)

    def __getattr__(self, name: str) -> Any:
        if name == "_inner":  # not set yet
            raise AttributeError(name)
        return getattr(self._inner, name)


class _SyncStream(_StreamBase):
    """Iteration and ``with`` for the sync streams (``close`` differs)."""

    _events: Iterator[Any]

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        return next(self._events)

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        self.close()


class _AsyncStream(_StreamBase):
    """Iteration and ``async with`` for the async streams (``__anext__`` and ``close`` differ)."""

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        await self.close()


class RecordingStream(_SyncStream):
    """The provider's stream, passed through unchanged; ``on_complete`` gets the body.

    ``hide`` drops events the caller did not ask for (OpenAI's usage chunk when
    the client added ``include_usage`` only to learn the token counts).
    """

    def __init__(
        self,
        inner: Any,
        assembler: Assembler,
        on_complete: Callable[[dict[str, Any] | None], Any],
        hide: Callable[[Any], bool] | None = None,
    ) -> None:
        super().__init__(inner)
        self._events = self._run(assembler, on_complete, hide)

    def _run(
        self,
        assembler: Assembler,
        on_complete: Callable[[dict[str, Any] | None], Any],
        hide: Callable[[Any], bool] | None,
    ) -> Iterator[Any]:
        for event in self._inner:  # an error propagates: nothing is stored
            assembler.add(event)
            if hide is None or not hide(event):
                yield event
        self._finished(on_complete(assembler.result()))

    def close(self) -> None:
        self._inner.close()


class AsyncRecordingStream(_AsyncStream):
    """The async twin of ``RecordingStream`` (``on_complete`` is awaited)."""

    def __init__(
        self,
        inner: Any,
        assembler: Assembler,
        on_complete: Callable[[dict[str, Any] | None], Awaitable[Any]],
        hide: Callable[[Any], bool] | None = None,
    ) -> None:
        super().__init__(inner)
        self._events = self._run(assembler, on_complete, hide)

    async def _run(
        self,
        assembler: Assembler,
        on_complete: Callable[[dict[str, Any] | None], Awaitable[Any]],
        hide: Callable[[Any], bool] | None,
    ) -> AsyncIterator[Any]:
        async for event in self._inner:
            assembler.add(event)
            if hide is None or not hide(event):
                yield event
        self._finished(await on_complete(assembler.result()))

    async def __anext__(self) -> Any:
        return await self._events.__anext__()

    async def close(self) -> None:
        await self._inner.close()


class ReplayStream(_SyncStream):
    """A stored response delivered as the SDK's stream events, with no HTTP call."""

    def __init__(self, events: list[Any], response: Any) -> None:
        super().__init__(None)
        self._events = iter(events)
        self._finished(response)

    def close(self) -> None:
        self._events = iter(())


class AsyncReplayStream(_AsyncStream):
    """The async twin of ``ReplayStream``."""

    def __init__(self, events: list[Any], response: Any) -> None:
        super().__init__(None)
        self._events = iter(events)
        self._finished(response)

    async def __anext__(self) -> Any:
        try:
            return next(self._events)
        except StopIteration:
            raise StopAsyncIteration from None

    async def close(self) -> None:
        self._events = iter(())
