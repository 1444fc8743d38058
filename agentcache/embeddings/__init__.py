"""The embedding cache: vectors keyed by model and text, fetched in batches."""

from __future__ import annotations

from agentcache.embeddings._sync import (
    AsyncEmbeddingCache,
    CachedVectorizer,
    EmbeddingCache,
    EmbeddingCacheInfo,
)

__all__ = [
    "AsyncEmbeddingCache",
    "CachedVectorizer",
    "EmbeddingCache",
    "EmbeddingCacheInfo",
]
