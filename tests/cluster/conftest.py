"""A real 6-node OSS Redis Cluster (3 primaries, 3 replicas) shared by the cluster tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from redis.cluster import RedisCluster
from redis.crc import key_slot

from agentcache._redis.keys import hash_tag
from agentcache.settings import AgentCacheSettings
from agentcache.testing.cluster import ClusterNodeProcess, LocalCluster


@pytest.fixture(scope="session")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(primaries=3, replicas=True, node_timeout_ms=1000) as local:
        yield local


@pytest.fixture
def cluster_settings(cluster: LocalCluster, key_prefix: str) -> AgentCacheSettings:
    return AgentCacheSettings(
        redis={
            "cluster_nodes": cluster.seeds,
            "key_prefix": key_prefix,
            "socket_timeout": 5.0,
            "socket_connect_timeout": 5.0,
        },
        embeddings={"dims": 32, "model": "test-hash"},
        # These tests are about placement and routing, with synthetic near-duplicate
        # vectors; the hit policy is tested elsewhere.
        semantic={"ttl_seconds": None, "threshold": 0.9, "policy": "threshold"},
        reliability={"strict": True},
    )


@pytest.fixture
def cluster_client(cluster: LocalCluster) -> Iterator[RedisCluster]:
    client = RedisCluster.from_url(cluster.url)
    yield client
    client.close()


@pytest.fixture
def tenant_owner(cluster: LocalCluster) -> Callable[[str], ClusterNodeProcess]:
    """``tenant -> the primary that owns its hash slot now``, asked of the cluster itself."""

    def owner(tenant: str) -> ClusterNodeProcess:
        return cluster.owner_of(key_slot(hash_tag(tenant).encode()))

    return owner
