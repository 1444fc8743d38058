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
    InvalidInputError,
    SchemaError,
    SerializationError,
)
from agentcache.semantic import SemanticCache
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


def test_bad_input_is_also_a_value_error(cache: SemanticCache) -> None:
    # Callers that only know the standard library can still catch it.
    with pytest.raises(ValueError):
        cache.check("", tenant="acme", agent="support")


def test_a_vectorizer_returning_nan_is_a_fault_not_stored(settings: AgentCacheSettings) -> None:
    from agentcache import CacheUnavailableError
    from agentcache.vectorizers import CallableVectorizer

    broken = CallableVectorizer(lambda text: [math.nan] * 32, dims=32, model="test-hash")
    with SemanticCache(settings, vectorizer=HashingVectorizer()) as good:
        good.store(PROMPT, ANSWER, tenant="acme", agent="support")
        # Fail-open: the broken embedder is counted and logged, the call is a miss.
        with SemanticCache(settings, vectorizer=broken) as bad:
            bad.store("new prompt", "new answer", tenant="acme", agent="support")
            assert bad.check("another prompt", tenant="acme", agent="support") is None
            assert bad.embed_guard.faults == 2
        strict = settings.model_copy(
            update={"reliability": settings.reliability.model_copy(update={"strict": True})}
        )
        with (
            SemanticCache(strict, vectorizer=broken) as bad,
            pytest.raises(CacheUnavailableError, match="NaN"),
        ):
            bad.store("new prompt", "new answer", tenant="acme", agent="support")
        assert good.count("acme") == 1
        good.drop()


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
