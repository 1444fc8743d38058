"""Per-request ``max_age``: only entries stored less than N seconds ago are served."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import numpy as np
import pytest

from agentcache import AsyncSemanticCache, SemanticCache
from agentcache.exceptions import InvalidInputError
from agentcache.settings import AgentCacheSettings
from agentcache.testing.vectors import HashingVectorizer

DIMS = 32


class Clock:
    """The cache's wall clock, moved by hand (entries' ``inserted_at`` come from it)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def with_query(settings: AgentCacheSettings, query: str) -> AgentCacheSettings:
    semantic = settings.semantic.model_copy(update={"query": query})
    return settings.model_copy(update={"semantic": semantic})


def rows(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(11)
    out = rng.standard_normal((n, DIMS)).astype(np.float32)
    return list(out / np.linalg.norm(out, axis=1, keepdims=True))


def nudged(vector: np.ndarray) -> np.ndarray:
    moved = vector + 0.01 * np.ones(DIMS, dtype=np.float32)
    return (moved / np.linalg.norm(moved)).astype(np.float32)


@pytest.fixture(params=["knn", "range"])
def aged(settings: AgentCacheSettings, request: pytest.FixtureRequest) -> Iterator[
    tuple[SemanticCache, Clock, list[np.ndarray]]
]:
    """A cache holding 'old' (stored 150 s ago) and 'new' (50 s ago)."""
    clock = Clock()
    cache = SemanticCache(with_query(settings, request.param), vectorizer=HashingVectorizer(DIMS))
    cache.core.clock = clock
    vectors = rows(2)
    start = clock.now
    clock.now = start - 150
    cache.store("old question", "old answer", tenant="t", agent="a", vector=vectors[0])
    clock.now = start - 50
    cache.store("new question", "new answer", tenant="t", agent="a", vector=vectors[1])
    clock.now = start
    yield cache, clock, vectors
    cache.drop()
    cache.close()


def test_a_semantic_hit_older_than_max_age_is_a_miss(
    aged: tuple[SemanticCache, Clock, list[np.ndarray]],
) -> None:
    cache, _, (old, new) = aged
    near_old, near_new = nudged(old), nudged(new)
    assert cache.check("reworded old", tenant="t", agent="a", vector=near_old) is not None
    assert cache.check("reworded old", tenant="t", agent="a", vector=near_old, max_age=100) is None
    hit = cache.check("reworded new", tenant="t", agent="a", vector=near_new, max_age=100)
    assert hit is not None and hit.response == "new answer"
    assert cache.check("reworded new", tenant="t", agent="a", vector=near_new, max_age=40) is None


@pytest.mark.parametrize("with_vector", [True, False])
def test_an_exact_repeat_older_than_max_age_is_a_miss_and_not_counted(
    aged: tuple[SemanticCache, Clock, list[np.ndarray]], with_vector: bool
) -> None:
    cache, _, (old, _new) = aged
    vector = old if with_vector else None
    found = cache.lookup("old question", tenant="t", agent="a", vector=vector, max_age=100)
    assert found.hit is None and found.reason != "exact"
    hit = cache.check("old question", tenant="t", agent="a", vector=vector, max_age=200)
    assert hit is not None and hit.exact and hit.response == "old answer"
    assert hit.hit_count == 1  # the refused lookup did not count as a hit


def test_max_age_follows_the_clock(aged: tuple[SemanticCache, Clock, list[np.ndarray]]) -> None:
    cache, clock, (_old, new) = aged
    assert cache.check("new question", tenant="t", agent="a", max_age=60) is not None
    clock.now += 20  # the entry is now 70 s old
    assert cache.check("new question", tenant="t", agent="a", max_age=60) is None
    assert cache.check("new question", tenant="t", agent="a", vector=new, max_age=60) is None


BAD_AGES: list[object] = [0, -1.0, math.nan, math.inf, True, "60", [60]]


@pytest.mark.parametrize("bad", BAD_AGES)
def test_a_bad_max_age_is_refused_before_any_io(settings: AgentCacheSettings, bad: object) -> None:
    vectorizer = HashingVectorizer(DIMS)
    cache = SemanticCache(settings, vectorizer=vectorizer)
    try:
        with pytest.raises(InvalidInputError, match="max_age"):
            cache.check("q", tenant="t", agent="a", max_age=bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError, match="max_age"):
            cache.lookup("q", tenant="t", agent="a", max_age=bad)  # type: ignore[arg-type]
        assert vectorizer.calls == 0 and cache.core.state is None  # nothing embedded or created
    finally:
        cache.close()


async def test_async_max_age(settings: AgentCacheSettings) -> None:
    clock = Clock()
    vectors = rows(2)
    async with AsyncSemanticCache(settings, vectorizer=HashingVectorizer(DIMS)) as cache:
        cache.core.clock = clock
        start = clock.now
        clock.now = start - 150
        await cache.store("old question", "old answer", tenant="t", agent="a", vector=vectors[0])
        clock.now = start
        near = nudged(vectors[0])
        assert await cache.check("x", tenant="t", agent="a", vector=near) is not None
        assert await cache.check("x", tenant="t", agent="a", vector=near, max_age=100) is None
        assert await cache.check("old question", tenant="t", agent="a", max_age=100) is None
        exact = await cache.check("old question", tenant="t", agent="a", max_age=200.5)
        assert exact is not None and exact.exact
        with pytest.raises(InvalidInputError, match="max_age"):
            await cache.check("q", tenant="t", agent="a", max_age=-3)
        await cache.drop()

