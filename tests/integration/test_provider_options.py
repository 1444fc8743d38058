"""ProviderServer options: TCP_NODELAY, the latency model, the prompt-cache switch and
tool calls with real input, driven by the real SDKs over HTTP."""

from __future__ import annotations

import socket
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import anthropic
import openai
import pytest

from agentcache.testing.provider import CHAT, MESSAGES, LatencyModel, ProviderServer

SYSTEM = "You are a careful assistant for the billing team. " * 100  # ~1275 tokens
SONNET = "claude-sonnet-4-5"
KB_TOOL: Any = {
    "name": "kb_search",
    "description": "Search the knowledge base.",
    "input_schema": {"type": "object", "properties": {"topic": {"type": "string"}}},
}
KB_FUNCTION: Any = {
    "type": "function",
    "function": {"name": "kb_search", "parameters": KB_TOOL["input_schema"]},
}


@pytest.fixture(autouse=True)
def _quiet_deprecations() -> Iterator[None]:
    with warnings.catch_warnings():  # the SDK warns about model ids it considers old
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def _clients(server: ProviderServer) -> tuple[anthropic.Anthropic, openai.OpenAI]:
    return (
        anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="k", max_retries=0),
        openai.OpenAI(base_url=server.openai_base_url, api_key="k", max_retries=0),
    )


def test_the_handler_sets_tcp_nodelay() -> None:
    # Without it every keep-alive call waits ~40 ms for the client's delayed ACK.
    seen: list[int] = []
    with ProviderServer() as server:
        handler_cls = server._httpd.RequestHandlerClass  # type: ignore[union-attr]
        setup = handler_cls.setup

        def record(self: Any) -> None:
            setup(self)
            seen.append(self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

        handler_cls.setup = record  # type: ignore[method-assign]
        claude, _ = _clients(server)
        claude.messages.create(
            model=SONNET, max_tokens=16, messages=[{"role": "user", "content": "hi"}]
        )
        claude.close()
    assert seen and all(flag != 0 for flag in seen)


def test_latency_model_is_recorded_per_call_and_not_slept() -> None:
    model = LatencyModel(ttft=100.0, prefill_per_token=0.5, cached_prefill_per_token=0.05,
                         per_output_token=2.0)  # fmt: skip
    with ProviderServer(latency=model) as server:
        claude, gpt = _clients(server)
        system = [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}]
        ask = {"role": "user", "content": "hi"}
        first = claude.messages.create(model=SONNET, max_tokens=64, system=system, messages=[ask])
        second = claude.messages.create(model=SONNET, max_tokens=64, system=system, messages=[ask])
        chat = gpt.chat.completions.create(model="gpt-4.1", messages=[ask])
        claude.close()
        gpt.close()
        recorded = list(server.latencies)
    u1, u2 = first.usage, second.usage
    fresh1 = u1.input_tokens + (u1.cache_creation_input_tokens or 0)
    assert u2.cache_read_input_tokens  # the second call read the cached system prompt
    assert chat.usage is not None
    assert recorded == [
        (MESSAGES, model.seconds(fresh1, 0, u1.output_tokens)),
        (
            MESSAGES,
            model.seconds(u2.input_tokens, u2.cache_read_input_tokens or 0, u2.output_tokens),
        ),
        (CHAT, model.seconds(chat.usage.prompt_tokens, 0, chat.usage.completion_tokens)),
    ]
    # 300+ modeled seconds per call: had they been slept, this test would not have returned
    assert all(seconds > 100 for _, seconds in recorded)


def test_prompt_caches_off_reports_no_reads_and_no_writes() -> None:
    long_user = "Please summarise the account history in detail. " * 120  # > 1024 tokens
    system = [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}]
    for enabled in (True, False):
        with ProviderServer(prompt_caches=enabled) as server:
            claude, gpt = _clients(server)
            for _ in range(2):
                msg = claude.messages.create(
                    model=SONNET, max_tokens=16, system=system,
                    messages=[{"role": "user", "content": "hi"}],
                )  # fmt: skip
                chat = gpt.chat.completions.create(
                    model="gpt-4.1", messages=[{"role": "user", "content": long_user}]
                )
            claude.close()
            gpt.close()
        assert chat.usage is not None and chat.usage.prompt_tokens_details is not None
        cached = chat.usage.prompt_tokens_details.cached_tokens or 0
        assert (cached > 0) is enabled
        assert bool(msg.usage.cache_read_input_tokens) is enabled
        if not enabled:
            assert not msg.usage.cache_creation_input_tokens
            assert msg.usage.input_tokens > 1024


def _kb_caller(path: str, body: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]] | None:
    messages = body["messages"]
    last = messages[-1]
    if last["role"] == "tool" or (
        isinstance(last["content"], list) and last["content"][0].get("type") == "tool_result"
    ):
        return None  # a tool result came back: answer in text
    return [("kb_search", {"topic": "card_arrival", "path": path})]


def test_tool_responder_calls_tools_with_input_on_both_apis() -> None:
    with ProviderServer(tool_responder=_kb_caller) as server:
        claude, gpt = _clients(server)
        ask = {"role": "user", "content": "where is my card?"}
        msg = claude.messages.create(
            model=SONNET,
            max_tokens=64,
            tools=[KB_TOOL],
            messages=[ask],
        )
        chat = gpt.chat.completions.create(model="gpt-4.1", tools=[KB_FUNCTION], messages=[ask])
        plain = claude.messages.create(model=SONNET, max_tokens=64, messages=[ask])
        block = msg.content[0]
        assert msg.stop_reason == "tool_use" and block.type == "tool_use"
        assert block.input == {"topic": "card_arrival", "path": MESSAGES}
        assert msg.usage.output_tokens > 10
        call = chat.choices[0].message.tool_calls[0]  # type: ignore[index]
        assert chat.choices[0].finish_reason == "tool_calls"
        assert call.function.name == "kb_search"  # type: ignore[union-attr]
        assert call.function.arguments == '{"path":"/v1/chat/completions","topic":"card_arrival"}'  # type: ignore[union-attr]
        assert plain.content[0].type == "text"  # no tools offered: the text responder
        # the tool result goes back: now the model answers in text
        follow = claude.messages.create(
            model=SONNET, max_tokens=64, tools=[KB_TOOL],
            messages=[ask, {"role": "assistant", "content": msg.content},
                      {"role": "user", "content": [{"type": "tool_result",
                       "tool_use_id": block.id, "content": "Cards arrive in 5 days."}]}],
        )  # fmt: skip
        assert follow.content[0].type == "text"
        claude.close()
        gpt.close()
