"""Breakpoint placement for Anthropic prompt caching (no server)."""

from __future__ import annotations

import copy
import logging
from typing import Any

import pytest

from agentcache.prompt_caching.anthropic import (
    apply_anthropic_caching,
    estimate_tokens,
    min_cacheable_tokens,
)
from agentcache.settings import PromptCachingSettings

BIG = "x" * 4 * 1500  # 1500 estimated tokens: over the 1024 minimum, under 2048
HUGE = "y" * 4 * 5000  # over every minimum


def _marked(request: dict[str, Any]) -> list[str]:
    """Locations carrying cache_control, in prefix order."""
    out = [f"tools[{i}]" for i, t in enumerate(request.get("tools") or []) if "cache_control" in t]
    system = request.get("system")
    if isinstance(system, list):
        out += [f"system[{i}]" for i, b in enumerate(system) if "cache_control" in b]
    for i, message in enumerate(request["messages"]):
        if isinstance(message["content"], list):
            out += [
                f"messages[{i}].content[{j}]"
                for j, b in enumerate(message["content"])
                if "cache_control" in b
            ]
    return out


@pytest.mark.parametrize(
    ("model", "tokens"),
    [
        ("claude-sonnet-4-5-20250929", 1024),
        ("claude-sonnet-4", 1024),
        ("claude-opus-4-1", 1024),
        ("claude-3-7-sonnet-20250219", 1024),
        ("claude-opus-4-5-20251101", 4096),
        ("claude-opus-4-6", 4096),
        ("claude-haiku-4-5", 4096),
        ("claude-3-5-haiku-20241022", 2048),
        ("claude-3-haiku-20240307", 2048),
        ("some-future-model", 1024),
    ],
)
def test_minimum_cacheable_length_per_model(model: str, tokens: int) -> None:
    assert min_cacheable_tokens(model) == tokens


def test_estimate_is_chars_over_four_rounded_down() -> None:
    assert estimate_tokens("abcdefg") == 1
    assert estimate_tokens([{"type": "text", "text": "a" * 40}, "b" * 8]) == 12
    image = {"type": "image", "source": {"type": "base64", "data": "A" * 10_000}}
    assert estimate_tokens(image) == 0  # binary sources are not counted


def test_system_prompt_is_marked_and_user_turn_never() -> None:
    request = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 10,
        "system": BIG,
        "messages": [{"role": "user", "content": HUGE}],
    }
    before = copy.deepcopy(request)
    plan = apply_anthropic_caching(request)
    assert request == before  # the caller's request is not mutated
    assert plan.request["system"] == [
        {"type": "text", "text": BIG, "cache_control": {"type": "ephemeral"}}
    ]
    assert plan.request["messages"] == request["messages"]
    assert [b.kind for b in plan.breakpoints] == ["system"]
    assert plan.breakpoints[0].prefix_tokens == 1500


def test_one_hour_ttl_from_settings() -> None:
    plan = apply_anthropic_caching(
        {
            "model": "claude-sonnet-4-5",
            "system": BIG,
            "messages": [{"role": "user", "content": "q"}],
        },
        PromptCachingSettings(anthropic_ttl="1h"),
    )
    assert plan.request["system"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}


def test_below_minimum_is_unmarked_with_a_reason(caplog: pytest.LogCaptureFixture) -> None:
    request = {
        "model": "claude-3-5-haiku-20241022",  # 2048 minimum; BIG is ~1500
        "system": BIG,
        "messages": [{"role": "user", "content": "q"}],
    }
    with caplog.at_level(logging.DEBUG, logger="agentcache.prompt_caching"):
        plan = apply_anthropic_caching(request)
    assert plan.request["system"] == BIG
    assert plan.breakpoints == []
    (skipped,) = plan.skipped
    assert skipped.location == "system[0]"
    assert "2048-token minimum" in skipped.reason
    assert "system[0]" in caplog.text
    # The same prompt on a Sonnet model (1024 minimum) is marked.
    assert apply_anthropic_caching(dict(request, model="claude-sonnet-4")).breakpoints


