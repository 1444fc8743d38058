"""Cached LLM clients: real SDKs over HTTP to the local provider, real Redis Stack."""

from __future__ import annotations

import inspect
import io
import itertools
import warnings
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import anthropic
import openai
import pytest
from anthropic.types import (
    Message,
    RawContentBlockDeltaEvent,
    RawContentBlockStartEvent,
    RawContentBlockStopEvent,
    RawMessageDeltaEvent,
    RawMessageStartEvent,
    RawMessageStopEvent,
)
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from agentcache.exceptions import InvalidInputError
from agentcache.llm import (
    AsyncCachedAnthropic,
    AsyncCachedOpenAI,
    CachedAnthropic,
    CachedOpenAI,
    cache_info,
    print_session_table,
)
from agentcache.semantic import AsyncSemanticCache, SemanticCache
from agentcache.settings import AgentCacheSettings
from agentcache.testing.provider import CHAT, MESSAGES, RESPONSES, ProviderServer
from agentcache.testing.vectors import HashingVectorizer

SONNET = "claude-sonnet-4-5"
SYSTEM = "You answer questions about the ACME store's policies. " * 90  # ~1215 tokens
S_TOKENS = (len(SYSTEM) + 3) // 4


@pytest.fixture(autouse=True)
def _quiet_deprecations() -> Iterator[None]:
    with warnings.catch_warnings():  # the SDK warns about model ids it considers old
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


@pytest.fixture
def server() -> Iterator[ProviderServer]:
    counter = itertools.count(1)

    def responder(path: str, body: Mapping[str, Any]) -> str:
        # A fresh answer number per provider call, so a refresh is visible.
        last = body["messages"][-1]["content"]
        text = last if isinstance(last, str) else last[-1]["text"]
        return f"answer #{next(counter)} to {text}"

    with ProviderServer(responder=responder) as srv:
        yield srv


@pytest.fixture
def claude(server: ProviderServer, settings: AgentCacheSettings) -> Iterator[CachedAnthropic]:
    sdk = anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="k", max_retries=0)
    client = CachedAnthropic(
        sdk, settings=settings, vectorizer=HashingVectorizer(32), tenant="acme", agent="support"
    )
    yield client
    client.close()
    sdk.close()


@pytest.fixture
def gpt(server: ProviderServer, settings: AgentCacheSettings) -> Iterator[CachedOpenAI]:
    sdk = openai.OpenAI(base_url=server.openai_base_url, api_key="k", max_retries=0)
    client = CachedOpenAI(sdk, settings=settings, vectorizer=HashingVectorizer(32))
    yield client
    client.close()
    sdk.close()


def ask(client: CachedAnthropic, question: str, **extra: Any) -> Any:
    kwargs: dict[str, Any] = {
        "model": SONNET,
        "max_tokens": 200,
        "system": SYSTEM,
        "messages": [{"role": "user", "content": question}],
    }
    kwargs.update(extra)
    return client.messages.create(**kwargs)


def test_miss_then_hit_returns_sdk_object_without_http(
    claude: CachedAnthropic, server: ProviderServer
) -> None:
    first = ask(claude, "What is the refund window?")
    assert isinstance(first, Message)
    info = cache_info(first)
    assert info is not None and info.layer == "provider" and info.stored
    # Prompt caching was applied on the way out: the big system prompt carries the marker.
    assert server.received[0][1]["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert info.usage.cache_write_tokens == S_TOKENS

    again = ask(claude, "What is the refund window?")
    paraphrase = ask(claude, "what is the REFUND window")  # same words: similarity 1.0
    assert server.requests[MESSAGES] == 1  # neither reached the provider
    for reply, layer in ((again, "exact"), (paraphrase, "semantic")):
        assert isinstance(reply, Message)
        assert reply.content[0].text == first.content[0].text
        assert reply.usage == first.usage
        hit = cache_info(reply)
        assert hit is not None and hit.hit and hit.layer == layer
        assert hit.cost.cost_usd == 0.0
        # The whole avoided call is saved: (input + writes) * $3 + output * $15 per MTok.
        expected = (S_TOKENS + first.usage.input_tokens) * 3 + first.usage.output_tokens * 15
        assert hit.cost.saved_usd == pytest.approx(expected / 1e6)


def test_no_reuse_across_system_prompts_models_tenants_and_params(
    claude: CachedAnthropic, server: ProviderServer
) -> None:
    ask(claude, "Do you ship abroad?")
    variants = [
        {"system": SYSTEM + " Be terse."},
        {"model": "claude-haiku-4-5"},
        {"tenant": "globex"},
        {"agent": "sales"},
        {"extra_body": {"temperature": 0.2}},
        {"max_tokens": 50},
        {"tools": [{"name": "t", "description": "d", "input_schema": {"type": "object"}}]},
        {
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"},
                {"role": "user", "content": "Do you ship abroad?"},
            ]
        },
    ]
    for n, extra in enumerate(variants, start=2):
        reply = ask(claude, "Do you ship abroad?", **extra)
        assert cache_info(reply).layer == "provider", extra  # type: ignore[union-attr]
        assert server.requests[MESSAGES] == n
    # A cache_control marker the caller adds does not change the scope.
    marked = [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}]
    assert cache_info(ask(claude, "Do you ship abroad?", system=marked)).hit  # type: ignore[union-attr]


