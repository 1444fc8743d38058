"""Tool result cache: the I/O shell (``_async.py`` is the source, ``_sync.py`` is generated).

Example::

    tools = AsyncToolCache(settings)

    @cached_tool(tools, ttl=600)
    async def search_web(query: str, limit: int = 5) -> list[dict[str, str]]: ...

    await search_web("redis", limit=5)  # runs the tool, stores the result
    await search_web(query="redis")     # same call: served from Redis
    search_web.cache_info()             # ToolCacheInfo(hits=1, misses=1, ...)

Keys are ``{prefix}:tool:{{tenant}}:{tool}:{digest of the bound arguments}``;
calls without a tenant share the scope ``{~global}``, a tag no encoded tenant
id can equal (``~`` is always percent-encoded). The TTL of a tool is, in
order: ``settings.tools.ttl[name]`` (``AGENTCACHE_TOOLS__TTL__<name>``), the
decorator's ``ttl``, ``settings.tools.default_ttl_seconds``.

Stampede protection: a miss takes a per-key Redis lock (``SET NX PX`` with a
random token, in the same script that looked for the value); concurrent
callers of the same key poll with backoff until the holder stores the value.
If the holder dies, its lock expires after ``lock_timeout_seconds`` and one
waiter takes over. A caller that waited ``wait_timeout_seconds`` runs the tool
itself. Errors are never stored; the lock is released so the next caller
retries. Redis faults never fail a call: the tool runs uncached (strict mode
raises ``CacheUnavailableError`` instead).
"""

from __future__ import annotations

import asyncio  # sync: import time
from collections.abc import (
    Awaitable,  # async only
    Callable,
    Mapping,
    Sequence,
)
from functools import partial, update_wrapper
from typing import Any, Generic, ParamSpec, TypeVar

from agentcache._lifecycle_async import AsyncShell
from agentcache._redis.clients import AsyncClient
from agentcache._redis.faults import FaultGuard
from agentcache._redis.keys import TOOL_LAYER
from agentcache.metrics._counters import ERRORS, NO_TENANT, STORES, Metrics, current_scope, scoped
from agentcache.settings import AgentCacheSettings
from agentcache.tools._core import (
    HITS,
    MISSES,
    SCAN_COUNT,
    Hit,
    Sleep,
    ToolCacheCore,
    delete_batches,
)
from agentcache.tools._scripts import ACQUIRE_SCRIPT, RELEASE_SCRIPT, STORE_SCRIPT
from agentcache.tools._types import ToolCacheInfo, ToolKeys, ToolSpec

P = ParamSpec("P")
R = TypeVar("R")
# The events that also go to the shared metrics (the rest are per-process tallies).
_METRIC_EVENTS = frozenset((HITS, MISSES))


