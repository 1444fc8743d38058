"""Per-primary semantic indexes and tenant-routed FT.SEARCH on a cluster (the I/O).

The asyncio source: scripts/unasync.py generates _cluster_sync.py from it.
What the two clients must do differently (a search and an ownership probe on
one node) lives in _cluster_probe.py; the routing itself in _cluster_routing.py.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from redis.asyncio import cluster as _rc  # sync: from redis import cluster as _rc
from redis.commands.core import AsyncScript
from redis.exceptions import MovedError, NoScriptError

from agentcache._redis.replies import is_missing_index, raw_rows
from agentcache.exceptions import CacheUnavailableError
from agentcache.semantic._cluster_probe import asearch_and_probe
from agentcache.semantic._cluster_routing import (
    EXISTS,
    Redirect,
    Routing,
    SchemaFor,
    ScriptCall,
    SpecFor,
    merge_search_replies,
    redirect_of,
    route_key,
    script_results,
    split_return,
    with_fields,
)

logger = logging.getLogger("agentcache.cluster")


def async_cluster_search(
    client: Any,
    spec: SpecFor,
    schema_for: SchemaFor,
) -> AsyncClusterSearch | None:
    """An ``AsyncClusterSearch`` when ``client`` is a cluster client, else None (plain path)."""
    if isinstance(client, _rc.RedisCluster):
        return AsyncClusterSearch(client, spec, schema_for)
    return None


async def aeval_pipelined(
    client: _rc.RedisCluster,
    script: AsyncScript,
    calls: list[ScriptCall],
) -> list[Any]:
    """Run ``script`` once per ``(keys, args)`` in one cluster pipeline; return the results.

    redis-py's cluster pipeline refuses registered scripts (``evalsha`` is a
    blocked method there), so ``EVALSHA`` is queued as a raw command: the
    pipeline routes each by its first key and follows ``MOVED``/``ASK``. A node
    that lacks the script (new, restarted) answers ``NOSCRIPT``: the script is
    loaded on every primary and those calls are sent again.
    """
    if not calls:
        return []

    async def run(batch: list[ScriptCall]) -> list[Any]:
        pipe = client.pipeline(transaction=False)
        for keys, args in batch:
            pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
        return list(await pipe.execute(raise_on_error=False))

    results, retry = script_results(calls, await run(calls))
    if retry:
        await client.script_load(script.script)
        batch = [calls[i] for i in retry]
        again, still = script_results(batch, await run(batch))
        if still:
            raise NoScriptError("the script could not be loaded on every primary")
        for i, result in zip(retry, again, strict=True):
            results[i] = result
    return results


class AsyncClusterSearch:
    """Per-primary semantic indexes and tenant-routed ``FT.SEARCH``."""

    def __init__(self, client: _rc.RedisCluster, spec: SpecFor, schema_for: SchemaFor) -> None:
        self.client = client
        self.routing = Routing(client, spec, schema_for)

    def _primaries(self) -> list[_rc.ClusterNode]:
        primaries: list[_rc.ClusterNode] = self.client.get_primaries()
        return primaries

    async def ensure(self, physical: str, entry_prefix: str) -> list[str]:
        """Create the index on every primary that lacks one; return the names in use."""
        self.routing.configure(physical, entry_prefix)
        return [await self.index_on(node) for node in self._primaries()]

    async def index_on(self, node: _rc.ClusterNode) -> str:
        """The node's index name, created on the node first if it has none."""
        routing = self.routing
        name = routing.cached(node.name)
        if name is not None:
            return name
        listed = await self.client.execute_command("FT._LIST", target_nodes=node)
        name = routing.pick_existing(node.name, listed)
        if name is not None:
            return name
        name = routing.new_name(node.name)
        try:
            await self.client.execute_command(*routing.create_command(name), target_nodes=node)
            logger.info("created semantic index %s on cluster node %s", name, node.name)
        except redis.ResponseError as exc:
            if EXISTS not in str(exc).lower():
                raise
        routing.names[node.name] = name
        return name

    async def search(self, command: list[Any], tenant: str | None) -> Any:
        """Run an ``FT.SEARCH`` on the tenant's primary (on all primaries when None)."""
        self.routing.configure()
        if tenant is None:
            replies = [await self._on_node(command, node) for node in self._primaries()]
            return merge_search_replies(replies)
        key = route_key(tenant)
        reply: Any = None
        for _ in range(3):
            node = self._tenant_node(tenant)
            reply, redirect = await self._probed(command, node, key)
            if redirect is None:
                return reply
            kind, host, port = redirect
            importing = self.client.get_node(host=host, port=port)
            if kind == "moved" or importing is None:
                # Our slot table is stale: re-read it and go to the owner.
                await self.client.nodes_manager.initialize()
                continue
            # Mid-migration: some entries are already on the importing node.
            return merge_search_replies([reply, await self._on_node(command, importing)])
        return reply

    def _tenant_node(self, tenant: str) -> _rc.ClusterNode:
        node: _rc.ClusterNode | None = self.client.get_node_from_key(route_key(tenant))
        if node is None:
            raise CacheUnavailableError(f"no cluster node serves tenant {tenant!r}'s slot")
        return node

    async def _probed(
        self,
        command: list[Any],
        node: _rc.ClusterNode,
        key: str,
    ) -> tuple[Any, Redirect | None]:
        """The search on ``node`` and, right after it, whether the node owns ``key``'s slot."""
        wire, stored = split_return(command)
        routed = self.routing.routed(wire, await self.index_on(node))
        try:
            reply, probe = await asearch_and_probe(self.client, node, routed, key)
        except (redis.ConnectionError, redis.TimeoutError):
            # Sent past the cluster client, so tell it: the next call re-reads the topology
            # (after a failover the slot has a new primary).
            await self.client.nodes_manager.initialize()
            raise
        redirect = redirect_of(probe)
        if isinstance(reply, BaseException):
            if redirect is not None:
                return None, redirect
            if not (is_missing_index(reply) or isinstance(reply, MovedError)):
                raise reply
            # The index is gone, or its anchor slot moved away: find or make another.
            await self.client.nodes_manager.initialize()
            self.routing.names.pop(node.name, None)
            reply = await self._search_node(wire, node)
        return await self._load(reply, stored), redirect

    async def _on_node(self, command: list[Any], node: _rc.ClusterNode) -> Any:
        wire, stored = split_return(command)
        try:
            reply = await self._search_node(wire, node)
        except MovedError:  # the index's anchor slot moved away from this node
            await self.client.nodes_manager.initialize()
            self.routing.names.pop(node.name, None)
            reply = await self._search_node(wire, node)
        return await self._load(reply, stored)

    async def _load(self, reply: Any, stored: list[str]) -> Any:
        """Fill in the stored fields of the hits (a cluster node returns nil for them)."""
        if not stored:
            return reply
        keys = [key for key, _ in raw_rows(reply)[1]]
        if not keys:
            return with_fields(reply, stored, [])
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.hmget(key, stored)
        return with_fields(reply, stored, await pipe.execute())

    async def _search_node(self, command: list[Any], node: _rc.ClusterNode) -> Any:
        name = await self.index_on(node)
        try:
            return await self.client.execute_command(
                *self.routing.routed(command, name), target_nodes=node
            )
        except redis.ResponseError as exc:
            if not is_missing_index(exc):
                raise
            self.routing.names.pop(node.name, None)
            name = await self.index_on(node)  # e.g. the node restarted without its data
            return await self.client.execute_command(
                *self.routing.routed(command, name), target_nodes=node
            )

    async def drop(self) -> None:
        """Drop this index on every primary (what the nodes still let us name)."""
        self.routing.configure()
        for node in self._primaries():
            listed = await self.client.execute_command("FT._LIST", target_nodes=node)
            for name in self.routing.listed_names(listed):
                try:
                    await self.client.execute_command("FT.DROPINDEX", name, target_nodes=node)
                except redis.RedisError as exc:  # an orphan whose anchor moved away
                    logger.debug("could not drop %s on %s: %s", name, node.name, exc)
        self.routing.names.clear()
