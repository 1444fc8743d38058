"""A primary killed and its replica promoted: the caches serve misses, then recover."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from agentcache.semantic import SemanticCache
from agentcache.settings import AgentCacheSettings
from agentcache.testing.cluster import ClusterNodeProcess, LocalCluster
from agentcache.testing.vectors import HashingVectorizer
from agentcache.tools import ToolCache, cached_tool

DIMS = 32


def _fail_open(settings: AgentCacheSettings, exact_match: bool) -> AgentCacheSettings:
    return settings.model_copy(
        update={
            "redis": settings.redis.model_copy(update={"socket_timeout": 1.0}),
            "reliability": settings.reliability.model_copy(
                update={"strict": False, "breaker_cooldown_seconds": 0.2}
            ),
            "semantic": settings.semantic.model_copy(update={"exact_match": exact_match}),
        }
    )


def _until(predicate: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_killed_primary_degrades_to_misses_then_recovers_on_the_promoted_replica(
    cluster: LocalCluster,
    cluster_settings: AgentCacheSettings,
    tenant_owner: Callable[[str], ClusterNodeProcess],
) -> None:
    exact = SemanticCache(_fail_open(cluster_settings, True), vectorizer=HashingVectorizer(DIMS))
    knn = SemanticCache(_fail_open(cluster_settings, False), vectorizer=HashingVectorizer(DIMS))
    tools = ToolCache(_fail_open(cluster_settings, True))
    runs: list[str] = []

    @cached_tool(tools, tenant_arg="tenant")
    def fetch(tenant: str) -> str:
        runs.append(tenant)
        return f"data of {tenant}"

    tenant = "failover-tenant"
    vec = np.asarray(HashingVectorizer(DIMS).embed("the question"))
    exact.store("the question", "the answer", tenant=tenant, agent="bot", vector=vec)
    assert fetch(tenant) == f"data of {tenant}" and runs == [tenant]
    primary = tenant_owner(tenant)
    # Its replica as the replica itself says: cluster.replicas() reads one node's gossip
    # view, which on a loaded machine can flag a healthy replica "fail?" for a moment.
    replica = next(node for node in cluster.nodes if node.primary_of == primary.node_id)
    role = replica.command("ROLE")
    assert (role[0], int(role[2])) == (b"slave", primary.port)
    primary.command("WAIT", 1, 2000)  # the replica has every write
    # Redis would promote the replica on its own ~2 s after the kill (node timeout 1 s);
    # on a loaded machine the down-phase checks can take longer, then see a hit or
    # send TAKEOVER to a node already (or half-way) promoted. Only our TAKEOVER
    # promotes it, so the primary stays down until the test says so.
    replica.command("CONFIG", "SET", "cluster-replica-no-failover", "yes")

    cluster.kill(primary)
    try:
        # Down: misses, no exception (fail-open), the tool runs again.
        assert exact.check("the question", tenant=tenant, agent="bot") is None
        assert knn.check("other words", tenant=tenant, agent="bot", vector=vec) is None
        assert fetch(tenant) == f"data of {tenant}" and len(runs) == 2

        cluster.failover(replica)
        assert tenant_owner(tenant) is replica
        assert _until(lambda: exact.check("the question", tenant=tenant, agent="bot") is not None)
        assert _until(
            lambda: knn.check("other words", tenant=tenant, agent="bot", vector=vec) is not None
        )
        hit = knn.check("other words", tenant=tenant, agent="bot", vector=vec)
        assert hit is not None and hit.response == "the answer"
        assert _until(lambda: fetch(tenant) == f"data of {tenant}" and len(runs) <= 3)
        runs_after = len(runs)
        assert fetch(tenant) == f"data of {tenant}" and len(runs) == runs_after  # cached again
    finally:
        replica.command("CONFIG", "SET", "cluster-replica-no-failover", "no")
        cluster.restart(primary)  # it rejoins as a replica of the new primary
        cluster.wait_ok(timeout=90)  # a rejoin can be slow on a loaded 2-core machine
        for cache in (exact, knn):
            cache.close()
        tools.close()
    assert len(cluster.primaries()) == 3