def test_bypass_and_refresh(claude: CachedAnthropic, server: ProviderServer) -> None:
    first = ask(claude, "Opening hours?")
    bypassed = ask(claude, "Opening hours?", cache="bypass")
    assert cache_info(bypassed).layer == "provider"  # type: ignore[union-attr]
    assert not cache_info(bypassed).stored  # type: ignore[union-attr]
    assert ask(claude, "Opening hours?").content[0].text == first.content[0].text
    refreshed = ask(claude, "Opening hours?", cache="refresh")
    assert cache_info(refreshed).stored  # type: ignore[union-attr]
    assert refreshed.content[0].text != first.content[0].text
    served = ask(claude, "Opening hours?")
    assert cache_info(served).hit  # type: ignore[union-attr]
    assert served.content[0].text == refreshed.content[0].text
    assert server.requests[MESSAGES] == 3
    with pytest.raises(InvalidInputError, match="cache must be one of"):
        ask(claude, "Opening hours?", cache="sometimes")


def test_errors_are_not_cached(claude: CachedAnthropic, server: ProviderServer) -> None:
    server.fail_next(1, 500)
    with pytest.raises(anthropic.InternalServerError):
        ask(claude, "Is the store open on Sunday?")
    reply = ask(claude, "Is the store open on Sunday?")
    assert cache_info(reply).layer == "provider"  # type: ignore[union-attr]
    assert server.requests[MESSAGES] == 2
    assert claude.cache.count("acme", "support") == 1


def test_hot_temperature_and_tool_use_not_stored(
    claude: CachedAnthropic, server: ProviderServer, settings: AgentCacheSettings
) -> None:
    hot = {"extra_body": {"temperature": 1.0}}
    settings.llm.max_cacheable_temperature = 0.7
    for _ in range(2):
        reply = ask(claude, "Write me a poem", **hot)
        assert not cache_info(reply).stored  # type: ignore[union-attr]
        assert "temperature" in cache_info(reply).note  # type: ignore[union-attr]
    tools = [{"name": "order_status", "description": "d", "input_schema": {"type": "object"}}]
    forced = {"tools": tools, "tool_choice": {"type": "any"}}
    for _ in range(2):
        reply = ask(claude, "Where is order 42?", **forced)
        assert reply.stop_reason == "tool_use" and not cache_info(reply).stored  # type: ignore[union-attr]
    assert server.requests[MESSAGES] == 4
    settings.llm.cache_tool_use = True
    ask(claude, "Where is order 42?", **forced)
    assert cache_info(ask(claude, "Where is order 42?", **forced)).hit  # type: ignore[union-attr]
    assert server.requests[MESSAGES] == 5


def test_streaming_passes_through_uncached(claude: CachedAnthropic, server: ProviderServer) -> None:
    for _ in range(2):
        stream = ask(claude, "Stream the policy", stream=True)
        events = [event.type for event in stream]
        assert events[0] == "message_start" and events[-1] == "message_stop"
    assert server.requests[MESSAGES] == 2
    assert claude.cache.count("acme", "support") == 0


def _text(events: list[Any]) -> str:
    return "".join(
        e.delta.text
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "text_delta"
    )


