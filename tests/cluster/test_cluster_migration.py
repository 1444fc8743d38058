"""A tenant's slot moved to another primary while a reader keeps looking its entries up."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
from redis.crc import key_slot

from agentcache._redis.keys import hash_tag
from agentcache.semantic import SemanticCache
from agentcache.semantic._cluster import anchor_slot
from agentcache.settings import AgentCacheSettings
from agentcache.testing.cluster import ClusterNodeProcess, LocalCluster
from agentcache.testing.vectors import HashingVectorizer

DIMS = 32
ENTRIES = 60


def _vectors(n: int) -> np.ndarray:
    vecs = np.random.default_rng(42).normal(size=(n, DIMS)).astype(np.float32)
    return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)


def _semantic_only(settings: AgentCacheSettings) -> AgentCacheSettings:
    # No exact fast path: every lookup is an FT.SEARCH on the tenant's node.
    return settings.model_copy(
        update={"semantic": settings.semantic.model_copy(update={"exact_match": False})}
    )


def _hits_on(node: ClusterNodeProcess, cache: SemanticCache, tenant: str) -> int:
    physical = cache.core.require_state().physical
    listed = [name.decode() for name in node.command("FT._LIST")]
    total = 0
    for name in listed:
        if anchor_slot(name, physical) is not None:
            expr = cache.queries.filter_expr(tenant)
            reply = node.command("FT.SEARCH", name, expr, "LIMIT", 0, 0)
            total += int(reply[b"total_results"] if isinstance(reply, dict) else reply[0])
    return total


def test_slot_migration_mid_run_loses_nothing_and_surfaces_no_error(
    cluster: LocalCluster,
    cluster_settings: AgentCacheSettings,
    tenant_owner: Callable[[str], ClusterNodeProcess],
) -> None:
    settings = _semantic_only(cluster_settings)  # strict: any fault would raise
    cache = SemanticCache(settings, vectorizer=HashingVectorizer(dims=DIMS))
    tenant, bystander = "moving-tenant", "staying-tenant"
    vecs = _vectors(ENTRIES + 1)
    for i in range(ENTRIES):
        cache.store(f"q{i}", f"a{i}", tenant=tenant, agent="bot", vector=vecs[i])
    cache.store("stay", "put", tenant=bystander, agent="bot", vector=vecs[ENTRIES])
    source = tenant_owner(tenant)
    target = next(node for node in cluster.primaries() if node is not source)
    assert _hits_on(source, cache, tenant) == ENTRIES

    errors: list[BaseException] = []
    lookups = {"hits": 0, "misses": 0}
    stop = threading.Event()

    def reader() -> None:
        # Its own cache object: a second client, as another process would have.
        other = SemanticCache(settings, vectorizer=HashingVectorizer(dims=DIMS))
        i = 0
        try:
            while not stop.is_set():
                n = i % ENTRIES
                hit = other.check("x", tenant=tenant, agent="bot", vector=vecs[n])
                lookups["hits" if hit is not None and hit.response == f"a{n}" else "misses"] += 1
                i += 1
        except BaseException as exc:  # the test reports any error at all
            errors.append(exc)
        finally:
            other.close()

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        slot = key_slot(hash_tag(tenant).encode())
        moved = cluster.migrate_slot(slot, target, batch=5, between_batches=lambda: stop.wait(0.02))
    finally:
        stop.set()
        thread.join(timeout=30)
    assert errors == []
    assert moved >= ENTRIES  # entries plus the tenant's LRU set
    # Mid-move lookups also search the importing node (ASK), so none missed.
    assert lookups["hits"] > 0 and lookups["misses"] == 0, lookups
    assert tenant_owner(tenant) is target

    # Nothing lost, and the entries are now indexed (and found) on the new node.
    assert _hits_on(target, cache, tenant) == ENTRIES
    assert _hits_on(source, cache, tenant) == 0
    assert cache.count(tenant) == ENTRIES
    for i in range(ENTRIES):
        hit = cache.check("x", tenant=tenant, agent="bot", vector=vecs[i])
        assert hit is not None and hit.response == f"a{i}"
    hit = cache.check("x", tenant=bystander, agent="bot", vector=vecs[ENTRIES])
    assert hit is not None and hit.response == "put"
    # Writes after the move land on the new node too.
    cache.store("new", "fresh", tenant=tenant, agent="bot", vector=vecs[ENTRIES])
    assert _hits_on(target, cache, tenant) == ENTRIES + 1
    cache.drop()
    cache.close()
