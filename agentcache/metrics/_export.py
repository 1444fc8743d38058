"""Exporters of the in-process metrics: Prometheus and OpenTelemetry.

``agentcache.metrics`` re-exports everything here. This module names
``agentcache.metrics`` only for type checking and inside functions: the
metrics module imports this one at load time, so a top-level import back
would be a cycle.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from agentcache.exceptions import ConfigurationError

if TYPE_CHECKING:
    from agentcache.metrics._counters import Histogram, Metrics, Series

__all__ = ["OpenTelemetrySink", "PrometheusCollector", "serve_prometheus"]

# Net dollars saved can go down (a prompt-cache write costs more than the
# uncached prompt), which a Prometheus counter must never do: these are gauges.
_GAUGES = frozenset({"usd_saved", "shadow_usd_saved"})


class PrometheusCollector:
    """A ``prometheus_client`` collector over the in-process counters of ``metrics``.

    ``tenant_label``/``agent_label`` False fold those labels away, for
    deployments with too many tenants or agents for one time series each.
    Dollars saved are exported as gauges (net of prompt-cache write costs, so
    they can dip); everything else is a counter.
    """

    def __init__(
        self,
        metrics: Iterable[Metrics] | Metrics,
        *,
        tenant_label: bool = True,
        agent_label: bool = True,
    ) -> None:
        self._metrics = metrics
        self.tenant_label = tenant_label
        self.agent_label = agent_label

    def _sources(self) -> list[Metrics]:
        from agentcache.metrics._counters import Metrics

        return [self._metrics] if isinstance(self._metrics, Metrics) else list(self._metrics)

    def _labels(self, series: Series) -> tuple[str, ...]:
        return (
            series.layer,
            series.tenant if self.tenant_label else "",
            series.agent if self.agent_label else "",
        )

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        from agentcache.metrics._counters import EVENTS, LATENCY_BUCKETS, SAVINGS, Histogram

        counters: dict[tuple[str, tuple[str, ...]], float] = {}
        hists: dict[tuple[str, ...], Histogram] = {}
        for source in self._sources():
            snap = source.snapshot()
            for series, row in snap.counters.items():
                labels = self._labels(series)
                for name, value in row.items():
                    counters[(name, labels)] = counters.get((name, labels), 0) + value
            for (series, operation), hist in snap.latency.items():
                key = (*self._labels(series), operation)
                merged = hists.setdefault(key, Histogram())
                merged.counts = [a + b for a, b in zip(merged.counts, hist.counts, strict=True)]
                merged.total += hist.total
                merged.sum += hist.sum
        label_names = ["layer", "tenant", "agent"]
        for name in (*EVENTS, *SAVINGS):
            kind = GaugeMetricFamily if name in _GAUGES else CounterMetricFamily
            family = kind(
                f"agentcache_{name}", f"agentcache {name.replace('_', ' ')}", labels=label_names
            )
            for (metric, labels), value in sorted(counters.items()):
                if metric == name:
                    family.add_metric(list(labels), value)
            yield family
        latency = HistogramMetricFamily(
            "agentcache_redis_latency_seconds",
            "Redis round-trip latency of cache operations",
            labels=[*label_names, "operation"],
        )
        for labels, hist in sorted(hists.items()):
            cumulative, buckets = 0, []
            for bound, n in zip(LATENCY_BUCKETS, hist.counts, strict=True):
                cumulative += n
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
            latency.add_metric(list(labels), buckets, hist.sum)
        yield latency


class _LiveCollector(PrometheusCollector):
    def _sources(self) -> list[Metrics]:
        from agentcache.metrics._counters import live_metrics

        return live_metrics()


_served: dict[int, Any] = {}
_served_lock = threading.Lock()


def serve_prometheus(port: int, addr: str = "0.0.0.0") -> Any:
    """Serve ``/metrics`` for every live ``Metrics`` on ``port`` (once per port).

    Returns the ``CollectorRegistry`` used. Needs ``pip install 'agentcache[metrics]'``.
    """
    try:
        from prometheus_client import CollectorRegistry, start_http_server
    except ImportError:
        raise ConfigurationError(
            "AGENTCACHE_METRICS__PROMETHEUS_PORT is set but prometheus_client is not installed; "
            "pip install 'agentcache[metrics]'"
        ) from None
    with _served_lock:
        if port not in _served:
            registry = CollectorRegistry(auto_describe=False)
            registry.register(_LiveCollector(()))
            start_http_server(port, addr=addr, registry=registry)
            _served[port] = registry
        return _served[port]


class OpenTelemetrySink:
    """Forwards every report to OpenTelemetry instruments (``opentelemetry-api``).

    Net dollars saved go to up-down counters (they can dip); the rest to counters.
    """

    def __init__(self, meter_name: str = "agentcache") -> None:
        try:
            from opentelemetry import metrics as otel_metrics
        except ImportError:
            raise ConfigurationError(
                "OpenTelemetrySink needs opentelemetry-api: pip install opentelemetry-api"
            ) from None
        self._meter = otel_metrics.get_meter(meter_name)
        self._counters: dict[str, Any] = {}
        self._latency = self._meter.create_histogram(
            "agentcache.redis.latency", unit="s", description="Redis round-trip latency"
        )

    @classmethod
    def if_installed(cls) -> OpenTelemetrySink | None:
        try:
            return cls()
        except ConfigurationError:
            return None

    def add(self, series: Series, name: str, value: float) -> None:
        counter = self._counters.get(name)
        if counter is None:
            create = (
                self._meter.create_up_down_counter
                if name in _GAUGES
                else self._meter.create_counter
            )
            counter = self._counters[name] = create(f"agentcache.{name}")
        counter.add(value, {"layer": series.layer, "tenant": series.tenant, "agent": series.agent})

    def observe(self, series: Series, operation: str, seconds: float) -> None:
        attrs = {"layer": series.layer, "tenant": series.tenant, "agent": series.agent}
        self._latency.record(seconds, {**attrs, "operation": operation})