def test_streaming_opt_in_stores_then_replays_without_http(
    claude: CachedAnthropic, server: ProviderServer, settings: AgentCacheSettings
) -> None:
    settings.llm.cache_streaming = True
    with ask(claude, "Stream the refund policy", stream=True) as stream:
        live = list(stream)
    # Passed through unchanged: the provider's own events, its 24-character deltas.
    deltas = [e for e in live if e.type == "content_block_delta"]
    assert len(deltas) == -(-len(_text(live)) // 24) > 1
    info = cache_info(stream)
    assert info is not None and info.layer == "provider" and info.stored
    assert info.usage.cache_write_tokens == S_TOKENS and info.usage.output_tokens > 0
    assert claude.cache.count("acme", "support") == 1

    replay = ask(claude, "Stream the refund policy", stream=True)
    assert cache_info(replay).layer == "exact"  # type: ignore[union-attr]
    events = list(replay)
    assert server.requests[MESSAGES] == 1  # the replay made no HTTP request
    assert [type(e) for e in events] == [
        RawMessageStartEvent,
        RawContentBlockStartEvent,
        RawContentBlockDeltaEvent,
        RawContentBlockStopEvent,
        RawMessageDeltaEvent,
        RawMessageStopEvent,
    ]
    assert _text(events) == _text(live) == stream.final_response.content[0].text
    assert events[-2].usage.output_tokens == info.usage.output_tokens
    # The same stored answer serves a non-streaming call, as a Message.
    plain = ask(claude, "Stream the refund policy")
    assert isinstance(plain, Message) and plain.content[0].text == _text(live)
    assert server.requests[MESSAGES] == 1
    assert [r.layer for r in claude.ledger.records] == ["provider", "exact", "exact"]


def test_stream_replay_of_non_streamed_answer_and_per_call_opt_in(
    claude: CachedAnthropic, server: ProviderServer
) -> None:
    first = ask(claude, "Do you gift wrap?")
    replay = ask(claude, "Do you gift wrap?", stream=True, cache_streaming=True)
    assert _text(list(replay)) == first.content[0].text
    # Without the opt-in the same streaming call goes to the provider.
    assert _text(list(ask(claude, "Do you gift wrap?", stream=True))) != ""
    assert server.requests[MESSAGES] == 2


def test_incomplete_or_failed_streams_are_not_stored(
    claude: CachedAnthropic, server: ProviderServer
) -> None:
    with ask(claude, "Stream it all", stream=True, cache_streaming=True) as stream:
        for event in stream:
            if event.type == "content_block_delta":
                break  # the caller stops early: the answer is incomplete
    assert cache_info(stream) is None and claude.cache.count("acme", "support") == 0
    server.fail_next(1, 500)
    with pytest.raises(anthropic.InternalServerError):
        list(ask(claude, "Stream it all", stream=True, cache_streaming=True))
    complete = ask(claude, "Stream it all", stream=True, cache_streaming=True)
    assert cache_info(complete) is None  # nothing is known before the stream is read
    list(complete)
    assert cache_info(complete).stored  # type: ignore[union-attr]
    assert server.requests[MESSAGES] == 3 and len(claude.ledger.records) == 1


def test_openai_streaming_opt_in(gpt: CachedOpenAI, server: ProviderServer) -> None:
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Sizes?"}]
    kwargs: dict[str, Any] = {"model": "gpt-4o-mini", "messages": messages, "stream": True}
    live = list(gpt.chat.completions.create(**kwargs, cache_streaming=True))
    # include_usage was added for the ledger but its chunk is hidden from this caller.
    assert server.received[0][1]["stream_options"] == {"include_usage": True}
    assert all(chunk.choices for chunk in live)
    stored = gpt.cache.check("Sizes?", tenant="default", agent="default")
    assert stored is not None and stored.metadata["usage"]["input_tokens"] > 1000
    replay = gpt.chat.completions.create(**kwargs, cache_streaming=True)
    chunks = list(replay)
    assert server.requests[CHAT] == 1
    assert all(isinstance(c, ChatCompletionChunk) for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == "".join(c.choices[0].delta.content or "" for c in live) != ""
    assert chunks[-1].choices[0].finish_reason == "stop"
    # A caller that asks for usage gets the stored usage as the last chunk.
    with_usage = list(
        gpt.chat.completions.create(
            **kwargs, stream_options={"include_usage": True}, cache_streaming=True
        )
    )
    assert with_usage[-1].choices == [] and with_usage[-1].usage is not None
    assert with_usage[-1].usage.prompt_tokens == cache_info(replay).usage.prompt_tokens > 1000  # type: ignore[union-attr]
    assert server.requests[CHAT] == 1


def test_prompt_cache_read_cost_by_hand(claude: CachedAnthropic) -> None:
    ask(claude, "First question here?")
    second = ask(claude, "Second question?")  # new key, same system prompt
    info = cache_info(second)
    assert info is not None and info.layer == "provider"
    usage = info.usage
    assert usage.cache_read_tokens == S_TOKENS and usage.cache_write_tokens == 0
    assert usage.input_tokens == 4  # "Second question?" is 16 chars
    # Sonnet 4.5: 4 * $3 + S * $0.30 + output * $15, per million tokens.
    cost = (4 * 3 + S_TOKENS * 0.3 + usage.output_tokens * 15) / 1e6
    assert info.cost.cost_usd == pytest.approx(cost)
    assert info.cost.saved_usd == pytest.approx(S_TOKENS * 2.7 / 1e6)


def test_openai_hit_and_tenant_isolation(gpt: CachedOpenAI, server: ProviderServer) -> None:
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Price of X?"}]
    first = gpt.chat.completions.create(model="gpt-4o-mini", messages=messages, tenant="t1")
    assert isinstance(first, ChatCompletion)
    assert server.received[0][1]["prompt_cache_key"].startswith("ac-")
    hit = gpt.chat.completions.create(model="gpt-4o-mini", messages=messages, tenant="t1")
    assert isinstance(hit, ChatCompletion) and cache_info(hit).hit  # type: ignore[union-attr]
    assert hit.choices[0].message.content == first.choices[0].message.content
    other = gpt.chat.completions.create(model="gpt-4o-mini", messages=messages, tenant="t2")
    assert cache_info(other).layer == "provider"  # type: ignore[union-attr]
    # The second provider call reads the first one's prefix from OpenAI's prompt cache.
    assert cache_info(other).usage.cache_read_tokens >= 1024  # type: ignore[union-attr]
    assert server.requests[CHAT] == 2
    assert gpt.models is gpt.client.models  # everything else is the SDK client


@pytest.fixture
async def async_clients(
    server: ProviderServer, settings: AgentCacheSettings
) -> AsyncIterator[tuple[AsyncCachedAnthropic, AsyncCachedOpenAI]]:
    cache = AsyncSemanticCache(settings, vectorizer=HashingVectorizer(32))
    a_sdk = anthropic.AsyncAnthropic(base_url=server.anthropic_base_url, api_key="k", max_retries=0)
    o_sdk = openai.AsyncOpenAI(base_url=server.openai_base_url, api_key="k", max_retries=0)
    claude = AsyncCachedAnthropic(a_sdk, settings=settings, cache=cache)
    gpt = AsyncCachedOpenAI(o_sdk, settings=settings, cache=cache, ledger=claude.ledger)
    yield claude, gpt
    await cache.aclose()
    await a_sdk.close()
    await o_sdk.close()


async def test_async_clients_hit_without_http(
    async_clients: tuple[AsyncCachedAnthropic, AsyncCachedOpenAI], server: ProviderServer
) -> None:
    claude, gpt = async_clients
    kwargs: dict[str, Any] = {
        "model": SONNET,
        "max_tokens": 100,
        "system": SYSTEM,
        "messages": [{"role": "user", "content": "Async refund?"}],
    }
    first = await claude.messages.create(**kwargs)
    second = await claude.messages.create(**kwargs)
    assert isinstance(second, Message) and cache_info(second).hit  # type: ignore[union-attr]
    assert second.content[0].text == first.content[0].text
    chat = [{"role": "user", "content": "Async refund?"}]
    o1 = await gpt.chat.completions.create(model="gpt-4o", messages=chat)
    o2 = await gpt.chat.completions.create(model="gpt-4o", messages=chat)
    assert cache_info(o1).layer == "provider" and cache_info(o2).hit  # type: ignore[union-attr]
    assert server.requests == {MESSAGES: 1, CHAT: 1}
    server.fail_next(1, 503, path=CHAT)
    with pytest.raises(openai.InternalServerError):
        await gpt.chat.completions.create(model="gpt-4o", messages=chat, cache="refresh")
    assert len(claude.ledger.records) == 4  # the failed call leaves no record


async def test_async_streaming_store_and_replay(
    async_clients: tuple[AsyncCachedAnthropic, AsyncCachedOpenAI], server: ProviderServer
) -> None:
    claude, gpt = async_clients
    kwargs: dict[str, Any] = {
        "model": SONNET,
        "max_tokens": 100,
        "system": SYSTEM,
        "messages": [{"role": "user", "content": "Async stream?"}],
        "stream": True,
        "cache_streaming": True,
    }
    async with await claude.messages.create(**kwargs) as stream:
        live = [event async for event in stream]
    assert cache_info(stream).stored  # type: ignore[union-attr]
    replay = await claude.messages.create(**kwargs)
    events = [event async for event in replay]
    assert cache_info(replay).hit and _text(events) == _text(live)  # type: ignore[union-attr]
    chat: dict[str, Any] = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "Async stream?"}],
        "stream": True,
        "cache_streaming": True,
    }
    first = [c async for c in await gpt.chat.completions.create(**chat)]
    again = [c async for c in await gpt.chat.completions.create(**chat)]
    assert all(isinstance(c, ChatCompletionChunk) for c in again)
    joined = ["".join(c.choices[0].delta.content or "" for c in cs) for cs in (first, again)]
    assert joined[0] == joined[1] != ""
    assert server.requests == {MESSAGES: 1, CHAT: 1}


