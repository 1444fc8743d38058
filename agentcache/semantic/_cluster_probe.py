"""The one step the cluster twins do differently: a search and an ownership probe on one node.

The probe (``EXISTS`` on a key of the tenant's slot, sent to that node alone)
must run after the search on the same node: if the node still owns the slot
then, the search saw all of the tenant's entries. Both return errors as values
(``MOVED``/``ASK`` are the answers the probe is for).
"""

from __future__ import annotations

from typing import Any

import redis
from redis.asyncio.cluster import ClusterNode as AsyncClusterNode
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import ClusterNode, RedisCluster


def search_and_probe(
    client: RedisCluster, node: ClusterNode, command: list[Any], key: str
) -> list[Any]:
    """``[search reply, EXISTS reply]``, in one pipeline on the node's own connection."""
    pipe = client.get_redis_connection(node).pipeline(transaction=False)
    pipe.execute_command(*command)
    pipe.exists(key)
    return list(pipe.execute(raise_on_error=False))


async def asearch_and_probe(
    client: AsyncRedisCluster, node: AsyncClusterNode, command: list[Any], key: str
) -> list[Any]:
    """The same in two round trips: redis-py's asyncio cluster has no per-node pipeline."""
    try:
        reply: Any = await client.execute_command(*command, target_nodes=node)
    except redis.ResponseError as exc:
        reply = exc
    try:
        probe: Any = await node.execute_command("EXISTS", key)
    except redis.ResponseError as exc:
        probe = exc
    return [reply, probe]
