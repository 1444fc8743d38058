"""The semantic cache on a real 3-primary OSS Redis Cluster."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from redis.cluster import RedisCluster

from agentcache.semantic import AsyncSemanticCache, SemanticCache
from agentcache.semantic._cluster import anchor_slot
from agentcache.settings import AgentCacheSettings
from agentcache.testing.cluster import ClusterNodeProcess, LocalCluster
from agentcache.testing.vectors import HashingVectorizer

DIMS = 32


def _vector(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vec = rng.normal(size=DIMS).astype(np.float32)
    return vec / np.linalg.norm(vec)


def _near(vec: np.ndarray, seed: int, scale: float = 0.05) -> np.ndarray:
    noise = np.random.default_rng(seed + 10_000).normal(size=DIMS).astype(np.float32) * scale
    out = vec + noise
    return out / np.linalg.norm(out)


@pytest.fixture
def cache(cluster_settings: AgentCacheSettings) -> Iterator[SemanticCache]:
    sem = SemanticCache.create(cluster_settings, vectorizer=HashingVectorizer(dims=DIMS))
    yield sem
    sem.drop()
    sem.close()


def _index_names(node: ClusterNodeProcess, physical: str) -> list[str]:
    listed = [name.decode() for name in node.command("FT._LIST")]
    return [name for name in listed if anchor_slot(name, physical) is not None]


def test_every_primary_gets_an_index_anchored_in_its_own_slots(
    cache: SemanticCache, cluster: LocalCluster
) -> None:
    physical = cache.core.require_state().physical
    primaries = cluster.primaries()
    assert len(primaries) == 3
    for node in primaries:
        names = _index_names(node, physical)
        assert len(names) == 1, (node.port, names)
        slot = anchor_slot(names[0], physical)
        assert slot is not None and cluster.owner_of(slot) is node


def test_store_check_invalidate_across_nodes(
    cache: SemanticCache,
    cluster: LocalCluster,
    tenant_owner: Callable[[str], ClusterNodeProcess],
) -> None:
    tenants = [f"tenant-{i}" for i in range(24)]
    assert len({tenant_owner(t).port for t in tenants}) == 3  # they span every primary
    for i, tenant in enumerate(tenants):
        cache.store(f"question {i}", f"answer {i}", tenant=tenant, agent="bot", vector=_vector(i))
    assert cache.count() == 24
    for i, tenant in enumerate(tenants):
        assert cache.count(tenant) == 1
        exact = cache.check(f"question  {i}", tenant=tenant, agent="bot")
        assert exact is not None and exact.exact and exact.response == f"answer {i}"
        similar = cache.check(
            f"a reworded question {i}", tenant=tenant, agent="bot", vector=_near(_vector(i), i)
        )
        assert similar is not None and not similar.exact
        assert similar.response == f"answer {i}" and similar.similarity > 0.9
        # counted in the tenant's hits hash (same slot as the entry), not in the entry
        assert (exact.hit_count, similar.hit_count) == (1, 2)
    first = cache.check("q", tenant=tenants[0], agent="bot", vector=_vector(0))
    assert first is not None and first.hit_count == 3
    hits = cache.core.hits_key(tenants[0])
    assert cache.feedback(first.entry_id, True, tenant=tenants[0])
    assert not cache.client.hexists(cache.core.entry_key(tenants[0], first.entry_id), "hit_count")
    assert cache.invalidate(first.entry_id, tenant=tenants[0]) is True
    assert cache.client.hget(hits, first.entry_id) is None
    assert cache.check("q", tenant=tenants[0], agent="bot", vector=_vector(0)) is None
    assert cache.invalidate_tenant(tenants[1]) == 1
    assert cache.count(tenants[1]) == 0
    assert cache.count() == 22
    assert cache.clear() == 22
    assert cache.count() == 0


def test_entries_live_on_the_tenant_primary_and_its_index(
    cache: SemanticCache,
    cluster: LocalCluster,
    tenant_owner: Callable[[str], ClusterNodeProcess],
) -> None:
    tenant = "acme"
    entry = cache.store("hello", "hi", tenant=tenant, agent="bot", vector=_vector(1))
    key = cache.core.entry_key(tenant, entry)
    physical = cache.core.require_state().physical
    home = tenant_owner(tenant)
    for node in cluster.primaries():
        [name] = _index_names(node, physical)
        reply = node.command("FT.SEARCH", name, cache.queries.filter_expr(tenant), "NOCONTENT")
        found = reply[1:] if isinstance(reply, list) else reply[b"results"]
        assert (len(found) == 1) == (node is home), node.port
    with home.client() as conn:
        assert conn.exists(key) == 1


def test_tenant_isolation_with_hostile_ids(cache: SemanticCache) -> None:
    vec = _vector(7)
    for tenant in ("a}", "{a}", "a", "A", "a:b", "a{b}c"):
        cache.store("secret", f"for {tenant}", tenant=tenant, agent="bot", vector=vec)
    for tenant in ("a}", "{a}", "a", "A", "a:b", "a{b}c"):
        hit = cache.check("secret", tenant=tenant, agent="bot", vector=vec)
        assert hit is not None and hit.response == f"for {tenant}"
        assert cache.count(tenant) == 1
    assert cache.check("secret", tenant="b", agent="bot", vector=vec) is None
    assert cache.check("secret", tenant="a", agent="other", vector=vec) is None


def test_a_primary_that_lost_its_index_gets_it_back_on_first_lookup(
    cache: SemanticCache,
    cluster_settings: AgentCacheSettings,
    tenant_owner: Callable[[str], ClusterNodeProcess],
) -> None:
    tenant = "phoenix"
    cache.store("q", "a", tenant=tenant, agent="bot", vector=_vector(3))
    node = tenant_owner(tenant)
    [name] = _index_names(node, cache.core.require_state().physical)
    node.command("FT.DROPINDEX", name)  # as if the node restarted without persistence
    fresh = SemanticCache(cluster_settings, vectorizer=HashingVectorizer(dims=DIMS))
    try:
        deadline = time.monotonic() + 10
        hit = None
        while hit is None and time.monotonic() < deadline:  # the new index scans in background
            hit = fresh.check("other words", tenant=tenant, agent="bot", vector=_vector(3))
        assert hit is not None and hit.response == "a"
    finally:
        fresh.close()


async def test_async_cache_on_the_cluster(cluster_settings: AgentCacheSettings) -> None:
    cache = await AsyncSemanticCache.create(
        cluster_settings, vectorizer=HashingVectorizer(dims=DIMS)
    )
    try:
        for i in range(9):
            await cache.store(f"q{i}", f"a{i}", tenant=f"t{i}", agent="bot", vector=_vector(i))
        assert await cache.count() == 9
        for i in range(9):
            hit = await cache.check("x", tenant=f"t{i}", agent="bot", vector=_near(_vector(i), i))
            assert hit is not None and hit.response == f"a{i}"
        assert await cache.check("x", tenant="t0", agent="bot", vector=_vector(5)) is None
        assert await cache.invalidate_tenant("t3") == 1
        assert await cache.count() == 8
    finally:
        await cache.drop()
        await cache.aclose()


def test_cluster_client_is_used(cache: SemanticCache) -> None:
    assert isinstance(cache.client, RedisCluster)


def _capped(settings: AgentCacheSettings, index_name: str) -> AgentCacheSettings:
    semantic = settings.semantic.model_copy(
        update={"index_name": index_name, "max_entries_per_tenant": 3}
    )
    return settings.model_copy(update={"semantic": semantic})


@pytest.mark.parametrize("wipe", ["clear", "drop"])
def test_clear_and_drop_leave_another_index_on_the_same_prefix_alone(
    cluster_settings: AgentCacheSettings, cluster_client: RedisCluster, wipe: str
) -> None:
    mine = SemanticCache(_capped(cluster_settings, "mine"), vectorizer=HashingVectorizer(DIMS))
    other = SemanticCache(_capped(cluster_settings, "other"), vectorizer=HashingVectorizer(DIMS))
    tenants = [f"tenant-{i}" for i in range(6)]  # spread over the three primaries
    for tenant in tenants:
        for i in range(3):
            mine.store(f"mine question {i}", "m", tenant=tenant, agent="a")
            other.store(f"other question {i}", "o", tenant=tenant, agent="a")
            time.sleep(0.002)
        assert other.check("other question 0", tenant=tenant, agent="a") is not None

    getattr(mine, wipe)()

    for tenant in tenants:
        assert cluster_client.exists(mine.core.lru_key(tenant)) == 0
        assert cluster_client.zcard(other.core.lru_key(tenant)) == 3
        other.store("other question 3", "o", tenant=tenant, agent="a")  # evicts question 1
        assert other.count(tenant) == 3
        assert other.check("other question 1", tenant=tenant, agent="a", threshold=0.99) is None
        again = other.check("other question 0", tenant=tenant, agent="a")
        assert again is not None and again.hit_count == 2
    other.drop()
    other.close()
    mine.close()
