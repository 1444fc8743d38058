"""The tool result cache: ``cached_tool`` and the ``ToolCache`` behind it."""

from __future__ import annotations

from agentcache.tools._async import AsyncCachedTool, AsyncToolCache
from agentcache.tools._decorator import cached_tool
from agentcache.tools._sync import CachedTool, ToolCache
from agentcache.tools._types import ToolCacheInfo

__all__ = [
    "AsyncCachedTool",
    "AsyncToolCache",
    "CachedTool",
    "ToolCache",
    "ToolCacheInfo",
    "cached_tool",
]
