"""Stream assembly and replay round trips (no server): every block kind survives."""

from __future__ import annotations

from typing import Any

from anthropic.types import Message
from openai.types.chat import ChatCompletion

from agentcache.llm._streams import (
    AnthropicAssembler,
    OpenAIAssembler,
    anthropic_replay,
    is_usage_chunk,
    openai_replay,
)

MESSAGE: dict[str, Any] = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "content": [
        {"type": "thinking", "thinking": "Check the order first.", "signature": "sig=="},
        {"type": "text", "text": "Let me look that up.", "citations": None},
        {"type": "tool_use", "id": "toolu_1", "name": "order", "input": {"id": 42, "f": [1]}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 12,
        "output_tokens": 30,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 1200,
    },
}

COMPLETION: dict[str, Any] = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "gpt-4o",
    "system_fingerprint": "fp",
    "service_tier": None,
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Two answers.", "refusal": None},
            "finish_reason": "stop",
            "logprobs": None,
        },
        {
            "index": 1,
            "message": {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "tool_calls": [
                    {"id": "call_1", "type": "function",
                     "function": {"name": "order", "arguments": "{\"id\":42}"}},
                ],
            },
            "finish_reason": "tool_calls",
            "logprobs": None,
        },
    ],
    "usage": {"prompt_tokens": 1300, "completion_tokens": 9, "total_tokens": 1309},
}  # fmt: skip


def test_anthropic_replay_assembles_to_the_same_message() -> None:
    events = anthropic_replay(MESSAGE)
    assert [e.type for e in events][:2] == ["message_start", "content_block_start"]
    assembler = AnthropicAssembler()
    for event in events:
        assembler.add(event)
    rebuilt = Message.model_validate(assembler.result())
    assert rebuilt == Message.model_validate(MESSAGE)


def test_anthropic_incomplete_stream_assembles_to_nothing() -> None:
    assembler = AnthropicAssembler()
    for event in anthropic_replay(MESSAGE)[:-1]:  # no message_stop
        assembler.add(event)
    assert assembler.result() is None


def test_openai_replay_assembles_to_the_same_completion() -> None:
    chunks = openai_replay(COMPLETION, include_usage=True)
    assert is_usage_chunk(chunks[-1]) and not any(is_usage_chunk(c) for c in chunks[:-1])
    assembler = OpenAIAssembler()
    for chunk in chunks:
        assembler.add(chunk)
    rebuilt = ChatCompletion.model_validate(assembler.result())
    assert rebuilt == ChatCompletion.model_validate(COMPLETION)
    without = openai_replay(COMPLETION, include_usage=False)
    assert len(without) == len(chunks) - 1


def test_openai_stream_without_finish_reason_assembles_to_nothing() -> None:
    assembler = OpenAIAssembler()
    for chunk in openai_replay(COMPLETION, include_usage=False)[:-1]:
        assembler.add(chunk)
    assert assembler.result() is None


def _responses_body(output: list[dict[str, Any]]) -> dict[str, Any]:
    from agentcache.testing._provider_responses import build_response

    body = build_response(
        {"model": "gpt-4.1-mini", "input": "Hi"}, lambda view: "x", lambda view: (9, 0)
    )
    return {**body, "output": output}


def test_responses_replay_round_trips_text_refusal_and_function_call() -> None:
    from openai.types.responses import Response

    from agentcache.llm._responses import ResponsesAssembler, responses_replay

    text = {"type": "output_text", "text": "Hello there, a long answer.", "annotations": []}
    refusal = {"type": "refusal", "refusal": "No."}
    message = {"id": "msg_1", "type": "message", "status": "completed", "role": "assistant",
               "content": [text, refusal]}  # fmt: skip
    call = {"id": "fc_1", "type": "function_call", "status": "completed", "call_id": "call_1",
            "name": "order", "arguments": '{"id": 42}'}  # fmt: skip
    stored = Response.model_validate(_responses_body([message, call]))
    events = responses_replay(stored.model_dump(mode="json"))
    assert [e.sequence_number for e in events] == list(range(len(events)))
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert deltas == [text["text"]]  # one delta per text part
    args = [e.delta for e in events if e.type == "response.function_call_arguments.delta"]
    assert args == ['{"id": 42}']
    assembler = ResponsesAssembler()
    for event in events:
        assembler.add(event)
    assembled = Response.model_validate(assembler.result())
    assert assembled.model_dump(mode="json") == stored.model_dump(mode="json")
    # A stream without its response.completed event assembles nothing.
    cut = ResponsesAssembler()
    for event in events[:-1]:
        cut.add(event)
    assert cut.result() is None
