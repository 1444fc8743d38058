"""Tenant isolation as a property: no lookup, invalidation or eviction crosses tenants.

Ids are generated with RediSearch query syntax, unicode, ids up to the
256-character limit and look-alikes (``t1`` / ``t1 `` / ``T1``). Each layer
that keeps per-tenant data is covered: the semantic cache (exact and KNN
paths, invalidation, LRU eviction), the tool cache and the metrics counters.
The embedding cache is keyed by model and text only, so it has no tenant to
isolate (see docs/operations.md).
"""

from __future__ import annotations

import itertools
import os
import unicodedata
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import redis
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from agentcache._redis.keys import MAX_ID_LENGTH
from agentcache._redis.server import EmbeddedRedis
from agentcache.metrics._counters import Metrics
from agentcache.metrics._flush import RedisCounters, counter_key, read_counters
from agentcache.metrics._types import Series
from agentcache.semantic import SemanticCache
from agentcache.settings import AgentCacheSettings
from agentcache.testing.vectors import HashingVectorizer
from agentcache.tools import ToolCache, cached_tool

_counter = itertools.count()
PROMPT = "What is the refund window for annual plans?"
SYNTAX = [*"@{}[]()|-~*:;\"'\\,.<>=!&%$#^?/+` \t", "\u200b", "\x00", "\n"]

CASES = hsettings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _valid(value: str) -> bool:
    return bool(value.strip()) and len(value) <= MAX_ID_LENGTH


_chars = st.one_of(
    st.sampled_from(SYNTAX),
    st.characters(exclude_categories=("Cs",)),
    st.sampled_from(list("t1T")),
)
ids = st.one_of(
    st.text(_chars, min_size=1, max_size=24),
    st.text(_chars, min_size=MAX_ID_LENGTH - 16, max_size=MAX_ID_LENGTH),
    st.sampled_from(
        [
            "t1",
            "t1 ",
            "T1",
            " t1",
            "t1\u200b",
            "\uff541",
            "t1*",
            "t1|t2",
            "@tenant:{t1}",
            "{t1}",
            "t1}:x",
            "*",
            "%74%31",
            "t%31",
            "-t1",
            "t1)",
            "é",
            "e\u0301",
        ]
    ),
).filter(_valid)

LOOKALIKES: dict[str, Callable[[str], str]] = {
    "trailing space": lambda s: s + " ",
    "leading space": lambda s: " " + s,
    "upper": str.upper,
    "swapcase": str.swapcase,
    "zero width": lambda s: s + "\u200b",
    "nfd": lambda s: unicodedata.normalize("NFD", s),
    "nfkc": lambda s: unicodedata.normalize("NFKC", s),
    "star": lambda s: s + "*",
    "percent-encoded": lambda s: "".join(f"%{b:02X}" for b in s.encode()),
    "braced": lambda s: "{" + s + "}",
}
lookalike_pairs = (
    st.tuples(ids, st.sampled_from(sorted(LOOKALIKES)))
    .map(lambda pair: (pair[0], LOOKALIKES[pair[1]](pair[0])))
    .filter(lambda pair: pair[0] != pair[1] and _valid(pair[1]))
)
distinct_pairs = st.tuples(ids, ids).filter(lambda pair: pair[0] != pair[1])
tenant_pairs = st.one_of(lookalike_pairs, distinct_pairs)


def _settings(url: str, **semantic: object) -> AgentCacheSettings:
    return AgentCacheSettings(
        redis={"url": url, "key_prefix": f"iso{os.getpid()}x{next(_counter)}", "socket_timeout": 5},
        embeddings={"dims": 32, "model": "test-hash"},
        semantic={"ttl_seconds": None, **semantic},
    )


@pytest.fixture(scope="module")
def cache(redis_server: EmbeddedRedis) -> Iterator[SemanticCache]:
    with SemanticCache(_settings(redis_server.url), vectorizer=HashingVectorizer()) as c:
        yield c
        c.drop()


@pytest.fixture(scope="module")
def capped(redis_server: EmbeddedRedis) -> Iterator[SemanticCache]:
    settings = _settings(redis_server.url, max_entries_per_tenant=2)
    with SemanticCache(settings, vectorizer=HashingVectorizer()) as c:
        yield c
        c.drop()


VECTOR = HashingVectorizer().embed(PROMPT)
OTHER_VECTOR = np.roll(VECTOR, 3)


