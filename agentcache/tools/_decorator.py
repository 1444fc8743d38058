"""``cached_tool``: wraps a function with the twin that fits it (sync or ``async def``)."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ParamSpec, TypeVar, overload

from agentcache.exceptions import ConfigurationError
from agentcache.tools._async import AsyncCachedTool, AsyncToolCache
from agentcache.tools._sync import CachedTool, ToolCache
from agentcache.tools._types import OnUnkeyable, TenantArg

P = ParamSpec("P")
R = TypeVar("R")


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
