"""The explore step: a would-be hit is re-asked to the model, compared, and fed back."""

from __future__ import annotations

import random
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import anthropic
import numpy as np
import pytest

from agentcache.llm import AsyncCachedAnthropic, CachedAnthropic, CacheInfo, cache_info
from agentcache.llm._core import ANSWER_AGREEMENT, answers_verdict, vectors_agree
from agentcache.semantic import SemanticCache
from agentcache.semantic._policy import VC_COUNT, VC_OBS, VerifiedPolicy, parse_observations
from agentcache.settings import AgentCacheSettings
from agentcache.testing.provider import MESSAGES, ProviderServer
from agentcache.testing.vectors import HashingVectorizer

MODEL = "claude-sonnet-4-5"
STORED = "How long is the refund window for online orders"
NEAR = "How long is the refund window for my online orders"  # cosine 0.9487 (HashingVectorizer)
SIM = 0.9487


@pytest.fixture(autouse=True)
def _quiet_deprecations() -> Iterator[None]:
    with warnings.catch_warnings():  # the SDK warns about model ids it considers old
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


class Model:
    """The provider's answer, switchable mid-test (the model "changed its mind")."""

    def __init__(self) -> None:
        self.answer = "The refund window is 30 days."

    def __call__(self, path: str, body: Mapping[str, Any]) -> str:
        return self.answer


@pytest.fixture
def model() -> Model:
    return Model()


@pytest.fixture
def server(model: Model) -> Iterator[ProviderServer]:
    with ProviderServer(responder=model) as srv:
        yield srv


def configure(settings: AgentCacheSettings, **semantic: object) -> AgentCacheSettings:
    data = settings.model_dump()
    data["semantic"].update(semantic)
    return AgentCacheSettings(**data)


def ask(client: CachedAnthropic, text: str) -> Any:
    return client.messages.create(
        model=MODEL, max_tokens=100, messages=[{"role": "user", "content": text}]
    )


def info_of(reply: Any) -> CacheInfo:
    info = cache_info(reply)
    assert info is not None
    return info


def make_client(
    server: ProviderServer, settings: AgentCacheSettings, seed: int = 0, **semantic: object
) -> CachedAnthropic:
    cfg = configure(settings, **semantic)
    sdk = anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="k", max_retries=0)
    cache = SemanticCache(cfg, vectorizer=HashingVectorizer(32), rng=random.Random(seed))
    return CachedAnthropic(sdk, settings=cfg, cache=cache, tenant="acme", agent="support")


def close(client: CachedAnthropic) -> None:
    client.cache.drop()
    client.cache.close()
    client.close()
    client.client.close()


def entry_fields(client: CachedAnthropic) -> dict[str, str]:
    """The fields of the entry stored for STORED (read directly: a lookup would explore)."""
    redis_client = client.cache.client
    for key in redis_client.scan_iter(match=client.cache.core.tenant_entry_prefix("acme") + "*"):
        if redis_client.hget(key, "prompt") == STORED.encode():
            raw: dict[bytes, bytes] = redis_client.hgetall(key)  # type: ignore[assignment]
            return {k.decode(): v.decode() for k, v in raw.items() if k != b"embedding"}
    raise AssertionError("the entry for STORED is gone")


@pytest.fixture
def explorer(server: ProviderServer, settings: AgentCacheSettings) -> Iterator[CachedAnthropic]:
    client = make_client(server, settings, policy="verified", threshold=0.9, explore_rate=1.0)
    yield client
    close(client)


def test_every_would_be_hit_is_explored_at_rate_one(
    explorer: CachedAnthropic, server: ProviderServer, model: Model
) -> None:
    ask(explorer, STORED)  # a miss: stored
    assert server.requests[MESSAGES] == 1
    assert VC_COUNT not in entry_fields(explorer)

    # Same answer from the model: judged right, fed back, nothing new stored.
    reply = ask(explorer, NEAR)
    info = info_of(reply)
    assert server.requests[MESSAGES] == 2  # the would-be hit went to the model
    assert info.layer == "provider" and not info.stored
    assert "explore: cached answer right" in info.note
    fields = entry_fields(explorer)
    assert fields[VC_COUNT] == "1"
    ((sim, ok),) = parse_observations(fields[VC_OBS])
    assert ok and sim == pytest.approx(SIM, abs=1e-3)
    assert explorer.cache.count(tenant="acme") == 1
    assert explorer.cache.stats.explores == 1 and explorer.cache.stats.hits == 0

    # The model now says 60 days: the cached "30 days" is wrong, the fresh answer is stored.
    model.answer = "The refund window is 60 days."
    info = info_of(ask(explorer, NEAR))
    assert server.requests[MESSAGES] == 3
    assert info.stored and "explore: cached answer wrong" in info.note
    fields = entry_fields(explorer)
    assert fields[VC_COUNT] == "2"
    assert [ok for _, ok in parse_observations(fields[VC_OBS])] == [True, False]
    assert explorer.cache.count(tenant="acme") == 2
    # the learned state moved: the wrong answer at SIM raises this entry's threshold
    policy = explorer.cache.policy
    assert isinstance(policy, VerifiedPolicy)
    assert policy.entry_threshold(fields, 0.9) > SIM


