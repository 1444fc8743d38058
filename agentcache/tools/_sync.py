"""Tool result cache: ``cached_tool`` and the ``ToolCache`` behind it.

Example::

    tools = ToolCache(settings)

    @cached_tool(tools, ttl=600)
    def search_web(query: str, limit: int = 5) -> list[dict[str, str]]: ...

    search_web("redis", limit=5)  # runs the tool, stores the result
    search_web(query="redis")     # same call: served from Redis
    search_web.cache_info()       # ToolCacheInfo(hits=1, misses=1, ...)

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

import asyncio
import functools
import inspect
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Generic, ParamSpec, TypeVar, overload

from agentcache._redis.clients import AsyncClient, SyncClient, async_client, sync_client
from agentcache._redis.faults import FaultGuard
from agentcache.exceptions import ConfigurationError
from agentcache.metrics._counters import Metrics, scoped
from agentcache.settings import AgentCacheSettings
from agentcache.tools._core import (
    ACQUIRE_SCRIPT,
    GLOBAL_SCOPE_TAG,
    RELEASE_SCRIPT,
    SCAN_COUNT,
    STORE_SCRIPT,
    Hit,
    OnUnkeyable,
    Sleep,
    TenantArg,
    ToolCacheCore,
    ToolCacheInfo,
    ToolKeys,
    ToolSpec,
    delete_batches,
)

P = ParamSpec("P")
R = TypeVar("R")


class _ToolCacheBase:
    """What the sync and async tool caches share: the no-I/O core and its views."""

    _core: ToolCacheCore

    @property
    def settings(self) -> AgentCacheSettings:
        return self._core.settings

    @property
    def guard(self) -> FaultGuard:
        return self._core.guard

    @property
    def metrics(self) -> Metrics:
        return self._core.metrics

    def info(self) -> dict[str, ToolCacheInfo]:
        """Hit/miss counts per tool name."""
        return self._core.all_info()


class ToolCache(_ToolCacheBase):
    """The synchronous tool result cache; closes the client only if it made it.

    ``metrics``: where hits, misses, stores and faults are counted (layer
    ``tool``, the call's tenant, the tool name as the agent); default: one
    built from ``settings.metrics``, closed with the cache.
    """

    def __init__(
        self,
        settings: AgentCacheSettings,
        client: SyncClient | None = None,
        *,
        metrics: Metrics | None = None,
    ) -> None:
        self._core = ToolCacheCore(settings)
        self._owns_client = client is None
        self.client: SyncClient = client if client is not None else sync_client(settings)
        self._core.attach_metrics(metrics, self.client)
        self._acquire = self.client.register_script(ACQUIRE_SCRIPT)
        self._store = self.client.register_script(STORE_SCRIPT)
        self._release = self.client.register_script(RELEASE_SCRIPT)

    def call(
        self, spec: ToolSpec, fn: Callable[..., R], args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> R:
        """Serve ``fn(*args, **kwargs)`` from the cache, running it at most once per key."""
        core = self._core
        keys = core.keys_for(spec, args, kwargs)
        if keys is None:
            core.count(spec.name, "bypassed")
            return fn(*args, **kwargs)
        attempt = core.start()
        lock_ms = str(core.lock_ms())
        with scoped(keys.tenant, spec.name):
            while True:
                reply = core.guard.run(
                    "lookup",
                    lambda: self._acquire(
                        keys=[keys.value, keys.lock], args=[attempt.token, lock_ms]
                    ),
                )
                action = core.next_action(spec, attempt, reply)
                if isinstance(action, Hit):
                    return action.value  # type: ignore[no-any-return]
                if isinstance(action, Sleep):
                    time.sleep(action.seconds)
                    continue
                token = attempt.token if action.locked else ""
                return self._run(spec, keys, token, fn, args, kwargs)

    def _run(
        self,
        spec: ToolSpec,
        keys: ToolKeys,
        token: str,
        fn: Callable[..., R],
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
    ) -> R:
        unlock = functools.partial(self._release, keys=[keys.lock], args=[token])
        try:
            result = fn(*args, **kwargs)
        except BaseException:
            if token:
                self._core.guard.run("unlock", unlock)
            raise
        payload = self._core.encode(spec, result)
        reply = None
        if payload is not None:
            reply = self._core.guard.run(
                "store",
                lambda: self._store(
                    keys=[keys.value, keys.lock], args=[payload, str(spec.ttl_ms), token]
                ),
            )
        self._core.stored(reply)
        if reply is None and token:
            # Not stored (unserialisable, or the write failed): free the waiters now
            # rather than after the lock timeout.
            self._core.guard.run("unlock", unlock)
        return result

    def invalidate(self, spec: ToolSpec, args: Sequence[Any], kwargs: Mapping[str, Any]) -> bool:
        """Forget one call's result; True if one was stored."""
        keys = self._core.keys_for(spec, args, kwargs)
        if keys is None:
            return False
        deleted = self._core.guard.run("invalidate", lambda: self.client.unlink(keys.value))
        return bool(deleted)

    def invalidate_tool(self, name: str) -> int:
        """Forget every stored result of tool ``name`` (all tenants); returns the count."""
        return self._delete_matching(self._core.tool_pattern(name))

    def invalidate_tenant(self, tenant: str) -> int:
        """Forget every stored tool result of ``tenant``; returns the count."""
        return self._delete_matching(self._core.tenant_pattern(tenant))

    def _delete_matching(self, pattern: str) -> int:
        def delete() -> int:
            found = list(self.client.scan_iter(match=pattern, count=SCAN_COUNT))
            if not found:
                return 0
            pipe = self.client.pipeline(transaction=False)
            for batch in delete_batches(found):
                pipe.unlink(*batch)
            return sum(int(n) for n in pipe.execute())

        return self._core.guard.run("invalidate", delete) or 0

    def close(self) -> None:
        """Flush and close the metrics and the client, if this cache made them."""
        if self._core.owns_metrics:
            self._core.metrics.close()
        if self._owns_client:
            self.client.close()

    def __enter__(self) -> ToolCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncToolCache(_ToolCacheBase):
    """The asyncio twin of ``ToolCache``."""

    def __init__(
        self,
        settings: AgentCacheSettings,
        client: AsyncClient | None = None,
        *,
        metrics: Metrics | None = None,
    ) -> None:
        self._core = ToolCacheCore(settings)
        self._owns_client = client is None
        self.client: AsyncClient = client if client is not None else async_client(settings)
        self._core.attach_metrics(metrics, self.client)
        self._acquire = self.client.register_script(ACQUIRE_SCRIPT)
        self._store = self.client.register_script(STORE_SCRIPT)
        self._release = self.client.register_script(RELEASE_SCRIPT)

    async def call(
        self,
        spec: ToolSpec,
        fn: Callable[..., Awaitable[R]],
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
    ) -> R:
        """Async twin of ``ToolCache.call``."""
        core = self._core
        keys = core.keys_for(spec, args, kwargs)
        if keys is None:
            core.count(spec.name, "bypassed")
            return await fn(*args, **kwargs)
        attempt = core.start()
        lock_ms = str(core.lock_ms())
        with scoped(keys.tenant, spec.name):
            while True:
                reply = await core.guard.arun(
                    "lookup",
                    lambda: self._acquire(
                        keys=[keys.value, keys.lock], args=[attempt.token, lock_ms]
                    ),
                )
                action = core.next_action(spec, attempt, reply)
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
        fn: Callable[..., Awaitable[R]],
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
    ) -> R:
        unlock = functools.partial(self._release, keys=[keys.lock], args=[token])
        try:
            result = await fn(*args, **kwargs)
        except BaseException:
            if token:
                await self._core.guard.arun("unlock", unlock)
            raise
        payload = self._core.encode(spec, result)
        reply = None
        if payload is not None:
            reply = await self._core.guard.arun(
                "store",
                lambda: self._store(
                    keys=[keys.value, keys.lock], args=[payload, str(spec.ttl_ms), token]
                ),
            )
        self._core.stored(reply)
        if reply is None and token:
            await self._core.guard.arun("unlock", unlock)  # as in ToolCache._run
        return result

    async def invalidate(
        self, spec: ToolSpec, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> bool:
        """Forget one call's result; True if one was stored."""
        keys = self._core.keys_for(spec, args, kwargs)
        if keys is None:
            return False
        deleted = await self._core.guard.arun("invalidate", lambda: self.client.unlink(keys.value))
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

        return await self._core.guard.arun("invalidate", delete) or 0

    async def aclose(self) -> None:
        """Async twin of ``ToolCache.close``."""
        if self._core.owns_metrics:
            await self._core.metrics.aclose()
        if self._owns_client:
            await self.client.aclose()

    async def __aenter__(self) -> AsyncToolCache:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class CachedTool(Generic[P, R]):
    """A sync tool wrapped by ``cached_tool``."""

    def __init__(self, cache: ToolCache, fn: Callable[P, R], spec: ToolSpec) -> None:
        functools.update_wrapper(self, fn)
        self.cache = cache
        self.spec = spec
        self._fn = fn

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.cache.call(self.spec, self._fn, args, kwargs)

    def cache_info(self) -> ToolCacheInfo:
        return self.cache._core.info(self.spec.name)

    def cache_clear(self) -> int:
        """Forget all stored results of this tool and reset its counts."""
        self.cache._core.reset_counts(self.spec.name)
        return self.cache.invalidate_tool(self.spec.name)

    def invalidate(self, *args: P.args, **kwargs: P.kwargs) -> bool:
        """Forget the stored result of this one call."""
        return self.cache.invalidate(self.spec, args, kwargs)


class AsyncCachedTool(Generic[P, R]):
    """An async tool wrapped by ``cached_tool``."""

    def __init__(
        self, cache: AsyncToolCache, fn: Callable[P, Awaitable[R]], spec: ToolSpec
    ) -> None:
        functools.update_wrapper(self, fn)
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


@overload
def cached_tool(
    cache: ToolCache,
    *,
    ttl: float | None = None,
    name: str | None = None,
    tenant_arg: TenantArg = None,
    key: Callable[..., object] | None = None,
    ignore: Sequence[str] = (),
    on_unkeyable: OnUnkeyable = "raise",
    result_type: Any = None,
) -> Callable[[Callable[P, R]], CachedTool[P, R]]: ...


@overload
def cached_tool(
    cache: AsyncToolCache,
    *,
    ttl: float | None = None,
    name: str | None = None,
    tenant_arg: TenantArg = None,
    key: Callable[..., object] | None = None,
    ignore: Sequence[str] = (),
    on_unkeyable: OnUnkeyable = "raise",
    result_type: Any = None,
) -> Callable[[Callable[P, Awaitable[R]]], AsyncCachedTool[P, R]]: ...


def cached_tool(
    cache: ToolCache | AsyncToolCache,
    *,
    ttl: float | None = None,
    name: str | None = None,
    tenant_arg: TenantArg = None,
    key: Callable[..., object] | None = None,
    ignore: Sequence[str] = (),
    on_unkeyable: OnUnkeyable = "raise",
    result_type: Any = None,
) -> Callable[[Callable[..., Any]], CachedTool[..., Any] | AsyncCachedTool[..., Any]]:
    """Cache a tool's results in Redis: a ``ToolCache`` for sync functions, an
    ``AsyncToolCache`` for ``async def`` ones.

    Args:
        ttl: seconds a result lives (``settings.tools.ttl[name]`` overrides it).
        name: the tool's name in keys, counts and TTL overrides (default ``fn.__name__``).
        tenant_arg: the parameter holding the tenant id, or ``fn(*args, **kwargs) -> tenant``;
            results are then scoped to (and invalidated with) that tenant.
        key: ``fn(*args, **kwargs) -> value`` whose canonical form replaces the arguments'.
        ignore: parameters left out of the key (e.g. a client object).
        on_unkeyable: ``"raise"`` ``UnkeyableArgumentError``, or ``"bypass"`` the cache.
        result_type: the return type (pydantic model, dataclass, ``list[Model]``...) to
            store and rebuild results; without it results must be JSON-like.
    """

    def decorate(fn: Callable[..., Any]) -> CachedTool[..., Any] | AsyncCachedTool[..., Any]:
        is_async = inspect.iscoroutinefunction(fn)
        if is_async and not isinstance(cache, AsyncToolCache):
            raise ConfigurationError(f"{fn.__qualname__} is async: give it an AsyncToolCache")
        if not is_async and not isinstance(cache, ToolCache):
            raise ConfigurationError(f"{fn.__qualname__} is not async: give it a ToolCache")
        spec = cache._core.spec(
            fn,
            name=name,
            ttl=ttl,
            tenant_arg=tenant_arg,
            key=key,
            ignore=ignore,
            on_unkeyable=on_unkeyable,
            result_type=result_type,
        )
        if isinstance(cache, AsyncToolCache):
            return AsyncCachedTool(cache, fn, spec)
        return CachedTool(cache, fn, spec)

    return decorate


__all__ = [
    "GLOBAL_SCOPE_TAG",
    "AsyncCachedTool",
    "AsyncToolCache",
    "CachedTool",
    "ToolCache",
    "ToolCacheInfo",
    "ToolSpec",
    "cached_tool",
]
