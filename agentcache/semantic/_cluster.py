"""The semantic index on an OSS Redis Cluster: one index per primary, lookups routed by tenant.

RediSearch without a coordinator (what an OSS cluster runs) indexes only the
keys of the node it runs on, and it declares the index name as the key of
every ``FT.*`` command: a node answers ``FT.SEARCH name`` only if it owns the
hash slot of ``name``, and ``MOVED`` otherwise. So each primary gets its own
index, named ``{physical}{tag}`` where ``tag`` hashes to a slot that primary
owns (its *anchor*). A tenant's keys all share one slot, so a lookup goes to
the primary owning that slot and searches that primary's index, which holds
all of the tenant's entries.

RediSearch in cluster mode does not load documents from the keyspace: an
``FT.SEARCH`` there returns each hit's id and computed values (the vector
distance) but nil for stored fields. So a query that asks for stored fields is
sent with only the distance in ``RETURN``, and the fields are read from the
hits' hashes in one pipelined round trip to the same node.

A lookup also checks, in the same round trip, that the node still owns the
tenant's slot (``EXISTS`` on a key of that slot, sent to that node alone). A
``MOVED`` reply means the client's slot table is stale (the slot was moved):
the table is re-read and the lookup re-run on the new owner. An ``ASK`` reply
means the slot is being migrated right now: the lookup also runs on the
importing node and the two results are merged, so entries already moved are
still found.

When slots move, the cluster moves the keys and the destination's index picks
them up. If a node's anchor slot moves away, its index can no longer be
named there: the next lookup gets ``MOVED`` or ``no such index``, and a new
index is created on that node with an anchor it owns now. A node that joins
later (or restarts without persistence) gets its index on first use.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Iterable
from itertools import chain
from typing import Any

import redis
from redis.asyncio.cluster import ClusterNode as AsyncClusterNode
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import ClusterNode, RedisCluster
from redis.commands.core import AsyncScript, Script
from redis.commands.search.index_definition import IndexDefinition, IndexType
from redis.crc import key_slot
from redis.exceptions import AskError, MovedError, NoScriptError
from redisvl.schema import IndexSchema

from agentcache._redis import keys as _keys
from agentcache._redis.clients import reply_text
from agentcache.exceptions import CacheUnavailableError, ConfigurationError
from agentcache.semantic._core import is_missing_index

logger = logging.getLogger("agentcache.cluster")

SLOTS = 16384
_EXISTS = "index already exists"

# (index name, entry key prefix) -> the schema of one per-node index
SchemaFor = Callable[[str, str], IndexSchema]
# -> (physical index name, entry key prefix) of the active index
SpecFor = Callable[[], tuple[str, str]]

__all__ = [
    "AsyncClusterSearch",
    "ClusterSearch",
    "aeval_pipelined",
    "create_index_args",
    "eval_pipelined",
    "merge_search_replies",
    "node_index_name",
    "search_rows_total",
    "slot_tag",
]


# -- no I/O -----------------------------------------------------------------
@functools.lru_cache(maxsize=SLOTS)
def slot_tag(slot: int) -> str:
    """The shortest decimal string whose hash slot is ``slot`` (a stable anchor tag)."""
    if not 0 <= slot < SLOTS:
        raise ValueError(f"hash slots are 0..{SLOTS - 1}, got {slot}")
    n = 0
    while key_slot(str(n).encode()) != slot:
        n += 1
    return str(n)


def node_index_name(physical: str, slot: int) -> str:
    """The per-node name of index ``physical`` anchored at ``slot``."""
    if "{" in physical or "}" in physical:
        raise ConfigurationError(
            f"index name {physical!r} contains a brace; on a Redis Cluster the index "
            "name carries a hash tag of its own, so AGENTCACHE_SEMANTIC__INDEX_NAME "
            "must not contain '{' or '}'"
        )
    return f"{physical}{{{slot_tag(slot)}}}"


def anchor_slot(name: str, physical: str) -> int | None:
    """The anchor slot of a per-node index name of ``physical``, or None if it is not one."""
    if not (name.startswith(physical + "{") and name.endswith("}")):
        return None
    tag = name[len(physical) + 1 : -1]
    if not tag.isdigit():
        return None
    return key_slot(name.encode())


def create_index_args(schema: IndexSchema) -> list[Any]:
    """``FT.CREATE`` arguments for ``schema`` (what redisvl sends, without its client)."""
    prefix = schema.index.prefix
    prefixes = prefix if isinstance(prefix, list) else [prefix]
    definition = IndexDefinition(prefix=prefixes, index_type=IndexType.HASH)
    args: list[Any] = ["FT.CREATE", schema.index.name, *definition.args]
    stopwords = schema.index.stopwords
    if stopwords is not None:
        args += ["STOPWORDS", len(stopwords), *stopwords]
    fields = schema.redis_fields
    args += ["SCHEMA", *chain.from_iterable(field.redis_args() for field in fields)]
    return args


_DISTANCE_ALIAS = re.compile(r"\bAS\s+(\w+)\s*\]|\$YIELD_DISTANCE_AS:\s*(\w+)")


def split_return(command: list[Any]) -> tuple[list[Any], list[str]]:
    """``command`` returning only computed values, and the stored fields to read separately.

    RediSearch on an OSS cluster node returns nil for stored fields (see the
    module docstring); the vector distance alias is the one value it computes.
    """
    try:
        at = command.index("RETURN")
    except ValueError:
        return command, []
    count = int(command[at + 1])
    fields = [str(field) for field in command[at + 2 : at + 2 + count]]
    match = _DISTANCE_ALIAS.search(str(command[2]))
    alias = (match.group(1) or match.group(2)) if match else None
    stored = [field for field in fields if field != alias]
    if not stored:
        return command, []
    keep: list[Any] = ["RETURN", 1, alias] if alias in fields else ["NOCONTENT"]
    return [*command[:at], *keep, *command[at + 2 + count :]], stored


def with_fields(reply: Any, fields: list[str], values: list[list[Any]]) -> list[Any]:
    """A RESP2-shaped reply: each hit's ``fields`` (read from its hash) plus its computed values."""
    total, rows = _rows(reply)
    out: list[Any] = [total]
    for (key, computed), row in zip(rows, values, strict=True):
        flat: list[Any] = []
        for name, value in zip(fields, row, strict=True):
            if value is not None:
                flat += [name, value]
        for name, value in computed.items():
            flat += [name, value]
        out += [key, flat]
    return out