class AsyncToolCache(AsyncShell):
    """The tool result cache behind ``cached_tool``.

    Contract, the same for the sync and the async twin: the constructor sends
    no command (it builds the client from settings unless given one, which
    for a sync cluster client means redis-py's node discovery; registers the
    scripts locally; builds the metrics); the first call talks to Redis.
    Faults are logged by the guard (layer ``tool``), never raised unless
    strict. As a context manager it returns itself and closes on exit;
    ``aclose`` flushes and closes the metrics and the client only if this
    cache made them. ``metrics``: where hits, misses, stores and faults are
    counted (layer ``tool``, the call's tenant, the tool name as the agent).
    """

    def __init__(
        self,
        settings: AgentCacheSettings,
        client: AsyncClient | None = None,
        *,
        metrics: Metrics | None = None,
    ) -> None:
        self._core = ToolCacheCore(settings)
        self._own(settings, client, metrics)
        self.guard = FaultGuard(
            settings.reliability,
            layer=TOOL_LAYER,
            on_fault=self._count_fault,
            on_latency=self._observe,
        )
        self._acquire = self.client.register_script(ACQUIRE_SCRIPT)
        self._store = self.client.register_script(STORE_SCRIPT)
        self._release = self.client.register_script(RELEASE_SCRIPT)

    @property
    def settings(self) -> AgentCacheSettings:
        return self._core.settings

    def info(self) -> dict[str, ToolCacheInfo]:
        """Hit/miss counts per tool name."""
        return self._core.all_info()

    # Counts belong to the call's scope, bound by call() (its tenant, the tool name).
    def _count(self, name: str, events: Sequence[str]) -> None:
        self._core.tally(name, events)
        for event in events:
            if event in _METRIC_EVENTS:
                self.metrics.count(TOOL_LAYER, event, *current_scope())

    def _count_fault(self, operation: str, exc: BaseException) -> None:
        self.metrics.count(TOOL_LAYER, ERRORS, *current_scope())

    def _observe(self, operation: str, seconds: float) -> None:
        self.metrics.observe(TOOL_LAYER, operation, seconds)

    async def call(
        self,
        spec: ToolSpec,
        fn: Callable[..., Awaitable[R]],  # sync: fn: Callable[..., R],
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
    ) -> R:
        """Serve ``fn(*args, **kwargs)`` from the cache, running it at most once per key."""
        core = self._core
        keys = core.keys_for(spec, args, kwargs)
        if keys is None:
            core.tally(spec.name, ("bypassed",))
            return await fn(*args, **kwargs)
        attempt = core.start()
        lock_ms = str(core.lock_ms())
        with scoped(NO_TENANT if keys.tenant is None else keys.tenant, spec.name):
            while True:
                reply = await self.guard.arun(
                    "lookup",
                    lambda: self._acquire(
                        keys=[keys.value, keys.lock], args=[attempt.token, lock_ms]
                    ),
                )
                action = core.next_action(spec, attempt, reply)
                self._count(spec.name, action.events)
                if isinstance(action, Hit):
                    return action.value  # type: ignore[no-any-return]
                if isinstance(action, Sleep):
                    await asyncio.sleep(action.seconds)
                    continue
                token = attempt.token if action.locked else ""
                return await self._run(spec, keys, token, fn, args, kwargs)

    async def _run(
        self,
        spec: ToolSpec,
        keys: ToolKeys,
        token: str,
        fn: Callable[..., Awaitable[R]],  # sync: fn: Callable[..., R],
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
    ) -> R:
        unlock = partial(self._release, keys=[keys.lock], args=[token])
        try:
            result = await fn(*args, **kwargs)
        except BaseException:
            if token:
                await self.guard.arun("unlock", unlock)
            raise
        payload = self._core.encode(spec, result)
        reply = None
        if payload is not None:
            reply = await self.guard.arun(
                "store",
                lambda: self._store(
                    keys=[keys.value, keys.lock], args=[payload, str(spec.ttl_ms), token]
                ),
            )
        if reply is not None:  # None: Redis faulted, nothing stored
            self.metrics.count(TOOL_LAYER, STORES, *current_scope())
        elif token:
            # Not stored (unserialisable, or the write failed): free the waiters now
            # rather than after the lock timeout.
            await self.guard.arun("unlock", unlock)
        return result

    async def invalidate(
        self,
        spec: ToolSpec,
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
    ) -> bool:
        """Forget one call's result; True if one was stored."""
        keys = self._core.keys_for(spec, args, kwargs)
        if keys is None:
            return False
        deleted = await self.guard.arun("invalidate", lambda: self.client.unlink(keys.value))
        return bool(deleted)

    async def invalidate_tool(self, name: str) -> int:
        """Forget every stored result of tool ``name`` (all tenants); returns the count."""
        return await self._delete_matching(self._core.tool_pattern(name))

    async def invalidate_tenant(self, tenant: str) -> int:
        """Forget every stored tool result of ``tenant``; returns the count."""
        return await self._delete_matching(self._core.tenant_pattern(tenant))

    async def _delete_matching(self, pattern: str) -> int:
        async def delete() -> int:
            found = [k async for k in self.client.scan_iter(match=pattern, count=SCAN_COUNT)]
            if not found:
                return 0
            pipe = self.client.pipeline(transaction=False)
            for batch in delete_batches(found):
                pipe.unlink(*batch)
            return sum(int(n) for n in await pipe.execute())

        return await self.guard.arun("invalidate", delete) or 0


class AsyncCachedTool(Generic[P, R]):
    """A tool wrapped by ``cached_tool``: call it as the function it wraps."""

    def __init__(
        self,
        cache: AsyncToolCache,
        fn: Callable[P, Awaitable[R]],  # sync: fn: Callable[P, R],
        spec: ToolSpec,
    ) -> None:
        update_wrapper(self, fn)
        self.cache = cache
        self.spec = spec
        self._fn = fn

    async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return await self.cache.call(self.spec, self._fn, args, kwargs)

    def cache_info(self) -> ToolCacheInfo:
        return self.cache._core.info(self.spec.name)

    async def cache_clear(self) -> int:
        """Forget all stored results of this tool and reset its counts."""
        self.cache._core.reset_counts(self.spec.name)
        return await self.cache.invalidate_tool(self.spec.name)

    async def invalidate(self, *args: P.args, **kwargs: P.kwargs) -> bool:
        """Forget the stored result of this one call."""
        return await self.cache.invalidate(self.spec, args, kwargs)


__all__ = ["AsyncCachedTool", "AsyncToolCache"]
