"""The metrics modules form a line: each imports only the ones before it (no circle).

The exporters once imported the counters inside functions while the counters
imported the exporters at load time; the order below is the architecture.
"""

from __future__ import annotations

import ast
from pathlib import Path

import agentcache.metrics
from agentcache.metrics._export import PrometheusCollector
from agentcache.metrics._types import HITS, Histogram, MetricsSnapshot, Series

ORDER = ["_types", "_state", "_scripts", "_flush", "_export", "_counters"]
ROOT = Path(agentcache.metrics.__file__).parent


def _metrics_imports(path: Path) -> set[str]:
    """The agentcache.metrics modules ``path`` imports, at any depth (functions too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith("agentcache.metrics."):
                found.add(node.module.rsplit(".", 1)[1])
            elif node.module == "agentcache.metrics":
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(
                a.name.rsplit(".", 1)[1]
                for a in node.names
                if a.name.startswith("agentcache.metrics.")
            )
    return found


def test_every_metrics_module_is_in_the_line() -> None:
    assert sorted(p.stem for p in ROOT.glob("_*.py") if p.stem != "__init__") == sorted(ORDER)


def test_each_module_imports_only_earlier_ones() -> None:
    for i, name in enumerate(ORDER):
        later = _metrics_imports(ROOT / f"{name}.py") - set(ORDER[:i])
        assert not later, f"metrics/{name}.py imports {sorted(later)}, which come after it"


def test_histogram_merge_adds_bucket_by_bucket() -> None:
    a, b = Histogram(), Histogram()
    for seconds in (0.0004, 0.003):
        a.observe(seconds)
    b.observe(0.003)
    a.merge(b)
    assert (a.total, round(a.sum, 6)) == (3, 0.0064)
    assert a.counts[0] == 1 and a.counts[3] == 2 and sum(a.counts) == 3


class _Source:
    """Not a ``Metrics``: the collector needs only ``snapshot()``."""

    def __init__(self, hits: float) -> None:
        self.hits = hits

    def snapshot(self) -> MetricsSnapshot:
        return MetricsSnapshot({Series("semantic", "acme", "a"): {HITS: self.hits}}, {})


def test_prometheus_collector_reads_any_source() -> None:
    def hits(collector: PrometheusCollector) -> float:
        family = next(f for f in collector.collect() if f.name == "agentcache_hits")
        return sum(sample.value for sample in family.samples)

    assert hits(PrometheusCollector(_Source(2))) == 2
    assert hits(PrometheusCollector([_Source(2), _Source(3)])) == 5
