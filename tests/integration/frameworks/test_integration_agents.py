"""OpenAI Agents SDK wrapper: the real ``openai-agents`` runner over HTTP to the local
provider server (chat completions), the real Redis Stack, the real MiniLM for paraphrases."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
import redis
from docs_support import run_doc_example

pytest.importorskip("agents", reason="pip install 'agentcache[agents]'")

from agents import (
    Agent,
    ModelSettings,
    OpenAIChatCompletionsModel,
    OpenAIProvider,
    RunConfig,
    Runner,
    function_tool,
    set_tracing_disabled,
)
from openai.types.responses import ResponseCompletedEvent, ResponseTextDeltaEvent

from agentcache.exceptions import InvalidInputError
from agentcache.integrations import cache_controls, tenant_scope
from agentcache.integrations.agents import (
    CachedAgentsModel,
    CachedAgentsModelProvider,
)
from agentcache.llm import cache_info
from agentcache.semantic import AsyncSemanticCache
from agentcache.settings import AgentCacheSettings
from agentcache.testing.provider import CHAT, ProviderServer
from agentcache.testing.vectors import HashingVectorizer
from agentcache.vectorizers import LocalVectorizer

set_tracing_disabled(True)  # no trace export: the tests stay offline

MODEL = "gpt-4.1-mini"
SECTION = "OpenAI Agents SDK"
QUESTION = "How do I reset my password?"
PARAPHRASE = "I forgot my password, how do I reset it?"


def _settings(settings: AgentCacheSettings, **llm: Any) -> AgentCacheSettings:
    return settings.model_copy(update={"llm": settings.llm.model_copy(update=llm)})


@pytest.fixture
async def semantic(settings: AgentCacheSettings) -> AsyncIterator[AsyncSemanticCache]:
    cache = AsyncSemanticCache(settings, vectorizer=HashingVectorizer(32))
    yield cache
    await cache.aclose()


def _model(
    client: openai.AsyncOpenAI, cache: AsyncSemanticCache, name: str = MODEL, **options: Any
) -> CachedAgentsModel:
    return CachedAgentsModel(OpenAIChatCompletionsModel(name, client), cache=cache, **options)


def _agent(model: Any, instructions: str = "You are support.", **extra: Any) -> Agent[Any]:
    return Agent(name="support", instructions=instructions, model=model, **extra)


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
    first = await Runner.run(agent, QUESTION)
    again = await Runner.run(agent, QUESTION)
    para = await Runner.run(agent, PARAPHRASE)
    assert server.requests[CHAT] == 1
    assert again.final_output == para.final_output == first.final_output
    assert first.final_output.startswith("answer #1")
    miss, exact, semantic = (cache_info(r.raw_responses[-1]) for r in (first, again, para))
    assert miss is not None and miss.layer == "provider" and miss.stored
    assert exact is not None and exact.layer == "exact" and exact.tenant == "acme"
    assert semantic is not None and semantic.layer == "semantic"
    assert semantic.similarity is not None and 0.8 <= semantic.similarity < 1.0
    # A hit spends nothing: the run's usage counts no request.
    assert again.context_wrapper.usage.requests == 0
    assert first.context_wrapper.usage.requests == 1
    await cache.aclose()


async def test_other_instructions_model_tenant_and_settings_miss(
    server: ProviderServer, client: openai.AsyncOpenAI, semantic: AsyncSemanticCache
) -> None:
    model = _model(client, semantic)
    with tenant_scope("acme"):
        await Runner.run(_agent(model), QUESTION)
        await Runner.run(_agent(model), QUESTION)
        assert server.requests[CHAT] == 1
        await Runner.run(_agent(model, "You are sales."), QUESTION)
        assert server.requests[CHAT] == 2
        await Runner.run(_agent(_model(client, semantic, "gpt-4.1")), QUESTION)
        assert server.requests[CHAT] == 3
        hot = ModelSettings(temperature=0.2)
        await Runner.run(_agent(model, model_settings=hot), QUESTION)
        assert server.requests[CHAT] == 4
    with tenant_scope("globex"):
        await Runner.run(_agent(model), QUESTION)
    assert server.requests[CHAT] == 5
    with tenant_scope("acme", agent="billing"):
        await Runner.run(_agent(model), QUESTION)
    assert server.requests[CHAT] == 6
    with tenant_scope("acme"):  # all of them still hit in their own scope
        await Runner.run(_agent(model, "You are sales."), QUESTION)
        await Runner.run(_agent(model, model_settings=hot), QUESTION)
    assert server.requests[CHAT] == 6


async def test_runner_prompt_cache_key_and_transport_settings_stay_out_of_the_scope(
    server: ProviderServer, client: openai.AsyncOpenAI, semantic: AsyncSemanticCache
) -> None:
    model = _model(client, semantic, tenant="acme")
    for run in (1, 2):  # a new per-run key, as the runner makes on api.openai.com
        settings = ModelSettings(
            extra_args={"prompt_cache_key": f"agents-sdk:run:{run}"},
            extra_headers={"x-run": str(run)},
            metadata={"run": str(run)},
        )
        await Runner.run(_agent(model, model_settings=settings), QUESTION)
    assert server.requests[CHAT] == 1
    other = ModelSettings(extra_args={"seed": 7})  # a real parameter: another scope
    await Runner.run(_agent(model, model_settings=other), QUESTION)
    assert server.requests[CHAT] == 2


class _OfficialChatModel(OpenAIChatCompletionsModel):
    """A chat model the runner treats as api.openai.com (it adds a per-run cache key)."""

    def _supports_default_prompt_cache_key(self) -> bool:
        return True


async def test_the_runners_own_prompt_cache_key_still_reaches_the_provider(
    server: ProviderServer, client: openai.AsyncOpenAI, semantic: AsyncSemanticCache
) -> None:
    model = CachedAgentsModel(_OfficialChatModel(MODEL, client), cache=semantic, tenant="acme")
    for _ in range(2):
        await Runner.run(_agent(model), QUESTION)
    assert server.requests[CHAT] == 1  # the second run's new key did not split the scope
    sent = server.received[-1][1]
    assert str(sent.get("prompt_cache_key", "")).startswith("agents-sdk:run:")


async def test_no_tenant_anywhere_is_a_clear_error(
    server: ProviderServer, client: openai.AsyncOpenAI, semantic: AsyncSemanticCache
) -> None:
    with pytest.raises(InvalidInputError, match="tenant_scope"):
        await Runner.run(_agent(_model(client, semantic)), QUESTION)
    assert server.requests[CHAT] == 0


def test_run_sync_hits(server: ProviderServer, settings: AgentCacheSettings) -> None:
    # Runner.run_sync runs its own event loop: a fresh client and cache belong to it.
    for n in (1, 2):
        sdk = openai.AsyncOpenAI(base_url=server.openai_base_url, api_key="k", max_retries=0)
        model = CachedAgentsModel(
            OpenAIChatCompletionsModel(MODEL, sdk), settings=settings,
            vectorizer=HashingVectorizer(32), tenant="acme",
        )  # fmt: skip
        result = Runner.run_sync(_agent(model), QUESTION)
        assert result.final_output.startswith("answer #1")
        assert server.requests[CHAT] == 1, n


async def test_streamed_run_replays_a_hit_as_stream_events(
    server: ProviderServer, client: openai.AsyncOpenAI, semantic: AsyncSemanticCache
) -> None:
    model = _model(client, semantic, tenant="acme")
    outputs, deltas, completed = [], [], []
    for _ in range(2):
        run = Runner.run_streamed(_agent(model), QUESTION)
        raw = [e.data async for e in run.stream_events() if e.type == "raw_response_event"]
        outputs.append(run.final_output)
        deltas.append("".join(e.delta for e in raw if isinstance(e, ResponseTextDeltaEvent)))
        completed.append(next(e for e in raw if isinstance(e, ResponseCompletedEvent)))
    assert server.requests[CHAT] == 1
    assert outputs[0] == outputs[1] and outputs[0].startswith("answer #1")
    assert deltas[1] == outputs[1]  # the text arrives as deltas, as from the provider
    miss, hit = (cache_info(e.response) for e in completed)
    assert miss is not None and miss.layer == "provider" and miss.stored
    assert hit is not None and hit.layer == "exact"
    assert [i.layer for i in model.ledger.records] == ["provider", "exact"]
    # The streamed entry also serves a plain run, and the other way round.
    plain = await Runner.run(_agent(model), QUESTION)
    assert plain.final_output == outputs[0] and server.requests[CHAT] == 1


async def test_provider_wrapper_caches_models_resolved_by_name(
    server: ProviderServer, client: openai.AsyncOpenAI, semantic: AsyncSemanticCache
) -> None:
    provider = CachedAgentsModelProvider(
        OpenAIProvider(openai_client=client, use_responses=False), cache=semantic, tenant="acme"
    )
    config = RunConfig(model_provider=provider)
    agent = _agent(MODEL)
    first = await Runner.run(agent, QUESTION, run_config=config)
    second = await Runner.run(agent, QUESTION, run_config=config)
    assert server.requests[CHAT] == 1 and second.final_output == first.final_output
    await Runner.run(_agent("gpt-4.1"), QUESTION, run_config=config)
    assert server.requests[CHAT] == 2
    assert [i.model for i in provider.ledger.records] == [MODEL, MODEL, "gpt-4.1"]
    await provider.aclose()


@function_tool
def order_status() -> str:
    """The status of the customer's last order."""
    return "shipped"