def merge_search_replies(replies: Iterable[Any]) -> list[Any]:
    """Several nodes' FT.SEARCH replies as one RESP2-shaped reply (totals summed)."""
    total = 0
    merged: list[Any] = [0]
    for reply in replies:
        count, rows = _rows(reply)
        total += count
        for key, fields in rows:
            merged.append(key)
            if fields:
                merged.append(list(chain.from_iterable(fields.items())))
    merged[0] = total
    return merged


def _rows(reply: Any) -> tuple[int, list[tuple[Any, dict[Any, Any]]]]:
    if isinstance(reply, dict):  # RESP3
        results: list[Any] = reply.get(b"results") or reply.get("results") or []
        rows = [
            (row.get(b"id", row.get("id")), row.get(b"extra_attributes") or {}) for row in results
        ]
        total = reply.get(b"total_results") or reply.get("total_results") or 0
        return int(total), rows
    if not reply:
        return 0, []
    out: list[tuple[Any, dict[Any, Any]]] = []
    i = 1
    while i < len(reply):
        if i + 1 < len(reply) and isinstance(reply[i + 1], list):
            raw = reply[i + 1]
            out.append((reply[i], dict(zip(raw[::2], raw[1::2], strict=False))))
            i += 2
        else:
            out.append((reply[i], {}))
            i += 1
    return int(reply[0]), out


def search_rows_total(reply: Any) -> int:
    """The total hit count of an FT.SEARCH reply (RESP2 or RESP3)."""
    return _rows(reply)[0]


def redirect_of(probe: Any) -> tuple[str, str, int] | None:
    """``("moved"|"ask", host, port)`` from an ownership probe's reply, None if owned."""
    if isinstance(probe, MovedError):  # first: redis-py derives MovedError from AskError
        return "moved", probe.host, int(probe.port)
    if isinstance(probe, AskError):
        return "ask", probe.host, int(probe.port)
    if isinstance(probe, BaseException):
        raise probe
    return None


