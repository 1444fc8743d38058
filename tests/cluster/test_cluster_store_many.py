"""SemanticCache.store_many on a real 3-primary OSS Redis Cluster (sync and async)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from agentcache.semantic import AsyncSemanticCache, SemanticCache
from agentcache.settings import AgentCacheSettings
from agentcache.testing.cluster import ClusterNodeProcess
from agentcache.testing.vectors import HashingVectorizer

DIMS = 32


def _vectors(n: int, seed: int) -> np.ndarray:
    vecs = np.random.default_rng(seed).normal(size=(n, DIMS)).astype(np.float32)
    return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)


def test_store_many_spans_every_primary_and_evicts_per_tenant(
    cluster_settings: AgentCacheSettings, tenant_owner: Callable[[str], ClusterNodeProcess]
) -> None:
    tenants = [f"bulk-{i}" for i in range(9)]
    assert len({tenant_owner(t).port for t in tenants}) == 3
    cache = SemanticCache(cluster_settings, vectorizer=HashingVectorizer(dims=DIMS))
    try:
        for t, tenant in enumerate(tenants):
            vecs = _vectors(12, t)
            rows = [(f"{tenant} question {i}", f"{tenant} answer {i}") for i in range(12)]
            ids = cache.store_many(rows, tenant=tenant, agent="bot", vectors=list(vecs))
            assert len(set(ids)) == 12
            assert cache.count(tenant) == 12
            for i in (0, 11):
                hit = cache.check("x", tenant=tenant, agent="bot", vector=vecs[i])
                assert hit is not None and hit.response == f"{tenant} answer {i}"
        assert cache.count() == 9 * 12
        assert cache.stats.stores == 9 * 12
        # Without vectors: embedded with embed_many, then found by their exact prompt.
        cache.store_many([("embedded here", "yes")], tenant=tenants[0], agent="bot")
        hit = cache.check("embedded here", tenant=tenants[0], agent="bot")
        assert hit is not None and hit.response == "yes"
    finally:
        cache.drop()
        cache.close()

    capped = cluster_settings.model_copy(deep=True)
    capped.semantic.max_entries_per_tenant = 5
    small = SemanticCache(capped, vectorizer=HashingVectorizer(dims=DIMS))
    try:
        rows = [(f"capped {i}", f"a{i}") for i in range(8)]
        small.store_many(rows, tenant="capped", agent="bot", vectors=list(_vectors(8, 99)))
        assert small.count("capped") == 5  # the store script's LRU eviction ran on the node
        assert small.stats.evictions == 3
    finally:
        small.drop()
        small.close()


async def test_async_store_many_on_the_cluster(cluster_settings: AgentCacheSettings) -> None:
    cache = await AsyncSemanticCache.create(
        cluster_settings, vectorizer=HashingVectorizer(dims=DIMS)
    )
    try:
        for t in range(6):
            vecs = _vectors(7, 100 + t)
            rows = [(f"q{i}", f"t{t} a{i}") for i in range(7)]
            await cache.store_many(rows, tenant=f"at{t}", agent="bot", vectors=list(vecs))
            hit = await cache.check("x", tenant=f"at{t}", agent="bot", vector=vecs[3])
            assert hit is not None and hit.response == f"t{t} a3"
        assert await cache.count() == 42
    finally:
        await cache.drop()
        await cache.aclose()
