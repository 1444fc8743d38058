"""The embedding cache: vectors keyed by model and text, fetched in batches."""

from __future__ import annotations

from agentcache.embeddings._async import AsyncEmbeddingCache
from agentcache.embeddings._sync import EmbeddingCache
from agentcache.embeddings._types import EmbeddingCacheInfo
from agentcache.embeddings._vectorizer import CachedVectorizer

__all__ = [
    "AsyncEmbeddingCache",
    "CachedVectorizer",
    "EmbeddingCache",
    "EmbeddingCacheInfo",
]
