"""``agentcache cluster``: which primary holds which tenants, and how many entries each has.

On an OSS Redis Cluster every tenant lives in one hash slot, so on one
primary. For each primary this lists its slots, replicas, memory, its
semantic index, and its tenants with their entry counts. Tenants are found
from their LRU sets (one per tenant, ``{prefix}:lru:{tenant}:{index}``) and
counted on their node's index, so the counts are exact.

    agentcache cluster --nodes 10.0.0.1:6379,10.0.0.2:6379
    AGENTCACHE_REDIS__CLUSTER=true AGENTCACHE_REDIS__URL=redis://10.0.0.1:6379 agentcache cluster
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from redis.cluster import ClusterNode, RedisCluster

from agentcache._redis import keys as _keys
from agentcache._redis.clients import sync_client
from agentcache._redis.index_meta import active_physical, decode
from agentcache._redis.replies import reply_text, search_rows_total
from agentcache.exceptions import ConfigurationError
from agentcache.migrations._cluster import ClusterIndexOps
from agentcache.settings import AgentCacheSettings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "cluster", help="which cluster node holds which tenants, with their entry counts"
    )
    parser.add_argument("--nodes", help="seed nodes host:port,host:port (default: settings)")
    parser.add_argument("--url", help="a seed node URL (default: AGENTCACHE_REDIS__URL)")
    parser.add_argument("--tenant", help="only this tenant")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


@dataclass
class TenantPlacement:
    """One tenant on a primary: its hash slot and its entry count there."""

    tenant: str
    slot: int
    entries: int


@dataclass
class NodeReport:
    """One primary: slots, replicas, memory, keys, its index and its tenants."""

    node: str
    slots: int
    replicas: list[str]
    used_memory: int
    keys: int
    index: str | None
    index_docs: int
    tenants: list[TenantPlacement] = field(default_factory=list)


def _settings(args: argparse.Namespace) -> AgentCacheSettings:
    redis_cfg: dict[str, Any] = {"cluster": True}
    if args.nodes:
        redis_cfg["cluster_nodes"] = [n.strip() for n in args.nodes.split(",") if n.strip()]
    if args.url:
        redis_cfg["url"] = args.url
    base = AgentCacheSettings()
    return base.model_copy(update={"redis": base.redis.model_copy(update=redis_cfg)})


def collect(
    client: RedisCluster, settings: AgentCacheSettings, tenant: str | None
) -> list[NodeReport]:
    """One ``NodeReport`` per primary, tenants sorted by entry count (largest first)."""
    prefix = settings.redis.key_prefix
    index_name = settings.semantic.index_name
    meta = decode(client.hgetall(_keys.meta_key(prefix, index_name)))
    physical = active_physical(meta, prefix, index_name)
    replicas: dict[str, list[str]] = {}
    for nodes in client.nodes_manager.slots_cache.values():
        replicas.setdefault(nodes[0].name, [])
        for replica in nodes[1:]:
            if replica.name not in replicas[nodes[0].name]:
                replicas[nodes[0].name].append(replica.name)
    pattern = _keys.lru_pattern(prefix, tenant or None)
    index_names = ClusterIndexOps(client).names(physical, required=False)
    reports = []
    for node in client.get_primaries():
        info = client.info("memory", target_nodes=node)
        index = index_names.get(node.name)
        report = NodeReport(
            node=node.name,
            slots=sum(
                1 for n in client.nodes_manager.slots_cache.values() if n[0].name == node.name
            ),
            replicas=replicas.get(node.name, []),
            used_memory=int(info.get("used_memory", 0)),
            keys=int(client.dbsize(target_nodes=node)),
            index=index,
            index_docs=_count(client, node, index, "*"),
        )
        conn = client.get_redis_connection(node)
        for raw in conn.scan_iter(match=pattern, count=1000):
            name = _keys.tenant_of_lru_key(reply_text(raw), prefix)
            if name is None:
                continue
            expr = f"@tenant:{{{_keys.tag_value(name)}}}"
            report.tenants.append(
                TenantPlacement(
                    tenant=name,
                    slot=_keys.key_slot(_keys.hash_tag(name)),
                    entries=_count(client, node, index, expr),
                )
            )
        report.tenants.sort(key=lambda t: (-t.entries, t.tenant))
        reports.append(report)
    return sorted(reports, key=lambda r: r.node)


def _count(client: RedisCluster, node: ClusterNode, index: str | None, expr: str) -> int:
    if index is None:
        return 0
    reply = client.execute_command(
        "FT.SEARCH", index, expr, "LIMIT", 0, 0, "DIALECT", 2, target_nodes=node
    )
    return search_rows_total(reply)


def run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if not (settings.redis.url or settings.redis.cluster_nodes):
        # Else resolve_url would start an embedded server, which is no cluster.
        raise ConfigurationError(
            "no cluster to inspect: pass --nodes host:port,... or --url, or set "
            "AGENTCACHE_REDIS__URL (or AGENTCACHE_REDIS__CLUSTER_NODES)"
        )
    client = sync_client(settings)
    if not isinstance(client, RedisCluster):  # sync_client follows settings.redis.cluster
        raise ConfigurationError("not a cluster client: set --nodes, or --url")
    try:
        reports = collect(client, settings, args.tenant)
    finally:
        client.close()
    if args.json:
        print(json.dumps([asdict(r) for r in reports], indent=2))
        return 0
    for r in reports:
        print(
            f"{r.node}  slots {r.slots}  replicas {','.join(r.replicas) or '-'}  "
            f"memory {r.used_memory / 2**20:.1f} MiB  keys {r.keys}  "
            f"index {r.index or '(none)'}  entries {r.index_docs}  tenants {len(r.tenants)}"
        )
        for t in r.tenants:
            print(f"    {t.tenant:<40} slot {t.slot:>5}  entries {t.entries}")
    return 0
