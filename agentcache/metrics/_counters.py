"""Counters and latency histograms per layer, tenant and agent: the ``Metrics`` facade.

Every cache layer reports to a ``Metrics`` object: ``count`` (hits, misses,
errors, stores, evictions, shadow hits), ``observe`` (Redis round-trip
latency) and ``saved`` (tokens and dollars a hit saved). Each report lands in
three places, none of which adds a round trip to the call that made it:

* in-process totals (``snapshot()``), which the Prometheus collector reads;
* Redis-side counters (``_flush.RedisCounters``), flushed in the background
  into hashes ``agentcache stats`` reads;
* optional sinks, e.g. ``OpenTelemetrySink`` (only if opentelemetry is installed).

The metrics modules form a line, each importing only those before it:
``_types`` (names, series, histograms, protocols) -> ``_state`` (bound scope,
live objects) -> ``_scripts`` -> ``_flush`` (Redis) -> ``_export``
(Prometheus, OpenTelemetry) -> ``_counters`` (this facade).

Example::

    metrics = Metrics.from_settings(settings)
    cache = SemanticCache(settings, metrics=metrics)
    serve_prometheus(9464)      # /metrics for every live Metrics object
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import redis
import redis.asyncio as aredis

from agentcache._redis.clients import SyncClient, sync_client
from agentcache.exceptions import ConfigurationError
from agentcache.metrics._export import OpenTelemetrySink, serve_prometheus
from agentcache.metrics._flush import RedisCounters, latency_fields
from agentcache.metrics._state import bind_scope, current_scope, scoped, track

# The layers import the event names and the scope helpers from here, beside
# ``Metrics`` (their home is ``_types``/``_state``).
from agentcache.metrics._types import (
    ERRORS,
    EVICTIONS,
    EXACT_HITS,
    EXPLORES,
    GUARD_VETOES,
    HITS,
    MISSES,
    NO_TENANT,
    PROVIDER_CALLS,
    SHADOW_HITS,
    SHADOW_TOKENS_SAVED,
    SHADOW_USD_SAVED,
    STORES,
    TOKENS_SAVED,
    USD_SAVED,
    Histogram,
    MetricsSink,
    MetricsSnapshot,
    Series,
)
from agentcache.settings import AgentCacheSettings

__all__ = [
    "ERRORS",
    "EVICTIONS",
    "EXACT_HITS",
    "EXPLORES",
    "GUARD_VETOES",
    "HITS",
    "MISSES",
    "NO_TENANT",
    "PROVIDER_CALLS",
    "SHADOW_HITS",
    "STORES",
    "Metrics",
    "bind_scope",
    "current_scope",
    "scoped",
]


class Metrics:
    """What the cache layers report to; see the module docstring.

    Args:
        counters: Redis-side counters to keep (None: in-process only).
        sinks: extra receivers of every report.
        enabled: False makes every report a no-op.
    """

    def __init__(
        self,
        *,
        counters: RedisCounters | None = None,
        sinks: Sequence[MetricsSink] = (),
        enabled: bool = True,
    ) -> None:
        self.redis = counters
        self.sinks = tuple(sinks)
        self.enabled = enabled
        self._lock = threading.Lock()
        self._counters: dict[Series, dict[str, float]] = {}
        self._latency: dict[tuple[Series, str], Histogram] = {}
        track(self)  # served by serve_prometheus while it lives

    @classmethod
    def from_settings(cls, settings: AgentCacheSettings, *, client: Any = None) -> Metrics:
        """Metrics as configured in ``settings.metrics``, counting into the cache's Redis.

        ``client`` is the layer's own client, used when the settings name no URL.
        """
        cfg = settings.metrics
        if not cfg.enabled:
            return cls(enabled=False)
        factory, owns = _counter_client(settings, client)
        counters = RedisCounters(
            factory,
            settings.redis.key_prefix,
            interval=cfg.flush_interval_seconds,
            owns_client=owns,
            reliability=settings.reliability,
        )
        sinks: list[MetricsSink] = []
        otel = OpenTelemetrySink.if_installed()
        if otel is not None:
            sinks.append(otel)
        metrics = cls(counters=counters, sinks=sinks)
        if cfg.prometheus_port is not None:
            serve_prometheus(cfg.prometheus_port)
        return metrics

    # -- reports --------------------------------------------------------------
    def count(self, layer: str, event: str, tenant: str, agent: str, n: int = 1) -> None:
        """Add ``n`` to counter ``event`` of ``layer`` for ``tenant``/``agent``."""
        self._add(Series(layer, tenant, agent), {event: n})

    def saved(
        self, layer: str, tenant: str, agent: str, *, tokens: int, usd: float, shadow: bool = False
    ) -> None:
        """Record the tokens and dollars a hit saved (or would have, in shadow mode)."""
        names = (SHADOW_TOKENS_SAVED, SHADOW_USD_SAVED) if shadow else (TOKENS_SAVED, USD_SAVED)
        self._add(Series(layer, tenant, agent), {names[0]: int(tokens), names[1]: float(usd)})

    def observe(
        self,
        layer: str,
        operation: str,
        seconds: float,
        tenant: str | None = None,
        agent: str | None = None,
    ) -> None:
        """Record the latency of one ``operation`` (defaults to the bound scope)."""
        if not self.enabled:
            return
        if tenant is None:
            tenant, agent = current_scope()
        series = Series(layer, tenant, agent or "")
        with self._lock:
            hist = self._latency.get((series, operation))
            if hist is None:
                hist = self._latency[(series, operation)] = Histogram()
            hist.observe(seconds)
        if self.redis is not None:
            self.redis.add(series, latency_fields(operation, seconds))
        for sink in self.sinks:
            sink.observe(series, operation, seconds)

    def _add(self, series: Series, fields: Mapping[str, float]) -> None:
        if not self.enabled:
            return
        with self._lock:
            row = self._counters.get(series)
            if row is None:
                row = self._counters[series] = {}
            for name, value in fields.items():
                row[name] = row.get(name, 0) + value
        # A per-tenant ACL user may be refused NO_TENANT's key: that delta is
        # dropped at flush without holding back the others (docs/operations.md).
        if self.redis is not None:
            self.redis.add(series, fields)
        for sink in self.sinks:
            for name, value in fields.items():
                sink.add(series, name, value)

    # -- reading and lifecycle ------------------------------------------------
    def snapshot(self) -> MetricsSnapshot:
        with self._lock:
            counters = {series: dict(row) for series, row in self._counters.items()}
            latency = {
                key: Histogram(list(h.counts), h.total, h.sum) for key, h in self._latency.items()
            }
        return MetricsSnapshot(counters, latency)

    def flush(self) -> bool:
        """Write pending Redis-side counters now (True if nothing is left pending)."""
        return self.redis.flush() if self.redis is not None else True

    def close(self) -> None:
        if self.redis is not None:
            self.redis.close()

    async def aclose(self) -> None:
        """``close`` from async code: its final flush is a sync call, run in a thread."""
        await asyncio.to_thread(self.close)


def _counter_client(
    settings: AgentCacheSettings, client: Any
) -> tuple[Callable[[], SyncClient], bool]:
    """Where counters go: the configured Redis, else the layer's own server."""
    if settings.redis.url or settings.redis.cluster_nodes or client is None:
        return (lambda: sync_client(settings)), True
    if isinstance(client, redis.Redis | redis.RedisCluster):
        return (lambda: client), False
    if isinstance(client, aredis.Redis):
        # The flusher is a thread and cannot share an event loop's client:
        # open a sync twin on the same server.
        kw = client.connection_pool.connection_kwargs
        keep: tuple[str, ...] = ("host", "port", "db", "username", "password", "path")
        keep += ("socket_timeout", "socket_connect_timeout")
        twin = {k: kw[k] for k in keep if k in kw}
        if "path" in twin:
            twin["unix_socket_path"] = twin.pop("path")
        return (lambda: redis.Redis(**twin)), True
    raise ConfigurationError(
        f"cannot derive a metrics client from {type(client).__name__}; set "
        "AGENTCACHE_REDIS__URL or pass metrics=Metrics(...) explicitly"
    )
