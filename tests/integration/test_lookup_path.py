"""The lookup's round trips and query plan: pipelined probe, hybrid policy, payload reads."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import redis

from agentcache import AsyncSemanticCache, EmbeddedRedis, SemanticCache
from agentcache.settings import AgentCacheSettings
from agentcache.testing.counting import CountingRedis
from agentcache.testing.vectors import HashingVectorizer

DIMS = 32


def unit_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    rows = rng.standard_normal((n, DIMS)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def near(vector: np.ndarray, rng: np.random.Generator, noise: float = 0.05) -> np.ndarray:
    moved = vector + noise * rng.standard_normal(DIMS).astype(np.float32) / np.sqrt(DIMS)
    return (moved / np.linalg.norm(moved)).astype(np.float32)


def with_semantic(settings: AgentCacheSettings, **changes: object) -> AgentCacheSettings:
    semantic = settings.semantic.model_copy(update=changes)
    return settings.model_copy(update={"semantic": semantic})


@contextlib.contextmanager
def opened(settings: AgentCacheSettings, **semantic: object) -> Iterator[SemanticCache]:
    """A cache on its own key prefix, dropped and closed afterwards."""
    chosen = with_semantic(settings, **semantic) if semantic else settings
    cache = SemanticCache(chosen, vectorizer=HashingVectorizer(DIMS))
    try:
        yield cache
    finally:
        cache.drop()
        cache.close()


@pytest.fixture
def counting(settings: AgentCacheSettings) -> Iterator[tuple[SemanticCache, CountingRedis]]:
    client = CountingRedis.from_url(settings.redis.url)
    metrics = settings.metrics.model_copy(update={"enabled": False})  # no background flush
    quiet = with_semantic(settings.model_copy(update={"metrics": metrics}), hit_flush_seconds=3600)
    cache = SemanticCache(quiet, client=client, vectorizer=HashingVectorizer(DIMS))
    cache.core.refresh_interval = float("inf")  # no metadata re-read inside a counted window
    yield cache, client
    cache.drop()
    client.close()


def _round_trips(client: CountingRedis, lookup: Any) -> tuple[Any, int]:
    before = client.round_trips
    found = lookup()
    return found, client.round_trips - before


@pytest.mark.parametrize("with_vector", [True, False])
def test_round_trips_of_a_hit_a_miss_and_an_exact_repeat(
    counting: tuple[SemanticCache, CountingRedis], with_vector: bool
) -> None:
    """With the vector at hand: probe and search pipelined, one round trip for every
    kind; embedding: the probe, then the search. The payload comes with the search and
    a hit's bookkeeping rides on the next command: never a round trip of its own."""
    cache, client = counting
    vectorizer = cache.vectorizer
    texts = [f"question number {i} about {w}" for i, w in enumerate(("cats", "tax", "rust"))]
    stored = [vectorizer.embed(t) for t in texts]
    cache.store_many([(t, f"answer {i}") for i, t in enumerate(texts)], tenant="t", agent="a",
                     vectors=stored)  # fmt: skip
    # Warm-up: the planner counts this scope once, and the scripts get loaded.
    cache.check("warm up", tenant="t", agent="a", vector=stored[0])
    cache.check("warm up two", tenant="t", agent="a")
    searches = 2 if not with_vector else 1

    def check(prompt: str, **kw: Any) -> Any:
        vector = vectorizer.embed(prompt) if with_vector else None
        return lambda: cache.check(prompt, tenant="t", agent="a", vector=vector, **kw)

    miss, trips = _round_trips(client, check("completely unrelated words here"))
    assert miss is None and trips == searches
    hit, trips = _round_trips(client, check("question number 1 about tax please", threshold=0.5))
    assert hit is not None and hit.response == "answer 1" and not hit.exact
    assert hit.hit_count == 1 and trips == searches
    again, trips = _round_trips(client, check("question number 1 about tax please", threshold=0.5))
    assert again is not None and again.hit_count == 2 and trips == searches  # + bookkeeping
    exact, trips = _round_trips(client, check(texts[2]))
    assert exact is not None and exact.exact and exact.response == "answer 2" and trips == 1
    # The pending bookkeeping of the hits above went out with the later commands:
    hits = client.hget(cache.core.hits_key("t"), hit.entry_id)
    assert hits == b"2"


