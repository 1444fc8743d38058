"""OpenAI prompt caching: keep a Chat Completions or Responses request cache-friendly.

OpenAI caches automatically (developers.openai.com/api/docs/guides/prompt-caching,
read 2025-11): prompts of 1024 tokens or more, matched on an exact prefix, with
hits in steps of 128 tokens, reported as ``usage.prompt_tokens_details.cached_tokens``.
Requests are routed by a hash of the prefix combined with ``prompt_cache_key``,
so one stable key per tenant/agent keeps their traffic on warm machines.

Nothing is reordered (moving a system message changes what it means); the plan
notes when static content follows the first user turn, which defeats the cache.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agentcache.prompt_caching.anthropic import estimate_tokens
from agentcache.prompt_caching.costs import read_field
from agentcache.settings import PromptCachingSettings

OPENAI_MIN_CACHEABLE_TOKENS = 1024
OPENAI_CACHE_INCREMENT = 128
_STATIC_ROLES = frozenset({"system", "developer"})
# Keys a framework generates per run rather than per tenant (the OpenAI Agents SDK's
# "agents-sdk:run:<uuid>"): they scatter one tenant's traffic, so the tenant's key wins.
_PER_RUN_KEY_PREFIXES = ("agents-sdk:",)


def prompt_cache_key(tenant: str, agent: str | None = None) -> str:
    """A stable, opaque ``prompt_cache_key`` for a tenant/agent pair (no raw ids leave)."""
    h = hashlib.blake2b(digest_size=12)
    for part in (tenant, agent or ""):
        data = part.encode("utf-8")
        h.update(len(data).to_bytes(4, "big"))
        h.update(data)
    return "ac-" + h.hexdigest()


@dataclass
class OpenAICachePlan:
    """The shaped request and what was observed about its cacheability."""

    request: dict[str, Any]
    prompt_cache_key: str | None
    static_prefix_tokens: int
    notes: list[str] = field(default_factory=list)

    def debug(self) -> dict[str, Any]:
        return {
            "prompt_cache_key": self.prompt_cache_key,
            "static_prefix_tokens": self.static_prefix_tokens,
            "notes": list(self.notes),
        }


def apply_openai_caching(
    request: Mapping[str, Any],
    *,
    tenant: str,
    agent: str | None = None,
    settings: PromptCachingSettings | None = None,
) -> OpenAICachePlan:
    """Add ``prompt_cache_key`` to a ``chat.completions.create`` request (copied, not mutated).

    A key the caller set is kept, except a framework's per-run key (the Agents SDK's
    ``agents-sdk:run:...``), which the tenant's key replaces: a key per run spreads
    one tenant's identical prefixes over machines. ``static_prefix_tokens`` estimates the tools
    plus the leading system/developer messages (see ``estimate_tokens``).
    """
    messages = list(request.get("messages") or [])
    static = estimate_tokens(list(request.get("tools") or []))
    return _plan(request, messages, "messages", static, tenant, agent, settings)


def apply_openai_responses_caching(
    request: Mapping[str, Any],
    *,
    tenant: str,
    agent: str | None = None,
    settings: PromptCachingSettings | None = None,
) -> OpenAICachePlan:
    """``apply_openai_caching`` for a ``responses.create`` request: the static prefix
    is the tools, the ``instructions`` and the leading system/developer input items."""
    raw = request.get("input")
    items = list(raw) if isinstance(raw, list | tuple) else [{"role": "user", "content": raw}]
    static = estimate_tokens(list(request.get("tools") or []))
    static += estimate_tokens(request.get("instructions") or "")
    return _plan(request, items, "input", static, tenant, agent, settings)


def _plan(
    request: Mapping[str, Any],
    messages: list[Any],
    field_name: str,
    static: int,
    tenant: str,
    agent: str | None,
    settings: PromptCachingSettings | None,
) -> OpenAICachePlan:
    cfg = settings or PromptCachingSettings()
    shaped = dict(request)
    seen_dynamic = False
    notes: list[str] = []
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, Mapping) else None
        if role in _STATIC_ROLES:
            if seen_dynamic:
                notes.append(
                    f"{field_name}[{i}] is a {role} message after the conversation started; "
                    "content before it is all that can share a cached prefix"
                )
            else:
                static += estimate_tokens(message.get("content"))
        else:
            seen_dynamic = True
    if static < OPENAI_MIN_CACHEABLE_TOKENS:
        notes.append(
            f"static prefix ~{static} tokens; OpenAI caches prompts from "
            f"{OPENAI_MIN_CACHEABLE_TOKENS} tokens, so only long conversations will hit"
        )
    key: str | None = None
    given = request.get("prompt_cache_key")
    if not cfg.enabled:
        notes.append("prompt caching disabled in settings")
    elif given is not None and not str(given).startswith(_PER_RUN_KEY_PREFIXES):
        key = str(given)
        notes.append("caller's prompt_cache_key kept")
    elif cfg.openai_prompt_cache_key:
        if given is not None:
            notes.append(f"per-run prompt_cache_key {given!r} replaced by the tenant's")
        key = prompt_cache_key(tenant, agent)
        shaped["prompt_cache_key"] = key
    return OpenAICachePlan(
        request=shaped, prompt_cache_key=key, static_prefix_tokens=static, notes=notes
    )


def cached_tokens(usage: Any) -> int:
    """``usage.prompt_tokens_details.cached_tokens`` from an SDK object or a dict (0 if absent)."""
    details = read_field(usage, "prompt_tokens_details")
    return int(read_field(details, "cached_tokens") or 0)
