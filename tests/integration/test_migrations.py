"""Index migrations on a real Redis Stack: every strategy, with a reader that never misses."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from migration_support import populate_tenants, prompt, variant

from agentcache.exceptions import MigrationError, MigrationLockedError
from agentcache.migrations import Migrator
from agentcache.semantic import SemanticCache
from agentcache.settings import DEFAULT_SCHEMA_PATH, AgentCacheSettings
from agentcache.testing.reader import Reader
from agentcache.testing.vectors import HashingVectorizer

TENANTS = ("acme", "globex", "initech")
REFRESH = 0.05  # the caches' metadata refresh interval in these tests
SETTLE = 0.3  # the migrator's wait around a copy swap (> REFRESH)


def make_cache(
    settings: AgentCacheSettings, dims: int = 32, model: str = "test-hash"
) -> SemanticCache:
    settings = variant(settings, embeddings__dims=dims, embeddings__model=model)
    cache = SemanticCache.create(settings, vectorizer=HashingVectorizer(dims, model=model))
    cache.core.refresh_interval = REFRESH
    return cache


def follow(cache: SemanticCache) -> None:
    """Let ``cache`` re-read the index metadata (as any call after the refresh interval does)."""
    time.sleep(REFRESH * 2)
    cache.count()


def populate(cache: SemanticCache, n: int = 240) -> dict[tuple[str, str], str]:
    return populate_tenants(cache, TENANTS, n)


@pytest.fixture
def source(settings: AgentCacheSettings) -> Iterator[SemanticCache]:
    """A reader-friendly cache (no exact-match shortcut: every check hits the index)."""
    cache = make_cache(variant(settings, semantic__exact_match=False))
    yield cache
    cache.close()


@pytest.fixture
def tag_schema(tmp_path: Path) -> Path:
    raw = yaml.safe_load(DEFAULT_SCHEMA_PATH.read_text())
    raw["fields"].append({"name": "lang", "type": "tag"})
    path = tmp_path / "schema.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def migrator(settings: AgentCacheSettings, **kwargs: Any) -> Migrator:
    kwargs.setdefault("settle_seconds", SETTLE)
    kwargs.setdefault("batch_size", 50)
    return Migrator(settings, **kwargs)


def alias_fields(client: redis.Redis, alias: str) -> dict[str, dict[bytes, Any]]:
    info = client.execute_command("FT.INFO", alias)
    return {a[b"attribute"].decode(): a for a in info[b"attributes"]}


def test_plan_names_the_strategy(
    settings: AgentCacheSettings, source: SemanticCache, tag_schema: Path
) -> None:
    assert migrator(settings).plan().strategy == "none"
    plan = migrator(variant(settings, semantic__schema_path=tag_schema)).plan()
    assert (plan.strategy, plan.transform) == ("in_place", "none")
    assert plan.target.entry_prefix == plan.source.entry_prefix
    assert "add tag field 'lang'" in plan.describe()
    plan = migrator(variant(settings, semantic__hnsw_m=32)).plan()
    assert (plan.strategy, plan.changes) == ("in_place", ("field 'embedding': m 16 -> 32",))
    plan = migrator(variant(settings, semantic__vector_datatype="float16")).plan()
    assert (plan.strategy, plan.transform) == ("copy", "datatype")
    assert plan.target.entry_prefix == f"{settings.redis.key_prefix}:sem2:agentcache:"
    new = variant(settings, embeddings__dims=48, embeddings__model="test-hash-48")
    plan = migrator(new, vectorizer=HashingVectorizer(48, model="test-hash-48")).plan()
    assert (plan.strategy, plan.transform, plan.target.dims) == ("copy", "reembed", 48)


def test_dry_run_changes_nothing(
    settings: AgentCacheSettings, source: SemanticCache, redis_client: redis.Redis
) -> None:
    populate(source, 30)
    before = redis_client.hgetall(source.core.meta_key)
    m = migrator(variant(settings, semantic__vector_datatype="float16"))
    report = m.apply(dry_run=True)
    assert report.dry_run and "dry run" in report.describe()
    assert redis_client.hgetall(source.core.meta_key) == before
    assert m.status().checkpoint == {} and m.status().lock_holder is None
    assert redis_client.keys(f"{settings.redis.key_prefix}:sem2:*") == []
    assert "nothing to clean up" in m.cleanup(dry_run=True)


def test_add_tag_field_in_place(
    settings: AgentCacheSettings, source: SemanticCache, tag_schema: Path, redis_client: redis.Redis
) -> None:
    entries = populate(source)
    reader = Reader(source, entries)
    reader.start()
    report = migrator(variant(settings, semantic__schema_path=tag_schema)).apply()
    reader.finish()
    assert report.copied == 0 and sum(report.counts.values()) == len(entries)
    assert report.samples > 0
    assert "lang" in alias_fields(redis_client, source.core.alias)
    follow(source)
    assert source.core.state is not None and source.core.state.version == 2
    assert source.count() == len(entries)


def test_hnsw_parameters_in_place(
    settings: AgentCacheSettings, source: SemanticCache, redis_client: redis.Redis
) -> None:
    entries = populate(source)
    reader = Reader(source, entries)
    reader.start()
    migrator(variant(settings, semantic__hnsw_m=32, semantic__hnsw_ef_construction=100)).apply()
    reader.finish()
    vector = alias_fields(redis_client, source.core.alias)["embedding"]
    assert (vector[b"M"], vector[b"ef_construction"]) == (32, 100)
    status = migrator(settings).status()
    assert status.alias_target == status.active.physical == f"{source.core.alias}:v2"  # type: ignore[union-attr]
    assert status.previous is not None and status.docs[status.previous.physical] == len(entries)


def test_float16_copy_keeps_writes_made_during_backfill(
    settings: AgentCacheSettings, source: SemanticCache, redis_client: redis.Redis
) -> None:
    entries = populate(source)
    writer = make_cache(settings)  # an app instance writing while the backfill runs
    reader = Reader(source, {k: v for k, v in entries.items() if k != ("acme", prompt(3))})
    doomed: list[str] = []
    stored: list[int] = []

    def during_backfill(phase: str, n: int, total: int | None) -> None:
        if phase == "backfill" and n > 0 and not doomed:
            # Delete an entry that was already copied: the reconcile step must drop the copy.
            copied = next(redis_client.scan_iter(f"{settings.redis.key_prefix}:sem2:*"))
            row = redis_client.hmget(copied, ["tenant_id", "prompt"])
            tenant, text = row[0].decode(), row[1].decode()
            doomed.append(text)
            reader.gone.add((tenant, text))
            writer.invalidate(copied.decode().rsplit(":", 1)[-1], tenant=tenant)
        if phase == "backfill" and total and n >= total and not stored:
            # After the SCAN's last page: only the catch-up pass can carry these over.
            stored.append(n)
            writer.store("brand new question", "new answer", tenant="acme", agent="support")
            writer.store(prompt(3), "updated answer", tenant="acme", agent="support")

    reader.start()
    report = migrator(
        variant(settings, semantic__vector_datatype="float16"), progress=during_backfill
    ).apply()
    reader.finish()
    assert doomed and stored, "the hook ran during the backfill"
    assert report.caught_up == 2 and report.reconciled == 1
    meta = redis_client.hgetall(source.core.meta_key)
    assert (meta[b"datatype"], meta[b"entry_prefix"]) == (
        b"float16",
        f"{settings.redis.key_prefix}:sem2:agentcache:".encode(),
    )
    after = make_cache(settings)  # configured float32: follows the index's datatype
    assert (
        after.check("brand new question", tenant="acme", agent="support").response == "new answer"
    )  # type: ignore[union-attr]
    assert after.check(prompt(3), tenant="acme", agent="support").response == "updated answer"  # type: ignore[union-attr]
    tenant, text = next(iter(reader.gone))
    assert after.check(text, tenant=tenant, agent="support") is None
    assert after.count() == len(entries)  # one added, one removed
    after.store("stored after the swap", "fresh", tenant="acme", agent="support")
    assert after.core.entry_key("acme", "x").startswith(
        f"{settings.redis.key_prefix}:sem2:agentcache:"
    )


def test_reembed_with_new_model_and_dims(
    settings: AgentCacheSettings, source: SemanticCache, redis_client: redis.Redis
) -> None:
    entries = populate(source)
    reader = Reader(source, entries)  # an old-model (32-dim) instance, running throughout
    reader.start()
    new_settings = variant(settings, embeddings__dims=48, embeddings__model="test-hash-48")
    vectorizer = HashingVectorizer(48, model="test-hash-48")
    report = migrator(new_settings, vectorizer=vectorizer).apply()
    assert vectorizer.calls == report.copied == len(entries)
    new = make_cache(new_settings, dims=48, model="test-hash-48")
    for (tenant, text), response in list(entries.items())[:60]:
        hit = new.check(text, tenant=tenant, agent="support")
        assert hit is not None and hit.response == response
    reader.finish()  # the old instance stayed on the retained previous version
    assert source.core.state is not None and source.core.state.pinned
    assert source.core.state.physical.endswith(":v1")
    # An old instance writing after the swap: cleanup copies (re-embeds) it first.
    source.store("late old-model write", "late", tenant="acme", agent="support")
    assert migrator(new_settings, vectorizer=vectorizer).cleanup().startswith("drop")
    assert new.check("late old-model write", tenant="acme", agent="support").response == "late"  # type: ignore[union-attr]
    assert redis_client.keys(f"{settings.redis.key_prefix}:sem:*") == []
    assert b"previous_physical" not in redis_client.hgetall(source.core.meta_key)


def test_rollback_restores_the_previous_version(
    settings: AgentCacheSettings, source: SemanticCache, redis_client: redis.Redis
) -> None:
    entries = populate(source, 60)
    new_settings = variant(settings, semantic__vector_datatype="float16")
    migrator(new_settings).apply()
    writer = make_cache(settings)
    writer.store("written after the swap", "kept", tenant="acme", agent="support")
    reader = Reader(source, entries)
    reader.start()
    text = migrator(new_settings).rollback()
    reader.finish()
    assert "copied 1 entries" in text
    follow(source)
    meta = redis_client.hgetall(source.core.meta_key)
    assert (meta[b"version"], meta[b"datatype"], meta[b"previous_version"]) == (
        b"1",
        b"float32",
        b"2",
    )
    assert source.core.state is not None and source.core.state.version == 1
    hit = source.check("written after the swap", tenant="acme", agent="support")
    assert hit is not None and hit.response == "kept"
    migrator(settings).cleanup()
    assert redis_client.keys(f"{settings.redis.key_prefix}:sem2:*") == []
    with pytest.raises(MigrationError, match="nothing to roll back"):
        migrator(settings).rollback()


def test_second_migration_is_refused(settings: AgentCacheSettings, source: SemanticCache) -> None:
    populate(source, 120)
    new_settings = variant(settings, semantic__vector_datatype="float16")
    refused: list[BaseException] = []
    seen: dict[str, Any] = {}

    def hook(phase: str, n: int, total: int | None) -> None:
        if phase == "backfill" and not refused:
            with pytest.raises(MigrationLockedError) as info:
                migrator(new_settings).apply()
            refused.append(info.value)
            status = migrator(settings).status()
            seen.update(lock=status.lock_holder, phase=status.checkpoint.get("phase"))

    migrator(new_settings, progress=hook).apply()
    assert refused and "another migration holds" in str(refused[0])
    assert seen["lock"] and seen["phase"] == "backfill"
    assert migrator(settings).status().lock_holder is None


def test_interrupted_migration_resumes(
    settings: AgentCacheSettings, source: SemanticCache, redis_client: redis.Redis
) -> None:
    entries = populate(source, 300)
    new_settings = variant(settings, semantic__vector_datatype="float16")

    class Crash(Exception):
        pass

    def crash(phase: str, n: int, total: int | None) -> None:
        if phase == "backfill" and n >= 100:
            raise Crash

    with pytest.raises(Crash):
        migrator(new_settings, progress=crash).apply()
    status = migrator(settings).status()
    assert status.lock_holder is None  # released on the way out
    assert status.checkpoint["phase"] == "backfill" and status.checkpoint["cursor"] != "0"
    first = int(status.checkpoint["copied"])
    reader = Reader(source, entries)
    reader.start()
    report = migrator(new_settings).apply()
    reader.finish()
    assert report.resumed and report.copied >= len(entries)
    assert redis_client.hlen(f"{settings.redis.key_prefix}:meta:agentcache:migration") == 0
    assert first >= 100 and report.copied - first < len(entries)  # not started over
    assert sum(report.counts.values()) == len(entries)
    follow(source)
    assert source.core.state is not None and source.core.state.datatype == "float16"


def test_cli_plan_apply_status(
    settings: AgentCacheSettings,
    source: SemanticCache,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from agentcache.cli.migrate import main

    populate(source, 30)
    monkeypatch.setenv("AGENTCACHE_REDIS__URL", str(settings.redis.url))
    monkeypatch.setenv("AGENTCACHE_REDIS__KEY_PREFIX", settings.redis.key_prefix)
    monkeypatch.setenv("AGENTCACHE_EMBEDDINGS__DIMS", "32")
    assert main(["plan", "--hnsw-m", "24"]) == 0
    assert "re-index in place" in capsys.readouterr().out
    assert main(["apply", "--hnsw-m", "24", "--dry-run"]) == 0
    assert "dry run" in capsys.readouterr().out
    assert main(["apply", "--hnsw-m", "24", "--no-progress"]) == 0
    assert "swapped" in capsys.readouterr().out
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert ":v2" in out and "30 entries" in out and "lock         free" in out
    assert main(["rollback", "--dry-run"]) == 0 and "[dry run]" in capsys.readouterr().out