def test_a_hit_bookkeeping_goes_out_with_the_next_store_before_its_eviction(
    settings: AgentCacheSettings,
) -> None:
    """LRU order lags a cache's hits by at most its next command: a store sends them
    first, so the least recently hit entry is the one evicted."""
    rng = np.random.default_rng(9)
    rows = unit_rows(rng, 4)
    with opened(settings, max_entries_per_tenant=3, hit_flush_seconds=3600) as cache:
        for i in range(3):
            cache.store(f"q{i}", f"a{i}", tenant="t", agent="a", vector=rows[i])
        # Hit the oldest entry semantically: its LRU time is pending, not yet sent.
        hit = cache.check("q0 reworded", tenant="t", agent="a", vector=near(rows[0], rng))
        assert hit is not None and hit.response == "a0"
        assert cache._pending  # deferred
        cache.store("q3", "a3", tenant="t", agent="a", vector=rows[3])  # evicts one
        assert not cache._pending
        assert cache.check("q0", tenant="t", agent="a", vector=rows[0]) is not None
        assert cache.check("q1", tenant="t", agent="a", vector=rows[1]) is None  # evicted
        assert cache.stats.evictions == 1


def test_a_deferred_hit_on_an_entry_deleted_since_writes_nothing(
    settings: AgentCacheSettings, redis_client: redis.Redis
) -> None:
    rng = np.random.default_rng(10)
    row = unit_rows(rng, 1)[0]
    with opened(settings) as cache:
        entry = cache.store("q", "served once", tenant="t", agent="a", vector=row)
        hit = cache.check("reworded", tenant="t", agent="a", vector=near(row, rng))
        assert hit is not None and hit.response == "served once"
        assert entry is not None and cache.invalidate(entry, tenant="t")
        cache.flush_hits()
        lru, hits = cache.core.lru_key("t"), cache.core.hits_key("t")
        assert redis_client.zscore(lru, entry) is None
        assert redis_client.hmget(hits, entry, f"{entry}:sim") == [None, None]
        assert cache.check("reworded", tenant="t", agent="a", vector=near(row, rng)) is None


def test_the_pipelined_probe_survives_a_flushed_script_cache(
    settings: AgentCacheSettings,
) -> None:
    vector = unit_rows(np.random.default_rng(2), 1)[0]
    # A server of its own: flushing the shared one's scripts would reach other tests.
    with EmbeddedRedis() as server:
        own = settings.model_copy(
            update={"redis": settings.redis.model_copy(update={"url": server.url})}
        )
        with opened(own) as cache:
            cache.store("a stored question", "kept", tenant="t", agent="a", vector=vector)
            cache.client.script_flush()  # as after a restart: EVALSHA answers NOSCRIPT
            hit = cache.check("a stored question", tenant="t", agent="a", vector=vector)
    assert hit is not None and hit.exact and hit.response == "kept"


def test_big_scopes_force_batches_and_small_ones_leave_it_to_the_engine(
    settings: AgentCacheSettings,
) -> None:
    rng = np.random.default_rng(3)
    big, small = unit_rows(rng, 60), unit_rows(rng, 10)
    with opened(settings, batches_min_entries=40, batches_min_share=0.5) as cache:
        cache.store_many([(f"b{i}", f"big {i}") for i in range(60)], tenant="big", agent="a",
                         vectors=list(big))  # fmt: skip
        cache.store_many([(f"b{i}", f"small {i}") for i in range(10)], tenant="small",
                         agent="a", vectors=list(small))  # fmt: skip
        for tenant, rows in (("big", big), ("small", small)):
            for i in (0, 7):
                hit = cache.check(f"b{i}?", tenant=tenant, agent="a", vector=near(rows[i], rng))
                assert hit is not None and hit.response == f"{tenant} {i}"
        core = cache.core
        plans = {
            tenant: cache.queries.lookup_command(core.scope(tenant, "a", None), b"", 0.9)[2]
            for tenant in ("big", "small")
        }
    assert "HYBRID_POLICY BATCHES" in plans["big"]  # 60 of 70 entries
    assert "HYBRID_POLICY" not in plans["small"]  # 10 of 70


