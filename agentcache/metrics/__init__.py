"""Counters and latency histograms per layer, tenant and agent, and their exporters."""

from __future__ import annotations

from agentcache.metrics._counters import (
    Metrics,
    MetricsSnapshot,
    OpenTelemetrySink,
    PrometheusCollector,
    read_counters,
    serve_prometheus,
)

__all__ = [
    "Metrics",
    "MetricsSnapshot",
    "OpenTelemetrySink",
    "PrometheusCollector",
    "read_counters",
    "serve_prometheus",
]
