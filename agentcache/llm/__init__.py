"""Cached Anthropic and OpenAI clients: semantic cache first, provider prompt caching on a miss."""

from __future__ import annotations

from agentcache.llm._async import AsyncCachedAnthropic, AsyncCachedOpenAI
from agentcache.llm._controls import CacheMode
from agentcache.llm._ledger import CacheInfo, Ledger, cache_info, print_session_table, session_table
from agentcache.llm._sync import CachedAnthropic, CachedOpenAI

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