def test_engine_mode_never_forces_a_policy(settings: AgentCacheSettings) -> None:
    with opened(settings, hybrid_policy="engine", batches_min_entries=1) as cache:
        cache.store("only entry", "r", tenant="t", agent="a")
        assert cache.check("only entry, again", tenant="t", agent="a", threshold=0.5) is not None
        scope = cache.core.scope("t", "a", None)
        assert "HYBRID_POLICY" not in cache.queries.lookup_command(scope, b"", 0.9)[2]


def test_only_the_served_or_verified_entry_carries_its_payload(
    settings: AgentCacheSettings,
) -> None:
    rng = np.random.default_rng(4)
    rows = unit_rows(rng, 3)
    with opened(settings) as cache:
        for i in range(3):
            cache.store(f"q{i}", f"answer {i}", tenant="t", agent="a", vector=rows[i],
                        metadata={"n": i})  # fmt: skip
        command = cache.queries.lookup_command(cache.core.scope("t", "a", None), b"", 0.9)
        assert "response" not in command and "metadata" not in command
        served = cache.lookup("x", tenant="t", agent="a", vector=near(rows[1], rng))
        assert served.hit is not None and served.hit.response == "answer 1"
        assert served.hit.metadata == {"n": 1}
        declined = cache.lookup("y", tenant="t", agent="a", vector=unit_rows(rng, 1)[0])
        assert declined.hit is None and declined.candidate is not None
        assert declined.candidate.response == ""  # a declined entry: no payload read


def test_a_withheld_hit_in_shadow_mode_carries_its_payload(settings: AgentCacheSettings) -> None:
    rng = np.random.default_rng(5)
    row = unit_rows(rng, 1)[0]
    with opened(settings, shadow_mode=True) as cache:
        cache.store("q", "the answer", tenant="t", agent="a", vector=row)
        found = cache.lookup("reworded", tenant="t", agent="a", vector=near(row, rng))
    assert found.hit is None and found.shadow and found.accepted
    assert found.candidate is not None and found.candidate.response == "the answer"


def test_an_entry_deleted_between_search_and_touch_is_a_miss(
    settings: AgentCacheSettings,
) -> None:
    rng = np.random.default_rng(6)
    row = unit_rows(rng, 1)[0]
    with opened(settings) as cache:
        entry = cache.store("q", "stale", tenant="t", agent="a", vector=row)
        core = cache.core
        scope = core.scope("t", "a", None)
        blob = core.vector_bytes(near(row, rng))
        reply = cache.client.execute_command(*cache.queries.lookup_command(scope, blob, 0.9))
        decided = core.resolve("reworded", core.parse_candidates(reply, scope), 0.9, scope)
        assert decided.hit is not None and decided.hit.entry_id == entry
        assert cache.invalidate(entry, tenant="t")
        keys, args = core.touch_args("t", entry, decided.hit.similarity)
        result = core.served(decided, cache._touch_script(keys=keys, args=args))
    assert result.hit is None and result.reason == "gone"


