"""Exporters of the in-process metrics: Prometheus and OpenTelemetry.

They read ``MetricsSource``s (a ``Metrics`` is one) and receive reports as a
``MetricsSink``: both are protocols in ``_types``, so this module imports no
other metrics module but ``_types`` and ``_state`` (``Metrics`` imports it).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import Any

from agentcache.exceptions import ConfigurationError
from agentcache.metrics._state import live_sources
from agentcache.metrics._types import (
    EVENTS,
    GAUGES,
    LATENCY_BUCKETS,
    SAVINGS,
    Histogram,
    MetricsSource,
    Series,
)

__all__ = ["OpenTelemetrySink", "PrometheusCollector", "serve_prometheus"]


class PrometheusCollector:
    """A ``prometheus_client`` collector over the in-process counters of ``metrics``.

    ``tenant_label``/``agent_label`` False fold those labels away, for
    deployments with too many tenants or agents for one time series each.
    Dollars saved are exported as gauges (net of prompt-cache write costs, so
    they can dip); everything else is a counter.
    """

    def __init__(
        self,
        metrics: Iterable[MetricsSource] | MetricsSource,
        *,
        tenant_label: bool = True,
        agent_label: bool = True,
    ) -> None:
        self._metrics = metrics
        self.tenant_label = tenant_label
        self.agent_label = agent_label

    def _sources(self) -> list[MetricsSource]:
        if isinstance(self._metrics, MetricsSource):
            return [self._metrics]
        return list(self._metrics)

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
                hists.setdefault(key, Histogram()).merge(hist)
        label_names = ["layer", "tenant", "agent"]
        for name in (*EVENTS, *SAVINGS):
            kind = GaugeMetricFamily if name in GAUGES else CounterMetricFamily
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
    def _sources(self) -> list[MetricsSource]:
        return live_sources()


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
                self._meter.create_up_down_counter if name in GAUGES else self._meter.create_counter
            )
            counter = self._counters[name] = create(f"agentcache.{name}")
        counter.add(value, {"layer": series.layer, "tenant": series.tenant, "agent": series.agent})

    def observe(self, series: Series, operation: str, seconds: float) -> None:
        attrs = {"layer": series.layer, "tenant": series.tenant, "agent": series.agent}
        self._latency.record(seconds, {**attrs, "operation": operation})
