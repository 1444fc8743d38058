"""Metrics flushes on a real OSS Redis Cluster: one script call per hash slot."""

from __future__ import annotations

from redis.cluster import RedisCluster

from agentcache.metrics._counters import Metrics
from agentcache.metrics._flush import RedisCounters, read_counters
from agentcache.metrics._types import HITS, STORES, Series


def test_a_flush_of_many_tenants_lands_in_each_tenants_slot(
    cluster_client: RedisCluster, key_prefix: str
) -> None:
    counters = RedisCounters(lambda: cluster_client, key_prefix, interval=3600, owns_client=False)
    metrics = Metrics(counters=counters)
    tenants = [f"tenant-{i}" for i in range(300)]
    for _ in range(2):  # the first flush loads the script on every primary
        for i, tenant in enumerate(tenants):
            metrics.count("semantic", STORES, tenant, "agent")
            metrics.count("semantic", HITS, tenant, "agent", i)
            metrics.saved("semantic", tenant, "agent", tokens=i, usd=0.5)
        assert metrics.flush()
    assert counters.dropped == 0
    stored = read_counters(cluster_client, key_prefix)
    assert len(stored) == len(tenants)
    for i, tenant in enumerate(tenants):
        row = stored[Series("semantic", tenant, "agent")]
        assert row == {STORES: 2.0, HITS: 2.0 * i, "tokens_saved": 2.0 * i, "usd_saved": 1.0}
