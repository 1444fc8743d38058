"""Routing of the semantic index on an OSS Redis Cluster, without I/O.

Anchors (which slot names a primary's index), per-node index names, which
index each primary uses (read from the client's slot table only), the
rewriting of FT.SEARCH commands and replies, and redirect decoding. The
module docstring of _cluster.py explains the design; _cluster_async.py (and
the generated _cluster_sync.py) do the I/O.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from itertools import chain
from typing import Any

from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster
from redis.commands.search.index_definition import IndexDefinition, IndexType
from redis.crc import key_slot
from redis.exceptions import AskError, MovedError, NoScriptError
from redisvl.schema import IndexSchema

from agentcache._redis import keys as _keys
from agentcache._redis.replies import raw_rows, reply_text
from agentcache.exceptions import CacheUnavailableError, ConfigurationError

SLOTS = 16384
EXISTS = "index already exists"

# (index name, entry key prefix) -> the schema of one per-node index
SchemaFor = Callable[[str, str], IndexSchema]
# -> (physical index name, entry key prefix) of the active index
SpecFor = Callable[[], tuple[str, str]]
# ("moved" | "ask", host, port)
Redirect = tuple[str, str, int]


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
    total, rows = raw_rows(reply)
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
        count, rows = raw_rows(reply)
        total += count
        for key, fields in rows:
            merged.append(key)
            if fields:
                merged.append(list(chain.from_iterable(fields.items())))
    merged[0] = total
    return merged


def redirect_of(probe: Any) -> Redirect | None:
    """``("moved"|"ask", host, port)`` from an ownership probe's reply, None if owned."""
    if isinstance(probe, MovedError):  # first: redis-py derives MovedError from AskError
        return "moved", probe.host, int(probe.port)
    if isinstance(probe, AskError):
        return "ask", probe.host, int(probe.port)
    if isinstance(probe, BaseException):
        raise probe
    return None


class Routing:
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


def route_key(tenant: str) -> str:
    """A key in ``tenant``'s hash slot (its hash tag alone)."""
    return _keys.hash_tag(tenant)


ScriptCall = tuple[list[str], list[Any]]  # (keys, args) of one script run


def script_results(calls: list[ScriptCall], results: list[Any]) -> tuple[list[Any], list[int]]:
    """The results, and the positions that need a retry because a node lacked the script."""
    retry = [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, NoScriptError):
            raise result
    return results, retry
