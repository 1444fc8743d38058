"""Streaming bodies of the local provider server: SSE framing and stream events.

The server builds a whole response first, then (for ``stream: true``) cuts it
into the events the real APIs send: Anthropic's ``message_start`` ...
``message_stop`` with a ``ping``, and OpenAI's ``chat.completion.chunk``
objects ending in ``[DONE]``. Text goes out in 24-character deltas.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

_DELTA_CHARS = 24


def compact(value: Any) -> str:
    """Compact, key-sorted JSON (what the server writes on the wire)."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def sse_frame(name: str | None, data: str) -> bytes:
    """One server-sent event: an optional ``event:`` line, a ``data:`` line, a blank line."""
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {data}\n\n".encode()


def anthropic_events(message: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The SSE events, as (event name, data), of a streamed Messages response."""
    usage = dict(message["usage"])
    output = usage.pop("output_tokens")
    start = dict(message, content=[], stop_reason=None, usage=dict(usage, output_tokens=1))
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": start})
    ]
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            events.append(
                (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
            )
            events.append(("ping", {"type": "ping"}))
            text = block["text"]
            for pos in range(0, len(text), _DELTA_CHARS):
                events.append(
                    (
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": "text_delta", "text": text[pos : pos + _DELTA_CHARS]},
                        },
                    )
                )
        else:
            events.append(
                (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": dict(block, input={}),
                    },
                )
            )
            events.append(
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {
                            "type": "input_json_delta",
                            "partial_json": compact(block["input"]),
                        },
                    },
                )
            )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": output},
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def openai_chunks(completion: Mapping[str, Any], include_usage: bool) -> list[dict[str, Any]]:
    """The ``chat.completion.chunk`` bodies of a streamed Chat Completions response."""
    base = {key: completion[key] for key in ("id", "created", "model", "system_fingerprint")}
    base["object"] = "chat.completion.chunk"
    choice = completion["choices"][0]
    message = choice["message"]

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return dict(
            base, choices=[{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]
        )

    chunks = [chunk({"role": "assistant", "content": ""})]
    if message.get("tool_calls"):
        calls = [dict(call, index=i) for i, call in enumerate(message["tool_calls"])]
        chunks.append(chunk({"tool_calls": calls}))
    text = message.get("content") or ""
    for pos in range(0, len(text), _DELTA_CHARS):
        chunks.append(chunk({"content": text[pos : pos + _DELTA_CHARS]}))
    chunks.append(chunk({}, choice["finish_reason"]))
    if include_usage:
        chunks.append(dict(base, choices=[], usage=completion["usage"]))
    return chunks
