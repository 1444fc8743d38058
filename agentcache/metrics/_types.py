"""The vocabulary every metrics module shares: event names, series, histograms.

No I/O and no state: the counters, the Redis flusher and the exporters all
import this module, and it imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple, Protocol, runtime_checkable

from agentcache._redis import keys as _keys

__all__ = [
    "EVENTS",
    "LATENCY_BUCKETS",
    "NO_TENANT",
    "SAVINGS",
    "SHARED_TAG",
    "Histogram",
    "MetricsSink",
    "MetricsSnapshot",
    "MetricsSource",
    "Series",
]

# Event names (hash fields and metric names).
HITS, EXACT_HITS, SHADOW_HITS, MISSES = "hits", "exact_hits", "shadow_hits", "misses"
ERRORS, STORES, EVICTIONS = "errors", "stores", "evictions"
PROVIDER_CALLS = "provider_calls"  # LLM calls a cached client sent to the provider
TOKENS_SAVED, USD_SAVED = "tokens_saved", "usd_saved"
SHADOW_TOKENS_SAVED, SHADOW_USD_SAVED = "shadow_tokens_saved", "shadow_usd_saved"
GUARD_VETOES = "guard_vetoes"  # lookups a lexical guard turned into a miss
EXPLORES = "explores"  # would-be hits sent to the model to learn from (explore step)
EVENTS = (
    HITS, EXACT_HITS, SHADOW_HITS, MISSES, ERRORS, STORES, EVICTIONS, PROVIDER_CALLS,
    GUARD_VETOES, EXPLORES,
)  # fmt: skip
SAVINGS = (TOKENS_SAVED, USD_SAVED, SHADOW_TOKENS_SAVED, SHADOW_USD_SAVED)
# Net dollars saved can go down (a prompt-cache write costs more than the
# uncached prompt), which a Prometheus counter must never do: these are gauges.
GAUGES = frozenset({USD_SAVED, SHADOW_USD_SAVED})

# Upper bounds (seconds) of the latency buckets; the last one is +Inf.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, float("inf"),
)  # fmt: skip

# Reports outside any tenant: shared tool calls, the embedding cache (keyed by
# text, not tenant), faults at start-up. No real tenant id is empty, so this
# scope cannot collide with one. In Redis it is the tag SHARED_TAG (_keys), the
# one the tool cache stores shared results under.
NO_TENANT = ""
SHARED_TAG = _keys.SHARED_TAG


class Series(NamedTuple):
    """One counted stream: a layer of one agent of one tenant."""

    layer: str
    tenant: str
    agent: str


@dataclass
class Histogram:
    """Latency counts per bucket of ``LATENCY_BUCKETS`` (not cumulative)."""

    counts: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS))
    total: int = 0
    sum: float = 0.0

    def observe(self, seconds: float) -> None:
        for i, bound in enumerate(LATENCY_BUCKETS):
            if seconds <= bound:
                self.counts[i] += 1
                break
        self.total += 1
        self.sum += seconds

    def merge(self, other: Histogram) -> None:
        """Add ``other``'s counts to this one."""
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        self.total += other.total
        self.sum += other.sum

    def quantile(self, q: float) -> float:
        """Upper bound of the bucket holding quantile ``q`` (0 when empty)."""
        if self.total == 0:
            return 0.0
        rank, seen = q * self.total, 0
        for bound, n in zip(LATENCY_BUCKETS, self.counts, strict=True):
            seen += n
            if seen >= rank and n:
                return bound
        return LATENCY_BUCKETS[-1]


@dataclass
class MetricsSnapshot:
    """A copy of the in-process counters and histograms."""

    counters: dict[Series, dict[str, float]]
    latency: dict[tuple[Series, str], Histogram]

    def total(self, name: str, *, layer: str | None = None, tenant: str | None = None) -> float:
        """Sum of counter ``name`` over every series matching ``layer``/``tenant``."""
        return sum(
            fields.get(name, 0)
            for series, fields in self.counters.items()
            if (layer is None or series.layer == layer)
            and (tenant is None or series.tenant == tenant)
        )


class MetricsSink(Protocol):
    """Somewhere else to send every report (OpenTelemetry, a test double...)."""

    def add(self, series: Series, name: str, value: float) -> None: ...

    def observe(self, series: Series, operation: str, seconds: float) -> None: ...


@runtime_checkable
class MetricsSource(Protocol):
    """What an exporter reads: anything with a ``snapshot()`` (a ``Metrics``)."""

    def snapshot(self) -> MetricsSnapshot: ...
