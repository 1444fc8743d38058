"""Bad input gets a clear exception naming the problem, and stored entries stay intact."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agentcache.exceptions import (
    AgentCacheError,
    ConfigurationError,
    InvalidInputError,
    SchemaError,
    SerializationError,
)
from agentcache.semantic import AsyncSemanticCache, SemanticCache
from agentcache.settings import AgentCacheSettings
from agentcache.testing.vectors import HashingVectorizer

PROMPT = "What is our refund window?"
ANSWER = "30 days from delivery."


@pytest.fixture
def cache(settings: AgentCacheSettings) -> Iterator[SemanticCache]:
    settings.semantic.max_prompt_chars = 200
    settings.semantic.max_response_bytes = 1_000
    with SemanticCache(settings, vectorizer=HashingVectorizer()) as c:
        c.store(PROMPT, ANSWER, tenant="acme", agent="support", metadata={"v": 1})
        yield c
        c.drop()


def assert_intact(cache: SemanticCache) -> None:
    """The entry stored before the bad call is still there, unchanged."""
    assert cache.count("acme") == 1
    hit = cache.check(PROMPT, tenant="acme", agent="support")
    assert hit is not None
    assert (hit.response, hit.metadata) == (ANSWER, {"v": 1})


def store(cache: SemanticCache, **overrides: Any) -> Callable[[], object]:
    kwargs: dict[str, Any] = {
        "prompt": PROMPT,
        "response": "overwritten!",
        "tenant": "acme",
        "agent": "support",
    }
    kwargs.update(overrides)
    return lambda: cache.store(kwargs.pop("prompt"), kwargs.pop("response"), **kwargs)


def check(cache: SemanticCache, **overrides: Any) -> Callable[[], object]:
    kwargs: dict[str, Any] = {"prompt": PROMPT, "tenant": "acme", "agent": "support"}
    kwargs.update(overrides)
    return lambda: cache.check(kwargs.pop("prompt"), **kwargs)


NAN = [math.nan] * 32
INF = [math.inf] + [0.1] * 31


@pytest.mark.parametrize(
    ("call", "exc", "message"),
    [
        (lambda c: store(c, prompt=""), InvalidInputError, "prompt is empty"),
        (lambda c: store(c, prompt=" \n\t "), InvalidInputError, "prompt is empty"),
        (lambda c: check(c, prompt=""), InvalidInputError, "prompt is empty"),
        (lambda c: check(c, prompt="   "), InvalidInputError, "prompt is empty"),
        (lambda c: store(c, prompt="x" * 201), InvalidInputError, "limit is 200"),
        (lambda c: check(c, prompt="x" * 201), InvalidInputError, "MAX_PROMPT_CHARS"),
        (lambda c: store(c, prompt=b"bytes"), InvalidInputError, "prompt must be a string"),
        (lambda c: store(c, vector=NAN), InvalidInputError, "NaN or infinite"),
        (lambda c: store(c, vector=INF), InvalidInputError, "NaN or infinite"),
        (lambda c: check(c, vector=NAN), InvalidInputError, "NaN or infinite"),
        (lambda c: store(c, vector=[0.1] * 31), InvalidInputError, "31 dimensions, expected 32"),
        (lambda c: check(c, vector=[0.1] * 384), InvalidInputError, "384 dimensions"),
        (lambda c: store(c, vector=[0.0] * 32), InvalidInputError, "all zeros"),
        (lambda c: store(c, vector=np.ones((2, 16))), InvalidInputError, "1-dimensional"),
        (lambda c: store(c, vector=["a"] * 32), InvalidInputError, "not numeric"),
        (lambda c: store(c, response=42), InvalidInputError, "response must be a string, got int"),
        (lambda c: store(c, response={"a": 1}), InvalidInputError, "got dict"),
        (lambda c: store(c, response=None), InvalidInputError, "got NoneType"),
        (lambda c: store(c, response="é" * 501), InvalidInputError, "1002 bytes"),
        (
            lambda c: store(c, metadata={"when": object()}),
            SerializationError,
            "metadata is not JSON-serialisable",
        ),
        (
            lambda c: store(c, metadata={"score": math.nan}),
            SerializationError,
            "metadata is not JSON-serialisable",
        ),
        (lambda c: store(c, metadata=["not", "a", "mapping"]), InvalidInputError, "mapping"),
        (lambda c: store(c, tags="one-string"), InvalidInputError, "tags must be a list"),
        (lambda c: store(c, ttl=0), InvalidInputError, "ttl must be"),
        (lambda c: store(c, ttl=1.5), InvalidInputError, "ttl must be"),
        (lambda c: check(c, threshold=1.5), InvalidInputError, "threshold"),
        (lambda c: check(c, threshold=math.nan), InvalidInputError, "threshold"),
        (lambda c: store(c, tenant=""), InvalidInputError, "tenant must be a non-empty"),
        (lambda c: check(c, tenant="   "), InvalidInputError, "tenant must be a non-empty"),
        (lambda c: check(c, tenant="t" * 257), InvalidInputError, "limit is 256"),
        (lambda c: check(c, agent=7), InvalidInputError, "agent must be a string"),
    ],
)
def test_bad_input_is_named_and_damages_nothing(
    cache: SemanticCache,
    call: Callable[[SemanticCache], Callable[[], object]],
    exc: type[AgentCacheError],
    message: str,
) -> None:
    with pytest.raises(exc, match=message):
        call(cache)()
    assert_intact(cache)
    assert cache.stats.errors == 0  # bad input is the caller's error, not a cache fault


# Bounds checked before any I/O, identically by the sync and the async cache:
# (method, overrides of its default arguments, message).
SURROGATE = "t\ud800"
BOUNDS: list[tuple[str, dict[str, Any], str]] = [
    ("store", {"ttl": 10**16}, r"ttl must be a whole number of seconds in \[1, 315360000\]"),
    ("store", {"ttl": 315_360_001}, "10 years at most"),
    ("store_many", {"ttl": 10**16}, "ttl must be"),
    ("store", {"tenant": SURROGATE}, "tenant is not valid Unicode"),
    ("store", {"agent": SURROGATE}, "agent is not valid Unicode"),
    ("store", {"model": SURROGATE}, "model is not valid Unicode"),
    ("store", {"tags": ["ok", SURROGATE]}, "tag is not valid Unicode"),
    ("store", {"prompt": "refund " + SURROGATE}, "prompt is not valid Unicode"),
    ("store", {"response": "yes " + SURROGATE}, "response is not valid Unicode"),
    ("check", {"prompt": "refund " + SURROGATE}, "prompt is not valid Unicode"),
    ("check", {"tenant": SURROGATE}, "tenant is not valid Unicode"),
    ("check", {"threshold": True}, "threshold"),
    ("invalidate_similar", {"threshold": True}, "threshold"),
    ("store", {"metadata": {"blob": "x" * 100_000}}, "metadata is 100012 bytes.*65536"),
    ("invalidate", {"entry_id": None}, "entry_id must be a string, got NoneType"),
    ("invalidate", {"entry_id": SURROGATE}, "entry_id is not valid Unicode"),
    ("feedback", {"entry_id": None}, "entry_id must be a string, got NoneType"),
    ("feedback", {"similarity": True}, "similarity is a cosine similarity"),
    ("feedback", {"similarity": float("nan")}, "similarity is a cosine similarity"),
]
DEFAULTS: dict[str, dict[str, Any]] = {
    "store": {"prompt": PROMPT, "response": "overwritten!", "tenant": "acme", "agent": "support"},
    "store_many": {"items": [(PROMPT, "overwritten!")], "tenant": "acme", "agent": "support"},
    "check": {"prompt": PROMPT, "tenant": "acme", "agent": "support"},
    "invalidate_similar": {"text": PROMPT, "tenant": "acme", "threshold": 0.5},
    "invalidate": {"entry_id": "0" * 32, "tenant": "acme"},
    "feedback": {"entry_id": "0" * 32, "correct": False, "tenant": "acme"},
}
POSITIONAL = {"store": 2, "store_many": 1, "check": 1, "invalidate_similar": 1, "invalidate": 1}


def _bound_call(cache: object, method: str, overrides: dict[str, Any]) -> Any:
    kwargs = {**DEFAULTS[method], **overrides}
    names = list(DEFAULTS[method])[: POSITIONAL.get(method, 2)]
    args = [kwargs.pop(name) for name in names]
    return getattr(cache, method)(*args, **kwargs)


@pytest.mark.parametrize(("method", "overrides", "message"), BOUNDS)
def test_bounds_are_checked_before_anything_is_written(
    cache: SemanticCache, method: str, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        _bound_call(cache, method, overrides)
    assert_intact(cache)
    assert cache.stats.errors == 0


@pytest.mark.parametrize(("method", "overrides", "message"), BOUNDS)
async def test_bounds_are_checked_before_anything_is_written_async(
    settings: AgentCacheSettings, method: str, overrides: dict[str, Any], message: str
) -> None:
    cache = await AsyncSemanticCache.create(settings, vectorizer=HashingVectorizer())
    try:
        await cache.store(PROMPT, ANSWER, tenant="acme", agent="support", metadata={"v": 1})
        with pytest.raises(InvalidInputError, match=message):
            await _bound_call(cache, method, overrides)
        hit = await cache.check(PROMPT, tenant="acme", agent="support")
        assert hit is not None and (hit.response, hit.metadata) == (ANSWER, {"v": 1})
        assert await cache.count("acme") == 1
        assert cache.stats.errors == 0
    finally:
        await cache.drop()
        await cache.aclose()


def test_ttl_at_the_bound_is_accepted(cache: SemanticCache, redis_client: Any) -> None:
    from agentcache._limits import MAX_TTL_SECONDS

    entry_id = cache.store("kept ten years", "yes", tenant="acme", agent="support",
                           ttl=MAX_TTL_SECONDS)  # fmt: skip
    assert entry_id is not None
    key = cache.core.entry_key("acme", entry_id)
    assert MAX_TTL_SECONDS - 60 < redis_client.ttl(key) <= MAX_TTL_SECONDS
    assert redis_client.zscore(cache.core.lru_key("acme"), entry_id) is not None


@pytest.mark.parametrize("bad_ttl", ["10000000000000000", "-1", "1.5", "nan", "inf", "ten"])
def test_the_store_script_refuses_a_bad_ttl_before_writing(
    cache: SemanticCache, redis_client: Any, bad_ttl: str
) -> None:
    import redis

    from agentcache.semantic._scripts import STORE_SCRIPT

    core = cache.core
    scope = core.scope("fresh-tenant", "support", None)
    blob = core.vector_bytes(core.vector(HashingVectorizer().embed(PROMPT)))
    keys, args, _ = core.store_args(scope, PROMPT, ANSWER, blob, "{}", [], 100)
    args[1] = bad_ttl
    with pytest.raises(redis.ResponseError, match="ttl must be a whole number"):
        redis_client.eval(STORE_SCRIPT, len(keys), *keys, *args)
    # Nothing written: no entry hash (left without TTL or LRU membership), no side keys.
    assert [redis_client.exists(key) for key in keys] == [0, 0, 0]
    assert cache.count("fresh-tenant") == 0
    args[1] = 100
    redis_client.eval(STORE_SCRIPT, len(keys), *keys, *args)
    assert 0 < redis_client.ttl(keys[0]) <= 100  # the same call with a good TTL writes


def test_bad_input_is_also_a_value_error(cache: SemanticCache) -> None:
    # Callers that only know the standard library can still catch it.
    with pytest.raises(ValueError):
        cache.check("", tenant="acme", agent="support")


def _strict(settings: AgentCacheSettings) -> AgentCacheSettings:
    return settings.model_copy(
        update={"reliability": settings.reliability.model_copy(update={"strict": True})}
    )


BROKEN_VECTORIZERS = {
    "nan": (lambda text: [math.nan] * 32, "NaN or infinite"),
    "wrong dims": (lambda text: [0.1] * 31, "31 dimensions, expected 32"),
}


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("case", sorted(BROKEN_VECTORIZERS))
def test_a_broken_vectorizer_is_a_setup_error_not_a_miss(
    settings: AgentCacheSettings, case: str, strict: bool
) -> None:
    # Wrong dims or NaN from the vectorizer is the caller's bug: even fail-open it is
    # raised (naming the vectorizer), never logged as an outage and served as a miss.
    from agentcache.vectorizers import CallableVectorizer

    fn, message = BROKEN_VECTORIZERS[case]
    broken = CallableVectorizer(fn, dims=32, model="broken-model")
    config = _strict(settings) if strict else settings
    with SemanticCache(settings, vectorizer=HashingVectorizer()) as good:
        good.store(PROMPT, ANSWER, tenant="acme", agent="support")
        with SemanticCache(config, vectorizer=broken) as bad:
            for call in (
                lambda: bad.store("new prompt", "new answer", tenant="acme", agent="support"),
                lambda: bad.check("another prompt", tenant="acme", agent="support"),
                lambda: bad.store_many([("p1", "a1")], tenant="acme", agent="support"),
            ):
                with pytest.raises(ConfigurationError, match=f"broken-model.*{message}"):
                    call()
            assert bad.stats.errors == 0 and bad.embed_guard.faults == 0
        assert good.count("acme") == 1
        good.drop()


async def test_a_broken_vectorizer_is_a_setup_error_async(settings: AgentCacheSettings) -> None:
    from agentcache.vectorizers import CallableVectorizer

    broken = CallableVectorizer(lambda text: [0.1] * 31, dims=32, model="broken-model")
    cache = await AsyncSemanticCache.create(settings, vectorizer=broken)
    try:
        with pytest.raises(ConfigurationError, match=r"broken-model.*31 dimensions"):
            await cache.store("new prompt", "new answer", tenant="acme", agent="support")
        with pytest.raises(ConfigurationError, match=r"broken-model.*31 dimensions"):
            await cache.check("new prompt", tenant="acme", agent="support")
        with pytest.raises(ConfigurationError, match=r"broken-model.*31 dimensions"):
            await cache.store_many([("p1", "a1")], tenant="acme", agent="support")
        assert cache.stats.errors == 0
        assert await cache.count("acme") == 0
    finally:
        await cache.drop()
        await cache.aclose()


def test_a_plain_function_as_vectorizer_is_refused_naming_the_wrapper(
    settings: AgentCacheSettings,
) -> None:
    def embed(text: str) -> list[float]:
        return [0.1] * 32

    with pytest.raises(ConfigurationError, match="CallableVectorizer"):
        SemanticCache(settings, vectorizer=embed)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="CallableVectorizer"):
        AsyncSemanticCache(settings, vectorizer=embed)  # type: ignore[arg-type]
    from agentcache import AgentCache

    with pytest.raises(ConfigurationError, match="CallableVectorizer"):
        AgentCache(settings, vectorizer=embed)  # type: ignore[arg-type]


class SyncOnly:
    """A vectorizer object with no async methods and no batch method."""

    model = "sync-only"
    dims = 32

    def __init__(self) -> None:
        self.inner = HashingVectorizer()
        self.threads: set[str] = set()

    def embed(self, text: str) -> Any:
        import threading

        self.threads.add(threading.current_thread().name)
        return self.inner.embed(text)


async def test_a_sync_only_vectorizer_gets_async_methods_in_a_thread(
    settings: AgentCacheSettings,
) -> None:
    import threading

    vectorizer = SyncOnly()
    cache = await AsyncSemanticCache.create(settings, vectorizer=vectorizer)  # type: ignore[arg-type]
    try:
        stored = await cache.store(PROMPT, ANSWER, tenant="acme", agent="support")
        assert stored is not None
        assert await cache.store_many([("p1", "a1")], tenant="acme", agent="support")
        hit = await cache.check(PROMPT + " please", tenant="acme", agent="support", threshold=0.5)
        assert hit is not None and hit.response == ANSWER
        assert await cache.count("acme") == 2
        # Embedded off the event loop's thread: a slow model never blocks the loop.
        assert vectorizer.threads and threading.current_thread().name not in vectorizer.threads
    finally:
        await cache.drop()
        await cache.aclose()
    with SemanticCache(settings, vectorizer=SyncOnly()) as sync:  # type: ignore[arg-type]
        assert sync.store(PROMPT, ANSWER, tenant="acme", agent="support") is not None
        assert sync.check(PROMPT, tenant="acme", agent="support") is not None
        sync.drop()


SCHEMAS = {
    "not yaml": ("fields: [unclosed", "not valid YAML"),
    "no fields": ("index: {}\n", "needs a 'fields' list"),
    "field without type": ("fields:\n  - name: tenant\n", "needs 'name' and 'type'"),
    "missing tenant": (
        "fields:\n  - {name: agent, type: tag}\n  - {name: model, type: tag}\n"
        "  - {name: embedding, type: vector, attrs: {algorithm: hnsw}}\n",
        "lacks the required tag field 'tenant'",
    ),
    "tenant not a tag": (
        "fields:\n  - {name: tenant, type: text}\n  - {name: agent, type: tag}\n"
        "  - {name: model, type: tag}\n"
        "  - {name: embedding, type: vector, attrs: {algorithm: hnsw}}\n",
        "field 'tenant' must be of type tag, not text",
    ),
    "bad vector algorithm": (
        "fields:\n  - {name: tenant, type: tag}\n  - {name: agent, type: tag}\n"
        "  - {name: model, type: tag}\n"
        "  - {name: embedding, type: vector, attrs: {algorithm: banana}}\n",
        "is not a valid index schema",
    ),
}


@pytest.mark.parametrize("case", sorted(SCHEMAS))
def test_a_bad_schema_yaml_is_named_and_damages_nothing(
    case: str, settings: AgentCacheSettings, tmp_path: Path
) -> None:
    text, message = SCHEMAS[case]
    with SemanticCache(settings, vectorizer=HashingVectorizer()) as good:
        good.store(PROMPT, ANSWER, tenant="acme", agent="support")
        path = tmp_path / "schema.yaml"
        path.write_text(text)
        bad_settings = settings.model_copy(deep=True)
        bad_settings.semantic.schema_path = path
        bad_settings.semantic.index_name = "other"
        with pytest.raises(SchemaError, match=message) as info:
            SemanticCache(bad_settings, vectorizer=HashingVectorizer())
        assert str(path) in str(info.value) or case == "bad vector algorithm"
        hit = good.check(PROMPT, tenant="acme", agent="support")
        assert hit is not None and hit.response == ANSWER
        good.drop()


def test_a_missing_schema_file_is_named(settings: AgentCacheSettings, tmp_path: Path) -> None:
    settings.semantic.schema_path = tmp_path / "nope.yaml"
    with pytest.raises(SchemaError, match=r"schema file not found: .*nope\.yaml"):
        SemanticCache(settings, vectorizer=HashingVectorizer())
