"""Framework integrations: LangChain, the OpenAI Agents SDK, pydantic-ai.

Each framework lives in its own module and is imported only when asked for
(``from agentcache.integrations.langchain import ...``), so ``import agentcache``
and ``import agentcache.integrations`` work without any framework installed.
What every integration shares is here: the per-request tenant/agent scope and
the per-request cache controls, both carried by context variables.
"""

from __future__ import annotations

from agentcache.integrations._scope import (
    CacheControls,
    ControlMode,
    cache_controls,
    current_controls,
    current_scope,
    resolve_controls,
    resolve_scope,
    tenant_scope,
)

__all__ = [
    "CacheControls",
    "ControlMode",
    "cache_controls",
    "current_controls",
    "current_scope",
    "resolve_controls",
    "resolve_scope",
    "tenant_scope",
]
