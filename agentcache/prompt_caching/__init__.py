"""Provider-side prompt caching: request shaping and usage parsing, no Redis.

``anthropic`` places ``cache_control`` breakpoints on the static parts of a
Messages request; ``openai`` keeps a Chat Completions request cache-friendly
and adds a ``prompt_cache_key``. Both return a plan that says what was done
and why, so callers can log or show it.
"""

from __future__ import annotations

from agentcache.prompt_caching.anthropic import (
    AnthropicCachePlan,
    Breakpoint,
    SkippedBreakpoint,
    apply_anthropic_caching,
    estimate_tokens,
    min_cacheable_tokens,
)
from agentcache.prompt_caching.openai import (
    OPENAI_MIN_CACHEABLE_TOKENS,
    OpenAICachePlan,
    apply_openai_caching,
    prompt_cache_key,
)

__all__ = [
    "OPENAI_MIN_CACHEABLE_TOKENS",
    "AnthropicCachePlan",
    "Breakpoint",
    "OpenAICachePlan",
    "SkippedBreakpoint",
    "apply_anthropic_caching",
    "apply_openai_caching",
    "estimate_tokens",
    "min_cacheable_tokens",
    "prompt_cache_key",
]
