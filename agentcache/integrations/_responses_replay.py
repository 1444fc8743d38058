"""Stored Responses output items replayed as the stream events a provider would send.

The Agents SDK runner reads a model stream in the Responses event format
whatever the model behind it; a cached answer streams back through these.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from openai.types.responses import ResponseOutputItem, ResponseStreamEvent
from pydantic import TypeAdapter

from agentcache.llm._ledger import CacheInfo

_EVENT: TypeAdapter[ResponseStreamEvent] = TypeAdapter(ResponseStreamEvent)


def mark(obj: Any, info: CacheInfo) -> None:
    """Attach ``info`` where ``agentcache.llm.cache_info`` reads it."""
    object.__setattr__(obj, "_agentcache", info)


def replay_events(
    model: str, output: list[ResponseOutputItem], info: CacheInfo | None = None
) -> list[ResponseStreamEvent]:
    """Responses stream events for stored output items, as a provider would send them.

    ``response.created``, then per item ``output_item.added``, its text (or
    arguments) as one delta and the done events, ``output_item.done``, and
    ``response.completed`` carrying every item (usage null: nothing was spent).
    """
    response_id = "resp_agentcache_" + uuid.uuid4().hex[:24]
    base = {
        "id": response_id, "object": "response", "created_at": time.time(), "model": model,
        "parallel_tool_calls": True, "tool_choice": "auto", "tools": [], "usage": None,
    }  # fmt: skip
    raw: list[dict[str, Any]] = [
        {"type": "response.created", "response": {**base, "status": "in_progress", "output": []}}
    ]
    for index, item in enumerate(output):
        data = item.model_dump(mode="json", exclude_none=True)
        raw.append({"type": "response.output_item.added", "output_index": index,
                    "item": _in_progress(data)})  # fmt: skip
        raw.extend(_item_events(data, index))
        raw.append({"type": "response.output_item.done", "output_index": index, "item": data})
    final = {**base, "status": "completed", "output": [o.model_dump(mode="json") for o in output]}
    raw.append({"type": "response.completed", "response": final})
    events = [_EVENT.validate_python({**e, "sequence_number": n}) for n, e in enumerate(raw)]
    if info is not None:
        mark(events[-1].response, info)  # type: ignore[union-attr]
    return events


def _in_progress(item: dict[str, Any]) -> dict[str, Any]:
    started = {**item, "status": "in_progress"} if "status" in item else dict(item)
    if item.get("type") == "message":
        started["content"] = []
    elif item.get("type") == "function_call":
        started["arguments"] = ""
    return started


def _item_events(item: dict[str, Any], index: int) -> list[dict[str, Any]]:
    """The delta/done events inside one output item (message text, call arguments)."""
    item_id = item.get("id", "")
    if item.get("type") == "function_call":
        at = {"item_id": item_id, "output_index": index}
        args = item.get("arguments", "")
        return [
            {"type": "response.function_call_arguments.delta", **at, "delta": args},
            {"type": "response.function_call_arguments.done", **at, "arguments": args,
             "name": item.get("name")},
        ]  # fmt: skip
    if item.get("type") != "message":
        return []
    events: list[dict[str, Any]] = []
    for c, part in enumerate(item.get("content") or []):
        at = {"item_id": item_id, "output_index": index, "content_index": c}
        if part.get("type") != "output_text":
            continue
        text = part.get("text", "")
        empty = {**part, "text": ""}
        events += [
            {"type": "response.content_part.added", **at, "part": empty},
            {"type": "response.output_text.delta", **at, "delta": text, "logprobs": []},
            {"type": "response.output_text.done", **at, "text": text, "logprobs": []},
            {"type": "response.content_part.done", **at, "part": part},
        ]
    return events
