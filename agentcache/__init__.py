"""agentcache: caching at every layer of an LLM agent, on Redis Stack."""

from __future__ import annotations

from agentcache._policy import Candidate, Decision, DecisionPolicy, ThresholdPolicy
from agentcache._semantic_core import CacheHit, CacheStats
from agentcache._server import EmbeddedRedis
from agentcache.embeddings import (
    AsyncEmbeddingCache,
    CachedVectorizer,
    EmbeddingCache,
    EmbeddingCacheInfo,
)
from agentcache.exceptions import (
    AgentCacheError,
    CacheUnavailableError,
    ConfigurationError,
    EmbeddedServerError,
    InvalidInputError,
    MigrationError,
    MigrationLockedError,
    MissingModuleError,
    SchemaError,
    SerializationError,
    UnkeyableArgumentError,
)
from agentcache.semantic import AsyncSemanticCache, SemanticCache
from agentcache.settings import AgentCacheSettings
from agentcache.tools import (
    AsyncCachedTool,
    AsyncToolCache,
    CachedTool,
    ToolCache,
    ToolCacheInfo,
    cached_tool,
)
from agentcache.vectorizers import (
    CallableVectorizer,
    LocalVectorizer,
    OpenAIVectorizer,
    Vectorizer,
)

__version__ = "0.1.0"

__all__ = [
    "AgentCacheError",
    "AgentCacheSettings",
    "AsyncCachedTool",
    "AsyncEmbeddingCache",
    "AsyncSemanticCache",
    "AsyncToolCache",
    "CacheHit",
    "CacheStats",
    "CacheUnavailableError",
    "CachedTool",
    "CachedVectorizer",
    "CallableVectorizer",
    "Candidate",
    "ConfigurationError",
    "Decision",
    "DecisionPolicy",
    "EmbeddedRedis",
    "EmbeddedServerError",
    "EmbeddingCache",
    "EmbeddingCacheInfo",
    "InvalidInputError",
    "LocalVectorizer",
    "MigrationError",
    "MigrationLockedError",
    "MissingModuleError",
    "OpenAIVectorizer",
    "SchemaError",
    "SemanticCache",
    "SerializationError",
    "ThresholdPolicy",
    "ToolCache",
    "ToolCacheInfo",
    "UnkeyableArgumentError",
    "Vectorizer",
    "__version__",
    "cached_tool",
]
