"""The embedding cache against a real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import numpy as np
import pytest
import redis
import redis.client

from agentcache.embeddings import AsyncEmbeddingCache, CachedVectorizer, EmbeddingCache
from agentcache.exceptions import CacheUnavailableError, ConfigurationError, InvalidInputError
from agentcache.settings import AgentCacheSettings
from agentcache.testing.counting import CountingRedis
from agentcache.testing.vectors import HashingVectorizer
from agentcache.vectorizers import Vector, Vectorizer


@pytest.fixture
def counting(redis_url: str) -> Iterator[CountingRedis]:
    client = CountingRedis.from_url(redis_url)
    assert isinstance(client, CountingRedis)
    yield client
    client.close()


@pytest.fixture
def cache(settings: AgentCacheSettings, counting: CountingRedis) -> EmbeddingCache:
    return EmbeddingCache(settings, counting)


@pytest.fixture
async def acache(settings: AgentCacheSettings) -> AsyncIterator[AsyncEmbeddingCache]:
    async with AsyncEmbeddingCache(settings) as c:
        yield c


class Recorder:
    """compute_many that remembers every batch it was asked for."""

    def __init__(self, dims: int = 32) -> None:
        self.vectorizer = HashingVectorizer(dims=dims)
        self.batches: list[list[str]] = []

    def __call__(self, texts: Sequence[str]) -> list[Vector]:
        self.batches.append(list(texts))
        return self.vectorizer.embed_many(texts)


def _with(settings: AgentCacheSettings, **groups: dict[str, Any]) -> AgentCacheSettings:
    data = settings.model_dump()
    for group, values in groups.items():
        data[group].update(values)
    return AgentCacheSettings(**data)


def test_set_get_stores_packed_float32_under_model_and_dims(
    cache: EmbeddingCache, redis_client: redis.Redis
) -> None:
    vector = HashingVectorizer().embed("hello world")
    cache.set("hello world", vector)
    key = cache.key("hello world")
    prefix = cache._core.settings.redis.key_prefix
    assert key.startswith(f"{prefix}:emb:test-hash:32:") and "{" not in key
    raw = redis_client.get(key)
    assert raw == vector.astype("<f4").tobytes() and len(raw) == 32 * 4
    assert redis_client.ttl(key) == -1  # no expiry by default
    got = cache.get("hello world")
    assert got is not None and got.dtype == np.float32
    np.testing.assert_array_equal(got, vector)
    got[0] = 5.0  # a writable copy, not a view of the reply
    assert cache.get("hello world ") is None  # the exact text is the key


def test_batch_keeps_order_computes_unique_misses_once_in_two_round_trips(
    cache: EmbeddingCache, counting: CountingRedis
) -> None:
    reference = HashingVectorizer()
    cache.set("b", reference.embed("b"))
    compute = Recorder()
    texts = ["a", "b", "a", "c", "b", "a"]
    before = counting.round_trips
    vectors = cache.get_or_compute_many(texts, compute)
    assert counting.round_trips - before == 2  # one MGET, one pipelined write
    assert compute.batches == [["a", "c"]]
    for text, vector in zip(texts, vectors, strict=True):
        np.testing.assert_array_equal(vector, reference.embed(text))
    assert cache.info().hits == 1 and cache.info().misses == 2

    before = counting.round_trips
    again = cache.get_or_compute_many(texts[::-1], compute)
    assert counting.round_trips - before == 1  # all hits: one MGET, no compute
    assert compute.batches == [["a", "c"]]
    for text, vector in zip(texts[::-1], again, strict=True):
        np.testing.assert_array_equal(vector, reference.embed(text))
    assert cache.get_or_compute_many([], compute) == []


def test_get_many_reports_partial_hits_in_order(cache: EmbeddingCache) -> None:
    reference = HashingVectorizer()
    cache.set_many(["x", "z"], reference.embed_many(["x", "z"]))
    got = cache.get_many(["z", "y", "x", "z"])
    assert [g is None for g in got] == [False, True, False, False]
    np.testing.assert_array_equal(got[0], reference.embed("z"))
    np.testing.assert_array_equal(got[2], reference.embed("x"))


def test_models_and_dims_never_mix(settings: AgentCacheSettings, redis_client: redis.Redis) -> None:
    a = EmbeddingCache(settings, redis_client, model="model-a", dims=32)
    b = EmbeddingCache(settings, redis_client, model="model-b", dims=32)
    a64 = EmbeddingCache(settings, redis_client, model="model-a", dims=64)
    a.set("same text", HashingVectorizer(32).embed("same text"))
    assert b.get("same text") is None
    assert a64.get("same text") is None
    assert a.get("same text") is not None
    assert len({a.key("t"), b.key("t"), a64.key("t")}) == 3


def test_wrong_length_value_is_a_miss_and_recomputed(
    cache: EmbeddingCache, redis_client: redis.Redis
) -> None:
    redis_client.set(cache.key("t"), b"\x00" * 16)  # 4 floats, not 32
    assert cache.get("t") is None
    compute = Recorder()
    vector = cache.get_or_compute("t", lambda text: compute([text])[0])
    assert compute.batches == [["t"]]
    assert redis_client.get(cache.key("t")) == vector.astype("<f4").tobytes()


def test_bad_vectors_and_inputs_are_rejected(cache: EmbeddingCache) -> None:
    with pytest.raises(InvalidInputError, match="16 dimensions, expected 32"):
        cache.get_or_compute_many(["a"], lambda texts: [np.ones(16)])
    with pytest.raises(InvalidInputError, match="returned 2 vectors for 1 texts"):
        cache.get_or_compute_many(["a"], lambda texts: [np.ones(32), np.ones(32)])
    with pytest.raises(InvalidInputError, match="not one string"):
        cache.get_many("abc")
    with pytest.raises(InvalidInputError, match="must be a str"):
        cache.get(b"abc")  # type: ignore[arg-type]
    assert cache.get("a") is None  # nothing half-written


def test_text_with_a_lone_surrogate_is_named(cache: EmbeddingCache) -> None:
    computed: list[str] = []

    def compute(texts: Sequence[str]) -> list[Vector]:
        computed.extend(texts)
        return HashingVectorizer().embed_many(texts)

    for call in (
        lambda: cache.get("t\ud800"),
        lambda: cache.set("t\ud800", np.ones(32)),
        lambda: cache.get_or_compute_many(["ok", "t\ud800"], compute),
    ):
        with pytest.raises(InvalidInputError, match="text to embed is not valid Unicode"):
            call()
    assert computed == []  # refused before the model ran or anything was written
    assert cache.get("ok") is None


async def test_text_with_a_lone_surrogate_is_named_async(acache: AsyncEmbeddingCache) -> None:
    with pytest.raises(InvalidInputError, match="text to embed is not valid Unicode"):
        await acache.get_many(["ok", "t\ud800"])


def test_ttl_is_configurable(settings: AgentCacheSettings, redis_client: redis.Redis) -> None:
    cache = EmbeddingCache(_with(settings, embeddings={"ttl_seconds": 100}), redis_client)
    cache.get_or_compute_many(["a", "b"], Recorder())
    cache.set("c", np.ones(32))
    for text in "abc":
        assert 0 < redis_client.ttl(cache.key(text)) <= 100


def test_disabled_cache_always_computes_and_stores_nothing(
    settings: AgentCacheSettings, redis_client: redis.Redis
) -> None:
    cache = EmbeddingCache(_with(settings, embeddings={"cache_enabled": False}), redis_client)
    compute = Recorder()
    cache.get_or_compute_many(["a"], compute)
    cache.get_or_compute_many(["a"], compute)
    assert compute.batches == [["a"], ["a"]]
    assert redis_client.exists(cache.key("a")) == 0


def test_cached_vectorizer_never_embeds_a_text_twice(
    settings: AgentCacheSettings, redis_client: redis.Redis
) -> None:
    inner = HashingVectorizer(dims=32)
    vectorizer = CachedVectorizer(inner, EmbeddingCache(settings, redis_client))
    assert isinstance(vectorizer, Vectorizer)
    assert (vectorizer.model, vectorizer.dims) == ("test-hash", 32)
    first = vectorizer.embed("what is redis")
    assert inner.calls == 1
    np.testing.assert_array_equal(vectorizer.embed("what is redis"), first)
    many = vectorizer.embed_many(["what is redis", "new text", "new text"])
    assert inner.calls == 2  # only "new text", once
    np.testing.assert_array_equal(many[0], first)
    np.testing.assert_array_equal(many[1], many[2])


async def test_cached_vectorizer_async_paths(
    settings: AgentCacheSettings, redis_client: redis.Redis, acache: AsyncEmbeddingCache
) -> None:
    inner = HashingVectorizer(dims=32)
    with_async = CachedVectorizer(inner, EmbeddingCache(settings, redis_client), acache)
    thread_only = CachedVectorizer(inner, EmbeddingCache(settings, redis_client))
    a = await with_async.aembed("alpha")
    assert inner.calls == 1
    np.testing.assert_array_equal(await thread_only.aembed("alpha"), a)
    out = await thread_only.aembed_many(["alpha", "beta"])
    out2 = await with_async.aembed_many(["beta", "alpha", "gamma"])
    assert inner.calls == 3  # beta, then gamma
    np.testing.assert_array_equal(out2[0], out[1])
    np.testing.assert_array_equal(out2[1], a)


def test_cached_vectorizer_refuses_a_cache_for_another_model(
    settings: AgentCacheSettings, redis_client: redis.Redis
) -> None:
    with pytest.raises(ConfigurationError, match=r"'other'.*pass model= and dims="):
        CachedVectorizer(
            HashingVectorizer(dims=32), EmbeddingCache(settings, redis_client, model="other")
        )


async def test_async_batch_order_duplicates_and_partial_hits(acache: AsyncEmbeddingCache) -> None:
    reference = HashingVectorizer()
    await acache.set("b", reference.embed("b"))
    batches: list[list[str]] = []

    async def compute_many(texts: Sequence[str]) -> list[Vector]:
        batches.append(list(texts))
        return reference.embed_many(texts)

    texts = ["c", "b", "c", "a"]
    vectors = await acache.get_or_compute_many(texts, compute_many)
    assert batches == [["c", "a"]]
    for text, vector in zip(texts, vectors, strict=True):
        np.testing.assert_array_equal(vector, reference.embed(text))
    got = await acache.get_many(["a", "zzz"])
    assert got[0] is not None and got[1] is None
    one = await acache.get_or_compute("zzz", lambda text: reference.embed(text))
    assert await acache.get("zzz") is not None
    np.testing.assert_array_equal(one, reference.embed("zzz"))


def test_redis_fault_computes_and_strict_mode_raises(settings: AgentCacheSettings) -> None:
    dead = {"url": "redis://127.0.0.1:1", "socket_connect_timeout": 0.2}
    with EmbeddingCache(_with(settings, redis=dead)) as cache:
        compute = Recorder()
        vectors = cache.get_or_compute_many(["a", "b", "a"], compute)
        assert compute.batches == [["a", "b"]] and len(vectors) == 3
        assert cache.get("a") is None
        assert cache.guard.faults >= 1
    strict = _with(settings, redis=dead, reliability={"strict": True})
    with EmbeddingCache(strict) as strict_cache, pytest.raises(CacheUnavailableError):
        strict_cache.get_or_compute_many(["a"], Recorder())
