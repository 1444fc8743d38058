"""Per-request cache controls of the cached clients, validated before anything is sent.

Every cached ``create`` takes them as keyword-only arguments next to
``tenant=`` and ``agent=``; they are removed before the SDK sees the call:

* ``cache``: ``"use"`` (default: look up, store a miss), ``"bypass"`` (neither),
  ``"lookup_only"`` (look up, never store), ``"store_only"`` (skip the lookup,
  store the fresh answer; ``"refresh"`` is the same mode under its older name);
* ``cache_ttl``: whole seconds the stored entry lives (default: ``semantic.ttl_seconds``);
* ``cache_max_age``: serve only entries stored less than this many seconds ago;
* ``cache_threshold``: the minimum cosine similarity for a hit on this call
  (default: ``semantic.threshold``);
* ``cache_streaming``: store and replay this streamed call (default: ``llm.cache_streaming``).

What happened is in ``cache_info(response)``: the one place for hit metadata.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, cast

from agentcache._limits import check_ttl
from agentcache.exceptions import InvalidInputError

CacheMode = Literal["use", "bypass", "refresh", "lookup_only", "store_only"]
MODES: tuple[str, ...] = ("use", "bypass", "refresh", "lookup_only", "store_only")
_LOOKUP_MODES = frozenset({"use", "lookup_only"})
_STORE_MODES = frozenset({"use", "refresh", "store_only"})


@dataclass(frozen=True)
class Controls:
    """One call's cache controls (see the module docstring)."""

    mode: CacheMode = "use"
    streaming: bool | None = None
    ttl: int | None = None
    max_age: float | None = None
    threshold: float | None = None

    @property
    def looks_up(self) -> bool:
        return self.mode in _LOOKUP_MODES

    @property
    def stores(self) -> bool:
        return self.mode in _STORE_MODES

    def lookup_options(self) -> dict[str, Any]:
        """Keyword arguments for the cache's ``lookup``, only those set (so a cache
        implementing the bare protocol keeps working when they are not used)."""
        options: dict[str, Any] = {}
        if self.threshold is not None:
            options["threshold"] = self.threshold
        if self.max_age is not None:
            options["max_age"] = self.max_age
        return options


def controls(
    mode: object = "use",
    streaming: bool | None = None,
    ttl: object = None,
    max_age: object = None,
    threshold: object = None,
) -> Controls:
    """Validated ``Controls``; ``InvalidInputError`` names the bad argument."""
    if mode not in MODES:
        raise InvalidInputError(f"cache must be one of {', '.join(MODES)}, got {mode!r}")
    if ttl is not None:
        ttl = int(check_ttl(ttl, "cache_ttl", whole=True))
    if max_age is not None:
        max_age = check_ttl(max_age, "cache_max_age", whole=False)
    if threshold is not None:
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, int | float)
            or not 0.0 <= float(threshold) <= 1.0
        ):
            raise InvalidInputError(
                f"cache_threshold is a minimum cosine similarity in [0, 1], got {threshold!r}"
            )
        threshold = float(threshold)
    return Controls(
        mode=cast(CacheMode, mode),
        streaming=None if streaming is None else bool(streaming),
        ttl=ttl,
        max_age=max_age,
        threshold=threshold,
    )
