"""Redis-side metrics at 1,000+ tenants: one flush stays a bounded batch.

A flush used to send one ``HINCRBY`` per field of every series: tens of
thousands of commands in one pipeline at 1,000 tenants, which timed out
reading the replies. It is now a few script calls whatever the tenant count.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from agentcache._redis.server import EmbeddedRedis
from agentcache.acl import tenant_acl_rules
from agentcache.metrics._counters import Metrics
from agentcache.metrics._flush import (
    FLUSH_CALLS_PER_ROUND_TRIP,
    FLUSH_SERIES_PER_CALL,
    RedisCounters,
    counter_key,
    histograms_from_fields,
    read_counters,
)
from agentcache.metrics._types import HITS, MISSES, NO_TENANT, STORES, Series
from agentcache.testing.counting import CountingPipeline, CountingRedis

TENANTS = 1_000
BOUND = 12  # commands of one flush of 1,000 tenants (2,000 series): ceil(2000 / 200) + slack


@pytest.fixture
def counting(redis_url: str, key_prefix: str) -> Iterator[CountingRedis]:
    client = CountingRedis.from_url(redis_url)
    assert isinstance(client, CountingRedis)
    yield client
    for key in client.scan_iter(match=f"{key_prefix}:*", count=1000):
        client.delete(key)  # only this test's prefix
    client.close()


def _report(metrics: Metrics, tenant: str, i: int) -> None:
    """What a store and a check of one tenant report (counts, savings, latencies)."""
    metrics.count("semantic", STORES, tenant, "agent")
    metrics.count("semantic", MISSES, tenant, "agent")
    metrics.count("semantic", HITS, tenant, "agent", i % 3)
    metrics.saved("semantic", tenant, "agent", tokens=10 + i, usd=0.25)
    metrics.observe("semantic", "store", 0.002, tenant, "agent")
    metrics.observe("semantic", "check", 0.0004 + i / 10_000, tenant, "agent")
    metrics.count("tool", HITS, tenant, f"tool-{i % 4}")


def test_one_flush_of_1000_tenants_is_a_bounded_batch_with_exact_totals(
    counting: CountingRedis, key_prefix: str
) -> None:
    counters = RedisCounters(lambda: counting, key_prefix, interval=3600, owns_client=False)
    metrics = Metrics(counters=counters)
    tenants = [f"tenant-{i}" for i in range(TENANTS)]
    for flush in range(2):
        for i, tenant in enumerate(tenants):
            _report(metrics, tenant, i)
        assert counters.pending == 2 * TENANTS
        trips, commands = counting.round_trips, counting.commands
        assert metrics.flush()
        trips, commands = counting.round_trips - trips, counting.commands - commands
        # The first flush also loads the script (one more call, sent again).
        assert trips <= (3 if flush == 0 else 1)
        assert commands <= (2 * BOUND + 1 if flush == 0 else BOUND)
        assert counters.pending == 0 and counters.dropped == 0

    stored = read_counters(counting, key_prefix)
    assert len(stored) == 2 * TENANTS
    for i, tenant in enumerate(tenants):
        row = stored[Series("semantic", tenant, "agent")]
        assert row[STORES] == 2 and row[MISSES] == 2 and row[HITS] == 2 * (i % 3)
        assert row["tokens_saved"] == 2 * (10 + i) and row["usd_saved"] == pytest.approx(0.5)
        hists = histograms_from_fields(row)
        assert hists["store"].total == 2 and hists["check"].total == 2
        assert hists["check"].sum == pytest.approx(2 * (0.0004 + i / 10_000))
        assert stored[Series("tool", tenant, f"tool-{i % 4}")] == {HITS: 2.0}


def test_3000_tenants_still_flush_in_one_round_trip(
    counting: CountingRedis, key_prefix: str
) -> None:
    counters = RedisCounters(lambda: counting, key_prefix, interval=3600, owns_client=False)
    metrics = Metrics(counters=counters)
    _report(metrics, "warm-up", 0)
    assert metrics.flush()  # loads the script
    for tenants in (10, 3 * TENANTS):
        for i in range(tenants):
            _report(metrics, f"{tenants}-{i}", i)
        trips, commands = counting.round_trips, counting.commands
        assert metrics.flush()
        assert counting.round_trips - trips == 1
        assert counting.commands - commands <= 3 * BOUND
    totals = read_counters(counting, key_prefix)
    assert sum(row.get(STORES, 0) for row in totals.values()) == 1 + 10 + 3 * TENANTS


def test_a_key_of_the_wrong_type_loses_only_its_own_fields(
    counting: CountingRedis, key_prefix: str
) -> None:
    counters = RedisCounters(lambda: counting, key_prefix, interval=3600, owns_client=False)
    metrics = Metrics(counters=counters)
    bad = Series("semantic", "bad", "agent")
    counting.set(counter_key(key_prefix, bad), "not a hash")
    for tenant in ("a", "bad", "z"):
        metrics.count("semantic", STORES, tenant, "agent", 2)
        metrics.saved("semantic", tenant, "agent", tokens=5, usd=0.5)
    assert metrics.flush()
    assert metrics.flush()  # nothing kept back to be counted twice
    assert counters.dropped == 3  # the three fields of "bad"
    for tenant in ("a", "z"):
        row = counting.hgetall(counter_key(key_prefix, Series("semantic", tenant, "agent")))
        assert row == {b"stores": b"2", b"tokens_saved": b"5", b"usd_saved": b"0.5"}
    assert counting.get(counter_key(key_prefix, bad)) == b"not a hash"


def test_a_tenant_acl_user_keeps_its_counts_when_shared_ones_are_refused(
    redis_url: str, counting: CountingRedis, key_prefix: str
) -> None:
    user, password = f"agentcache-test-{uuid.uuid4().hex}", uuid.uuid4().hex
    counting.execute_command(
        "ACL", "SETUSER", user, "on", f">{password}", *tenant_acl_rules("acme", key_prefix)
    )
    client = CountingRedis.from_url(redis_url, username=user, password=password)
    assert isinstance(client, CountingRedis)
    try:
        counters = RedisCounters(lambda: client, key_prefix, interval=3600, owns_client=False)
        metrics = Metrics(counters=counters)
        for _ in range(2):
            metrics.count("semantic", HITS, "acme", "agent")
            metrics.count("embedding", MISSES, NO_TENANT, "model")  # {~global}: refused
            metrics.count("semantic", HITS, "globex", "agent")  # another tenant: refused
            assert metrics.flush()
        # Once refused, a tag gets calls of its own: one round trip per flush.
        metrics.count("semantic", HITS, "acme", "agent")
        metrics.count("semantic", HITS, "globex", "agent")
        trips = client.round_trips
        assert metrics.flush()
        assert client.round_trips - trips == 1
        stored = read_counters(counting, key_prefix)
        assert stored == {Series("semantic", "acme", "agent"): {HITS: 3.0}}
        assert counters.dropped == 5  # two refused deltas per flush, then one
    finally:
        client.close()
        counting.execute_command("ACL", "DELUSER", user)


def test_under_oom_a_flush_writes_nothing_and_keeps_every_delta() -> None:
    # A server of its own: maxmemory is lowered below what it uses.
    with EmbeddedRedis() as server:
        client = redis.Redis.from_url(server.url)
        try:
            counters = RedisCounters(lambda: client, "oom", interval=3600, owns_client=False)
            metrics = Metrics(counters=counters)
            for i in range(500):
                metrics.count("semantic", HITS, f"t{i}", "agent", 2)
            client.config_set("maxmemory-policy", "noeviction")
            client.config_set("maxmemory", 1)
            assert not metrics.flush()
            assert counters.pending == 500 and counters.dropped == 0
            assert client.dbsize() == 0  # refused whole, not half-written
            client.config_set("maxmemory", 0)
            assert metrics.flush()
            stored = read_counters(client, "oom")
            assert len(stored) == 500 and {row[HITS] for row in stored.values()} == {2.0}
        finally:
            client.close()


class _DroppingPipeline(CountingPipeline):
    owner: _LinkDropsOnce

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        if self.owner.round_trips + 1 == self.owner.fail_at:
            self.owner.round_trips += 1
            raise redis.ConnectionError("injected: the link dropped before sending")
        return super().execute(raise_on_error)


class _LinkDropsOnce(CountingRedis):
    """A real client whose ``fail_at``-th round trip, a pipeline, loses the link."""

    fail_at = 0

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> _DroppingPipeline:
        pipe = _DroppingPipeline(
            self.connection_pool, self.response_callbacks, transaction, shard_hint
        )
        pipe.owner = self
        return pipe


def test_a_link_lost_mid_flush_keeps_only_what_was_not_written(
    redis_url: str, key_prefix: str
) -> None:
    client = _LinkDropsOnce.from_url(redis_url)
    assert isinstance(client, _LinkDropsOnce)
    try:
        counters = RedisCounters(lambda: client, key_prefix, interval=3600, owns_client=False)
        metrics = Metrics(counters=counters)
        metrics.count("semantic", STORES, "warm-up", "agent")
        assert metrics.flush()  # loads the script
        # More series than one round trip carries: the second pipeline fails.
        series = (FLUSH_CALLS_PER_ROUND_TRIP + 6) * FLUSH_SERIES_PER_CALL
        for i in range(series):
            metrics.count("semantic", STORES, f"tenant-{i}", "agent")
        client.fail_at = client.round_trips + 2
        assert not metrics.flush()
        assert counters.pending == 6 * FLUSH_SERIES_PER_CALL  # the unsent calls only
        assert metrics.flush() and counters.pending == 0
        stored = read_counters(client, key_prefix)
        assert len(stored) == series + 1
        assert {row[STORES] for row in stored.values()} == {1.0}  # none counted twice
    finally:
        for key in client.scan_iter(match=f"{key_prefix}:*", count=1000):
            client.delete(key)
        client.close()


_EXIT_CLUSTER_SCRIPT = """
import socket
from redis.cluster import RedisCluster
from agentcache.metrics._counters import Metrics
from agentcache.metrics._flush import RedisCounters

with socket.socket() as probe:  # a port nothing listens on: a stopped cluster
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
metrics = Metrics(counters=RedisCounters(
    lambda: RedisCluster(host="127.0.0.1", port=port, socket_connect_timeout=1),
    "exitc", interval=3600,
))
metrics.count("semantic", "hits", "acme", "agent")
"""


def test_exit_flush_to_an_unreachable_cluster_is_quiet() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _EXIT_CLUSTER_SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "RedisClusterException" not in done.stderr
