"""The semantic response cache: LLM answers reused for semantically similar prompts."""

from __future__ import annotations

from agentcache.semantic._async import AsyncSemanticCache
from agentcache.semantic._sync import SemanticCache
from agentcache.semantic._types import CheckResult

__all__ = [
    "AsyncSemanticCache",
    "CheckResult",
    "SemanticCache",
]
