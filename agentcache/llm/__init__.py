"""Cached Anthropic and OpenAI clients: semantic cache first, provider prompt caching on a miss."""

from __future__ import annotations

from agentcache.llm._clients import (
    AsyncCachedAnthropic,
    AsyncCachedOpenAI,
    CachedAnthropic,
    CachedOpenAI,
    CacheInfo,
    CacheMode,
    Ledger,
    cache_info,
    print_session_table,
    session_table,
)

__all__ = [
    "AsyncCachedAnthropic",
    "AsyncCachedOpenAI",
    "CacheInfo",
    "CacheMode",
    "CachedAnthropic",
    "CachedOpenAI",
    "Ledger",
    "cache_info",
    "print_session_table",
    "session_table",
]
