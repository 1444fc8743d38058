"""Index migrations on an OSS Redis Cluster: one physical index per primary, no alias.

On a cluster every primary has its own copy of each version, named
``{physical}{tag}`` with ``tag`` anchored in a slot that primary owns (see
_cluster.py). RediSearch without a coordinator has no aliases that span
nodes, so the *swap* is the metadata hash alone: caches follow its
``physical`` / ``entry_prefix`` / ``datatype`` (re-read at most once a second)
and look up the per-node names themselves. Everything else a migration does
per index (create, wait for indexing, count, sample queries, drop) runs on
every primary; SCAN-based passes keep one cursor per primary.

What cannot be made safe is refused before anything changes: a slot being
migrated between nodes (keys would move under the per-node SCAN cursors). A
reshard or failover *during* the backfill is detected by comparing the slot
map before and after; the backfill then runs again from the start (copies
are idempotent) and gives up with a ``MigrationError`` if the map keeps moving.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis
from redis.cluster import ClusterNode, RedisCluster
from redisvl.schema import IndexSchema

from agentcache._redis.index_meta import PENDING_FIELDS, Version
from agentcache._redis.replies import (
    info_dict,
    is_missing_index,
    reply_text,
    search_rows_total,
)
from agentcache.exceptions import MigrationError
from agentcache.migrations._copy import (
    SAMPLE_FIELDS,
    EntryCopier,
    IndexOps,
    found_ids,
    knn_sample_command,
    poll_indexed,
    sample_keys_on,
    scan_pages,
    verify_samples,
)
from agentcache.semantic._cluster import ClusterSearch, anchor_slot, eval_pipelined

__all__ = ["ClusterEntryCopier", "ClusterIndexOps", "cluster_ops"]

_RESCANS = 3  # backfill passes tried while the slot map keeps changing


def cluster_ops(client: Any) -> ClusterIndexOps | None:
    """``ClusterIndexOps`` for a cluster client, else None (the single-index path)."""
    return ClusterIndexOps(client) if isinstance(client, RedisCluster) else None


class ClusterIndexOps(IndexOps):
    """The per-index steps of a migration, run on every primary of a cluster."""

    client: RedisCluster

    def __init__(self, client: RedisCluster) -> None:
        super().__init__(client)
        self.copier_type = ClusterEntryCopier

    # -- topology -----------------------------------------------------------
    def primaries(self) -> list[ClusterNode]:
        nodes: list[ClusterNode] = self.client.get_primaries()
        return nodes

    def _views(self) -> list[dict[str, Any]]:
        views = []
        for node in self.primaries():
            view = self.client.get_redis_connection(node).execute_command("CLUSTER NODES")
            views.append(view if isinstance(view, dict) else {})
        return views

    def topology(self) -> str:
        """A fingerprint of which primary serves which slots (changes on reshard or failover)."""
        self.client.nodes_manager.initialize()
        seen: set[tuple[str, str]] = set()
        for view in self._views():
            for address, node in view.items():
                if "master" in str(node.get("flags", "")) and node.get("slots"):
                    seen.add((address.split("@")[0], json.dumps(node["slots"])))
        return hashlib.sha1(json.dumps(sorted(seen)).encode()).hexdigest()[:16]

    def check_ready(self) -> None:
        """Refuse to start while a slot is being migrated between nodes."""
        self.client.nodes_manager.initialize()
        for view in self._views():
            for address, node in view.items():
                if node.get("migrations"):
                    raise MigrationError(
                        f"cluster node {address} is migrating or importing hash slots "
                        f"({node['migrations']}); an index migration cannot follow keys that "
                        "move between nodes: run it once the reshard is done"
                    )

    # -- per-node index names -----------------------------------------------
    def names(self, physical: str, *, required: bool = True) -> dict[str, str]:
        """``node name -> per-node index name`` of ``physical`` on every primary."""
        out: dict[str, str] = {}
        for node in self.primaries():
            listed = self.client.execute_command("FT._LIST", target_nodes=node)
            owned = [
                name
                for name in map(reply_text, listed)
                if anchor_slot(name, physical) is not None
                and self.client.get_node_from_key(name).name == node.name
            ]
            if owned:
                out[node.name] = owned[0]
            elif required:
                raise MigrationError(
                    f"primary {node.name} has no index {physical} (it joined, or its anchor "
                    "slot moved, during the migration); run apply again"
                )
        return out

    def _each(self, physical: str) -> list[tuple[ClusterNode, str]]:
        names = self.names(physical)
        return [(node, names[node.name]) for node in self.primaries()]

    def _on(self, node: ClusterNode, *args: Any) -> Any:
        return self.client.execute_command(*args, target_nodes=node)

    # -- IndexOps -------------------------------------------------------------
    def info(self, name: str) -> dict[str, Any]:
        node, per_node = self._each(name)[0]
        return info_dict(self._on(node, "FT.INFO", per_node))

    def docs(self, name: str) -> int | None:
        names = self.names(name, required=False)
        if not names:
            return None
        total = 0
        for node in self.primaries():
            if node.name in names:
                info = info_dict(self._on(node, "FT.INFO", names[node.name]))
                total += int(info.get("num_docs", 0))
        return total

    def alias_target(self, alias: str, active: Version | None) -> str | None:
        # No alias on a cluster: the metadata hash is the switch.
        return active.physical if active is not None else None

    def create(self, version: Version, schema_for: Callable[[str], IndexSchema]) -> None:
        """Create ``version`` on every primary lacking it (as caches name it)."""
        search = ClusterSearch(
            self.client,
            lambda: (version.physical, version.entry_prefix),
            lambda name, prefix: schema_for(name),
        )
        try:
            search.ensure(version.physical, version.entry_prefix)
        except redis.RedisError as exc:
            raise MigrationError(f"could not create {version.physical}: {exc}") from exc

    ensure = create

    def wait_indexed(
        self, physical: str, tick: Callable[[float], None], timeout: float = 3600.0
    ) -> None:
        deadline = time.monotonic() + timeout
        for node, name in self._each(physical):
            read = functools.partial(self._info, node, name)
            poll_indexed(read, deadline, tick, f"index {name} on {node.name} still indexing")

    def _info(self, node: ClusterNode, name: str) -> dict[str, Any]:
        return info_dict(self._on(node, "FT.INFO", name))

    def tenant_counts(self, physical: str) -> dict[str, int]:
        """Entries per tenant (TAG digest), summed over the primaries.

        Without a coordinator RediSearch loads no field values, so ``GROUPBY
        @tenant`` sees none; the node's tenant tags are listed (``FT.TAGVALS``)
        and each is counted with a filter-only search instead.
        """
        counts: dict[str, int] = {}
        for node, name in self._each(physical):
            for raw in self._on(node, "FT.TAGVALS", name, "tenant"):
                tenant = reply_text(raw)
                reply = self._on(
                    node, "FT.SEARCH", name, f"@tenant:{{{tenant}}}", "LIMIT", 0, 0,
                    "TIMEOUT", 0, "DIALECT", 2,  # no timeout: a partial count would fail
                )  # fmt: skip
                n = search_rows_total(reply)
                if n:  # tag values of deleted entries linger until garbage collection
                    counts[tenant] = counts.get(tenant, 0) + n
        return counts

    def sample_keys(self, prefix: str, n: int, seed: int = 0) -> list[str]:
        conns = (self.client.get_redis_connection(node) for node in self.primaries())
        return sample_keys_on(conns, prefix, n, seed)

    def swap(self, alias: str, meta_key: str, to: Version, fields: dict[Any, Any]) -> None:
        """Record ``to`` as active in one MULTI/EXEC on the metadata hash (one key, one slot)."""
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(meta_key, mapping=fields)
        pipe.hdel(meta_key, *PENDING_FIELDS)
        pipe.execute()

    def drop(self, physical: str) -> None:
        for node, name in self.names(physical, required=False).items():
            try:
                self.client.execute_command(
                    "FT.DROPINDEX", name, target_nodes=self.client.get_node(node_name=node)
                )  # never DD: the entries are dropped by prefix, or kept
            except redis.ResponseError as exc:
                if not is_missing_index(exc):
                    raise

    def delete_prefix(self, prefix: str, batch: int = 1000) -> int:
        removed = 0
        for node in self.primaries():
            conn = self.client.get_redis_connection(node)
            for keys in scan_pages(conn, f"{prefix}*", batch):
                removed += _unlink(conn, keys)
        return removed

    def verify_samples(
        self, source: Version, target: Version, keys: Sequence[str], k: int = 5
    ) -> list[str]:
        # Each version's per-node index names, listed once for all the samples.
        names = {v.physical: self.names(v.physical) for v in (source, target)}

        def knn(version: Version, key: str, k: int) -> list[str] | None:
            command = knn_sample_command("", self.client.hmget(key, SAMPLE_FIELDS), k)
            if command is None:
                return None
            node = self.client.get_node_from_key(key)
            command[1] = names[version.physical][node.name]
            return found_ids(version, self._on(node, *command))

        return verify_samples(knn, source, target, keys, k)


def _unlink(conn: redis.Redis, keys: list[str]) -> int:
    """UNLINK keys of one node one by one: a multi-key UNLINK must stay within one slot."""
    if not keys:
        return 0
    pipe = conn.pipeline(transaction=False)
    for key in keys:
        pipe.unlink(key)
    return sum(int(n) for n in pipe.execute())


class ClusterEntryCopier(EntryCopier):
    """``EntryCopier`` with per-primary SCAN cursors and per-node searches."""

    ops: ClusterIndexOps

    def write(self, calls: list[tuple[list[str], list[Any]]]) -> list[Any]:
        return eval_pipelined(self.ops.client, self._copy, calls)

    def backfill(self, cursor: str, tick: Callable[[str, int], None]) -> int:
        """Copy every source entry; ``cursor`` is the JSON of the per-primary cursors.

        The saved state names the slot map it was taken under: cursors of
        another map are meaningless, so the scan restarts (copies are idempotent).
        """
        state = json.loads(cursor) if cursor.startswith("{") else {}
        total = 0
        for _ in range(_RESCANS):
            topology = self.ops.topology()
            if state.get("topology") != topology:
                state = {"topology": topology, "nodes": {}}
            total += self._scan_all(state, tick)
            if self.ops.topology() == topology:
                return total
            state = {}  # the slot map moved under the scan: keys may have been skipped
        raise MigrationError(
            "the cluster's slot map kept changing during the backfill (resharding or "
            "failover); run apply again once the cluster is stable"
        )

    def _scan_all(self, state: dict[str, Any], tick: Callable[[str, int], None]) -> int:
        total = 0
        cursors: dict[str, int] = state["nodes"]
        match = f"{self.source.entry_prefix}*"
        for node in self.ops.primaries():
            conn = self.ops.client.get_redis_connection(node)
            at = cursors.get(node.name, 0)
            while at != -1:
                next_at, keys = conn.scan(cursor=at, match=match, count=self.batch_size)
                copied = self.copy_keys([reply_text(k) for k in keys])
                total += copied
                at = int(next_at) or -1  # -1: this primary is done
                cursors[node.name] = at
                tick(json.dumps(state), copied)
        return total

    def catch_up(self, since: float, tick: Callable[[int], None]) -> int:
        return sum(
            self.catch_up_on(functools.partial(self.ops._on, node), name, since, tick)
            for node, name in self.ops._each(self.source.physical)
        )

    def reconcile(self, tick: Callable[[int], None]) -> int:
        removed = 0
        for node in self.ops.primaries():
            conn = self.ops.client.get_redis_connection(node)
            for names in scan_pages(conn, f"{self.target.entry_prefix}*", self.batch_size):
                if not names:
                    continue
                pipe = conn.pipeline(transaction=False)
                for name in names:
                    pipe.exists(self.source.entry_prefix + name[len(self.target.entry_prefix) :])
                gone = [n for n, alive in zip(names, pipe.execute(), strict=True) if not alive]
                removed += _unlink(conn, gone)
                tick(len(gone))
        return removed
