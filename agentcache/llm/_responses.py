"""The OpenAI Responses API (``responses.create``) in the cached clients: no I/O.

Scope: the semantic key is ``input`` when it is a string, else the last user
item whose content is text (a string or only ``input_text`` parts). The scope
digest covers the model, ``instructions``, the input items before and after
that one (their ``id``/``status`` dropped: they differ per call, not per
conversation), tools, ``tool_choice``, ``text``, ``reasoning``, ``include``
(sorted: frameworks build it from a set) and every other parameter that can
change the answer, including ``previous_response_id`` and ``conversation``:
their server-side history is invisible here, so only an exact retry of the
same follow-up hits. Routing and bookkeeping parameters (``prompt_cache_key``,
``store``, ``metadata``, ``stream``, ...) stay out.

Not stored: ``background=True`` calls, responses whose status is not
"completed", and answers that ask the caller to run a tool (``function_call``
and the other client-side calls) unless ``llm.cache_tool_use``.

Streaming: a recorded stream is assembled from its ``response.completed``
event (which carries the whole response); a hit replays the stored response as
the events the API sends (``response.created`` ... ``response.completed``, one
text delta per content part), parsed into the SDK's event classes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from openai.types.responses import Response, ResponseStreamEvent
from pydantic import BaseModel, TypeAdapter

from agentcache.llm._core import Adapter
from agentcache.llm._scoping import NEUTRAL
from agentcache.llm._streams import _as_dict
from agentcache.prompt_caching.openai import apply_openai_responses_caching
from agentcache.settings import AgentCacheSettings

_RESPONSES_NEUTRAL = NEUTRAL | {
    "input", "prompt_cache_retention", "prompt_cache_options", "background_options",
}  # fmt: skip
# Output items that hand control back to the caller (it must run something and answer).
_CLIENT_CALLS = frozenset(
    {
        "function_call", "custom_tool_call", "computer_call", "local_shell_call",
        "shell_call", "apply_patch_call", "mcp_approval_request",
    }
)  # fmt: skip
_EVENTS: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
_ITEM_NOISE = ("id", "status")  # per-call fields of earlier output items


def _input_text(content: Any) -> str | None:
    """Text of a user item, or None when it holds anything a text key cannot stand for."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return None
    parts: list[str] = []
    for part in content:
        if not isinstance(part, Mapping) or part.get("type") != "input_text":
            return None
        parts.append(str(part.get("text", "")))
    return "\n".join(parts)


def _canonical_item(item: Any) -> Any:
    """An input item as scoped: an SDK object as its JSON, a string content as one text
    part, ``type: "message"`` implied by a role, per-call ids and statuses and empty
    fields dropped."""
    if isinstance(item, BaseModel):  # an earlier response's output item, passed back as is
        item = item.model_dump(mode="json", exclude_none=True)
    if not isinstance(item, Mapping):
        return item
    out = {k: v for k, v in item.items() if k not in _ITEM_NOISE and v is not None}
    if "role" in out:
        if out.get("type") == "message":
            del out["type"]
        content = out.get("content")
        kind = "output_text" if out["role"] == "assistant" else "input_text"
        if isinstance(content, str):
            out["content"] = [{"type": kind, "text": content}]
        elif isinstance(content, list):
            out["content"] = [
                {k: v for k, v in p.items() if v not in (None, [])} if isinstance(p, Mapping) else p
                for p in content
            ]
    return out


class ResponsesAssembler:
    """The Response body of a ``responses.create(stream=True)`` stream: the one its
    ``response.completed`` event carries (None when it failed or was cut short)."""

    def __init__(self) -> None:
        self.body: dict[str, Any] | None = None

    def add(self, event: Any) -> None:
        data = _as_dict(event)
        if data.get("type") == "response.completed":
            response = data.get("response")
            self.body = _as_dict(response) if response is not None else None

    def result(self) -> dict[str, Any] | None:
        return self.body


