"""The explore verdict on tool-using answers: tool calls are part of the answer text.

Before this, a tool-only answer's text was "(no text)" for every tool call, so the
explore step judged a cached call to the wrong tool input "right" and taught the
verified policy to serve it.
"""

from __future__ import annotations

from typing import Any

from anthropic.types import Message
from openai.types.chat import ChatCompletion

from agentcache.llm._core import (
    AnthropicAdapter,
    LLMCore,
    OpenAIAdapter,
    answers_verdict,
    tool_call_line,
)
from agentcache.llm._ledger import Ledger
from agentcache.prompt_caching.costs import PriceTable
from agentcache.settings import AgentCacheSettings


def _anthropic(topic: str, text: str = "") -> Message:
    content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    content.append(
        {"type": "tool_use", "id": "toolu_1", "name": "kb_search", "input": {"topic": topic}}
    )
    return Message.model_validate(
        {
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": content, "stop_reason": "tool_use", "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 5},
        }
    )  # fmt: skip


def _openai(arguments: str) -> ChatCompletion:
    call = {"id": "call_1", "type": "function",
            "function": {"name": "kb_search", "arguments": arguments}}  # fmt: skip
    return ChatCompletion.model_validate(
        {
            "id": "c1", "object": "chat.completion", "created": 0, "model": "gpt-4.1",
            "choices": [{"index": 0, "finish_reason": "tool_calls",
                         "message": {"role": "assistant", "content": None, "tool_calls": [call]}}],
        }
    )  # fmt: skip


def _core(adapter: Any) -> LLMCore:
    return LLMCore(adapter, AgentCacheSettings(), PriceTable({}), Ledger(), "t", "a")


def test_anthropic_tool_calls_are_in_the_answer_text() -> None:
    core = _core(AnthropicAdapter())
    arrival = core.answer_text(_anthropic("card_arrival"))
    assert arrival == '[tool call] kb_search {"topic":"card_arrival"}'
    assert core.answer_text(_anthropic("x", text="Let me look.")).startswith("Let me look.\n")
    # the verdict the explore step sends as feedback
    assert answers_verdict(arrival, core.answer_text(_anthropic("card_arrival"))) is True
    assert answers_verdict(arrival, core.answer_text(_anthropic("card_delivery_estimate"))) is False


def test_openai_tool_calls_compare_structurally() -> None:
    core = _core(OpenAIAdapter())
    a = core.answer_text(_openai('{"topic": "card_arrival", "tenant": "t1"}'))
    b = core.answer_text(_openai('{"tenant":"t1","topic":"card_arrival"}'))  # same call
    c = core.answer_text(_openai('{"tenant":"t1","topic":"card_delivery_estimate"}'))
    assert a == b == tool_call_line("kb_search", {"tenant": "t1", "topic": "card_arrival"})
    assert answers_verdict(a, b) is True
    # never None (which would fall back to the embedding similarity of the two calls)
    assert answers_verdict(a, c) is False


def test_tool_calls_decide_before_the_text() -> None:
    call = tool_call_line("kb_search", {"topic": "refund"})
    other = tool_call_line("kb_search", {"topic": "refund_not_showing_up"})
    assert answers_verdict(f"Checking.\n{call}", f"checking.\n{call}") is True
    assert answers_verdict(f"Checking.\n{call}", f"Checking.\n{other}") is False
    assert answers_verdict("(no text)", call) is False  # an entry stored before this change
    assert answers_verdict("The window is 30 days.", "The window is 60 days.") is False
