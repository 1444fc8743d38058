"""What the four cached clients share that is not I/O: construction, the SDK
resource wrappers, and what differs between Anthropic and OpenAI.

``_async`` adds the awaited calls (and ``_sync`` is generated from it); the
public classes there combine one of these provider bases with that I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agentcache.llm._core import Adapter, AnthropicAdapter, LLMCore, OpenAIAdapter
from agentcache.llm._ledger import Ledger
from agentcache.llm._responses import ResponsesAdapter
from agentcache.metrics._counters import Metrics
from agentcache.prompt_caching.costs import PriceTable
from agentcache.settings import AgentCacheSettings
from agentcache.vectorizers import Vectorizer


class _Resource:
    """``messages`` / ``chat.completions`` / ``responses``: ``create`` is cached, the
    rest delegates to the SDK resource *uncached*: ``with_raw_response``,
    ``with_streaming_response``, ``stream()`` and ``parse()`` reach the provider on
    every call (they return the SDK's own wrappers, which call its ``create``)."""

    def __init__(self, target: Any, create: Callable[..., Any]) -> None:
        self._target = target
        self.create = create

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


class _Namespace:
    def __init__(self, target: Any, **children: Any) -> None:
        self._target = target
        self.__dict__.update(children)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


class _ClientBase:
    """Construction shared by the four clients.

    The response cache comes in through ``cache`` (a ``ResponseCache``, see
    ``_types``); only when none is given does the client build a semantic
    cache of its own (``_default_cache``), and then it closes it too.
    """

    _adapter: Adapter

    def __init__(
        self,
        client: Any = None,
        *,
        settings: AgentCacheSettings | None = None,
        cache: Any = None,
        vectorizer: Vectorizer | None = None,
        ledger: Ledger | None = None,
        prices: PriceTable | None = None,
        tenant: str = "default",
        agent: str = "default",
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings or AgentCacheSettings()
        self.client = client if client is not None else self._build_client()
        self._owns_cache = cache is None
        self.cache = cache if cache is not None else self._default_cache(vectorizer, metrics)
        # Count where the semantic cache counts, unless told otherwise.
        cache_metrics = getattr(self.cache, "metrics", None)
        if metrics is None and isinstance(cache_metrics, Metrics):
            metrics = cache_metrics
        self._owns_metrics = metrics is None
        self.metrics = metrics or Metrics.from_settings(self.settings)
        self.ledger = ledger or Ledger()
        self._prices = prices or PriceTable.from_settings(self.settings)
        self._defaults = (tenant, agent)
        self._core = self._core_for(self._adapter)
        self._bind()

    def _core_for(self, adapter: Adapter) -> LLMCore:
        """The no-I/O core of one cached resource (they share settings, prices, ledger)."""
        tenant, agent = self._defaults
        settings, prices, ledger = self.settings, self._prices, self.ledger
        return LLMCore(adapter, settings, prices, ledger, tenant, agent, self.metrics)

    def _build_client(self) -> Any:
        raise NotImplementedError

    def _default_cache(self, vectorizer: Vectorizer | None, metrics: Metrics | None) -> Any:
        raise NotImplementedError

    def _bind(self) -> None:
        raise NotImplementedError

    def _cached(self, resource: Any, core: LLMCore) -> _Resource:
        """``resource`` with its ``create`` going through the cache (scoped by ``core``)."""
        raise NotImplementedError

    def __getattr__(self, name: str) -> Any:
        if name == "client":  # not set yet: no recursion during __init__
            raise AttributeError(name)
        return getattr(self.client, name)


class _AnthropicBase(_ClientBase):
    """Anthropic: ``messages.create`` is cached."""

    _adapter = AnthropicAdapter()
    _sdk: Callable[..., Any]  # anthropic.Anthropic or anthropic.AsyncAnthropic

    def _build_client(self) -> Any:
        llm = self.settings.llm
        return self._sdk(api_key=_secret(llm.anthropic_api_key), base_url=llm.anthropic_base_url)

    def _bind(self) -> None:
        self.messages = self._cached(self.client.messages, self._core)


class _OpenAIBase(_ClientBase):
    """OpenAI: ``chat.completions.create`` and ``responses.create`` are cached."""

    _adapter = OpenAIAdapter()
    _sdk: Callable[..., Any]  # openai.OpenAI or openai.AsyncOpenAI

    def _build_client(self) -> Any:
        llm = self.settings.llm
        return self._sdk(api_key=_secret(llm.openai_api_key), base_url=llm.openai_base_url)

    def _bind(self) -> None:
        completions = self._cached(self.client.chat.completions, self._core)
        self.chat = _Namespace(self.client.chat, completions=completions)
        self.responses = self._cached(self.client.responses, self._core_for(ResponsesAdapter()))