async def test_a_tool_loop_is_replayed_with_its_call_ids(
    server: ProviderServer, client: openai.AsyncOpenAI, settings: AgentCacheSettings
) -> None:
    cache = AsyncSemanticCache(
        _settings(settings, cache_tool_use=True), vectorizer=HashingVectorizer(32)
    )
    model = _model(client, cache, tenant="acme")
    agent = _agent(
        model, tools=[order_status], model_settings=ModelSettings(tool_choice="required")
    )
    first = await Runner.run(agent, "Where is my order?")
    assert server.requests[CHAT] == 2  # the tool call, then the answer
    second = await Runner.run(agent, "Where is my order?")
    assert server.requests[CHAT] == 2  # both turns from the cache
    assert second.final_output == first.final_output

    def call_ids(result: Any) -> list[str]:
        return [
            o.call_id for r in result.raw_responses for o in r.output if o.type == "function_call"
        ]

    assert call_ids(second) == call_ids(first) and len(call_ids(first)) == 1
    await cache.aclose()


async def test_a_streamed_tool_loop_is_replayed(
    server: ProviderServer, client: openai.AsyncOpenAI, settings: AgentCacheSettings
) -> None:
    cache = AsyncSemanticCache(
        _settings(settings, cache_tool_use=True), vectorizer=HashingVectorizer(32)
    )
    agent = _agent(
        _model(client, cache, tenant="acme"),
        tools=[order_status],
        model_settings=ModelSettings(tool_choice="required"),
    )
    outputs, kinds = [], []
    for _ in range(2):
        run = Runner.run_streamed(agent, "Where is my order?")
        events = [e async for e in run.stream_events()]
        outputs.append(run.final_output)
        kinds.append([e.data.type for e in events if e.type == "raw_response_event"])
        tools = [e for e in events if e.type == "run_item_stream_event"]
        assert "tool_output" in [e.name for e in tools]  # the tool ran on the replay too
    assert server.requests[CHAT] == 2 and outputs[0] == outputs[1]
    replay = kinds[1]
    assert replay.count("response.completed") == 2  # one per model turn
    assert "response.function_call_arguments.done" in replay
    assert "response.output_text.delta" in replay
    await cache.aclose()