class _Routing:
    """Which index name each primary uses; reads only the client's slot table."""

    def __init__(
        self, client: RedisCluster | AsyncRedisCluster, spec: SpecFor, schema_for: SchemaFor
    ) -> None:
        self.client = client
        self.spec = spec
        self.schema_for = schema_for
        self.physical: str | None = None
        self.entry_prefix = ""
        self.names: dict[str, str] = {}  # node name -> index name

    def configure(self, physical: str | None = None, entry_prefix: str | None = None) -> None:
        """Follow the active index (a migration may have switched it)."""
        if physical is None or entry_prefix is None:
            physical, entry_prefix = self.spec()
        if physical != self.physical:
            self.names.clear()
        self.physical = physical
        self.entry_prefix = entry_prefix

    def require_physical(self) -> str:
        if self.physical is None:
            raise ConfigurationError("the cluster index is not configured")
        return self.physical

    def owner(self, slot: int) -> str | None:
        nodes = self.client.nodes_manager.slots_cache.get(slot)
        return nodes[0].name if nodes else None

    def owned_slots(self, node_name: str) -> list[int]:
        cache = self.client.nodes_manager.slots_cache
        return [slot for slot, nodes in cache.items() if nodes and nodes[0].name == node_name]

    def cached(self, node_name: str) -> str | None:
        """The node's index name if it is still anchored in a slot the node owns."""
        name = self.names.get(node_name)
        if name is None:
            return None
        if self.owner(key_slot(name.encode())) != node_name:
            del self.names[node_name]  # its anchor slot moved away
            return None
        return name

    def pick_existing(self, node_name: str, listed: Iterable[Any]) -> str | None:
        physical = self.require_physical()
        for raw in listed:
            name = reply_text(raw)
            slot = anchor_slot(name, physical)
            if slot is not None and self.owner(slot) == node_name:
                self.names[node_name] = name
                return name
        return None

    def new_name(self, node_name: str) -> str:
        slots = self.owned_slots(node_name)
        if not slots:
            raise CacheUnavailableError(f"cluster node {node_name} owns no hash slot")
        # The lowest owned slot: every client with the same slot table picks the same one.
        return node_index_name(self.require_physical(), min(slots))

    def create_command(self, name: str) -> list[Any]:
        return create_index_args(self.schema_for(name, self.entry_prefix))

    def routed(self, command: list[Any], name: str) -> list[Any]:
        return [command[0], name, *command[2:]]

    def listed_names(self, listed: Iterable[Any]) -> list[str]:
        physical = self.require_physical()
        return [
            reply_text(raw) for raw in listed if anchor_slot(reply_text(raw), physical) is not None
        ]


def cluster_search(client: Any, spec: SpecFor, schema_for: SchemaFor) -> ClusterSearch | None:
    """A ``ClusterSearch`` when ``client`` is a cluster client, else None (plain path)."""
    return ClusterSearch(client, spec, schema_for) if isinstance(client, RedisCluster) else None


def async_cluster_search(
    client: Any, spec: SpecFor, schema_for: SchemaFor
) -> AsyncClusterSearch | None:
    """An ``AsyncClusterSearch`` when ``client`` is an asyncio cluster client, else None."""
    if isinstance(client, AsyncRedisCluster):
        return AsyncClusterSearch(client, spec, schema_for)
    return None


def route_key(tenant: str) -> str:
    """A key in ``tenant``'s hash slot (its hash tag alone)."""
    return _keys.hash_tag(tenant)


ScriptCall = tuple[list[str], list[Any]]  # (keys, args) of one script run


def _script_results(calls: list[ScriptCall], results: list[Any]) -> tuple[list[Any], list[int]]:
    """The results, and the positions that need a retry because a node lacked the script."""
    retry = [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, NoScriptError):
            raise result
    return results, retry


def eval_pipelined(client: RedisCluster, script: Script, calls: list[ScriptCall]) -> list[Any]:
    """Run ``script`` once per ``(keys, args)`` in one cluster pipeline; return the results.

    redis-py's cluster pipeline refuses registered scripts (``evalsha`` is a
    blocked method there), so ``EVALSHA`` is queued as a raw command: the
    pipeline routes each by its first key and follows ``MOVED``/``ASK``. A node
    that lacks the script (new, restarted) answers ``NOSCRIPT``: the script is
    loaded on every primary and those calls are sent again.
    """
    if not calls:
        return []

    def run(batch: list[ScriptCall]) -> list[Any]:
        pipe = client.pipeline(transaction=False)
        for keys, args in batch:
            pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
        return list(pipe.execute(raise_on_error=False))

    results, retry = _script_results(calls, run(calls))
    if retry:
        client.script_load(script.script)
        again, still = _script_results([calls[i] for i in retry], run([calls[i] for i in retry]))
        if still:
            raise NoScriptError("the script could not be loaded on every primary")
        for i, result in zip(retry, again, strict=True):
            results[i] = result
    return results


