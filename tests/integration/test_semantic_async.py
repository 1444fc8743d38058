"""The async twin behaves like the sync cache, on the same server."""

from __future__ import annotations

import asyncio
import time

import pytest

from agentcache import AsyncSemanticCache, InvalidInputError, SemanticCache
from agentcache.settings import AgentCacheSettings
from agentcache.testing.vectors import HashingVectorizer


async def test_async_store_check_invalidate(settings: AgentCacheSettings) -> None:
    vec = HashingVectorizer(32)
    cache = await AsyncSemanticCache.create(settings, vectorizer=vec)
    entry_id = await cache.store("how do refunds work", "30 days", tenant="t", agent="a")
    hit = await cache.check("how do refunds work", tenant="t", agent="a")
    assert hit is not None and hit.exact and hit.entry_id == entry_id
    near = await cache.check("how do refunds work here", tenant="t", agent="a", threshold=0.6)
    assert near is not None and not near.exact and near.response == "30 days"
    assert await cache.check("how do refunds work", tenant="u", agent="a") is None
    assert await cache.count("t") == 1
    await cache.store("another", "x", tenant="t", agent="b", tags=["faq"])
    assert await cache.invalidate_tag("t", "faq") == 1
    assert await cache.invalidate(entry_id, tenant="t") is True
    assert await cache.count() == 0
    with pytest.raises(InvalidInputError, match="tenant"):
        await cache.check("q", tenant="", agent="a")
    await cache.drop()
    await cache.aclose()


async def test_async_and_sync_share_entries(settings: AgentCacheSettings) -> None:
    sync = SemanticCache(settings, vectorizer=HashingVectorizer(32))
    sync.store("written by sync", "s", tenant="t", agent="a")
    async with AsyncSemanticCache(settings, vectorizer=HashingVectorizer(32)) as acache:
        hit = await acache.check("written by sync", tenant="t", agent="a")
        assert hit is not None and hit.response == "s"
        await acache.store("written by async", "as", tenant="t", agent="a")
    hit2 = sync.check("written by async", tenant="t", agent="a")
    assert hit2 is not None and hit2.response == "as"
    sync.drop()
    sync.close()


async def test_async_ttl_and_eviction(settings: AgentCacheSettings) -> None:
    s = settings.model_copy(
        update={"semantic": settings.semantic.model_copy(update={"max_entries_per_tenant": 2})}
    )
    cache = await AsyncSemanticCache.create(s, vectorizer=HashingVectorizer(32))
    await cache.store("one", "1", tenant="t", agent="a")
    await asyncio.sleep(0.005)
    await cache.store("two", "2", tenant="t", agent="a")
    await asyncio.sleep(0.005)
    await cache.store("three", "3", tenant="t", agent="a", ttl=1)
    assert await cache.count("t") == 2
    assert await cache.check("one", tenant="t", agent="a", threshold=0.99) is None
    start = time.monotonic()
    while await cache.check("three", tenant="t", agent="a", threshold=0.99) is not None:
        assert time.monotonic() - start < 5
        await asyncio.sleep(0.2)
    assert await cache.check("two", tenant="t", agent="a") is not None
    await cache.drop()
    await cache.aclose()


async def test_concurrent_async_checks(settings: AgentCacheSettings) -> None:
    cache = await AsyncSemanticCache.create(settings, vectorizer=HashingVectorizer(32))
    for i in range(10):
        await cache.store(f"question {i} about topic {i}", str(i), tenant="t", agent="a")
    hits = await asyncio.gather(
        *(cache.check(f"question {i} about topic {i}", tenant="t", agent="a") for i in range(10))
    )
    assert [h.response if h else None for h in hits] == [str(i) for i in range(10)]
    await cache.drop()
    await cache.aclose()


def _capped(settings: AgentCacheSettings, index_name: str) -> AgentCacheSettings:
    semantic = settings.semantic.model_copy(
        update={"index_name": index_name, "max_entries_per_tenant": 3}
    )
    return settings.model_copy(update={"semantic": semantic})


@pytest.mark.parametrize("wipe", ["clear", "drop"])
async def test_async_clear_and_drop_leave_another_index_on_the_same_prefix_alone(
    settings: AgentCacheSettings, wipe: str
) -> None:
    mine = await AsyncSemanticCache.create(
        _capped(settings, "mine"), vectorizer=HashingVectorizer(32)
    )
    other = await AsyncSemanticCache.create(
        _capped(settings, "other"), vectorizer=HashingVectorizer(32)
    )
    ids = []
    for i in range(3):
        await mine.store(f"mine question {i}", "m", tenant="t", agent="a")
        ids.append(await other.store(f"other question {i}", "o", tenant="t", agent="a"))
        await asyncio.sleep(0.002)
    hit = await other.check("other question 0", tenant="t", agent="a")
    assert hit is not None and hit.hit_count == 1
    lru, hits = other.core.lru_key("t"), other.core.hits_key("t")

    await getattr(mine, wipe)()

    client = other.client
    assert await client.exists(mine.core.lru_key("t"), mine.core.hits_key("t")) == 0
    assert await client.zcard(lru) == 3
    assert await client.hget(hits, ids[0]) in (b"1", "1")
    assert await other.count("t") == 3
    await asyncio.sleep(0.002)
    await other.store("other question 3", "o", tenant="t", agent="a")  # evicts question 1
    assert await other.count("t") == 3
    assert other.stats.evictions == 1
    assert await other.check("other question 1", tenant="t", agent="a", threshold=0.99) is None
    again = await other.check("other question 0", tenant="t", agent="a")
    assert again is not None and again.hit_count == 2
    await other.drop()
    await other.aclose()
    await mine.aclose()
