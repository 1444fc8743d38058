"""The local provider server, driven by the real anthropic and openai SDKs over HTTP."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import numpy as np
import openai
import pytest

from agentcache.prompt_caching import apply_anthropic_caching, apply_openai_caching
from agentcache.prompt_caching.costs import PriceTable, Usage
from agentcache.settings import AgentCacheSettings, PromptCachingSettings
from agentcache.testing.provider import CHAT, EMBEDDINGS, MESSAGES, ProviderServer

SYSTEM = "You are a careful assistant for the billing team. " * 100  # ~1275 tokens
SONNET = "claude-sonnet-4-5"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def server(clock: Clock) -> Iterator[ProviderServer]:
    with ProviderServer(clock=clock) as srv:
        yield srv


@pytest.fixture
def claude(server: ProviderServer) -> Iterator[anthropic.Anthropic]:
    client = anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="k", max_retries=0)
    yield client
    client.close()


@pytest.fixture
def gpt(server: ProviderServer) -> Iterator[openai.OpenAI]:
    client = openai.OpenAI(base_url=server.openai_base_url, api_key="k", max_retries=0)
    yield client
    client.close()


@pytest.fixture(autouse=True)
def _quiet_deprecations() -> Iterator[None]:
    with warnings.catch_warnings():  # the SDK warns about model ids it considers old
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def _ask(question: str, **extra: Any) -> dict[str, Any]:
    request = {
        "model": SONNET,
        "max_tokens": 256,
        "system": SYSTEM,
        "messages": [{"role": "user", "content": question}],
    }
    request.update(extra)
    return apply_anthropic_caching(request).request


def test_anthropic_prompt_cache_write_then_read(
    server: ProviderServer, claude: anthropic.Anthropic
) -> None:
    first = claude.messages.create(**_ask("What is an invoice?"))
    second = claude.messages.create(**_ask("What is a refund?"))
    assert isinstance(first, anthropic.types.Message)
    assert first.id.startswith("msg_") and first.stop_reason == "end_turn"
    assert "What is an invoice?" in first.content[0].text  # type: ignore[union-attr]
    # The server saw the breakpoint the helper placed, on the system prompt only.
    path, body = server.received[0]
    assert path == MESSAGES
    assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert body["messages"] == [{"role": "user", "content": "What is an invoice?"}]
    system_tokens = (len(SYSTEM) + 3) // 4
    assert first.usage.cache_creation_input_tokens == system_tokens
    assert first.usage.cache_read_input_tokens == 0
    assert second.usage.cache_creation_input_tokens == 0
    assert second.usage.cache_read_input_tokens == system_tokens
    assert second.usage.input_tokens == 5  # "What is a refund?" = 17 chars
    usage = Usage.from_anthropic(second)
    assert usage.prompt_tokens == system_tokens + 5
    report = PriceTable.from_settings(AgentCacheSettings()).cost(SONNET, usage)
    assert report.saved_usd == pytest.approx(system_tokens * (3.0 - 0.3) / 1e6)
    assert server.requests[MESSAGES] == 2


def test_minimum_length_rule_matches_the_helper(
    server: ProviderServer, claude: anthropic.Anthropic
) -> None:
    haiku = "claude-3-5-haiku-20241022"  # 2048-token minimum; SYSTEM is ~1275
    plan = apply_anthropic_caching(
        {
            "model": haiku,
            "max_tokens": 64,
            "system": SYSTEM,
            "messages": [{"role": "user", "content": "q"}],
        }
    )
    assert plan.breakpoints == [] and "2048" in plan.skipped[0].reason
    # Marked anyway, the provider silently does not cache it: the helper was right not to claim.
    forced = [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}]
    for _ in range(2):
        reply = claude.messages.create(
            model=haiku,
            max_tokens=64,
            system=forced,  # type: ignore[arg-type]
            messages=[{"role": "user", "content": "q"}],
        )
        assert reply.usage.cache_creation_input_tokens == 0
        assert reply.usage.cache_read_input_tokens == 0


def test_at_most_four_breakpoints_reach_the_server(
    server: ProviderServer, claude: anthropic.Anthropic
) -> None:
    doc = {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": SYSTEM},
    }
    messages = [
        {"role": "user", "content": [doc, {"type": "text", "text": "summarise"}]},
        {"role": "assistant", "content": "A summary. " * 50},
        {"role": "user", "content": [dict(doc), {"type": "text", "text": "compare"}]},
        {"role": "assistant", "content": "Compared."},
        {"role": "user", "content": "anything else?"},
    ]
    tools = [{"name": "lookup", "description": SYSTEM, "input_schema": {"type": "object"}}]
    request = apply_anthropic_caching(
        {"model": SONNET, "max_tokens": 64, "system": SYSTEM, "tools": tools, "messages": messages}
    ).request
    reply = claude.messages.create(**request)
    body = server.received[-1][1]
    assert str(body).count("cache_control") == 4
    assert body["messages"][-1] == {"role": "user", "content": "anything else?"}
    assert reply.usage.cache_creation_input_tokens > 0


def test_growing_conversation_reads_the_earlier_prefix(claude: anthropic.Anthropic) -> None:
    turns: list[dict[str, Any]] = [{"role": "user", "content": "first question"}]
    first = claude.messages.create(**_ask("", messages=turns))
    turns += [
        {"role": "assistant", "content": first.content[0].text},  # type: ignore[union-attr]
        {"role": "user", "content": "second question"},
    ]
    second = claude.messages.create(
        **apply_anthropic_caching(
            {"model": SONNET, "max_tokens": 256, "system": SYSTEM, "messages": turns}
        ).request
    )
    # The system prefix is read back; the new history breakpoint writes the turn after it.
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert second.usage.cache_creation_input_tokens > 0


def test_ttl_expiry_uses_the_injected_clock(clock: Clock, claude: anthropic.Anthropic) -> None:
    claude.messages.create(**_ask("a"))
    clock.now += 301  # past the 5-minute TTL
    again = claude.messages.create(**_ask("b"))
    assert again.usage.cache_read_input_tokens == 0
    assert again.usage.cache_creation_input_tokens > 0
    one_hour = apply_anthropic_caching(
        {
            "model": SONNET,
            "max_tokens": 8,
            "system": SYSTEM + "!",
            "messages": [{"role": "user", "content": "c"}],
        },
        PromptCachingSettings(anthropic_ttl="1h"),
    ).request
    written = claude.messages.create(**one_hour)
    assert written.usage.cache_creation.ephemeral_1h_input_tokens > 0  # type: ignore[union-attr]
    clock.now += 1800
    assert claude.messages.create(**one_hour).usage.cache_read_input_tokens > 0


def test_anthropic_streaming(claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(**_ask("stream me a reply please")) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert "stream me a reply please" in text
    assert final.content[0].text == text  # type: ignore[union-attr]
    assert final.usage.cache_creation_input_tokens > 0 and final.usage.output_tokens > 1


def test_anthropic_forced_tool_use_and_max_tokens(claude: anthropic.Anthropic) -> None:
    tools = [{"name": "get_weather", "description": "weather", "input_schema": {"type": "object"}}]
    reply = claude.messages.create(
        model=SONNET,
        max_tokens=64,
        tools=tools,  # type: ignore[arg-type]
        tool_choice={"type": "any"},
        messages=[{"role": "user", "content": "weather?"}],
    )
    assert reply.stop_reason == "tool_use" and reply.content[0].type == "tool_use"
    cut = claude.messages.create(
        model=SONNET, max_tokens=3, messages=[{"role": "user", "content": "long answer"}]
    )
    assert cut.stop_reason == "max_tokens" and cut.usage.output_tokens == 3


async def test_async_anthropic(server: ProviderServer) -> None:
    client = anthropic.AsyncAnthropic(
        base_url=server.anthropic_base_url, api_key="k", max_retries=0
    )
    try:
        reply = await client.messages.create(**_ask("async?"))
    finally:
        await client.close()
    assert reply.usage.cache_creation_input_tokens > 0
    assert server.requests[MESSAGES] == 1


def test_openai_cached_tokens_from_a_seen_prefix(
    server: ProviderServer, gpt: openai.OpenAI
) -> None:
    def ask(question: str) -> Any:
        request = apply_openai_caching(
            {
                "model": "gpt-4o-mini",
                "messages": [
                    {"role": "system", "content": SYSTEM},
                    {"role": "user", "content": question},
                ],
            },
            tenant="t1",
            agent="billing",
        ).request
        return gpt.chat.completions.create(**request)

    first, second = ask("first?"), ask("second?")
    assert first.object == "chat.completion" and first.id.startswith("chatcmpl-")
    assert first.choices[0].finish_reason == "stop"
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    cached = second.usage.prompt_tokens_details.cached_tokens
    assert cached >= 1024 and cached % 128 == 0 and cached <= second.usage.prompt_tokens
    assert server.received[0][1]["prompt_cache_key"].startswith("ac-")
    usage = Usage.from_openai(second)
    assert usage.input_tokens == second.usage.prompt_tokens - cached
    # Short prompts are never cached.
    short = [{"role": "user", "content": "hi"}]
    gpt.chat.completions.create(model="gpt-4o-mini", messages=short)  # type: ignore[arg-type]
    again = gpt.chat.completions.create(model="gpt-4o-mini", messages=short)  # type: ignore[arg-type]
    assert again.usage.prompt_tokens_details.cached_tokens == 0
    assert server.requests[CHAT] == 4


def test_openai_streaming_and_tool_calls(gpt: openai.OpenAI) -> None:
    stream = gpt.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "say something"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "say something" in text
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]
    reply = gpt.chat.completions.create(
        model="gpt-4o",
        tools=tools,
        tool_choice="required",  # type: ignore[arg-type]
        messages=[{"role": "user", "content": "find it"}],
    )
    assert reply.choices[0].finish_reason == "tool_calls"
    assert reply.choices[0].message.tool_calls[0].function.name == "lookup"  # type: ignore[index,union-attr]


def test_embeddings_are_deterministic_with_usage(
    server: ProviderServer, gpt: openai.OpenAI
) -> None:
    texts = ["refund my order", "refund my order please", "weather in Paris"]
    first = gpt.embeddings.create(model="text-embedding-3-small", input=texts)
    again = gpt.embeddings.create(
        model="text-embedding-3-small", input=texts, encoding_format="float", dimensions=1536
    )
    vectors = np.array([d.embedding for d in first.data])
    assert vectors.shape == (3, 1536)
    assert np.allclose(vectors, np.array([d.embedding for d in again.data]), atol=1e-6)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    assert first.usage.prompt_tokens == sum((len(t) + 3) // 4 for t in texts)
    small = gpt.embeddings.create(model="text-embedding-3-large", input="x", dimensions=64)
    assert len(small.data[0].embedding) == 64
    assert server.requests[EMBEDDINGS] == 3


def test_injected_failures_raise_sdk_errors(
    server: ProviderServer, claude: anthropic.Anthropic, gpt: openai.OpenAI
) -> None:
    server.fail_next(1, 529)
    with pytest.raises(anthropic.InternalServerError) as info:
        claude.messages.create(**_ask("q"))
    assert info.value.status_code == 529
    server.fail_next(2, 429, path=CHAT)
    claude.messages.create(**_ask("q"))  # another endpoint is not affected
    for _ in range(2):
        with pytest.raises(openai.RateLimitError):
            gpt.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "q"}])
    assert (
        gpt.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "q"}])
        .choices[0]
        .message.content
    )
    assert server.requests == {MESSAGES: 2, CHAT: 3}
    missing = httpx.post(server.url + MESSAGES, json={"model": SONNET}, headers={"x-api-key": "k"})
    assert missing.status_code == 400
    assert missing.json()["error"]["type"] == "invalid_request_error"


def test_retry_is_allowed_when_asked(server: ProviderServer) -> None:
    client = anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="k", max_retries=1)
    server.fail_next(1, 500, should_retry=True)
    try:
        assert client.messages.create(**_ask("q")).content
    finally:
        client.close()
    assert server.requests[MESSAGES] == 2


def test_stopped_server_refuses_connections() -> None:
    with ProviderServer() as srv:
        url = srv.url
        assert (
            httpx.post(url + "/v1/nothing", json={}, headers={"x-api-key": "k"}).status_code == 404
        )
    with pytest.raises(httpx.ConnectError):
        httpx.post(url + MESSAGES, json={}, timeout=2)
