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

This module is the entry point: _cluster_routing.py has the routing without
I/O, _cluster_async.py the I/O (the source of the generated _cluster_sync.py),
_cluster_probe.py the one step the two clients do differently.
"""

from __future__ import annotations

from agentcache._redis.replies import search_rows_total
from agentcache.semantic._cluster_async import (
    AsyncClusterSearch,
    aeval_pipelined,
    async_cluster_search,
)
from agentcache.semantic._cluster_routing import (
    SLOTS,
    SchemaFor,
    ScriptCall,
    SpecFor,
    anchor_slot,
    create_index_args,
    merge_search_replies,
    node_index_name,
    redirect_of,
    route_key,
    slot_tag,
    split_return,
    with_fields,
)
from agentcache.semantic._cluster_sync import ClusterSearch, cluster_search, eval_pipelined

__all__ = [
    "SLOTS",
    "AsyncClusterSearch",
    "ClusterSearch",
    "SchemaFor",
    "ScriptCall",
    "SpecFor",
    "aeval_pipelined",
    "anchor_slot",
    "async_cluster_search",
    "cluster_search",
    "create_index_args",
    "eval_pipelined",
    "merge_search_replies",
    "node_index_name",
    "redirect_of",
    "route_key",
    "search_rows_total",
    "slot_tag",
    "split_return",
    "with_fields",
]
