"""The no-I/O part of the LangChain cache: reading LangChain's cache key and scoping it.

A chat model hands ``BaseCache.lookup`` two strings: ``prompt``, the JSON list
of its input messages (``langchain_core.load.dumps``, ids already stripped), and
``llm_string``, the model's class, constructor parameters and call kwargs
(bound tools, ``stop``, ...). A plain LLM hands the prompt text itself.
Nothing here imports LangChain: the prompt is read as JSON.

As in the cached clients (``llm/_core.py``): the last user turn is the text
matched semantically; everything else (system prompt, earlier and later turns,
tools, model and parameters) goes into an exact scope digest, so an answer is
only ever served under the same instructions to the same model.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agentcache._redis import keys as _keys

PROVIDER = "langchain"

# Message fields that differ between two runs of the same conversation: provider
# response ids, fingerprints, token counts, streaming fragments. Left in, an
# earlier AI turn would make every later call of a conversation a miss.
_VOLATILE_FIELDS = frozenset(
    {"id", "response_metadata", "usage_metadata", "tool_call_chunks", "chunk_position"}
)
# Serialized model fields that do not change the answer (transport, callbacks, streaming).
_NEUTRAL_PARAMS = frozenset(
    {
        "streaming", "stream_usage", "disable_streaming", "callbacks", "callback_manager",
        "verbose", "tags", "metadata", "cache", "max_retries", "timeout", "request_timeout",
        "rate_limiter", "http_client", "http_async_client", "default_headers", "default_query",
        "output_version",
    }
)  # fmt: skip
_CHUNK_TYPES = {
    "AIMessageChunk": "ai", "HumanMessageChunk": "human", "SystemMessageChunk": "system",
    "ToolMessageChunk": "tool", "ChatMessageChunk": "chat", "FunctionMessageChunk": "function",
}  # fmt: skip
_TEMPERATURE = re.compile(r"\('temperature', (-?[0-9.eE+-]+)\)")
_MODEL_KEYS = ("model_name", "model", "model_id", "deployment_name")


@dataclass(frozen=True)
class LCRequest:
    """One lookup/update read from LangChain's (prompt, llm_string)."""

    key_text: str | None  # the last user turn's text; None: not cacheable
    model: str  # the model's name when llm_string shows it, else "-"
    scope: str  # "langchain:<model>:<digest>", the semantic cache's model field
    temperature: float | None
    reason: str = ""  # why the request is not cacheable ("" when it is)


def _message(raw: Any) -> dict[str, Any] | None:
    """A serialized message as {"type": role, **fields}, or None if it is not one."""
    if (
        not isinstance(raw, Mapping)
        or raw.get("lc") != 1
        or not isinstance(raw.get("kwargs"), Mapping)
    ):
        return None
    fields = dict(raw["kwargs"])
    kind = fields.get("type")
    if not isinstance(kind, str):
        path = raw.get("id")
        kind = str(path[-1]) if isinstance(path, list) and path else "unknown"
    fields["type"] = _CHUNK_TYPES.get(kind, kind)
    return fields


def _canonical(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A message without volatile fields, with "x" and [{"type": "text", "text": "x"}] alike."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if key in _VOLATILE_FIELDS or value in (None, [], {}):
            continue
        if key == "additional_kwargs" and isinstance(value, Mapping):
            value = {k: v for k, v in value.items() if v is not None}
            if not value:
                continue
        out[key] = value
    content = out.get("content")
    if isinstance(content, str):
        out["content"] = [{"type": "text", "text": content}] if content else []
    return out


def _text(content: Any) -> str | None:
    """Text of a user turn, or None when it holds anything a text key cannot stand for."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return None
    parts: list[str] = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, Mapping) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
        else:
            return None  # an image, a file, audio: the text alone does not decide the answer
    return "\n".join(parts)


def _is_user(fields: Mapping[str, Any]) -> bool:
    return fields["type"] == "human" or (fields["type"] == "chat" and fields.get("role") == "user")


def _model_params(llm_string: str) -> tuple[Any, str, float | None]:
    """(canonical form of llm_string, model name, temperature) read best-effort."""
    head, sep, tail = llm_string.rpartition("---")
    if not sep:
        head, tail = llm_string, ""
    try:
        serialized = json.loads(head)
    except ValueError:
        serialized = None
    params: Mapping[str, Any] = {}
    if isinstance(serialized, dict) and isinstance(serialized.get("kwargs"), Mapping):
        params = serialized["kwargs"]
        kwargs = {k: v for k, v in params.items() if k not in _NEUTRAL_PARAMS}
        canonical: Any = [{**serialized, "kwargs": kwargs}, tail]
    else:
        canonical = llm_string  # a non-serializable model: str(sorted(params)) as LangChain made it
    model = next((str(params[k]) for k in _MODEL_KEYS if isinstance(params.get(k), str)), "")
    if not model:
        found = re.search(r"\('(?:model_name|model)', '([^']+)'\)", llm_string)
        model = found.group(1) if found else "-"
    temperature: float | None = None
    value = params.get("temperature")
    if isinstance(value, int | float) and not isinstance(value, bool):
        temperature = float(value)
    if (per_call := _TEMPERATURE.search(tail or llm_string)) is not None:
        with contextlib.suppress(ValueError):
            temperature = float(per_call.group(1))
    return canonical, model, temperature


def read_request(prompt: str, llm_string: str) -> LCRequest:
    """The semantic key and the exact scope of one LangChain cache call."""
    try:
        raw = json.loads(prompt)
    except ValueError:
        raw = None
    messages = [_message(m) for m in raw] if isinstance(raw, list) and raw else None
    canonical_llm, model, temperature = _model_params(llm_string)
    context: dict[str, Any] = {"llm": canonical_llm}
    if messages is None or any(m is None for m in messages):
        key_text: str | None = prompt  # a plain LLM: the prompt is the text
    else:
        turns = [m for m in messages if m is not None]
        last = max((i for i, m in enumerate(turns) if _is_user(m)), default=-1)
        if last < 0:
            key_text = None
        else:
            key_text = _text(turns[last].get("content"))
            own = {k: v for k, v in turns[last].items() if k != "content"}
            context["user_turn"] = _canonical(own)
        before, after = (turns[:last], turns[last + 1 :]) if last >= 0 else (turns, [])
        context["before"] = [_canonical(m) for m in before]
        context["after"] = [_canonical(m) for m in after]
    digest = _keys.digest(json.dumps(context, sort_keys=True, default=str))
    reason = ""
    if key_text is None:
        reason = "no plain-text user turn"
    elif not key_text.strip():
        reason = "the user turn is empty"
    return LCRequest(
        key_text=key_text,
        model=model,
        scope=f"{PROVIDER}:{model}:{digest}",
        temperature=temperature,
        reason=reason,
    )


def clear_tag(agent: str) -> str:
    """The tag every entry stored for ``agent`` carries, so ``clear`` removes only those."""
    return f"{PROVIDER}:{agent}"