def responses_replay(response: Mapping[str, Any]) -> list[Any]:
    """The SDK stream events that deliver ``response`` (a Response body)."""
    events: list[dict[str, Any]] = []

    def add(kind: str, **fields: Any) -> None:
        events.append({"type": kind, "sequence_number": len(events), **fields})

    start = {**response, "status": "in_progress", "output": [], "usage": None}
    add("response.created", response=start)
    add("response.in_progress", response=start)
    for index, item in enumerate(response.get("output") or []):
        kind = item.get("type")
        if kind == "message":
            add("response.output_item.added", output_index=index,
                item={**item, "status": "in_progress", "content": []})  # fmt: skip
            for c, part in enumerate(item.get("content") or []):
                where = {"item_id": item.get("id", ""), "output_index": index, "content_index": c}
                if part.get("type") == "output_text":
                    add("response.content_part.added", **where, part={**part, "text": ""})
                    text = str(part.get("text", ""))
                    if text:
                        add("response.output_text.delta", **where, delta=text, logprobs=[])
                    add("response.output_text.done", **where, text=text, logprobs=[])
                else:  # a refusal arrives whole
                    add("response.content_part.added", **where, part=part)
                add("response.content_part.done", **where, part=part)
        elif kind == "function_call":
            add("response.output_item.added", output_index=index,
                item={**item, "status": "in_progress", "arguments": ""})  # fmt: skip
            where = {"item_id": item.get("id", ""), "output_index": index}
            arguments = str(item.get("arguments", ""))
            add("response.function_call_arguments.delta", **where, delta=arguments)
            add("response.function_call_arguments.done", **where,
                name=item.get("name"), arguments=arguments)  # fmt: skip
        else:  # reasoning, hosted tool calls: the finished item is all the replay needs
            add("response.output_item.added", output_index=index, item=item)
        add("response.output_item.done", output_index=index, item=item)
    add("response.completed", response=dict(response))
    return [_EVENTS.validate_python(e) for e in events]


class ResponsesAdapter(Adapter):
    """``responses.create`` of the OpenAI SDK (see the module docstring)."""

    name = "openai-responses"
    neutral = _RESPONSES_NEUTRAL

    def split(self, kwargs: Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
        raw = kwargs.get("input")
        if isinstance(raw, str):
            items: list[Any] = [{"role": "user", "content": raw}]
        else:
            items = list(raw) if isinstance(raw, list | tuple) else []
        last = max(
            (i for i, m in enumerate(items) if isinstance(m, Mapping) and m.get("role") == "user"),
            default=-1,
        )
        key_text = _input_text(items[last].get("content")) if last >= 0 else None
        context = {k: v for k, v in kwargs.items() if k not in self.neutral}
        for name in ("tools", "include"):
            if not context.get(name, True):  # [] is the same as not given
                del context[name]
        if "include" in context:
            context["include"] = sorted(str(x) for x in context["include"])
        before, after = (items[:last], items[last + 1 :]) if last >= 0 else (items, [])
        context["input_before"] = [_canonical_item(i) for i in before]
        context["input_after"] = [_canonical_item(i) for i in after]
        return key_text, context

    def skip_reason(self, kwargs: Mapping[str, Any]) -> str:
        if kwargs.get("background"):
            return "background response (answered later, not cached)"
        return ""

    def unfinished(self, response: Any) -> str:
        status = getattr(response, "status", None)
        if status not in (None, "completed"):
            return f"response status {status!r} not stored"
        return ""

    def shape(
        self, request: dict[str, Any], tenant: str, agent: str, settings: AgentCacheSettings
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        plan = apply_openai_responses_caching(
            request, tenant=tenant, agent=agent, settings=settings.prompt_caching
        )
        return plan.request, plan.debug()

    def parse(self, data: Mapping[str, Any]) -> Response:
        return Response.model_validate(data)

    def text(self, response: Any) -> str:
        return str(response.output_text)

    def is_tool_use(self, response: Any) -> bool:
        return any(getattr(item, "type", None) in _CLIENT_CALLS for item in response.output)

    def assembler(self) -> ResponsesAssembler:
        return ResponsesAssembler()

    def replay(self, response: Any, request: Mapping[str, Any]) -> list[Any]:
        return responses_replay(response.model_dump(mode="json"))
