"""The no-I/O core of the tool result cache: keys, TTLs, encoding, counters, wait decisions.

``ToolCache`` and ``AsyncToolCache`` (in ``tools.py``) do only the I/O around
it, so the sync and async twins cannot drift apart.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from agentcache._limits import check_ttl
from agentcache._redis import keys as _keys
from agentcache._redis.faults import FaultGuard
from agentcache.exceptions import ConfigurationError, SerializationError, UnkeyableArgumentError
from agentcache.metrics._counters import (
    ERRORS,
    HITS,
    MISSES,
    NO_TENANT,
    STORES,
    Metrics,
    current_scope,
)
from agentcache.settings import AgentCacheSettings
from agentcache.tools._hashing import arguments_digest, bind_arguments, key_digest
from agentcache.tools._serialize import dumps, loads

_logger = logging.getLogger("agentcache.tools")
GLOBAL_SCOPE_TAG = _keys.SHARED_TAG
LAYER = "tool"  # the metrics layer; its series' agent is the tool name
OnUnkeyable = Literal["raise", "bypass"]
TenantArg = str | Callable[..., str | None] | None

# Returns [1, value] on a hit, [2] when this caller took the lock, [0] when
# another caller holds it. Value and lock share the hash tag (one slot).
ACQUIRE_SCRIPT = """
local v = redis.call('GET', KEYS[1])
if v then return {1, v} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {2} end
return {0}
"""
# Store the value; release the lock only if this caller still owns it.
STORE_SCRIPT = """
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
return 1
"""
RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_HIT, _TAKEN = 1, 2
_FIRST_DELAY, _MAX_DELAY = 0.005, 0.1
SCAN_COUNT = 500


@dataclass(frozen=True)
class ToolCacheInfo:
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
    """The Redis keys of one call: its stored value and its stampede lock."""

    value: str
    lock: str
    tenant: str = NO_TENANT  # the metrics scope: NO_TENANT for shared calls


@dataclass
class Attempt:
    """The state of one call's wait for a value or the lock."""

    deadline: float
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    delay: float = _FIRST_DELAY
    waited: bool = False


@dataclass(frozen=True)
class Hit:
    """Serve ``value``, found in the cache."""

    value: Any


@dataclass(frozen=True)
class Run:
    """Run the tool; ``locked`` when this caller holds the lock (release it after)."""

    locked: bool


@dataclass(frozen=True)
class Sleep:
    """Another caller is running the tool: wait ``seconds``, then look again."""

    seconds: float


Action = Hit | Run | Sleep
_MISSING = object()