def test_rate_zero_never_explores(server: ProviderServer, settings: AgentCacheSettings) -> None:
    client = make_client(server, settings, policy="verified", threshold=0.9, explore_rate=0.0)
    try:
        ask(client, STORED)
        for _ in range(5):
            assert info_of(ask(client, NEAR)).layer == "semantic"
        assert server.requests[MESSAGES] == 1
        assert client.cache.stats.explores == 0
        assert VC_COUNT not in entry_fields(client)
    finally:
        close(client)


def test_explore_draws_come_from_the_injected_rng(
    server: ProviderServer, settings: AgentCacheSettings
) -> None:
    client = make_client(
        server, settings, seed=11, policy="verified", threshold=0.9, explore_rate=0.5
    )
    try:
        ask(client, STORED)
        layers = [info_of(ask(client, NEAR)).layer for _ in range(12)]
    finally:
        close(client)
    draws = random.Random(11)
    expected = ["provider" if draws.random() < 0.5 else "semantic" for _ in range(12)]
    assert layers == expected
    assert "provider" in layers and "semantic" in layers
    assert server.requests[MESSAGES] == 1 + expected.count("provider")


def test_a_near_miss_teaches_the_entry_a_threshold_below_the_global_one(
    server: ProviderServer, settings: AgentCacheSettings
) -> None:
    # threshold 0.97: NEAR (0.9487) is declined, but within the loose band below it
    client = make_client(server, settings, policy="verified", threshold=0.97, explore_rate=1.0)
    try:
        ask(client, STORED)
        info = info_of(ask(client, NEAR))  # a miss: the model is asked anyway
        assert info.layer == "provider" and "explore: cached answer right" in info.note
        assert info.stored  # a near miss stores as any miss does
        fields = entry_fields(client)
        ((sim, ok),) = parse_observations(fields[VC_OBS])
        assert ok and sim == pytest.approx(SIM, abs=1e-3)
        policy = client.cache.policy
        assert isinstance(policy, VerifiedPolicy)
        assert policy.entry_threshold(fields, 0.97) < policy.entry_threshold({}, 0.97)
    finally:
        close(client)


def test_policies_that_learn_nothing_do_not_explore_near_misses(
    server: ProviderServer, settings: AgentCacheSettings
) -> None:
    client = make_client(server, settings, policy="guarded", threshold=0.97, explore_rate=1.0)
    try:
        ask(client, STORED)
        info = info_of(ask(client, NEAR))
        assert info.layer == "provider" and "explore" not in info.note
        assert client.cache.stats.explores == 0
    finally:
        close(client)


async def test_async_client_explores_and_feeds_back(
    server: ProviderServer, settings: AgentCacheSettings
) -> None:
    from agentcache.semantic import AsyncSemanticCache

    cfg = configure(settings, policy="verified", threshold=0.9, explore_rate=1.0)
    sdk = anthropic.AsyncAnthropic(base_url=server.anthropic_base_url, api_key="k", max_retries=0)
    cache = AsyncSemanticCache(cfg, vectorizer=HashingVectorizer(32), rng=random.Random(0))
    client = AsyncCachedAnthropic(sdk, settings=cfg, cache=cache, tenant="acme", agent="support")
    try:
        for text in (STORED, NEAR):
            await client.messages.create(
                model=MODEL, max_tokens=100, messages=[{"role": "user", "content": text}]
            )
        assert server.requests[MESSAGES] == 2
        assert cache.stats.explores == 1
        prefix = cache.core.tenant_entry_prefix("acme")
        keys = [key async for key in cache.client.scan_iter(match=prefix + "*")]
        assert len(keys) == 1  # judged right: the fresh answer was not stored
        assert await cache.client.hget(keys[0], VC_COUNT) == b"1"
    finally:
        await cache.drop()
        await cache.aclose()
        await client.aclose()
        await sdk.close()


# -- comparing answers (no I/O) ---------------------------------------------------------


def test_answers_agree_on_normalised_text_and_disagree_on_numbers_or_polarity() -> None:
    assert answers_verdict("The window is 30 days.", "the  window is 30 DAYS.") is True
    assert answers_verdict("The window is 30 days.", "The window is 60 days.") is False
    assert answers_verdict("You can cancel online.", "You cannot cancel online.") is False
    assert answers_verdict("Refunds take a month.", "A refund takes about a month.") is None


def test_vectors_agree_at_the_documented_bar() -> None:
    def at(cos: float) -> np.ndarray:
        return np.array([cos, np.sqrt(1 - cos**2)])

    e0 = at(1.0)
    assert vectors_agree(e0, at(ANSWER_AGREEMENT + 1e-6))
    assert not vectors_agree(e0, at(ANSWER_AGREEMENT - 0.01))
    assert not vectors_agree(e0, np.zeros(2))  # an empty embedding agrees with nothing
