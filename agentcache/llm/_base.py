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
from agentcache.metrics._counters import Metrics
from agentcache.prompt_caching.costs import PriceTable
from agentcache.settings import AgentCacheSettings
from agentcache.vectorizers import Vectorizer


class _Resource:
    """``messages`` / ``chat.completions``: ``create`` is cached, the rest delegates."""

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
        prices = prices or PriceTable.from_settings(self.settings)
        self._core = LLMCore(
            self._adapter, self.settings, prices, self.ledger, tenant, agent, self.metrics
        )
        self._bind()

    def _build_client(self) -> Any:
        raise NotImplementedError

    def _default_cache(self, vectorizer: Vectorizer | None, metrics: Metrics | None) -> Any:
        raise NotImplementedError

    def _bind(self) -> None:
        raise NotImplementedError

    def _cached(self, resource: Any) -> _Resource:
        """``resource`` with its ``create`` going through the cache."""
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
        self.messages = self._cached(self.client.messages)


class _OpenAIBase(_ClientBase):
    """OpenAI: ``chat.completions.create`` is cached."""

    _adapter = OpenAIAdapter()
    _sdk: Callable[..., Any]  # openai.OpenAI or openai.AsyncOpenAI

    def _build_client(self) -> Any:
        llm = self.settings.llm
        return self._sdk(api_key=_secret(llm.openai_api_key), base_url=llm.openai_base_url)

    def _bind(self) -> None:
        completions = self._cached(self.client.chat.completions)
        self.chat = _Namespace(self.client.chat, completions=completions)