async def test_tool_calls_are_not_stored_unless_cache_tool_use(
    server: ProviderServer, client: openai.AsyncOpenAI, semantic: AsyncSemanticCache
) -> None:
    model = _model(client, semantic, tenant="acme")
    agent = _agent(
        model, tools=[order_status], model_settings=ModelSettings(tool_choice="required")
    )
    await Runner.run(agent, "Where is my order?")
    await Runner.run(agent, "Where is my order?")
    # Not stored, the tool-call turn is asked again; its new call id makes the answer
    # turn's history new too: every turn reaches the provider.
    assert server.requests[CHAT] == 4
    notes = [i.note for i in model.ledger.records if i.layer == "provider"]
    assert any("cache_tool_use" in n for n in notes)


async def test_server_side_conversation_state_is_passed_through(
    server: ProviderServer, client: openai.AsyncOpenAI, semantic: AsyncSemanticCache
) -> None:
    model = _model(client, semantic, tenant="acme")
    for _ in range(2):
        await Runner.run(_agent(model), QUESTION, previous_response_id="resp_123")
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
    await Runner.run(_agent(model), QUESTION)
    with cache_controls(ttl=60):
        await Runner.run(_agent(model), "What is the refund window?")
    entries = [i.entry_id for i in model.ledger.records]
    assert all(entries)
    ttls = [redis_client.ttl(semantic.core.entry_key("acme", e)) for e in entries if e]
    assert 250 < ttls[0] <= 300 and 0 < ttls[1] <= 60


