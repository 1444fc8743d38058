"""pydantic-ai wrapper: the real ``pydantic-ai-slim`` agent over HTTP to the local provider
server (chat completions), the real Redis Stack, the real MiniLM for paraphrases."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
import redis
from docs_support import run_doc_example

pytest.importorskip("pydantic_ai", reason="pip install 'agentcache[pydantic-ai]'")

from pydantic_ai import Agent
from pydantic_ai.messages import ModelResponse, ToolCallPart
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from agentcache.exceptions import InvalidInputError
from agentcache.integrations import cache_controls, tenant_scope
from agentcache.integrations.pydantic_ai import CachedPydanticAIModel
from agentcache.semantic import AsyncSemanticCache
from agentcache.settings import AgentCacheSettings
from agentcache.testing.provider import CHAT, ProviderServer
from agentcache.testing.vectors import HashingVectorizer
from agentcache.vectorizers import LocalVectorizer

MODEL = "gpt-4.1-mini"
SECTION = "pydantic-ai"
QUESTION = "How do I reset my password?"
PARAPHRASE = "I forgot my password, how do I reset it?"
TOOL_CHOICE: Any = {"extra_body": {"tool_choice": "required"}}


@pytest.fixture
async def semantic(settings: AgentCacheSettings) -> AsyncIterator[AsyncSemanticCache]:
    cache = AsyncSemanticCache(settings, vectorizer=HashingVectorizer(32))
    yield cache
    await cache.aclose()


def _model(
    client: openai.AsyncOpenAI, cache: AsyncSemanticCache, name: str = MODEL, **options: Any
) -> CachedPydanticAIModel:
    inner = OpenAIChatModel(name, provider=OpenAIProvider(openai_client=client))
    return CachedPydanticAIModel(inner, cache=cache, **options)


def _agent(model: Any, instructions: str = "You are support.") -> Agent[None, str]:
    return Agent(model, instructions=instructions)


def _info(result: Any) -> dict[str, Any]:
    last = result.all_messages()[-1]
    assert isinstance(last, ModelResponse) and last.metadata is not None
    info: dict[str, Any] = last.metadata["agentcache"]
    return info


async def test_exact_repeat_and_paraphrase_served_without_a_request(
    server: ProviderServer,
    client: openai.AsyncOpenAI,
    minilm: LocalVectorizer,
    redis_url: str,
    key_prefix: str,
) -> None:
    settings = AgentCacheSettings(
        redis={"url": redis_url, "key_prefix": key_prefix}, semantic={"threshold": 0.8}
    )
    cache = AsyncSemanticCache(settings, vectorizer=minilm)
    agent = _agent(_model(client, cache, tenant="acme"))
    first = await agent.run(QUESTION)
    again = await agent.run(QUESTION)
    para = await agent.run(PARAPHRASE)
    assert server.requests[CHAT] == 1
    assert first.output.startswith("answer #1")
    assert again.output == para.output == first.output
    miss, exact, semantic = (_info(r) for r in (first, again, para))
    assert miss["layer"] == "provider" and miss["stored"] and not miss["hit"]
    assert exact["layer"] == "exact" and exact["tenant"] == "acme" and exact["hit"]
    assert semantic["layer"] == "semantic" and 0.8 <= semantic["similarity"] < 1.0
    # A hit spent no tokens, and hands out no provider id to chain from.
    hit = again.all_messages()[-1]
    assert isinstance(hit, ModelResponse)
    assert hit.usage.input_tokens == 0 and hit.provider_response_id is None
    assert first.usage.input_tokens > 0 and again.usage.input_tokens == 0
    await cache.aclose()


async def test_other_instructions_system_prompt_model_and_tenant_miss(
    server: ProviderServer, client: openai.AsyncOpenAI, semantic: AsyncSemanticCache
) -> None:
    model = _model(client, semantic)
    with tenant_scope("acme"):
        await _agent(model).run(QUESTION)
        await _agent(model).run(QUESTION)
        assert server.requests[CHAT] == 1
        await _agent(model, "You are sales.").run(QUESTION)
        assert server.requests[CHAT] == 2
        await Agent(model, system_prompt="You are support.").run(QUESTION)
        assert server.requests[CHAT] == 3
        await _agent(_model(client, semantic, "gpt-4.1")).run(QUESTION)
        assert server.requests[CHAT] == 4
        await _agent(model).run(QUESTION, model_settings={"temperature": 0.2})
        assert server.requests[CHAT] == 5
    with tenant_scope("globex"):
        await _agent(model).run(QUESTION)
    assert server.requests[CHAT] == 6
    with tenant_scope("acme"):  # each still hits in its own scope
        await _agent(model, "You are sales.").run(QUESTION)
        await _agent(model).run(QUESTION, model_settings={"temperature": 0.2, "timeout": 9})
    assert server.requests[CHAT] == 6


async def test_hits_and_misses_are_counted_in_the_llm_layer(
    server: ProviderServer, client: openai.AsyncOpenAI, semantic: AsyncSemanticCache
) -> None:
    model = _model(client, semantic, tenant="acme")
    for _ in range(3):
        await _agent(model).run(QUESTION)
    snap = semantic.metrics.snapshot()
    assert snap.total("hits", layer="llm", tenant="acme") == 2
    assert snap.total("misses", layer="llm", tenant="acme") == 1
    assert snap.total("provider_calls", layer="llm", tenant="acme") == 1


async def test_no_tenant_anywhere_is_a_clear_error(
    server: ProviderServer, client: openai.AsyncOpenAI, semantic: AsyncSemanticCache
) -> None:
    with pytest.raises(InvalidInputError, match="tenant_scope"):
        await _agent(_model(client, semantic)).run(QUESTION)
    assert server.requests[CHAT] == 0


def test_run_sync_hits(server: ProviderServer, settings: AgentCacheSettings) -> None:
    outputs = []
    for _ in range(2):  # run_sync drives its own loop: a fresh client and cache for it
        sdk = openai.AsyncOpenAI(base_url=server.openai_base_url, api_key="k", max_retries=0)
        model = CachedPydanticAIModel(
            OpenAIChatModel(MODEL, provider=OpenAIProvider(openai_client=sdk)),
            settings=settings, vectorizer=HashingVectorizer(32), tenant="acme",
        )  # fmt: skip
        outputs.append(_agent(model).run_sync(QUESTION).output)
    assert server.requests[CHAT] == 1 and outputs[0] == outputs[1]


async def test_streamed_run_replays_a_hit(
    server: ProviderServer, client: openai.AsyncOpenAI, semantic: AsyncSemanticCache
) -> None:
    model = _model(client, semantic, tenant="acme")
    texts, infos = [], []
    for _ in range(2):
        async with _agent(model).run_stream(QUESTION) as run:
            texts.append("".join([d async for d in run.stream_text(delta=True)]))
        infos.append(run.all_messages()[-1].metadata)
    assert server.requests[CHAT] == 1
    assert texts[0] == texts[1] and texts[0].startswith("answer #1")
    assert infos[1] is not None and infos[1]["agentcache"]["layer"] == "exact"
    assert [i.layer for i in model.ledger.records] == ["provider", "exact"]
    plain = await _agent(model).run(QUESTION)  # the streamed entry serves a plain run too
    assert plain.output == texts[0] and server.requests[CHAT] == 1


async def test_a_tool_loop_is_replayed_with_its_tool_call_ids(
    server: ProviderServer, client: openai.AsyncOpenAI, settings: AgentCacheSettings
) -> None:
    llm = settings.llm.model_copy(update={"cache_tool_use": True})
    cache = AsyncSemanticCache(
        settings.model_copy(update={"llm": llm}), vectorizer=HashingVectorizer(32)
    )
    agent = _agent(_model(client, cache, tenant="acme"))
    ran: list[str] = []

    @agent.tool_plain
    def order_status() -> str:
        """The status of the customer's last order."""
        ran.append("order_status")
        return "shipped"

    first = await agent.run("Where is my order?", model_settings=TOOL_CHOICE)
    assert server.requests[CHAT] == 2  # the tool call, then the answer (keyed on the question)
    second = await agent.run("Where is my order?", model_settings=TOOL_CHOICE)
    assert server.requests[CHAT] == 2
    assert second.output == first.output and ran == ["order_status"] * 2

    def call_ids(result: Any) -> list[str]:
        return [
            p.tool_call_id
            for m in result.all_messages()
            if isinstance(m, ModelResponse)
            for p in m.parts
            if isinstance(p, ToolCallPart)
        ]

    assert call_ids(second) == call_ids(first) and len(call_ids(first)) == 1
    await cache.aclose()


