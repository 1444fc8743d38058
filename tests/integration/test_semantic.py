"""The semantic cache on a real Redis Stack (HashingVectorizer: these tests are about caching)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest
import redis

from agentcache import EmbeddedRedis, InvalidInputError, SemanticCache, SerializationError
from agentcache.migrations._copy import wait_indexed
from agentcache.settings import AgentCacheSettings
from agentcache.testing.vectors import HashingVectorizer


@pytest.fixture
def vectorizer() -> HashingVectorizer:
    return HashingVectorizer(32)


@pytest.fixture
def cache(settings: AgentCacheSettings, vectorizer: HashingVectorizer) -> Iterator[SemanticCache]:
    c = SemanticCache.create(settings, vectorizer=vectorizer)
    yield c
    c.drop()
    c.close()


def unit(values: list[float]) -> np.ndarray:
    v = np.asarray(values + [0.0] * (32 - len(values)), dtype=np.float32)
    return v / np.linalg.norm(v)


def test_hit_and_miss_around_the_threshold(cache: SemanticCache) -> None:
    base = unit([1.0, 0.0])
    cache.store("q", "answer", tenant="t", agent="a", vector=base)
    # cos(angle) = similarity; one query just above and one just below 0.9.
    above = unit([0.9, float(np.sqrt(1 - 0.9**2)) * 0.95])
    below = unit([0.85, float(np.sqrt(1 - 0.85**2))])
    sim_above = float(above @ base)
    sim_below = float(below @ base)
    assert sim_above > 0.9 > sim_below
    hit = cache.check("other", tenant="t", agent="a", threshold=0.9, vector=above)
    assert hit is not None and hit.response == "answer"
    assert hit.similarity == pytest.approx(sim_above, abs=1e-3)
    assert not hit.exact
    assert cache.check("other2", tenant="t", agent="a", threshold=0.9, vector=below) is None
    # A lower threshold is looser: the same query now hits.
    assert cache.check("other2", tenant="t", agent="a", threshold=0.8, vector=below) is not None


def test_exact_repeat_needs_no_embedding(
    cache: SemanticCache, vectorizer: HashingVectorizer
) -> None:
    cache.store("How do I reset my password?", "Use the link.", tenant="t", agent="a")
    calls = vectorizer.calls
    hit = cache.check("  How do I   reset my password? ", tenant="t", agent="a")
    assert hit is not None and hit.exact and hit.similarity == 1.0
    assert vectorizer.calls == calls


def test_check_then_store_embeds_once(cache: SemanticCache, vectorizer: HashingVectorizer) -> None:
    assert cache.check("brand new question here", tenant="t", agent="a") is None
    calls = vectorizer.calls
    cache.store("brand new question here", "ok", tenant="t", agent="a")
    assert vectorizer.calls == calls


def test_scope_filters_tenant_agent_and_model(cache: SemanticCache) -> None:
    cache.store("what is the refund window", "30 days", tenant="t1", agent="a", model="m1")
    q = "what is the refund window"
    assert cache.check(q, tenant="t1", agent="a") is not None
    assert cache.check(q, tenant="t1", agent="a", model="m1") is not None
    assert cache.check(q, tenant="t1", agent="a", model="m2") is None
    assert cache.check(q, tenant="t1", agent="b") is None
    assert cache.check(q, tenant="t2", agent="a") is None
    assert cache.check(q, tenant="T1", agent="a") is None


def test_store_same_prompt_updates_instead_of_duplicating(cache: SemanticCache) -> None:
    first = cache.store("the question", "old", tenant="t", agent="a")
    second = cache.store("the  question ", "new", tenant="t", agent="a")
    assert first == second
    assert cache.count("t") == 1
    hit = cache.check("the question", tenant="t", agent="a")
    assert hit is not None and hit.response == "new"


def test_hit_updates_hit_count_and_last_hit(
    cache: SemanticCache, redis_client: redis.Redis
) -> None:
    entry_id = cache.store("alpha beta gamma", "r", tenant="t", agent="a", ttl=100)
    hits, lru = cache.core.hits_key("t"), cache.core.lru_key("t")
    before = redis_client.zscore(lru, entry_id)
    assert before is not None and redis_client.hget(hits, entry_id) == b"0"
    time.sleep(0.01)
    exact = cache.check("alpha beta gamma", tenant="t", agent="a")
    assert exact is not None and exact.exact and exact.hit_count == 1
    near = cache.check("alpha beta gamma delta", tenant="t", agent="a", threshold=0.5)
    assert near is not None and not near.exact and near.hit_count == 2
    cache.flush_hits()  # a semantic hit's bookkeeping goes out with the next command
    assert int(redis_client.hget(hits, entry_id)) == 2
    assert float(redis_client.hget(hits, f"{entry_id}:sim")) == pytest.approx(near.similarity)
    assert redis_client.zscore(lru, entry_id) > before
    # The hits hash expires with the LRU set.
    assert 90 < redis_client.ttl(hits) <= 100 and 90 < redis_client.ttl(lru) <= 100


def test_a_replacement_keeps_the_hit_count_and_a_new_entry_starts_at_zero(
    cache: SemanticCache, redis_client: redis.Redis
) -> None:
    entry_id = cache.store("alpha beta gamma", "r", tenant="t", agent="a")
    assert cache.check("alpha beta gamma", tenant="t", agent="a") is not None
    cache.store("alpha beta gamma", "r2", tenant="t", agent="a")
    hit = cache.check("alpha beta gamma", tenant="t", agent="a")
    assert hit is not None and hit.response == "r2" and hit.hit_count == 2
    assert cache.invalidate(entry_id, tenant="t")
    assert redis_client.hmget(cache.core.hits_key("t"), entry_id, f"{entry_id}:sim") == [None] * 2
    cache.store("alpha beta gamma", "r3", tenant="t", agent="a")
    hit = cache.check("alpha beta gamma", tenant="t", agent="a")
    assert hit is not None and hit.hit_count == 1


def _max_doc_id(client: redis.Redis, index: str) -> int:
    """RediSearch gives a document a new id each time it (re-)indexes the hash."""
    raw = client.execute_command("FT.INFO", index)
    info = raw if isinstance(raw, dict) else dict(zip(raw[::2], raw[1::2], strict=True))
    return int(info.get(b"max_doc_id", info.get("max_doc_id")))


def test_a_hit_does_not_write_the_entry_hash(
    cache: SemanticCache, redis_client: redis.Redis
) -> None:
    entry_id = cache.store("alpha beta gamma", "r", tenant="t", agent="a")
    key = cache.core.entry_key("t", entry_id)
    index = cache.core.require_state().physical
    # A new index scans the existing keyspace in the background and re-indexes what it
    # reaches (this entry too): on a server full of other tests' keys, wait it out.
    wait_indexed(redis_client, index, lambda _: None, timeout=60)
    fields, doc_id = redis_client.hgetall(key), _max_doc_id(redis_client, index)
    # A write to the entry would re-index it (the check that this probe sees one):
    redis_client.hset(key, "probe", "1")
    assert _max_doc_id(redis_client, index) == doc_id + 1
    redis_client.hdel(key, "probe")
    fields, doc_id = redis_client.hgetall(key), _max_doc_id(redis_client, index)
    assert cache.check("alpha beta gamma", tenant="t", agent="a") is not None  # exact
    assert cache.check("alpha beta gamma delta", tenant="t", agent="a", threshold=0.5) is not None
    assert cache.feedback(entry_id, True, tenant="t")  # reads the last similarity
    assert redis_client.hgetall(key) == fields
    assert _max_doc_id(redis_client, index) == doc_id
    assert not {b"hit_count", b"last_hit_at", b"last_similarity"} & set(fields)


def test_ttl_expiry(cache: SemanticCache) -> None:
    cache.store("short lived", "r", tenant="t", agent="a", ttl=1)
    cache.store("long lived", "r", tenant="t", agent="a", ttl=100)
    assert cache.check("short lived", tenant="t", agent="a") is not None
    time.sleep(2.1)
    assert cache.check("short lived", tenant="t", agent="a") is None
    assert cache.check("long lived", tenant="t", agent="a") is not None
    assert cache.count("t") == 1


def test_default_ttl_from_settings(
    settings: AgentCacheSettings, vectorizer: HashingVectorizer, redis_client: redis.Redis
) -> None:
    s = settings.model_copy(
        update={"semantic": settings.semantic.model_copy(update={"ttl_seconds": 300})}
    )
    cache = SemanticCache(s, vectorizer=vectorizer)
    entry_id = cache.store("q", "r", tenant="t", agent="a")
    assert 290 <= redis_client.ttl(cache.core.entry_key("t", entry_id)) <= 300
    cache.drop()


def test_eviction_removes_least_recently_hit_of_that_tenant_only(
    settings: AgentCacheSettings, vectorizer: HashingVectorizer
) -> None:
    s = settings.model_copy(
        update={"semantic": settings.semantic.model_copy(update={"max_entries_per_tenant": 3})}
    )
    cache = SemanticCache(s, vectorizer=vectorizer)
    for i in range(3):
        cache.store(f"other tenant question {i}", "x", tenant="other", agent="a")
        time.sleep(0.002)
    cache.store("first one", "1", tenant="t", agent="a")
    time.sleep(0.002)
    cache.store("second one", "2", tenant="t", agent="a")
    time.sleep(0.002)
    cache.store("third one", "3", tenant="t", agent="a")
    time.sleep(0.002)
    assert cache.check("first one", tenant="t", agent="a") is not None  # now most recent
    time.sleep(0.002)
    cache.store("fourth one", "4", tenant="t", agent="a")  # evicts "second one"
    assert cache.count("t") == 3
    assert cache.check("second one", tenant="t", agent="a", threshold=0.99) is None
    for kept in ("first one", "third one", "fourth one"):
        assert cache.check(kept, tenant="t", agent="a") is not None
    assert cache.count("other") == 3
    assert cache.stats.evictions == 1
    cache.drop()


def test_invalidate_by_id(cache: SemanticCache) -> None:
    entry_id = cache.store("remove me", "r", tenant="t", agent="a")
    cache.store("remove me", "r", tenant="u", agent="a")
    assert cache.invalidate(entry_id, tenant="t") is True
    assert cache.invalidate(entry_id, tenant="t") is False
    assert cache.check("remove me", tenant="t", agent="a") is None
    assert cache.check("remove me", tenant="u", agent="a") is not None


def test_invalidate_tenant_and_agent(cache: SemanticCache) -> None:
    for tenant in ("t", "u"):
        for agent in ("a", "b"):
            for i in range(3):
                cache.store(f"question {i} for {agent}", "r", tenant=tenant, agent=agent)
    assert cache.invalidate_agent("t", "a") == 3
    assert cache.count("t") == 3 and cache.count("u") == 6
    assert cache.invalidate_tenant("t") == 3
    assert cache.count("t") == 0 and cache.count("u") == 6
    assert cache.count() == 6


def test_invalidate_by_tag(cache: SemanticCache) -> None:
    cache.store("price of the pro plan", "$10", tenant="t", agent="a", tags=["pricing"])
    cache.store("price of the team plan", "$20", tenant="t", agent="a", tags=["pricing", "team"])
    cache.store("office hours", "9-5", tenant="t", agent="a", tags=["support"])
    cache.store("price elsewhere", "$1", tenant="u", agent="a", tags=["pricing"])
    assert cache.invalidate_tag("t", "pricing") == 2
    assert cache.count("t") == 1
    assert cache.count("u") == 1


def test_invalidate_similar_uses_the_neighbourhood(cache: SemanticCache) -> None:
    base = unit([1.0, 0.0])
    near = unit([1.0, 0.1])
    far = unit([0.0, 1.0])
    cache.store("p1", "r", tenant="t", agent="a", vector=base)
    cache.store("p2", "r", tenant="t", agent="b", vector=near)
    cache.store("p3", "r", tenant="t", agent="a", vector=far)
    cache.store("p1", "r", tenant="u", agent="a", vector=base)
    # Embed the invalidation text to the base direction through the memo.
    cache.core.memo_put(cache.vectorizer.model, "refunds", base)
    assert cache.invalidate_similar("refunds", tenant="t", threshold=0.95) == 2
    assert cache.count("t") == 1 and cache.count("u") == 1


def test_clear_and_count(cache: SemanticCache) -> None:
    for i in range(5):
        cache.store(f"q{i}", "r", tenant=f"t{i % 2}", agent="a")
    assert cache.count() == 5
    assert cache.count("t0") == 3
    assert cache.clear() == 5
    assert cache.count() == 0


ADVERSARIAL = [
    "a|b", "*", "t-1", "{x}", "with spaces", "@tenant:{t1}", "t1) | (@tenant:{t2}",
    "-t1", "t1*", "\\", '"quoted"', "ünïcødé", "x" * 256, "t1 ", "T1", "%7Bx%7D",
]  # fmt: skip


@pytest.mark.parametrize("tenant", ADVERSARIAL)
def test_adversarial_tenant_names_neither_error_nor_leak(cache: SemanticCache, tenant: str) -> None:
    cache.store("shared question text", "victim answer", tenant="t1", agent="a")
    cache.store("shared question text", f"answer of {tenant}", tenant=tenant, agent="a")
    own = cache.check("shared question text", tenant=tenant, agent="a")
    assert own is not None and own.response == f"answer of {tenant}"
    victim = cache.check("shared question text", tenant="t1", agent="a")
    assert victim is not None and victim.response == "victim answer"
    assert cache.count(tenant) == 1
    assert cache.invalidate_tenant(tenant) == 1
    assert cache.count("t1") == 1


@pytest.mark.parametrize("agent", ["a|b", "*", "{x}", "with spaces", "A"])
def test_adversarial_agent_names(cache: SemanticCache, agent: str) -> None:
    cache.store("shared question", "for a", tenant="t", agent="a")
    cache.store("shared question", f"for {agent}", tenant="t", agent=agent)
    hit = cache.check("shared question", tenant="t", agent=agent)
    assert hit is not None and hit.response == f"for {agent}"
    assert cache.invalidate_agent("t", agent) == 1
    assert cache.count("t") == 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tenant": ""}, "tenant"),
        ({"tenant": "   "}, "tenant"),
        ({"tenant": "x" * 257}, "tenant"),
        ({"agent": ""}, "agent"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": "  \n "}, "prompt"),
        ({"response": 42}, "response"),
        ({"threshold": 1.5}, "threshold"),
        ({"ttl": 0}, "ttl"),
        ({"vector": [float("nan")] * 32}, "NaN"),
        ({"vector": [1.0] * 31}, "dimensions"),
    ],
)
def test_bad_input_is_named_and_nothing_is_damaged(
    cache: SemanticCache, kwargs: dict[str, object], match: str
) -> None:
    cache.store("existing", "kept", tenant="t", agent="a")
    call: dict[str, object] = {"prompt": "p", "response": "r", "tenant": "t", "agent": "a"}
    threshold = kwargs.pop("threshold", None)
    call.update(kwargs)
    with pytest.raises(InvalidInputError, match=match):
        if threshold is not None:
            cache.check(str(call["prompt"]), tenant="t", agent="a", threshold=threshold)  # type: ignore[arg-type]
        else:
            cache.store(**call)  # type: ignore[arg-type]
    hit = cache.check("existing", tenant="t", agent="a")
    assert hit is not None and hit.response == "kept"


def test_unserialisable_metadata(cache: SemanticCache) -> None:
    with pytest.raises(SerializationError, match="metadata"):
        cache.store("p", "r", tenant="t", agent="a", metadata={"x": object()})
    assert cache.count("t") == 0


def test_metadata_round_trip(cache: SemanticCache) -> None:
    meta = {"usage": {"input_tokens": 12}, "source": "docs"}
    cache.store("with metadata", "r", tenant="t", agent="a", metadata=meta)
    hit = cache.check("with metadata", tenant="t", agent="a")
    assert hit is not None and hit.metadata == meta


def test_lookup_is_one_filtered_vector_query(settings: AgentCacheSettings) -> None:
    # A server of its own: background work of other tests must not count here.
    with EmbeddedRedis() as server:
        own = settings.model_copy(
            update={"redis": settings.redis.model_copy(update={"url": server.url})}
        )
        cache = SemanticCache(own, vectorizer=HashingVectorizer(32))
        for i in range(20):
            cache.store(f"question number {i}", "r", tenant="t", agent="a")
        client = redis.Redis.from_url(server.url)
        client.execute_command("CONFIG", "RESETSTAT")
        cache.check("the first question of this scope", tenant="t", agent="a")
        first = client.info("commandstats")
        client.execute_command("CONFIG", "RESETSTAT")
        cache.check("a question never stored here", tenant="t", agent="a")
        stats = client.info("commandstats")
        cache.close()
        client.close()
    # The first lookup also counts the index for the hybrid planner (once per
    # SIZE_TTL_SECONDS; 20 entries: too few for a big scope, so the scope is not
    # counted); every other lookup is one search and no scan.
    assert first.get("cmdstat_FT.SEARCH", {}).get("calls", 0) == 2
    searches = stats.get("cmdstat_FT.SEARCH", {}).get("calls", 0)
    reads = ("cmdstat_get", "cmdstat_hgetall", "cmdstat_scan", "cmdstat_keys", "cmdstat_mget")
    assert searches == 1
    assert sum(v["calls"] for k, v in stats.items() if k in reads) == 0


def test_index_is_hnsw_with_explicit_parameters(
    cache: SemanticCache, redis_client: redis.Redis
) -> None:
    info = redis_client.execute_command("FT.INFO", cache.core.alias)
    text = str(info)
    assert "HNSW" in text and "COSINE" in text
    assert "'M', 16" in text.replace("b'", "'") or "M" in text


def test_existing_index_with_other_dims_is_refused(
    cache: SemanticCache, settings: AgentCacheSettings
) -> None:
    from agentcache import ConfigurationError

    other = settings.model_copy(
        update={"embeddings": settings.embeddings.model_copy(update={"dims": 48}),
                "reliability": settings.reliability.model_copy(update={"strict": True})}
    )  # fmt: skip
    with pytest.raises(ConfigurationError, match="48"):
        SemanticCache.create(other, vectorizer=HashingVectorizer(48))


def test_lost_index_is_recreated(cache: SemanticCache, redis_client: redis.Redis) -> None:
    cache.store("survivor", "r", tenant="t", agent="a")
    assert cache.core.state is not None
    redis_client.execute_command("FT.DROPINDEX", cache.core.state.physical)
    # The entry hash is still there; the index comes back over it (indexed in the background).
    deadline = time.monotonic() + 10
    hit = None
    while hit is None and time.monotonic() < deadline:
        hit = cache.check("survivor again", tenant="t", agent="a", threshold=0.5)
        time.sleep(0.05)
    assert hit is not None and hit.response == "r"
    assert cache.guard.faults == 0


def test_recreated_index_keeps_the_recorded_datatype(
    settings: AgentCacheSettings, redis_client: redis.Redis
) -> None:
    half = settings.model_copy(
        update={"semantic": settings.semantic.model_copy(update={"vector_datatype": "float16"})}
    )
    first = SemanticCache(half, vectorizer=HashingVectorizer(32))
    first.store("stored as float16", "r", tenant="t", agent="a")
    assert first.core.state is not None
    physical = first.core.state.physical
    # A process still configured for float32 follows the index; after the index is
    # lost it recreates it over the same float16 vectors, not as float32.
    second = SemanticCache(settings, vectorizer=HashingVectorizer(32))
    redis_client.execute_command("FT.DROPINDEX", physical)
    deadline = time.monotonic() + 10
    hit = None
    while hit is None and time.monotonic() < deadline:
        hit = second.check("stored as float16 now", tenant="t", agent="a", threshold=0.5)
    assert hit is not None and hit.response == "r"
    assert "FLOAT16" in str(redis_client.execute_command("FT.INFO", physical))
    second.drop()


@pytest.mark.parametrize("form", ["range", "knn"])
def test_both_query_forms_serve_the_nearest_entry_above_the_threshold(
    settings: AgentCacheSettings, form: str
) -> None:
    s = settings.model_copy(
        update={
            "semantic": settings.semantic.model_copy(
                update={"query": form, "top_k": 2, "policy": "threshold"}
            )
        }
    )
    cache = SemanticCache(s, vectorizer=HashingVectorizer(32))
    for i, angle in enumerate([0.0, 0.2, 0.4, 0.9]):
        vec = unit([float(np.cos(angle)), float(np.sin(angle))])
        cache.store(f"p{i}", f"r{i}", tenant="t", agent="a", vector=vec)
    query = unit([float(np.cos(0.15)), float(np.sin(0.15))])  # nearest: p1 (0.05 rad away)
    hit = cache.check("q", tenant="t", agent="a", threshold=0.95, vector=query)
    assert hit is not None and hit.response == "r1"
    far = unit([float(np.cos(1.6)), float(np.sin(1.6))])  # 0.7 rad from p3: cosine 0.76
    assert cache.check("q2", tenant="t", agent="a", threshold=0.95, vector=far) is None
    assert cache.check("q2", tenant="t", agent="a", threshold=0.7, vector=far) is not None
    cache.drop()


def _capped(settings: AgentCacheSettings, index_name: str) -> AgentCacheSettings:
    semantic = settings.semantic.model_copy(
        update={"index_name": index_name, "max_entries_per_tenant": 3}
    )
    return settings.model_copy(update={"semantic": semantic})


@pytest.mark.parametrize("wipe", ["clear", "drop"])
def test_clear_and_drop_leave_another_index_on_the_same_prefix_alone(
    settings: AgentCacheSettings, redis_client: redis.Redis, wipe: str
) -> None:
    mine = SemanticCache(_capped(settings, "mine"), vectorizer=HashingVectorizer(32))
    other = SemanticCache(_capped(settings, "other"), vectorizer=HashingVectorizer(32))
    assert mine.settings.redis.key_prefix == other.settings.redis.key_prefix
    ids = []
    for i in range(3):
        mine.store(f"mine question {i}", "m", tenant="t", agent="a")
        ids.append(other.store(f"other question {i}", "o", tenant="t", agent="a"))
        time.sleep(0.002)
    # Hit the oldest of the other index's entries: it becomes the most recent.
    hit = other.check("other question 0", tenant="t", agent="a")
    assert hit is not None and hit.hit_count == 1
    lru, hits = other.core.lru_key("t"), other.core.hits_key("t")
    assert mine.core.lru_key("t") != lru

    getattr(mine, wipe)()

    assert redis_client.exists(mine.core.lru_key("t"), mine.core.hits_key("t")) == 0
    assert redis_client.zcard(lru) == 3
    assert redis_client.hget(hits, ids[0]) == b"1"
    assert other.count("t") == 3
    time.sleep(0.002)
    other.store("other question 3", "o", tenant="t", agent="a")  # evicts question 1
    assert other.count("t") == 3
    assert other.stats.evictions == 1
    assert other.check("other question 1", tenant="t", agent="a", threshold=0.99) is None
    again = other.check("other question 0", tenant="t", agent="a")
    assert again is not None and again.hit_count == 2
    other.drop()
    other.close()
    mine.close()
