"""Tool result cache: ``cached_tool`` and the ``ToolCache`` behind it.

Example::

    tools = ToolCache(settings)

    @cached_tool(tools, ttl=600)
    def search_web(query: str, limit: int = 5) -> list[dict[str, str]]: ...

    search_web("redis", limit=5)  # runs the tool, stores the result
    search_web(query="redis")     # same call: served from Redis
    search_web.cache_info()       # CacheInfo(hits=1, misses=1, ...)

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
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, ParamSpec, TypeVar, overload

from agentcache import _keys
from agentcache._faults import FaultGuard
from agentcache._hashing import arguments_digest, bind_arguments, key_digest, slot_groups
from agentcache._redis import AsyncClient, SyncClient, async_client, sync_client
from agentcache._serialize import dumps, loads
from agentcache.exceptions import (
    ConfigurationError,
    SerializationError,
    UnkeyableArgumentError,
)
from agentcache.settings import AgentCacheSettings

P = ParamSpec("P")
R = TypeVar("R")

GLOBAL_SCOPE_TAG = "{~global}"
OnUnkeyable = Literal["raise", "bypass"]
TenantArg = str | Callable[..., str | None] | None

# Returns [1, value] on a hit, [2] when this caller took the lock, [0] when
# another caller holds it. Value and lock share the hash tag (one slot).
_ACQUIRE = """
local v = redis.call('GET', KEYS[1])
if v then return {1, v} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {2} end
return {0}
"""
# Store the value; release the lock only if this caller still owns it.
_STORE = """
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
return 1
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_HIT, _TAKEN = 1, 2
_FIRST_DELAY, _MAX_DELAY = 0.005, 0.1
_SCAN_COUNT = 500


@dataclass(frozen=True)
class CacheInfo:
    """Counts for one tool in this process."""

    hits: int = 0
    misses: int = 0
    waits: int = 0  # calls that waited for another caller's result
    bypassed: int = 0  # un-keyable calls run without the cache
    wait_timeouts: int = 0  # waits that gave up and ran the tool themselves


@dataclass(frozen=True)
class ToolSpec:
    """How one tool is keyed, stored and typed."""

    name: str
    ttl_ms: int
    signature: inspect.Signature
    tenant_arg: TenantArg = None
    key: Callable[..., object] | None = None
    ignore: tuple[str, ...] = ()
    on_unkeyable: OnUnkeyable = "raise"
    result_type: Any = None


@dataclass(frozen=True)
class ToolKeys:
    value: str
    lock: str


@dataclass
class _Attempt:
    """The state of one call's wait for a value or the lock."""

    deadline: float
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    delay: float = _FIRST_DELAY
    waited: bool = False


@dataclass(frozen=True)
class _Hit:
    value: Any


@dataclass(frozen=True)
class _Run:
    locked: bool


@dataclass(frozen=True)
class _Sleep:
    seconds: float


_Action = _Hit | _Run | _Sleep
_MISSING = object()


