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

from agentcache._lifecycle_async import AsyncShell
from agentcache._lifecycle_sync import Shell
from agentcache._redis.clients import AsyncClient, SyncClient
from agentcache.embeddings import AsyncEmbeddingCache, CachedVectorizer, EmbeddingCache
from agentcache.llm._async import AsyncCachedAnthropic, AsyncCachedOpenAI
from agentcache.llm._sync import CachedAnthropic, CachedOpenAI
from agentcache.metrics._counters import Metrics
from agentcache.semantic import AsyncSemanticCache, SemanticCache
from agentcache.settings import AgentCacheSettings
from agentcache.tools import AsyncToolCache, ToolCache
from agentcache.vectorizers import Vectorizer, as_vectorizer, vectorizer_from_settings

__all__ = ["AgentCache", "AsyncAgentCache", "embedding_vectorizer"]


def embedding_vectorizer(
    settings: AgentCacheSettings,
    vectorizer: Vectorizer | None = None,
    *,
    client: SyncClient | None = None,
    metrics: Metrics | None = None,
    async_cache: AsyncEmbeddingCache | None = None,
) -> tuple[Vectorizer, EmbeddingCache]:
    """The vectorizer behind the embedding cache, and that cache: the one wiring of the two.

    ``vectorizer`` defaults to the settings' model. The cache shares ``client``,
    else opens its own (the caller closes the cache). With
    ``settings.embeddings.cache_enabled`` off the vectorizer is returned bare.
    ``async_cache`` serves the vectorizer's async calls (else the sync cache in a thread).
    """
    base = vectorizer_from_settings(settings) if vectorizer is None else as_vectorizer(vectorizer)
    embeddings = EmbeddingCache(settings, client, model=base.model, dims=base.dims, metrics=metrics)
    if not settings.embeddings.cache_enabled:
        return base, embeddings
    return CachedVectorizer(base, embeddings, async_cache), embeddings


def _checked(
    settings: AgentCacheSettings | None, vectorizer: Vectorizer | None
) -> tuple[AgentCacheSettings, Vectorizer]:
    """The settings and the (unwrapped) vectorizer both stacks start from."""
    settings = settings or AgentCacheSettings()
    # Checked first: a plain function or a broken object fails before any connection.
    base = vectorizer_from_settings(settings) if vectorizer is None else as_vectorizer(vectorizer)
    return settings, base


class AgentCache(Shell):
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
        self.settings, base = _checked(settings, vectorizer)
        self._own(self.settings, client, metrics)
        self.vectorizer, self.embeddings = embedding_vectorizer(
            self.settings, base, client=self.client, metrics=self.metrics
        )
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
        super().close()


class AsyncAgentCache(AsyncShell):
    """The asyncio twin of ``AgentCache``."""

    def __init__(
        self,
        settings: AgentCacheSettings | None = None,
        *,
        client: AsyncClient | None = None,
        vectorizer: Vectorizer | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings, base = _checked(settings, vectorizer)
        self._own(self.settings, client, metrics)
        model, dims = base.model, base.dims
        self.embeddings = AsyncEmbeddingCache(
            self.settings, self.client, model=model, dims=dims, metrics=self.metrics
        )
        self.vectorizer = base
        # The cached vectorizer's sync path has a client of its own; only built when used.
        self._sync_embeddings: EmbeddingCache | None = None
        if self.settings.embeddings.cache_enabled:
            self.vectorizer, self._sync_embeddings = embedding_vectorizer(
                self.settings, base, metrics=self.metrics, async_cache=self.embeddings
            )
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
        await super().aclose()
