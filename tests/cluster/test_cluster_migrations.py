"""Index migrations on a real 3-primary OSS Redis Cluster, with a reader that never misses."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from migration_support import populate_tenants, prompt, variant
from redis.crc import key_slot

from agentcache._redis.keys import hash_tag
from agentcache.exceptions import MigrationError
from agentcache.migrations import Migrator
from agentcache.semantic import SemanticCache
from agentcache.semantic._cluster import anchor_slot
from agentcache.settings import DEFAULT_SCHEMA_PATH, AgentCacheSettings
from agentcache.testing.cluster import ClusterNodeProcess, LocalCluster
from agentcache.testing.reader import Reader
from agentcache.testing.vectors import HashingVectorizer

TENANTS = tuple(f"org-{i}" for i in range(6))
REFRESH = 0.05  # the caches' metadata refresh interval in these tests
SETTLE = 0.3  # the migrator's wait around a copy swap (> REFRESH)


def make_cache(settings: AgentCacheSettings) -> SemanticCache:
    cache = SemanticCache(settings, vectorizer=HashingVectorizer(32))
    cache.core.refresh_interval = REFRESH
    return cache


def populate(cache: SemanticCache, n: int = 120) -> dict[tuple[str, str], str]:
    return populate_tenants(cache, TENANTS, n)


def migrator(settings: AgentCacheSettings, **kwargs: Any) -> Migrator:
    kwargs.setdefault("settle_seconds", SETTLE)
    kwargs.setdefault("batch_size", 25)
    return Migrator(settings, **kwargs)


def reader_for(settings: AgentCacheSettings, entries: dict[tuple[str, str], str]) -> Reader:
    """A reader with its own client, as another process would have."""
    return Reader(make_cache(settings), entries, owns_cache=True)


@pytest.fixture
def settings(cluster_settings: AgentCacheSettings) -> AgentCacheSettings:
    return variant(cluster_settings, semantic__exact_match=False)  # every check hits the index


@pytest.fixture
def source(settings: AgentCacheSettings) -> Iterator[SemanticCache]:
    cache = make_cache(settings)
    yield cache
    cache.drop()
    cache.close()


def per_node(cluster: LocalCluster, physical: str) -> dict[int, str]:
    """``port -> per-node index name of physical`` on each primary, anchored in its slots."""
    out: dict[int, str] = {}
    for node in cluster.primaries():
        for raw in node.command("FT._LIST"):
            name = raw.decode()
            slot = anchor_slot(name, physical)
            if slot is not None and cluster.owner_of(slot) is node:
                out[node.port] = name
    return out


def attributes(node: ClusterNodeProcess, name: str) -> dict[str, Any]:
    info = node.command("FT.INFO", name)
    return {a[b"attribute"].decode(): a for a in info[b"attributes"]}


def test_add_tag_field_in_place_then_rollback(
    settings: AgentCacheSettings, source: SemanticCache, cluster: LocalCluster, tmp_path: Path
) -> None:
    raw = yaml.safe_load(DEFAULT_SCHEMA_PATH.read_text())
    raw["fields"].append({"name": "lang", "type": "tag"})
    schema = tmp_path / "schema.yaml"
    schema.write_text(yaml.safe_dump(raw))
    entries = populate(source)
    alias = source.core.alias
    new_settings = variant(settings, semantic__schema_path=schema)
    plan = migrator(new_settings).plan()
    assert (plan.strategy, plan.target.physical) == ("in_place", f"{alias}:v2")

    reader = reader_for(settings, entries)
    reader.start()
    report = migrator(new_settings).apply()
    reader.finish()
    assert sum(report.counts.values()) == len(entries) and len(report.counts) == len(TENANTS)
    assert report.samples > 0
    v2 = per_node(cluster, f"{alias}:v2")
    assert len(v2) == 3  # one per primary, each anchored in a slot it owns
    for node in cluster.primaries():
        assert "lang" in attributes(node, v2[node.port])
    time.sleep(REFRESH * 2)
    assert source.count() == len(entries)
    assert source.core.require_state().physical == f"{alias}:v2"
    status = migrator(settings).status()
    assert status.alias_target == f"{alias}:v2"
    assert status.previous is not None and status.docs[status.previous.physical] == len(entries)

    reader = reader_for(settings, entries)
    reader.start()
    assert "back at" in migrator(settings).rollback()
    time.sleep(REFRESH * 4)
    reader.finish()
    assert source.count() == len(entries)
    assert source.core.require_state().physical == f"{alias}:v1"
    assert migrator(settings).cleanup().startswith("drop")
    assert per_node(cluster, f"{alias}:v2") == {}  # dropped on every primary
    assert len(per_node(cluster, f"{alias}:v1")) == 3
    assert source.count() == len(entries)  # never DD: the shared keys stay


def test_float16_copy_keeps_writes_made_during_backfill_and_rolls_back(
    settings: AgentCacheSettings, source: SemanticCache, cluster: LocalCluster
) -> None:
    entries = populate(source)
    prefix = settings.redis.key_prefix
    writer = make_cache(settings)  # an app instance writing while the backfill runs
    updated = (TENANTS[0], prompt(0))  # stored again after the backfill, with a new answer
    reader = reader_for(settings, {k: v for k, v in entries.items() if k != updated})
    stored: list[int] = []
    pages: list[str] = []

    def copied_entries() -> Iterator[tuple[bytes, tuple[str, str]]]:
        """``(target key, (tenant, prompt))`` of every entry copied so far."""
        for key in migrator_.client.scan_iter(f"{prefix}:sem2:*"):
            tenant, text = migrator_.client.hmget(key, ["tenant_id", "prompt"])
            yield key, (tenant.decode(), text.decode())

    def during_backfill(phase: str, n: int, total: int | None) -> None:
        if phase == "backfill" and n > 0:
            pages.append(migrator_.client.hget(migrator_.checkpoint_key, "cursor").decode())
        if phase == "backfill" and n > 0 and not reader.gone:
            # Delete an entry already copied: the reconcile step must drop its copy. Not
            # the one stored again below (SCAN order is random): that one is rightly kept.
            victim = next(((k, e) for k, e in copied_entries() if e != updated), None)
            if victim is None:
                return  # only the updated entry is copied yet: take one on the next page
            copied, (tenant, text) = victim
            reader.gone.add((tenant, text))
            writer.invalidate(copied.decode().rsplit(":", 1)[-1], tenant=tenant)
        if phase == "backfill" and total and n >= total and not stored:
            # After the last page of every primary: only the catch-up pass can copy these.
            stored.append(n)
            writer.store("brand new question", "new answer", tenant=TENANTS[1], agent="support")
            writer.store(updated[1], "updated answer", tenant=updated[0], agent="support")

    migrator_ = migrator(
        variant(settings, semantic__vector_datatype="float16"), progress=during_backfill
    )
    reader.start()
    report = migrator_.apply()
    reader.finish()
    assert stored, "the hook ran after the last backfill page"
    assert report.copied == len(entries) and report.caught_up == 2 and report.reconciled == 1
    # The checkpoint kept one SCAN cursor per primary.
    assert '"nodes"' in pages[0] and pages[-1].count("-1") == 3
    assert len(per_node(cluster, f"{source.core.alias}:v2")) == 3

    after = make_cache(settings)  # configured float32: follows the index's datatype
    hit = after.check("brand new question", tenant=TENANTS[1], agent="support")
    assert hit is not None and hit.response == "new answer"
    hit = after.check(prompt(0), tenant=TENANTS[0], agent="support")
    assert hit is not None and hit.response == "updated answer"
    assert after.count() == len(entries)  # one added, one removed
    tenant, text = next(iter(reader.gone))
    assert after.check(text, tenant=tenant, agent="support") is None
    state = after.core.require_state()
    assert (state.datatype, state.entry_prefix) == ("float16", f"{prefix}:sem2:agentcache:")

    # Rollback: back to float32 v1; an entry written to v2 since the swap is copied back.
    after.store("written after the swap", "kept", tenant=TENANTS[2], agent="support")
    kept = {k: v for k, v in entries.items() if k[1] != prompt(0) and k not in reader.gone}
    reader = reader_for(settings, kept)
    reader.start()
    text = migrator(settings).rollback()
    time.sleep(REFRESH * 4)
    reader.finish()
    assert "copied 1 entries" in text
    time.sleep(REFRESH * 2)
    hit = after.check("written after the swap", tenant=TENANTS[2], agent="support")
    assert hit is not None and hit.response == "kept"
    assert after.core.require_state().datatype == "float32"
    migrator(settings).cleanup()
    assert per_node(cluster, f"{source.core.alias}:v2") == {}
    for node in cluster.primaries():
        assert node.command("KEYS", f"{prefix}:sem2:*") == []
    writer.close()
    after.close()


def test_refused_while_a_slot_is_migrating(
    settings: AgentCacheSettings,
    source: SemanticCache,
    cluster: LocalCluster,
    tenant_owner: Callable[[str], ClusterNodeProcess],
) -> None:
    populate(source, 12)
    slot = key_slot(hash_tag(TENANTS[0]).encode())
    home = tenant_owner(TENANTS[0])
    other = next(node for node in cluster.primaries() if node is not home)
    meta_before = source.client.hgetall(source.core.meta_key)
    home.command("CLUSTER", "SETSLOT", slot, "MIGRATING", other.node_id)
    try:
        with pytest.raises(MigrationError, match="migrating or importing hash slots"):
            migrator(variant(settings, semantic__vector_datatype="float16")).apply()
    finally:
        home.command("CLUSTER", "SETSLOT", slot, "STABLE")
    assert source.client.hgetall(source.core.meta_key) == meta_before  # nothing half-done
    assert migrator(settings).status().checkpoint == {}
    assert per_node(cluster, f"{source.core.alias}:v2") == {}