class _ToolCacheCore:
    """Keys, TTLs, encoding, counters and the wait decisions: everything but I/O."""

    def __init__(self, settings: AgentCacheSettings) -> None:
        self.settings = settings
        self.prefix = settings.redis.key_prefix
        self.guard = FaultGuard(settings.reliability, layer="tools")
        self._lock = threading.Lock()
        self._counts: dict[str, dict[str, int]] = {}
        self._owners: dict[str, str] = {}

    # -- registration and keys ------------------------------------------------

    def spec(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None,
        ttl: float | None,
        tenant_arg: TenantArg,
        key: Callable[..., object] | None,
        ignore: Sequence[str],
        on_unkeyable: OnUnkeyable,
        result_type: Any,
    ) -> ToolSpec:
        tool = _keys.validate_id(name if name is not None else fn.__name__, "tool name")
        if on_unkeyable not in ("raise", "bypass"):
            raise ConfigurationError(f"on_unkeyable must be 'raise' or 'bypass': {on_unkeyable!r}")
        if ttl is not None and ttl <= 0:
            raise ConfigurationError(f"ttl for tool {tool!r} must be positive, got {ttl}")
        signature = inspect.signature(fn)
        if isinstance(tenant_arg, str) and tenant_arg not in signature.parameters:
            raise ConfigurationError(f"tenant_arg {tenant_arg!r} is not a parameter of {tool!r}")
        owner = f"{fn.__module__}.{fn.__qualname__}"
        with self._lock:
            # Two functions under one name would read each other's results.
            if self._owners.setdefault(tool, owner) != owner:
                raise ConfigurationError(
                    f"tool name {tool!r} is already used by {self._owners[tool]}; "
                    "pass name= to cached_tool"
                )
            self._counts.setdefault(tool, dict.fromkeys(CacheInfo.__dataclass_fields__, 0))
        override = self.settings.tools.ttl.get(tool)
        seconds = override or ttl or self.settings.tools.default_ttl_seconds
        ignored = tuple(ignore) + ((tenant_arg,) if isinstance(tenant_arg, str) else ())
        return ToolSpec(
            name=tool,
            ttl_ms=max(1, round(seconds * 1000)),
            signature=signature,
            tenant_arg=tenant_arg,
            key=key,
            ignore=ignored,
            on_unkeyable=on_unkeyable,
            result_type=result_type,
        )

    def scope_tag(self, tenant: str | None) -> str:
        if tenant is None:
            return GLOBAL_SCOPE_TAG
        return _keys.hash_tag(_keys.validate_id(tenant, "tenant"))

    def keys_for(
        self, spec: ToolSpec, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> ToolKeys | None:
        """The keys of this call; None when it cannot be keyed and the tool bypasses."""
        try:
            tenant = self._tenant(spec, args, kwargs)
            if spec.key is not None:
                digest = key_digest(spec.key(*args, **kwargs))
            else:
                arguments = bind_arguments(spec.signature, args, kwargs, spec.ignore)
                digest = arguments_digest(arguments)
        except UnkeyableArgumentError as exc:
            if spec.on_unkeyable == "bypass":
                return None
            raise UnkeyableArgumentError(f"tool {spec.name!r}: {exc}") from None
        tag = self.scope_tag(tenant)
        name = _keys.encode_id(spec.name)
        return ToolKeys(
            value=":".join((self.prefix, _keys.TOOLS, tag, name, digest)),
            lock=":".join((self.prefix, _keys.LOCKS, tag, _keys.TOOLS, name, digest)),
        )

    def _tenant(self, spec: ToolSpec, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        if spec.tenant_arg is None:
            return None
        if callable(spec.tenant_arg):
            return spec.tenant_arg(*args, **kwargs)
        bound = spec.signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return bound.arguments[spec.tenant_arg]

    def tool_pattern(self, name: str) -> str:
        # Encoded ids hold no glob characters and no ':' or '}', so the
        # '*' can only span the tenant part.
        return f"{self.prefix}:{_keys.TOOLS}:{{*}}:{_keys.encode_id(name)}:*"

    def tenant_pattern(self, tenant: str) -> str:
        return _keys.tenant_pattern(self.prefix, _keys.TOOLS, _keys.validate_id(tenant, "tenant"))

    # -- values ---------------------------------------------------------------

    def encode(self, spec: ToolSpec, value: object) -> bytes:
        try:
            return dumps(value, spec.result_type)
        except SerializationError as exc:
            raise SerializationError(f"tool {spec.name!r}: {exc}") from None

    def decode(self, spec: ToolSpec, raw: bytes) -> Any:
        """The stored value, or ``_MISSING`` if it is unreadable (then overwritten)."""
        try:
            return loads(raw, spec.result_type)
        except SerializationError:
            return _MISSING

    # -- the wait loop, as decisions --------------------------------------------

    def start(self) -> _Attempt:
        return _Attempt(deadline=time.monotonic() + self.settings.tools.wait_timeout_seconds)

    def lock_ms(self) -> int:
        return max(1, round(self.settings.tools.lock_timeout_seconds * 1000))

    def next_action(self, spec: ToolSpec, attempt: _Attempt, reply: Any) -> _Action:
        """What to do after the acquire script answered ``reply`` (None: Redis fault)."""
        if reply is None:
            self.count(spec.name, "misses")
            return _Run(locked=False)
        status = int(reply[0])
        if status == _HIT:
            value = self.decode(spec, reply[1])
            if value is not _MISSING:
                self.count(spec.name, "hits", "waits" if attempt.waited else None)
                return _Hit(value)
            self.count(spec.name, "misses")
            return _Run(locked=False)
        if status == _TAKEN:
            self.count(spec.name, "misses")
            return _Run(locked=True)
        remaining = attempt.deadline - time.monotonic()
        if remaining <= 0:
            self.count(spec.name, "misses", "wait_timeouts")
            return _Run(locked=False)
        seconds = min(attempt.delay, remaining)
        attempt.delay = min(attempt.delay * 2, _MAX_DELAY)
        attempt.waited = True
        return _Sleep(seconds)

    # -- counters ---------------------------------------------------------------

    def count(self, name: str, *fields: str | None) -> None:
        with self._lock:
            counts = self._counts[name]
            for name_ in fields:
                if name_ is not None:
                    counts[name_] += 1

    def info(self, name: str) -> CacheInfo:
        with self._lock:
            return CacheInfo(**self._counts[name])

    def all_info(self) -> dict[str, CacheInfo]:
        with self._lock:
            return {name: CacheInfo(**counts) for name, counts in self._counts.items()}

    def reset_counts(self, name: str) -> None:
        with self._lock:
            self._counts[name] = dict.fromkeys(CacheInfo.__dataclass_fields__, 0)


def _delete_batches(keys: list[bytes]) -> list[list[bytes]]:
    """Keys grouped by cluster slot, so each UNLINK is valid on a cluster too."""
    return [[keys[i] for i in group] for group in slot_groups(keys).values()]


class ToolCache:
    """The synchronous tool result cache; closes the client only if it made it."""

    def __init__(self, settings: AgentCacheSettings, client: SyncClient | None = None) -> None:
        self._core = _ToolCacheCore(settings)
        self._owns_client = client is None
        self.client: SyncClient = client if client is not None else sync_client(settings)
        self._acquire = self.client.register_script(_ACQUIRE)
        self._store = self.client.register_script(_STORE)
        self._release = self.client.register_script(_RELEASE)

    @property
    def settings(self) -> AgentCacheSettings:
        return self._core.settings

    @property
    def guard(self) -> FaultGuard:
        return self._core.guard

    def info(self) -> dict[str, CacheInfo]:
        """Hit/miss counts per tool name."""
        return self._core.all_info()

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
        while True:
            reply = core.guard.run(
                "lookup",
                lambda: self._acquire(keys=[keys.value, keys.lock], args=[attempt.token, lock_ms]),
            )
            action = core.next_action(spec, attempt, reply)
            if isinstance(action, _Hit):
                return action.value  # type: ignore[no-any-return]
            if isinstance(action, _Sleep):
                time.sleep(action.seconds)
                continue
            return self._run(spec, keys, attempt.token if action.locked else "", fn, args, kwargs)

    def _run(
        self,
        spec: ToolSpec,
        keys: ToolKeys,
        token: str,
        fn: Callable[..., R],
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
    ) -> R:
        try:
            result = fn(*args, **kwargs)
            payload = self._core.encode(spec, result)
        except BaseException:
            if token:
                self._core.guard.run(
                    "unlock", lambda: self._release(keys=[keys.lock], args=[token])
                )
            raise
        self._core.guard.run(
            "store",
            lambda: self._store(
                keys=[keys.value, keys.lock], args=[payload, str(spec.ttl_ms), token]
            ),
        )
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
            found = list(self.client.scan_iter(match=pattern, count=_SCAN_COUNT))
            if not found:
                return 0
            pipe = self.client.pipeline(transaction=False)
            for batch in _delete_batches(found):
                pipe.unlink(*batch)
            return sum(int(n) for n in pipe.execute())

        return self._core.guard.run("invalidate", delete) or 0

    def close(self) -> None:
        if self._owns_client:
            self.client.close()

    def __enter__(self) -> ToolCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncToolCache:
    """The asyncio twin of ``ToolCache``."""

    def __init__(self, settings: AgentCacheSettings, client: AsyncClient | None = None) -> None:
        self._core = _ToolCacheCore(settings)
        self._owns_client = client is None
        self.client: AsyncClient = client if client is not None else async_client(settings)
        self._acquire = self.client.register_script(_ACQUIRE)
        self._store = self.client.register_script(_STORE)
        self._release = self.client.register_script(_RELEASE)

    @property
    def settings(self) -> AgentCacheSettings:
        return self._core.settings

    @property
    def guard(self) -> FaultGuard:
        return self._core.guard

    def info(self) -> dict[str, CacheInfo]:
        """Hit/miss counts per tool name."""
        return self._core.all_info()

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
        while True:
            reply = await core.guard.arun(
                "lookup",
                lambda: self._acquire(keys=[keys.value, keys.lock], args=[attempt.token, lock_ms]),
            )
            action = core.next_action(spec, attempt, reply)
            if isinstance(action, _Hit):
                return action.value  # type: ignore[no-any-return]
            if isinstance(action, _Sleep):
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
        try:
            result = await fn(*args, **kwargs)
            payload = self._core.encode(spec, result)
        except BaseException:
            if token:
                await self._core.guard.arun(
                    "unlock", lambda: self._release(keys=[keys.lock], args=[token])
                )
            raise
        await self._core.guard.arun(
            "store",
            lambda: self._store(
                keys=[keys.value, keys.lock], args=[payload, str(spec.ttl_ms), token]
            ),
        )
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
            found = [k async for k in self.client.scan_iter(match=pattern, count=_SCAN_COUNT)]
            if not found:
                return 0
            pipe = self.client.pipeline(transaction=False)
            for batch in _delete_batches(found):
                pipe.unlink(*batch)
            return sum(int(n) for n in await pipe.execute())

        return await self._core.guard.arun("invalidate", delete) or 0

    async def aclose(self) -> None:
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

    def cache_info(self) -> CacheInfo:
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

    def cache_info(self) -> CacheInfo:
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
    "CacheInfo",
    "CachedTool",
    "ToolCache",
    "ToolSpec",
    "cached_tool",
]
