"""Token usage and what it cost, with and without caching.

One ``Usage`` shape for both providers, whose counting rules differ:

* Anthropic reports ``input_tokens`` *excluding* cache tokens, plus
  ``cache_creation_input_tokens`` (written) and ``cache_read_input_tokens``.
* OpenAI reports ``prompt_tokens`` *including* the cached ones
  (``prompt_tokens_details.cached_tokens``); writes are not billed extra.
  The Responses API names them ``input_tokens`` and
  ``input_tokens_details.cached_tokens`` (also including the cached ones).

``Usage.input_tokens`` is always the uncached input billed at the base rate, so
``input + cache_write + cache_read`` is the whole prompt for either provider.
``PriceTable`` turns usage into a ``CostReport``: the actual cost, what the same
call would have cost with no caching at all, and the difference (negative
when a cache write cost more than it saved so far).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, computed_field

from agentcache._pricing_defaults import DEFAULT_PRICES, ModelPrice
from agentcache.exceptions import ConfigurationError
from agentcache.settings import AgentCacheSettings, PricingSettings

logger = logging.getLogger("agentcache.prompt_caching.costs")

_PER_TOKEN = 1e-6  # prices are USD per million tokens


def read_field(obj: Any, name: str) -> Any:
    """``obj[name]`` for a dict, ``obj.name`` for an SDK object; None when absent."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _int(value: Any) -> int:
    return int(value or 0)


class Usage(BaseModel):
    """Tokens of one call, normalised across providers."""

    model_config = ConfigDict(frozen=True)

    input_tokens: int = Field(default=0, ge=0, description="Uncached input, base price.")
    output_tokens: int = Field(default=0, ge=0)
    cache_write_tokens: int = Field(default=0, ge=0, description="Input written to the cache.")
    cache_write_1h_tokens: int = Field(
        default=0, ge=0, description="The part of cache_write_tokens with a 1-hour TTL."
    )
    cache_read_tokens: int = Field(default=0, ge=0, description="Input read from the cache.")

    @property
    def prompt_tokens(self) -> int:
        """All input tokens, cached or not."""
        return self.input_tokens + self.cache_write_tokens + self.cache_read_tokens

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            cache_write_1h_tokens=self.cache_write_1h_tokens + other.cache_write_1h_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
        )

    @classmethod
    def from_anthropic(cls, response_or_usage: Any) -> Usage:
        """From an Anthropic ``Message`` (or its ``usage``), SDK object or dict."""
        usage = read_field(response_or_usage, "usage") or response_or_usage
        written = _int(read_field(usage, "cache_creation_input_tokens"))
        one_hour = _int(
            read_field(read_field(usage, "cache_creation"), "ephemeral_1h_input_tokens")
        )
        return cls(
            input_tokens=_int(read_field(usage, "input_tokens")),
            output_tokens=_int(read_field(usage, "output_tokens")),
            cache_write_tokens=written,
            cache_write_1h_tokens=min(one_hour, written),
            cache_read_tokens=_int(read_field(usage, "cache_read_input_tokens")),
        )

    @classmethod
    def from_openai(cls, response_or_usage: Any) -> Usage:
        """From an OpenAI ``ChatCompletion`` / embeddings response (or its ``usage``)."""
        usage = read_field(response_or_usage, "usage") or response_or_usage
        prompt = _int(read_field(usage, "prompt_tokens"))
        cached = min(
            _int(read_field(read_field(usage, "prompt_tokens_details"), "cached_tokens")), prompt
        )
        return cls(
            input_tokens=prompt - cached,
            output_tokens=_int(read_field(usage, "completion_tokens")),
            cache_read_tokens=cached,
        )

    @classmethod
    def from_openai_responses(cls, response_or_usage: Any) -> Usage:
        """From an OpenAI Responses API ``Response`` (or its ``usage``).

        Like Chat Completions, ``input_tokens`` includes the cached ones
        (``input_tokens_details.cached_tokens``); ``cache_write_tokens``, when
        reported, is the part written to the cache.
        """
        usage = read_field(response_or_usage, "usage") or response_or_usage
        details = read_field(usage, "input_tokens_details")
        total_in = _int(read_field(usage, "input_tokens"))
        cached = min(_int(read_field(details, "cached_tokens")), total_in)
        written = min(_int(read_field(details, "cache_write_tokens")), total_in - cached)
        return cls(
            input_tokens=total_in - cached - written,
            output_tokens=_int(read_field(usage, "output_tokens")),
            cache_write_tokens=written,
            cache_read_tokens=cached,
        )

    @classmethod
    def from_response(cls, response: Any) -> Usage:
        """From any provider's response, told apart by its usage field names
        (``prompt_tokens``: Chat Completions; ``input_tokens_details``: Responses)."""
        usage = read_field(response, "usage") or response
        if read_field(usage, "prompt_tokens") is not None:
            return cls.from_openai(usage)
        if read_field(usage, "input_tokens_details") is not None:
            return cls.from_openai_responses(usage)
        return cls.from_anthropic(usage)