class ToolCacheCore:
    """Keys, TTLs, encoding, counters and the wait decisions: everything but I/O."""

    def __init__(self, settings: AgentCacheSettings) -> None:
        self.settings = settings
        self.prefix = settings.redis.key_prefix
        # Replaced by attach_metrics once the wrapper has its client.
        self.metrics = Metrics(enabled=False)
        self.owns_metrics = False
        self.guard = FaultGuard(
            settings.reliability,
            layer="tools",
            on_fault=self._count_fault,
            on_latency=self._observe,
        )
        self._lock = threading.Lock()
        self._counts: dict[str, dict[str, int]] = {}
        self._owners: dict[str, str] = {}

    def attach_metrics(self, metrics: Metrics | None, client: object) -> None:
        """Count into ``metrics``, else into one built from settings (then owned)."""
        self.owns_metrics = metrics is None
        self.metrics = metrics or Metrics.from_settings(self.settings, client=client)

    # Faults and latencies belong to the call's scope (tools.py binds it).
    def _count_fault(self, operation: str, exc: BaseException) -> None:
        self.metrics.count(LAYER, ERRORS, *current_scope())

    def _observe(self, operation: str, seconds: float) -> None:
        self.metrics.observe(LAYER, operation, seconds)

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
        """Register ``fn`` under its tool name (unique per process) and fix its TTL."""
        tool = _keys.validate_id(name if name is not None else fn.__name__, "tool name")
        if on_unkeyable not in ("raise", "bypass"):
            raise ConfigurationError(f"on_unkeyable must be 'raise' or 'bypass': {on_unkeyable!r}")
        if ttl is not None:
            check_ttl(ttl, f"ttl of tool {tool!r}", whole=False)
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
            self._counts.setdefault(tool, dict.fromkeys(ToolCacheInfo.__dataclass_fields__, 0))
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
            tenant = spec.tenant_arg(*args, **kwargs) if callable(spec.tenant_arg) else None
            by_name = spec.tenant_arg if isinstance(spec.tenant_arg, str) else None
            # Bound once: the tenant argument and the key digest read the same binding.
            arguments = (
                bind_arguments(spec.signature, args, kwargs)
                if (by_name or spec.key is None)
                else {}
            )
            if by_name is not None:
                tenant = arguments[by_name]
            if spec.key is not None:
                digest = key_digest(spec.key(*args, **kwargs))
            else:
                kept = {n: v for n, v in arguments.items() if n not in spec.ignore}
                digest = arguments_digest(kept)
        except UnkeyableArgumentError as exc:
            if spec.on_unkeyable == "bypass":
                return None
            raise UnkeyableArgumentError(f"tool {spec.name!r}: {exc}") from None
        tag = self.scope_tag(tenant)
        name = _keys.encode_id(spec.name)
        return ToolKeys(
            value=":".join((self.prefix, _keys.TOOLS, tag, name, digest)),
            lock=":".join((self.prefix, _keys.LOCKS, tag, _keys.TOOLS, name, digest)),
            tenant=NO_TENANT if tenant is None else tenant,
        )

    def tool_pattern(self, name: str) -> str:
        # Encoded ids hold no glob characters and no ':' or '}', so the
        # '*' can only span the tenant part.
        return f"{self.prefix}:{_keys.TOOLS}:{{*}}:{_keys.encode_id(name)}:*"

    def tenant_pattern(self, tenant: str) -> str:
        return _keys.tenant_pattern(self.prefix, _keys.TOOLS, _keys.validate_id(tenant, "tenant"))

    # -- values ---------------------------------------------------------------

    def encode(self, spec: ToolSpec, value: object) -> bytes | None:
        """The stored form of a result; None (logged) if it cannot be stored.

        The tool has already run: its result goes back to the caller uncached
        rather than being lost to a serialisation error.
        """
        try:
            return dumps(value, spec.result_type)
        except SerializationError as exc:
            _logger.warning("tool %r: result not cached: %s", spec.name, exc)
            return None

    def decode(self, spec: ToolSpec, raw: bytes) -> Any:
        """The stored value, or ``_MISSING`` if it is unreadable (then overwritten)."""
        try:
            return loads(raw, spec.result_type)
        except SerializationError:
            return _MISSING

    # -- the wait loop, as decisions --------------------------------------------

    def start(self) -> Attempt:
        return Attempt(deadline=time.monotonic() + self.settings.tools.wait_timeout_seconds)

    def lock_ms(self) -> int:
        return max(1, round(self.settings.tools.lock_timeout_seconds * 1000))

    def next_action(self, spec: ToolSpec, attempt: Attempt, reply: Any) -> Action:
        """What to do after the acquire script answered ``reply`` (None: Redis fault)."""
        if reply is None:
            self.count(spec.name, "misses")
            return Run(locked=False)
        status = int(reply[0])
        if status == _HIT:
            value = self.decode(spec, reply[1])
            if value is not _MISSING:
                self.count(spec.name, "hits", "waits" if attempt.waited else None)
                return Hit(value)
            self.count(spec.name, "misses")
            return Run(locked=False)
        if status == _TAKEN:
            self.count(spec.name, "misses")
            return Run(locked=True)
        remaining = attempt.deadline - time.monotonic()
        if remaining <= 0:
            self.count(spec.name, "misses", "wait_timeouts")
            return Run(locked=False)
        seconds = min(attempt.delay, remaining)
        attempt.delay = min(attempt.delay * 2, _MAX_DELAY)
        attempt.waited = True
        return Sleep(seconds)

    # -- counters ---------------------------------------------------------------

    def count(self, name: str, *fields: str | None) -> None:
        with self._lock:
            counts = self._counts[name]
            for name_ in fields:
                if name_ is not None:
                    counts[name_] += 1
        # Hits and misses also go to the shared metrics, in the scope tools.py
        # bound for this call (its tenant, the tool name as the agent).
        for event in (HITS, MISSES):
            if event in fields:
                self.metrics.count(LAYER, event, *current_scope())

    def stored(self, reply: object) -> None:
        """Count a store whose script ran (``reply`` None: Redis faulted, nothing stored)."""
        if reply is not None:
            self.metrics.count(LAYER, STORES, *current_scope())

    def info(self, name: str) -> ToolCacheInfo:
        with self._lock:
            return ToolCacheInfo(**self._counts[name])

    def all_info(self) -> dict[str, ToolCacheInfo]:
        with self._lock:
            return {name: ToolCacheInfo(**counts) for name, counts in self._counts.items()}

    def reset_counts(self, name: str) -> None:
        with self._lock:
            self._counts[name] = dict.fromkeys(ToolCacheInfo.__dataclass_fields__, 0)


def delete_batches(keys: list[bytes]) -> list[list[bytes]]:
    """Keys grouped by cluster slot, so each UNLINK is valid on a cluster too."""
    return [[keys[i] for i in group] for group in _keys.slot_groups(keys).values()]
