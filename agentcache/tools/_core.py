"""The pure core of the tool result cache: keys, TTLs, encoding, tallies, wait decisions.

No Redis client, no metrics, no fault guard: the shells (``_async.py`` and
the generated ``_sync.py``) do the I/O, guard it and report the events the
core's decisions carry, so the two twins cannot drift apart.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentcache._limits import check_ttl
from agentcache._redis import keys as _keys
from agentcache.exceptions import ConfigurationError, SerializationError, UnkeyableArgumentError
from agentcache.settings import AgentCacheSettings
from agentcache.tools._hashing import arguments_digest, bind_arguments, key_digest
from agentcache.tools._scripts import HIT, TAKEN
from agentcache.tools._serialize import dumps, loads
from agentcache.tools._types import OnUnkeyable, TenantArg, ToolCacheInfo, ToolKeys, ToolSpec

_logger = logging.getLogger("agentcache.tools")
GLOBAL_SCOPE_TAG = _keys.SHARED_TAG
_FIRST_DELAY, _MAX_DELAY = 0.005, 0.1
SCAN_COUNT = 500
# Tally fields (ToolCacheInfo's); HITS and MISSES are also the metrics events.
HITS, MISSES, WAITS = "hits", "misses", "waits"
BYPASSED, WAIT_TIMEOUTS = "bypassed", "wait_timeouts"


@dataclass
class Attempt:
    """The state of one call's wait for a value or the lock."""

    deadline: float
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    delay: float = _FIRST_DELAY
    waited: bool = False


@dataclass(frozen=True)
class Hit:
    """Serve ``value``, found in the cache; ``events`` are what to count."""

    value: Any
    events: tuple[str, ...] = (HITS,)


@dataclass(frozen=True)
class Run:
    """Run the tool; ``locked`` when this caller holds the lock (release it after)."""

    locked: bool
    events: tuple[str, ...] = (MISSES,)


@dataclass(frozen=True)
class Sleep:
    """Another caller is running the tool: wait ``seconds``, then look again."""

    seconds: float
    events: tuple[str, ...] = ()


Action = Hit | Run | Sleep
_MISSING = object()


class ToolCacheCore:
    """Keys, TTLs, encoding, per-tool tallies and the wait decisions: everything but I/O."""

    def __init__(
        self, settings: AgentCacheSettings, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self.prefix = settings.redis.key_prefix
        self._clock = clock
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
        if tenant is not None:
            tenant = _keys.validate_id(tenant, "tenant")
        name = _keys.encode_id(spec.name)
        return ToolKeys(
            value=self._scoped_key(_keys.TOOLS, tenant, name, digest),
            lock=self._scoped_key(_keys.LOCKS, tenant, _keys.TOOLS, name, digest),
            tenant=tenant,
        )

    def _scoped_key(self, layer: str, tenant: str | None, *rest: str) -> str:
        """``prefix:layer:{tenant}:rest...``; shared calls take the ``{~global}`` tag."""
        if tenant is None:
            return ":".join((self.prefix, layer, GLOBAL_SCOPE_TAG, *rest))
        return _keys.tenant_key(self.prefix, layer, tenant, *rest)

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
        return Attempt(deadline=self._clock() + self.settings.tools.wait_timeout_seconds)

    def lock_ms(self) -> int:
        return max(1, round(self.settings.tools.lock_timeout_seconds * 1000))

    def next_action(self, spec: ToolSpec, attempt: Attempt, reply: Any) -> Action:
        """What to do after the acquire script answered ``reply`` (None: Redis fault)."""
        if reply is None:
            return Run(locked=False)
        status = int(reply[0])
        if status == HIT:
            value = self.decode(spec, reply[1])
            if value is not _MISSING:
                return Hit(value, (HITS, WAITS) if attempt.waited else (HITS,))
            return Run(locked=False)
        if status == TAKEN:
            return Run(locked=True)
        remaining = attempt.deadline - self._clock()
        if remaining <= 0:
            return Run(locked=False, events=(MISSES, WAIT_TIMEOUTS))
        seconds = min(attempt.delay, remaining)
        attempt.delay = min(attempt.delay * 2, _MAX_DELAY)
        attempt.waited = True
        return Sleep(seconds)

    # -- per-tool tallies (the ToolCacheInfo of this process) ----------------------

    def tally(self, name: str, events: Sequence[str]) -> None:
        with self._lock:
            counts = self._counts[name]
            for event in events:
                counts[event] += 1

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
