"""Scoping a call: the text the semantic cache matches, and what the scope digest covers.

The key is the last user turn; everything else that can change the answer
(system prompt, tools, earlier and later turns, model, parameters) goes into
the scope, canonicalised so equal requests digest equally: cache_control
markers and the SDKs' "not given" sentinels are dropped, and a string
content is the same as one text block.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anthropic
import openai

# Parameters that do not change the answer, so they stay out of the scope digest.
# Anything not listed (temperature, top_p, max_tokens, stop, seed, thinking, ...) is in.
NEUTRAL = frozenset(
    {
        "messages", "stream", "stream_options", "metadata", "user", "extra_headers",
        "extra_query", "timeout", "prompt_cache_key", "service_tier", "store",
        "safety_identifier", "cache_control", "inference_geo", "speed", "user_profile_id",
        "workspace_id",
    }
)  # fmt: skip


def _text_blocks(content: Any) -> str | None:
    """Text of a user turn, or None when it holds anything a text key cannot stand for."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return None
    parts: list[str] = []
    for block in content:
        if not isinstance(block, Mapping):
            return None
        kind = block.get("type")
        if kind == "text":
            parts.append(str(block.get("text", "")))
        elif kind == "tool_result":
            inner = _text_blocks(block.get("content", ""))
            if inner is None:
                return None
            parts.append(inner)
        else:
            return None
    return "\n".join(parts)


# The SDKs' "argument not given" sentinels (``openai.omit``, ``NOT_GIVEN``): frameworks
# such as the Agents SDK pass them for unset parameters. They mean "absent", and their
# str() holds a per-process address, so they must never reach a scope digest.
_SENTINELS = (openai.NotGiven, openai.Omit, anthropic.NotGiven, anthropic.Omit)


def given(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """``kwargs`` without the arguments that hold an SDK "not given" sentinel."""
    return {k: v for k, v in kwargs.items() if not isinstance(v, _SENTINELS)}


def strip_markers(value: Any) -> Any:
    """``value`` without cache_control markers (they do not change the answer) and
    without sentinel values at any depth."""
    if isinstance(value, Mapping):
        return {
            k: strip_markers(v)
            for k, v in value.items()
            if k != "cache_control" and not isinstance(v, _SENTINELS)
        }
    if isinstance(value, list | tuple):
        return [strip_markers(v) for v in value]
    return value


def _as_blocks(content: Any) -> Any:
    """A string as one text block, so "x" and [{"type": "text", "text": "x"}] scope alike."""
    return [{"type": "text", "text": content}] if isinstance(content, str) else content


def _canonical_message(message: Any) -> Any:
    if isinstance(message, Mapping) and "content" in message:
        return {**message, "content": _as_blocks(message["content"])}
    return message


def split_messages(
    kwargs: Mapping[str, Any], neutral: frozenset[str]
) -> tuple[str | None, dict[str, Any]]:
    """(key text, scope context) of a ``messages`` request (Messages, Chat Completions)."""
    messages = list(kwargs.get("messages") or [])
    last = max(
        (i for i, m in enumerate(messages) if isinstance(m, Mapping) and m.get("role") == "user"),
        default=-1,
    )
    key_text = _text_blocks(messages[last].get("content")) if last >= 0 else None
    context = {k: v for k, v in kwargs.items() if k not in neutral}
    if "system" in context:
        context["system"] = _as_blocks(context["system"])
    before, after = (messages[:last], messages[last + 1 :]) if last >= 0 else (messages, [])
    context["messages_before"] = [_canonical_message(m) for m in before]
    context["messages_after"] = [_canonical_message(m) for m in after]
    return key_text, context
