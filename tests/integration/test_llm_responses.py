"""``responses.create`` through CachedOpenAI / AsyncCachedOpenAI: the real openai SDK over
HTTP to the local provider's ``/v1/responses``, the real Redis Stack."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import openai
import pytest
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseCreatedEvent,
    ResponseTextDeltaEvent,
)

from agentcache import LocalVectorizer
from agentcache.llm import AsyncCachedOpenAI, CachedOpenAI, cache_info
from agentcache.prompt_caching.openai import prompt_cache_key
from agentcache.semantic import AsyncSemanticCache
from agentcache.settings import AgentCacheSettings
from agentcache.testing.provider import RESPONSES, ProviderServer
from agentcache.testing.vectors import HashingVectorizer

MODEL = "gpt-4.1-mini"
INSTRUCTIONS = "You answer questions about the ACME store's policies. " * 90  # ~1215 tokens
TOOLS = [
    {
        "type": "function",
        "name": "order_status",
        "description": "Look up an order.",
        "parameters": {
            "type": "object",
            "properties": {"order_id": {"type": "string"}},
            "required": ["order_id"],
        },
    }
]


@pytest.fixture(autouse=True)
def _quiet_deprecations() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


@pytest.fixture
def server() -> Iterator[ProviderServer]:
    counter = itertools.count(1)

    def responder(path: str, body: Mapping[str, Any]) -> str:
        # A fresh answer number per provider call, so a cache hit is visible.
        return f"answer #{next(counter)} to {body['messages'][-1]['content']}"

    with ProviderServer(responder=responder) as srv:
        yield srv


@pytest.fixture
def gpt(server: ProviderServer, settings: AgentCacheSettings) -> Iterator[CachedOpenAI]:
    sdk = openai.OpenAI(base_url=server.openai_base_url, api_key="k", max_retries=0)
    client = CachedOpenAI(sdk, settings=settings, vectorizer=HashingVectorizer(32))
    yield client
    client.close()
    sdk.close()


def ask(client: CachedOpenAI, question: Any, **extra: Any) -> Any:
    kwargs: dict[str, Any] = {"model": MODEL, "instructions": INSTRUCTIONS, "input": question}
    kwargs.update(extra)
    return client.responses.create(**kwargs)


def test_exact_repeat_and_item_form_served_without_request(
    gpt: CachedOpenAI, server: ProviderServer
) -> None:
    first = ask(gpt, "What is the refund window?")
    assert isinstance(first, Response) and first.output_text.startswith("answer #1")
    info = cache_info(first)
    assert info is not None and info.layer == "provider" and info.stored
    assert info.provider == "openai-responses"
    # The tenant's prompt_cache_key went out with the request.
    assert server.received[0][1]["prompt_cache_key"] == prompt_cache_key("default", "default")
    part = {"type": "input_text", "text": "What is the refund window?"}
    items = [{"type": "message", "role": "user", "content": [part]}]
    again = ask(gpt, "What is the refund window?")
    as_items = ask(gpt, items)  # the same question as an input item list
    reworded = ask(gpt, "what is the REFUND window")  # same words: a semantic hit
    assert server.requests[RESPONSES] == 1
    for reply, layer in ((again, "exact"), (as_items, "exact"), (reworded, "semantic")):
        assert isinstance(reply, Response) and reply.output_text == first.output_text
        hit = cache_info(reply)
        assert hit is not None and hit.layer == layer and hit.cost.cost_usd == 0.0
        assert hit.usage.prompt_tokens == first.usage.input_tokens  # type: ignore[union-attr]
        assert hit.cost.saved_usd > 0 and hit.entry_id == cache_info(again).entry_id  # type: ignore[union-attr]


def test_other_scopes_miss_and_neutral_parameters_do_not(
    gpt: CachedOpenAI, server: ProviderServer
) -> None:
    ask(gpt, "Do you ship abroad?")
    variants: list[dict[str, Any]] = [
        {"instructions": INSTRUCTIONS + " Be terse."},
        {"model": "gpt-4o-mini"},
        {"tenant": "globex"},
        {"agent": "sales"},
        {"temperature": 0.2},
        {"max_output_tokens": 500},
        {"tools": TOOLS},
        {"previous_response_id": "resp_abc"},
        {"text": {"format": {"type": "json_object"}}},
        {
            "input": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"},
                {"role": "user", "content": "Do you ship abroad?"},
            ]
        },
    ]
    for n, extra in enumerate(variants, start=2):
        question = extra.pop("input", "Do you ship abroad?")
        reply = ask(gpt, question, **extra)
        assert cache_info(reply).layer == "provider", extra  # type: ignore[union-attr]
        assert server.requests[RESPONSES] == n
    # Bookkeeping parameters, [] tools and the SDK's "not given" sentinels change nothing.
    neutral: dict[str, Any] = {
        "metadata": {"run": "42"},
        "store": False,
        "user": "u1",
        "prompt_cache_key": "mine",
        "tools": [],
        "temperature": openai.omit,
        "top_p": openai.NOT_GIVEN,
    }
    assert cache_info(ask(gpt, "Do you ship abroad?", **neutral)).hit  # type: ignore[union-attr]
    assert server.requests[RESPONSES] == len(variants) + 1


def test_cached_tokens_reach_the_cost_report(gpt: CachedOpenAI, server: ProviderServer) -> None:
    ask(gpt, "First question here?")
    second = ask(gpt, "Second question?")  # new key, same instructions: a provider prefix hit
    info = cache_info(second)
    assert info is not None and info.layer == "provider"
    reported = second.usage
    cached = reported.input_tokens_details.cached_tokens
    assert cached >= 1024
    assert info.usage.cache_read_tokens == cached
    assert info.usage.input_tokens == reported.input_tokens - cached
    assert info.usage.output_tokens == reported.output_tokens
    # gpt-4.1-mini: $0.40 input, $0.10 cached, $1.60 output per million tokens.
    uncached = reported.input_tokens - cached
    expected = (uncached * 0.4 + cached * 0.1 + reported.output_tokens * 1.6) / 1e6
    assert info.cost.cost_usd == pytest.approx(expected)
    assert info.cost.saved_usd == pytest.approx(cached * 0.3 / 1e6)


def _text(events: list[Any]) -> str:
    return "".join(e.delta for e in events if e.type == "response.output_text.delta")


def test_streaming_stores_then_replays_without_request(
    gpt: CachedOpenAI, server: ProviderServer
) -> None:
    # Without the opt-in a stream passes through and nothing is stored.
    list(ask(gpt, "Stream the refund policy", stream=True))
    assert gpt.cache.count() == 0
    with ask(gpt, "Stream the refund policy", stream=True, cache_streaming=True) as stream:
        live = list(stream)
    assert [e.sequence_number for e in live] == list(range(len(live)))
    assert len([e for e in live if e.type == "response.output_text.delta"]) > 1  # 24-char deltas
    info = cache_info(stream)
    assert info is not None and info.layer == "provider" and info.stored
    assert info.usage.cache_read_tokens >= 1024  # the first pass warmed the prefix cache
    assert server.requests[RESPONSES] == 2

    replay = ask(gpt, "Stream the refund policy", stream=True, cache_streaming=True)
    assert cache_info(replay).layer == "exact"  # type: ignore[union-attr]
    events = list(replay)
    assert server.requests[RESPONSES] == 2  # no HTTP request
    assert isinstance(events[0], ResponseCreatedEvent)
    assert isinstance(events[-1], ResponseCompletedEvent)
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert any(isinstance(e, ResponseTextDeltaEvent) for e in events)
    assert _text(events) == _text(live) == stream.final_response.output_text != ""
    assert events[-1].response.usage == live[-1].response.usage
    # The same entry serves a plain call, as a Response.
    plain = ask(gpt, "Stream the refund policy")
    assert isinstance(plain, Response) and plain.output_text == _text(live)
    assert server.requests[RESPONSES] == 2


def test_tool_calls_background_and_incomplete_are_not_stored(
    gpt: CachedOpenAI, server: ProviderServer, settings: AgentCacheSettings
) -> None:
    forced = {"tools": TOOLS, "tool_choice": "required"}
    for _ in range(2):
        reply = ask(gpt, "Where is order 42?", **forced)
        assert reply.output[0].type == "function_call"
        assert not cache_info(reply).stored  # type: ignore[union-attr]
    for _ in range(2):
        reply = ask(gpt, "Work on this later", background=True)
        assert "background" in cache_info(reply).note  # type: ignore[union-attr]
    cut = ask(gpt, "Explain everything", max_output_tokens=2)
    assert cut.status == "incomplete" and not cache_info(cut).stored  # type: ignore[union-attr]
    assert server.requests[RESPONSES] == 5 and gpt.cache.count() == 0
    settings.llm.cache_tool_use = True
    first = ask(gpt, "Where is order 42?", **forced)
    replayed = ask(gpt, "Where is order 42?", **forced)
    assert cache_info(replayed).hit  # type: ignore[union-attr]
    assert replayed.output[0].call_id == first.output[0].call_id  # a later turn can hit too
    assert server.requests[RESPONSES] == 6


def test_uncached_sdk_paths_pass_through(gpt: CachedOpenAI, server: ProviderServer) -> None:
    ask(gpt, "Hours?")
    kwargs = {"model": MODEL, "instructions": INSTRUCTIONS, "input": "Hours?"}
    raw = gpt.responses.with_raw_response.create(**kwargs)
    assert raw.parse().output_text != ""
    with gpt.responses.with_streaming_response.create(**kwargs) as streamed:
        assert streamed.http_response.status_code == 200
    with gpt.responses.stream(**kwargs) as helper:
        final = helper.get_final_response()
    assert final.output_text != ""
    assert server.requests[RESPONSES] == 4  # each went to the provider
    assert gpt.cache.count() == 1


def test_per_run_prompt_cache_key_is_replaced_by_the_tenants(
    gpt: CachedOpenAI, server: ProviderServer
) -> None:
    ask(gpt, "A?", prompt_cache_key="agents-sdk:run:1234", tenant="acme")
    ask(gpt, "B?", prompt_cache_key="my-key", tenant="acme")
    sent = [body["prompt_cache_key"] for _, body in server.received]
    assert sent == [prompt_cache_key("acme", "default"), "my-key"]


@pytest.fixture
async def agpt(
    server: ProviderServer, settings: AgentCacheSettings
) -> AsyncIterator[AsyncCachedOpenAI]:
    cache = AsyncSemanticCache(settings, vectorizer=HashingVectorizer(32))
    sdk = openai.AsyncOpenAI(base_url=server.openai_base_url, api_key="k", max_retries=0)
    yield AsyncCachedOpenAI(sdk, settings=settings, cache=cache)
    await cache.aclose()
    await sdk.close()


async def test_async_hit_miss_and_stream_replay(
    agpt: AsyncCachedOpenAI, server: ProviderServer
) -> None:
    kwargs: dict[str, Any] = {"model": MODEL, "instructions": INSTRUCTIONS, "input": "Async?"}
    first = await agpt.responses.create(**kwargs)
    second = await agpt.responses.create(**kwargs)
    other = await agpt.responses.create(**kwargs, tenant="globex")
    assert [cache_info(r).layer for r in (first, second, other)] == [  # type: ignore[union-attr]
        "provider",
        "exact",
        "provider",
    ]
    assert isinstance(second, Response) and second.output_text == first.output_text
    streamed = {**kwargs, "input": "Async stream?", "stream": True, "cache_streaming": True}
    live = [e async for e in await agpt.responses.create(**streamed)]
    replay = [e async for e in await agpt.responses.create(**streamed)]
    assert isinstance(replay[-1], ResponseCompletedEvent)
    assert _text(replay) == _text(live) != ""
    assert server.requests[RESPONSES] == 3


@pytest.fixture(scope="module")
def minilm() -> LocalVectorizer:
    return LocalVectorizer()


def test_a_close_paraphrase_is_served_with_the_real_model(
    minilm: LocalVectorizer, redis_url: str, key_prefix: str, server: ProviderServer
) -> None:
    settings = AgentCacheSettings(
        redis={"url": redis_url, "key_prefix": key_prefix}, semantic={"threshold": 0.8}
    )
    sdk = openai.OpenAI(base_url=server.openai_base_url, api_key="k", max_retries=0)
    gpt = CachedOpenAI(sdk, settings=settings, vectorizer=minilm)
    first = ask(gpt, "How do I reset my password?")
    para = ask(gpt, "I forgot my password, how do I reset it?")
    info = cache_info(para)
    assert info is not None and info.layer == "semantic" and 0.8 <= info.similarity < 1.0  # type: ignore[operator]
    assert para.output_text == first.output_text and server.requests[RESPONSES] == 1
    other = ask(gpt, "What time does the store open on Sunday?")
    assert cache_info(other).layer == "provider" and server.requests[RESPONSES] == 2  # type: ignore[union-attr]
    gpt.cache.drop()  # type: ignore[attr-defined]
    gpt.close()
    sdk.close()


async def test_agents_sdk_responses_model_over_the_cached_client(
    agpt: AsyncCachedOpenAI, server: ProviderServer
) -> None:
    # The Agents SDK passes openai.omit for every unset parameter and builds `include`
    # from a set: a second run of the same question is still an exact hit.
    agents = pytest.importorskip("agents")
    agents.set_tracing_disabled(True)
    model = agents.OpenAIResponsesModel("gpt-4.1-mini", agpt)
    agent = agents.Agent(name="support", instructions=INSTRUCTIONS, model=model)
    outputs = [(await agents.Runner.run(agent, "Refund window?")).final_output for _ in range(2)]
    assert outputs[0] == outputs[1] != ""
    assert server.requests[RESPONSES] == 1
    assert [r.layer for r in agpt.ledger.records] == ["provider", "exact"]
