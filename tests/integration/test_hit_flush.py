"""The time bound on deferred hit bookkeeping: an idle cache's hits reach Redis anyway."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np
import redis

from agentcache import AsyncSemanticCache, EmbeddedRedis, SemanticCache
from agentcache.settings import AgentCacheSettings
from agentcache.testing.vectors import HashingVectorizer

DIMS = 32
BOUND = 0.2  # seconds; the default is 1.0


def unit_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    rows = rng.standard_normal((n, DIMS)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def near(vector: np.ndarray, rng: np.random.Generator, noise: float = 0.05) -> np.ndarray:
    moved = vector + noise * rng.standard_normal(DIMS).astype(np.float32) / np.sqrt(DIMS)
    return (moved / np.linalg.norm(moved)).astype(np.float32)


def bounded(settings: AgentCacheSettings, **changes: object) -> AgentCacheSettings:
    semantic = settings.semantic.model_copy(update={"hit_flush_seconds": BOUND, **changes})
    return settings.model_copy(update={"semantic": semantic})


def eventually(condition: Callable[[], bool], within: float = 10.0) -> bool:
    """Poll ``condition`` until it holds or ``within`` seconds pass (a loaded machine)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


async def aeventually(condition: Callable[[], bool], within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.02)  # the loop runs the flusher meanwhile
    return condition()


def test_an_idle_cache_sends_its_hits_within_the_bound(
    settings: AgentCacheSettings, redis_client: redis.Redis
) -> None:
    rng = np.random.default_rng(21)
    row = unit_rows(rng, 1)[0]
    cache = SemanticCache(bounded(settings), vectorizer=HashingVectorizer(DIMS))
    try:
        entry = cache.store("q", "a", tenant="t", agent="a", vector=row)
        hit = cache.check("reworded", tenant="t", agent="a", vector=near(row, rng))
        assert hit is not None and hit.hit_count == 1 and entry is not None
        hits = cache.core.hits_key("t")
        # No further call on the cache: the flusher sends the hit on its own.
        assert eventually(lambda: redis_client.hget(hits, entry) == b"1")
        assert not cache._pending
        sim = redis_client.hget(hits, f"{entry}:sim")
        assert sim is not None and abs(float(sim) - hit.similarity) < 1e-5
    finally:
        cache.drop()
        cache.close()


def test_eviction_sees_the_hits_of_another_idle_cache(
    settings: AgentCacheSettings, redis_client: redis.Redis
) -> None:
    """The cross-process case: the reader hits the oldest entry, then does nothing
    more; the writer's next store evicts the least recently hit entry, not that one."""
    rng = np.random.default_rng(22)
    rows = unit_rows(rng, 4)
    chosen = bounded(settings, max_entries_per_tenant=3)
    writer = SemanticCache(chosen, vectorizer=HashingVectorizer(DIMS))
    reader = SemanticCache(chosen, vectorizer=HashingVectorizer(DIMS))
    try:
        ids = [
            writer.store(f"q{i}", f"a{i}", tenant="t", agent="a", vector=rows[i]) for i in range(3)
        ]
        hit = reader.check("q0 reworded", tenant="t", agent="a", vector=near(rows[0], rng))
        assert hit is not None and hit.response == "a0"
        hits = writer.core.hits_key("t")
        assert eventually(lambda: redis_client.hget(hits, str(ids[0])) == b"1")
        writer.store("q3", "a3", tenant="t", agent="a", vector=rows[3])  # evicts one
        assert writer.stats.evictions == 1
        assert writer.check("q0", tenant="t", agent="a", vector=rows[0]) is not None
        assert writer.check("q1", tenant="t", agent="a", vector=rows[1]) is None  # evicted
    finally:
        writer.drop()
        reader.close()
        writer.close()


def test_pending_hits_at_the_limit_go_out_at_once(
    settings: AgentCacheSettings, redis_client: redis.Redis
) -> None:
    """Each command drains the pending hits, so they pile up only under concurrent
    lookups; at the limit the flusher sends them without waiting out the bound."""
    rng = np.random.default_rng(23)
    rows = unit_rows(rng, 2)
    for limit, sent in ((2, b"0"), (1, b"1")):
        chosen = bounded(settings, hit_flush_seconds=3600, hit_flush_max_pending=limit)
        cache = SemanticCache(chosen, vectorizer=HashingVectorizer(DIMS))
        try:
            entry = cache.store("q0", "a0", tenant="t", agent="a", vector=rows[0])
            hit = cache.check("q0 reworded", tenant="t", agent="a", vector=near(rows[0], rng))
            assert hit is not None and entry is not None
            hits = cache.core.hits_key("t")
            # Under the limit the hit waits (an hour here); at it, it goes out at once.
            eventually(lambda h=hits, e=entry: redis_client.hget(h, e) == b"1", within=1.0)
            assert redis_client.hget(hits, entry) == sent
        finally:
            cache.drop()
            cache.close()