def test_session_table(claude: CachedAnthropic, settings: AgentCacheSettings) -> None:
    ask(claude, "What is the refund window?")
    ask(claude, "Do you price match?")
    ask(claude, "What is the refund window?")
    totals = claude.ledger.totals()
    assert totals["calls"] == 3 and totals["hits"] == 1
    assert totals["saved_usd"] == pytest.approx(
        sum(r.cost.saved_usd for r in claude.ledger.records)
    )
    out = io.StringIO()
    print_session_table(claude.ledger.records, file=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 + 3 + 2
    assert "exact" in lines[4] and "provider" in lines[2]
    assert lines[-1].rstrip().endswith("total") and "1/3 hit" in lines[-1]


def test_shared_cache_object_is_not_closed(
    settings: AgentCacheSettings, server: ProviderServer
) -> None:
    cache = SemanticCache(settings, vectorizer=HashingVectorizer(32))
    sdk = anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="k", max_retries=0)
    client = CachedAnthropic(sdk, settings=settings, cache=cache)
    ask(client, "Anything?")
    client.close()
    assert cache.count() == 1  # still usable: the caller owns it
    cache.close()
    sdk.close()


# -- per-request controls, on every cached surface ------------------------------------------

_SURFACES = [
    (kind, mode) for kind in ("messages", "chat", "responses") for mode in ("sync", "async")
]