async def aeval_pipelined(
    client: AsyncRedisCluster, script: AsyncScript, calls: list[ScriptCall]
) -> list[Any]:
    """The asyncio twin of ``eval_pipelined``."""
    if not calls:
        return []

    async def run(batch: list[ScriptCall]) -> list[Any]:
        pipe = client.pipeline(transaction=False)
        for keys, args in batch:
            pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
        return list(await pipe.execute(raise_on_error=False))

    results, retry = _script_results(calls, await run(calls))
    if retry:
        await client.script_load(script.script)
        batch = [calls[i] for i in retry]
        again, still = _script_results(batch, await run(batch))
        if still:
            raise NoScriptError("the script could not be loaded on every primary")
        for i, result in zip(retry, again, strict=True):
            results[i] = result
    return results


# -- sync I/O ---------------------------------------------------------------
class ClusterSearch:
    """Per-primary semantic indexes and tenant-routed ``FT.SEARCH`` (synchronous)."""

    def __init__(self, client: RedisCluster, spec: SpecFor, schema_for: SchemaFor) -> None:
        self.client = client
        self.routing = _Routing(client, spec, schema_for)

    def ensure(self, physical: str, entry_prefix: str) -> list[str]:
        """Create the index on every primary that lacks one; return the names in use."""
        self.routing.configure(physical, entry_prefix)
        return [self.index_on(node) for node in self.client.get_primaries()]

    def index_on(self, node: ClusterNode) -> str:
        """The node's index name, created on the node first if it has none."""
        routing = self.routing
        name = routing.cached(node.name)
        if name is not None:
            return name
        listed = self.client.execute_command("FT._LIST", target_nodes=node)
        name = routing.pick_existing(node.name, listed)
        if name is not None:
            return name
        name = routing.new_name(node.name)
        try:
            self.client.execute_command(*routing.create_command(name), target_nodes=node)
            logger.info("created semantic index %s on cluster node %s", name, node.name)
        except redis.ResponseError as exc:
            if _EXISTS not in str(exc).lower():
                raise
        routing.names[node.name] = name
        return name

    def search(self, command: list[Any], tenant: str | None) -> Any:
        """Run an ``FT.SEARCH`` on the tenant's primary (on all primaries when None)."""
        self.routing.configure()
        if tenant is None:
            return merge_search_replies(self._on_node(command, node) for node in self._primaries())
        key = route_key(tenant)
        reply: Any = None
        for _ in range(3):
            node = self.client.get_node_from_key(key)
            reply, redirect = self._probed(command, node, key)
            if redirect is None:
                return reply
            kind, host, port = redirect
            if kind == "moved":  # our slot table is stale: re-read it, go to the owner
                self.client.nodes_manager.initialize()
                continue
            importing = self.client.get_node(host=host, port=port)
            if importing is None:
                self.client.nodes_manager.initialize()
                continue
            # Mid-migration: some entries are already on the importing node.
            return merge_search_replies([reply, self._on_node(command, importing)])
        return reply

    def _probed(
        self, command: list[Any], node: ClusterNode, key: str
    ) -> tuple[Any, tuple[str, str, int] | None]:
        """The search on ``node`` and, in the same round trip, whether it owns ``key``'s slot."""
        wire, stored = split_return(command)
        name = self.index_on(node)
        pipe = self.client.get_redis_connection(node).pipeline(transaction=False)
        pipe.execute_command(*self.routing.routed(wire, name))
        pipe.exists(key)
        try:
            reply, probe = pipe.execute(raise_on_error=False)
        except (redis.ConnectionError, redis.TimeoutError):
            # Sent past the cluster client, so tell it: the next call re-reads the topology
            # (after a failover the slot has a new primary).
            self.client.nodes_manager.initialize()
            raise
        redirect = redirect_of(probe)
        if isinstance(reply, BaseException):
            if redirect is not None:
                return None, redirect
            if not (is_missing_index(reply) or isinstance(reply, MovedError)):
                raise reply
            # The index is gone, or its anchor slot moved away: find or make another.
            self.client.nodes_manager.initialize()
            self.routing.names.pop(node.name, None)
            reply = self._search_node(wire, node)
        return self._load(reply, stored), redirect

    def _load(self, reply: Any, stored: list[str]) -> Any:
        if not stored:
            return reply
        keys = [key for key, _ in _rows(reply)[1]]
        if not keys:
            return with_fields(reply, stored, [])
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.hmget(key, stored)
        return with_fields(reply, stored, pipe.execute())

    def _primaries(self) -> list[ClusterNode]:
        primaries: list[ClusterNode] = self.client.get_primaries()
        return primaries

    def _on_node(self, command: list[Any], node: ClusterNode) -> Any:
        wire, stored = split_return(command)
        return self._load(self._search_node(wire, node), stored)

    def _search_node(self, command: list[Any], node: ClusterNode) -> Any:
        name = self.index_on(node)
        try:
            return self.client.execute_command(
                *self.routing.routed(command, name), target_nodes=node
            )
        except redis.ResponseError as exc:
            if not is_missing_index(exc):
                raise
            self.routing.names.pop(node.name, None)
            name = self.index_on(node)  # e.g. the node restarted without its data
            return self.client.execute_command(
                *self.routing.routed(command, name), target_nodes=node
            )

    def drop(self) -> None:
        """Drop this index on every primary (what the nodes still let us name)."""
        self.routing.configure()
        for node in self._primaries():
            listed = self.client.execute_command("FT._LIST", target_nodes=node)
            for name in self.routing.listed_names(listed):
                try:
                    self.client.execute_command("FT.DROPINDEX", name, target_nodes=node)
                except redis.RedisError as exc:  # an orphan whose anchor moved away
                    logger.debug("could not drop %s on %s: %s", name, node.name, exc)
        self.routing.names.clear()


