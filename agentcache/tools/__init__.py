"""The tool result cache: ``cached_tool`` and the ``ToolCache`` behind it."""

from __future__ import annotations

from agentcache.tools._sync import (
    AsyncCachedTool,
    AsyncToolCache,
    CachedTool,
    ToolCache,
    ToolCacheInfo,
    cached_tool,
)

__all__ = [
    "AsyncCachedTool",
    "AsyncToolCache",
    "CachedTool",
    "ToolCache",
    "ToolCacheInfo",
    "cached_tool",
]
