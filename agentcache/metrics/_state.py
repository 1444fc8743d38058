"""Process-wide metrics state, no I/O: the scope bound to the running thread or
task, and the set of live ``Metrics`` objects the Prometheus endpoint serves.

Faults are attributed to the tenant and agent of the call that hit them via
``bind_scope`` (a context variable, so threads and asyncio tasks stay apart).
"""

from __future__ import annotations

import contextlib
import contextvars
import weakref
from collections.abc import Iterator

from agentcache.metrics._types import NO_TENANT, MetricsSource

__all__ = ["bind_scope", "current_scope", "live_sources", "scoped", "track"]

_scope: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar(
    "agentcache_metrics_scope", default=None
)


def bind_scope(tenant: str | None, agent: str | None = None) -> None:
    """Attribute faults and latencies in this thread/task to ``tenant``/``agent``."""
    _scope.set(None if tenant is None else (tenant, agent or ""))


def current_scope() -> tuple[str, str]:
    return _scope.get() or (NO_TENANT, "")


@contextlib.contextmanager
def scoped(tenant: str, agent: str) -> Iterator[None]:
    """``bind_scope`` for the duration of a ``with`` block, then the previous scope."""
    token = _scope.set((tenant, agent))
    try:
        yield
    finally:
        _scope.reset(token)


# Weak, so a dropped Metrics is collected and stops being served.
_LIVE: weakref.WeakSet[MetricsSource] = weakref.WeakSet()


def track(source: MetricsSource) -> None:
    """Serve ``source`` on every ``serve_prometheus`` endpoint while it lives."""
    _LIVE.add(source)


def live_sources() -> list[MetricsSource]:
    """Every tracked source not yet garbage-collected."""
    return list(_LIVE)
