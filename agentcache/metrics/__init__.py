"""Counters and latency histograms per layer, tenant and agent, and their exporters."""

from __future__ import annotations

from agentcache.metrics._counters import Metrics
from agentcache.metrics._export import OpenTelemetrySink, PrometheusCollector, serve_prometheus
from agentcache.metrics._flush import read_counters
from agentcache.metrics._types import MetricsSnapshot

__all__ = [
    "Metrics",
    "MetricsSnapshot",
    "OpenTelemetrySink",
    "PrometheusCollector",
    "read_counters",
    "serve_prometheus",
]
