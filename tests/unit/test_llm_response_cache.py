"""The cached clients talk to their response cache only through the ResponseCache protocol.

No Redis here: a dictionary stands in for the semantic cache, and the local
provider server for Anthropic/OpenAI. Whatever the cache is, the client must
store a provider answer, serve the stored one without an HTTP call, and leave
a cache it was handed open.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from typing import Any

import anthropic
import openai
import pytest

from agentcache import CacheHit, CheckResult
from agentcache.llm import (
    AsyncCachedAnthropic,
    AsyncCachedOpenAI,
    CachedAnthropic,
    CachedOpenAI,
    cache_info,
)
from agentcache.llm._types import AsyncResponseCache, ResponseCache
from agentcache.metrics._counters import Metrics
from agentcache.settings import AgentCacheSettings
from agentcache.testing.provider import CHAT, MESSAGES, ProviderServer
from agentcache.testing.vectors import HashingVectorizer
from agentcache.vectorizers import Vectorizer

MODEL = "claude-haiku-4-5"


class DictCache:
    """Exact-prompt answers in a dict, keyed by (tenant, agent, scope, prompt)."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str, str | None, str], tuple[str, dict[str, Any]]] = {}
        self.lookups = 0
        self.closed = False
        self._vectorizer = HashingVectorizer(16)

    @property
    def vectorizer(self) -> Vectorizer:
        return self._vectorizer

    def lookup(
        self, prompt: str, *, tenant: str, agent: str, model: str | None = None
    ) -> CheckResult:
        self.lookups += 1
        found = self.entries.get((tenant, agent, model, prompt))
        if found is None:
            return CheckResult(hit=None, reason="no_candidates")
        response, metadata = found
        hit = CacheHit(response, prompt, 1.0, "e1", tenant, agent, model, metadata, exact=True)
        return CheckResult(hit=hit, reason="exact", candidate=hit, accepted=True)

    def store(
        self,
        prompt: str,
        response: str,
        *,
        tenant: str,
        agent: str,
        model: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> str | None:
        self.entries[(tenant, agent, model, prompt)] = (response, dict(metadata or {}))
        return "e1"

    def feedback(
        self, entry_id: str, correct: bool, *, tenant: str, similarity: float | None = None
    ) -> bool:
        return True

    def close(self) -> None:
        self.closed = True


class AsyncDictCache:
    """``DictCache`` behind the async protocol."""

    def __init__(self) -> None:
        self.sync = DictCache()

    @property
    def vectorizer(self) -> Vectorizer:
        return self.sync.vectorizer

    async def lookup(
        self, prompt: str, *, tenant: str, agent: str, model: str | None = None
    ) -> CheckResult:
        return self.sync.lookup(prompt, tenant=tenant, agent=agent, model=model)

    async def store(
        self,
        prompt: str,
        response: str,
        *,
        tenant: str,
        agent: str,
        model: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> str | None:
        return self.sync.store(
            prompt, response, tenant=tenant, agent=agent, model=model, metadata=metadata
        )

    async def feedback(
        self, entry_id: str, correct: bool, *, tenant: str, similarity: float | None = None
    ) -> bool:
        return True

    async def aclose(self) -> None:
        self.sync.close()


# Checked by mypy when it reads this file; at run time, documents the contract.
_SYNC: type[ResponseCache] = DictCache
_ASYNC: type[AsyncResponseCache] = AsyncDictCache


@pytest.fixture(scope="module")
def server() -> Iterator[ProviderServer]:
    with ProviderServer() as srv:
        yield srv


def _messages(question: str) -> dict[str, Any]:
    return {
        "model": MODEL,
        "max_tokens": 50,
        "messages": [{"role": "user", "content": question}],
    }


def test_sync_clients_answer_from_any_response_cache(server: ProviderServer) -> None:
    settings = AgentCacheSettings()
    metrics = Metrics(enabled=False)
    cache = DictCache()
    sdk = anthropic.Anthropic(api_key="k", base_url=server.anthropic_base_url)
    claude = CachedAnthropic(sdk, settings=settings, cache=cache, metrics=metrics)
    before = server.requests[MESSAGES]
    first = claude.messages.create(**_messages("What is the refund window?"), tenant="acme")
    second = claude.messages.create(**_messages("What is the refund window?"), tenant="acme")
    other = claude.messages.create(**_messages("What is the refund window?"), tenant="globex")
    assert server.requests[MESSAGES] - before == 2  # the repeat came from the dict
    assert [cache_info(r).layer for r in (first, second, other)] == [  # type: ignore[union-attr]
        "provider",
        "exact",
        "provider",
    ]
    assert second.content[0].text == first.content[0].text
    assert len(cache.entries) == 2 and cache.lookups == 3
    claude.close()
    assert not cache.closed  # handed in, so not the client's to close

    oai = openai.OpenAI(api_key="k", base_url=server.openai_base_url)
    gpt = CachedOpenAI(oai, settings=settings, cache=cache, metrics=metrics)
    request = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Sizes?"}]}
    before = server.requests[CHAT]
    gpt.chat.completions.create(**request)
    hit = gpt.chat.completions.create(**request)
    assert server.requests[CHAT] - before == 1
    assert cache_info(hit).layer == "exact"  # type: ignore[union-attr]


def test_async_clients_answer_from_any_response_cache(server: ProviderServer) -> None:
    async def scenario() -> tuple[list[str], int, bool]:
        settings = AgentCacheSettings()
        cache = AsyncDictCache()
        sdk = anthropic.AsyncAnthropic(api_key="k", base_url=server.anthropic_base_url)
        claude = AsyncCachedAnthropic(
            sdk, settings=settings, cache=cache, metrics=Metrics(enabled=False)
        )
        before = server.requests[MESSAGES]
        layers = []
        for _ in range(2):
            reply = await claude.messages.create(**_messages("Opening hours?"), tenant="acme")
            layers.append(cache_info(reply).layer)  # type: ignore[union-attr]
        await claude.aclose()
        gpt = AsyncCachedOpenAI(
            openai.AsyncOpenAI(api_key="k", base_url=server.openai_base_url),
            settings=settings,
            cache=cache,
            metrics=Metrics(enabled=False),
        )
        request = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Colours?"}]}
        await gpt.chat.completions.create(**request)
        reply = await gpt.chat.completions.create(**request)
        layers.append(cache_info(reply).layer)  # type: ignore[union-attr]
        await sdk.close()
        return layers, server.requests[MESSAGES] - before, cache.sync.closed

    layers, provider_calls, closed = asyncio.run(scenario())
    assert layers == ["provider", "exact", "exact"]
    assert provider_calls == 1
    assert not closed