async def test_a_streamed_tool_loop_is_replayed(
    server: ProviderServer, client: openai.AsyncOpenAI, settings: AgentCacheSettings
) -> None:
    llm = settings.llm.model_copy(update={"cache_tool_use": True})
    cache = AsyncSemanticCache(
        settings.model_copy(update={"llm": llm}), vectorizer=HashingVectorizer(32)
    )
    agent = _agent(_model(client, cache, tenant="acme"))
    ran: list[str] = []

    @agent.tool_plain
    def order_status() -> str:
        """The status of the customer's last order."""
        ran.append("order_status")
        return "shipped"

    texts = []
    for _ in range(2):
        async with agent.run_stream("Where is my order?", model_settings=TOOL_CHOICE) as run:
            texts.append("".join([d async for d in run.stream_text(delta=True)]))
    assert server.requests[CHAT] == 2 and ran == ["order_status"] * 2
    assert texts[0] == texts[1] and texts[0].endswith("to shipped")  # the tool result
    await cache.aclose()


async def test_tool_calls_are_not_stored_unless_cache_tool_use(
    server: ProviderServer, client: openai.AsyncOpenAI, semantic: AsyncSemanticCache
) -> None:
    model = _model(client, semantic, tenant="acme")
    agent = _agent(model)

    @agent.tool_plain
    def order_status() -> str:
        """The status of the customer's last order."""
        return "shipped"

    await agent.run("Where is my order?", model_settings=TOOL_CHOICE)
    await agent.run("Where is my order?", model_settings=TOOL_CHOICE)
    assert server.requests[CHAT] == 4  # a new call id each time: no turn repeats
    assert any("cache_tool_use" in i.note for i in model.ledger.records)


