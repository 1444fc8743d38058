"""OpenAI prompt caching: keep a Chat Completions request cache-friendly.

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

    A key the caller set is kept. ``static_prefix_tokens`` estimates the tools
    plus the leading system/developer messages (see ``estimate_tokens``).
    """
    cfg = settings or PromptCachingSettings()
    shaped = dict(request)
    messages = list(request.get("messages") or [])
    static = estimate_tokens(list(request.get("tools") or []))
    seen_dynamic = False
    notes: list[str] = []
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, Mapping) else None
        if role in _STATIC_ROLES:
            if seen_dynamic:
                notes.append(
                    f"messages[{i}] is a {role} message after the conversation started; "
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
    if not cfg.enabled:
        notes.append("prompt caching disabled in settings")
    elif "prompt_cache_key" in request:
        key = str(request["prompt_cache_key"])
        notes.append("caller's prompt_cache_key kept")
    elif cfg.openai_prompt_cache_key:
        key = prompt_cache_key(tenant, agent)
        shaped["prompt_cache_key"] = key
    return OpenAICachePlan(
        request=shaped, prompt_cache_key=key, static_prefix_tokens=static, notes=notes
    )


def cached_tokens(usage: Any) -> int:
    """``usage.prompt_tokens_details.cached_tokens`` from an SDK object or a dict (0 if absent)."""
    details = read_field(usage, "prompt_tokens_details")
    return int(read_field(details, "cached_tokens") or 0)
