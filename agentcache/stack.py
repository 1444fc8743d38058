"""All four cache layers from one settings object, sharing one Redis client.

This is a composer: it builds each layer and hands one to another (the
embedding cache becomes the semantic cache's vectorizer), so the layers
themselves never import each other. It also builds one ``Metrics`` that every
layer, and the cached LLM clients, count into (``caches.metrics``).

Example::

    caches = AgentCache(AgentCacheSettings())
    caches.semantic.check("...", tenant="acme", agent="support")

    @cached_tool(caches.tools, ttl=600)
    def search(query: str) -> list[str]: ...

    claude = caches.anthropic()          # CachedAnthropic on the same semantic cache
"""

from __future__ import annotations

from typing import Any

from agentcache._redis.clients import AsyncClient, SyncClient, async_client, sync_client
from agentcache.embeddings._sync import AsyncEmbeddingCache, CachedVectorizer, EmbeddingCache
from agentcache.llm._clients import (
    AsyncCachedAnthropic,
    AsyncCachedOpenAI,
    CachedAnthropic,
    CachedOpenAI,
)
from agentcache.metrics._counters import Metrics
from agentcache.semantic import AsyncSemanticCache, SemanticCache
from agentcache.settings import AgentCacheSettings
from agentcache.tools._sync import AsyncToolCache, ToolCache
from agentcache.vectorizers import Vectorizer, as_vectorizer, vectorizer_from_settings


def _vectorizer(
    settings: AgentCacheSettings,
    base: Vectorizer,
    sync_cache: EmbeddingCache | None,
    async_cache: AsyncEmbeddingCache | None = None,
) -> Vectorizer:
    if sync_cache is None or not settings.embeddings.cache_enabled:
        return base
    return CachedVectorizer(base, sync_cache, async_cache)


class AgentCache:
    """The semantic, tool and embedding caches (and cached LLM clients) on one client.

    Args:
        settings: shared settings (default: from the environment).
        client: a redis-py client to share (not closed by ``close``).
        vectorizer: the embedding model (default: ``settings.embeddings``); it is
            wrapped in the embedding cache unless ``embeddings.cache_enabled`` is off.
        metrics: what every layer counts into (not closed by ``close``); default:
            one built from ``settings.metrics``, flushed and closed by ``close``.
    """

    def __init__(
        self,
        settings: AgentCacheSettings | None = None,
        *,
        client: SyncClient | None = None,
        vectorizer: Vectorizer | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings or AgentCacheSettings()
        # Checked first: a plain function or a broken object fails before any connection.
        base = (
            vectorizer_from_settings(self.settings)
            if vectorizer is None
            else as_vectorizer(vectorizer)
        )
        self._owns_client = client is None
        self.client: SyncClient = client if client is not None else sync_client(self.settings)
        self._owns_metrics = metrics is None
        self.metrics = metrics or Metrics.from_settings(self.settings, client=self.client)
        self.embeddings = EmbeddingCache(
            self.settings, self.client, model=base.model, dims=base.dims, metrics=self.metrics
        )
        self.vectorizer = _vectorizer(self.settings, base, self.embeddings)
        self.semantic = SemanticCache(
            self.settings, client=self.client, vectorizer=self.vectorizer, metrics=self.metrics
        )
        self.tools = ToolCache(self.settings, self.client, metrics=self.metrics)

    def anthropic(self, client: Any = None, **kwargs: Any) -> CachedAnthropic:
        """A ``CachedAnthropic`` answering from this semantic cache."""
        return CachedAnthropic(client, settings=self.settings, cache=self.semantic, **kwargs)

    def openai(self, client: Any = None, **kwargs: Any) -> CachedOpenAI:
        """A ``CachedOpenAI`` answering from this semantic cache."""
        return CachedOpenAI(client, settings=self.settings, cache=self.semantic, **kwargs)

    def close(self) -> None:
        """Flush and close the metrics and the shared client if this object created them."""
        self.semantic.close()
        if self._owns_metrics:
            self.metrics.close()
        if self._owns_client:
            self.client.close()

    def __enter__(self) -> AgentCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncAgentCache:
    """The asyncio twin of ``AgentCache``."""

    def __init__(
        self,
        settings: AgentCacheSettings | None = None,
        *,
        client: AsyncClient | None = None,
        vectorizer: Vectorizer | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings or AgentCacheSettings()
        # Checked first: a plain function or a broken object fails before any connection.
        base = (
            vectorizer_from_settings(self.settings)
            if vectorizer is None
            else as_vectorizer(vectorizer)
        )
        self._owns_client = client is None
        self.client: AsyncClient = client if client is not None else async_client(self.settings)
        self._owns_metrics = metrics is None
        self.metrics = metrics or Metrics.from_settings(self.settings, client=self.client)
        model, dims = base.model, base.dims
        # The cached vectorizer's sync path has a client of its own; only built when used.
        self._sync_embeddings = (
            EmbeddingCache(self.settings, model=model, dims=dims, metrics=self.metrics)
            if self.settings.embeddings.cache_enabled
            else None
        )
        self.embeddings = AsyncEmbeddingCache(
            self.settings, self.client, model=model, dims=dims, metrics=self.metrics
        )
        self.vectorizer = _vectorizer(self.settings, base, self._sync_embeddings, self.embeddings)
        self.semantic = AsyncSemanticCache(
            self.settings, client=self.client, vectorizer=self.vectorizer, metrics=self.metrics
        )
        self.tools = AsyncToolCache(self.settings, self.client, metrics=self.metrics)

    def anthropic(self, client: Any = None, **kwargs: Any) -> AsyncCachedAnthropic:
        """An ``AsyncCachedAnthropic`` answering from this semantic cache."""
        return AsyncCachedAnthropic(client, settings=self.settings, cache=self.semantic, **kwargs)

    def openai(self, client: Any = None, **kwargs: Any) -> AsyncCachedOpenAI:
        """An ``AsyncCachedOpenAI`` answering from this semantic cache."""
        return AsyncCachedOpenAI(client, settings=self.settings, cache=self.semantic, **kwargs)

    async def aclose(self) -> None:
        """Close the shared clients if this object created them."""
        await self.semantic.aclose()
        if self._sync_embeddings is not None:
            self._sync_embeddings.close()
        if self._owns_metrics:
            await self.metrics.aclose()
        if self._owns_client:
            await self.client.aclose()

    async def __aenter__(self) -> AsyncAgentCache:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
