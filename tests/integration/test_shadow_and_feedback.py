"""Shadow mode never serves; feedback teaches the verified policy through entry fields in Redis."""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import redis

from agentcache.cli.stats import render, summarize
from agentcache.metrics._flush import read_counters
from agentcache.metrics._types import GUARD_VETOES, MISSES, SHADOW_HITS
from agentcache.semantic import AsyncSemanticCache, SemanticCache
from agentcache.semantic._policy import (
    VC_COUNT,
    VC_OBS,
    GuardedPolicy,
    VerifiedPolicy,
    parse_observations,
)
from agentcache.settings import AgentCacheSettings
from agentcache.testing.vectors import HashingVectorizer


def at_similarity(sim: float) -> np.ndarray:
    """A unit vector whose cosine similarity with e0 is exactly ``sim``."""
    v = np.zeros(32, dtype=np.float32)
    v[0], v[1] = sim, math.sqrt(1.0 - sim * sim)
    return v


E0 = at_similarity(1.0)


def make(settings: AgentCacheSettings, **semantic: object) -> SemanticCache:
    data = settings.model_dump()
    data["semantic"].update(semantic)
    return SemanticCache(AgentCacheSettings(**data), vectorizer=HashingVectorizer(32))


@pytest.fixture
def shadow(settings: AgentCacheSettings) -> Iterator[SemanticCache]:
    cache = make(settings, shadow_mode=True, policy="guarded")
    yield cache
    cache.drop()
    cache.close()


def test_shadow_mode_never_serves_but_counts_would_be_hits(shadow: SemanticCache) -> None:
    entry = shadow.store("how do I reset my password", "Go to settings.", tenant="t", agent="a",
                         vector=E0)  # fmt: skip
    # an exact repeat, a near paraphrase and a far query: nothing is ever served
    assert shadow.check("how do I reset my password", tenant="t", agent="a") is None
    assert shadow.check("password reset how", tenant="t", agent="a",
                        vector=at_similarity(0.97)) is None  # fmt: skip
    assert shadow.check("unrelated", tenant="t", agent="a", vector=at_similarity(0.3)) is None
    stats = shadow.stats
    assert stats.hits == 0
    assert stats.shadow_hits == 2  # the exact repeat and the paraphrase would have hit
    assert stats.misses == 3
    # a would-be hit must not change the entry as a served hit would (LRU order, hit count)
    assert int(shadow.client.hget(shadow.core.hits_key("t"), entry)) == 0
    assert not shadow.client.hexists(shadow.core.hits_key("t"), f"{entry}:sim")


def test_shadow_mode_does_not_count_guard_vetoes_as_would_be_hits(shadow: SemanticCache) -> None:
    shadow.store("refund for orders over $50", "Yes.", tenant="t", agent="a", vector=E0)
    got = shadow.check("refund for orders over $500", tenant="t", agent="a",
                       vector=at_similarity(0.99))  # fmt: skip
    assert got is None
    assert shadow.stats.shadow_hits == 0
    assert shadow.stats.guard_vetoes == 1
    assert any(reason.startswith("guard:numbers") for reason in shadow.stats.declined)


def test_shadow_log_names_the_best_candidate_and_the_decision(
    shadow: SemanticCache, caplog: pytest.LogCaptureFixture
) -> None:
    entry = shadow.store("refund for orders over $50", "Yes.", tenant="t", agent="a", vector=E0)
    caplog.set_level(logging.INFO, logger="agentcache.semantic")
    shadow.check("refunds for orders over $50", tenant="t", agent="a", vector=at_similarity(0.97))
    shadow.check("refund for orders over $500", tenant="t", agent="a", vector=at_similarity(0.99))
    shadow.check("refund policy", tenant="t", agent="a", vector=at_similarity(0.9))
    lines = [r.getMessage() for r in caplog.records if "shadow lookup" in r.getMessage()]
    assert len(lines) == 3
    would, vetoed, below = lines
    assert "decision=would-hit reason=similarity+guards" in would
    assert f"entry={entry} similarity=0.9700" in would
    assert "decision=declined reason=guard:numbers" in vetoed and "similarity=0.9900" in vetoed
    assert "decision=declined reason=below_threshold" in below and f"entry={entry}" in below
    found = shadow.lookup("refund policy", tenant="t", agent="a", vector=at_similarity(0.9))
    assert found.hit is None and found.shadow and not found.accepted
    assert found.candidate is not None and found.candidate.entry_id == entry


def test_shadow_figures_reach_the_metrics_and_agentcache_stats(
    shadow: SemanticCache, redis_client: redis.Redis, key_prefix: str
) -> None:
    shadow.store("refund for orders over $50", "Yes.", tenant="t", agent="a", vector=E0)
    shadow.check("refunds for orders over $50", tenant="t", agent="a", vector=at_similarity(0.97))
    shadow.check("refund for orders over $500", tenant="t", agent="a", vector=at_similarity(0.99))
    shadow.check("refund for orders over $5", tenant="t", agent="a", vector=at_similarity(0.98))
    assert shadow.metrics.flush()
    (row,) = summarize(read_counters(redis_client, key_prefix, "t"))
    assert (row.get(SHADOW_HITS), row.get(GUARD_VETOES), row.get(MISSES)) == (1, 2, 3)
    assert row.as_dict()["guard_vetoes"] == 2
    text = render([row])
    assert "shadow mode: 1 would-be hits" in text
    assert "declined by a guard: 2 lookups" in text


