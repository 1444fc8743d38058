"""Faults on a real server: killed, restarted, paused, out of memory.

Every test here that kills or reconfigures a server starts its OWN
EmbeddedRedis; the session server other tests share is never touched.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from agentcache._redis.faults import CLOSED, OPEN
from agentcache._redis.server import EmbeddedRedis
from agentcache.exceptions import CacheUnavailableError
from agentcache.metrics._flush import read_counters
from agentcache.metrics._types import ERRORS
from agentcache.semantic import AsyncSemanticCache, SemanticCache
from agentcache.settings import AgentCacheSettings
from agentcache.testing.vectors import HashingVectorizer

PROMPT = "How do I reset my password?"


@pytest.fixture
def server() -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis() as own:
        yield own


def make_settings(url: str, **reliability: object) -> AgentCacheSettings:
    return AgentCacheSettings(
        redis={"url": url, "key_prefix": "flt", "socket_timeout": 0.5},
        embeddings={"dims": 32, "model": "test-hash"},
        semantic={"ttl_seconds": None},
        reliability={"breaker_failures": 2, "breaker_cooldown_seconds": 0.3, **reliability},
        metrics={"flush_interval_seconds": 60},  # flushed by hand below
    )


def wait_for(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def index_exists(url: str, name: str) -> bool:
    client = redis.Redis.from_url(url)
    try:
        client.execute_command("FT.INFO", name)
    except redis.ResponseError:
        return False
    finally:
        client.close()
    return True


def test_a_dead_server_is_a_miss_not_an_error(server: EmbeddedRedis) -> None:
    with SemanticCache(make_settings(server.url), vectorizer=HashingVectorizer()) as cache:
        cache.store(PROMPT, "Use the reset link.", tenant="acme", agent="support")
        server.kill()
        assert cache.check(PROMPT, tenant="acme", agent="support") is None
        assert cache.check("another question", tenant="acme", agent="support") is None
        # Nothing was stored, and store() says so rather than handing out an id.
        assert cache.store("q", "a", tenant="acme", agent="support") is None
        assert cache.invalidate("0" * 32, tenant="acme") is False
        assert cache.invalidate_tenant("acme") == 0
        assert cache.count("acme") == 0
        assert cache.guard.state == OPEN
        assert cache.guard.skipped > 0  # the breaker stopped the hammering
        assert cache.stats.errors >= 2
        errors = cache.metrics.snapshot().total(ERRORS, tenant="acme")
        assert errors == cache.stats.errors
        server.start()  # let close() flush


def test_strict_mode_raises_cache_unavailable(server: EmbeddedRedis) -> None:
    settings = make_settings(server.url, strict=True)
    with SemanticCache(settings, vectorizer=HashingVectorizer()) as cache:
        cache.store(PROMPT, "Use the reset link.", tenant="acme", agent="support")
        server.kill()
        with pytest.raises(CacheUnavailableError, match="semantic check"):
            cache.check(PROMPT, tenant="acme", agent="support")
        with pytest.raises(CacheUnavailableError):
            cache.store("q", "a", tenant="acme", agent="support")
        with pytest.raises(CacheUnavailableError, match="circuit open"):
            cache.count("acme")
        server.start()


def test_breaker_waits_out_its_cooldown_then_resumes(server: EmbeddedRedis) -> None:
    settings = make_settings(server.url, breaker_cooldown_seconds=1.0)
    with SemanticCache(settings, vectorizer=HashingVectorizer()) as cache:
        server.kill()
        for _ in range(2):
            cache.check(PROMPT, tenant="acme", agent="support")
        assert cache.guard.state == OPEN
        server.start()
        faults, skipped = cache.guard.faults, cache.guard.skipped
        cache.store(PROMPT, "lost while open", tenant="acme", agent="support")
        # Up again, but the circuit is open: no call went to Redis.
        assert cache.guard.skipped > skipped and cache.guard.faults == faults
        wait_for(lambda: cache.guard.state != OPEN)
        cache.store(PROMPT, "Use the reset link.", tenant="acme", agent="support")
        hit = cache.check(PROMPT, tenant="acme", agent="support")
        assert hit is not None and hit.response == "Use the reset link."
        assert cache.guard.state == CLOSED


def test_restart_without_persistence_recreates_the_index(server: EmbeddedRedis) -> None:
    settings = make_settings(server.url)
    with SemanticCache(settings, vectorizer=HashingVectorizer()) as cache:
        physical = cache.core.require_state().physical
        cache.store(PROMPT, "Use the reset link.", tenant="acme", agent="support")
        server.kill()
        assert cache.check(PROMPT, tenant="acme", agent="support") is None
        server.start()  # same port, empty: no index, no entries, no scripts
        assert not index_exists(server.url, physical)
        wait_for(lambda: cache.guard.state != OPEN)
        assert cache.check("what changed?", tenant="acme", agent="support") is None
        assert index_exists(server.url, physical)
        cache.store(PROMPT, "Use the new reset link.", tenant="acme", agent="support")
        hit = cache.check("How do I reset my password", tenant="acme", agent="support")
        assert hit is not None and hit.response == "Use the new reset link."
        # Faults counted during the outage reach Redis once it is back.
        assert cache.metrics.flush()
        client = redis.Redis.from_url(server.url)
        rows = read_counters(client, "flt", "acme")
        client.close()
        assert sum(row.get(ERRORS, 0) for row in rows.values()) >= 1


async def test_async_cache_recovers_after_a_restart(server: EmbeddedRedis) -> None:
    cache = await AsyncSemanticCache.create(
        make_settings(server.url), vectorizer=HashingVectorizer()
    )
    try:
        await cache.store(PROMPT, "Use the reset link.", tenant="acme", agent="support")
        server.kill()
        assert await cache.check(PROMPT, tenant="acme", agent="support") is None
        assert await cache.store("q", "a", tenant="acme", agent="support") is None
        server.start()
        wait_for(lambda: cache.guard.state != OPEN)
        assert await cache.check("anything", tenant="acme", agent="support") is None
        stored = await cache.store(PROMPT, "Use the new link.", tenant="acme", agent="support")
        assert stored is not None and len(stored) == 32
        hit = await cache.check(PROMPT + "?", tenant="acme", agent="support", threshold=0.5)
        assert hit is not None and hit.response == "Use the new link."
        assert cache.stats.errors >= 2
    finally:
        await cache.aclose()


def test_socket_timeout_on_a_stalled_server_is_a_miss(server: EmbeddedRedis) -> None:
    settings = make_settings(server.url)
    settings.redis.socket_timeout = 0.2
    with SemanticCache(settings, vectorizer=HashingVectorizer()) as cache:
        cache.store(PROMPT, "Use the reset link.", tenant="acme", agent="support")
        admin = redis.Redis.from_url(server.url)
        admin.execute_command("CLIENT", "PAUSE", 1500, "ALL")
        try:
            assert cache.check(PROMPT, tenant="acme", agent="support") is None
            assert cache.stats.errors >= 1
        finally:
            admin.close()


def _fill_until_oom(cache: SemanticCache, client: redis.Redis) -> int:
    """Set maxmemory just above what is used (noeviction), then store until refused."""
    client.config_set("maxmemory-policy", "noeviction")
    used = int(client.info("memory")["used_memory"])
    client.config_set("maxmemory", used + 300_000)
    big = "x" * 20_000
    for i in range(200):
        faults = cache.guard.faults
        cache.store(f"filler {i}", big, tenant="acme", agent="filler")
        if cache.guard.faults > faults:
            return i
    raise AssertionError("the server never refused a write")


def test_oom_refuses_writes_keeps_reads_and_never_opens_the_breaker(
    server: EmbeddedRedis,
) -> None:
    with SemanticCache(make_settings(server.url), vectorizer=HashingVectorizer()) as cache:
        cache.store(PROMPT, "Use the reset link.", tenant="acme", agent="support")
        client = redis.Redis.from_url(server.url)
        try:
            _fill_until_oom(cache, client)
            for i in range(5):  # more refused writes than breaker_failures
                cache.store(f"more {i}", "y" * 20_000, tenant="acme", agent="support")
            assert cache.guard.state == CLOSED
            hit = cache.check(PROMPT + " now", tenant="acme", agent="support", threshold=0.5)
            assert hit is not None and hit.response == "Use the reset link."
            # An exact repeat with its vector at hand: the probe (it counts the hit, a
            # write) is refused, the pipelined search still finds the entry.
            vector = cache.vectorizer.embed(PROMPT)
            again = cache.check(PROMPT, tenant="acme", agent="support", vector=vector)
            assert again is not None and again.response == "Use the reset link."
            assert cache.check("more 4", tenant="acme", agent="support") is None
        finally:
            client.config_set("maxmemory", 0)
            client.close()


def test_oom_in_strict_mode_names_the_cause(server: EmbeddedRedis) -> None:
    settings = make_settings(server.url)
    with SemanticCache(settings, vectorizer=HashingVectorizer()) as cache:
        client = redis.Redis.from_url(server.url)
        try:
            _fill_until_oom(cache, client)
            settings.reliability.strict = True
            with pytest.raises(CacheUnavailableError, match=r"OutOfMemoryError|OOM"):
                cache.store("one more", "z" * 20_000, tenant="acme", agent="support")
        finally:
            client.config_set("maxmemory", 0)
            client.close()