# -- async I/O --------------------------------------------------------------
class AsyncClusterSearch:
    """The asyncio twin of ``ClusterSearch``."""

    def __init__(self, client: AsyncRedisCluster, spec: SpecFor, schema_for: SchemaFor) -> None:
        self.client = client
        self.routing = _Routing(client, spec, schema_for)

    async def ensure(self, physical: str, entry_prefix: str) -> list[str]:
        """See ``ClusterSearch.ensure``."""
        self.routing.configure(physical, entry_prefix)
        return [await self.index_on(node) for node in self.client.get_primaries()]

    async def index_on(self, node: AsyncClusterNode) -> str:
        """See ``ClusterSearch.index_on``."""
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
            if _EXISTS not in str(exc).lower():
                raise
        routing.names[node.name] = name
        return name

    async def search(self, command: list[Any], tenant: str | None) -> Any:
        """See ``ClusterSearch.search`` (the ownership probe is a second round trip here)."""
        self.routing.configure()
        if tenant is None:
            replies = [await self._on_node(command, node) for node in self.client.get_primaries()]
            return merge_search_replies(replies)
        key = route_key(tenant)
        reply: Any = None
        for _ in range(3):
            node = self._tenant_node(tenant)
            reply = await self._on_node(command, node)
            try:
                probe: Any = await node.execute_command("EXISTS", key)
            except (AskError, MovedError) as exc:
                probe = exc
            except (redis.ConnectionError, redis.TimeoutError):
                await self.client.nodes_manager.initialize()  # see ClusterSearch._probed
                raise
            redirect = redirect_of(probe)
            if redirect is None:
                return reply
            kind, host, port = redirect
            importing = self.client.get_node(host=host, port=port)
            if kind == "moved" or importing is None:
                await self.client.nodes_manager.initialize()
                continue
            return merge_search_replies([reply, await self._on_node(command, importing)])
        return reply

    def _tenant_node(self, tenant: str) -> AsyncClusterNode:
        node = self.client.get_node_from_key(route_key(tenant))
        if node is None:
            raise CacheUnavailableError(f"no cluster node serves tenant {tenant!r}'s slot")
        return node

    async def _on_node(self, command: list[Any], node: AsyncClusterNode) -> Any:
        wire, stored = split_return(command)
        try:
            reply = await self._search_node(wire, node)
        except MovedError:  # the index's anchor slot moved away from this node
            await self.client.nodes_manager.initialize()
            self.routing.names.pop(node.name, None)
            reply = await self._search_node(wire, node)
        if not stored:
            return reply
        keys = [key for key, _ in _rows(reply)[1]]
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.hmget(key, stored)
        return with_fields(reply, stored, await pipe.execute() if keys else [])

    async def _search_node(self, command: list[Any], node: AsyncClusterNode) -> Any:
        name = await self.index_on(node)
        try:
            return await self.client.execute_command(
                *self.routing.routed(command, name), target_nodes=node
            )
        except redis.ResponseError as exc:
            if not is_missing_index(exc):
                raise
            self.routing.names.pop(node.name, None)
            name = await self.index_on(node)
            return await self.client.execute_command(
                *self.routing.routed(command, name), target_nodes=node
            )

    async def drop(self) -> None:
        """See ``ClusterSearch.drop``."""
        self.routing.configure()
        for node in self.client.get_primaries():
            listed = await self.client.execute_command("FT._LIST", target_nodes=node)
            for name in self.routing.listed_names(listed):
                try:
                    await self.client.execute_command("FT.DROPINDEX", name, target_nodes=node)
                except redis.RedisError as exc:
                    logger.debug("could not drop %s on %s: %s", name, node.name, exc)
        self.routing.names.clear()
