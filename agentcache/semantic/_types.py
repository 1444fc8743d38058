"""What the semantic cache returns: hits, explained lookups, counters, scopes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CacheHit:
    """A cached response served for a prompt.

    ``similarity`` is the cosine similarity (1 - cosine distance) between the
    prompt and the cached prompt; 1.0 for an exact repeat (``exact=True``).
    ``hit_count`` is the entry's hit count after this hit when served; on a
    candidate that was not served (shadow mode, explore, declined) it is 0, not read,
    and a declined candidate that is not to be verified has an empty ``response``.
    """

    response: str
    prompt: str
    similarity: float
    entry_id: str
    tenant: str
    agent: str
    model: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    exact: bool = False
    hit_count: int = 0


@dataclass(frozen=True)
class CheckResult:
    """One lookup, explained (``SemanticCache.lookup``); ``check`` returns only ``hit``.

    Attributes:
        hit: the response served, or None (a miss).
        reason: the policy's reason ("similarity+guards", "guard:numbers",
            "below_threshold", "no_candidates", "verified:err=..."), "exact" for an
            exact repeat, "unavailable" when Redis or the embedder failed, "gone"
            when the chosen entry was deleted between the search and the read.
        candidate: the entry the decision is about: the hit, the would-be hit
            (shadow mode, explore) or the most similar declined entry. A declined
            entry that is not to be verified carries no payload (``response`` is
            empty): lookups read the payload of the entry they serve or verify only.
        accepted: the policy accepted ``candidate`` (served, or would have been).
        shadow: shadow mode served a miss in its place.
        explore: verify ``candidate`` against the model: the caller asks the model
            anyway (this is a miss), compares, and sends ``feedback``. Set on a
            would-be hit with probability ``explore_rate`` (the hit is withheld),
            and, when the policy learns, on a near miss within ``LOOSE_BAND``.
    """

    hit: CacheHit | None
    reason: str
    candidate: CacheHit | None = None
    accepted: bool = False
    shadow: bool = False
    explore: bool = False


@dataclass
class CacheStats:
    """In-process counters of one cache object."""

    hits: int = 0
    exact_hits: int = 0
    misses: int = 0
    stores: int = 0
    evictions: int = 0
    errors: int = 0
    shadow_hits: int = 0
    guard_vetoes: int = 0  # lookups declined because a guard vetoed every near candidate
    explores: int = 0
    declined: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Scope:
    """A validated lookup scope: who asks, and about which model."""

    tenant: str
    agent: str
    model: str | None

    @property
    def model_key(self) -> str:
        return self.model or ""