@CASES
@given(pair=tenant_pairs, agents=st.tuples(ids, ids))
def test_semantic_lookups_and_invalidation_never_cross_tenants(
    cache: SemanticCache, pair: tuple[str, str], agents: tuple[str, str]
) -> None:
    (a, b), (agent_a, agent_b) = pair, agents
    try:
        # Same prompt, same vector: only the tenant tells the entries apart.
        cache.store(PROMPT, f"secret of {a!r}", tenant=a, agent=agent_a, vector=VECTOR)
        cache.store(PROMPT, f"secret of {b!r}", tenant=b, agent=agent_b, vector=VECTOR)
        for tenant, agent in ((a, agent_a), (b, agent_b)):
            exact = cache.check(PROMPT, tenant=tenant, agent=agent)
            assert exact is not None and exact.exact
            assert (exact.response, exact.tenant) == (f"secret of {tenant!r}", tenant)
            near = cache.check(
                PROMPT + " thanks", tenant=tenant, agent=agent, vector=VECTOR, threshold=0.0
            )
            assert near is not None and not near.exact
            assert near.response == f"secret of {tenant!r}"
        # Tenant a asking as b's agent finds nothing of b's.
        if agent_a != agent_b:
            assert (
                cache.check(PROMPT, tenant=a, agent=agent_b, vector=VECTOR, threshold=0.0) is None
            )
        assert cache.count(a) == 1 and cache.count(b) == 1

        assert cache.invalidate_tenant(a) == 1
        assert cache.check(PROMPT, tenant=a, agent=agent_a) is None
        survivor = cache.check(PROMPT, tenant=b, agent=agent_b, vector=VECTOR, threshold=0.0)
        assert survivor is not None and survivor.response == f"secret of {b!r}"
        assert cache.count(b) == 1
        # Agent- and tag-scoped invalidation of a touch nothing of b's either.
        assert cache.invalidate_agent(a, agent_b) == 0
        assert cache.invalidate_similar(PROMPT, tenant=a, threshold=0.0) == 0
        assert cache.count(b) == 1
    finally:
        cache.invalidate_tenant(a)
        cache.invalidate_tenant(b)


@CASES
@given(pair=tenant_pairs, agent=ids)
def test_lru_eviction_only_ever_evicts_the_writing_tenants_entries(
    capped: SemanticCache, pair: tuple[str, str], agent: str
) -> None:
    a, b = pair
    try:
        for i in range(2):
            capped.store(f"b question {i}", f"b answer {i}", tenant=b, agent=agent, vector=VECTOR)
        evictions = capped.stats.evictions
        for i in range(4):  # a goes over its cap of 2 twice
            vec = np.roll(OTHER_VECTOR, i)
            capped.store(f"a question {i}", f"a answer {i}", tenant=a, agent=agent, vector=vec)
        assert capped.stats.evictions - evictions == 2
        assert capped.count(a) == 2 and capped.count(b) == 2
        for i in range(2):
            hit = capped.check(f"b question {i}", tenant=b, agent=agent)
            assert hit is not None and hit.response == f"b answer {i}"
    finally:
        capped.invalidate_tenant(a)
        capped.invalidate_tenant(b)


@pytest.fixture(scope="module")
def tools(redis_server: EmbeddedRedis) -> Iterator[ToolCache]:
    with ToolCache(_settings(redis_server.url)) as t:
        yield t


@CASES
@given(pair=tenant_pairs, query=st.text(max_size=20))
def test_tool_results_and_tool_invalidation_never_cross_tenants(
    tools: ToolCache, pair: tuple[str, str], query: str
) -> None:
    a, b = pair
    runs: list[str] = []

    @cached_tool(tools, tenant_arg="tenant")
    def lookup(q: str, tenant: str) -> str:
        runs.append(tenant)
        return f"{tenant!r} sees {q!r}"

    try:
        assert lookup(query, a) == f"{a!r} sees {query!r}"
        assert lookup(query, b) == f"{b!r} sees {query!r}"  # not a's cached result
        assert lookup(query, a) == f"{a!r} sees {query!r}"
        assert runs == [a, b]
        assert tools.invalidate_tenant(a) == 1
        assert lookup(query, b) == f"{b!r} sees {query!r}"
        assert runs == [a, b]  # b's entry survived a's invalidation
    finally:
        tools.invalidate_tenant(a)
        tools.invalidate_tenant(b)


@CASES
@given(pair=tenant_pairs, agent=ids)
def test_metrics_counters_of_lookalike_tenants_stay_apart(
    redis_server: EmbeddedRedis, pair: tuple[str, str], agent: str
) -> None:
    a, b = pair
    prefix = f"isom{next(_counter)}"
    assert counter_key(prefix, Series("semantic", a, agent)) != counter_key(
        prefix, Series("semantic", b, agent)
    )
    client = redis.Redis.from_url(redis_server.url)
    try:
        metrics = Metrics(counters=RedisCounters(lambda: client, prefix, owns_client=False))
        metrics.count("semantic", "hits", a, agent, 3)
        metrics.count("semantic", "hits", b, agent, 5)
        assert metrics.flush()
        only_a = read_counters(client, prefix, a)
        assert only_a == {Series("semantic", a, agent): {"hits": 3.0}}
        assert read_counters(client, prefix, b) == {Series("semantic", b, agent): {"hits": 5.0}}
    finally:
        for key in client.scan_iter(match=f"{prefix}:*"):
            client.delete(key)
        client.close()
