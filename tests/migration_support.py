"""Helpers shared by the migration tests on one server and on a cluster."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agentcache.semantic import SemanticCache
from agentcache.settings import AgentCacheSettings


def variant(settings: AgentCacheSettings, **changes: Any) -> AgentCacheSettings:
    """A copy of ``settings`` with ``group__field=value`` changes."""
    copy = settings.model_copy(deep=True)
    for name, value in changes.items():
        group, _, attr = name.partition("__")
        setattr(getattr(copy, group), attr, value)
    return copy


def prompt(i: int) -> str:
    return f"w{i}a w{i}b w{i}c w{i}d question"


def populate_tenants(
    cache: SemanticCache, tenants: Sequence[str], n: int
) -> dict[tuple[str, str], str]:
    """Store ``n`` entries spread over ``tenants``; return (tenant, prompt) -> response."""
    entries: dict[tuple[str, str], str] = {}
    for t, tenant in enumerate(tenants):
        rows = [(prompt(i), f"answer {i}") for i in range(t, n, len(tenants))]
        cache.store_many(rows, tenant=tenant, agent="support")
        entries.update({(tenant, p): r for p, r in rows})
    return entries
