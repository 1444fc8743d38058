"""What the tool cache returns and how a tool is described: plain dataclasses."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

OnUnkeyable = Literal["raise", "bypass"]
TenantArg = str | Callable[..., str | None] | None


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
    tenant: str | None = None  # None: a shared call, outside any tenant