def test_policy_comes_from_settings(settings: AgentCacheSettings) -> None:
    cache = make(settings, policy="guarded")
    try:
        assert isinstance(cache.policy, GuardedPolicy)
    finally:
        cache.close()


@pytest.fixture
def verified(settings: AgentCacheSettings) -> Iterator[SemanticCache]:
    cache = make(settings, policy="verified", threshold=0.9, verified_delta=0.02)
    yield cache
    cache.drop()
    cache.close()


def test_feedback_writes_the_verified_state_on_the_entry(verified: SemanticCache) -> None:
    entry = verified.store("q", "a", tenant="t", agent="a", vector=E0)
    hit = verified.check("q?", tenant="t", agent="a", vector=at_similarity(0.93))
    assert hit is not None and hit.entry_id == entry
    assert verified.feedback(entry, False, tenant="t")  # similarity from the served hit
    raw = verified.client.hgetall(verified.core.entry_key("t", entry))
    assert raw[VC_COUNT.encode()] == b"1"
    (obs,) = parse_observations(raw[VC_OBS.encode()].decode())
    assert obs[0] == pytest.approx(0.93, abs=1e-3) and obs[1] is False
    # one wrong answer at 0.93: the entry no longer serves at that similarity
    assert verified.check("q?", tenant="t", agent="a", vector=at_similarity(0.93)) is None
    assert verified.feedback("no-such-entry", True, tenant="t") is False


def test_learned_state_is_shared_by_every_process(
    verified: SemanticCache, settings: AgentCacheSettings
) -> None:
    entry = verified.store("q", "a", tenant="t", agent="a", vector=E0)
    assert verified.check("q?", tenant="t", agent="a", vector=at_similarity(0.885)) is None
    for _ in range(12):
        verified.feedback(entry, True, tenant="t", similarity=0.9)
    # another cache object (another process, in production) reads the same fields
    other = make(settings, policy="verified", threshold=0.9, verified_delta=0.02)
    try:
        hit = other.check("q?", tenant="t", agent="a", vector=at_similarity(0.885))
        assert hit is not None and hit.entry_id == entry
        policy = other.policy
        assert isinstance(policy, VerifiedPolicy)
        raw = other.client.hgetall(other.core.entry_key("t", entry))
        fields = {k.decode(): v.decode() for k, v in raw.items() if k != b"embedding"}
        assert policy.entry_threshold(fields, 0.9) < 0.885
    finally:
        other.close()


def test_concurrent_feedback_loses_no_observation(
    verified: SemanticCache, settings: AgentCacheSettings
) -> None:
    entry = verified.store("q", "a", tenant="t", agent="a", vector=E0)
    # 20 threads, each with its own cache object (as separate processes would be),
    # released together so their read-compute-write cycles overlap.
    caches = [make(settings, policy="verified", threshold=0.9) for _ in range(20)]
    barrier = threading.Barrier(len(caches))

    def send(i: int) -> bool:
        barrier.wait()
        return caches[i].feedback(entry, i % 2 == 0, tenant="t", similarity=0.9 + i / 1000)

    try:
        with ThreadPoolExecutor(len(caches)) as pool:
            results = list(pool.map(send, range(len(caches))))
    finally:
        for cache in caches:
            cache.close()
    assert all(results)
    raw = verified.client.hgetall(verified.core.entry_key("t", entry))
    assert raw[VC_COUNT.encode()] == b"20"
    observations = parse_observations(raw[VC_OBS.encode()].decode())
    assert sorted(round(sim, 4) for sim, _ in observations) == [0.9 + i / 1000 for i in range(20)]
    assert sum(ok for _, ok in observations) == 10


def test_feedback_with_a_policy_that_learns_nothing_writes_nothing(shadow: SemanticCache) -> None:
    entry = shadow.store("q", "a", tenant="t", agent="a", vector=E0)
    before = shadow.client.hgetall(shadow.core.entry_key("t", entry))
    assert shadow.feedback(entry, True, tenant="t", similarity=0.97)
    assert shadow.client.hgetall(shadow.core.entry_key("t", entry)) == before
    assert shadow.feedback("gone", True, tenant="t") is False


async def test_async_concurrent_feedback_loses_no_observation(
    settings: AgentCacheSettings,
) -> None:
    data = settings.model_dump()
    data["semantic"].update(policy="verified", threshold=0.9)
    cache = await AsyncSemanticCache.create(
        AgentCacheSettings(**data), vectorizer=HashingVectorizer(32)
    )
    try:
        entry = await cache.store("q", "a", tenant="t", agent="a", vector=E0)
        sent = [cache.feedback(entry, True, tenant="t", similarity=0.91) for _ in range(20)]
        assert all(await asyncio.gather(*sent))
        raw = await cache.client.hgetall(cache.core.entry_key("t", entry))
        assert raw[VC_COUNT.encode()] == b"20"
        assert len(parse_observations(raw[VC_OBS.encode()].decode())) == 20
        assert await cache.feedback("gone", True, tenant="t") is False
    finally:
        await cache.drop()
        await cache.aclose()
