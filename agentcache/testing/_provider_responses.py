"""``POST /v1/responses`` of the local provider server (OpenAI Responses API).

``build_response`` answers a request body with a completed ``Response`` body:
a text message, or a ``function_call`` when the request offers function tools
and forces one (``tool_choice`` "required" or a named function) and the last
input item is not already a tool's output. Usage reports ``input_tokens`` with
``input_tokens_details.cached_tokens`` from the server's simulated OpenAI
prefix cache (the one the chat completions endpoint uses) and ``output_tokens``.
``response_events`` cuts a response into the SSE events the API streams:
``response.created`` ... ``response.completed``, each with a ``sequence_number``
counting from 0, and no ``[DONE]`` at the end.

This module does not import ``provider`` (which registers it): the server
hands in its responder and its prompt-cache simulation as callables.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

_DELTA_CHARS = 24  # the same delta size as the other streamed endpoints

Respond = Callable[[Mapping[str, Any]], str]
PromptUsage = Callable[[Mapping[str, Any]], tuple[int, int]]


class ResponsesRequestError(ValueError):
    """A request the real API would refuse with 400 (the server maps it)."""


def _tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


def _uid(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def _items(body: Mapping[str, Any]) -> list[Any]:
    raw = body.get("input")
    if isinstance(raw, str):
        return [{"role": "user", "content": raw}]
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ResponsesRequestError("input must be a string or a list of input items")
    return list(raw)


def chat_view(body: Mapping[str, Any]) -> dict[str, Any]:
    """``body`` plus a ``messages`` list in Chat Completions shape (instructions first,
    then each input item), so the server's responder and prompt cache read it as a chat."""
    messages: list[dict[str, Any]] = []
    if body.get("instructions"):
        messages.append({"role": "developer", "content": str(body["instructions"])})
    for item in _items(body):
        if isinstance(item, Mapping) and "role" in item:
            content = item.get("content")
            messages.append({"role": str(item["role"]), "content": content})
        else:  # function_call, function_call_output, reasoning, ...
            dumped = json.dumps(item, sort_keys=True, default=str)
            messages.append({"role": "tool", "content": dumped})
    tools = [t for t in body.get("tools") or [] if isinstance(t, Mapping)]
    return {**body, "messages": messages, "tools": tools}


def _arguments(tools: list[Mapping[str, Any]], name: str) -> str:
    """JSON arguments that fill the tool's required parameters."""
    tool = next((t for t in tools if t.get("name") == name), {})
    params = tool.get("parameters") or {}
    props = params.get("properties") or {}
    args: dict[str, Any] = {}
    for key in params.get("required") or []:
        kind = (props.get(key) or {}).get("type")
        args[key] = 1 if kind in ("integer", "number") else (True if kind == "boolean" else "x")
    return json.dumps(args)


def _output(
    body: Mapping[str, Any], view: Mapping[str, Any], respond: Respond
) -> tuple[list[dict[str, Any]], int, bool]:
    """(output items, output tokens, truncated)."""
    items = _items(body)
    last = items[-1] if items else None
    tools = [t for t in view["tools"] if t.get("type") == "function"]
    choice = body.get("tool_choice")
    answered = isinstance(last, Mapping) and last.get("type") == "function_call_output"
    if tools and not answered and (choice == "required" or isinstance(choice, Mapping)):
        name = str(choice["name"]) if isinstance(choice, Mapping) else str(tools[0]["name"])
        call = {
            "id": _uid("fc"),
            "type": "function_call",
            "status": "completed",
            "call_id": _uid("call"),
            "name": name,
            "arguments": _arguments(tools, name),
        }
        return [call], 12, False
    text = respond(view)
    limit = body.get("max_output_tokens")
    truncated = isinstance(limit, int) and _tokens(text) > limit
    if isinstance(limit, int) and truncated:
        text = text[: limit * 4]
    message = {
        "id": _uid("msg"),
        "type": "message",
        "status": "incomplete" if truncated else "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
    }
    return [message], _tokens(text), truncated


def build_response(
    body: Mapping[str, Any], respond: Respond, prompt_usage: PromptUsage
) -> dict[str, Any]:
    """The ``Response`` body for ``body`` (updates the simulated prompt cache)."""
    if "model" not in body:
        raise ResponsesRequestError("Missing required parameter: 'model'.")
    view = chat_view(body)
    if not view["messages"]:
        raise ResponsesRequestError("Missing required parameter: 'input'.")
    input_tokens, cached = prompt_usage(view)
    output, out_tokens, truncated = _output(body, view, respond)
    now = int(time.time())
    return {
        "id": _uid("resp"),
        "object": "response",
        "created_at": now,
        "completed_at": None if truncated else now,
        "status": "incomplete" if truncated else "completed",
        "background": False,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if truncated else None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "max_tool_calls": body.get("max_tool_calls"),
        "model": body["model"],
        "output": output,
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "prompt_cache_key": body.get("prompt_cache_key"),
        "reasoning": body.get("reasoning") or {"effort": None, "summary": None},
        "safety_identifier": body.get("safety_identifier"),
        "service_tier": "default",
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": body.get("text") or {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": body.get("tool_choice") or "auto",
        "tools": body.get("tools") or [],
        "top_logprobs": body.get("top_logprobs") or 0,
        "top_p": body.get("top_p", 1.0),
        "truncation": body.get("truncation") or "disabled",
        "usage": {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
            "output_tokens": out_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": input_tokens + out_tokens,
        },
        "user": body.get("user"),
        "metadata": body.get("metadata") or {},
    }


def response_events(response: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The SSE data objects of a streamed response, in the order the API sends them."""
    events: list[dict[str, Any]] = []

    def add(kind: str, **fields: Any) -> None:
        events.append({"type": kind, "sequence_number": len(events), **fields})

    start = {**response, "status": "in_progress", "output": [], "usage": None}
    start["completed_at"] = None
    add("response.created", response=start)
    add("response.in_progress", response=start)
    for index, item in enumerate(response["output"]):
        if item["type"] == "message":
            add("response.output_item.added", output_index=index,
                item={**item, "status": "in_progress", "content": []})  # fmt: skip
            for c, part in enumerate(item["content"]):
                where = {"item_id": item["id"], "output_index": index, "content_index": c}
                add("response.content_part.added", **where, part={**part, "text": ""})
                text = part["text"]
                for pos in range(0, len(text), _DELTA_CHARS):
                    add("response.output_text.delta", **where,
                        delta=text[pos : pos + _DELTA_CHARS], logprobs=[])  # fmt: skip
                add("response.output_text.done", **where, text=text, logprobs=[])
                add("response.content_part.done", **where, part=part)
        elif item["type"] == "function_call":
            add("response.output_item.added", output_index=index,
                item={**item, "status": "in_progress", "arguments": ""})  # fmt: skip
            where = {"item_id": item["id"], "output_index": index}
            add("response.function_call_arguments.delta", **where, delta=item["arguments"])
            add("response.function_call_arguments.done", **where,
                name=item["name"], arguments=item["arguments"])  # fmt: skip
        add("response.output_item.done", output_index=index, item=item)
    terminal = "response.completed" if response["status"] == "completed" else "response.incomplete"
    add(terminal, response=response)
    return events