async def test_server_side_conversation_state_is_passed_through(
    server: ProviderServer, client: openai.AsyncOpenAI, semantic: AsyncSemanticCache
) -> None:
    model = _model(client, semantic, tenant="acme")
    state: Any = {"openai_previous_response_id": "resp_123"}
    for _ in range(2):
        await _agent(model).run(QUESTION, model_settings=state)
    assert server.requests[CHAT] == 2
    assert not any(i.stored for i in model.ledger.records)


# -- per-request controls -----------------------------------------------------------------


async def test_ttl_per_store_from_the_constructor_and_per_request(
    server: ProviderServer,
    client: openai.AsyncOpenAI,
    semantic: AsyncSemanticCache,
    redis_client: redis.Redis,
) -> None:
    model = _model(client, semantic, tenant="acme", ttl=300)
    await _agent(model).run(QUESTION)
    with cache_controls(ttl=60):
        await _agent(model).run("What is the refund window?")
    entries = [i.entry_id for i in model.ledger.records]
    ttls = [redis_client.ttl(semantic.core.entry_key("acme", e)) for e in entries if e]
    assert len(ttls) == 2 and 250 < ttls[0] <= 300 and 0 < ttls[1] <= 60


async def test_max_age_serves_only_young_entries(
    server: ProviderServer, client: openai.AsyncOpenAI, semantic: AsyncSemanticCache
) -> None:
    model = _model(client, semantic, tenant="acme")
    await _agent(model).run(QUESTION)
    with cache_controls(max_age=3600):
        await _agent(model).run(QUESTION)
    assert server.requests[CHAT] == 1
    time.sleep(1.1)
    with cache_controls(max_age=1):  # the entry is older than a second now
        await _agent(model).run(QUESTION)
    assert server.requests[CHAT] == 2
    young = _model(client, semantic, tenant="acme", max_age=3600)  # a constructor default
    await _agent(young).run(QUESTION)
    assert server.requests[CHAT] == 2