async def _maybe(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _answer(kind: str, reply: Any) -> str:
    if kind == "messages":
        return str(reply.content[0].text)
    if kind == "chat":
        return str(reply.choices[0].message.content)
    return str(reply.output_text)


class _Surface:
    """One cached ``create`` (sync or async) with the request shape it takes."""

    def __init__(self, kind: str, client: Any, path: str) -> None:
        self.kind, self.client, self.path = kind, client, path

    def create(self, question: str, **extra: Any) -> Any:
        if self.kind == "messages":
            body = {
                "model": SONNET,
                "max_tokens": 200,
                "messages": [{"role": "user", "content": question}],
            }
            return self.client.messages.create(**body, **extra)
        if self.kind == "chat":
            body = {"model": "gpt-4o", "messages": [{"role": "user", "content": question}]}
            return self.client.chat.completions.create(**body, **extra)
        return self.client.responses.create(model="gpt-4o", input=question, **extra)

    async def ask(self, question: str, **extra: Any) -> tuple[Any, Any]:
        reply = await _maybe(self.create(question, **extra))
        return reply, cache_info(reply)


@pytest.mark.parametrize(("kind", "mode"), _SURFACES)
async def test_per_request_controls_on_every_surface(
    kind: str,
    mode: str,
    server: ProviderServer,
    settings: AgentCacheSettings,
    redis_client: Any,
) -> None:
    vectorizer = HashingVectorizer(32)
    anthropic_sdk: Any
    openai_sdk: Any
    if mode == "sync":
        cache: Any = SemanticCache(settings, vectorizer=vectorizer)
        anthropic_sdk = anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="k")
        openai_sdk = openai.OpenAI(base_url=server.openai_base_url, api_key="k")
        wrappers: tuple[Any, Any] = (CachedAnthropic, CachedOpenAI)
    else:
        cache = AsyncSemanticCache(settings, vectorizer=vectorizer)
        anthropic_sdk = anthropic.AsyncAnthropic(base_url=server.anthropic_base_url, api_key="k")
        openai_sdk = openai.AsyncOpenAI(base_url=server.openai_base_url, api_key="k")
        wrappers = (AsyncCachedAnthropic, AsyncCachedOpenAI)
    sdk, wrapper = (anthropic_sdk, wrappers[0]) if kind == "messages" else (openai_sdk, wrappers[1])
    path = {"messages": MESSAGES, "chat": CHAT, "responses": RESPONSES}[kind]
    surface = _Surface(kind, wrapper(sdk, settings=settings, cache=cache), path)
    count = lambda: _maybe(cache.count("default", "default"))  # noqa: E731
    q1 = "What is the refund window?"

    # lookup_only: a miss goes to the provider and is not stored.
    _, info = await surface.ask(q1, cache="lookup_only")
    assert info.layer == "provider" and not info.stored and "lookup_only" in info.note
    assert await count() == 0

    # cache_ttl: the stored entry expires after that many seconds.
    first, info = await surface.ask(q1, cache_ttl=120)
    assert info.stored
    hit, info = await surface.ask(q1, cache="lookup_only")
    assert info.layer == "exact" and _answer(kind, hit) == _answer(kind, first)
    assert 100 < redis_client.ttl(cache.core.entry_key("default", info.entry_id)) <= 120

    # store_only (and its old name refresh): no lookup, the fresh answer replaces the entry.
    for name in ("store_only", "refresh"):
        fresh, info = await surface.ask(q1, cache=name)
        assert info.layer == "provider" and info.stored
        assert _answer(kind, fresh) != _answer(kind, first)
        served, info = await surface.ask(q1)
        assert info.hit and _answer(kind, served) == _answer(kind, fresh)
    assert server.requests[path] == 4

    # cache_max_age: an entry stored 300 s ago is too old for 60 s, young enough for 600 s.
    real_clock = cache.core.clock
    cache.core.clock = lambda: real_clock() + 300
    try:
        _, info = await surface.ask(q1, cache_max_age=600)
        assert info.hit
        renewed, info = await surface.ask(q1, cache_max_age=60)
        assert info.layer == "provider" and info.stored  # the miss stored a fresh entry
        again, info = await surface.ask(q1, cache_max_age=60)
        assert info.hit and _answer(kind, again) == _answer(kind, renewed)
    finally:
        cache.core.clock = real_clock
    assert server.requests[path] == 5

    # cache_threshold: a looser bar for one call serves a near question.
    await surface.ask("How do I reset my password?")
    near = "How can I reset my password quickly?"  # cosine 0.82 with the 32-dim hash vectors
    _, info = await surface.ask(near, cache="lookup_only")
    assert info.layer == "provider"  # below the default threshold (0.95)
    _, info = await surface.ask(near, cache="lookup_only", cache_threshold=0.8)
    assert info.layer == "semantic" and 0.8 <= info.similarity < 0.95
    assert server.requests[path] == 7

    # Bad controls are refused before anything is sent.
    for bad in ({"cache_ttl": 0}, {"cache_max_age": -1}, {"cache_threshold": 2}, {"cache": "x"}):
        with pytest.raises(InvalidInputError):
            await surface.ask(q1, **bad)
    # The SDK's "not given" sentinels do not change the scope (a hit, not a new entry).
    unset = anthropic.omit if kind == "messages" else openai.omit
    _, info = await surface.ask(q1, temperature=unset)
    assert info.hit
    assert server.requests[path] == 7

    await _maybe(cache.aclose() if mode == "async" else cache.close())
    await _maybe(sdk.close())