def test_minimum_applies_to_the_whole_prefix() -> None:
    """A small system prompt after large tools is cacheable: the prefix counts."""
    tool = {"name": "search", "description": "d" * 4 * 1200, "input_schema": {"type": "object"}}
    request = {
        "model": "claude-sonnet-4-5",
        "tools": [tool],
        "system": "be brief",
        "messages": [{"role": "user", "content": "q"}],
    }
    plan = apply_anthropic_caching(request)
    assert _marked(plan.request) == ["tools[0]", "system[0]"]
    assert "cache_control" not in request["tools"][0]


def test_history_and_documents_marked_at_most_four() -> None:
    doc = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": BIG}}
    request = {
        "model": "claude-sonnet-4-5",
        "tools": [{"name": "t", "description": BIG, "input_schema": {}}],
        "system": BIG,
        "messages": [
            {"role": "user", "content": [doc, {"type": "text", "text": "summarise"}]},
            {"role": "assistant", "content": "summary " + BIG},
            {"role": "user", "content": [dict(doc), {"type": "text", "text": "compare"}]},
            {"role": "assistant", "content": "comparison"},
            {"role": "user", "content": "and now?"},
        ],
    }
    plan = apply_anthropic_caching(request)
    marked = _marked(plan.request)
    assert len(marked) == 4
    # tools, system and the end of the earlier conversation win; one document fits.
    assert marked == ["tools[0]", "system[0]", "messages[2].content[0]", "messages[3].content[0]"]
    assert plan.request["messages"][4] == {"role": "user", "content": "and now?"}
    limit = [s for s in plan.skipped if "limit" in s.reason]
    assert [s.location for s in limit] == ["messages[0].content[0]"]


def test_document_in_last_user_turn_but_not_the_question() -> None:
    doc = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": BIG}}
    question = {"type": "text", "text": HUGE}
    plan = apply_anthropic_caching(
        {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": [doc, question]}]}
    )
    assert _marked(plan.request) == ["messages[0].content[0]"]
    assert "cache_control" not in plan.request["messages"][0]["content"][1]


def test_max_breakpoints_setting_is_respected() -> None:
    request = {
        "model": "claude-sonnet-4-5",
        "tools": [{"name": "t", "description": BIG, "input_schema": {}}],
        "system": BIG,
        "messages": [{"role": "user", "content": "q"}],
    }
    plan = apply_anthropic_caching(request, PromptCachingSettings(anthropic_max_breakpoints=1))
    assert _marked(plan.request) == ["system[0]"]
    assert [s.location for s in plan.skipped] == ["tools[0]"]


def test_caller_placed_cache_control_is_left_alone() -> None:
    system = [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}]
    request = {"model": "m", "system": system, "messages": [{"role": "user", "content": BIG}]}
    plan = apply_anthropic_caching(request)
    assert plan.request == request
    assert plan.note is not None and "already" in plan.note


def test_disabled_settings_change_nothing() -> None:
    request = {"model": "m", "system": HUGE, "messages": [{"role": "user", "content": "q"}]}
    plan = apply_anthropic_caching(request, PromptCachingSettings(enabled=False))
    assert plan.request == request
    assert plan.breakpoints == []


def test_thinking_block_is_skipped_for_history_marker() -> None:
    request = {
        "model": "claude-sonnet-4-5",
        "system": HUGE,
        "messages": [
            {"role": "user", "content": "q1"},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "answer"},
                    {"type": "thinking", "thinking": "...", "signature": "s"},
                ],
            },
            {"role": "user", "content": "q2"},
        ],
    }
    plan = apply_anthropic_caching(request)
    assert _marked(plan.request) == ["system[0]", "messages[1].content[0]"]
