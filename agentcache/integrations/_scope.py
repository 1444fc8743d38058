"""Per-request tenant/agent scope and cache controls shared by the integrations.

A framework calls the cache from deep inside its own machinery, where no
``tenant=`` argument can be passed. So one cache object serves a multi-tenant
app through context variables set around each request::

    with tenant_scope("acme", agent="support"):
        chain.invoke(...)            # cached under tenant "acme", agent "support"

    with cache_controls(max_age=600, mode="lookup_only"):
        chain.invoke(...)            # serve only entries younger than 10 min, store nothing

Context variables follow asyncio: a task copies the context it was created in,
so a scope set before ``asyncio.gather``/``create_task`` reaches every task,
and a scope set inside one task never leaks into another. Both managers reset
the variable on exit, also when the block raises.

Resolution order everywhere: the value given to the integration's constructor,
else the innermost scope, else (tenant only) a clear ``InvalidInputError``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, fields, replace
from typing import Literal, get_args

from agentcache._limits import check_ttl
from agentcache._redis import keys as _keys
from agentcache.exceptions import InvalidInputError

ControlMode = Literal["use", "lookup_only", "store_only", "bypass"]
_MODES: tuple[str, ...] = get_args(ControlMode)

_SCOPE: ContextVar[tuple[str, str | None] | None] = ContextVar(
    "agentcache_tenant_scope", default=None
)


@contextmanager
def tenant_scope(tenant: str, agent: str | None = None) -> Iterator[None]:
    """Cache every integration call inside the block under ``tenant`` (and ``agent``).

    The ids are checked on entry (non-empty strings, bounded length), so a bad
    one fails here rather than deep inside a framework call.
    """
    tenant_id = _keys.validate_id(tenant, "tenant")
    agent_id = None if agent is None else _keys.validate_id(agent, "agent")
    token = _SCOPE.set((tenant_id, agent_id))
    try:
        yield
    finally:
        _SCOPE.reset(token)


def current_scope() -> tuple[str, str | None] | None:
    """The innermost ``tenant_scope`` (tenant, agent), or None outside any."""
    return _SCOPE.get()


def resolve_scope(
    tenant: str | None, agent: str | None, *, default_agent: str, integration: str
) -> tuple[str, str]:
    """(tenant, agent) for one call: constructor values, else the scope, else an error.

    ``tenant``/``agent`` are what the integration was built with (None: not
    fixed). An agent given to neither falls back to ``default_agent``.
    ``integration`` names the caller in the error message.
    """
    scoped = _SCOPE.get()
    if tenant is None:
        if scoped is None:
            raise InvalidInputError(
                f"{integration}: no tenant: pass tenant= to its constructor or wrap the call "
                'in `with agentcache.integrations.tenant_scope("<tenant>"):`'
            )
        tenant = scoped[0]
    if agent is None:
        agent = scoped[1] if scoped is not None and scoped[1] is not None else default_agent
    return _keys.validate_id(tenant, "tenant"), _keys.validate_id(agent, "agent")


@dataclass(frozen=True)
class CacheControls:
    """What one cached call may do. ``None`` fields: not set here (inherit).

    - ``mode``: ``"use"`` (look up, store a miss), ``"lookup_only"`` (serve hits,
      never store), ``"store_only"`` (never serve, store the fresh answer: a
      refresh), ``"bypass"`` (neither).
    - ``ttl``: whole seconds the stored entry lives (default: the settings').
    - ``max_age``: serve only entries stored less than this many seconds ago.
    - ``threshold``: minimum cosine similarity for a semantic hit on this call.
    """

    mode: ControlMode | None = None
    ttl: int | None = None
    max_age: float | None = None
    threshold: float | None = None

    def __post_init__(self) -> None:
        if self.mode is not None and self.mode not in _MODES:
            raise InvalidInputError(f"mode must be one of {', '.join(_MODES)}, got {self.mode!r}")
        if self.ttl is not None:
            check_ttl(self.ttl, "ttl", whole=True)
        max_age = self.max_age
        if max_age is not None and (
            isinstance(max_age, bool)  # True would pass as 1 second
            or not isinstance(max_age, int | float)
            or not math.isfinite(max_age)
            or max_age <= 0
        ):
            raise InvalidInputError(
                f"max_age is a number of seconds, finite and > 0, got {max_age!r}"
            )
        threshold = self.threshold
        if threshold is not None and (
            isinstance(threshold, bool)
            or not isinstance(threshold, int | float)
            or not math.isfinite(threshold)
            or not 0.0 <= float(threshold) <= 1.0
        ):
            raise InvalidInputError(
                f"threshold is a minimum cosine similarity in [0, 1], got {threshold!r}"
            )

    def over(self, base: CacheControls) -> CacheControls:
        """These controls with ``base``'s value wherever this one is None."""
        given = {f.name: getattr(self, f.name) for f in fields(self)}
        return replace(base, **{k: v for k, v in given.items() if v is not None})

    @property
    def lookup(self) -> bool:
        """Whether a hit may be served."""
        return (self.mode or "use") in ("use", "lookup_only")

    @property
    def store(self) -> bool:
        """Whether a fresh answer may be stored."""
        return (self.mode or "use") in ("use", "store_only")


_NO_CONTROLS = CacheControls()
_CONTROLS: ContextVar[CacheControls] = ContextVar("agentcache_cache_controls", default=_NO_CONTROLS)


@contextmanager
def cache_controls(
    *,
    mode: ControlMode | None = None,
    ttl: int | None = None,
    max_age: float | None = None,
    threshold: float | None = None,
) -> Iterator[CacheControls]:
    """Per-request cache controls for every integration call inside the block.

    Values are checked on entry. Scopes nest: an inner block overrides only
    what it sets. They also override what the integration was built with.
    """
    controls = CacheControls(mode=mode, ttl=ttl, max_age=max_age, threshold=threshold)
    merged = controls.over(_CONTROLS.get())
    token = _CONTROLS.set(merged)
    try:
        yield merged
    finally:
        _CONTROLS.reset(token)


def current_controls() -> CacheControls:
    """The controls set by the enclosing ``cache_controls`` blocks (all None outside)."""
    return _CONTROLS.get()


def resolve_controls(defaults: CacheControls | None = None) -> CacheControls:
    """The controls of one call: the scope's values over the constructor ``defaults``."""
    return _CONTROLS.get().over(defaults or _NO_CONTROLS)