class CostReport(BaseModel):
    """What one call cost, what it would have cost uncached, and the saving."""

    model_config = ConfigDict(frozen=True)

    model: str
    usage: Usage
    source: Literal["provider", "semantic_cache"] = "provider"
    priced: bool = Field(description="False when the model is not in the price table.")
    cost_usd: float
    cost_without_caching_usd: float

    @computed_field  # type: ignore[prop-decorator]
    @property
    def saved_usd(self) -> float:
        return self.cost_without_caching_usd - self.cost_usd


class PriceTable:
    """Model prices (USD per million tokens) and the cost arithmetic.

    Built from the defaults, then ``settings.pricing.models``, then the JSON file
    ``settings.pricing.file`` (``{"model": {"input": .., "output": .., "cache_read": ..,
    "cache_write_5m": .., "cache_write_1h": ..}}``), later sources winning per model.
    A dated id (``claude-sonnet-4-5-20250929``) uses the longest listed prefix.
    """

    def __init__(self, prices: Mapping[str, ModelPrice]) -> None:
        self._prices = dict(prices)

    @classmethod
    def from_settings(cls, settings: AgentCacheSettings | PricingSettings) -> PriceTable:
        pricing = settings.pricing if isinstance(settings, AgentCacheSettings) else settings
        prices = dict(DEFAULT_PRICES)
        prices.update(pricing.models)
        if pricing.file is not None:
            prices.update(load_price_file(pricing.file))
        return cls(prices)

    @property
    def models(self) -> dict[str, ModelPrice]:
        return dict(self._prices)

    def lookup(self, model: str) -> ModelPrice | None:
        """The price of ``model``: exact id, else the longest listed ``name-`` prefix."""
        if model in self._prices:
            return self._prices[model]
        best: str | None = None
        for name in self._prices:
            if model.startswith(name + "-") and (best is None or len(name) > len(best)):
                best = name
        return self._prices[best] if best is not None else None

    def cost(self, model: str, usage: Usage) -> CostReport:
        """The cost of a call the provider answered."""
        price = self.lookup(model)
        if price is None:
            logger.debug("no price for model %r; cost reported as 0", model)
            return CostReport(
                model=model, usage=usage, priced=False, cost_usd=0.0, cost_without_caching_usd=0.0
            )
        write_5m = usage.cache_write_tokens - usage.cache_write_1h_tokens
        actual = (
            usage.input_tokens * price.input
            + write_5m * price.cache_write_5m
            + usage.cache_write_1h_tokens * price.cache_write_1h
            + usage.cache_read_tokens * price.cache_read
            + usage.output_tokens * price.output
        ) * _PER_TOKEN
        return CostReport(
            model=model,
            usage=usage,
            priced=True,
            cost_usd=actual,
            cost_without_caching_usd=_uncached(price, usage),
        )

    def semantic_hit(self, model: str, stored_usage: Usage) -> CostReport:
        """A call the semantic cache answered: nothing spent, the whole call saved."""
        price = self.lookup(model)
        without = _uncached(price, stored_usage) if price is not None else 0.0
        return CostReport(
            model=model,
            usage=stored_usage,
            source="semantic_cache",
            priced=price is not None,
            cost_usd=0.0,
            cost_without_caching_usd=without,
        )


def _uncached(price: ModelPrice, usage: Usage) -> float:
    return (usage.prompt_tokens * price.input + usage.output_tokens * price.output) * _PER_TOKEN


def load_price_file(path: Path) -> dict[str, ModelPrice]:
    """Read a JSON price file; raise ``ConfigurationError`` naming the file on any fault."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"pricing file {path}: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigurationError(f"pricing file {path}: expected a JSON object of model -> prices")
    try:
        return {str(name): ModelPrice.model_validate(entry) for name, entry in raw.items()}
    except ValidationError as exc:
        raise ConfigurationError(f"pricing file {path}: {exc}") from None


def total(reports: Iterable[CostReport]) -> tuple[float, float, float]:
    """(cost, cost without caching, saved) summed over ``reports``."""
    cost = without = 0.0
    for report in reports:
        cost += report.cost_usd
        without += report.cost_without_caching_usd
    return cost, without, without - cost
