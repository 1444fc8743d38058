"""Anthropic prompt caching: place ``cache_control`` breakpoints on a Messages request.

Anthropic caches the request prefix (tools, then system, then messages) up to
each block marked ``cache_control: {"type": "ephemeral"}``. The rules this
module follows (docs.claude.com/en/docs/build-with-claude/prompt-caching,
read 2025-11):

* at most 4 breakpoints per request;
* a prefix shorter than the model's minimum is not cached (no error, the
  marker is silently ignored), so a breakpoint there only pretends;
* the 5-minute TTL is the default, ``"ttl": "1h"`` asks for one hour.

``apply_anthropic_caching`` marks the end of the tools, the end of the system
prompt, document blocks and the end of the earlier conversation, never the
changing user turn, and returns an ``AnthropicCachePlan`` saying where it put
breakpoints and why it left others off.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agentcache.settings import PromptCachingSettings

logger = logging.getLogger("agentcache.prompt_caching")

# Minimum cacheable prompt length in tokens, per model family. Source: Anthropic's
# prompt caching docs ("Cache limitations", quoted in anthropics/anthropic-sdk-python
# issue 1194, read 2025-11): 4096 for Claude Opus 4.6 / Opus 4.5 and Haiku 4.5;
# 2048 for Haiku 3.5 and Haiku 3; 1024 for Sonnet 4.6 / 4.5 / 4 / 3.7 and Opus 4.1 / 4.
# First match wins; ids may carry a date suffix (claude-3-5-haiku-20241022).
_MIN_TOKENS: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"opus-4[-.][56]"), 4096),
    (re.compile(r"haiku-4[-.]5"), 4096),
    (re.compile(r"3[-.]5-haiku|3-haiku|haiku-3"), 2048),
)
DEFAULT_MIN_TOKENS = 1024  # Sonnet and Opus 4 / 4.1, and the fallback for unknown models

CHARS_PER_TOKEN = 4
# Blocks that cannot carry cache_control themselves.
_UNMARKABLE = frozenset({"thinking", "redacted_thinking"})


def min_cacheable_tokens(model: str) -> int:
    """The shortest prefix (in tokens) ``model`` will cache."""
    name = model.lower()
    for pattern, tokens in _MIN_TOKENS:
        if pattern.search(name):
            return tokens
    return DEFAULT_MIN_TOKENS


def estimate_tokens(value: Any) -> int:
    """A conservative token estimate: characters of text divided by 4, rounded down.

    English prose averages about 4 characters per token and code, JSON and
    non-Latin text have fewer, so this undercounts rather than overcounts: a
    breakpoint it accepts is very likely above the provider's minimum, and one
    it rejects is reported as skipped rather than pretending to be cached.
    Binary sources (base64 images and PDFs) count as 0 for the same reason.
    Tool definitions and tool inputs count as their compact JSON.
    """
    return _chars(value) // CHARS_PER_TOKEN


def _chars(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list | tuple):
        return sum(_chars(item) for item in value)
    if not isinstance(value, Mapping):
        return len(str(value))
    kind = value.get("type")
    if kind == "text" or (kind is None and "text" in value):
        return len(str(value.get("text", "")))
    if kind == "tool_use":
        return len(json.dumps(value.get("input", {}), separators=(",", ":"), default=str))
    if kind == "tool_result":
        return _chars(value.get("content"))
    if kind == "document":
        source = value.get("source")
        if isinstance(source, Mapping) and source.get("type") == "text":
            return len(str(source.get("data", "")))
        if isinstance(source, Mapping) and source.get("type") == "content":
            return _chars(source.get("content"))
        return 0
    if kind in ("image", "thinking", "redacted_thinking"):
        return 0
    if "name" in value and ("input_schema" in value or "description" in value):
        # A tool definition.
        return len(json.dumps(value, separators=(",", ":"), default=str))
    return 0


@dataclass(frozen=True)
class Breakpoint:
    """A block marked with ``cache_control``; the prefix through it is cacheable."""

    location: str
    kind: str  # "tools" | "system" | "document" | "history"
    prefix_tokens: int


@dataclass(frozen=True)
class SkippedBreakpoint:
    """A static part left unmarked, and why."""

    location: str
    kind: str
    prefix_tokens: int
    reason: str


@dataclass
class AnthropicCachePlan:
    """The shaped request and an account of every breakpoint considered."""

    request: dict[str, Any]
    model: str
    min_tokens: int
    ttl: str
    breakpoints: list[Breakpoint] = field(default_factory=list)
    skipped: list[SkippedBreakpoint] = field(default_factory=list)
    note: str | None = None

    def debug(self) -> dict[str, Any]:
        """A JSON-friendly summary for logs and the demo."""
        return {
            "model": self.model,
            "min_tokens": self.min_tokens,
            "ttl": self.ttl,
            "breakpoints": [vars(b) for b in self.breakpoints],
            "skipped": [vars(s) for s in self.skipped],
            "note": self.note,
        }


@dataclass
class _Candidate:
    location: str
    kind: str
    prefix_tokens: int
    priority: int
    order: int
    target: tuple[str, int, int]  # ("tools", i, -1) | ("system", i, -1) | ("messages", i, j)


def apply_anthropic_caching(
    request: Mapping[str, Any], settings: PromptCachingSettings | None = None
) -> AnthropicCachePlan:
    """Mark the static parts of a ``messages.create`` request with ``cache_control``.

    ``request`` holds the keyword arguments of ``messages.create`` and is not
    modified; the plan's ``request`` is a copy with breakpoints added. A request
    that already carries ``cache_control`` anywhere is left exactly as the
    caller wrote it.

    Example::

        plan = apply_anthropic_caching({"model": "claude-sonnet-4-5", "system": big,
                                        "messages": [{"role": "user", "content": "hi"}]})
        client.messages.create(**plan.request)
    """
    cfg = settings or PromptCachingSettings()
    model = str(request.get("model", ""))
    plan = AnthropicCachePlan(
        request=dict(request),
        model=model,
        min_tokens=min_cacheable_tokens(model),
        ttl=cfg.anthropic_ttl,
    )
    if not cfg.enabled:
        plan.note = "prompt caching disabled in settings"
        return plan
    if _has_cache_control(request):
        plan.note = "request already has cache_control; left as the caller wrote it"
        return plan

    candidates = _candidates(request)
    eligible: list[_Candidate] = []
    for cand in candidates:
        if cand.prefix_tokens < plan.min_tokens:
            plan.skipped.append(
                _skip(
                    cand,
                    f"prefix ~{cand.prefix_tokens} tokens is below "
                    f"the {plan.min_tokens}-token minimum for "
                    f"{model or 'this model'}",
                )
            )
        else:
            eligible.append(cand)
    eligible.sort(key=lambda c: (c.priority, -c.order))
    limit = cfg.anthropic_max_breakpoints
    chosen, dropped = eligible[:limit], eligible[limit:]
    for cand in dropped:
        plan.skipped.append(_skip(cand, f"breakpoint limit of {limit} reached"))
    chosen.sort(key=lambda c: c.order)
    marker: dict[str, str] = {"type": "ephemeral"}
    if cfg.anthropic_ttl == "1h":  # "5m" is the provider default; leave it implicit
        marker["ttl"] = "1h"
    for cand in chosen:
        _mark(plan.request, cand.target, marker)
        plan.breakpoints.append(Breakpoint(cand.location, cand.kind, cand.prefix_tokens))
    for skipped in plan.skipped:
        logger.debug("cache_control not placed at %s: %s", skipped.location, skipped.reason)
    return plan


def _skip(cand: _Candidate, reason: str) -> SkippedBreakpoint:
    return SkippedBreakpoint(cand.location, cand.kind, cand.prefix_tokens, reason)


def _has_cache_control(value: Any) -> bool:
    if isinstance(value, Mapping):
        return "cache_control" in value or any(_has_cache_control(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_cache_control(v) for v in value)
    return False


def _blocks(content: Any) -> list[Any]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, list | tuple):
        return list(content)
    return []


def _last_markable(blocks: list[Any]) -> int | None:
    for j in range(len(blocks) - 1, -1, -1):
        block = blocks[j]
        if isinstance(block, Mapping) and block.get("type") not in _UNMARKABLE:
            return j
    return None


def _candidates(request: Mapping[str, Any]) -> list[_Candidate]:
    """Every static position worth a breakpoint, with the estimated prefix through it.

    Priorities (lower wins when over the limit): system and tools change least;
    the end of the earlier conversation saves the most per turn; documents last.
    """
    out: list[_Candidate] = []
    total = 0
    order = 0

    tools = list(request.get("tools") or [])
    for tool in tools:
        total += estimate_tokens(tool)
    if tools:
        out.append(
            _Candidate(
                f"tools[{len(tools) - 1}]", "tools", total, 1, order, ("tools", len(tools) - 1, -1)
            )
        )
        order += 1

    system = _blocks(request.get("system"))
    for block in system:
        total += estimate_tokens(block)
    j = _last_markable(system)
    if j is not None:
        out.append(_Candidate(f"system[{j}]", "system", total, 0, order, ("system", j, -1)))
        order += 1

    messages = list(request.get("messages") or [])
    last_user = max(
        (i for i, m in enumerate(messages) if isinstance(m, Mapping) and m.get("role") == "user"),
        default=-1,
    )
    for i, message in enumerate(messages):
        if i > last_user or not isinstance(message, Mapping):
            break
        blocks = _blocks(message.get("content"))
        for j, block in enumerate(blocks):
            total += estimate_tokens(block)
            is_doc = isinstance(block, Mapping) and block.get("type") == "document"
            # A document in the final user turn may be marked unless it is that turn's last
            # block: the prefix through it is static, the question after it is not.
            if is_doc and (i < last_user or j < len(blocks) - 1):
                out.append(
                    _Candidate(
                        f"messages[{i}].content[{j}]",
                        "document",
                        total,
                        3,
                        order,
                        ("messages", i, j),
                    )
                )
                order += 1
        if i == last_user - 1:
            j_last = _last_markable(blocks)
            if j_last is not None and not any(c.target == ("messages", i, j_last) for c in out):
                prefix = total - sum(estimate_tokens(b) for b in blocks[j_last + 1 :])
                out.append(
                    _Candidate(
                        f"messages[{i}].content[{j_last}]",
                        "history",
                        prefix,
                        2,
                        order,
                        ("messages", i, j_last),
                    )
                )
                order += 1
    return out


def _mark(request: dict[str, Any], target: tuple[str, int, int], marker: dict[str, str]) -> None:
    """Set ``cache_control`` on one block of ``request``, copying only what it changes."""
    where, i, j = target
    if where == "tools":
        tools = [dict(t) if isinstance(t, Mapping) else t for t in request["tools"]]
        tools[i]["cache_control"] = dict(marker)
        request["tools"] = tools
    elif where == "system":
        system = [dict(b) for b in _blocks(request["system"])]
        system[i]["cache_control"] = dict(marker)
        request["system"] = system
    else:
        messages = list(request["messages"])
        blocks = _blocks(messages[i].get("content"))  # a new list; its other blocks are shared
        blocks[j] = {**blocks[j], "cache_control": dict(marker)}
        messages[i] = {**messages[i], "content": blocks}
        request["messages"] = messages
