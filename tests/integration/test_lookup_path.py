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
    quiet = settings.model_copy(update={"metrics": metrics})
    cache = SemanticCache(quiet, client=client, vectorizer=HashingVectorizer(DIMS))
    cache.core.refresh_interval = float("inf")  # no metadata re-read inside a counted window
    yield cache, client
    cache.drop()
    client.close()


def test_a_lookup_that_brings_its_vector_is_one_round_trip(
    counting: tuple[SemanticCache, CountingRedis],
) -> None:
    cache, client = counting
    rng = np.random.default_rng(1)
    stored = unit_rows(rng, 5)
    cache.store_many(
        [(f"question {i}", f"answer {i}") for i in range(5)], tenant="t", agent="a",
        vectors=list(stored),
    )  # fmt: skip
    # Warm-up: the planner counts this scope once, and the scripts get loaded.
    cache.check("first lookup", tenant="t", agent="a", vector=near(stored[0], rng))

    before = client.round_trips
    miss = cache.check("something else", tenant="t", agent="a", vector=unit_rows(rng, 1)[0])
    assert miss is None
    assert client.round_trips - before == 1  # exact probe and search, pipelined

    before = client.round_trips
    hit = cache.check("question 2 reworded", tenant="t", agent="a", vector=near(stored[2], rng))
    assert hit is not None and hit.response == "answer 2" and not hit.exact
    assert hit.hit_count == 1
    assert client.round_trips - before == 2  # + the touch that reads the payload

    before = client.round_trips
    exact = cache.check("question 3", tenant="t", agent="a", vector=stored[3])
    assert exact is not None and exact.exact and exact.response == "answer 3"
    assert client.round_trips - before == 1


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
