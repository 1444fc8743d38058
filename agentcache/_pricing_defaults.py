"""Default model prices, USD per million tokens.

Sources: anthropic.com/pricing and openai.com/api/pricing as published in
2025 (read 2025-11); the Anthropic cache multipliers and the Haiku 3 / Sonnet 3.7
rows are from the pricing table in docs.claude.com/en/docs/build-with-claude/prompt-caching.
Opus 4.6 / 4.7 / 4.8 / 5 are from platform.claude.com/docs/en/about-claude/pricing and
Opus 5.5 from platform.claude.com/docs/en/models/opus-5-5/overview (read 2026-11-26).
Prices change: override them with
``AGENTCACHE_PRICING__FILE`` (a JSON object of model -> prices) or
``AgentCacheSettings(pricing={"models": {...}})``.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class ModelPrice(BaseModel):
    """USD per million tokens for one model."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_read: float = Field(ge=0, description="Cached input tokens read.")
    cache_write_5m: float = Field(ge=0, description="Input tokens written to a 5-minute cache.")
    cache_write_1h: float = Field(ge=0, description="Input tokens written to a 1-hour cache.")


def _anthropic(input_price: float, output_price: float) -> ModelPrice:
    # Anthropic: 5-minute writes cost 1.25x input, 1-hour writes 2x, reads 0.1x.
    return ModelPrice(
        input=input_price,
        output=output_price,
        cache_read=round(input_price * 0.1, 6),
        cache_write_5m=round(input_price * 1.25, 6),
        cache_write_1h=round(input_price * 2.0, 6),
    )


def _openai(input_price: float, cached_price: float, output_price: float) -> ModelPrice:
    # OpenAI: prefix caching is automatic and writes cost nothing extra.
    return ModelPrice(
        input=input_price,
        output=output_price,
        cache_read=cached_price,
        cache_write_5m=input_price,
        cache_write_1h=input_price,
    )


DEFAULT_PRICES: dict[str, ModelPrice] = {
    # Opus 5.5 reads its cache at 0.05x input, not 0.1x (model page, 2026-11). It needs its
    # own row: the prefix lookup would otherwise price claude-opus-5-5 as claude-opus-5.
    "claude-opus-5-5": ModelPrice(
        input=4.0, output=20.0, cache_read=0.20, cache_write_5m=5.0, cache_write_1h=8.0
    ),
    "claude-opus-5": _anthropic(5.0, 25.0),
    "claude-opus-4-8": _anthropic(5.0, 25.0),
    "claude-opus-4-7": _anthropic(5.0, 25.0),
    "claude-opus-4-6": _anthropic(5.0, 25.0),
    "claude-opus-4-1": _anthropic(15.0, 75.0),
    "claude-opus-4-5": _anthropic(5.0, 25.0),
    "claude-sonnet-4-5": _anthropic(3.0, 15.0),
    "claude-sonnet-4": _anthropic(3.0, 15.0),
    "claude-haiku-4-5": _anthropic(1.0, 5.0),
    "claude-3-7-sonnet": _anthropic(3.0, 15.0),
    "claude-3-5-haiku": _anthropic(0.8, 4.0),
    # Haiku 3's published cache prices are rounded, not the exact multiples.
    "claude-3-haiku": ModelPrice(
        input=0.25, output=1.25, cache_read=0.03, cache_write_5m=0.30, cache_write_1h=0.50
    ),
    "gpt-5": _openai(1.25, 0.125, 10.0),
    "gpt-5-mini": _openai(0.25, 0.025, 2.0),
    "gpt-4.1": _openai(2.0, 0.5, 8.0),
    "gpt-4.1-mini": _openai(0.4, 0.1, 1.6),
    "gpt-4o": _openai(2.5, 1.25, 10.0),
    "gpt-4o-mini": _openai(0.15, 0.075, 0.6),
    "text-embedding-3-small": _openai(0.02, 0.02, 0.0),
    "text-embedding-3-large": _openai(0.13, 0.13, 0.0),
}
