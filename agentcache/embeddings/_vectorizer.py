"""``CachedVectorizer``: a vectorizer that asks the embedding cache first."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from agentcache.embeddings._async import AsyncEmbeddingCache
from agentcache.embeddings._sync import EmbeddingCache
from agentcache.exceptions import ConfigurationError
from agentcache.vectorizers import Vector, Vectorizer, as_vectorizer


class CachedVectorizer:
    """A ``Vectorizer`` that asks the embedding cache first, so no text is embedded twice.

    Hand it to the semantic cache as its vectorizer::

        vectorizer = CachedVectorizer(LocalVectorizer(), EmbeddingCache(settings))

    Async calls use ``async_cache`` when given, else the sync cache in a worker thread.
    """

    def __init__(
        self,
        vectorizer: Vectorizer,
        cache: EmbeddingCache,
        async_cache: AsyncEmbeddingCache | None = None,
    ) -> None:
        vectorizer = as_vectorizer(vectorizer)
        for which in (cache, async_cache):
            if which is not None and (which.model, which.dims) != (
                vectorizer.model,
                vectorizer.dims,
            ):
                raise ConfigurationError(
                    f"embedding cache is for {which.model!r} ({which.dims} dims) but the "
                    f"vectorizer is {vectorizer.model!r} ({vectorizer.dims} dims); pass "
                    "model= and dims= to the cache"
                )
        self.vectorizer = vectorizer
        self.cache = cache
        self.async_cache = async_cache

    @property
    def model(self) -> str:
        return self.vectorizer.model

    @property
    def dims(self) -> int:
        return self.vectorizer.dims

    def embed(self, text: str) -> Vector:
        return self.cache.get_or_compute(text, self.vectorizer.embed)

    def embed_many(self, texts: Sequence[str]) -> list[Vector]:
        return self.cache.get_or_compute_many(texts, self.vectorizer.embed_many)

    async def aembed(self, text: str) -> Vector:
        if self.async_cache is None:
            return await asyncio.to_thread(self.embed, text)
        return await self.async_cache.get_or_compute(text, self.vectorizer.aembed)

    async def aembed_many(self, texts: Sequence[str]) -> list[Vector]:
        if self.async_cache is None:
            return await asyncio.to_thread(self.embed_many, texts)
        return await self.async_cache.get_or_compute_many(texts, self.vectorizer.aembed_many)