async def test_async_lookup_with_a_vector_pipelines_and_reads_the_payload(
    settings: AgentCacheSettings,
) -> None:
    rng = np.random.default_rng(7)
    rows = unit_rows(rng, 4)
    async with AsyncSemanticCache(settings, vectorizer=HashingVectorizer(DIMS)) as cache:
        await cache.store_many([(f"q{i}", f"a{i}") for i in range(4)], tenant="t", agent="a",
                               vectors=list(rows))  # fmt: skip
        exact = await cache.check("q2", tenant="t", agent="a", vector=rows[2])
        assert exact is not None and exact.exact and exact.response == "a2"
        hit = await cache.check("reworded", tenant="t", agent="a", vector=near(rows[1], rng))
        assert hit is not None and not hit.exact and hit.response == "a1"
        assert hit.hit_count == 1
        miss = await cache.lookup("far", tenant="t", agent="a", vector=unit_rows(rng, 1)[0])
        assert miss.hit is None and miss.candidate is not None and miss.candidate.response == ""
        await cache.drop()


def test_a_failed_count_never_fails_the_lookup(settings: AgentCacheSettings) -> None:
    rng = np.random.default_rng(8)
    row = unit_rows(rng, 1)[0]
    with opened(settings, batches_min_entries=1) as cache:
        real_search = cache._search

        def counts_fail(command: list[Any], tenant: str | None = None) -> Any:
            if command[-5:-2] == ["LIMIT", 0, 0]:  # a planner count (count_command)
                raise redis.ConnectionError("injected: the count's connection dropped")
            return real_search(command, tenant)

        cache._search = counts_fail  # type: ignore[method-assign]
        cache.store("q", "still served", tenant="t", agent="a", vector=row)
        hit = cache.check("reworded", tenant="t", agent="a", vector=near(row, rng))
        assert hit is not None and hit.response == "still served"
        assert cache.guard.faults == 0  # an optimisation failed, not the lookup
        assert not cache.core.planner.needs_index_count("")  # retried later, not every call
        cache._search = real_search  # type: ignore[method-assign]


async def test_async_hit_bookkeeping_is_sent_on_close(
    settings: AgentCacheSettings, redis_client: redis.Redis
) -> None:
    rng = np.random.default_rng(12)
    row = unit_rows(rng, 1)[0]
    idle = with_semantic(settings, hit_flush_seconds=3600)  # only close() sends it here
    cache = AsyncSemanticCache(idle, vectorizer=HashingVectorizer(DIMS))
    entry = await cache.store("q", "a", tenant="t", agent="a", vector=row)
    hit = await cache.check("reworded", tenant="t", agent="a", vector=near(row, rng))
    assert hit is not None and hit.hit_count == 1 and entry is not None
    hits, lru = cache.core.hits_key("t"), cache.core.lru_key("t")
    stored_at = redis_client.zscore(lru, entry)
    assert redis_client.hget(hits, entry) == b"0"  # not sent yet: nothing waited for it
    await cache.aclose()
    assert redis_client.hget(hits, entry) == b"1"
    assert float(redis_client.hget(hits, f"{entry}:sim")) == pytest.approx(hit.similarity, 1e-5)
    assert redis_client.zscore(lru, entry) >= stored_at  # type: ignore[operator]
    cleanup = AsyncSemanticCache(settings, vectorizer=HashingVectorizer(DIMS))
    await cleanup.drop()
    await cleanup.aclose()


def test_pending_bookkeeping_survives_a_flushed_script_cache(settings: AgentCacheSettings) -> None:
    rng = np.random.default_rng(13)
    row = unit_rows(rng, 1)[0]
    with EmbeddedRedis() as server:  # its own: flushing the shared one's scripts reaches others
        own = settings.model_copy(
            update={"redis": settings.redis.model_copy(update={"url": server.url})}
        )
        with opened(own) as cache:
            entry = cache.store("q", "kept", tenant="t", agent="a", vector=row)
            hit = cache.check("reworded", tenant="t", agent="a", vector=near(row, rng))
            assert hit is not None and hit.hit_count == 1
            cache.client.script_flush()  # the pending EVALSHA answers NOSCRIPT
            again = cache.check("reworded", tenant="t", agent="a", vector=near(row, rng))
            assert again is not None and again.hit_count == 2
            cache.flush_hits()
            assert cache.client.hget(cache.core.hits_key("t"), str(entry)) == b"2"