async def test_an_idle_async_cache_sends_its_hits_within_the_bound(
    settings: AgentCacheSettings, redis_client: redis.Redis
) -> None:
    rng = np.random.default_rng(24)
    row = unit_rows(rng, 1)[0]
    cache = AsyncSemanticCache(bounded(settings), vectorizer=HashingVectorizer(DIMS))
    try:
        entry = await cache.store("q", "a", tenant="t", agent="a", vector=row)
        hit = await cache.check("reworded", tenant="t", agent="a", vector=near(row, rng))
        assert hit is not None and hit.hit_count == 1 and entry is not None
        hits = cache.core.hits_key("t")
        assert await aeventually(lambda: redis_client.hget(hits, entry) == b"1")
        assert not cache._pending
    finally:
        await cache.drop()
        await cache.aclose()


async def test_async_eviction_sees_the_hits_of_another_idle_cache(
    settings: AgentCacheSettings, redis_client: redis.Redis
) -> None:
    rng = np.random.default_rng(25)
    rows = unit_rows(rng, 4)
    chosen = bounded(settings, max_entries_per_tenant=3)
    writer = AsyncSemanticCache(chosen, vectorizer=HashingVectorizer(DIMS))
    reader = AsyncSemanticCache(chosen, vectorizer=HashingVectorizer(DIMS))
    try:
        ids = [
            await writer.store(f"q{i}", f"a{i}", tenant="t", agent="a", vector=rows[i])
            for i in range(3)
        ]
        hit = await reader.check("q0 reworded", tenant="t", agent="a", vector=near(rows[0], rng))
        assert hit is not None and hit.response == "a0"
        hits = writer.core.hits_key("t")
        assert await aeventually(lambda: redis_client.hget(hits, str(ids[0])) == b"1")
        await writer.store("q3", "a3", tenant="t", agent="a", vector=rows[3])
        assert writer.stats.evictions == 1
        assert await writer.check("q0", tenant="t", agent="a", vector=rows[0]) is not None
        assert await writer.check("q1", tenant="t", agent="a", vector=rows[1]) is None
    finally:
        await writer.drop()
        await reader.aclose()
        await writer.aclose()


def test_a_failed_background_flush_is_counted_never_raised(settings: AgentCacheSettings) -> None:
    rng = np.random.default_rng(26)
    row = unit_rows(rng, 1)[0]
    server = EmbeddedRedis()
    server.start()
    own = bounded(settings)
    own = own.model_copy(update={"redis": own.redis.model_copy(update={"url": server.url})})
    cache = SemanticCache(own, vectorizer=HashingVectorizer(DIMS))
    try:
        cache.store("q", "a", tenant="t", agent="a", vector=row)
        assert cache.check("reworded", tenant="t", agent="a", vector=near(row, rng)) is not None
        errors = cache.stats.errors
        server.stop()  # the pending hit now has nowhere to go
        assert eventually(lambda: cache.stats.errors > errors)
        assert eventually(lambda: not cache._pending)
        thread = cache._flusher._thread
        assert thread is not None and thread.is_alive()  # the flusher survived the fault
    finally:
        cache.close()
        server.stop()


_AT_EXIT = """
import json, sys
import numpy as np
from agentcache import SemanticCache
from agentcache.settings import AgentCacheSettings
from agentcache.testing.vectors import HashingVectorizer

settings = AgentCacheSettings.model_validate_json(sys.argv[1])
row = np.asarray(json.loads(sys.argv[2]), dtype=np.float32)
cache = SemanticCache(settings, vectorizer=HashingVectorizer(len(row)))
hit = cache.check("reworded", tenant="t", agent="a", vector=row)
assert hit is not None and cache._pending
print(hit.entry_id)
# No close(), no flush_hits(): the interpreter exits with the hit pending.
"""


def test_a_blocking_cache_sends_its_pending_hits_at_interpreter_exit(
    settings: AgentCacheSettings, redis_client: redis.Redis
) -> None:
    rng = np.random.default_rng(27)
    row = unit_rows(rng, 1)[0]
    chosen = bounded(settings, hit_flush_seconds=3600)  # only the exit hook can send it
    cache = SemanticCache(chosen, vectorizer=HashingVectorizer(DIMS))
    try:
        entry = cache.store("q", "a", tenant="t", agent="a", vector=row)
        done = subprocess.run(
            [sys.executable, "-c", _AT_EXIT, chosen.model_dump_json(),
             json.dumps(near(row, rng).tolist())],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == entry
        assert redis_client.hget(cache.core.hits_key("t"), str(entry)) == b"1"
    finally:
        cache.drop()
        cache.close()
