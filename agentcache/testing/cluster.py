"""A local OSS Redis Cluster on loopback, for tests and benchmarks.

Each node is an ``EmbeddedRedis`` (Redis 8.2 with the search and JSON
modules) started with ``--cluster-enabled yes``. The nodes are joined with
``CLUSTER MEET``, the 16384 slots split evenly with ``CLUSTER ADDSLOTS``,
and, when asked, one replica is attached to every primary with
``CLUSTER REPLICATE``. Faults are real: ``kill`` SIGKILLs a node,
``failover`` promotes a replica, ``migrate_slot`` moves a slot's keys with
``CLUSTER SETSLOT`` / ``MIGRATE`` exactly as ``redis-cli --cluster reshard`` does.

Example::

    with LocalCluster(primaries=3) as cluster:
        client = redis.cluster.RedisCluster.from_url(cluster.url)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from agentcache._redis.clients import reply_text
from agentcache._redis.server import (
    EmbeddedRedis,
    Served,
    ServerBinaries,
    find_binaries,
    free_port,
    wait_until,
)
from agentcache.exceptions import EmbeddedServerError

SLOTS = 16384

__all__ = ["ClusterNodeProcess", "LocalCluster"]


@dataclass
class ClusterNodeProcess:
    """One node of a ``LocalCluster``: its server process and cluster identity."""

    server: EmbeddedRedis
    node_id: str = ""
    primary_of: str | None = None  # node id of the primary this one replicates

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    def client(self, timeout: float = 5.0) -> redis.Redis:
        """A plain (non-cluster) client to this node alone."""
        return redis.Redis(
            port=self.server.port, socket_timeout=timeout, socket_connect_timeout=timeout
        )

    def command(self, *args: Any) -> Any:
        with self.client() as conn:
            return conn.execute_command(*args)


class LocalCluster(Served):
    """``primaries`` nodes (plus one replica each if ``replicas``) forming one cluster.

    Args:
        primaries: how many primaries share the slots (3 is the minimum
            Redis accepts for automatic failover).
        replicas: attach one replica to every primary.
        node_timeout_ms: ``cluster-node-timeout``; short, so that automatic
            failover in tests takes about a second.
        binaries: the redis-server and modules (default: as ``EmbeddedRedis``).
    """

    def __init__(
        self,
        primaries: int = 3,
        *,
        replicas: bool = False,
        node_timeout_ms: int = 1000,
        binaries: ServerBinaries | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        if primaries < 1:
            raise ValueError("a cluster needs at least one primary")
        self.binaries = binaries or find_binaries()
        self.node_timeout_ms = node_timeout_ms
        self.startup_timeout = startup_timeout
        count = primaries * (2 if replicas else 1)
        self.nodes = [ClusterNodeProcess(self._server()) for _ in range(count)]
        self._primary_count = primaries

    def _server(self) -> EmbeddedRedis:
        bus_port = free_port()
        extra = (
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(self.node_timeout_ms),
            "--cluster-port", str(bus_port),
            # Replicas must be allowed to take over even right after start.
            "--cluster-replica-validity-factor", "0",
            "--cluster-require-full-coverage", "no",
            "--cluster-allow-reads-when-down", "no",
        )  # fmt: skip
        return EmbeddedRedis(binaries=self.binaries, extra_args=extra)

    # -- addresses ----------------------------------------------------------
    @property
    def url(self) -> str:
        """A seed URL (the first live node) for ``RedisCluster.from_url``."""
        for node in self.nodes:
            if node.server.running:
                return node.server.url
        raise EmbeddedServerError("no node of the local cluster is running")

    @property
    def seeds(self) -> list[str]:
        """Every node as ``host:port`` (for ``settings.redis.cluster_nodes``)."""
        return [node.address for node in self.nodes]

    def primaries(self) -> list[ClusterNodeProcess]:
        """The nodes that currently serve slots as primaries (asked of the cluster)."""
        roles = self._roles()
        return [node for node in self.nodes if roles.get(node.node_id) == "master"]

    def replicas(self) -> list[ClusterNodeProcess]:
        roles = self._roles()
        return [node for node in self.nodes if roles.get(node.node_id) == "slave"]

    def node_by_id(self, node_id: str) -> ClusterNodeProcess:
        for node in self.nodes:
            if node.node_id == node_id:
                return node
        raise KeyError(node_id)

    def owner_of(self, slot: int) -> ClusterNodeProcess:
        """The primary serving ``slot`` now, as seen by a live node."""
        for entry in self._live().command("CLUSTER", "SLOTS"):
            start, end, primary = int(entry[0]), int(entry[1]), entry[2]
            if start <= slot <= end:
                port = int(primary[1])
                return next(node for node in self.nodes if node.port == port)
        raise KeyError(f"slot {slot} is not served")

    # -- lifecycle ----------------------------------------------------------
    def start(self) -> LocalCluster:
        """Start every node, form the cluster, and wait until it is ``ok``."""
        try:
            for node in self.nodes:
                node.server.start()
                node.node_id = reply_text(node.command("CLUSTER", "MYID"))
            first = self.nodes[0]
            for node in self.nodes[1:]:
                first.command("CLUSTER", "MEET", "127.0.0.1", node.port, self._bus_port(node))
            self._wait(self._all_known, "nodes to see each other")
            self._assign_slots()
            # While every node is still a master, let Redis give each its own config
            # epoch: a replica keeps the epoch it had as a master, and one that still
            # shares it with its primary cannot win a TAKEOVER later (it claims the
            # slots at an epoch no greater than the dead primary's; nobody accepts).
            self._wait(self._distinct_epochs, "distinct config epochs")
            self._attach_replicas()
            self.wait_ok()
        except BaseException:
            self.stop()
            raise
        return self

    def _bus_port(self, node: ClusterNodeProcess) -> int:
        args = node.server.extra_args
        return int(args[args.index("--cluster-port") + 1])

    def _assign_slots(self) -> None:
        primaries = self.nodes[: self._primary_count]
        share = SLOTS // len(primaries)
        for i, node in enumerate(primaries):
            start = i * share
            end = SLOTS - 1 if i == len(primaries) - 1 else start + share - 1
            node.command("CLUSTER", "ADDSLOTSRANGE", start, end)

    def _attach_replicas(self) -> None:
        primaries = self.nodes[: self._primary_count]
        for primary, replica in zip(primaries, self.nodes[self._primary_count :], strict=False):
            # A replica must know its primary's id before it can follow it.
            knows = functools.partial(_knows, replica, primary.node_id)
            self._wait(knows, "replica to learn ids")
            replica.command("CLUSTER", "REPLICATE", primary.node_id)
            replica.primary_of = primary.node_id
        for replica in self.nodes[self._primary_count :]:
            self._wait(functools.partial(_link_up, replica), "replication link")

    def stop(self) -> None:
        """Stop every node and remove their files."""
        for node in self.nodes:
            node.server.stop()

    # -- health -------------------------------------------------------------
    def wait_ok(self, timeout: float | None = None) -> None:
        """Wait until every live node reports ``cluster_state:ok`` and full slot coverage."""
        self._wait(self._healthy, "cluster_state:ok", timeout)

    def _healthy(self) -> bool:
        live = [node for node in self.nodes if node.server.running]
        for node in live:
            info = _cluster_info(node)
            if info.get("cluster_state") != "ok" or info.get("cluster_slots_ok") != str(SLOTS):
                return False
        # Every live node must agree on who owns what before clients may rely on it.
        views = {_slot_view(node) for node in live}
        return len(views) == 1

    def _distinct_epochs(self) -> bool:
        for node in self.nodes:
            lines = reply_text(node.command("CLUSTER", "NODES")).splitlines()
            if len({line.split()[6] for line in lines}) != len(self.nodes):
                return False
        return True

    def _all_known(self) -> bool:
        want = len(self.nodes)
        return all(int(_cluster_info(n).get("cluster_known_nodes", 0)) == want for n in self.nodes)

    def _live(self) -> ClusterNodeProcess:
        for node in self.nodes:
            if node.server.running:
                return node
        raise EmbeddedServerError("no node of the local cluster is running")

    def _roles(self) -> dict[str, str]:
        roles: dict[str, str] = {}
        for line in reply_text(self._live().command("CLUSTER", "NODES")).splitlines():
            parts = line.split()
            flags = set(parts[2].split(","))
            if "fail" in flags or "fail?" in flags:
                continue
            if "master" in flags:
                # A restarted old primary shows as a master without slots until it
                # learns it was replaced and turns replica: not a primary yet.
                roles[parts[0]] = "master" if len(parts) > 8 else "idle"
            else:
                roles[parts[0]] = "slave"
        return roles

    def _wait(self, predicate: Callable[[], bool], what: str, timeout: float | None = None) -> None:
        # A forming cluster answers with errors (CLUSTERDOWN, unknown node): not yet.
        done = wait_until(predicate, timeout or self.startup_timeout, retry_on=(redis.RedisError,))
        if not done:
            raise EmbeddedServerError(f"local cluster: timed out waiting for {what}")

    # -- faults -------------------------------------------------------------
    def kill(self, node: ClusterNodeProcess) -> None:
        """SIGKILL ``node`` (its port and nodes.conf stay, so it can restart)."""
        node.server.kill()

    def restart(self, node: ClusterNodeProcess) -> None:
        """Start a killed node again; it rejoins with its old identity."""
        node.server.start()

    def failover(self, replica: ClusterNodeProcess, *, takeover: bool = True) -> None:
        """Promote ``replica`` (TAKEOVER: without its primary's agreement) and wait."""
        args = ("CLUSTER", "FAILOVER", "TAKEOVER") if takeover else ("CLUSTER", "FAILOVER")
        replica.command(*args)
        self._wait(lambda: _role(replica) == "master", "replica promotion")
        self.wait_ok()

    def migrate_slot(
        self,
        slot: int,
        target: ClusterNodeProcess,
        *,
        batch: int = 10,
        between_batches: Callable[[], None] | None = None,
    ) -> int:
        """Move ``slot`` and its keys to ``target``; return how many keys moved.

        The steps of a reshard: IMPORTING on the target, MIGRATING on the
        source, ``MIGRATE`` the keys ``batch`` at a time (``between_batches``
        runs after each, so a test can look at the half-moved state), then
        ``SETSLOT NODE`` on every primary.
        """
        source = self.owner_of(slot)
        if source is target:
            return 0
        target.command("CLUSTER", "SETSLOT", slot, "IMPORTING", source.node_id)
        source.command("CLUSTER", "SETSLOT", slot, "MIGRATING", target.node_id)
        moved = 0
        while True:
            keys = source.command("CLUSTER", "GETKEYSINSLOT", slot, batch)
            if not keys:
                break
            assert isinstance(keys, list)
            source.command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", *keys)
            moved += len(keys)
            if between_batches is not None:
                between_batches()
        # The target first, so the slot is never without an owner that knows it.
        target.command("CLUSTER", "SETSLOT", slot, "NODE", target.node_id)
        source.command("CLUSTER", "SETSLOT", slot, "NODE", target.node_id)
        for node in self.primaries():
            if node is not source and node is not target:
                node.command("CLUSTER", "SETSLOT", slot, "NODE", target.node_id)
        self.wait_ok()
        return moved


def _cluster_info(node: ClusterNodeProcess) -> dict[str, str]:
    lines = reply_text(node.command("CLUSTER", "INFO")).splitlines()
    pairs = (line.split(":", 1) for line in lines if ":" in line)
    return {key: value.strip() for key, value in pairs}


def _slot_view(node: ClusterNodeProcess) -> tuple[tuple[int, int, int], ...]:
    entries = node.command("CLUSTER", "SLOTS")
    assert isinstance(entries, list)
    return tuple(sorted((int(e[0]), int(e[1]), int(e[2][1])) for e in entries))


def _knows(node: ClusterNodeProcess, node_id: str) -> bool:
    return node_id in reply_text(node.command("CLUSTER", "NODES"))


def _role(node: ClusterNodeProcess) -> str:
    reply = node.command("ROLE")
    assert isinstance(reply, list)
    return reply_text(reply[0])


def _link_up(node: ClusterNodeProcess) -> bool:
    with node.client() as conn:
        info = conn.info("replication")
    return bool(info.get("master_link_status") == "up")
