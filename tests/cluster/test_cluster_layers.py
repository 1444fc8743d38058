"""Tool cache, embedding cache and metrics on a real 3-primary OSS Redis Cluster."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import pytest
from redis.cluster import RedisCluster
from redis.crc import key_slot

from agentcache._redis.clients import sync_client
from agentcache.embeddings import AsyncEmbeddingCache, EmbeddingCache
from agentcache.metrics import Metrics, read_counters
from agentcache.semantic import SemanticCache
from agentcache.settings import AgentCacheSettings
from agentcache.testing.cluster import ClusterNodeProcess, LocalCluster
from agentcache.testing.vectors import HashingVectorizer
from agentcache.tools import ToolCache, cached_tool

DIMS = 32


@pytest.fixture
def tools(cluster_settings: AgentCacheSettings) -> Iterator[ToolCache]:
    cache = ToolCache(cluster_settings)
    yield cache
    cache.close()


def test_tool_cache_single_flight_per_tenant_across_nodes(
    tools: ToolCache, tenant_owner: Callable[[str], ClusterNodeProcess]
) -> None:
    tenants = [f"org-{i}" for i in range(6)]
    assert len({tenant_owner(t).port for t in tenants}) >= 2
    runs: dict[str, int] = {}
    lock = threading.Lock()

    @cached_tool(tools, tenant_arg="tenant")
    def lookup(tenant: str, q: str) -> str:
        with lock:
            runs[tenant] = runs.get(tenant, 0) + 1
        time.sleep(0.2)
        return f"{tenant}:{q}"

    barrier = threading.Barrier(len(tenants) * 4)
    results: list[str] = []

    def worker(tenant: str) -> None:
        barrier.wait()
        results.append(lookup(tenant, "x"))

    threads = [threading.Thread(target=worker, args=(t,)) for t in tenants for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert runs == {t: 1 for t in tenants}  # one run per tenant, whatever its node
    assert sorted(results) == sorted(f"{t}:x" for t in tenants for _ in range(4))
    assert lookup("org-0", "x") == "org-0:x" and runs["org-0"] == 1
    assert tools.invalidate_tenant("org-1") >= 1  # SCAN over every primary
    assert lookup("org-1", "x") == "org-1:x" and runs["org-1"] == 2
    assert lookup("org-2", "x") == "org-2:x" and runs["org-2"] == 1


def test_embedding_batch_spans_slots_and_nodes(
    cluster_settings: AgentCacheSettings, cluster_client: RedisCluster
) -> None:
    cache = EmbeddingCache(cluster_settings)
    texts = [f"text number {i}" for i in range(40)] + ["text number 3"]
    keys = [cache.key(t) for t in texts]
    nodes = {cluster_client.get_node_from_key(k).name for k in keys}
    assert len({key_slot(k.encode()) for k in keys}) > 30 and len(nodes) == 3
    vectorizer = HashingVectorizer(dims=DIMS)
    calls: list[int] = []

    def compute(batch: Sequence[str]) -> list[np.ndarray]:
        calls.append(len(batch))
        return [np.asarray(vectorizer.embed(t)) for t in batch]

    first = cache.get_or_compute_many(texts, compute)
    assert calls == [40]  # the unique misses, once
    again = cache.get_or_compute_many(texts, compute)
    assert calls == [40]  # every vector read back across slots
    assert all(np.allclose(a, b) for a, b in zip(first, again, strict=True))
    assert np.allclose(again[3], again[-1])
    assert cache.get_many(["text number 5", "never seen"])[1] is None


def test_metrics_counters_flush_into_tenant_slots(cluster_settings: AgentCacheSettings) -> None:
    client = sync_client(cluster_settings)
    assert isinstance(client, RedisCluster)
    metrics = Metrics.from_settings(cluster_settings, client=client)
    cache = SemanticCache(
        cluster_settings, client=client, vectorizer=HashingVectorizer(dims=DIMS), metrics=metrics
    )
    try:
        for i in range(6):
            cache.store("q", "a", tenant=f"m{i}", agent="bot")
            assert cache.check("q", tenant=f"m{i}", agent="bot") is not None
            assert cache.check("other", tenant=f"m{i}", agent="bot", threshold=1.0) is None
        assert metrics.flush()
        counters = read_counters(client, cluster_settings.redis.key_prefix)
        per_tenant = {series.tenant: fields for series, fields in counters.items()}
        for i in range(6):
            assert per_tenant[f"m{i}"]["hits"] == 1 and per_tenant[f"m{i}"]["misses"] == 1
    finally:
        cache.drop()
        metrics.close()
        client.close()


def test_cluster_settings_build_cluster_clients(
    cluster: LocalCluster, cluster_settings: AgentCacheSettings
) -> None:
    by_url = cluster_settings.model_copy(
        update={
            "redis": cluster_settings.redis.model_copy(
                update={"cluster_nodes": [], "url": cluster.url, "cluster": True}
            )
        }
    )
    client = sync_client(by_url)
    try:
        assert isinstance(client, RedisCluster)
        assert len(client.get_primaries()) == 3
    finally:
        client.close()


async def test_async_embedding_batch_spans_slots(cluster_settings: AgentCacheSettings) -> None:
    cache = AsyncEmbeddingCache(cluster_settings)
    vectorizer = HashingVectorizer(dims=DIMS)
    texts = [f"async text {i}" for i in range(30)]
    calls: list[int] = []

    def compute(batch: Sequence[str]) -> list[np.ndarray]:
        calls.append(len(batch))
        return [np.asarray(vectorizer.embed(t)) for t in batch]

    try:
        first = await cache.get_or_compute_many(texts, compute)
        again = await cache.get_or_compute_many(texts, compute)
        assert calls == [30]
        assert all(np.allclose(a, b) for a, b in zip(first, again, strict=True))
    finally:
        await cache.aclose()