async def test_lookup_only_serves_but_never_stores(
    server: ProviderServer, client: openai.AsyncOpenAI, semantic: AsyncSemanticCache
) -> None:
    model = _model(client, semantic, tenant="acme")
    with cache_controls(mode="lookup_only"):
        await _agent(model).run(QUESTION)
        await _agent(model).run(QUESTION)
    assert server.requests[CHAT] == 2  # nothing was stored
    await _agent(model).run(QUESTION)  # stores
    with cache_controls(mode="lookup_only"):
        await _agent(model).run(QUESTION)  # served
    assert server.requests[CHAT] == 3
    reader = _model(client, semantic, tenant="acme", mode="lookup_only")
    await _agent(reader).run("Another question?")
    await _agent(model).run("Another question?")
    assert server.requests[CHAT] == 5


async def test_store_only_refreshes_the_entry_and_bypass_skips_both(
    server: ProviderServer, client: openai.AsyncOpenAI, semantic: AsyncSemanticCache
) -> None:
    model = _model(client, semantic, tenant="acme")
    first = await _agent(model).run(QUESTION)
    with cache_controls(mode="store_only"):
        fresh = await _agent(model).run(QUESTION)
    after = await _agent(model).run(QUESTION)
    assert server.requests[CHAT] == 2
    assert first.output.startswith("answer #1") and fresh.output.startswith("answer #2")
    assert after.output == fresh.output
    with cache_controls(mode="bypass"):
        await _agent(model).run(QUESTION)
    assert server.requests[CHAT] == 3
    assert model.ledger.records[-1].note == "bypass requested"


async def test_threshold_per_request(
    server: ProviderServer,
    client: openai.AsyncOpenAI,
    minilm: LocalVectorizer,
    redis_url: str,
    key_prefix: str,
) -> None:
    settings = AgentCacheSettings(
        redis={"url": redis_url, "key_prefix": key_prefix}, semantic={"threshold": 0.8}
    )
    cache = AsyncSemanticCache(settings, vectorizer=minilm)
    model = _model(client, cache, tenant="acme")
    await _agent(model).run(QUESTION)
    with cache_controls(threshold=0.99):  # 0.941: not close enough for this call
        await _agent(model).run(PARAPHRASE)
    assert server.requests[CHAT] == 2
    strict = _model(client, cache, tenant="acme", threshold=0.99)
    await _agent(strict).run("What are the steps to reset my password?")  # 0.945
    assert server.requests[CHAT] == 3
    await _agent(model).run("How can I reset my password?")  # 0.992 to QUESTION
    assert server.requests[CHAT] == 3  # the default threshold serves a paraphrase
    await cache.aclose()


# -- the documented example ---------------------------------------------------------------


def test_docs_example_runs_as_written(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    redis_url: str,
    key_prefix: str,
) -> None:
    run_doc_example(SECTION, monkeypatch, redis_url, key_prefix)
    # What the example prints: the paraphrase's layer, then one provider request in all.
    assert capsys.readouterr().out.splitlines() == [
        "semantic",
        "Counter({'/v1/chat/completions': 1})",
    ]
