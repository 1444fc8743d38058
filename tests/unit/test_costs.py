"""Usage parsing and cost arithmetic, checked against figures worked out by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from anthropic.types import Message
from openai.types.chat import ChatCompletion
from openai.types.responses import ResponseUsage

from agentcache.exceptions import ConfigurationError
from agentcache.prompt_caching.costs import CostReport, PriceTable, Usage, total
from agentcache.settings import AgentCacheSettings

ANTHROPIC_BODY = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [{"type": "text", "text": "hi"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 100,
        "output_tokens": 400,
        "cache_creation_input_tokens": 2000,
        "cache_read_input_tokens": 3000,
        "cache_creation": {"ephemeral_5m_input_tokens": 1500, "ephemeral_1h_input_tokens": 500},
    },
}
OPENAI_BODY = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 0,
    "model": "gpt-4o-2024-08-06",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "hi"},
            "finish_reason": "stop",
            "logprobs": None,
        }
    ],
    "usage": {
        "prompt_tokens": 2255,
        "completion_tokens": 10,
        "total_tokens": 2265,
        "prompt_tokens_details": {"cached_tokens": 2176},
    },
}


@pytest.fixture
def prices() -> PriceTable:
    return PriceTable.from_settings(AgentCacheSettings())


def test_anthropic_usage_input_excludes_cache_tokens() -> None:
    usage = Usage.from_anthropic(Message.model_validate(ANTHROPIC_BODY))
    assert usage == Usage(
        input_tokens=100,
        output_tokens=400,
        cache_write_tokens=2000,
        cache_write_1h_tokens=500,
        cache_read_tokens=3000,
    )
    assert usage.prompt_tokens == 5100  # 100 + 2000 + 3000
    assert Usage.from_response(ANTHROPIC_BODY) == usage  # a plain dict works too


def test_openai_usage_prompt_tokens_include_cached() -> None:
    usage = Usage.from_openai(ChatCompletion.model_validate(OPENAI_BODY))
    assert usage == Usage(input_tokens=79, output_tokens=10, cache_read_tokens=2176)
    assert usage.prompt_tokens == 2255  # what OpenAI called prompt_tokens
    assert Usage.from_response(OPENAI_BODY) == usage


def test_openai_responses_usage_reads_cached_tokens() -> None:
    # A Responses API usage: input_tokens include the cached ones, as prompt_tokens do.
    usage_body = {
        "input_tokens": 2255,
        "input_tokens_details": {"cached_tokens": 2176, "cache_write_tokens": 0},
        "output_tokens": 10,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 2265,
    }
    body = {**OPENAI_BODY, "usage": usage_body}
    expected = Usage(input_tokens=79, output_tokens=10, cache_read_tokens=2176)
    assert Usage.from_response(body) == expected  # was read as 2255 uncached, 0 read
    assert Usage.from_response(ResponseUsage.model_validate(usage_body)) == expected
    details = {"cached_tokens": 0, "cache_write_tokens": 2000}
    written = {**usage_body, "input_tokens_details": details}
    assert Usage.from_response(written) == Usage(
        input_tokens=255, output_tokens=10, cache_write_tokens=2000
    )


def test_anthropic_cost_by_hand(prices: PriceTable) -> None:
    # Sonnet 4.5: $3 input, $3.75 5m write, $6 1h write, $0.30 read, $15 output per MTok.
    report = prices.cost("claude-sonnet-4-5-20250929", Usage.from_response(ANTHROPIC_BODY))
    # 100*3 + 1500*3.75 + 500*6 + 3000*0.30 + 400*15 = 15825 micro-dollars
    assert report.cost_usd == pytest.approx(0.015825)
    # (100 + 2000 + 3000)*3 + 400*15 = 21300
    assert report.cost_without_caching_usd == pytest.approx(0.0213)
    assert report.saved_usd == pytest.approx(0.005475)
    assert report.priced and report.source == "provider"


def test_openai_cost_by_hand(prices: PriceTable) -> None:
    # gpt-4o: $2.50 input, $1.25 cached, $10 output per MTok; dated id -> "gpt-4o" not "-mini".
    report = prices.cost("gpt-4o-2024-08-06", Usage.from_response(OPENAI_BODY))
    assert report.cost_usd == pytest.approx((79 * 2.5 + 2176 * 1.25 + 10 * 10) / 1e6)
    assert report.cost_usd == pytest.approx(0.0030175)
    assert report.cost_without_caching_usd == pytest.approx(0.0057375)
    assert report.saved_usd == pytest.approx(0.00272)


def test_first_cache_write_costs_more_than_no_caching(prices: PriceTable) -> None:
    usage = Usage(input_tokens=4, cache_write_tokens=2250, output_tokens=15)
    report = prices.cost("claude-sonnet-4-5", usage)
    assert report.cost_usd == pytest.approx(0.0086745)
    assert report.cost_without_caching_usd == pytest.approx(0.006987)
    assert report.saved_usd == pytest.approx(-0.0016875)


def test_semantic_hit_saves_the_whole_call(prices: PriceTable) -> None:
    stored = Usage.from_response(ANTHROPIC_BODY)
    report = prices.semantic_hit("claude-sonnet-4-5", stored)
    assert report.source == "semantic_cache"
    assert report.cost_usd == 0.0
    assert report.saved_usd == pytest.approx(0.0213)
    assert report.model_dump()["saved_usd"] == pytest.approx(0.0213)


def test_totals_and_usage_sum(prices: PriceTable) -> None:
    a = prices.cost("gpt-4o", Usage(input_tokens=1_000_000))
    b = prices.semantic_hit("gpt-4o", Usage(output_tokens=1_000_000))
    assert total([a, b]) == pytest.approx((2.5, 12.5, 10.0))
    assert (a.usage + b.usage).total_tokens == 2_000_000


def test_unknown_model_is_unpriced(prices: PriceTable) -> None:
    report = prices.cost("mystery-model", Usage(input_tokens=10))
    assert not report.priced and report.cost_usd == 0.0
    assert isinstance(report, CostReport)


def test_settings_models_add_to_defaults_and_file_wins(tmp_path: Path) -> None:
    custom = {
        "input": 1,
        "output": 2,
        "cache_read": 0.1,
        "cache_write_5m": 1.25,
        "cache_write_1h": 2,
    }
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"gpt-4o": dict(custom, input=9), "house-model": custom}))
    settings = AgentCacheSettings(pricing={"models": {"house-model": custom}, "file": str(path)})
    table = PriceTable.from_settings(settings)
    assert table.lookup("claude-haiku-4-5-20251001") is not None  # defaults kept
    house = table.lookup("house-model")
    gpt = table.lookup("gpt-4o")
    assert house is not None and house.output == 2
    assert gpt is not None and gpt.input == 9  # the file overrides the default


def test_price_file_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "p.json"
    path.write_text(
        json.dumps(
            {
                "env-model": {
                    "input": 4,
                    "output": 8,
                    "cache_read": 0.4,
                    "cache_write_5m": 5,
                    "cache_write_1h": 8,
                }
            }
        )
    )
    monkeypatch.setenv("AGENTCACHE_PRICING__FILE", str(path))
    table = PriceTable.from_settings(AgentCacheSettings())
    report = table.cost("env-model", Usage(input_tokens=1_000_000))
    assert report.cost_usd == pytest.approx(4.0)


@pytest.mark.parametrize("content", ["not json", "[1, 2]", '{"m": {"input": 1}}'])
def test_bad_price_file_is_a_configuration_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ConfigurationError, match=r"bad\.json"):
        PriceTable.from_settings(AgentCacheSettings(pricing={"file": str(path)}))


def test_default_prices_match_the_published_table(prices: PriceTable) -> None:
    # docs.claude.com prompt-caching pricing table (read 2025-11).
    haiku3 = prices.lookup("claude-3-haiku-20240307")
    assert haiku3 is not None
    assert (haiku3.cache_write_5m, haiku3.cache_write_1h, haiku3.cache_read) == (0.30, 0.50, 0.03)
    sonnet37 = prices.lookup("claude-3-7-sonnet-20250219")
    assert sonnet37 is not None and (sonnet37.cache_write_5m, sonnet37.cache_read) == (3.75, 0.3)
    # A dated Haiku 3.5 id must not fall back to the Haiku 3 row.
    haiku35 = prices.lookup("claude-3-5-haiku-20241022")
    assert haiku35 is not None and haiku35.input == 0.8