async def test_max_age_serves_only_young_entries(
    server: ProviderServer, client: openai.AsyncOpenAI, semantic: AsyncSemanticCache
) -> None:
    model = _model(client, semantic, tenant="acme")
    await Runner.run(_agent(model), QUESTION)
    with cache_controls(max_age=3600):
        await Runner.run(_agent(model), QUESTION)
    assert server.requests[CHAT] == 1
    time.sleep(1.1)
    with cache_controls(max_age=1):  # the entry is older than a second now
        await Runner.run(_agent(model), QUESTION)
    assert server.requests[CHAT] == 2
    young = _model(client, semantic, tenant="acme", max_age=3600)  # a constructor default
    await Runner.run(_agent(young), QUESTION)
    assert server.requests[CHAT] == 2


async def test_lookup_only_serves_but_never_stores(
    server: ProviderServer, client: openai.AsyncOpenAI, semantic: AsyncSemanticCache
) -> None:
    model = _model(client, semantic, tenant="acme")
    with cache_controls(mode="lookup_only"):
        await Runner.run(_agent(model), QUESTION)
        await Runner.run(_agent(model), QUESTION)
    assert server.requests[CHAT] == 2  # nothing was stored
    await Runner.run(_agent(model), QUESTION)  # stores
    with cache_controls(mode="lookup_only"):
        await Runner.run(_agent(model), QUESTION)  # served
    assert server.requests[CHAT] == 3
    reader = _model(client, semantic, tenant="acme", mode="lookup_only")
    await Runner.run(_agent(reader), "Another question?")
    await Runner.run(_agent(model), "Another question?")
    assert server.requests[CHAT] == 5


async def test_store_only_refreshes_the_entry(
    server: ProviderServer, client: openai.AsyncOpenAI, semantic: AsyncSemanticCache
) -> None:
    model = _model(client, semantic, tenant="acme")
    first = await Runner.run(_agent(model), QUESTION)
    with cache_controls(mode="store_only"):
        fresh = await Runner.run(_agent(model), QUESTION)
    after = await Runner.run(_agent(model), QUESTION)
    assert server.requests[CHAT] == 2
    assert first.final_output.startswith("answer #1") and fresh.final_output.startswith("answer #2")
    assert after.final_output == fresh.final_output  # the refreshed answer is served
    with cache_controls(mode="bypass"):
        await Runner.run(_agent(model), QUESTION)
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
    await Runner.run(_agent(model), QUESTION)
    with cache_controls(threshold=0.99):  # the paraphrase is not that close
        await Runner.run(_agent(model), PARAPHRASE)
    assert server.requests[CHAT] == 2
    strict = _model(client, cache, tenant="acme", threshold=0.99)
    await Runner.run(_agent(strict), "What are the steps to reset my password?")  # 0.945
    assert server.requests[CHAT] == 3
    await Runner.run(_agent(model), "How can I reset my password?")  # 0.992 to QUESTION
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
